"""State through a changelog: a detector rebuilt from its table values carries on exactly as the
one that wrote them (``streams/state.py``), as a worker does after a restart or a rebalance.

Each case runs the input through one detector up to a split point, keeping the table values the
worker keeps (round-tripped through JSON), rebuilds a fresh detector from them, and runs the rest
through it. The standing records (latest per ``alert_id``) must equal those of one unbroken run.
"""

from __future__ import annotations

import copy
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.codec import dead_letter
from streams.core.detector import Detector
from streams.core.errors import InvalidEvent
from streams.core.events import heartbeat, incident_event
from streams.core.policy import PolicySet
from streams.core.policyfile import load_policies, load_policy_file
from streams.core.timefmt import parse_instant
from streams.state import Partition, Step, Write, rebuild, written_first
from tests.support.availability_cases import availability_cases, policy_yaml
from tests.support.availability_oracle import AvPolicy, Beat
from tests.support.compare import compact
from tests.support.scenarios import SCENARIOS, Input, scenario_inputs

TABLES = ("incidents", "notes", "services")


def store(tables: dict[str, dict[str, Any]], writes: list[Write]) -> None:
    """The writes of a step in the tables, as the worker's store takes them (None deletes)."""
    for table, key, value in writes:
        if value is None:
            tables[table].pop(key, None)
        else:
            tables[table][key] = value


class Runner:
    """One partition: its detector, and the table values a worker would write for it."""

    def __init__(self, det: Detector, tables: dict[str, dict[str, Any]] | None = None) -> None:
        self.tables = tables if tables is not None else {t: {} for t in TABLES}
        self.part = Partition(det, 0, lambda table, key: self.tables[table].get(key))
        self.records: list[dict[str, Any]] = []
        self.refused: list[tuple[int, str]] = []  # (input index, reason)

    def take(self, offset: int, kind: str, obj: dict[str, Any], lose_output: bool = False
             ) -> None:
        try:
            ev = incident_event(obj) if kind == "incident" else heartbeat(obj)
        except InvalidEvent:
            return
        if kind == "incident":
            step = self.part.incident(offset, obj, ev)  # type: ignore[arg-type]
        else:
            step = self.part.heartbeat(offset, ev)  # type: ignore[arg-type]
        if step.error is not None:
            self.refused.append((offset, step.error.reason))
        if lose_output:  # a crash: the table write reached the changelog, the records did not
            step = Step([], step.writes, step.error)
        self.write(step)

    def advance(self, now: int) -> None:
        self.write(self.part.advance(now))

    def write(self, step: Step) -> None:
        self.records += step.records
        store(self.tables, step.writes)

    def restarted(self, policies: PolicySet, older_clock: bool = False) -> Runner:
        """A fresh runner rebuilt from these values (through JSON, as a changelog carries them);
        with ``older_clock``, at the latest instant the values hold rather than at the clock
        (a worker's saved clock lags the one that fired: it is written every few seconds)."""
        tables = orjson.loads(orjson.dumps(self.tables))
        clock = None if older_clock else self.part.det.now_ms
        det, records = rebuild(policies, clock, tables["incidents"].items(),
                               tables["services"].items(), notes=tables["notes"].items())
        fresh = Runner(det, tables)
        fresh.records = self.records + records
        fresh.refused = self.refused
        return fresh


