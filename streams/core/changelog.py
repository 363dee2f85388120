"""The alert topics as changelogs (SPEC section 8): the latest record per ``alert_id`` stands.

A fold keeps what it published, by key, and publishes only the difference with what stands now:
an entry that is new or changed is published again (an upsert), an entry that no longer stands is
withdrawn by a retraction record that names what it retracts. Incidents and availability both
publish through these functions; each keeps its own keys and turns its entries into records.

    if upsert(published, key, value): ...             # the in-order path: no retraction
    records, retractions = diff(published, standing)  # a rebuild: the whole new set
    gone = withdraw(published, keys)                  # a roll-back: these keys stand no more
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")

Record = dict[str, Any]

#: What a retraction repeats of the record it withdraws, in this order, where that record has it.
RETRACTED_FIELDS = ("metric", "at", "threshold", "policy_id", "policy_version", "policy_match",
                    "incident_id", "service", "customer", "severity", "period_start",
                    "period_end")


def upsert(published: MutableMapping[K, V], key: K, value: V) -> bool:
    """Take ``value`` for ``key`` into ``published``; True when it differs from what stood (it
    is to be published). One entry per call: the in-order path calls it per change."""
    if published.get(key) != value:
        published[key] = value
        return True
    return False


def diff(published: Mapping[K, V], standing: Mapping[K, V]
         ) -> tuple[list[tuple[K, V]], list[tuple[K, V]]]:
    """What turns ``published`` into ``standing``: the entries of ``standing`` that differ from
    what was published (records, in ``standing``'s order), and the published entries whose key
    no longer stands (retractions, in ``published``'s order)."""
    records = [(key, value) for key, value in standing.items() if published.get(key) != value]
    retractions = [(key, value) for key, value in published.items() if key not in standing]
    return records, retractions


def withdraw(published: MutableMapping[K, V], keys: Iterable[K]) -> list[tuple[K, V]]:
    """Remove ``keys`` from ``published``; return the entries removed (to retract)."""
    gone = []
    for key in keys:
        value = published.pop(key, None)
        if value is not None:
            gone.append((key, value))
    return gone


def retraction(record: Record) -> Record:
    """The record that withdraws ``record``: the same ``alert_id``, kind ``retraction``, the kind
    it retracts and the fields that say what it was (``RETRACTED_FIELDS``)."""
    rec: Record = {"alert_id": record["alert_id"], "kind": "retraction",
                   "retracts": record["kind"]}
    for name in RETRACTED_FIELDS:
        if name in record:
            rec[name] = record[name]
    return rec
