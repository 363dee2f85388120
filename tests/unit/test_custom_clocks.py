"""Custom clocks (SPEC section 4.1): properties over generated clock definitions and incidents,
against the naive minute model of ``tests/support/clock_oracle`` (which shares no code with the
fold), and the invariants the issue names: each threshold fires at most once per clock, shuffled
arrival gives the same standing alerts, a clock never fires before it starts.

The generated policies hold the built-in clocks and one or two custom ones, with start, stop and
cancel conditions drawn from every event type a condition may name and three milestones (one of
which no clock names), pauses, on_reopen and a calendar of their own (the policy's or 24x7); the
incidents hold every event type, milestones too, in any arrival order.
"""

from __future__ import annotations

import random
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.timefmt import parse_instant
from tests.support.clock_oracle import RESOLUTION, RESPONSE, Policy, standing, start_instants
from tests.support.compare import compact
from tests.support.fold import fold
from tests.support.oracle import MIN, Cal
from tests.unit.test_incident_clocks import CALENDARS

BASE = parse_instant("2027-03-01T00:00:00Z")  # a Monday
ALWAYS = Cal(None)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CONDITIONS: list[Any] = ["acknowledged", "paused", "resumed", "resolved", "reopened", "closed",
                         "severity_changed", {"milestone": "dispatched"},
                         {"milestone": "on_site"}]
TYPES = ["acknowledged", "paused", "resumed", "resolved", "reopened", "closed",
         "severity_changed", "updated", "milestone", "milestone", "milestone"]
MILESTONES = ["dispatched", "on_site", "fixed"]  # "fixed": named by no clock
SEVERITIES = ["P1", "P2", "P3"]
#: more examples than the profile's default: a definition and the events that tell its
#: conditions apart (a cancel, then a stop) are drawn together less often than one alone
MORE = settings(max_examples=max(400, settings.default.max_examples))


@st.composite
def clock_specs(draw: st.DrawFn) -> dict[str, Any]:
    stop = draw(st.lists(st.sampled_from(CONDITIONS), min_size=1, max_size=3,
                         unique_by=lambda c: str(c)))
    return {"start": draw(st.sampled_from(["opened", "opened", *CONDITIONS])), "stop": stop,
            "cancel": draw(st.lists(st.sampled_from(CONDITIONS), max_size=2,
                                    unique_by=lambda c: str(c))),
            "pauses": draw(st.booleans()),
            "on_reopen": draw(st.sampled_from(["ignore", "resume"])),
            "calendar": draw(st.sampled_from([None, "24x7"]))}


@st.composite
def cases(draw: st.DrawFn) -> tuple[Policy, Cal, str, list[dict[str, Any]], int]:
    cal = draw(st.sampled_from(CALENDARS))
    customs = {f"c{i}": draw(clock_specs()) for i in range(draw(st.integers(1, 2)))}
    clocks = {"response": (RESPONSE, cal), "resolution": (RESOLUTION, cal)}
    clocks |= {name: (spec, ALWAYS if spec["calendar"] == "24x7" else cal)
               for name, spec in customs.items()}
    minutes = st.sampled_from([20, 40, 60, 120, 240])
    targets: dict[str, dict[str, int]] = {}
    for sev in ("P1", "P2", "*"):
        entry = {name: draw(minutes) for name in clocks if draw(st.integers(0, 3))}
        if entry:
            targets[sev] = entry
    if not targets:
        targets["*"] = {"response": 60}
    near = draw(st.lists(st.sampled_from([0.25, 0.5, 0.75, "10m", "30m"]), unique=True,
                         max_size=3))
    pol = Policy(clocks, targets, near)
    n = draw(st.integers(0, 14))
    at = draw(st.lists(st.integers(-30, 1500), min_size=n + 1, max_size=n + 1, unique=True))
    events = [{"event_id": "o", "incident_id": "I", "type": "opened", "at": BASE + at[0] * MIN,
               "severity": draw(st.sampled_from(SEVERITIES)), "service": "s", "customer": "c"}]
    for i, m in enumerate(at[1:]):
        kind = draw(st.sampled_from(TYPES))
        e: dict[str, Any] = {"event_id": f"e{i}", "incident_id": "I", "type": kind,
                             "at": BASE + m * MIN}
        if kind == "severity_changed":
            e["severity"] = draw(st.sampled_from(SEVERITIES))
        elif kind == "milestone":
            e["milestone"] = draw(st.sampled_from(MILESTONES))
        events.append(e)
    order = draw(st.permutations(range(len(events))))
    until = BASE + draw(st.integers(0, 2000)) * MIN
    return pol, cal, policy_yaml(pol, cal, customs), [events[i] for i in order], until


