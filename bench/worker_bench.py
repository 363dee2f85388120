"""Worker benchmark: throughput, alert latency and memory of ``slawatch worker`` on a real broker,
against the floor of Faust (a no-op agent) and a hand-written aiokafka loop.

One broker on 127.0.0.1 for the whole run: the embedded Tansu (``--broker tansu``, the default;
the worker and the no-op agent on the ``TANSU`` settings its defects need), or Apache Kafka
(``--broker kafka``: one KRaft node from the jars ``tests/kafka/kafka.py fetch`` copied, the
worker and the no-op agent on the production ``KAFKA`` settings):

1. One incidents topic is pre-loaded with N realistic events (``bench/generate.py``, keyed by
   ``incident_id``); every slawatch topic of that prefix is created.
2. Three consumers read the same pre-loaded topic, one after the other, each in a child process
   with a consumer group of its own: the slawatch worker (``SLAWATCH_CLOCK=MANUAL``, the bench
   policies), a no-op Faust agent (``bench/noop_agent.py``) and a hand-written aiokafka
   consume -> decode -> produce -> commit loop (``bench/aiokafka_loop.py``), and the same loop
   doing the worker's own work by hand (``BENCH_WORK=shell``: ``Shell.handle`` per record, the
   changed values and alerts produced per batch; what the worker adds over it is Faust). Each
   is timed from
   its first record to its last, leaving out start-up, with the child's CPU time over the window
   (``/proc/<pid>/stat``, sampled every 50 ms):
   - the worker by its incidents and notes table changelogs: every input event writes one
     record to one of them (an ``updated`` a note), stamped when the worker produces it and
     holding the input offset; first record to last;
   - the no-op agent and the aiokafka loop by themselves ("in-process");
   - all three also from outside by the group's committed offsets (``OffsetFetch`` every 50 ms,
     first nonzero commit to the one that reaches the end). This is coarse for the worker: its
     commits wait for its producer buffer to drain, which a backlog keeps full, so they come
     seconds late and in jumps (its first nonzero commit comes ~10 s after it started working).
3. Latency, on a fresh prefix with a worker on the wall clock and a policy with a 5 s P1
   response: from each silent deadline to the breach reaching a consumer, and from producing a
   ``resolved`` event to its ``outcome`` reaching a consumer.
4. Peak RSS (VmHWM) of each child before it stops.

Figures are printed and written to ``bench/out/worker_bench_<broker>.json``; nothing passes or
fails.

    .venv/bin/python bench/worker_bench.py [--broker tansu|kafka] [--events N] [--partitions P]
                                           [--profile]

``--profile`` adds a last run of the worker over the same topic under cProfile in every thread
(``bench/profile_worker.py``) and prints its top functions; its rates are not the benchmark's.
The topic is loaded with batching producers (fast) and its end offsets are taken from the
delivery reports, which are exact; ``ListOffsets`` on Tansu under-reports batched topics
(ENGINE-NOTES), so it is only shown. ``--single-record-batches`` loads with
``EMBEDDED_KAFKA_PYTHON_PRODUCER_SETTINGS`` instead (one record per batch: ~1k records/s here).
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import io
import json
import os
import pstats
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
from generate import generate
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from streams.admin import create_topics
from streams.broker import EMBEDDED_KAFKA_PYTHON_PRODUCER_SETTINGS, EmbeddedBroker
from streams.core.timefmt import format_instant, parse_instant
from streams.settings import Settings
from streams.topics import TopicSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, for tests.support
from tests.support.kafka import KafkaBroker  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
LOGS = OUT / "worker_bench_logs"  # the children's output, kept after the run
SLAWATCH = Path(sys.executable).parent / "slawatch"
#: ``slawatch worker`` as the benchmark runs it; ``--worker-loglevel`` adds ``--loglevel``
WORKER_ARGS = ["worker", "--no-web"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: the pre-loaded events' first day (60 days of them), before any run of the benchmark
PRELOAD_START = "2025-01-06T00:00:00Z"
#: more dead letters than this share of the input fail the run
MAX_DEAD_LETTERS = 0.02
#: the broker's kind, ``TANSU`` or ``KAFKA`` (``--broker``): the client settings of the children
KIND = {"kind": "TANSU"}
POLL_S = 0.05  # committed offsets and CPU, sampled this often
STOP_TIMEOUT_S = 20.0

LATENCY_POLICY = """\
# Written by bench/worker_bench.py for the latency runs: a 5 s P1 response, no near-breach.
policies:
  - id: bench-latency
    match: {}
    near_breach: []
    incidents:
      P1: {response: 5s, resolution: 1h}
      "*": {response: 1h, resolution: 1d}
"""


class BenchError(Exception):
    """The benchmark could not measure what it set out to."""


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def code_state() -> dict[str, Any]:
    """The commit measured, and whether ``streams/`` differed from it (the figures depend on
    the working tree, not on the commit)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(HERE.parent), *args], capture_output=True,
                                  text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout

    diff = git("diff", "HEAD", "--", "streams")
    return {"commit": (git("rev-parse", "HEAD") or "").strip() or None,
            "streams_modified": (git("status", "--porcelain", "--", "streams") or "").split(),
            "streams_diff_sha1": hashlib.sha1(diff.encode()).hexdigest() if diff else None}


# ----------------------------------------------------------------------------- children