def run(policies: PolicySet, inputs: list[Input], until: int, split: int | None,
        ticks: list[int] = (), lose_at: int | None = None,  # type: ignore[assignment]
        older_clock: bool = False, refused: list[tuple[int, str]] | None = None
        ) -> dict[str, dict[str, Any]]:
    """Standing records of ``inputs``; rebuilt from the values at ``split`` when given; the
    clock advanced to each instant of ``ticks`` after the input of that index. Input
    ``lose_at`` is applied and written but its records are lost in a crash: a rebuilt runner
    gets it again (at-least-once delivery) and goes on. ``refused`` gets the (index, reason)
    of each input refused."""
    runner = Runner(Detector(policies))
    for i, (kind, obj) in enumerate(inputs):
        if i == split:
            runner = runner.restarted(policies, older_clock)
        runner.take(i, kind, obj, lose_output=i == lose_at)
        if i == lose_at:
            runner = runner.restarted(policies)
            runner.take(i, kind, obj)
        if i < len(ticks) and ticks[i] is not None:
            runner.advance(ticks[i])
    if split == len(inputs):
        runner = runner.restarted(policies)
    # to ``until``, or as far as a tick took the clock if further: a rebuilt runner's clock
    # goes where the unbroken one's went (a new owner's clock reaches it), never short of it
    runner.advance(max([until, *(t for t in ticks if t is not None)]))
    if refused is not None:
        refused += runner.refused
    return {r["alert_id"]: {k: v for k, v in r.items() if k != "detected_at"}
            for r in compact(runner.records)}


@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_a_detector_rebuilt_at_any_point_of_a_scenario_ends_where_an_unbroken_one_does(
        folder: Path) -> None:
    policies = load_policy_file(str(folder / "policy.yaml"))
    inputs, until = scenario_inputs(folder)
    whole = run(policies, inputs, until, None)
    assert whole, "the scenario stands on some records"
    for split in range(len(inputs) + 1):
        assert run(policies, inputs, until, split) == whole, f"rebuilt before input {split}"


@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_records_lost_in_a_crash_come_back_when_their_input_is_delivered_again(
        folder: Path) -> None:
    policies = load_policy_file(str(folder / "policy.yaml"))
    inputs, until = scenario_inputs(folder)
    whole = run(policies, inputs, until, None)
    for at in range(len(inputs)):
        assert run(policies, inputs, until, None, lose_at=at) == whole, f"lost at input {at}"


def with_updates(inputs: list[Input]) -> list[Input]:
    """The inputs with an ``updated`` event after each incident event (a note of the same
    incident at the same instant; before its ``opened`` too: a held incident's), and the first
    of them repeated at the end (a duplicate)."""
    out: list[Input] = []
    for n, (kind, obj) in enumerate(inputs):
        out.append((kind, obj))
        if kind == "incident" and "incident_id" in obj:
            out.append(("incident", {"event_id": f"note-{n}", "incident_id": obj["incident_id"],
                                     "type": "updated", "at": obj["at"]}))
    notes = [obj for kind, obj in out if obj.get("type") == "updated"]
    return out + [("incident", {**notes[0], "at": inputs[-1][1]["at"]})] if notes else out


@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_a_scenario_with_updates_rebuilt_at_any_point_ends_where_an_unbroken_one_does(
        folder: Path) -> None:
    """Updates change no record: the scenario stands as without them, whether the detector is
    rebuilt from its values and notes before any input or not, and the repeat of one is refused
    as a duplicate either way."""
    policies = load_policy_file(str(folder / "policy.yaml"))
    plain, until = scenario_inputs(folder)
    inputs = with_updates(plain)
    refused: list[tuple[int, str]] = []
    whole = run(policies, inputs, until, None, refused=refused)
    assert whole == run(policies, plain, until, None)
    if inputs != plain:  # the scenario has incidents
        assert (len(inputs) - 1, "duplicate") in refused
    for split in range(len(inputs) + 1):
        again: list[tuple[int, str]] = []
        assert run(policies, inputs, until, split, refused=again) == whole, (
            f"rebuilt before input {split}")
        assert again == refused, f"rebuilt before input {split}"
    for at in range(len(inputs)):  # its records lost in a crash, it is delivered again
        assert run(policies, inputs, until, None, lose_at=at) == whole, f"lost at input {at}"


