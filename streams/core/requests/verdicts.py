"""What a period of a request objective publishes (SPEC section 9), computed from its counters
alone: its threshold records, the breach and missed credit tiers of occurrences at its end, and
its outcome. ``PeriodCounts`` holds the counters; ``standing`` is the whole set, afresh."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..availability.foldstate import Fired
from ..availability.periods import Level, credit_multiple
from ..policy import TIMESLICES, PolicyVersion, RequestObjective, Requests
from .records import RequestCount
from .slices import slice_bounds

Key = tuple[Any, ...]


def counted(rec: RequestCount, objective: RequestObjective) -> tuple[int, int] | None:
    """(good, total) of ``rec`` for ``objective``; None when it does not count for it (a
    latency objective and a record with neither ``duration_ms`` nor that bucket)."""
    if objective.sli == "errors":
        return rec.total - rec.errors, rec.total
    assert objective.threshold_ms is not None
    good = rec.within(objective.threshold_ms)
    return None if good is None else (good, rec.total)


def ratio(good: int, total: int) -> float | None:
    """``good / total`` rounded half up to 6 decimals; None with no request."""
    if total == 0:
        return None
    return int(Fraction(good, total) * 1_000_000 + Fraction(1, 2)) / 1_000_000


@dataclass(eq=False, slots=True)
class PeriodCounts:
    """One period of one objective: its counters and what it published."""

    start: int
    end: int
    version: PolicyVersion | None  # in force at its start (None: not judged)
    block: Requests | None
    objective: RequestObjective | None
    good: int = 0
    total: int = 0
    ended: bool = False
    # timeslices
    excluded: tuple[tuple[int, int], ...] = ()
    slices: int = 0  # slices that intersect no maintenance
    budget: Fraction = Fraction(0)  # bad-time budget, ms
    levels: tuple[Level, ...] = ()
    cells: dict[int, list[int]] = field(default_factory=dict)  # slice -> [good, total]
    bad: dict[int, int] = field(default_factory=dict)  # bad slice -> its span (ms)
    bad_ms: int = 0
    fired: int = 0  # how many of ``levels`` (lowest first) fired
    published: dict[Key, Fired] = field(default_factory=dict)

    @property
    def timeslices(self) -> bool:
        return self.block is not None and self.block.budgeting == TIMESLICES


def standing(p: PeriodCounts) -> dict[Key, Fired]:
    """Every record of the period, computed afresh from its counters (timeslices: its bad
    time and fired levels are set again from its bad slices)."""
    res: dict[Key, Fired] = {}
    objective = p.objective
    if objective is None:
        return res
    if p.timeslices:
        assert p.block is not None
        cum, i, levels = 0, 0, p.levels
        for k in sorted(p.bad):
            cum += p.bad[k]
            while i < len(levels) and cum >= levels[i].ms:
                end = slice_bounds(k, p.start, p.end, p.block.slice_ms)[1]
                f = threshold(p, levels[i], end, cum)
                res[f.key] = f
                i += 1
        p.bad_ms, p.fired = cum, i
    elif p.ended:
        for f in missed(p):
            res[f.key] = f
    if p.ended:
        f = outcome(p)
        res[f.key] = f
    return res


def fields_of(p: PeriodCounts) -> dict[str, Any]:
    """The fields every record of the period carries (and its counts so far)."""
    assert p.objective is not None
    fields: dict[str, Any] = {"target": float(p.objective.target),
                              "period_start": p.start, "period_end": p.end}
    if p.timeslices:
        fields["bad_seconds"] = p.bad_ms / 1000
        fields["budget_seconds"] = float(p.budget / 1000)
    else:
        fields["good"], fields["total"] = p.good, p.total
    return fields


def threshold(p: PeriodCounts, level: Level, at: int, bad_ms: int) -> Fired:
    """A timeslices level reached at ``at``, the end of the slice that took bad time to
    ``bad_ms``."""
    assert p.version is not None and p.objective is not None
    fields = {"threshold": level.label, **fields_of(p), "bad_seconds": bad_ms / 1000}
    if level.credit_percent is not None:
        fields["credit_percent"] = level.credit_percent
    return Fired(level.kind, "requests", at, (p.start, level.kind, level.label), fields,
                 p.version)

def missed(p: PeriodCounts) -> list[Fired]:
    """Occurrences at the period's end: the breach and each missed credit tier."""
    objective, version = p.objective, p.version
    assert objective is not None and version is not None
    good, total, target = p.good, p.total, objective.target
    out = []
    tiers = {t.below: t.percent for t in objective.credits}
    breach_credit = tiers.pop(target, None)
    if 100 * good < target * total:
        fields = {"threshold": 1.0, **fields_of(p)}
        if breach_credit is not None:
            fields["credit_percent"] = breach_credit
        out.append(Fired("breach", "requests", p.end, (p.start, "breach", 1.0), fields,
                         version))
    for below, percent in tiers.items():
        if 100 * good < below * total:
            label = credit_multiple(below, target)
            fields = {"threshold": label, **fields_of(p), "credit_percent": percent}
            out.append(Fired("breach", "requests", p.end, (p.start, "breach", label),
                             fields, version))
    return out


def outcome(p: PeriodCounts) -> Fired:
    """The period's outcome: met, ratio, the greatest credit reached (timeslices: slices)."""
    objective, version = p.objective, p.version
    assert objective is not None and version is not None
    fields = fields_of(p)
    if p.timeslices:
        fired = p.levels[:p.fired]
        met = not any(lv.label == 1.0 and lv.kind == "breach" for lv in fired)
        credits = [lv.credit_percent for lv in fired if lv.credit_percent is not None]
        fields["slices"], fields["bad_slices"] = p.slices, len(p.bad)
    else:
        tiers = missed(p)
        met = not any(f.fields["threshold"] == 1.0 for f in tiers)
        credits = [f.fields["credit_percent"] for f in tiers if "credit_percent" in f.fields]
    fields["met"] = met
    fields["ratio"] = ratio(p.good, p.total)
    fields["credit_percent"] = max(credits) if credits else 0
    return Fired("outcome", "requests", p.end, (p.start, "outcome"), fields, version)
