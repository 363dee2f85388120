"""The figures of a report: KPI rows per group, one row per availability period and per request
objective's period, compliance per period; ``build_report`` makes them all from what stands (the
definitions are in the docstring of ``streams.report``). Pure: records in, rows out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from streams.core.timefmt import format_instant
from streams.report.failures import (
    OBJECTIVE_COLUMNS,
    OUTAGE_COLUMNS,
    budget_burn_percent,
    counted_length_s,
    has_objectives,
    has_outages,
    is_objective_outcome,
    objective_figures,
    outage_figures,
)
from streams.report.options import ReportOptions
from streams.report.records import INCIDENT_METRICS, Rec, Standing, is_incident_metric

OUTCOME_METRICS: Final = ("response", "resolution", "availability")
NONE: Final = "-"  # the group value of a record without that field (availability: no customer)

Cell = str | int | float | bool | None
Row = dict[str, Cell]


def nearest_rank(values: Sequence[float], p: int) -> float | None:
    """The ``p``-th percentile by nearest rank: rank ``ceil(p/100 * n)`` of the sorted values
    (exact integer arithmetic, so 90 % of 10 is rank 9, not 10); ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-p * len(ordered) // 100))
    return ordered[rank - 1]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _percent(part: float, whole: float) -> float | None:
    return 100 * part / whole if whole else None


def period_label(ms: int, period: str) -> str:
    """The UTC period holding ``ms``: ``2027-03`` (month), ``2027-W10`` (ISO week, from
    Monday), ``2027-03-10`` (day). Labels of one kind sort in time order."""
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    if period == "month":
        return f"{when.year:04d}-{when.month:02d}"
    if period == "week":
        year, week, _ = when.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return f"{when.year:04d}-{when.month:02d}-{when.day:02d}"


def _group_value(rec: Rec, dim: str, ref_ms: int | None, period: str) -> str:
    if dim == "period":
        return NONE if ref_ms is None else period_label(ref_ms, period)
    value = rec.policy_id if dim == "policy" else getattr(rec, dim)
    return NONE if value is None else str(value)


def _time_columns(name: str) -> list[str]:
    return [f"{name}_n", f"{name}_work_mean_s", f"{name}_work_p50_s", f"{name}_work_p90_s",
            f"{name}_wall_n", f"{name}_wall_mean_s", f"{name}_wall_p50_s", f"{name}_wall_p90_s"]


#: The figures of a group, in column order (after the group's own columns).
KPI_COLUMNS: Final = (
    "incidents", "breaches", "near_breaches",
    "response_outcomes", "response_met", "response_compliance_percent",
    "resolution_outcomes", "resolution_met", "resolution_compliance_percent",
    "availability_periods", "availability_met", "availability_compliance_percent",
    "compliance_percent",
    *_time_columns("mtta"), *_time_columns("mttr"),
    "availability_percent", "availability_min_percent", "downtime_s", "budget_s",
    "budget_burn_percent", "credit_periods", "credit_max_percent",
)
#: The rows of ``period_rows``: one per availability outcome (service, policy, period).
PERIOD_COLUMNS: Final = (
    "service", "policy", "policy_period", "period_start", "period_end", "target_percent",
    "availability_percent", "downtime_s", "degraded_s", "budget_s", "budget_burn_percent", "met",
    "credit_percent",
)
#: The rows of ``objective_period_rows``: one per request objective's period outcome.
OBJECTIVE_PERIOD_COLUMNS: Final = (
    "service", "customer", "policy", "objective", "sli", "budgeting", "policy_period",
    "period_start", "period_end", "target_percent", "good", "total", "ratio", "bad_time_s",
    "budget_s", "budget_burn_percent", "met", "credit_percent",
)
#: The metrics whose breach records above the budget (threshold > 1) are credit tiers.
_TIERED: Final = ("availability", "requests")


def custom_clocks(records: Sequence[Rec]) -> tuple[str, ...]:
    """The custom clocks (SPEC 4.1) that records of ``records`` name, sorted."""
    return tuple(sorted({str(r.metric) for r in records if is_incident_metric(r.metric)
                         and r.metric not in INCIDENT_METRICS}))


def clock_columns(clock: str) -> list[str]:
    """The figures of one custom clock: its compliance, and the time to its stop (e.g. the
    time to on-site: ``on_site_time_work_mean_s``), as for MTTA and MTTR."""
    return [f"{clock}_outcomes", f"{clock}_met", f"{clock}_compliance_percent",
            *_time_columns(f"{clock}_time")]


def kpi_columns(clocks: Sequence[str] = (), objectives: bool = False,
                outages: bool = False) -> tuple[str, ...]:
    """``KPI_COLUMNS``, then the columns of each custom clock of the report, then (when asked)
    those of the outages and of the request objectives."""
    return (*KPI_COLUMNS, *(c for clock in clocks for c in clock_columns(clock)),
            *(OUTAGE_COLUMNS if outages else ()), *(OBJECTIVE_COLUMNS if objectives else ()))


