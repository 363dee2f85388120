"""Input limits (issue 10): a record over ``MAX_RECORD_BYTES`` is ``too_large`` and one nested
over ``MAX_DEPTH`` is ``too_deep``, before parsing; a dead letter keeps at most
``DEAD_LETTER_RAW_BYTES`` of its input and ``MAX_ERROR_CHARS`` of its message; the identifying
string fields are at most ``MAX_FIELD_CHARS`` long."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams import codec
from streams.codec import (
    DEAD_LETTER_RAW_BYTES,
    MAX_DEPTH,
    MAX_ERROR_CHARS,
    MAX_RECORD_BYTES,
    TooLarge,
    dead_letter,
    decode_heartbeat,
    decode_incident,
    loads,
    nesting,
)
from streams.core.errors import InvalidEvent
from streams.core.events import MAX_FIELD_CHARS
from streams.core.policyfile import load_policies
from streams.core.timefmt import parse_instant
from streams.replay import replay

OPENED = {"event_id": "e-1", "incident_id": "INC-1", "type": "opened",
          "at": "2027-02-17T14:00:00Z", "severity": "P1", "service": "auth", "customer": "acme"}
POLICY = """\
policies:
  - id: standard
    match: {}
    incidents:
      P1: {response: 20m, resolution: 4h}
