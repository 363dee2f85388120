"""Incident clocks (SPEC section 4): worked cases, and properties against a naive minute model.

The property tests generate incidents (whole-minute events, UTC calendars), replay them through
``slawatch replay``'s code path, and compare the standing records with ``tests/support/oracle``,
which steps through time one minute at a time. They also check that shuffling the arrival order of
events with distinct ``at`` changes nothing, and that no threshold fires twice.
"""

from __future__ import annotations

import random
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from streams.core.timefmt import format_instant, parse_instant
from tests.support.compare import compact
from tests.support.fold import fold
from tests.support.oracle import MIN, Cal, Pol, standing

BASE = parse_instant("2027-03-01T00:00:00Z")  # a Monday
METRIC = {"response": 0, "resolution": 1}


def run(policy_yaml: str, events: list[dict[str, Any]], until: int) -> list[dict[str, Any]]:
    return fold(policy_yaml, incidents=events, until=until)


def policy_yaml(pol: Pol, cal: Cal) -> str:
    doc: dict[str, Any] = {"policies": [{
        "id": "p", "match": {}, "near_breach": pol.near,
        "incidents": {sev: {k: f"{v}m"
                            for k, v in zip(("response", "resolution"), pair, strict=True)
                            if v is not None} for sev, pair in pol.targets.items()},
    }]}
    if cal.spans is not None:
        days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        hours = {days[d]: [f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}"
                           for s, e in spans]
                 for d, spans in enumerate(cal.spans) if spans}
        doc["calendars"] = {"c": {"timezone": "UTC", "hours": hours,
                                  "holidays": sorted(cal.holidays)}}
        doc["policies"][0]["calendar"] = "c"
    return yaml.safe_dump(doc)


def as_oracle(records: list[dict[str, Any]]) -> dict[tuple, dict]:
    out = {}
    for r in compact(records):
        if r["kind"] == "outcome":
            key = ("outcome", METRIC[r["metric"]], None)
            val = {"at": parse_instant(r["at"]), "elapsed": r["elapsed_seconds"] / 60,
                   "target": r["target_seconds"] / 60, "severity": r["severity"], "met": r["met"]}
        else:
            key = (r["kind"], METRIC[r["metric"]], r["threshold"])
            val = {"at": parse_instant(r["at"]), "elapsed": r["elapsed_seconds"] / 60,
                   "target": r["target_seconds"] / 60, "severity": r["severity"]}
        assert key not in out, f"two standing records for {key}"
        out[key] = val
    return out


# ----------------------------------------------------------------------------- worked cases


POLICY = """
policies:
  - id: std
    match: {}
    near_breach: [0.5, "5m"]
    incidents:
      P1: {response: 20m, resolution: 60m}
      P2: {response: 60m, resolution: 240m}
"""


def ev(n: int, kind: str, minute: int, **extra: Any) -> dict[str, Any]:
    return {"event_id": f"e{n}", "incident_id": "I", "type": kind,
            "at": format_instant(BASE + minute * MIN), **extra}


OPEN = ev(0, "opened", 0, severity="P1", service="s", customer="c")


def standing_of(events: list[dict[str, Any]], until_min: int) -> dict[tuple, dict]:
    return as_oracle(run(POLICY, events, BASE + until_min * MIN))


def test_ack_exactly_at_the_deadline_meets_it() -> None:
    got = standing_of([OPEN, ev(1, "acknowledged", 20)], 30)
    assert ("breach", 0, 1.0) not in got
    assert got[("outcome", 0, None)]["met"] is True
    assert got[("near_breach", 0, "5m")]["at"] == BASE + 15 * MIN


def test_threshold_reached_at_a_pause_fires_when_resumed() -> None:
    got = standing_of([OPEN, ev(1, "acknowledged", 1), ev(2, "paused", 30),
                       ev(3, "resumed", 50)], 55)
    assert got[("near_breach", 1, 0.5)]["at"] == BASE + 50 * MIN


def test_severity_upgrade_fires_reached_thresholds_at_the_change() -> None:
    p2 = dict(OPEN, severity="P2")
    got = standing_of([p2, ev(1, "acknowledged", 40),
                       ev(2, "severity_changed", 45, severity="P1")], 300)
    # resolution ran 45 min under P2 (240 m target): the P1 target (60 m) makes 0.5 (30 m) due
    # at once
    assert got[("near_breach", 1, 0.5)] == {"at": BASE + 45 * MIN, "elapsed": 45, "target": 60,
                                            "severity": "P1"}
    assert got[("breach", 1, 1.0)]["at"] == BASE + 60 * MIN
    # the response clock had stopped at 40 min under P2: final, judged by P2
    assert got[("outcome", 0, None)]["target"] == 60 and got[("outcome", 0, None)]["met"] is True


def test_reopen_keeps_elapsed_and_does_not_refire() -> None:
    got = standing_of([OPEN, ev(1, "acknowledged", 5), ev(2, "resolved", 40),
                       ev(3, "reopened", 100), ev(4, "resolved", 130)], 200)
    assert got[("near_breach", 1, 0.5)]["at"] == BASE + 30 * MIN  # fired once, before the resolve
    assert got[("breach", 1, 1.0)]["at"] == BASE + 120 * MIN  # 40 + 20 minutes after the reopen
    assert got[("outcome", 1, None)] == {"at": BASE + 130 * MIN, "elapsed": 70, "target": 60,
                                         "severity": "P1", "met": False}


