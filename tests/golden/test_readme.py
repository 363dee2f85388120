"""The README's commands run as written and show what they promise."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
SLAWATCH = Path(sys.executable).parent / "slawatch"


def _readme_block(starting: str) -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(rf"```sh\n({re.escape(starting)}.*?)\n```", text, re.S)
    assert block is not None, f"the README lost its command starting {starting!r}"
    return block.group(1)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_the_readme_tests_command_is_what_ci_runs() -> None:
    command = _readme_block(".venv/bin/python -m pytest")
    assert command in (ROOT / ".ci" / "run").read_text()


@pytest.mark.integration
def test_the_main_command_is_the_demo_and_ctrl_c_stops_everything_it_started() -> None:
    """``slawatch demo`` as the README runs it; Ctrl-C as a terminal sends it (SIGINT to the
    foreground process group) once alerts have come."""
    install_and_run = _readme_block("python3 -m venv ")
    run = install_and_run.split("&&")[-1].strip()
    assert shlex.split(run) == [".venv/bin/slawatch", "demo"], run
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    demo = subprocess.Popen([str(SLAWATCH), "demo"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 120
        for line in demo.stdout:  # the first incident is a P1 answered late
            lines.append(line.rstrip("\n"))
            if re.match(r"\d\d:\d\d:\d\d  BREACH +response +INC-00001 P1", line):
                break
            assert time.monotonic() < deadline, "\n".join(lines)
        page = next(re.search(r"status page: (http://\S+/)", x) for x in lines
                    if "status page:" in x)
        assert page is not None, lines
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(page.group(1) + "api/alerts", timeout=5) as response:
            alerts = orjson.loads(response.read())["alerts"]
        assert any(a["kind"] == "breach" and a["incident_id"] == "INC-00001" for a in alerts)
        os.killpg(demo.pid, signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
    out = "\n".join(lines) + "\n" + rest
    assert demo.returncode == 0, out
    assert "stopping..." in out and "demo over: sent" in out
    broker = re.search(r"broker \(Tansu\) on 127\.0\.0\.1:\d+, pid (\d+)", out)
    worker = re.search(r"worker pid (\d+)", out)
    assert broker and worker, out
    for pid in (int(broker.group(1)), int(worker.group(1))):
        assert not _running(pid), f"pid {pid} still runs after Ctrl-C"


def test_the_example_files_replay() -> None:
    command = ["replay", "--policies", "streams/examples/policies.yaml",
               "--incidents", "streams/examples/incidents.jsonl",
               "--heartbeats", "streams/examples/heartbeats.jsonl",
               "--until", "2027-02-17T20:00:00Z"]
    done = subprocess.run([sys.executable, "-m", "streams", *command], cwd=ROOT,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    records = [orjson.loads(line) for line in done.stdout.splitlines()]
    kinds = {(r["kind"], r.get("metric")) for r in records}
    assert ("breach", "response") in kinds and ("near_breach", "burn_rate") in kinds
    assert ("invalid", None) in kinds  # the example's malformed line, reported and skipped
    stderr = done.stderr.decode()
    assert "incidents.jsonl:12:" in stderr and "1 skipped" in stderr.splitlines()[-1]
