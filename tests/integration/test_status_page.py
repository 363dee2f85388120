"""The worker's status page in a real browser, and its ``/metrics`` and ``/health``.

A worker runs against the broker with its web server on and a manual clock; the test produces
incidents that are breached, near a threshold, answered in time and answered late, services with
met and missed days, and one malformed record, then opens the page in headless Chromium
(Debian's ``chromium``, started by the test and stopped by its PID) and reads the rendered DOM:
the breached incidents first, the missed outcome marked missed (never green), each service's
budget bar and strip of days. Through a proxy that fails one endpoint with HTTP 500, the page
shows that error in its panel and the other panels still. Screenshots at desktop and phone
widths are kept in ``artifacts/``. Without chromium the test is skipped with the reason; under
``CI=true`` that is a failure.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
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
    near_breach: [0.5, "5m"]
    incidents:
      P1: {response: 15m, resolution: 4h}
      P2: {response: 1h, resolution: 8h}
    availability:
      target: 99
      period: day
      heartbeat_timeout: 1d
      near_breach: [0.5, 0.75]
    requests:
      period: day
      objectives:
        - {id: ok, sli: errors, target: 99.0}
"""
#: Widths of the screenshots (the phone one is tall: a headless screenshot is the viewport).
SHOTS = {"desktop": (1280, 1150), "phone": (390, 2900)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        reason = "no chromium: apt-get install chromium for the browser test (.ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
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


class Elements(HTMLParser):
    """Every element of a dumped DOM: (tag, attributes, text directly inside it), in order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str], list[str]]] = []
        self._open: list[int] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}, []))
        if tag not in ("meta", "br", "img", "input", "link"):
            self._open.append(len(self.found) - 1)

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            self.found[self._open[-1]][2].append(data.strip())

    def having(self, attribute: str, value: str | None = None) -> list[dict[str, str]]:
        return [a for _, a, _ in self.found
                if attribute in a and (value is None or a[attribute] == value)]

    def text_of(self, id_: str) -> str:
        return " ".join(t for _, a, text in self.found if a.get("id") == id_ for t in text)


def inside(dom: str, attribute: str, value: str) -> str:
    """The HTML of the item carrying ``attribute="value"``: up to the next such item or the
    end of its panel."""
    start = dom.index(f'{attribute}="{value}"')
    ends = [i for i in (dom.find(f'{attribute}="', start + 1), dom.find("</section>", start))
            if i >= 0]
    return dom[start:min(ends, default=len(dom))]


@contextmanager
def failing_proxy(port: int, failing: str) -> Iterator[int]:
    """A proxy on 127.0.0.1 in front of the worker's web server that answers ``failing`` with
    HTTP 500 and forwards everything else; stopped at the end."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path.split("?")[0] == failing:
                status, body, kind = 500, b"boom", "text/plain"
            else:
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                try:
                    with opener.open(f"http://127.0.0.1:{port}{self.path}", timeout=5) as got:
                        status, body = got.status, got.read()
                        kind = got.headers.get("Content-Type", "text/plain")
                except urllib.error.HTTPError as exc:
                    status, body, kind = exc.code, exc.read(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def incident(iid: str, event: str, at: str, **extra: str) -> dict[str, str]:
    return {"incident_id": iid, "event_id": f"{iid}-{event}", "type": event, "at": at, **extra}


def send_scenario(deployment: Deployment) -> None:
    """Breached, near, met and missed items at 2027-03-04 10:30 (the test's tick)."""
    beats = {"web": [("03-01T00:00", "up"), ("03-02T00:00", "up"), ("03-03T00:00", "up"),
                     ("03-04T00:00", "up")],
             # 6 h down on 03-02: that day is missed; 8 min on 03-04, past half its budget
             "db": [("03-01T00:00", "up"), ("03-02T06:00", "down"), ("03-02T12:00", "up"),
                    ("03-03T00:00", "up"), ("03-04T00:00", "up"), ("03-04T10:00", "down"),
                    ("03-04T10:08", "up")]}
    for service, statuses in beats.items():
        for at, status in statuses:
            deployment.send("heartbeats", service, {"service": service, "status": status,
                                                    "at": f"2027-{at}:00Z"})
    opened = {"severity": "P1", "customer": "acme", "service": "checkout"}
    for event in (
            incident("INC-MISSED", "opened", "2027-03-04T09:00:00Z", severity="P2",
                     customer="globex", service="search"),
            incident("INC-BREACHED", "opened", "2027-03-04T10:00:00Z", **opened),
            incident("INC-MET", "opened", "2027-03-04T10:00:00Z", **{**opened,
                                                                     "customer": "initech"}),
            incident("INC-MET", "acknowledged", "2027-03-04T10:05:00Z"),
            incident("INC-NEAR", "opened", "2027-03-04T10:20:00Z", **{**opened,
                                                                      "customer": "umbrella"}),
            incident("INC-MISSED", "acknowledged", "2027-03-04T10:20:00Z"),
            incident("INC-CALM", "opened", "2027-03-04T10:25:00Z", severity="P2",
                     customer="acme", service="auth")):
        deployment.send("incidents", event["incident_id"], event)
    deployment.send("incidents", "INC-BROKEN", b"{not json")
    # 8 errors of 1,000 requests: 80 % of the day's 1 % budget
    deployment.send("requests", "api", {"service": "api", "at": "2027-03-04T10:00:00Z",
                                        "total": 1000, "errors": 8})
    deployment.producer.flush()


def test_the_status_page_shows_what_operators_look_for_in_a_real_browser(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    chromium()  # skipped (or failed under CI=true) before anything starts
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICY)
    deployment = Deployment(broker, policies, partitions=2)
    port = free_port()
    with Worker(deployment, tmp_path, web_port=port) as worker:
        send_scenario(deployment)
        wait_for(lambda: (got := get_json(port, "/api/incidents")) and got["count"] == 5,
                 60, what=f"the five incidents on /api/incidents ({worker.log_path})")
        deployment.tick("2027-03-04T10:30:00Z")
        alerts = wait_for(
            lambda: (got := get_json(port, "/api/alerts")) and len(
                [a for a in got["alerts"] if a["kind"] == "outcome"
                 and a["metric"] == "availability"]) == 6 and got,
            30, what="three days of outcomes for each service on /api/alerts")
        outcomes = {(a.get("incident_id") or a["service"], a.get("period_start", "")[:10]):
                    a["met"] for a in alerts["alerts"] if a["kind"] == "outcome"}
        assert outcomes[("INC-MISSED", "")] is False and outcomes[("INC-MET", "")] is True
        assert outcomes[("db", "2027-03-02")] is False and outcomes[("web", "2027-03-02")]

        dom = browse(f"http://127.0.0.1:{port}/", tmp_path, "--dump-dom").stdout
        page = Elements(dom)
        assert 'data-loaded="yes"' in dom, dom[-3000:]
        order = [a["data-incident"] for a in page.having("data-incident")]
        assert order == ["INC-BREACHED", "INC-MISSED", "INC-NEAR", "INC-CALM", "INC-MET"]
        assert [a["data-breached"] for a in page.having("data-incident")] == [
            "yes", "yes", "no", "no", "no"]
        assert "globex · search" in inside(dom, "data-incident", "INC-MISSED")
        near = inside(dom, "data-incident", "INC-NEAR")
        assert 'data-metric="response" data-state="near"' in near
        assert "10m of 15m working time" in near and "warns at 50%, 5m left" in near
        assert inside(dom, "data-incident", "INC-BREACHED").count('class="mark"') == 4
        # the missed outcome is marked missed and red, the met one met and green
        missed = [a for a in page.having("data-outcome", "missed") if "data-alert" in a]
        assert len(missed) == 2  # INC-MISSED's response, db's 03-02
        for _, attrs, text in page.found:
            if text in (["MISSED"], ["MET"]) and attrs.get("class", "").startswith("badge"):
                assert attrs["class"] == ("badge bad" if text == ["MISSED"] else "badge good")
        assert sum(text == ["MISSED"] for _, _, text in page.found) == 2
        db = inside(dom, "data-service", "db")
        assert db.count('data-outcome="missed"') == 1 and db.count('data-outcome="met"') == 2
        assert "DOWN" not in db and ">56%<" in db  # 480 s of an 864 s budget
        web = inside(dom, "data-service", "web")
        assert web.count('data-outcome="met"') == 3 and 'data-outcome="missed"' not in web
        api = inside(dom, "data-objective", "ok")
        assert ">80%<" in api and "992 of 1000 good" in api and "budget left 20%" in api

        ARTIFACTS.mkdir(exist_ok=True)
        for name, (width, height) in SHOTS.items():
            shot = ARTIFACTS / f"status-{name}.png"
            shot.unlink(missing_ok=True)
            browse(f"http://127.0.0.1:{port}/", tmp_path, f"--screenshot={shot}",
                   f"--window-size={width},{height}")
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert shot.stat().st_size > 20_000

        with failing_proxy(port, "/api/services") as proxy:
            dom = browse(f"http://127.0.0.1:{proxy}/", tmp_path, "--dump-dom").stdout
            shot = ARTIFACTS / "status-one-endpoint-failing.png"
            browse(f"http://127.0.0.1:{proxy}/", tmp_path, f"--screenshot={shot}",
                   "--window-size={},{}".format(*SHOTS["desktop"]))
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        page = Elements(dom)
        assert "could not load api/services: HTTP 500" in page.text_of("services-error")
        assert re.search(r'id="services-error" class="error shown"|class="error shown" '
                         r'id="services-error"', dom), "the error is shown in its panel"
        for other in ("incidents", "alerts", "health"):
            assert page.text_of(f"{other}-error") == "", other
        assert len(page.having("data-incident")) == 5, "the other panels are not blanked"
        assert page.having("data-alert") and not page.having("data-service")

        status, text = get(port, "/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text.decode())}
        events_in = {s.labels["topic"]: s.value for s in families["slawatch_events_in"].samples}
        assert events_in[deployment.topic("incidents")] == 8
        assert events_in[deployment.topic("ticks")] >= 1
        assert events_in[deployment.topic("heartbeats")] == 11
        dead = {s.labels["reason"]: s.value
                for s in families["slawatch_dead_letters"].samples}
        assert dead == {"malformed_json": 1}
        assert {s.labels["partition"] for s in families["slawatch_clock_lag_seconds"].samples}
        assert families["slawatch_tick_duration_seconds"].type == "histogram"

        status, body = get(port, "/health")
        health = orjson.loads(body)
        assert status == 200 and health["status"] == "ok" and health["agent_running"]
        assert sorted(health["partitions"]) == [0, 1]
