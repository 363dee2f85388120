"""PNG charts of a report (``slawatch report --charts DIR``), drawn with matplotlib (Agg).

Only this module imports matplotlib, and only ``run_report`` imports this module, so the other
commands never load it. Three charts, each written only when the report has data for it:

- ``compliance.png``: compliance per report period, one line per metric and one overall;
- ``availability.png``: each service's availability per period, with its target as a dashed line;
- ``budget-burn.png``: downtime / budget per (service, period), with the 100 % line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .report import NONE, OUTCOME_METRICS, Report, Row

#: At most this many services (the worst first) in the availability chart, bars in the burn chart.
MAX_SERVICES = 16
MAX_BARS = 40


def write_charts(report: Report, directory: Path) -> list[Path]:
    """Write the charts the report has data for into ``directory`` (made if missing)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in (("compliance.png", _compliance), ("availability.png", _availability),
                       ("budget-burn.png", _budget_burn)):
        figure = draw(pyplot, report)
        if figure is None:
            continue
        path = directory / name
        figure.savefig(path, dpi=100)
        pyplot.close(figure)
        written.append(path)
    return written


def _compliance(pyplot: Any, report: Report) -> Any:
    points = report.compliance
    if not points:
        return None
    labels = sorted({p.period for p in points})
    figure, axes = pyplot.subplots(figsize=(8, 4.5), layout="constrained")
    for metric, style in zip((*OUTCOME_METRICS, "overall"), ("o-", "s-", "^-", "k--"),
                             strict=True):
        series = {p.period: p.percent for p in points if p.metric == metric}
        if series:
            xs = [labels.index(label) for label in sorted(series)]
            axes.plot(xs, [series[label] for label in sorted(series)], style, label=metric)
    axes.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 6 else 0)
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
        ax.set_ylim(max(0.0, low - max(0.5, (100 - low) * 0.5)), 100)
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
