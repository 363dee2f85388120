"""The request-objective fold's own rules (SPEC section 9): duplicates and lateness, versions,
slices and periods at their edges, counters not records, and lazy burn-rate evaluation."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from streams.core.calendar import WeeklySchedule
from streams.core.detector import Detector
from streams.core.errors import InvalidEvent
from streams.core.policyfile import load_policies
from streams.core.requests.fold import ObjectiveFold
from streams.core.requests.records import request_count
from streams.core.requests.slices import (
    budgeted_ms,
    excluded_slices,
    period_of,
    slice_bounds,
    slice_count,
    slice_index,
)
from streams.core.timefmt import HOUR_MS, MINUTE_MS, parse_instant
from tests.support.compare import compact
from tests.support.fold import fold

UTC, PARIS, KOLKATA = ZoneInfo("UTC"), ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Kolkata")
T = parse_instant


@pytest.mark.parametrize(("at", "zone", "kind", "start", "end"), [
    ("2027-03-01T00:00:00.001Z", UTC, "day", "2027-03-01T00:00:00Z", "2027-03-02T00:00:00Z"),
    ("2027-03-01T00:00:00Z", UTC, "day", "2027-02-28T00:00:00Z", "2027-03-01T00:00:00Z"),
    ("2027-03-01T00:00:00Z", UTC, "month", "2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z"),
    ("2027-03-03T12:00:00Z", UTC, "week", "2027-03-01T00:00:00Z", "2027-03-08T00:00:00Z"),
    ("2027-03-01T18:30:00Z", KOLKATA, "day", "2027-02-28T18:30:00Z", "2027-03-01T18:30:00Z"),
    ("2027-03-01T18:30:00.001Z", KOLKATA, "day", "2027-03-01T18:30:00Z",
     "2027-03-02T18:30:00Z"),
    ("2027-03-28T12:00:00Z", PARIS, "day", "2027-03-27T23:00:00Z", "2027-03-28T22:00:00Z"),
    ("2027-10-31T12:00:00Z", PARIS, "day", "2027-10-30T22:00:00Z", "2027-10-31T23:00:00Z"),
])
def test_the_period_holding_a_record(at: str, zone: ZoneInfo, kind: str, start: str,
                                     end: str) -> None:
    assert period_of(T(at), zone, kind) == (T(start), T(end))


@pytest.mark.parametrize(("start", "end", "size", "count", "last"), [
    ("2027-03-28T00:00:00+01:00", "2027-03-29T00:00:00+02:00", HOUR_MS, 23, HOUR_MS),
    ("2027-10-31T00:00:00+02:00", "2027-11-01T00:00:00+01:00", HOUR_MS, 25, HOUR_MS),
    ("2027-03-28T00:00:00+01:00", "2027-03-29T00:00:00+02:00", 8 * HOUR_MS, 3, 7 * HOUR_MS),
    ("2027-03-01T00:00:00Z", "2027-03-02T00:00:00Z", MINUTE_MS, 1440, MINUTE_MS),
])
def test_slices_of_a_period(start: str, end: str, size: int, count: int, last: int) -> None:
    s, e = T(start), T(end)
    assert slice_count(s, e, size) == count
    lo, hi = slice_bounds(count - 1, s, e, size)
    assert hi == e and hi - lo == last
    assert slice_index(s + 1, s, size) == 0 and slice_index(s + size, s, size) == 0
    assert slice_index(s + size + 1, s, size) == 1 and slice_index(e, s, size) == count - 1


def test_slices_that_touch_maintenance() -> None:
    s, e = T("2027-03-01T00:00:00Z"), T("2027-03-02T00:00:00Z")
    maint = WeeklySchedule(UTC, ((),) * 7, extra=(
        (T("2027-03-01T02:00:00Z"), T("2027-03-01T02:30:00Z")),  # inside slice 2
        (T("2027-03-01T05:00:00Z"), T("2027-03-01T07:00:00Z")),  # exactly slices 5 and 6
        (T("2027-03-01T23:59:00Z"), T("2027-03-02T01:00:00Z"))))  # the last one, past the end
    excluded = excluded_slices(s, e, HOUR_MS, maint)
    assert excluded == ((2, 3), (5, 7), (23, 24))
    assert budgeted_ms(s, e, HOUR_MS, excluded) == (20, 20 * HOUR_MS)


POLICY = """
policies:
  - id: api
    match: {service: api}
    requests:
      period: day
      lateness: 10m
      objectives: [{id: ok, sli: errors, target: 99}]
  - id: acme
    match: {customer: acme}
    requests:
      period: day
      lateness: 2h
      objectives: [{id: ok, sli: errors, target: 99}]
