"""Request counts (SPEC section 2): every rule of the table checked at the edge, a dead letter
that names the field, and the JSON Schema accepting what the SPEC calls valid."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streams.codec import dead_letter, decode_request
from streams.core.errors import InvalidEvent
from streams.core.requests.records import INF_MS
from tests.support.schemas import problems

AT = "2027-03-01T10:00:00Z"


def rec(**fields: Any) -> bytes:
    return orjson.dumps({"service": "api", "at": AT, **fields})


@pytest.mark.parametrize(("raw", "reason", "names"), [
    (b"[1]", "not_an_object", "JSON object"),
    (orjson.dumps({"at": AT}), "missing_field", "'service'"),
    (orjson.dumps({"service": "api"}), "missing_field", "'at'"),
    (rec(at="2027-03-01T10:00:00"), "bad_timestamp", "'at'"),
    (rec(total=2.0), "bad_field", "'total' is a float"),
    (rec(total=-1), "bad_field", "'total' is -1"),
    (rec(total="3"), "bad_field", "'total'"),
    (rec(total=True), "bad_field", "'total'"),
    (rec(total=3, errors=4), "bad_field", "'errors' is 4, expected an integer in [0, total = 3]"),
    (rec(total=3, errors=-1), "bad_field", "'errors' is -1"),
    (rec(total=3, errors=1.5), "bad_field", "'errors' is a float"),
    (rec(total=3, latency_le={"100ms": 2, "50ms": 3}), "bad_field",
     "latency_le['100ms'] is 2, less than latency_le['50ms'] = 3"),
    (rec(total=3, latency_le={"100ms": 4}), "bad_field", "latency_le['100ms'] is 4"),
    (rec(total=3, latency_le={"100ms": 1.0}), "bad_field", "latency_le['100ms'] is a float"),
    (rec(total=3, latency_le={"fast": 1}), "bad_field", "latency_le['fast']: the key is not"),
    (rec(total=3, latency_le={"1s": 1, "1000ms": 1}), "bad_field", "the same duration as '1s'"),
    (rec(total=3, latency_le={"+Inf": 2}), "bad_field", "latency_le['+Inf'] is 2, expected total"),
    (rec(total=3, latency_le=[1, 2]), "bad_field", "'latency_le'"),
    (rec(duration_ms=-1), "bad_field", "'duration_ms' is -1"),
    (rec(duration_ms="12"), "bad_field", "'duration_ms'"),
    (rec(total=2, duration_ms=12), "bad_field", "'duration_ms' is for a single request"),
    (rec(duration_ms=12, latency_le={"1s": 1}), "bad_field", "'duration_ms' beside 'latency_le'"),
    (rec(customer=7.5), "bad_field", "'customer'"),
    (rec(event_id=""), "bad_field", "'event_id'"),
    (rec(customer="x" * 300), "bad_field", "'customer' is 300 characters"),
])
def test_a_broken_record_is_a_dead_letter_naming_its_field(raw: bytes, reason: str,
                                                            names: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_request(raw)
    assert caught.value.reason == reason
    assert names in str(caught.value)
    letter = dead_letter(caught.value, raw, {"source_file": "requests.jsonl", "line": 3})
    assert letter["kind"] == "invalid" and letter["reason"] == reason
    assert problems("deadletter", letter) == []


def test_defaults_and_buckets() -> None:
    one = decode_request(rec())
    assert (one.total, one.errors, one.latency_le, one.duration_ms) == (1, 0, None, None)
    agg = decode_request(rec(total=10, errors=2, customer="acme", event_id="e1",
                             latency_le={"1s": 9, "300ms": 7, "+Inf": 10}))
    assert agg.latency_le == ((300, 7), (1000, 9), (INF_MS, 10))
    assert (agg.within(300), agg.within(1000), agg.within(500)) == (7, 9, None)
    assert (agg.customer, agg.event_id) == ("acme", "e1")
    line = decode_request(rec(duration_ms=300.0))
    assert (line.within(300), line.within(299)) == (1, 0)
    assert decode_request(rec(duration_ms=300.5)).within(300) == 0  # compared exactly
    assert decode_request(rec(total=0)).total == 0  # applied, adds no request


@pytest.mark.parametrize("obj", [
    {"service": "api", "at": AT},
    {"service": "api", "at": 1_800_000_000_000, "total": 120, "errors": 3,
     "latency_le": {"100ms": 80, "300ms": 110, "+Inf": 120}, "customer": "acme"},
    {"service": "api", "at": AT, "duration_ms": 12.5, "event_id": "req-1", "extra": [1]},
])
def test_the_schema_accepts_valid_records(obj: dict[str, Any]) -> None:
    decode_request(orjson.dumps(obj))
    assert problems("request-count", obj) == []


@pytest.mark.parametrize("obj", [
    {"at": AT}, {"service": "api"}, {"service": "api", "at": AT, "total": 1.5},
    {"service": "api", "at": AT, "errors": -1},
    {"service": "api", "at": AT, "latency_le": {"1s": 0.5}},
])
def test_the_schema_rejects_what_the_spec_calls_invalid(obj: dict[str, Any]) -> None:
    assert problems("request-count", obj) != []
