"""``slawatch replay``: JSON Lines files or Kafka topic ranges in, the core fold, records out.

Deterministic: the detector clock is the greatest event time seen (advanced lazily, just before an
event moves it, so a crossing at an instant waits for that instant's events), and ``until``
advances it at the end. ``detected_at`` is the wall clock of the run, stamped per written batch.

Every input is a ``Source`` that keeps its own order: a file (``replay``), or a partition of the
incident or heartbeat topic (``backfill``, read by ``streams.topicread`` up to where it ended when
the backfill began). One k-way merge on ``at`` interleaves them (ties: incidents before
heartbeats, then by file or partition), and a bad record comes out as soon as it is read: it
becomes a dead-letter record naming its file and line, or its topic, partition and offset (as the
worker's do). Records go to a file (JSON Lines) or to a topic (keyed by ``alert_id``).

A record whose ``at`` lies more than ``max_future_ms`` after its reference instant is a dead
letter with reason ``future`` (SPEC section 6): in a file replay the reference is ``until`` (no
bound without it), in a backfill each record's Kafka timestamp. A file is read a bounded line at a
time (``streams.codec.MAX_RECORD_BYTES``): the rest of a longer line is skipped unread into
memory, and the line is one ``too_large`` dead letter. A UTF-8 byte order mark before the first
line is dropped; the file ``-`` is standard input.

Its errors are drawn in the one error tree, the docstring of ``streams``.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import orjson

from .admin import create_topics
from .codec import dead_letter
from .core.detector import DEFAULT_RETENTION_MS, Detector
from .core.errors import InvalidEvent
from .core.policy import PolicySet
from .core.timefmt import NEVER_MS, format_instant
from .settings import Settings
from .sources import HEARTBEATS, INCIDENTS, REQUESTS, FileSource, PartitionSource, Source, merge
from .topicread import TopicReader, kafka_client, kafka_config
from .topics import ALL_TOPICS, BrokerError, TopicSpec


class TopicWriteError(BrokerError):
    """Records that the broker did not take (the first failure is named)."""


@dataclass
class Summary:
    events_read: int = 0
    skipped: int = 0
    heartbeats_read: int = 0
    requests_read: int = 0
    records_written: int = 0
    standing: dict[str, str] = field(default_factory=dict)  # alert_id -> kind

    def line(self) -> str:
        kinds: dict[str, int] = {}
        for kind in self.standing.values():
            kinds[kind] = kinds.get(kind, 0) + 1
        detail = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
        counts = (f"{self.events_read} incident events and {self.heartbeats_read} heartbeats"
                  if not self.requests_read else
                  f"{self.events_read} incident events, {self.heartbeats_read} heartbeats and "
                  f"{self.requests_read} request counts")
        return (f"replay: {counts} read, {self.skipped} skipped, "
                f"{len(self.standing)} alerts standing ({detail}), "
                f"{self.records_written} records written")


class Text(Protocol):
    """Where messages go: a text stream, or a ``Progress`` that keeps them off its line."""

    def write(self, text: str, /) -> object: ...


class Sink(Protocol):
    """Where written records go: JSON Lines ``lines`` with their ``keys`` (the ``alert_id``)."""

    def put(self, keys: list[str], lines: list[bytes]) -> None: ...

    def flush(self) -> None: ...


class FileSink:
    """JSON Lines to a binary stream, flushed per batch (so ``tail -f`` follows a run)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def put(self, keys: list[str], lines: list[bytes]) -> None:
        self.out.write(b"\n".join(lines) + b"\n")
        self.out.flush()

    def flush(self) -> None:
        self.out.flush()


class TopicSink:
    """Records to one topic, keyed by ``alert_id``, JSON values (as the worker publishes)."""

    def __init__(self, settings: Settings, topic: str, timeout_s: float = 30.0) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        self.topic, self.timeout_s, self.failed = topic, timeout_s, 0
        self.first_failure: Exception | None = None
        try:
            self.producer = kafka_client(KafkaProducer, **kafka_config(settings, timeout_s),
                                         acks="all", linger_ms=5, client_id="slawatch-backfill")
        except KafkaError as exc:
            msg = (
                f"cannot reach a Kafka broker at {settings.bootstrap} to "
                f"write {topic!r}: {exc}"
            )
            raise TopicWriteError(msg) from exc

    def put(self, keys: list[str], lines: list[bytes]) -> None:
        send, topic, failed = self.producer.send, self.topic, self._failed
        for key, line in zip(keys, lines, strict=True):
            send(topic, key=key.encode(), value=line).add_errback(failed)

    def _failed(self, exc: Exception) -> None:
        self.failed += 1
        if self.first_failure is None:
            self.first_failure = exc

    def flush(self) -> None:
        self.producer.flush(timeout=self.timeout_s)
        if self.failed:
            msg = (
                f"{self.failed} records not written to {self.topic!r}: "
                f"{self.first_failure}"
            )
            raise TopicWriteError(msg)

    def close(self) -> None:
        self.producer.close(timeout=self.timeout_s)


