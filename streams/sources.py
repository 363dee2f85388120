"""The inputs of a replay or a backfill, each a ``Source`` in its own order, and their merge.

A ``FileSource`` is a JSON Lines file (``-``: standard input), read a bounded line at a time
(``streams.codec.MAX_RECORD_BYTES``): the rest of a longer line is skipped unread into memory, and
the line is one ``too_large`` dead letter; a UTF-8 byte order mark before the first line is
dropped. A ``PartitionSource`` is one partition of an input topic (incidents, heartbeats,
request counts), read by ``streams.topicread``. ``merge`` interleaves them on ``at`` (ties: the
earlier source first), and a bad record comes out as soon as it is read. ``InputError`` (in the
tree of ``streams``): an input file that cannot be read.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from heapq import heapify, heappop, heapreplace
from typing import Any, Final

from .codec import MAX_RECORD_BYTES, TooLarge, loads
from .core.errors import InvalidEvent, SlawatchError
from .core.events import Heartbeat, IncidentEvent, check_future, heartbeat, incident_event
from .core.requests.records import RequestCount, request_count
from .topicread import TopicReader
from .topics import HEARTBEATS_TOPIC, INCIDENTS_TOPIC, REQUESTS_TOPIC


class InputError(SlawatchError):
    """An input file that cannot be opened or read: its name, the line and the system's word."""


Decoded = IncidentEvent | Heartbeat | RequestCount | InvalidEvent
INCIDENTS: Final = INCIDENTS_TOPIC  # a source's kind is the topic it would be read from
HEARTBEATS: Final = HEARTBEATS_TOPIC
REQUESTS: Final = REQUESTS_TOPIC
_PARSE: Final[dict[str, Callable[[Any], IncidentEvent | Heartbeat | RequestCount]]] = {
    INCIDENTS: incident_event, HEARTBEATS: heartbeat, REQUESTS: request_count}


class Source:
    """One input in its own order: ``items()`` yields ``(source, position, raw, decoded)``
    (an ``InvalidEvent`` for a bad record); ``read`` counts what it has yielded."""

    def __init__(self, kind: str) -> None:
        self.kind, self.parse, self.read = kind, _PARSE[kind], 0

    def items(self) -> Iterator[Item]:
        raise NotImplementedError

    def where(self, position: int) -> dict[str, Any]:
        """The dead-letter fields that say where the record at ``position`` was."""
        raise NotImplementedError

    def label(self, position: int) -> str:
        """Where the record at ``position`` was, for a message."""
        raise NotImplementedError


Item = tuple[Source, int, bytes, Decoded]


#: The name of standard input (the file ``-``) in messages and dead letters.
STDIN: Final = "<stdin>"


class FileSource(Source):
    """A JSON Lines file (``-``: standard input); the position is the line number (blank lines
    are skipped). A record later than ``reference_ms`` plus ``max_future_ms`` is ``future``
    (either None: no bound)."""

    def __init__(self, path: str, kind: str, reference_ms: int | None = None,
                 max_future_ms: int | None = None) -> None:
        super().__init__(kind)
        self.path, self.name = path, STDIN if path == "-" else path
        self.reference_ms, self.max_future_ms = reference_ms, max_future_ms

    def items(self) -> Iterator[Item]:
        parse, reference_ms, max_future_ms = self.parse, self.reference_ms, self.max_future_ms
        for number, raw, size in _lines(self.path, self.name):
            try:
                if size > MAX_RECORD_BYTES:  # raw is only its first bytes
                    raise TooLarge(size)
                ev = parse(loads(raw))
                if reference_ms is not None and max_future_ms is not None:
                    check_future(ev.at, reference_ms, max_future_ms)
                yield self, number, raw, ev
            except InvalidEvent as exc:
                yield self, number, raw, exc

    def where(self, position: int) -> dict[str, Any]:
        return {"source_file": self.name, "line": position}

    def label(self, position: int) -> str:
        return f"{self.name}:{position}"


