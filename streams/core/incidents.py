"""An incident (SPEC section 4) as a left fold over its events in order of ``at``.

The fold is the pure function of the SPEC: ``Incident.refold`` rebuilds it from the sorted events,
``Incident.apply`` extends it by one in-order event, and both run the same ``_step``, which moves
each clock by its table (``clocks``): the built-in ``response`` and ``resolution`` and the custom
clocks of the policy (SPEC section 4.1) alike, the ``opened`` included (it starts the clocks
that start at it).

Before an event at ``t`` is applied, every crossing strictly before ``t`` fires; a crossing at ``t``
itself waits for the events of that instant (an acknowledgement exactly at the deadline meets it).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .calendar import utc_always
from .clocks import (
    _UNKNOWN,
    BUILT_INS,
    PAUSED_,
    RUNNING,
    TABLES,
    Crossing,
    MetricClock,
    Stop,
    condition_of,
)
from .events import MILESTONE, OPENED, SEVERITY_CHANGED, IncidentEvent
from .policy import PolicySet, PolicyVersion
from .timefmt import NEVER_MS

UNMEASURED = utc_always()  # the clocks of an incident no policy matches: tracked, never judged

#: NamedTuples of the hot path are built as ``_new(Change, (...))``: the same value, without the
#: Python-level ``__new__`` of a NamedTuple (``bench/replay_bench.py`` measured the difference).
_new = tuple.__new__


class Change(NamedTuple):
    """What a step of the fold changed for one clock: a crossing (``alert``) or a stop
    (``outcome``), as the detector's changelog publishes it."""

    kind: str  # alert | outcome
    metric: str  # the clock's name: response, resolution or a custom clock's
    value: Crossing | Stop

#: The most an incident's events may weigh (``stored_size``): a state value (its events as the
#: worker's table keeps them) stays under Kafka's 1 MB record limit. Thousands of events of
#: ordinary ids; an event past it is refused (``too_large``), in replay as live.
MAX_INCIDENT_BYTES = 900_000
#: What an ``opened`` event's ``attributes`` may weigh at most (the input record limit).
_ATTRIBUTES_BYTES = 64 * 1024
#: Up to this many event ids an incident keeps them in a tuple (``Incident.event_ids``).
_FEW_IDS = 8


def note_size(incident_id: str, event_id: str) -> int:
    """What an ``updated`` event weighs (``stored_size``): its ids and their punctuation, which
    is all a note keeps of it (``streams.state.note_key``), so a rebuild counts it again from
    its key alone."""
    return 96 + len(incident_id) + len(event_id)


def stored_size(ev: IncidentEvent) -> int:
    """An upper bound of the bytes ``ev`` takes in an incident's state: its kept fields
    (``streams.state.stored_event``, or its note for an ``updated``) and their JSON
    punctuation."""
    size = note_size(ev.incident_id, ev.event_id) + len(ev.severity or "")
    if ev.type == MILESTONE:
        size += len(ev.milestone or "")
    if ev.type == OPENED:
        size += len(ev.service or "") + len(ev.customer or "") + (
            _ATTRIBUTES_BYTES if ev.attributes else 0)
    return size


