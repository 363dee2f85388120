"""The in-memory fold harness (``tests.support.fold``) writes what ``slawatch replay`` writes for
the same inputs, record for record, but for what only a file runner has (``detected_at``, the
file a dead letter names, and the dead letter's key, derived from it)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.core.policyfile import load_policy_file
from streams.core.timefmt import parse_instant
from streams.replay import replay
from tests.support.fold import fold
from tests.support.scenarios import SCENARIOS


def _lines(path: Path) -> list[bytes] | None:
    if not path.exists():
        return None
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def _comparable(rec: dict[str, Any]) -> dict[str, Any]:
    dropped = {"detected_at", "source_file"} | ({"alert_id"} if rec["kind"] in (
        "invalid", "late") else set())
    return {k: v for k, v in rec.items() if k not in dropped}


@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_the_harness_writes_what_replay_writes(folder: Path) -> None:
    policies = load_policy_file(str(folder / "policy.yaml"))
    until = parse_instant((folder / "until.txt").read_text().strip())
    incidents, heartbeats = folder / "incidents.jsonl", folder / "heartbeats.jsonl"
    out, err = io.BytesIO(), io.StringIO()
    replay(policies, str(incidents) if incidents.exists() else None,
           str(heartbeats) if heartbeats.exists() else None, until, out, err)
    replayed = [_comparable(orjson.loads(line)) for line in out.getvalue().splitlines()]
    folded = [_comparable(r) for r in fold(policies, _lines(incidents), _lines(heartbeats),
                                            until)]
    assert replayed, "the scenario writes records"
    assert folded == replayed
