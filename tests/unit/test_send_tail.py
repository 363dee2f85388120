"""``slawatch send``'s routing and checks, and ``slawatch tail``'s view of the changelog, without
Kafka (over the wire: tests/integration/test_send_tail.py and test_quickstart.py)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams import cli
from streams.core.timefmt import parse_instant
from streams.send import Message, plan, stamp_now
from streams.tail import Changes

OPENED = {"incident_id": "INC-7", "event_id": "e1", "type": "opened", "severity": "P1",
          "customer": "acme", "service": "api", "at": "2027-03-01T10:00:00Z"}
BEAT = {"service": "api", "status": "up", "at": "2027-03-01T10:00:00Z"}


def lines(*objs: object) -> list[tuple[str, bytes]]:
    return [(f"f.jsonl:{n}", o if isinstance(o, bytes) else orjson.dumps(o))
            for n, o in enumerate(objs, 1)]


def test_each_event_goes_to_its_topic_with_the_key_the_worker_checks() -> None:
    numeric = {**OPENED, "incident_id": 42}  # integer ids are accepted as strings
    got = plan(lines(OPENED, BEAT, numeric))
    assert got.problems == []
    assert [(m.topic, m.key) for m in got.messages] == [
        ("incidents", "INC-7"), ("heartbeats", "api"), ("incidents", "42")]
    assert got.messages[0] == Message("incidents", "INC-7", orjson.dumps(OPENED))


def test_request_counts_go_to_the_requests_topic_keyed_by_service() -> None:
    count = {"service": "api", "total": 10, "errors": 1, "at": "2027-03-01T10:00:00Z"}
    line = {"service": "web", "duration_ms": 12.5, "at": "2027-03-01T10:00:00Z"}
    got = plan(lines(count, line))
    assert got.problems == []
    assert [(m.topic, m.key) for m in got.messages] == [("requests", "api"), ("requests", "web")]


def test_bad_events_are_named_with_their_place_and_not_sent() -> None:
    got = plan(lines(b"{not json", {**OPENED, "type": "exploded"}, {"hello": 1},
                     {"service": "api", "total": 10, "errors": 11,
                      "at": "2027-03-01T10:00:00Z"}, BEAT))
    assert [m.topic for m in got.messages] == ["heartbeats"]
    assert [p.split(": ", 1)[0] for p in got.problems] == [
        "f.jsonl:1", "f.jsonl:2", "f.jsonl:3", "f.jsonl:4"]
    assert "malformed JSON" in got.problems[0] and "exploded" in got.problems[1]
    assert "nor a request count" in got.problems[2] and "errors" in got.problems[3]


def test_now_stamps_only_events_without_at() -> None:
    now = parse_instant("2027-03-01T12:00:00Z")
    no_at = {k: v for k, v in OPENED.items() if k != "at"}
    assert orjson.loads(stamp_now(orjson.dumps(no_at), now))["at"] == "2027-03-01T12:00:00.000Z"
    assert stamp_now(orjson.dumps(OPENED), now) == orjson.dumps(OPENED)
    assert plan(lines(no_at)).problems, "without --now, an event without at is invalid"
    assert not plan(lines(no_at), now).problems


def test_send_with_nothing_valid_is_one_line_and_exit_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["send", "--broker", "127.0.0.1:1", '{"incident_id": "I"}']) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("slawatch send: error: nothing to send: argument: ")


def test_send_takes_an_event_or_a_file_not_both(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["send", "--broker", "x:1", "--file", str(tmp_path), "{}"]) == 2
    assert cli.main(["send", "--broker", "x:1"]) == 2
    assert capsys.readouterr().err.count("slawatch send: error: give one event") == 2


def test_send_names_a_file_it_cannot_read(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["send", "--broker", "x:1", "--file", str(tmp_path / "no.jsonl")]) == 2
    assert capsys.readouterr().err.startswith(
        f"slawatch send: error: {tmp_path / 'no.jsonl'}: No such file or directory")


def alert(kind: str = "breach", **extra: object) -> dict[str, object]:
    return {"alert_id": "a1", "kind": kind, "metric": "response", "incident_id": "INC-7",
            "detected_at": "2027-03-01T10:15:00.100Z", **extra}


def test_tail_shows_each_change_of_what_stands_once() -> None:
    changes = Changes()
    assert changes.apply(alert())  # new
    assert not changes.apply({**alert(), "detected_at": "2027-03-01T10:15:01.000Z"})  # again
    assert changes.apply(alert(at="2027-03-01T10:16:00.000Z"))  # moved: changed
    assert changes.counts() == {"breach": 1}
    assert changes.apply(alert("retraction", retracts="breach"))
    assert not changes.apply(alert("retraction", retracts="breach"))  # nothing stood
    assert changes.latest == {} and changes.summary() == "standing: nothing"
