"""The worker's status page in a real browser, and its ``/metrics`` and ``/health``.

A worker runs against the embedded broker with its web server on; the test produces an incident,
heartbeats and one malformed record, then opens the page in headless Chromium (Debian's
``chromium``, started by the test and stopped by its PID) and reads the rendered DOM. The
screenshot is kept in ``artifacts/status-page.png``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.broker import EmbeddedBroker
from tests.integration.harness import Deployment, Worker, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")

POLICY = """\
policies:
  - id: gold
    match: {}
    incidents:
      P1: {response: 15m, resolution: 4h}
    availability:
      target: 99.9
      period: month
      heartbeat_timeout: 90s
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("Debian's chromium is needed for the browser test: apt-get install chromium "
                    "(.ci/run installs it)")
    return found


def browse(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on ``url`` in a session of its own; end the session by PID if it
    hangs."""
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}",
               "--virtual-time-budget=6000", *args, url]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"chromium did not finish: {err[-2000:]}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get_json(port: int, path: str) -> Any:
    try:
        status, body = get(port, path)
    except OSError:
        return None  # not listening yet
    return orjson.loads(body) if status == 200 else None


def test_the_status_page_shows_what_the_worker_holds_in_a_real_browser(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICY)
    deployment = Deployment(broker, policies, partitions=2)
    port = free_port()
    with Worker(deployment, tmp_path, web_port=port) as worker:
        deployment.send("incidents", "INC-PAGE-1", {
            "incident_id": "INC-PAGE-1", "event_id": "e1", "type": "opened",
            "at": "2027-03-01T10:00:00Z", "severity": "P1", "service": "checkout",
            "customer": "acme"})
        for minute, status in enumerate(("up", "up", "down")):
            deployment.send("heartbeats", "payments-api", {
                "service": "payments-api", "at": f"2027-03-01T10:0{minute}:00Z",
                "status": status})
        deployment.send("incidents", "INC-PAGE-2", b"{not json")
        deployment.send("incidents", "INC-PAGE-1", {
            "incident_id": "INC-PAGE-1", "event_id": "e2", "type": "updated",
            "at": "2027-03-01T10:10:00Z"})  # moves the clock: 10 of 15 minutes used
        deployment.producer.flush()

        incidents = wait_for(
            lambda: (got := get_json(port, "/api/incidents")) and got["count"] and got,
            60, what=f"the incident on /api/incidents ({worker.log_path})")
        (incident,) = incidents["incidents"]
        assert incident["incident_id"] == "INC-PAGE-1" and incident["customer"] == "acme"
        response = next(c for c in incident["clocks"] if c["metric"] == "response")
        assert response["state"] == "running"
        # the clock is the watermark of the inputs less 1 ms (events of 10:10 may still come)
        assert response["left_seconds"] == 5 * 60 + 0.001
        assert response["deadline"] == "2027-03-01T10:15:00.000Z"
        services = wait_for(
            lambda: (got := get_json(port, "/api/services")) and got["count"] and got,
            30, what="the service on /api/services")
        (service,) = services["services"]
        assert service["service"] == "payments-api" and service["up"] is False
        (period,) = service["periods"]
        assert period["policy_id"] == "gold" and period["target"] == 99.9

        deployment.tick("2027-03-01T10:16:00Z")  # the response target passes in silence
        alerts = wait_for(
            lambda: (got := get_json(port, "/api/alerts")) and got["alerts"] and got,
            30, what="the breach on /api/alerts")
        assert [(a["kind"], a["incident_id"]) for a in alerts["alerts"]] == [
            ("breach", "INC-PAGE-1")]

        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        shot.unlink(missing_ok=True)
        dom = browse(f"http://127.0.0.1:{port}/", tmp_path, "--dump-dom")
        assert 'data-loaded="yes"' in dom.stdout, dom.stderr[-2000:]
        assert 'data-incident="INC-PAGE-1"' in dom.stdout
        assert 'data-service="payments-api"' in dom.stdout
        assert "acme" in dom.stdout and "checkout" in dom.stdout
        assert "3h 44m" in dom.stdout  # the resolution clock's working time left at 10:16
        assert dom.stdout.count(">breached<") == 1  # the response clock, on the incident row
        assert dom.stdout.count(">breach<") == 1  # the alert, in the latest alerts
        browse(f"http://127.0.0.1:{port}/", tmp_path, f"--screenshot={shot}",
               "--window-size=1280,900")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000

        status, text = get(port, "/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text.decode())}
        events_in = {s.labels["topic"]: s.value for s in families["slawatch_events_in"].samples}
        assert events_in[deployment.topic("incidents")] == 3
        assert events_in[deployment.topic("ticks")] >= 1
        assert events_in[deployment.topic("heartbeats")] == 3
        dead = {s.labels["reason"]: s.value
                for s in families["slawatch_dead_letters"].samples}
        assert dead == {"malformed_json": 1}
        assert {s.labels["partition"] for s in families["slawatch_clock_lag_seconds"].samples}
        assert families["slawatch_tick_duration_seconds"].type == "histogram"

        status, body = get(port, "/health")
        health = orjson.loads(body)
        assert status == 200 and health["status"] == "ok" and health["agent_running"]
        assert sorted(health["partitions"]) == [0, 1]