class Child:
    """One child process of the benchmark, in its own session (a Ctrl-C reaches only us: we stop
    the children, then the broker); stopped by its PID only."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_path: Path,
                 registry: list[Child]) -> None:
        self.name = name
        self.log_path = log_path
        with open(log_path, "wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(argv, env=dict(env), stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True, cwd=OUT)
        self.started = time.perf_counter()
        self.started_wall = time.time() * 1000
        registry.append(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def _proc(self, name: str) -> str | None:
        if not self.alive():  # never read a reaped (maybe reused) PID
            return None
        try:
            return Path(f"/proc/{self.pid}/{name}").read_text()
        except OSError:
            return None

    def cpu_s(self) -> float | None:
        """User + system CPU seconds of every thread so far."""
        return _stat_cpu_s(self._proc("stat"))

    def main_thread_cpu_s(self) -> float | None:
        """CPU seconds of the main thread alone (Faust's consumer has a thread of its own)."""
        return _stat_cpu_s(self._proc(f"task/{self.pid}/stat"))

    def peak_rss_mib(self) -> float | None:
        status = self._proc("status")
        for line in (status or "").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, wait, SIGKILL; Popen knows once it is reaped, so no reused PID is hit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                print(f"  ({self.name} pid {self.pid} ignored SIGTERM for {timeout_s:g} s: "
                      "SIGKILL)", flush=True)
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def _stat_cpu_s(stat: str | None) -> float | None:
    """utime + stime of a ``/proc/.../stat`` line, in seconds (after the ``(comm)`` field,
    which may hold spaces, they are the 12th and 13th)."""
    if stat is None:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (every thread), 0 if it is gone."""
    try:
        return _stat_cpu_s(Path(f"/proc/{pid}/stat").read_text()) or 0.0
    except OSError:
        return 0.0


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, child: Child | None = None,
             every_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        if child is not None and not child.alive():
            raise BenchError(f"{child.name} (pid {child.pid}) exited with status "
                             f"{child.process.returncode} while waiting for {what}; its log "
                             f"{child.log_path} ends:\n{child.log_tail()}")
        if time.monotonic() > deadline:
            tail = f"; {child.name}'s log ends:\n{child.log_tail()}" if child else ""
            raise BenchError(f"timed out after {timeout_s:g} s waiting for {what}{tail}")
        time.sleep(every_s)


# ----------------------------------------------------------------------------- the topic


def preload(bootstrap: str, topic: str, events: int, single_batches: bool) -> dict[str, Any]:
    """Produce ``events`` generated incident events to ``topic``; the end offset of each
    partition from the delivery reports, checked against the fetch high watermark."""
    t0 = time.perf_counter()
    # >= 10 events per incident: always enough. In the past: the worker refuses an event later
    # than its Kafka timestamp (the time of this run) plus max_future (SPEC section 6).
    lines = generate(events // 10 + 1, events, start_at=PRELOAD_START)
    generated_s = time.perf_counter() - t0
    options: dict[str, Any] = (dict(EMBEDDED_KAFKA_PYTHON_PRODUCER_SETTINGS) if single_batches
                               else {"linger_ms": 5, "batch_size": 256 * 1024})
    producer = KafkaProducer(bootstrap_servers=bootstrap, **options)
    t0 = time.perf_counter()
    futures = []
    keyless = 0
    for line in lines:
        try:
            key = orjson.loads(line)["incident_id"].encode()
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            key, keyless = None, keyless + 1  # the malformed lines, as a real bus has them
        futures.append(producer.send(topic, key=key, value=line))
    producer.flush()
    ends: dict[int, int] = {}
    for future in futures:
        meta = future.get(timeout=30)
        ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    produced_s = time.perf_counter() - t0
    producer.close()
    highwater, list_offsets = _check_ends(bootstrap, topic, ends)
    return {"events": len(lines), "keyless": keyless, "bytes": sum(map(len, lines)),
            "ends": ends, "fetch_highwater": highwater, "list_offsets_latest": list_offsets,
            "single_record_batches": single_batches, "generate_s": generated_s,
            "produce_s": produced_s, "produce_per_s": len(lines) / produced_s}


def _check_ends(bootstrap: str, topic: str, ends: Mapping[int, int]
                ) -> tuple[dict[int, int], dict[int, int]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             fetch_max_wait_ms=10, max_partition_fetch_bytes=4096)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(ends)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        deadline = time.monotonic() + 15
        while any(consumer.highwater(tp) is None for tp in tps):
            if time.monotonic() > deadline:
                raise BenchError(f"{topic}: no fetch high watermark after 15 s")
            consumer.poll(timeout_ms=100, max_records=1)
        highwater = {tp.partition: int(consumer.highwater(tp)) for tp in tps}
        listed = {tp.partition: int(o) for tp, o in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()
    if highwater != dict(ends):
        raise BenchError(f"{topic}: the fetch high watermarks {highwater} differ from the "
                         f"delivered offsets {dict(ends)}")
    return highwater, listed


def highwaters(bootstrap: str, topics: Iterable[str], partitions: int) -> dict[str, int]:
    """Records in each topic (all partitions), from the fetch high watermark (right on Tansu,
    unlike ListOffsets). A long fetch wait: see ``changelog_window``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             fetch_max_wait_ms=500, max_partition_fetch_bytes=1024)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        deadline = time.monotonic() + 30
        while any(consumer.highwater(tp) is None for tp in tps):
            if time.monotonic() > deadline:
                raise BenchError(f"no fetch high watermark for {tps} after 30 s")
            consumer.poll(timeout_ms=100, max_records=1)
        counts: dict[str, int] = {}
        for tp in tps:
            counts[tp.topic] = counts.get(tp.topic, 0) + int(consumer.highwater(tp))
        return counts
    finally:
        consumer.close()


# ----------------------------------------------------------------------------- throughput


