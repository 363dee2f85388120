"""Request objectives through a changelog: a detector rebuilt from the requests table's values
carries on exactly as the one that wrote them (``streams/state.py``, ``requests/snapshot.py``),
as a worker does after a restart or a rebalance, and loses no counter.

Each case runs request counts through one partition up to a split point, keeping the table
values the worker keeps (round-tripped through JSON, as a changelog carries them), rebuilds a
fresh detector from them, and runs the rest through it; the standing records (latest per
``alert_id``) must equal those of one unbroken run.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.detector import Detector
from streams.core.errors import InvalidEvent
from streams.core.policy import PolicySet
from streams.core.policyfile import load_policies, load_policy_file
from streams.core.requests.book import MAX_EVENT_IDS
from streams.core.requests.records import request_count
from streams.core.timefmt import MINUTE_MS, parse_instant
from streams.state import Partition, Step, rebuild, request_key
from tests.support.compare import compact

CASES = sorted(p for p in (Path(__file__).parents[1] / "golden" / "requests").iterdir()
               if p.is_dir())
TABLES = ("incidents", "notes", "services", "requests")


class Runner:
    """One partition: its detector, the table values a worker would write, what it sent."""

    def __init__(self, det: Detector, tables: dict[str, dict[str, Any]] | None = None) -> None:
        self.tables = tables if tables is not None else {t: {} for t in TABLES}
        self.part = Partition(det, 0, lambda table, key: self.tables[table].get(key))
        self.records: list[dict[str, Any]] = []
        self.letters: list[str] = []

    def take(self, offset: int, obj: dict[str, Any], lose_output: bool = False) -> None:
        try:
            rec = request_count(obj)
        except InvalidEvent:
            return
        step = self.part.request(offset, rec)
        if step.error is not None:
            self.letters.append(step.error.reason)
        if lose_output:  # a crash: the table writes reached the changelog, the records did not
            step = Step([], step.writes, step.error)
        self.write(step)

    def advance(self, now: int, lose_output: bool = False) -> None:
        step = self.part.advance(now)
        self.write(Step([], step.writes, None) if lose_output else step)

    def write(self, step: Step) -> None:
        self.records += step.records
        for table, key, value in step.writes:
            if value is None:
                self.tables[table].pop(key, None)
            else:
                self.tables[table][key] = value

    def restarted(self, policies: PolicySet, clock: int | None) -> Runner:
        tables = orjson.loads(orjson.dumps(self.tables))
        det, records = rebuild(policies, clock, tables["incidents"].items(),
                               tables["services"].items(), follow_events=False,
                               requests=tables["requests"].items(),
                               notes=tables["notes"].items())
        fresh = Runner(det, tables)
        fresh.records = self.records + records
        fresh.letters = self.letters
        return fresh

    def standing(self) -> dict[str, dict[str, Any]]:
        return {r["alert_id"]: r for r in compact(self.records)}


def case_inputs(folder: Path) -> tuple[PolicySet, list[dict[str, Any]], int]:
    lines = (folder / "requests.jsonl").read_bytes().splitlines()
    objs = [orjson.loads(line) for line in lines if line.strip()]
    until = parse_instant((folder / "until.txt").read_text().strip())
    return load_policy_file(str(folder / "policy.yaml")), objs, until


def run(policies: PolicySet, objs: list[dict[str, Any]], until: int, split: int | None,
        older_clock: bool = False, lose: int | None = None) -> Runner:
    """A live partition: the clock follows each record's ``at`` (a tick after it), then goes
    to ``until``; rebuilt before input ``split`` (at the clock, or at none with
    ``older_clock``: a saved clock lags); with ``lose``, the records of the clock move after
    that input are lost in a crash whose rebuild follows."""
    runner = Runner(Detector(policies, follow_events=False))
    for i, obj in enumerate(objs):
        if i == split:
            clock = None if older_clock else runner.part.det.now_ms
            runner = runner.restarted(policies, clock)
        at = parse_instant(obj["at"]) if isinstance(obj.get("at"), str) else None
        if at is not None and at - 1 > runner.part.det.now_ms:
            runner.advance(at - 1, lose_output=i == lose)
            if i == lose:
                runner = runner.restarted(policies, runner.part.det.now_ms)
        runner.take(i, obj)
    if split == len(objs):
        runner = runner.restarted(policies, runner.part.det.now_ms)
    runner.advance(until)
    return runner


@pytest.mark.parametrize("folder", CASES, ids=lambda p: p.name)
def test_request_objectives_rebuilt_at_any_point_end_where_an_unbroken_run_does(
        folder: Path) -> None:
    policies, objs, until = case_inputs(folder)
    whole = run(policies, objs, until, None)
    assert whole.standing(), "the case stands on some records"
    for split in range(len(objs) + 1):
        again = run(policies, objs, until, split)
        assert again.standing() == whole.standing(), f"rebuilt before input {split}"
        assert again.letters == whole.letters, f"rebuilt before input {split}"


@pytest.mark.parametrize("folder", CASES, ids=lambda p: p.name)
def test_a_rebuild_at_an_older_clock_refuses_what_the_last_owner_would_have(
        folder: Path) -> None:
    """A saved clock lags the folds' own: a record the last owner would call ``late`` is
    late for the new one too, and what stands is the same."""
    policies, objs, until = case_inputs(folder)
    whole = run(policies, objs, until, None)
    for split in range(1, len(objs) + 1):
        again = run(policies, objs, until, split, older_clock=True)
        assert again.standing() == whole.standing(), f"rebuilt before input {split}"
        assert again.letters == whole.letters, f"rebuilt before input {split}"


@pytest.mark.parametrize("folder", CASES, ids=lambda p: p.name)
def test_what_the_clock_fired_comes_back_when_its_send_was_lost(folder: Path) -> None:
    """The clock fires (a slice, a minute, a period end), its fold values reach the changelog,
    the worker dies before the records reach their topic: the new owner sends them."""
    policies, objs, until = case_inputs(folder)
    whole = run(policies, objs, until, None).standing()
    for lose in range(len(objs)):
        assert run(policies, objs, until, None, lose=lose).standing() == whole, lose


SERVICE_WIDE = """
policies:
  - id: api
    match: {service: api}
    requests:
      period: day
      objectives:
        - {id: ok, sli: errors, target: 99.0, burn_rate: [{long: 1h, short: 5m, factor: 2}]}
