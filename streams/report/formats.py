"""A report as text: the terminal table, CSV (and its round trip) and JSON. Pure: a ``Report``
in, text out.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any, Final

from streams.report.failures import COUNT_COLUMNS
from streams.report.kpis import (
    OBJECTIVE_PERIOD_COLUMNS,
    PERIOD_COLUMNS,
    Cell,
    Report,
    Row,
    count_column,
)
from streams.report.options import DIMENSIONS

#: How ``parse_csv`` reads each column back: the counts as ints (a custom clock's too, by the
#: same endings), ``met`` as a bool, the group values and instants as text, every other figure
#: as a float.
_INT_ENDINGS: Final = ("_n", "_outcomes", "_met", "_periods")
_INT_NAMES: Final = frozenset({"incidents", "breaches", "near_breaches", "good", "total",
                               *COUNT_COLUMNS})
_BOOL_COLUMNS: Final = frozenset({"met"})
_TEXT_COLUMNS: Final = frozenset({*DIMENSIONS, "policy_period", "period_start", "period_end",
                                  "objective", "sli", "budgeting"})


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
    n = row[count_column(metric)]
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
    """The terminal report: an overview, the times, availability, and the periods with credits;
    outages and request objectives when the report has them."""
    by, rows, clocks = list(report.options.by), report.kpis, report.clocks
    if not rows:
        return "no standing alerts or outcomes"
    objectives = ["requests"] if report.objectives else []
    out = ["OVERVIEW"]
    out += _aligned(
        [*by, "incidents", "breaches", "near-breaches", "response met", "resolution met",
         *(f"{c} met" for c in clocks), "availability met", *(["objectives met"] * len(objectives)),
         "overall met"],
        [[*(str(r[d]) for d in by), str(r["incidents"]), str(r["breaches"]),
          str(r["near_breaches"]), _ratio(r, "response"), _ratio(r, "resolution"),
          *(_ratio(r, c) for c in clocks), _ratio(r, "availability"),
          *(_ratio(r, m) for m in objectives), _pct(r["compliance_percent"])] for r in rows],
        len(by))
    names = [("mtta", "MTTA"), ("mttr", "MTTR"), *((f"{c}_time", f"to {c}") for c in clocks)]
    timed = [(r, name, label) for r in rows for name, label in names if r[f"{name}_n"]]
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
    if report.outages:
        out += _outages(report)
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
    if report.objectives:
        out += _objectives(report)
    return "\n".join(out)


def _outages(report: Report) -> list[str]:
    """The OUTAGES section: per group, the outages of its availability periods, MTBF, MTTR."""
    by = list(report.options.by)
    rows = [r for r in report.kpis if r["outage_periods"]]
    if not rows:
        return []
    return ["", "OUTAGES (availability periods that ended; MTBF: up time per outage)", *_aligned(
        [*by, "periods", "outages", "per period", "MTBF", "mean outage"],
        [[*(str(r[d]) for d in by), str(r["outage_periods"]), str(r["outages"]),
          _number(r["outages_per_period"]), human_duration(_float(r["mtbf_s"])),
          human_duration(_float(r["mean_outage_s"]))] for r in rows], len(by))]


def _number(value: Cell) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:.2f}"


def _pooled(row: Row, sli: str) -> str:
    """``0.400% (12/3000)``: the bad requests of error-rate objectives, the good ones of latency
    objectives, pooled over the group's periods; ``-`` for none."""
    total, good = row[f"requests_{sli}_total"], row[f"requests_{sli}_good"]
    if not isinstance(total, int) or not isinstance(good, int) or not total:
        return "-"
    if sli == "errors":
        return f"{_pct(row['requests_error_rate_percent'], 3)} ({total - good}/{total})"
    return f"{_pct(row['requests_latency_good_percent'], 3)} ({good}/{total})"


def _objectives(report: Report) -> list[str]:
    """The sections of request objectives: per group, then per period with its credit."""
    by = list(report.options.by)
    rows = [r for r in report.kpis if r["requests_periods"]]
    out: list[str] = []
    if rows:
        out += ["", "REQUEST OBJECTIVES (periods that ended; requests pooled over occurrences)"]
        out += _aligned(
            [*by, "periods", "error rate", "latency good", "worst burn", "credit periods",
             "max credit"],
            [[*(str(r[d]) for d in by), str(r["requests_periods"]), _pooled(r, "errors"),
              _pooled(r, "latency"), _pct(r["requests_burn_max_percent"]),
              str(r["requests_credit_periods"]), _pct(r["requests_credit_max_percent"], 0)]
             for r in rows], len(by))
    if report.objective_periods:
        out += ["", "REQUEST OBJECTIVE PERIODS (burn: the share of the error budget spent)"]
        out += _aligned(
            ["service", "customer", "policy", "objective", "sli", "period start", "period end",
             "target", "good/total", "bad time", "ratio", "burn", "met", "credit"],
            [[str(p["service"]), str(p["customer"]), str(p["policy"]), str(p["objective"]),
              str(p["sli"]), str(p["period_start"]), str(p["period_end"]),
              _pct(p["target_percent"], 3),
              "-" if p["total"] is None else f"{p['good']}/{p['total']}",
              "-" if p["bad_time_s"] is None else human_duration(_float(p["bad_time_s"])),
              "n/a" if p["ratio"] is None else _pct(100 * float(p["ratio"] or 0), 4),
              _pct(p["budget_burn_percent"]), "yes" if p["met"] else "NO",
              _pct(p["credit_percent"], 0)] for p in report.objective_periods], 7)
    return out


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
            elif column in _INT_NAMES or column.endswith(_INT_ENDINGS):
                row[column] = int(cell)
            else:
                row[column] = float(cell)
        rows.append(row)
    return rows


def report_json(report: Report) -> dict[str, Any]:
    """The JSON object of ``--format json``: the summary, the groups, the periods and the
    compliance per period; the request objectives' periods when the report has any."""
    data = {"summary": report.standing.summary(), "by": list(report.options.by),
            "period": report.options.period, "clocks": list(report.clocks),
            "kpis": report.kpis, "periods": report.periods,
            "compliance_over_time": [{"period": p.period, "metric": p.metric, "met": p.met,
                                      "outcomes": p.outcomes, "percent": round(p.percent, 6)}
                                     for p in report.compliance]}
    if report.objectives:
        data["objective_periods"] = report.objective_periods
    return data


def format_report(report: Report) -> str:
    """The report in its format, ending with a newline."""
    options = report.options
    if options.format == "json":
        return json.dumps(report_json(report), indent=2) + "\n"
    if options.format == "csv":
        if options.periods_csv:
            return format_csv(PERIOD_COLUMNS, report.periods)
        if options.objective_periods_csv:
            return format_csv(OBJECTIVE_PERIOD_COLUMNS, report.objective_periods)
        return format_csv([*options.by, *report.columns()], report.kpis)
    return format_table(report) + "\n"