def watch_group(admin: KafkaAdminClient, group: str, topic: str, ends: Mapping[int, int],
                child: Child, timeout_s: float, until: int | None = None) -> dict[str, Any]:
    """Poll ``group``'s committed offsets on ``topic`` until they reach ``ends``; the window
    from the first nonzero commit to that one, with the child's CPU time over it. ``samples``
    keeps every change: [wall ms, committed, CPU s, main thread CPU s]."""
    total = sum(ends.values()) if until is None else min(until, sum(ends.values()))
    deadline = time.monotonic() + timeout_s
    samples: list[list[float]] = []
    first: list[float] | None = None
    while True:
        try:
            offsets = admin.list_group_offsets(group).get(group, {})
        except KafkaError:  # the group or its coordinator not there yet
            offsets = {}
        done = sum(min(meta.offset, ends.get(tp.partition, 0))
                   for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)
        cpu, main_cpu = child.cpu_s(), child.main_thread_cpu_s()
        if cpu is not None and main_cpu is not None:
            sample = [time.time() * 1000, done, cpu, main_cpu]
            if not samples or samples[-1][1:] != sample[1:]:
                samples.append(sample)
            if first is None and done > 0:
                first = sample
        if done >= total and first is not None:
            break
        if not child.alive() or time.monotonic() > deadline:
            what = "exited" if not child.alive() else f"not done after {timeout_s:g} s"
            raise BenchError(f"{child.name} (group {group}) {what} with {done} of {total} "
                             f"committed; its log {child.log_path} ends:\n{child.log_tail()}")
        time.sleep(POLL_S)
    last = samples[-1]
    result = _window(done - first[1], first, last)
    return {"group": group, **result, "first_commit": first[1],
            "startup_s": (first[0] - child.started_wall) / 1000, "cpu_total_seconds": last[2],
            "peak_rss_mib": child.peak_rss_mib(), "samples": samples}


def _window(events: float, first: list[float], last: list[float]) -> dict[str, Any]:
    """Rates over the window between two samples [wall ms, _, CPU s, main thread CPU s]."""
    seconds, cpu_s = (last[0] - first[0]) / 1000, last[2] - first[2]
    return {"events": events, "seconds": seconds, "cpu_seconds": cpu_s,
            "events_per_s": events / seconds if seconds > 0 else None,
            "events_per_cpu_s": events / cpu_s if cpu_s > 0 else None,
            "main_thread_cpu_share": (last[3] - first[3]) / cpu_s if cpu_s > 0 else None}


def _cpu_at(samples: list[list[float]], at_ms: float) -> list[float]:
    """The CPU sample at ``at_ms``, interpolated linearly between the two around it."""
    before = [s for s in samples if s[0] <= at_ms] or samples[:1]
    after = [s for s in samples if s[0] >= at_ms] or samples[-1:]
    a, b = before[-1], after[0]
    f = 0.0 if b[0] == a[0] else (at_ms - a[0]) / (b[0] - a[0])
    return [at_ms, 0, a[2] + f * (b[2] - a[2]), a[3] + f * (b[3] - a[3])]


