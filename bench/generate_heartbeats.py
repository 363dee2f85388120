"""Generate a heartbeat file for the availability benchmark.

Services heartbeat every 30 s (some with two instances); a share of them has outages: missed
heartbeats (a timeout gap) or ``down`` heartbeats, and a few report ``degraded``. Arrival is in time
order across services, as a bus delivers them.

    python bench/generate_heartbeats.py --services 10000 --heartbeats 2000000
"""

from __future__ import annotations

import argparse
import heapq
import random
from collections.abc import Iterator
from pathlib import Path

import orjson

from streams.core.timefmt import format_instant, parse_instant

SECOND = 1000


def service_beats(rng: random.Random, name: str, start: int, count: int
                  ) -> Iterator[tuple[int, bytes]]:
    instances = ["a", "b"] if rng.random() < 0.2 else [None]
    t = start + rng.randrange(30 * SECOND)
    outage_at = rng.randrange(count) if rng.random() < 0.3 else -1
    outage_len = rng.randrange(4, 240)  # heartbeats
    outage_kind = rng.choice(["silent", "down"])
    made = step = 0
    while made < count:
        step += 1
        for inst in instances:
            status = "up"
            if outage_at <= step < outage_at + outage_len:
                if outage_kind == "silent":
                    continue
                status = "down"
            elif rng.random() < 0.002:
                status = "degraded"
            beat = {"service": name, "at": format_instant(t), "status": status}
            if inst is not None:
                beat["instance"] = inst
            yield t, orjson.dumps(beat)
            made += 1
        t += 30 * SECOND


def generate(services: int, heartbeats: int, seed: int = 11) -> list[bytes]:
    rng = random.Random(seed)
    start = parse_instant("2027-03-01T00:00:00Z")
    per = heartbeats // services + 1
    names = [f"svc-{i:05d}" for i in range(services)]
    names[7] = "storage-0007"
    streams = [service_beats(random.Random(rng.random()), n, start, per) for n in names]
    merged = heapq.merge(*streams, key=lambda p: p[0])
    return [line for _, line in (next(merged) for _ in range(heartbeats))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--heartbeats", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", default="bench/out/heartbeats.jsonl")
    args = parser.parse_args()
    lines = generate(args.services, args.heartbeats, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_bytes(b"\n".join(lines) + b"\n")
    print(f"wrote {len(lines)} heartbeats of {args.services} services to {args.out}")


if __name__ == "__main__":
    main()
