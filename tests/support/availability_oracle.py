"""An independent, deliberately naive model of SPEC section 7 (availability), for property tests.

It steps through time one second at a time: heartbeats are at whole seconds, timeouts are whole
seconds and maintenance windows start and end on whole seconds, so the state of the service is
constant over each second ``[t, t + 1)`` and the model is exact. Levels (fractions of a budget) may
fall inside a second; the model then places the crossing inside that down second, rounded up to
the whole millisecond (SPEC section 1). It shares no code with ``streams``: periods, maintenance,
budgets, thresholds, outcomes and burn rates are all recomputed here from the SPEC's words, with
no incremental state, no heap and no inverse of "downtime reached at".

Instants in and out are epoch **seconds** for inputs and epoch **milliseconds** for crossings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

UP, DEGRADED, DOWN = "up", "degraded", "down"


@dataclass(frozen=True)
class AvPolicy:
    """One policy version's availability block (a single version, in force from ``since_s``)."""

    target: Fraction  # percent
    period: str  # day | week | month
    zone: str
    timeout_s: int
    near: tuple[Fraction, ...] = ()
    weekly: tuple[tuple[int, int, int], ...] = ()  # (weekday Monday=0, start min, end min) local
    windows: tuple[tuple[int, int], ...] = ()  # explicit [start_s, end_s)
    credits: tuple[tuple[Fraction, float], ...] = ()  # (below, percent)
    burn: tuple[tuple[int, int, Fraction], ...] = ()  # (long_s, short_s, factor)
    since_s: int | None = None  # effective_from (None: always)


Beat = tuple[str, int, str, str | None]  # (service, at_s, status, instance)


# ----------------------------------------------------------------------------- calendar pieces


def _midnight(d: date, zone: ZoneInfo) -> int:
    # a local time in a spring-forward gap moves forward by the gap: fold=0 does exactly that
    return int(datetime(d.year, d.month, d.day, tzinfo=zone).timestamp())