def changelog_window(bootstrap: str, app_id: str, partitions: int,
                     samples: list[list[float]]) -> dict[str, Any]:
    """The worker's processing window read from its incidents and notes table changelogs:
    every input event writes one record to one of them, stamped (CreateTime) when the worker
    hands it to its producer and holding the input offset (``o``). First record to last, per
    partition of the input."""
    topics = [f"{app_id}-incidents-changelog", f"{app_id}-notes-changelog"]
    topic = " and ".join(topics)
    # a long fetch wait: Tansu scans the whole partition per fetch (~1 ms per 1000 batches
    # here) and answers nothing at all when the scan outlasts the wait
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             fetch_max_wait_ms=500, max_partition_fetch_bytes=64 * 1024)
    try:
        tps = [TopicPartition(name, p) for name in topics for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        while any(consumer.highwater(tp) is None for tp in tps):
            consumer.poll(timeout_ms=100, max_records=1)
        highwater = {tp: consumer.highwater(tp) for tp in tps}
        ends: dict[int, list[tuple[int, int]]] = {}  # input partition -> (stamp, offset)
        for tp in tps:
            if not highwater[tp]:
                continue
            for offset in (0, highwater[tp] - 1):  # the first record, then the last
                consumer.assign([tp])
                consumer.seek(tp, offset)
                records: list[Any] = []
                deadline = time.monotonic() + 10
                while not records and time.monotonic() < deadline:
                    records = consumer.poll(timeout_ms=100, max_records=1).get(tp, [])
                if records and records[0].value is not None:  # not a note's tombstone
                    ends.setdefault(tp.partition, []).append(
                        (records[0].timestamp, orjson.loads(records[0].value)["o"]))
    finally:
        consumer.close()
    if not ends:
        print(f"    no changelog window: {topic} high watermarks {highwater}", flush=True)
        return {}
    for pairs in ends.values():
        pairs.sort()  # the first of both changelogs, then the last
    t_first = min(pairs[0][0] for pairs in ends.values())
    t_last = max(pairs[-1][0] for pairs in ends.values())
    events = sum(pairs[-1][1] - pairs[0][1] for pairs in ends.values())
    window = _window(events, _cpu_at(samples, t_first), _cpu_at(samples, t_last))
    return {"changelog": topic, "changelog_records": sum(highwater.values()), **window,
            "first_ms": t_first, "last_ms": t_last}


def read_result(path: Path, child: Child) -> dict[str, Any]:
    """What a consumer measured in its own process, from its first record to its last."""
    wait_for(path.exists, 30, f"{child.name}'s result in {path}", child)
    result: dict[str, Any] = orjson.loads(path.read_bytes())
    result["startup_s"] = (result.pop("first_wall_ms") - child.started_wall) / 1000
    result["events_per_s"] = result["events"] / result["seconds"]
    result["events_per_cpu_s"] = result["events"] / max(result["cpu_seconds"], 1e-9)
    return result


def worker_env(bootstrap: str, settings: Settings, policies: Path, clock: str,
               data_dir: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    return {**clean, "SLAWATCH_BROKER": bootstrap, "SLAWATCH_TOPIC_PREFIX": settings.topic_prefix,
            "SLAWATCH_PARTITIONS": str(settings.partitions), "SLAWATCH_APP_ID": settings.app_id,
            "SLAWATCH_POLICIES": str(policies), "SLAWATCH_BROKER_KIND": KIND["kind"],
            "SLAWATCH_CLOCK": clock, "SLAWATCH_DATA_DIR": str(data_dir)}


def bench_env(bootstrap: str, topic: str, group: str, partitions: int, expected: int,
              result: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "BENCH_BROKER": bootstrap, "BENCH_TOPIC": topic,
            "BENCH_APP_ID": group, "BENCH_GROUP": group, "BENCH_PARTITIONS": str(partitions),
            "BENCH_EXPECTED": str(expected), "BENCH_RESULT": str(result),
            "BENCH_DATA_DIR": str(data_dir), "BENCH_KIND": KIND["kind"], **extra}


def run_throughput(broker: EmbeddedBroker | KafkaBroker, settings: Settings,
                   ends: Mapping[int, int], tmp: Path, children: list[Child], profile: Path | None,
                   profile_events: int) -> dict[str, Any]:
    bootstrap, topic = broker.bootstrap, settings.topic("incidents")
    total = sum(ends.values())
    timeout_s = 120 + total / 200  # a worker under 200 events/s is broken, not slow
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="worker-bench-watch")
    tag = uuid.uuid4().hex[:6]
    outputs = [settings.topic(name) for name in ("breaches", "near-breaches", "outcomes",
                                                 "deadletter")]

    def worker_pass(name: str, app_id: str, argv: list[str], until: int | None = None,
                    stop_timeout_s: float = STOP_TIMEOUT_S, delivery: str = "BATCH"
                    ) -> tuple[dict[str, Any], ...]:
        wsettings = Settings.from_env({}, broker=bootstrap, topic_prefix=settings.topic_prefix,
                                      partitions=settings.partitions, app_id=app_id)
        before = highwaters(bootstrap, outputs, settings.partitions)
        broker_cpu = proc_cpu_s(broker.pid)
        env = worker_env(bootstrap, wsettings, HERE / "policies.yaml", "MANUAL",
                         tmp / f"{name}-data")
        env["SLAWATCH_DELIVERY"] = delivery
        child = Child(name, argv, env, LOGS / f"{name}.log", children)
        by_commits = watch_group(admin, app_id, topic, ends, child,
                                 timeout_s * (1 if until is None else 3), until)
        samples = by_commits["samples"]
        if until is None:  # CPU samples past the changelog's last record
            for _ in range(20):
                time.sleep(POLL_S)
                samples.append([time.time() * 1000, total, child.cpu_s() or samples[-1][2],
                                child.main_thread_cpu_s() or samples[-1][3]])
        by_commits["exit_code"] = child.stop(stop_timeout_s)
        dead = (highwaters(bootstrap, [settings.topic("deadletter")], settings.partitions)
                [settings.topic("deadletter")] - before[settings.topic("deadletter")])
        if dead > MAX_DEAD_LETTERS * total:  # the generator's malformed lines and duplicates
            raise BenchError(f"{name} sent {dead} of {total} events to the dead letters: it "
                             "would time the refusal path, not the detector")
        by_commits["broker_cpu_seconds_whole_pass"] = proc_cpu_s(broker.pid) - broker_cpu
        by_changelog = changelog_window(bootstrap, app_id, settings.partitions, samples)
        if by_changelog:
            by_changelog["startup_s"] = (by_changelog["first_ms"] - child.started_wall) / 1000
            by_changelog["peak_rss_mib"] = by_commits["peak_rss_mib"]
            # what it wrote: every record its own produce request (producer_max_batch_size=1)
            after = highwaters(bootstrap, outputs, settings.partitions)
            written = {t: after[t] - before[t] for t in outputs}
            written.update(highwaters(bootstrap, [f"{app_id}-{table}-changelog" for table in
                                                  ("incidents", "notes", "services",
                                                   "requests", "clocks")],
                                      settings.partitions))
            by_changelog["records_written"] = written
            by_changelog["records_written_per_event"] = sum(written.values()) / max(
                by_commits["first_commit"] + by_commits["events"], 1)
        return by_changelog, by_commits

    out: dict[str, Any] = {}
    try:
        app_id = f"wb-worker-{tag}"
        print(f"[a] slawatch worker (group {app_id}) ...", flush=True)
        out["worker"], out["worker_commits"] = worker_pass(
            "worker", app_id, [str(SLAWATCH), *WORKER_ARGS])
        _show_line("worker (changelog stamps)", out["worker"])
        print(f"    broker CPU over the whole pass: "
              f"{out['worker_commits']['broker_cpu_seconds_whole_pass']:.1f} s", flush=True)
        if out["worker"]:
            print(f"    worker wrote {out['worker']['records_written_per_event']:.2f} records "
                  f"per input event: {out['worker']['records_written']}", flush=True)
        _show_line("worker (commits)", out["worker_commits"])

        app_id = f"wb-stream-{tag}"
        print(f"[a2] slawatch worker on Faust's per-message path, SLAWATCH_DELIVERY=STREAM "
              f"(group {app_id}) ...", flush=True)
        out["worker_stream"], out["worker_stream_commits"] = worker_pass(
            "worker-stream", app_id, [str(SLAWATCH), *WORKER_ARGS], delivery="STREAM")
        _show_line("worker, stream delivery (changelog stamps)", out["worker_stream"])

        group = f"wb-noop-{tag}"
        result = tmp / "noop.json"
        print(f"[b] no-op Faust agent (group {group}) ...", flush=True)
        broker_cpu = proc_cpu_s(broker.pid)
        child = Child("noop", [sys.executable, str(HERE / "noop_agent.py"), "worker",
                               "--without-web", "--loglevel", "warn"],
                      bench_env(bootstrap, topic, group, settings.partitions, total, result,
                                tmp / "noop-data"), LOGS / "noop.log", children)
        out["noop_commits"] = watch_group(admin, group, topic, ends, child, timeout_s)
        out["noop"] = read_result(result, child)
        out["noop"]["peak_rss_mib"] = out["noop_commits"]["peak_rss_mib"]
        out["noop_commits"]["broker_cpu_seconds_whole_pass"] = proc_cpu_s(broker.pid) - broker_cpu
        child.stop()
        _show_line("no-op (in-process)", out["noop"])
        _show_line("no-op (commits)", out["noop_commits"])

        def loop_pass(name: str, what: str, work: str) -> None:
            """``bench/aiokafka_loop.py`` doing ``work`` (``BENCH_WORK``) in a group of its own."""
            group, result = f"wb-{name}-{tag}", tmp / f"{name}.json"
            print(f"{what} (group {group}) ...", flush=True)
            child = Child(name, [sys.executable, str(HERE / "aiokafka_loop.py")],
                          bench_env(bootstrap, topic, group, settings.partitions, total, result,
                                    tmp / f"{name}-data", BENCH_WORK=work,
                                    BENCH_OUTPUT=settings.topic("bench-out")),
                          LOGS / f"{name}.log", children)
            out[f"{name}_commits"] = watch_group(admin, group, topic, ends, child, timeout_s)
            out[name] = read_result(result, child)
            out[name]["peak_rss_mib"] = out[f"{name}_commits"]["peak_rss_mib"]
            child.stop()

        loop_pass("aiokafka", "[c] aiokafka loop", "echo")
        _show_line("aiokafka (in-process)", out["aiokafka"])
        _show_line("aiokafka (commits)", out["aiokafka_commits"])
        loop_pass("byhand", "[c2] the worker's work by hand on aiokafka, Shell.handle per record",
                  "shell")
        _show_line("by hand on aiokafka (in-process)", out["byhand"])

        if profile is not None:
            app_id = f"wb-profile-{tag}"
            until = min(total, profile_events)
            print(f"[profile] slawatch worker under cProfile in every thread, stopped after "
                  f"{until} events are committed (group {app_id}) ...", flush=True)
            out["worker_profiled"], out["worker_profiled_commits"] = worker_pass(
                "profile", app_id, [sys.executable, str(HERE / "profile_worker.py"),
                                    str(profile), *WORKER_ARGS], until, 120)
            if out["worker_profiled"]:
                _show_line("profiled worker (changelog stamps)", out["worker_profiled"])
    finally:
        admin.close()
    return out


def _show_line(name: str, r: Mapping[str, Any]) -> None:
    if not r:
        print(f"    {name}: no window", flush=True)
        return
    print(f"    {name}: {r['events']} events in {r['seconds']:.2f} s = "
          f"{fmt(r['events_per_s'])}/s, {fmt(r['events_per_cpu_s'])}/CPU-s "
          f"(start-up {r['startup_s']:.1f} s)", flush=True)


# ----------------------------------------------------------------------------- latency


class Receiver:
    """A kafka-python consumer in a thread, reading ``topics`` from their start and stamping
    each record with the wall clock when ``poll`` hands it over."""

    def __init__(self, bootstrap: str, topics: Iterable[str], partitions: int) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                      fetch_max_wait_ms=10, client_id="worker-bench-receiver")
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning()  # fresh topics: nothing before us
        self.first: dict[tuple[str, str, str], tuple[float, dict[str, Any]]] = {}
        self.count = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="receiver", daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                batches = self.consumer.poll(timeout_ms=100)
                received = time.time() * 1000
                for records in batches.values():
                    for r in records:
                        rec = orjson.loads(r.value)
                        key = (r.topic, rec.get("incident_id", ""), rec.get("kind", ""))
                        self.first.setdefault(key, (received, rec))
                        self.count += 1
        except Exception as exc:  # shown in the report; the waits then time out
            self.errors.append(repr(exc))

    def get(self, topic: str, incident_id: str, kind: str) -> tuple[float, dict[str, Any]] | None:
        return self.first.get((topic, incident_id, kind))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.consumer.close()


def percentiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pct(p: float) -> float:  # nearest rank
        return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]

    return {"n": len(ordered), "min_ms": ordered[0], "p50_ms": pct(50), "p90_ms": pct(90),
            "p99_ms": pct(99), "max_ms": ordered[-1], "mean_ms": statistics.fmean(ordered)}


class Load:
    """Live background traffic at ``rate`` incident events per second while the latency is
    measured: P3 incidents opened, updated twice and resolved (four events each, ``at`` the
    wall clock), sent in 10 ms steps from a thread of its own with a batching producer."""

    def __init__(self, bootstrap: str, topic: str, rate: float) -> None:
        self.topic, self.rate = topic, rate
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                      batch_size=256 * 1024)
        self.sent = 0
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-load", daemon=True)

    def start(self) -> Load:
        if self.rate > 0:
            self._thread.start()
        return self

    def _run(self) -> None:
        pending: list[tuple[int, str, str]] = []  # (due at event number, incident, type)
        opened = 0
        began = time.monotonic()
        step = 0
        while not self._stop.is_set():
            step += 1
            want = int(self.rate * step / 100)
            while self.sent < want:
                if pending and pending[0][0] <= self.sent:
                    _, iid, kind = heapq.heappop(pending)
                else:
                    iid, kind, opened = f"load-{opened}", "opened", opened + 1
                    for lag, later in ((500, "updated"), (1000, "updated"), (1500, "resolved")):
                        heapq.heappush(pending, (self.sent + lag, iid, later))
                event = {"event_id": f"{iid}-{kind}-{self.sent}", "incident_id": iid,
                         "type": kind, "at": format_instant(wall_ms())}
                if kind == "opened":
                    event.update(severity="P3", service="load", customer="bench")
                self.producer.send(self.topic, key=iid.encode(), value=orjson.dumps(event))
                self.sent += 1
            time.sleep(max(0.0, began + step / 100 - time.monotonic()))
        self.seconds = time.monotonic() - began

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.producer.flush()
        self.producer.close()
        return {"rate_asked": self.rate, "events_sent": self.sent,
                "rate_sent": self.sent / self.seconds if self.seconds else 0.0}


