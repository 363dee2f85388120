"""Random availability cases for property tests: policies (targets, periods, zones, maintenance,
credits, burn rules) and each service's heartbeats, with the policy written as YAML."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from hypothesis import strategies as st

from tests.support.availability_oracle import AvPolicy, Beat

# Around local midnight 2027-10-31/11-01: the end of a day, a week (Monday 11-01) and a month at
# once; in Paris that day has 25 hours (DST ends at 03:00 CEST) and October 745.
ZONES = ["UTC", "Asia/Tokyo", "Europe/Paris"]
TARGETS = [Fraction(90), Fraction(99), Fraction(995, 10), Fraction(999, 10), Fraction(9999, 100)]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def local_s(zone: str, y: int, mo: int, d: int, hh: int = 0, mi: int = 0) -> int:
    return int(datetime(y, mo, d, hh, mi, tzinfo=ZoneInfo(zone)).timestamp())


@st.composite
def av_policies(draw: st.DrawFn, zone: str, base_s: int) -> AvPolicy:
    target = draw(st.sampled_from(TARGETS))
    per_budget = 1 / (1 - target / 100)  # the burn of a total outage
    burn = []
    for long_m, short_m in draw(st.lists(st.sampled_from([(10, 2), (30, 5), (60, 10), (5, 1)]),
                                         unique=True, max_size=2)):
        k = draw(st.sampled_from([Fraction(1, 100), Fraction(1, 20), Fraction(1, 5),
                                  Fraction(1, 2), Fraction(1)]))
        burn.append((long_m * 60, short_m * 60, k * per_budget))
    windows = []
    for _ in range(draw(st.integers(0, 2))):
        start = base_s + 60 * draw(st.integers(-60, 200))
        windows.append((start, start + 60 * draw(st.integers(1, 90))))
    weekly = []
    for _ in range(draw(st.integers(0, 2))):
        start = 15 * draw(st.integers(0, 95))
        weekly.append((draw(st.integers(0, 6)), start,
                       min(1440, start + 15 * draw(st.integers(1, 12)))))
    credits = []
    offsets = sorted(draw(st.lists(st.sampled_from([Fraction(0), Fraction(1, 10), Fraction(1, 2),
                                                    Fraction(2)]), unique=True, max_size=2)))
    percents = sorted(draw(st.lists(st.sampled_from([5, 10, 25]), min_size=len(offsets),
                                    max_size=len(offsets))))
    for below, percent in zip(offsets, percents, strict=True):  # a lower below, more credit
        credits.append((target - below, float(percent)))
    return AvPolicy(
        target=target, period=draw(st.sampled_from(["day", "week", "month"])), zone=zone,
        timeout_s=draw(st.sampled_from([5, 20, 30, 60])),
        near=tuple(draw(st.lists(st.sampled_from([Fraction(1, 4), Fraction(1, 2), Fraction(3, 4),
                                                  Fraction(9, 10)]), unique=True, max_size=3))),
        weekly=tuple(weekly), windows=tuple(windows), credits=tuple(credits), burn=tuple(burn))


def policy_yaml(pol: AvPolicy, match: dict[str, str] | None = None, pid: str = "p") -> str:
    def num(x: Fraction) -> float | int:
        return int(x) if x.denominator == 1 else float(x)

    def at(s: int) -> str:
        return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    maintenance: list[dict[str, str]] = [{"start": at(a), "end": at(b)} for a, b in pol.windows]
    maintenance += [{"weekly": f"{DAYS[d]} {s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}"}
                    for d, s, e in pol.weekly]
    av: dict[str, Any] = {
        "target": num(pol.target), "period": pol.period, "heartbeat_timeout": pol.timeout_s,
        "near_breach": [num(f) for f in pol.near], "maintenance": maintenance,
        "credits": [{"below": num(b), "percent": p} for b, p in pol.credits]}
    if pol.burn:
        av["burn_rate"] = [{"long": f"{lg}s", "short": f"{sh}s", "factor": num(f)}
                           for lg, sh, f in pol.burn]
    return yaml.safe_dump({
        "calendars": {"c": {"timezone": pol.zone, "hours": "24x7"}},
        "policies": [{"id": pid, "match": match or {}, "calendar": "c", "availability": av}]})


@st.composite
def service_beats(draw: st.DrawFn, service: str, first_s: int, until_s: int, timeout_s: int
                  ) -> list[Beat]:
    out: list[Beat] = []
    t = latest = first_s + draw(st.integers(0, 1200))
    while t <= until_s and len(out) < 30:
        status = draw(st.sampled_from(["up", "up", "up", "down", "degraded"]))
        out.append((service, t, status, draw(st.sampled_from([None, None, "a", "b"]))))
        latest = max(latest, t)
        gap = draw(st.one_of(st.integers(0, timeout_s), st.integers(timeout_s, 3 * timeout_s),
                             st.integers(300, 2400), st.integers(-90, -1)))
        t = latest + gap  # a negative gap gives a late heartbeat
    return out


@st.composite
def availability_cases(draw: st.DrawFn, services: int | None = None, most_minutes: int = 150
                       ) -> tuple[AvPolicy, list[Beat], int]:
    zone = draw(st.sampled_from(ZONES))
    base = local_s(zone, 2027, 10, 31, 22, 30)  # 90 min before the end of every period kind
    pol = draw(av_policies(zone, base))
    until = base + draw(st.integers(60, most_minutes)) * 60
    beats = []
    for i in range(services or draw(st.integers(1, 2))):
        beats += draw(service_beats(f"s{i}", base, until, pol.timeout_s))
    return pol, beats, until
