"""The report's charts, read back from the matplotlib figures: what a reader would see (issue
16's chart defects, one test each)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from streams.report import CompliancePoint, Report, ReportOptions, Row, Standing
from streams.report.charts import figures, period_range


def report(compliance: list[CompliancePoint] = (), periods: list[Row] = (),  # type: ignore[assignment]
           period: str = "month") -> Report:
    return Report(ReportOptions(period=period), Standing([], {}), [], list(periods),
                  list(compliance))


@pytest.fixture
def charts() -> Iterator[Any]:
    """Draw a report's figures, by file name; closed at the end."""
    from matplotlib import pyplot

    opened: list[Any] = []

    def draw(rep: Report) -> dict[str, Any]:
        drawn = dict(figures(rep))
        opened.extend(drawn.values())
        for figure in drawn.values():
            figure.canvas.draw()  # lays it out: display coordinates are final
        return drawn

    yield draw
    for figure in opened:
        pyplot.close(figure)


def series(figure: Any) -> dict[str, Any]:
    """The compliance chart's lines, by metric."""
    return {line.get_gid(): line for line in figure.axes[0].get_lines() if line.get_gid()}


def point(period: str, metric: str, met: int, outcomes: int) -> CompliancePoint:
    return CompliancePoint(period, metric, met, outcomes)


def test_one_period_shows_every_series_as_a_marker(charts: Any) -> None:
    figure = charts(report([point("2027-03", "response", 1, 2),
                            point("2027-03", "overall", 1, 2)]))["compliance.png"]
    lines = series(figure)
    assert set(lines) == {"response", "overall"}
    for metric, line in lines.items():
        assert line.get_marker() not in ("", " ", "None", None), metric
        assert line.get_markersize() >= 4, metric
        assert [y for y in line.get_ydata() if not math.isnan(y)] == [50.0], metric


def test_a_month_without_outcomes_is_a_gap_not_a_join(charts: Any) -> None:
    figure = charts(report([point("2027-01", "response", 1, 1),
                            point("2027-01", "overall", 1, 1),
                            point("2027-03", "response", 0, 1),
                            point("2027-03", "overall", 0, 1)]))["compliance.png"]
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["2027-01", "2027-02", "2027-03"]
    for metric, line in series(figure).items():
        ys = list(line.get_ydata())
        assert ys[0] == 100.0 and ys[2] == 0.0, metric
        assert math.isnan(ys[1]), f"{metric}: February has no outcome, so no point to join"


def test_no_marker_hides_another_of_the_same_period_and_value(charts: Any) -> None:
    figure = charts(report([point(f"2027-0{m}", metric, 1, 1) for m in (1, 2, 3)
                            for metric in ("response", "resolution", "availability",
                                           "overall")]))["compliance.png"]
    centres = []
    for metric, line in series(figure).items():
        size_px = line.get_markersize() * figure.dpi / 72
        shown = line.get_transform().transform(line.get_xydata())
        centres += [(metric, x, y, size_px) for x, y in shown]
    for i, (m1, x1, y1, s1) in enumerate(centres):
        for m2, x2, y2, s2 in centres[i + 1:]:
            if m1 != m2:
                assert math.hypot(x1 - x2, y1 - y2) >= (s1 + s2) / 2, (m1, m2, x1, x2)


def test_the_availability_target_line_is_inside_the_frame(charts: Any) -> None:
    periods: list[Row] = [
        {"service": "api", "policy": "api-sla", "policy_period": "2027-01",
         "period_start": "2027-01-01T00:00:00.000Z", "availability_percent": 12.5,
         "target_percent": 99.9, "met": False, "budget_burn_percent": None},
        {"service": "api", "policy": "api-sla", "policy_period": "2027-02",
         "period_start": "2027-02-01T00:00:00.000Z", "availability_percent": 100.0,
         "target_percent": 99.9, "met": True, "budget_burn_percent": None}]
    figure = charts(report(periods=periods))["availability.png"]
    (axes,) = figure.axes
    bottom, top = axes.get_ylim()
    targets = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
    assert targets, "the target is drawn"
    for line in targets:
        y = line.get_ydata()[0]
        assert y == 99.9
        assert (top - y) / (top - bottom) >= 0.02, f"the target at {y} is on the frame at {top}"
        assert (y - bottom) / (top - bottom) >= 0.02


@pytest.mark.parametrize(("first", "last", "period", "expected"), [
    ("2026-11", "2027-02", "month", ["2026-11", "2026-12", "2027-01", "2027-02"]),
    ("2026-W52", "2027-W02", "week", ["2026-W52", "2026-W53", "2027-W01", "2027-W02"]),
    ("2027-02-27", "2027-03-02", "day", ["2027-02-27", "2027-02-28", "2027-03-01",
                                         "2027-03-02"]),
    ("2027-05", "2027-05", "month", ["2027-05"]),
])
def test_period_range_includes_the_periods_between(first: str, last: str, period: str,
                                                   expected: list[str]) -> None:
    assert period_range(first, last, period) == expected


