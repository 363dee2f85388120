"""Instants far apart or near the end of the range (SPEC sections 1 and 7): a silent span costs
what its output costs, and no computation leaves ``[1970, 9000)``.

- A span in which nothing can fire (no period judged yet, or all of it in maintenance) costs no
  burn-rate evaluation per minute: the fold jumps to where downtime is counted again.
- ``reach`` answers None ("never") for working time reached only at or after the end of the
  range, however long the target or sparse the calendar; a deadline past it is null in records
  and views, and the status views never fail on it.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from streams.core import availability
from streams.core.calendar import Calendar, WeeklySchedule
from streams.core.detector import Detector
from streams.core.events import heartbeat, incident_event
from streams.core.policyfile import load_policies
from streams.core.timefmt import END_INSTANT_MS, MINUTE_MS, parse_instant
from streams.status import incidents_view, services_view
from tests.support.fold import fold

YEAR_MS = 365 * 24 * 3600 * 1000
LAST_MINUTES = parse_instant("8999-12-31T23:50:00Z")
LAST_MS = END_INSTANT_MS - 1  # 8999-12-31T23:59:59.999Z


def run(policy: str, incidents: list[dict[str, Any]] | None, beats: list[dict[str, Any]] | None,
        until: int | None) -> list[dict[str, Any]]:
    return fold(policy, incidents=incidents, heartbeats=beats, until=until)


def instants_in_range(records: list[dict[str, Any]]) -> None:
    """Every instant a record names can be read back (so it lies in the range), or is null."""
    for rec in records:
        for name in ("at", "deadline", "opened_at"):
            if rec.get(name) is not None:
                assert 0 <= parse_instant(rec[name]) < END_INSTANT_MS, rec


# ----------------------------------------------------------------------------- silent spans

BURN_POLICY = """
policies:
  - id: auth-slo
    effective_from: 2027-01-01T00:00:00Z
    match: {service: auth}
    availability: {target: 99.9, period: month, heartbeat_timeout: 30s, burn_rate: default}
"""


class TooManyEvaluations(AssertionError):
    pass


@pytest.fixture
def counted_burns(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count burn-rate evaluations; fail fast (not after minutes of CPU) past 10,000."""
    calls = [0]
    real = availability.ServiceFold._burn

    def burn(self: Any, st: Any, m: int, out: Any) -> None:
        calls[0] += 1
        if calls[0] > 10_000:
            raise TooManyEvaluations(f"burn rates evaluated minute by minute (at {m})")
        real(self, st, m, out)

    monkeypatch.setattr(availability.ServiceFold, "_burn", burn)
    return calls


def test_a_first_heartbeat_at_epoch_0_before_the_policy_costs_no_evaluation_per_minute(
        counted_burns: list[int]) -> None:
    # 1970 -> 2026: no version in force, no period judged, nothing can fire in 56 years
    beats = [{"service": "auth", "at": 0, "status": "up"},
             {"service": "auth", "at": "2026-12-01T00:00:00Z", "status": "up"}]
    assert run(BURN_POLICY, None, beats, None) == []
    assert counted_burns[0] < 100


def test_a_silent_decade_then_counts_every_period_and_one_burn_episode(
        counted_burns: list[int]) -> None:
    # down from 2027-01-01T00:00:30Z to 2037-01-01: every month breaches (SPEC 7), the default
    # rules each fire once (one episode: the service never comes back in between)
    beats = [{"service": "auth", "at": "2027-01-01T00:00:00Z", "status": "up"},
             {"service": "auth", "at": "2037-01-01T00:00:00Z", "status": "up"}]
    records = run(BURN_POLICY, None, beats, None)
    outcomes = [r for r in records if r["kind"] == "outcome"]
    assert len(outcomes) == 120 and not any(r["met"] for r in outcomes)
    assert len([r for r in records if r["metric"] == "burn_rate"]) == 3
    assert len([r for r in records if r["kind"] == "breach"]) == 120
    assert counted_burns[0] < 1_000


