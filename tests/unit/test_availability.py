"""Availability (SPEC sections 5 and 7): downtime, maintenance, periods, budgets, credits, burn
rates and outcomes, through ``slawatch replay``'s code path.

Worked cases carry their arithmetic in comments (every expected number is derived by hand from
the SPEC, never read off the product). The property tests compare the standing records with
``tests/support/availability_oracle``, a naive model that steps one second at a time, and check
two invariants of the fold: downtime is additive over adjacent periods, and the interleaving of
different services' heartbeats changes nothing that stands.
"""

from __future__ import annotations

import io
import random
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from streams.core.policyfile import load_policies
from streams.core.timefmt import NEVER_MS
from streams.replay import replay
from tests.support.availability_cases import (
    ZONES,
    av_policies,
    availability_cases,
    local_s,
    policy_yaml,
)
from tests.support.availability_oracle import AvPolicy, Beat, standing
from tests.support.compare import compact
from tests.support.fold import fold

S = 1000
MIN = 60 * S
HOUR = 60 * MIN
DAY = 24 * HOUR


def ms(text: str) -> int:
    """Epoch ms of an RFC 3339 instant (computed here, not with the product's parser)."""
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{at_ms % 1000:03d}Z"


def hb(at_ms: int, status: str = "up", service: str = "s", instance: str | None = None
       ) -> dict[str, Any]:
    beat: dict[str, Any] = {"service": service, "at": iso(at_ms), "status": status}
    if instance is not None:
        beat["instance"] = instance
    return beat


def ups(a_ms: int, b_ms: int, every_ms: int = 30 * S, status: str = "up", service: str = "s",
        instance: str | None = None) -> list[dict[str, Any]]:
    """``status`` heartbeats every ``every_ms`` in ``[a_ms, b_ms)``."""
    return [hb(t, status, service, instance) for t in range(a_ms, b_ms, every_ms)]


def run(policy: str, lines: Sequence[dict[str, Any] | bytes], until: int | None
        ) -> tuple[list[dict[str, Any]], str, str]:
    """Replay a heartbeat file (dicts, or raw bytes for a bad line) through ``slawatch replay``;
    return records, stderr, path: for what the file runner adds (messages, dead letters naming
    the file). The fold alone runs in memory (``tests.support.fold``)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "heartbeats.jsonl"
        path.write_bytes(b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n"
                                  for x in lines))
        out, err = io.BytesIO(), io.StringIO()
        replay(load_policies(policy), None, str(path), until, out, err)
    return [orjson.loads(line) for line in out.getvalue().splitlines()], err.getvalue(), str(path)


def standing_records(policy: str, lines: Sequence[dict[str, Any] | bytes], until: int | None
                     ) -> list[dict[str, Any]]:
    return compact(fold(policy, heartbeats=lines, until=until))  # in memory, no file


def pick(records: list[dict[str, Any]], **want: Any) -> list[dict[str, Any]]:
    return [r for r in records if all(r.get(k) == v for k, v in want.items())]


def one(records: list[dict[str, Any]], **want: Any) -> dict[str, Any]:
    hits = pick(records, **want)
    assert len(hits) == 1, f"{len(hits)} standing records match {want}: {records}"
    return hits[0]


def at(rec: dict[str, Any]) -> int:
    return ms(rec["at"])


def normalise(records: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Standing records in the oracle's shape (see ``availability_oracle.standing``)."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in compact(records):
        if r["metric"] == "burn_rate":  # two rules may share a factor: count them
            key: tuple[Any, ...] = ("burn_rate", r["service"], r["threshold"], at(r))
            count = out.pop(key, {"count": 0})["count"]
            val: dict[str, Any] = {"count": count + 1}
        else:
            assert r["metric"] == "availability"
            label = None if r["kind"] == "outcome" else r["threshold"]
            key = (r["kind"], r["service"], label, ms(r["period_start"]))
            val = {"at": at(r), "period_end": ms(r["period_end"]),
                   "downtime_seconds": r["downtime_seconds"],
                   "budget_seconds": r["budget_seconds"],
                   "credit_percent": r.get("credit_percent") or 0}
            if r["kind"] == "outcome":
                val.update(degraded_seconds=r["degraded_seconds"], met=r["met"],
                           availability=r["availability"])
        assert key not in out, f"two standing records for {key}"
        out[key] = val
    return out


def standing_set(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What stands, whole records keyed by ``alert_id`` (the wall-clock stamp left out)."""
    return {r["alert_id"]: {k: v for k, v in r.items() if k != "detected_at"}
            for r in compact(records)}


def assert_same(got: dict[tuple[Any, ...], Any], want: dict[tuple[Any, ...], Any]) -> None:
    assert sorted(got, key=repr) == sorted(want, key=repr)
    for key, w in want.items():
        g = dict(got[key])
        if "availability" in w:  # float arithmetic vs exact rounding: at most one unit apart
            assert abs(g.pop("availability") - w["availability"]) <= 1.000001e-6, key
            w = {k: v for k, v in w.items() if k != "availability"}
        assert g == w, key


# ----------------------------------------------------------------------------- SRE workbook

SRE = """
policies:
  - id: slo
    match: {service: s}
    availability: {target: 99.9, period: month, heartbeat_timeout: 30s, burn_rate: default}
"""


def burns(records: list[dict[str, Any]]) -> list[tuple[float, int]]:
    return sorted((r["threshold"], at(r)) for r in compact(records)
                  if r["metric"] == "burn_rate")


def test_sre_workbook_total_outage_fires_the_three_default_rules_at_1_3_5_minutes() -> None:
    # up every 30 s from 09:00 to 09:59:30: up until 10:00:00, then silence. At minute 10:0k the
    # outage has lasted 60k s. Needs (long/short): 14.4 -> 51.84 s / 4.32 s; 6 -> 129.6 / 10.8;
    # 1 -> 259.2 / 21.6. 10:01 (60 s) fires 14.4; 10:03 (180 s) fires 6; 10:05 (300 s) fires 1.
    t0 = ms("2027-08-02T09:00:00Z")
    records = run(SRE, ups(t0, t0 + HOUR), t0 + HOUR + 6 * MIN)[0]
    outage = t0 + HOUR
    assert burns(records) == [(1.0, outage + 5 * MIN), (6.0, outage + 3 * MIN),
                              (14.4, outage + MIN)]
    for rec in compact(records):
        assert rec["kind"] == "near_breach" and rec["metric"] == "burn_rate"
        assert (rec["policy_id"], rec["policy_version"], rec["service"]) == ("slo", 1, "s")


def test_sre_workbook_outage_off_the_minute_is_judged_at_whole_minutes_only() -> None:
    # up every 30 s from 09:00:20 to 09:59:50: the outage starts at 10:00:20. Reached at
    # 10:01:11.84 (14.4), 10:02:29.6 (6), 10:04:39.2 (1); judged at the next whole minute:
    # 10:02 (100 s down >= 51.84), 10:03 (160 s >= 129.6), 10:05 (280 s >= 259.2; 220 s at 10:04).
    t0 = ms("2027-08-02T09:00:20Z")
    records = run(SRE, ups(t0, t0 + HOUR), t0 + HOUR + 10 * MIN)[0]
    ten = ms("2027-08-02T10:00:00Z")
    assert burns(records) == [(1.0, ten + 5 * MIN), (6.0, ten + 3 * MIN), (14.4, ten + 2 * MIN)]