class PartitionSource(Source):
    """One partition of a topic, read by a ``TopicReader``; the position is the offset."""

    def __init__(self, reader: TopicReader, topic: str, partition: int, kind: str,
                 max_future_ms: int | None = None) -> None:
        super().__init__(kind)
        self.reader, self.topic, self.partition = reader, topic, partition
        self.max_future_ms = max_future_ms

    def items(self) -> Iterator[Item]:
        """Each record; one later than its Kafka timestamp plus ``max_future_ms`` is ``future``
        (``max_future_ms`` None, or a record without a timestamp, -1: no bound)."""
        parse, max_future_ms = self.parse, self.max_future_ms
        for rec in self.reader.records(self.topic, self.partition):
            value, timestamp_ms = rec.value, rec.timestamp_ms
            raw = b"" if value is None else value
            try:
                ev = parse(loads(value))
                if max_future_ms is not None and timestamp_ms >= 0:
                    check_future(ev.at, timestamp_ms, max_future_ms)
                yield self, rec.offset, raw, ev
            except InvalidEvent as exc:
                yield self, rec.offset, raw, exc

    def where(self, position: int) -> dict[str, Any]:
        return {"source_topic": self.topic, "partition": self.partition, "offset": position}

    def label(self, position: int) -> str:
        return f"{self.topic} partition {self.partition} offset {position}"


def merge(sources: Sequence[Source]) -> Iterator[Item]:
    """Every source's items as one stream merged on ``at``, each source keeping its own order
    (ties: the earlier source first); a bad record comes out as soon as it is read."""
    if len(sources) == 1:
        only = sources[0]
        for item in only.items():
            only.read += 1
            yield item
        return
    streams = [source.items() for source in sources]
    heap: list[tuple[int, int, Item]] = []
    for index, stream in enumerate(streams):
        for item in stream:
            sources[index].read += 1
            if isinstance(item[3], InvalidEvent):
                yield item
                continue
            heap.append((item[3].at, index, item))
            break
    heapify(heap)
    while heap:
        _, index, item = heap[0]
        yield item
        source = sources[index]
        for item in streams[index]:
            source.read += 1
            ev = item[3]
            if isinstance(ev, InvalidEvent):
                yield item
                continue
            heapreplace(heap, (ev.at, index, item))
            break
        else:
            heappop(heap)


_BOM: Final = b"\xef\xbb\xbf"
#: The bytes read at a time from the part of a line past ``MAX_RECORD_BYTES``, which is dropped.
_SKIP_BYTES: Final = 1 << 20


def _lines(path: str, name: str) -> Iterator[tuple[int, bytes, int]]:
    """(line number, bytes, length) of each line that is not blank, without its line end. Of a
    line longer than ``MAX_RECORD_BYTES`` only the first bytes are held (the rest is read and
    dropped, so memory stays bounded): its length tells it. ``InputError`` names ``name``."""
    limit = MAX_RECORD_BYTES + 2  # a line of exactly the limit with its \r\n
    number = 0
    try:
        with (contextlib.nullcontext(sys.stdin.buffer) if path == "-"
              else open(path, "rb")) as fh:
            readline = fh.readline
            while True:
                number += 1
                line = readline(limit)
                if not line:
                    return
                if number == 1 and line.startswith(_BOM):
                    line = line[len(_BOM):]
                size = 0
                if len(line) >= limit and not line.endswith(b"\n"):  # longer: skip the rest
                    size, tail = len(line), line[-1:]
                    while rest := readline(_SKIP_BYTES):
                        size += len(rest)
                        tail = (tail + rest)[-2:]
                        if tail.endswith(b"\n"):
                            break
                    size -= 2 if tail == b"\r\n" else 1 if tail.endswith(b"\n") else 0
                if size or line.strip():
                    line = line.rstrip(b"\r\n")
                    yield number, line, size or len(line)
    except OSError as exc:
        where = f" (line {number})" if number else ""
        msg = f"{name}: {exc.strerror or exc}{where}"
        raise InputError(msg) from exc
