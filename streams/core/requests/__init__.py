"""Request objectives from request counts (SPEC sections 2 and 9): error rate and latency.

The ``requests`` block of a policy is modelled in ``core.policy`` (``Requests``,
``RequestObjective``) and read by ``core.policyfile.requests``.

    records     request counts checked at the edge (``RequestCount``)
    slices      periods, slices and maintenance as small pure functions; per-minute counts
    verdicts    a period's counters and what it publishes, computed from them alone
    fold        ObjectiveFold: one objective of one subject, its slices and burn rates
    book        RequestBook: every service's folds, refusals (duplicate, late), their heap
"""

from .records import RequestCount, request_count

__all__ = ["RequestCount", "request_count"]
