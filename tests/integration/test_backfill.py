"""``slawatch replay --from-topics`` as a user runs it: the installed command, in a child process,
against the real broker, compared with a file replay of the same events.

The events are produced once (a deployment of 4 partitions on a prefix of its own) with each
record's timestamp set to its event's ``at``, by a batching producer: the embedded broker then
under-reports end offsets (ENGINE-NOTES, defect 1), which a backfill must not trust.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from streams import topicread
from streams.broker import EmbeddedBroker
from streams.core.policy import PolicySet
from streams.core.policyfile import load_policy_file
from streams.core.timefmt import format_instant, parse_instant
from streams.replay import replay
from streams.topicread import TopicReader, read_topics

from .harness import Deployment, standing

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SLAWATCH = Path(sys.executable).parent / "slawatch"
POLICIES = ROOT / "streams" / "examples" / "policies.yaml"
HEARTBEATS = ROOT / "streams" / "examples" / "heartbeats.jsonl"  # 2027-02-17 08:00 to 20:00
UNTIL = "2027-02-18T12:00:00Z"
MIN = 60_000
INCIDENTS = 48
START_MS = parse_instant("2027-02-17T00:00:00Z")
OPEN_EVERY_MS = 29 * MIN


def _incident_events() -> list[bytes]:
    """48 incidents opened 29 minutes apart over 2027-02-17, acknowledged early or late, some
    paused, all resolved; in order of ``at`` (as they arrive), with two bad lines among them."""
    timed: list[tuple[int, int, dict[str, Any]]] = []
    for i in range(INCIDENTS):
        iid, opened = f"INC-{i:03d}", START_MS + i * OPEN_EVERY_MS

        def event(at: int, kind: str, **extra: Any) -> None:
            timed.append((at, len(timed), {"event_id": f"{iid}-{kind}", "incident_id": iid,  # noqa: B023
                                           "type": kind, "at": format_instant(at), **extra}))

        event(opened, "opened", severity=("P1", "P2", "P3")[i % 3],
              service=("elevators", "escalators")[i % 2],
              customer=("acme", "northwind", "contoso", "initech")[i % 4])
        acknowledged = opened + (5, 12, 25, 70, 200)[i % 5] * MIN
        event(acknowledged, "acknowledged")
        if i % 4 == 0:
            event(acknowledged + 10 * MIN, "paused")
            event(acknowledged + 50 * MIN, "resumed")
        event(opened + (90, 300, 600)[i % 3] * MIN, "resolved")
    lines = [orjson.dumps(ev) for _, _, ev in sorted(timed, key=lambda t: t[:2])]
    lines.insert(7, b'{"event_id": "broken", "incident_id": ')
    lines.insert(40, orjson.dumps({"event_id": "x", "incident_id": "INC-001", "type": "exploded",
                                   "at": "2027-02-17T03:00:00Z"}))
    return lines


@dataclass(frozen=True)
class Produced:
    """One record as produced: its input, line, where it landed and its timestamp."""

    kind: str  # incidents | heartbeats
    line: bytes
    partition: int
    offset: int
    timestamp_ms: int


@dataclass
class Backfill:
    deployment: Deployment
    produced: list[Produced]  # in the order produced

    def env(self) -> dict[str, str]:
        return self.deployment.env()


@pytest.fixture(scope="module")
def loaded(broker: EmbeddedBroker) -> Iterator[Backfill]:
    deployment = Deployment(broker, POLICIES, partitions=4)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=10)
    inputs = [("incidents", "incident_id", _incident_events()),
              ("heartbeats", "service", HEARTBEATS.read_bytes().splitlines())]
    sent = []
    for kind, key_field, lines in inputs:
        timestamp = START_MS
        for line in lines:
            try:
                obj = orjson.loads(line)
                key, timestamp = str(obj[key_field]).encode(), parse_instant(obj["at"])
            except (orjson.JSONDecodeError, KeyError):
                key = None  # a bad line keeps the timestamp of the line before it
            future = producer.send(deployment.topic(kind), key=key, value=line,
                                   timestamp_ms=timestamp)
            sent.append((kind, line, timestamp, future))
    producer.flush()
    produced = []
    for kind, line, timestamp, future in sent:
        meta = future.get(timeout=10)
        produced.append(Produced(kind, line, meta.partition, meta.offset, timestamp))
    producer.close()
    yield Backfill(deployment, produced)
    deployment.close()


# ----------------------------------------------------------------------------- helpers


def _slawatch(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    assert SLAWATCH.exists(), f"{SLAWATCH} missing: install the project with `pip install -e .`"
    return subprocess.run([str(SLAWATCH), *args], env=dict(env), capture_output=True, text=True,
                          timeout=120, check=False)


def _file_replay(policies: PolicySet, produced: list[Produced], tmp_path: Path
                 ) -> list[dict[str, Any]]:
    """The records of ``replay`` on files holding ``produced`` in the order produced."""
    paths = {}
    for kind in ("incidents", "heartbeats"):
        paths[kind] = tmp_path / f"{kind}.jsonl"
        paths[kind].write_bytes(b"".join(p.line + b"\n" for p in produced if p.kind == kind))
    out = io.BytesIO()
    replay(policies, str(paths["incidents"]), str(paths["heartbeats"]), parse_instant(UNTIL),
           out, io.StringIO())
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _standing(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What a compacted topic holds (``standing``), but dead letters, whose ids say where they
    were read."""
    return {aid: rec for aid, rec in standing(records).items()
            if rec["kind"] not in ("invalid", "late")}


