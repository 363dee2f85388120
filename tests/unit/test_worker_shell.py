"""The worker's shell around the detector, without a broker: what a partition's detector is
rebuilt with (SPEC section 6: a saved clock from the future is not trusted; the retention
setting), and the future check on inputs (reference: the record's Kafka timestamp or the wall
clock, the earlier)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import orjson
from faust.types import TP

from streams.core.policyfile import load_policies
from streams.core.timefmt import parse_instant
from streams.settings import Settings
from streams.state import incident_value, note_key
from streams.worker.shell import Shell

POLICY = load_policies("policies:\n  - id: p\n    match: {}\n    incidents:\n"
                       "      '*': {response: 1h, resolution: 1d}\n")
DAY = 86_400_000


class Table:
    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = data or {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def items(self) -> Any:
        return self.data.items()


def shell(clock_ms: int | None, **settings: Any) -> Shell:
    app = SimpleNamespace(
        conf=SimpleNamespace(broker_session_timeout=60.0, broker_heartbeat_interval=3.0),
        consumer=SimpleNamespace(assignment=lambda: set(), highwater=lambda tp: None,
                                 _committed_offset={}),
        consumer_generation_id=1)
    s = Shell(app, Settings.from_env({}, broker="127.0.0.1:9092", **settings),  # type: ignore[arg-type]
              POLICY)
    clocks = {} if clock_ms is None else {"0": {"p": 0, "now": clock_ms}}
    s.tables = {"incidents": Table(), "notes": Table(), "services": Table(), "requests": Table(),
                "clocks": Table(clocks)}
    return s


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def test_a_saved_clock_within_max_future_is_the_rebuilt_clock() -> None:
    saved = wall_ms() - DAY
    part, _ = shell(saved).partition(0)
    assert part.det.now_ms == saved


def test_a_saved_clock_from_the_future_is_not_trusted() -> None:
    """Written by a worker whose clock ran 30 days ahead (or poisoned): the partition's clock
    restarts from its events instead of firing every open deadline at once."""
    part, _ = shell(wall_ms() + 30 * DAY).partition(0)
    assert part.det.now_ms < wall_ms()


def test_the_worker_keeps_finished_incidents_for_its_retention_setting() -> None:
    part, _ = shell(None, retention_ms=7 * DAY).partition(0)
    assert part.det.retention_ms == 7 * DAY
    assert part.det.follow_events is False  # live: only the shell moves the clock


def test_an_input_from_the_future_is_a_dead_letter_that_moves_nothing() -> None:
    s = shell(None, max_future_ms=5 * 60_000)
    now = wall_ms()
    opened = {"event_id": "e", "incident_id": "i", "type": "opened", "at": now + 30 * DAY,
              "severity": "P1", "service": "s", "customer": "c"}
    records, writes = s.handle("sla.incidents", 0, 0, b"i", orjson.dumps(opened), now)
    assert [r["reason"] for r in records] == ["future"]
    assert writes == [] and "i" not in s.parts[0].det.incidents
    # the reference is the earlier of the Kafka timestamp and the wall clock: a producer that
    # stamps its records in the future does not widen the bound
    records, _ = s.handle("sla.incidents", 0, 1, b"i", orjson.dumps(opened), now + 60 * DAY)
    assert [r["reason"] for r in records] == ["future"]
    opened["at"] = now + 60_000
    records, writes = s.handle("sla.incidents", 0, 2, b"i", orjson.dumps(opened), now)
    assert not any(r.get("kind") == "invalid" for r in records) and writes


def taken_over(clock_ms: int | None, values: dict[str, Any], ends: dict[str, int | None],
               committed: dict[str, int]) -> Shell:
    """A shell that takes partition 0 over: ``values`` in its incidents table, the clock its
    last owner saved, the input partitions' ends (``None``: not fetched yet) and what the last
    owner committed."""
    s = shell(clock_ms)
    s.tables["incidents"] = Table(values)
    s.app.consumer = SimpleNamespace(  # type: ignore[attr-defined]
        assignment=lambda: set(), highwater=lambda tp: ends.get(tp.topic),
        _committed_offset={TP(topic, 0): offset for topic, offset in committed.items()})
    return s


OPENED = {"event_id": "i-1", "incident_id": "i", "type": "opened", "at": "2026-04-01T00:00:00Z",
          "severity": "P1", "service": "s", "customer": "c"}
ACKED = {"event_id": "i-2", "incident_id": "i", "type": "acknowledged",
         "at": "2026-04-01T00:30:00Z"}
TWO_HOURS_ON = parse_instant("2026-04-01T02:00:00Z")


def test_a_new_owner_pages_nobody_for_an_acknowledgement_it_reads_again() -> None:
    """The last owner applied ``opened`` (offset 10, written) and ``acknowledged`` (offset 20:
    its write lost in the crash), then saved its clock two hours on (landed). Rebuilt at that
    clock, the incident is unacknowledged past its 1 h response target: the breach must not go
    out before the acknowledgement is read again, and then it never does."""
    value = incident_value(0, 10, None, OPENED, [])
    s = taken_over(TWO_HOURS_ON, {"i": value}, {"sla.incidents": 21, "sla.heartbeats": 0,
                   "sla.requests": 0},
                   {"sla.incidents": 5})
    records, _ = s.handle("sla.incidents", 0, 10, b"i", orjson.dumps(OPENED))
    assert records == [], "held: the partition is read again up to offset 21"
    assert any(r["kind"] == "breach" for r in s.parts[0].holding.records.values())  # type: ignore[union-attr]
    records, _ = s.handle("sla.incidents", 0, 20, b"i", orjson.dumps(ACKED))
    assert records, "read to the end it had at the takeover: what stands goes out"
    assert not [r for r in records if r["kind"] in ("breach", "near_breach")]
    assert any(r["kind"] == "outcome" and r["met"] for r in records)
    assert s.parts[0].holding is None
    records, _ = s.handle("sla.incidents", 0, 21, b"j", orjson.dumps(
        {**OPENED, "event_id": "j-1", "incident_id": "j"}))
    assert s.parts[0].holding is None, "nothing held once read again"


def test_what_a_rebuild_finds_due_goes_out_once_the_inputs_are_read_again() -> None:
    """No lost write: the breach fired by the saved clock stands, and goes out at the end of
    the re-read, not before it; the input ends are learnt from the first fetch."""
    value = incident_value(0, 10, None, OPENED, [])
    ends: dict[str, int | None] = {"sla.incidents": None, "sla.heartbeats": None,
                   "sla.requests": None}
    s = taken_over(TWO_HOURS_ON, {"i": value}, ends, {"sla.incidents": 11})
    tick = orjson.dumps({"now": "2026-04-01T02:00:01Z"})
    records, _ = s.handle("sla.ticks", 0, 0, None, tick)
    assert records == [], "the ends at the takeover are not known yet"
    ends.update({"sla.incidents": 11, "sla.heartbeats": 0,
                   "sla.requests": 0})
    records, _ = s.handle("sla.ticks", 0, 1, None, tick)
    assert [r["kind"] for r in records if r["metric"] == "response"] == ["breach"]


def test_a_shell_writes_an_updated_event_as_its_note_and_rebuilds_with_its_notes() -> None:
    """The shell's own path: an ``updated`` writes its note and nothing of its incident; a
    partition taken over is rebuilt with the notes of its own partition only (the memory store
    may keep other partitions' keys), and a repeat is a duplicate."""
    s = shell(None, partitions=2)
    _, writes = s.handle("sla.incidents", 0, 0, b"i", orjson.dumps(OPENED))
    assert [table for table, _, _ in writes] == ["incidents"]
    updated = {"event_id": "i-3", "incident_id": "i", "type": "updated",
               "at": "2026-04-01T00:40:00Z"}
    _, writes = s.handle("sla.incidents", 0, 1, b"i", orjson.dumps(updated))
    assert writes == [("notes", note_key("i", "i-3"), {"p": 0, "o": 1, "at": parse_instant(
        updated["at"])})]
    other = {"p": 1, "o": 7, "at": 0}
    s.tables["incidents"] = Table({"i": incident_value(0, 0, None, OPENED, [])})
    s.tables["notes"] = Table({note_key("i", "i-3"): writes[0][2],
                               note_key("i", "i-9"): other})
    s.parts.clear()
    part, _ = s.partition(0)
    assert sorted(part.det.incidents["i"].event_ids) == ["i-1", "i-3"]
    records, writes = s.handle("sla.incidents", 0, 2, b"i", orjson.dumps(
        {**updated, "type": "acknowledged"}))
    assert [r["reason"] for r in records] == ["duplicate"] and writes == []


def test_a_partition_that_starts_without_a_saved_clock_holds_nothing() -> None:
    s = taken_over(None, {}, {"sla.incidents": 100, "sla.heartbeats": 0,
                   "sla.requests": 0}, {})
    s.handle("sla.incidents", 0, 0, b"i", orjson.dumps(OPENED))
    assert s.parts[0].holding is None, "its clock starts from the events: none runs ahead"


def test_dead_letters_are_never_held() -> None:
    s = taken_over(TWO_HOURS_ON, {}, {"sla.incidents": 100, "sla.heartbeats": 0,
                   "sla.requests": 0}, {})
    records, _ = s.handle("sla.incidents", 0, 0, b"x", b"not json")
    assert [r["kind"] for r in records] == ["invalid"] and s.parts[0].holding is not None


def test_a_tick_moves_the_clock_past_the_events_only_on_high_watermarks_fetched_after_it() -> None:
    """A partition left out of the fetches a while keeps its old high watermark: read to it,
    the worker is not caught up with what was produced before the tick."""
    polled = {"sla.incidents": 1_000, "sla.heartbeats": 5_000}
    s = taken_over(None, {}, {"sla.incidents": 1, "sla.heartbeats": 0,
                   "sla.requests": 0}, {})
    aiokafka = SimpleNamespace(last_poll_timestamp=lambda tp: polled[tp.topic])
    s.app.consumer._thread = SimpleNamespace(_ensure_consumer=lambda: aiokafka)  # type: ignore[attr-defined]
    s.handle("sla.incidents", 0, 0, b"i", orjson.dumps(OPENED))
    tick = orjson.dumps({"now": "2026-04-02T00:00:00Z"})
    s.handle("sla.ticks", 0, 0, None, tick, 3_000)
    assert s.parts[0].det.now_ms < parse_instant(OPENED["at"]), "the incidents' end is from 1 s"
    polled["sla.incidents"] = 3_000
    records, _ = s.handle("sla.ticks", 0, 1, None, tick, 3_000)
    assert s.parts[0].det.now_ms == parse_instant("2026-04-02T00:00:00Z")
    assert any(r["kind"] == "breach" for r in records), "the response deadline passed"


# ----------------------------------------------------------------------------- the stall watch


def watched(ends: dict[str, int | None], committed: dict[str, int]) -> Shell:
    return taken_over(None, {}, ends, committed)


def test_an_input_partition_whose_records_stop_coming_is_read_again() -> None:
    """Ticks pass, the broker has records up to 40 and nothing past 12 arrives: after
    ``STALL_S`` the partition is read again from 12, once per stall."""
    from streams.worker.shell import STALL_S

    s = watched({"sla.incidents": 40, "sla.heartbeats": 0,
                   "sla.requests": 0}, {"sla.incidents": 12})
    s._watch(0, now_s=100.0)
    s._watch(0, now_s=100.0 + STALL_S - 0.1)
    assert s.reread == [], "not stalled yet"
    s._watch(0, now_s=100.0 + STALL_S)
    assert s.reread == [(TP("sla.incidents", 0), 12)]
    s._watch(0, now_s=100.0 + STALL_S + 1)
    assert len(s.reread) == 1, "the next stall is counted from the re-read"


def test_progress_or_being_read_to_the_end_is_no_stall() -> None:
    from streams.worker.shell import STALL_S

    s = watched({"sla.incidents": 40, "sla.heartbeats": 0,
                   "sla.requests": 0}, {"sla.incidents": 12})
    s._watch(0, now_s=100.0)
    s.position[TP("sla.incidents", 0)] = 20  # a record arrived meanwhile
    s._watch(0, now_s=100.0 + STALL_S)
    s._watch(0, now_s=100.0 + 2 * STALL_S - 0.1)
    assert s.reread == []
    s.position[TP("sla.incidents", 0)] = 40  # read to the end: nothing to wait for
    s._watch(0, now_s=100.0 + 5 * STALL_S)
    s._watch(0, now_s=100.0 + 9 * STALL_S)
    assert s.reread == []


def test_an_input_partition_never_fetched_is_read_again_from_its_commit() -> None:
    from streams.worker.shell import STALL_S

    s = watched({"sla.incidents": None, "sla.heartbeats": 0,
                   "sla.requests": 0}, {"sla.incidents": 7})
    s._watch(0, now_s=0.0)
    s._watch(0, now_s=STALL_S)
    assert s.reread == [(TP("sla.incidents", 0), 7)]
    s.forget({TP("sla.incidents", 0)})
    assert TP("sla.incidents", 0) not in s.stalls, "a revoked partition is not watched"


REQUESTS_POLICY = load_policies(
    "policies:\n  - id: api\n    match: {service: api}\n    requests:\n      period: day\n"
    "      objectives:\n        - {id: ok, sli: errors, target: 99.0}\n")


def test_a_request_count_writes_its_service_and_fold_values_and_a_bad_one_is_a_dead_letter(
        ) -> None:
    s = shell(None, partitions=2)
    s.policies = REQUESTS_POLICY
    now = wall_ms()
    count = {"service": "api", "at": now - 60_000, "total": 100, "errors": 3}
    records, writes = s.handle("sla.requests", 0, 7, b"api", orjson.dumps(count), now)
    assert records == []
    assert sorted(key for table, key, _ in writes if table == "requests") == [
        '["api","api","","ok"]', '["api"]']
    assert all(value["p"] == 0 and value["o"] == 7 for _, _, value in writes)
    assert s.parts[0].applied["requests"] == count["at"]
    records, writes = s.handle("sla.requests", 0, 8, b"web", orjson.dumps(count), now)
    assert [r["reason"] for r in records] == ["wrong_key"] and writes == []
    bad = {**count, "errors": 101}
    records, writes = s.handle("sla.requests", 0, 9, b"api", orjson.dumps(bad), now)
    assert [r["reason"] for r in records] == ["bad_field"] and "errors" in records[0]["error"]
    assert writes == []


def hostile_counts(now: int) -> list[tuple[bytes, str]]:
    """What a broken producer sends to the requests topic, and the reason of its dead letter."""
    def count(**fields: Any) -> bytes:
        return orjson.dumps({"service": "api", "at": now - 60_000, "total": 10, **fields})

    return [
        (b"{not json", "malformed_json"), (b"\xff\xfe", "malformed_json"),
        (orjson.dumps([1, 2]), "not_an_object"),
        (count(at=now + 30 * DAY), "future"),
        (count(at="9999-12-31T23:59:59Z"), "bad_timestamp"),  # instants end at 9000
        (count(at="10000-01-01T00:00:00Z"), "bad_timestamp"),
        (count(at=-1), "bad_timestamp"),
        (count(total=7).replace(b'"total":7', b'"total":' + b"9" * 30), "bad_field"),
        (count(errors=11), "bad_field"),
        (count(total=1.5), "bad_field"),
        (count(latency_le={"300ms": 9, "100ms": 10}), "bad_field"),
        (count(customer="x" * 100_000), "too_large"),
        (b'{"service": "api", "total": 1, "extra": ' + b"[" * 300 + b"]" * 300 + b"}",
         "too_deep"),
    ]


def test_hostile_request_counts_are_one_dead_letter_each_and_change_nothing() -> None:
    s = shell(None, partitions=2)
    s.policies = REQUESTS_POLICY
    now = wall_ms()
    good = {"service": "api", "at": now - 120_000, "total": 100, "errors": 1, "event_id": "g"}
    s.handle("sla.requests", 0, 0, b"api", orjson.dumps(good), now)
    s.app.consumer.highwater = lambda tp: 0  # type: ignore[attr-defined]  # caught up: a tick
    s.handle("sla.ticks", 0, 0, None, orjson.dumps({"now": now}), now)  # takes the wall clock
    det = s.parts[0].det
    assert det.now_ms >= now - 1_000
    clock, applied = det.now_ms, dict(s.parts[0].applied)
    counts = det.requests.services["api"].folds[0].periods
    before = [(p.good, p.total) for p in counts.values()]
    cases = hostile_counts(now)
    for offset, (raw, reason) in enumerate(cases, 1):
        records, writes = s.handle("sla.requests", 0, offset, b"api", raw, now)
        assert [r.get("reason") for r in records] == [reason], raw[:80]
        assert writes == [], raw[:80]
    again, writes = s.handle("sla.requests", 0, len(cases) + 1, b"api", orjson.dumps(good), now)
    assert [r.get("reason") for r in again] == ["duplicate"] and writes == []
    old = {**good, "event_id": "old", "at": now - 2 * 3_600_000}
    late, writes = s.handle("sla.requests", 0, len(cases) + 2, b"api", orjson.dumps(old), now)
    assert [r.get("reason") for r in late] == ["late"] and writes == []
    assert (det.now_ms, s.parts[0].applied) == (clock, applied), "no clock moved"
    assert [(p.good, p.total) for p in counts.values()] == before, "no counter moved"
