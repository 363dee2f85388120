"""``slawatch tail``: the example consumer of the alert topics, and the demo's live view.

The alert topics are changelogs keyed by ``alert_id`` (SPEC section 5): what stands is the latest
record of each key, but retractions. ``Changes`` keeps that set and says, record by record,
what changed: a new or changed alert (a line), a retraction (a line), or the same record again
(at-least-once delivery: nothing, but ``detected_at`` differs). ``follow`` reads the topics from
their beginning and goes on as records come, until its ``stop`` event is set; ``standing``
reads them to their end as of the start and returns what stands.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from .settings import Settings
from .topics import CHANGELOG_TOPICS

#: Fields that differ between two deliveries of one record.
_DELIVERY_FIELDS: Final = ("detected_at",)


def _content(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in _DELIVERY_FIELDS}


@dataclass
class Changes:
    """What stands on the alert topics, fed one record at a time."""

    latest: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, rec: dict[str, Any]) -> bool:
        """Fold ``rec`` in; whether it changed what stands (a record seen already: False)."""
        key = rec.get("alert_id")
        if not isinstance(key, str):
            return True  # not a changelog record (a dead letter of an old producer): show it
        before = self.latest.get(key)
        if rec.get("kind") == "retraction":
            if before is None:
                return False  # withdraws what never stood here
            del self.latest[key]
            return True
        if before is not None and _content(before) == _content(rec):
            return False
        self.latest[key] = rec
        return True

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for rec in self.latest.values():
            kind = str(rec.get("kind"))
            out[kind] = out.get(kind, 0) + 1
        return dict(sorted(out.items()))

    def summary(self) -> str:
        counts = ", ".join(f"{n} {k}" for k, n in self.counts().items()) or "nothing"
        return f"standing: {counts}"


def follow(settings: Settings, topics: Iterable[str], stop: threading.Event,
           on_record: Callable[[dict[str, Any]], None],
           on_caught_up: Callable[[], None] | None = None, poll_ms: int = 200) -> None:
    """Call ``on_record`` with each JSON record of ``topics`` (names before the prefix), every
    partition from its beginning, until ``stop`` is set; ``on_caught_up`` each time every
    partition has been read to its end after new records came. A value that is not JSON is
    passed over."""
    from kafka import KafkaConsumer, TopicPartition  # kafka-python loads only here

    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap, enable_auto_commit=False,
                             fetch_max_wait_ms=50, **settings.kafka_client_options())
    tps = [TopicPartition(settings.topic(t), p) for t in topics
           for p in range(settings.partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning()
    fresh = True  # records came since the last catch-up (or none was ever reported)
    try:
        while not stop.is_set():
            for batch in consumer.poll(timeout_ms=poll_ms).values():
                for message in batch:
                    fresh = True
                    try:
                        rec = orjson.loads(message.value) if message.value else None
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(rec, dict):
                        on_record(rec)
            if fresh and on_caught_up is not None and all(
                    (high := consumer.highwater(tp)) is not None and consumer.position(tp) >= high
                    for tp in tps):
                fresh = False
                on_caught_up()
    finally:
        consumer.close()


def standing(settings: Settings, timeout_s: float) -> Changes:
    """What stands on the alert topics up to their end as of now."""
    from .topicread import read_topics

    changes = Changes()
    topics = [settings.topic(name) for name in CHANGELOG_TOPICS]
    for rec in read_topics(settings, topics, timeout_s=timeout_s):
        if rec.value is None:  # a tombstone withdraws its key
            if rec.key is not None:
                changes.apply({"alert_id": rec.key.decode("utf-8", "replace"),
                               "kind": "retraction"})
            continue
        try:
            value = orjson.loads(rec.value)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            changes.apply(value)
    return changes
