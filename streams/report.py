"""``slawatch report``: KPIs from the alert and outcome records, by customer, service, severity,
policy and period.

The records are a changelog keyed by ``alert_id`` (SPEC section 5), so a report first compacts
them: the latest record per key stands, a ``retraction`` (or a Kafka tombstone) withdraws the key,
and dead letters (``invalid``, ``late``) are counted and ignored. Then it groups what stands and
computes the figures of each group. Everything down to ``format_*`` and ``csv_*`` is pure: records
in, rows out. The shell at the bottom (``run_report``) reads a file, stdin or the output topics,
prints, and calls ``streams.charts`` (matplotlib, loaded only when charts are asked for); the
topics are read with ``streams.topicread``.

    SlawatchError
    └── ReportError    a bad option of ``slawatch report`` (an unknown --by, a bad --period, ...)

Definitions (the README's "Reports" section says the same for users):

- incidents: distinct ``incident_id`` among the group's standing records (alerts and outcomes).
- MTTA / MTTR: over the standing ``response`` / ``resolution`` outcomes. Working time is the
  outcome's ``elapsed_seconds`` (on the policy's calendar, pauses excluded for resolution); wall
  time is ``at - opened_at``. Outcomes without ``opened_at`` (older producers) have no wall time:
  the wall figures cover the others, and are ``None`` (n/a) when none has it.
- p50 / p90: nearest rank: the value of rank ``ceil(p/100 * n)`` in ascending order.
- compliance: met outcomes / outcomes, per metric and over all outcomes, in percent.
- breaches: standing ``breach`` records, except an availability period's credit-tier records
  (threshold > 1), which deepen the period's breach rather than add one. near-breaches: standing
  ``near_breach`` records (each threshold, each burn-rate episode).
- availability: periods that ended (availability outcomes). ``availability_percent`` pools them:
  ``100 * (1 - sum(downtime) / sum(counted length))``, where a period's counted length (maintenance
  excluded) is ``budget / (1 - target/100)``; ``availability_min_percent`` is the worst period.
  ``budget_burn_percent`` is ``100 * sum(downtime) / sum(budget)``.
- credits: owed per (service, policy, period): the period outcome's ``credit_percent`` (the
  greatest tier reached), listed in the period rows. A group gives the number of periods with a
  credit and the greatest credit; percentages of different periods are never added.
- periods (UTC): an incident's records go to the period of its ``opened_at`` (from any of its
  outcomes), else of its earliest ``at``; availability records to the period holding the middle of
  their ``[period_start, period_end)`` (so a month in Tokyo, which starts at 15:00Z on the last day
  of the UTC month before, is its own month); burn-rate alerts to their ``at``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final

import orjson

from .core.errors import InvalidInstant, SlawatchError
from .core.timefmt import format_instant, parse_instant
from .settings import Settings
from .topics import CHANGELOG_TOPICS

DIMENSIONS: Final = ("customer", "service", "severity", "policy", "period")
PERIODS: Final = ("month", "week", "day")
FORMATS: Final = ("table", "csv", "json")
INCIDENT_METRICS: Final = ("response", "resolution")
OUTCOME_METRICS: Final = ("response", "resolution", "availability")
DEAD_LETTERS: Final = ("invalid", "late")
NONE: Final = "-"  # the group value of a record without that field (availability: no customer)

Cell = str | int | float | bool | None
Row = dict[str, Cell]


class ReportError(SlawatchError, ValueError):
    """A bad option of ``slawatch report``; the message names the flag and what was expected."""


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Rec:
    """The fields of one output record that a report reads, checked and typed."""

    alert_id: str
    kind: str  # breach, near_breach, outcome, retraction, invalid, late
    metric: str | None = None
    at_ms: int | None = None
    threshold: float | str | None = None
    policy_id: str | None = None
    incident_id: str | None = None
    customer: str | None = None
    service: str | None = None
    severity: str | None = None
    opened_at_ms: int | None = None
    met: bool | None = None
    elapsed_s: float | None = None
    target_s: float | None = None
    period_start_ms: int | None = None
    period_end_ms: int | None = None
    target: float | None = None
    availability: float | None = None
    downtime_s: float | None = None
    degraded_s: float | None = None
    budget_s: float | None = None
    credit_percent: float = 0.0


class BadRecord(ValueError):
    """A record a report cannot read; it is reported with where it came from and skipped."""


def _text(obj: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        raise BadRecord(f"{name}={value!r}: expected a non-empty string")
    return str(value)


def _number(obj: dict[str, Any], name: str, required: bool = False) -> float | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise BadRecord(f"{name}={value!r}: expected a number")
    return float(value)


def _instant(obj: dict[str, Any], name: str, required: bool = False) -> int | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    try:
        return parse_instant(value)
    except InvalidInstant as exc:
        raise BadRecord(f"{name}: {exc}") from None


def decode_record(obj: Any) -> Rec:
    """The ``Rec`` of one JSON value; ``BadRecord`` names the field a report needs and lacks."""
    if not isinstance(obj, dict):
        raise BadRecord(f"expected a JSON object, got {type(obj).__name__}")
    alert_id, kind = _text(obj, "alert_id", True), _text(obj, "kind", True)
    assert alert_id is not None and kind is not None
    if kind in DEAD_LETTERS or kind == "retraction":
        return Rec(alert_id, kind)
    if kind not in ("breach", "near_breach", "outcome"):
        raise BadRecord(f"kind={kind!r}: expected breach, near_breach, outcome, retraction, "
                        "invalid or late")
    metric = _text(obj, "metric", True)
    incident = metric in INCIDENT_METRICS
    outcome = kind == "outcome"
    threshold = obj.get("threshold")
    if threshold is not None and (not isinstance(threshold, int | float | str)
                                  or isinstance(threshold, bool)):
        raise BadRecord(f"threshold={threshold!r}: expected a number or a duration string")
    met = obj.get("met")
    if outcome and not isinstance(met, bool):
        raise BadRecord(f"met={met!r}: expected true or false")
    availability_outcome = outcome and metric == "availability"
    return Rec(
        alert_id=alert_id, kind=kind, metric=metric,
        at_ms=_instant(obj, "at", incident and outcome),
        threshold=float(threshold) if isinstance(threshold, int | float) else threshold,
        policy_id=_text(obj, "policy_id"),
        incident_id=_text(obj, "incident_id", incident),
        customer=_text(obj, "customer"), service=_text(obj, "service", not incident),
        severity=_text(obj, "severity"),
        opened_at_ms=_instant(obj, "opened_at"),
        met=met if isinstance(met, bool) else None,
        elapsed_s=_number(obj, "elapsed_seconds", incident and outcome),
        target_s=_number(obj, "target_seconds"),
        period_start_ms=_instant(obj, "period_start", availability_outcome),
        period_end_ms=_instant(obj, "period_end", availability_outcome),
        target=_number(obj, "target"),
        availability=_number(obj, "availability", availability_outcome),
        downtime_s=_number(obj, "downtime_seconds", availability_outcome),
        degraded_s=_number(obj, "degraded_seconds"),
        budget_s=_number(obj, "budget_seconds", availability_outcome),
        credit_percent=_number(obj, "credit_percent") or 0.0,
    )


# ----------------------------------------------------------------------------- the changelog


@dataclass
class Changelog:
    """Folds records in publication order into the latest record per ``alert_id``."""

    latest: dict[str, Rec] = field(default_factory=dict)
    read: int = 0
    dead_letters: int = 0
    unreadable: int = 0

    def add(self, rec: Rec) -> None:
        self.read += 1
        if rec.kind in DEAD_LETTERS:
            self.dead_letters += 1
            return
        self.latest.pop(rec.alert_id, None)  # keep the order of the latest publication
        self.latest[rec.alert_id] = rec

    def add_json(self, raw: bytes) -> str | None:
        """Fold one record's JSON; why it was skipped when it is no record, else ``None``."""
        try:
            self.add(decode_record(orjson.loads(raw)))
        except (orjson.JSONDecodeError, BadRecord) as exc:
            self.bad()
            return str(exc)
        return None

    def tombstone(self, key: str) -> None:
        """A Kafka tombstone (no value): the key is deleted, like a retraction."""
        self.read += 1
        self.latest[key] = Rec(key, "retraction")

    def bad(self) -> None:
        self.read += 1
        self.unreadable += 1

    def standing(self) -> Standing:
        records = [r for r in self.latest.values() if r.kind != "retraction"]
        return Standing(records, _reference_instants(records), read=self.read,
                        retracted=len(self.latest) - len(records),
                        dead_letters=self.dead_letters, unreadable=self.unreadable)


