"""slawatch: a stream-processing SLA breach detector.

``streams.core`` is the pure SLA engine (no I/O); the shells around it (replay, the Faust worker,
the CLI) decode input, call the same fold and write what it returns.
"""

__version__ = "0.1.0"