def _published(records: list[dict[str, Any]]) -> Counter[bytes]:
    """Every record published but dead letters, in any order, without ``detected_at``: two
    runs that merge the same events on ``at`` publish the same, intermediate records too."""
    return Counter(orjson.dumps({k: v for k, v in r.items() if k != "detected_at"},
                                option=orjson.OPT_SORT_KEYS)
                   for r in records if r["kind"] not in ("invalid", "late"))


def _dead_letters(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] in ("invalid", "late")]


def _ran(done: subprocess.CompletedProcess[str]) -> str:
    """The summary line of a run that succeeded, quiet otherwise: no progress in a pipe."""
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr, "a progress line was drawn into a pipe"
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("replay: "), done.stderr
    return last


def _from(produced: list[Produced], from_ms: int) -> list[Produced]:
    """What a backfill from ``from_ms`` covers: in each partition, from its first record
    timestamped ``from_ms`` or later on."""
    first: dict[tuple[str, int], int] = {}
    for p in produced:
        if p.timestamp_ms >= from_ms:
            key = (p.kind, p.partition)
            first[key] = min(first.get(key, p.offset), p.offset)
    return [p for p in produced if p.offset >= first.get((p.kind, p.partition), 2**62)]


# ----------------------------------------------------------------------------- the tests


