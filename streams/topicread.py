"""Reading Kafka topics from a start to where they ended when the read began (kafka-python).

``TopicReader`` assigns every partition of the topics (no consumer group, nothing committed),
seeks each to its start and reads it up to its *high watermark as of the start*: the one the
first Fetch response for that partition reports. Records produced meanwhile are not read, so a
backfill ends. ListOffsets is never used for the end: Tansu, the embedded broker, under-reports it
(ENGINE-NOTES, defect 1); the Fetch high watermark is right on every broker.

A partition's range, by the record timestamps (``timestamp_ms``: the producer's ``CreateTime``,
or the broker's ``LogAppendTime``):

- ``from_ms``: it starts at its first record whose timestamp is at or after ``from_ms``, as
  Kafka's ``offsets_for_times`` defines it; records after that one are read whatever their
  timestamps. The reader seeks to the offset ``offsets_for_times`` answers and then skips
  records before ``from_ms`` until the first one at or after it. On Kafka nothing is skipped;
  Tansu (v0.6.0) answers offset 0 with timestamp -1 for every instant (measured), so on the
  embedded broker the partition is read from its beginning and the skip does the work.
- ``to_ms``: it ends before its first record whose timestamp is after ``to_ms`` (or at the high
  watermark).

``read_topics`` yields every record of the topics; ``TopicReader.records(topic, partition)``
yields one partition's, fetching as needed (a partition read far ahead of the consumer of its
records is left out of the fetches until they are taken, so memory stays bounded); the k-way
merge of ``streams.replay`` uses the latter. ``TopicReadError``: a topic that cannot be read (no
such topic, a broker that cannot be reached, or a partition that stops answering below its end);
the whole error tree is drawn once, in the docstring of ``streams``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, NamedTuple, Self

from .settings import Settings
from .topics import BrokerError

#: Records buffered per partition before it leaves the fetches (it rejoins below half).
BUFFER_RECORDS: Final = 5000
#: How long a fetch waits for data. The embedded broker holds a fetch for its whole wait even
#: when data is there (ENGINE-NOTES); Kafka answers as soon as it has any.
FETCH_WAIT_MS: Final = 20


class TopicReadError(BrokerError):
    """A topic that cannot be read: missing, its broker unreachable, or a partition stuck."""


class Consumed(NamedTuple):
    """One record as read: where it was, its Kafka timestamp, its key and value bytes."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


@dataclass(eq=False)
class _Partition:
    """One partition's range and the records fetched but not yet taken."""

    topic: str
    number: int
    tp: Any  # kafka.TopicPartition
    start: int = 0  # the offset sought
    end: int | None = None  # the high watermark of the first fetch: None until it answers
    position: int = 0  # the next offset to read
    started: bool = True  # False while records before from_ms are being skipped
    done: bool = False
    buffer: deque[Consumed] = field(default_factory=deque)

    @property
    def name(self) -> str:
        return f"{self.topic}[{self.number}]"


def kafka_config(settings: Settings, timeout_s: float) -> dict[str, Any]:
    """kafka-python client settings for ``settings``' broker: bootstrap, SASL and TLS, timeouts."""
    timeout_ms = int(timeout_s * 1000)
    return {"bootstrap_servers": settings.bootstrap, "bootstrap_timeout_ms": timeout_ms,
            "request_timeout_ms": max(timeout_ms, 1000), **settings.kafka_client_options()}


def kafka_client(cls: Callable[..., Any], **config: Any) -> Any:
    """``cls(**config)`` (a kafka-python ``KafkaConsumer`` or ``KafkaProducer``), whose network
    client is closed if the constructor fails: kafka-python 3.0.12 leaves its IO thread running
    after a failed bootstrap (an unreachable broker), which would outlive the error in a
    long-lived process. (The sockets of its failed connection attempts still leak until
    collected.)"""
    from kafka.net.compat import KafkaNetClient

    made: list[Any] = []

    def client(**options: Any) -> Any:
        made.append(KafkaNetClient(**options))
        return made[-1]

    try:
        return cls(**config, kafka_client=client)
    except BaseException:
        for each in made:
            each.close()
        raise