@dataclass
class Standing:
    """The standing alerts and outcomes, with what compaction dropped (for the summary line)."""

    records: list[Rec]
    #: each record's reference instant (its period), by ``alert_id``: found before any
    #: ``select``, so a filter never moves an incident to another period
    reference_ms: dict[str, int | None]
    read: int = 0
    retracted: int = 0
    dead_letters: int = 0
    unreadable: int = 0

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for rec in self.records:
            counts[rec.kind] = counts.get(rec.kind, 0) + 1
        return counts

    def without_opened_at(self) -> int:
        return sum(1 for r in self.records if r.kind == "outcome"
                   and r.metric in INCIDENT_METRICS and r.opened_at_ms is None)

    def summary_line(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.kinds().items())) or "none"
        line = (f"report: {self.read} records read, {len(self.records)} standing ({kinds}), "
                f"{self.retracted} retracted, {self.dead_letters} dead letters ignored, "
                f"{self.unreadable} unreadable skipped")
        missing = self.without_opened_at()
        if missing:
            line += f"; {missing} incident outcomes without opened_at (wall time n/a for them)"
        return line

    def summary(self) -> dict[str, Any]:
        return {"records_read": self.read, "standing": len(self.records),
                "standing_by_kind": dict(sorted(self.kinds().items())),
                "retracted": self.retracted, "dead_letters": self.dead_letters,
                "unreadable": self.unreadable,
                "outcomes_without_opened_at": self.without_opened_at()}

    def select(self, keep: Callable[[Rec, int | None], bool]) -> Standing:
        """The standing records that ``keep(record, reference_ms)``; the counts stay."""
        refs = self.reference_ms
        return Standing([r for r in self.records if keep(r, refs[r.alert_id])], refs,
                        read=self.read, retracted=self.retracted,
                        dead_letters=self.dead_letters, unreadable=self.unreadable)