def policy_yaml(pol: Policy, cal: Cal, customs: dict[str, dict[str, Any]]) -> str:
    clocks = {name: {k: v for k, v in spec.items() if k != "calendar" or v is not None}
              for name, spec in customs.items()}
    doc: dict[str, Any] = {"policies": [{
        "id": "p", "match": {}, "near_breach": pol.near, "clocks": clocks,
        "incidents": {sev: {name: f"{m}m" for name, m in entry.items()}
                      for sev, entry in pol.targets.items()}}]}
    if cal.spans is not None:
        hours = {DAYS[d]: [f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}"
                           for s, e in spans]
                 for d, spans in enumerate(cal.spans) if spans}
        doc["calendars"] = {"c": {"timezone": "UTC", "hours": hours,
                                  "holidays": sorted(cal.holidays)}}
        doc["policies"][0]["calendar"] = "c"
    return yaml.safe_dump(doc)


def as_oracle(records: list[dict[str, Any]]) -> dict[tuple, dict]:
    out = {}
    for r in compact(records):
        val = {"at": parse_instant(r["at"]), "elapsed": r["elapsed_seconds"] / 60,
               "target": r["target_seconds"] / 60, "severity": r["severity"]}
        if r["kind"] == "outcome":
            key: tuple = ("outcome", r["metric"], None)
            val["met"] = r["met"]
        else:
            key = (r["kind"], r["metric"], r["threshold"])
        assert key not in out, f"two standing records for {key}"
        out[key] = val
    return out


@MORE
@given(cases())
def test_replay_equals_the_minute_model(case: tuple) -> None:
    pol, _, text, events, until = case
    clock = max(until, *(e["at"] for e in events))
    assert as_oracle(fold(text, incidents=events, until=until)) == standing(events, pol, clock)


@given(cases(), st.randoms(use_true_random=False))
def test_shuffled_arrival_gives_the_same_standing_records(case: tuple,
                                                          rnd: random.Random) -> None:
    _, _, text, events, until = case
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert as_oracle(fold(text, incidents=shuffled, until=until)) == as_oracle(
        fold(text, incidents=sorted(events, key=lambda e: e["at"]), until=until))


@given(cases())
def test_each_threshold_fires_at_most_once_per_clock(case: tuple) -> None:
    _, _, text, events, until = case
    records = fold(text, incidents=sorted(events, key=lambda e: e["at"]), until=until)
    alerts = [(r["metric"], r["threshold"]) for r in records
              if r["kind"] in ("breach", "near_breach")]
    assert len(alerts) == len(set(alerts)), "in time order nothing is retracted or fired twice"
    assert not any(r["kind"] == "retraction" for r in records)


@given(cases())
def test_a_clock_never_fires_before_it_starts(case: tuple) -> None:
    pol, _, text, events, until = case
    starts = {name: start_instants(events, spec) for name, (spec, _) in pol.clocks.items()}
    for r in compact(fold(text, incidents=events, until=until)):
        start = starts[r["metric"]]
        assert start is not None, f"{r['metric']} never started, yet {r['kind']} stands"
        assert parse_instant(r["at"]) >= start, f"{r['metric']} fired before it started: {r}"
