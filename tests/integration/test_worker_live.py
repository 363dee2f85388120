"""Acceptance 2-5 of the live worker, over the wire against the embedded broker:

2. a deadline that passes in silence raises its breach within 2 s (wall clock);
3. a backlog of old, resolved incidents pages nobody with an alert it later retracts;
4. bad input lands on the dead-letter topic with its reason and source, and what follows is
   processed;
5. two workers share the partitions; one is SIGKILLed mid-stream; the survivor takes over, a
   restarted worker loses nothing, and the outputs still equal replay; a repeated record is an
   identical re-publication;

and an incident's ``updated`` events as notes (one small value each, the incident's value left
alone) that a worker taking over from a SIGKILLed one restores: their repeats are duplicates.
"""

from __future__ import annotations

import io
import random
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.broker import EmbeddedBroker
from streams.core.policyfile import load_policy_file
from streams.core.timefmt import format_instant, parse_instant
from streams.replay import replay
from streams.state import note_key
from tests.integration.harness import (
    STANDARD,
    Deployment,
    Worker,
    read_topics,
    standing,
    wait_for,
)
from tests.support.schemas import problems

pytestmark = pytest.mark.integration

FIVE_SECONDS = """
policies:
  - id: fast
    version: 1
    effective_from: 2020-01-01T00:00:00Z
    match: {}
    near_breach: [0.5]
    incidents:
      P1: {response: 5s, resolution: 1h}
      "*": {response: 1h, resolution: 1d}
"""


def policy_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policies.yaml"
    path.write_text(text)
    return path


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def opened(incident_id: str, at: int, severity: str = "P1", customer: str = "acme",
           service: str = "api") -> dict[str, Any]:
    return {"event_id": f"{incident_id}-open", "incident_id": incident_id, "type": "opened",
            "at": format_instant(at), "severity": severity, "customer": customer,
            "service": service}


def event(incident_id: str, kind: str, at: int) -> dict[str, Any]:
    return {"event_id": f"{incident_id}-{kind}", "incident_id": incident_id, "type": kind,
            "at": format_instant(at)}


def history(n: int, start: int, seed: int) -> list[dict[str, Any]]:
    """``n`` incidents opened a minute or so apart, acknowledged and resolved, some late: every
    event in ``at`` order (as a live source would send them)."""
    rnd = random.Random(seed)
    events = []
    for i in range(n):
        iid = f"INC-{seed}-{i:05d}"
        t0 = start + i * rnd.randint(20_000, 90_000)
        severity = rnd.choice(["P1", "P2", "P3"])
        ack = t0 + rnd.choice([60_000, 600_000, 1_200_000, 5_400_000])
        done = ack + rnd.choice([600_000, 3_600_000, 6 * 3_600_000, 30 * 3_600_000])
        events += [opened(iid, t0, severity, rnd.choice(["acme", "globex"])),
                   event(iid, "acknowledged", ack), event(iid, "resolved", done)]
    events.sort(key=lambda e: parse_instant(e["at"]))
    return events


