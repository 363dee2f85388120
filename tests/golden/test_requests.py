"""The worked examples of request objectives (``tests/golden/requests``, each derived by hand in
its README from SPEC section 9) through ``slawatch replay --requests`` and the in-memory fold:
the records that stand are exactly ``expected.jsonl``; where the folder says so, the dead letters
(``deadletters.jsonl``) and the records published then retracted (``retracted.jsonl``) too."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.cli import main
from streams.core.policyfile import load_policy_file
from streams.core.timefmt import parse_instant
from streams.replay import replay
from tests.support.compare import diff, matches
from tests.support.fold import fold
from tests.support.schemas import SCHEMA_OF_KIND, problems

CASES = sorted(p for p in (Path(__file__).parent / "requests").iterdir() if p.is_dir())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def run(folder: Path) -> tuple[list[dict[str, Any]], str]:
    out, err = io.BytesIO(), io.StringIO()
    until = parse_instant((folder / "until.txt").read_text().strip())
    replay(load_policy_file(str(folder / "policy.yaml")), None, None, until, out, err,
           requests=str(folder / "requests.jsonl"))
    return [orjson.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_the_cases_are_there() -> None:
    assert len(CASES) >= 8 and all((c / "README.md").exists() for c in CASES)


@pytest.mark.parametrize("folder", CASES, ids=lambda p: p.name)
def test_case(folder: Path) -> None:
    records, err = run(folder)
    assert diff(read_jsonl(folder / "expected.jsonl"), records) == []
    letters = [r for r in records if r["kind"] in ("invalid", "late")]
    want = read_jsonl(folder / "deadletters.jsonl")
    assert [{k: r[k] for k in ("source_file", "line", "reason")} for r in letters] == [
        {**w, "source_file": str(folder / "requests.jsonl")} for w in want]
    assert err.count("\n") == len(want)
    for rec in records:
        assert problems(SCHEMA_OF_KIND[rec["kind"]], {**rec, "detected_at": rec.get(
            "detected_at", "2027-01-01T00:00:00.000Z")}) == [], rec


@pytest.mark.parametrize("folder", [c for c in CASES if (c / "retracted.jsonl").exists()],
                         ids=lambda p: p.name)
def test_what_a_late_record_retracts(folder: Path) -> None:
    records, _ = run(folder)
    for want in read_jsonl(folder / "retracted.jsonl"):
        fired = [r for r in records if r["kind"] != "retraction" and matches(want, r)]
        assert len(fired) == 1, f"{want} was not published once: {fired}"
        aid = fired[0]["alert_id"]
        assert [r["kind"] for r in records if r["alert_id"] == aid] == [want["kind"], "retraction"]


@pytest.mark.parametrize("folder", CASES, ids=lambda p: p.name)
def test_the_fold_harness_gives_replay_record_for_record(folder: Path) -> None:
    replayed, _ = run(folder)
    folded = fold(str((folder / "policy.yaml").read_text()),
                  requests=read_jsonl(folder / "requests.jsonl"),
                  until=parse_instant((folder / "until.txt").read_text().strip()))
    strip = {"detected_at", "source_file", "alert_id", "error", "raw"}
    assert [{k: v for k, v in r.items() if k not in strip} for r in replayed] == [
        {k: v for k, v in r.items() if k not in strip} for r in folded]


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = next(c for c in CASES if c.name.startswith("r1"))
    out = tmp_path / "out.jsonl"
    assert main(["replay", "--policies", str(folder / "policy.yaml"), "--requests",
                 str(folder / "requests.jsonl"), "--until", "2027-03-05T00:00:00Z",
                 "--output", str(out)]) == 0
    assert diff(read_jsonl(folder / "expected.jsonl"), read_jsonl(out)) == []
    assert "7 request counts read, 1 skipped" in capsys.readouterr().err
