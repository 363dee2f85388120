"""Replay input (issue 10): a byte order mark, an endless line, a file that cannot be read,
standard input; ``--max-future`` against ``--until`` (file replay) or each record's Kafka
timestamp (backfill); ``--retention`` and ``--max-future`` from the flags or ``SLAWATCH_*``, for
replay and worker alike."""

from __future__ import annotations

import errno
import io
import os
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams import replay as replay_module
from streams import sources as sources_module
from streams.cli import main
from streams.codec import DEAD_LETTER_RAW_BYTES, MAX_RECORD_BYTES
from streams.core.policyfile import load_policies
from streams.core.timefmt import parse_instant
from streams.replay import FileSink, _replay, replay
from streams.sources import INCIDENTS, FileSource, InputError, PartitionSource, Source
from streams.topicread import Consumed

POLICY_YAML = """\
policies:
  - id: standard
    match: {}
    incidents:
      P1: {response: 20m, resolution: 4h}
"""
T0 = "2027-02-17T14:00:00Z"


def event(event_id: str, type_: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "incident_id": "INC-1", "type": type_, "at": at, **extra}


OPENED = event("e-1", "opened", T0, severity="P1", service="auth", customer="acme")
ACKED = event("e-2", "acknowledged", "2027-02-17T14:05:00Z")


def jsonl(*events: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


@pytest.fixture(autouse=True)
def _no_slawatch_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SLAWATCH_"):
            monkeypatch.delenv(name)


@pytest.fixture
def policy(tmp_path: Path) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_YAML)
    return str(path)


