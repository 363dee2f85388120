"""Business calendars (SPEC sections 3 and 4): working time between instants, and its inverse.

The tables spell out, per row, the local wall times and the UTC instants they convert to, worked
by hand from the zone's rules (Paris: CET +01:00 / CEST +02:00, switching 2026-03-29 and
2026-10-25 at 01:00Z; New York: EST -05:00 / EDT -04:00, switching 2026-03-08 at 07:00Z and
2026-11-01 at 06:00Z; Lord Howe: +10:30 / +11:00, switching 2026-04-04T15:00Z and
2026-10-03T15:30Z; Kolkata: +05:30 always). The properties compare the calendar with a brute-force
reference that walks local dates and converts each span boundary on its own, without PEP 495 folds.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.calendar import Calendar, WeeklySchedule
from streams.core.policyfile import load_policies

S, M, H, D = 1000, 60_000, 3_600_000, 86_400_000
_EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)


def z(text: str) -> int:
    """Epoch ms of ``YYYY-MM-DDTHH:MM[:SS[.mmm]]Z``, by plain arithmetic (no parser under test)."""
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.(\d{3}))?)?Z", text)
    assert m is not None, text
    y, mo, d, h, mi = (int(g) for g in m.groups()[:5])
    sec, milli = int(m.group(6) or 0), int(m.group(7) or 0)
    return (datetime(y, mo, d, h, mi, sec) - _EPOCH) // _MS + milli


CALENDARS_YAML = """
calendars:
  paris-office:
    timezone: Europe/Paris
    hours: {mon-fri: ["08:00-12:00", "13:00-18:00"], sat: ["09:00-12:00"]}
    holidays: ["2026-12-25", "2027-01-01"]
  paris-night: {timezone: Europe/Paris, hours: {mon-sun: ["01:00-04:00"]}}
  paris-allday: {timezone: Europe/Paris, hours: {mon-sun: ["00:00-24:00"]}}
  paris-gap: {timezone: Europe/Paris, hours: {sun: ["02:30-05:00"]}}
  paris-ambiguous: {timezone: Europe/Paris, hours: {sun: ["02:30-04:00"]}}
  night-shift: {timezone: Europe/Paris, hours: {fri: ["22:00-24:00"], sat: ["00:00-06:00"]}}
  sunday-evening: {timezone: Europe/Paris, hours: {sun: ["20:00-24:00"]}}
  ny-night: {timezone: America/New_York, hours: {mon-sun: ["00:30-03:30"]}}
  ny-gap: {timezone: America/New_York, hours: {sun: ["02:15-04:00"]}}
  ny-ambiguous: {timezone: America/New_York, hours: {sun: ["01:15-01:45"]}}
  ny-office:
    timezone: America/New_York
    hours: {mon-fri: ["09:00-17:00"]}
    holidays: ["2026-11-26"]
  kolkata: {timezone: Asia/Kolkata, hours: {mon-fri: ["09:30-18:00"]}}
  lord-howe: {timezone: Australia/Lord_Howe, hours: {mon-sun: ["01:00-03:00"]}}
  utc-247: {timezone: UTC, hours: "24x7"}
  paris-247: {timezone: Europe/Paris, hours: "24x7"}
  kolkata-247: {timezone: Asia/Kolkata}
