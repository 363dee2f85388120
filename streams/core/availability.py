"""Availability from heartbeats (SPEC section 7): downtime, budgets, credits, burn rates, outcomes.

One ``ServiceFold`` per (service, policy id) folds the service's heartbeats in arrival order. Its
state is exact up to the latest heartbeat; past it the fold *projects*: every up instance stays up
until its last heartbeat + ``heartbeat_timeout``, then the service is down. Projection is how a
service that falls silent breaches with no event arriving. Advancing is one loop over the next
thing that happens (a status change, a threshold crossing, a period end, a burn-rate minute), so
it costs O(events), never a scan of time.

Downtime is counted outside maintenance, and only once the service is known (its first
heartbeat). The counted-down intervals of the longest burn-rate window are kept (with prefix
sums) for exact window sums; older ones are dropped, so memory per service is bounded by that
window and by the number of outages in it, not by its length in minutes.

A heartbeat that lands before a projection already published (it was delayed, not late) rolls the
fold back to its last heartbeat and replays; the detector publishes the difference.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from . import changelog
from .errors import InvalidEvent
from .events import DEGRADED, UP, Heartbeat
from .ids import alert_id
from .policy import PolicySet, PolicyVersion
from .timefmt import FAR_MS, MINUTE_MS, NEVER_MS, format_instant

Record = dict[str, Any]

#: Periods and burn levels kept for every fold of a book; past this the cache starts again.
SHARED_MAX = 4096


def _ceil(x: Fraction) -> int:
    return -(-x.numerator // x.denominator)


# ----------------------------------------------------------------------------- periods


def period_bounds(at: int, version: PolicyVersion) -> tuple[int, int]:
    """The ``[start, end)`` of the period holding ``at`` in the version's zone and period kind."""
    av = version.availability
    assert av is not None
    zone = version.calendar.zone
    local = datetime.fromtimestamp(at / 1000, zone)
    if av.period == "month":
        first = (local.year, local.month)
        following = (local.year + local.month // 12, local.month % 12 + 1)
        start = datetime(first[0], first[1], 1, tzinfo=zone)
        end = datetime(following[0], following[1], 1, tzinfo=zone)
    else:
        day = local.date()
        if av.period == "week":
            day -= timedelta(days=day.weekday())
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        nxt = day + timedelta(days=7 if av.period == "week" else 1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
    return round(start.timestamp() * 1000), round(end.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Level:
    """One availability threshold of a period: the downtime (ms) at which it fires."""

    ms: int
    label: float  # the fraction, 1.0 for the breach, the budget multiple for a credit tier
    kind: str  # near_breach | breach
    credit_percent: float | None


@dataclass(slots=True)
class Period:
    start: int
    end: int
    version: PolicyVersion
    counted_ms: int  # period length minus maintenance
    budget: Fraction  # ms
    levels: tuple[Level, ...]


def make_period(start: int, end: int, version: PolicyVersion) -> Period:
    av = version.availability
    assert av is not None
    counted = (end - start) - av.maintenance.between(start, end)
    share = 1 - av.target / 100
    budget = share * counted
    tiers = {t.below: t.percent for t in av.credits}
    breach_credit = tiers.pop(av.target, None)
    levels = [Level(_ceil(f * budget), label, "near_breach", None)
              for f, label in zip(av.near_breach, av.near_breach_labels, strict=True)]
    levels.append(Level(_ceil(budget), 1.0, "breach", breach_credit))
    for below, percent in tiers.items():
        multiple = round(float((100 - below) / (100 - av.target)), 6)
        levels.append(Level(_ceil((1 - below / 100) * counted), multiple, "breach", percent))
    levels.sort(key=lambda lv: (lv.ms, lv.label))
    return Period(start, end, version, counted, budget, tuple(levels))


# ----------------------------------------------------------------------------- the fold


@dataclass(slots=True)
class Fired:
    """A record the fold produced: a threshold crossing, a burn-rate episode or an outcome."""

    kind: str  # near_breach | breach | outcome
    metric: str  # availability | burn_rate
    at: int
    key: tuple[Any, ...]  # what identifies it within the fold (with the period or episode)
    fields: dict[str, Any]
    version: PolicyVersion


@dataclass(slots=True)
class FoldState:
    """Everything the fold knows at instant ``t``; cloned to project past the last heartbeat."""

    t: int = NEVER_MS  # accounted up to here
    up_until: int = NEVER_MS  # an ``up`` instance keeps the service up until here
    degraded_until: int = NEVER_MS  # the same for ``degraded`` instances
    period: Period | None = None
    next_start: int = FAR_MS  # where the next judged period may start, while none is open
    down_ms: int = 0  # counted downtime in the period so far
    degraded_ms: int = 0
    fired: set[float] = field(default_factory=set)  # labels of the period's fired levels
    # counted-down intervals of the longest burn window, with prefix sums
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    cum: list[int] = field(default_factory=list)  # downtime before interval i (all time)
    total_down: int = 0
    episodes: dict[int, int] = field(default_factory=dict)  # rule index -> episode start minute
    last_minute: int = NEVER_MS  # the last whole minute at which burn rates were evaluated
    burn_active: bool = False  # some short window held downtime at the last evaluation
    crossing: int | None = None  # cached next level crossing of the projection (None: unknown)
    down_start: int = FAR_MS  # when the current (or projected) down stretch began

    def clone(self) -> FoldState:
        return FoldState(
            self.t, self.up_until, self.degraded_until, self.period, self.next_start,
            self.down_ms, self.degraded_ms, set(self.fired), self.starts[:], self.ends[:],
            self.cum[:], self.total_down, dict(self.episodes), self.last_minute, self.burn_active,
            self.crossing, self.down_start)

    @property
    def down_from(self) -> int:
        """The instant from which the service is down (until its next heartbeat)."""
        return max(self.up_until, self.degraded_until, self.t)


class ServiceFold:
    """The availability of one service under one policy id (all its versions)."""

    def __init__(self, service: str, chain: list[PolicyVersion],
                 shared: dict[Any, Any] | None = None) -> None:
        self.service = service
        self._shared = {} if shared is None else shared  # periods and burn levels, per version
        self.chain = chain
        self._starts = [v.effective_from_ms for v in chain]
        self.state = FoldState()
        self.base: FoldState | None = None  # the exact state at the last heartbeat, if projected
        self.published: dict[tuple[Any, ...], Fired] = {}
        self.projected: set[tuple[Any, ...]] = set()  # keys published while projecting
        #: what a roll-back retracted (kept as ``published`` is): a shell that cannot tell
        #: whether the retraction reached its topic sends it again (``republish``)
        self.withdrawn: dict[tuple[Any, ...], Fired] = {}
        #: restored from a snapshot taken while projected to this instant (``projected`` holds
        #: what that projection fired): a heartbeat at or before it rolls the projection back
        self.restored_to: int | None = None
        self.scheduled: int | None = None
        self._kept = 0  # how many published records the last ``prune`` kept
        self.burns = any(v.availability.burn_rules for v in chain if v.availability)
        self.window_ms = max((r.long_ms for v in chain if v.availability
                              for r in v.availability.burn_rules), default=0)

    def in_force(self, at: int) -> PolicyVersion | None:
        i = bisect_right(self._starts, at) - 1
        if i < 0 or self.chain[i].availability is None:
            return None
        return self.chain[i]

    # -- heartbeats and the clock

    def on_heartbeat(self, at: int, instances: dict[str, tuple[int, int]],
                     out: list[Fired]) -> bool:
        """Apply a heartbeat at ``at`` (``instances`` already holds it). Returns True when a
        projection past ``at`` was rolled back: the caller re-projects and publishes the
        difference."""
        rolled = False
        if self.base is not None:
            if at <= self.state.t:
                self.state = self.base  # the projection went past this heartbeat: undo it
                rolled = True
            self.base = None
        st = self.state
        if st.t == NEVER_MS:
            self._begin(st, at)
        else:
            self._run(st, at, False, out)
        self._apply_instances(st, at, instances)
        return rolled

    def renew(self, at: int) -> bool:
        """The common heartbeat, taken in O(1): an ``up`` instance that was up says so again,
        the service is up through ``at`` and nothing is due before it. Its only effect is to
        push the projection later, which needs no accounting (no downtime while up) and no heap
        entry (the earlier one pops and reschedules). Returns False to take the general path."""
        st = self.state
        period = st.period
        if (self.base is not None or period is None or self.scheduled is None
                or self.scheduled <= at or st.up_until < at or st.degraded_until > st.up_until):
            return False
        until = at + period.version.availability.heartbeat_timeout_ms  # type: ignore[union-attr]
        if until > st.up_until:
            st.up_until = st.down_start = until
            st.crossing = None
        return True

    def prune(self) -> None:
        """Forget published records older than ``KEPT_MS`` before the last heartbeat: no
        roll-back reaches them (it replays from that heartbeat on) and no snapshot or
        ``republish`` holds them, so memory follows the recent records, not every period ever
        judged. Amortised: a scan only once the published records have doubled."""
        published = self.published
        if len(published) <= 2 * self._kept + 64:
            return
        exact = self.base if self.base is not None else self.state
        horizon = exact.t - KEPT_MS
        for key in [k for k, f in published.items() if f.at < horizon]:
            del published[key]
        for key in [k for k, f in self.withdrawn.items() if f.at < horizon]:
            del self.withdrawn[key]
        self._kept = len(published)

    def project(self, now: int, out: list[Fired]) -> None:
        """Run the fold past the last heartbeat up to the detector clock ``now`` (inclusive)."""
        if self.state.t == NEVER_MS or now < self.state.t or self._next_event(self.state) > now:
            return  # nothing happens by then: no need to move (or copy) the state
        if self.base is None:
            self.base = self.state.clone()
        self._run(self.state, now, True, out)

    def view(self, now: int) -> dict[str, Any] | None:
        """The period holding ``now`` as it stands then, without moving the fold (a copy of its
        state is projected): downtime so far, budget and what is left of it, the period's
        availability if no more downtime comes (as alerts report it), and whether the service
        is up. None while no period is judged."""
        st = self.state
        if st.t == NEVER_MS:
            return None
        if now > st.t:
            st = st.clone()
            self._run(st, now, False, [])
        period = st.period
        if period is None:
            return None
        av = period.version.availability
        assert av is not None
        budget = period.budget / 1000
        return {
            "policy_id": period.version.id, "policy_version": period.version.version,
            "period_start": period.start, "period_end": period.end, "target": float(av.target),
            "up": st.t < st.down_from, "downtime_seconds": st.down_ms / 1000,
            "budget_seconds": float(budget),
            "budget_left_seconds": float(budget - Fraction(st.down_ms, 1000)),
            "availability": _availability(st.down_ms, period.counted_ms),
            "fired": sorted(st.fired),
        }

    def next_due(self) -> int | None:
        st = self.state
        if st.t == NEVER_MS:
            return None
        due = self._next_event(st)
        return None if due >= FAR_MS else due

    # -- periods

    def _begin(self, st: FoldState, at: int) -> None:
        """Start the periods with the one holding ``at``, the service's first heartbeat."""
        st.t = at
        st.last_minute = at // MINUTE_MS * MINUTE_MS
        version = self.in_force(at)
        if version is not None:
            self._open(st, *period_bounds(at, version))
            return
        later = [v for v in self.chain if v.effective_from_ms > at and v.availability is not None]
        if later:  # a policy that begins mid-period starts with the next period
            first = later[0]
            start, end = period_bounds(first.effective_from_ms, first)
            st.next_start = start if start == first.effective_from_ms else end

    def _open(self, st: FoldState, start: int, end: int) -> None:
        st.down_ms = st.degraded_ms = 0
        st.fired = set()
        st.crossing = None
        version = self.in_force(start)
        if version is None:  # no version in force at its start: this period is not judged
            st.period, st.next_start = None, end
        else:
            key = (id(version), start, end)
            period = self._shared.get(key)
            if period is None:
                if len(self._shared) >= SHARED_MAX:  # a silent service walks many periods
                    self._shared.clear()
                period = self._shared[key] = make_period(start, end, version)
            st.period, st.next_start = period, FAR_MS

    # -- the loop

    def _next_event(self, st: FoldState) -> int:
        period = st.period
        if period is not None:
            due = min(period.end, self._next_crossing(st, period))
        else:
            due = st.next_start
        if self.burns:
            minute = st.last_minute + MINUTE_MS
            if not st.burn_active and not st.episodes:
                # no window holds downtime and no rule is hot: no evaluation can fire or end
                # anything before the minute after downtime is counted again
                minute = max(minute, (self._counts_from(st) // MINUTE_MS + 1) * MINUTE_MS)
            elif st.episodes:
                minute = max(minute, self._settled_until(st))
            due = min(due, minute)
        return due

    def _counts_from(self, st: FoldState) -> int:
        """The first instant from ``st.t`` on at which the projection counts downtime: the
        service down, a period judged, outside maintenance. ``FAR_MS`` when that is not before the
        next period begins or ends (an event of its own, after which this is asked again)."""
        period = st.period
        if period is None:
            return FAR_MS
        maint = period.version.availability.maintenance  # type: ignore[union-attr]
        x = maint.next_outside(st.down_from)
        return FAR_MS if x >= period.end else x

    def _settled_until(self, st: FoldState) -> int:
        """The first minute at which a burn-rate evaluation could change anything, when none
        can before it; else ``NEVER_MS``.

        While the service is down outside maintenance (since the last evaluation), every
        window's downtime only grows (a minute of downtime comes in on the right for each that
        may leave on the left), so a hot rule stays hot. Once every rule is hot, or can never
        be (its need exceeds its window), nothing changes until that stretch may end: a
        maintenance window begins, or another policy version comes into force (the next
        heartbeat ends any run). A silent service then costs one evaluation per such change,
        not one per minute of silence."""
        period = st.period
        if period is None or st.down_start > st.last_minute or st.t < st.down_from:
            return NEVER_MS  # up since the last evaluation, or now, or not counting downtime
        version = self.in_force(st.t)
        av = version.availability if version is not None else None
        if version is None or av is None:
            return NEVER_MS
        for i, rule in enumerate(av.burn_rules):
            if i not in st.episodes:
                need_long, need_short = self._rule_levels(version, i)
                if need_long <= rule.long_ms and need_short <= rule.short_ms:
                    return NEVER_MS  # it may still become hot
        maint = period.version.availability.maintenance  # type: ignore[union-attr]
        if maint.next_inside(st.last_minute, st.t + 1) <= st.t:
            return NEVER_MS  # in maintenance since the last evaluation: windows may have shrunk
        # a version judges from its first instant on; a maintenance window removes downtime
        # only from the minutes after its start
        i = bisect_right(self._starts, st.t)
        version_at = -(-self._starts[i] // MINUTE_MS) * MINUTE_MS if i < len(self._starts) \
            else FAR_MS
        pause = maint.next_inside(st.t, period.end)  # the period's end is an event anyway
        return min(version_at, (pause // MINUTE_MS + 1) * MINUTE_MS)

    def _run(self, st: FoldState, until: int, inclusive: bool, out: list[Fired]) -> None:
        """Advance ``st`` to ``until`` with no heartbeat in between; what happens at ``until``
        itself is done only when ``inclusive``."""
        while True:
            nxt = self._next_event(st)
            if nxt > until or (nxt == until and not inclusive):
                self._account(st, until)
                return
            self._account(st, nxt)
            self._happen(st, nxt, out)

    def _happen(self, st: FoldState, at: int, out: list[Fired]) -> None:
        """Everything due at instant ``at`` (accounted up to it)."""
        if self.burns and at % MINUTE_MS == 0 and at > st.last_minute:
            self._burn(st, at, out)
        period = st.period
        if period is not None:
            if at == period.end:
                out.append(self._outcome(st, period))
                following = self.in_force(period.end) or period.version
                self._open(st, period.end, period_bounds(period.end, following)[1])
            else:
                self._fire_levels(st, period, at, out)
        elif at == st.next_start:
            version = self.in_force(at)
            if version is not None:
                self._open(st, *period_bounds(at, version))
            else:
                st.next_start = FAR_MS

    def _account(self, st: FoldState, b: int) -> None:
        """Count downtime and degraded time in ``[st.t, b)``; move ``st.t`` to ``b``."""
        a = st.t
        if b <= a:
            return
        if st.episodes and self.burns:
            # minutes the skipped evaluations would have left as they were count as evaluated
            # (a later evaluation must not reach back past the intervals kept for the windows)
            settled = self._settled_until(st)
            if settled != NEVER_MS:
                st.last_minute = max(st.last_minute,
                                     min(b, settled - MINUTE_MS) // MINUTE_MS * MINUTE_MS)
        st.t = b
        period = st.period
        if period is None:
            return
        lo = max(a, st.up_until, st.degraded_until)
        if lo < b:
            maint = period.version.availability.maintenance  # type: ignore[union-attr]
            for s, e in maint.pieces_outside(lo, b):
                st.down_ms += e - s
                if self.burns:
                    self._record_down(st, s, e)
        if st.degraded_until > st.up_until:
            d_lo, d_hi = max(a, st.up_until), min(b, st.degraded_until)
            if d_hi > d_lo:
                st.degraded_ms += d_hi - d_lo

    def _apply_instances(self, st: FoldState, at: int, instances: dict[str, tuple[int, int]]
                         ) -> None:
        version = st.period.version if st.period is not None else self.in_force(at)
        if version is None:
            version = next((v for v in self.chain if v.availability is not None), None)
        assert version is not None and version.availability is not None
        timeout = version.availability.heartbeat_timeout_ms
        up = degraded = NEVER_MS
        for status, beat in instances.values():
            if status == UP:
                up = max(up, beat + timeout)
            elif status == DEGRADED:
                degraded = max(degraded, beat + timeout)
        was_down = st.down_start <= at
        st.up_until, st.degraded_until = up, degraded
        st.crossing = None
        if not (was_down and max(up, degraded) <= at):
            st.down_start = max(up, degraded, at)  # down now, or projected down from then

    # -- thresholds

    def _next_crossing(self, st: FoldState, period: Period) -> int:
        """The instant the next level fires if the projection holds (cached: accounting along
        the projection does not move it; a heartbeat, a firing or a new period does)."""
        if st.crossing is not None:
            return st.crossing
        level = next((lv for lv in period.levels if lv.label not in st.fired), None)
        x = FAR_MS
        if level is not None:
            maint = period.version.availability.maintenance  # type: ignore[union-attr]
            start = st.down_from
            need = level.ms - st.down_ms
            x = maint.next_outside(maint.reach_outside(start, need) if need > 0 else start)
            if x >= period.end:
                x = FAR_MS
        st.crossing = x
        return x

    def _fire_levels(self, st: FoldState, period: Period, at: int, out: list[Fired]) -> None:
        if at < st.down_from:
            return
        maint = period.version.availability.maintenance  # type: ignore[union-attr]
        if maint.next_outside(at) != at:
            return
        for level in period.levels:
            if level.label not in st.fired and st.down_ms >= level.ms:
                st.fired.add(level.label)
                st.crossing = None
                out.append(self._threshold_record(st, period, level, at))

    def _threshold_record(self, st: FoldState, period: Period, level: Level, at: int) -> Fired:
        av = period.version.availability
        assert av is not None
        fields: dict[str, Any] = {
            "threshold": level.label,
            "period_start": period.start, "period_end": period.end,
            "target": float(av.target), "budget_seconds": float(period.budget / 1000),
            "downtime_seconds": st.down_ms / 1000,
            "availability": _availability(st.down_ms, period.counted_ms),
        }
        if level.credit_percent is not None:
            fields["credit_percent"] = level.credit_percent
        return Fired(level.kind, "availability", at, (period.start, level.kind, level.label),
                     fields, period.version)

    def _outcome(self, st: FoldState, period: Period) -> Fired:
        av = period.version.availability
        assert av is not None
        credits = [lv.credit_percent for lv in period.levels
                   if lv.credit_percent is not None and lv.label in st.fired]
        fields = {
            "period_start": period.start, "period_end": period.end, "target": float(av.target),
            "availability": _availability(st.down_ms, period.counted_ms),
            "downtime_seconds": st.down_ms / 1000, "degraded_seconds": st.degraded_ms / 1000,
            "budget_seconds": float(period.budget / 1000), "met": 1.0 not in st.fired,
            "credit_percent": max(credits) if credits else 0,
        }
        return Fired("outcome", "availability", period.end, (period.start, "outcome"), fields,
                     period.version)

    # -- burn rates

    def _record_down(self, st: FoldState, s: int, e: int) -> None:
        if not st.burn_active and not st.episodes:
            # minutes were skipped while no short window could hold downtime: that holds up to
            # the minute starting before ``s``, and no further (downtime that starts and ends
            # between two heartbeats must be evaluated at the next minute)
            st.last_minute = max(st.last_minute, s // MINUTE_MS * MINUTE_MS)
            st.burn_active = True
        if st.ends and st.ends[-1] == s:
            st.ends[-1] = e
        else:
            st.starts.append(s)
            st.ends.append(e)
            st.cum.append(st.total_down)
        st.total_down += e - s
        horizon = e - self.window_ms - MINUTE_MS
        drop = 0
        while drop < len(st.ends) - 1 and st.ends[drop] <= horizon:
            drop += 1
        if drop:
            del st.starts[:drop], st.ends[:drop], st.cum[:drop]

    def _down_before(self, st: FoldState, t: int) -> int:
        """Counted downtime before ``t`` (all time; exact within the longest window)."""
        i = bisect_right(st.starts, t) - 1
        if i < 0:
            return st.cum[0] if st.cum else st.total_down
        return st.cum[i] + min(t, st.ends[i]) - st.starts[i]

    def _rule_levels(self, version: PolicyVersion, index: int) -> tuple[int, int]:
        """The downtime (ms, rounded up) each window of a rule must reach: factor x budget."""
        key = (id(version), index)
        found = self._shared.get(key)
        if found is None:
            av = version.availability
            assert av is not None
            rule = av.burn_rules[index]
            share = rule.factor * (1 - av.target / 100)
            found = self._shared[key] = (_ceil(share * rule.long_ms),
                                         _ceil(share * rule.short_ms))
        return found

    def _burn(self, st: FoldState, m: int, out: list[Fired]) -> None:
        """Evaluate every burn-rate rule at whole minute ``m`` (downtime in ``[m - w, m)``)."""
        st.last_minute = m
        version = self.in_force(m)
        av = version.availability if version is not None else None
        rules = av.burn_rules if av is not None else ()
        now_down = self._down_before(st, m)
        active = False
        for i, rule in enumerate(rules):
            assert version is not None and av is not None
            need_long, need_short = self._rule_levels(version, i)
            long_down = now_down - self._down_before(st, m - rule.long_ms)
            short_down = now_down - self._down_before(st, m - rule.short_ms)
            hot = long_down >= need_long and short_down >= need_short
            if hot and i not in st.episodes:
                st.episodes[i] = m
                share = 1 - av.target / 100
                out.append(Fired("near_breach", "burn_rate", m, ("burn", i, m), {
                    "threshold": rule.label, "target": float(av.target),
                    "long_window_seconds": rule.long_ms / 1000,
                    "short_window_seconds": rule.short_ms / 1000,
                    "burn_rate_long": round(float(long_down / (share * rule.long_ms)), 6),
                    "burn_rate_short": round(float(short_down / (share * rule.short_ms)), 6),
                }, version))
            elif not hot:
                st.episodes.pop(i, None)
            active = active or short_down > 0
        st.burn_active = active or self._counts_from(st) == st.t


def _availability(down_ms: int, counted_ms: int) -> float:
    if counted_ms <= 0:
        return 100.0
    return round(100 * (1 - down_ms / counted_ms), 6)


# ----------------------------------------------------------------------------- the services


class Service:
    __slots__ = ("name", "last_at", "instances", "folds")

    def __init__(self, name: str, folds: list[ServiceFold]) -> None:
        self.name = name
        self.last_at = NEVER_MS
        self.instances: dict[str, tuple[int, int]] = {}  # instance -> (status, last heartbeat)
        self.folds = folds


class ServiceBook:
    """Every service's availability folds and their deadline heap (one per detector).

    ``snapshot(name)`` and ``restore(name, snap)`` carry one service through a changelog: the
    snapshot holds the exact state at the service's last heartbeat (never a projection, which is a
    function of that state and the clock) and what was published, as plain JSON-able data.
    """

    def __init__(self, policies: PolicySet) -> None:
        self.policies = policies
        self.services: dict[str, Service] = {}
        self.heap: list[tuple[int, int, ServiceFold]] = []
        self._seq = 0
        self._shared: dict[Any, Any] = {}  # periods and burn levels shared by every fold

    def refusal(self, hb: Heartbeat) -> InvalidEvent | None:
        """``late`` when ``hb`` comes before its service's latest applied heartbeat, else None
        (nothing changes either way)."""
        svc = self.services.get(hb.service)
        if svc is not None and hb.at < svc.last_at:
            return InvalidEvent(
                f"service {hb.service!r}: heartbeat at {format_instant(hb.at)} is before the "
                f"latest applied one ({format_instant(svc.last_at)})", "late")
        return None

    def on_heartbeat(self, hb: Heartbeat, now: int) -> list[Record]:
        """Apply one heartbeat; raise ``InvalidEvent`` (reason ``late``) for one that comes
        before the latest applied heartbeat of its service."""
        refused = self.refusal(hb)
        if refused is not None:
            raise refused
        svc = self.services.get(hb.service)
        if svc is None:
            chains = [self.policies.chain(m) for m in self.policies.availability_for(hb.service)]
            svc = self.services[hb.service] = Service(
                hb.service, [ServiceFold(hb.service, c, self._shared) for c in chains])
        svc.last_at = hb.at
        previous = svc.instances.get(hb.instance)
        svc.instances[hb.instance] = (hb.status, hb.at)
        steady = hb.status == UP and previous is not None and previous[0] == UP
        out: list[Record] = []
        for fold in svc.folds:
            restored_to, fold.restored_to = fold.restored_to, None
            if steady and restored_to is None and fold.renew(hb.at):
                continue
            exact: list[Fired] = []
            rolled = fold.on_heartbeat(hb.at, svc.instances, exact)
            if rolled or (restored_to is not None and hb.at <= restored_to):
                projected: list[Fired] = []
                fold.project(now, projected)
                # not rolled: the projection stopped at or before the heartbeat and is exact
                # now, with what it fired (fold.restored_to: a projection of an older clock's)
                out.extend(_replace(fold, exact, projected, None if rolled else hb.at))
            else:
                fold.projected.clear()
                out.extend(_publish(fold, exact, speculative=False))
            fold.prune()
            self._schedule(fold)
        return out

    def advance(self, now: int) -> list[Record]:
        heap, out = self.heap, []
        while heap and heap[0][0] <= now:
            due, _, fold = heapq.heappop(heap)
            if fold.scheduled != due:
                continue
            fold.scheduled = None
            fired: list[Fired] = []
            fold.project(now, fired)
            out.extend(_publish(fold, fired, speculative=True))
            self._schedule(fold)
        return out

    def next_due(self) -> int | None:
        return self.heap[0][0] if self.heap else None

    def republish(self, name: str) -> list[Record]:
        """The records the service's folds published in the day before its last heartbeat (and
        since), again: for a shell that cannot tell whether they reached their topic."""
        svc = self.services.get(name)
        if svc is None:
            return []
        out = []
        for fold in svc.folds:
            exact = fold.base if fold.base is not None else fold.state
            out += [_record(fold, f) for f in fold.published.values()
                    if f.at >= exact.t - KEPT_MS]
            out += [changelog.retraction(_record(fold, f)) for f in fold.withdrawn.values()
                    if f.at >= exact.t - KEPT_MS]
        return out

    def snapshot(self, name: str) -> dict[str, Any] | None:
        """The service as plain data (None for a service never seen)."""
        svc = self.services.get(name)
        if svc is None:
            return None
        return {"last_at": svc.last_at,
                "instances": [[i, s, at] for i, (s, at) in svc.instances.items()],
                "folds": [fold_snapshot(f) for f in svc.folds]}

    def restore(self, name: str, snap: dict[str, Any], now: int) -> list[Record]:
        """Load a service from ``snapshot`` data and project it to the clock ``now``; return
        what the projection fires that the snapshot does not hold as published (it was fired
        after the snapshot was taken, or never): publishing it again is identical, never lost.

        Folds of policies that are gone are dropped; policies that are new start fresh."""
        chains = [self.policies.chain(m) for m in self.policies.availability_for(name)]
        svc = self.services[name] = Service(
            name, [ServiceFold(name, c, self._shared) for c in chains])
        svc.last_at = snap["last_at"]
        svc.instances = {i: (s, at) for i, s, at in snap["instances"]}
        saved = {f["policy"]: f for f in snap["folds"]}
        out: list[Record] = []
        for fold in svc.folds:
            data = saved.get(fold.chain[0].id)
            if data is not None:
                fold_restore(fold, data)
                # what a projection had fired when the snapshot was taken may not have reached
                # its topic (a crash between the two sends): published again, identical
                out += [_record(fold, fold.published[key]) for key in sorted(fold.projected,
                                                                            key=repr)]
                fired: list[Fired] = []
                fold.project(now, fired)
                out.extend(_publish(fold, fired, speculative=True))
            self._schedule(fold)
        return out

    def _schedule(self, fold: ServiceFold) -> None:
        """Keep the fold in the heap at its next due instant. A due that moves later keeps the
        earlier entry (it pops, finds nothing due, and reschedules): heartbeats that only push
        the projection further cost no heap operation."""
        due = fold.next_due()
        if due is not None and (fold.scheduled is None or due < fold.scheduled):
            fold.scheduled = due
            self._seq += 1
            heapq.heappush(self.heap, (due, self._seq, fold))


def _publish(fold: ServiceFold, fired: list[Fired], speculative: bool) -> list[Record]:
    """Publish what differs from what stands; ``speculative``: fired by a projection."""
    entries = [((f.metric, *f.key), f) for f in fired]
    changed = changelog.upsert(fold.published, entries)
    for key, _ in changed:
        fold.withdrawn.pop(key, None)
    if speculative:
        fold.projected.update(key for key, _ in entries)
    return [_record(fold, f) for _, f in changed]


def _replace(fold: ServiceFold, exact: list[Fired], projected: list[Fired],
             confirmed_to: int | None = None) -> list[Record]:
    """After a roll-back: publish what changed, retract what the projection published in vain
    (but what it fired up to ``confirmed_to``, which a heartbeat confirmed)."""
    stale = fold.projected
    fold.projected = set()
    out = _publish(fold, exact, speculative=False) + _publish(fold, projected, speculative=True)
    kept = {(f.metric, *f.key) for f in exact} | fold.projected
    if confirmed_to is not None:
        kept |= {key for key in stale
                 if key in fold.published and fold.published[key].at <= confirmed_to}
    for key, gone in changelog.withdraw(fold.published, stale - kept):
        fold.withdrawn[key] = gone
        out.append(changelog.retraction(_record(fold, gone)))
    return out


def _record(fold: ServiceFold, f: Fired) -> Record:
    version = f.version
    fields = f.fields
    if f.metric == "burn_rate":
        aid = alert_id("burn_rate", fold.service, version.id, fields["long_window_seconds"],
                       fields["short_window_seconds"], fields["threshold"], f.at)
    else:
        aid = alert_id("availability", fold.service, version.id, *f.key)
    rec: Record = {"alert_id": aid, "kind": f.kind, "metric": f.metric,
                   "at": format_instant(f.at)}
    if "threshold" in fields:
        rec["threshold"] = fields["threshold"]
    rec["policy_id"] = version.id
    rec["policy_version"] = version.version
    rec["policy_match"] = list(version.match_keys)
    rec["service"] = fold.service
    for name, value in fields.items():
        if name == "threshold":
            continue
        rec[name] = format_instant(value) if name in ("period_start", "period_end") else value
    return rec


# ----------------------------------------------------------------------------- snapshots


def _state_data(st: FoldState) -> dict[str, Any]:
    period = st.period
    return {
        "t": st.t, "up": st.up_until, "degraded": st.degraded_until,
        "period": None if period is None else [period.start, period.end],
        "next_start": st.next_start, "down_ms": st.down_ms, "degraded_ms": st.degraded_ms,
        # copies: a snapshot is a value of its own (the fold keeps changing its lists)
        "fired": sorted(st.fired), "starts": st.starts[:], "ends": st.ends[:], "cum": st.cum[:],
        "total_down": st.total_down, "episodes": [[i, m] for i, m in st.episodes.items()],
        "last_minute": st.last_minute, "burn_active": st.burn_active,
        "down_start": st.down_start,
    }


def _fired_data(f: Fired) -> list[Any]:
    return [f.kind, f.metric, f.at, list(f.key), f.fields, f.version.version]


#: A snapshot keeps the records a fold published this long before its last heartbeat: what a
#: roll-back could publish again or retract (those at or after it), and what a shell may have to
#: publish again when the heartbeats that fired them are delivered twice (``republish``).
KEPT_MS = 24 * 3600 * 1000


def fold_snapshot(fold: ServiceFold) -> dict[str, Any]:
    exact = fold.base if fold.base is not None else fold.state
    return {
        "policy": fold.chain[0].id,
        "state": _state_data(exact),
        "published": [_fired_data(f) for f in fold.published.values()
                      if f.at >= exact.t - KEPT_MS],
        # which of them a projection past the last heartbeat fired: a heartbeat that shows it
        # fired in vain retracts it, whoever restores the fold
        "projected": [list(key) for key in sorted(fold.projected, key=repr)
                      if key in fold.published and fold.published[key].at >= exact.t - KEPT_MS],
        "projected_to": fold.state.t if fold.base is not None else fold.restored_to,
        "withdrawn": [_fired_data(f) for f in fold.withdrawn.values()
                      if f.at >= exact.t - KEPT_MS],
    }


def _fired_from(rows: Any, versions: dict[int, Any]) -> dict[tuple[Any, ...], Fired]:
    """``_fired_data`` rows back as records by key (those of versions the policy still has)."""
    out = {}
    for kind, metric, at, key, fields, version in rows:
        if version in versions:
            out[(metric, *key)] = Fired(kind, metric, at, tuple(key), fields, versions[version])
    return out


def fold_restore(fold: ServiceFold, data: dict[str, Any]) -> None:
    """Load ``data`` (from ``fold_snapshot``) into a fresh fold of the same policy id."""
    d = data["state"]
    st = fold.state = FoldState(
        d["t"], d["up"], d["degraded"], None, d["next_start"], d["down_ms"], d["degraded_ms"],
        set(d["fired"]), list(d["starts"]), list(d["ends"]), list(d["cum"]), d["total_down"],
        {i: m for i, m in d["episodes"]}, d["last_minute"], d["burn_active"], None,
        d["down_start"])
    if d["period"] is not None:
        fired = st.fired
        fold._open(st, *d["period"])
        st.fired, st.down_ms, st.degraded_ms = fired, d["down_ms"], d["degraded_ms"]
        st.next_start = d["next_start"]
    versions = {v.version: v for v in fold.chain}
    fold.published = _fired_from(data["published"], versions)
    fold.withdrawn = _fired_from(data.get("withdrawn", ()), versions)
    fold.projected = {tuple(key) for key in data.get("projected", ())
                      if tuple(key) in fold.published}
    if fold.projected:
        fold.restored_to = data.get("projected_to")
