"""``slawatch report --from-topics`` over the wire: records produced to the output topics of a
deployment on the embedded broker give the report that the same records give from a file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import orjson
import pytest

from streams import cli
from streams.broker import EmbeddedBroker
from streams.codec import topic_of
from tests.integration.harness import Deployment
from tests.support.report_sample import CHANGELOG

pytestmark = pytest.mark.integration

POLICIES = Path(__file__).parents[2] / "streams" / "examples" / "policies.yaml"


def report(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    capsys.readouterr()
    assert cli.main(["report", "--format", "json", "--by", "customer", *args]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_report_from_topics_equals_the_report_of_the_same_records_from_a_file(
        broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SLAWATCH_")]:
        monkeypatch.delenv(name)
    alerts = [r for r in CHANGELOG if r["kind"] not in ("invalid", "late")]
    deployment = Deployment(broker, POLICIES)
    try:
        for rec in alerts:
            deployment.send(topic_of(rec), rec["alert_id"], rec)
        # a tombstone (compaction's delete) withdraws globex's near-breach like a retraction
        deployment.producer.send(deployment.topic("near-breaches"), key=b"n4", value=None)
        deployment.producer.flush()
    finally:
        deployment.close()
    from_topics = report(capsys, "--from-topics", "--broker", broker.bootstrap,
                         "--prefix", deployment.settings.topic_prefix, "--timeout", "20")

    path = tmp_path / "records.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in alerts) + b"\n"
                     + orjson.dumps({"alert_id": "n4", "kind": "retraction",
                                     "retracts": "near_breach"}) + b"\n")
    from_file = report(capsys, "--input", str(path))

    assert from_topics["kpis"] == from_file["kpis"]
    assert from_topics["periods"] == from_file["periods"]
    rows = {r["customer"]: r for r in from_topics["kpis"]}  # type: ignore[attr-defined]
    assert rows["globex"]["near_breaches"] == 0  # the tombstone
    assert rows["acme"]["mtta_work_mean_s"] == 1540.0  # the republished outcome stands
    assert from_topics["summary"]["retracted"] == 2  # type: ignore[index]
    assert from_topics["summary"]["records_read"] == len(alerts) + 1  # type: ignore[index]


def test_from_topics_on_missing_topics_is_a_one_line_error(
        broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--from-topics", "--broker", broker.bootstrap,
                     "--prefix", "no-such-prefix", "--timeout", "5"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("slawatch report: error: ")