def test_a_backfill_of_every_record_equals_a_file_replay_of_them(loaded: Backfill,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "backfill.jsonl"
    summary = _ran(_slawatch("replay", "--policies", str(POLICIES), "--from-topics",
                             "--until", UNTIL, "--output", str(out), env=loaded.env()))
    records = _jsonl(out)
    expected = _file_replay(load_policy_file(str(POLICIES)), loaded.produced, tmp_path)

    assert _standing(records) == _standing(expected)
    assert _published(records) == _published(expected)  # merged on `at`: nothing more, no less
    kinds = {(r["kind"], r["metric"]) for r in _standing(records).values()}
    assert {("breach", "response"), ("outcome", "resolution"),
            ("breach", "availability")} <= kinds, kinds
    incidents = sum(p.kind == "incidents" for p in loaded.produced)
    heartbeats = len(loaded.produced) - incidents
    assert f"{incidents} incident events and {heartbeats} heartbeats read" in summary
    # the two bad lines: dead letters that say where they were read, as the worker's do
    bad = {(p.partition, p.offset) for p in loaded.produced
           if p.kind == "incidents" and (b"broken" in p.line or b"exploded" in p.line)}
    dead = _dead_letters(records)
    assert {(d["source_topic"], d["partition"], d["offset"]) for d in dead} == {
        (loaded.deployment.topic("incidents"), *where) for where in bad}
    assert sorted(d["reason"] for d in dead) == sorted(
        d["reason"] for d in _dead_letters(expected))


def test_a_backfill_from_a_time_covers_only_the_later_records(loaded: Backfill,
                                                               tmp_path: Path) -> None:
    from_ms = START_MS + INCIDENTS // 2 * OPEN_EVERY_MS  # the opening of the middle incident
    out = tmp_path / "later.jsonl"
    _ran(_slawatch("replay", "--policies", str(POLICIES), "--from-topics", "--from-time",
                   format_instant(from_ms), "--until", UNTIL, "--output", str(out),
                   env=loaded.env()))
    records = _standing(_jsonl(out))
    covered = _from(loaded.produced, from_ms)
    assert 0 < len(covered) < len(loaded.produced)
    assert records == _standing(_file_replay(load_policy_file(str(POLICIES)), covered, tmp_path))

    opened = {obj["incident_id"]: parse_instant(obj["at"])
              for obj in (orjson.loads(p.line) for p in loaded.produced
                          if p.kind == "incidents" and b'"opened"' in p.line)}
    later = {iid for iid, at in opened.items() if at >= from_ms}
    assert len(later) == INCIDENTS - INCIDENTS // 2
    by_incident = {r["incident_id"] for r in records.values() if "incident_id" in r}
    outcomes = {r["incident_id"] for r in records.values()
                if r["kind"] == "outcome" and "incident_id" in r}
    assert outcomes == later  # every later incident is acknowledged and resolved...
    assert by_incident <= later  # ...and an earlier one, opened before, raises nothing
    periods = {r["period_start"] for r in records.values() if r["metric"] == "availability"}
    assert periods, "the later heartbeats judge the service's availability"


def test_a_backfill_with_a_revision_to_a_topic(loaded: Backfill, tmp_path: Path) -> None:
    revision = tmp_path / "faster-p1.yaml"  # "what if the default P1 response had been 5m"
    revision.write_text("policies:\n  - id: standard\n    match: {}\n    near_breach: [0.5]\n"
                        "    incidents:\n      P1: {response: 5m, resolution: 4h}\n"
                        "      \"*\": {response: 4h, resolution: 3d}\n")
    topic = loaded.deployment.topic("whatif")  # of the prefix, but no live topic of it
    done = _slawatch("replay", "--policies", str(POLICIES), "--revision", str(revision),
                     "--from-topics", "--until", UNTIL, "--to-topic", topic, env=loaded.env())
    _ran(done)
    assert f"created topic {topic}" in done.stderr

    records = loaded.deployment.read(["whatif"])
    assert records and all(rec["_key"] == rec["alert_id"] for rec in records)
    revised = load_policy_file(str(POLICIES), [str(revision)])
    assert _standing(records) == _standing(_file_replay(revised, loaded.produced, tmp_path))
    assert _standing(records) != _standing(
        _file_replay(load_policy_file(str(POLICIES)), loaded.produced, tmp_path))


def test_a_live_topic_is_refused_and_left_alone(loaded: Backfill) -> None:
    live = loaded.deployment.topic("breaches")
    done = _slawatch("replay", "--policies", str(POLICIES), "--from-topics", "--to-topic", live,
                     env=loaded.env())
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--allow-live-topics" in done.stderr, done.stderr
    assert loaded.deployment.read(["breaches"]) == []


def test_a_missing_topic_is_one_line_and_exit_2(loaded: Backfill) -> None:
    env = {**loaded.env(), "SLAWATCH_TOPIC_PREFIX": "nothing-here"}
    done = _slawatch("replay", "--policies", str(POLICIES), "--from-topics", "--timeout", "5",
                     env=env)
    assert done.returncode == 2
    assert done.stderr == "slawatch replay: error: no topic 'nothing-here.incidents' on " \
                          f"{loaded.deployment.broker.bootstrap}\n"


def test_partitions_read_one_by_one_with_small_buffers_get_everything(
        loaded: Backfill, monkeypatch: pytest.MonkeyPatch) -> None:
    """The merge takes one partition's records at a time while the others fill up and leave
    the fetches; each must come back and be read to its end."""
    monkeypatch.setattr(topicread, "BUFFER_RECORDS", 8)
    dep = loaded.deployment
    topics = [dep.topic("incidents"), dep.topic("heartbeats")]
    with TopicReader(dep.settings, topics, timeout_s=10) as reader:
        assert reader.total == len(loaded.produced)
        got = {(topic, number): [r.offset for r in reader.records(topic, number)]
               for topic, number in reversed(reader.partitions)}
        assert reader.read == reader.total
    want: dict[tuple[str, int], list[int]] = {}
    for p in loaded.produced:
        want.setdefault((dep.topic(p.kind), p.partition), []).append(p.offset)
    assert got == {tp: want.get(tp, []) for tp in got}
    assert len(list(read_topics(dep.settings, topics))) == len(loaded.produced)


def test_a_to_time_ends_each_partition_before_its_first_later_record(loaded: Backfill) -> None:
    dep = loaded.deployment
    from_ms = START_MS + 10 * OPEN_EVERY_MS
    to_ms = START_MS + 30 * OPEN_EVERY_MS
    got = sorted((r.topic, r.partition, r.offset) for r in read_topics(
        dep.settings, [dep.topic("incidents")], from_ms=from_ms, to_ms=to_ms))
    want = []
    for p in _from(loaded.produced, from_ms):
        if p.kind == "incidents":
            want.append(p)
    ends: dict[int, int] = {}
    for p in want:
        if p.timestamp_ms > to_ms:
            ends[p.partition] = min(ends.get(p.partition, p.offset), p.offset)
    assert got == sorted((dep.topic("incidents"), p.partition, p.offset) for p in want
                         if p.offset < ends.get(p.partition, 2**62))
    assert 0 < len(got) < len(want)



def test_a_record_later_than_its_timestamp_plus_max_future_is_a_future_dead_letter(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    """SPEC section 6: in a backfill the reference instant is each record's Kafka timestamp. The
    acknowledgement stamped at 14:01 but dated 15:00 is a dead letter that changes nothing: the
    acknowledgement at 14:10 (stamped then) is the one that stops the response clock."""
    deployment = Deployment(broker, POLICIES, partitions=1)
    try:
        t0 = parse_instant("2027-02-17T14:00:00Z")
        events = [
            (t0, {"type": "opened", "at": format_instant(t0), "severity": "P1",
                  "service": "escalators", "customer": "northwind"}),
            (t0 + MIN, {"type": "acknowledged", "at": format_instant(t0 + 60 * MIN)}),
            (t0 + 10 * MIN, {"type": "acknowledged", "at": format_instant(t0 + 10 * MIN)}),
        ]
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        for number, (timestamp, ev) in enumerate(events):
            value = orjson.dumps({"event_id": f"e-{number}", "incident_id": "INC-F", **ev})
            producer.send(deployment.topic("incidents"), key=b"INC-F", value=value,
                          timestamp_ms=timestamp).get(timeout=10)
        producer.close()
        out = tmp_path / "backfill.jsonl"
        done = _slawatch("replay", "--policies", str(POLICIES), "--from-topics", "--max-future",
                         "5m", "--until", "2027-02-17T16:00:00Z", "--output", str(out),
                         env=deployment.env())
        assert "1 skipped" in _ran(done)
        assert (f"{deployment.topic('incidents')} partition 0 offset 1: field 'at' is "
                "2027-02-17T15:00:00.000Z, more than max_future (300s) after the reference "
                "instant 2027-02-17T14:01:00.000Z") in done.stderr
        records = _jsonl(out)
        assert [(d["reason"], d["offset"]) for d in _dead_letters(records)] == [("future", 1)]
        response = [r for r in _standing(records).values()
                    if r["kind"] == "outcome" and r["metric"] == "response"]
        assert [r["elapsed_seconds"] for r in response] == [600]
    finally:
        deployment.close()