def test_burn_rates_do_not_count_downtime_in_maintenance() -> None:
    # the same total outage from 10:00, inside a maintenance window [10:00, 10:30): downtime
    # counts from 10:30, so the rules fire at 10:31 (60 s), 10:33 (180 s) and 10:35 (300 s).
    policy = SRE.replace("burn_rate: default}", "burn_rate: default,\n    maintenance: "
                         "[{start: '2027-08-02T10:00:00Z', end: '2027-08-02T10:30:00Z'}]}")
    t0 = ms("2027-08-02T09:00:00Z")
    records = run(policy, ups(t0, t0 + HOUR), t0 + HOUR + 36 * MIN)[0]
    half = t0 + HOUR + 30 * MIN
    assert burns(records) == [(1.0, half + 5 * MIN), (6.0, half + 3 * MIN), (14.4, half + MIN)]


def minute_blips(start: int, minutes: int, blip_ms: int) -> list[dict[str, Any]]:
    """Per minute: up at +0, ``down`` at +50 s, up again at +50 s + blip (timeout 60 s keeps it
    up until the next minute's +0): exactly ``blip_ms`` of downtime per minute."""
    out = []
    for k in range(minutes):
        m = start + k * MIN
        out += [hb(m), hb(m + 50 * S, "down"), hb(m + 50 * S + blip_ms)]
    return out


BLIP = """
policies:
  - id: slo
    match: {service: s}
    availability: {target: 99.9, period: month, heartbeat_timeout: 60s, burn_rate: default}
"""


def test_sre_workbook_half_the_error_rate_for_a_day_fires_no_rule() -> None:
    # 30 ms per minute = 0.05 % errors: burn 0.05 / 0.1 = 0.5 in every window: below every factor
    start = ms("2027-08-02T00:00:00Z")
    records = run(BLIP, minute_blips(start, 24 * 60, 30), start + DAY)[0]
    assert burns(records) == []


def test_sre_workbook_burn_rate_exactly_one_fires_when_the_3d_window_fills() -> None:
    # 60 ms per minute = 0.1 % errors = burn exactly 1. The 3 d window first holds 4,320 minutes x
    # 60 ms = 259,200 ms = 1 x 3 d x 0.001 at start + 3 d, and the 6 h one 360 x 60 ms = 21,600 ms
    # = 1 x 6 h x 0.001: the rule (factor 1, at or above) fires exactly then. In floating point
    # 1 - 99.9/100 > 0.001 and it never would. 14.4 and 6 need 51.84 s/h and 129.6 s/6 h: never.
    start = ms("2027-08-02T00:00:00Z")
    records = run(BLIP, minute_blips(start, 3 * 24 * 60 + 2, 60), start + 3 * DAY + 2 * MIN)[0]
    assert burns(records) == [(1.0, start + 3 * DAY)]


def test_an_outage_between_two_heartbeats_counts_in_the_next_minutes_burn() -> None:
    # up every 10 s (timeout 30 s) from 00:00:00; ``down`` at 00:00:50, up at 00:00:55: 5 s down,
    # every heartbeat before and after says up. Rule 10 min / 5 min x 0.5 at 99.9 %: needs
    # 0.5 x 600 s x 0.001 = 0.3 s and 0.15 s: both windows hold 5 s at 00:01 -> fires at 00:01.
    # The episode ends at 00:06, when the 5 min window no longer holds the blip.
    policy = """
policies:
  - id: slo
    match: {service: s}
    availability: {target: 99.9, period: month, heartbeat_timeout: 30s,
                   burn_rate: [{long: 10m, short: 5m, factor: 0.5}]}
"""
    t0 = ms("2027-08-02T00:00:00Z")
    beats = (ups(t0, t0 + 50 * S, 10 * S) + [hb(t0 + 50 * S, "down")]
             + ups(t0 + 55 * S, t0 + 20 * MIN, 10 * S))
    assert burns(run(policy, beats, t0 + 20 * MIN)[0]) == [(0.5, t0 + MIN)]
    # a second blip at 00:10:50: the first episode ended at 00:06, so a new one fires at 00:11
    beats = (ups(t0, t0 + 50 * S, 10 * S) + [hb(t0 + 50 * S, "down")]
             + ups(t0 + 55 * S, t0 + 650 * S, 10 * S) + [hb(t0 + 650 * S, "down")]
             + ups(t0 + 655 * S, t0 + 20 * MIN, 10 * S))
    assert burns(run(policy, beats, t0 + 20 * MIN)[0]) == [(0.5, t0 + MIN), (0.5, t0 + 11 * MIN)]


# ----------------------------------------------------------------------------- downtime table

# The last hour of a UTC day: first heartbeat at H (unknown before it), heartbeats cover the day's
# end (timeout 60 s), so the day's outcome holds exactly the row's downtime. Budget: 1 % x 86,400 s
# = 864 s (near-breach 0.5 at 432 s: never reached in these rows).
DAY99 = """
policies:
  - id: svc
    match: {service: s}
    availability: {target: 99, period: day, heartbeat_timeout: 60s, near_breach: [0.5]}
"""
H = ms("2027-03-01T23:00:00Z")
D0, D1 = ms("2027-03-01T00:00:00Z"), ms("2027-03-02T00:00:00Z")


def h(seconds: float) -> int:
    return H + round(seconds * S)


def degraded_every_30s(a: int, b: int, instance: str | None = None) -> list[dict[str, Any]]:
    return ups(h(a), h(b), status="degraded", instance=instance)


