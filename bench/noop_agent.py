"""The framework's floor for ``worker_bench.py``: a Faust app whose one agent does nothing.

Configured like ``slawatch worker`` (the memory store, raw serializers, the worker's own
transport and fetch wait; on the embedded broker, ``BENCH_KIND=TANSU``, also
``EMBEDDED_FAUST_SETTINGS``), so the only difference from the worker is what the agent does with
each record. Run by the benchmark as

    BENCH_BROKER=127.0.0.1:PORT BENCH_TOPIC=prefix.incidents BENCH_APP_ID=noop-x \
    BENCH_PARTITIONS=1 BENCH_EXPECTED=100000 BENCH_RESULT=/tmp/noop.json \
        python bench/noop_agent.py worker --without-web --loglevel warn

When it has seen ``BENCH_EXPECTED`` records it writes, to ``BENCH_RESULT``, the wall and CPU time
(of the whole process, every thread) between the first record and the last, then goes on running
until it is stopped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import faust
import orjson

from streams.broker import EMBEDDED_FAUST_SETTINGS
from streams.worker.transport import FETCH_MAX_WAIT_MS, _App

env = os.environ
expected = int(env["BENCH_EXPECTED"])
result_path = Path(env["BENCH_RESULT"])

conf: dict[str, Any] = {
    "broker": f"kafka://{env['BENCH_BROKER']}",
    "store": "memory://",
    "datadir": env.get("BENCH_DATA_DIR", "noop-data"),
    "topic_partitions": int(env["BENCH_PARTITIONS"]),
    "key_serializer": "raw",
    "value_serializer": "raw",
    "web_enabled": False,
}
embedded = env.get("BENCH_KIND", "TANSU") == "TANSU"
if embedded:
    conf.update(EMBEDDED_FAUST_SETTINGS)
app = _App(env["BENCH_APP_ID"], **conf)
app.fetch_max_wait_ms = FETCH_MAX_WAIT_MS[embedded]
app.true_highwaters = embedded
source = app.topic(env["BENCH_TOPIC"], key_type=bytes, value_type=bytes, key_serializer="raw",
                   value_serializer="raw")
seen = {"n": 0, "wall0": 0.0, "cpu0": 0.0, "first_wall_ms": 0.0}


@app.agent(source, name="bench.noop", concurrency=1)
async def noop(stream: faust.StreamT[bytes]) -> None:
    async for _value in stream:
        seen["n"] += 1
        n = seen["n"]
        if n == 1:
            seen["wall0"], seen["cpu0"] = time.perf_counter(), time.process_time()
            seen["first_wall_ms"] = time.time() * 1000
        elif n == expected:
            wall, cpu = time.perf_counter(), time.process_time()
            result = {"events": n - 1, "seconds": wall - seen["wall0"],
                      "cpu_seconds": cpu - seen["cpu0"], "cpu_total_seconds": cpu,
                      "first_wall_ms": seen["first_wall_ms"]}
            result_path.write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    app.main()
