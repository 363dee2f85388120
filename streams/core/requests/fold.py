"""The fold of one request objective of one subject (SPEC section 9): ``ObjectiveFold``.

A subject is (service, the customer where the policy's match has one, policy id); each of its
objectives folds the records that count for it into counters, never the records themselves:

- per period: ``good`` and ``total``, and with ``timeslices`` the counters of the slices that can
  still change (pending, or judged within ``lateness``), the bad slices and their bad time;
- for burn rates: per whole minute the bad and total counts (occurrences) or the bad slices
  (timeslices) of the longest window plus ``lateness``, with prefix sums.

Advancing is one loop over the next thing that happens (a slice with records ends, a burn-rate
minute that can fire or end an episode, a period ends), so time costs nothing while nothing can
happen. Bad time is spent as downtime is (``availability``): the same threshold levels
(``periods.threshold_levels``), interval sums (``burnrate.record_down``, ``down_before``), burn
levels (``burnrate.rule_levels``) and records (``foldstate.Fired``).

A record within ``lateness`` that lands in a judged slice, an ended period or an evaluated minute
judges them again: the period's records are computed afresh from its counters and the burn-rate
minutes since it are evaluated again; the book publishes the difference (``changelog``).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right, insort
from collections import deque
from fractions import Fraction
from typing import Any

from .. import changelog
from ..availability.burnrate import down_before, record_down, rule_levels
from ..availability.foldstate import Fired, FoldState
from ..availability.periods import calendar_period, threshold_levels
from ..policy import TIMESLICES, BurnRule, PolicyVersion, RequestObjective, Requests
from ..timefmt import FAR_MS, MINUTE_MS, NEVER_MS
from .records import RequestCount
from .slices import (
    MinuteCounts,
    budgeted_ms,
    excluded_slices,
    in_maintenance,
    is_excluded,
    minute_of,
    period_of,
    slice_bounds,
    slice_index,
)
from .verdicts import PeriodCounts, counted, standing, threshold

Key = tuple[Any, ...]
#: What a fold hands the book: a record to publish, or (True) one to retract.
Change = tuple[Fired, bool]


class ObjectiveFold:
    """One objective (by id, across the policy's versions) of one subject."""

    def __init__(self, service: str, customer: str | None, chain: list[PolicyVersion],
                 objective_id: str, shared: dict[Any, Any]) -> None:
        self.service, self.customer, self.objective_id = service, customer, objective_id
        self.chain = chain
        self._starts = [v.effective_from_ms for v in chain]
        self._shared = shared
        self._objectives: dict[int, tuple[PolicyVersion | None, Requests | None,
                                          RequestObjective | None]] = {}
        blocks = [v.requests for v in chain if v.requests is not None]
        objectives = [o for b in blocks if (o := b.objective(objective_id)) is not None]
        rules = [r for o in objectives for r in o.burn_rules]
        self.lateness_ms = max((b.lateness_ms for b in blocks), default=0)
        #: how long a judged slice, an ended period or a minute can still change: the greatest
        #: lateness of every policy of the service (a record late for this policy is applied
        #: when another one that counts it accepts it; ``RequestBook`` sets it)
        self.horizon_ms = self.lateness_ms
        self._window_ms = max((r.long_ms for r in rules), default=0)
        self.burns = bool(rules)
        self.short_ms = max((r.short_ms for r in rules), default=0)
        #: how far back the burn-rate state reaches: the longest window, and lateness more
        self.keep_ms = self._window_ms + self.horizon_ms + MINUTE_MS
        self.periods: dict[int, PeriodCounts] = {}
        self.order: list[int] = []  # the kept periods' starts
        self.open: list[int] = []  # the starts of those not ended
        self.processed = NEVER_MS  # everything due up to here is done
        self.pending: list[tuple[int, int, int]] = []  # (slice end, period start, slice)
        self.judged: deque[tuple[int, int, int]] = deque()  # judged cells, to forget
        self.scheduled: int | None = None
        self.fresh: list[Change] = []  # what the clock fired since the last record taken
        self._forget_at = NEVER_MS
        # burn rates
        self.last_minute = NEVER_MS  # the last whole minute evaluated
        self.hot_until = NEVER_MS  # no short window holds anything bad from here on
        self.episodes: dict[int, list[Any]] = {}  # rule -> its open log entry
        self.log: deque[list[Any]] = deque()  # [rule, first minute, first cool minute | None]
        self.burn_published: dict[Key, Fired] = {}
        self.counts = MinuteCounts()  # occurrences: bad and total requests per minute
        self.bad_slices: list[tuple[int, int]] = []  # timeslices: judged bad slices, by start
        self.bad_time = FoldState()  # the same as intervals with prefix sums

    def keep_for(self, horizon_ms: int) -> None:
        """Keep what a record up to ``horizon_ms`` late can change (at least this policy's own
        lateness)."""
        self.horizon_ms = max(self.lateness_ms, horizon_ms)
        self.keep_ms = self._window_ms + self.horizon_ms + MINUTE_MS

    def in_force(self, at: int) -> PolicyVersion | None:
        i = bisect_right(self._starts, at) - 1
        return self.chain[i] if i >= 0 else None

    def _objective_at(self, at: int) -> tuple[PolicyVersion | None, Requests | None,
                                              RequestObjective | None]:
        i = bisect_right(self._starts, at) - 1
        if i < 0:
            return None, None, None
        found = self._objectives.get(i)
        if found is None:
            version = self.chain[i]
            block = version.requests
            found = self._objectives[i] = (
                version, block, block.objective(self.objective_id) if block else None)
        return found

    # -- records

    def take(self, rec: RequestCount, out: list[Change]) -> None:
        """Count one applied record (the book caught the fold up to the clock first)."""
        at = rec.at
        p = self._period_for(at, out)
        if p.objective is not None and p.block is not None \
                and not in_maintenance(at, p.block.maintenance):
            c = counted(rec, p.objective)
            if c is not None:
                self._count(p, at, c, out)
        if self.burns:
            _, block, objective = self._objective_at(at)
            if (block is not None and objective is not None and block.budgeting != TIMESLICES
                    and not in_maintenance(at, block.maintenance)):
                c = counted(rec, objective)
                if c is not None and c[1]:
                    self._count_minute(minute_of(at), c[1] - c[0], c[1], out)

    def _count(self, p: PeriodCounts, at: int, c: tuple[int, int], out: list[Change]) -> None:
        good, total = c
        p.good += good
        p.total += total
        block = p.block
        if p.timeslices and block is not None:
            k = slice_index(at, p.start, block.slice_ms)
            if not is_excluded(k, p.excluded):
                cell = p.cells.get(k)
                _, end = slice_bounds(k, p.start, p.end, block.slice_ms)
                if cell is None:
                    cell = p.cells[k] = [0, 0]
                    if end > self.processed:
                        heapq.heappush(self.pending, (end, p.start, k))
                    else:
                        self.judged.append((end, p.start, k))
                cell[0] += good
                cell[1] += total
                if end <= self.processed:
                    self._rejudge(p, k, out)
                    return
        if p.ended:
            self._refresh(p, out)

    # -- periods

    def _kind(self, at: int) -> tuple[Any, str]:
        version = self.in_force(at)
        if version is None or version.requests is None:
            version = next(v for v in self.chain if v.requests is not None)
        assert version.requests is not None
        return version.calendar.zone, version.requests.period

    def _period_for(self, at: int, out: list[Change]) -> PeriodCounts:
        """The period holding ``at``, made (with those between it and the kept ones) if new."""
        order = self.order
        if not order:
            self._add(*period_of(at, *self._kind(at - 1)), out)
        elif at <= order[0]:
            start, end = period_of(at, *self._kind(at - 1))
            limit = order[0]
            while start < limit:
                self._add(start, min(end, limit), out)
                start, end = end, self._next_end(end)
        elif at > self.periods[order[-1]].end:
            while at > self.periods[order[-1]].end:
                last = self.periods[order[-1]]
                self._add(last.end, self._next_end(last.end), out)
        return self.periods[order[bisect_right(order, at - 1) - 1]]

    def _next_end(self, start: int) -> int:
        return calendar_period(start, *self._kind(start))[1]

    def new_period(self, start: int, end: int) -> PeriodCounts:
        """An empty period ``[start, end)`` judged by the version in force at its start."""
        version, block, objective = self._objective_at(start)
        p = PeriodCounts(start, end, version, block, objective)
        if p.timeslices and block is not None and objective is not None:
            p.excluded = excluded_slices(start, end, block.slice_ms, block.maintenance)
            p.slices, length = budgeted_ms(start, end, block.slice_ms, p.excluded)
            p.budget = (1 - objective.target / 100) * length
            p.levels = threshold_levels(length, objective.target, objective.near_breach,
                                        objective.near_breach_labels, objective.credits)
        return p

    def _add(self, start: int, end: int, out: list[Change]) -> None:
        p = self.periods[start] = self.new_period(start, end)
        insort(self.order, start)
        if end <= self.processed:
            p.ended = True
            self._refresh(p, out)
        else:
            insort(self.open, start)

    def _end_period(self, p: PeriodCounts, out: list[Change]) -> None:
        p.ended = True
        self.open.remove(p.start)
        self._refresh(p, out)
        if p.end not in self.periods:
            self._add(p.end, self._next_end(p.end), out)

    # -- slices

    def _bad(self, p: PeriodCounts, cell: list[int]) -> bool:
        assert p.block is not None and p.objective is not None
        good, total = cell
        return total >= p.block.min_requests and 100 * good < p.objective.slice_target * total

    def _judge(self, p: PeriodCounts, k: int, out: list[Change]) -> None:
        """Judge slice ``k`` at its end, in order: a bad one spends bad time at once."""
        assert p.block is not None
        start, end = slice_bounds(k, p.start, p.end, p.block.slice_ms)
        self.judged.append((end, p.start, k))
        if not self._bad(p, p.cells[k]):
            return
        p.bad[k] = end - start
        p.bad_ms += end - start
        levels = p.levels
        while p.fired < len(levels) and p.bad_ms >= levels[p.fired].ms:
            f = threshold(p, levels[p.fired], end, p.bad_ms)
            p.fired += 1
            if changelog.upsert(p.published, f.key, f):
                out.append((f, False))
        self.bad_slices.append((start, end))
        record_down(self.bad_time, start, end, self.keep_ms)
        self._note_bad(minute_of(end), out)

    def _rejudge(self, p: PeriodCounts, k: int, out: list[Change]) -> None:
        """A late record changed judged slice ``k``: judge it, and all that follows, again."""
        assert p.block is not None
        start, end = slice_bounds(k, p.start, p.end, p.block.slice_ms)
        was, bad = k in p.bad, self._bad(p, p.cells[k])
        if was != bad:
            if bad:
                p.bad[k] = end - start
                insort(self.bad_slices, (start, end))
            else:
                del p.bad[k]
                self.bad_slices.remove((start, end))
            self.bad_time = FoldState()
            for s, e in self.bad_slices:
                record_down(self.bad_time, s, e, self.keep_ms)
        self._refresh(p, out)
        if was != bad:
            self._note_bad(minute_of(end), out)

    def _refresh(self, p: PeriodCounts, out: list[Change]) -> None:
        """Publish the difference between what the period published and what stands now."""
        fresh = standing(p)
        records, retractions = changelog.diff(p.published, fresh)
        p.published = fresh
        out += [(f, False) for _, f in records]
        out += [(f, True) for _, f in retractions]

    # -- burn rates

    def _count_minute(self, minute: int, bad: int, total: int, out: list[Change]) -> None:
        """Add counts to the minute whose windows first hold them (occurrences)."""
        self.counts.add(minute, bad, total)
        if bad:
            self._note_bad(minute, out)
        elif minute <= self.last_minute:
            self._reevaluate(minute, out)  # good requests can cool a window, too

    def _note_bad(self, minute: int, out: list[Change]) -> None:
        """Something bad first counts at ``minute``: the minutes since the last evaluation
        could not fire (nothing bad was in reach), so they count as evaluated; the ones that
        now can are due."""
        if minute <= self.last_minute:
            self.hot_until = max(self.hot_until, minute + self.short_ms)
            self._reevaluate(minute, out)
            return
        if not self.episodes and self.last_minute + MINUTE_MS >= self.hot_until:
            floor = (self.processed // MINUTE_MS * MINUTE_MS if self.processed > NEVER_MS
                     else minute - MINUTE_MS)
            self.last_minute = max(self.last_minute, min(minute - MINUTE_MS, floor))
        self.hot_until = max(self.hot_until, minute + self.short_ms)

    def _next_minute(self) -> int:
        if not self.burns:
            return FAR_MS
        m = self.last_minute + MINUTE_MS
        return m if self.episodes or m < self.hot_until else FAR_MS

    def _reevaluate(self, first: int, out: list[Change]) -> None:
        """Evaluate the minutes from ``first`` to the last evaluated one again (a late record
        changed their windows) and publish the difference."""
        last = self.last_minute
        if first > last or not self.burns or first >= self.hot_until:
            return  # no minute from ``first`` on can hold anything bad in a short window
        self.episodes = {}
        kept: deque[list[Any]] = deque()
        for entry in self.log:
            if entry[1] >= first:
                continue  # started at or after ``first``: judged again below
            if entry[2] is None or entry[2] >= first:
                entry[2] = None  # hot just before ``first``: open again
                self.episodes[entry[0]] = entry
            kept.append(entry)
        self.log = kept
        old = {key: f for key, f in self.burn_published.items() if key[2] >= first}
        fresh: list[Fired] = []
        self.last_minute = first - MINUTE_MS
        for m in range(first, last + 1, MINUTE_MS):
            self._evaluate(m, fresh)
        standing = {f.key: f for f in fresh}
        records, retractions = changelog.diff(old, standing)
        for key, f in records:
            self.burn_published[key] = f
            out.append((f, False))
        for key, f in retractions:
            del self.burn_published[key]
            out.append((f, True))

    def _evaluate(self, m: int, out: list[Fired]) -> None:
        """Every burn-rate rule at whole minute ``m``: an episode starts when a rule becomes hot
        and ends at the first minute it is not."""
        self.last_minute = m
        version, block, objective = self._objective_at(m)
        rules = objective.burn_rules if objective is not None else ()
        for i, rule in enumerate(rules):
            assert version is not None and block is not None and objective is not None
            windows = self._windows(i, rule, m, version, block, objective)
            if windows is not None and i not in self.episodes:
                entry = [i, m, None]
                self.episodes[i] = entry
                self.log.append(entry)
                share = 1 - objective.target / 100
                if block.budgeting == TIMESLICES:
                    (long_bad, _), (short_bad, _) = windows
                    long_burn = round(float(long_bad / (share * rule.long_ms)), 6)
                    short_burn = round(float(short_bad / (share * rule.short_ms)), 6)
                else:
                    long_burn, short_burn = (_burn_rate(bad, total, share)
                                             for bad, total in windows)
                f = Fired("near_breach", "burn_rate", m, ("burn", i, m), {
                    "threshold": rule.label, "target": float(objective.target),
                    "long_window_seconds": rule.long_ms / 1000,
                    "short_window_seconds": rule.short_ms / 1000,
                    "burn_rate_long": long_burn, "burn_rate_short": short_burn,
                }, version)
                self.burn_published[f.key] = f
                out.append(f)
            elif windows is None and i in self.episodes:
                self.episodes.pop(i)[2] = m
        for i in [i for i in self.episodes if i >= len(rules)]:
            self.episodes.pop(i)[2] = m

    def _windows(self, i: int, rule: BurnRule, m: int, version: PolicyVersion, block: Requests,
                 objective: RequestObjective) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """The (bad, total) of rule ``i``'s long and short windows at ``m`` when it is hot
        there (timeslices: bad time in ms, and 0), else None. Exact, in integers."""
        if block.budgeting == TIMESLICES:
            bad_time = self.bad_time
            now = down_before(bad_time, m) - self._unjudged(m, m)
            long_bad = now - down_before(bad_time, m - rule.long_ms) \
                + self._unjudged(m - rule.long_ms, m)
            short_bad = now - down_before(bad_time, m - rule.short_ms) \
                + self._unjudged(m - rule.short_ms, m)
            need_long, need_short = rule_levels(self._shared, version, i, objective)
            if long_bad >= need_long and short_bad >= need_short:
                return (long_bad, 0), (short_bad, 0)
            return None
        b_now, t_now = self.counts.through(m)
        b_short, t_short = self.counts.through(m - rule.short_ms)
        bad_s, tot_s = b_now - b_short, t_now - t_short
        if not bad_s:
            return None
        b_long, t_long = self.counts.through(m - rule.long_ms)
        bad_l, tot_l = b_now - b_long, t_now - t_long
        key = ("occurrences", id(objective), i)
        level = self._shared.get(key)
        if level is None:  # 100 x bad >= factor x (100 - target) x total, as num / den
            f = rule.factor * (100 - objective.target)
            level = self._shared[key] = (f.numerator, f.denominator)
        num, den = level
        if (tot_l >= block.min_requests and 100 * den * bad_l >= num * tot_l
                and 100 * den * bad_s >= num * tot_s):
            return (bad_l, tot_l), (bad_s, tot_s)
        return None

    def _unjudged(self, a: int, m: int) -> int:
        """Bad time before ``a`` of a bad slice that is not judged at minute ``m`` (it ends
        after it): a re-evaluation sees slices judged since, which count nothing there."""
        i = bisect_right(self.bad_slices, (m, FAR_MS)) - 1
        if i < 0:
            return 0
        s, e = self.bad_slices[i]
        if e <= m or s >= a:
            return 0
        return min(a, e) - s

    # -- the clock

    def next_due(self) -> int | None:
        due = self._next_minute()
        if self.pending:
            due = min(due, self.pending[0][0])
        if self.open:
            due = min(due, self.periods[self.open[0]].end)
        return None if due >= FAR_MS else due

    def advance(self, now: int, out: list[Change]) -> None:
        """Do everything due up to ``now`` (inclusive): slices end and are judged, burn-rate
        minutes are evaluated, periods end with their outcome."""
        while True:
            due = self.next_due()
            if due is None or due > now:
                break
            pending = self.pending
            while pending and pending[0][0] == due:
                _, start, k = heapq.heappop(pending)
                self._judge(self.periods[start], k, out)
            if self._next_minute() == due:
                fired: list[Fired] = []
                self._evaluate(due, fired)
                out += [(f, False) for f in fired]
            while self.open and self.periods[self.open[0]].end == due:
                self._end_period(self.periods[self.open[0]], out)
            self.processed = max(self.processed, due)
        self.processed = max(self.processed, now)
        self._forget()

    def catch_up(self, now: int) -> None:
        """``advance`` to ``now`` when nothing is due by then (the book knows from its heap)."""
        if now > self.processed:
            self.processed = now
            self._forget()

    def _forget(self) -> None:
        """Drop what no record can change any more (all of it older than ``lateness``), once
        a minute of the fold's time."""
        if self.processed < self._forget_at:
            return
        self._forget_at = self.processed + MINUTE_MS
        horizon = self.processed - self.horizon_ms
        judged = self.judged
        while judged and judged[0][0] < horizon:
            _, start, k = judged.popleft()
            p = self.periods.get(start)
            if p is not None:
                p.cells.pop(k, None)
        order = self.order
        while len(order) > 1 and self.periods[order[0]].end < horizon:
            del self.periods[order.pop(0)]
        reach = self.processed - self.keep_ms
        self.counts.forget(reach)
        drop = 0
        while drop < len(self.bad_slices) and self.bad_slices[drop][1] < reach:
            drop += 1
        if drop:
            del self.bad_slices[:drop]
        log = self.log
        while log and log[0][2] is not None and log[0][2] < horizon - MINUTE_MS:
            entry = log.popleft()
            self.burn_published.pop(("burn", entry[0], entry[1]), None)


def _burn_rate(bad: int, total: int, share: Fraction) -> float:
    return round(float(Fraction(bad, total) / share), 6) if total else 0.0
