"""End to end: ``slawatch replay`` of two worked examples into one file, then ``slawatch report``
on it; the figures are derived here from the examples' ``expected.jsonl`` and inputs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from statistics import mean
from typing import Any

import orjson
import pytest

from streams import cli
from streams.core.timefmt import parse_instant

SCENARIOS = Path(__file__).parent / "scenarios"
USED = ("03-pause-resume-reopen", "05-availability-month")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both examples replayed by the command, appended into one JSON Lines file."""
    folder = tmp_path_factory.mktemp("report")
    combined = folder / "records.jsonl"
    with combined.open("wb") as out:
        for name in USED:
            src, part = SCENARIOS / name, folder / f"{name}.jsonl"
            assert cli.main(["replay", "--policies", str(src / "policy.yaml"),
                             "--incidents", str(src / "incidents.jsonl"),
                             "--heartbeats", str(src / "heartbeats.jsonl"),
                             "--until", (src / "until.txt").read_text().strip(),
                             "--output", str(part)]) == 0
            out.write(part.read_bytes())
    return combined


def report(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert cli.main(["report", "--input", str(path), "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def expected() -> list[dict[str, Any]]:
    return [r for name in USED for r in read_jsonl(SCENARIOS / name / "expected.jsonl")]


def counted_breach(r: dict[str, Any]) -> bool:
    """A breach as the report counts it: a credit tier (threshold > 1) deepens its period's."""
    return r["kind"] == "breach" and not (r["metric"] == "availability" and r["threshold"] > 1)


def wall_seconds(folder: Path) -> dict[tuple[str, str], float]:
    """Wall time to each clock's final stop, from the inputs (example 03: the response stops at
    the first acknowledgement, the resolution at the last resolve; nothing is closed)."""
    events = read_jsonl(folder / "incidents.jsonl")
    walls = {}
    for inc in {e["incident_id"] for e in events}:
        mine = [e for e in events if e["incident_id"] == inc]
        opened = min(parse_instant(e["at"]) for e in mine if e["type"] == "opened")
        acks = [parse_instant(e["at"]) for e in mine if e["type"] in ("acknowledged", "resolved")]
        resolves = [parse_instant(e["at"]) for e in mine if e["type"] == "resolved"]
        if acks:
            walls[(inc, "response")] = (min(acks) - opened) / 1000
        if resolves:
            walls[(inc, "resolution")] = (max(resolves) - opened) / 1000
    return walls


def test_report_by_customer_agrees_with_the_worked_examples(
        replayed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = report(replayed, capsys, "--by", "customer")
    rows = {r["customer"]: r for r in data["kpis"]}
    want = expected()
    walls = wall_seconds(SCENARIOS / USED[0])
    customers = {r["customer"] for r in want if "customer" in r}
    assert set(rows) == customers | {"-"}  # availability records have no customer
    for customer in customers:
        mine = [r for r in want if r.get("customer") == customer]
        row = rows[customer]
        assert row["incidents"] == len({r["incident_id"] for r in mine})
        assert row["breaches"] == sum(counted_breach(r) for r in mine)
        assert row["near_breaches"] == sum(r["kind"] == "near_breach" for r in mine)
        for metric, name in (("response", "mtta"), ("resolution", "mttr")):
            outcomes = [r for r in mine if r["kind"] == "outcome" and r["metric"] == metric]
            assert row[f"{metric}_outcomes"] == len(outcomes)
            assert row[f"{metric}_met"] == sum(r["met"] for r in outcomes)
            if outcomes:
                assert row[f"{name}_work_mean_s"] == pytest.approx(
                    mean(r["elapsed_seconds"] for r in outcomes))
                assert row[f"{name}_wall_n"] == len(outcomes)  # every outcome has opened_at
                assert row[f"{name}_wall_mean_s"] == pytest.approx(
                    mean(walls[(r["incident_id"], metric)] for r in outcomes))
            else:
                assert row[f"{name}_work_mean_s"] is None
    summary = data["summary"]
    assert summary["standing"] == len(want)
    assert summary["retracted"] >= 1  # example 03's response breach of SUP-88


def test_report_by_service_agrees_with_the_availability_example(
        replayed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = report(replayed, capsys, "--by", "service")
    storage = next(r for r in data["kpis"] if r["service"] == "storage")
    want = [r for r in expected() if r.get("service") == "storage"]
    periods = [r for r in want if r["kind"] == "outcome" and r["metric"] == "availability"]
    assert len(periods) == 1
    june = periods[0]
    assert storage["incidents"] == len({r["incident_id"] for r in want if "incident_id" in r})
    assert storage["breaches"] == sum(counted_breach(r) for r in want)
    assert (storage["availability_periods"], storage["availability_met"]) == (1, 0)
    assert storage["availability_percent"] == pytest.approx(june["availability"], abs=1e-6)
    assert storage["availability_min_percent"] == pytest.approx(june["availability"], abs=1e-6)
    assert storage["downtime_s"] == pytest.approx(june["downtime_seconds"])
    assert storage["budget_burn_percent"] == pytest.approx(
        100 * june["downtime_seconds"] / june["budget_seconds"])
    assert (storage["credit_periods"], storage["credit_max_percent"]) == (1, june["credit_percent"])
    [row] = data["periods"]
    assert row["policy_period"] == "2027-06"  # the Tokyo June starts 2027-05-31T15:00Z
    assert parse_instant(row["period_start"]) == parse_instant(june["period_start"])
    assert row["credit_percent"] == june["credit_percent"]
    outcomes = [r for r in want if r["kind"] == "outcome"]
    assert storage["compliance_percent"] == pytest.approx(
        100 * sum(r["met"] for r in outcomes) / len(outcomes))


def test_the_readme_example_is_what_the_command_prints(
        replayed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (Path(__file__).parents[2] / "README.md").read_text()
    block = re.search(r"```\n(OVERVIEW\nservice .*?)\n```", text, re.S)
    assert block is not None, "the README lost its example report"
    capsys.readouterr()
    assert cli.main(["report", "--input", str(replayed), "--by", "service"]) == 0
    captured = capsys.readouterr()
    assert block.group(1) == captured.out + captured.err.rstrip("\n")