def test_an_incident_forgotten_after_retention_stays_forgotten_after_a_rebuild() -> None:
    policies = load_policy_file(str(SCENARIOS[0] / "policy.yaml"))
    opened = {"event_id": "e1", "incident_id": "i", "type": "opened", "at": 0, "severity": "P1",
              "service": "s", "customer": "c"}
    resolved = {"event_id": "e2", "incident_id": "i", "type": "resolved", "at": 60_000}
    runner = Runner(Detector(policies, retention_ms=3_600_000))
    runner.take(0, "incident", opened)
    runner.take(1, "incident", resolved)
    runner.advance(2 * 3_600_000)
    assert "forgotten" in runner.tables["incidents"]["i"]
    rebuilt = runner.restarted(policies)
    late = {"event_id": "e3", "incident_id": "i", "type": "reopened", "at": 7_300_000}
    step = rebuilt.part.incident(2, late, incident_event(late))
    assert step.error is not None and step.error.reason == "late"


def beat_inputs(beats: list[Beat]) -> list[Input]:
    out: list[Input] = []
    for service, t, status, inst in beats:
        obj: dict[str, Any] = {"service": service, "at": t * 1000, "status": status}
        if inst is not None:
            obj["instance"] = inst
        out.append(("heartbeat", obj))
    return out


@given(availability_cases(), st.randoms(use_true_random=False))
def test_availability_rebuilt_mid_stream_ends_where_an_unbroken_run_does(
        case: tuple[AvPolicy, list[Beat], int], rnd: random.Random) -> None:
    pol, beats, until_s = case
    policies = load_policies(policy_yaml(pol))
    inputs = beat_inputs(beats)
    # the clock moves between heartbeats as wall-clock ticks would (projection past the last)
    ticks: list[int] = []
    for _, obj in inputs:
        ticks.append(obj["at"] + rnd.choice([0, 30_000, 90_000, 600_000]))
    split = rnd.randint(0, len(inputs))
    whole = run(policies, inputs, until_s * 1000, None, ticks)
    assert run(policies, inputs, until_s * 1000, split, ticks) == whole


@given(availability_cases(), st.randoms(use_true_random=False))
def test_availability_rebuilt_at_an_older_clock_retracts_what_the_clock_fired_in_vain(
        case: tuple[AvPolicy, list[Beat], int], rnd: random.Random) -> None:
    """Ticks project a service past its last heartbeat (silent: down, burn rates fire); the
    worker is rebuilt at a clock older than the one that fired (its saved clock lags); the next
    heartbeats show the service was up. What the projection fired must be retracted by the new
    owner, as by an unbroken run: a false page must not stand because its publisher died."""
    pol, beats, until_s = case
    policies = load_policies(policy_yaml(pol))
    inputs = beat_inputs(beats)
    ticks = [obj["at"] + rnd.choice([0, 90_000, 600_000, 7_200_000]) for _, obj in inputs]
    split = rnd.randint(0, len(inputs))
    whole = run(policies, inputs, until_s * 1000, None, ticks)
    assert run(policies, inputs, until_s * 1000, split, ticks, older_clock=True) == whole


def test_a_burn_rate_fired_by_the_clock_is_retracted_by_a_new_owner() -> None:
    """The case of the paused-worker test: a silent spell fires burn rates on ticks, the worker
    is replaced (rebuilt at the last heartbeat, not the clock), the heartbeats come after all."""
    policies = load_policies(
        "policies:\n  - id: p\n    match: {}\n    availability:\n      target: 99.0\n"
        "      period: day\n      heartbeat_timeout: 90s\n      burn_rate: default\n")
    start = parse_instant("2026-11-02T00:00:00Z")
    inputs: list[Input] = [("heartbeat", {"service": "s", "at": start + m * 60_000,
                                          "status": "up"}) for m in range(240)]
    ticks: list[int] = [None] * len(inputs)  # type: ignore[list-item]
    ticks[119] = start + 180 * 60_000  # the clock runs an hour past minute 119: silent
    until = start + 240 * 60_000  # within the heartbeat timeout of the last one
    whole = run(policies, inputs, until, None)
    assert not any(r["metric"] == "burn_rate" for r in whole.values())
    assert run(policies, inputs, until, 120, ticks, older_clock=True) == whole


