"""The demo's traffic and live view, without Kafka (the run itself: tests/integration)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import orjson

from streams.core.errors import InvalidEvent
from streams.core.events import heartbeat, incident_event
from streams.core.policyfile import load_policy_file
from streams.core.requests.records import request_count
from streams.core.timefmt import parse_instant
from streams.demo import DEMO_POLICIES, SERVICES, Traffic, format_record

T0 = parse_instant("2027-06-01T12:00:00Z")


def ten_minutes(seed: int) -> list[tuple[int, str, str | None, bytes]]:
    traffic = Traffic(seed=seed)
    out = []
    for now in range(T0, T0 + 600_000, 500):
        out += [(now, *m) for m in traffic.due(now)]
    return out


def test_the_same_seed_gives_the_same_traffic() -> None:
    assert ten_minutes(7) == ten_minutes(7)
    assert ten_minutes(7) != ten_minutes(8)


def test_traffic_is_valid_input_in_time_order_but_for_a_few_malformed_records() -> None:
    sent = ten_minutes(3)
    kinds: Counter[str] = Counter()
    severities: set[str] = set()
    by_incident: dict[str, list[str]] = defaultdict(list)
    broken = 0
    for now, topic, key, value in sent:
        try:
            obj = orjson.loads(value)
        except orjson.JSONDecodeError:
            broken += 1
            continue
        if topic == "incidents":
            ev = incident_event(obj)
            assert key == ev.incident_id
            assert ev.at <= now, "nothing is sent before its time"
            kinds[obj["type"]] += 1
            by_incident[ev.incident_id].append(obj["type"])
            severities.add(obj.get("severity", ""))
        elif topic == "heartbeats":
            hb = heartbeat(obj)
            assert key == hb.service and hb.at <= now
            kinds[f"heartbeat {obj['status']}"] += 1
    assert broken < 0.1 * len(by_incident)
    assert {"P1", "P2", "P3", "P4"} <= severities
    assert all(types[0] == "opened" for types in by_incident.values())
    assert {"opened", "acknowledged", "resolved", "paused", "resumed"} <= set(kinds)
    assert kinds["heartbeat down"] > 0, "some service fails in ten minutes"
    assert kinds["heartbeat up"] > 10 * len(SERVICES)


def test_the_demo_policy_file_is_valid() -> None:
    assert load_policy_file(str(DEMO_POLICIES)).versions


def record(**fields: Any) -> dict[str, Any]:
    return {"alert_id": "x", "at": "2027-06-01T12:00:20.000Z", "policy_id": "p", **fields}


def test_every_kind_of_record_reads_as_one_line_naming_its_subject() -> None:
    lines = [
        format_record(record(kind="breach", metric="response", incident_id="INC-1",
                             severity="P1", customer="acme", service="api", threshold=1.0,
                             target_seconds=20.0, deadline="2027-06-01T12:00:20.000Z")),
        format_record(record(kind="near_breach", metric="resolution", incident_id="INC-1",
                             severity="P1", customer="acme", service="api", threshold="5s",
                             target_seconds=90.0, deadline="2027-06-01T12:01:30.000Z")),
        format_record(record(kind="outcome", metric="response", incident_id="INC-1",
                             severity="P1", customer="acme", service="api", met=False,
                             elapsed_seconds=29.5, target_seconds=20.0)),
        format_record(record(kind="retraction", retracts="breach", metric="response",
                             incident_id="INC-1")),
        format_record(record(kind="breach", metric="availability", service="auth",
                             threshold=1.0, availability=99.88, downtime_seconds=90.0,
                             budget_seconds=86.4, credit_percent=10)),
        format_record(record(kind="near_breach", metric="burn_rate", service="auth",
                             threshold=14.4, burn_rate_long=20.25, long_window_seconds=300.0)),
        format_record({"alert_id": "d", "kind": "invalid", "reason": "malformed_json",
                       "error": "malformed JSON: unexpected end", "source_topic": "sla.incidents",
                       "partition": 1, "offset": 42}),
    ]
    assert all("\n" not in line for line in lines)
    assert lines[0].split()[:4] == ["12:00:20", "BREACH", "response", "INC-1"]
    assert "100% of 20s" in lines[0] and "deadline 12:00:20" in lines[0]
    assert "5s of 90s" in lines[1]
    assert "MISSED: 29.5s of 20s" in lines[2]
    assert "RETRACTED" in lines[3] and "withdraws a breach" in lines[3]
    assert "service auth" in lines[4] and "99.88%" in lines[4] and "credit 10%" in lines[4]
    assert "20.2x over 300s" in lines[5] and "14.4x" in lines[5]
    assert "DEAD LETTER" in lines[6] and "sla.incidents[1]@42" in lines[6]


def test_malformed_records_are_the_only_invalid_ones() -> None:
    for _, topic, _, value in ten_minutes(11):
        try:
            obj = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        try:
            {"incidents": incident_event, "heartbeats": heartbeat,
             "requests": request_count}[topic](obj)
        except InvalidEvent as exc:  # pragma: no cover - the failure message
            raise AssertionError(f"{topic} record {obj} is invalid: {exc}") from None


def test_elevator_calls_send_milestones_some_late_and_the_demo_judges_on_site() -> None:
    """SPEC 4.1 in the demo: the elevators contract has an on_site clock, and its traffic sends
    dispatched and on_site milestones, some of them after their time (a late report)."""
    from tests.support.fold import fold

    sent = ten_minutes(5)
    milestones = [(now, orjson.loads(v)) for now, topic, _, v in sent if topic == "incidents"
                  and b'"milestone"' in v]
    names = Counter(obj["milestone"] for _, obj in milestones)
    assert names["on_site"] > 3 and names["dispatched"] >= names["on_site"]
    late = [obj for now, obj in milestones if parse_instant(obj["at"]) + 5_000 <= now]
    assert late, "some arrival is reported late"
    incidents = [orjson.loads(v) for _, topic, _, v in sent if topic == "incidents"
                 and v.startswith(b"{") and v.endswith(b"}")]
    records = fold(DEMO_POLICIES.read_text(), incidents=incidents)
    on_site = Counter(r["kind"] for r in records if r.get("metric") == "on_site")
    assert on_site["outcome"] and on_site["breach"], on_site


def test_services_send_request_counts_whose_objectives_fire_within_ten_minutes() -> None:
    """Request counts go to the requests topic keyed by service; through the demo's policy,
    the payments latency slices reach a near-breach and the breach, and error bursts fire
    burn rates, all within ten minutes (what a user watches)."""
    from streams.core.detector import Detector

    det = Detector(load_policy_file(DEMO_POLICIES))
    fired: list[dict[str, Any]] = []
    counts = 0
    for _, topic, key, value in ten_minutes(3):
        if topic != "requests":
            continue
        rec = request_count(orjson.loads(value))
        assert key == rec.service
        counts += 1
        fired += det.on_event(rec)
    assert counts > 150 * len(SERVICES), "every 2 s, but from a service fallen silent"
    kinds = {(r["metric"], r["kind"], r.get("objective")) for r in fired}
    assert ("requests", "near_breach", "fast") in kinds
    assert ("requests", "breach", "fast") in kinds
    assert ("burn_rate", "near_breach", "success") in kinds
    assert all(format_record(r).count("\n") == 0 and r["service"] in format_record(r)
               for r in fired)
