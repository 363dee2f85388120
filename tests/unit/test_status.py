"""What the status page and ``/metrics`` show (``streams/status.py``): read-only views of a
detector at its clock, checked against what the detector itself later does, and the Prometheus
text checked with Prometheus' own parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.core.detector import Detector
from streams.core.events import heartbeat, incident_event
from streams.core.policy import PolicySet
from streams.core.policyfile import load_policies, load_policy_file
from streams.core.timefmt import parse_instant
from streams.status import TICK_BUCKETS, Status, incidents_view, services_view
from tests.support.scenarios import SCENARIOS, Input, scenario_inputs


def feed(policies: PolicySet, inputs: list[Input], upto: int) -> tuple[Detector, list[Any]]:
    """A detector that took ``inputs[:upto]`` as replay does, and the records it gave."""
    det = Detector(policies)
    records: list[Any] = []
    for kind, obj in inputs[:upto]:
        ev = incident_event(obj) if kind == "incident" else heartbeat(obj)
        records += det.before(ev.at)
        records += det.on_incident_event(ev) if kind == "incident" else det.on_heartbeat(ev)  # type: ignore[arg-type]
    return det, records


def splits(inputs: list[Input]) -> range:
    return range(1, len(inputs) + 1)


@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_looking_at_a_detector_changes_nothing_it_publishes(folder: Path) -> None:
    policies = load_policy_file(str(folder / "policy.yaml"))
    inputs, until = scenario_inputs(folder)
    plain, plain_records = feed(policies, inputs, len(inputs))
    plain_records += plain.advance(until)
    looked = Detector(policies)
    records: list[Any] = []
    for kind, obj in inputs:
        ev = incident_event(obj) if kind == "incident" else heartbeat(obj)
        records += looked.before(ev.at)
        records += (looked.on_incident_event(ev) if kind == "incident"  # type: ignore[arg-type]
                    else looked.on_heartbeat(ev))  # type: ignore[arg-type]
        incidents_view({0: looked})
        services_view({0: looked})
        later = looked.now_ms + 6 * 3_600_000  # a look ahead of the clock moves nothing either
        for inc in looked.incidents.values():
            for clock in inc.clocks or ():
                clock.view(later)
        for svc in looked.services.services.values():
            for fold in svc.folds:
                fold.view(later)
    records += looked.advance(until)
    assert records == plain_records


@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_a_running_clock_breaches_exactly_at_the_deadline_the_page_shows(folder: Path) -> None:
    """At every point of the scenario, each running, unbreached clock on the page: with no more
    events its breach fires at the shown deadline, not a millisecond earlier; and the working
    time shown elapsed plus left is its target."""
    policies = load_policy_file(str(folder / "policy.yaml"))
    inputs, _ = scenario_inputs(folder)
    checked = 0
    for upto in splits(inputs):
        det, _ = feed(policies, inputs, upto)
        for inc in incidents_view({0: det})["incidents"]:
            for clock in inc["clocks"]:
                assert clock["elapsed_seconds"] + clock["left_seconds"] == pytest.approx(
                    clock["target_seconds"])
                if clock["state"] != "running" or clock["breached"]:
                    continue
                deadline = parse_instant(clock["deadline"])
                early, _ = feed(policies, inputs, upto)
                # a deadline at the clock itself (a severity change made the breach due at once)
                # fires at the clock's next move: the clock never goes back to look before it
                breaches = [r for r in early.advance(deadline - 1)
                            if r["kind"] == "breach" and r["incident_id"] == inc["incident_id"]
                            and r["metric"] == clock["metric"]] if deadline > det.now_ms else []
                assert breaches == [], f"{inc['incident_id']} breached before {clock['deadline']}"
                at_deadline = [r for r in early.advance(deadline)
                               if r["kind"] == "breach" and r["incident_id"] == inc["incident_id"]
                               and r["metric"] == clock["metric"]]
                assert [r["at"] for r in at_deadline] == [clock["deadline"]]
                checked += 1
    if any(kind == "incident" for kind, _ in inputs):
        assert checked, "no running clock was checked"


def test_incidents_are_listed_breached_first_then_by_the_nearest_deadline() -> None:
    folder = next(p for p in SCENARIOS if p.name.startswith("01"))
    policies = load_policy_file(str(folder / "policy.yaml"))
    inputs, until = scenario_inputs(folder)
    det, _ = feed(policies, inputs, len(inputs))
    det.advance(until)
    rows = incidents_view({0: det})["incidents"]
    keys = []
    for row in rows:
        live = [c for c in row["clocks"] if c["state"] != "stopped"]
        breached = any(c["breached"] for c in row["clocks"])  # a stopped one too
        assert row["breached"] is breached
        deadlines = [c["deadline"] for c in live if c["deadline"]]
        keys.append((not breached, min(deadlines) if deadlines else "~"))
    assert keys == sorted(keys)
    first = incidents_view({0: det}, limit=1)
    assert first["incidents"] == rows[:1] and first["count"] == len(rows) > 1


def test_a_service_view_at_the_period_end_agrees_with_the_period_outcome() -> None:
    folder = next(p for p in SCENARIOS if p.name.startswith("05"))
    policies = load_policy_file(str(folder / "policy.yaml"))
    inputs, until = scenario_inputs(folder)
    det, records = feed(policies, inputs, len(inputs))
    outcomes = [r for r in records + det.advance(until)
                if r["kind"] == "outcome" and r["metric"] == "availability"]
    assert outcomes, "the scenario ends a period"
    for outcome in outcomes:
        end = parse_instant(outcome["period_end"])
        fresh, _ = feed(policies, inputs, sum(parse_instant(o["at"]) < end for _, o in inputs))
        svc = fresh.services.services[outcome["service"]]
        views = [fold.view(end) for fold in svc.folds]
        view = next(v for v in views if v is not None and v["policy_id"] == outcome["policy_id"])
        assert view["downtime_seconds"] == outcome["downtime_seconds"]
        assert view["availability"] == outcome["availability"]
        assert view["budget_seconds"] == outcome["budget_seconds"]
        assert view["budget_left_seconds"] == pytest.approx(
            outcome["budget_seconds"] - outcome["downtime_seconds"])


def test_services_view_shows_the_period_at_the_detector_clock() -> None:
    folder = next(p for p in SCENARIOS if p.name.startswith("05"))
    policies = load_policy_file(str(folder / "policy.yaml"))
    inputs, _ = scenario_inputs(folder)
    det, _ = feed(policies, inputs, len(inputs) // 2)
    (row,) = services_view({3: det})["services"]
    assert row["partition"] == 3 and row["clock"] and row["periods"]
    period = row["periods"][0]
    assert parse_instant(period["period_start"]) <= det.now_ms < parse_instant(period["period_end"])
    assert 0 <= period["availability"] <= 100


# ----------------------------------------------------------------------------- metrics


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(family: Any, name: str | None = None) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples
            if name is None or s.name == name}


def test_counters_count_what_the_agent_saw_and_parse_as_prometheus_text() -> None:
    status = Status()
    status.saw("sla.incidents", [{"kind": "breach", "alert_id": "a"},
                                 {"kind": "near_breach", "alert_id": "b"}])
    status.saw("sla.incidents", [{"kind": "invalid", "reason": "duplicate", "alert_id": "c"}])
    status.saw("sla.heartbeats", [{"kind": "late", "reason": "late", "alert_id": "d"}])
    status.saw('we"ird\\topic\n', [{"kind": "breach", "alert_id": "e"}])
    for seconds in (0.0001, 0.003, 0.003, 2.0):
        status.ticked(seconds)
    text = status.prometheus({0: (1_000, 4_500), 1: (-(2**62), 4_500)}, {0: 7, 1: 0})
    got = families(text)
    assert samples(got["slawatch_events_in"]) == {
        (("topic", "sla.incidents"),): 2, (("topic", "sla.heartbeats"),): 1,
        (("topic", 'we"ird\\topic\n'),): 1}
    assert samples(got["slawatch_alerts_out"]) == {(("kind", "breach"),): 2,
                                                   (("kind", "near_breach"),): 1}
    assert samples(got["slawatch_dead_letters"]) == {(("reason", "duplicate"),): 1,
                                                     (("reason", "late"),): 1}
    lag = samples(got["slawatch_clock_lag_seconds"])
    assert lag[(("partition", "0"),)] == 3.5
    assert lag[(("partition", "1"),)] != lag[(("partition", "1"),)]  # NaN: no clock yet
    assert samples(got["slawatch_open_incidents"]) == {(("partition", "0"),): 7,
                                                       (("partition", "1"),): 0}
    ticks = got["slawatch_tick_duration_seconds"]
    assert ticks.type == "histogram"
    buckets = samples(ticks, "slawatch_tick_duration_seconds_bucket")
    assert buckets[(("le", "0.0005"),)] == 1
    assert buckets[(("le", "0.005"),)] == 3
    assert buckets[(("le", "1.0"),)] == 3
    assert buckets[(("le", "+Inf"),)] == 4
    assert len(buckets) == len(TICK_BUCKETS) + 1
    assert samples(ticks, "slawatch_tick_duration_seconds_count") == {(): 4}
    assert samples(ticks, "slawatch_tick_duration_seconds_sum")[()] == pytest.approx(2.0061)


def test_the_latest_alerts_are_kept_newest_first_without_dead_letters() -> None:
    status = Status()
    for i in range(150):
        status.saw("t", [{"kind": "breach", "alert_id": str(i)},
                         {"kind": "invalid", "reason": "malformed_json", "alert_id": "x"}])
    latest = status.alerts()
    assert [r["alert_id"] for r in latest[:3]] == ["149", "148", "147"]
    assert len(latest) == 100 and all(r["kind"] == "breach" for r in latest)
    assert [r["alert_id"] for r in status.alerts(2)] == ["149", "148"]


PAGE_POLICY = """\
policies:
  - id: gold
    match: {}
    near_breach: [0.5, "5m"]
    incidents:
      P1: {response: 15m, resolution: 4h}
    availability:
      target: 99
      period: day
      heartbeat_timeout: 1d
      near_breach: [0.5, 0.75]
