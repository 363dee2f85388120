"""``slawatch report``: figures checked against values computed by hand on a small changelog,
the CSV and JSON round trips, the PNG charts, and the command line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams import cli
from streams.core.timefmt import parse_instant
from streams.report import (
    KPI_COLUMNS,
    Changelog,
    ReportError,
    ReportOptions,
    build_report,
    format_csv,
    format_report,
    format_table,
    human_duration,
    kpi_rows,
    nearest_rank,
    parse_csv,
    period_label,
    read_jsonl,
    report_json,
)
from tests.support.report_sample import (
    CHANGELOG,
)

# ----------------------------------------------------------------------------- the fixture
#
# Incidents (24x7, so working time = wall time unless said otherwise):
#   INC-1 acme/api P1, opened 2027-01-10 10:00: acknowledged 10:12 (720 s, met, target 900);
#         resolved 13:00 after a 1 h pause: working 7200 s, wall 3 h = 10800 s (met, target 14400).
#         A response near-breach stands.
#   INC-2 acme/api P2, opened 2027-01-20 09:00: first published as not acknowledged by 10:00
#         (3600 s, missed) with a response breach; then a late acknowledgement stamped 09:25 comes:
#         the outcome is published again (same alert_id: 1500 s, met) and the breach retracted.
#         Resolved 15:00: 21600 s working and wall (missed, target 14400); resolution breach stands.
#   INC-3 acme/web P1, opened 2027-02-03 08:00, from an older producer: no opened_at. Response
#         outcome 2400 s (missed); a response breach and near-breach stand.
#   INC-4 globex/api P1, opened 2027-02-28 22:00: acknowledged 22:05 (300 s, met); still open,
#         with a resolution near-breach at 2027-03-01 01:00 (March, for a February incident).
# Availability of api (policy api-sla, target 99.9 %, tiers below 99.9: 10 %, below 99.8: 25 %):
#   January: 31 d = 2,678,400 s, budget 0.001 x 2,678,400 = 2678.4 s, downtime 1339.2 s
#            -> availability 100 x (1 - 1339.2 / 2,678,400) = 99.95 %, met, no credit.
#   February: 28 d = 2,419,200 s, budget 2419.2 s, downtime 4838.4 s
#            -> 99.8 %, missed; the breach (threshold 1.0, 10 %) and the 99.8 tier
#               (threshold (100 - 99.8) / (100 - 99.9) = 2.0, 25 %) stand: credit 25 %.
#            A near-breach 0.5 stands too.
# Plus two dead letters (invalid, late) and one line that is not JSON.

def fixture_lines() -> list[bytes]:
    lines = [orjson.dumps(r) for r in CHANGELOG]
    lines.insert(3, b"{not json")
    return lines


def standing() -> Any:
    log = Changelog()
    read_jsonl(fixture_lines(), "fixture.jsonl", log, io.StringIO())
    return log.standing()


def rows_by(*by: str, **options: Any) -> dict[tuple[Any, ...], dict[str, Any]]:
    report = build_report(standing(), ReportOptions.parse(by=list(by), **options))
    return {tuple(row[d] for d in by): row for row in report.kpis}


# ----------------------------------------------------------------------------- compaction


def test_compaction_keeps_the_latest_record_per_alert_id() -> None:
    s = standing()
    ids = [r.alert_id for r in s.records]
    assert "b2r" not in ids  # retracted
    assert ids.count("o2r") == 1
    assert next(r for r in s.records if r.alert_id == "o2r").elapsed_s == 1500  # republished
    assert (s.read, s.retracted, s.dead_letters, s.unreadable) == (22, 1, 2, 1)
    # 22 lines = 21 records + 1 unreadable; 21 - 2 dead letters - 1 retraction - 1 replaced = 17,
    # of which b2r is withdrawn: 16 standing
    assert len(s.records) == 16
    line = s.summary_line()
    assert "2 dead letters ignored" in line and "1 retracted" in line
    assert "1 unreadable" in line and "1 incident outcomes without opened_at" in line


def test_an_unreadable_line_is_reported_with_its_place() -> None:
    err = io.StringIO()
    read_jsonl(fixture_lines(), "fixture.jsonl", Changelog(), err)
    assert err.getvalue().startswith("fixture.jsonl:4: skipped:")


O1R = CHANGELOG[1]  # INC-1's response outcome (o1r)
OA1 = next(r for r in CHANGELOG if r["alert_id"] == "oa1")  # January's availability outcome


@pytest.mark.parametrize(("line", "why"), [
    (b"[1, 2]", "expected a JSON object, got list"),
    (b'"o1r"', "expected a JSON object, got str"),
    (orjson.dumps({k: v for k, v in O1R.items() if k != "alert_id"}), "alert_id=None"),
    (orjson.dumps({**O1R, "alert_id": ""}), "alert_id=''"),
    (orjson.dumps({**O1R, "kind": "escalation"}), "kind='escalation'"),
    (orjson.dumps({k: v for k, v in O1R.items() if k != "metric"}), "metric=None"),
    (orjson.dumps({**O1R, "met": "yes"}), "met='yes'"),
    (orjson.dumps({k: v for k, v in O1R.items() if k != "met"}), "met=None"),
    (orjson.dumps({k: v for k, v in O1R.items() if k != "elapsed_seconds"}),
     "elapsed_seconds=None: expected a number"),
    (orjson.dumps({**O1R, "elapsed_seconds": "720"}), "elapsed_seconds='720'"),
    (orjson.dumps({**O1R, "elapsed_seconds": True}), "elapsed_seconds=True"),
    (orjson.dumps({k: v for k, v in O1R.items() if k != "incident_id"}), "incident_id=None"),
    (orjson.dumps({**O1R, "at": "yesterday"}), "at: 'yesterday'"),
    (orjson.dumps({k: v for k, v in O1R.items() if k != "at"}), "at: None"),
    (orjson.dumps({**O1R, "opened_at": 1.5}), "opened_at: 1.5"),
    (orjson.dumps({**O1R, "customer": ["acme"]}), "customer=['acme']"),
    (orjson.dumps({**CHANGELOG[0], "threshold": True}), "threshold=True"),
    (orjson.dumps({k: v for k, v in OA1.items() if k != "budget_seconds"}),
     "budget_seconds=None"),
    (orjson.dumps({k: v for k, v in OA1.items() if k != "service"}), "service=None"),
    (orjson.dumps({**OA1, "period_end": "2027-02-01"}), "period_end: '2027-02-01'"),
])
def test_a_bad_record_is_skipped_naming_the_field_and_leaves_the_standing_one(
        line: bytes, why: str) -> None:
    log, err = Changelog(), io.StringIO()
    good = [orjson.dumps(O1R), orjson.dumps(OA1)]
    read_jsonl([*good, line], "bad.jsonl", log, err)
    [message] = err.getvalue().splitlines()
    assert message.startswith("bad.jsonl:3: skipped: ") and why in message
    s = log.standing()
    assert (s.read, s.unreadable) == (3, 1)
    # a bad record with a standing record's alert_id neither replaces nor withdraws it
    assert [(r.alert_id, r.elapsed_s) for r in s.records] == [("o1r", 720.0), ("oa1", None)]


def test_a_tombstone_withdraws_and_a_later_record_stands_again() -> None:
    log = Changelog()
    read_jsonl([orjson.dumps(O1R), orjson.dumps(OA1)], "t.jsonl", log, io.StringIO())
    log.tombstone("o1r")
    assert [r.alert_id for r in log.standing().records] == ["oa1"]
    assert log.standing().retracted == 1
    assert log.add_json(orjson.dumps({**O1R, "elapsed_seconds": 800})) is None
    assert [(r.alert_id, r.elapsed_s) for r in log.standing().records] == [("oa1", None),
                                                                          ("o1r", 800.0)]


# ----------------------------------------------------------------------------- figures


def test_figures_by_customer_match_the_hand_computation() -> None:
    rows = rows_by("customer")
    assert list(rows) == [("acme",), ("globex",), ("-",)]  # no customer (availability): last
    acme = rows[("acme",)]
    assert acme["incidents"] == 3
    assert acme["breaches"] == 2  # INC-2 resolution, INC-3 response (INC-2 response retracted)
    assert acme["near_breaches"] == 2  # INC-1 response, INC-3 response
    assert (acme["response_outcomes"], acme["response_met"]) == (3, 2)
    assert acme["response_compliance_percent"] == pytest.approx(66.666667)  # 2/3
    assert (acme["resolution_outcomes"], acme["resolution_met"]) == (2, 1)
    assert acme["resolution_compliance_percent"] == 50.0
    assert acme["compliance_percent"] == 60.0  # 3 met of 5 outcomes
    # MTTA working [720, 1500, 2400]: mean 4620/3 = 1540; p50 rank ceil(1.5) = 2 -> 1500;
    # p90 rank ceil(2.7) = 3 -> 2400
    assert (acme["mtta_n"], acme["mtta_work_mean_s"], acme["mtta_work_p50_s"],
            acme["mtta_work_p90_s"]) == (3, 1540.0, 1500.0, 2400.0)
    # MTTA wall: INC-3 has no opened_at -> [720, 1500]: mean 1110; p50 rank 1 -> 720;
    # p90 rank ceil(1.8) = 2 -> 1500
    assert (acme["mtta_wall_n"], acme["mtta_wall_mean_s"], acme["mtta_wall_p50_s"],
            acme["mtta_wall_p90_s"]) == (2, 1110.0, 720.0, 1500.0)
    # MTTR working [7200, 21600]: mean 14400, p50 7200, p90 21600; wall [10800, 21600]
    assert (acme["mttr_n"], acme["mttr_work_mean_s"], acme["mttr_work_p50_s"],
            acme["mttr_work_p90_s"]) == (2, 14400.0, 7200.0, 21600.0)
    assert (acme["mttr_wall_n"], acme["mttr_wall_mean_s"], acme["mttr_wall_p50_s"],
            acme["mttr_wall_p90_s"]) == (2, 16200.0, 10800.0, 21600.0)
    assert acme["availability_periods"] == 0 and acme["availability_percent"] is None

    globex = rows[("globex",)]
    assert (globex["incidents"], globex["breaches"], globex["near_breaches"]) == (1, 0, 1)
    assert globex["response_compliance_percent"] == 100.0
    assert globex["resolution_outcomes"] == 0 and globex["resolution_compliance_percent"] is None
    assert (globex["mtta_work_mean_s"], globex["mtta_wall_mean_s"]) == (300.0, 300.0)
    assert globex["mttr_work_mean_s"] is None and globex["mttr_wall_p90_s"] is None


def test_availability_and_credits_match_the_hand_computation() -> None:
    avail = rows_by("service")[("api",)]
    assert avail["incidents"] == 3  # INC-1, INC-2, INC-4 (INC-3 is on web)
    assert avail["breaches"] == 2  # INC-2 resolution and February's breach; not the 2.0 tier
    assert (avail["availability_periods"], avail["availability_met"]) == (2, 1)
    assert avail["availability_compliance_percent"] == 50.0
    # pooled: 1 - (1339.2 + 4838.4) / (2,678,400 + 2,419,200) = 1 - 6177.6 / 5,097,600
    #       = 1 - 0.00121186440... -> 99.878814 %
    assert avail["availability_percent"] == pytest.approx(99.878814, abs=1e-6)
    assert avail["availability_min_percent"] == 99.8
    assert avail["downtime_s"] == pytest.approx(6177.6)
    assert avail["budget_s"] == pytest.approx(5097.6)
    assert avail["budget_burn_percent"] == pytest.approx(121.186441, abs=1e-6)  # 6177.6/5097.6
    assert (avail["credit_periods"], avail["credit_max_percent"]) == (1, 25.0)

    periods = build_report(standing(), ReportOptions()).periods
    assert [(p["period_start"], p["availability_percent"], p["budget_burn_percent"], p["met"],
             p["credit_percent"]) for p in periods] == [
        ("2027-01-01T00:00:00.000Z", 99.95, 50.0, True, 0.0),  # 1339.2 / 2678.4
        ("2027-02-01T00:00:00.000Z", 99.8, 200.0, False, 25.0),  # 4838.4 / 2419.2
    ]


def test_periods_follow_the_incident_opening_and_the_middle_of_availability_periods() -> None:
    rows = rows_by("period")
    # INC-4's March near-breach stays with its February opening: no 2027-03 group
    assert list(rows) == [("2027-01",), ("2027-02",)]
    jan, feb = rows[("2027-01",)], rows[("2027-02",)]
    assert (jan["incidents"], jan["breaches"], jan["near_breaches"]) == (2, 1, 1)
    assert jan["compliance_percent"] == 80.0  # 2+1 incident outcomes met of 4, + January: 4/5
    # February: INC-3 (period from its earliest at, no opened_at), INC-4; breaches: INC-3 response
    # and availability; near-breaches: INC-3, INC-4, availability 0.5
    assert (feb["incidents"], feb["breaches"], feb["near_breaches"]) == (2, 2, 3)
    assert feb["compliance_percent"] == pytest.approx(33.333333)  # INC-4 met of 3 outcomes


def test_grouping_by_two_dimensions_and_filters() -> None:
    rows = rows_by("customer", "severity")
    assert list(rows) == [("acme", "P1"), ("acme", "P2"), ("globex", "P1"), ("-", "-")]
    assert rows[("acme", "P1")]["incidents"] == 2
    only = rows_by("customer", customers=["globex"])
    assert list(only) == [("globex",)]
    late = rows_by("customer", from_ms=parse_instant("2027-02-01T00:00:00Z"))
    assert late[("acme",)]["incidents"] == 1  # INC-3 only
    early = rows_by("policy", to_ms=parse_instant("2027-02-01T00:00:00Z"))
    assert {k: v["incidents"] for k, v in early.items()} == {("api-sla",): 0, ("gold",): 2}


@pytest.mark.parametrize(("values", "p", "expected"), [
    ([5.0], 50, 5.0), ([5.0], 90, 5.0),
    ([1.0, 2.0], 50, 1.0), ([1.0, 2.0], 90, 2.0),
    ([float(v) for v in range(1, 11)], 90, 9.0),  # rank ceil(9.0) = 9, not 10
    ([float(v) for v in range(1, 11)], 50, 5.0),
    ([3.0, 1.0, 2.0], 50, 2.0),
    ([], 50, None),
])
def test_nearest_rank(values: list[float], p: int, expected: float | None) -> None:
    assert nearest_rank(values, p) == expected


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "n/a"), (0, "0s"), (59.4, "59s"), (59.6, "1m 00s"), (750, "12m 30s"),
    (3899, "1h 05m"), (3600, "1h 00m"), (86_399, "1d 00h"), (2 * 86_400 + 3 * 3600, "2d 03h"),
])
def test_human_duration(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(("instant", "period", "label"), [
    ("2027-01-01T00:00:00Z", "month", "2027-01"),
    ("2027-01-31T23:59:59.999Z", "month", "2027-01"),
    ("2027-01-01T00:00:00Z", "week", "2026-W53"),  # a Friday: ISO week of 2026
    ("2027-01-04T00:00:00Z", "week", "2027-W01"),  # Monday
    ("2027-01-03T23:59:59.999Z", "week", "2026-W53"),
    ("2027-03-10T08:00:00+09:00", "day", "2027-03-09"),  # UTC
])
def test_period_labels(instant: str, period: str, label: str) -> None:
    assert period_label(parse_instant(instant), period) == label


# ----------------------------------------------------------------------------- formats


def test_csv_round_trips() -> None:
    report = build_report(standing(), ReportOptions.parse(by=["customer,period"], format="csv"))
    text = format_report(report)
    read = list(csv.DictReader(io.StringIO(text)))
    assert list(read[0]) == ["customer", "period", *KPI_COLUMNS]
    # acme in January and February, globex in February, no customer (availability) in both
    assert len(read) == len(report.kpis) == 5
    assert parse_csv(text) == report.kpis  # every value back, with its type, exactly
    periods = build_report(standing(), ReportOptions.parse(format="csv", periods_csv=True))
    assert parse_csv(format_report(periods)) == periods.periods


def test_csv_writes_na_as_empty_cells() -> None:
    rows = kpi_rows(standing(), ["customer"])
    globex = next(r for r in csv.DictReader(io.StringIO(format_csv(["customer", *KPI_COLUMNS],
                                                                   rows)))
                  if r["customer"] == "globex")
    assert globex["mttr_work_mean_s"] == "" and globex["mtta_work_mean_s"] == "300.0"


def test_json_output_parses_and_equals_the_rows() -> None:
    report = build_report(standing(), ReportOptions.parse(by=["service"], format="json"))
    data = json.loads(format_report(report))
    assert data == json.loads(json.dumps(report_json(report)))
    assert data["kpis"] == report.kpis and data["periods"] == report.periods
    assert data["summary"]["dead_letters"] == 2
    assert data["summary"]["outcomes_without_opened_at"] == 1
    assert {(p["period"], p["metric"]): (p["met"], p["outcomes"])
            for p in data["compliance_over_time"]} == {
        ("2027-01", "response"): (2, 2), ("2027-01", "resolution"): (1, 2),
        ("2027-01", "availability"): (1, 1), ("2027-01", "overall"): (4, 5),
        ("2027-02", "response"): (1, 2), ("2027-02", "availability"): (0, 1),
        ("2027-02", "overall"): (1, 3)}


def test_table_shows_human_durations_and_marks_partial_wall_times() -> None:
    text = format_report(build_report(standing(), ReportOptions()))
    lines = text.splitlines()
    assert lines[0] == "OVERVIEW"
    acme_mtta = next(line for line in lines if line.startswith("acme") and "MTTA" in line)
    assert acme_mtta.split() == ["acme", "MTTA", "3", "25m", "40s", "25m", "00s", "40m", "00s",
                                 "18m", "30s*", "12m", "00s*", "25m", "00s*"]
    assert "* wall time over the outcomes that carry opened_at only" in text
    assert "66.7% (2/3)" in text
    credit = next(line for line in lines if line.startswith("api ")
                  and line.split()[2] == "2027-02-01T00:00:00.000Z")
    assert credit.split()[-2:] == ["NO", "25%"]


# ----------------------------------------------------------------------------- charts


def test_charts_are_png_and_not_blank(tmp_path: Path) -> None:
    from matplotlib import image

    from streams.report.charts import write_charts

    written = write_charts(build_report(standing(), ReportOptions()), tmp_path / "charts")
    assert sorted(p.name for p in written) == ["availability.png", "budget-burn.png",
                                               "compliance.png"]
    for path in written:
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), path
        assert len(data) > 5000, path
        pixels = image.imread(str(path))
        assert pixels.std() > 0.01, f"{path} is one flat colour"


def test_no_availability_no_availability_charts(tmp_path: Path) -> None:
    from streams.report.charts import write_charts

    only_incidents = standing().select(lambda r, _: r.metric != "availability")
    report = build_report(only_incidents, ReportOptions())
    assert [p.name for p in write_charts(report, tmp_path)] == ["compliance.png"]


# ----------------------------------------------------------------------------- command line


def write_fixture(tmp_path: Path) -> Path:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"\n".join(fixture_lines()) + b"\n")
    return path


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["report", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "example" in text and "slawatch report --input out.jsonl" in text


@pytest.mark.parametrize(("argv", "needle"), [
    (["--by", "region"], "--by 'region'"),
    (["--period", "fortnight"], "--period 'fortnight'"),
    (["--format", "xml"], "--format 'xml'"),
    (["--from-time", "yesterday"], "--from-time"),
    (["--from-time", "1801440000000", "--to-time", "2027-02-01T00:00:00Z"],
     "--from-time 2027-02-01T00:00:00.000Z is not before --to-time 2027-02-01T00:00:00.000Z"),
    (["--periods"], "--periods goes with --format csv"),
    (["--from-topics"], "give --input FILE or --from-topics, not both"),
    (["--broker", "kafka:9092"], "--broker and --prefix go with --from-topics"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            argv: list[str], needle: str) -> None:
    code = cli.main(["report", "--input", str(write_fixture(tmp_path)), *argv])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1 and needle in captured.err
    assert captured.err.startswith("slawatch report: error: ")


def test_missing_input_file_exits_2_with_one_line(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--input", str(tmp_path / "nope.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"slawatch report: error: {tmp_path / 'nope.jsonl'}: "
                                "No such file or directory"]


def test_no_input_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "slawatch report: error: no input: give --input FILE (- for stdin) or --from-topics"]


EXAMPLES = Path(cli.__file__).parent / "examples"


@pytest.mark.parametrize(("name", "content", "says"), [
    ("incidents.jsonl", (EXAMPLES / "incidents.jsonl").read_bytes(),
     "incidents.jsonl holds incident events, not alert records: run slawatch replay first"),
    ("heartbeats.jsonl", (EXAMPLES / "heartbeats.jsonl").read_bytes(),
     "heartbeats.jsonl holds heartbeats, not alert records: run slawatch replay first"),
    ("a.bin", bytes(range(256)) * 64,
     "a.bin holds binary data, not alert records: expected the JSON Lines of slawatch replay"),
    ("notes.txt", b"hello\nworld\n" * 200,
     "notes.txt holds text that is not JSON, not alert records: expected the JSON Lines"),
], ids=["incidents", "heartbeats", "binary", "text"])
def test_input_with_no_alert_record_is_refused_naming_what_it_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        name: str, content: bytes, says: str) -> None:
    (tmp_path / name).write_bytes(content)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["report", "--input", name]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err  # no line per skipped line
    assert captured.err.startswith(f"slawatch report: error: {says}"), captured.err
    assert captured.out == ""


def test_records_after_some_bad_lines_are_read_and_the_bad_lines_reported() -> None:
    bad = [orjson.dumps({"incident_id": "I", "type": "opened"}), b"\xff\xfe"]
    log, err = Changelog(), io.StringIO()
    read_jsonl([*bad, *fixture_lines()], "mixed.jsonl", log, err)
    first, second = err.getvalue().splitlines()[:2]
    assert first.startswith("mixed.jsonl:1: skipped: ")
    assert second.startswith("mixed.jsonl:2: skipped: ")
    assert log.standing().records


def test_an_empty_input_is_an_empty_report(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "none.jsonl").write_bytes(b"")
    assert cli.main(["report", "--input", str(tmp_path / "none.jsonl")]) == 0
    assert capsys.readouterr().out == "no standing alerts or outcomes\n"


def test_report_command_writes_csv_and_charts(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "kpis.csv"
    code = cli.main(["report", "--input", str(write_fixture(tmp_path)), "--by", "service",
                     "--format", "csv", "--output", str(out), "--charts", str(tmp_path / "c")])
    captured = capsys.readouterr()
    assert code == 0 and captured.out == ""
    with out.open(encoding="utf-8") as fh:
        rows = {r["service"]: r for r in csv.DictReader(fh)}
    assert rows["api"]["credit_max_percent"] == "25.0"
    assert (tmp_path / "c" / "compliance.png").exists()
    assert captured.err.splitlines()[-1].startswith("report: 22 records read, 16 standing")


def test_report_reads_stdin(monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    class Stdin:
        buffer = io.BytesIO(b"\n".join(orjson.dumps(r) for r in CHANGELOG))

    monkeypatch.setattr("sys.stdin", Stdin)
    assert cli.main(["report", "--input", "-", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["customer"] for r in data["kpis"]] == ["acme", "globex", "-"]


def test_options_refuse_a_repeated_dimension() -> None:
    with pytest.raises(ReportError, match="given twice"):
        ReportOptions.parse(by=["customer", "customer"])


def test_from_topics_without_a_broker_is_a_one_line_error(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLAWATCH_BROKER", raising=False)
    assert cli.main(["report", "--from-topics"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "SLAWATCH_BROKER" in err[0]


# ----------------------------------------------------------------------------- custom clocks


def test_a_custom_clock_has_its_compliance_and_time_to_milestone_columns() -> None:
    """SPEC 4.1 in a report: golden/clocks/05 (worked by hand in its README): on_site outcomes
    5400 s (missed) and 3600 s (met), repair 9000 s (missed) and 6300 s (met), the response met
    twice; p50/p90 by nearest rank of two values are the first and the second."""
    from streams.core.policyfile import load_policy_file
    from tests.golden.test_clocks import CLOCKS, replayed

    folder = CLOCKS / "05-severity-change"
    lines, _ = replayed(folder, load_policy_file(str(folder / "policy.yaml")))
    log = Changelog()
    read_jsonl(lines, "out.jsonl", log, io.StringIO())
    report = build_report(log.standing(), ReportOptions.parse(by=["policy"], format="csv"))
    assert report.clocks == ("on_site", "repair")
    (row,) = report.kpis
    assert (row["on_site_outcomes"], row["on_site_met"], row["on_site_compliance_percent"]) == (
        2, 1, 50.0)
    assert (row["on_site_time_n"], row["on_site_time_work_mean_s"], row["on_site_time_work_p50_s"],
            row["on_site_time_work_p90_s"]) == (2, 4500.0, 3600.0, 5400.0)
    assert (row["repair_time_work_mean_s"], row["repair_time_work_p50_s"],
            row["repair_time_work_p90_s"]) == (7650.0, 6300.0, 9000.0)
    # wall time: opened -> stop (repair: 08:00 -> 12:00 and 08:00 -> 10:45)
    assert row["repair_time_wall_mean_s"] == (14400 + 9900) / 2
    assert row["compliance_percent"] == round(100 * 4 / 6, 6)  # response 2/2, on_site, repair 1/2
    text = format_report(report)
    assert text.splitlines()[0].endswith(",repair_time_wall_p90_s")
    assert parse_csv(text) == report.kpis
    table = format_table(build_report(log.standing(), ReportOptions.parse(by=["policy"])))
    assert "on_site met" in table and "50.0% (1/2)" in table
    assert any(line.split()[1:4] == ["to", "repair", "2"] for line in table.splitlines())