"""


def refused(det: Detector, obj: dict[str, Any]) -> str | None:
    try:
        det.on_event(request_count(obj))
    except InvalidEvent as exc:
        return exc.reason
    return None


def test_duplicates_and_lateness() -> None:
    det = Detector(load_policies(POLICY))
    at = T("2027-03-01T10:00:00Z")
    assert refused(det, {"service": "api", "at": at, "event_id": "a"}) is None
    assert refused(det, {"service": "api", "at": at + 1, "event_id": "a"}) == "duplicate"
    assert refused(det, {"service": "web", "at": at, "event_id": "a"}) is None  # per service
    # late: earlier than the clock minus the greatest lateness of the policies counting it
    assert refused(det, {"service": "api", "at": at - 10 * MINUTE_MS}) is None
    assert refused(det, {"service": "api", "at": at - 10 * MINUTE_MS - 1,
                         "event_id": "b"}) == "late"
    assert refused(det, {"service": "api", "at": at - 2 * HOUR_MS, "customer": "acme"}) is None
    assert refused(det, {"service": "web", "at": at - HOUR_MS}) is None  # none: 1h
    assert refused(det, {"service": "web", "at": at - HOUR_MS - 1}) == "late"
    # a refused record used up no id and moved no clock
    assert refused(det, {"service": "api", "at": at, "event_id": "b"}) is None
    assert refused(det, {"service": "api", "at": at + HOUR_MS, "event_id": "a"}) == "duplicate"
    assert det.now_ms == at


def test_a_revision_judges_from_the_next_period() -> None:
    """A period is judged by the version in force at its start (SPEC section 9)."""
    policy = """
policies:
  - id: api
    match: {service: api}
    requests: {period: day, objectives: [{id: ok, sli: errors, target: 99}]}
  - id: api
    version: 2
    effective_from: 2027-03-01T12:00:00Z
    match: {service: api}
    requests: {period: day, objectives: [{id: ok, sli: errors, target: 90}]}
"""
    recs = [{"service": "api", "at": "2027-03-01T10:00:00Z", "total": 100, "errors": 5},
            {"service": "api", "at": "2027-03-02T10:00:00Z", "total": 100, "errors": 5}]
    out = compact(fold(policy, requests=recs, until=T("2027-03-03T00:00:00Z")))
    outcomes = {(r["period_start"][:10], r["policy_version"], r["met"]) for r in out
                if r["kind"] == "outcome"}
    assert outcomes == {("2027-03-01", 1, False), ("2027-03-02", 2, True)}


BURNS = """
policies:
  - id: api
    match: {service: api}
    requests:
      period: day
      budgeting: BUDGETING
      objectives:
        - {id: ok, sli: errors, target: 99, burn_rate: default}
"""


@pytest.mark.parametrize("budgeting", ["occurrences", "timeslices"])
def test_counters_not_records_and_lazy_burn_rates(budgeting: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A day of healthy per-minute aggregates: no burn-rate evaluation at all, and the fold
    keeps at most lateness' worth of slice counters and the longest window's minutes."""
    calls = []
    evaluate = ObjectiveFold._evaluate
    monkeypatch.setattr(ObjectiveFold, "_evaluate",
                        lambda self, m, out: (calls.append(m), evaluate(self, m, out)))
    det = Detector(load_policies(BURNS.replace("BUDGETING", budgeting)))
    start = T("2027-03-01T00:00:00Z")
    for i in range(3 * 1440):
        det.on_event(request_count({"service": "api", "at": start + i * MINUTE_MS,
                                    "total": 1000, "errors": 0}))
    assert calls == []
    (fold_,) = det.requests.services["api"].folds
    assert len(fold_.periods) <= 2
    assert sum(len(p.cells) for p in fold_.periods.values()) <= 62
    assert len(fold_.counts.minutes) <= (3 * 1440 if budgeting == "occurrences" else 0) + 62
    # one bad minute: evaluations from it until no short window can hold it, then none
    det.on_event(request_count({"service": "api", "at": start + 3 * 1440 * MINUTE_MS,
                                "total": 1000, "errors": 900}))
    det.advance(start + 4 * 1440 * MINUTE_MS)
    assert 0 < len(calls) <= 6 * 60 + 1


def test_a_record_late_for_one_policy_but_not_another_counts_in_both() -> None:
    """Lateness is the greatest of the policies that would count the record (SPEC section 9):
    one accepted through a customer policy's 2h lands in a slice of the service policy (10 min
    of lateness) judged an hour ago, which must still hold its earlier counts."""
    policy = """
policies:
  - id: api
    match: {service: api}
    requests:
      period: day
      budgeting: timeslices
      slice: 10m
      lateness: 10m
      objectives: [{id: ok, sli: errors, target: 99}]
  - id: acme
    match: {customer: acme}
    requests:
      period: day
      lateness: 2h
      objectives: [{id: ok, sli: errors, target: 99}]
"""
    at = T("2027-03-01T10:00:00Z")
    recs = [{"service": "api", "at": at + 5 * MINUTE_MS, "total": 1000, "errors": 0},
            {"service": "api", "at": at + 2 * HOUR_MS, "total": 1},
            # an hour late for "api", within "acme"'s 2h: applied, and 5 errors in 1,005 keep
            # the slice (10:00, 10:10] good for "api" (it would be bad on its own)
            {"service": "api", "at": at + 6 * MINUTE_MS, "total": 5, "errors": 5,
             "customer": "acme"}]
    out = fold(policy, requests=recs, until=T("2027-03-02T00:00:00Z"))
    assert [r for r in out if r["kind"] in ("invalid", "late")] == []
    outcomes = {r["policy_id"]: r for r in compact(out) if r["kind"] == "outcome"}
    assert outcomes["api"]["bad_slices"] == 0 and outcomes["api"]["ratio"] == round(1001 / 1006, 6)
    assert outcomes["acme"]["total"] == 5 and outcomes["acme"]["met"] is False
