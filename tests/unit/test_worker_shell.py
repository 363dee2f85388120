"""The worker's shell around the detector, without a broker: what a partition's detector is
rebuilt with (SPEC section 6: a saved clock from the future is not trusted; the retention
setting), and the future check on inputs (reference: the record's Kafka timestamp or the wall
clock, the earlier)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import orjson

from streams.core.policyfile import load_policies
from streams.settings import Settings
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
    s.tables = {"incidents": Table(), "services": Table(), "clocks": Table(clocks)}
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
