"""The availability block of a policy (SPEC section 7): target, period, heartbeat timeout,
near-breach fractions of the budget, maintenance, credit tiers and burn-rate rules."""

from __future__ import annotations

from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from ..policy import Availability, BurnRule, CreditTier
from .calendars import maintenance
from .checker import Checker, exact, is_number
from .text import show

DEFAULT_BURN_RATE = (
    ("1h", "5m", 14.4),
    ("6h", "30m", 6),
    ("3d", "6h", 1),
)


def read_availability(chk: Checker, value: Any, path: str, zone: ZoneInfo) -> Availability | None:
    """The availability block at ``path`` (None with problems noted when it is broken)."""
    allowed = ("target", "period", "heartbeat_timeout", "near_breach", "maintenance", "credits",
               "burn_rate")
    spec = chk.mapping(value, path, allowed)
    ok = len(chk.problems)
    target = spec.get("target")
    if not is_number(target) or not 0 < target < 100:
        chk.bad(f"{path}.target",
                 f"{show(target)} is not a percentage in (0, 100) such as 99.9")
        target = 99.9
    period = spec.get("period", "month")
    if period not in ("month", "week", "day"):
        chk.bad(f"{path}.period", f"{show(period)}: expected month, week or day")
    timeout = None
    if "heartbeat_timeout" not in spec:
        chk.bad(f"{path}.heartbeat_timeout", "missing: expected a duration such as 90s")
    else:
        timeout = chk.duration(spec["heartbeat_timeout"], f"{path}.heartbeat_timeout")
    fractions, labels = [], []
    near = spec.get("near_breach", [])
    if not isinstance(near, list):
        chk.bad(f"{path}.near_breach", "expected a list of fractions in (0, 1) of the budget")
        near = []
    for i, f in enumerate(near):
        if not is_number(f) or not 0 < f < 1:
            chk.bad(f"{path}.near_breach[{i}]",
                     f"{show(f)} is not a fraction in (0, 1) of the budget")
        else:
            fractions.append(exact(f))
            labels.append(float(f))
    windows = maintenance(chk, spec.get("maintenance", []), f"{path}.maintenance", zone)
    tiers = credits(chk, spec.get("credits", []), f"{path}.credits", exact(target))
    rules = burn_rules(chk, spec.get("burn_rate"), f"{path}.burn_rate")
    if len(chk.problems) != ok or timeout is None:
        return None
    return Availability(exact(target), period, timeout, tuple(fractions), tuple(labels),
                        windows, tiers, rules)


def credits(chk: Checker, value: Any, path: str, target: Fraction) -> tuple[CreditTier, ...]:
    """The credit tiers, highest ``below`` first: each ``below`` at most the target, and the
    credit never less for a tier whose ``below`` is lower (the worse the month, the more
    credit: ``below`` values fall as their percents rise)."""
    out = []
    written: dict[CreditTier, int] = {}  # tier -> its index as written
    if not isinstance(value, list):
        chk.bad(path, "expected a list of {below, percent}")
        return ()
    for i, item in enumerate(value):
        ipath = f"{path}[{i}]"
        item = chk.mapping(item, ipath, ("below", "percent"))
        below, percent = item.get("below"), item.get("percent")
        good = True
        if not is_number(below) or not 0 < below < 100:
            chk.bad(f"{ipath}.below", f"{show(below)} is not a percentage in (0, 100)")
            good = False
        elif exact(below) > target:
            chk.bad(f"{ipath}.below", f"{below} is above the target {float(target)}: a credit "
                     "tier's below is at most the target")
            good = False
        if not is_number(percent) or not 0 < percent <= 100:
            chk.bad(f"{ipath}.percent",
                     f"{show(percent)} is not a credit percentage in (0, 100]")
            good = False
        if good:
            assert is_number(below) and is_number(percent)  # good: both were checked above
            tier = CreditTier(exact(below), float(percent))
            written.setdefault(tier, i)
            out.append(tier)
    if len({t.below for t in out}) != len(out):
        chk.bad(path, "two tiers have the same below")
        return tuple(sorted(out, key=lambda t: t.below, reverse=True))
    tiers = tuple(sorted(out, key=lambda t: t.below, reverse=True))
    for higher, lower in zip(tiers, tiers[1:], strict=False):
        if lower.percent < higher.percent:
            chk.bad(f"{path}[{written[lower]}].percent",
                    f"{lower.percent:g}% for below {float(lower.below):g} is less than the "
                    f"{higher.percent:g}% of {path}[{written[higher]}] (below "
                    f"{float(higher.below):g}): a tier with a lower below gives at least as "
                    "much credit (below values fall as their percents rise)")
    return tiers


def burn_rules(chk: Checker, value: Any, path: str) -> tuple[BurnRule, ...]:
    """The burn-rate rules: ``default`` (the SRE workbook's three) or a list of them."""
    if value is None:
        return ()
    if value == "default":
        value = [{"long": lg, "short": sh, "factor": f} for lg, sh, f in DEFAULT_BURN_RATE]
    if not isinstance(value, list):
        chk.bad(path, "expected \"default\" or a list of {long, short, factor}")
        return ()
    out = []
    for i, item in enumerate(value):
        ipath = f"{path}[{i}]"
        item = chk.mapping(item, ipath, ("long", "short", "factor"))
        long_ms = chk.duration(item.get("long"), f"{ipath}.long")
        short_ms = chk.duration(item.get("short"), f"{ipath}.short")
        factor = item.get("factor")
        if not is_number(factor) or factor <= 0:
            chk.bad(f"{ipath}.factor", f"{show(factor)} is not a positive number")
            continue
        if long_ms is None or short_ms is None:
            continue
        if short_ms > long_ms:
            chk.bad(ipath, "the short window must not be longer than the long one")
            continue
        if long_ms % 60000 or short_ms % 60000:
            chk.bad(ipath, "windows must be whole minutes")
            continue
        out.append(BurnRule(long_ms, short_ms, exact(factor), float(factor)))
    return tuple(out)
