"""Incident clocks (SPEC section 4) as a left fold over an incident's events in order of ``at``.

The fold is the pure function of the SPEC: ``Incident.refold`` rebuilds it from the sorted events,
``Incident.apply`` extends it by one in-order event, and both run the same ``_step``. A threshold
crossing is computed from the clock's state (elapsed working time at ``since``, running or not)
with the calendar's ``reach``: never by scanning time.

Before an event at ``t`` is applied, every crossing strictly before ``t`` fires; a crossing at ``t``
itself waits for the events of that instant (an acknowledgement exactly at the deadline meets it).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .calendar import Calendar, utc_always
from .events import (
    ACKNOWLEDGED,
    CLOSED,
    OPENED,
    PAUSED,
    REOPENED,
    RESOLVED,
    RESUMED,
    SEVERITY_CHANGED,
    IncidentEvent,
)
from .policy import PolicySet, PolicyVersion, Threshold
from .timefmt import FAR_MS, NEVER_MS

IDLE, RUNNING, PAUSED_, STOPPED = range(4)
RESPONSE, RESOLUTION = 0, 1
METRIC_NAMES = ("response", "resolution")
STATE_NAMES = ("idle", "running", "paused", "stopped")
_UNKNOWN = FAR_MS  # a cached instant not computed yet (None: there is none)
UNMEASURED = utc_always()  # the clocks of an incident no policy matches: tracked, never judged

class Crossing(NamedTuple):
    """A threshold crossed: when, the working time then, the target and severity it was judged
    against, the instant the breach falls (None: only past the end of the instant range, never)
    and which threshold."""

    at_ms: int
    elapsed_ms: int
    target_ms: int
    severity: str
    deadline_ms: int | None
    threshold: Threshold


class Stop(NamedTuple):
    """A clock stopped: when, its working time, the target and severity, and whether it met the
    target (its breach never fired)."""

    at_ms: int
    elapsed_ms: int
    target_ms: int
    severity: str
    met: bool


class Change(NamedTuple):
    """What a step of the fold changed for one clock: a crossing (``alert``) or a stop
    (``outcome``), as the detector's changelog publishes it."""

    kind: str  # alert | outcome
    metric: int  # RESPONSE | RESOLUTION
    value: Crossing | Stop

class MetricClock:
    """One metric's clock of working time; ``fired`` maps threshold index to its crossing."""

    __slots__ = ("metric", "calendar", "policy", "status", "since_ms", "elapsed_ms", "severity",
                 "target_ms", "levels", "pos", "fired", "stop", "_next", "_deadline")

    def __init__(self, metric: int, calendar: Calendar, policy: PolicyVersion | None) -> None:
        self.metric = metric
        self.calendar = calendar
        self.policy = policy
        self.status = IDLE
        self.since_ms = 0
        self.elapsed_ms = 0
        self.severity = ""
        self.target_ms: int | None = None
        self.levels: tuple[tuple[int, Threshold], ...] = ()
        self.pos = 0
        self.fired: dict[int, Crossing] = {}
        self.stop: Stop | None = None
        self._next: int | None = _UNKNOWN  # cached next crossing (None: never)
        # cached breach instant of the current running state (None: never)
        self._deadline: int | None = _UNKNOWN

    def set_severity(self, severity: str) -> None:
        self.severity = severity
        policy = self.policy
        target = policy.target_ms(severity, self.metric) if policy is not None else None
        self.target_ms = target
        self.levels = policy.levels(target) if target is not None and policy is not None else ()
        self.pos = 0
        self._next = _UNKNOWN
        self._deadline = _UNKNOWN

    def start(self, at_ms: int, severity: str) -> None:
        self.status = RUNNING
        self.since_ms = at_ms
        self.set_severity(severity)

    def sync(self, at_ms: int) -> None:
        """Bring ``elapsed`` to instant ``at_ms`` (the clock must not be running past an event)."""
        if self.status == RUNNING and at_ms > self.since_ms:
            self.elapsed_ms += self.calendar.working_ms(self.since_ms, at_ms)
            self.since_ms = at_ms
            self._next = _UNKNOWN
            self._deadline = _UNKNOWN

    def next_crossing(self) -> int | None:
        """Instant of the next unfired threshold if the clock keeps running; None if none."""
        found = self._next
        if found != _UNKNOWN:
            return found
        found = None
        if self.status == RUNNING:
            levels, fired = self.levels, self.fired
            pos = self.pos
            while pos < len(levels) and levels[pos][1].index in fired:
                pos += 1
            self.pos = pos
            if pos < len(levels):
                need = levels[pos][0] - self.elapsed_ms
                found = self.since_ms if need <= 0 else self.calendar.reach(self.since_ms, need)
        self._next = found
        return found

    def fire_before(self, bound_ms: int) -> list[Crossing]:
        """Fire every crossing strictly before ``bound_ms``, in order."""
        out: list[Crossing] = []
        while True:
            x = self.next_crossing()
            if x is None or x >= bound_ms:
                return out
            level, th = self.levels[self.pos]
            elapsed = level if level > self.elapsed_ms else self.elapsed_ms
            target = self.target_ms
            assert target is not None
            deadline: int | None = self._deadline
            if deadline == _UNKNOWN:
                if target <= self.elapsed_ms:
                    deadline = self.since_ms
                else:  # None: never (past the end of the instant range)
                    deadline = self.calendar.reach(self.since_ms, target - self.elapsed_ms)
                self._deadline = deadline
            rec = Crossing(x, elapsed, target, self.severity, deadline, th)
            self.fired[th.index] = rec
            out.append(rec)
            self.pos += 1
            self._next = _UNKNOWN

    def halt(self, at_ms: int) -> Stop | None:
        """Stop the clock at ``at_ms``; return the stop (None when the metric is not measured)."""
        self.sync(at_ms)
        self.status = STOPPED
        self._next = None
        target = self.target_ms
        if target is None:
            self.stop = None
            return None
        breach_index = self.policy.breach_index if self.policy is not None else -1
        self.stop = Stop(at_ms, self.elapsed_ms, target, self.severity,
                         breach_index not in self.fired)
        return self.stop

    def view(self, now_ms: int) -> dict[str, Any]:
        """The clock as it stands at ``now_ms``, without moving it: state, working time elapsed and
        left, and the instant the breach falls (or fell) if it keeps running."""
        elapsed = self.elapsed_ms
        if self.status == RUNNING and now_ms > self.since_ms:
            elapsed += self.calendar.working_ms(self.since_ms, now_ms)
        target = self.target_ms
        breach = self.fired.get(self.policy.breach_index) if self.policy else None
        deadline: int | None = None
        if breach is not None:
            deadline = breach.deadline_ms
        elif target is not None and self.status == RUNNING:
            deadline = self.calendar.reach(max(now_ms, self.since_ms), target - elapsed)
        return {"metric": METRIC_NAMES[self.metric], "state": STATE_NAMES[self.status],
                "severity": self.severity, "elapsed_ms": elapsed, "target_ms": target,
                "left_ms": None if target is None else target - elapsed,
                "deadline": deadline, "breached": breach is not None,
                "fired": [rec.threshold.label
                          for rec in sorted(self.fired.values(), key=lambda r: r.at_ms)]}

    def run(self, at_ms: int) -> None:
        self.status = RUNNING
        self.since_ms = at_ms
        self._next = _UNKNOWN
        self._deadline = _UNKNOWN