def run(path: str, until: str | None = None,
        max_future_ms: int | None = None) -> tuple[list[dict[str, Any]], str]:
    out, err = io.BytesIO(), io.StringIO()
    replay(load_policies(POLICY_YAML), path, None, None if until is None else parse_instant(until),
           out, err, max_future_ms=max_future_ms)
    return [orjson.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def dead(records: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(r["reason"], r["line"]) for r in records if r["kind"] in ("invalid", "late")]


# ----------------------------------------------------------------------------- the bytes


def test_a_byte_order_mark_does_not_spoil_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "incidents.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + jsonl(OPENED, ACKED))
    records, err = run(str(path))
    assert dead(records) == [] and err == ""
    assert any(r["kind"] == "outcome" and r["metric"] == "response" for r in records)


def test_a_byte_order_mark_past_the_first_line_is_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "incidents.jsonl"
    path.write_bytes(jsonl(OPENED) + b"\xef\xbb\xbf" + jsonl(ACKED))
    assert dead(run(str(path))[0]) == [("malformed_json", 2)]


def write_long_line(path: Path, line_bytes: int, end: bytes = b"\n") -> None:
    with open(path, "wb") as fh:
        fh.write(jsonl(OPENED))
        chunk = b"x" * (1 << 20)
        left = line_bytes
        while left:
            fh.write(chunk[:left])
            left -= min(left, len(chunk))
        fh.write(end + jsonl(ACKED))


def test_an_endless_line_is_one_too_large_dead_letter_in_bounded_memory(tmp_path: Path) -> None:
    """Before, the line was read whole: 6.9 GB in 10 s from /dev/zero. Here 32 MiB, held at
    most about a MiB at a time."""
    path = tmp_path / "incidents.jsonl"
    write_long_line(path, 32 << 20)
    tracemalloc.start()
    try:
        records, err = run(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"peak {peak:,} bytes"
    assert dead(records) == [("too_large", 2)]
    (rec,) = [r for r in records if r["kind"] == "invalid"]
    assert (rec["raw_truncated"], rec["raw_bytes"]) == (True, 32 << 20)
    assert rec["raw"] == "x" * DEAD_LETTER_RAW_BYTES
    assert err == f"{path}:2: the record is 33,554,432 bytes, more than the limit of 65,536 " \
                  "bytes (64 KiB)\n"
    assert any(r["kind"] == "outcome" for r in records), "the line after it was read"


@pytest.mark.parametrize(("size", "end", "reasons"), [
    (MAX_RECORD_BYTES, b"\n", [("malformed_json", 2)]),
    (MAX_RECORD_BYTES, b"\r\n", [("malformed_json", 2)]),
    (MAX_RECORD_BYTES + 1, b"\n", [("too_large", 2)]),
    (MAX_RECORD_BYTES + 1, b"\r\n", [("too_large", 2)]),
    (MAX_RECORD_BYTES + 2, b"\r\n", [("too_large", 2)]),
    ((1 << 20) + 5, b"\r\n", [("too_large", 2)]),
], ids=["limit", "limit-crlf", "limit+1", "limit+1-crlf", "limit+2-crlf", "chunks-crlf"])
def test_the_line_limit_is_exact_and_counts_no_line_end(tmp_path: Path, size: int, end: bytes,
                                                       reasons: list[tuple[str, int]]) -> None:
    path = tmp_path / "incidents.jsonl"
    write_long_line(path, size, end)
    records, _ = run(str(path))
    assert dead(records) == reasons
    too_large = [r for r in records if r.get("reason") == "too_large"]
    assert [r["raw_bytes"] for r in too_large] == [size] * len(too_large)
    assert sum(r["kind"] == "outcome" for r in records) == 1  # the line after it was read


def test_an_endless_last_line_without_a_line_end(tmp_path: Path) -> None:
    path = tmp_path / "incidents.jsonl"
    path.write_bytes(jsonl(OPENED) + b"y" * (3 << 20))
    assert dead(run(str(path))[0]) == [("too_large", 2)]


# ----------------------------------------------------------------------------- read errors


def error_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["replay", *args]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_directory_is_named(capsys: pytest.CaptureFixture[str], policy: str,
                              tmp_path: Path) -> None:
    assert error_line(capsys, "--policies", policy, "--incidents", str(tmp_path)) == \
        f"slawatch replay: error: {tmp_path}: Is a directory"


def test_an_io_error_mid_file_names_the_file_and_line(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str],
                                                      policy: str, tmp_path: Path) -> None:
    path = tmp_path / "incidents.jsonl"
    path.write_bytes(jsonl(OPENED, ACKED, ACKED))

    class Failing(io.BytesIO):
        def readline(self, size: int | None = -1, /) -> bytes:
            if self.tell() > 0 and self.getvalue()[:self.tell()].count(b"\n") == 2:
                raise OSError(errno.EIO, os.strerror(errno.EIO))  # no file name, as the OS says
            return super().readline(size)

    monkeypatch.setattr(sources_module, "open", lambda name, mode: Failing(path.read_bytes()),
                        raising=False)
    assert error_line(capsys, "--policies", policy, "--incidents", str(path)) == \
        f"slawatch replay: error: {path}: Input/output error (line 3)"


def test_a_read_error_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"^{tmp_path}/missing.jsonl: No such file"):
        list(FileSource(str(tmp_path / "missing.jsonl"), INCIDENTS).items())


# ----------------------------------------------------------------------------- standard input


class Stdin(io.TextIOWrapper):
    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))


def test_a_dash_reads_standard_input(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str], policy: str,
                                     tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "stdin", Stdin(b"\xef\xbb\xbf" + jsonl(OPENED, ACKED) + b"{bad\n"))
    out = tmp_path / "out.jsonl"
    assert main(["replay", "--policies", policy, "--incidents", "-", "--output", str(out)]) == 0
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(r["source_file"], r["line"]) for r in records if r["kind"] == "invalid"] == [
        ("<stdin>", 3)]
    assert any(r["kind"] == "outcome" for r in records)
    assert capsys.readouterr().err.startswith("<stdin>:3: malformed JSON")


def test_only_one_input_can_be_standard_input(capsys: pytest.CaptureFixture[str],
                                              policy: str) -> None:
    assert error_line(capsys, "--policies", policy, "--incidents", "-", "--heartbeats", "-") == (
        "slawatch replay: error: --incidents - and --heartbeats -: only one input can be "
        "standard input")


