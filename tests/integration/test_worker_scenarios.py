"""Acceptance 1: every worked example (``golden/scenarios``, the custom clocks of ``golden/clocks``
and the request objectives of ``golden/requests``), produced to the input topics of a running
worker, gives compacted output topics equal to ``slawatch replay`` of the same files.

The workers run with the manual clock, so the detector clock moves past event time only by the
ticks the test produces (to the example's ``until``), as replay's ``--until`` moves it. They all
run at once, each with its own topics and consumer group on the session's broker.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.broker import EmbeddedBroker
from streams.core.policyfile import load_policy_file
from streams.core.timefmt import parse_instant
from streams.replay import replay
from tests.integration.harness import Deployment, Worker, standing, wait_for
from tests.support.schemas import SCHEMA_OF_KIND, problems

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).parent.parent / "golden"
SCENARIOS = sorted(p for name in ("scenarios", "clocks", "requests")
                   for p in (GOLDEN / name).iterdir() if p.is_dir())
#: each input file of an example, its topic and the field its records are keyed by
INPUTS = (("incidents", "incident_id"), ("heartbeats", "service"), ("requests", "service"))


def replayed(folder: Path) -> list[dict[str, Any]]:
    out = io.BytesIO()
    until = parse_instant((folder / "until.txt").read_text().strip())
    files = {name: str(folder / f"{name}.jsonl") if (folder / f"{name}.jsonl").exists() else None
             for name, _ in INPUTS}
    replay(load_policy_file(str(folder / "policy.yaml")), files["incidents"], files["heartbeats"],
           until, out, io.StringIO(), requests=files["requests"])
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_every_worked_example_through_the_worker_equals_replay(broker: EmbeddedBroker,
                                                               tmp_path: Path) -> None:
    runs = []
    for folder in SCENARIOS:
        dep = Deployment(broker, folder / "policy.yaml")
        for name, key in INPUTS:
            dep.send_file(name, folder / f"{name}.jsonl", key)
        runs.append((folder, dep, Worker(dep, tmp_path, folder.name).start()))
    try:
        for folder, dep, _ in runs:
            records = replayed(folder)
            want = standing([r for r in records if r["kind"] not in ("invalid", "late")])
            want_dead = Counter(r["reason"] for r in records if r["kind"] in ("invalid", "late"))
            assert want, f"{folder.name}: replay stands on some records"
            until = (folder / "until.txt").read_text().strip()

            def same(dep: Deployment = dep, until: str = until,
                     want: dict[str, Any] = want) -> bool:
                dep.tick(until)
                return standing(dep.read()) == want

            wait_for(same, 120, what=f"{folder.name}: the worker's standing records = replay's")
            dead = dep.read(["deadletter"])
            assert Counter(r["reason"] for r in dead) == want_dead, folder.name
            assert all(r["source_topic"] in {dep.topic(name) for name, _ in INPUTS}
                       and r["offset"] >= 0 for r in dead)
            # every record is keyed by its alert_id, as the compacted topics need, and is what
            # the schemas say (the worker publishes the records replay writes)
            for rec in dep.read() + dead:
                assert rec.pop("_key") == rec["alert_id"]
                assert problems(SCHEMA_OF_KIND[rec["kind"]], rec) == [], rec
        for folder, _, worker in runs:
            assert worker.alive(), f"{folder.name}: worker died:\n{worker.log()[-3000:]}"
    finally:
        for _, dep, worker in runs:
            worker.stop()
            dep.close()