ROWS = {
    # last up 570 s + 60 s timeout: down [630, 900) until the next up
    "timeout gap": (ups(h(0), h(600)) + ups(h(900), h(3600)), 270, 0),
    # an up exactly when the timeout runs out (570 + 60 = 630): never down
    "next up exactly at the timeout": (ups(h(0), h(600)) + ups(h(630), h(3600)), 0, 0),
    # one second past the timeout: [630, 631)
    "next up one second late": (ups(h(0), h(600)) + ups(h(631), h(3600)), 1, 0),
    # ``down`` makes it down at once (the last up at 1170 would have lasted to 1230)
    "down then up": (ups(h(0), h(1200)) + [hb(h(1200), "down")] + ups(h(1500), h(3600)),
                     300, 0),
    # repeated ``down``; back ``degraded`` at 1500 (counts as up), ``up`` at 1530
    "down repeated, back degraded": (
        ups(h(0), h(1200)) + [hb(h(1200), "down"), hb(h(1230), "down"), hb(h(1260), "down"),
                              hb(h(1500), "degraded")] + ups(h(1530), h(3600)), 300, 30),
    # the same instant: the later line (``down``) is the instance's state: down [1170, 1200)
    "down at the same instant as an up": (
        ups(h(0), h(1200)) + [hb(h(1170), "down")] + ups(h(1200), h(3600)), 30, 0),
    # instance a stays up all along: b going down or silent changes nothing
    "one instance stays up": (
        ups(h(0), h(3600), instance="a") + ups(h(0), h(1200), instance="b")
        + [hb(h(1200), "down", instance="b")], 0, 0),
    # a: up until 1770 + 60 = 1830, silent until 2400; b: up until ``down`` at 2000, up at 2200.
    # None up in [2000, 2200)
    "all instances down": (
        ups(h(0), h(1800), instance="a") + ups(h(0), h(2000), instance="b")
        + [hb(h(2000), "down", instance="b")] + ups(h(2200), h(3600), instance="b")
        + ups(h(2400), h(3600), instance="a"), 200, 0),
    # an instance-less heartbeat is an instance of its own: it stays up while "a" goes down
    "no instance field is an instance": (
        ups(h(0), h(3600)) + [hb(h(10), "down", instance="a")], 0, 0),
    # first heartbeat at 23:30: the 23.5 h before are unknown, not down
    "unknown before the first heartbeat": (ups(h(1800), h(3600)), 0, 0),
    # the only instance says ``degraded`` from 1200 to 1770 (lasting to 1830), ``up`` from 1800:
    # up only through a degraded instance in [1200, 1800)
    "degraded only": (ups(h(0), h(1200)) + degraded_every_30s(1200, 1800)
                      + ups(h(1800), h(3600)), 0, 600),
    # an up instance alongside: never up *only* through degraded ones
    "degraded beside an up instance": (
        ups(h(0), h(3600), instance="a") + degraded_every_30s(0, 3600, "b"), 0, 0),
    # a up until 1170 + 60 = 1230, b degraded until 1770 + 60 = 1830, a up again from 1800
    "degraded instance outlives the up one": (
        ups(h(0), h(1200), instance="a") + degraded_every_30s(0, 1800, "b")
        + ups(h(1800), h(3600), instance="a"), 0, 570),
}
# availability = 100 x (1 - down / 86,400), rounded to 6 decimals
AVAILABILITY = {0: 100.0, 1: 99.998843, 30: 99.965278, 200: 99.768519, 270: 99.6875,
                300: 99.652778}


@pytest.mark.parametrize("name", list(ROWS))
def test_downtime_table(name: str) -> None:
    beats, down_s, degraded_s = ROWS[name]
    beats = sorted(beats, key=lambda b: b["at"])  # stable: a row's same-instant order is kept
    records = standing_records(DAY99, beats, D1)
    out = one(records, kind="outcome")
    assert (out["period_start"], out["period_end"]) == (iso(D0), iso(D1))
    assert out["downtime_seconds"] == down_s
    assert out["degraded_seconds"] == degraded_s
    assert out["budget_seconds"] == 864.0 and out["met"] is True
    assert out["availability"] == AVAILABILITY[down_s]
    assert not out.get("credit_percent")
    assert pick(records, kind="near_breach") == [] and pick(records, kind="breach") == []


# ----------------------------------------------------------------------------- maintenance

def maint_policy(zone: str, maintenance: list[dict[str, str]], period: str = "day") -> str:
    return yaml.safe_dump({
        "calendars": {"c": {"timezone": zone, "hours": "24x7"}},
        "policies": [{"id": "svc", "match": {"service": "s"}, "calendar": "c", "availability": {
            "target": 99, "period": period, "heartbeat_timeout": "60s", "near_breach": [0.5],
            "maintenance": maintenance}}]})


def outage_300_to_1500(base: int) -> list[dict[str, Any]]:
    """Up (timeout 60 s) from base, ``down`` at +300 s, up again from +1500 s to +3600 s."""
    return (ups(base, base + 300 * S) + [hb(base + 300 * S, "down")]
            + ups(base + 1500 * S, base + 3600 * S))


def test_explicit_maintenance_is_removed_from_downtime_and_from_the_budget() -> None:
    # down [23:05, 23:25) = 1,200 s; maintenance [23:10, 23:20) = 600 s of it: 600 s downtime.
    # Budget 1 % x (86,400 - 600) = 858 s; 0.5 -> 429 s: 300 s by 23:10, 129 s after 23:20.
    policy = maint_policy("UTC", [{"start": "2027-03-01T23:10:00Z", "end": "2027-03-01T23:20:00Z"}])
    records = standing_records(policy, outage_300_to_1500(H), D1)
    near = one(records, kind="near_breach")
    assert at(near) == ms("2027-03-01T23:22:09Z")
    assert (near["downtime_seconds"], near["budget_seconds"], near["threshold"]) == (429, 858, 0.5)
    out = one(records, kind="outcome")
    assert (out["downtime_seconds"], out["budget_seconds"], out["met"]) == (600, 858, True)
    assert out["availability"] == 99.300699  # 100 x (1 - 600 / 85,800)


def test_weekly_maintenance_is_in_the_calendars_zone() -> None:
    # Tokyo (UTC+9): Monday 23:00 local = 14:00Z; the Tokyo day is [02-28T15:00Z, 03-01T15:00Z).
    # "mon 23:10-23:20" is [14:10Z, 14:20Z): the same numbers as the explicit window above. Read
    # in UTC it would fall on the Tokyo Tuesday: 1,200 s downtime and a budget of 864 s.
    base = ms("2027-03-01T14:00:00Z")
    policy = maint_policy("Asia/Tokyo", [{"weekly": "mon 23:10-23:20"}])
    records = standing_records(policy, outage_300_to_1500(base), ms("2027-03-01T15:00:00Z"))
    out = one(records, kind="outcome")
    assert (out["period_start"], out["period_end"]) == ("2027-02-28T15:00:00.000Z",
                                                        "2027-03-01T15:00:00.000Z")
    assert (out["downtime_seconds"], out["budget_seconds"]) == (600, 858)
    assert at(one(records, kind="near_breach")) == ms("2027-03-01T14:22:09Z")


def test_weekly_maintenance_every_week_of_the_period_counts_in_its_budget() -> None:
    # week of Monday 2027-03-01 (UTC), "wed 10:00-12:00" and "sat 00:00-24:00": 2 h + 24 h =
    # 93,600 s. Budget 1 % x (604,800 - 93,600) = 5,112 s. The service is silent after 23:00
    # Monday + 60 s: down from 23:01 Monday except the windows; 0.5 -> 2,556 s at 23:43:36 Monday.
    policy = maint_policy("UTC", [{"weekly": "wed 10:00-12:00"}, {"weekly": "sat 00:00-24:00"}],
                          period="week")
    records = standing_records(policy, [hb(H)], H + HOUR)
    near = one(records, kind="near_breach")
    assert near["budget_seconds"] == 5112.0
    assert at(near) == ms("2027-03-01T23:43:36Z")


