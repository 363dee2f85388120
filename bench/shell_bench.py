"""The worker's own work per event, without Faust or a broker: ``Shell.handle`` for each record
of batches of 1,000 (as batched delivery hands them), the table store writes, and the encoding
of what would be sent (each changed table value once per batch, each record). CPU per event and
changelog bytes per event, for three workloads:

- ``mix``: the worker benchmark's input (``bench/generate.py``: 100k events, ~10 per incident);
- ``long``: one incident opened, then 3,000 ``updated`` events;
- ``wide``: 3,000 incidents, each opened and updated once.

An incident's value that grows with its events makes ``long`` cost more per event and write
more bytes: each batch rewrites it whole. Each workload runs in batches of 1,000 (a backlog) and
of 1 (a live trickle, one record per fetch, where every event rewrites its incident's value).
The clock follows the watermark as in the live worker (the incidents topic behind, the others
read to their end). Figures are printed; nothing passes or fails.

    .venv/bin/python bench/shell_bench.py [--workload mix|long|wide|all] [--events N]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402

from streams.core.policyfile import load_policies  # noqa: E402
from streams.core.timefmt import format_instant, parse_instant  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.worker.app import GC_THRESHOLDS  # noqa: E402
from streams.worker.shell import TABLES, Shell  # noqa: E402

START = "2025-01-06T00:00:00Z"
BATCH = 1000


class Table:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def items(self) -> Any:
        return self.data.items()


def shell(total: int, settings: Settings | None = None,
          highwater: Callable[[Any], int | None] | None = None) -> Shell:
    """The worker's ``Shell`` without Faust, on the bench policies and the manual clock, its
    tables dicts: the incidents topic's high watermark is ``total`` (or ``highwater`` of it),
    the other inputs' 0 (empty)."""
    settings = settings or Settings.from_env({}, broker="127.0.0.1:9092", clock="MANUAL",
                                             partitions=1)
    policies = load_policies((HERE / "policies.yaml").read_text(), "policies.yaml")
    incidents = settings.topic("incidents")
    incidents_end = highwater or (lambda tp: total)
    app = SimpleNamespace(
        conf=SimpleNamespace(broker_session_timeout=60.0, broker_heartbeat_interval=3.0),
        consumer=SimpleNamespace(
            assignment=lambda: set(), _committed_offset={},
            highwater=lambda tp: incidents_end(tp) if tp.topic == incidents else 0),
        consumer_generation_id=1)
    s = Shell(app, settings, policies)  # type: ignore[arg-type]
    s.tables = {name: Table() for name in TABLES}
    return s


def one_incident(iid: str, updates: int, at: int, step_ms: int = 1000) -> list[bytes]:
    def ev(n: int, kind: str, **extra: Any) -> bytes:
        return orjson.dumps({"event_id": f"{iid}-{n}", "incident_id": iid, "type": kind,
                             "at": format_instant(at + n * step_ms), **extra})

    return [ev(0, "opened", severity="P3", service="api", customer="acme"),
            *(ev(n, "updated") for n in range(1, updates + 1))]


def workload(name: str, events: int) -> list[bytes]:
    start = parse_instant(START)
    if name == "mix":
        return generate(events // 10 + 1, events, start_at=START)
    if name == "long":
        return one_incident("long-0", 3000, start)
    opened = [one_incident(f"wide-{i}", 1, start + i * 1000, 3_000_000) for i in range(3000)]
    return [lines[0] for lines in opened] + [lines[1] for lines in opened]


def run(lines: list[bytes], batch: int = BATCH) -> dict[str, Any]:
    s = shell(len(lines))
    topic = s.incidents_topic
    keys = []
    for line in lines:
        try:
            keys.append(orjson.loads(line)["incident_id"].encode())
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            keys.append(None)
    dumps = orjson.dumps
    written = records = changelog_bytes = 0
    gc.collect()
    t0 = time.process_time()
    for start in range(0, len(lines), batch):
        changed: dict[tuple[str, str], Any] = {}
        out: list[Any] = []
        s.begin_batch(0)
        for offset in range(start, min(start + batch, len(lines))):
            recs, writes = s.handle(topic, 0, offset, keys[offset], lines[offset], None)
            for table, key, value in writes:
                if value is None:  # a tombstone
                    s.tables[table].data.pop(key, None)
                else:
                    s.tables[table].data[key] = value
                changed[table, key] = value
            out += recs
        s.end_batch()
        for _, key, encoded in s.encode(changed):
            changelog_bytes += len(dumps(key)) + (0 if encoded is None else len(encoded))
        written += len(changed)
        for rec in out:
            dumps(rec)
        records += len(out)
    cpu = time.process_time() - t0
    n = len(lines)
    return {"events": n, "cpu_s": cpu, "us_per_event": 1e6 * cpu / n,
            "events_per_cpu_s": n / cpu, "records": records, "changelog_writes": written,
            "changelog_bytes_per_event": changelog_bytes / n}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workload", choices=("mix", "long", "wide", "all"), default="all")
    parser.add_argument("--events", type=int, default=100_000, help="for mix (100000)")
    args = parser.parse_args()
    gc.set_threshold(*GC_THRESHOLDS)  # what the worker process runs with
    names = ("mix", "long", "wide") if args.workload == "all" else (args.workload,)
    for name in names:
        lines = workload(name, args.events)
        for batch in (BATCH, 1):
            r = run(lines, batch)
            print(f"{name:4} batches of {batch:>4}: {r['events']:>7,} events, "
                  f"{r['us_per_event']:6.1f} us/event ({r['events_per_cpu_s']:,.0f} per CPU-s), "
                  f"{r['records']:,} records, {r['changelog_writes']:,} changelog values, "
                  f"{r['changelog_bytes_per_event']:,.0f} changelog bytes per event", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