def _reference_instants(records: Sequence[Rec]) -> dict[str, int | None]:
    """The instant that puts each record in a period (see the module docstring)."""
    incident_ms: dict[str, int] = {}
    opened = {r.incident_id: r.opened_at_ms for r in records
              if r.incident_id is not None and r.opened_at_ms is not None}
    for r in records:
        if r.incident_id is not None and r.at_ms is not None and r.incident_id not in opened:
            incident_ms[r.incident_id] = min(incident_ms.get(r.incident_id, r.at_ms), r.at_ms)
    refs: dict[str, int | None] = {}
    for r in records:
        if r.incident_id is not None:
            refs[r.alert_id] = opened.get(r.incident_id, incident_ms.get(r.incident_id))
        elif r.period_start_ms is not None and r.period_end_ms is not None:
            refs[r.alert_id] = (r.period_start_ms + r.period_end_ms) // 2
        else:
            refs[r.alert_id] = r.at_ms
    return refs


# ----------------------------------------------------------------------------- options


@dataclass(frozen=True)
class ReportOptions:
    """What ``slawatch report`` was asked for, checked."""

    by: tuple[str, ...] = ("customer",)
    period: str = "month"
    customers: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    from_ms: int | None = None
    to_ms: int | None = None
    format: str = "table"
    periods_csv: bool = False

    @classmethod
    def parse(cls, *, by: Sequence[str] | None = None, period: str | None = None,
              customers: Sequence[str] | None = None, services: Sequence[str] | None = None,
              from_ms: int | None = None, to_ms: int | None = None,
              format: str | None = None, periods_csv: bool = False) -> ReportOptions:
        """The options from the flags' texts (the instants parsed by the command line);
        ``ReportError`` names the first bad one."""
        dims = _list(by) or ["customer"]
        for dim in dims:
            if dim not in DIMENSIONS:
                raise ReportError(f"--by {dim!r}: expected {', '.join(DIMENSIONS)} "
                                  "(several by commas or repeated)")
        if len(set(dims)) != len(dims):
            raise ReportError(f"--by {','.join(dims)}: a dimension is given twice")
        period = "month" if period is None else period.strip().lower()
        if period not in PERIODS:
            raise ReportError(f"--period {period!r}: expected {', '.join(PERIODS)}")
        fmt = "table" if format is None else format.strip().lower()
        if fmt not in FORMATS:
            raise ReportError(f"--format {fmt!r}: expected {', '.join(FORMATS)}")
        if from_ms is not None and to_ms is not None and from_ms >= to_ms:
            raise ReportError(f"--from-time {format_instant(from_ms)} is not before --to-time "
                              f"{format_instant(to_ms)}")
        if periods_csv and fmt != "csv":
            raise ReportError("--periods goes with --format csv (table and json show the "
                              "periods anyway)")
        return cls(tuple(dims), period, frozenset(_list(customers)), frozenset(_list(services)),
                   from_ms, to_ms, fmt, periods_csv)

    def keep(self, rec: Rec, ref_ms: int | None) -> bool:
        if self.customers and rec.customer not in self.customers:
            return False
        if self.services and rec.service not in self.services:
            return False
        if self.from_ms is not None and (ref_ms is None or ref_ms < self.from_ms):
            return False
        return self.to_ms is None or (ref_ms is not None and ref_ms < self.to_ms)