def test_maintenance_straddling_a_period_boundary_counts_in_each_period_for_its_part() -> None:
    # window [04-19 23:50, 04-20 00:20) UTC (04-20 00:00Z is also a boundary of the calendar's
    # 64-day chunks). Day 04-19: budget 1 % x (86,400 - 600) = 858 s; day 04-20: 1 % x (86,400 -
    # 1,200) = 852 s. Down from 23:40 (``down``) to 00:30 (up), up until 01:00:30 (timeout), then
    # silent. 04-19: downtime [23:40, 23:50) = 600 s; 0.5 = 429 s at 23:47:09.
    # 04-20: [00:20, 00:30) = 600 s; 0.5 = 426 s at 00:27:06; breach 852 s = 600 + 252 s after
    # 01:00:30 -> 01:04:42.
    base = ms("2027-04-19T23:00:00Z")
    policy = maint_policy("UTC", [{"start": "2027-04-19T23:50:00Z", "end": "2027-04-20T00:20:00Z"}])
    beats = (ups(base, base + 40 * MIN) + [hb(base + 40 * MIN, "down")]
             + ups(base + 90 * MIN, base + 2 * HOUR))
    records = standing_records(policy, beats, ms("2027-04-20T01:10:00Z"))
    day1, day2 = "2027-04-19T00:00:00.000Z", "2027-04-20T00:00:00.000Z"
    near1 = one(records, kind="near_breach", period_start=day1)
    assert (at(near1), near1["budget_seconds"]) == (ms("2027-04-19T23:47:09Z"), 858)
    out1 = one(records, kind="outcome", period_start=day1)
    assert (out1["downtime_seconds"], out1["budget_seconds"], out1["met"]) == (600, 858, True)
    near2 = one(records, kind="near_breach", period_start=day2)
    assert (at(near2), near2["budget_seconds"]) == (ms("2027-04-20T00:27:06Z"), 852)
    breach2 = one(records, kind="breach", period_start=day2)
    assert (at(breach2), breach2["downtime_seconds"]) == (ms("2027-04-20T01:04:42Z"), 852)
    assert pick(records, kind="outcome", period_start=day2) == []  # 04-20 is not over


def test_a_threshold_reached_in_maintenance_fires_when_it_ends_if_still_down() -> None:
    # silent after 23:00 + 60 s; maintenance [23:05, 23:20). 0.5 of 1 % x (86,400 - 900) =
    # 427.5 s: 240 s by 23:05, then 187.5 s after 23:20 -> 23:23:07.500. Breach 855 s:
    # 23:30:15.
    policy = maint_policy("UTC", [{"start": "2027-03-01T23:05:00Z", "end": "2027-03-01T23:20:00Z"}])
    records = standing_records(policy, [hb(H)], H + HOUR)
    assert at(one(records, kind="near_breach")) == ms("2027-03-01T23:23:07.500Z")
    assert at(one(records, kind="breach")) == ms("2027-03-01T23:30:15Z")


# ----------------------------------------------------------------------------- periods

def month_policy(zone: str, timeout: str = "60s", **extra: Any) -> str:
    return yaml.safe_dump({
        "calendars": {"c": {"timezone": zone, "hours": "24x7"}},
        "policies": [{"id": "m", "match": {"service": "s"}, "calendar": "c", "availability": {
            "target": 99.9, "period": "month", "heartbeat_timeout": timeout, **extra}}]})


@pytest.mark.parametrize(("first_beat", "until", "start", "end", "budget", "breach", "avail"), [
    # March 2027 in Paris: 03-01 00:00 CET to 04-01 00:00 CEST = 743 h = 2,674,800 s; budget
    # 2,674.8 s. Up at 21:00Z, down from 21:01Z: breach at 21:01 + 2,674.8 s = 21:45:34.800Z;
    # 3,540 s down by the end (22:00Z): 100 x (1 - 3,540 / 2,674,800) = 99.867654.
    ("2027-03-31T21:00:00Z", "2027-03-31T22:00:00Z", "2027-02-28T23:00:00.000Z",
     "2027-03-31T22:00:00.000Z", 2674.8, "2027-03-31T21:45:34.800Z", 99.867654),
    # October 2027: 10-01 00:00 CEST to 11-01 00:00 CET = 745 h = 2,682,000 s; budget 2,682 s.
    # Up at 22:00Z: breach at 22:01 + 2,682 s = 22:45:42Z; 3,540 s by 23:00Z: 99.868009.
    ("2027-10-31T22:00:00Z", "2027-10-31T23:00:00Z", "2027-09-30T22:00:00.000Z",
     "2027-10-31T23:00:00.000Z", 2682.0, "2027-10-31T22:45:42.000Z", 99.868009),
])
def test_a_dst_month_has_743_or_745_hours(first_beat: str, until: str, start: str, end: str,
                                          budget: float, breach: str, avail: float) -> None:
    records = standing_records(month_policy("Europe/Paris"), [hb(ms(first_beat))], ms(until))
    b = one(records, kind="breach")
    assert (b["at"], b["period_start"], b["period_end"]) == (breach, start, end)
    assert (b["budget_seconds"], b["downtime_seconds"]) == (budget, budget)
    out = one(records, kind="outcome")
    assert (out["period_start"], out["period_end"], out["at"]) == (start, end, end)
    assert (out["downtime_seconds"], out["budget_seconds"], out["met"]) == (3540, budget, False)
    assert out["availability"] == avail


def test_a_silent_service_is_judged_for_every_period_the_clock_passes() -> None:
    # up at 03-01 23:00, then nothing; the clock reaches 03-04 00:00 (``until``). 03-01: 3,540 s
    # down; 03-02 and 03-03: down all day (86,400 s, availability 0); each day: 0.5 at 00:07:12
    # (432 s) and the breach at 00:14:24 (864 s), 03-01's at 23:08:12 and 23:15:24.
    records = standing_records(DAY99, [hb(H)], ms("2027-03-04T00:00:00Z"))
    got = sorted((r["period_start"][:10], r["kind"], r["at"], r["downtime_seconds"],
                  r.get("met"), r["availability"]) for r in records)
    assert got == [
        ("2027-03-01", "breach", "2027-03-01T23:15:24.000Z", 864, None, 99.0),
        ("2027-03-01", "near_breach", "2027-03-01T23:08:12.000Z", 432, None, 99.5),
        ("2027-03-01", "outcome", "2027-03-02T00:00:00.000Z", 3540, False, 95.902778),
        ("2027-03-02", "breach", "2027-03-02T00:14:24.000Z", 864, None, 99.0),
        ("2027-03-02", "near_breach", "2027-03-02T00:07:12.000Z", 432, None, 99.5),
        ("2027-03-02", "outcome", "2027-03-03T00:00:00.000Z", 86400, False, 0.0),
        ("2027-03-03", "breach", "2027-03-03T00:14:24.000Z", 864, None, 99.0),
        ("2027-03-03", "near_breach", "2027-03-03T00:07:12.000Z", 432, None, 99.5),
        ("2027-03-03", "outcome", "2027-03-04T00:00:00.000Z", 86400, False, 0.0),
    ]


