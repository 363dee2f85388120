"""``slawatch replay``'s new flags as ``main`` parses them: ``--from-topics`` and its company
(bad arguments: one line on stderr and exit 2, before any broker is asked), ``--revision``."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams import replay
from streams.cli import main
from streams.core.errors import SlawatchError
from streams.replay import Progress

EXAMPLE = Path(__file__).parents[1] / "golden" / "scenarios" / "01-p1-response-24x7"
POLICY = str(EXAMPLE / "policy.yaml")
SLAWATCH = Path(sys.executable).parent / "slawatch"


@pytest.fixture(autouse=True)
def _no_slawatch_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SLAWATCH_"):
            monkeypatch.delenv(name)


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["replay", "--policies", POLICY, *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("slawatch replay: error: ")
    return lines[0].removeprefix("slawatch replay: error: ")


BROKER = ("--broker", "127.0.0.1:9")


@pytest.mark.parametrize(("args", "message"), [
    (("--from-topics", *BROKER, "--incidents", "i.jsonl"),
     "--from-topics reads the topics: drop --incidents"),
    (("--from-topics", *BROKER, "--heartbeats", "h.jsonl"),
     "--from-topics reads the topics: drop --heartbeats"),
    (("--from-topics", *BROKER, "--from-time", "2027-02-18T00:00:00Z",
      "--to-time", "2027-02-17T00:00:00Z"),
     "--from-time 2027-02-18T00:00:00Z is after --to-time 2027-02-17T00:00:00Z"),
    (("--from-topics", *BROKER, "--from-time", "2027-02-18 00:00"),
     "--from-time: '2027-02-18 00:00' is not an RFC 3339 instant"),
    (("--from-topics", *BROKER, "--to-topic", "sla.breaches"),
     "--to-topic sla.breaches is a live topic of prefix 'sla': pick another, or add "
     "--allow-live-topics"),
    (("--from-topics", *BROKER, "--prefix", "prod", "--to-topic", "prod.incidents"),
     "--to-topic prod.incidents is a live topic of prefix 'prod'"),
    (("--from-topics", *BROKER, "--to-topic", "what if"), "topic name 'what if': expected"),
    (("--from-topics", *BROKER, "--to-topic", "t", "--output", "o.jsonl"),
     "give --output or --to-topic, not both"),
    (("--from-topics", *BROKER, "--timeout", "soon"), "--timeout='soon': expected"),
    (("--from-topics",), "no broker: set SLAWATCH_BROKER or pass --broker"),
    (("--from-topics", "--broker", "host:port:port"), "--broker='host:port:port': expected"),
    (("--incidents", str(EXAMPLE / "incidents.jsonl"), "--to-topic", "t"),
     "--to-topic goes with --from-topics"),
    (("--incidents", str(EXAMPLE / "incidents.jsonl"), "--from-time", "2027-02-17T00:00:00Z"),
     "--from-time goes with --from-topics"),
    ((), "give --incidents, --heartbeats, --requests or more (or --from-topics)"),
])
def test_a_bad_combination_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str],
                                                  args: tuple[str, ...], message: str) -> None:
    assert _error(capsys, *args).startswith(message)


def test_an_unreachable_broker_is_one_line_and_exit_2() -> None:
    """The installed command, in a child process: kafka-python leaks the sockets of a failed
    bootstrap, which this process would report as unraisable ResourceWarnings."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    done = subprocess.run([str(SLAWATCH), "replay", "--policies", POLICY, "--from-topics",
                           "--broker", f"127.0.0.1:{port}", "--timeout", "0.3"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith(f"slawatch replay: error: cannot reach a Kafka broker at "
                                  f"127.0.0.1:{port} within 0.3 s")
    assert done.stderr.count("\n") == 1, done.stderr


def test_the_help_shows_each_mode_by_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["replay", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    examples = text.split("examples:")[1]
    assert "--incidents incidents.jsonl" in examples
    assert "--from-topics --broker kafka-1:9092 --output out.jsonl" in examples
    assert "--revision gold-v3.yaml --from-topics" in examples and "--to-topic" in examples
    for flag in ("--from-topics", "--from-time", "--to-time", "--to-topic",
                 "--allow-live-topics", "--revision", "--broker", "--prefix"):
        assert flag in text.split("examples:")[0], flag


def _standing_targets(path: Path) -> dict[tuple[str, str], float]:
    """(incident, metric) -> target_seconds of the standing outcome records."""
    latest = {}
    for line in path.read_bytes().splitlines():
        rec = orjson.loads(line)
        latest[rec["alert_id"]] = rec
    return {(r["incident_id"], r["metric"]): r["target_seconds"] for r in latest.values()
            if r["kind"] == "outcome"}


def test_a_revision_changes_what_a_file_replay_measures(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    revision = tmp_path / "p1-10m.yaml"
    revision.write_text(
        "policies:\n  - id: standard\n    version: 1\n    effective_from: 2027-01-01T00:00:00Z\n"
        "    match: {}\n    incidents:\n      P1: {response: 10m, resolution: 4h}\n"
        "      \"*\": {response: 4h, resolution: 3d}\n")
    runs = {}
    for name, extra in (("as is", []), ("revised", ["--revision", str(revision)])):
        out = tmp_path / f"{name}.jsonl"
        assert main(["replay", "--policies", POLICY, *extra, "--incidents",
                     str(EXAMPLE / "incidents.jsonl"), "--until", "2027-02-17T18:00:00Z",
                     "--output", str(out)]) == 0
        runs[name] = _standing_targets(out)
    assert runs["as is"][("INC-7001", "response")] == 1200
    assert runs["revised"][("INC-7001", "response")] == 600
    assert runs["revised"][("INC-7003", "response")] == 4 * 3600  # P2 falls back to "*"
    capsys.readouterr()


def test_a_broken_revision_lists_its_problems_and_exits_2(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    revision = tmp_path / "broken.yaml"
    revision.write_text("policies:\n  - id: standard\n    match: {}\n"
                        "    incidents: {P1: {response: soon}}\n")
    assert main(["replay", "--policies", POLICY, "--revision", str(revision),
                 "--incidents", str(EXAMPLE / "incidents.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{revision}: policies[0].incidents.P1.response: 'soon'"), err


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device", "out.jsonl"),
                                     SlawatchError("the broker went away")])
def test_the_progress_line_is_cleared_before_an_error(monkeypatch: pytest.MonkeyPatch,
                                                      failure: Exception) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def drawn_then_failed(*args: object, progress: Progress, **kwargs: object) -> None:
        progress.update(5, 10)
        raise failure

    monkeypatch.setattr(replay, "backfill", drawn_then_failed)
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert main(["replay", "--policies", POLICY, "--from-topics", *BROKER]) == 2
    drawn = sys.stderr.getvalue().split("\r\x1b[K")
    assert drawn[1].startswith("5 / 10 events")
    assert drawn[2].startswith("slawatch replay: error: ") and drawn[2].count("\n") == 1