policies:
"""
NAMES = re.findall(r"^  ([a-z0-9-]+):", CALENDARS_YAML, re.M)
POLICY_YAML = CALENDARS_YAML + "".join(
    f"  - {{id: p-{n}, match: {{customer: {n}}}, calendar: {n}, "
    f"incidents: {{'*': {{response: 1h}}}}}}\n"
    for n in NAMES
)


@pytest.fixture(scope="module")
def calendars() -> dict[str, Calendar]:
    policy_set = load_policies(POLICY_YAML, "calendars.yaml")
    by_customer = {v.match[0]: v.calendar for v in policy_set.versions}
    assert set(by_customer) == set(NAMES)
    for name in NAMES:  # a policy that names a calendar gets exactly that calendar
        assert by_customer[name] is policy_set.calendars[name]
    return policy_set.calendars


def test_24x7_calendars_have_no_schedule(calendars: dict[str, Calendar]) -> None:
    assert calendars["utc-247"].always and calendars["paris-247"].always
    assert calendars["kolkata-247"].always  # hours default to 24x7
    assert not calendars["paris-office"].always


# ----------------------------------------------------------------------------- working_ms

WORKING = [
    # (calendar, a, b, expected working ms, what the row is about)
    ("paris-office", "2026-03-02T07:00Z", "2026-03-02T17:00Z", 9 * H,
     "Mon 08:00-18:00 CET: two spans, lunch 12-13 excluded"),
    ("paris-office", "2026-03-02T11:00Z", "2026-03-02T12:00Z", 0, "exactly the lunch break"),
    ("paris-office", "2026-03-02T10:30Z", "2026-03-02T12:30Z", 1 * H,
     "11:30-13:30 CET straddles lunch: 30 min each side"),
    ("paris-office", "2026-03-02T11:59:59.999Z", "2026-03-02T12:00:00.001Z", 1,
     "the last ms before lunch, the first ms after it is 13:00 CET"),
    ("paris-office", "2026-03-01T23:00Z", "2026-03-08T23:00Z", 48 * H,
     "a local week Mon 00:00 to Mon 00:00: 5 x 9 h + Sat 3 h"),
    ("paris-office", "2026-06-01T06:00Z", "2026-06-01T16:00Z", 9 * H,
     "Mon 08:00-18:00 CEST is 06:00Z-16:00Z in summer"),
    ("paris-office", "2026-06-01T05:00Z", "2026-06-01T06:00Z", 0, "07:00-08:00 CEST: not yet open"),
    ("paris-office", "2026-12-24T23:00Z", "2026-12-25T23:00Z", 0, "Fri 25 Dec: a holiday"),
    ("paris-office", "2026-12-23T23:00Z", "2026-12-26T23:00Z", 12 * H,
     "Thu 24 (9 h) + Fri 25 holiday (0) + Sat 26 (3 h)"),
    ("paris-office", "2026-12-31T16:00Z", "2027-01-04T08:00Z", 5 * H,
     "year end: Thu 17-18, Fri 1 Jan holiday, Sat 09-12, Sun, Mon 08-09"),
    ("paris-office", "2026-01-30T14:00Z", "2026-02-02T09:00Z", 8 * H,
     "month end: Fri 15-18, Sat 31 Jan 09-12, Mon 08-10"),
    ("paris-office", "2026-03-02T17:00Z", "2026-03-02T07:00Z", 0, "b before a"),
    ("paris-office", "2026-03-02T08:00Z", "2026-03-02T08:00Z", 0, "an empty interval"),
    # DST in Paris, 01:00-04:00 every day
    ("paris-night", "2026-03-27T23:00Z", "2026-03-28T23:00Z", 3 * H, "an ordinary Saturday"),
    ("paris-night", "2026-03-28T23:00Z", "2026-03-29T22:00Z", 2 * H,
     "spring forward: 01:00 CET = 00:00Z to 04:00 CEST = 02:00Z"),
    ("paris-night", "2026-10-24T22:00Z", "2026-10-25T23:00Z", 4 * H,
     "fall back: 01:00 CEST = 23:00Z to 04:00 CET = 03:00Z"),
    ("paris-night", "2026-10-25T00:00Z", "2026-10-25T02:00Z", 2 * H,
     "both occurrences of 02:00-03:00 local are working time"),
    ("paris-allday", "2026-03-28T23:00Z", "2026-03-29T22:00Z", 23 * H, "the 23-hour local day"),
    ("paris-allday", "2026-10-24T22:00Z", "2026-10-25T23:00Z", 25 * H, "the 25-hour local day"),
    ("paris-allday", "2026-03-22T23:00Z", "2026-03-29T22:00Z", 167 * H,
     "a local week holding the 23-hour day"),
    # a span starting inside the spring-forward gap moves forward by the gap
    ("paris-gap", "2026-03-21T23:00Z", "2026-03-22T23:00Z", 150 * M,
     "an ordinary Sunday: 02:30-05:00 CET = 01:30Z-04:00Z"),
    ("paris-gap", "2026-03-28T23:00Z", "2026-03-29T22:00Z", 90 * M,
     "02:30 does not exist: it is 03:30 CEST = 01:30Z, to 05:00 CEST = 03:00Z"),
    ("paris-gap", "2026-03-29T00:30Z", "2026-03-29T01:30Z", 0,
     "not open at 02:30 CEST (00:30Z) nor at the gap's end 03:00 CEST (01:00Z)"),
    # an ambiguous start is its first occurrence
    ("paris-ambiguous", "2026-10-17T22:00Z", "2026-10-18T22:00Z", 90 * M,
     "an ordinary summer Sunday: 02:30-04:00 CEST = 00:30Z-02:00Z"),
    ("paris-ambiguous", "2026-10-24T22:00Z", "2026-10-25T23:00Z", 150 * M,
     "fall back: 02:30 CEST (first) = 00:30Z to 04:00 CET = 03:00Z"),
    ("paris-ambiguous", "2026-10-25T00:30Z", "2026-10-25T01:30Z", 1 * H,
     "working between the two occurrences of 02:30"),
    # DST in New York, 00:30-03:30 every day
    ("ny-night", "2026-03-07T05:00Z", "2026-03-08T05:00Z", 3 * H, "an ordinary Saturday (EST)"),
    ("ny-night", "2026-03-08T05:00Z", "2026-03-09T04:00Z", 2 * H,
     "spring forward: 00:30 EST = 05:30Z to 03:30 EDT = 07:30Z"),
    ("ny-night", "2026-11-01T04:00Z", "2026-11-02T05:00Z", 4 * H,
     "fall back: 00:30 EDT = 04:30Z to 03:30 EST = 08:30Z"),
    ("ny-gap", "2026-03-01T05:00Z", "2026-03-02T05:00Z", 105 * M,
     "an ordinary Sunday: 02:15-04:00 EST = 07:15Z-09:00Z"),
    ("ny-gap", "2026-03-08T05:00Z", "2026-03-09T04:00Z", 45 * M,
     "02:15 does not exist: 03:15 EDT = 07:15Z to 04:00 EDT = 08:00Z"),
    ("ny-ambiguous", "2026-11-01T04:00Z", "2026-11-02T05:00Z", 30 * M,
     "01:15-01:45 is its first occurrence (EDT, 05:15Z-05:45Z), once"),
    ("ny-ambiguous", "2026-11-01T06:00Z", "2026-11-01T07:00Z", 0,
     "the second occurrence (EST, 06:15Z-06:45Z) is not working time"),
    ("ny-office", "2026-11-25T05:00Z", "2026-11-28T05:00Z", 16 * H,
     "Wed 8 h + Thanksgiving holiday + Fri 8 h"),
    # Kolkata, +05:30: 09:30-18:00 IST = 04:00Z-12:30Z
    ("kolkata", "2026-03-01T18:30Z", "2026-03-02T18:30Z", 510 * M, "a local Monday: 8 h 30"),
    ("kolkata", "2026-03-02T03:30Z", "2026-03-02T04:30Z", 30 * M, "opens at 04:00Z"),
    ("kolkata", "2026-03-02T12:00Z", "2026-03-02T13:00Z", 30 * M, "closes at 12:30Z"),
    ("kolkata", "2026-03-06T12:00Z", "2026-03-09T04:30Z", 1 * H,
     "Fri 12:00Z-12:30Z, weekend, Mon 04:00Z-04:30Z"),
    # 24:00 ends
    ("night-shift", "2026-03-06T20:00Z", "2026-03-07T06:00Z", 8 * H,
     "Fri 22:00-24:00 + Sat 00:00-06:00 CET = 21:00Z-05:00Z"),
    ("night-shift", "2026-03-06T22:30Z", "2026-03-06T23:30Z", 1 * H,
     "across local midnight: no hole between 24:00 and 00:00"),
    ("sunday-evening", "2026-03-01T12:00Z", "2026-03-02T12:00Z", 4 * H,
     "Sun 20:00-24:00 CET = 19:00Z-23:00Z"),
    ("sunday-evening", "2026-03-29T12:00Z", "2026-03-30T12:00Z", 4 * H,
     "on the spring-forward Sunday, after the gap: 18:00Z-22:00Z"),
    # Lord Howe: a 30-minute DST shift
    ("lord-howe", "2026-04-03T12:00Z", "2026-04-04T12:00Z", 2 * H, "an ordinary day"),
    ("lord-howe", "2026-04-04T12:00Z", "2026-04-05T12:00Z", 150 * M,
     "DST ends: 01:00 +11 = 14:00Z to 03:00 +10:30 = 16:30Z"),
    ("lord-howe", "2026-10-03T12:00Z", "2026-10-04T12:00Z", 90 * M,
     "DST starts: 01:00 +10:30 = 14:30Z to 03:00 +11 = 16:00Z"),
    # 24x7: working time is real time, in any zone
    ("utc-247", "2026-12-31T22:00Z", "2027-01-01T02:00Z", 4 * H, "year end"),
    ("utc-247", "2026-03-02T09:00Z", "2026-03-02T08:00Z", 0, "b before a"),
    ("paris-247", "2026-03-28T23:00Z", "2026-03-29T22:00Z", 23 * H, "the 23-hour local day"),
    ("paris-247", "2026-10-24T22:00Z", "2026-10-25T23:00Z", 25 * H, "the 25-hour local day"),
    ("kolkata-247", "2026-03-02T00:00Z", "2026-03-02T00:00:00.001Z", 1, "one millisecond"),
]


@pytest.mark.parametrize(("name", "a", "b", "expected", "why"), WORKING,
                         ids=[f"{r[0]}:{r[4]}" for r in WORKING])
def test_working_ms(calendars: dict[str, Calendar], name: str, a: str, b: str, expected: int,
                    why: str) -> None:
    assert calendars[name].working_ms(z(a), z(b)) == expected, why


# ----------------------------------------------------------------------------- reach

REACH = [
    # (calendar, a, working ms, expected instant, what the row is about)
    ("paris-office", "2026-03-02T07:00Z", 4 * H, "2026-03-02T11:00Z",
     "reached at the end of the morning span (12:00 CET), not at the 13:00 opening"),
    ("paris-office", "2026-03-02T07:00Z", 4 * H + 1, "2026-03-02T12:00:00.001Z",
     "one ms more is one ms after the afternoon opening"),
    ("paris-office", "2026-03-02T07:00Z", 9 * H, "2026-03-02T17:00Z", "end of the day, 18:00 CET"),
    ("paris-office", "2026-03-02T07:00Z", 9 * H + 1, "2026-03-03T07:00:00.001Z", "next morning"),
    ("paris-office", "2026-03-02T11:30Z", 1 * H, "2026-03-02T13:00Z", "started during lunch"),
    ("paris-office", "2026-03-02T11:30Z", 0, "2026-03-02T11:30Z", "nothing to reach: a itself"),
    ("paris-office", "2026-03-07T08:00Z", 3 * H, "2026-03-07T11:00Z", "Sat 09:00-12:00 CET"),
    ("paris-office", "2026-03-07T08:00Z", 3 * H + M, "2026-03-09T07:01Z",
     "over the weekend to Mon 08:01 CET"),
    ("paris-office", "2026-12-24T16:00Z", 2 * H, "2026-12-26T09:00Z",
     "Thu 17-18 CET, Fri 25 Dec holiday, Sat 09-10 CET"),
    ("paris-office", "2026-12-31T16:00Z", 5 * H, "2027-01-04T08:00Z",
     "year end: Thu 1 h, 1 Jan holiday, Sat 3 h, Mon 08-09 CET"),
    ("paris-office", "2026-03-02T07:00Z", 192 * H, "2026-03-28T11:00Z",
     "four weeks of 48 h end at Sat 12:00 CET, the span end, not Monday"),
    ("paris-office", "2026-03-02T07:00Z", 200 * H, "2026-03-30T15:00Z",
     "200 h: 4 weeks + Mon 08-12, 13-17 CEST (the clocks changed on Sun 29)"),
    ("ny-office", "2026-10-26T13:00Z", 200 * H, "2026-11-30T22:00Z",
     "200 h from Mon 09:00 EDT: 5 weeks minus Thanksgiving, then Mon 30 Nov 09-17 EST"),
    ("ny-office", "2026-10-26T13:00Z", 200 * H + 1, "2026-12-01T14:00:00.001Z",
     "one ms past a month end is the next month's first opening"),
    ("kolkata", "2026-03-02T00:00Z", 1 * H, "2026-03-02T05:00Z", "opens 09:30 IST = 04:00Z"),
    ("kolkata", "2026-03-02T04:00Z", 510 * M, "2026-03-02T12:30Z", "a whole day: 18:00 IST"),
    ("kolkata", "2026-07-31T10:30Z", 4 * H, "2026-08-03T06:00Z",
     "month end: Fri 31 Jul 2 h, then Mon 3 Aug 04:00Z + 2 h"),
    ("night-shift", "2026-03-06T12:00Z", 2 * H, "2026-03-06T23:00Z",
     "reached at 24:00 CET, the end of the Friday span"),
    ("night-shift", "2026-03-06T12:00Z", 150 * M, "2026-03-06T23:30Z",
     "the Saturday 00:00 span goes on from there"),
    ("night-shift", "2026-03-06T12:00Z", 8 * H, "2026-03-07T05:00Z", "Sat 06:00 CET"),
    ("night-shift", "2026-03-06T12:00Z", 8 * H + 1, "2026-03-13T21:00:00.001Z", "next Friday"),
    ("sunday-evening", "2026-03-01T12:00Z", 4 * H, "2026-03-01T23:00Z",
     "24:00 CET on Sunday is Monday 00:00"),
    ("sunday-evening", "2026-03-01T12:00Z", 4 * H + 1, "2026-03-08T19:00:00.001Z", "next Sunday"),
    ("paris-night", "2026-03-28T23:00Z", 2 * H, "2026-03-29T02:00Z",
     "spring forward: the 2 h of the day end at 04:00 CEST"),
    ("paris-night", "2026-03-28T23:00Z", 2 * H + 1, "2026-03-29T23:00:00.001Z",
     "then Mon 01:00 CEST = 23:00Z"),
    ("paris-night", "2026-10-24T22:00Z", 4 * H, "2026-10-25T03:00Z",
     "fall back: the 4 h of the day end at 04:00 CET"),
    ("paris-gap", "2026-03-29T00:00Z", 1 * M, "2026-03-29T01:31Z",
     "the span opens at 03:30 CEST = 01:30Z"),
    ("paris-ambiguous", "2026-10-24T22:00Z", 1 * M, "2026-10-25T00:31Z",
     "the span opens at the first 02:30 (CEST) = 00:30Z"),
    ("paris-ambiguous", "2026-10-24T22:00Z", 150 * M, "2026-10-25T03:00Z", "and ends 04:00 CET"),
    ("ny-gap", "2026-03-08T05:00Z", 1 * M, "2026-03-08T07:16Z",
     "the span opens at 03:15 EDT = 07:15Z"),
    ("ny-gap", "2026-03-08T05:00Z", 45 * M, "2026-03-08T08:00Z", "and ends at 04:00 EDT"),
    ("ny-ambiguous", "2026-11-01T04:00Z", 30 * M, "2026-11-01T05:45Z",
     "first occurrence of 01:45 (EDT)"),
    ("ny-ambiguous", "2026-11-01T04:00Z", 30 * M + 1, "2026-11-08T06:15:00.001Z",
     "next Sunday 01:15 EST"),
    ("lord-howe", "2026-10-03T12:00Z", 90 * M, "2026-10-03T16:00Z", "DST starts: 03:00 +11"),
    ("lord-howe", "2026-04-04T12:00Z", 150 * M, "2026-04-04T16:30Z", "DST ends: 03:00 +10:30"),
    ("utc-247", "2026-03-28T23:00Z", 24 * H, "2026-03-29T23:00Z", "real time"),
    ("utc-247", "2026-12-31T23:30Z", 1 * H, "2027-01-01T00:30Z", "year end"),
    ("paris-247", "2026-03-28T23:00Z", 24 * H, "2026-03-29T23:00Z",
     "real time, although the local day has 23 h"),
    ("paris-247", "2026-03-28T23:00Z", 0, "2026-03-28T23:00Z", "nothing to reach"),
    ("kolkata-247", "2026-03-02T00:00Z", 200 * H, "2026-03-10T08:00Z", "200 h of real time"),
]


@pytest.mark.parametrize(("name", "a", "work", "expected", "why"), REACH,
                         ids=[f"{r[0]}:{r[4]}" for r in REACH])
def test_reach(calendars: dict[str, Calendar], name: str, a: str, work: int, expected: str,
               why: str) -> None:
    assert calendars[name].reach(z(a), work) == z(expected), why


def test_empty_schedule_never_reaches() -> None:
    zone = ZoneInfo("Europe/Paris")
    cal = Calendar("closed", zone, WeeklySchedule(zone, ((),) * 7))
    a = z("2026-03-02T00:00Z")
    assert cal.working_ms(a, a + 400 * D) == 0
    assert cal.reach(a, 1) is None
    assert cal.reach(a, 0) == a


def test_intervals_of_day_uses_the_zone_rules() -> None:
    zone = ZoneInfo("Europe/Paris")
    sched = WeeklySchedule(zone, ((),) * 6 + (((150, 300),),), frozenset({date(2026, 4, 5)}))
    spring = sched.intervals_of_day(date(2026, 3, 29))  # 02:30 moves forward to 03:30 CEST
    assert spring == [(z("2026-03-29T01:30Z"), z("2026-03-29T03:00Z"))]
    assert sched.intervals_of_day(date(2026, 3, 30)) == []  # a Monday: no spans
    assert sched.intervals_of_day(date(2026, 4, 5)) == []  # a holiday


# ----------------------------------------------------------------------------- reference

ZONES = ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
_ZONE = {name: ZoneInfo(name) for name in ZONES}


def _offset_ms(zone: ZoneInfo, utc_ms: int) -> int:
    """The zone's UTC offset at a UTC instant (the unambiguous direction of conversion)."""
    when = datetime.fromtimestamp(utc_ms // 1000, zone)
    offset = when.utcoffset()
    assert offset is not None
    return offset // _MS


def ref_local_to_utc(zone: ZoneInfo, day: date, minute: int) -> int:
    """A local wall time as UTC: the earliest instant that shows it; in a gap, moved forward."""
    local = (datetime(day.year, day.month, day.day) - _EPOCH) // _MS + minute * M
    offsets = {_offset_ms(zone, local + k * H) for k in range(-36, 37, 12)}
    showing = [local - o for o in offsets if _offset_ms(zone, local - o) == o]
    if showing:
        return min(showing)
    # in the gap: shifted forward by the gap, i.e. read with the offset before the transition
    return local - min(offsets)


def ref_intervals(zone: ZoneInfo, spans: tuple[tuple[tuple[int, int], ...], ...],
                  holidays: frozenset[date], a: int, b: int) -> list[tuple[int, int]]:
    """The merged working intervals of every local date that can touch [a, b)."""
    first = datetime.fromtimestamp(a // 1000, zone).date() - timedelta(days=2)
    last = datetime.fromtimestamp(b // 1000, zone).date() + timedelta(days=2)
    raw = []
    day = first
    while day <= last:
        if day not in holidays:
            for start_min, end_min in spans[day.weekday()]:
                start = ref_local_to_utc(zone, day, start_min)
                end = ref_local_to_utc(zone, day, end_min)
                if end > start:
                    raw.append((start, end))
        day += timedelta(days=1)
    merged: list[list[int]] = []
    for start, end in sorted(raw):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def ref_working(intervals: list[tuple[int, int]], a: int, b: int) -> int:
    return sum(max(0, min(e, b) - max(s, a)) for s, e in intervals)


def ref_reach(intervals: list[tuple[int, int]], a: int, work: int) -> int | None:
    if work <= 0:
        return a
    done = 0
    for s, e in intervals:
        s = max(s, a)
        if e <= s:
            continue
        if done + (e - s) >= work:
            return s + (work - done)
        done += e - s
    return None


def test_reference_conversions_by_hand() -> None:
    paris, ny = ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")
    lhi = ZoneInfo("Australia/Lord_Howe")
    assert ref_local_to_utc(paris, date(2026, 3, 29), 150) == z("2026-03-29T01:30Z")  # gap
    assert ref_local_to_utc(paris, date(2026, 10, 25), 150) == z("2026-10-25T00:30Z")  # first
    assert ref_local_to_utc(paris, date(2026, 10, 25), 180) == z("2026-10-25T02:00Z")
    assert ref_local_to_utc(ny, date(2026, 3, 8), 135) == z("2026-03-08T07:15Z")
    assert ref_local_to_utc(ny, date(2026, 11, 1), 75) == z("2026-11-01T05:15Z")
    assert ref_local_to_utc(lhi, date(2026, 10, 4), 135) == z("2026-10-03T15:45Z")  # in the gap
    assert ref_local_to_utc(lhi, date(2026, 4, 5), 105) == z("2026-04-04T14:45Z")  # 01:45 first


# ----------------------------------------------------------------------------- properties

_ANCHORS = [z(t) for t in (
    "2026-03-08T07:00Z", "2026-03-29T01:00Z", "2026-10-25T01:00Z", "2026-11-01T06:00Z",
    "2026-04-04T15:00Z", "2026-10-03T15:30Z", "2025-10-26T01:00Z", "2027-03-28T01:00Z",
    "2026-12-31T23:00Z", "2026-01-31T12:00Z", "2026-02-28T18:30Z",
)]
_LO, _HI = z("2025-06-01T00:00Z"), z("2027-06-01T00:00Z")

instants = st.one_of(
    st.integers(_LO, _HI),
    st.builds(lambda t, d: t + d, st.sampled_from(_ANCHORS), st.integers(-4 * D, 4 * D)),
    st.builds(lambda t, d: t + d * M, st.sampled_from(_ANCHORS), st.integers(-4 * 1440, 4 * 1440)),
)


@st.composite
def day_spans(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    grid = draw(st.sampled_from([15, 30, 60, 1]))
    points = sorted(draw(st.sets(st.integers(0, 1440 // grid), max_size=6)))
    if len(points) % 2:
        points.pop()
    return tuple((points[i] * grid, points[i + 1] * grid) for i in range(0, len(points), 2))


@st.composite
def calendars_and_start(draw: st.DrawFn) -> tuple[Calendar, dict, int]:
    """A random calendar (spans, holidays near the start, zone, sometimes 24x7) and a start."""
    zone = _ZONE[draw(st.sampled_from(ZONES))]
    a = draw(instants)
    if draw(st.integers(0, 9)) == 0:
        return Calendar("24x7", zone), {"always": True}, a
    spans = tuple(draw(day_spans()) for _ in range(7))
    if not any(spans):
        spans = spans[:6] + (((0, 1440),),)
    start_day = datetime.fromtimestamp(a // 1000, zone).date()
    holidays = frozenset(start_day + timedelta(days=k)
                         for k in draw(st.sets(st.integers(-1, 20), max_size=4)))
    cal = Calendar("random", zone, WeeklySchedule(zone, spans, holidays))
    return cal, {"always": False, "zone": zone, "spans": spans, "holidays": holidays}, a


def reference(spec: dict, a: int, b: int) -> list[tuple[int, int]]:
    if spec["always"]:
        return [(a, b)]
    return ref_intervals(spec["zone"], spec["spans"], spec["holidays"], a, b)


@settings(max_examples=250, deadline=None)
@given(calendars_and_start(), st.integers(0, 21 * D), st.integers(0, 3 * D))
def test_working_ms_matches_the_brute_force_reference(case, length: int, tail: int) -> None:
    cal, spec, a = case
    b = a + length
    intervals = reference(spec, a, b)
    assert cal.working_ms(a, b) == ref_working(intervals, a, b)
    # and a shorter interval that ends at b, where rounding or merging would show
    start = b - min(tail, length)
    assert cal.working_ms(start, b) == ref_working(intervals, start, b)


@settings(max_examples=200, deadline=None)
@given(calendars_and_start(), st.integers(0, 100 * D), st.integers(0, 100 * D))
def test_working_time_is_additive(case, ab: int, bc: int) -> None:
    cal, _, a = case
    b, c = a + ab, a + ab + bc
    assert cal.working_ms(a, b) + cal.working_ms(b, c) == cal.working_ms(a, c)


@settings(max_examples=200, deadline=None)
@given(calendars_and_start(), st.integers(1, 40 * D), st.data())
def test_reach_is_the_inverse_of_working_ms(case, horizon: int, data: st.DataObject) -> None:
    cal, spec, a = case
    intervals = reference(spec, a, a + horizon)
    total = ref_working(intervals, a, a + horizon)
    if total == 0:
        return
    ends = [e for _, e in intervals if a < e <= a + horizon]
    if ends and data.draw(st.booleans()):
        # exactly the working time up to a span end: reached there, not at the next opening
        end = data.draw(st.sampled_from(ends))
        w = ref_working(intervals, a, end)
    else:
        w = data.draw(st.integers(1, total))
    x = cal.reach(a, w)
    assert x is not None
    assert x == ref_reach(intervals, a, w)
    assert cal.working_ms(a, x) == w
    assert cal.working_ms(a, x - 1) < w


@settings(max_examples=150, deadline=None)
@given(calendars_and_start(), st.integers(0, 300 * H), st.integers(0, 300 * H))
def test_reach_is_monotone(case, w1: int, w2: int) -> None:
    cal, _, a = case
    w1, w2 = sorted((w1, w2))
    x1, x2 = cal.reach(a, w1), cal.reach(a, w2)
    assert x1 is not None and x2 is not None
    assert a <= x1 <= x2
    if w1 < w2:
        assert x1 < x2  # a millisecond of working time takes at least a millisecond


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ZONES), instants, st.integers(0, 90 * D))
def test_all_day_every_day_is_24x7_in_any_zone(zone_name: str, a: int, length: int) -> None:
    zone = _ZONE[zone_name]
    allday = Calendar("allday", zone, WeeklySchedule(zone, (((0, 1440),),) * 7))
    always = Calendar("24x7", zone)
    assert allday.working_ms(a, a + length) == length == always.working_ms(a, a + length)
    assert allday.reach(a, length) == a + length == always.reach(a, length)