def test_a_month_that_starts_mid_outage_splits_the_downtime() -> None:
    # timeout 2 d: ``down`` at 03-31 23:31Z, up at 04-01 00:30Z, then up daily at 00:30 to 05-01.
    # March: [23:31, 24:00) = 1,740 s, budget 0.1 % x 31 d = 2,678.4 s -> 99.935036.
    # April: [00:00, 00:30) = 1,800 s, budget 0.1 % x 30 d = 2,592 s -> 99.930556.
    beats = [hb(ms("2027-03-31T23:00:00Z")), hb(ms("2027-03-31T23:31:00Z"), "down")]
    beats += [hb(ms("2027-04-01T00:30:00Z") + d * DAY) for d in range(30)]
    records = standing_records(month_policy("UTC", "2d"), beats, ms("2027-05-01T00:00:00Z"))
    march = one(records, kind="outcome", period_start="2027-03-01T00:00:00.000Z")
    april = one(records, kind="outcome", period_start="2027-04-01T00:00:00.000Z")
    assert (march["downtime_seconds"], march["budget_seconds"], march["availability"],
            march["met"]) == (1740, 2678.4, 99.935036, True)
    assert (april["downtime_seconds"], april["budget_seconds"], april["availability"],
            april["met"]) == (1800, 2592, 99.930556, True)
    assert april["period_end"] == "2027-05-01T00:00:00.000Z"
    assert len(pick(records, kind="outcome")) == 2


def test_week_periods_start_on_monday_in_the_zone() -> None:
    # Tokyo week: Monday 2027-03-01 00:00 JST = 02-28T15:00Z to 03-08 00:00 JST = 03-07T15:00Z.
    # Up at Sunday 03-07 14:00Z (23:00 JST), silent: 3,540 s down by the end of the week.
    policy = maint_policy("Asia/Tokyo", [], period="week")
    records = standing_records(policy, [hb(ms("2027-03-07T14:00:00Z"))],
                               ms("2027-03-07T15:00:00Z"))
    out = one(records, kind="outcome")
    assert (out["period_start"], out["period_end"]) == ("2027-02-28T15:00:00.000Z",
                                                        "2027-03-07T15:00:00.000Z")
    assert (out["downtime_seconds"], out["budget_seconds"]) == (3540, 6048)  # 1 % x 7 d


# ----------------------------------------------------------------------------- thresholds

CREDITS = """
policies:
  - id: svc
    match: {service: s}
    availability:
      target: 99
      period: day
      heartbeat_timeout: 60s
      credits: [{below: 99, percent: 5}, {below: 98, percent: 10}, {below: 90, percent: 50}]
"""


def test_a_credit_tier_exactly_reached_while_down_fires_with_its_percent() -> None:
    # silent after 23:00 (+60 s): down from 23:01. Breach 864 s at 23:15:24, carrying the 99 tier
    # (5 %). Tier 98: 2 % x 86,400 = 1,728 s at 23:29:48, threshold (100-98)/(100-99) = 2.0, 10 %.
    # Up again at 23:40: 2,340 s down: met false, credit 10 %, 100 x (1 - 2,340/86,400) = 97.291667
    beats = [hb(H)] + ups(h(2400), h(3600))
    records = standing_records(CREDITS, beats, D1)
    breach = one(records, kind="breach", threshold=1.0)
    assert (at(breach), breach["credit_percent"]) == (ms("2027-03-01T23:15:24Z"), 5)
    tier = one(records, kind="breach", threshold=2.0)
    assert (at(tier), tier["credit_percent"], tier["downtime_seconds"]) == (
        ms("2027-03-01T23:29:48Z"), 10, 1728)
    assert tier["budget_seconds"] == 864.0 and tier["target"] == 99.0
    assert tier["availability"] == 98.0
    assert pick(records, threshold=10.0) == []  # tier 90: 8,640 s, not reached
    out = one(records, kind="outcome")
    assert (out["downtime_seconds"], out["met"], out["credit_percent"], out["availability"]) == (
        2340, False, 10, 97.291667)


def test_a_credit_tier_reached_as_the_service_comes_back_does_not_fire() -> None:
    # the same, but up again at exactly 23:29:48 (downtime 1,728 s = the tier): availability is
    # 98 % exactly, not below 98; the tier fires only at an instant the service is down.
    beats = [hb(H)] + ups(ms("2027-03-01T23:29:48Z"), h(3600))
    records = standing_records(CREDITS, beats, D1)
    assert pick(records, threshold=2.0) == []
    out = one(records, kind="outcome")
    assert (out["downtime_seconds"], out["met"], out["credit_percent"], out["availability"]) == (
        1728, False, 5, 98.0)


def test_downtime_equal_to_the_budget_with_the_service_back_then_is_met() -> None:
    # down from 23:01; up at 23:15:24 = 23:01 + 864 s, the budget: no breach; met; 99 %.
    # near-breach 0.5 (432 s) at 23:08:12.
    beats = [hb(H)] + ups(ms("2027-03-01T23:15:24Z"), h(3600))
    records = standing_records(DAY99, beats, D1)
    assert pick(records, kind="breach") == []
    assert at(one(records, kind="near_breach")) == ms("2027-03-01T23:08:12Z")
    out = one(records, kind="outcome")
    assert (out["downtime_seconds"], out["met"], out["availability"]) == (864, True, 99.0)


def test_budget_reached_as_the_service_comes_back_breaches_at_the_next_down_instant() -> None:
    # as above, then ``down`` at 23:30:00 and up at 23:30:10: the breach fires at 23:30:00 with
    # downtime 864 s; the day ends with 874 s down, met false.
    beats = ([hb(H)] + ups(ms("2027-03-01T23:15:24Z"), h(1800)) + [hb(h(1800), "down")]
             + ups(h(1810), h(3600)))
    records = standing_records(DAY99, beats, D1)
    breach = one(records, kind="breach")
    assert (at(breach), breach["downtime_seconds"]) == (ms("2027-03-01T23:30:00Z"), 864)
    out = one(records, kind="outcome")
    assert (out["downtime_seconds"], out["met"], out["availability"]) == (874, False, 98.988426)


def test_one_millisecond_short_of_the_return_breaches_at_the_whole_millisecond() -> None:
    # up at 23:15:24.001: at 23:15:24.000 the service is still down with 864 s: breach then.
    beats = [hb(H)] + ups(ms("2027-03-01T23:15:24.001Z"), h(3600))
    records = standing_records(DAY99, beats, D1)
    assert at(one(records, kind="breach")) == ms("2027-03-01T23:15:24Z")
    assert one(records, kind="outcome")["downtime_seconds"] == 864.001


