"""``slawatch replay``: JSON Lines files in, the core fold, JSON Lines records out.

Deterministic: the detector clock is the greatest event time seen (advanced lazily, just before an
event moves it, so a crossing at an instant waits for that instant's events), and ``until``
advances it at the end. ``detected_at`` is the wall clock of the run, stamped per written batch.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from .codec import dead_letter
from .core.detector import DEFAULT_RETENTION_MS, Detector
from .core.errors import InvalidEvent
from .core.events import Heartbeat, IncidentEvent, heartbeat, incident_event
from .core.policy import PolicySet
from .core.timefmt import format_instant


@dataclass
class Summary:
    events_read: int = 0
    skipped: int = 0
    heartbeats_read: int = 0
    records_written: int = 0
    standing: dict[str, str] = field(default_factory=dict)  # alert_id -> kind

    def line(self) -> str:
        kinds: dict[str, int] = {}
        for kind in self.standing.values():
            kinds[kind] = kinds.get(kind, 0) + 1
        detail = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
        return (f"replay: {self.events_read} incident events and {self.heartbeats_read} "
                f"heartbeats read, {self.skipped} skipped, "
                f"{len(self.standing)} alerts standing ({detail}), "
                f"{self.records_written} records written")


class _Writer:
    """Buffers records as JSON Lines, stamping ``detected_at`` with the wall clock per batch."""

    def __init__(self, out: IO[bytes], summary: Summary, batch: int = 4096) -> None:
        self.out, self.summary, self.batch = out, summary, batch
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
        dumps, lines = orjson.dumps, self.lines
        for rec in records:
            rec["detected_at"] = stamp
            lines.append(dumps(rec))
            kind = rec["kind"]
            if kind == "retraction":
                standing.pop(rec["alert_id"], None)
            elif kind not in ("invalid", "late"):
                standing[rec["alert_id"]] = kind
        self.summary.records_written += len(records)
        if len(lines) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            self.out.write(b"\n".join(self.lines) + b"\n")
            self.lines = []
        self.out.flush()


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                yield number, line.rstrip(b"\r\n")


def replay(policies: PolicySet, incidents: str | None, heartbeats: str | None, until: int | None,
           out: IO[bytes], err: IO[str] = sys.stderr,
           retention_ms: int = DEFAULT_RETENTION_MS) -> Summary:
    """Replay the files through one ``Detector``; write records to ``out``, problems to ``err``."""
    summary = Summary()
    writer = _Writer(out, summary)
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)  # millions of small long-lived objects: collect rarely
    try:
        _run(policies, incidents, heartbeats, until, writer, err, retention_ms, summary)
    finally:
        gc.set_threshold(*thresholds)
    writer.flush()
    return summary


def _run(policies: PolicySet, incidents: str | None, heartbeats: str | None, until: int | None,
         writer: _Writer, err: IO[str], retention_ms: int, summary: Summary) -> None:
    det = Detector(policies, retention_ms)
    write, before = writer.write, det.before
    on_incident, on_heartbeat = det.on_incident_event, det.on_heartbeat
    for path, number, raw, ev in _merge(incidents, heartbeats, summary):
        try:
            if isinstance(ev, InvalidEvent):
                raise ev
            write(before(ev.at))
            write(on_incident(ev) if type(ev) is IncidentEvent else on_heartbeat(ev))  # type: ignore[arg-type]
        except InvalidEvent as exc:
            summary.skipped += 1
            err.write(f"{path}:{number}: {exc}\n")
            write([dead_letter(exc, raw, {"source_file": path, "line": number})])
    if until is not None or det.now > -(2**62):
        writer.write(det.advance(until if until is not None else det.now))


Decoded = IncidentEvent | Heartbeat | InvalidEvent


def _decoded(path: str, parse: Callable[[Any], IncidentEvent | Heartbeat]
             ) -> Iterator[tuple[str, int, bytes, Decoded]]:
    loads = orjson.loads
    for number, raw in _lines(path):
        try:
            yield path, number, raw, parse(loads(raw))
        except InvalidEvent as exc:
            yield path, number, raw, exc
        except orjson.JSONDecodeError as exc:
            yield path, number, raw, InvalidEvent(f"malformed JSON: {exc}", "malformed_json")


def _merge(incidents: str | None, heartbeats: str | None, summary: Summary
           ) -> Iterator[tuple[str, int, bytes, Decoded]]:
    """Both inputs as one stream, merged on ``at``, each file keeping its own order; a bad line
    comes out as soon as it is read."""
    streams = []
    if incidents is not None:
        streams.append(_decoded(incidents, incident_event))
    if heartbeats is not None:
        streams.append(_decoded(heartbeats, heartbeat))
    if len(streams) == 1:
        counted = "events_read" if incidents is not None else "heartbeats_read"
        for item in streams[0]:
            setattr(summary, counted, getattr(summary, counted) + 1)
            yield item
        return
    heads: list[tuple[str, int, bytes, Decoded] | None] = [None, None]
    counters = ("events_read", "heartbeats_read")
    while True:
        for i in (0, 1):
            while heads[i] is None:
                got = next(streams[i], None)
                if got is None:
                    break
                setattr(summary, counters[i], getattr(summary, counters[i]) + 1)
                if isinstance(got[3], InvalidEvent):
                    yield got
                else:
                    heads[i] = got
        a, b = heads
        if a is None and b is None:
            return
        take = 0 if b is None or (a is not None and a[3].at <= b[3].at) else 1  # type: ignore[union-attr]
        chosen = heads[take]
        heads[take] = None
        assert chosen is not None
        yield chosen