def test_years_of_maintenance_cost_no_evaluation_per_minute(counted_burns: list[int]) -> None:
    policy = """
policies:
  - id: p
    match: {}
    availability:
      target: 99.9
      period: month
      heartbeat_timeout: 30s
      burn_rate: default
      maintenance: [{start: 2026-01-01T00:00:00Z, end: 2031-01-01T00:00:00Z}]
"""
    beats = [{"service": "s", "at": "2026-01-01T00:00:00Z", "status": "up"},
             {"service": "s", "at": "2031-01-01T00:00:00Z", "status": "up"}]
    records = run(policy, None, beats, None)
    outcomes = [r for r in records if r["kind"] == "outcome"]
    assert len(outcomes) == 60 and all(r["met"] and r["downtime_seconds"] == 0 for r in outcomes)
    assert len(records) == 60  # no threshold: downtime in maintenance does not count
    assert counted_burns[0] < 1_000


# ----------------------------------------------------------------------------- calendars

def business_hours() -> Calendar:
    spans = ((((480, 720), (780, 1080)),) * 5) + ((), ())
    return Calendar("office", ZoneInfo("Europe/Paris"),
                    WeeklySchedule(ZoneInfo("Europe/Paris"), spans))


def one_minute_a_week() -> Calendar:
    spans = (((600, 601),),) + ((),) * 6
    return Calendar("sparse", ZoneInfo("Pacific/Kiritimati"),
                    WeeklySchedule(ZoneInfo("Pacific/Kiritimati"), spans))


@pytest.mark.parametrize("calendar", [business_hours(), one_minute_a_week(),
                                      Calendar("24x7", ZoneInfo("UTC"))],
                         ids=["business-hours", "1-minute-a-week", "24x7"])
def test_reach_past_the_end_of_the_range_is_never(calendar: Calendar) -> None:
    assert calendar.reach(LAST_MINUTES, 100 * YEAR_MS) is None
    assert calendar.reach(LAST_MS, 1) is None
    # what can be reached still is
    assert calendar.working_ms(LAST_MINUTES, LAST_MS) <= LAST_MS - LAST_MINUTES


def test_a_sparse_calendar_with_a_long_target_is_never_without_leaving_the_range() -> None:
    # 1 minute a week: 100 years of working time would take millions of years
    cal = one_minute_a_week()
    assert cal.reach(parse_instant("2026-01-01T00:00:00Z"), 100 * YEAR_MS) is None
    two_minutes = cal.reach(parse_instant("2026-01-01T00:00:00Z"), 2 * MINUTE_MS)
    assert two_minutes is not None and cal.working_ms(
        parse_instant("2026-01-01T00:00:00Z"), two_minutes) == 2 * MINUTE_MS
    # the minute of the last week before the end is still reached; the one after it is not
    last_week = parse_instant("8999-12-20T00:00:00Z")
    found = cal.reach(last_week, MINUTE_MS)
    assert found is not None and found < END_INSTANT_MS
    assert cal.reach(last_week, 3 * MINUTE_MS) is None


def test_a_calendar_that_is_all_maintenance_to_the_end_never_leaves_the_range() -> None:
    always = WeeklySchedule(ZoneInfo("UTC"), (((0, 1440),),) * 7)
    t = parse_instant("8999-06-01T00:00:00Z")
    assert always.next_outside(t) >= END_INSTANT_MS
    assert always.reach_outside(t, MINUTE_MS) >= END_INSTANT_MS


# ----------------------------------------------------------------------------- replay and views

INCIDENT_POLICY = """
calendars:
  office:
    timezone: Europe/Paris
    hours: {mon-fri: ["08:00-12:00", "13:00-18:00"]}
policies:
  - id: p24
    match: {customer: c24}
    near_breach: [0.5]
    incidents: {"*": {response: 15m, resolution: 36500d}}
  - id: office
    match: {customer: office}
    calendar: office
    near_breach: [0.5]
    incidents: {"*": {response: 15m, resolution: 36500d}}
"""


