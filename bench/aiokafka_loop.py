"""The hand-written baseline for ``worker_bench.py``: consume, decode, produce, commit; no Faust.

A consumer group member with manual commits reads ``BENCH_TOPIC`` in batches (``getmany``),
decodes each value with orjson, sends a small record per event to ``BENCH_OUTPUT`` without
waiting for its delivery, and every 0.5 s (Faust's commit interval on the embedded broker)
flushes the producer and commits. When it has consumed ``BENCH_EXPECTED`` records it flushes,
commits, leaves the group, writes the wall and CPU time between the first record and then to
``BENCH_RESULT`` and waits to be stopped (SIGTERM).

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

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

COMMIT_INTERVAL_S = 0.5


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
    producer = AIOKafkaProducer(bootstrap_servers=env["BENCH_BROKER"], linger_ms=0)
    await producer.start()
    await consumer.start()
    n = 0
    wall0 = cpu0 = first_wall_ms = 0.0
    next_commit = 0.0
    try:
        while n < expected:
            batches = await consumer.getmany(timeout_ms=100, max_records=2000)
            for records in batches.values():
                for rec in records:
                    if n == 0:
                        wall0, cpu0 = time.perf_counter(), time.process_time()
                        first_wall_ms = time.time() * 1000
                        next_commit = wall0 + COMMIT_INTERVAL_S
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