def test_threshold_and_outcome_records_carry_the_contract_fields() -> None:
    # silent after 23:00: down from 23:01, 3,540 s by midnight. 0.5 (432 s) at 23:08:12.
    records = standing_records(DAY99, [hb(H)], D1)
    common = {"metric": "availability", "policy_id": "svc", "policy_version": 1,
              "policy_match": ["service"], "service": "s", "period_start": iso(D0),
              "period_end": iso(D1), "target": 99.0, "budget_seconds": 864.0}
    near = one(records, kind="near_breach")
    want = {**common, "kind": "near_breach", "at": "2027-03-01T23:08:12.000Z", "threshold": 0.5,
            "downtime_seconds": 432.0, "availability": 99.5}
    assert {k: near.get(k) for k in want} == want
    assert near["alert_id"] and "credit_percent" not in near
    breach = one(records, kind="breach")
    assert breach["at"] == "2027-03-01T23:15:24.000Z" and breach["threshold"] == 1.0
    assert (breach["downtime_seconds"], breach["availability"]) == (864.0, 99.0)
    out = one(records, kind="outcome")
    assert {k: out[k] for k in (*common, "kind", "at", "availability", "downtime_seconds",
                                "degraded_seconds", "met")} == {
        **common, "kind": "outcome", "at": iso(D1), "availability": 95.902778,
        "downtime_seconds": 3540.0, "degraded_seconds": 0.0, "met": False}
    assert not out.get("credit_percent")
    assert len({near["alert_id"], breach["alert_id"], out["alert_id"]}) == 3


# ----------------------------------------------------------------------------- bad input

def test_a_late_heartbeat_is_dead_lettered_and_changes_nothing() -> None:
    good = [hb(H), hb(h(30))] + ups(h(60), h(3600))
    late = hb(h(-60), "down")  # before the latest applied (23:00:30)
    records, err, path = run(DAY99, good[:2] + [late] + good[2:], D1)
    dead = [r for r in records if r["kind"] in ("invalid", "late")]
    assert len(dead) == 1
    assert dead[0]["kind"] == "late" and dead[0]["reason"] == "late"
    assert (dead[0]["source_file"], dead[0]["line"]) == (path, 3)
    assert orjson.loads(dead[0]["raw"]) == late
    assert f"{path}:3:" in err
    assert one(compact(records), kind="outcome")["downtime_seconds"] == 0
    assert standing_set(records) == standing_set(run(DAY99, good, D1)[0])


def test_a_heartbeat_at_the_same_instant_as_the_latest_is_not_late() -> None:
    # up 23:00:00, up 23:00:30, ``down`` 23:00:30 (applied after: down), up 23:01:00 -> 30 s
    beats = [hb(H), hb(h(30)), hb(h(30), "down")] + ups(h(60), h(3600))
    records, err, _ = run(DAY99, beats, D1)
    assert err == "" and not [r for r in records if r["kind"] in ("invalid", "late")]
    assert one(compact(records), kind="outcome")["downtime_seconds"] == 30


def test_invalid_heartbeats_are_dead_lettered_with_file_and_line() -> None:
    bad = [
        b'{"service": "s", "at": "2027-03-01T23:00:10", "status": "down"}',  # no offset
        b'{"service": "s", "at": 1803942010000.0, "status": "down"}',  # a float
        b'{"service": "s", "at": "2027-03-01T23:00:10Z", "status": "sideways"}',
        b'{"service": "s", "at": "2027-03-01T23:00:10Z"}',  # no status
        b'{"at": "2027-03-01T23:00:10Z", "status": "down"}',  # no service
        b'{"service": "s", "at": "2027-03-01T23:00:10Z", "status": "down"',  # not JSON
    ]
    beats: list[dict[str, Any] | bytes] = [hb(H), *bad, *ups(h(30), h(3600))]
    records, err, path = run(DAY99, beats, D1)
    dead = [r for r in records if r["kind"] in ("invalid", "late")]
    assert [(r["kind"], r["source_file"], r["line"]) for r in dead] == [
        ("invalid", path, n) for n in range(2, 8)]
    assert [r["raw"].encode() for r in dead] == bad
    assert [r["reason"] for r in dead[:4]] == ["bad_timestamp", "bad_timestamp", "bad_field",
                                               "missing_field"]
    assert all(f"{path}:{n}:" in err for n in range(2, 8))
    # none of the ``down`` lines was applied
    assert one(compact(records), kind="outcome")["downtime_seconds"] == 0


# ----------------------------------------------------------------------------- policies

TWO = """
policies:
  - id: own
    match: {service: s}
    availability: {target: 99, period: day, heartbeat_timeout: 60s}
  - id: all
    match: {}
    availability: {target: 99.9, period: day, heartbeat_timeout: 60s}
"""


def test_every_matching_availability_policy_judges_the_service_independently() -> None:
    # s and t silent after 23:00: down from 23:01, 3,540 s by midnight.
    # own (s only): budget 864 s, breach 23:15:24. all (s and t): 86.4 s, breach 23:02:26.400.
    records = standing_records(TWO, [hb(H, service="s"), hb(H, service="t")], D1)
    got = sorted((r["service"], r["policy_id"], r["kind"], r["at"], r["policy_match"],
                  r["budget_seconds"]) for r in records)
    assert got == [
        ("s", "all", "breach", "2027-03-01T23:02:26.400Z", [], 86.4),
        ("s", "all", "outcome", iso(D1), [], 86.4),
        ("s", "own", "breach", "2027-03-01T23:15:24.000Z", ["service"], 864.0),
        ("s", "own", "outcome", iso(D1), ["service"], 864.0),
        ("t", "all", "breach", "2027-03-01T23:02:26.400Z", [], 86.4),
        ("t", "all", "outcome", iso(D1), [], 86.4),
    ]
    assert len({r["alert_id"] for r in records}) == 6


def test_a_policy_that_begins_mid_period_starts_judging_with_the_next_one() -> None:
    # v1 in force from 03-01 12:00Z: day 03-01 has no version in force at its start: not judged
    # (no alert, no outcome), whether the first heartbeat is before or after 12:00. Day 03-02:
    # down since 23:01 the day before: 86.4 s budget reached at 00:01:26.400.
    policy = """
policies:
  - id: p
    effective_from: 2027-03-01T12:00:00Z
    match: {service: s}
    availability: {target: 99.9, period: day, heartbeat_timeout: 60s, near_breach: [0.5]}
"""
    for first in ("2027-03-01T11:00:00Z", "2027-03-01T13:00:00Z"):
        beats = [hb(ms(first)), hb(H)]
        records = standing_records(policy, beats, ms("2027-03-02T00:30:00Z"))
        got = sorted((r["kind"], r["at"], r["period_start"]) for r in records)
        assert got == [("breach", "2027-03-02T00:01:26.400Z", iso(D1)),
                       ("near_breach", "2027-03-02T00:00:43.200Z", iso(D1))], first


def test_a_period_is_judged_by_the_version_in_force_at_its_start() -> None:
    # v1 (99 %) always; v2 (99.9 %) from 03-01 12:00Z. Silent after 23:00: day 03-01 is v1's
    # (budget 864 s: breach 23:15:24, 3,540 s down); day 03-02 is v2's (86.4 s: 00:01:26.400).
    policy = """
policies:
  - {id: p, version: 1, match: {service: s},
     availability: {target: 99, period: day, heartbeat_timeout: 60s}}
  - {id: p, version: 2, effective_from: 2027-03-01T12:00:00Z, match: {service: s},
     availability: {target: 99.9, period: day, heartbeat_timeout: 60s}}
"""
    records = standing_records(policy, [hb(H)], ms("2027-03-02T00:30:00Z"))
    got = sorted((r["period_start"], r["kind"], r["at"], r["policy_version"], r["budget_seconds"])
                 for r in records)
    assert got == [
        (iso(D0), "breach", "2027-03-01T23:15:24.000Z", 1, 864.0),
        (iso(D0), "outcome", iso(D1), 1, 864.0),
        (iso(D1), "breach", "2027-03-02T00:01:26.400Z", 2, 86.4),
    ]
    assert one(records, kind="outcome")["downtime_seconds"] == 3540


