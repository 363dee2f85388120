"""The topic vocabulary: every topic slawatch reads or writes, named once, and ``TopicSpec``.

Names are before the prefix (``Settings.topic("breaches")`` is ``sla.breaches`` by default):

    incidents, heartbeats,          the inputs (co-partitioned, keyed by incident id / service)
      requests
    ticks                           internal: ticks that move each partition's detector clock
    breaches, near-breaches,        the alert changelogs, keyed by ``alert_id`` and compacted:
      outcomes                      the latest record per key is the truth
    deadletter                      inputs refused, with the reason

This module imports nothing of Kafka: settings, replay, the worker and the demo share it. It
defines ``BrokerError``, the base of every error of talking to a broker, and ``TopicError`` (the
whole tree is drawn once, in the docstring of ``streams``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .core.errors import SlawatchError

INCIDENTS_TOPIC: Final = "incidents"
HEARTBEATS_TOPIC: Final = "heartbeats"
REQUESTS_TOPIC: Final = "requests"
#: the inputs, co-partitioned: partition p of each goes to the same worker
INPUT_TOPICS: Final = (INCIDENTS_TOPIC, HEARTBEATS_TOPIC, REQUESTS_TOPIC)
#: internal: ticks that move each partition's detector clock, co-partitioned with the inputs
TICKS_TOPIC: Final = "ticks"
#: the alert changelogs (keyed by ``alert_id``, compacted: the latest record per key is the truth)
CHANGELOG_TOPICS: Final = ("breaches", "near-breaches", "outcomes")
DEADLETTER_TOPIC: Final = "deadletter"
#: what the worker writes
OUTPUT_TOPICS: Final = (*CHANGELOG_TOPICS, DEADLETTER_TOPIC)
ALL_TOPICS: Final = (*INPUT_TOPICS, *CHANGELOG_TOPICS, DEADLETTER_TOPIC, TICKS_TOPIC)

#: The output topic of each kind of record; a retraction goes where the record it retracts went.
TOPIC_OF_KIND: Final[dict[str, str]] = {
    "breach": "breaches", "near_breach": "near-breaches", "outcome": "outcomes",
    "invalid": DEADLETTER_TOPIC, "late": DEADLETTER_TOPIC,
}

_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


class BrokerError(SlawatchError):
    """A broker that cannot be found, started, reached or used."""


class TopicError(BrokerError):
    """A topic that cannot be created as asked (or exists with another partition count);
    ``denied``: only because the broker's ACLs do not let this client create it."""

    def __init__(self, message: str, *, denied: bool = False) -> None:
        super().__init__(message)
        self.denied = denied


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create: ``compact`` sets ``cleanup.policy=compact`` (changelogs, alert topics)."""

    name: str
    partitions: int
    compact: bool = False
    replication_factor: int = 1

    def __post_init__(self) -> None:
        if not _TOPIC_NAME.fullmatch(self.name) or self.name in (".", ".."):
            msg = (
                f"topic name {self.name!r}: expected 1-249 characters of "
                "A-Z a-z 0-9 . _ -"
            )
            raise TopicError(msg)
        if self.partitions < 1:
            msg = f"topic {self.name!r}: partitions {self.partitions}: expected >= 1"
            raise TopicError(msg)
        if self.replication_factor < 1:
            msg = (
                f"topic {self.name!r}: replication factor "
                f"{self.replication_factor}: expected >= 1"
            )
            raise TopicError(msg)

    @property
    def configs(self) -> dict[str, str]:
        """The topic configs to create it with."""
        return {"cleanup.policy": "compact"} if self.compact else {}
