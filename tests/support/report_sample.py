"""A sample alert changelog for report tests (unit and over topics): incidents I1-I4 of two
customers and the availability of one service over two months, with re-publications, a
retraction and dead letters (``tests/unit/test_report.py`` says what each contributes)."""

from __future__ import annotations

from typing import Any

POLICY = {"policy_id": "gold", "policy_version": 1, "policy_match": ["customer"]}
AVAIL = {"policy_id": "api-sla", "policy_version": 1, "policy_match": ["service"],
         "service": "api", "target": 99.9}
JAN = {"period_start": "2027-01-01T00:00:00.000Z", "period_end": "2027-02-01T00:00:00.000Z"}
FEB = {"period_start": "2027-02-01T00:00:00.000Z", "period_end": "2027-03-01T00:00:00.000Z"}


def incident(n: int, customer: str, service: str, severity: str) -> dict[str, Any]:
    return {**POLICY, "incident_id": f"INC-{n}", "customer": customer, "service": service,
            "severity": severity}


def outcome(alert_id: str, inc: dict[str, Any], metric: str, at: str, elapsed: float,
            target: float, met: bool, opened_at: str | None) -> dict[str, Any]:
    rec = {"alert_id": alert_id, "kind": "outcome", "metric": metric, **inc, "at": at,
           "elapsed_seconds": elapsed, "target_seconds": target, "met": met}
    if opened_at is not None:
        rec["opened_at"] = opened_at
    return rec


def alert(alert_id: str, kind: str, inc: dict[str, Any], metric: str, at: str,
          threshold: float) -> dict[str, Any]:
    return {"alert_id": alert_id, "kind": kind, "metric": metric, **inc, "at": at,
            "threshold": threshold}


I1, I2 = incident(1, "acme", "api", "P1"), incident(2, "acme", "api", "P2")
I3, I4 = incident(3, "acme", "web", "P1"), incident(4, "globex", "api", "P1")

CHANGELOG: list[dict[str, Any]] = [
    alert("n1", "near_breach", I1, "response", "2027-01-10T10:07:30.000Z", 0.5),
    outcome("o1r", I1, "response", "2027-01-10T10:12:00.000Z", 720, 900, True,
            "2027-01-10T10:00:00.000Z"),
    outcome("o1s", I1, "resolution", "2027-01-10T13:00:00.000Z", 7200, 14400, True,
            "2027-01-10T10:00:00.000Z"),
    alert("b2r", "breach", I2, "response", "2027-01-20T09:30:00.000Z", 1.0),
    outcome("o2r", I2, "response", "2027-01-20T10:00:00.000Z", 3600, 1800, False,
            "2027-01-20T09:00:00.000Z"),
    outcome("o2r", I2, "response", "2027-01-20T09:25:00.000Z", 1500, 1800, True,
            "2027-01-20T09:00:00.000Z"),  # published again: replaces the one above
    {"alert_id": "b2r", "kind": "retraction", "retracts": "breach", **I2},
    alert("b2s", "breach", I2, "resolution", "2027-01-20T13:00:00.000Z", 1.0),
    outcome("o2s", I2, "resolution", "2027-01-20T15:00:00.000Z", 21600, 14400, False,
            "2027-01-20T09:00:00.000Z"),
    alert("n3", "near_breach", I3, "response", "2027-02-03T08:07:30.000Z", 0.5),
    alert("b3", "breach", I3, "response", "2027-02-03T08:15:00.000Z", 1.0),
    outcome("o3r", I3, "response", "2027-02-03T08:40:00.000Z", 2400, 900, False, None),
    outcome("o4r", I4, "response", "2027-02-28T22:05:00.000Z", 300, 900, True,
            "2027-02-28T22:00:00.000Z"),
    alert("n4", "near_breach", I4, "resolution", "2027-03-01T01:00:00.000Z", 0.5),
    {"alert_id": "d1", "kind": "invalid", "reason": "malformed_json"},
    {"alert_id": "d2", "kind": "late", "reason": "late"},
    {"alert_id": "oa1", "kind": "outcome", "metric": "availability", **AVAIL, **JAN,
     "at": "2027-02-01T00:00:00.000Z", "met": True, "availability": 99.95,
     "downtime_seconds": 1339.2, "degraded_seconds": 0.0, "budget_seconds": 2678.4,
     "credit_percent": 0},
    {"alert_id": "na2", "kind": "near_breach", "metric": "availability", **AVAIL, **FEB,
     "at": "2027-02-10T00:00:00.000Z", "threshold": 0.5, "budget_seconds": 2419.2,
     "downtime_seconds": 1209.6, "availability": 99.95},
    {"alert_id": "ba2", "kind": "breach", "metric": "availability", **AVAIL, **FEB,
     "at": "2027-02-20T00:00:00.000Z", "threshold": 1.0, "budget_seconds": 2419.2,
     "downtime_seconds": 2419.2, "availability": 99.9, "credit_percent": 10},
    {"alert_id": "ta2", "kind": "breach", "metric": "availability", **AVAIL, **FEB,
     "at": "2027-02-27T00:00:00.000Z", "threshold": 2.0, "budget_seconds": 2419.2,
     "downtime_seconds": 4838.4, "availability": 99.8, "credit_percent": 25},
    {"alert_id": "oa2", "kind": "outcome", "metric": "availability", **AVAIL, **FEB,
     "at": "2027-03-01T00:00:00.000Z", "met": False, "availability": 99.8,
     "downtime_seconds": 4838.4, "degraded_seconds": 60.0, "budget_seconds": 2419.2,
     "credit_percent": 25},
]
