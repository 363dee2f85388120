"""Request objectives against a naive reference (``tests.support.requests_oracle``, which
recounts every period, slice and minute from scratch): in order, and with arrival shuffled
within ``lateness``, the standing records are the reference's (SPEC section 9: a pure function
of the applied records and the final clock)."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.policyfile import load_policies
from streams.core.requests.records import request_count
from streams.core.timefmt import MINUTE_MS, parse_instant
from tests.support.compare import compact
from tests.support.fold import fold
from tests.support.requests_oracle import project, reference

POLICY = """
calendars:
  kolkata: {timezone: Asia/Kolkata}
policies:
  - id: occ
    match: {service: api}
    requests:
      period: day
      lateness: 20m
      min_requests: 3
      maintenance: [{start: "2027-03-01T20:00:00Z", end: "2027-03-01T20:20:00Z"}]
      objectives:
        - id: ok
          sli: errors
          target: 90
          credits: [{below: 90, percent: 10}, {below: 80, percent: 25}]
          burn_rate: [{long: 30m, short: 5m, factor: 2}, {long: 10m, short: 2m, factor: 4}]
        - {id: fast, sli: latency, threshold: 300ms, target: 80,
           burn_rate: [{long: 20m, short: 5m, factor: 1}]}
  - id: ts
    match: {customer: acme}
    calendar: kolkata
    requests:
      period: day
      budgeting: timeslices
      slice: 5m
      slice_target: 80
      min_requests: 2
      lateness: 20m
      maintenance: [{start: "2027-03-01T21:02:00Z", end: "2027-03-01T21:13:00Z"}]
      objectives:
        - {id: ok, sli: errors, target: 99, near_breach: [0.5],
           credits: [{below: 98, percent: 10}],
           burn_rate: [{long: 30m, short: 10m, factor: 2}]}
        - {id: fast, sli: latency, threshold: 1s, target: 99}
"""
POLICIES = load_policies(POLICY)
#: slices that straddle whole minutes: a burn-rate minute must not count a slice judged after it
ODD_SLICES = load_policies(POLICY.replace("slice: 5m", "slice: 45s"))
T0 = parse_instant("2027-03-01T17:00:00Z")  # Kolkata's midnight at 18:30Z, UTC's at 00:00Z
LATENESS_MS = 20 * MINUTE_MS


@st.composite
def records(draw: Any) -> list[dict[str, Any]]:
    out = []
    for n in range(draw(st.integers(1, 45))):
        at = T0 + draw(st.integers(0, 16 * 60)) * 30_000 + draw(st.sampled_from([0, 0, 1, -1]))
        shape = draw(st.sampled_from(["errors", "buckets", "line"]))
        rec: dict[str, Any] = {"service": "api", "at": at, "event_id": f"r{n}"}
        if shape == "line":
            rec["duration_ms"] = draw(st.sampled_from([5, 299.5, 300, 301, 999, 1000, 4000]))
            rec["errors"] = draw(st.integers(0, 1))
        else:
            total = draw(st.integers(0, 12))
            rec["total"], rec["errors"] = total, draw(st.integers(0, total))
            if shape == "buckets":
                fast = draw(st.integers(0, total))
                rec["latency_le"] = {"300ms": fast, "1s": draw(st.integers(fast, total)),
                                     "+Inf": total}
        customer = draw(st.sampled_from([None, "acme", "acme", "other"]))
        if customer is not None:
            rec["customer"] = customer
        out.append(rec)
    return out


def shuffled(recs: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """An arrival order in which no record is late: each arrives by ``at + jitter`` with a
    jitter within lateness, so the clock (the greatest ``at`` so far) is never more than
    lateness past it."""
    rng = random.Random(seed)
    keyed = [(r["at"] + rng.randint(0, LATENESS_MS), i, r) for i, r in enumerate(recs)]
    return [r for _, _, r in sorted(keyed, key=lambda k: (k[0], k[1]))]


def check(arrival: list[dict[str, Any]], until: int, policies: Any = POLICIES) -> None:
    out = fold(policies, requests=arrival, until=until)
    assert [r for r in out if r["kind"] in ("invalid", "late")] == []
    applied = [request_count(r) for r in arrival]
    assert project(compact(out)) == project(reference(policies, applied, until))


@settings(max_examples=60, deadline=None)
@given(records(), st.integers(0, 2**32), st.integers(0, 20 * 60))
def test_shuffled_arrival_within_lateness_gives_the_reference(
        recs: list[dict[str, Any]], seed: int, tail_s: int) -> None:
    until = max(r["at"] for r in recs) + tail_s * 1000
    check(sorted(recs, key=lambda r: r["at"]), until)
    check(shuffled(recs, seed), until)


@settings(max_examples=40, deadline=None)
@given(records(), st.integers(0, 2**32))
def test_slices_across_minutes(recs: list[dict[str, Any]], seed: int) -> None:
    until = max(r["at"] for r in recs) + 600_000
    check(shuffled(recs, seed), until, ODD_SLICES)


def test_the_reference_sees_every_kind_of_record() -> None:
    """The property's inputs reach breaches, credit tiers, near-breaches, burn-rate episodes
    and outcomes of both budgeting methods (else it would compare empty sets)."""
    rng = random.Random(7)
    recs = [{"service": "api", "at": T0 + i * 60_000, "customer": "acme", "total": 10,
             "errors": rng.choice([0, 0, 6]), "latency_le": {"1s": rng.choice([10, 2])}}
            for i in range(8 * 60)]
    until = T0 + 8 * 3600_000
    found = reference(POLICIES, [request_count(r) for r in recs], until)
    kinds = {(r["policy_id"], r["kind"], r["metric"]) for r in found}
    assert kinds >= {("occ", "breach", "requests"), ("occ", "outcome", "requests"),
                     ("occ", "near_breach", "burn_rate"), ("ts", "near_breach", "requests"),
                     ("ts", "breach", "requests"), ("ts", "outcome", "requests"),
                     ("ts", "near_breach", "burn_rate")}, kinds
    check(shuffled(recs, 3), until)
