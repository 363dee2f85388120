"""``slawatch demo`` as a user runs it: a real broker, worker and generator; alerts on screen;
everything it started is gone when it ends."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.harness import SLAWATCH

pytestmark = pytest.mark.integration


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_the_demo_shows_alerts_live_and_leaves_no_process_behind(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    done = subprocess.run([str(SLAWATCH), "demo", "--duration", "45"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=150, check=False)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    broker = re.search(r"broker \(Tansu\) on 127\.0\.0\.1:\d+, pid (\d+)", out)
    worker = re.search(r"worker pid (\d+)", out)
    assert broker and worker, out
    lines = out.splitlines()
    alerts = [line for line in lines
              if re.match(r"\d\d:\d\d:\d\d  (BREACH|NEAR-BREACH|OUTCOME) ", line)]
    # the first incident is a P1 answered late: its breach shows within the run
    assert any(" BREACH " in line and "INC-00001 P1" in line for line in alerts), out
    assert re.search(r"demo over: sent \d+ heartbeats records, \d+ incidents records; "
                     r"received .*breach", out)
    for pid in (int(broker.group(1)), int(worker.group(1))):
        assert not running(pid), f"pid {pid} still runs after the demo"
