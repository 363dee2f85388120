"""Replay benchmark: events/s and peak memory of ``slawatch replay`` against a minimal baseline.

Three workloads, each timed with its own baseline in the same run on the same file:
- incidents: >= 1M incident events over 100k incidents (``bench/generate.py``);
- heartbeats: >= 2M heartbeats of 10k services with outages (``bench/generate_heartbeats.py``);
- clocks: 1M incident events with a field visit per incident (``generate.py --milestones``: a
  ``dispatched`` and an ``on_site`` milestone), replayed twice: with ``policies.yaml`` (the two
  built-in clocks; the milestones change none) and with ``clock_policies.yaml`` (the same with two
  custom clocks, ``on_site`` and ``repair``, SPEC 4.1). The difference over the number of added
  clocks is the cost of one clock: per event, and as a share of the built-in run.

The baseline does the least any consumer must: orjson decode, timestamp parse (the same
``parse_instant``) and a dict update per event. Each run is a fresh process, so peak RSS is its
own. The replay writes its records to a file, as ``slawatch replay --output`` does.

    python bench/replay_bench.py                   # every workload; generates missing inputs
    python bench/replay_bench.py --workload incidents
    python bench/replay_bench.py --workload clocks
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

BASELINE = r"""
import resource, sys, time, orjson
from streams.core.timefmt import parse_instant
loads = orjson.loads
key = sys.argv[2]
state = {}
n = 0
t0 = time.perf_counter()
with open(sys.argv[1], "rb") as fh:
    for line in fh:
        try:
            obj = loads(line)
            state[obj[key]] = parse_instant(obj["at"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            pass
        n += 1
dt = time.perf_counter() - t0
peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(orjson.dumps({"events": n, "seconds": dt, "peak_rss_mb": peak_rss_mb}).decode())
"""

REPLAY = r"""
import io, resource, sys, time, orjson
from streams.core.policyfile import load_policy_file
from streams.replay import replay
policies = load_policy_file(sys.argv[2])
heartbeats = sys.argv[1] if sys.argv[4] == "heartbeats" else None
incidents = None if heartbeats else sys.argv[1]
t0 = time.perf_counter()
with open(sys.argv[3], "wb") as out:
    summary = replay(policies, incidents, heartbeats, None, out, io.StringIO())
dt = time.perf_counter() - t0
peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(orjson.dumps({"events": summary.events_read + summary.heartbeats_read, "seconds": dt,
                    "skipped": summary.skipped, "records": summary.records_written,
                    "standing": len(summary.standing), "peak_rss_mb": peak_rss_mb}).decode())
"""

WORKLOADS = {
    "incidents": ("incidents.jsonl", "policies.yaml", "incident_id", ["generate.py"]),
    "heartbeats": ("heartbeats.jsonl", "heartbeat_policies.yaml", "service",
                   ["generate_heartbeats.py"]),
    "clocks": ("incidents-milestones.jsonl", "clock_policies.yaml", "incident_id",
               ["generate.py", "--milestones"]),
}
#: clocks: the policies without the custom clocks, and how many clocks each policy adds
CLOCKS_WITHOUT, CLOCKS_ADDED = "policies.yaml", 2


def run(code: str, *args: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench(workload: str, repeat: int) -> None:
    data, policies, key, generator = WORKLOADS[workload]
    path = HERE / "out" / data
    if not path.exists():
        subprocess.run([sys.executable, str(HERE / generator[0]), *generator[1:],
                        "--out", str(path)], check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    output = HERE / "out" / f"replay-{workload}.jsonl"
    base = min((run(BASELINE, str(path), key) for _ in range(repeat)),
               key=lambda r: r["seconds"])
    rep = min((run(REPLAY, str(path), str(HERE / policies), str(output), workload)
               for _ in range(repeat)), key=lambda r: r["seconds"])
    base_rate = base["events"] / base["seconds"]
    rep_rate = rep["events"] / rep["seconds"]
    print(f"[{workload}] {path.name}: {base['events']:.0f} lines")
    print(f"  baseline (orjson decode + parse_instant + dict update): {base_rate:,.0f} events/s, "
          f"{base['seconds']:.2f} s, peak RSS {base['peak_rss_mb']:.0f} MiB")
    print(f"  replay (slawatch core, records to {output.name}): {rep_rate:,.0f} events/s, "
          f"{rep['seconds']:.2f} s, peak RSS {rep['peak_rss_mb']:.0f} MiB, "
          f"{rep['records']:.0f} records written, {rep['standing']:.0f} standing, "
          f"{rep['skipped']:.0f} skipped")
    print(f"  ratio replay/baseline: {rep_rate / base_rate:.0%}")
    if workload == "clocks":
        plain = min((run(REPLAY, str(path), str(HERE / CLOCKS_WITHOUT), str(output), workload)
                     for _ in range(repeat)), key=lambda r: r["seconds"])
        extra_s = (rep["seconds"] - plain["seconds"]) / CLOCKS_ADDED
        print(f"  the same without the custom clocks ({CLOCKS_WITHOUT}): "
              f"{plain['events'] / plain['seconds']:,.0f} events/s, {plain['seconds']:.2f} s, "
              f"peak RSS {plain['peak_rss_mb']:.0f} MiB, {plain['records']:.0f} records written")
        print(f"  cost of one custom clock: {extra_s:+.2f} s, "
              f"{extra_s / rep['events'] * 1e6:+.2f} us per event, "
              f"{extra_s / plain['seconds']:+.0%} of the built-in run "
              f"(+{CLOCKS_ADDED} clocks: {rep['seconds'] / plain['seconds'] - 1:+.0%}, "
              f"peak RSS {rep['peak_rss_mb'] - plain['peak_rss_mb']:+.0f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is kept")
    args = parser.parse_args()
    for workload in WORKLOADS if args.workload == "all" else [args.workload]:
        bench(workload, args.repeat)


if __name__ == "__main__":
    main()
