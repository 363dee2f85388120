"""PNG charts of a report (``slawatch report --charts DIR``), drawn with matplotlib (Agg).

Only this module imports matplotlib, and only ``run_report`` imports this module, so the other
commands never load it. Four charts, each written only when the report has data for it:

- ``compliance.png``: compliance per report period, one line per metric and one overall, each
  with markers; a period with no outcome is a gap in the lines;
- ``availability.png``: each service's availability per period, with its target as a dashed line;
- ``budget-burn.png``: downtime / budget per (service, period), with the 100 % line;
- ``objective-budget.png``: the error budget each request objective spent in each of its periods,
  one line per objective (service, customer, policy, objective) over the periods' starts, with
  the 100 % line.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from streams.core.timefmt import parse_instant
from streams.report.kpis import NONE, Report, Row

#: At most this many services (the worst first) in the availability chart, bars in the burn chart.
MAX_SERVICES = 16
MAX_BARS = 40
#: At most this many objectives (those that spent the most first) in the objective budget chart.
MAX_OBJECTIVES = 12


def write_charts(report: Report, directory: Path) -> list[Path]:
    """Write the charts the report has data for into ``directory`` (made if missing)."""
    from matplotlib import pyplot

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in figures(report):
        path = directory / name
        figure.savefig(path, dpi=100)
        pyplot.close(figure)
        written.append(path)
    return written


def figures(report: Report) -> Iterator[tuple[str, Any]]:
    """(file name, matplotlib figure) of each chart the report has data for; the caller
    closes each figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    for name, draw in (("compliance.png", _compliance), ("availability.png", _availability),
                       ("budget-burn.png", _budget_burn),
                       ("objective-budget.png", _objective_budget)):
        figure = draw(pyplot, report)
        if figure is not None:
            yield name, figure


def period_range(first: str, last: str, period: str) -> list[str]:
    """Every period label from ``first`` to ``last`` (``kpis.period_label``'s), in order:
    the periods with no data are on the axis too, so a gap shows as one."""
    if period == "month":
        year, month = int(first[:4]), int(first[5:7])
        labels = []
        while (label := f"{year:04d}-{month:02d}") <= last:
            labels.append(label)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return labels
    if period == "week":
        day, step = date.fromisocalendar(int(first[:4]), int(first[6:]), 1), timedelta(days=7)
    else:
        day, step = date.fromisoformat(first), timedelta(days=1)
    labels = []
    while (label := _label(day, period)) <= last:
        labels.append(label)
        day += step
    return labels


def _label(day: date, period: str) -> str:
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return day.isoformat()


#: The compliance series: (metric, marker, colour); "overall" dashed, each with its marker.
_SERIES = (("response", "o", "tab:blue"), ("resolution", "s", "tab:orange"),
           ("availability", "^", "tab:green"), ("overall", "D", "black"))
#: At most this many period names under the compliance chart (every n-th past it).
MAX_TICKS = 24


def _compliance(pyplot: Any, report: Report) -> Any:
    from matplotlib.transforms import ScaledTranslation

    points = report.compliance
    if not points:
        return None
    present = sorted({p.period for p in points})
    labels = period_range(present[0], present[-1], report.options.period)
    figure, axes = pyplot.subplots(figsize=(8, 4.5), layout="constrained")
    # each series drawn beside the others (in points, whatever the scale), so one marker never
    # covers another of the same period and value
    dodge_pt = min(7.0, 420 / len(labels) / len(_SERIES))
    drawn = [m for m, _, _ in _SERIES if any(p.metric == m for p in points)]
    for metric, marker, colour in _SERIES:
        if metric not in drawn:
            continue
        series = {p.period: p.percent for p in points if p.metric == metric}
        shift = (drawn.index(metric) - (len(drawn) - 1) / 2) * dodge_pt / 72
        # NaN where a period has no outcome: the line breaks there instead of joining across
        axes.plot(range(len(labels)), [series.get(label, math.nan) for label in labels],
                  marker=marker, color=colour, linestyle="--" if metric == "overall" else "-",
                  markersize=min(6.0, dodge_pt * 0.9), label=metric, gid=metric,
                  transform=axes.transData + ScaledTranslation(shift, 0,
                                                               figure.dpi_scale_trans))
    every = max(1, math.ceil(len(labels) / MAX_TICKS))
    axes.set_xticks(range(0, len(labels), every), labels[::every],
                    rotation=45 if len(labels[::every]) > 6 else 0)
    axes.set_xlim(-0.5, len(labels) - 0.5)
    axes.set_ylim(-5, 105)
    axes.set_ylabel("compliance (% of outcomes met)")
    axes.set_title(f"Compliance per {report.options.period} (UTC)")
    axes.grid(alpha=0.3)
    axes.legend()
    return figure


def _by_service(periods: list[Row]) -> dict[str, list[Row]]:
    services: dict[str, list[Row]] = {}
    for row in periods:
        services.setdefault(str(row["service"] or NONE), []).append(row)
    return services


