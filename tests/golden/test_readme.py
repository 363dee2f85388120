"""The README's main command runs as written and shows what it promises."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]


def _main_command() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(python3 -m venv .*?)\n```", text)
    assert block is not None, "the README lost its install-and-run command"
    run = block.group(1).split("&&")[-1].strip()
    assert run.startswith(".venv/bin/slawatch "), run
    return [sys.executable, "-m", "streams.cli", *shlex.split(run)[1:]]


def test_readme_main_command_runs() -> None:
    done = subprocess.run(_main_command(), cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    records = [orjson.loads(line) for line in done.stdout.splitlines()]
    kinds = {(r["kind"], r.get("metric")) for r in records}
    assert ("breach", "response") in kinds and ("near_breach", "burn_rate") in kinds
    assert ("invalid", None) in kinds  # the example's malformed line, reported and skipped
    stderr = done.stderr.decode()
    assert "incidents.jsonl:12:" in stderr and "1 skipped" in stderr.splitlines()[-1]
