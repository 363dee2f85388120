"""Availability periods (SPEC section 7): the calendar month, week or day holding an instant in
the policy's zone, its counted time (maintenance excluded), its downtime budget and the levels
at which its thresholds fire."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from fractions import Fraction

from ..policy import CreditTier, PolicyVersion


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
    return calendar_period(at, version.calendar.zone, av.period)


def calendar_period(at: int, zone: tzinfo, kind: str) -> tuple[int, int]:
    """The ``[start, end)`` of the calendar month, week (Monday 00:00) or day holding ``at`` in
    ``zone`` (a DST day has 23 or 25 hours); request objectives share it (SPEC section 9)."""
    local = datetime.fromtimestamp(at / 1000, zone)
    if kind == "month":
        first = (local.year, local.month)
        following = (local.year + local.month // 12, local.month % 12 + 1)
        start = datetime(first[0], first[1], 1, tzinfo=zone)
        end = datetime(following[0], following[1], 1, tzinfo=zone)
    else:
        day = local.date()
        if kind == "week":
            day -= timedelta(days=day.weekday())
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        nxt = day + timedelta(days=7 if kind == "week" else 1)
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
    budget = (1 - av.target / 100) * counted
    levels = threshold_levels(counted, av.target, av.near_breach, av.near_breach_labels,
                              av.credits)
    return Period(start, end, version, counted, budget, levels)


def threshold_levels(counted: int, target: Fraction, near_breach: tuple[Fraction, ...],
                     labels: tuple[float, ...], credits: tuple[CreditTier, ...]
                     ) -> tuple[Level, ...]:
    """The levels (ms, lowest first) of a budget ``(1 - target/100) x counted``: each near-breach
    fraction of it, the breach (with the credit of a tier whose ``below`` is the target), and each
    credit tier at ``(1 - below/100) x counted``, labelled by its multiple of the budget. Downtime
    (SPEC section 7) and the bad time of timeslices (section 9) share them."""
    budget = (1 - target / 100) * counted
    tiers = {t.below: t.percent for t in credits}
    breach_credit = tiers.pop(target, None)
    levels = [Level(ceil_ms(f * budget), label, "near_breach", None)
              for f, label in zip(near_breach, labels, strict=True)]
    levels.append(Level(ceil_ms(budget), 1.0, "breach", breach_credit))
    for below, percent in tiers.items():
        levels.append(Level(ceil_ms((1 - below / 100) * counted), credit_multiple(below, target),
                            "breach", percent))
    levels.sort(key=lambda lv: (lv.ms, lv.label))
    return tuple(levels)


def credit_multiple(below: Fraction, target: Fraction) -> float:
    """A credit tier's threshold as records write it: ``(100 - below) / (100 - target)``, the
    multiple of the budget, to 6 decimals (SPEC section 5)."""
    return round(float((100 - below) / (100 - target)), 6)
