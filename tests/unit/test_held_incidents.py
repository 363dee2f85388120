"""A held incident (events, no ``opened``) let go after retention is written as dropped, so a
rebuild does not bring it back, and a later ``opened`` is a new incident, never ``late``."""

from __future__ import annotations

import orjson

from streams.core.detector import Detector
from streams.core.events import incident_event
from streams.core.policyfile import load_policies
from streams.state import Partition, rebuild

POLICY = load_policies("policies:\n  - id: p\n    match: {}\n    incidents:\n"
                       "      '*': {response: 1h, resolution: 1d}\n")
DAY = 86_400_000
T = 1_800_000_000_000


def test_a_dropped_held_incident_stays_dropped_after_a_rebuild() -> None:
    tables: dict[str, dict[str, dict[str, object]]] = {"incidents": {}, "notes": {},
                                                        "services": {}}
    det = Detector(POLICY, retention_ms=DAY)
    part = Partition(det, 0, lambda table, key: tables[table].get(key))  # type: ignore[arg-type,return-value]

    def take(step: object) -> None:
        for table, key, value in step.writes:  # type: ignore[attr-defined]
            if value is None:
                tables[table].pop(key, None)
            else:
                tables[table][key] = value

    stray = {"event_id": "u1", "incident_id": "i", "type": "updated", "at": 0}
    take(part.incident(0, stray, incident_event(stray)))
    take(part.advance(T))
    take(part.advance(T + 2 * DAY))
    assert "dropped" in tables["incidents"]["i"], tables["incidents"]["i"]

    stored = orjson.loads(orjson.dumps(tables))
    assert stored["notes"] == {}, "the stray's note is deleted with it"
    again, _ = rebuild(POLICY, T + 2 * DAY, stored["incidents"].items(),
                       stored["services"].items(), DAY, notes=stored["notes"].items())
    assert "i" not in again.incidents and "i" not in again.forgotten

    opened = {"event_id": "o1", "incident_id": "i", "type": "opened", "at": T + 2 * DAY,
              "severity": "P1", "service": "s", "customer": "c"}
    rebuilt = Partition(again, 0, lambda table, key: stored[table].get(key))
    step = rebuilt.incident(1, opened, incident_event(opened))
    assert step.error is None
    assert len(step.writes[-1][2]["events"]) == 1  # a new incident, not the stray's


def test_an_incident_state_stays_under_a_kafka_record_whatever_its_events() -> None:
    """Events of the longest ids the codec takes, 256 characters, piled on one incident: the
    one that would take its state value past the bound is refused (``too_large``), the value
    written before it stays under 1 MB, and replay refuses the same event (the rule is the
    core's)."""
    tables: dict[str, dict[str, object]] = {"incidents": {}, "notes": {}, "services": {}}
    det = Detector(POLICY)
    part = Partition(det, 0, lambda table, key: tables[table].get(key))  # type: ignore[arg-type,return-value]
    iid = "i" * 256
    opened = {"event_id": "o" * 256, "incident_id": iid, "type": "opened", "at": T,
              "severity": "s" * 256, "service": "v" * 256, "customer": "c" * 256,
              "attributes": {"note": "x" * 60_000}}
    refused_at = None
    for n in range(5_000):
        obj = opened if n == 0 else {
            "event_id": f"{n:0256d}", "incident_id": iid, "at": T + n,
            "type": "severity_changed" if n % 2 else "updated", "severity": "s" * 256}
        step = part.incident(n, obj, incident_event(obj))
        if step.error is not None:
            assert step.error.reason == "too_large", step.error
            refused_at = n
            break
        for table, key, value in step.writes:
            tables[table][key] = value
    assert refused_at is not None and refused_at > 500
    assert len(orjson.dumps(tables["incidents"][iid])) < 1_000_000
