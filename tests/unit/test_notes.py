"""An ``updated`` event as a note (``streams/state.py``): one small key of the notes table per
event, the incident's value left alone, and a rebuild from values and notes that holds what the
unbroken detector held (ids, size, the time retention runs from), notes deleted with their
incident, and incident values of the previous version (their ``updated`` events inside) still
rebuilt."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.detector import Detector
from streams.core.events import incident_event
from streams.core.incidents import MAX_INCIDENT_BYTES
from streams.core.policyfile import load_policies
from streams.state import Partition, Step, Write, note_key, rebuild, stored_event
from tests.support.compare import compact
from tests.support.fold import fold

POLICY = load_policies("policies:\n  - id: p\n    match: {}\n    incidents:\n"
                       "      '*': {response: 1h, resolution: 1d}\n")
DAY = 86_400_000
HOUR = 3_600_000
T = 1_800_000_000_000
TABLES = ("incidents", "notes", "services")


def event(n: int, kind: str, at: int, iid: str = "i", **extra: Any) -> dict[str, Any]:
    obj = {"event_id": f"e{n:05d}", "incident_id": iid, "type": kind, "at": at, **extra}
    if kind == "opened":
        obj.update(severity="P1", service="s", customer="c")
    return obj


class Runner:
    """One partition and the tables a worker keeps for it (None deletes a key)."""

    def __init__(self, det: Detector, tables: dict[str, dict[str, Any]] | None = None) -> None:
        self.tables = tables if tables is not None else {t: {} for t in TABLES}
        self.part = Partition(det, 0, lambda table, key: self.tables[table].get(key))
        self.errors: list[tuple[int, str]] = []
        self.records: list[dict[str, Any]] = []

    @property
    def det(self) -> Detector:
        return self.part.det

    def take(self, offset: int, obj: dict[str, Any], write: bool = True) -> Step:
        step = self.part.incident(offset, obj, incident_event(obj))
        if step.error is not None:
            self.errors.append((offset, step.error.reason))
        if write:
            self.write(step.writes)
        self.records += step.records
        return step

    def advance(self, now_ms: int) -> Step:
        step = self.part.advance(now_ms)
        self.write(step.writes)
        self.records += step.records
        return step

    def write(self, writes: list[Write]) -> None:
        for table, key, value in writes:
            if value is None:
                self.tables[table].pop(key, None)
            else:
                self.tables[table][key] = value

    def rebuilt(self, follow_events: bool = True) -> Runner:
        """A runner rebuilt from these tables (through JSON, as a changelog carries them)."""
        tables = orjson.loads(orjson.dumps(self.tables))
        det, records = rebuild(POLICY, self.det.now_ms, tables["incidents"].items(),
                               tables["services"].items(), self.det.retention_ms,
                               follow_events=follow_events, notes=tables["notes"].items())
        fresh = Runner(det, tables)
        fresh.records = self.records + records
        fresh.errors = list(self.errors)
        return fresh


def held_state(det: Detector) -> dict[str, tuple[list[str], int, int, int]]:
    """What the fold keeps of each incident that notes restore: ids, size, latest ``at``, and
    the events it folds."""
    return {iid: (sorted(inc.event_ids), inc.size, inc.seen_at_ms, len(inc.events))
            for iid, inc in det.incidents.items()}


def test_an_updated_event_writes_one_note_of_constant_size_and_leaves_its_incident_alone() -> None:
    runner = Runner(Detector(POLICY, follow_events=False))
    runner.take(0, event(0, "opened", T))
    incident = runner.tables["incidents"]["i"]
    sizes = set()
    for n in range(1, 3001):  # offsets of one length: the value's size is the same for each
        step = runner.take(1000 + n, event(n, "updated", T + n))
        assert step.error is None and step.records == []
        assert [(table, key) for table, key, _ in step.writes] == [("notes", f'["i","e{n:05d}"]')]
        _, key, value = step.writes[0]
        assert value == {"p": 0, "o": 1000 + n, "at": T + n}
        sizes.add(len(orjson.dumps(key)) + len(orjson.dumps(value)))
    assert len(sizes) == 1 and sizes.pop() < 64, "the 3,000th costs what the first did"
    assert runner.tables["incidents"]["i"] is incident, "never rewritten"
    assert len(incident["events"]) == 1
    assert len(runner.tables["notes"]) == 3000


def unbroken_and_rebuilt(objs: list[dict[str, Any]], split: int
                         ) -> tuple[Runner, Runner]:
    whole, part = Runner(Detector(POLICY)), Runner(Detector(POLICY))
    for offset, obj in enumerate(objs):
        if offset == split:
            part = part.rebuilt()
        whole.take(offset, obj)
        part.take(offset, obj)
    return whole, part


def test_a_rebuild_from_values_and_notes_holds_what_the_unbroken_detector_held() -> None:
    objs = [event(0, "opened", T), *(event(n, "updated", T + n * 60_000) for n in range(1, 40)),
            event(40, "acknowledged", T + 30 * 60_000), event(41, "updated", T - 60_000)]
    whole, _ = unbroken_and_rebuilt(objs, len(objs))
    again = whole.rebuilt()
    assert held_state(again.det) == held_state(whole.det)
    assert again.det.incidents["i"].seen_at_ms == T + 39 * 60_000, "the latest note's at"
    # a repeat of an updated event is still a duplicate, whatever its type, the first counts
    for offset, obj in enumerate([event(7, "updated", T + DAY), event(8, "resolved", T + DAY)],
                                 100):
        step = again.take(offset, obj)
        assert step.error is not None and step.error.reason == "duplicate", obj
        assert step.writes == []
    assert held_state(again.det) == held_state(whole.det)


def test_too_large_refuses_the_same_event_after_a_rebuild_as_unbroken_and_in_replay() -> None:
    iid = "i" * 256
    objs = [event(0, "opened", T, iid)]
    objs += [{"event_id": f"{n:0256d}", "incident_id": iid, "type": "updated", "at": T + n}
             for n in range(1, 3000)]

    def refused(runner: Runner) -> list[int]:
        return [offset for offset, reason in runner.errors if reason == "too_large"]

    whole, _ = unbroken_and_rebuilt(objs, len(objs))
    first = refused(whole)[0]
    assert 1000 < first < 3000
    assert whole.det.incidents[iid].size <= MAX_INCIDENT_BYTES
    for split in (1, first // 2, first, first + 1):
        _, part = unbroken_and_rebuilt(objs, split)
        assert refused(part) == refused(whole), f"rebuilt before input {split}"
        assert held_state(part.det) == held_state(whole.det)
    replayed = [r["reason"] for r in fold(POLICY, incidents=objs) if r.get("kind") == "invalid"]
    assert replayed == ["too_large"] * len(refused(whole))


def test_retention_runs_from_the_latest_note_after_a_rebuild_and_eviction_deletes_notes() -> None:
    runner = Runner(Detector(POLICY, retention_ms=2 * DAY, follow_events=False))
    runner.take(0, event(0, "opened", T))
    runner.take(1, event(1, "resolved", T + 60_000))
    runner.take(2, event(2, "updated", T + 5 * DAY))  # after the resolution: retention from it
    runner.take(3, event(3, "updated", T + DAY))
    runner.advance(T + 5 * DAY)
    again = runner.rebuilt(follow_events=False)
    step = again.advance(T + 7 * DAY - 1)
    assert "i" in again.det.incidents and step.writes == []
    step = again.advance(T + 7 * DAY)
    assert "i" not in again.det.incidents and "i" in again.det.forgotten
    assert sorted((table, key, value is None) for table, key, value in step.writes) == [
        ("incidents", "i", False), ("notes", note_key("i", "e00002"), True),
        ("notes", note_key("i", "e00003"), True)]
    assert again.tables["notes"] == {}
    assert again.tables["incidents"]["i"] == {"p": 0, "o": 3, "forgotten": T + 7 * DAY}
    # its notes come again after a crash (never committed): known as taken, not late
    later = again.rebuilt(follow_events=False)
    for offset in (2, 3):
        step = later.take(offset, event(offset, "updated", T + offset))
        assert step.error is None and step.writes == [], offset
    step = later.take(4, event(4, "updated", T + 5 * DAY))
    assert step.error is not None and step.error.reason == "late"
    # once its forgetting expires the id starts anew: a held incident of notes alone, under
    # the forgotten value, rebuilt as such
    later.advance(T + 9 * DAY)
    assert later.take(5, event(5, "updated", T + 9 * DAY)).error is None
    assert "forgotten" in later.tables["incidents"]["i"]
    assert held_state(later.rebuilt(follow_events=False).det) == held_state(later.det) == {
        "i": (["e00005"], 96 + 1 + 6, T + 9 * DAY, 0)}


def test_a_held_incident_of_notes_alone_is_rebuilt_and_dropped_with_them() -> None:
    runner = Runner(Detector(POLICY, retention_ms=DAY, follow_events=False))
    runner.advance(T)
    runner.take(0, event(0, "updated", T))
    runner.take(1, event(1, "updated", T + 1000))
    assert "i" not in runner.tables["incidents"], "notes only: no incident value"
    again = runner.rebuilt(follow_events=False)
    assert held_state(again.det) == held_state(runner.det)
    assert again.det.incidents["i"].held()
    dup = again.take(2, event(1, "acknowledged", T + 2000))
    assert dup.error is not None and dup.error.reason == "duplicate"
    notes = dict(again.tables["notes"])
    step = again.advance(T + 3 * DAY)
    assert "i" not in again.det.incidents and "i" not in again.det.forgotten
    assert again.tables["notes"] == {}
    assert again.tables["incidents"]["i"] == {"p": 0, "o": 1, "dropped": T + 3 * DAY}
    # delivered again after a crash: the dropped incident's, not a new held one
    later = again.rebuilt(follow_events=False)
    step = later.take(1, event(1, "updated", T + 1000))
    assert step.error is None and step.writes == [] and "i" not in later.det.incidents
    # a new incident of that id after the drop: its own notes only, before and after a
    # rebuild, even when a crash lost the deletion of the dropped one's
    later.take(5, event(5, "updated", T + 3 * DAY))
    later.take(6, event(6, "opened", T + 3 * DAY))
    later.take(7, event(7, "acknowledged", T + 3 * DAY + 1))
    assert later.tables["incidents"]["i"]["after"] == 1
    assert sorted(later.det.incidents["i"].event_ids) == ["e00005", "e00006", "e00007"]
    assert held_state(later.rebuilt(follow_events=False).det) == held_state(later.det)
    later.tables["notes"].update(notes)
    assert held_state(later.rebuilt(follow_events=False).det) == held_state(later.det)


@pytest.mark.parametrize("last", ["updated", "acknowledged"])
def test_a_rebuilt_held_incident_is_dropped_a_retention_after_its_last_event_came(
        last: str) -> None:
    """Its retention runs on the detector clock from when it last took an event (a note or its
    value records that clock), not from the clock it was rebuilt at."""
    runner = Runner(Detector(POLICY, retention_ms=DAY, follow_events=False))
    runner.advance(T)
    runner.take(0, event(0, "acknowledged", T - DAY))
    runner.advance(T + HOUR)
    runner.take(1, event(1, last, T - DAY))
    runner.advance(T + 12 * HOUR)  # nothing touches it
    again = runner.rebuilt(follow_events=False)
    for run in (runner, again):
        run.advance(T + DAY + HOUR - 1)
        assert "i" in run.det.incidents
        run.advance(T + DAY + HOUR)
        assert "i" not in run.det.incidents and run.tables["incidents"]["i"]["dropped"]


def old_value(objs: list[dict[str, Any]], offset: int) -> dict[str, Any]:
    """An incident value as the version before notes wrote it: every event inside."""
    return {"p": 0, "o": offset, "events": [stored_event(obj) for obj in objs], "sent": []}


def test_an_incident_value_of_the_previous_version_still_rebuilds() -> None:
    objs = [event(0, "opened", T), event(1, "updated", T + 5 * DAY),
            event(2, "acknowledged", T + 60_000), event(3, "updated", T + 120_000)]
    whole, _ = unbroken_and_rebuilt(objs, len(objs))
    tables = {"incidents": {"i": old_value(objs, 3)}, "notes": {}, "services": {}}
    det, _ = rebuild(POLICY, whole.det.now_ms, tables["incidents"].items(), [])
    upgraded = Runner(det, tables)
    assert held_state(upgraded.det) == held_state(whole.det)
    # what the previous version applied, delivered again: skipped, not a duplicate
    for offset, obj in enumerate(objs):
        step = upgraded.take(offset, obj)
        assert step.error is None and step.writes == [], obj
    step = upgraded.take(4, event(3, "updated", T + DAY))  # a real repeat
    assert step.error is not None and step.error.reason == "duplicate"
    # its next updated is a note (the old ones stay in its value)
    upgraded.take(5, event(5, "updated", T + DAY))
    assert list(upgraded.tables["notes"]) == [note_key("i", "e00005")]
    again = upgraded.rebuilt()
    assert held_state(again.det) == held_state(upgraded.det)


def test_an_updated_whose_note_a_crash_lost_is_taken_again_when_delivered_again() -> None:
    """The note and the incident's later value are separate changelog records: a crash kept
    the value and lost the note; the event, never committed, comes again and is taken."""
    objs = [event(0, "opened", T), event(1, "updated", T + 5 * DAY),
            event(2, "acknowledged", T + 60_000)]
    whole, _ = unbroken_and_rebuilt(objs, len(objs))
    crashed = Runner(Detector(POLICY))
    crashed.take(0, objs[0])
    crashed.take(1, objs[1], write=False)  # lost
    crashed.take(2, objs[2])
    again = crashed.rebuilt()
    assert "e00001" not in again.det.incidents["i"].event_ids
    for offset, obj in enumerate(objs):
        again.take(offset, obj)
    assert again.errors == []
    assert held_state(again.det) == held_state(whole.det)
    assert again.tables["notes"] == whole.tables["notes"]


def test_notes_a_crash_left_behind_their_forgotten_incident_are_deleted_not_restored() -> None:
    runner = Runner(Detector(POLICY, retention_ms=DAY, follow_events=False))
    runner.take(0, event(0, "opened", T))
    runner.take(1, event(1, "resolved", T + 60_000))
    runner.take(2, event(2, "updated", T + 120_000))
    notes = dict(runner.tables["notes"])
    runner.advance(T + 2 * DAY)
    assert "forgotten" in runner.tables["incidents"]["i"]
    runner.tables["notes"].update(notes)  # the tombstone was lost in a crash
    again = runner.rebuilt(follow_events=False)
    assert "i" not in again.det.incidents
    step = again.advance(T + 2 * DAY + 1)
    assert step.writes == [("notes", note_key("i", "e00002"), None)]


def test_a_note_key_cannot_be_made_by_other_ids() -> None:
    assert note_key('a","b', "c") != note_key("a", '","b","c') != note_key("a", "b")
    assert orjson.loads(note_key('a"]', "[b")) == ['a"]', "[b"]



# ----------------------------------------------------------------------------- the property

KINDS = ["updated"] * 5 + ["opened", "acknowledged", "resolved", "reopened", "closed"]


@st.composite
def noted_inputs(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[int | None], int]:
    """Events of two incidents, mostly ``updated``, in any order: repeated ids (duplicates of
    notes and of other events), events before the ``opened`` (held), ``at``s out of order
    (refolds), spread over days of a 1-day retention (forgotten and dropped incidents); the
    clock moved after some; a split point."""
    objs = []
    for _ in range(draw(st.integers(1, 30))):
        iid = draw(st.sampled_from("ab"))
        kind = draw(st.sampled_from(KINDS))
        obj: dict[str, Any] = {"event_id": f"{iid}{draw(st.integers(0, 15))}", "incident_id": iid,
                               "type": kind, "at": T + draw(st.integers(0, 96)) * HOUR}
        if kind == "opened":
            obj.update(severity="P1", service="s", customer="c")
        objs.append(obj)
    ticks = [draw(st.one_of(st.none(), st.sampled_from([0, HOUR, DAY, 2 * DAY])))
             for _ in objs]
    ticked = [None if t is None else obj["at"] + t for obj, t in zip(objs, ticks, strict=True)]
    return objs, ticked, draw(st.integers(0, len(objs)))


def noted_run(objs: list[dict[str, Any]], ticks: list[int | None], split: int | None,
              rebuilt: bool, follow_events: bool = False) -> Runner:
    """The inputs through one partition, the clock advanced after each input that has a tick;
    at ``split`` the clock is advanced where it stands (a rebuild fires at once what is due at
    its clock, where a running partition waits for its next advance) and, when ``rebuilt``,
    the partition is rebuilt from its tables."""
    runner = Runner(Detector(POLICY, retention_ms=DAY, follow_events=follow_events))
    if not follow_events:
        # live, a partition's clock is set by its first tick: a held incident touched before
        # it takes the clock of the first advance as its touch, which no value records
        runner.advance(T - HOUR)
    for offset in range(len(objs) + 1):
        if offset == split:
            runner.advance(runner.det.now_ms)
            if rebuilt:
                runner = runner.rebuilt(follow_events)
        if offset < len(objs):
            runner.take(offset, objs[offset])
            if ticks[offset] is not None:
                runner.advance(ticks[offset])  # type: ignore[arg-type]
    runner.advance(max([T + 6 * DAY, *(t for t in ticks if t is not None)]))
    return runner


def ends(runner: Runner) -> tuple[Any, ...]:
    """Everything a run leaves: what stands, what it refused, the state notes restore, what it
    forgot, and the notes table (bounded: only the notes of incidents it still holds)."""
    return ({r["alert_id"]: {k: v for k, v in r.items() if k != "detected_at"}
             for r in compact(runner.records)}, runner.errors, held_state(runner.det),
            runner.det.forgotten, runner.tables["notes"])


@given(noted_inputs())
def test_a_partition_rebuilt_from_values_and_notes_at_any_point_ends_where_an_unbroken_one_does(
        case: tuple[list[dict[str, Any]], list[int | None], int]) -> None:
    """Live, as the worker rebuilds (the clock moved by ticks alone: with replay's, a rebuild
    fires at once what falls due at the clock, where the unbroken run waits for the events of
    that instant)."""
    objs, ticks, split = case
    whole = noted_run(objs, ticks, split, rebuilt=False)
    assert ends(noted_run(objs, ticks, split, rebuilt=True)) == ends(whole)
    held = {note_key(iid, eid) for iid, inc in whole.det.incidents.items()
            for eid in inc.note_ids()}
    assert set(whole.tables["notes"]) == held, "the notes of what it let go are deleted"


@given(noted_inputs())
def test_a_partition_with_notes_publishes_and_refuses_what_replay_does(
        case: tuple[list[dict[str, Any]], list[int | None], int]) -> None:
    objs = case[0]
    live = noted_run(objs, [None] * len(objs), None, False, follow_events=True)
    replayed = fold(POLICY, incidents=objs, until=T + 6 * DAY, retention_ms=DAY)
    assert compact(live.records) == compact(replayed)
    assert [reason for _, reason in live.errors] == [
        r["reason"] for r in replayed if r["kind"] in ("invalid", "late")]
