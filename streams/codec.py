"""JSON <-> core: decoding input records, encoding output records, dead-letter records."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from .core.errors import InvalidEvent
from .core.events import Heartbeat, IncidentEvent, heartbeat, incident_event
from .core.ids import alert_id

Record = dict[str, Any]
dumps = orjson.dumps


#: The output topic (before the prefix) of each kind of record; a retraction goes where the
#: record it retracts went.
TOPIC_OF_KIND: dict[str, str] = {
    "breach": "breaches", "near_breach": "near-breaches", "outcome": "outcomes",
    "invalid": "deadletter", "late": "deadletter",
}


def topic_of(record: Record) -> str:
    kind = record["kind"]
    return TOPIC_OF_KIND[record["retracts"] if kind == "retraction" else kind]


def loads(raw: bytes | None) -> Any:
    """The JSON value of an input record; ``InvalidEvent`` (reason ``malformed_json``) if none."""
    if raw is None:
        raise InvalidEvent("malformed JSON: the record has no value (a tombstone)",
                           "malformed_json")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"malformed JSON: {exc}", "malformed_json") from None


def decode_incident(raw: bytes | None) -> tuple[Any, IncidentEvent]:
    """Decode and check one incident record: its JSON object and the event. ``InvalidEvent``
    says what is wrong."""
    obj = loads(raw)
    return obj, incident_event(obj)


def decode_heartbeat(raw: bytes | None) -> Heartbeat:
    return heartbeat(loads(raw))


def dead_letter(error: InvalidEvent, raw: bytes, source: dict[str, Any]) -> Record:
    """The dead-letter record of one input that changed nothing: why, where from, and its bytes.

    ``source`` is ``{"source_topic", "partition", "offset"}`` on Kafka or ``{"source_file",
    "line"}`` in a replay; the ``alert_id`` (the record key) derives from it, so re-processing the
    same input after a restart gives the same key.
    """
    rec: Record = {
        "alert_id": alert_id("deadletter", *source.values()),
        "kind": "late" if error.reason == "late" else "invalid",
        "reason": error.reason,
        "error": str(error),
    }
    rec.update(source)
    try:
        rec["raw"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        rec["raw"] = None
        rec["raw_base64"] = base64.b64encode(raw).decode("ascii")
    return rec
