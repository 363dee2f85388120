"""Replay benchmark: events/s and peak memory of ``slawatch replay`` against a minimal baseline.

The baseline reads the same file and does the least any consumer must: orjson decode, timestamp
parse (the same ``parse_instant``) and a dict update per event. Each run is a fresh process, so
peak RSS is its own. The replay writes its records to a file, as ``slawatch replay --output``.

    python bench/replay_bench.py                 # generates bench/out/incidents.jsonl if missing
    python bench/replay_bench.py --file F --policies P
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
state = {}
n = 0
t0 = time.perf_counter()
with open(sys.argv[1], "rb") as fh:
    for line in fh:
        try:
            obj = loads(line)
            state[obj["incident_id"]] = parse_instant(obj["at"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            pass
        n += 1
dt = time.perf_counter() - t0
peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(orjson.dumps({"events": n, "seconds": dt, "peak_rss_mb": peak_rss_mb}).decode())
"""

REPLAY = r"""
import io, resource, sys, time, orjson
from streams.core.policy import load_policy_file
from streams.replay import replay
policies = load_policy_file(sys.argv[2])
t0 = time.perf_counter()
with open(sys.argv[3], "wb") as out:
    summary = replay(policies, sys.argv[1], None, None, out, io.StringIO())
dt = time.perf_counter() - t0
peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(orjson.dumps({"events": summary.events_read, "seconds": dt, "skipped": summary.skipped,
                    "records": summary.records_written, "standing": len(summary.standing),
                    "peak_rss_mb": peak_rss_mb}).decode())
"""


def run(code: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=str(HERE / "out" / "incidents.jsonl"))
    parser.add_argument("--policies", default=str(HERE / "policies.yaml"))
    parser.add_argument("--output", default=str(HERE / "out" / "replay-records.jsonl"))
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is kept")
    args = parser.parse_args()
    if not Path(args.file).exists():
        subprocess.run([sys.executable, str(HERE / "generate.py"), "--out", args.file], check=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    base = min((run(BASELINE, args.file) for _ in range(args.repeat)), key=lambda r: r["seconds"])
    rep = min((run(REPLAY, args.file, args.policies, args.output) for _ in range(args.repeat)),
              key=lambda r: r["seconds"])
    base_rate = base["events"] / base["seconds"]
    rep_rate = rep["events"] / rep["seconds"]
    print(f"file: {args.file} ({base['events']} events)")
    print(f"baseline (orjson decode + parse_instant + dict update): {base_rate:,.0f} events/s, "
          f"{base['seconds']:.2f} s, peak RSS {base['peak_rss_mb']:.0f} MiB")
    print(f"replay (slawatch core, records to {args.output}): {rep_rate:,.0f} events/s, "
          f"{rep['seconds']:.2f} s, peak RSS {rep['peak_rss_mb']:.0f} MiB, "
          f"{rep['records']} records written, {rep['standing']} standing, {rep['skipped']} skipped")
    print(f"ratio replay/baseline: {rep_rate / base_rate:.0%}")


if __name__ == "__main__":
    main()