# ----------------------------------------------------------------------------- delayed heartbeats

DELAY = """
policies:
  - id: p
    match: {}
    availability: {target: 99.9, period: day, heartbeat_timeout: 30s, near_breach: [0.5]}
"""


def test_a_delayed_heartbeat_retracts_a_projected_breach() -> None:
    # quiet: up at 10:00:00, then silent: projected down from 10:00:30, 0.5 (43.2 s) at
    # 10:01:13.200 and the breach (86.4 s) at 10:01:56.400. busy's heartbeats drive the clock to
    # 10:02:00, past both. Then quiet's heartbeat at 10:01:50 arrives (delayed, not late: after
    # quiet's own 10:00:00): down only [10:00:30, 10:01:50) = 80 s < 86.4 s, up until 10:02:20:
    # the breach is retracted. Both then beat every 10 s to 10:05.
    t = ms("2027-03-01T10:00:00Z")
    quiet = [hb(t, service="quiet")]
    busy = ups(t, t + 2 * MIN + 1, 10 * S, service="busy")
    delayed = hb(t + 110 * S, service="quiet")
    rest = sorted(ups(t + 120 * S, t + 5 * MIN, 10 * S, service="quiet")
                  + ups(t + 130 * S, t + 5 * MIN, 10 * S, service="busy"), key=lambda b: b["at"])
    until = t + 5 * MIN
    arrived = quiet + busy + [delayed] + rest
    records, err, _ = run(DELAY, arrived, until)
    assert err == ""
    fired = [r for r in records if r["kind"] == "breach" and r["service"] == "quiet"]
    assert [r["at"] for r in fired] == ["2027-03-01T10:01:56.400Z"]
    retracted = [r for r in records if r["kind"] == "retraction"]
    assert [r["alert_id"] for r in retracted] == [fired[0]["alert_id"]]
    assert retracted[0]["retracts"] == "breach"
    in_order = sorted(arrived, key=lambda b: b["at"])
    assert standing_set(records) == standing_set(run(DELAY, in_order, until)[0])
    stand = compact(records)
    assert [(r["service"], r["kind"], r["at"]) for r in stand] == [
        ("quiet", "near_breach", "2027-03-01T10:01:13.200Z")]


def test_a_delayed_heartbeat_moves_a_projected_breach() -> None:
    # as above, but the delayed heartbeat is at 10:01:00: down [10:00:30, 10:01:00) = 30 s, up
    # until 10:01:30, then down again: 86.4 s at 10:01:30 + 56.4 s = 10:02:26.400. The clock
    # (10:02:00) is before it, so the breach is retracted; once the clock passes 10:02:26.400 it
    # is published again with the new instant, under the same alert_id.
    t = ms("2027-03-01T10:00:00Z")
    arrived = ([hb(t, service="quiet")] + ups(t, t + 2 * MIN + 1, 10 * S, service="busy")
               + [hb(t + MIN, service="quiet")] + ups(t + 130 * S, t + 5 * MIN, 10 * S,
                                                      service="busy"))
    records = run(DELAY, arrived, t + 5 * MIN)[0]
    quiet = [r for r in records if r["service"] == "quiet" and r["kind"] == "breach"]
    assert [r["at"] for r in quiet] == ["2027-03-01T10:01:56.400Z", "2027-03-01T10:02:26.400Z"]
    assert quiet[0]["alert_id"] == quiet[1]["alert_id"]
    in_order = sorted(arrived, key=lambda b: b["at"])
    assert standing_set(records) == standing_set(run(DELAY, in_order, t + 5 * MIN)[0])


def test_delayed_heartbeats_retract_a_projected_burn_rate_episode() -> None:
    # default rules, 99.9 %: quiet up at 10:00:00 (timeout 30 s), silent: at 10:02 its 1 h / 5 min
    # windows hold 90 s >= 51.84 / 4.32 s: burn 14.4 fires (busy drives the clock to 10:03).
    # Delayed heartbeats at 10:00:25, :50, 10:01:15, :40 then keep it up until 10:02:10: 0 s down
    # by 10:02 and 50 s by 10:03 (< 51.84): no episode at all; every one published is retracted.
    policy = DELAY.replace("near_breach: [0.5]", "burn_rate: default")
    t = ms("2027-03-01T10:00:00Z")
    arrived = ([hb(t, service="quiet")] + ups(t, t + 3 * MIN + 1, 10 * S, service="busy")
               + [hb(t + s * S, service="quiet") for s in (25, 50, 75, 100)])
    records = run(policy, arrived, t + 3 * MIN)[0]
    fired = [r for r in records if r["metric"] == "burn_rate"]
    assert (fired[0]["kind"], fired[0]["at"], fired[0]["threshold"]) == (
        "near_breach", "2027-03-01T10:02:00.000Z", 14.4)
    assert any(r["kind"] == "retraction" and r["alert_id"] == fired[0]["alert_id"]
               for r in fired[1:])
    assert [r for r in compact(records) if r["service"] == "quiet"] == []
    in_order = sorted(arrived, key=lambda b: b["at"])
    assert standing_set(records) == standing_set(run(policy, in_order, t + 3 * MIN)[0]) == {}


# ----------------------------------------------------------------------------- properties

def replay_beats(policy: str, beats: list[Beat], until_s: int) -> list[dict[str, Any]]:
    lines: list[dict[str, Any] | bytes] = []
    for service, t, status, inst in beats:
        beat: dict[str, Any] = {"service": service, "at": t * 1000, "status": status}
        if inst is not None:
            beat["instance"] = inst
        lines.append(beat)
    return fold(policy, heartbeats=lines, until=until_s * 1000)


def in_time_order(beats: list[Beat]) -> list[Beat]:
    """Merge the services on ``at`` (stable), each keeping its own order (late ones included)."""
    queues: dict[str, list[Beat]] = {}
    for b in beats:
        queues.setdefault(b[0], []).append(b)
    out: list[Beat] = []
    while any(queues.values()):
        heads = [q for q in queues.values() if q]
        out.append(min(heads, key=lambda q: q[0][1]).pop(0))
    return out


@given(availability_cases())
def test_replay_equals_the_second_model(case: tuple[AvPolicy, list[Beat], int]) -> None:
    pol, beats, until = case
    records = replay_beats(policy_yaml(pol), in_time_order(beats), until)
    assert_same(normalise(records), standing(pol, beats, until))


