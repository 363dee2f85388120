"""The hand-written baselines for ``worker_bench.py``: consume, decode, produce, commit; no Faust.

A consumer group member with manual commits reads ``BENCH_TOPIC`` in batches (``getmany``),
decodes each value with orjson, sends a small record per event to ``BENCH_OUTPUT`` without
waiting for its delivery, and every 0.5 s (Faust's commit interval on the embedded broker)
flushes the producer and commits. When it has consumed ``BENCH_EXPECTED`` records it flushes,
commits, leaves the group, writes the wall and CPU time between the first record and then to
``BENCH_RESULT`` and waits to be stopped (SIGTERM).

With ``BENCH_WORK=shell`` it does the worker's own work by hand instead of a small record: each
partition's fetched records through the product's ``Shell.handle`` (the bench policies, the
manual clock, tables as dicts), each table value the batch changed sent once and the batch's
alert records after them (all to ``BENCH_OUTPUT``, on the producer settings of the worker).
What the worker adds over it is Faust.

    BENCH_BROKER=127.0.0.1:PORT BENCH_TOPIC=prefix.incidents BENCH_OUTPUT=prefix.out \
    BENCH_GROUP=aiokafka-x BENCH_EXPECTED=100000 BENCH_RESULT=/tmp/aiokafka.json \
        python bench/aiokafka_loop.py
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

COMMIT_INTERVAL_S = 0.5


def shell_for(env: dict[str, str], consumer: AIOKafkaConsumer) -> Any:
    """The worker's ``Shell`` on the bench topic's settings, reading ``consumer``'s high
    watermarks (``shell_bench.shell``)."""
    from shell_bench import shell

    from streams.settings import Settings

    prefix = env["BENCH_TOPIC"].removesuffix(".incidents")
    settings = Settings.from_env({}, broker=env["BENCH_BROKER"], topic_prefix=prefix,
                                 clock="MANUAL", partitions=int(env["BENCH_PARTITIONS"]))
    return shell(0, settings, consumer.highwater)


async def shell_work(shell: Any, producer: AIOKafkaProducer, output: str, partition: int,
                     records: list[Any]) -> None:
    """One partition's fetched records as the worker's ``deliver`` and ``publish`` do them."""
    from streams.core.timefmt import format_instant

    dumps = orjson.dumps
    tables = shell.tables
    changed: dict[tuple[str, str], Any] = {}
    out: list[Any] = []
    shell.begin_batch(records[0].partition if records else None)
    for rec in records:
        got, writes = shell.handle(rec.topic, rec.partition, rec.offset, rec.key, rec.value,
                                   rec.timestamp or None)
        for table, key, value in writes:
            tables[table].data[key] = value
            changed[table, key] = value
        out += got
    shell.end_batch()
    for _, key, encoded in shell.encode(changed):
        await producer.send(output, encoded, key=dumps(key), partition=partition)
    stamp = format_instant(int(time.time() * 1000))
    for alert in out:
        alert["detected_at"] = stamp
        await producer.send(output, dumps(alert), key=alert["alert_id"].encode())


async def run(env: dict[str, str]) -> dict[str, float]:
    expected = int(env["BENCH_EXPECTED"])
    output = env["BENCH_OUTPUT"]
    consumer = AIOKafkaConsumer(
        env["BENCH_TOPIC"], bootstrap_servers=env["BENCH_BROKER"], group_id=env["BENCH_GROUP"],
        enable_auto_commit=False, auto_offset_reset="earliest", **(
            # the embedded broker holds a fetch for its whole wait, and takes short sessions
            {"fetch_max_wait_ms": 20, "session_timeout_ms": 4000, "heartbeat_interval_ms": 500}
            if env.get("BENCH_KIND", "TANSU") == "TANSU" else {}),
        max_poll_interval_ms=60_000)
    work = env.get("BENCH_WORK", "echo")
    producer = AIOKafkaProducer(bootstrap_servers=env["BENCH_BROKER"], **(
        {"linger_ms": 0} if work == "echo" else  # the worker's (``streams.worker.app``)
        {"linger_ms": 5, "max_batch_size": 512 * 1024}))
    await producer.start()
    await consumer.start()
    shell = shell_for(env, consumer) if work == "shell" else None
    n = 0
    wall0 = cpu0 = first_wall_ms = 0.0
    next_commit = 0.0
    try:
        while n < expected:
            batches = await consumer.getmany(timeout_ms=100, max_records=2000 if shell is None
                                             else 1000)  # the worker's batch
            for tp, records in batches.items():
                if records and n == 0:
                    wall0, cpu0 = time.perf_counter(), time.process_time()
                    first_wall_ms = time.time() * 1000
                    next_commit = wall0 + COMMIT_INTERVAL_S
                if shell is not None:
                    await shell_work(shell, producer, output, tp.partition, records)
                    n += len(records)
                    continue
                for rec in records:
                    n += 1
                    try:
                        obj = orjson.loads(rec.value)
                        out = {"event_id": obj["event_id"], "type": obj["type"], "ok": True}
                    except (orjson.JSONDecodeError, KeyError, TypeError):
                        out = {"offset": rec.offset, "ok": False}
                    await producer.send(output, orjson.dumps(out), key=rec.key)
            if n and time.perf_counter() >= next_commit:
                await producer.flush()
                await consumer.commit()
                next_commit = time.perf_counter() + COMMIT_INTERVAL_S
        await producer.flush()  # the last output delivered, then the last commit
        await consumer.commit()
        wall, cpu = time.perf_counter(), time.process_time()
    finally:
        await consumer.stop()
        await producer.stop()
    return {"events": n - 1, "seconds": wall - wall0, "cpu_seconds": cpu - cpu0,
            "cpu_total_seconds": cpu, "first_wall_ms": first_wall_ms}


def main() -> None:
    env = dict(os.environ)
    result = asyncio.run(run(env))
    Path(env["BENCH_RESULT"]).write_bytes(orjson.dumps(result))
    signal.pause()  # until the benchmark stops it, as it stops the other consumers


if __name__ == "__main__":
    main()