def _list(values: Sequence[str] | None) -> list[str]:
    return [v.strip() for text in values or () for v in text.split(",") if v.strip()]


# ----------------------------------------------------------------------------- figures


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
_INT_COLUMNS: Final = frozenset(
    c for c in KPI_COLUMNS if c.endswith(("_n", "_outcomes", "_met", "_periods"))
    or c in ("incidents", "breaches", "near_breaches"))
_BOOL_COLUMNS: Final = frozenset({"met"})
_TEXT_COLUMNS: Final = frozenset({*DIMENSIONS, "policy_period", "period_start", "period_end"})


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


def _count_column(metric: str) -> str:
    """The column of a metric's number of outcomes: an availability outcome is a period."""
    return "availability_periods" if metric == "availability" else f"{metric}_outcomes"


def _counted_length_s(rec: Rec) -> float | None:
    """The period's length without maintenance, from its budget and target."""
    if rec.budget_s is None or rec.target is None or not 0 < rec.target < 100:
        return None
    return rec.budget_s / (1 - rec.target / 100)


def kpis(records: Sequence[Rec]) -> Row:
    """The figures of one group of standing records (``KPI_COLUMNS``)."""
    row: Row = {"incidents": len({r.incident_id for r in records if r.incident_id is not None}),
                "breaches": sum(1 for r in records if r.kind == "breach" and not (
                    r.metric == "availability" and isinstance(r.threshold, float)
                    and r.threshold > 1)),
                "near_breaches": sum(1 for r in records if r.kind == "near_breach")}
    outcomes = {m: [r for r in records if r.kind == "outcome" and r.metric == m]
                for m in OUTCOME_METRICS}
    all_met = all_n = 0
    for metric, found in outcomes.items():
        met = sum(1 for r in found if r.met)
        row[_count_column(metric)], row[f"{metric}_met"] = len(found), met
        row[f"{metric}_compliance_percent"] = _percent(met, len(found))
        all_met, all_n = all_met + met, all_n + len(found)
    row["compliance_percent"] = _percent(all_met, all_n)
    row |= _times(outcomes["response"], "mtta") | _times(outcomes["resolution"], "mttr")
    periods = outcomes["availability"]
    down = sum(r.downtime_s or 0.0 for r in periods)
    budget = sum(r.budget_s or 0.0 for r in periods)
    lengths = [(r.downtime_s or 0.0, n) for r in periods if (n := _counted_length_s(r))]
    unavailable = _percent(sum(d for d, _ in lengths), sum(n for _, n in lengths))
    row["availability_percent"] = None if unavailable is None else 100 - unavailable
    row["availability_min_percent"] = min((r.availability for r in periods
                                           if r.availability is not None), default=None)
    row["downtime_s"] = down if periods else None
    row["budget_s"] = budget if periods else None
    row["budget_burn_percent"] = _percent(down, budget) if periods else None
    row["credit_periods"] = sum(1 for r in periods if r.credit_percent > 0)
    row["credit_max_percent"] = max((r.credit_percent for r in periods), default=None)
    return {column: _rounded(row[column]) for column in KPI_COLUMNS}