@given(availability_cases(services=1, most_minutes=105), st.data())
def test_two_policies_on_one_service_each_equal_the_second_model(
        case: tuple[AvPolicy, list[Beat], int], data: st.DataObject) -> None:
    pol, beats, until = case
    other = data.draw(av_policies(pol.zone, local_s(pol.zone, 2027, 10, 31, 22, 30)))
    doc = yaml.safe_load(policy_yaml(pol))
    doc["policies"] += yaml.safe_load(policy_yaml(other, {"service": "s0"}, "q"))["policies"]
    records = replay_beats(yaml.safe_dump(doc), beats, until)
    for pid, p in (("p", pol), ("q", other)):
        mine = [r for r in records if r.get("policy_id") == pid]
        assert_same(normalise(mine), standing(p, beats, until))


@given(availability_cases(services=2), st.randoms(use_true_random=False))
def test_interleaving_services_changes_nothing_that_stands(case: tuple[AvPolicy, list[Beat], int],
                                                          rnd: random.Random) -> None:
    pol, beats, until = case
    policy = policy_yaml(pol)
    queues: dict[str, list[Beat]] = {}
    for b in beats:
        queues.setdefault(b[0], []).append(b)
    shuffled: list[Beat] = []
    while any(queues.values()):  # a random interleaving that keeps each service's own order
        shuffled.append(rnd.choice([q for q in queues.values() if q]).pop(0))
    arrived = replay_beats(policy, shuffled, until)
    assert standing_set(arrived) == standing_set(replay_beats(policy, in_time_order(beats), until))


@st.composite
def week_cases(draw: st.DrawFn) -> tuple[AvPolicy, list[Beat], int]:
    zone = draw(st.sampled_from(ZONES))
    week = local_s(zone, 2027, 10, 25)  # Monday; in Paris the week holds the 25-hour Sunday
    end = local_s(zone, 2027, 11, 1)
    pol = AvPolicy(target=Fraction(99), period="day", zone=zone,
                   timeout_s=draw(st.sampled_from([3600, 4 * 3600])),
                   weekly=tuple((draw(st.integers(0, 6)), s, s + 60 * draw(st.integers(1, 2)))
                                for s in draw(st.lists(st.sampled_from([0, 120, 600, 1320]),
                                                       max_size=2))),
                   windows=tuple((a, a + 60 * draw(st.integers(1, 600))) for a in draw(
                       st.lists(st.integers(week // 60, end // 60).map(lambda m: m * 60),
                                max_size=2))))
    beats: list[Beat] = []
    t = week + draw(st.integers(0, 86399))
    steps = st.tuples(st.integers(1, 8 * 3600), st.sampled_from(["up", "up", "down", "degraded"]),
                      st.sampled_from([None, "a"]))
    for gap, status, instance in draw(st.lists(steps, min_size=1, max_size=50)):
        beats.append(("s", t, status, instance))
        t += gap
    return pol, [b for b in beats if b[1] <= end + 3600], end + 3600


@given(week_cases())
def test_downtime_is_additive_over_the_days_of_a_week(case: tuple[AvPolicy, list[Beat], int]
                                                      ) -> None:
    pol, beats, until = case
    days = yaml.safe_load(policy_yaml(pol, {"service": "s"}, "daily"))
    weekly = yaml.safe_load(policy_yaml(pol, {}, "weekly"))
    weekly["policies"][0]["availability"]["period"] = "week"
    days["policies"] += weekly["policies"]
    records = compact(replay_beats(yaml.safe_dump(days), beats, until))
    daily = [r for r in records if r["kind"] == "outcome" and r["policy_id"] == "daily"]
    week = one(records, kind="outcome", policy_id="weekly")
    assert 1 <= len(daily) <= 7
    assert daily[-1]["period_end"] == week["period_end"]
    for a, b in zip(daily, daily[1:], strict=False):
        assert a["period_end"] == b["period_start"]  # adjacent days, none missing
    assert round(sum(r["downtime_seconds"] for r in daily), 3) == week["downtime_seconds"]
    assert round(sum(r["degraded_seconds"] for r in daily), 3) == week["degraded_seconds"]


def test_the_model_agrees_with_the_hand_computed_table() -> None:
    """The oracle itself, checked against the worked rows above (so a property failure points at
    the product, not at the model)."""
    pol = AvPolicy(target=Fraction(99), period="day", zone="UTC", timeout_s=60,
                   near=(Fraction(1, 2),))
    for name, (beats, down_s, degraded_s) in ROWS.items():
        ordered = sorted(beats, key=lambda b: b["at"])
        model = [("s", ms(b["at"]) // 1000, b["status"], b.get("instance")) for b in ordered]
        got = standing(pol, model, D1 // 1000)
        out = got[("outcome", "s", None, D0)]
        assert (out["downtime_seconds"], out["degraded_seconds"]) == (down_s, degraded_s), name
        assert out["availability"] == AVAILABILITY[down_s], name
    got = standing(pol, [("s", H // 1000, "up", None)], D1 // 1000)
    assert got[("near_breach", "s", 0.5, D0)]["at"] == ms("2027-03-01T23:08:12Z")
    assert got[("breach", "s", 1.0, D0)]["at"] == ms("2027-03-01T23:15:24Z")
    paris = AvPolicy(target=Fraction(999, 10), period="month", zone="Europe/Paris", timeout_s=60)
    got = standing(paris, [("s", ms("2027-10-31T22:00:00Z") // 1000, "up", None)],
                   ms("2027-10-31T23:00:00Z") // 1000)
    assert got[("breach", "s", 1.0, ms("2027-09-30T22:00:00Z"))]["at"] == ms(
        "2027-10-31T22:45:42Z")


def test_a_long_silence_costs_an_evaluation_per_change_not_per_minute(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Once every burn rule is hot and the service stays down outside maintenance, no rule can
    change until a maintenance window or a heartbeat: 30 days of silence (43,200 minutes) are
    not evaluated minute by minute. A weekly window brings one evaluation per minute of the
    window's reach (the rules may cool in it), and the records equal the minute-by-minute run's."""
    from streams.core import availability

    policy = SRE.replace("burn_rate: default}", "burn_rate: default,\n    maintenance: "
                         "[{weekly: 'sun 02:00-02:30'}]}")
    t0 = ms("2027-08-02T09:00:00Z")
    beats = ups(t0, t0 + HOUR) + [hb(t0 + 30 * 24 * HOUR)]  # silent for 30 days, then back
    evaluations: list[int] = []
    burn = availability.ServiceFold._burn

    def counted(self: Any, st: Any, m: int, out: list[Any]) -> None:
        evaluations.append(m)
        burn(self, st, m, out)

    monkeypatch.setattr(availability.ServiceFold, "_burn", counted)
    records = run(policy, beats, t0 + 30 * 24 * HOUR + HOUR)[0]
    fast = len(evaluations)
    monkeypatch.setattr(availability.ServiceFold, "_settled_until",
                        lambda self, st: NEVER_MS)  # evaluate every minute
    evaluations.clear()
    slow_records = run(policy, beats, t0 + 30 * 24 * HOUR + HOUR)[0]
    assert burns(records) == burns(slow_records)
    assert len(evaluations) >= 30 * 24 * 60  # the minute-by-minute run
    assert fast < 1_000, fast  # measured: 130 (the ramps after the outage and each Sunday)