def test_a_snapshot_is_a_value_the_fold_does_not_change_afterwards() -> None:
    """Found by Hypothesis: snapshots shared the fold's interval lists, so a later projection
    rewrote the value held in the table (the memory store keeps values as objects)."""
    pol = AvPolicy(target=Fraction(90), period="day", zone="UTC", timeout_s=30, near=(),
                   weekly=(), windows=(), credits=(), burn=((300, 60, Fraction(1, 10)),),
                   since_s=None)
    beats: list[Beat] = [("s0", t, "up", None) for t in (1_825_022_041, 1_825_022_071,
                                                         1_825_022_101, 1_825_022_491)]
    det = Detector(load_policies(policy_yaml(pol)))
    for _, obj in beat_inputs(beats):
        hb = heartbeat(obj)
        det.before(hb.at)
        det.on_heartbeat(hb)
    snap = det.services.snapshot("s0")
    kept = copy.deepcopy(snap)
    det.advance(1_825_023_091_000)  # the service falls silent: the projection counts downtime
    assert snap == kept


def test_a_burn_rate_fired_by_a_tick_whose_send_was_lost_comes_back_after_a_rebuild() -> None:
    """A tick fires a burn rate and writes the service's value; the worker dies between that
    changelog write and the alert's send. The new owner publishes the alert again."""
    policies = load_policies(
        "policies:\n  - id: p\n    match: {}\n    availability:\n      target: 99.0\n"
        "      period: day\n      heartbeat_timeout: 90s\n      burn_rate: default\n")
    start = parse_instant("2026-11-02T00:00:00Z")
    runner = Runner(Detector(policies))
    for m in range(120):
        runner.take(m, "heartbeat", {"service": "s", "at": start + m * 60_000, "status": "up"})
    step = runner.part.advance(start + 180 * 60_000)  # silent for an hour: burn rates fire
    fired = {r["alert_id"] for r in step.records if r.get("metric") == "burn_rate"}
    assert fired, "the silence fires burn rates"
    runner.write(Step([], step.writes, None))  # the write landed, the alerts did not
    rebuilt = runner.restarted(policies)
    assert fired <= {r["alert_id"] for r in rebuilt.records}


def test_a_services_records_wait_for_its_table_value_and_an_incidents_do_not() -> None:
    """The worker holds a service's alerts (and retractions) until the value naming them is in
    the changelog (``written_first``); an incident's come again from its events."""
    policies = load_policies(
        "policies:\n  - id: p\n    match: {}\n    availability:\n      target: 99.0\n"
        "      period: day\n      heartbeat_timeout: 90s\n      burn_rate: default\n"
        "    incidents:\n      P1: {response: 1m, resolution: 1h}\n")
    start = parse_instant("2026-11-02T00:00:00Z")
    runner = Runner(Detector(policies))
    runner.take(0, "incident", {"incident_id": "i", "event_id": "o", "type": "opened",
                                "at": "2026-11-02T00:00:00Z", "severity": "P1",
                                "customer": "c", "service": "s"})
    for m in range(120):
        runner.take(m + 1, "heartbeat", {"service": "s", "at": start + m * 60_000,
                                         "status": "up"})
    runner.advance(start + 180 * 60_000)  # the service falls silent, the incident breaches
    service = [r for r in runner.records if "incident_id" not in r]
    incident = [r for r in runner.records if "incident_id" in r]
    assert {r["kind"] for r in incident} >= {"breach"}
    assert {r["metric"] for r in service} >= {"burn_rate", "availability"}
    assert all(map(written_first, service))
    assert not any(map(written_first, incident))
    dead = dead_letter(InvalidEvent("bad", "invalid_json"), b"{",
                       {"source_topic": "t", "partition": 0, "offset": 0})
    assert not written_first(dead)