#: The most an incident's events may weigh (``stored_size``): a state value (its events as the
#: worker's table keeps them) stays under Kafka's 1 MB record limit. Thousands of events of
#: ordinary ids; an event past it is refused (``too_large``), in replay as live.
MAX_INCIDENT_BYTES = 900_000
#: What an ``opened`` event's ``attributes`` may weigh at most (the input record limit).
_ATTRIBUTES_BYTES = 64 * 1024


def stored_size(ev: IncidentEvent) -> int:
    """An upper bound of the bytes ``ev`` takes in an incident's state value: its kept fields
    (``streams.state.stored_event``) and their JSON punctuation."""
    size = 96 + len(ev.incident_id) + len(ev.event_id) + len(ev.severity or "")
    if ev.type == OPENED:
        size += len(ev.service or "") + len(ev.customer or "") + (
            _ATTRIBUTES_BYTES if ev.attributes else 0)
    return size


class Incident:
    """Everything known of one incident: its events, the fold over them, what was published."""

    __slots__ = ("id", "events", "event_ids", "opened", "policy", "clocks", "severity",
                 "last_at_ms", "seen_at_ms", "touched_at_ms", "high_ms", "published", "scheduled",
                 "_seq", "size")

    def __init__(self, incident_id: str) -> None:
        self.id = incident_id
        self.events: list[IncidentEvent] = []
        self.event_ids: set[str] = set()
        self.opened: IncidentEvent | None = None
        self.policy: PolicyVersion | None = None
        self.clocks: tuple[MetricClock, MetricClock] | None = None
        self.severity = ""
        self.last_at_ms = NEVER_MS  # the latest ``at`` applied to the fold
        self.seen_at_ms = NEVER_MS  # the latest ``at`` of any event, held or applied
        #: the detector clock when an event last came for it, while it is held (no ``opened``
        #: yet): a held incident's retention runs from here, never from its events' ``at``
        self.touched_at_ms = NEVER_MS
        self.high_ms = NEVER_MS  # the latest instant of any fired threshold
        self.published: dict[str, Any] = {}  # alert_id -> what stands
        self.scheduled: int | None = None  # the instant this incident sits in the deadline heap
        self._seq = 0
        self.size = 0  # what its events weigh in a state value (``stored_size``), bounded

    # -- the fold

    def can_extend(self, ev: IncidentEvent) -> bool:
        """True when ``ev`` continues the fold: it comes after everything applied or fired."""
        return self.clocks is not None and ev.at >= self.last_at_ms and ev.at > self.high_ms

    def add(self, ev: IncidentEvent) -> None:
        ev.seq = self._seq
        self._seq += 1
        self.events.append(ev)
        self.event_ids.add(ev.event_id)
        self.size += stored_size(ev)
        if ev.at > self.seen_at_ms:
            self.seen_at_ms = ev.at

    def note(self, ev: IncidentEvent) -> None:
        """Take an event that changes no clock (``updated``): only its id and time count."""
        self.event_ids.add(ev.event_id)
        self.size += stored_size(ev)
        if ev.at > self.seen_at_ms:
            self.seen_at_ms = ev.at

    def apply(self, ev: IncidentEvent, out: list[Change]) -> None:
        """Extend the fold by one event at or after everything applied (see ``can_extend``)."""
        clocks = self.clocks
        assert clocks is not None
        at_ms = ev.at
        for clock in clocks:
            due = clock._next
            if due is None or (due != _UNKNOWN and due >= at_ms):
                continue  # nothing crosses before at_ms (the cached common case)
            for rec in clock.fire_before(at_ms):
                out.append(Change("alert", clock.metric, rec))
                if rec.at_ms > self.high_ms:
                    self.high_ms = rec.at_ms
        self._step(ev, clocks, out)
        self.last_at_ms = at_ms

    def _step(self, ev: IncidentEvent, clocks: tuple[MetricClock, MetricClock],
              out: list[Change]) -> None:
        kind, at_ms = ev.type, ev.at
        response, resolution = clocks
        if kind == ACKNOWLEDGED:
            if response.status == RUNNING:
                stop = response.halt(at_ms)
                if stop is not None:
                    out.append(Change("outcome", RESPONSE, stop))
        elif kind == RESOLVED or kind == CLOSED:
            for clock in clocks:
                if clock.status == RUNNING or clock.status == PAUSED_:
                    stop = clock.halt(at_ms)
                    if stop is not None:
                        out.append(Change("outcome", clock.metric, stop))
        elif kind == PAUSED:
            if resolution.status == RUNNING:
                resolution.sync(at_ms)
                resolution.status = PAUSED_
                resolution._next = None
        elif kind == RESUMED:
            if resolution.status == PAUSED_:
                resolution.run(at_ms)
        elif kind == REOPENED:
            if resolution.status == STOPPED:
                resolution.run(at_ms)
                if resolution.severity != self.severity:
                    resolution.set_severity(self.severity)
        elif kind == SEVERITY_CHANGED:
            assert ev.severity is not None
            self.severity = ev.severity
            for clock in clocks:
                if clock.status != STOPPED:
                    clock.sync(at_ms)
                    clock.set_severity(ev.severity)

    def refold(self, policies: PolicySet, now_ms: int, out: list[Change]) -> None:
        """Rebuild the fold from every event in order of ``at`` (the opened first at its instant),
        then fire what the clock ``now_ms`` has reached; ``out`` gets every record that stands."""
        opened = None
        for ev in self.events:
            if ev.type == OPENED and (opened is None or ev.at < opened.at):
                opened = ev
        self.opened = opened
        self.clocks = None
        self.high_ms = NEVER_MS
        if opened is None:
            return
        assert opened.customer is not None and opened.service is not None
        policy = policies.resolve_incident(opened.customer, opened.service, opened.at)
        self.policy = policy
        calendar = policy.calendar if policy is not None else UNMEASURED
        clocks = (MetricClock(RESPONSE, calendar, policy),
                  MetricClock(RESOLUTION, calendar, policy))
        assert opened.severity is not None
        self.severity = opened.severity
        for clock in clocks:
            clock.start(opened.at, opened.severity)
        self.clocks = clocks
        self.last_at_ms = opened.at
        ordered = sorted((ev for ev in self.events if ev.at >= opened.at and ev is not opened),
                         key=lambda ev: (ev.at, ev.seq))
        scratch: list[Change] = []
        for ev in ordered:
            self.apply(ev, scratch)
        self.fire_until(now_ms, scratch)
        for clock in clocks:
            for rec in clock.fired.values():
                out.append(Change("alert", clock.metric, rec))
            if clock.stop is not None:
                out.append(Change("outcome", clock.metric, clock.stop))

    def fire_until(self, now_ms: int, out: list[Change]) -> None:
        """Fire every crossing at or before the detector clock ``now_ms``."""
        if self.clocks is None:
            return
        for clock in self.clocks:
            for rec in clock.fire_before(now_ms + 1):
                out.append(Change("alert", clock.metric, rec))
                if rec.at_ms > self.high_ms:
                    self.high_ms = rec.at_ms

    def next_due(self) -> int | None:
        """The next instant at which a threshold of this incident would fire."""
        if self.clocks is None:
            return None
        a = self.clocks[0].next_crossing()
        b = self.clocks[1].next_crossing()
        if a is None:
            return b
        return a if b is None or a < b else b

    def held(self) -> bool:
        """No ``opened`` yet: its events wait for one (SPEC section 4), and it has no clocks."""
        return self.opened is None

    def finished(self) -> bool:
        """Both clocks stopped (or never opened): a candidate for eviction after retention."""
        clocks = self.clocks
        return clocks is None or (clocks[0].status == STOPPED and clocks[1].status == STOPPED)