class Incident:
    """Everything known of one incident: its events, the fold over them, what was published."""

    __slots__ = ("id", "events", "event_ids", "opened", "policy", "clocks", "severity",
                 "last_at_ms", "seen_at_ms", "touched_at_ms", "high_ms", "published", "scheduled",
                 "size")

    def __init__(self, incident_id: str) -> None:
        self.id = incident_id
        self.events: list[IncidentEvent] = []
        #: the ids of every event it took (its events' and its notes'): a tuple while it holds
        #: a few (a set of 2 weighs 216 bytes, the tuple 56), a set once it holds more
        self.event_ids: tuple[str, ...] | set[str] = ()
        self.opened: IncidentEvent | None = None
        self.policy: PolicyVersion | None = None
        self.clocks: tuple[MetricClock, ...] | None = None
        self.severity = ""
        self.last_at_ms = NEVER_MS  # the latest ``at`` applied to the fold
        self.seen_at_ms = NEVER_MS  # the latest ``at`` of any event, held or applied
        #: the detector clock when an event last came for it, while it is held (no ``opened``
        #: yet): a held incident's retention runs from here, never from its events' ``at``
        self.touched_at_ms = NEVER_MS
        self.high_ms = NEVER_MS  # the latest instant of any fired threshold
        self.published: dict[str, Any] = {}  # alert_id -> what stands
        self.scheduled: int | None = None  # the instant this incident sits in the deadline heap
        self.size = 0  # what its events weigh in a state value (``stored_size``), bounded

    # -- the fold

    def can_extend(self, ev: IncidentEvent) -> bool:
        """True when ``ev`` continues the fold: it comes after everything applied or fired."""
        return self.clocks is not None and ev.at >= self.last_at_ms and ev.at > self.high_ms

    def add(self, ev: IncidentEvent) -> None:
        ev.seq = len(self.events)  # its arrival number: events are only ever appended
        ev.incident_id = self.id  # the equal string, held once
        self.events.append(ev)
        self._took(ev.event_id)
        self.size += stored_size(ev)
        if ev.at > self.seen_at_ms:
            self.seen_at_ms = ev.at

    def note(self, event_id: str, at_ms: int, size: int) -> None:
        """Take an event that changes no clock (``updated``): only its id (a repeat is a
        duplicate), its ``size`` (``stored_size``) and its time (retention) count."""
        self._took(event_id)
        self.size += size
        if at_ms > self.seen_at_ms:
            self.seen_at_ms = at_ms

    def _took(self, event_id: str) -> None:
        ids = self.event_ids
        if type(ids) is set:
            ids.add(event_id)
        elif event_id in ids:
            return  # a set's semantics (a rebuild may name an id twice: a value and a note)
        elif len(ids) < _FEW_IDS:
            self.event_ids = (*ids, event_id)
        else:
            self.event_ids = {*ids, event_id}

    def note_ids(self) -> list[str]:
        """The ids of the events it took as notes (``note``), sorted: every id it holds that
        is not one of its events'. Computed, not kept: only a shell letting it go asks."""
        folded = {ev.event_id for ev in self.events}
        return sorted(eid for eid in self.event_ids if eid not in folded)

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
                out.append(_new(Change, ("alert", clock.name, rec)))
                if rec.at_ms > self.high_ms:
                    self.high_ms = rec.at_ms
        self._step(ev, clocks, out)
        self.last_at_ms = at_ms

    def _step(self, ev: IncidentEvent, clocks: tuple[MetricClock, ...],
              out: list[Change]) -> None:
        """Apply one event to every clock, by the clock's table (``clocks.transitions``)."""
        kind, at_ms = ev.type, ev.at
        if kind == SEVERITY_CHANGED:
            assert ev.severity is not None
            self.severity = ev.severity
        key = kind if kind != MILESTONE else condition_of(ev)
        for clock in clocks:
            action = clock.table.get((key, clock.status))
            if action is not None:
                stop = action(clock, at_ms, self.severity)
                if stop is not None:
                    out.append(_new(Change, ("outcome", clock.name, stop)))

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
        if policy is None:  # tracked, never judged: the built-in clocks, with no target
            clocks = tuple([MetricClock(i, d.name, TABLES[i], UNMEASURED, None)
                            for i, d in enumerate(BUILT_INS)])
        else:
            clocks = tuple([MetricClock(i, name, table, calendar, policy)
                            for i, (name, table, calendar) in enumerate(policy.engine)])
        assert opened.severity is not None
        self.severity = opened.severity
        scratch: list[Change] = []
        self._step(opened, clocks, scratch)  # the clocks that start at the opened start
        self.clocks = clocks
        self.last_at_ms = opened.at
        ordered = sorted((ev for ev in self.events if ev.at >= opened.at and ev is not opened),
                         key=lambda ev: (ev.at, ev.seq))
        for ev in ordered:
            self.apply(ev, scratch)
        self.fire_until(now_ms, scratch)
        for clock in clocks:
            for rec in clock.fired.values():
                out.append(_new(Change, ("alert", clock.name, rec)))
            if clock.stop is not None:
                out.append(_new(Change, ("outcome", clock.name, clock.stop)))

    def fire_until(self, now_ms: int, out: list[Change]) -> None:
        """Fire every crossing at or before the detector clock ``now_ms``."""
        if self.clocks is None:
            return
        for clock in self.clocks:
            due = clock._next
            if due is None or (due != _UNKNOWN and due > now_ms):
                continue  # nothing crosses by now_ms (the cached common case)
            for rec in clock.fire_before(now_ms + 1):
                out.append(_new(Change, ("alert", clock.name, rec)))
                if rec.at_ms > self.high_ms:
                    self.high_ms = rec.at_ms

    def next_due(self) -> int | None:
        """The next instant at which a threshold of this incident would fire."""
        clocks = self.clocks
        if clocks is None:
            return None
        due = None
        for clock in clocks:
            x = clock.next_crossing()
            if x is not None and (due is None or x < due):
                due = x
        return due

    def held(self) -> bool:
        """No ``opened`` yet: its events wait for one (SPEC section 4), and it has no clocks."""
        return self.opened is None

    def finished(self) -> bool:
        """No clock running or paused (each stopped, cancelled or never started; or never
        opened): a candidate for eviction after retention."""
        clocks = self.clocks
        if clocks is None:
            return True
        for clock in clocks:  # a loop, not any(): it runs at each heap pop (hot path)
            status = clock.status
            if status == RUNNING or status == PAUSED_:
                return False
        return True