def run_latency(broker: EmbeddedBroker | KafkaBroker, partitions: int, tmp: Path,
                children: list[Child], silent: int, driven: int,
                load_rate: float = 0.0) -> dict[str, Any]:
    bootstrap = broker.bootstrap
    tag = uuid.uuid4().hex[:6]
    settings = Settings.from_env({}, broker=bootstrap, topic_prefix=f"wl{tag}",
                                 partitions=partitions, app_id=f"wl-worker-{tag}")
    create_topics(bootstrap, settings.topic_specs())
    policy = tmp / "latency_policies.yaml"
    policy.write_text(LATENCY_POLICY)
    breaches, outcomes = settings.topic("breaches"), settings.topic("outcomes")
    receiver = Receiver(bootstrap, [breaches, outcomes], partitions).start()
    producer = KafkaProducer(bootstrap_servers=bootstrap, **(
        EMBEDDED_KAFKA_PYTHON_PRODUCER_SETTINGS if KIND["kind"] == "TANSU" else {}))
    topic = settings.topic("incidents")

    def send(iid: str, kind: str, at: int, **extra: Any) -> None:
        event = {"event_id": f"{iid}-{kind}", "incident_id": iid, "type": kind,
                 "at": format_instant(at), **extra}
        producer.send(topic, key=iid.encode(), value=orjson.dumps(event))

    def opened(iid: str, at: int, severity: str) -> None:
        send(iid, "opened", at, severity=severity, service="api", customer="bench")

    out: dict[str, Any] = {"prefix": settings.topic_prefix}
    load: Load | None = None
    try:
        print(f"[latency] worker on the wall clock (group {settings.app_id}) ...", flush=True)
        child = Child("latency worker", [str(SLAWATCH), *WORKER_ARGS],
                      worker_env(bootstrap, settings, policy, "WALL", tmp / "latency-data"),
                      LOGS / "latency-worker.log", children)
        # warm-up: one outcome out means the worker has joined, recovered and is processing
        for p in range(partitions * 4):  # several keys, so every partition very likely has one
            now = wall_ms()
            opened(f"warm-{p}", now, "P3")
            send(f"warm-{p}", "resolved", now + 1)
        producer.flush()
        wait_for(lambda: receiver.get(outcomes, "warm-0", "outcome"), 120,
                 "the warm-up outcome", child)
        out["startup_s"] = time.perf_counter() - child.started
        time.sleep(1.0)  # the ticker runs once recovery completed; let it settle
        load = Load(bootstrap, topic, load_rate).start()
        if load_rate:
            print(f"    background load: {load_rate:,.0f} incident events/s", flush=True)
            time.sleep(3.0)  # the worker at its working point before anything is measured

        # silent deadlines: opened P1, nothing more; the breach is due 5 s later. The gaps are
        # random (0.1-0.4 s, 0.25 s on average): a fixed 0.25 s would lock the deadlines to one
        # phase of the worker's 0.25 s ticker and measure a single point of its distribution
        print(f"    {silent} silent P1 deadlines, one every 0.25 s on average ...", flush=True)
        deadlines: dict[str, int] = {}
        rng = random.Random(silent)
        due = time.monotonic()
        for i in range(silent):
            at = wall_ms()
            opened(f"silent-{i}", at, "P1")
            producer.flush()
            deadlines[f"silent-{i}"] = at + 5_000
            due += rng.uniform(0.1, 0.4)
            time.sleep(max(0.0, due - time.monotonic()))
        wait_for(lambda: all(receiver.get(breaches, iid, "breach") for iid in deadlines),
                 30, "every silent breach", child)
        lags, wrong_at, each = [], 0, []
        for iid, deadline in deadlines.items():
            got = receiver.get(breaches, iid, "breach")
            assert got is not None
            received, rec = got
            at = parse_instant(rec["at"])
            wrong_at += at != deadline
            lags.append(received - at)
            each.append({"incident_id": iid, "deadline_ms": at, "received_ms": received,
                         "detected_after_ms": parse_instant(rec["detected_at"]) - at})
        out["silent_deadline"] = {**percentiles(lags), "breach_at_not_deadline": wrong_at,
                                  "each": each}

        # event-driven: resolve incidents that are open; each publishes its outcomes at once
        print(f"    {driven} resolves of open incidents, one every 30 ms ...", flush=True)
        now = wall_ms()
        for i in range(driven):
            opened(f"driven-{i}", now, "P3")
        producer.flush()
        now = wall_ms()
        opened("sentinel", now, "P3")
        send("sentinel", "resolved", now + 1)
        producer.flush()
        wait_for(lambda: receiver.get(outcomes, "sentinel", "outcome"), 30,
                 "the sentinel outcome", child)
        time.sleep(0.5)
        sent: dict[str, float] = {}
        start = time.monotonic()
        for i in range(driven):
            iid = f"driven-{i}"
            sent[iid] = time.time() * 1000
            send(iid, "resolved", wall_ms())
            producer.flush()
            time.sleep(max(0.0, start + (i + 1) * 0.03 - time.monotonic()))
        wait_for(lambda: all(receiver.get(outcomes, iid, "outcome") for iid in sent), 30,
                 "every outcome", child)
        lags = []
        for iid, stamp in sent.items():
            got = receiver.get(outcomes, iid, "outcome")
            assert got is not None
            lags.append(got[0] - stamp)
        out["event_driven"] = {**percentiles(lags), "each_ms": lags}
        out["load"] = load.stop()
        if load_rate:
            print(f"    background load sent {out['load']['rate_sent']:,.0f} events/s",
                  flush=True)
        out["records_received"] = receiver.count
        out["receiver_errors"] = receiver.errors
        out["peak_rss_mib"] = child.peak_rss_mib()
        out["exit_code"] = child.stop()
    finally:
        if load is not None and "load" not in out:
            load.stop()
        receiver.close()
        producer.close()
    return out