# ----------------------------------------------------------------------------- max_future

AT_LIMIT = event("e-2", "acknowledged", "2027-02-17T14:10:00Z")  # --until 14:05 + 5m
PAST_LIMIT = event("e-3", "acknowledged", "2027-02-17T14:10:00.001Z")
FAR = event("e-4", "acknowledged", "2027-02-17T15:00:00Z")


def cli(policy: str, path: Path, tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    out = tmp_path / "out.jsonl"
    assert main(["replay", "--policies", policy, "--incidents", str(path), "--output", str(out),
                 *args]) == 0
    return [orjson.loads(line) for line in out.read_bytes().splitlines()]


def test_a_file_replay_bounds_at_by_until(policy: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "incidents.jsonl"
    path.write_bytes(jsonl(OPENED, PAST_LIMIT, AT_LIMIT))
    records = cli(policy, path, tmp_path, "--until", "2027-02-17T14:05:00Z")
    assert dead(records) == [("future", 2)]
    (response,) = [r for r in records if r["kind"] == "outcome"]
    assert response["elapsed_seconds"] == 600  # acknowledged by e-2, at the bound
    assert "more than max_future (300s) after the reference instant" in capsys.readouterr().err


def test_a_future_event_changes_nothing_and_never_moves_the_clock(policy: str,
                                                                  tmp_path: Path) -> None:
    """The P1 response target is 20m: had the event at 15:00 moved the clock, it would have
    breached (and the event would have stopped the clock after the deadline)."""
    path = tmp_path / "incidents.jsonl"
    path.write_bytes(jsonl(OPENED, FAR))
    records = cli(policy, path, tmp_path, "--until", "2027-02-17T14:05:00Z")
    assert dead(records) == [("future", 2)]
    assert [r["kind"] for r in records if r["kind"] != "invalid"] == []


def test_without_until_there_is_no_bound(policy: str, tmp_path: Path) -> None:
    path = tmp_path / "incidents.jsonl"
    path.write_bytes(jsonl(OPENED, FAR))
    assert dead(cli(policy, path, tmp_path)) == []


def test_max_future_from_the_flag_or_the_environment(policy: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "incidents.jsonl"
    path.write_bytes(jsonl(OPENED, FAR))
    until = ("--until", "2027-02-17T14:05:00Z")
    assert dead(cli(policy, path, tmp_path, *until, "--max-future", "1h")) == []
    monkeypatch.setenv("SLAWATCH_MAX_FUTURE", "55m")
    assert dead(cli(policy, path, tmp_path, *until)) == []
    assert dead(cli(policy, path, tmp_path, *until, "--max-future", "250ms")) == [("future", 2)]


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--max-future", "soon", "--max-future='soon': expected a duration"),
    ("--retention", "forever", "--retention='forever': expected a duration"),
])
def test_a_bad_duration_flag_is_one_line(capsys: pytest.CaptureFixture[str], policy: str,
                                         flag: str, value: str, message: str) -> None:
    line = error_line(capsys, "--policies", policy, "--incidents", "-", flag, value)
    assert line.startswith(f"slawatch replay: error: {message}"), line


class FakeReader:
    def __init__(self, records: list[Consumed]) -> None:
        self.list = records

    def records(self, topic: str, partition: int) -> Iterator[Consumed]:
        yield from self.list


def test_a_backfill_bounds_at_by_each_record_timestamp() -> None:
    """The Kafka timestamp is each record's reference instant; -1 (none) has no bound."""
    t0, five_min = parse_instant(T0), 300_000
    reader = FakeReader([
        Consumed("sla.incidents", 0, 0, t0, b"INC-1", orjson.dumps(OPENED)),
        Consumed("sla.incidents", 0, 1, t0, b"INC-1", orjson.dumps(FAR)),  # 1h ahead of it
        Consumed("sla.incidents", 0, 2, parse_instant(AT_LIMIT["at"]) - five_min, b"INC-1",
                 orjson.dumps(AT_LIMIT)),
        Consumed("sla.incidents", 0, 3, -1, b"INC-1", orjson.dumps(FAR)),
    ])
    sources: list[Source] = [PartitionSource(reader, "sla.incidents", 0, INCIDENTS,  # type: ignore[arg-type]
                                             five_min)]
    out, err = io.BytesIO(), io.StringIO()
    summary = _replay(load_policies(POLICY_YAML), sources, None, FileSink(out), err, 10**12)
    records = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["reason"], r["offset"]) for r in records if r["kind"] == "invalid"] == [
        ("future", 1)]
    assert err.getvalue().startswith("sla.incidents partition 0 offset 1: field 'at' is "
                                     "2027-02-17T15:00:00.000Z, more than max_future (300s)")
    assert summary.skipped == 1


