"""Incident clocks (SPEC sections 4 and 4.1): what a clock is, how events move it, and its
working time.

A clock is defined by its conditions (``ClockDefinition``): the event that starts it, those that
stop it (with an outcome), those that cancel it (no outcome), whether ``paused``/``resumed`` pause
it, what ``reopened`` does to it once stopped, and the calendar of its working time. The built-in
``response`` and ``resolution`` are two such definitions (``BUILT_INS``); the custom clocks of a
policy's ``clocks`` block are more, and every clock of an incident runs on the same engine. A
condition is an event type (``events.TYPES``) or a milestone's name (a ``str``: only a
``milestone`` event carries one, so the two never meet). From a definition, ``transitions`` draws
the clock's table, keyed by (condition, clock state), as h11 draws its state machine: an event
whose pair is not in the table leaves the clock as it is (SPEC: a ``paused``, ``resumed`` or
``reopened`` that does not apply to the clock's state is a no-op; stop and cancel conditions
met before a clock starts are ignored).

``MetricClock`` is one clock of working time: a threshold crossing is computed from its state
(elapsed working time at ``since_ms``, running or not) with the calendar's ``reach``, never by
scanning time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .events import (
    ACKNOWLEDGED,
    CLOSED,
    MILESTONE,
    OPENED,
    PAUSED,
    REOPENED,
    RESOLVED,
    RESUMED,
    SEVERITY_CHANGED,
)
from .timefmt import FAR_MS

if TYPE_CHECKING:
    from .calendar import Calendar
    from .events import IncidentEvent

IDLE, RUNNING, PAUSED_, STOPPED, CANCELLED = range(5)
STATE_NAMES = ("idle", "running", "paused", "stopped", "cancelled")
RESPONSE, RESOLUTION = 0, 1
_UNKNOWN = FAR_MS  # a cached instant not computed yet (None: there is none)
#: A NamedTuple of the hot path is built as ``_new(Crossing, (...))``: the same value, without
#: the Python-level ``__new__`` of a NamedTuple (``bench/replay_bench.py`` measured it).
_new = tuple.__new__
#: The ``fired`` of a clock that has fired nothing: shared and read-only, so an open incident's
#: clocks hold no empty dict each (``bench/memory_bench.py``); the first crossing makes its own.
NONE_FIRED: Mapping[int, Crossing] = MappingProxyType({})

#: What a clock's conditions name: an event type (``events.TYPES``), or a milestone's name.
Condition = int | str


def condition_of(ev: IncidentEvent) -> Condition:
    """The condition ``ev`` meets: its type, or for a ``milestone`` event its name."""
    kind = ev.type
    return kind if kind != MILESTONE else ev.milestone  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Threshold:
    """One entry that fires: a fraction of the target, a working time left, or the breach."""

    index: int
    label: float | str  # the policy entry as written: 0.5, "4m"; 1.0 for the breach
    fraction: Fraction | None  # f of the target, or None for a duration entry
    left_ms: int = 0  # a duration entry stands for target - left_ms

    @property
    def is_breach(self) -> bool:
        return self.fraction == 1 and self.left_ms == 0 and self.label == 1.0

    def level_ms(self, target_ms: int) -> int | None:
        """The elapsed working ms at which this entry fires for ``target_ms``; None if skipped."""
        if self.fraction is None:
            return target_ms - self.left_ms if self.left_ms < target_ms else None
        f = self.fraction
        return -(-f.numerator * target_ms // f.denominator)  # round up to the whole ms


class Judge(Protocol):
    """What a clock is judged by (a ``policy.PolicyVersion``): its targets and thresholds."""

    breach_index: int
    near_breach: tuple[Threshold, ...]

    def target_ms(self, severity: str, metric: int) -> int | None: ...

    def levels(self, target_ms: int) -> tuple[tuple[int, Threshold], ...]: ...


@dataclass(frozen=True, slots=True)
class ClockDefinition:
    """A clock as SPEC section 4.1 writes one: its start, stop and cancel conditions, whether it
    pauses, whether ``reopened`` resumes it once stopped, and its calendar (a calendar's name,
    ``24x7``, or None: the policy's)."""

    name: str
    stop: frozenset[Condition]
    start: Condition = OPENED
    cancel: frozenset[Condition] = frozenset()
    pauses: bool = False
    on_reopen: str = "ignore"  # ignore | resume
    calendar: str | None = None

    @property
    def conditions(self) -> frozenset[Condition]:
        """Every condition the clock names (start, stop, cancel)."""
        return self.stop | self.cancel | {self.start}


#: SPEC section 4.1: the two built-in clocks, in the clocks language.
RESPONSE_CLOCK = ClockDefinition("response", stop=frozenset({ACKNOWLEDGED, RESOLVED, CLOSED}))
RESOLUTION_CLOCK = ClockDefinition("resolution", stop=frozenset({RESOLVED, CLOSED}), pauses=True,
                                   on_reopen="resume")
BUILT_INS = (RESPONSE_CLOCK, RESOLUTION_CLOCK)

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


#: What an event does to a clock in a state: the clock, the event's instant and the incident's
#: severity (after the event); a stop when the clock stopped with an outcome.
Action = Callable[["MetricClock", int, str], "Stop | None"]


def _start(clock: MetricClock, at_ms: int, severity: str) -> Stop | None:
    """Start the clock (it starts at most once), under the severity in force."""
    clock.start(at_ms, severity)
    return None


def _stop(clock: MetricClock, at_ms: int, severity: str) -> Stop | None:
    return clock.halt(at_ms)


def _cancel(clock: MetricClock, at_ms: int, severity: str) -> Stop | None:
    """End the clock with no outcome (an earlier stop's outcome stands)."""
    clock.cancel(at_ms)
    return None


def _pause(clock: MetricClock, at_ms: int, severity: str) -> Stop | None:
    clock.pause(at_ms)
    return None


def _resume(clock: MetricClock, at_ms: int, severity: str) -> Stop | None:
    clock.run(at_ms)
    return None


def _reopen(clock: MetricClock, at_ms: int, severity: str) -> Stop | None:
    """Run a stopped clock again, its elapsed time kept, under the severity in force now."""
    clock.run(at_ms)
    if clock.severity != severity:
        clock.set_severity(severity)
    return None


def _new_severity(clock: MetricClock, at_ms: int, severity: str) -> Stop | None:
    """The new severity's targets apply to the whole elapsed time from ``at_ms`` on."""
    clock.sync(at_ms)
    clock.set_severity(severity)
    return None


def transitions(clock: ClockDefinition) -> dict[tuple[Condition, int], Action]:
    """The table of a clock: (condition, clock state) -> what the event does to it.

    A clock not started starts at its start condition; a started one (running or paused) takes
    every severity change; one that pauses pauses while running and runs again while paused; one
    that resumes on reopen runs again once stopped (never once cancelled). A started clock stops
    at its stop conditions and ends at its cancel conditions, and these win over the rest: an
    event that is both stops it, and a clock that stops at ``paused`` or ``severity_changed``
    stops there (judged by the severity it had) rather than pausing or taking the change."""
    table: dict[tuple[Condition, int], Action] = {(clock.start, IDLE): _start}
    for state in (RUNNING, PAUSED_):
        table[(SEVERITY_CHANGED, state)] = _new_severity
    if clock.pauses:
        table[(PAUSED, RUNNING)] = _pause
        table[(RESUMED, PAUSED_)] = _resume
    if clock.on_reopen == "resume":
        table[(REOPENED, STOPPED)] = _reopen
    for state in (RUNNING, PAUSED_):  # a condition the clock names wins over the rest
        for kind in clock.cancel:
            table[(kind, state)] = _cancel
        for kind in clock.stop:
            table[(kind, state)] = _stop
    return table


#: The tables of the built-in clocks, drawn once (a policy draws those of its clocks).
TABLES = tuple(transitions(d) for d in BUILT_INS)


class MetricClock:
    """One metric's clock of working time; ``fired`` maps threshold index to its crossing."""

    __slots__ = ("metric", "name", "table", "calendar", "policy", "status", "since_ms",
                 "elapsed_ms", "severity", "target_ms", "levels", "pos", "fired", "stop", "_next",
                 "_deadline")

    def __init__(self, metric: int, name: str, table: dict[tuple[Condition, int], Action],
                 calendar: Calendar, policy: Judge | None) -> None:
        self.metric = metric  # its index among the policy's clocks (targets are by index)
        self.name = name
        self.table = table
        self.calendar = calendar
        self.policy = policy
        self.status = IDLE
        self.since_ms = 0
        self.elapsed_ms = 0
        self.severity = ""  # none until it starts
        self.target_ms: int | None = None
        self.levels: tuple[tuple[int, Threshold], ...] = ()
        self.pos = 0
        self.fired: Mapping[int, Crossing] = NONE_FIRED
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
            rec = _new(Crossing, (x, elapsed, target, self.severity, deadline, th))
            fired = self.fired
            if fired is NONE_FIRED:
                fired = self.fired = {}
            fired[th.index] = rec  # type: ignore[index]
            out.append(rec)
            self.pos += 1
            self._next = _UNKNOWN

    def halt(self, at_ms: int) -> Stop | None:
        """Stop the clock at ``at_ms``; return the stop (None when the metric is not measured:
        then an earlier stop's outcome stands, as it does in the published changelog)."""
        self.sync(at_ms)
        self.status = STOPPED
        self._next = None
        target = self.target_ms
        if target is None:
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
        return {"metric": self.name, "state": STATE_NAMES[self.status],
                "severity": self.severity, "elapsed_ms": elapsed, "target_ms": target,
                "left_ms": None if target is None else target - elapsed,
                "deadline": deadline, "breached": breach is not None,
                "fired": [rec.threshold.label
                          for rec in sorted(self.fired.values(), key=lambda r: r.at_ms)]}

    def cancel(self, at_ms: int) -> None:
        """End the clock at ``at_ms`` for good: no outcome, nothing fires any more."""
        self.sync(at_ms)
        self.status = CANCELLED
        self._next = None

    def pause(self, at_ms: int) -> None:
        """Stop counting at ``at_ms``, keeping the elapsed time (nothing crosses while paused)."""
        self.sync(at_ms)
        self.status = PAUSED_
        self._next = None

    def run(self, at_ms: int) -> None:
        self.status = RUNNING
        self.since_ms = at_ms
        self._next = _UNKNOWN
        self._deadline = _UNKNOWN
