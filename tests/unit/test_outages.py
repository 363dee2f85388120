"""``outages`` on availability outcomes (SPEC sections 5 and 9): the maximal down intervals
outside maintenance, counted in every period they share a positive length with; a maintenance
window inside a down interval splits it."""

from __future__ import annotations

from streams.core.timefmt import parse_instant
from tests.support.fold import fold

DAY1 = parse_instant("2027-03-01T00:00:00Z")
DAY_MS = 86_400_000

POLICY = """
policies:
  - id: auth-day
    match: {service: auth}
    availability:
      target: 99
      period: day
      heartbeat_timeout: 1d
      maintenance: [{start: 2027-03-01T12:10:00Z, end: 2027-03-01T12:20:00Z}]
"""


def beats(*spans: tuple[str, str]) -> list[dict[str, str]]:
    return [{"service": "auth", "at": f"2027-03-{day}:00Z", "status": status}
            for day, status in spans]


def outages(heartbeats: list[dict[str, object]], until: int) -> dict[str, int]:
    return {r["period_start"][:10]: r["outages"]
            for r in fold(POLICY, heartbeats=heartbeats, until=until)
            if r["kind"] == "outcome"}


def test_outages_per_period() -> None:
    hb: list[dict[str, object]] = [*beats(
               ("01T08:00", "up"), ("01T09:00", "down"), ("01T09:30", "up"),
               # down across the maintenance window: two outages, split by it
               ("01T12:00", "down"), ("01T12:40", "up"),
               # down across midnight: one outage, in both days
               ("01T23:30", "down"), ("02T00:30", "up"),
               ("02T06:00", "up"), ("02T06:00", "down"), ("02T06:10", "up"))]
    assert outages(hb, DAY1 + 2 * DAY_MS) == {"2027-03-01": 4, "2027-03-02": 2}


def test_a_service_that_never_goes_down_has_none() -> None:
    hb = [{"service": "auth", "at": DAY1 + i * 3_600_000, "status": "up"} for i in range(49)]
    assert outages(hb, DAY1 + 2 * DAY_MS) == {"2027-03-01": 0, "2027-03-02": 0}