# ----------------------------------------------------------------------------- report


def print_profile(path: Path, top: int = 25) -> str:
    """The top functions of the merged profile by cumulative and by total time, and each
    thread's share of the profiled time."""
    buffer = io.StringIO()
    stats = pstats.Stats(str(path), stream=buffer)
    stats.strip_dirs()
    for key in ("cumulative", "tottime"):
        buffer.write(f"\n=== top {top} by {key} (every thread merged) ===\n")
        stats.sort_stats(key).print_stats(top)
    threads = json.loads(path.with_name(f"{path.name}.threads.json").read_text())
    buffer.write("\n=== profiled time per thread ===\n")
    for entry in threads:
        one = pstats.Stats(entry["file"], stream=io.StringIO())
        total_tt, calls = vars(one)["total_tt"], vars(one)["total_calls"]
        buffer.write(f"{entry['thread']}: {total_tt:.2f} s in {calls} calls\n")
    for entry in threads[1:]:
        if "Consumer" in entry["thread"] or "Thread" in entry["thread"]:
            one = pstats.Stats(entry["file"], stream=buffer)
            one.strip_dirs()
            buffer.write(f"\n=== top 15 by tottime, thread {entry['thread']} ===\n")
            one.sort_stats("tottime").print_stats(15)
    text = buffer.getvalue()
    print(text)
    return text


def fmt(value: Any, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def report(results: dict[str, Any]) -> None:
    if "throughput" in results:
        report_throughput(results)
    lat = results.get("latency")
    if lat:
        report_latency(lat)
    for name, lat in results.items():
        if name.startswith("latency_at_"):
            print(f"\n-- under load: {lat['load']['rate_sent']:,.0f} events/s sent, "
                  f"{float(name[len('latency_at_'):]):.0%} of capacity --")
            report_latency(lat)


def report_throughput(results: dict[str, Any]) -> None:
    t = results["throughput"]
    load = results["preload"]
    code = results["config"]["code"]
    dirty = " + uncommitted changes to streams/" if code["streams_modified"] else ""
    print(f"\n== throughput: {load['events']} incident events pre-loaded, "
          f"{results['config']['partitions']} partition(s), {os.cpu_count()} CPUs; code "
          f"{(code['commit'] or '?')[:7]}{dirty} ==")
    print(f"{'consumer (how the window is timed)':40} {'events/s':>9} {'ev/CPU-s':>9} "
          f"{'window s':>8} {'CPU s':>7} {'main thr':>8} {'start s':>7} {'RSS MiB':>7}")
    rows = [("slawatch worker (changelog stamps)", "worker"),
            ("slawatch worker (commits)", "worker_commits"),
            ("worker, stream delivery (changelog st.)", "worker_stream"),
            ("no-op Faust agent (in-process)", "noop"),
            ("no-op Faust agent (commits)", "noop_commits"),
            ("aiokafka loop (in-process)", "aiokafka"),
            ("aiokafka loop (commits)", "aiokafka_commits"),
            ("worker's work by hand, aiokafka (in-proc.)", "byhand"),
            ("worker under cProfile (changelog stamps)", "worker_profiled")]
    for name, key in rows:
        r = t.get(key)
        if not r:
            continue
        share = r.get("main_thread_cpu_share")
        print(f"{name:40} {fmt(r['events_per_s']):>9} {fmt(r['events_per_cpu_s']):>9} "
              f"{fmt(r['seconds'], '.2f'):>8} {fmt(r['cpu_seconds'], '.2f'):>7} "
              f"{'-' if share is None else f'{share:.0%}':>8} "
              f"{fmt(r.get('startup_s'), '.1f'):>7} {fmt(r.get('peak_rss_mib'), '.0f'):>7}")
    for name, value in results["ratios"].items():
        print(f"  {name}: {fmt(value, '.1%')}")


def report_latency(lat: dict[str, Any]) -> None:
    print(f"\n== latency (worker on the wall clock: start-up {lat['startup_s']:.1f} s, "
          f"peak RSS {fmt(lat['peak_rss_mib'], '.0f')} MiB) ==")
    for name, target in (("silent_deadline", 1000), ("event_driven", 100)):
        r = lat[name]
        print(f"  {name:16} n={r['n']:<4} p50 {r['p50_ms']:7.1f} ms  p90 {r['p90_ms']:7.1f} "
              f"ms  p99 {r['p99_ms']:7.1f} ms  max {r['max_ms']:7.1f} ms  "
              f"(target p99 <= {target} ms)")
    if lat["silent_deadline"].get("breach_at_not_deadline"):
        print(f"  !! {lat['silent_deadline']['breach_at_not_deadline']} breaches had an "
              "`at` other than opened + 5 s")


def ratios(t: Mapping[str, Any]) -> dict[str, float | None]:
    """The worker against each baseline, each timed its most exact way (the worker by its
    changelog stamps, the others in-process), and by commits (the same way for all)."""

    def ratio(a: str, b: str, key: str = "events_per_s") -> float | None:
        x, y = (t.get(a) or {}).get(key), (t.get(b) or {}).get(key)
        return None if x is None or not y else float(x / y)

    return {"worker/stream delivery events per CPU-s": ratio("worker", "worker_stream",
                                                             "events_per_cpu_s"),
            "worker/no-op events/s": ratio("worker", "noop"),
            "worker/aiokafka events/s": ratio("worker", "aiokafka"),
            "worker/no-op events per CPU-s": ratio("worker", "noop", "events_per_cpu_s"),
            "worker/aiokafka events per CPU-s": ratio("worker", "aiokafka", "events_per_cpu_s"),
            "worker/by hand events per CPU-s": ratio("worker", "byhand", "events_per_cpu_s"),
            "worker/no-op events/s, both by commits": ratio("worker_commits", "noop_commits")}


# ----------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--broker", choices=("tansu", "kafka"), default="tansu",
                        help="the embedded Tansu (default) or Apache Kafka")
    parser.add_argument("--events", type=int, default=100_000,
                        help="incident events pre-loaded (default 100000)")
    parser.add_argument("--partitions", type=int, default=1,
                        help="partitions of every topic (default 1: figures per core)")
    parser.add_argument("--silent", type=int, default=40, help="silent P1 deadlines (40)")
    parser.add_argument("--driven", type=int, default=200, help="resolves of open incidents")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--load-shares", type=lambda text: [float(x) for x in text.split(",")],
                        default=[], metavar="S,S",
                        help="also measure the latency under live background traffic at these "
                             "shares of the worker's measured capacity (e.g. 0.5,0.8)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also run the worker under cProfile (every thread) and print the "
                             "top functions; profile in bench/out/worker.prof")
    parser.add_argument("--profile-events", type=int, default=20_000,
                        help="stop the profiled worker after this many (default 20000)")
    parser.add_argument("--single-record-batches", action="store_true",
                        help="pre-load with one record per batch (slow on Tansu: ~1k/s)")
    parser.add_argument("--worker-loglevel", metavar="L",
                        help="pass --loglevel L to slawatch worker (default: its own, warning)")
    parser.add_argument("--out", type=Path, help="default bench/out/worker_bench_<broker>.json")
    args = parser.parse_args()
    KIND["kind"] = args.broker.upper()
    args.out = args.out or OUT / f"worker_bench_{args.broker}.json"
    if args.worker_loglevel:
        WORKER_ARGS.extend(["--loglevel", args.worker_loglevel])
    LOGS.mkdir(parents=True, exist_ok=True)

    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_sigterm)
    children: list[Child] = []
    results: dict[str, Any] = {
        "config": {"broker": KIND["kind"], "events": args.events, "partitions": args.partitions,
                   "worker_args": WORKER_ARGS, "code": code_state(),
                   "cpus": os.cpu_count(), "python": sys.version.split()[0],
                   "started_at": format_instant(wall_ms())}}
    profile = OUT / "worker.prof" if args.profile else None
    began = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="slawatch-worker-bench-") as tmp_name:
            run(args, results, Path(tmp_name), children, profile)
    except KeyboardInterrupt as exc:
        results["error"] = f"interrupted ({str(exc) or 'Ctrl-C'})"
        print(f"\nworker_bench: {results['error']}; every child and the broker stopped",
              file=sys.stderr)
        return 130
    except Exception as exc:
        results["error"] = repr(exc)
        raise
    finally:
        results["total_s"] = time.perf_counter() - began
        args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2
                                          | orjson.OPT_NON_STR_KEYS))
    report(results)
    if profile is not None:
        text = print_profile(profile)
        (OUT / "worker_profile.txt").write_text(text)
    print(f"\nfigures in {args.out}; whole run {results['total_s']:.0f} s")
    return 0


