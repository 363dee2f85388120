"""Calendars and maintenance windows of a policy file (SPEC sections 3 and 7).

Working hours (``mon-fri: ["09:00-12:30", "13:30-18:00"]``) and weekly maintenance windows
(``weekly: "sun 02:00-04:00"``) are read by one span parser, ``parse_span``.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..calendar import Calendar, Span, WeeklySchedule
from ..policy import DAYS
from .checker import MAX_DURATION_MS, MAX_DURATION_TEXT, Checker
from .text import join, kind, show

_SPAN = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)\Z")


def parse_span(text: Any) -> Span | None:
    """``HH:MM-HH:MM`` as (start, end) minutes of the day, start before end, ``24:00`` allowed
    as an end; None when ``text`` is not one."""
    m = _SPAN.match(text) if isinstance(text, str) else None
    if m is None:
        return None
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 < 24 and m1 < 60 and m2 < 60 and (h2 < 24 or end == 1440) and start < end:
        return start, end
    return None


def parse_weekly_span(text: Any) -> tuple[int, Span] | None:
    """``sun 02:00-04:00`` as (day number, span); None when ``text`` is not one."""
    if not isinstance(text, str):
        return None
    day, space, rest = text.partition(" ")
    span = parse_span(rest) if space and day in DAYS else None
    return None if span is None else (DAYS.index(day), span)


def read_calendar(chk: Checker, name: str, spec: Any, path: str) -> Calendar | None:
    """The calendar ``name`` at ``path`` (None with problems noted when it is broken)."""
    spec = chk.mapping(spec, path, ("timezone", "hours", "holidays"))
    ok = len(chk.problems)
    tz = spec.get("timezone")
    zone = None
    if not isinstance(tz, str):
        chk.bad(f"{path}.timezone",
                 "missing: expected an IANA time zone name such as Europe/Paris")
    else:
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America" (a folder)
            chk.bad(f"{path}.timezone",
                     f"{show(tz)} is not an IANA time zone name (e.g. Europe/Paris)")
    hours = spec.get("hours", "24x7")
    days_off = holidays(chk, spec.get("holidays", []), f"{path}.holidays")
    if hours == "24x7":
        if days_off:
            chk.bad(f"{path}.holidays", "a 24x7 calendar takes no holidays")
        return Calendar(name, zone) if zone is not None and len(chk.problems) == ok else None
    spans = weekly_hours(chk, hours, f"{path}.hours")
    if zone is None or spans is None or len(chk.problems) != ok:
        return None
    return Calendar(name, zone, WeeklySchedule(zone, spans, frozenset(days_off)))


def holidays(chk: Checker, value: Any, path: str) -> list[date]:
    """The holidays of a calendar, dates written YYYY-MM-DD."""
    if not isinstance(value, list):
        chk.bad(path, f"expected a list of dates (YYYY-MM-DD), got {kind(value)}")
        return []
    out = []
    for i, item in enumerate(value):
        try:
            if not isinstance(item, str) or len(item) != 10:
                raise ValueError
            out.append(date.fromisoformat(item))
        except ValueError:
            chk.bad(f"{path}[{i}]", f"{show(item)} is not a date: expected YYYY-MM-DD")
    return out


def weekly_hours(chk: Checker, value: Any, path: str) -> tuple[tuple[Span, ...], ...] | None:
    """Working hours per weekday (Monday first), from a mapping of days or day ranges to spans."""
    if not isinstance(value, dict):
        chk.bad(path, 'expected "24x7" or a mapping of days (mon..sun, mon-fri) to spans, '
                 f"got {show(value)}")
        return None
    days: list[list[Span] | None] = [None] * 7
    for key, spans in value.items():
        kpath = join(path, str(key))
        rng = day_range(chk, str(key), kpath)
        if rng is None:
            continue
        parsed = read_spans(chk, spans, kpath)
        for d in rng:
            if days[d] is not None:
                chk.bad(kpath, f"{DAYS[d]} is given more than once")
            days[d] = parsed
    if not any(days):
        chk.bad(path, "no working time at all: give at least one span")
    return tuple(tuple(sorted(d or ())) for d in days)


def day_range(chk: Checker, key: str, path: str) -> range | None:
    """The weekday numbers of ``mon`` or a forward range such as ``mon-fri``."""
    parts = key.split("-")
    if len(parts) in (1, 2) and all(p in DAYS for p in parts):
        lo, hi = DAYS.index(parts[0]), DAYS.index(parts[-1])
        if lo <= hi:
            return range(lo, hi + 1)
    chk.bad(path, "expected a day (mon..sun) or a forward range such as mon-fri")
    return None


def read_spans(chk: Checker, value: Any, path: str) -> list[Span]:
    """One day's spans (a span or a list of them), sorted, none overlapping another."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        chk.bad(path, f'expected a list of spans such as ["09:00-12:30"], got {kind(value)}')
        return []
    out: list[Span] = []
    for i, text in enumerate(value):
        span = parse_span(text)
        if span is None:
            chk.bad(f"{path}[{i}]", f"{show(text)} is not a span: expected HH:MM-HH:MM "
                     "with start before end (24:00 allowed as an end)")
        else:
            out.append(span)
    out.sort()
    for (_, e1), (s2, _) in zip(out, out[1:], strict=False):
        if s2 < e1:
            chk.bad(path, "spans overlap")
            break
    return out


def maintenance(chk: Checker, value: Any, path: str, zone: ZoneInfo) -> WeeklySchedule:
    """Maintenance windows: weekly ones in ``zone`` and explicit ``{start, end}`` ones."""
    intervals: list[tuple[int, int]] = []
    weekly: list[list[Span]] = [[] for _ in range(7)]
    if not isinstance(value, list):
        chk.bad(path, "expected a list of {start, end} or {weekly: \"sun 02:00-04:00\"}")
        value = []
    for i, item in enumerate(value):
        ipath = f"{path}[{i}]"
        if isinstance(item, dict) and "weekly" in item:
            chk.mapping(item, ipath, ("weekly",))
            found = parse_weekly_span(item["weekly"])
            if found is None:
                chk.bad(f"{ipath}.weekly", f"{show(item['weekly'])}: expected a day and a "
                        "span such as \"sun 02:00-04:00\"")
            else:
                weekly[found[0]].append(found[1])
            continue
        item = chk.mapping(item, ipath, ("start", "end"))
        if "start" not in item or "end" not in item:
            chk.bad(ipath, "expected start and end instants, or weekly")
            continue
        start = chk.instant(item["start"], f"{ipath}.start")
        end = chk.instant(item["end"], f"{ipath}.end")
        if start is not None and end is not None:
            if end <= start:
                chk.bad(ipath, "end must be after start")
            elif end - start > MAX_DURATION_MS:
                chk.bad(ipath, f"a window from {show(item['start'])} to {show(item['end'])} "
                         f"is too long: a maintenance window is {MAX_DURATION_TEXT}")
            else:
                intervals.append((start, end))
    return WeeklySchedule(zone, tuple(tuple(sorted(d)) for d in weekly),
                          extra=tuple(sorted(intervals)))