def _rounded(value: Cell) -> Cell:
    """Floats to 6 decimals: the SPEC's precision, and no ``99.15966386554622`` noise."""
    return round(value, 6) if isinstance(value, float) else value


def kpi_rows(standing: Standing, by: Sequence[str], period: str = "month") -> list[Row]:
    """One row per group of the standing records: the group's values, then ``KPI_COLUMNS``.
    Groups in sorted order; a record without the field is in the group ``-``."""
    groups: dict[tuple[str, ...], list[Rec]] = {}
    for rec in standing.records:
        ref_ms = standing.reference_ms.get(rec.alert_id)
        key = tuple(_group_value(rec, dim, ref_ms, period) for dim in by)
        groups.setdefault(key, []).append(rec)
    return [{**dict(zip(by, key, strict=True)), **kpis(groups[key])}
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


def build_report(standing: Standing, options: ReportOptions) -> Report:
    chosen = standing.select(options.keep)
    return Report(options, chosen, kpi_rows(chosen, options.by, options.period),
                  period_rows(chosen, options.period), compliance_series(chosen, options.period))


# ----------------------------------------------------------------------------- formats


def human_duration(seconds: float | None) -> str:
    """``45s``, ``12m 30s``, ``1h 05m``, ``2d 03h``: two units, the smaller one rounded."""
    if seconds is None:
        return "n/a"
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    minutes = (s + 30) // 60
    if minutes < 24 * 60:
        return f"{minutes // 60}h {minutes % 60:02d}m"
    hours = (s + 1800) // 3600
    return f"{hours // 24}d {hours % 24:02d}h"


def _pct(value: Cell, decimals: int = 1) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:.{decimals}f}%"


def _ratio(row: Row, metric: str) -> str:
    n = row[_count_column(metric)]
    if not n:
        return "-"
    return f"{_pct(row[f'{metric}_compliance_percent'])} ({row[f'{metric}_met']}/{n})"


def _wall(row: Row, name: str) -> list[str]:
    """Wall mean, p50, p90; marked ``*`` when some outcomes lack ``opened_at``."""
    mark = "*" if row[f"{name}_wall_n"] != row[f"{name}_n"] and row[f"{name}_wall_n"] else ""
    return [human_duration(_float(row[f"{name}_wall_{s}_s"])) + mark
            for s in ("mean", "p50", "p90")]


