"""The SLA engine, pure: no I/O, no wall clock, no Kafka, no environment, no global state.

The rule of the package: a module here imports only the standard library (the allow-list of
``tests/unit/test_static.py``), ``yaml`` (policy files) and its siblings, relatively; time is
always an argument, in whole milliseconds with ``_ms`` names. The shells (replay, the worker)
decode input, call ``detector.Detector`` and write what it returns; none holds SLA logic.

    timefmt        instants and durations as whole ms; NEVER_MS / FAR_MS
    errors         the core's errors (the tree: the docstring of ``streams``)
    events         incident events and heartbeats, checked when built
    ids            deterministic alert ids
    calendar       working time and maintenance timelines (``working_ms``, ``reach``)
    policy         the policy model and its resolution
    policyfile/    policy files read, bounded, merged with revisions, validated
    clocks         clock definitions, their transition tables, one clock of working time
    incidents      an incident as a fold over its events
    availability/  heartbeat folds: periods, burn rates, the fold, the service book
    changelog      publishing the difference: upserts and retractions
    detector       the fold over both, its deadline heaps and the detector clock
"""

__all__ = [
    "availability", "calendar", "changelog", "clocks", "detector", "errors", "events", "ids",
    "incidents", "policy", "policyfile", "timefmt",
]