def run(args: argparse.Namespace, results: dict[str, Any], tmp: Path, children: list[Child],
        profile: Path | None) -> None:
    """Everything on one broker; the children stop first (by PID), the broker last, however
    this ends."""
    with EmbeddedBroker() if KIND["kind"] == "TANSU" else KafkaBroker() as broker:
        try:
            print(f"{KIND['kind']} broker at {broker.bootstrap} (pid {broker.pid})", flush=True)
            settings = Settings.from_env({}, broker=broker.bootstrap,
                                         topic_prefix=f"wb{uuid.uuid4().hex[:6]}",
                                         partitions=args.partitions)
            create_topics(broker.bootstrap, [*settings.topic_specs(), TopicSpec(
                settings.topic("bench-out"), args.partitions)])
            if not args.skip_throughput:
                print(f"pre-loading {args.events} events to {settings.topic('incidents')} ...",
                      flush=True)
                load = preload(broker.bootstrap, settings.topic("incidents"), args.events,
                               args.single_record_batches)
                results["preload"] = load
                print(f"    {load['events']} events ({load['bytes'] / 2**20:.1f} MiB) in "
                      f"{load['produce_s']:.1f} s; end offsets {load['ends']} (fetch high "
                      f"watermark the same; ListOffsets says {load['list_offsets_latest']})",
                      flush=True)
                results["throughput"] = run_throughput(broker, settings, load["ends"], tmp,
                                                       children, profile, args.profile_events)
                results["ratios"] = ratios(results["throughput"])
            if not args.skip_latency:
                results["latency"] = run_latency(broker, args.partitions, tmp, children,
                                                 args.silent, args.driven)
            capacity = ((results.get("throughput") or {}).get("worker") or {}).get(
                "events_per_s")
            for share in args.load_shares:
                if not capacity:
                    raise BenchError("--load-shares needs the throughput pass's capacity")
                print(f"[latency at {share:.0%} of capacity ({capacity:,.0f} events/s)]",
                      flush=True)
                results[f"latency_at_{share:.2f}"] = run_latency(
                    broker, args.partitions, tmp, children, args.silent, args.driven,
                    share * capacity)
        finally:
            stop_all(children)


def stop_all(children: list[Child]) -> None:
    """Stop every child still running, newest first; another Ctrl-C or SIGTERM does not cut
    this short."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT,
                                                                     signal.SIGTERM)}
    try:
        for child in reversed(children):
            child.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
