"""Generate a realistic incident event file for the replay benchmark.

Incidents open at random over a span of days, with a severity mix, acknowledgements (some late),
updates, severity changes, pauses, resolves, closes and reopens. Arrival is in time order with
a small share of late arrivals, duplicates and malformed lines, as a real bus delivers.

    python bench/generate.py --incidents 100000 --events 1000000 --out bench/out/incidents.jsonl

``--milestones`` adds a field visit to every incident (SPEC 4.1: a ``dispatched`` and an
``on_site`` milestone after the acknowledgement, in place of two of its updates), for the custom
clocks of ``bench/clock_policies.yaml``; without it the output is what it always was.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import orjson

from streams.core.timefmt import format_instant, parse_instant

MINUTE = 60_000
CUSTOMERS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka",
             "tyrell", "cyberdyne", "soylent", "oscorp"] + [f"cust-{i}" for i in range(40)]
SERVICES = ["payments", "mail", "dns", "auth", "storage", "search", "billing", "portal",
            "elevators", "api", "cdn", "queue"]
SEVERITIES = ["P1", "P2", "P3", "P4"]
SEV_WEIGHTS = [5, 20, 45, 30]
RESPONSE_MIN = {"P1": 15, "P2": 60, "P3": 240, "P4": 480}


def incident_events(
    rng: random.Random, n: int, start: int, span_ms: int, milestones: bool = False
) -> list[tuple[int, bytes]]:
    iid = f"INC-{n:07d}"
    sev = rng.choices(SEVERITIES, SEV_WEIGHTS)[0]
    opened = start + rng.randrange(span_ms)
    t = opened
    seq = 0
    out: list[tuple[int, bytes]] = []

    def emit(kind: str, at: int, **extra: object) -> None:
        nonlocal seq
        seq += 1
        ev = {"event_id": f"{iid}-{seq}", "incident_id": iid, "type": kind,
              "at": format_instant(at), **extra}
        out.append((at, orjson.dumps(ev)))

    emit("opened", t, severity=sev, service=rng.choice(SERVICES), customer=rng.choice(CUSTOMERS),
         attributes={"title": "elevator 3 stuck", "source": "monitoring"})
    target = RESPONSE_MIN[sev] * MINUTE
    t += int(target * rng.choice([0.2, 0.4, 0.6, 0.8, 0.95, 1.3, 2.0]))  # some acknowledged late
    emit("updated", t - MINUTE, attributes={"assignee": "oncall"})
    emit("acknowledged", t)
    if milestones:  # a crew dispatched, then on site (some late against a 2 h promise)
        emit("milestone", t + rng.randrange(1, 30) * MINUTE, milestone="dispatched")
        emit("milestone", t + rng.randrange(30, 180) * MINUTE, milestone="on_site")
    if rng.random() < 0.15:
        t += rng.randrange(5, 60) * MINUTE
        emit("severity_changed", t, severity=rng.choice(SEVERITIES))
    if rng.random() < 0.3:
        t += rng.randrange(10, 120) * MINUTE
        emit("paused", t)
        t += rng.randrange(30, 600) * MINUTE
        emit("resumed", t)
    while len(out) < 8:
        t += rng.randrange(5, 90) * MINUTE
        emit("updated", t, attributes={"note": "investigating"})
    t += rng.randrange(10, 600) * MINUTE
    emit("resolved", t)
    if rng.random() < 0.1:
        t += rng.randrange(10, 300) * MINUTE
        emit("reopened", t)
        t += rng.randrange(10, 300) * MINUTE
        emit("resolved", t)
    t += rng.randrange(60, 2000) * MINUTE
    emit("closed", t)
    return out


def generate(incidents: int, events: int, seed: int = 7, days: int = 60,
             start_at: str = "2027-01-04T00:00:00Z", milestones: bool = False) -> list[bytes]:
    rng = random.Random(seed)
    start = parse_instant(start_at)
    timed: list[tuple[int, bytes]] = []
    n = 0
    while n < incidents:
        timed.extend(incident_events(rng, n, start, days * 24 * 60 * MINUTE, milestones))
        n += 1
    # arrival: mostly in time order; 1 % arrive up to 30 minutes late
    arrival = []
    for at, line in timed:
        delay = rng.randrange(30 * MINUTE) if rng.random() < 0.01 else 0
        arrival.append((at + delay, line))
    arrival.sort(key=lambda p: p[0])
    lines = [line for _, line in arrival]
    # duplicates (0.2 %) and malformed lines (0.05 %) as a real bus delivers them
    extra = []
    for i in range(0, len(lines), 500):
        extra.append((i + 3, lines[i]))
    for i in range(0, len(lines), 2000):
        extra.append((i + 5, b'{"event_id": "broken", "incident_id": '))
    for pos, line in reversed(extra):
        lines.insert(pos, line)
    if len(lines) < events:
        raise SystemExit(f"only {len(lines)} events for {incidents} incidents; raise --incidents")
    return lines[:events]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="bench/out/incidents.jsonl")
    parser.add_argument("--milestones", action="store_true",
                        help="a dispatched and an on_site milestone per incident")
    args = parser.parse_args()
    lines = generate(args.incidents, args.events, args.seed, milestones=args.milestones)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_bytes(b"\n".join(lines) + b"\n")
    print(f"wrote {len(lines)} events over {args.incidents} incidents to {args.out}")


if __name__ == "__main__":
    main()