def _standing(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec["kind"] == "retraction":
            out.pop(rec["alert_id"], None)
        else:
            out[rec["alert_id"]] = rec
    return out


def test_a_retraction_whose_send_was_lost_is_sent_again_when_its_heartbeat_comes_back() -> None:
    """Delayed heartbeats roll a projection back and retract what it fired; the worker dies
    after the service's value reached the changelog, before the retractions did. The new owner
    reads those heartbeats again (never committed) and sends the retractions again: no alert
    stands that an unbroken run withdrew."""
    policies = load_policies(
        "policies:\n  - id: p\n    match: {}\n    availability:\n      target: 99.0\n"
        "      period: day\n      heartbeat_timeout: 90s\n      burn_rate: default\n")
    start = parse_instant("2026-11-02T00:00:00Z")

    def beat(m: int) -> dict[str, Any]:
        return {"service": "s", "at": start + m * 60_000, "status": "up"}

    unbroken, crashed = Runner(Detector(policies)), Runner(Detector(policies))
    for runner in (unbroken, crashed):
        for m in range(120):
            runner.take(m, "heartbeat", beat(m))
        runner.advance(start + 180 * 60_000)  # silent: the projection fires burn rates
    for m in range(120, 180):  # they were only delayed
        unbroken.take(m, "heartbeat", beat(m))
        crashed.take(m, "heartbeat", beat(m), lose_output=True)
    assert any(r["kind"] == "retraction" for r in unbroken.records)
    assert _standing(crashed.records) != _standing(unbroken.records), "the loss shows"
    rebuilt = crashed.restarted(policies)
    rebuilt.take(179, "heartbeat", beat(179))  # delivered again after the restart
    assert _standing(rebuilt.records) == _standing(unbroken.records)


def test_a_service_value_written_by_the_clock_in_the_step_of_a_heartbeat_keeps_its_offset(
        ) -> None:
    """The worker applies a step's writes after the step: a clock move in the same step as a
    heartbeat (the watermark moved) writes the service again, and must carry that heartbeat's
    offset, not the one of the value still in the store (recovery keeps the newest offset, so
    the value naming what the clock fired would be dropped, and a rebuild would apply the
    heartbeat twice)."""
    policies = load_policies(
        "policies:\n  - id: p\n    match: {}\n    availability:\n      target: 99.0\n"
        "      period: day\n      heartbeat_timeout: 90s\n      burn_rate: default\n")
    start = parse_instant("2026-11-02T00:00:00Z")
    runner = Runner(Detector(policies, follow_events=False))
    for m in range(120):
        runner.take(m, "heartbeat", {"service": "s", "at": start + m * 60_000, "status": "up"})
        runner.advance(start + m * 60_000)
    step = runner.part.heartbeat(120, heartbeat({"service": "s", "at": start + 120 * 60_000,
                                                  "status": "up"}))
    clocked = runner.part.advance(start + 240 * 60_000)  # the same step: nothing written yet
    assert clocked.records, "the clock fires for the silent service"
    offsets = [value["o"] for _, _, value in step.writes + clocked.writes]
    assert offsets == [120, 120]


def test_a_rebuild_takes_the_clock_of_a_projection_only_up_to_its_limit() -> None:
    """A projection's clock is a restored clock like the saved one: one past the limit (the
    wall clock plus max_future, live) is not trusted, so a changelog value cannot move the
    clock into the future; one within it is taken."""
    policies = load_policies(
        "policies:\n  - id: p\n    match: {}\n    availability:\n      target: 99.0\n"
        "      period: day\n      heartbeat_timeout: 90s\n")
    start = parse_instant("2026-11-02T00:00:00Z")
    runner = Runner(Detector(policies, follow_events=False))
    runner.take(0, "heartbeat", {"service": "s", "at": start, "status": "up"})
    runner.advance(start + 3 * 3600_000)  # silent: projected, the value written again
    value = runner.tables["services"]["s"]
    assert value["snap"]["folds"][0]["projected_to"] == start + 3 * 3600_000
    taken, _ = rebuild(policies, start, [], [("s", value)], follow_events=False,
                       clock_limit_ms=start + 4 * 3600_000)
    assert taken.now_ms == start + 3 * 3600_000
    refused, _ = rebuild(policies, start, [], [("s", value)], follow_events=False,
                         clock_limit_ms=start + 3600_000)
    assert refused.now_ms == start
