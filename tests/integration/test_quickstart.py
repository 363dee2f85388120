"""The README's quick start, run as written: ``slawatch broker`` in one terminal, a worker in a
second, ``slawatch tail`` in a third, ``slawatch send`` in a fourth, and the breach that the tail
prints; then SIGTERM stops each process, the broker last, and nothing it started is left.

The commands are read from the README's quick-start block; only what a terminal would differ
in is set around them: the export line is the one the broker printed (the README's is an
example), and the worker gets a free web port and a data directory of its own through its
``SLAWATCH_*`` variables (another run may hold the default port on a shared machine).
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SLAWATCH = Path(sys.executable).parent / "slawatch"


def quickstart() -> list[str]:
    """The lines of the README's quick-start block, comments dropped."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- quickstart -->\n```sh\n(.*?)\n```\n<!-- /quickstart -->", text,
                      re.S)
    assert block is not None, "the README lost its quick start"
    return [line for line in block.group(1).splitlines() if not line.startswith("#")]


def command(line: str) -> list[str]:
    words = shlex.split(line, comments=True)
    assert words[0] == ".venv/bin/slawatch", line
    return [str(SLAWATCH), *words[1:]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Terminal:
    """One command in a session of its own, its output read line by line as it comes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        """The first line (printed so far, or within ``timeout_s``) that matches."""
        deadline = time.monotonic() + timeout_s
        while True:
            for line in self.lines:
                if found := re.search(pattern, line):
                    return found
            ended = self.process.poll() is not None and self._queue.empty()
            assert time.monotonic() < deadline and not ended, (
                f"no {pattern!r} in the output{' (it ended)' if ended else ''}:\n"
                + "\n".join(self.lines))
            try:
                self.lines.append(self._queue.get(timeout=0.5))
            except queue.Empty:
                pass

    def stop(self) -> int:
        """SIGTERM to this process (by its PID), as ``kill`` or a supervisor sends it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._reader.join(10)  # it has read to the end of the output
        assert self.process.stdout is not None
        self.process.stdout.close()
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        return self.process.returncode


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_the_quick_start_as_written(tmp_path: Path) -> None:
    broker_line, export_line, worker_line, tail_line, open_line, ack_line = quickstart()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    broker = Terminal(command(broker_line), clean)
    terminals: list[Terminal] = []
    try:
        printed = broker.wait_for(r"^export (SLAWATCH_BROKER=\S+ SLAWATCH_BROKER_KIND=TANSU)$",
                                  30)
        # the README's export line is an example of the one printed: the same variables
        assert [w.split("=")[0] for w in shlex.split(export_line)] == [
            "export", "SLAWATCH_BROKER", "SLAWATCH_BROKER_KIND"], export_line
        started = broker.wait_for(r"on 127\.0\.0\.1:\d+, pid (\d+), log (\S+)$", 1)
        tansu, log = int(started.group(1)), Path(started.group(2))
        exported = dict(w.split("=", 1) for w in printed.group(1).split())
        env = {**clean, **exported}
        worker = Terminal(command(worker_line), {
            **env, "SLAWATCH_WEB_PORT": str(free_port()),
            "SLAWATCH_DATA_DIR": str(tmp_path / "data")})
        tail = Terminal(command(tail_line), env)
        terminals += [tail, worker]
        tail.wait_for(r"^-- standing: nothing; following", 30)

        sent = subprocess.run(command(open_line), cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        assert sent.stderr.splitlines()[-1] == (
            "send: 1 sent (1 to sla.incidents), 0 bad skipped")
        # the worker starts meanwhile; acme's P1 response target is 15 s
        tail.wait_for(r"BREACH +response +INC-1 P1 acme/payments +100% of 15s", 90)
        sent = subprocess.run(command(ack_line), cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        tail.wait_for(r"OUTCOME +response +INC-1 P1 acme/payments +MISSED: ", 30)
        tail.wait_for(r"^-- standing: 1 breach, 2 near_breach, 1 outcome; following", 10)
        breaches = [line for line in tail.lines if re.search(r"  BREACH +response +INC-1 ", line)]
        assert len(breaches) == 1, "a change is printed once:\n" + "\n".join(tail.lines)
    finally:
        codes = [t.stop() for t in terminals]
        broker_code = broker.stop()
    assert codes == [0, 0], "tail and worker stop on SIGTERM"
    assert broker_code == 0, "\n".join(broker.lines)
    broker.wait_for(r"^stopping the broker$", 5)
    assert not running(tansu), f"Tansu (pid {tansu}) still runs after the broker stopped"
    assert not log.exists(), "a broker stopped as asked leaves no log behind"
