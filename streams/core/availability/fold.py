"""The availability fold of one service under one policy id (SPEC section 7).

It folds the service's heartbeats in arrival order. Its state is exact up to the latest
heartbeat; past it the fold *projects*: every up instance stays up until its last heartbeat +
``heartbeat_timeout``, then the service is down. Advancing is one loop over the next thing that
happens (a status change, a threshold crossing, a period end, a burn-rate minute), so it costs
O(events), never a scan of time.
"""

from __future__ import annotations

from bisect import bisect_right
from fractions import Fraction
from typing import Any

from ..events import DEGRADED, UP
from ..policy import PolicyVersion
from ..timefmt import FAR_MS, MINUTE_MS, NEVER_MS
from .burnrate import evaluate, record_down, rule_levels
from .foldstate import KEPT_MS, Fired, FoldState
from .periods import Level, Period, availability_percent, make_period, period_bounds

#: Periods and burn levels kept for every fold of a book; past this the cache starts again.
SHARED_MAX = 4096


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
            "availability": availability_percent(st.down_ms, period.counted_ms),
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
        st.down_ms = st.degraded_ms = st.outages = 0
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
                need_long, need_short = rule_levels(self._shared, version, i)
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
                if s != st.down_end or st.outage_period != period.start:
                    st.outages += 1  # a new outage, or one that goes on into a new period
                    st.outage_period = period.start
                st.down_end = e
                if self.burns:
                    record_down(st, s, e, self.window_ms)
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
            "availability": availability_percent(st.down_ms, period.counted_ms),
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
            "availability": availability_percent(st.down_ms, period.counted_ms),
            "downtime_seconds": st.down_ms / 1000, "degraded_seconds": st.degraded_ms / 1000,
            "budget_seconds": float(period.budget / 1000), "met": 1.0 not in st.fired,
            "credit_percent": max(credits) if credits else 0, "outages": st.outages,
        }
        return Fired("outcome", "availability", period.end, (period.start, "outcome"), fields,
                     period.version)


    # -- burn rates

    def _burn(self, st: FoldState, m: int, out: list[Fired]) -> None:
        """Evaluate every burn-rate rule at whole minute ``m`` (``burnrate.evaluate``)."""
        st.last_minute = m
        active = evaluate(st, m, self.in_force(m), self._shared, out)
        st.burn_active = active or self._counts_from(st) == st.t
