"""Backfill benchmark: ``slawatch replay --from-topics`` against a file replay of the same lines.

One embedded broker (Tansu, 127.0.0.1). The incident events of ``bench/generate.py`` and the
heartbeats of ``bench/generate_heartbeats.py`` are written to two files and produced, keyed by
``incident_id`` / ``service`` with the record timestamp set to the event's ``at``, to the input
topics of a fresh prefix (``--partitions`` each). Then, each in a fresh process (so its peak RSS
is its own), the file replay and the backfill run to /dev/null; events/s is over the wall time
of the whole run, start-up and connection included.

    .venv/bin/python bench/backfill_bench.py [--events N] [--heartbeats N] [--partitions P]

Figures are printed and written to ``bench/out/backfill_bench.json``; nothing passes or fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from generate import generate as generate_incidents  # noqa: E402
from generate_heartbeats import generate as generate_heartbeats  # noqa: E402

from streams.admin import create_topics  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.core.errors import SlawatchError  # noqa: E402
from streams.core.timefmt import parse_instant  # noqa: E402
from streams.settings import Settings  # noqa: E402

RUN = r"""
import sys, time
from streams.cli import main
started = time.perf_counter()
code = main(sys.argv[1:])
elapsed = time.perf_counter() - started
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec
rss = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")) / 1024
print(f"RESULT {elapsed} {rss} {code}", file=sys.stderr)
"""


def combined_policies() -> dict[str, Any]:
    """The replay benchmark's incident policies, with the heartbeat benchmark's default SLO on
    the policy that matches everything: one file judges both inputs."""
    doc = yaml.safe_load((HERE / "policies.yaml").read_text())
    slo = yaml.safe_load((HERE / "heartbeat_policies.yaml").read_text())
    default = next(p for p in slo["policies"] if p["match"] == {})
    catch_all = next(p for p in doc["policies"] if p.get("match") == {})
    catch_all["availability"] = default["availability"]
    return dict(doc)


def load(settings: Settings, lines: list[bytes], topic: str, key_field: str) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5,
                             batch_size=256 * 1024)
    for line in lines:
        try:  # the generators write some bad lines on purpose: they go as they are
            obj = orjson.loads(line)
            key, stamp = str(obj[key_field]).encode(), parse_instant(obj["at"])
        except (orjson.JSONDecodeError, KeyError, SlawatchError):
            key, stamp = None, None
        producer.send(settings.topic(topic), key=key, value=line, timestamp_ms=stamp)
    producer.flush(timeout=600)
    producer.close()


def timed(args: list[str], env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", RUN, *args], cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    line = next(x for x in done.stderr.splitlines() if x.startswith("RESULT "))
    elapsed, rss, code = line.split()[1:]
    assert code == "0", done.stderr[-2000:]
    return {"seconds": float(elapsed), "peak_rss_mib": float(rss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=60_000, help="incident events (60,000)")
    parser.add_argument("--heartbeats", type=int, default=60_000, help="heartbeats (60,000)")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    incidents = generate_incidents(max(args.events // 10, 1), args.events)
    beats = generate_heartbeats(max(args.heartbeats // 200, 1), args.heartbeats)
    files = {"incidents": OUT / "backfill-incidents.jsonl",
             "heartbeats": OUT / "backfill-heartbeats.jsonl"}
    files["incidents"].write_bytes(b"\n".join(incidents) + b"\n")
    files["heartbeats"].write_bytes(b"\n".join(beats) + b"\n")
    policies = OUT / "backfill-policies.yaml"
    policies.write_text(yaml.safe_dump(combined_policies()))
    total = len(incidents) + len(beats)
    with EmbeddedBroker() as broker:
        settings = Settings.from_env({}, broker=broker.bootstrap, partitions=args.partitions,
                                     topic_prefix=f"bf{uuid.uuid4().hex[:8]}")
        create_topics(broker.bootstrap, settings.topic_specs())
        started = time.perf_counter()
        load(settings, incidents, "incidents", "incident_id")
        load(settings, beats, "heartbeats", "service")
        print(f"loaded {total:,} records in {time.perf_counter() - started:.1f} s")
        env = {"PATH": "/usr/bin:/bin", **settings.environment()}
        runs = {
            "file replay": timed(["replay", "--policies", str(policies), "--incidents",
                                  str(files["incidents"]), "--heartbeats",
                                  str(files["heartbeats"]), "--output", "/dev/null"], env),
            "backfill": timed(["replay", "--policies", str(policies), "--from-topics",
                               "--output", "/dev/null"], env),
        }
    results = {"events": total, "partitions": args.partitions, "runs": runs}
    for name, run in runs.items():
        run["events_per_s"] = total / run["seconds"]
        print(f"{name:12} {run['seconds']:6.2f} s  {run['events_per_s']:9,.0f} events/s  "
              f"peak RSS {run['peak_rss_mib']:.0f} MiB")
    (OUT / "backfill_bench.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
