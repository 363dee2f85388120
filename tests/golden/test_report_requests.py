"""End to end, issue 14: ``slawatch replay --requests`` of each worked example of request
objectives, then ``slawatch report`` on its output; the figures are derived here from the
example's ``expected.jsonl`` (the records that stand, derived by hand in its README) and its
policy. And the outages of worked example 05, counted by hand in its README."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from streams import cli
from streams.core.policyfile import load_policy_file
from tests.golden.test_requests import CASES, read_jsonl

SCENARIOS = Path(__file__).parent / "scenarios"


def replay(folder: Path, out: Path) -> Path:
    assert cli.main(["replay", "--policies", str(folder / "policy.yaml"),
                     "--requests", str(folder / "requests.jsonl"),
                     "--until", (folder / "until.txt").read_text().strip(),
                     "--output", str(out)]) == 0
    return out


def report(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert cli.main(["report", "--input", str(path), "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def objectives(folder: Path) -> dict[tuple[str, str], tuple[str, float, str]]:
    """(policy, objective) -> (sli, target, budgeting), from the example's policy file."""
    found = {}
    for version in load_policy_file(str(folder / "policy.yaml")).versions:
        if version.requests is not None:
            for o in version.requests.objectives:
                found[(version.id, o.id)] = (o.sli, float(o.target), version.requests.budgeting)
    return found


def burn(outcome: dict[str, Any], target: float, budgeting: str) -> float | None:
    """The share of the period's error budget spent, by hand (README "Reports")."""
    if budgeting == "timeslices":
        budget = outcome["budget_seconds"]
        return 100 * outcome["bad_seconds"] / budget if budget else None
    total = outcome["total"]
    return 100 * (total - outcome["good"]) / ((1 - target / 100) * total) if total else 0.0


@pytest.mark.parametrize("folder", CASES, ids=lambda p: p.name)
def test_report_by_policy_agrees_with_the_worked_example(
        folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = report(replay(folder, tmp_path / "out.jsonl"), capsys, "--by", "policy")
    want = read_jsonl(folder / "expected.jsonl")
    kinds = objectives(folder)
    rows = {r["policy"]: r for r in data["kpis"]}
    assert set(rows) == {r["policy_id"] for r in want}
    for policy, row in rows.items():
        mine = [r for r in want if r["policy_id"] == policy]
        outcomes = [r for r in mine if r["kind"] == "outcome"]
        assert row["requests_periods"] == len(outcomes)
        assert row["requests_met"] == sum(r["met"] for r in outcomes)
        assert row["breaches"] == sum(r["kind"] == "breach" and r["threshold"] == 1.0
                                      for r in mine)
        assert row["near_breaches"] == sum(r["kind"] == "near_breach" for r in mine)
        for sli in ("errors", "latency"):
            counted = [r for r in outcomes if kinds[(policy, r["objective"])][0] == sli
                       and kinds[(policy, r["objective"])][2] == "occurrences"]
            assert row[f"requests_{sli}_total"] == sum(r["total"] for r in counted)
            assert row[f"requests_{sli}_good"] == sum(r["good"] for r in counted)
        burns = [b for r in outcomes if (b := burn(r, *kinds[(policy, r["objective"])][1:]))
                 is not None]
        assert row["requests_burn_max_percent"] == (
            pytest.approx(max(burns), abs=1e-6) if burns else None)
        assert row["requests_credit_max_percent"] == (
            max(r["credit_percent"] for r in outcomes) if outcomes else None)
    assert len(data["objective_periods"]) == sum(r["kind"] == "outcome" for r in want)


def test_the_first_example_by_hand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """r1 (README there): days of 995/1000, 990/1000, 290/300 and 90/100 good at a 99 % target:
    pooled 2365/2400, so an error rate of 35/2400 = 1.458333 %; 2 of 4 days met; the budgets
    (1 % of each day's requests) spent 50 %, 100 %, 333.333333 % and 1000 %; credits 10 and 25."""
    folder = next(c for c in CASES if c.name.startswith("r1"))
    out = replay(folder, tmp_path / "out.jsonl")
    (row,) = report(out, capsys, "--by", "service")["kpis"]
    assert (row["requests_periods"], row["requests_met"]) == (4, 2)
    assert (row["requests_errors_good"], row["requests_errors_total"]) == (2365, 2400)
    assert row["requests_error_rate_percent"] == 1.458333
    assert row["breaches"] == 2  # 03-03 and 03-04; the 03-04 tier 5.0 deepens its breach
    assert (row["requests_credit_periods"], row["requests_credit_max_percent"]) == (2, 25)
    periods = report(out, capsys)["objective_periods"]
    assert [p["budget_burn_percent"] for p in periods] == [50.0, 100.0, 333.333333, 1000.0]
    charts = tmp_path / "charts"
    assert cli.main(["report", "--input", str(out), "--charts", str(charts)]) == 0
    assert sorted(p.name for p in charts.iterdir()) == ["compliance.png", "objective-budget.png"]


def test_the_outages_of_the_availability_month(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Example 05 (README there): three down stretches in June, the second and the third each
    split in two by a maintenance window: 5 outages; downtime 21,600 s of a counted length of
    2,570,400 s: MTBF (2,570,400 - 21,600) / 5 = 509,760 s, mean outage 21,600 / 5 = 4320 s."""
    src = SCENARIOS / "05-availability-month"
    out = tmp_path / "out.jsonl"
    assert cli.main(["replay", "--policies", str(src / "policy.yaml"),
                     "--heartbeats", str(src / "heartbeats.jsonl"),
                     "--until", (src / "until.txt").read_text().strip(),
                     "--output", str(out)]) == 0
    (row,) = report(out, capsys, "--by", "service")["kpis"]
    assert (row["outage_periods"], row["outages"], row["outages_per_period"]) == (1, 5, 5.0)
    assert row["mtbf_s"] == pytest.approx(509_760)
    assert row["mean_outage_s"] == pytest.approx(4320)
    assert "requests_periods" not in row  # no request objective: none of its columns


def test_the_readme_example_of_request_objectives_is_what_the_command_prints(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (Path(__file__).parents[2] / "README.md").read_text()
    blocks = [b for b in re.findall(r"```\n(OVERVIEW\n.*?)\n```", text, re.S)
              if "REQUEST OBJECTIVE PERIODS" in b]
    assert len(blocks) == 1, "the README lost its example report of request objectives"
    folder = next(c for c in CASES if c.name.startswith("r1"))
    out = replay(folder, tmp_path / "out.jsonl")
    capsys.readouterr()
    assert cli.main(["report", "--input", str(out), "--by", "service"]) == 0
    captured = capsys.readouterr()
    assert blocks[0] == captured.out + captured.err.rstrip("\n")
