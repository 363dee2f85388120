"""An independent, deliberately naive model of SPEC sections 4 and 4.1 (every clock, built-in or
custom), for property tests.

Like ``oracle``, it steps through time one minute at a time (inputs, calendar spans and levels are
whole minutes) and shares no code with the fold: no table, no calendar inverse, no heap. A clock
is a dict of its definition as written in a policy file (``start``, ``stop``, ``cancel``,
``pauses``, ``on_reopen``) plus its calendar (an ``oracle.Cal``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.support.oracle import MIN, Cal

RESPONSE = {"start": "opened", "stop": ["acknowledged", "resolved", "closed"], "cancel": [],
            "pauses": False, "on_reopen": "ignore"}
RESOLUTION = {"start": "opened", "stop": ["resolved", "closed"], "cancel": [], "pauses": True,
              "on_reopen": "resume"}


def key_of(condition: Any) -> str:
    """A condition as written (``acknowledged``, ``{milestone: x}``) as a comparable key."""
    return f"m:{condition['milestone']}" if isinstance(condition, dict) else str(condition)


def key_of_event(ev: dict[str, Any]) -> str:
    return f"m:{ev['milestone']}" if ev["type"] == "milestone" else str(ev["type"])


@dataclass
class Clock:
    name: str
    spec: dict[str, Any]
    cal: Cal
    status: str = "idle"
    elapsed: int = 0  # minutes
    severity: str = ""
    fired: dict[object, dict[str, Any]] = field(default_factory=dict)
    stop: dict[str, Any] | None = None


@dataclass
class Policy:
    clocks: dict[str, tuple[dict[str, Any], Cal]]  # name -> (definition, calendar), in order
    targets: dict[str, dict[str, int]]  # severity -> clock name -> minutes
    near: list[float | str]

    def target(self, severity: str, name: str) -> int | None:
        for key in (severity, "*"):
            entry = self.targets.get(key, {})
            if name in entry:
                return entry[name]
        return None

    def levels(self, target: int) -> list[tuple[float | str, int]]:
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


def start_instants(events: list[dict[str, Any]], spec: dict[str, Any]) -> int | None:
    """When a clock of ``spec`` starts for these events (None: never), by SPEC 4.1's order."""
    ordered = in_order(events)
    if not ordered:
        return None
    want = key_of(spec["start"])
    return next((ev["at"] for ev in ordered if key_of_event(ev) == want), None)


def in_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The incident's events in its order: the opened first, then those not before it by
    (at, arrival); [] without an opened."""
    opened = None
    for i, ev in enumerate(events):
        if ev["type"] == "opened" and (opened is None or ev["at"] < opened[1]["at"]):
            opened = (i, ev)
    if opened is None:
        return []
    o_index, o = opened
    rest = sorted(((ev["at"], i, ev) for i, ev in enumerate(events)
                   if i != o_index and ev["at"] >= o["at"] and ev["type"] != "opened"),
                  key=lambda p: (p[0], p[1]))
    return [o, *(ev for _, _, ev in rest)]


def standing(events: list[dict[str, Any]], pol: Policy, until: int) -> dict[tuple, dict]:
    """The standing records of one incident: {(kind, clock name, threshold): fields}."""
    ordered = in_order(events)
    if not ordered:
        return {}
    by_minute: dict[int, list[dict[str, Any]]] = {}
    for ev in ordered:
        by_minute.setdefault(ev["at"], []).append(ev)
    clocks = [Clock(name, spec, cal) for name, (spec, cal) in pol.clocks.items()]
    severity = ordered[0]["severity"]
    t = ordered[0]["at"]
    while t <= until:
        for ev in by_minute.get(t, []):
            if ev["type"] == "severity_changed":
                severity = ev["severity"]
            for c in clocks:
                _step(c, key_of_event(ev), t, severity, pol)
        for c in clocks:
            target = pol.target(c.severity, c.name)
            if c.status == "running" and target is not None:
                for label, level in pol.levels(target):
                    if label not in c.fired and c.elapsed >= level:
                        c.fired[label] = {"at": t, "elapsed": c.elapsed, "target": target,
                                          "severity": c.severity}
            if c.status == "running" and c.cal.working(t):
                c.elapsed += 1
        t += MIN
    out: dict[tuple, dict] = {}
    for c in clocks:
        for label, rec in c.fired.items():
            out[("breach" if label == 1.0 else "near_breach", c.name, label)] = rec
        if c.stop is not None:
            out[("outcome", c.name, None)] = c.stop
    return out


def _step(c: Clock, key: str, t: int, severity: str, pol: Policy) -> None:
    spec = c.spec
    if c.status == "idle":
        if key == key_of(spec["start"]):
            c.status, c.severity = "running", severity
        return
    if c.status in ("running", "paused"):
        if key in {key_of(x) for x in spec["stop"]}:
            c.status = "stopped"
            target = pol.target(c.severity, c.name)
            if target is not None:  # not measured: an earlier stop's outcome stands
                c.stop = {"at": t, "elapsed": c.elapsed, "target": target,
                          "severity": c.severity, "met": 1.0 not in c.fired}
        elif key in {key_of(x) for x in spec["cancel"]}:
            c.status = "cancelled"
        elif key == "severity_changed":
            c.severity = severity
        elif spec["pauses"] and key == "paused" and c.status == "running":
            c.status = "paused"
        elif spec["pauses"] and key == "resumed" and c.status == "paused":
            c.status = "running"
        return
    if c.status == "stopped" and key == "reopened" and spec["on_reopen"] == "resume":
        c.status, c.severity = "running", severity
