"""Periods and slices of request objectives (SPEC section 9), as small pure functions.

A record belongs to the period and slice ``(start, end]`` that holds its ``at`` (an aggregate
stamped with its interval's end counts in that interval). Periods are the calendar's month, week or
day in the policy's zone (``availability.periods.calendar_period``); slices are consecutive
intervals of ``slice_ms`` of real time from the period's start, whatever offset changes fall inside
(a DST day has 23 or 25 one-hour slices), the last one ending at the period's end.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import tzinfo

from ..availability.periods import calendar_period
from ..calendar import WeeklySchedule
from ..timefmt import MINUTE_MS


def period_of(at: int, zone: tzinfo, kind: str) -> tuple[int, int]:
    """The period ``(start, end]`` that holds a record at ``at``."""
    return calendar_period(at - 1, zone, kind)


def slice_index(at: int, start: int, slice_ms: int) -> int:
    """The index of the slice ``(start + k x slice, ...]`` of a period starting at ``start``
    that holds ``at``."""
    return (at - start - 1) // slice_ms


def slice_bounds(k: int, start: int, end: int, slice_ms: int) -> tuple[int, int]:
    """Slice ``k`` of the period ``[start, end)`` (the last one ends at the period's end)."""
    lo = start + k * slice_ms
    return lo, min(lo + slice_ms, end)


def slice_count(start: int, end: int, slice_ms: int) -> int:
    """How many slices ``[start, end)`` holds (the last one may be shorter)."""
    return -(-(end - start) // slice_ms)


def minute_of(at: int) -> int:
    """The whole minute ``m`` whose burn windows ``(m - w, m]`` first hold ``at``."""
    return -(-at // MINUTE_MS) * MINUTE_MS


def in_maintenance(at: int, maintenance: WeeklySchedule) -> bool:
    """Whether a record at ``at`` is attributed to a maintenance window (``(start, end]``)."""
    return not maintenance.empty and maintenance.next_outside(at - 1) != at - 1


def excluded_slices(start: int, end: int, slice_ms: int, maintenance: WeeklySchedule
                    ) -> tuple[tuple[int, int], ...]:
    """The slices of ``[start, end)`` that share a positive length with a maintenance window, as
    ``[k0, k1)`` ranges of indices: neither good nor bad, left out of the budget."""
    if maintenance.empty:
        return ()
    out: list[tuple[int, int]] = []
    t = start
    while t < end:
        s = maintenance.next_inside(t, end)
        if s >= end:
            break
        e = min(maintenance.next_outside(s), end)
        k0, k1 = (s - start) // slice_ms, (e - 1 - start) // slice_ms + 1
        if out and k0 <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], k1))
        else:
            out.append((k0, k1))
        t = e
    return tuple(out)


def is_excluded(k: int, excluded: tuple[tuple[int, int], ...]) -> bool:
    """Whether slice ``k`` is in one of the ``excluded_slices`` ranges."""
    i = bisect_right(excluded, (k, 2**62)) - 1
    return i >= 0 and excluded[i][0] <= k < excluded[i][1]


def budgeted_ms(start: int, end: int, slice_ms: int,
                excluded: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """(how many slices, their length in ms) of ``[start, end)`` that intersect no maintenance."""
    n = slice_count(start, end, slice_ms)
    length = end - start
    for k0, k1 in excluded:
        n -= k1 - k0
        length -= min(start + k1 * slice_ms, end) - (start + k0 * slice_ms)
    return n, length


class MinuteCounts:
    """Bad and total requests per whole minute (the minute whose windows ``(m - w, m]`` first
    hold them), as prefix sums over the minutes that have records: a window's counts are two
    bisections. Minutes are added in order (O(1)) or, for a late record, within ``lateness`` of
    the last one (O(the minutes after it))."""

    __slots__ = ("minutes", "cum_bad", "cum_total", "base")

    def __init__(self) -> None:
        self.minutes: list[int] = []
        self.cum_bad: list[int] = []  # bad and total requests through each minute
        self.cum_total: list[int] = []
        self.base = (0, 0)  # (bad, total) through the minutes forgotten

    def add(self, minute: int, bad: int, total: int) -> None:
        """Count ``bad`` of ``total`` requests in ``minute``."""
        minutes, cum_bad, cum_total = self.minutes, self.cum_bad, self.cum_total
        if minutes and minute <= minutes[-1]:
            i = bisect_right(minutes, minute) - 1
            if i < 0 or minutes[i] != minute:
                i += 1
                minutes.insert(i, minute)
                cum_bad.insert(i, cum_bad[i - 1] if i else self.base[0])
                cum_total.insert(i, cum_total[i - 1] if i else self.base[1])
            for j in range(i, len(minutes)):
                cum_bad[j] += bad
                cum_total[j] += total
        else:
            minutes.append(minute)
            cum_bad.append((cum_bad[-1] if cum_bad else self.base[0]) + bad)
            cum_total.append((cum_total[-1] if cum_total else self.base[1]) + total)

    def through(self, t: int) -> tuple[int, int]:
        """(bad, total) of the minutes up to ``t`` (all time; exact past the forgotten ones)."""
        i = bisect_right(self.minutes, t) - 1
        return (self.cum_bad[i], self.cum_total[i]) if i >= 0 else self.base

    def forget(self, reach: int) -> None:
        """Drop the minutes up to ``reach`` (no window reaches back to them any more)."""
        drop = bisect_right(self.minutes, reach)
        if drop:
            self.base = (self.cum_bad[drop - 1], self.cum_total[drop - 1])
            del self.minutes[:drop], self.cum_bad[:drop], self.cum_total[:drop]