def replay_events(policy: Path, events: list[dict[str, Any]], until: int,
                  tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / f"incidents-{len(events)}.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    out = io.BytesIO()
    replay(load_policy_file(str(policy)), str(path), None, until, out, io.StringIO())
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def send_events(dep: Deployment, events: list[dict[str, Any]]) -> None:
    for e in events:
        dep.send("incidents", e["incident_id"], e)
    dep.producer.flush()


def mismatch(want: dict[str, Any], dep: Deployment, survivor: Worker) -> str:
    """What the standing records miss, add or change against ``want``, the first dead letters
    and the survivor's log tail: the message of a takeover test that did not converge."""
    got = standing(dep.read())
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    changed = [k for k in set(want) & set(got) if want[k] != got[k]]
    return (f"{len(missing)} missing e.g. {[want[k] for k in missing[:3]]}\n"
            f"{len(extra)} extra e.g. {[got[k] for k in extra[:3]]}\n"
            f"{len(changed)} changed e.g. {[(want[k], got[k]) for k in changed[:2]]}\n"
            f"dead letters: {dep.read(['deadletter'])[:3]}\n"
            f"survivor log tail:\n{survivor.log()[-5000:]}")


# ----------------------------------------------------------------------------- 2


def test_a_deadline_passing_in_silence_breaches_within_two_seconds(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    dep = Deployment(broker, policy_file(tmp_path, FIVE_SECONDS), clock="WALL")
    with Worker(dep, tmp_path) as worker:
        # warm up: the worker has joined and ticks once this first breach comes out
        send_events(dep, [opened("warm-up", wall_ms())])
        wait_for(lambda: [r for r in dep.read(["breaches"]) if r["incident_id"] == "warm-up"],
                 60, 0.2, "the warm-up breach")
        lags = []
        for i in range(3):
            at = wall_ms()
            send_events(dep, [opened(f"silent-{i}", at)])
            deadline_ms = at + 5_000

            def breach(iid: str = f"silent-{i}") -> list[dict[str, Any]]:
                return [r for r in dep.read(["breaches"]) if r["incident_id"] == iid]

            got = wait_for(breach, 30, 0.05, f"the breach of silent-{i}")
            seen_ms = wall_ms()
            assert got[0]["at"] == format_instant(deadline_ms)
            assert parse_instant(got[0]["detected_at"]) >= deadline_ms
            lags.append(seen_ms - deadline_ms)
        assert max(lags) <= 2_000, f"breaches came {lags} ms after their deadlines"
        assert worker.alive()
    dep.close()


# ----------------------------------------------------------------------------- 3


def test_a_backlog_of_old_resolved_incidents_raises_nothing_it_retracts(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    policy = policy_file(tmp_path, STANDARD)
    dep = Deployment(broker, policy, clock="WALL")
    start = wall_ms() - 40 * 86_400_000  # forty days ago: every deadline long past on the wall
    events = history(600, start, seed=3)
    send_events(dep, events)  # all of it before the worker starts
    want = standing(replay_events(policy, events, wall_ms(), tmp_path))
    assert any(r["kind"] == "breach" for r in want.values()), "some were resolved late"
    with Worker(dep, tmp_path) as worker:
        wait_for(lambda: standing(dep.read()) == want, 120, 1.0,
                 "the backlog's records to equal replay's")
        time.sleep(2)  # wall-clock ticks go on: nothing may change
        records = dep.read()
        assert [r for r in records if r["kind"] == "retraction"] == []
        assert standing(records) == want
        assert worker.alive()
    dep.close()


# ----------------------------------------------------------------------------- 4


def test_bad_input_goes_to_the_dead_letter_topic_and_the_rest_is_processed(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    dep = Deployment(broker, policy_file(tmp_path, STANDARD), partitions=2)
    t0 = parse_instant("2027-03-01T09:00:00Z")
    bad: list[tuple[str, str | None, bytes, str]] = [  # topic, key, value, reason
        ("incidents", "X-1", b'{"event_id": "e1", "incident_id": "X-1", "type": "ope',
         "malformed_json"),
        ("incidents", "X-2", orjson.dumps({"event_id": "e1", "incident_id": "X-2",
                                           "type": "opened", "at": format_instant(t0)}),
         "missing_field"),
        ("incidents", "X-3", orjson.dumps({**event("X-3", "exploded", t0)}), "unknown_type"),
        ("incidents", "X-4", orjson.dumps({**event("X-4", "acknowledged", t0),
                                           "at": "2027-03-01 09:00"}), "bad_timestamp"),
        ("incidents", "someone-else", orjson.dumps(event("X-5", "resolved", t0)), "wrong_key"),
        ("heartbeats", "svc", b"\xff\xfe not utf-8", "malformed_json"),
    ]
    for topic, key, value, _ in bad:
        dep.send(topic, key, value)
    good = [opened("OK-1", t0), event("OK-1", "acknowledged", t0 + 60_000),
            opened("OK-1", t0 + 1)]  # the last: a duplicate event_id
    send_events(dep, good)
    dep.send("heartbeats", "svc", {"service": "svc", "at": format_instant(t0), "status": "up"})
    dep.send("heartbeats", "svc", {"service": "svc", "at": format_instant(t0 - 1),
                                   "status": "up"})  # late
    send_events(dep, [event("OK-1", "resolved", t0 + 120_000)])
    with Worker(dep, tmp_path) as worker:
        def outcomes() -> list[dict[str, Any]]:
            dep.tick("2027-03-01T10:00:00Z")
            got = [r for r in dep.read(["outcomes"]) if r["incident_id"] == "OK-1"]
            # both: a read can come between the two outcomes' produce requests (seen on Kafka)
            return got if {r["metric"] for r in got} >= {"response", "resolution"} else []

        got = wait_for(outcomes, 90, 0.5, "the outcomes of OK-1, sent after the bad records")
        assert {r["metric"]: r["met"] for r in got} == {"response": True, "resolution": True}
        dead = wait_for(lambda: len(dep.read(["deadletter"])) >= 8 and dep.read(["deadletter"]),
                        30, 0.5, "eight dead letters")
        by_reason = defaultdict(list)
        for rec in dead:
            by_reason[rec["reason"]].append(rec)
            assert rec["kind"] in ("invalid", "late")
            assert rec["source_topic"] in (dep.topic("incidents"), dep.topic("heartbeats"))
            assert isinstance(rec["partition"], int) and isinstance(rec["offset"], int)
            assert rec["error"]
            assert problems("deadletter", {k: v for k, v in rec.items() if k != "_key"}) == []
        for topic, _, value, reason in bad:
            matching = [r for r in by_reason[reason] if r["source_topic"] == dep.topic(topic)]
            assert matching, f"no dead letter with reason {reason} from {topic}: {dead}"
            raw = [r.get("raw") or r.get("raw_base64") for r in matching]
            assert value.decode("utf-8", "replace") in raw or any(
                r.get("raw_base64") for r in matching), raw
        assert [r["kind"] for r in by_reason["duplicate"]] == ["invalid"]
        assert [r["kind"] for r in by_reason["late"]] == ["late"]
        assert len(dead) == 8
        assert worker.alive()
    dep.close()


# ----------------------------------------------------------------------------- 5


def differing_versions(records: list[dict[str, Any]]) -> dict[str, set[bytes]]:
    """The ``alert_id``s whose records differ (``detected_at`` aside), with their versions: a
    record sent again around a restart or a rebalance must be identical."""
    versions: dict[str, set[bytes]] = defaultdict(set)
    for rec in records:
        body = {k: v for k, v in rec.items() if k not in ("detected_at", "_key")}
        versions[rec["alert_id"]].add(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
    return {aid: v for aid, v in versions.items() if len(v) > 1}


def test_a_killed_worker_loses_nothing_and_repeats_only_identical_records(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    policy = policy_file(tmp_path, STANDARD)
    dep = Deployment(broker, policy, partitions=4)
    start = parse_instant("2027-04-01T00:00:00Z")
    events = history(900, start, seed=5)
    until = parse_instant(events[-1]["at"]) + 86_400_000
    want = standing(replay_events(policy, events, until, tmp_path))

    a = Worker(dep, tmp_path, "a").start()
    b = Worker(dep, tmp_path, "b").start()
    restarted = Worker(dep, tmp_path, "b-again")
    try:
        wait_for(lambda: "Worker ready" in a.log() and "Worker ready" in b.log(), 60, 0.5,
                 "both workers to be ready")
        half = len(events) // 2
        send_events(dep, events[:half])
        wait_for(lambda: len(dep.read()) > 50, 60, 0.2, "the first alerts")

        sender = threading.Thread(target=send_events, args=(dep, events[half:]))
        sender.start()
        time.sleep(0.3)
        b.kill()  # mid-stream: its partitions have unprocessed and uncommitted records
        sender.join()

        def converged() -> bool:
            dep.tick(until)
            return standing(dep.read()) == want

        try:
            wait_for(converged, 120, 1.0, "the survivor's outputs to equal replay")
        except AssertionError:
            raise AssertionError(mismatch(want, dep, a)) from None
        restarted.start()  # takes partitions back, rebuilt from the changelogs
        wait_for(lambda: restarted.log().count("Worker ready") >= 1, 60, 0.5,
                 "the restarted worker")
        time.sleep(3)
        wait_for(converged, 60, 1.0, "the outputs to equal replay after the restart")

        records = dep.read()
        changed = differing_versions(records)
        history_of = [[(r["kind"], r.get("retracts"), r["detected_at"], r["at"]) for r in records
                       if r["alert_id"] == aid] for aid in sorted(changed)[:4]]
        assert changed == {}, (
            f"in-order input: a repeated record must be identical; {len(changed)} ids differ, "
            f"e.g. (kind, retracts, detected_at, at) in offset order: {history_of}")
        assert len(records) >= len(want)
        assert a.alive() and restarted.alive()
    finally:
        for w in (a, b, restarted):
            w.stop()
        dep.close()


def test_a_rebalance_mid_stream_loses_nothing(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """Batched delivery through rebalances while the input flows: a third worker joins, then
    one of the first two leaves (SIGTERM), each while events are being sent and processed, so
    partitions move with batches in hand. The standing alerts equal replay's, every repeated
    record is identical, and nothing is a dead letter."""
    policy = policy_file(tmp_path, STANDARD)
    dep = Deployment(broker, policy, partitions=4)
    start = parse_instant("2027-05-01T00:00:00Z")
    events = history(900, start, seed=11)
    until = parse_instant(events[-1]["at"]) + 86_400_000
    want = standing(replay_events(policy, events, until, tmp_path))

    a = Worker(dep, tmp_path, "a").start()
    b = Worker(dep, tmp_path, "b").start()
    c = Worker(dep, tmp_path, "c")
    try:
        wait_for(lambda: "Worker ready" in a.log() and "Worker ready" in b.log(), 60, 0.5,
                 "both workers to be ready")
        third = len(events) // 3
        send_events(dep, events[:third])
        wait_for(lambda: len(dep.read()) > 30, 60, 0.2, "the first alerts")
        sender = threading.Thread(target=send_events, args=(dep, events[third:2 * third]))
        sender.start()
        c.start()  # joins mid-stream: every partition is revoked, some move to it
        sender.join()
        wait_for(lambda: "Worker ready" in c.log(), 60, 0.5, "the third worker")
        sender = threading.Thread(target=send_events, args=(dep, events[2 * third:]))
        sender.start()
        time.sleep(0.3)
        b.stop()  # leaves mid-stream: its partitions go to the others
        sender.join()

        def converged() -> bool:
            dep.tick(until)
            return standing(dep.read()) == want

        try:
            wait_for(converged, 120, 1.0, "the outputs to equal replay")
        except AssertionError:
            raise AssertionError(mismatch(want, dep, a)) from None
        assert differing_versions(dep.read()) == {}
        assert dep.read(["deadletter"]) == []
        assert a.alive() and c.alive()
    finally:
        for w in (a, b, c):
            w.stop()
        dep.close()


# ----------------------------------------------------------------------------- request counts

REQUESTS = """
policies:
  - id: api
    match: {}
    requests:
      period: day
      objectives:
        - id: ok
          sli: errors
          target: 99.0
          credits: [{below: 99.0, percent: 10}, {below: 98.0, percent: 25}]
          burn_rate: [{long: 1h, short: 5m, factor: 2}]
        - {id: fast, sli: latency, threshold: 300ms, target: 95.0}
"""


def request_counts(services: int, minutes: int, start: int, seed: int) -> list[dict[str, Any]]:
    """Per-minute aggregates of ``services`` services, with bursts of errors and slow
    requests, in ``at`` order (each with an ``event_id``, as a collector would send them)."""
    rnd = random.Random(seed)
    out = []
    for m in range(1, minutes + 1):
        for s in range(services):
            total = rnd.randint(50, 150)
            burst = rnd.random() < 0.03 * (s % 3)
            errors = rnd.randint(10, 40) if burst else rnd.randint(0, 1)
            fast = total - (rnd.randint(5, 30) if burst else rnd.randint(0, 3))
            out.append({"service": f"svc-{s}", "at": format_instant(start + m * 60_000),
                        "total": total, "errors": min(errors, total),
                        "latency_le": {"300ms": fast, "+Inf": total},
                        "event_id": f"svc-{s}-{m}"})
    return out


def test_killed_workers_lose_no_request_counter(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """Request counts through two workers, one SIGKILLed mid-stream (the survivor rebuilds its
    partitions from the changelogs), then a third worker joins and takes partitions over
    before the day ends: the day's outcomes (exact good/total counts) and burn rates equal
    replay's, and no count is refused as a duplicate. It failed about 1 run in 5 under load
    while a takeover's fetch could drop the records of a partition still paused
    (``batches.skipped``)."""
    policy = policy_file(tmp_path, REQUESTS)
    dep = Deployment(broker, policy, partitions=4)
    start = parse_instant("2027-04-01T00:00:00Z")
    counts = request_counts(8, 360, start, seed=3)
    path = tmp_path / "requests.jsonl"
    path.write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in counts))
    end_of_counts = start + 361 * 60_000
    until = start + 25 * 3_600_000  # past the day's end: every outcome is out

    def replayed(to: int) -> dict[str, Any]:
        out = io.BytesIO()
        replay(load_policy_file(str(policy)), None, None, to, out, io.StringIO(),
               requests=str(path))
        return standing([orjson.loads(line) for line in out.getvalue().splitlines()])

    midway, final = replayed(end_of_counts), replayed(until)
    assert any(r["metric"] == "burn_rate" for r in midway.values())
    assert {r["met"] for r in final.values() if r["kind"] == "outcome"} == {True, False}

    def send(batch: list[dict[str, Any]]) -> None:
        for c in batch:
            dep.send("requests", c["service"], c)
        dep.producer.flush()

    a = Worker(dep, tmp_path, "a").start()
    b = Worker(dep, tmp_path, "b").start()
    c = Worker(dep, tmp_path, "c")
    try:
        wait_for(lambda: "Worker ready" in a.log() and "Worker ready" in b.log(), 60, 0.5,
                 "both workers to be ready")
        half = len(counts) // 2
        send(counts[:half])
        wait_for(lambda: len(dep.read()) > 0, 60, 0.2, "the first burn rates")
        sender = threading.Thread(target=send, args=(counts[half:],))
        sender.start()
        time.sleep(0.3)
        b.kill()  # mid-stream
        sender.join()

        def equal(to: int, want: dict[str, Any]) -> Any:
            def check() -> bool:
                dep.tick(to)
                return standing(dep.read()) == want
            return check

        try:
            wait_for(equal(end_of_counts, midway), 120, 1.0, "the survivor's outputs = replay's")
        except AssertionError:
            raise AssertionError(mismatch(midway, dep, a)) from None
        c.start()  # takes partitions over from the survivor, rebuilt from the changelogs
        wait_for(lambda: "Worker ready" in c.log(), 90, 0.5, "the third worker")
        wait_for(equal(until, final), 120, 1.0, "the day's outcomes after the rebuild = replay's")
        dead = dep.read(["deadletter"])
        assert dead == [], f"every count applied once, none refused: {dead[:3]}"
        assert "rebuilt" in c.log(), "the third worker took partitions (rebuilt on a tick)"
        assert c.alive()
    finally:
        for w in (a, b, c):
            w.stop()
        dep.close()


# ----------------------------------------------------------------------------- notes


#: How long a worker started after a SIGKILL may take to be ready: the killed member holds the
#: group until its session runs out (``harness.KAFKA_SESSION_MS`` on Kafka), then the new one
#: joins and recovers (a CI run timed out at 60 s when the session was Faust's 60 s).
TAKEOVER_S = 120


def test_updated_events_are_notes_that_a_new_owner_takes_back(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    """300 ``updated`` events of one incident and 50 of a held one (no ``opened``): one notes
    value each, the incident's value written once (by its ``opened``), none for the held one.
    The worker is SIGKILLed; the one that takes over skips what it reads again, refuses each
    repeat of an updated event as a duplicate (the first arrival counts) and takes new ones.
    After retention the incident is forgotten and the held one dropped: every note is deleted
    (tombstones), and a third worker recovers from those changelogs: the forgotten incident's
    next update is late, the dropped one's starts it anew."""
    dep = Deployment(broker, policy_file(tmp_path, STANDARD), partitions=1)
    start = parse_instant("2027-04-01T00:00:00Z")
    app_id = dep.settings.app_id

    def updated(iid: str, n: int) -> dict[str, Any]:
        return {"event_id": f"{iid}-u{n}", "incident_id": iid, "type": "updated",
                "at": format_instant(start + n * 1000)}

    def changelog(table: str) -> list[tuple[Any, bytes | None]]:
        assert dep._reader is not None
        return [(orjson.loads(key), value) for key, value in
                read_topics(dep._reader, [f"{app_id}-{table}-changelog"], 1)]

    def latest_notes() -> dict[str, bytes | None]:
        return dict(changelog("notes"))

    def letters(reason: str) -> set[int]:
        return {r["offset"] for r in dep.read(["deadletter"]) if r["reason"] == reason}

    first = [opened("LONG", start), *(updated("LONG", n) for n in range(1, 301)),
             *(updated("HELD", n) for n in range(1, 51))]
    repeats = [*(updated("LONG", n) for n in range(1, 301, 10)),
               *(updated("HELD", n) for n in range(1, 51, 10))]
    retention = {"SLAWATCH_RETENTION": "1h"}
    a, b, c = (Worker(dep, tmp_path, name, extra_env=retention) for name in "abc")
    a.start()
    try:
        wait_for(lambda: "Worker ready" in a.log(), 60, 0.5, "the worker")
        send_events(dep, first)
        dep.read(["deadletter"])  # the reader exists
        wait_for(lambda: len(changelog("notes")) >= 350, 60, 0.5, "a note per updated event")
        notes = changelog("notes")
        assert sorted(k for k, _ in notes) == sorted(
            note_key(e["incident_id"], e["event_id"]) for e in first[1:])
        assert all(len(value or b"") < 64 for _, value in notes)
        incidents = changelog("incidents")
        assert [key for key, _ in incidents] == ["LONG"], "written by its opened alone"
        a.kill()
        b.start()
        wait_for(lambda: "Worker ready" in b.log(), TAKEOVER_S, 0.5, "the worker taking over")
        send_events(dep, [*repeats, updated("LONG", 301), updated("HELD", 51)])
        offsets = range(len(first), len(first) + len(repeats))
        wait_for(lambda: len(latest_notes()) >= 352, 60, 0.5, "the new updated events")
        wait_for(lambda: letters("duplicate") >= set(offsets), 60, 0.5, "the repeats refused")
        assert letters("duplicate") == set(offsets), "what was read again is skipped, not refused"

        send_events(dep, [event("LONG", "closed", start + 400_000)])

        def deleted() -> bool:
            # past retention: forgotten, dropped (a tick moves the clock only once the worker
            # is caught up by high watermarks fetched after it: tick until it is)
            dep.tick(start + 3 * 3_600_000)
            return all(v is None for v in latest_notes().values())

        wait_for(deleted, 60, 0.5, "every note deleted")
        assert len(latest_notes()) == 352
        b.kill()
        c.start()
        wait_for(lambda: "Worker ready" in c.log(), TAKEOVER_S, 0.5, "the third worker")
        send_events(dep, [updated("LONG", 302), updated("HELD", 52)])
        late = len(first) + len(repeats) + 3
        wait_for(lambda: late in letters("late"), 60, 0.5, "the forgotten incident's update")
        wait_for(lambda: latest_notes().get(note_key("HELD", "HELD-u52")) is not None, 60, 0.5,
                 "the dropped one's update, a new held incident")
        assert letters("late") == {late}
        assert {r["reason"] for r in dep.read(["deadletter"])} == {"duplicate", "late"}
        assert c.alive()
    finally:
        for w in (a, b, c):
            w.stop()
        dep.close()
