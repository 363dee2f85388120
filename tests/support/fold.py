"""An in-memory fold harness: incident events and heartbeats (JSON objects, or raw bytes for a bad
line) through the core's ``Detector`` as ``slawatch replay`` runs two files through it, with no
file, no writer and no wall clock (records have no ``detected_at``).

The order is replay's: the two inputs merged on ``at``, each keeping its own order (ties: the
incidents first), a bad record out as soon as it is read; an input the detector refuses is a
dead letter; at the end the clock goes to ``until`` (or stays at the last event's ``at``).

    records = fold(policy_yaml, incidents=[...], heartbeats=[...], until=ms)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from heapq import merge
from typing import Any

import orjson

from streams.codec import dead_letter, loads
from streams.core.detector import DEFAULT_RETENTION_MS, Detector, Record
from streams.core.errors import InvalidEvent
from streams.core.events import Heartbeat, IncidentEvent, heartbeat, incident_event
from streams.core.policy import PolicySet
from streams.core.policyfile import load_policies
from streams.core.requests.records import RequestCount, request_count
from streams.core.timefmt import NEVER_MS

Line = dict[str, Any] | bytes
Decoded = IncidentEvent | Heartbeat | RequestCount | InvalidEvent


def fold(policy: str | PolicySet, incidents: Sequence[Line] | None = None,
         heartbeats: Sequence[Line] | None = None, until: int | None = None,
         retention_ms: int = DEFAULT_RETENTION_MS,
         requests: Sequence[Line] | None = None) -> list[Record]:
    """Every record the fold writes for these inputs, in the order replay writes them."""
    policies = load_policies(policy) if isinstance(policy, str) else policy
    det = Detector(policies, retention_ms)
    out: list[Record] = []
    for name, number, raw, ev in _merged(incidents, heartbeats, requests):
        try:
            if isinstance(ev, InvalidEvent):
                raise ev
            out += det.on_event(ev)
        except InvalidEvent as exc:
            out.append(dead_letter(exc, raw, {"source_file": name, "line": number}))
    if until is not None or det.now_ms > NEVER_MS:
        out += det.advance(until if until is not None else det.now_ms)
    return out


def _merged(incidents: Sequence[Line] | None, heartbeats: Sequence[Line] | None,
            requests: Sequence[Line] | None = None
            ) -> Iterator[tuple[str, int, bytes, Decoded]]:
    """The inputs as one stream on ``at``; a bad record goes out at once, as it is read."""
    streams = [_decoded("incidents.jsonl", incidents, incident_event),
               _decoded("heartbeats.jsonl", heartbeats, heartbeat),
               _decoded("requests.jsonl", requests, request_count)]
    keyed = [((_at(item), index, item) for item in stream)
             for index, stream in enumerate(streams)]
    for _, _, item in merge(*keyed, key=lambda k: (k[0], k[1])):
        yield item


def _at(item: tuple[str, int, bytes, Decoded]) -> int:
    ev = item[3]
    return NEVER_MS if isinstance(ev, InvalidEvent) else ev.at


def _decoded(name: str, lines: Sequence[Line] | None, parse: Any
             ) -> Iterator[tuple[str, int, bytes, Decoded]]:
    for number, line in enumerate(lines or (), 1):
        raw = line if isinstance(line, bytes) else orjson.dumps(line)
        try:
            yield name, number, raw, parse(loads(raw))
        except InvalidEvent as exc:
            yield name, number, raw, exc