def test_the_backfill_command_passes_max_future_and_retention(
        monkeypatch: pytest.MonkeyPatch, policy: str) -> None:
    seen: dict[str, Any] = {}

    def backfill(*args: Any, **kwargs: Any) -> replay_module.Summary:
        seen.update(kwargs)
        return replay_module.Summary()

    monkeypatch.setattr(replay_module, "backfill", backfill)
    monkeypatch.setenv("SLAWATCH_RETENTION", "7d")
    assert main(["replay", "--policies", policy, "--from-topics", "--broker", "127.0.0.1:9",
                 "--max-future", "2m"]) == 0
    assert (seen["max_future_ms"], seen["retention_ms"]) == (120_000, 7 * 86_400_000)


# ----------------------------------------------------------------------------- retention


def test_replay_retention_defaults_to_the_setting(monkeypatch: pytest.MonkeyPatch,
                                                  policy: str) -> None:
    seen: list[tuple[int, int | None]] = []

    def fake(*args: Any, retention_ms: int,
             max_future_ms: int | None, requests: str | None = None) -> replay_module.Summary:
        seen.append((retention_ms, max_future_ms))
        return replay_module.Summary()

    monkeypatch.setattr(replay_module, "replay", fake)
    args = ["replay", "--policies", policy, "--incidents", "-"]
    assert main(args) == 0
    monkeypatch.setenv("SLAWATCH_RETENTION", "2d")
    assert main(args) == 0
    assert main([*args, "--retention", "36h"]) == 0
    assert seen == [(30 * 86_400_000, 300_000), (2 * 86_400_000, 300_000),
                    (36 * 3_600_000, 300_000)]


def test_the_worker_flags_feed_the_settings(monkeypatch: pytest.MonkeyPatch, policy: str) -> None:
    import streams.worker

    made: list[Any] = []

    def create_app(settings: Any, *args: Any, **kwargs: Any) -> str:
        made.append(settings)
        return "app"

    monkeypatch.setattr(streams.worker, "create_app", create_app)
    monkeypatch.setattr(streams.worker, "run_worker", lambda app, loglevel: 0)
    # no broker here: the start-up probe (tests/unit/test_cli_errors.py) is not what this holds
    monkeypatch.setattr("streams.cli.check_reachable", lambda *args, **kwargs: None)
    monkeypatch.setattr("streams.cli.create_topics", lambda *args, **kwargs: [])
    base = ["worker", "--broker", "127.0.0.1:9092", "--policies", policy, "--no-web"]
    assert main([*base, "--retention", "90d", "--max-future", "10m"]) == 0
    monkeypatch.setenv("SLAWATCH_RETENTION", "1d")
    monkeypatch.setenv("SLAWATCH_MAX_FUTURE", "1m")
    assert main(base) == 0
    assert [(s.retention_ms, s.max_future_ms) for s in made] == [
        (90 * 86_400_000, 600_000), (86_400_000, 60_000)]


def test_a_bad_worker_duration_is_one_line(capsys: pytest.CaptureFixture[str],
                                           policy: str) -> None:
    assert main(["worker", "--broker", "127.0.0.1:9092", "--policies", policy,
                 "--max-future", "later"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("slawatch worker: error: --max-future='later': expected a duration")
    assert err.count("\n") == 1
