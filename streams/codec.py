"""JSON <-> core: decoding input records, encoding output records, dead-letter records.

Input limits, checked before a record is parsed, so that no input can cost unbounded memory or
crash a writer (orjson reads 1,024 levels of nesting but writes only 254):

- ``MAX_RECORD_BYTES`` (64 KiB): a longer record is invalid with reason ``too_large``;
- ``MAX_DEPTH`` (64 levels of arrays and objects): a deeper one is invalid with reason
  ``too_deep`` (scanned only when the record holds more than ``MAX_DEPTH`` brackets).

A dead-letter record stays far below Kafka's default 1 MB: it keeps the first
``DEAD_LETTER_RAW_BYTES`` (16 KiB) of its input (``raw_truncated``, ``raw_bytes`` say so) and the
first ``MAX_ERROR_CHARS`` of its message. Its error is drawn in the one error tree, the docstring of
``streams``."""

from __future__ import annotations

import base64
import re
from typing import Any, Final

import orjson

from .core.errors import InvalidEvent
from .core.events import Heartbeat, IncidentEvent, heartbeat, incident_event
from .core.ids import alert_id
from .core.requests.records import RequestCount, request_count
from .topics import TOPIC_OF_KIND

Record = dict[str, Any]
dumps = orjson.dumps

#: The longest input record (a Kafka value, a replay line) that is parsed.
MAX_RECORD_BYTES: Final = 64 * 1024
#: The deepest nesting of arrays and objects in an input record (an alert that carries its
#: ``attributes`` adds a level; orjson writes at most 254).
MAX_DEPTH: Final = 64
#: How many bytes of its input a dead-letter record keeps.
DEAD_LETTER_RAW_BYTES: Final = 16 * 1024
#: How many characters of its message a dead-letter record keeps.
MAX_ERROR_CHARS: Final = 1000

#: A JSON string (skipped whole: brackets inside it do not nest; its group is empty) or one
#: bracket (its group).
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|([\[\]{}])', re.DOTALL)


class TooLarge(InvalidEvent):
    """An input record longer than ``MAX_RECORD_BYTES``; ``size`` is its whole length in bytes
    (the caller may hold only a prefix of it, as a replay does of an endless line)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the record is {size:,} bytes, more than the limit of "
                         f"{MAX_RECORD_BYTES:,} bytes ({MAX_RECORD_BYTES // 1024} KiB)",
                         "too_large")
        self.size = size


def topic_of(record: Record) -> str:
    """The output topic (before the prefix) of ``record``; a retraction goes where it retracts."""
    kind = record["kind"]
    return TOPIC_OF_KIND[record["retracts"] if kind == "retraction" else kind]


def loads(raw: bytes | None) -> Any:
    """The JSON value of an input record; ``InvalidEvent`` if none: reason ``too_large`` or
    ``too_deep`` (the limits above, checked first), else ``malformed_json``."""
    if raw is None:
        msg = "malformed JSON: the record has no value (a tombstone)"
        raise InvalidEvent(msg,
                           "malformed_json")
    if len(raw) > MAX_RECORD_BYTES:
        raise TooLarge(len(raw))
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:  # only then can it be too deep
        depth = nesting(raw)
        if depth > MAX_DEPTH:
            msg = (
                f"the record nests arrays and objects {depth} levels deep, more "
                f"than the limit of {MAX_DEPTH}"
            )
            raise InvalidEvent(msg, "too_deep")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        msg = f"malformed JSON: {exc}"
        raise InvalidEvent(msg, "malformed_json") from None


def nesting(raw: bytes) -> int:
    """The greatest depth of arrays and objects in JSON text ``raw`` (brackets inside strings do
    not count; on malformed text, a depth all the same).

    >>> nesting(b'{"a": [1, {"b": "[[["}]}')
    3
    """
    depth = deepest = 0
    for token in _TOKENS.findall(raw):
        if token == b"[" or token == b"{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif token:
            depth -= 1
    return deepest


def decode_incident(raw: bytes | None) -> tuple[Any, IncidentEvent]:
    """Decode and check one incident record: its JSON object and the event. ``InvalidEvent``
    says what is wrong."""
    obj = loads(raw)
    return obj, incident_event(obj)


def decode_heartbeat(raw: bytes | None) -> Heartbeat:
    """A heartbeat from a record's value, checked (``InvalidEvent`` if it is not one)."""
    return heartbeat(loads(raw))


def decode_request(raw: bytes | None) -> RequestCount:
    """A request count from a record's value, checked (``InvalidEvent`` naming the field)."""
    return request_count(loads(raw))


def dead_letter(error: InvalidEvent, raw: bytes, source: dict[str, Any]) -> Record:
    """The dead-letter record of one input that changed nothing: why, where from, and its bytes.

    ``source`` is ``{"source_topic", "partition", "offset"}`` on Kafka or ``{"source_file",
    "line"}`` in a replay; the ``alert_id`` (the record key) derives from it, so re-processing the
    same input after a restart gives the same key. Of an input longer than
    ``DEAD_LETTER_RAW_BYTES`` only that many bytes are kept, with ``raw_truncated: true`` and
    ``raw_bytes``, the whole length (a ``TooLarge`` error's ``size`` when ``raw`` is a prefix).
    """
    message = str(error)
    if len(message) > MAX_ERROR_CHARS:
        message = f"{message[:MAX_ERROR_CHARS]}... ({len(message):,} characters in all)"
    rec: Record = {
        "alert_id": alert_id("deadletter", *source.values()),
        "kind": "late" if error.reason == "late" else "invalid",
        "reason": error.reason,
        "error": message,
    }
    rec.update(source)
    size = error.size if isinstance(error, TooLarge) else len(raw)
    kept = raw[:DEAD_LETTER_RAW_BYTES]
    try:
        rec["raw"] = _utf8_prefix(kept, len(kept) < size)
    except UnicodeDecodeError:
        rec["raw"] = None
        rec["raw_base64"] = base64.b64encode(kept).decode("ascii")
    if len(kept) < size:
        rec["raw_truncated"] = True
        rec["raw_bytes"] = size
    return rec


def _utf8_prefix(kept: bytes, cut: bool) -> str:
    """``kept`` as UTF-8 text; when it was ``cut`` from a longer input, a character that the cut
    split is dropped. ``UnicodeDecodeError`` when it is not UTF-8."""
    try:
        return kept.decode("utf-8")
    except UnicodeDecodeError as exc:
        if cut and exc.reason == "unexpected end of data" and exc.start >= len(kept) - 3:
            return kept[:exc.start].decode("utf-8")
        raise