# ----------------------------------------------------------------------------- objective budget


def objective_period(objective: str, start: str, burn: float | None, customer: str = "-",
                     policy: str = "api-slo") -> Row:
    return {"service": "api", "customer": customer, "policy": policy, "objective": objective,
            "period_start": f"2027-03-{start}T00:00:00.000Z", "budget_burn_percent": burn}


def objective_report(rows: list[Row]) -> Report:
    return Report(ReportOptions(), Standing([], {}), [], [], [], objectives=True,
                  objective_periods=rows)


def lines_of(figure: Any) -> dict[str, Any]:
    """The objective budget chart's lines, by objective."""
    return {line.get_gid(): line for line in figure.axes[0].get_lines() if line.get_gid()}


def test_the_objective_budget_has_one_line_per_objective_with_its_burns(charts: Any) -> None:
    from matplotlib import dates

    rows = [objective_period("success", "02", 10.0), objective_period("success", "01", 100.0),
            objective_period("fast", "01", 50.0), objective_period("fast", "02", 150.0),
            objective_period("success", "01", 200.0, customer="acme", policy="acme-api")]
    figure = charts(objective_report(rows))["objective-budget.png"]
    lines = lines_of(figure)
    assert set(lines) == {"api success (api-slo)", "api fast (api-slo)",
                          "api/acme success (acme-api)"}
    assert list(lines["api success (api-slo)"].get_ydata()) == [100.0, 10.0]  # in time order
    assert list(lines["api fast (api-slo)"].get_ydata()) == [50.0, 150.0]
    assert list(lines["api/acme success (acme-api)"].get_ydata()) == [200.0]
    days = [dates.date2num(x) for x in lines["api fast (api-slo)"].get_xdata()]
    assert [dates.num2date(d).strftime("%Y-%m-%d %H:%M") for d in days] == [
        "2027-03-01 00:00", "2027-03-02 00:00"]
    for line in lines.values():
        assert line.get_marker() not in ("", " ", "None", None)
    axes = figure.axes[0]
    whole = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
    assert [list(line.get_ydata()) for line in whole] == [[100, 100]]
    left, right = axes.get_xlim()
    assert left < min(days) and max(days) < right, "every period is in the frame"
    assert axes.get_ylim()[1] > 200.0
    assert [t.get_text() for t in axes.get_legend().get_texts()] == sorted(lines)


def test_a_period_without_a_budget_is_a_gap(charts: Any) -> None:
    rows = [objective_period("slices", d, b) for d, b in (("01", 20.0), ("02", None),
                                                           ("03", 40.0))]
    (line,) = lines_of(charts(objective_report(rows))["objective-budget.png"]).values()
    ys = list(line.get_ydata())
    assert ys[0] == 20.0 and math.isnan(ys[1]) and ys[2] == 40.0


def test_no_objective_marker_hides_another_of_the_same_period_and_burn(charts: Any) -> None:
    rows = [objective_period(name, d, 50.0) for name in ("a", "b", "c", "d") for d in ("01", "02")]
    figure = charts(objective_report(rows))["objective-budget.png"]
    centres = []
    for name, line in lines_of(figure).items():
        size_px = line.get_markersize() * figure.dpi / 72
        shown = line.get_transform().transform(line.get_xydata())
        centres += [(name, x, y, size_px) for x, y in shown]
    for i, (n1, x1, y1, s1) in enumerate(centres):
        for n2, x2, y2, s2 in centres[i + 1:]:
            if n1 != n2:
                assert math.hypot(x1 - x2, y1 - y2) >= (s1 + s2) / 2, (n1, n2)


def test_the_objective_budget_shows_those_that_spent_most(charts: Any) -> None:
    from streams.report.charts import MAX_OBJECTIVES

    rows = [objective_period(f"o{n:02d}", "01", float(n)) for n in range(MAX_OBJECTIVES + 2)]
    figure = charts(objective_report(rows))["objective-budget.png"]
    shown = lines_of(figure)
    assert len(shown) == MAX_OBJECTIVES
    assert "api o00 (api-slo)" not in shown and "api o01 (api-slo)" not in shown
    assert f"the {MAX_OBJECTIVES} that spent most of {MAX_OBJECTIVES + 2}" in (
        figure.axes[0].get_title())


def test_no_objective_no_objective_budget(charts: Any) -> None:
    assert "objective-budget.png" not in charts(report([point("2027-03", "response", 1, 1),
                                                        point("2027-03", "overall", 1, 1)]))