"""


def opened(iid: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"incident_id": iid, "event_id": f"{iid}-{extra.get('type', 'opened')}",
            "type": "opened", "at": at, "severity": "P1", "customer": "acme", "service": "api",
            **extra}


def test_an_incident_whose_stopped_clock_breached_is_listed_as_breached_first() -> None:
    """Answered late, its response clock stopped breached while its resolution runs: it missed
    its SLA, so it comes before an incident that has not, whatever their deadlines."""
    from streams.core.policyfile import load_policies

    det = Detector(load_policies(PAGE_POLICY))
    for obj in (opened("LATE", "2027-03-01T10:00:00Z"),
                opened("SOON", "2027-03-01T10:20:00Z"),
                {**opened("LATE", "2027-03-01T10:30:00Z"), "type": "acknowledged",
                 "event_id": "LATE-ack"}):
        ev = incident_event(obj)
        det.before(ev.at)
        det.on_incident_event(ev)
    det.advance(parse_instant("2027-03-01T10:31:00Z"))
    rows = incidents_view({0: det})["incidents"]
    assert [(r["incident_id"], r["breached"]) for r in rows] == [("LATE", True),
                                                                  ("SOON", False)]
    late_response = rows[0]["clocks"][0]
    assert (late_response["metric"], late_response["state"]) == ("response", "stopped")
    # the near-breach thresholds of a 15 m target: half of it, and 5 m before it
    assert late_response["marks"] == [{"label": "0.5", "elapsed_seconds": 450.0},
                                      {"label": "5m", "elapsed_seconds": 600.0}]


def outcome(day: int, met: bool, aid: str | None = None) -> dict[str, Any]:
    return {"alert_id": aid or f"o{day}", "kind": "outcome", "metric": "availability",
            "service": "db", "policy_id": "gold", "met": met, "availability": 99.5,
            "period_start": f"2027-01-{day:02d}T00:00:00.000Z",
            "period_end": f"2027-01-{day + 1:02d}T00:00:00.000Z", "credit_percent": 0}


def test_the_page_keeps_the_last_periods_of_each_service_and_drops_retracted_ones() -> None:
    from streams.status import HISTORY_PERIODS

    status = Status()
    status.saw("t", [outcome(d, d % 2 == 0) for d in range(1, HISTORY_PERIODS + 2)])
    status.saw("t", [{"alert_id": "o5", "kind": "retraction", "retracts": "outcome",
                      "metric": "availability", "service": "db", "policy_id": "gold"}])
    kept = status.history[("db", "gold")]
    starts = sorted(str(p["period_start"])[8:10] for p in kept.values())
    assert len(kept) == HISTORY_PERIODS - 1  # the oldest went, and the retracted one
    assert "01" not in starts and "05" not in starts and "31" in starts
    assert kept["o2"]["met"] is True and kept["o3"]["met"] is False


def test_services_view_gives_the_budget_marks_and_the_ended_periods_oldest_first() -> None:
    from streams.core.policyfile import load_policies

    det = Detector(load_policies(PAGE_POLICY))
    for at in ("2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z"):
        hb = heartbeat({"service": "db", "status": "up", "at": at})
        det.before(hb.at)
        det.on_heartbeat(hb)
    status = Status()
    status.saw("t", [outcome(3, True), outcome(1, False)])
    (row,) = services_view({0: det}, status.history)["services"]
    (period,) = row["periods"]
    assert period["marks"] == [0.5, 0.75]
    assert [(p["period_start"][:10], p["met"]) for p in period["history"]] == [
        ("2027-01-01", False), ("2027-01-03", True)]


def test_the_status_page_loads_nothing_from_elsewhere() -> None:
    """It must work offline: no script, style sheet, font or image from another place, and it
    fetches only its own worker's endpoints (relative paths)."""
    import re
    from importlib.resources import files

    page = files("streams.worker").joinpath("status.html").read_text(encoding="utf-8")
    for pattern in (r"\bsrc\s*=", r"<link\b", r"@import", r"url\(", r"https?://"):
        assert not re.search(pattern, page, re.I), pattern
    fetched = set(re.findall(r'panel\("[a-z]+", "([^"]+)"', page))
    assert fetched == {"health", "api/incidents", "api/services", "api/objectives", "api/alerts"}


