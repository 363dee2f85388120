"""Request-objective benchmark: records/s of ``slawatch replay --requests`` against a minimal
baseline, and memory per (service, objective).

The workload is per-minute aggregates (what an OpenTelemetry Collector's ``cumulativetodelta``
sends): ``--services`` services for ``--days`` days, each minute one record with ``total``,
``errors`` and ``latency_le`` buckets; a share of the services has a burst of errors and of slow
requests. Every service is judged by three objectives: errors and latency with occurrences and
the default burn-rate rules, and errors with one-minute timeslices (burn rates too).

- throughput: a fresh process replays the file (records to a file, as ``--output`` does), another
  runs the baseline on the same file (orjson decode, ``parse_instant``, one dict update a line);
- memory: in-process, ``tracemalloc`` of the detector's state after the run, divided by the
  (service, objective) folds it holds (counters of the current periods, the slices within
  ``lateness`` and the minutes of the longest burn window).

    python bench/requests_bench.py                       # 200 services x 1 day
    python bench/requests_bench.py --services 1000 --days 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tracemalloc
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from streams.core.detector import Detector  # noqa: E402
from streams.core.policyfile import load_policies  # noqa: E402
from streams.core.requests.records import request_count  # noqa: E402
from streams.core.timefmt import format_instant, parse_instant  # noqa: E402

POLICY = """
policies:
  - id: occurrences
    match: {}
    requests:
      period: month
      objectives:
        - {id: success, sli: errors, target: 99.9, burn_rate: default,
           credits: [{below: 99.9, percent: 10}, {below: 99, percent: 25}]}
        - {id: fast, sli: latency, threshold: 300ms, target: 99, burn_rate: default}
  - id: slices
    match: {customer: acme}
    requests:
      period: month
      budgeting: timeslices
      slice: 1m
      objectives:
        - {id: success, sli: errors, target: 99, near_breach: [0.5, 0.9], burn_rate: default}
"""

BASELINE = r"""
import resource, sys, time, orjson
from streams.core.timefmt import parse_instant
loads = orjson.loads
state = {}
n = 0
t0 = time.perf_counter()
with open(sys.argv[1], "rb") as fh:
    for line in fh:
        obj = loads(line)
        state[obj["service"]] = parse_instant(obj["at"])
        n += 1
dt = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(orjson.dumps({"events": n, "seconds": dt, "peak_rss_mb": rss}).decode())
"""

REPLAY = r"""
import io, resource, sys, time, orjson
from streams.core.policyfile import load_policy_file
from streams.replay import replay
policies = load_policy_file(sys.argv[2])
t0 = time.perf_counter()
with open(sys.argv[3], "wb") as out:
    summary = replay(policies, None, None, None, out, io.StringIO(), requests=sys.argv[1])
dt = time.perf_counter() - t0
print(orjson.dumps({"events": summary.requests_read, "seconds": dt, "skipped": summary.skipped,
                    "records": summary.records_written, "standing": len(summary.standing),
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
                   ).decode())
"""


def generate(path: Path, services: int, days: int, seed: int = 1) -> int:
    """Per-minute aggregates in time order; returns how many."""
    rng = random.Random(seed)
    start = parse_instant("2027-03-01T00:00:00Z")
    bursts = {s: rng.randrange(days * 1440) for s in range(services) if rng.random() < 0.1}
    n = 0
    with path.open("wb") as fh:
        for minute in range(1, days * 1440 + 1):
            at = format_instant(start + minute * 60_000)
            for s in range(services):
                total = rng.randrange(500, 1500)
                burst = s in bursts and bursts[s] <= minute < bursts[s] + 20
                errors = rng.randrange(total // 4) if burst else rng.randrange(2)
                fast = total - (rng.randrange(total // 3) if burst else rng.randrange(5))
                rec = {"service": f"svc-{s:05d}", "at": at, "total": total, "errors": errors,
                       "latency_le": {"100ms": fast // 2, "300ms": fast, "+Inf": total}}
                if s % 2 == 0:
                    rec["customer"] = "acme"
                fh.write(orjson.dumps(rec) + b"\n")
                n += 1
    return n


def run(code: str, *args: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def memory(path: Path) -> tuple[float, int]:
    """Bytes of detector state per (service, objective) fold after the whole file."""
    policies = load_policies(POLICY)
    tracemalloc.start()
    det = Detector(policies)
    before = tracemalloc.get_traced_memory()[0]
    with path.open("rb") as fh:
        for line in fh:
            det.on_event(request_count(orjson.loads(line)))
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    folds = sum(len(s.folds) for s in det.requests.services.values())
    return used / folds, folds


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--days", type=int, default=1)
    args = parser.parse_args()
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    data = out / f"requests-{args.services}x{args.days}d.jsonl"
    policy = out / "requests-policies.yaml"
    policy.write_text(POLICY)
    lines = generate(data, args.services, args.days)
    base = run(BASELINE, str(data))
    rep = run(REPLAY, str(data), str(policy), str(out / "replay-requests.jsonl"))
    per_fold, folds = memory(data)
    base_rate, rep_rate = base["events"] / base["seconds"], rep["events"] / rep["seconds"]
    print(f"{data.name}: {lines:,} per-minute aggregates, {args.services} services, "
          f"{args.days} day(s), {folds} (service, objective) folds")
    print(f"  baseline (orjson decode + parse_instant + dict update): {base_rate:,.0f} records/s")
    print(f"  replay --requests: {rep_rate:,.0f} records/s, {rep['seconds']:.1f} s, peak RSS "
          f"{rep['peak_rss_mb']:.0f} MiB, {rep['records']:.0f} records written, "
          f"{rep['standing']:.0f} standing (ratio to baseline {rep_rate / base_rate:.0%})")
    print(f"  memory: {per_fold / 1024:,.1f} KiB per (service, objective) after the run")


if __name__ == "__main__":
    main()
