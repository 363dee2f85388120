"""What an open incident costs in memory (issue 15: bounded state), measured with
``tracemalloc`` over a few thousand incidents, each ``opened`` and ``acknowledged`` (its
resolution clock runs): the replay's detector, and the worker's (its detector and the table
store, which keeps each value as the bytes of its changelog). ``bench/memory_bench.py`` measures
the same over a million, by resident memory; the bounds here are that figure with a margin,
so a change that adds an object per incident or keeps a buffer per value fails."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

import orjson

from streams.codec import decode_incident
from streams.core.clocks import NONE_FIRED
from streams.core.detector import Detector
from streams.core.errors import InvalidEvent
from streams.core.events import incident_event
from streams.core.incidents import Incident
from streams.core.policyfile import load_policies
from streams.worker.shell import stored
from tests.support.workloads import START, open_incidents
from tests.unit.test_worker_shell import shell

POLICY = load_policies("policies:\n  - id: p\n    match: {}\n    incidents:\n"
                       "      '*': {response: 1h, resolution: 3d}\n")
N = 10_000


def traced_per_incident(run: Callable[[], Any]) -> tuple[float, Any]:
    """The memory ``run`` keeps (traced, after a full collection) per incident of ``N``."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = run()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return grown / N, kept


def test_an_open_incident_in_replay_keeps_under_2_kb() -> None:
    def run() -> Detector:
        det = Detector(POLICY)
        for _, raw in open_incidents(N):
            det.on_event(decode_incident(raw)[1])
        return det

    per_incident, det = traced_per_incident(run)
    assert len(det.incidents) == N and not any(i.finished() for i in det.incidents.values())
    assert per_incident < 2_000, f"{per_incident:,.0f} bytes per open incident"


def test_an_open_incident_in_the_worker_keeps_under_2_5_kb() -> None:
    """The shell's detector and its store, batches of 1,000 each encoded as ``publish``
    sends it: a value kept as orjson returned it holds a 4 KiB buffer (6 KB per incident)."""
    def run() -> Any:
        s = shell(None, clock="MANUAL")
        changed: dict[tuple[str, str], Any] = {}
        s.begin_batch(0)
        for offset, (key, raw) in enumerate(open_incidents(N)):
            if offset % 1000 == 999:
                s.end_batch()
                s.encode(changed)
                changed.clear()
                s.begin_batch(0)
            for table, name, value in s.handle("sla.incidents", 0, offset, key, raw, None)[1]:
                s.tables[table].data[name] = value
                changed[table, name] = value
        s.end_batch()
        s.encode(changed)
        return s

    per_incident, s = traced_per_incident(run)
    store = s.tables["incidents"].data
    assert len(store) == N and all(type(v) is bytes for v in store.values())
    assert len(s.parts[0].det.incidents) == N
    assert per_incident < 2_500, f"{per_incident:,.0f} bytes per open incident"


def test_a_clock_that_fired_nothing_shares_one_empty_mapping_and_firing_gives_it_its_own() -> None:
    det = Detector(POLICY)
    for _, raw in open_incidents(2):
        det.on_event(decode_incident(raw)[1])
    clocks = [c for inc in det.incidents.values() for c in inc.clocks or ()]
    assert all(c.fired is NONE_FIRED for c in clocks)
    det.advance(START + 4 * 86_400_000)  # both resolution clocks breach
    fired = [c for inc in det.incidents.values() for c in inc.clocks or () if c.fired]
    assert len(fired) == 2 and fired[0].fired is not fired[1].fired
    assert len(NONE_FIRED) == 0