def _local_instant(d: date, minute: int, zone: ZoneInfo) -> int:
    d = d + timedelta(days=minute // 1440)
    minute %= 1440
    return int(datetime(d.year, d.month, d.day, minute // 60, minute % 60, tzinfo=zone).timestamp())


def period_of(t_s: int, kind: str, zone: ZoneInfo) -> tuple[int, int]:
    day = datetime.fromtimestamp(t_s, zone).date()
    if kind == "day":
        first, nxt = day, day + timedelta(days=1)
    elif kind == "week":
        first = day - timedelta(days=day.weekday())
        nxt = first + timedelta(days=7)
    else:
        first = day.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
    return _midnight(first, zone), _midnight(nxt, zone)


def maintenance(pol: AvPolicy, lo_s: int, hi_s: int) -> list[tuple[int, int]]:
    """The merged maintenance intervals that meet ``[lo_s, hi_s)``, clipped to it."""
    zone = ZoneInfo(pol.zone)
    pieces = [(s, e) for s, e in pol.windows]
    d = datetime.fromtimestamp(lo_s, zone).date() - timedelta(days=2)
    last = datetime.fromtimestamp(hi_s, zone).date() + timedelta(days=2)
    while d <= last:
        for wd, s, e in pol.weekly:
            if d.weekday() == wd:
                pieces.append((_local_instant(d, s, zone), _local_instant(d, e, zone)))
        d += timedelta(days=1)
    merged: list[list[int]] = []
    for s, e in sorted(pieces):
        s, e = max(s, lo_s), min(e, hi_s)
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def ceil_ms(x: Fraction) -> int:
    return math.ceil(x)


# ----------------------------------------------------------------------------- the model


@dataclass
class PeriodResult:
    start_s: int
    end_s: int
    judged: bool
    counted_s: int = 0  # period length minus maintenance in it
    budget_ms: Fraction = Fraction(0)
    down_ms: int = 0
    degraded_ms: int = 0
    # label -> (kind, level_ms, credit_percent)
    levels: dict[float, tuple[str, int, float | None]] | None = None
    fired: dict[float, tuple[int, int]] | None = None  # label -> (at_ms, downtime_ms then)


def _levels(pol: AvPolicy, counted_s: int) -> tuple[Fraction, dict[float, tuple[str, int,
                                                                             float | None]]]:
    share = 1 - pol.target / 100
    counted_ms = counted_s * 1000
    budget = share * counted_ms
    out: dict[float, tuple[str, int, float | None]] = {}
    for f in pol.near:
        out[float(f)] = ("near_breach", ceil_ms(f * budget), None)
    breach_credit = None
    for below, percent in pol.credits:
        if below == pol.target:
            breach_credit = percent
        else:
            label = round(float((100 - below) / (100 - pol.target)), 6)
            out[label] = ("breach", ceil_ms((1 - below / 100) * counted_ms), percent)
    out[1.0] = ("breach", ceil_ms(budget), breach_credit)
    return budget, out


def service_model(pol: AvPolicy, beats: list[tuple[int, str, str | None]], until_s: int
                  ) -> dict[str, Any]:
    """Everything SPEC section 7 says about one service (its heartbeats in arrival order) under
    one policy, with the detector clock ending at ``until_s``."""
    zone = ZoneInfo(pol.zone)
    applied: list[tuple[int, str, str | None]] = []
    late: list[int] = []
    latest = None
    for i, (at, status, inst) in enumerate(beats):
        if latest is not None and at < latest:
            late.append(i)
            continue
        latest = at
        applied.append((at, status, inst))
    applied = [b for b in applied if b[0] <= until_s]
    result: dict[str, Any] = {"late": late, "periods": [], "burns": []}
    if not applied:
        return result
    first = applied[0][0]
    in_maint = bytearray(until_s + 1 - first)  # per second from ``first``: 1 in maintenance
    for s, e in maintenance(pol, first, until_s + 1):
        in_maint[s - first:e - first] = b"\x01" * (e - s)

    def new_period(t: int) -> PeriodResult:
        s, e = period_of(t, pol.period, zone)
        judged = pol.since_s is None or pol.since_s <= s
        p = PeriodResult(s, e, judged)
        if judged:
            counted = (e - s) - sum(b - a for a, b in maintenance(pol, s, e))
            p.counted_s = counted
            p.budget_ms, p.levels = _levels(pol, counted)
            p.fired = {}
        return p

    periods = [new_period(first)]
    counted_down = []  # per second from ``first``: 1 when it is counted downtime
    instances: dict[str | None, tuple[str, int]] = {}
    k = 0
    for t in range(first, until_s + 1):
        while k < len(applied) and applied[k][0] == t:
            _, status, inst = applied[k]
            instances[inst] = (status, t)
            k += 1
        up_full = any(s == UP and t < b + pol.timeout_s for s, b in instances.values())
        up_deg = any(s == DEGRADED and t < b + pol.timeout_s for s, b in instances.values())
        down = not (up_full or up_deg)
        if t >= periods[-1].end_s:
            periods.append(new_period(t))
        p = periods[-1]
        counts = p.judged and down and not in_maint[t - first]
        # the instant t itself: a level already reached fires now if the service is down
        if counts:
            assert p.levels is not None and p.fired is not None
            for label, (_, level, _) in p.levels.items():
                if label not in p.fired and p.down_ms >= level:
                    p.fired[label] = (t * 1000, p.down_ms)
        if t == until_s:
            break
        if counts:
            assert p.levels is not None and p.fired is not None
            for label, (_, level, _) in p.levels.items():
                if label not in p.fired and p.down_ms < level < p.down_ms + 1000:
                    p.fired[label] = (t * 1000 + level - p.down_ms, level)
            p.down_ms += 1000
        if p.judged and up_deg and not up_full:
            p.degraded_ms += 1000
        counted_down.append(1 if counts else 0)
    result["periods"] = periods

    # burn rates: at every whole UTC minute m, downtime in [m - w, m)
    prefix = [0]
    for c in counted_down:
        prefix.append(prefix[-1] + c)

    def down_between(a: int, b: int) -> int:  # seconds of counted downtime in [a, b)
        a, b = max(a, first), min(b, first + len(counted_down))
        return prefix[b - first] - prefix[a - first] if b > a else 0

    share = 1 - pol.target / 100
    hot = [False] * len(pol.burn)
    m = (first // 60 + 1) * 60
    while m <= until_s:
        if pol.since_s is None or pol.since_s <= m:
            for i, (long_s, short_s, factor) in enumerate(pol.burn):
                now_hot = (down_between(m - long_s, m) >= factor * long_s * share
                           and down_between(m - short_s, m) >= factor * short_s * share)
                if now_hot and not hot[i]:
                    result["burns"].append((float(factor), m * 1000))
                hot[i] = now_hot
        m += 60
    return result


def availability(down_ms: int, counted_s: int) -> float:
    exact = 100 * (1 - Fraction(down_ms, counted_s * 1000))
    value = Decimal(exact.numerator) / Decimal(exact.denominator)
    return float(value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN))


def standing(pol: AvPolicy, beats: list[Beat], until_s: int) -> dict[tuple[Any, ...], Any]:
    """The standing records, normalised: see ``tests/unit/test_availability.normalise``."""
    by_service: dict[str, list[tuple[int, str, str | None]]] = {}
    for service, at, status, inst in beats:
        by_service.setdefault(service, []).append((at, status, inst))
    out: dict[tuple[Any, ...], Any] = {}
    for service, own in by_service.items():
        got = service_model(pol, own, until_s)
        for p in got["periods"]:
            if not p.judged:
                continue
            assert p.levels is not None and p.fired is not None
            for label, (at_ms, down_ms) in p.fired.items():
                kind, _, credit = p.levels[label]
                out[(kind, service, label, p.start_s * 1000)] = {
                    "at": at_ms, "period_end": p.end_s * 1000, "downtime_seconds": down_ms / 1000,
                    "budget_seconds": float(p.budget_ms / 1000), "credit_percent": credit or 0}
            if p.end_s <= until_s:
                credits = [p.levels[label][2] for label in p.fired if p.levels[label][2]]
                out[("outcome", service, None, p.start_s * 1000)] = {
                    "at": p.end_s * 1000, "period_end": p.end_s * 1000,
                    "downtime_seconds": p.down_ms / 1000,
                    "degraded_seconds": p.degraded_ms / 1000,
                    "budget_seconds": float(p.budget_ms / 1000), "met": 1.0 not in p.fired,
                    "credit_percent": max(credits) if credits else 0,
                    "availability": availability(p.down_ms, p.counted_s)}
        for factor, at_ms in got["burns"]:
            key = ("burn_rate", service, factor, at_ms)  # two rules may share a factor
            out[key] = {"count": out.get(key, {"count": 0})["count"] + 1}
    return out
