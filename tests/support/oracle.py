"""An independent, deliberately naive model of SPEC section 4, for property tests.

It steps through time one minute at a time (inputs are whole minutes, calendars are UTC spans at
whole minutes, levels are whole minutes), so it shares no arithmetic with the real fold: no
calendar inverse, no heap, no incremental state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

MIN = 60_000


@dataclass
class Cal:
    """UTC weekly spans in minutes of the day, per weekday (Monday 0); None = 24x7."""

    spans: tuple[tuple[tuple[int, int], ...], ...] | None
    holidays: frozenset[str] = frozenset()

    def working(self, minute_ms: int) -> bool:
        if self.spans is None:
            return True
        d = datetime.fromtimestamp(minute_ms / 1000, UTC)
        if d.strftime("%Y-%m-%d") in self.holidays:
            return False
        m = d.hour * 60 + d.minute
        return any(s <= m < e for s, e in self.spans[d.weekday()])


@dataclass
class Pol:
    targets: dict[str, tuple[int | None, int | None]]  # severity -> minutes (response, resolution)
    near: list[float | str]  # fractions or "<n>m"

    def target(self, severity: str, metric: int) -> int | None:
        entry = self.targets.get(severity)
        if entry is not None and entry[metric] is not None:
            return entry[metric]
        star = self.targets.get("*")
        return star[metric] if star else None

    def levels(self, target: int) -> list[tuple[float | str, int]]:
        """(label, level in minutes); the breach is label 1.0."""
        out: list[tuple[float | str, int]] = []
        for entry in self.near:
            if isinstance(entry, str):
                left = int(entry[:-1])
                if left < target:
                    out.append((entry, target - left))
            else:
                level = entry * target
                assert level == int(level), "choose targets so fractions give whole minutes"
                out.append((entry, int(level)))
        out.append((1.0, target))
        return out


@dataclass
class Clock:
    metric: int
    status: str = "idle"
    elapsed: int = 0  # minutes
    severity: str = ""
    fired: dict[object, dict] = field(default_factory=dict)
    stop: dict | None = None


def standing(events: list[dict], pol: Pol, cal: Cal, until: int) -> dict[tuple, dict]:
    """The standing records of one incident: {(kind, metric, threshold): fields}."""
    opened = None
    for i, ev in enumerate(events):
        if ev["type"] == "opened" and (opened is None or ev["at"] < opened[1]["at"]):
            opened = (i, ev)
    if opened is None:
        return {}
    o_index, o = opened
    rest = sorted(((ev["at"], i, ev) for i, ev in enumerate(events)
                   if i != o_index and ev["at"] >= o["at"]), key=lambda p: (p[0], p[1]))
    by_minute: dict[int, list[dict]] = {}
    for at, _, ev in rest:
        by_minute.setdefault(at, []).append(ev)
    clocks = [Clock(0), Clock(1)]
    severity = o["severity"]
    for c in clocks:
        c.status, c.severity = "running", severity
    t = o["at"]
    while t <= until:
        for ev in by_minute.get(t, []):
            kind = ev["type"]
            if kind == "acknowledged":
                _halt(clocks[0], t, pol, {"running"})
            elif kind in ("resolved", "closed"):
                for c in clocks:
                    _halt(c, t, pol, {"running", "paused"})
            elif kind == "paused" and clocks[1].status == "running":
                clocks[1].status = "paused"
            elif kind == "resumed" and clocks[1].status == "paused":
                clocks[1].status = "running"
            elif kind == "reopened" and clocks[1].status == "stopped":
                clocks[1].status = "running"
                clocks[1].severity = severity
            elif kind == "severity_changed":
                severity = ev["severity"]
                for c in clocks:
                    if c.status != "stopped":
                        c.severity = severity
        for c in clocks:
            target = pol.target(c.severity, c.metric)
            if c.status == "running" and target is not None:
                for label, level in pol.levels(target):
                    if label not in c.fired and c.elapsed >= level:
                        c.fired[label] = {"at": t, "elapsed": c.elapsed, "target": target,
                                          "severity": c.severity}
            if c.status == "running" and cal.working(t):
                c.elapsed += 1
        t += MIN
    out: dict[tuple, dict] = {}
    for c in clocks:
        for label, rec in c.fired.items():
            out[("breach" if label == 1.0 else "near_breach", c.metric, label)] = rec
        if c.stop is not None:
            out[("outcome", c.metric, None)] = c.stop
    return out


def _halt(c: Clock, t: int, pol: Pol, from_states: set[str]) -> None:
    if c.status not in from_states:
        return
    c.status = "stopped"
    target = pol.target(c.severity, c.metric)
    c.stop = None if target is None else {"at": t, "elapsed": c.elapsed, "target": target,
                                          "severity": c.severity, "met": 1.0 not in c.fired}