def test_an_incident_knows_every_event_id_past_the_few_it_keeps_in_a_tuple() -> None:
    """Its ids move from a tuple to a set at the ninth: a repeat of any of them, before or
    after, is a duplicate, an ``updated`` (a note) included."""
    det = Detector(POLICY)

    def event(n: int, kind: str) -> Any:
        return incident_event({"event_id": f"e{n}", "incident_id": "i", "type": kind,
                               "at": START + n, "severity": "P1", "service": "s",
                               "customer": "c"})

    kinds = ["opened", *(["paused", "resumed", "updated"] * 5)]
    for n, kind in enumerate(kinds):
        det.on_event(event(n, kind))
    inc = det.incidents["i"]
    assert type(inc.event_ids) is set and len(inc.event_ids) == len(kinds)
    for n, kind in enumerate(kinds):
        try:
            det.on_event(event(n, kind))
        except InvalidEvent as exc:
            assert exc.reason == "duplicate"
        else:
            raise AssertionError(f"e{n} taken twice")
    assert inc.note_ids() == sorted(f"e{n}" for n, k in enumerate(kinds) if k == "updated")


def test_a_rebuild_reads_its_partition_s_values_from_the_store_s_bytes() -> None:
    """The store keeps every partition this worker had, as changelog bytes (and, within a
    batch, the values it wrote): a partition's rebuild takes its own and no other's."""
    s = shell(None)
    opened = {"incident_id": "a", "event_id": "a-o", "type": "opened",
              "at": "2025-01-06T00:00:00Z", "severity": "P1", "service": "s", "customer": "c"}
    mine = {"p": 1, "o": 4, "events": [opened], "sent": []}
    other = {"p": 0, "o": 9, "events": [{**opened, "incident_id": "b", "event_id": "b-o"}],
             "sent": []}
    pending = {"p": 1, "o": 5, "events": [{**opened, "incident_id": "c", "event_id": "c-o"}],
               "sent": []}
    data = s.tables["incidents"].data
    data.update({"a": orjson.dumps(mine), "b": orjson.dumps(other), "c": pending})
    part, _ = s.partition(1)
    assert sorted(part.det.incidents) == ["a", "c"]
    assert stored(data["a"]) == mine and stored(data["c"]) is pending


def test_a_batch_decodes_a_stored_value_once_however_many_of_its_events_read_it(
        monkeypatch: Any) -> None:
    """Most steps read only a value's input offset, off its encoding; an ``updated`` event
    delivered again (its offset at or below the value's) reads the incident's whole value
    (``Partition._noted``): from the store's bytes once per batch, not once per event (a value
    can weigh ~1 MB)."""
    s = shell(None, clock="MANUAL")
    opened = {"incident_id": "a", "event_id": "a-o", "type": "opened",
              "at": "2025-01-06T00:00:00Z", "severity": "P1", "service": "s", "customer": "c"}
    raw = orjson.dumps({"p": 0, "o": 100, "events": [opened], "sent": []})
    s.tables["incidents"].data["a"] = raw
    s.partition(0)
    decoded: list[bytes] = []
    loads = orjson.loads

    def counting(value: Any) -> Any:
        if value == raw:
            decoded.append(value)
        return loads(value)

    monkeypatch.setattr(orjson, "loads", counting)
    s.begin_batch(0)
    for n in range(1, 51):
        update = {"incident_id": "a", "event_id": f"a-{n}", "type": "updated",
                  "at": f"2025-01-06T00:00:{n:02d}Z"}
        s.handle("sla.incidents", 0, n, b"a", orjson.dumps(update), None)
    s.end_batch()
    assert len(decoded) == 1
    s.begin_batch(0)
    s.handle("sla.incidents", 0, 101, b"a", orjson.dumps(
        {"incident_id": "a", "event_id": "a-101", "type": "updated", "at": "2025-01-06T00:01Z"}),
        None)
    s.end_batch()
    assert len(decoded) == 1, "a new event reads the value's offset, never the value"


def test_an_id_taken_twice_is_held_once_as_a_set_would() -> None:
    """A rebuild can name an ``updated`` event twice (in a value written before notes, and
    as a note): the tuple of a few ids holds it once, as the set does."""
    inc = Incident("i")
    for _ in range(2):
        inc.note("e1", START, 10)
    inc.note("e2", START, 10)
    assert sorted(inc.event_ids) == ["e1", "e2"] and inc.note_ids() == ["e1", "e2"]
