"""The ``requests`` block of a policy (SPEC section 9): period, budgeting, slices, lateness,
maintenance and the objectives, each checked with every problem at once (the file, the path of
the field and what was expected), as the availability block is."""

from __future__ import annotations

from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from ..policy import OCCURRENCES, TIMESLICES, RequestObjective, Requests
from ..timefmt import DAY_MS, HOUR_MS
from .availability import burn_rules, credits
from .calendars import maintenance
from .checker import Checker, exact, is_number
from .text import show

_BLOCK_KEYS = ("period", "budgeting", "slice", "slice_target", "min_requests", "lateness",
               "maintenance", "objectives")
_OBJECTIVE_KEYS = ("id", "sli", "target", "threshold", "near_breach", "credits", "burn_rate")


def _percent(chk: Checker, value: Any, path: str) -> Fraction | None:
    if not is_number(value) or not 0 < value < 100:
        chk.bad(path, f"{show(value)} is not a percentage in (0, 100) such as 99.9")
        return None
    return exact(value)


def read_requests(chk: Checker, value: Any, path: str, zone: ZoneInfo) -> Requests | None:
    """The requests block at ``path`` (None with problems noted when it is broken)."""
    spec = chk.mapping(value, path, _BLOCK_KEYS)
    ok = len(chk.problems)
    period = spec.get("period", "month")
    if period not in ("month", "week", "day"):
        chk.bad(f"{path}.period", f"{show(period)}: expected month, week or day")
    budgeting = spec.get("budgeting", OCCURRENCES)
    if budgeting not in (OCCURRENCES, TIMESLICES):
        chk.bad(f"{path}.budgeting", f"{show(budgeting)}: expected occurrences or timeslices")
    slice_ms: int | None = 60_000
    slice_target = None
    for key in ("slice", "slice_target"):
        if key in spec and budgeting == OCCURRENCES:
            chk.bad(f"{path}.{key}", "only for budgeting: timeslices (occurrences budget a "
                    "share of the requests, not of the time)")
    if "slice" in spec:
        slice_ms = chk.duration(spec["slice"], f"{path}.slice")
        if slice_ms is not None and (slice_ms % 1000 or DAY_MS % slice_ms):
            chk.bad(f"{path}.slice", f"{show(spec['slice'])}: expected a whole number of "
                    "seconds that divides 24 hours (such as 30s, 1m, 5m or 1h)")
    if "slice_target" in spec:
        slice_target = _percent(chk, spec["slice_target"], f"{path}.slice_target")
    min_requests = spec.get("min_requests", 1)
    if type(min_requests) is not int or min_requests < 1:
        chk.bad(f"{path}.min_requests", f"{show(min_requests)} is not an integer >= 1")
    lateness = HOUR_MS if "lateness" not in spec else chk.duration(
        spec["lateness"], f"{path}.lateness", positive=False)
    windows = maintenance(chk, spec.get("maintenance", []), f"{path}.maintenance", zone)
    objectives = _objectives(chk, spec, path, budgeting, slice_target)
    if len(chk.problems) != ok or slice_ms is None or lateness is None:
        return None
    return Requests(period, budgeting, slice_ms, min_requests, lateness, windows,
                    tuple(objectives))


def _objectives(chk: Checker, spec: dict[str, Any], path: str, budgeting: Any,
                slice_target: Fraction | None) -> list[RequestObjective]:
    if "objectives" not in spec:
        chk.bad(f"{path}.objectives", "missing: expected a list of {id, sli, target, ...}")
        return []
    value = spec["objectives"]
    if not isinstance(value, list) or not value:
        chk.bad(f"{path}.objectives", "expected a non-empty list of {id, sli, target, ...}")
        return []
    out: list[RequestObjective] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        ipath = f"{path}.objectives[{i}]"
        found = _objective(chk, item, ipath, budgeting, slice_target)
        oid = item.get("id") if isinstance(item, dict) else None
        if isinstance(oid, str) and oid:
            if oid in seen:
                chk.bad(f"{ipath}.id", f"{show(oid)} is already the id of "
                        f"{path}.objectives[{seen[oid]}]: ids are unique in a policy")
            seen.setdefault(oid, i)
        if found is not None:
            out.append(found)
    return out


def _objective(chk: Checker, item: Any, path: str, budgeting: Any,
               slice_target: Fraction | None) -> RequestObjective | None:
    spec = chk.mapping(item, path, _OBJECTIVE_KEYS)
    ok = len(chk.problems)
    oid = spec.get("id")
    if not isinstance(oid, str) or not oid:
        chk.bad(f"{path}.id", "missing: expected a non-empty string")
    sli = spec.get("sli")
    if sli not in ("errors", "latency"):
        chk.bad(f"{path}.sli", f"{show(sli)}: expected errors or latency")
    target = _percent(chk, spec.get("target"), f"{path}.target")
    threshold_ms = None
    if sli == "latency":
        if "threshold" not in spec:
            chk.bad(f"{path}.threshold", "missing: a latency objective needs a duration "
                    "such as 300ms")
        else:
            threshold_ms = chk.duration(spec["threshold"], f"{path}.threshold")
    elif "threshold" in spec and sli == "errors":
        chk.bad(f"{path}.threshold", "only for sli: latency")
    fractions, labels = _near_breach(chk, spec, path, budgeting)
    tiers = credits(chk, spec.get("credits", []), f"{path}.credits",
                    target if target is not None else Fraction(100))
    rules = burn_rules(chk, spec.get("burn_rate"), f"{path}.burn_rate")
    if len(chk.problems) != ok or target is None:
        return None
    assert isinstance(oid, str) and isinstance(sli, str)
    text = spec.get("threshold")
    return RequestObjective(oid, sli, target, threshold_ms, None if text is None else str(text),
                     fractions, labels, tiers, rules,
                     slice_target if slice_target is not None else target)


def _near_breach(chk: Checker, spec: dict[str, Any], path: str, budgeting: Any
                 ) -> tuple[tuple[Fraction, ...], tuple[float, ...]]:
    near = spec.get("near_breach", [])
    if "near_breach" in spec and budgeting == OCCURRENCES:
        chk.bad(f"{path}.near_breach", "not allowed with budgeting: occurrences (a ratio can "
                "recover until the period ends: burn rates warn instead)")
        return (), ()
    if not isinstance(near, list):
        chk.bad(f"{path}.near_breach", "expected a list of fractions in (0, 1) of the budget")
        return (), ()
    fractions, labels = [], []
    for i, f in enumerate(near):
        if not is_number(f) or not 0 < f < 1:
            chk.bad(f"{path}.near_breach[{i}]",
                    f"{show(f)} is not a fraction in (0, 1) of the budget")
        else:
            fractions.append(exact(f))
            labels.append(float(f))
    if len(set(fractions)) != len(fractions):
        chk.bad(f"{path}.near_breach", "an entry is given twice")
    return tuple(fractions), tuple(labels)
