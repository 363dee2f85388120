"""Compaction on Apache Kafka: the changelogs keep the live keys, and a restart reads those.

A worker's state comes back from its changelog topics (``APP_ID-incidents-changelog``,
``-services-``, ``-clocks-``), which Faust creates with ``cleanup.policy=compact``. On Kafka the
log cleaner keeps the latest value per key, so what a restarted worker reads is bounded by the
keys that are live, not by every update ever written (on Tansu, which does not compact, it grows
without bound: README, "State"). The test runs a Kafka of its own whose cleaner works in seconds
(segments roll after 1 s, the cleaner looks every 200 ms and cleans at 1 % dirty); the session's
broker keeps Kafka's defaults.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.core.timefmt import format_instant, parse_instant
from tests.integration.harness import Deployment, Worker, read_topics, standing, wait_for
from tests.integration.test_worker_live import (
    STANDARD,
    event,
    opened,
    policy_file,
    replay_events,
    send_events,
)
from tests.support import kafka

pytestmark = pytest.mark.integration

#: the log cleaner in seconds instead of hours: everything else is the session broker's
COMPACTING = {"log.roll.ms": "1000", "log.cleaner.backoff.ms": "200",
              "log.cleaner.min.cleanable.ratio": "0.01"}
INCIDENTS, STEPS, ROUNDS = 60, 40, 8
PARTITIONS = 2


@pytest.fixture(scope="module")
def compacting_kafka() -> Iterator[kafka.KafkaBroker]:
    reason = kafka.missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the Kafka leg cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    with kafka.KafkaBroker(properties=COMPACTING) as running:
        yield running
        Deployment.close_all()


def changelog_records(broker: kafka.KafkaBroker, topic: str) -> tuple[int, int]:
    """(records a reader from the beginning gets, the sum of the high watermarks): what a
    recovery reads, and what was ever written."""
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                             fetch_max_wait_ms=20, enable_incremental_fetch_sessions=False)
    try:
        records = len(read_topics(consumer, [topic], PARTITIONS))
        written = sum(consumer.highwater(TopicPartition(topic, p)) or 0
                      for p in range(PARTITIONS))
        return records, written
    finally:
        consumer.close()


def processed(dep: Deployment) -> bool:
    """True when the workers' group has committed every incident event sent so far."""
    consumer = KafkaConsumer(bootstrap_servers=dep.broker.bootstrap, enable_auto_commit=False,
                             group_id=dep.settings.app_id)
    try:
        tps = [TopicPartition(dep.topic("incidents"), p) for p in range(PARTITIONS)]
        ends = consumer.end_offsets(tps)
        return all((consumer.committed(tp) or 0) >= ends[tp] for tp in tps)
    finally:
        consumer.close()


def log_seconds(log: str, first: str, last: str) -> float:
    """Seconds between the Faust log lines holding ``first`` and then ``last``."""
    stamps = {}
    for line in log.splitlines():
        for text in (first, last):
            if text in line and text not in stamps:
                found = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]", line)
                if found:
                    stamps[text] = datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S,%f")
    return (stamps[last] - stamps[first]).total_seconds()


def test_the_changelogs_compact_and_a_restart_reads_only_the_live_keys(
        compacting_kafka: kafka.KafkaBroker, tmp_path: Path) -> None:
    policy = policy_file(tmp_path, STANDARD)
    dep = Deployment(compacting_kafka, policy, partitions=PARTITIONS)
    start = parse_instant("2027-04-01T00:00:00Z")
    rounds: list[list[dict[str, object]]] = [[] for _ in range(ROUNDS + 1)]
    for i in range(INCIDENTS):  # every event in the first 5 minutes: no deadline passes yet
        iid = f"INC-C-{i:03d}"
        at = start + i * 1000
        rounds[0].append(opened(iid, at, severity="P1"))
        for n in range(1, STEPS):  # stored in the value, and change no clock of STANDARD
            rounds[n * ROUNDS // STEPS].append(
                {**event(iid, "milestone", at + n * 100), "event_id": f"{iid}-m{n}",
                 "milestone": f"step_{n}"})
        rounds[ROUNDS].append({**event(iid, "milestone", start + 280_000),
                               "event_id": f"{iid}-last", "milestone": "last"})
    events = [e for wave in rounds for e in wave]
    until = start + 86_400_000
    want = standing(replay_events(policy, events, until, tmp_path))
    assert sum(r["kind"] == "breach" for r in want.values()) >= INCIDENTS, "deadlines to pass"
    incidents_log = f"{dep.settings.app_id}-incidents-changelog"

    first = Worker(dep, tmp_path, "first").start()
    again = Worker(dep, tmp_path, "again")
    try:
        wait_for(lambda: "Worker ready" in first.log(), 60, 0.5, "the first worker")
        # a round apart: every incident is written again in each of them, however the worker
        # batches what it reads (one value per key per batch), and segments roll in between
        for wave in rounds[:ROUNDS]:
            send_events(dep, wave)
            time.sleep(0.5)
        wait_for(lambda: processed(dep), 60, 0.5, "the first worker to commit the rounds")
        time.sleep(1.2)  # the next write rolls the segment: the rounds become cleanable
        send_events(dep, rounds[ROUNDS])
        wait_for(lambda: processed(dep), 60, 0.5, "the first worker to commit the last round")
        first.stop()

        records, written = wait_for(
            lambda: (lambda got: got if got[0] <= 3 * INCIDENTS else None)(
                changelog_records(compacting_kafka, incidents_log)),
            60, 0.5, "the log cleaner to compact the incidents changelog")
        assert written >= 5 * INCIDENTS, "each round wrote every incident's value again"

        again.start()
        wait_for(lambda: "Worker ready" in again.log(), 60, 0.5, "the restarted worker")
        recovery_s = log_seconds(again.log(), "Restoring state from changelog topics",
                                 "Done reading from changelog topics")

        def converged() -> bool:
            dep.tick(format_instant(until))
            return standing(dep.read()) == want

        wait_for(converged, 60, 1.0, "the restarted worker's breaches to equal replay")
        print(f"incidents changelog: {written} records written, {records} left to recover "
              f"from after compaction; recovery read in {recovery_s:.2f} s")
    finally:
        first.stop()
        again.stop()
        dep.close()