class TopicReader:
    """Every partition of ``topics``, from its start to its end as of the start (see above).

    ``open()`` (or ``with``) connects, seeks and learns every partition's end; then ``total``
    is the number of offsets to read (ends minus starts) and ``records`` yields a partition's
    records in offset order. ``on_progress(read, total)`` is called after each fetch once every
    end is known, ``read`` counting the offsets passed (skipped records included). ``timeout_s``
    bounds the wait for the broker and for a partition below its end that returns nothing.
    """

    def __init__(self, settings: Settings, topics: Sequence[str], *, from_ms: int | None = None,
                 to_ms: int | None = None, timeout_s: float = 30.0,
                 on_progress: Callable[[int, int], None] | None = None) -> None:
        if from_ms is not None and to_ms is not None and from_ms > to_ms:
            msg = f"from_ms {from_ms} is after to_ms {to_ms}"
            raise ValueError(msg)
        self.settings, self.topics = settings, list(topics)
        self.from_ms, self.to_ms, self.timeout_s = from_ms, to_ms, timeout_s
        self.on_progress = on_progress
        self._consumer: Any = None
        self._parts: dict[Any, _Partition] = {}
        self._active: set[Any] = set()  # the partitions assigned to the consumer: fetched
        self._ends_known = False
        self._quiet_since: float | None = None  # monotonic time of the first fetch of nothing

    # -- open and close

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def open(self) -> Self:
        from kafka import KafkaConsumer, TopicPartition
        from kafka.errors import KafkaError

        bootstrap = self.settings.bootstrap
        try:
            self._consumer = kafka_client(
                KafkaConsumer, **kafka_config(self.settings, self.timeout_s), group_id=None,
                enable_auto_commit=False, allow_auto_create_topics=False,
                fetch_max_wait_ms=FETCH_WAIT_MS, client_id="slawatch-topic-reader")
        except KafkaError as exc:
            msg = (
                f"cannot reach a Kafka broker at {bootstrap} within "
                f"{self.timeout_s:g} s: {exc}"
            )
            raise TopicReadError(msg) from exc
        try:
            for topic in self.topics:
                numbers = self._consumer.partitions_for_topic(topic)
                if not numbers:
                    msg = f"no topic {topic!r} on {bootstrap}"
                    raise TopicReadError(msg)
                for number in sorted(numbers):
                    tp = TopicPartition(topic, number)
                    self._parts[tp] = _Partition(topic, number, tp)
            self._active = set(self._parts)
            self._consumer.assign(list(self._parts))
            self._seek()
            self._learn_ends()
        except KafkaError as exc:
            self.close()
            msg = (
                f"reading {', '.join(self.topics)} on {bootstrap}: "
                f"{exc}"
            )
            raise TopicReadError(msg) from exc
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def _seek(self) -> None:
        from kafka.errors import KafkaError

        consumer, parts = self._consumer, list(self._parts.values())
        found: dict[Any, Any] | None = None
        if self.from_ms is not None:
            for p in parts:
                p.started = False  # until a record at or after from_ms
            try:
                found = consumer.offsets_for_times({p.tp: self.from_ms for p in parts},
                                                   timeout_ms=int(self.timeout_s * 1000))
            except KafkaError:  # a broker without timestamp lookups: the skip does it all
                found = None
        if found is None:
            consumer.seek_to_beginning()
        for p in parts:
            if found is not None:
                at = found.get(p.tp)
                if at is None:  # no record at or after from_ms (Kafka): nothing to read
                    p.done, p.end = True, 0
                    continue
                consumer.seek(p.tp, at.offset)
            p.start = p.position = consumer.position(p.tp)

    def _learn_ends(self) -> None:
        """Fetch until every partition has answered with its high watermark."""
        while any(p.end is None for p in self._parts.values()):
            self._fetch()
        self._ends_known = True

    # -- what the callers read

    @property
    def partitions(self) -> list[tuple[str, int]]:
        """(topic, partition) of every partition, in the order of ``topics``, then by number."""
        return [(p.topic, p.number) for p in self._parts.values()]

    def partition_count(self, topic: str) -> int | None:
        """The number of partitions of ``topic`` on the broker; None when there is no such
        topic."""
        return len(self._consumer.partitions_for_topic(topic) or ()) or None

    @property
    def total(self) -> int:
        """Offsets to read: each partition's end minus its start (its stop if it stopped early)."""
        return sum((p.position if p.done else p.end or p.start) - p.start
                   for p in self._parts.values())

    @property
    def read(self) -> int:
        return sum(p.position - p.start for p in self._parts.values())

    def records(self, topic: str, partition: int) -> Iterator[Consumed]:
        """The records of one partition in offset order, from its start to its end."""
        part = next(p for p in self._parts.values() if (p.topic, p.number) == (topic, partition))
        buffer = part.buffer
        while True:
            while buffer:
                yield buffer.popleft()
            if part.done:
                return
            self._fetch()

    def all(self) -> Iterator[Consumed]:
        """Every record, each partition's in offset order, partitions interleaved as fetched."""
        parts = list(self._parts.values())
        while True:
            for part in parts:
                while part.buffer:
                    yield part.buffer.popleft()
            if all(part.done for part in parts):
                return
            self._fetch()

    # -- fetching

    def _fetch(self) -> None:
        self._throttle()
        before = self._mark()
        if self._active:
            for tp, batch in self._consumer.poll(timeout_ms=100).items():
                self._take(self._parts[tp], batch)
            for tp in self._active:
                part = self._parts[tp]
                if not part.done:
                    self._check_end(part)
        if self.on_progress is not None and self._ends_known:
            self.on_progress(self.read, self.total)
        self._check_stalled(self._mark() != before)

    def _mark(self) -> tuple[int, int]:
        """How far the read has come: offsets passed, and partitions whose end is known."""
        return self.read, sum(p.end is not None for p in self._parts.values())

    def _take(self, part: _Partition, batch: list[Any]) -> None:
        if part.end is None:
            part.end = self._consumer.highwater(part.tp)
        end, from_ms, to_ms = part.end, self.from_ms, self.to_ms
        append, topic, number = part.buffer.append, part.topic, part.number
        for rec in batch:
            offset, ts = rec.offset, rec.timestamp
            if part.done or (end is not None and offset >= end):
                part.done = True
                break
            if to_ms is not None and ts > to_ms:
                part.done = True
                break
            part.position = offset + 1
            if not part.started:
                if ts < from_ms:  # started is False only with from_ms
                    continue
                part.started = True
            append(Consumed(topic, number, offset, ts, rec.key, rec.value))

    def _check_end(self, part: _Partition) -> None:
        if part.end is None:
            part.end = self._consumer.highwater(part.tp)
            if part.end is None:
                return
        position = self._consumer.position(part.tp)  # past gaps (compaction, markers)
        part.position = max(part.position, min(position, part.end))
        part.done = part.position >= part.end

    def _throttle(self) -> None:
        """Fetch only the partitions that are not done and whose buffers are not full (with
        hysteresis: one that filled up rejoins below half). Done by the assignment, not by
        ``pause``: kafka-python 3.0.12 parks the fetched records of a paused partition and, once
        a poll has drained every fetch, never hands them back after ``resume``, so that
        partition is never fetched again (measured: a read stuck 70 records below its end)."""
        wanted = set()
        for tp, part in self._parts.items():
            full = len(part.buffer) >= (BUFFER_RECORDS // 2 if tp not in self._active
                                        else BUFFER_RECORDS)
            if not part.done and not full:
                wanted.add(tp)
        if wanted == self._active:
            return
        self._consumer.assign(list(wanted))
        for tp in wanted - self._active:  # a partition new to the assignment has no position
            self._consumer.seek(tp, self._parts[tp].position)
        self._active = wanted

    def _check_stalled(self, moved: bool) -> None:
        if moved:
            self._quiet_since = None
            return
        now = time.monotonic()
        if self._quiet_since is None:
            self._quiet_since = now
        elif now - self._quiet_since > self.timeout_s:
            stuck = [f"{p.name} at offset {p.position} of {p.end}" if p.end is not None
                     else f"{p.name} (no fetch answered)"
                     for p in self._parts.values() if not p.done]
            msg = (
                f"no records for {self.timeout_s:g} s from "
                f"{', '.join(stuck)} on {self.settings.bootstrap}"
            )
            raise TopicReadError(msg)


def read_topics(settings: Settings, topics: Sequence[str], *, from_ms: int | None = None,
                to_ms: int | None = None, timeout_s: float = 30.0) -> Iterator[Consumed]:
    """Every record of ``topics`` from ``from_ms`` (default: the beginning) up to ``to_ms`` or
    the end as of the start; each partition's records in offset order, partitions interleaved.
    ``TopicReadError`` for a missing topic or a broker that cannot be reached."""
    with TopicReader(settings, topics, from_ms=from_ms, to_ms=to_ms,
                     timeout_s=timeout_s) as reader:
        yield from reader.all()