def opened(incident: str, customer: str, at: str) -> dict[str, Any]:
    return {"event_id": "o", "incident_id": incident, "type": "opened", "at": at,
            "severity": "P1", "service": "s", "customer": customer}


def test_an_incident_opened_at_the_last_minutes_of_the_range_replays_and_never_breaches() -> None:
    events = [opened("A", "c24", "8999-12-31T23:50:00Z"),
              opened("B", "office", "8999-12-31T23:50:00Z")]
    records = run(INCIDENT_POLICY, events, None, LAST_MS)
    instants_in_range(records)
    # 24x7: half of 15m at 23:57:30 fires; its breach (00:05 in 9000) is never, a null deadline
    (near,) = [r for r in records if r["incident_id"] == "A"]
    assert near["kind"] == "near_breach" and near["at"] == "8999-12-31T23:57:30.000Z"
    assert near["deadline"] is None
    # business hours: 00:50 on Wednesday 9000-01-01 in Paris: nothing is worked before the end
    assert [r for r in records if r["incident_id"] == "B"] == []


def test_status_views_show_a_deadline_past_the_range_as_null() -> None:
    det = Detector(load_policies(INCIDENT_POLICY))
    for inc, customer in (("A", "c24"), ("B", "office")):
        det.on_incident_event(incident_event(opened(inc, customer, "8999-12-31T23:50:00Z")))
    det.advance(LAST_MS)
    view = incidents_view({0: det})
    assert view["count"] == 2
    for row in view["incidents"]:
        assert all(c["deadline"] is None for c in row["clocks"]), row
        assert row["clock"] == "8999-12-31T23:59:59.999Z"
    orjson.dumps(view)  # what /api/incidents answers


AV_POLICY = """
calendars:
  tokyo: {timezone: Asia/Tokyo, hours: "24x7"}
  kiritimati: {timezone: Pacific/Kiritimati, hours: "24x7"}
policies:
  - {id: d, match: {}, availability: {target: 99.9, period: day, heartbeat_timeout: 90s,
     near_breach: [0.5], burn_rate: default}}
  - {id: w, match: {service: s}, calendar: tokyo, availability: {target: 99.9, period: week,
     heartbeat_timeout: 90s, maintenance: [{weekly: "mon 00:00-02:00"}]}}
  - {id: m, match: {customer: x, service: s}, calendar: kiritimati, availability: {
     target: 99.9, period: month, heartbeat_timeout: 90s, credits: [{below: 99.0, percent: 25}]}}
"""


def test_availability_periods_at_the_end_of_the_range_replay_and_views_hold() -> None:
    beats = [{"service": "s", "at": "8999-12-20T00:00:00Z", "status": "up"},
             {"service": "s", "at": "8999-12-31T10:00:00Z", "status": "up"},
             {"service": "s", "at": "8999-12-31T23:59:00Z", "status": "down"}]
    records = run(AV_POLICY, None, beats, LAST_MS)
    instants_in_range(records)
    day = [r for r in records if r["policy_id"] == "d" and r["kind"] == "outcome"]
    # day periods end at 00:00Z: the last one (ending 9000-01-01) is never reached
    assert day[-1]["period_end"] == "8999-12-31T00:00:00.000Z"
    assert len(day) == 11
    # Kiritimati (+14): December 8999 ends at 8999-12-31T10:00Z, within the range: judged
    month = [r for r in records if r["policy_id"] == "m" and r["kind"] == "outcome"]
    assert [r["period_end"] for r in month] == ["8999-12-31T10:00:00.000Z"]
    det = Detector(load_policies(AV_POLICY))
    for beat in beats:
        det.before(parse_instant(beat["at"]))
        det.on_heartbeat(heartbeat(beat))
    det.advance(LAST_MS)
    (svc,) = services_view({0: det})["services"]
    ends = {p["policy_id"]: p["period_end"] for p in svc["periods"]}
    assert ends == {"d": "9000-01-01T00:00:00.000Z", "w": "9000-01-05T15:00:00.000Z",
                    "m": "9000-01-31T10:00:00.000Z"}
    orjson.dumps(svc)