"""


def nested(levels: int) -> Any:
    """A JSON value of ``levels`` nested arrays and objects (``levels`` >= 1)."""
    value: Any = []
    for i in range(levels - 1):
        value = {"k": value} if i % 2 else [value]
    return value


def reason(raw: bytes) -> str:
    with pytest.raises(InvalidEvent) as caught:
        decode_incident(raw)
    return caught.value.reason


# ----------------------------------------------------------------------------- size


def padded(size: int) -> bytes:
    """An opened event of exactly ``size`` bytes (padding in ``attributes``)."""
    bare = orjson.dumps({**OPENED, "attributes": {"pad": ""}})
    raw = orjson.dumps({**OPENED, "attributes": {"pad": "x" * (size - len(bare))}})
    assert len(raw) == size
    return raw


def test_a_record_of_the_limit_is_read_and_one_byte_more_is_too_large() -> None:
    assert decode_incident(padded(MAX_RECORD_BYTES))[1].incident_id == "INC-1"
    with pytest.raises(TooLarge) as caught:
        decode_incident(padded(MAX_RECORD_BYTES + 1))
    assert caught.value.reason == "too_large"
    assert caught.value.size == MAX_RECORD_BYTES + 1
    assert "65,537 bytes, more than the limit of 65,536 bytes (64 KiB)" in str(caught.value)
    with pytest.raises(TooLarge):
        decode_heartbeat(b" " * (MAX_RECORD_BYTES + 1))  # whatever it holds: not parsed


def test_too_large_is_decided_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parse(raw: bytes) -> Any:
        raise AssertionError("parsed")

    monkeypatch.setattr(orjson, "loads", no_parse)
    with pytest.raises(TooLarge):
        loads(b"[" * (MAX_RECORD_BYTES + 1))


# ----------------------------------------------------------------------------- depth


@pytest.mark.parametrize(("text", "depth"), [
    (b"1", 0), (b"[]", 1), (b'{"a": [1, {"b": 2}]}', 3), (b'[[], [[]], []]', 3),
    (b'{"s": "[[[{{{"}', 1), (b'["\\"[[", ["]]]"]]', 2), (b'"\\\\"', 0),
])
def test_nesting_counts_brackets_outside_strings(text: bytes, depth: int) -> None:
    assert nesting(text) == depth
    assert nesting(text) == _depth(orjson.loads(text))


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def test_a_record_nested_to_the_limit_is_read_and_one_level_more_is_too_deep() -> None:
    # the event object is a level, attributes another: MAX_DEPTH - 2 levels inside attributes
    ok = orjson.dumps({**OPENED, "attributes": {"deep": nested(MAX_DEPTH - 2)}})
    assert nesting(ok) == MAX_DEPTH
    _, ev = decode_incident(ok)
    orjson.dumps({"alert": {"attributes": ev.attributes}})  # an alert carrying them is written
    deep = orjson.dumps({**OPENED, "attributes": {"deep": nested(MAX_DEPTH - 1)}})
    assert reason(deep) == "too_deep"
    with pytest.raises(InvalidEvent, match=f"{MAX_DEPTH + 1} levels deep, more than the limit "
                                           f"of {MAX_DEPTH}"):
        decode_incident(deep)


def test_brackets_inside_strings_are_not_nesting() -> None:
    raw = orjson.dumps({**OPENED, "attributes": {"text": "[{" * 1000}})
    assert decode_incident(raw)[1].attributes == {"text": "[{" * 1000}


def test_json_deeper_than_orjson_writes_is_too_deep_not_a_crash(tmp_path: Path) -> None:
    """300 levels: orjson reads them (up to 1,024) but writes at most 254, so before the limit
    the alert that carried such attributes crashed the replay (and the worker's agent)."""
    raw = orjson.dumps(OPENED)[:-1] + b', "attributes": {"deep": ' + b"[" * 300 + b"]" * 300 + b"}}"
    assert orjson.loads(raw)["attributes"]["deep"]  # valid JSON, as orjson reads it
    assert reason(raw) == "too_deep"
    assert reason(b"[" * 2000 + b"]" * 2000) == "too_deep"  # past orjson's reading limit too
    path = tmp_path / "incidents.jsonl"
    path.write_bytes(raw + b"\n")
    out, err = io.BytesIO(), io.StringIO()
    until = parse_instant("2027-02-17T15:00:00Z")  # past the 20m response: a breach would carry it
    summary = replay(load_policies(POLICY), str(path), None, until, out, err)
    assert summary.skipped == 1
    (dead,) = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert (dead["reason"], dead["line"]) == ("too_deep", 1)


def test_a_normal_record_is_not_scanned_for_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_scan(raw: bytes) -> int:
        raise AssertionError("scanned")

    monkeypatch.setattr(codec, "nesting", no_scan)
    attributes = {"tags": [{"k": i} for i in range(MAX_DEPTH // 2 - 1)]}  # 2 + 31 x 2 brackets
    decode_incident(orjson.dumps({**OPENED, "attributes": attributes}))


# ----------------------------------------------------------------------------- dead letters

FILE = {"source_file": "incidents.jsonl", "line": 7}


def test_a_short_dead_letter_keeps_its_bytes_and_says_nothing_of_truncation() -> None:
    rec = dead_letter(InvalidEvent("bad", "bad_field"), b'{"a": 1}', FILE)
    assert rec["raw"] == '{"a": 1}'
    assert "raw_truncated" not in rec and "raw_bytes" not in rec


def test_a_long_input_is_truncated_in_its_dead_letter() -> None:
    raw = padded(MAX_RECORD_BYTES + 1)
    rec = dead_letter(TooLarge(len(raw)), raw, FILE)
    assert rec["raw"] == raw[:DEAD_LETTER_RAW_BYTES].decode()
    assert (rec["raw_truncated"], rec["raw_bytes"]) == (True, MAX_RECORD_BYTES + 1)
    assert len(orjson.dumps(rec)) < DEAD_LETTER_RAW_BYTES + 1024


def test_a_prefix_held_for_a_longer_input_reports_the_whole_length() -> None:
    """A replay holds only the first bytes of an endless line; ``TooLarge.size`` is its length."""
    rec = dead_letter(TooLarge(7_000_000_000), b"x" * (MAX_RECORD_BYTES + 2), FILE)
    assert rec["raw_bytes"] == 7_000_000_000 and len(rec["raw"]) == DEAD_LETTER_RAW_BYTES


def test_a_character_cut_by_the_truncation_is_dropped() -> None:
    raw = b"x" * (DEAD_LETTER_RAW_BYTES - 1) + "é".encode() * 10  # the cut splits the first é
    rec = dead_letter(InvalidEvent("bad", "bad_field"), raw, FILE)
    assert rec["raw"] == "x" * (DEAD_LETTER_RAW_BYTES - 1)
    assert rec["raw_bytes"] == len(raw)


def test_long_bytes_that_are_not_utf8_are_truncated_in_base64() -> None:
    raw = b"\xff" * 100_000
    rec = dead_letter(InvalidEvent("bad", "malformed_json"), raw, FILE)
    assert rec["raw"] is None
    assert base64.b64decode(rec["raw_base64"]) == raw[:DEAD_LETTER_RAW_BYTES]
    assert rec["raw_bytes"] == 100_000


def test_a_long_error_message_is_cut() -> None:
    rec = dead_letter(InvalidEvent("why " * 10_000, "bad_field"), b"{}", FILE)
    assert rec["error"].startswith("why why")
    assert rec["error"].endswith("... (40,000 characters in all)")
    assert len(rec["error"]) <= MAX_ERROR_CHARS + 40


def test_every_dead_letter_stays_far_below_a_megabyte() -> None:
    """The worst case: control characters (6 bytes each in JSON) in raw and in the message."""
    raw = b"\x01" * MAX_RECORD_BYTES
    rec = dead_letter(InvalidEvent(repr(raw.decode()), "bad_field"), raw, FILE)
    assert len(orjson.dumps(rec)) < 128 * 1024


# ----------------------------------------------------------------------------- field lengths


@pytest.mark.parametrize("name", ["incident_id", "event_id", "service", "customer",
                                  "severity"])
def test_an_incident_string_field_is_at_most_the_limit(name: str) -> None:
    ok = {**OPENED, name: "a" * MAX_FIELD_CHARS}
    assert getattr(decode_incident(orjson.dumps(ok))[1], name) == "a" * MAX_FIELD_CHARS
    with pytest.raises(InvalidEvent) as caught:
        decode_incident(orjson.dumps({**OPENED, name: "a" * (MAX_FIELD_CHARS + 1)}))
    assert caught.value.reason == "bad_field"
    assert (f"field {name!r} is 257 characters long, more than the limit of 256"
            in str(caught.value))


def test_a_severity_change_is_bounded_too() -> None:
    event = {"event_id": "e-2", "incident_id": "INC-1", "type": "severity_changed",
             "at": "2027-02-17T14:00:00Z", "severity": "P" * 300}
    assert reason(orjson.dumps(event)) == "bad_field"


@pytest.mark.parametrize("name", ["service", "instance"])
def test_a_heartbeat_string_field_is_at_most_the_limit(name: str) -> None:
    beat = {"service": "auth", "instance": "i-1", "at": "2027-02-17T14:00:00Z", "status": "up"}
    assert getattr(decode_heartbeat(orjson.dumps({**beat, name: "b" * MAX_FIELD_CHARS})),
                   name) == "b" * MAX_FIELD_CHARS
    with pytest.raises(InvalidEvent) as caught:
        decode_heartbeat(orjson.dumps({**beat, name: "b" * (MAX_FIELD_CHARS + 1)}))
    assert caught.value.reason == "bad_field"
    assert f"field {name!r} is 257 characters long" in str(caught.value)