def _float(value: Cell) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _aligned(header: Sequence[str], lines: Sequence[Sequence[str]], left: int) -> list[str]:
    """Columns padded to their widest cell: the first ``left`` to the left, the rest right."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *lines, strict=True)]
    out = []
    for cells in (header, *lines):
        parts = [c.ljust(w) if i < left else c.rjust(w)
                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        out.append("  ".join(parts).rstrip())
    return out


def format_table(report: Report) -> str:
    """The terminal report: an overview, the times, availability, and the periods with credits."""
    by, rows = list(report.options.by), report.kpis
    if not rows:
        return "no standing alerts or outcomes"
    out = ["OVERVIEW"]
    out += _aligned(
        [*by, "incidents", "breaches", "near-breaches", "response met", "resolution met",
         "availability met", "overall met"],
        [[*(str(r[d]) for d in by), str(r["incidents"]), str(r["breaches"]),
          str(r["near_breaches"]), _ratio(r, "response"), _ratio(r, "resolution"),
          _ratio(r, "availability"), _pct(r["compliance_percent"])] for r in rows], len(by))
    timed = [(r, name, label) for r in rows for name, label in (("mtta", "MTTA"), ("mttr", "MTTR"))
             if r[f"{name}_n"]]
    if timed:
        out += ["", "TIMES (working time on the policy calendar; wall time opened -> stop)"]
        out += _aligned(
            [*by, "", "n", "work mean", "p50", "p90", "wall mean", "p50", "p90"],
            [[*(str(r[d]) for d in by), label, str(r[f"{name}_n"]),
              *(human_duration(_float(r[f"{name}_work_{s}_s"])) for s in ("mean", "p50", "p90")),
              *_wall(r, name)] for r, name, label in timed], len(by) + 1)
        if any(r[f"{n}_wall_n"] != r[f"{n}_n"] for r, n, _ in timed):
            out.append("* wall time over the outcomes that carry opened_at only; n/a: none does")
    available = [r for r in rows if r["availability_periods"]]
    if available:
        out += ["", "AVAILABILITY (periods that ended)"]
        out += _aligned(
            [*by, "periods", "availability", "worst", "downtime", "budget", "burn",
             "credit periods", "max credit"],
            [[*(str(r[d]) for d in by), str(r["availability_periods"]),
              _pct(r["availability_percent"], 3), _pct(r["availability_min_percent"], 3),
              human_duration(_float(r["downtime_s"])), human_duration(_float(r["budget_s"])),
              _pct(r["budget_burn_percent"]), str(r["credit_periods"]),
              _pct(r["credit_max_percent"], 0)] for r in available], len(by))
    if report.periods:
        out += ["", "AVAILABILITY PERIODS (credit owed: the greatest tier reached)"]
        out += _aligned(
            ["service", "policy", "period start", "period end", "target", "availability",
             "downtime", "budget", "burn", "met", "credit"],
            [[str(p["service"]), str(p["policy"]), str(p["period_start"]), str(p["period_end"]),
              _pct(p["target_percent"], 3), _pct(p["availability_percent"], 3),
              human_duration(_float(p["downtime_s"])), human_duration(_float(p["budget_s"])),
              _pct(p["budget_burn_percent"]), "yes" if p["met"] else "NO",
              _pct(p["credit_percent"], 0)] for p in report.periods], 4)
    return "\n".join(out)


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def format_csv(columns: Sequence[str], rows: Sequence[Row]) -> str:
    """CSV with a header; empty cells are n/a; floats written so that they read back exact."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
    return buffer.getvalue()


def parse_csv(text: str) -> list[Row]:
    """The rows of ``format_csv`` read back with their types (the round trip)."""
    rows = []
    for cells in csv.DictReader(io.StringIO(text)):
        row: Row = {}
        for column, cell in cells.items():
            if column in _TEXT_COLUMNS:
                row[column] = cell
            elif cell == "":
                row[column] = None
            elif column in _BOOL_COLUMNS:
                row[column] = cell == "true"
            elif column in _INT_COLUMNS:
                row[column] = int(cell)
            else:
                row[column] = float(cell)
        rows.append(row)
    return rows


def report_json(report: Report) -> dict[str, Any]:
    return {"summary": report.standing.summary(), "by": list(report.options.by),
            "period": report.options.period, "kpis": report.kpis, "periods": report.periods,
            "compliance_over_time": [{"period": p.period, "metric": p.metric, "met": p.met,
                                      "outcomes": p.outcomes, "percent": round(p.percent, 6)}
                                     for p in report.compliance]}


def format_report(report: Report) -> str:
    """The report in its format, ending with a newline."""
    options = report.options
    if options.format == "json":
        return json.dumps(report_json(report), indent=2) + "\n"
    if options.format == "csv":
        if options.periods_csv:
            return format_csv(PERIOD_COLUMNS, report.periods)
        return format_csv([*options.by, *KPI_COLUMNS], report.kpis)
    return format_table(report) + "\n"


# ----------------------------------------------------------------------------- the shell


#: A file whose first this many lines hold no record is not records (``read_jsonl``).
RECORDS_WITHIN = 100


