"""``Detector.on_event``: what every runner does with one input (replay and the worker's state)."""

from __future__ import annotations

import pytest

from streams.core.detector import Detector
from streams.core.errors import InvalidEvent
from streams.core.events import IncidentEvent, incident_event
from streams.core.policyfile import load_policies

POLICIES = load_policies("policies:\n  - id: p\n    match: {}\n    incidents:\n"
                         "      P1: {response: 10m}\n")


def _ev(event_id: str, type_: str, at: str) -> IncidentEvent:
    obj = {"event_id": event_id, "incident_id": "i", "type": type_, "at": at}
    if type_ == "opened":
        obj.update(severity="P1", service="s", customer="c")
    return incident_event(obj)


def test_what_falls_due_before_the_event_fires_first_then_the_event() -> None:
    det = Detector(POLICIES)
    assert det.on_event(_ev("1", "opened", "2026-03-02T09:00:00Z")) == []
    out = det.on_event(_ev("2", "acknowledged", "2026-03-02T09:20:00Z"))
    assert [(r["kind"], r["metric"]) for r in out] == [("breach", "response"),
                                                       ("outcome", "response")]
    assert out[0]["at"] == "2026-03-02T09:10:00.000Z" and out[1]["met"] is False


def test_an_acknowledgement_at_the_deadline_meets_it() -> None:
    det = Detector(POLICIES)
    det.on_event(_ev("1", "opened", "2026-03-02T09:00:00Z"))
    out = det.on_event(_ev("2", "acknowledged", "2026-03-02T09:10:00Z"))
    assert [(r["kind"], r["met"]) for r in out] == [("outcome", True)]


def test_a_refused_input_moves_nothing_not_even_the_clock() -> None:
    det = Detector(POLICIES)
    det.on_event(_ev("1", "opened", "2026-03-02T09:00:00Z"))
    clock = det.now_ms
    with pytest.raises(InvalidEvent) as refused:
        det.on_event(_ev("1", "opened", "2026-03-02T12:00:00Z"))
    assert refused.value.reason == "duplicate"
    assert det.now_ms == clock and det.next_due() is not None