def test_a_custom_clock_has_a_row_from_its_start() -> None:
    """SPEC 4.1 on the page: one row per measured clock that started, custom ones by name."""
    def rows(folder_name: str, upto: int) -> dict[str, dict[str, str]]:
        folder = next(p for p in SCENARIOS if p.parent.name == "clocks"
                      and p.name.startswith(folder_name))
        policies = load_policy_file(str(folder / "policy.yaml"))
        inputs, _ = scenario_inputs(folder)
        det, _ = feed(policies, inputs, upto)
        return {row["incident_id"]: {c["metric"]: c["state"] for c in row["clocks"]}
                for row in incidents_view({0: det})["incidents"]}

    # 02 (inputs in order of at): opened, acknowledged, paused; then the on_site milestone
    # stops on_site and starts repair
    assert rows("02", 3) == {"LIFT-7": {"response": "stopped", "on_site": "running"}}
    assert rows("02", 4) == {"LIFT-7": {"response": "stopped", "on_site": "stopped",
                                        "repair": "running"}}
    # 04: HD-2's dispatch clock has no row until the acknowledgement starts it
    assert "dispatch" not in rows("04", 8)["HD-2"]
    assert rows("04", 9)["HD-2"]["dispatch"] == "running"
    # 03: LIFT-20 resolved (on_site cancelled): finished, off the page; LIFT-21 still open
    assert "LIFT-20" not in rows("03", 3)