def _availability(pyplot: Any, report: Report) -> Any:
    services = _by_service(report.periods)
    if not services:
        return None
    worst = sorted(services, key=lambda s: min(float(r["availability_percent"] or 0)
                                               for r in services[s]))[:MAX_SERVICES]
    figure, axes = pyplot.subplots(len(worst), 1, figsize=(8, 1.2 + 2.2 * len(worst)),
                                   squeeze=False, layout="constrained")
    for ax, service in zip(axes[:, 0], worst, strict=True):
        rows = sorted(services[service], key=lambda r: str(r["period_start"]))
        labels = [f"{r['policy_period']} {r['policy']}" for r in rows]
        values = [float(r["availability_percent"] or 0) for r in rows]
        colours = ["tab:green" if r["met"] else "tab:red" for r in rows]
        bars = ax.bar(range(len(rows)), values, color=colours)
        ax.bar_label(bars, fmt="%.3f")
        targets = sorted({float(r["target_percent"]) for r in rows
                          if r["target_percent"] is not None})
        for target in targets:
            ax.axhline(target, color="black", linestyle="--", linewidth=1)
        low = min([*values, *targets])
        bottom = max(0.0, low - max(0.5, (100 - low) * 0.5))
        # room above 100 %: a target near it (99.9 % on a 0-100 scale) stays off the frame
        ax.set_ylim(bottom, 100 + (100 - bottom) * 0.08)
        ax.set_xticks(range(len(rows)), labels)
        ax.set_ylabel("availability %")
        ax.set_title(f"{service} (dashed: target)")
    if len(services) > len(worst):
        figure.suptitle(f"the {len(worst)} worst of {len(services)} services")
    return figure


def _budget_burn(pyplot: Any, report: Report) -> Any:
    rows = [r for r in report.periods if r["budget_burn_percent"] is not None]
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: -float(r["budget_burn_percent"] or 0))[:MAX_BARS]
    rows.reverse()  # the worst on top
    figure, axes = pyplot.subplots(figsize=(8, 1.5 + 0.35 * len(rows)), layout="constrained")
    burns = [float(r["budget_burn_percent"] or 0) for r in rows]
    axes.barh(range(len(rows)), burns,
              color=["tab:red" if b >= 100 else "tab:orange" if b >= 75 else "tab:blue"
                     for b in burns])
    axes.axvline(100, color="black", linestyle="--", linewidth=1)
    axes.set_yticks(range(len(rows)),
                    [f"{r['service']} {r['policy_period']} ({r['policy']})" for r in rows])
    axes.set_xlabel("downtime / budget (%; dashed: the whole budget)")
    axes.set_title("Budget burn per service and period")
    axes.set_xlim(0, max(110.0, max(burns) * 1.05))
    return figure


def objective_label(row: Row) -> str:
    """The name of a request objective's line: ``service[/customer] objective (policy)``."""
    customer = "" if row["customer"] in (None, NONE) else f"/{row['customer']}"
    return f"{row['service']}{customer} {row['objective']} ({row['policy']})"


def _objective_budget(pyplot: Any, report: Report) -> Any:
    from matplotlib import dates as typed_dates
    from matplotlib.transforms import ScaledTranslation

    dates: Any = typed_dates  # its locators and formatters are untyped

    objectives: dict[str, list[Row]] = {}
    for row in report.objective_periods:
        objectives.setdefault(objective_label(row), []).append(row)
    if not objectives:
        return None

    def spent(label: str) -> float:
        return max((float(r["budget_burn_percent"]) for r in objectives[label]
                    if r["budget_burn_percent"] is not None), default=0.0)

    shown = sorted(sorted(objectives, key=lambda label: (-spent(label), label))[:MAX_OBJECTIVES])
    figure, axes = pyplot.subplots(figsize=(8, 4.5), layout="constrained")
    # each line drawn beside the others (in points), as in the compliance chart: objectives of
    # the same period and burn never hide each other's markers
    starts = {str(r["period_start"]) for label in shown for r in objectives[label]}
    dodge_pt = min(7.0, 420 / len(starts) / len(shown))
    for i, label in enumerate(shown):
        rows = sorted(objectives[label], key=lambda r: str(r["period_start"]))
        shift = (i - (len(shown) - 1) / 2) * dodge_pt / 72
        # NaN for a period without a budget (timeslices all in maintenance): a gap in its line
        axes.plot([_utc(r["period_start"]) for r in rows],
                  [math.nan if r["budget_burn_percent"] is None else float(r["budget_burn_percent"])
                   for r in rows], marker="o", markersize=min(6.0, dodge_pt * 0.9), label=label,
                  gid=label, transform=axes.transData + ScaledTranslation(
                      shift, 0, figure.dpi_scale_trans))
    # the shifted lines do not move the limits: the periods' starts set them, with room
    first, last = _utc(min(starts)), _utc(max(starts))
    room = max((last - first) / 20, timedelta(hours=12))
    axes.set_xlim(first - room, last + room)
    axes.axhline(100, color="black", linestyle="--", linewidth=1)
    axes.set_ylim(0, max(110.0, max(spent(label) for label in shown) * 1.05))
    axes.set_ylabel("error budget spent (% of the period's; dashed: all of it)")
    axes.set_xlabel("period start (UTC)")
    title = "Error budget spent per request objective and period"
    if len(objectives) > len(shown):
        title += f" (the {len(shown)} that spent most of {len(objectives)})"
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    locator = dates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
    return figure


def _utc(instant: Any) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=parse_instant(str(instant)))
