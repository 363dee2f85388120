"""Request objectives from request counts (SPEC sections 2 and 9): error rate and latency.

The ``requests`` block of a policy is modelled in ``core.policy`` (``Requests``,
``RequestObjective``) and read by ``core.policyfile.requests``.

    records     request counts checked at the edge (``RequestCount``)
"""

from .records import RequestCount, request_count

__all__ = ["RequestCount", "request_count"]