def read_jsonl(lines: Iterable[bytes], source: str, log: Changelog, err: IO[str]) -> None:
    """Fold JSON Lines records into ``log``; a line that is no record is reported and skipped.

    Input that holds no record at all (none in its first ``RECORDS_WITHIN`` lines, or none by
    its end) is a ``ReportError`` naming what it holds instead (incident events, heartbeats,
    binary data...), with no line per skip: it is the wrong file, not records with bad lines."""
    held: list[str] | None = []  # the skips before the first record; None once one came
    holds: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        why = log.add_json(line)
        if why is None:
            if held:
                err.write("".join(held))
            held = None
        elif held is None:
            err.write(f"{source}:{number}: skipped: {why}\n")
        else:
            held.append(f"{source}:{number}: skipped: {why}\n")
            what = line_holds(line)
            holds[what] = holds.get(what, 0) + 1
            if len(held) >= RECORDS_WITHIN:
                break
    if held:
        raise ReportError(not_records(source, holds))


def line_holds(line: bytes) -> str:
    """What a line that is no alert record holds, in words (``not_records``)."""
    if b"\0" in line:
        return "binary data"
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return "binary data"
        return "text that is not JSON"
    if isinstance(obj, dict) and "alert_id" not in obj:
        if "incident_id" in obj and "type" in obj:
            return "incident events"
        if "service" in obj and "status" in obj:
            return "heartbeats"
    return "JSON that is not alert records"


def not_records(source: str, holds: dict[str, int]) -> str:
    """The one line of a report refused for input with no record: what it holds the most."""
    what = max(holds, key=lambda k: holds[k])
    hint = ("run slawatch replay first" if what in ("incident events", "heartbeats")
            else "expected the JSON Lines of slawatch replay")
    return f"{source} holds {what}, not alert records: {hint}"


def read_changelog_topics(settings: Settings, log: Changelog, err: IO[str],
                          timeout_s: float) -> None:
    """Fold the output topics (breaches, near-breaches, outcomes) into ``log``: each partition
    from its beginning to its end as of the start, in offset order (a key lives in one
    partition, so its records come in publication order)."""
    from .topicread import read_topics  # kafka-python loads only for topics

    topics = [settings.topic(name) for name in CHANGELOG_TOPICS]
    for rec in read_topics(settings, topics, timeout_s=timeout_s):
        if rec.value is None:
            if rec.key is not None:
                log.tombstone(rec.key.decode("utf-8", "replace"))
        elif (why := log.add_json(rec.value)) is not None:
            err.write(f"{rec.topic}[{rec.partition}]@{rec.offset}: skipped: {why}\n")


@dataclass(frozen=True)
class Source:
    """Where the records come from: a file (``-`` or ``None`` is stdin), or the output topics
    of ``settings`` when it is given."""

    path: str | None = None
    settings: Settings | None = None
    timeout_s: float = 30.0


def run_report(options: ReportOptions, source: Source, output: str | None, charts: str | None,
               out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """``slawatch report``: read, compact, report, write; 0, or 2 with a one-line error.
    ``out`` and ``err`` default to the standard streams as they are at the call."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    log = Changelog()
    try:
        if source.settings is not None:
            read_changelog_topics(source.settings, log, err, source.timeout_s)
        elif source.path in (None, "-"):
            read_jsonl(sys.stdin.buffer, "<stdin>", log, err)
        else:
            with open(source.path, "rb") as fh:
                read_jsonl(fh, source.path, log, err)
    except OSError as exc:
        err.write(f"slawatch report: error: {exc.filename or source.path}: "
                  f"{exc.strerror or exc}\n")
        return 2
    except SlawatchError as exc:
        err.write(f"slawatch report: error: {' '.join(str(exc).split())}\n")
        return 2
    report = build_report(log.standing(), options)
    text = format_report(report)
    try:
        if output is None:
            out.write(text)
        else:
            Path(output).write_text(text, encoding="utf-8")
        if charts is not None:
            from .charts import write_charts  # matplotlib loads only for charts

            written = write_charts(report, Path(charts))
            err.write(f"charts: {', '.join(str(p) for p in written) or 'none (no outcomes)'}\n")
    except OSError as exc:
        err.write(f"slawatch report: error: {exc.filename}: {exc.strerror or exc}\n")
        return 2
    err.write(report.standing.summary_line() + "\n")
    return 0

