"""Recovery benchmark: a restart with N open incidents, from the new worker's start to its first
alert, on a real broker.

1. A worker (``SLAWATCH_CLOCK=MANUAL``, the standard policy of the integration tests) takes N
   ``opened`` incidents over P partitions; nothing falls due (the manual clock does not move),
   so all N are open, and their values are in the incidents changelog. It stops (SIGTERM).
2. A second worker starts; a tick past every response deadline waits for it in the ticks topic.
   It reads the changelogs, rebuilds each partition's detector from them, takes the tick and
   publishes N response breaches (and as many resolution breaches). Measured: its start to
   "Worker ready" (the changelogs read), to its first breach received by a consumer, and to
   the last response breach; the changelog read and the rebuild
   as its log gives them; its peak RSS.

    .venv/bin/python bench/recovery_bench.py [--broker tansu|kafka] [--incidents N]

Figures are printed and written to ``bench/out/recovery_bench_<broker>.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, for tests
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.core.timefmt import format_instant, parse_instant  # noqa: E402
from tests.integration.harness import STANDARD, Deployment, Worker, broker_kind, wait_for  # noqa: E402
from tests.support.kafka import KafkaBroker  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
START = parse_instant("2027-04-01T00:00:00Z")


def load(dep: Deployment, incidents: int) -> dict[int, int]:
    """Produce ``incidents`` ``opened`` events in batches (fast); the end offset of each
    partition, from the delivery reports (ListOffsets on Tansu under-reports batched topics)."""
    producer = KafkaProducer(bootstrap_servers=dep.broker.bootstrap, linger_ms=5,
                             batch_size=256 * 1024)
    futures = []
    for i in range(incidents):
        iid = f"INC-R-{i:07d}"
        futures.append(producer.send(dep.topic("incidents"), key=iid.encode(), value=orjson.dumps({
            "event_id": f"{iid}-open", "incident_id": iid, "type": "opened",
            "at": format_instant(START + i), "severity": "P1", "customer": "acme",
            "service": f"svc-{i % 100}"})))
    producer.flush()
    ends: dict[int, int] = {}
    for future in futures:
        meta = future.get(timeout=30)
        ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    producer.close()
    return ends


def committed(dep: Deployment, ends: dict[int, int]) -> bool:
    """True when the workers' group committed every incident event sent."""
    consumer = KafkaConsumer(bootstrap_servers=dep.broker.bootstrap, enable_auto_commit=False,
                             group_id=dep.settings.app_id)
    try:
        topic = dep.topic("incidents")
        return all((consumer.committed(TopicPartition(topic, p)) or 0) >= end
                   for p, end in ends.items())
    finally:
        consumer.close()


def log_stamp(log: str, text: str) -> float | None:
    """The epoch seconds of the first log line holding ``text``."""
    for line in log.splitlines():
        if text in line:
            found = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]", line)
            if found:
                return datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return None


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(broker: Any, incidents: int, partitions: int, tmp: Path) -> dict[str, Any]:
    policy = tmp / "policies.yaml"
    policy.write_text(STANDARD)
    dep = Deployment(broker, policy, partitions=partitions)
    t0 = time.monotonic()
    ends = load(dep, incidents)
    load_s = time.monotonic() - t0
    first = Worker(dep, tmp, "first").start()
    try:
        wait_for(lambda: committed(dep, ends), 600, 1.0, "the first worker to take every incident")
    finally:
        first.stop(60)
    breaches = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                             fetch_max_wait_ms=20, enable_incremental_fetch_sessions=False)
    tps = [TopicPartition(dep.topic("breaches"), p) for p in range(partitions)]
    breaches.assign(tps)
    breaches.seek_to_beginning(*tps)
    again = Worker(dep, tmp, "again")
    started = time.time()
    again.start()
    dep.tick(format_instant(START + 86_400_000))  # every P1 response (15m) has passed
    first_at = last_at = None
    seen: set[str] = set()
    rss = 0.0
    deadline = time.monotonic() + 900
    while len(seen) < incidents and time.monotonic() < deadline:
        for batch in breaches.poll(timeout_ms=200).values():
            for record in batch:
                got = orjson.loads(record.value)
                if got["kind"] == "breach" and got["metric"] == "response":
                    seen.add(record.key)
                    last_at = time.time()
                    first_at = first_at or last_at
        if again.alive():
            rss = max(rss, peak_rss_mib(again.pid))
    log = again.log()
    again.stop(60)
    OUT.mkdir(exist_ok=True)
    (OUT / f"recovery_bench_{broker_kind(broker).lower()}.log").write_text(log)
    breaches.close()
    dep.close()
    ready = log_stamp(log, "Worker ready")
    restoring = log_stamp(log, "Restoring state from changelog topics")
    done = log_stamp(log, "Done reading from changelog topics")
    rebuilt = [float(s) for s in re.findall(r"rebuilt \d+ incidents.* in ([\d.]+) s", log)]
    return {
        "incidents": incidents, "partitions": partitions, "load_s": round(load_s, 2),
        "breaches": len(seen),
        "start_to_ready_s": None if ready is None else round(ready - started, 2),
        "changelog_read_s": None if None in (restoring, done) else round(done - restoring, 2),
        "rebuild_s": round(sum(rebuilt), 2),
        "start_to_first_alert_s": None if first_at is None else round(first_at - started, 2),
        "start_to_last_alert_s": None if last_at is None else round(last_at - started, 2),
        "peak_rss_mib": round(rss, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=("tansu", "kafka"), default="tansu")
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker: Any = EmbeddedBroker() if args.broker == "tansu" else KafkaBroker()
        with broker:
            result = run(broker, args.incidents, args.partitions, Path(tmp))
            Deployment.close_all()
    result["broker"] = args.broker
    for name, value in result.items():
        print(f"{name:>24}: {value}")
    OUT.mkdir(exist_ok=True)
    (OUT / f"recovery_bench_{args.broker}.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