class _Writer:
    """Buffers records as JSON Lines, stamping ``detected_at`` with the wall clock per batch."""

    def __init__(self, sink: Sink, summary: Summary, batch: int = 4096) -> None:
        self.sink, self.summary, self.batch = sink, summary, batch
        self.keys: list[str] = []
        self.lines: list[bytes] = []
        self.stamp_ms, self.stamp = -1, ""

    def write(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        standing = self.summary.standing
        now_ms = time.time_ns() // 1_000_000
        if now_ms != self.stamp_ms:
            self.stamp_ms, self.stamp = now_ms, format_instant(now_ms)
        stamp = self.stamp
        dumps, lines, keys = orjson.dumps, self.lines, self.keys
        for rec in records:
            rec["detected_at"] = stamp
            lines.append(dumps(rec))
            key = rec["alert_id"]
            keys.append(key)
            kind = rec["kind"]
            if kind == "retraction":
                standing.pop(key, None)
            elif kind not in ("invalid", "late"):
                standing[key] = kind
        self.summary.records_written += len(records)
        if len(lines) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            self.sink.put(self.keys, self.lines)
            self.keys, self.lines = [], []


def replay(policies: PolicySet, incidents: str | None, heartbeats: str | None, until: int | None,
           out: IO[bytes], err: IO[str] = sys.stderr,
           retention_ms: int = DEFAULT_RETENTION_MS,
           max_future_ms: int | None = None, requests: str | None = None) -> Summary:
    """Replay the files (``-`` is standard input; ``requests``: request counts, SPEC section
    9) through one ``Detector``, merged on ``at``; write records to
    ``out``, problems to ``err``. A record later than ``until`` plus ``max_future_ms`` is a
    ``future`` dead letter (without ``until``, or with ``max_future_ms`` None, none is: the
    command passes the setting, ``streams.core.events.DEFAULT_MAX_FUTURE_MS`` by default)."""
    sources: list[Source] = []
    if incidents is not None:
        sources.append(FileSource(incidents, INCIDENTS, until, max_future_ms))
    if heartbeats is not None:
        sources.append(FileSource(heartbeats, HEARTBEATS, until, max_future_ms))
    if requests is not None:
        sources.append(FileSource(requests, REQUESTS, until, max_future_ms))
    return _replay(policies, sources, until, FileSink(out), err, retention_ms)


def live_topics(settings: Settings) -> list[str]:
    """The topics a worker of ``settings`` reads and writes: a backfill writes to none of them
    unless told to."""
    return [settings.topic(name) for name in ALL_TOPICS]


def backfill(policies: PolicySet, settings: Settings, *, from_ms: int | None = None,
             to_ms: int | None = None, until: int | None = None, out: IO[bytes] | None = None,
             to_topic: str | None = None, err: IO[str] = sys.stderr,
             retention_ms: int = DEFAULT_RETENTION_MS,
             max_future_ms: int | None = None, timeout_s: float = 30.0,
             progress: Progress | None = None) -> Summary:
    """Replay the incident, heartbeat and request topics of ``settings`` (from ``from_ms``, up to
    ``to_ms`` or their end as of the start, by record timestamp: see ``streams.topicread``)
    through one ``Detector``, as ``replay`` does files; write records to ``out`` or to the
    topic ``to_topic`` (created, compacted, when missing). Refusing live topics is the
    caller's choice (``live_topics``). A record whose ``at`` is later than its Kafka timestamp
    plus ``max_future_ms`` (None: no bound) is a ``future`` dead letter. With a ``progress``
    line, the messages go to its stream instead of ``err``, each on a line of its own; clearing
    it at the end is the caller's."""
    topics = {settings.topic(INCIDENTS): INCIDENTS, settings.topic(HEARTBEATS): HEARTBEATS,
              settings.topic(REQUESTS): REQUESTS}
    on_progress = progress.update if progress is not None else None
    messages: Text = err if progress is None else progress  # on their own lines, not the bar's
    with TopicReader(settings, list(topics), from_ms=from_ms, to_ms=to_ms, timeout_s=timeout_s,
                     on_progress=on_progress) as reader:
        sources: list[Source] = [PartitionSource(reader, topic, number, topics[topic],
                                                 max_future_ms)
                                 for topic, number in reader.partitions]
        if to_topic is None:
            summary = _replay(policies, sources, until, FileSink(out or sys.stdout.buffer),
                              messages, retention_ms)
        else:
            if reader.partition_count(to_topic) is None:
                create_topics(settings.bootstrap, [TopicSpec(
                    to_topic, settings.partitions, compact=True,
                    replication_factor=settings.replication_factor)], timeout_s=timeout_s,
                    client_options=settings.kafka_client_options())
                messages.write(f"created topic {to_topic} ({settings.partitions} partitions, "
                               "cleanup.policy=compact)\n")
            sink = TopicSink(settings, to_topic, timeout_s)
            try:
                summary = _replay(policies, sources, until, sink, messages, retention_ms)
            finally:
                sink.close()
    return summary


def _replay(policies: PolicySet, sources: Sequence[Source], until: int | None, sink: Sink,
            err: Text, retention_ms: int) -> Summary:
    summary = Summary()
    writer = _Writer(sink, summary)
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)  # millions of small long-lived objects: collect rarely
    try:
        _run(policies, sources, until, writer, err, retention_ms, summary)
    finally:
        gc.set_threshold(*thresholds)
    writer.flush()
    sink.flush()
    summary.events_read = sum(s.read for s in sources if s.kind == INCIDENTS)
    summary.heartbeats_read = sum(s.read for s in sources if s.kind == HEARTBEATS)
    summary.requests_read = sum(s.read for s in sources if s.kind == REQUESTS)
    return summary