def test_the_objectives_view_shows_each_objectives_period_so_far_and_its_budget() -> None:
    from streams.core.requests.records import request_count
    from streams.status import objectives_view

    policies = load_policies(
        "policies:\n  - id: api\n    match: {service: api}\n    requests:\n      period: day\n"
        "      objectives:\n        - {id: ok, sli: errors, target: 99.0}\n"
        "  - id: slices\n    match: {service: web}\n    requests:\n      period: day\n"
        "      budgeting: timeslices\n      slice: 1h\n      objectives:\n"
        "        - {id: ok, sli: errors, target: 50.0}\n")
    det = Detector(policies)
    for obj in ({"service": "api", "at": "2027-03-01T10:00:00Z", "total": 1000, "errors": 5},
                {"service": "web", "at": "2027-03-01T10:00:00Z", "total": 10, "errors": 9},
                {"service": "web", "at": "2027-03-01T11:30:00Z", "total": 10}):
        det.on_event(request_count(obj))
    view = objectives_view({0: det})
    api, web = view["objectives"]
    assert (api["service"], api["good"], api["total"], api["ratio"]) == ("api", 995, 1000, 0.995)
    assert api["budget_used"] == 0.5, "5 bad of a budget of 1 % of 1,000"
    assert api["period_start"] == "2027-03-01T00:00:00.000Z"
    assert (web["budgeting"], web["bad_seconds"], web["budget_seconds"]) == (
        "timeslices", 3600.0, 43200.0)
    assert web["budget_used"] == round(1 / 12, 6)