def _times(outcomes: Sequence[Rec], name: str) -> Row:
    work = [r.elapsed_s for r in outcomes if r.elapsed_s is not None]
    wall = [(r.at_ms - r.opened_at_ms) / 1000 for r in outcomes
            if r.at_ms is not None and r.opened_at_ms is not None]
    return {f"{name}_n": len(work), f"{name}_work_mean_s": _mean(work),
            f"{name}_work_p50_s": nearest_rank(work, 50),
            f"{name}_work_p90_s": nearest_rank(work, 90),
            f"{name}_wall_n": len(wall), f"{name}_wall_mean_s": _mean(wall),
            f"{name}_wall_p50_s": nearest_rank(wall, 50),
            f"{name}_wall_p90_s": nearest_rank(wall, 90)}


def count_column(metric: str) -> str:
    """The column of a metric's number of outcomes: an availability or a request objective's
    outcome is a period."""
    if metric in ("availability", "requests"):
        return f"{metric}_periods"
    return f"{metric}_outcomes"


def kpis(records: Sequence[Rec], clocks: Sequence[str] = (), objectives: bool = False,
         outages: bool = False) -> Row:
    """The figures of one group of standing records (``kpi_columns(clocks, objectives,
    outages)``): the overall compliance counts the outcomes of the custom ``clocks`` and of the
    request objectives too."""
    row: Row = {"incidents": len({r.incident_id for r in records if r.incident_id is not None}),
                "breaches": sum(1 for r in records if r.kind == "breach" and not (
                    r.metric in _TIERED and isinstance(r.threshold, float)
                    and r.threshold > 1)),
                "near_breaches": sum(1 for r in records if r.kind == "near_breach")}
    outcomes = {m: [r for r in records if r.kind == "outcome" and r.metric == m]
                for m in (*OUTCOME_METRICS, *clocks)}
    all_met = all_n = 0
    for metric, found in outcomes.items():
        met = sum(1 for r in found if r.met)
        row[count_column(metric)], row[f"{metric}_met"] = len(found), met
        row[f"{metric}_compliance_percent"] = _percent(met, len(found))
        all_met, all_n = all_met + met, all_n + len(found)
    requests = [r for r in records if is_objective_outcome(r)]
    all_met, all_n = all_met + sum(1 for r in requests if r.met), all_n + len(requests)
    row["compliance_percent"] = _percent(all_met, all_n)
    row |= _times(outcomes["response"], "mtta") | _times(outcomes["resolution"], "mttr")
    for clock in clocks:
        row |= _times(outcomes[clock], f"{clock}_time")
    periods = outcomes["availability"]
    down = sum(r.downtime_s or 0.0 for r in periods)
    budget = sum(r.budget_s or 0.0 for r in periods)
    lengths = [(r.downtime_s or 0.0, n) for r in periods if (n := counted_length_s(r))]
    unavailable = _percent(sum(d for d, _ in lengths), sum(n for _, n in lengths))
    row["availability_percent"] = None if unavailable is None else 100 - unavailable
    row["availability_min_percent"] = min((r.availability for r in periods
                                           if r.availability is not None), default=None)
    row["downtime_s"] = down if periods else None
    row["budget_s"] = budget if periods else None
    row["budget_burn_percent"] = _percent(down, budget) if periods else None
    row["credit_periods"] = sum(1 for r in periods if r.credit_percent > 0)
    row["credit_max_percent"] = max((r.credit_percent for r in periods), default=None)
    if outages:
        row |= outage_figures(records)
    if objectives:
        row |= objective_figures(records)
    return {column: _rounded(row[column]) for column in kpi_columns(clocks, objectives, outages)}


def _rounded(value: Cell) -> Cell:
    """Floats to 6 decimals: the SPEC's precision, and no ``99.15966386554622`` noise."""
    return round(value, 6) if isinstance(value, float) else value


def kpi_rows(standing: Standing, by: Sequence[str], period: str = "month") -> list[Row]:
    """One row per group of the standing records: the group's values, then ``KPI_COLUMNS``, the
    columns of every custom clock the records name, and those of the outages and the request
    objectives when records of them stand. Groups in sorted order; a record without the field is
    in the group ``-``."""
    clocks = custom_clocks(standing.records)
    objectives, outages = has_objectives(standing.records), has_outages(standing.records)
    groups: dict[tuple[str, ...], list[Rec]] = {}
    for rec in standing.records:
        ref_ms = standing.reference_ms.get(rec.alert_id)
        key = tuple(_group_value(rec, dim, ref_ms, period) for dim in by)
        groups.setdefault(key, []).append(rec)
    return [{**dict(zip(by, key, strict=True)), **kpis(groups[key], clocks, objectives, outages)}
            for key in sorted(groups, key=lambda k: [(v == NONE, v) for v in k])]


