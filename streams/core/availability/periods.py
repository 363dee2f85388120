"""Availability periods (SPEC section 7): the calendar month, week or day holding an instant in
the policy's zone, its counted time (maintenance excluded), its downtime budget and the levels
at which its thresholds fire."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from ..policy import PolicyVersion


def ceil_ms(x: Fraction) -> int:
    """``x`` milliseconds rounded up to a whole one."""
    return -(-x.numerator // x.denominator)


def availability_percent(down_ms: int, counted_ms: int) -> float:
    """The availability of a period so far, in percent to 6 decimals, as records write it."""
    if counted_ms <= 0:
        return 100.0
    return round(100 * (1 - down_ms / counted_ms), 6)


def period_bounds(at: int, version: PolicyVersion) -> tuple[int, int]:
    """The ``[start, end)`` of the period holding ``at`` in the version's zone and period kind."""
    av = version.availability
    assert av is not None
    zone = version.calendar.zone
    local = datetime.fromtimestamp(at / 1000, zone)
    if av.period == "month":
        first = (local.year, local.month)
        following = (local.year + local.month // 12, local.month % 12 + 1)
        start = datetime(first[0], first[1], 1, tzinfo=zone)
        end = datetime(following[0], following[1], 1, tzinfo=zone)
    else:
        day = local.date()
        if av.period == "week":
            day -= timedelta(days=day.weekday())
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        nxt = day + timedelta(days=7 if av.period == "week" else 1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
    return round(start.timestamp() * 1000), round(end.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Level:
    """One availability threshold of a period: the downtime (ms) at which it fires."""

    ms: int
    label: float  # the fraction, 1.0 for the breach, the budget multiple for a credit tier
    kind: str  # near_breach | breach
    credit_percent: float | None


@dataclass(slots=True)
class Period:
    start: int
    end: int
    version: PolicyVersion
    counted_ms: int  # period length minus maintenance
    budget: Fraction  # ms
    levels: tuple[Level, ...]


def make_period(start: int, end: int, version: PolicyVersion) -> Period:
    """The period ``[start, end)`` under ``version``: counted time, budget, levels lowest first."""
    av = version.availability
    assert av is not None
    counted = (end - start) - av.maintenance.between(start, end)
    share = 1 - av.target / 100
    budget = share * counted
    tiers = {t.below: t.percent for t in av.credits}
    breach_credit = tiers.pop(av.target, None)
    levels = [Level(ceil_ms(f * budget), label, "near_breach", None)
              for f, label in zip(av.near_breach, av.near_breach_labels, strict=True)]
    levels.append(Level(ceil_ms(budget), 1.0, "breach", breach_credit))
    for below, percent in tiers.items():
        multiple = round(float((100 - below) / (100 - av.target)), 6)
        levels.append(Level(ceil_ms((1 - below / 100) * counted), multiple, "breach", percent))
    levels.sort(key=lambda lv: (lv.ms, lv.label))
    return Period(start, end, version, counted, budget, tuple(levels))
