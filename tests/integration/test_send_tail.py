"""``slawatch send`` and ``slawatch tail`` over the wire, on both brokers: what send produces
(topics, keys, the bad lines left out) read back with kafka-python, and what tail prints of
alert records produced to the alert topics."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from streams.broker import EmbeddedBroker
from tests.integration.harness import Deployment, wait_for

pytestmark = pytest.mark.integration

SLAWATCH = Path(sys.executable).parent / "slawatch"


def slawatch(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SLAWATCH), *args], env=deployment.env(), capture_output=True,
                          text=True, timeout=120)


def test_send_produces_each_event_to_its_topic_keyed_as_the_worker_checks(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    deployment = Deployment(broker, tmp_path / "unused.yaml", partitions=2)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([
        *(orjson.dumps({"incident_id": f"INC-{n}", "event_id": "e1", "type": "opened",
                        "severity": "P1", "customer": "acme", "service": "api",
                        "at": "2027-03-01T10:00:00Z"}) for n in range(5)),
        b'{"incident_id": "INC-9", "type": "opened"}',
        orjson.dumps({"service": "db", "status": "down", "at": "2027-03-01T10:00:00Z"}),
    ]) + b"\n")
    done = slawatch(deployment, "send", "--file", str(events))
    assert done.returncode == 0, done.stderr
    problem, summary = done.stderr.splitlines()
    assert problem.startswith(f"{events}:6: ") and "event_id" in problem
    assert summary == (f"send: 6 sent (1 to {deployment.topic('heartbeats')}, "
                       f"5 to {deployment.topic('incidents')}), 1 bad skipped")
    incidents = deployment.read(["incidents"])
    assert sorted((r["_key"], r["incident_id"]) for r in incidents) == [
        (f"INC-{n}", f"INC-{n}") for n in range(5)]
    (beat,) = deployment.read(["heartbeats"])
    assert beat["_key"] == "db" and beat["status"] == "down"
    deployment.close()


def test_tail_prints_what_stands_and_follows_its_changes(broker: EmbeddedBroker,
                                                         tmp_path: Path) -> None:
    deployment = Deployment(broker, tmp_path / "unused.yaml", partitions=2)

    def alert(aid: str, kind: str, **extra: object) -> None:
        topic = "near-breaches" if kind == "near_breach" or extra.get(
            "retracts") == "near_breach" else "breaches"
        deployment.send(topic, aid, {"alert_id": aid, "kind": kind, "metric": "response",
                                     "incident_id": aid.upper(), "severity": "P1",
                                     "customer": "acme", "service": "api", "threshold": 1.0,
                                     "at": "2027-03-01T10:15:00.000Z", "policy_id": "gold",
                                     **extra})

    alert("a1", "breach")
    alert("a2", "near_breach", threshold=0.5)
    alert("a2", "retraction", retracts="near_breach")
    deployment.producer.flush()
    done = slawatch(deployment, "tail", "--standing", "--json")
    assert done.returncode == 0, done.stderr
    assert [orjson.loads(line)["alert_id"] for line in done.stdout.splitlines()] == ["a1"]

    follower = subprocess.Popen([str(SLAWATCH), "tail"], env=deployment.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    try:
        assert follower.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 60
        for line in follower.stdout:  # a1 from the beginning, then what stands
            seen.append(line)
            if line.startswith("-- standing: 1 breach;"):
                break
            assert time.monotonic() < deadline, seen
        alert("a3", "breach")
        deployment.producer.flush()
        line = wait_for(lambda: follower.stdout.readline(), 30, what="a3 from tail")
        assert "BREACH" in line and "A3 P1 acme/api" in line, line
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(30) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait(10)
        if follower.stdout is not None:
            follower.stdout.close()
    assert sum("BREACH" in x and " A1 " in x for x in seen) == 1
    deployment.close()
