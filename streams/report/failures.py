"""The failure-rate figures of a group: of its request objectives (SPEC section 9) and of its
availability outages (SPEC section 5, ``outages``). Pure: records in, raw figures out (``kpis``
rounds them and puts them in its rows; the definitions are in the docstring of
``streams.report``).

Their columns are in a report only when it has the records they are made of, so a report of
other records is what it was: ``OBJECTIVE_COLUMNS`` when a request objective's record stands,
``OUTAGE_COLUMNS`` when an availability outcome carries ``outages``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from streams.report.records import Rec, is_objective_record

Figures = dict[str, float | int | None]

#: The figures of a group's request objectives, after the other columns.
OBJECTIVE_COLUMNS: Final = (
    "requests_periods", "requests_met", "requests_compliance_percent",
    "requests_errors_total", "requests_errors_good", "requests_error_rate_percent",
    "requests_latency_total", "requests_latency_good", "requests_latency_good_percent",
    "requests_burn_max_percent", "requests_credit_periods", "requests_credit_max_percent",
)
#: The figures of a group's availability outages.
OUTAGE_COLUMNS: Final = ("outage_periods", "outages", "outages_per_period", "mtbf_s",
                         "mean_outage_s")
#: The columns that are counts (``formats.parse_csv`` reads them back as integers).
COUNT_COLUMNS: Final = frozenset({"requests_errors_total", "requests_errors_good",
                                  "requests_latency_total", "requests_latency_good", "outages"})


def _percent(part: float, whole: float) -> float | None:
    return 100 * part / whole if whole else None


def is_objective_outcome(rec: Rec) -> bool:
    """Whether ``rec`` is the outcome of a request objective's period."""
    return rec.kind == "outcome" and rec.metric == "requests"


def has_objectives(records: Sequence[Rec]) -> bool:
    """Whether a request objective's record stands among ``records`` (its columns are shown)."""
    return any(is_objective_record(r) for r in records)


def has_outages(records: Sequence[Rec]) -> bool:
    """Whether an availability outcome among ``records`` carries ``outages``."""
    return any(_outage_period(r) for r in records)


def _outage_period(rec: Rec) -> bool:
    return rec.kind == "outcome" and rec.metric == "availability" and rec.outages is not None


def budget_burn_percent(rec: Rec) -> float | None:
    """The share of its error budget that a request objective's period spent, in percent.

    Occurrences: ``100 × bad / budget`` where ``bad = total - good`` and the budget is the bad
    requests the target allows, ``(1 - target/100) × total``; a period with no request spent
    nothing (0, as a window without requests burns 0: SPEC section 9). Timeslices: ``100 ×
    bad_seconds / budget_seconds``; ``None`` for a period without a budget (all maintenance)."""
    if rec.budgeting == "timeslices":
        if rec.bad_s is None or not rec.budget_s:
            return None
        return 100 * rec.bad_s / rec.budget_s
    if rec.good is None or rec.total is None or rec.target is None or not 0 < rec.target < 100:
        return None
    if rec.total == 0:
        return 0.0
    return 100 * 100 * (rec.total - rec.good) / ((100 - rec.target) * rec.total)


def objective_figures(records: Sequence[Rec]) -> Figures:
    """``OBJECTIVE_COLUMNS`` of one group: over its request objectives' period outcomes, the
    share met, the requests pooled per kind of SLI (occurrences: ``Σ good / Σ total``; a
    timeslices period publishes no counts), the worst period's budget burn and the credits."""
    periods = [r for r in records if is_objective_outcome(r)]
    met = sum(1 for r in periods if r.met)
    pooled: dict[str, list[int]] = {"errors": [0, 0], "latency": [0, 0]}
    for r in periods:
        if r.sli in pooled and r.good is not None and r.total is not None:
            pooled[r.sli][0] += r.good
            pooled[r.sli][1] += r.total
    (errors_good, errors_total), (latency_good, latency_total) = (pooled["errors"],
                                                                   pooled["latency"])
    burns = [b for r in periods if (b := budget_burn_percent(r)) is not None]
    return {
        "requests_periods": len(periods), "requests_met": met,
        "requests_compliance_percent": _percent(met, len(periods)),
        "requests_errors_total": errors_total, "requests_errors_good": errors_good,
        "requests_error_rate_percent": _percent(errors_total - errors_good, errors_total),
        "requests_latency_total": latency_total, "requests_latency_good": latency_good,
        "requests_latency_good_percent": _percent(latency_good, latency_total),
        "requests_burn_max_percent": max(burns, default=None),
        "requests_credit_periods": sum(1 for r in periods if r.credit_percent > 0),
        "requests_credit_max_percent": max((r.credit_percent for r in periods), default=None),
    }


def counted_length_s(rec: Rec) -> float | None:
    """An availability period's length without maintenance, from its budget and target."""
    if rec.budget_s is None or rec.target is None or not 0 < rec.target < 100:
        return None
    return rec.budget_s / (1 - rec.target / 100)


def up_time_s(rec: Rec) -> float:
    """An availability period's up time: its counted length (its whole length for a record
    without budget and target) minus its downtime."""
    length = counted_length_s(rec)
    if length is None:
        assert rec.period_start_ms is not None and rec.period_end_ms is not None
        length = (rec.period_end_ms - rec.period_start_ms) / 1000
    return length - (rec.downtime_s or 0.0)


def outage_figures(records: Sequence[Rec]) -> Figures:
    """``OUTAGE_COLUMNS`` of one group, over its availability outcomes that carry ``outages``:
    ``outages`` summed, per period, the mean time between failures ``Σ up time / Σ outages``
    and the mean outage ``Σ downtime / Σ outages`` (``None`` without an outage)."""
    periods = [r for r in records if _outage_period(r)]
    outages = sum(r.outages or 0 for r in periods)
    return {
        "outage_periods": len(periods), "outages": outages,
        "outages_per_period": outages / len(periods) if periods else None,
        "mtbf_s": sum(up_time_s(r) for r in periods) / outages if outages else None,
        "mean_outage_s": sum(r.downtime_s or 0.0 for r in periods) / outages if outages else None,
    }
