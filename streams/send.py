"""``slawatch send``: produce input events to the topics a worker reads, each checked first.

An event is one JSON object, given on the command line or as a line of a JSON Lines file. It goes
where the SPEC (section 2) says, with the key it says, which a worker checks (a record keyed
otherwise is a dead letter): an incident event (it has ``incident_id``) to ``PREFIX.incidents``
keyed by its ``incident_id``, a heartbeat (``service`` and ``status``) to ``PREFIX.heartbeats``
and a request count (``service`` and any of ``total``, ``errors``, ``latency_le``,
``duration_ms``) to ``PREFIX.requests``, both keyed by their ``service``. Each is checked as the
worker will check it (``streams.codec``, the same limits); a bad one is reported with where it
was, like a replay's, and not sent.

``plan`` is pure (lines in, messages and problems out); ``produce`` sends what it planned.

    SlawatchError
    └── BrokerError (streams.broker)   a broker that cannot be reached or a topic missing
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from .admin import check_reachable
from .broker import EMBEDDED_KAFKA_PYTHON_PRODUCER_SETTINGS
from .codec import decode_heartbeat, decode_incident, decode_request, loads
from .core.errors import InvalidEvent
from .core.timefmt import format_instant
from .settings import Settings
from .topics import BrokerError

#: The fields that tell request counts (SPEC section 2) from a heartbeat.
_REQUEST_FIELDS: Final = ("total", "errors", "latency_le", "duration_ms")


@dataclass(frozen=True)
class Message:
    """One event to send: the topic (before the prefix), its key and its bytes."""

    topic: str
    key: str
    value: bytes


@dataclass
class Plan:
    """What ``plan`` found: the messages to send and one line per bad event."""

    messages: list[Message] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def stamp_now(raw: bytes, now_ms: int) -> bytes:
    """``raw`` with ``at`` set to ``now_ms`` when it is a JSON object without one (``--now``);
    anything else unchanged, for the check to judge."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    if not isinstance(obj, dict) or "at" in obj:
        return raw
    return orjson.dumps({**obj, "at": format_instant(now_ms)})


def message(raw: bytes) -> Message:
    """The message of one event; ``InvalidEvent`` says what is wrong with it."""
    obj: Any = loads(raw)
    if isinstance(obj, dict) and "incident_id" in obj:
        _, ev = decode_incident(raw)
        return Message("incidents", ev.incident_id, raw)
    if isinstance(obj, dict) and "service" in obj and "status" in obj:
        beat = decode_heartbeat(raw)
        return Message("heartbeats", beat.service, raw)
    if isinstance(obj, dict) and "service" in obj and any(k in obj for k in _REQUEST_FIELDS):
        rec = decode_request(raw)
        return Message("requests", rec.service, raw)
    msg = ("not an incident event (no incident_id), a heartbeat (service and status) nor a "
           "request count (service and total, errors, latency_le or duration_ms)")
    raise InvalidEvent(msg, "unknown_type")


def plan(lines: Iterable[tuple[str, bytes]], now_ms: int | None = None) -> Plan:
    """The messages of ``(where, raw)`` events, and a ``where: why`` line for each bad one.
    ``now_ms``: stamp events without ``at`` with it."""
    out = Plan()
    for where, raw in lines:
        if now_ms is not None:
            raw = stamp_now(raw, now_ms)
        try:
            out.messages.append(message(raw))
        except InvalidEvent as exc:
            out.problems.append(f"{where}: {' '.join(str(exc).split())}")
    return out


def produce(settings: Settings, messages: list[Message], timeout_s: float) -> dict[str, int]:
    """Send ``messages`` and wait until the broker has them all; how many went to each topic.
    ``BrokerError`` when the broker cannot be reached, or a topic is missing, within
    ``timeout_s``."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError, KafkaTimeoutError

    check_reachable(settings.bootstrap, timeout_s=timeout_s,
                    client_options=settings.kafka_client_options())
    options = dict(EMBEDDED_KAFKA_PYTHON_PRODUCER_SETTINGS) if settings.broker_kind == "TANSU" \
        else {}
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap,
                             max_block_ms=int(timeout_s * 1000), **options,
                             **settings.kafka_client_options())
    sent: dict[str, int] = {}
    try:
        futures = []
        for m in messages:
            topic = settings.topic(m.topic)
            if topic not in sent:
                _check_topic(producer, topic, settings.bootstrap, KafkaTimeoutError)
            futures.append(producer.send(topic, key=m.key.encode(), value=m.value))
            sent[topic] = sent.get(topic, 0) + 1
        producer.flush(timeout=timeout_s)
        deadline = time.monotonic() + timeout_s
        for future in futures:
            future.get(timeout=max(deadline - time.monotonic(), 0.1))
    except KafkaError as exc:
        msg = f"sending to {settings.bootstrap}: {exc}"
        raise BrokerError(msg) from exc
    finally:
        producer.close(timeout=timeout_s)
    return sent


def _check_topic(producer: Any, topic: str, bootstrap: str, timeout: type[Exception]) -> None:
    """A ``BrokerError`` when the broker does not know ``topic`` (kafka-python waits
    ``max_block_ms`` for its metadata, then raises ``timeout``)."""
    try:
        known = producer.partitions_for(topic)
    except timeout:
        known = None
    if not known:
        msg = (
            f"no topic {topic} on {bootstrap}: run slawatch topics create (or "
                          "slawatch broker, which creates them)"
        )
        raise BrokerError(msg)
