"""``slawatch replay``: JSON Lines files in, the core fold, JSON Lines records out.

Deterministic: the detector clock is the greatest event time seen (advanced lazily, just before an
event moves it, so a crossing at an instant waits for that instant's events), and ``until``
advances it at the end. ``detected_at`` is the wall clock of the run, stamped per written batch.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from .codec import dead_letter
from .core.detector import DEFAULT_RETENTION_MS, Detector
from .core.errors import InvalidEvent
from .core.events import incident_event
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
        return (f"replay: {self.events_read} events read, {self.skipped} skipped, "
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
    loads = orjson.loads
    if incidents is not None:
        advance, on_event, write = det.advance, det.on_incident_event, writer.write
        heap = det.heap
        for number, raw in _lines(incidents):
            summary.events_read += 1
            try:
                ev = incident_event(loads(raw))
                if heap and heap[0][0] < ev.at:
                    write(advance(ev.at - 1))
                write(on_event(ev))
            except (InvalidEvent, orjson.JSONDecodeError) as exc:
                if not isinstance(exc, InvalidEvent):
                    exc = InvalidEvent(f"malformed JSON: {exc}", "malformed_json")
                summary.skipped += 1
                err.write(f"{incidents}:{number}: {exc}\n")
                write([dead_letter(exc, raw, {"source_file": incidents, "line": number})])
    if heartbeats is not None:
        for _ in _lines(heartbeats):
            summary.heartbeats_read += 1
        if summary.heartbeats_read:
            err.write(f"{heartbeats}: {summary.heartbeats_read} heartbeats read and NOT applied: "
                      "availability from heartbeats is not supported yet\n")
    if until is not None or det.now > -(2**62):
        writer.write(det.advance(until if until is not None else det.now))
