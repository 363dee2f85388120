"""Every worked example in ../shared/scenarios gives exactly its expected standing records."""

from __future__ import annotations

import io
import os
from pathlib import Path

import orjson
import pytest

from streams.core.policyfile import load_policy_file
from streams.core.timefmt import parse_instant
from streams.replay import replay
from tests.support.compare import diff

SCENARIOS = Path(__file__).parent / "scenarios"  # a copy of ../shared/scenarios (checked below)
SHARED = Path(os.environ.get("SLAWATCH_SHARED", Path(__file__).parents[3] / "shared")) / "scenarios"
ALL = sorted(p for p in SCENARIOS.glob("*") if (p / "expected.jsonl").exists())


def read_jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def run_replay(folder: Path) -> tuple[list[dict], str]:
    out, err = io.BytesIO(), io.StringIO()
    until = parse_instant((folder / "until.txt").read_text().strip())
    replay(load_policy_file(str(folder / "policy.yaml")), str(folder / "incidents.jsonl"),
           str(folder / "heartbeats.jsonl"), until, out, err)
    return [orjson.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_scenarios_are_there() -> None:
    assert len(ALL) >= 6, f"no worked examples found under {SCENARIOS}"


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared/scenarios beside this checkout")
def test_spec_copy_matches_shared() -> None:
    ours = (Path(__file__).parents[2] / "docs" / "SPEC.md").read_bytes()
    assert ours == (SHARED.parent / "SPEC.md").read_bytes(), "docs/SPEC.md drifted: copy it again"


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared/scenarios beside this checkout")
def test_copy_matches_shared() -> None:
    ours = {p.relative_to(SCENARIOS): p.read_bytes() for p in SCENARIOS.rglob("*") if p.is_file()}
    theirs = {p.relative_to(SHARED): p.read_bytes() for p in SHARED.rglob("*") if p.is_file()}
    assert ours == theirs, "tests/golden/scenarios drifted from ../shared/scenarios: copy it again"


@pytest.mark.parametrize("folder", ALL, ids=lambda p: p.name)
def test_scenario(folder: Path) -> None:
    records, err = run_replay(folder)
    assert err == ""
    assert diff(read_jsonl(folder / "expected.jsonl"), records) == []
