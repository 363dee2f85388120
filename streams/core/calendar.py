"""Business calendars: working time between two instants, and the instant a working time is reached.

A calendar is a weekly pattern of local spans (several a day), whole-day holidays and an IANA zone,
or ``24x7`` (always). Local boundaries are converted with the zone's rules: a local time in the
spring-forward gap moves forward by the gap, an ambiguous one is its first occurrence (PEP 495
``fold=0`` does exactly that), so a DST day has 23 or 25 real hours.

The pattern is materialised lazily in fixed chunks of real time: sorted, merged ``[start, end)``
intervals in epoch milliseconds with prefix sums of their lengths. ``working_ms`` and ``reach`` are
then a bisection inside a chunk plus a walk over whole chunks: O(log n + chunks spanned).

Every walk stops at the end of the instant range (``END_INSTANT_MS``, SPEC section 1): working
time that is reached only at or after it is never reached (``reach`` answers None), so no
computation builds a date past what ``datetime`` represents, however long the target or sparse
the calendar.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .timefmt import DAY_MS, END_INSTANT_MS

CHUNK_MS = 64 * DAY_MS
#: The chunk that holds ``END_INSTANT_MS``: no walk goes past it.
LAST_CHUNK = END_INSTANT_MS // CHUNK_MS
#: Chunks kept per schedule; a walk over centuries builds many, and the cache is cleared past this.
MAX_CHUNKS = 4096
_ONE_DAY = timedelta(days=1)
_EPOCH_DATE = date(1970, 1, 1)

Span = tuple[int, int]  # local minutes since midnight, [start, end), end may be 1440 (24:00)


@dataclass(frozen=True, slots=True)
class _Chunk:
    starts: list[int]
    ends: list[int]
    cum_start: list[int]  # working ms before interval i (within the chunk)
    cum_end: list[int]  # working ms up to the end of interval i
    total: int

    def before(self, t: int) -> int:
        """Working ms in the chunk before instant ``t``."""
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0
        end = self.ends[i]
        return self.cum_end[i] if t >= end else self.cum_start[i] + t - self.starts[i]


@dataclass(eq=False)
class WeeklySchedule:
    """Recurring local spans per weekday (Monday = 0) in a zone, minus whole local dates."""

    zone: ZoneInfo
    spans: tuple[tuple[Span, ...], ...]  # 7 entries
    excluded_dates: frozenset[date] = frozenset()
    extra: tuple[tuple[int, int], ...] = ()  # explicit [start, end) intervals, merged in
    _chunks: dict[int, _Chunk] = field(default_factory=dict, repr=False)
    empty: bool = field(init=False, default=False)  # no interval at all

    def __post_init__(self) -> None:
        self.empty = not any(self.spans) and not self.extra

    def intervals_of_day(self, day: date) -> list[tuple[int, int]]:
        """The UTC ``[start, end)`` intervals (epoch ms) of one local date."""
        if day in self.excluded_dates:
            return []
        out = []
        for start_min, end_min in self.spans[day.weekday()]:
            start = self._local_ms(day, start_min)
            end = self._local_ms(day, end_min)
            if end > start:
                out.append((start, end))
        return out

    def _local_ms(self, day: date, minute: int) -> int:
        if minute >= 1440:
            day, minute = day + _ONE_DAY, minute - 1440
        local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=self.zone)
        return round(local.timestamp() * 1000)

    def chunk(self, index: int) -> _Chunk:
        found = self._chunks.get(index)
        if found is None:
            if len(self._chunks) >= MAX_CHUNKS:
                self._chunks.clear()
            found = self._chunks[index] = self._build(index)
        return found

    def _build(self, index: int) -> _Chunk:
        lo, hi = index * CHUNK_MS, (index + 1) * CHUNK_MS
        day = _EPOCH_DATE + timedelta(days=lo // DAY_MS - 2)
        last = _EPOCH_DATE + timedelta(days=hi // DAY_MS + 2)
        pieces: list[tuple[int, int]] = []
        while day <= last:
            pieces.extend(self.intervals_of_day(day))
            day += _ONE_DAY
        pieces.extend(iv for iv in self.extra if iv[0] < hi and iv[1] > lo)
        pieces.sort()
        starts: list[int] = []
        ends: list[int] = []
        for start, end in pieces:
            start, end = max(start, lo), min(end, hi)
            if end <= start:
                continue
            if ends and start <= ends[-1]:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        cum_start, cum_end, total = [], [], 0
        for start, end in zip(starts, ends, strict=True):
            cum_start.append(total)
            total += end - start
            cum_end.append(total)
        return _Chunk(starts, ends, cum_start, cum_end, total)

    def between(self, a: int, b: int) -> int:
        """Milliseconds of ``[a, b)`` inside the schedule's intervals (0 when ``b <= a``)."""
        if b <= a:
            return 0
        ka, kb = a // CHUNK_MS, b // CHUNK_MS
        first = self.chunk(ka)
        if ka == kb:
            return first.before(b) - first.before(a)
        total = first.total - first.before(a)
        for k in range(ka + 1, kb):
            total += self.chunk(k).total
        return total + self.chunk(kb).before(b)

    def reach(self, a: int, amount: int) -> int | None:
        """The first instant ``x >= a`` with ``between(a, x) >= amount``; None if never, or
        only at or after ``END_INSTANT_MS``."""
        if amount <= 0:
            return a
        if self.empty or a >= END_INSTANT_MS or amount >= END_INSTANT_MS - a:
            return None  # working time never outruns real time
        k = a // CHUNK_MS
        chunk = self.chunk(k)
        need = amount + chunk.before(a)
        while chunk.total < need:
            if k >= LAST_CHUNK:
                return None
            need -= chunk.total
            k += 1
            chunk = self.chunk(k)
        i = bisect_left(chunk.cum_end, need)
        x = chunk.starts[i] + need - chunk.cum_start[i]
        return x if x < END_INSTANT_MS else None

    # -- the complement: time outside the intervals (used for maintenance windows)

    def next_outside(self, t: int) -> int:
        """The first instant ``x >= t`` that is outside every interval."""
        if self.empty:
            return t
        while t < END_INSTANT_MS:
            chunk = self.chunk(t // CHUNK_MS)
            i = bisect_right(chunk.starts, t) - 1
            if i < 0 or t >= chunk.ends[i]:
                return t
            t = chunk.ends[i]
        return t  # inside to the end of the range: never outside before it

    def next_inside(self, t: int, limit: int) -> int:
        """The first instant ``x >= t`` inside an interval, or ``limit`` if none before it."""
        if self.empty:
            return limit
        limit_walk = min(limit, END_INSTANT_MS)
        while t < limit_walk:
            k = t // CHUNK_MS
            chunk = self.chunk(k)
            i = bisect_right(chunk.starts, t)
            if i > 0 and t < chunk.ends[i - 1]:
                return t
            if i < len(chunk.starts):
                return min(chunk.starts[i], limit)
            t = (k + 1) * CHUNK_MS
        return limit

    def pieces_outside(self, a: int, b: int) -> list[tuple[int, int]]:
        """The maximal pieces of ``[a, b)`` outside every interval."""
        if self.empty:
            return [(a, b)] if b > a else []
        out = []
        t = self.next_outside(a)
        while t < b:
            end = self.next_inside(t, b)
            out.append((t, end))
            t = self.next_outside(end) if end < b else b
        return out

    def reach_outside(self, a: int, amount: int) -> int:
        """The first instant ``x >= a`` with ``(x - a) - between(a, x) >= amount`` (at least
        ``END_INSTANT_MS`` when it is not reached before the end of the range)."""
        if amount <= 0 or self.empty:
            return a + max(amount, 0)
        t, need = a, amount
        while t < END_INSTANT_MS:
            k = t // CHUNK_MS
            chunk = self.chunk(k)
            i = bisect_right(chunk.starts, t)
            if i > 0 and t < chunk.ends[i - 1]:
                t = chunk.ends[i - 1]
                continue
            nxt = chunk.starts[i] if i < len(chunk.starts) else (k + 1) * CHUNK_MS
            if nxt - t >= need:
                return t + need
            need -= nxt - t
            t = nxt
        return max(t, END_INSTANT_MS) + need


@dataclass(eq=False)
class Calendar:
    """A named working-time calendar; ``schedule`` None means 24x7 (always working)."""

    name: str
    zone: ZoneInfo
    schedule: WeeklySchedule | None = None

    @property
    def always(self) -> bool:
        return self.schedule is None

    def working_ms(self, a: int, b: int) -> int:
        """Working time in ``[a, b)``, in milliseconds."""
        if self.schedule is None:
            return b - a if b > a else 0
        return self.schedule.between(a, b)

    def reach(self, a: int, work_ms: int) -> int | None:
        """The first instant at which ``work_ms`` of working time has passed since ``a``; None
        when that is never, or only at or after ``END_INSTANT_MS`` (SPEC section 1)."""
        if work_ms <= 0:
            return a
        if self.schedule is None:
            return a + work_ms if a + work_ms < END_INSTANT_MS else None
        return self.schedule.reach(a, work_ms)


def utc_always() -> Calendar:
    """The 24x7 calendar in UTC: every instant is working time."""
    return Calendar("24x7", ZoneInfo("UTC"))