"""


def test_a_duplicate_event_id_stays_a_duplicate_after_a_rebuild() -> None:
    policies = load_policies(SERVICE_WIDE)
    t0 = parse_instant("2027-03-01T10:00:00Z")
    runner = Runner(Detector(policies, follow_events=False))
    runner.advance(t0)
    runner.take(0, {"service": "api", "at": "2027-03-01T10:00:00Z", "total": 5,
                    "event_id": "batch-1"})
    runner = runner.restarted(policies, t0)
    runner.take(1, {"service": "api", "at": "2027-03-01T10:00:00Z", "total": 5,
                    "event_id": "batch-1"})
    assert runner.letters == ["duplicate"]


def test_a_record_delivered_again_after_a_crash_is_skipped_and_its_records_sent_again(
        ) -> None:
    policies = load_policies(SERVICE_WIDE)
    t0 = parse_instant("2027-03-01T10:00:00Z")
    runner = Runner(Detector(policies, follow_events=False))
    for m in range(10):
        runner.advance(t0 + m * MINUTE_MS)
        runner.take(m, {"service": "api", "at": t0 + m * MINUTE_MS, "total": 10, "errors": 5})
    fired = {r["alert_id"] for r in runner.records}
    assert fired, "half the requests fail: a burn rate fires"
    rebuilt = runner.restarted(policies, runner.part.det.now_ms)
    rebuilt.records = []
    rebuilt.take(9, {"service": "api", "at": t0 + 9 * MINUTE_MS, "total": 10, "errors": 5})
    assert rebuilt.letters == [], "delivered again: skipped, not refused"
    assert fired <= {r["alert_id"] for r in rebuilt.records}
    counts = rebuilt.part.det.requests.services["api"].folds[0].counts
    assert counts.through(t0 + 9 * MINUTE_MS) == (50, 100), "counted once"


def test_event_ids_are_remembered_within_lateness_and_at_most_a_bounded_number() -> None:
    policies = load_policies(SERVICE_WIDE)
    t0 = parse_instant("2027-03-01T10:00:00Z")
    det = Detector(policies, follow_events=False)
    det.advance(t0)
    book = det.requests
    for i in range(MAX_EVENT_IDS + 5):
        det.on_event(request_count({"service": "api", "at": t0, "event_id": f"e{i}"}))
    assert len(book.services["api"].event_ids) == MAX_EVENT_IDS
    det.advance(t0 + 2 * 3_600_000)  # past the default lateness of 1 h
    det.on_event(request_count({"service": "api", "at": t0 + 2 * 3_600_000, "event_id": "x"}))
    assert book.services["api"].event_ids == {next(iter(book.service_data("api")["ids"]))[0]}
    with pytest.raises(InvalidEvent) as exc:  # a copy of a forgotten one: late, not counted
        det.on_event(request_count({"service": "api", "at": t0, "event_id": "e0"}))
    assert exc.value.reason == "late"


def test_a_fold_value_is_small_and_names_its_service_and_objective() -> None:
    policies = load_policies(SERVICE_WIDE)
    t0 = parse_instant("2027-03-01T10:00:00Z")
    runner = Runner(Detector(policies, follow_events=False))
    for m in range(24 * 60):
        runner.advance(t0 + m * MINUTE_MS)
        runner.take(m, {"service": "api", "at": t0 + m * MINUTE_MS, "total": 1000,
                        "errors": m % 3})
    keys = sorted(runner.tables["requests"])
    assert keys == sorted([request_key("api"), request_key("api", ("api", "", "ok"))])
    size = len(orjson.dumps(runner.tables["requests"][request_key("api", ("api", "", "ok"))]))
    assert size < 4_000, f"a 1h burn window plus 1h lateness: {size} bytes"


@settings(max_examples=30, deadline=None)
@given(st.randoms(use_true_random=False))
def test_shuffled_arrival_within_lateness_rebuilt_anywhere_stands_the_same(
        rnd: random.Random) -> None:
    """Records arrive out of order within lateness, the worker restarts anywhere: the same
    records stand as in an unbroken run of the same arrival order."""
    folder = rnd.choice(CASES)
    policies, objs, until = case_inputs(folder)
    whole = run(policies, objs, until, None)
    split = rnd.randint(0, len(objs))
    again = run(policies, objs, until, split, older_clock=rnd.random() < 0.5)
    assert again.standing() == whole.standing()


@pytest.mark.parametrize("kept", ["service", "folds"])
def test_a_crash_between_the_values_of_one_step_counts_the_record_once(kept: str) -> None:
    """A step writes the service's value and its folds' values as separate changelog records:
    a crash can land some of them. Delivered again, the record reaches exactly the folds that
    missed it (measured on the embedded broker: a SIGKILLed worker's burn rates lost counts)."""
    policies = load_policies(SERVICE_WIDE)
    t0 = parse_instant("2027-03-01T10:00:00Z")

    def count(m: int) -> dict[str, Any]:
        return {"service": "api", "at": t0 + m * MINUTE_MS, "total": 10, "errors": m % 2,
                "event_id": f"c{m}"}

    runner = Runner(Detector(policies, follow_events=False))
    for m in range(5):
        runner.advance(t0 + m * MINUTE_MS - 1)
        runner.take(m, count(m))
    runner.advance(t0 + 5 * MINUTE_MS - 1)
    step = runner.part.request(5, request_count(count(5)))
    service_key = request_key("api")
    runner.write(Step([], [w for w in step.writes if (w[1] == service_key) == (kept == "service")],
                      None))
    rebuilt = runner.restarted(policies, runner.part.det.now_ms)
    rebuilt.take(5, count(5))  # delivered again
    assert rebuilt.letters == []
    fold = rebuilt.part.det.requests.services["api"].folds[0]
    assert fold.counts.through(t0 + 5 * MINUTE_MS) == (3, 60), "each count once"
    assert fold.periods[fold.order[0]].total == 60


BURSTS = """
policies:
  - id: api
    match: {}
    requests:
      period: day
      lateness: 10m
      objectives:
        - {id: ok, sli: errors, target: 99.0, burn_rate: [{long: 1h, short: 5m, factor: 2}]}
"""


def bursty_counts(minutes: int, start: int, seed: int) -> list[dict[str, Any]]:
    """Per-minute counts of two services, with bursts of errors now and then."""
    rnd = random.Random(seed)
    out = []
    for m in range(1, minutes + 1):
        for s in ("a", "b"):
            total = rnd.randint(50, 150)
            errors = rnd.randint(10, 40) if rnd.random() < 0.05 else rnd.randint(0, 1)
            out.append({"service": s, "at": start + m * MINUTE_MS, "total": total,
                        "errors": errors, "event_id": f"{s}-{m}"})
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_records_published_and_forgotten_within_a_lost_batch_come_back(seed: int) -> None:
    """A shell writes a batch's values before it sends the batch's records: a crash between
    loses the records while the values say they went out. One batch of a backlog spans hours
    of event time, so burn-rate episodes start, end and are forgotten (past lateness) inside
    it; the new owner rebuilt from those values, reading the batch again (all of it is in the
    values already), must still publish them: they are kept in the values until the next
    batch (``RequestBook.begin_batch``)."""
    policies = load_policies(BURSTS)
    start = parse_instant("2027-03-01T00:00:00Z")
    objs = bursty_counts(300, start, seed)
    until = start + 301 * MINUTE_MS

    def live(lost: tuple[int, int] | None) -> Runner:
        runner = Runner(Detector(policies, follow_events=False))
        for first in range(0, len(objs), 200):
            runner.part.begin_batch()
            kept = len(runner.records)
            for i in range(first, min(first + 200, len(objs))):
                at = objs[i]["at"]
                if at - 1 > runner.part.det.now_ms:
                    runner.advance(at - 1)
                runner.take(i, objs[i])
            if lost is not None and first == lost[0]:
                del runner.records[kept:]  # the batch's values landed, its records did not
                runner = runner.restarted(policies, runner.part.det.now_ms)
                runner.part.begin_batch()
                for i in range(lost[1], min(first + 200, len(objs))):  # from the last commit
                    runner.take(i, objs[i])
        runner.advance(until)
        return runner

    whole = live(None).standing()
    episodes = [r for r in whole.values() if r.get("metric") == "burn_rate"]
    assert len(episodes) >= 3, "the bursts start burn-rate episodes"
    for first in range(0, len(objs), 200):
        for commit in (first, max(0, first - 100)):
            assert live((first, commit)).standing() == whole, (first, commit)