def _run(policies: PolicySet, sources: Sequence[Source], until: int | None, writer: _Writer,
         err: Text, retention_ms: int, summary: Summary) -> None:
    det = Detector(policies, retention_ms)
    write, on_event = writer.write, det.on_event
    for source, position, raw, ev in merge(sources):
        try:
            if isinstance(ev, InvalidEvent):
                raise ev
            write(on_event(ev))  # a duplicate or a late one moves nothing, the clock neither
        except InvalidEvent as exc:
            summary.skipped += 1
            rec = dead_letter(exc, raw, source.where(position))
            err.write(f"{source.label(position)}: {rec['error']}\n")  # as bounded as the record
            write([rec])
    if until is not None or det.now_ms > NEVER_MS:
        writer.write(det.advance(until if until is not None else det.now_ms))


# ----------------------------------------------------------------------------- progress


def format_progress(read: int, total: int, elapsed_s: float) -> str:
    """One line of backfill progress: events read of the total, the rate and the time left.

    >>> format_progress(25_000, 100_000, 5.0)
    '25,000 / 100,000 events (25 %), 5,000 events/s, ETA 0:15'
    """
    share = f"{read * 100 // total} %" if total else "100 %"
    if read <= 0 or elapsed_s <= 0:
        return f"{read:,} / {total:,} events ({share}), - events/s, ETA -"
    rate = read / elapsed_s
    left_s = max(total - read, 0) / rate
    minutes, seconds = divmod(int(left_s + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    eta = f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
    return f"{read:,} / {total:,} events ({share}), {rate:,.0f} events/s, ETA {eta}"


class Progress:
    """``format_progress`` redrawn in place on ``stream`` (a terminal) at most ``per_s`` times
    a second; ``finish`` clears it."""

    def __init__(self, stream: IO[str], per_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.every_s, self.clock = stream, 1 / per_s, clock
        self.began = clock()
        self.drawn_at = -float("inf")

    def update(self, read: int, total: int) -> None:
        now = self.clock()
        if now - self.drawn_at >= self.every_s:
            self.drawn_at = now
            self.stream.write(f"\r\x1b[K{format_progress(read, total, now - self.began)}")
            self.stream.flush()

    def write(self, text: str, /) -> int:
        """A message (whole lines) in place of the progress line, which is drawn again after it
        at the next update."""
        self.stream.write(f"\r\x1b[K{text}")
        self.drawn_at = -float("inf")
        return len(text)

    def finish(self) -> None:
        self.stream.write("\r\x1b[K")
        self.stream.flush()
