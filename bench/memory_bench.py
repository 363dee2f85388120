"""Memory per open incident: the replay's detector and the worker's state, N open incidents each.

Each incident is ``opened`` (P3, the bench policies) and ``acknowledged``: its resolution clock
runs, so it stays open. Measured as the growth of the process's resident memory (VmRSS, after a
full collection) over the N incidents, divided by N:

- ``replay``: the core ``Detector`` that ``slawatch replay`` folds with (``on_event``);
- ``worker``: ``Shell.handle`` for each record, in batches of 1,000, with every table value it
  writes kept in a dict, as Faust's memory store keeps it (the detector and the table values;
  Faust's own per-process memory is not per incident and is left out).

    .venv/bin/python bench/memory_bench.py [--incidents N] [--part replay|worker|all]
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from shell_bench import shell  # noqa: E402

from streams.codec import decode_incident  # noqa: E402
from streams.core.detector import Detector  # noqa: E402
from streams.core.policyfile import load_policies  # noqa: E402
from tests.support.workloads import open_incidents  # noqa: E402


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def replay(incidents: int) -> dict[str, float]:
    policies = load_policies((HERE / "policies.yaml").read_text(), "policies.yaml")
    gc.collect()
    before = rss_bytes()
    t0 = time.process_time()
    det = Detector(policies)
    for _, raw in open_incidents(incidents):
        det.on_event(decode_incident(raw)[1])
    gc.collect()
    grown = rss_bytes() - before
    assert len(det.incidents) == incidents and all(
        not inc.finished() for inc in det.incidents.values()), "every incident open"
    return {"open": len(det.incidents), "bytes_per_incident": grown / incidents,
            "cpu_s": time.process_time() - t0}


def worker(incidents: int) -> dict[str, float]:
    s = shell(2 * incidents)
    topic = s.incidents_topic
    gc.collect()
    before = rss_bytes()
    t0 = time.process_time()
    changed: dict[tuple[str, str], Any] = {}
    s.begin_batch(0)
    for offset, (key, raw) in enumerate(open_incidents(incidents)):
        if offset % 1000 == 0:
            s.end_batch()
            s.encode(changed)  # the store keeps each value as its changelog does
            changed.clear()
            s.begin_batch(0)
        _, writes = s.handle(topic, 0, offset, key, raw, None)
        for table, name, value in writes:
            s.tables[table].data[name] = value
            changed[table, name] = value
    s.end_batch()
    s.encode(changed)
    gc.collect()
    grown = rss_bytes() - before
    det = s.parts[0].det
    assert len(det.incidents) == incidents, "every incident open"
    return {"open": len(det.incidents), "bytes_per_incident": grown / incidents,
            "table_values": len(s.tables["incidents"].data), "cpu_s": time.process_time() - t0}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--part", choices=("replay", "worker", "all"), default="all")
    args = parser.parse_args()
    if args.part == "all":  # each in a process of its own: memory freed by one is not reused
        return max(subprocess.run([sys.executable, __file__, "--part", part, "--incidents",
                                   str(args.incidents)], check=False).returncode
                   for part in ("replay", "worker"))
    got = {"replay": replay, "worker": worker}[args.part](args.incidents)
    print(f"{args.part:>6}: {got['open']:,} open incidents, "
          f"{got['bytes_per_incident']:,.0f} bytes per open incident "
          f"({got['cpu_s']:.1f} CPU-s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