def test_events_before_the_opened_are_held_and_earlier_ones_ignored() -> None:
    early_ack = ev(1, "acknowledged", -5)
    late_opened = OPEN
    got = standing_of([early_ack, ev(2, "resolved", 10), late_opened], 60)
    # the ack before opened changed nothing
    assert got[("outcome", 0, None)]["at"] == BASE + 10 * MIN


def test_late_acknowledgement_retracts_the_breach() -> None:
    records = run(POLICY, [OPEN, ev(1, "paused", 30), ev(2, "acknowledged", 10)], BASE + 40 * MIN)
    kinds = [(r["kind"], r.get("retracts")) for r in records]
    assert ("breach", None) in kinds and ("retraction", "breach") in kinds
    got = as_oracle(records)
    assert ("breach", 0, 1.0) not in got and got[("outcome", 0, None)]["met"] is True


def test_duplicate_event_ids_count_once() -> None:
    events = [OPEN, ev(1, "acknowledged", 30), ev(1, "acknowledged", 10)]
    records = run(POLICY, events, BASE + 40 * MIN)
    got = as_oracle(records)
    assert got[("outcome", 0, None)]["at"] == BASE + 30 * MIN
    assert any(r["kind"] == "invalid" and r["reason"] == "duplicate" for r in records)


def test_no_policy_is_tracked_without_records() -> None:
    pol = "policies: [{id: a, match: {customer: acme}, incidents: {'*': {response: 1m}}}]"
    records = run(pol, [OPEN, ev(1, "acknowledged", 30), ev(2, "resolved", 40)], BASE + 90 * MIN)
    assert records == []


# ----------------------------------------------------------------------------- properties

TYPES = ["acknowledged", "paused", "resumed", "resolved", "reopened", "closed", "severity_changed",
         "updated"]
CALENDARS = [
    Cal(None),
    Cal(((540, 720), (780, 1020)) * 0 + (((540, 720), (780, 1020)),) * 5 + ((), ())),
    Cal((((0, 60), (120, 1440)),) * 7, frozenset({"2027-03-02"})),
    Cal((((600, 640),),) * 6 + (((0, 1440),),)),
]


@st.composite
def incidents(draw: st.DrawFn) -> tuple[Pol, Cal, list[dict[str, Any]], int]:
    near = draw(st.lists(st.sampled_from([0.25, 0.5, 0.75, "10m", "30m"]), unique=True, max_size=3))
    p2_response = draw(st.sampled_from([40, 120, None]))
    pol = Pol({"P1": (draw(st.sampled_from([20, 40, 60])), draw(st.sampled_from([60, 120, 240]))),
               "P2": (p2_response, None if p2_response else 480),
               "*": (240, draw(st.sampled_from([480, 960])))}, near)
    cal = draw(st.sampled_from(CALENDARS))
    n = draw(st.integers(0, 9))
    minutes = draw(st.lists(st.integers(-30, 3000), min_size=n + 1, max_size=n + 1, unique=True))
    events = [{"event_id": "o", "incident_id": "I", "type": "opened",
               "at": BASE + minutes[0] * MIN, "severity": draw(st.sampled_from(["P1", "P2", "P3"])),
               "service": "s", "customer": "c"}]
    for i, m in enumerate(minutes[1:]):
        kind = draw(st.sampled_from(TYPES))
        e = {"event_id": f"e{i}", "incident_id": "I", "type": kind, "at": BASE + m * MIN}
        if kind == "severity_changed":
            e["severity"] = draw(st.sampled_from(["P1", "P2", "P3"]))
        events.append(e)
    order = draw(st.permutations(range(len(events))))
    until = BASE + draw(st.integers(0, 4000)) * MIN
    return pol, cal, [events[i] for i in order], until



@given(incidents())
def test_replay_equals_the_minute_model(case: tuple[Pol, Cal, list[dict[str, Any]], int]) -> None:
    pol, cal, events, until = case
    records = run(policy_yaml(pol, cal), events, until)
    clock = max(until, *(e["at"] for e in events))  # --until advances the clock, never rewinds it
    expected = standing(events, pol, cal, clock)
    assert as_oracle(records) == expected



@given(incidents(), st.randoms(use_true_random=False))
def test_arrival_order_does_not_change_what_stands(case: tuple, rnd: random.Random) -> None:
    pol, cal, events, until = case
    text = policy_yaml(pol, cal)
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert as_oracle(run(text, shuffled, until)) == as_oracle(run(text, sorted(
        events, key=lambda e: e["at"]), until))



@given(incidents())
def test_each_threshold_fires_at_most_once(case: tuple) -> None:
    pol, cal, events, until = case
    records = run(policy_yaml(pol, cal), sorted(events, key=lambda e: e["at"]), until)
    alerts = [(r["metric"], r["threshold"]) for r in records
              if r["kind"] in ("breach", "near_breach")]
    assert len(alerts) == len(set(alerts)), "in time order nothing is retracted or fired twice"
    assert not any(r["kind"] == "retraction" for r in records)
