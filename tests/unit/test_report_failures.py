"""``slawatch report``'s failure-rate figures (issue 14): request objectives (SPEC section 9) and
availability outages (SPEC section 5), checked against values computed by hand; the columns and
sections that only such records bring, and a report without them as it was."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams import cli
from streams.report import (
    KPI_COLUMNS,
    OBJECTIVE_COLUMNS,
    OBJECTIVE_PERIOD_COLUMNS,
    OUTAGE_COLUMNS,
    BadRecord,
    Changelog,
    ReportError,
    ReportOptions,
    build_report,
    decode_record,
    format_report,
    format_table,
    parse_csv,
    read_jsonl,
)
from tests.support.report_sample import CHANGELOG, JAN

# ----------------------------------------------------------------------------- the fixture
#
# Service api, policy api-slo (no customer), day periods:
#   success (errors, occurrences, target 99):
#     03-01: good 990 of 1000: 99 000 >= 99 000, met exactly at the target; bad 10, budget
#            1 % of 1000 = 10 requests -> burn 100 %
#     03-02: good 1998 of 2000: met; bad 2 of a budget of 20 -> burn 10 %
#     pooled: 2988 / 3000 -> error rate 100 x 12 / 3000 = 0.4 %
#     a burn-rate near-breach of the objective stands (03-02 10:02)
#   fast (latency, occurrences, target 90, tiers below 90: 10 %, below 88: 25 %):
#     03-01: 950 of 1000 within the threshold: met; bad 50 of a budget of 100 -> burn 50 %
#     03-02: 850 of 1000: missed; the breach (threshold 1.0, 10 %) and the 88 tier
#            (threshold (100 - 88) / (100 - 90) = 1.2, 25 %) stand: one breach, credit 25 %;
#            bad 150 of 100 -> burn 150 %
#     pooled: 1800 / 2000 = 90 %
#   slices (errors, timeslices, target 95): 03-01: bad 3600 s of a budget of 7200 s -> burn
#     50 %, met; no good/total: in no pooled rate
#   quiet (errors, occurrences, target 99.5): 03-01: no request (total 0): met, ratio null,
#     burn 0
# -> 6 periods, 5 met: 83.333333 %; worst burn 150 %; 1 period with a credit, at most 25 %.
# Service web, policy acme-web (customer acme): success (errors, target 99.9): 03-01
#   good 4990 of 5000: missed (499 000 < 499 500); bad 10 of a budget of 5 -> burn 200 %.

DAY1 = {"period_start": "2027-03-01T00:00:00.000Z", "period_end": "2027-03-02T00:00:00.000Z"}
DAY2 = {"period_start": "2027-03-02T00:00:00.000Z", "period_end": "2027-03-03T00:00:00.000Z"}
API = {"policy_id": "api-slo", "policy_version": 1, "policy_match": ["service"],
       "service": "api"}
ACME = {"policy_id": "acme-web", "policy_version": 1, "policy_match": ["customer", "service"],
        "service": "web", "customer": "acme"}


def objective(policy: dict[str, Any], name: str, sli: str, target: float,
              budgeting: str = "occurrences") -> dict[str, Any]:
    return {**policy, "objective": name, "sli": sli, "budgeting": budgeting, "target": target}


SUCCESS = objective(API, "success", "errors", 99.0)
FAST = objective(API, "fast", "latency", 90.0)
SLICES = objective(API, "slices", "errors", 95.0, "timeslices")
QUIET = objective(API, "quiet", "errors", 99.5)
WEB = objective(ACME, "success", "errors", 99.9)


def outcome(alert_id: str, subject: dict[str, Any], day: dict[str, str], met: bool,
            credit: float = 0, **counts: Any) -> dict[str, Any]:
    if "good" in counts:
        counts["ratio"] = round(counts["good"] / counts["total"], 6) if counts["total"] else None
    return {"alert_id": alert_id, "kind": "outcome", "metric": "requests", **subject, **day,
            "at": day["period_end"], "met": met, "credit_percent": credit, **counts}


def breach(alert_id: str, subject: dict[str, Any], day: dict[str, str], threshold: float,
           credit: float, **counts: Any) -> dict[str, Any]:
    return {"alert_id": alert_id, "kind": "breach", "metric": "requests", **subject, **day,
            "at": day["period_end"], "threshold": threshold, "credit_percent": credit, **counts}


REQUESTS: list[dict[str, Any]] = [
    outcome("s1", SUCCESS, DAY1, True, good=990, total=1000),
    {"alert_id": "sb", "kind": "near_breach", "metric": "burn_rate", **SUCCESS,
     "at": "2027-03-02T10:02:00.000Z", "threshold": 14.4, "burn_rate_long": 20.0,
     "burn_rate_short": 30.0},
    outcome("s2", SUCCESS, DAY2, True, good=1998, total=2000),
    outcome("f1", FAST, DAY1, True, good=950, total=1000),
    breach("fb", FAST, DAY2, 1.0, 10, good=850, total=1000),
    breach("ft", FAST, DAY2, 1.2, 25, good=850, total=1000),
    outcome("f2", FAST, DAY2, False, 25, good=850, total=1000),
    outcome("t1", SLICES, DAY1, True, bad_seconds=3600, budget_seconds=7200, slices=24,
            bad_slices=1, ratio=0.97),
    outcome("q1", QUIET, DAY1, True, good=0, total=0),
    outcome("w1", WEB, DAY1, False, good=4990, total=5000),
]


def report_of(records: list[dict[str, Any]], **options: Any) -> Any:
    log = Changelog()
    read_jsonl([orjson.dumps(r) for r in records], "records.jsonl", log, io.StringIO())
    return build_report(log.standing(), ReportOptions.parse(**options))


def rows_by(records: list[dict[str, Any]], *by: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(row[d] for d in by): row for row in report_of(records, by=list(by)).kpis}


# ----------------------------------------------------------------------------- request objectives


def test_request_objective_figures_match_the_hand_computation() -> None:
    api = rows_by(REQUESTS, "service")[("api",)]
    assert (api["requests_periods"], api["requests_met"]) == (6, 5)
    assert api["requests_compliance_percent"] == pytest.approx(83.333333, abs=1e-6)
    assert (api["requests_errors_good"], api["requests_errors_total"]) == (2988, 3000)
    assert api["requests_error_rate_percent"] == pytest.approx(0.4)  # 12 / 3000
    assert (api["requests_latency_good"], api["requests_latency_total"]) == (1800, 2000)
    assert api["requests_latency_good_percent"] == 90.0
    assert api["requests_burn_max_percent"] == 150.0
    assert (api["requests_credit_periods"], api["requests_credit_max_percent"]) == (1, 25.0)
    # the 1.2 tier deepens its period's breach; the burn-rate episode is a near-breach
    assert (api["breaches"], api["near_breaches"]) == (1, 1)
    assert api["compliance_percent"] == pytest.approx(83.333333, abs=1e-6)  # only objectives


def test_pooling_weighs_each_period_by_its_requests() -> None:
    """990/1000 and 1998/2000 pool to 2988/3000 (0.4 % errors), not to the mean of 1 % and
    0.1 % (0.55 %)."""
    two = [r for r in REQUESTS if r["alert_id"] in ("s1", "s2")]
    (row,) = report_of(two, by=["policy"]).kpis
    assert row["requests_error_rate_percent"] == pytest.approx(0.4)
    assert row["requests_latency_total"] == 0 and row["requests_latency_good_percent"] is None


def test_groups_of_request_objectives() -> None:
    rows = rows_by(REQUESTS, "customer")
    assert list(rows) == [("acme",), ("-",)]  # a service-wide objective has no customer
    acme = rows[("acme",)]
    assert (acme["requests_periods"], acme["requests_met"], acme["breaches"]) == (1, 0, 0)
    assert acme["requests_error_rate_percent"] == pytest.approx(0.2)  # 10 / 5000
    assert acme["requests_burn_max_percent"] == pytest.approx(200.0)  # 10 of 0.1 % of 5000
    by_period = rows_by(REQUESTS, "period")
    assert list(by_period) == [("2027-03",)]  # a day period is in the month holding its middle
    assert by_period[("2027-03",)]["requests_periods"] == 7


@pytest.mark.parametrize(("alert_id", "burn"), [
    ("s1", 100.0), ("s2", 10.0), ("f1", 50.0), ("f2", 150.0), ("t1", 50.0), ("q1", 0.0),
    ("w1", 200.0),
])
def test_the_budget_burn_of_each_period(alert_id: str, burn: float) -> None:
    rows = {(p["objective"], p["customer"], p["period_start"]): p
            for p in report_of(REQUESTS).objective_periods}
    rec = next(r for r in REQUESTS if r["alert_id"] == alert_id)
    row = rows[(rec["objective"], rec.get("customer", "-"), rec["period_start"])]
    assert row["budget_burn_percent"] == pytest.approx(burn)


def test_the_objective_period_rows() -> None:
    periods = report_of(REQUESTS).objective_periods
    assert [(p["service"], p["customer"], p["objective"], p["period_start"][:10])
            for p in periods] == [
        ("api", "-", "fast", "2027-03-01"), ("api", "-", "fast", "2027-03-02"),
        ("api", "-", "quiet", "2027-03-01"), ("api", "-", "slices", "2027-03-01"),
        ("api", "-", "success", "2027-03-01"), ("api", "-", "success", "2027-03-02"),
        ("web", "acme", "success", "2027-03-01")]
    fast2 = periods[1]
    assert (fast2["good"], fast2["total"], fast2["ratio"], fast2["met"],
            fast2["credit_percent"]) == (850, 1000, 0.85, False, 25.0)
    slices = periods[3]
    assert (slices["good"], slices["total"], slices["bad_time_s"], slices["budget_s"]) == (
        None, None, 3600.0, 7200.0)
    assert periods[2]["ratio"] is None  # no request


def test_an_objective_outcome_without_its_counts_is_skipped_naming_the_field() -> None:
    with pytest.raises(BadRecord, match="total=None"):
        decode_record({k: v for k, v in REQUESTS[0].items() if k != "total"})
    with pytest.raises(BadRecord, match="bad_seconds"):
        decode_record({k: v for k, v in REQUESTS[7].items() if k != "bad_seconds"})
    with pytest.raises(BadRecord, match="good=1001"):
        decode_record({**REQUESTS[0], "good": 1001})
    with pytest.raises(BadRecord, match="budgeting='slices'"):
        decode_record({**REQUESTS[0], "budgeting": "slices"})


# ----------------------------------------------------------------------------- outages
#
# The sample's availability of api (target 99.9 %), with outages: January 2 (downtime 1339.2 s
# of a counted length 2,678,400 s), February 3 (4838.4 s of 2,419,200 s):
#   outages 5, per period 2.5; up time 2,678,400 - 1339.2 + 2,419,200 - 4838.4 = 5,091,422.4 s
#   -> MTBF 5,091,422.4 / 5 = 1,018,284.48 s; mean outage (1339.2 + 4838.4) / 5 = 1235.52 s


def with_outages(jan: int | None, feb: int | None) -> list[dict[str, Any]]:
    counts = {"oa1": jan, "oa2": feb}
    return [{**r, "outages": counts[r["alert_id"]]}
            if counts.get(r["alert_id"]) is not None else r for r in CHANGELOG]


def test_outages_mtbf_and_mean_outage_match_the_hand_computation() -> None:
    api = rows_by(with_outages(2, 3), "service")[("api",)]
    assert (api["outage_periods"], api["outages"], api["outages_per_period"]) == (2, 5, 2.5)
    assert api["mtbf_s"] == pytest.approx(1_018_284.48)
    assert api["mean_outage_s"] == pytest.approx(1235.52)
    web = rows_by(with_outages(2, 3), "service")[("web",)]  # incidents only: no period
    assert (web["outage_periods"], web["outages"], web["mtbf_s"]) == (0, 0, None)


def test_a_period_without_outages_has_no_mtbf_and_older_records_are_left_out() -> None:
    none = rows_by(with_outages(0, 0), "service")[("api",)]
    assert (none["outages"], none["mtbf_s"], none["mean_outage_s"]) == (0, None, None)
    # February from an older producer (no outages): the figures are January's alone
    jan = rows_by(with_outages(2, None), "service")[("api",)]
    assert (jan["outage_periods"], jan["outages"]) == (1, 2)
    assert jan["mtbf_s"] == pytest.approx((2_678_400 - 1339.2) / 2)
    assert jan["mean_outage_s"] == pytest.approx(1339.2 / 2)


def test_mtbf_of_a_period_without_a_target_uses_its_whole_length() -> None:
    rec = {"alert_id": "o", "kind": "outcome", "metric": "availability", "service": "db",
           **JAN, "met": True, "availability": 99.95, "downtime_seconds": 400.0,
           "budget_seconds": 2678.4, "outages": 4}
    (row,) = report_of([rec], by=["service"]).kpis
    assert row["mtbf_s"] == (31 * 86_400 - 400) / 4 and row["mean_outage_s"] == 100.0


# ----------------------------------------------------------------------------- formats


def test_a_report_without_such_records_is_as_it_was() -> None:
    """No request objective, no ``outages``: the columns, keys and sections of before."""
    report = report_of(CHANGELOG, by=["customer"])
    assert (report.objectives, report.outages, report.objective_periods) == (False, False, [])
    assert list(report.kpis[0])[1:] == list(KPI_COLUMNS)
    text = format_report(report_of(CHANGELOG, by=["customer"], format="csv"))
    assert text.splitlines()[0] == ",".join(["customer", *KPI_COLUMNS])
    data = json.loads(format_report(report_of(CHANGELOG, format="json")))
    assert "objective_periods" not in data
    table = format_table(report)
    for word in ("OUTAGES", "REQUEST", "objectives met"):
        assert word not in table


def test_csv_has_the_new_columns_after_the_others_and_round_trips() -> None:
    records = [*with_outages(2, 3), *REQUESTS]
    report = report_of(records, by=["service"], format="csv")
    text = format_report(report)
    header = next(csv.reader(io.StringIO(text)))
    assert header == ["service", *KPI_COLUMNS, *OUTAGE_COLUMNS, *OBJECTIVE_COLUMNS]
    assert parse_csv(text) == report.kpis
    periods = report_of(records, format="csv", objective_periods_csv=True)
    text = format_report(periods)
    assert next(csv.reader(io.StringIO(text))) == list(OBJECTIVE_PERIOD_COLUMNS)
    assert parse_csv(text) == periods.objective_periods


def test_json_lists_the_objective_periods() -> None:
    report = report_of(REQUESTS, by=["service"], format="json")
    data = json.loads(format_report(report))
    assert data["objective_periods"] == report.objective_periods
    assert data["kpis"] == report.kpis
    assert {(p["metric"], p["met"], p["outcomes"]) for p in data["compliance_over_time"]} == {
        ("requests", 5, 7), ("overall", 5, 7)}


def test_the_table_shows_the_objectives_and_the_outages() -> None:
    lines = format_table(report_of([*with_outages(2, 3), *REQUESTS], by=["service"])).splitlines()
    overview = lines[:lines.index("")]
    assert "objectives met" in overview[1]
    assert overview[2].split()[0] == "api" and "83.3% (5/6)" in overview[2]
    start = lines.index("OUTAGES (availability periods that ended; MTBF: up time per outage)")
    assert lines[start + 2].split() == ["api", "2", "5", "2.50", "11d", "19h", "20m", "36s"]
    start = next(i for i, line in enumerate(lines) if line.startswith("REQUEST OBJECTIVES"))
    api = lines[start + 2].split()
    assert api[:2] == ["api", "6"]
    assert " ".join(api[2:]) == "0.400% (12/3000) 90.000% (1800/2000) 150.0% 1 25%"
    start = next(i for i, line in enumerate(lines) if line.startswith("REQUEST OBJECTIVE PERIODS"))
    fast2 = lines[start + 3].split()
    assert fast2[:5] == ["api", "-", "api-slo", "fast", "latency"]
    assert fast2[7:] == ["90.000%", "850/1000", "-", "85.0000%", "150.0%", "NO", "25%"]
    slices = lines[start + 5].split()
    assert slices[8:12] == ["-", "1h", "00m", "97.0000%"]


# ----------------------------------------------------------------------------- the command


def test_objective_periods_go_with_csv_and_not_with_periods() -> None:
    with pytest.raises(ReportError, match="--objective-periods goes with --format csv"):
        ReportOptions.parse(objective_periods_csv=True)
    with pytest.raises(ReportError, match="one table of periods per CSV"):
        ReportOptions.parse(format="csv", periods_csv=True, objective_periods_csv=True)


def test_the_command_writes_the_objective_periods_and_their_chart(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in REQUESTS))
    assert cli.main(["report", "--input", str(path), "--format", "csv", "--objective-periods",
                     "--charts", str(tmp_path / "charts")]) == 0
    captured = capsys.readouterr()
    assert len(parse_csv(captured.out)) == 7  # 6 of api, 1 of acme's web
    assert "objective-budget.png" in captured.err
    assert (tmp_path / "charts" / "objective-budget.png").read_bytes().startswith(b"\x89PNG")


def test_request_records_bring_no_availability_charts(tmp_path: Path) -> None:
    from streams.report.charts import write_charts

    names = [p.name for p in write_charts(report_of(REQUESTS), tmp_path)]
    assert names == ["compliance.png", "objective-budget.png"]