def period_rows(standing: Standing, period: str = "month") -> list[Row]:
    """One row per availability outcome: the (service, policy, period) with its credit."""
    rows = []
    for r in standing.records:
        if r.kind != "outcome" or r.metric != "availability":
            continue
        assert r.period_start_ms is not None and r.period_end_ms is not None
        ref_ms = standing.reference_ms.get(r.alert_id)
        rows.append({
            "service": r.service, "policy": r.policy_id,
            "policy_period": NONE if ref_ms is None else period_label(ref_ms, period),
            "period_start": format_instant(r.period_start_ms),
            "period_end": format_instant(r.period_end_ms),
            "target_percent": r.target, "availability_percent": r.availability,
            "downtime_s": r.downtime_s, "degraded_s": r.degraded_s, "budget_s": r.budget_s,
            "budget_burn_percent": _rounded(_percent(r.downtime_s or 0.0, r.budget_s or 0.0)),
            "met": r.met, "credit_percent": r.credit_percent,
        })
    rows.sort(key=lambda row: (str(row["service"]), str(row["policy"]), str(row["period_start"])))
    return rows


def objective_period_rows(standing: Standing, period: str = "month") -> list[Row]:
    """One row per request objective's period outcome: its counts (occurrences) or bad time
    (timeslices), its budget burn and its credit."""
    rows = []
    for r in standing.records:
        if not is_objective_outcome(r):
            continue
        assert r.period_start_ms is not None and r.period_end_ms is not None
        ref_ms = standing.reference_ms.get(r.alert_id)
        rows.append({
            "service": r.service, "customer": NONE if r.customer is None else r.customer,
            "policy": r.policy_id,
            "objective": r.objective, "sli": r.sli, "budgeting": r.budgeting,
            "policy_period": NONE if ref_ms is None else period_label(ref_ms, period),
            "period_start": format_instant(r.period_start_ms),
            "period_end": format_instant(r.period_end_ms),
            "target_percent": r.target, "good": r.good, "total": r.total, "ratio": r.ratio,
            "bad_time_s": r.bad_s, "budget_s": r.budget_s if r.budgeting == "timeslices" else None,
            "budget_burn_percent": _rounded(budget_burn_percent(r)), "met": r.met,
            "credit_percent": r.credit_percent,
        })
    rows.sort(key=lambda row: tuple(str(row[c] or "") for c in (
        "service", "customer", "policy", "objective", "period_start")))
    return rows


@dataclass(frozen=True)
class CompliancePoint:
    """Compliance of one metric (or ``overall``) in one report period."""

    period: str
    metric: str
    met: int
    outcomes: int

    @property
    def percent(self) -> float:
        return 100 * self.met / self.outcomes


def compliance_series(standing: Standing, period: str = "month") -> list[CompliancePoint]:
    """Compliance per report period and metric, and overall, in time order."""
    counts: dict[tuple[str, str], list[int]] = {}
    for r in standing.records:
        ref_ms = standing.reference_ms.get(r.alert_id)
        if r.kind != "outcome" or ref_ms is None:
            continue
        label = period_label(ref_ms, period)
        for metric in (str(r.metric), "overall"):
            tally = counts.setdefault((label, metric), [0, 0])
            tally[0] += bool(r.met)
            tally[1] += 1
    order = {m: i for i, m in enumerate((*OUTCOME_METRICS, "overall"))}
    return [CompliancePoint(label, metric, met, n) for (label, metric), (met, n)
            in sorted(counts.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9)))]


@dataclass(frozen=True)
class Report:
    """Everything one run reports: the standing records (filtered), the rows and the series."""

    options: ReportOptions
    standing: Standing
    kpis: list[Row]
    periods: list[Row]
    compliance: list[CompliancePoint]
    clocks: tuple[str, ...] = ()  # the custom clocks the records name (their columns)
    objectives: bool = False  # a request objective's record stands: its columns and sections
    outages: bool = False  # an availability outcome carries ``outages``: their columns
    objective_periods: list[Row] = field(default_factory=list)

    def columns(self) -> tuple[str, ...]:
        """The columns of the KPI rows, after the groups'."""
        return kpi_columns(self.clocks, self.objectives, self.outages)


def build_report(standing: Standing, options: ReportOptions) -> Report:
    """The report ``options`` ask for, of the records that stand (filtered by them)."""
    chosen = standing.select(options.keep)
    return Report(options, chosen, kpi_rows(chosen, options.by, options.period),
                  period_rows(chosen, options.period), compliance_series(chosen, options.period),
                  custom_clocks(chosen.records), has_objectives(chosen.records),
                  has_outages(chosen.records), objective_period_rows(chosen, options.period))

