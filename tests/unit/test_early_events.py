"""A stray early event never makes an incident be forgotten (SPEC section 4).

Events that arrive before an incident's ``opened`` are held; one whose ``at`` is long before the
detector clock (``at: 0`` in 2026) must not count as a finished incident past its retention.
A held-only incident is let go after the retention measured on the detector clock from when it
was last touched, and that is not forgetting: a later ``opened`` is a new incident, not late.
"""

from __future__ import annotations

from typing import Any

from streams.core.detector import Detector
from streams.core.events import incident_event
from streams.core.policyfile import load_policies
from streams.core.timefmt import DAY_MS, MINUTE_MS, parse_instant

POLICY = "policies: [{id: p, match: {}, incidents: {'*': {response: 15m, resolution: 4h}}}]"
NOW = parse_instant("2026-12-01T09:00:00Z")
RETENTION_MS = 30 * DAY_MS


def event(kind: str, at: int | str, event_id: str, incident: str = "I") -> Any:
    raw: dict[str, Any] = {"event_id": event_id, "incident_id": incident, "type": kind, "at": at}
    if kind == "opened":
        raw.update(severity="P1", service="s", customer="c")
    return incident_event(raw)


def detector_at(now: int) -> Detector:
    det = Detector(load_policies(POLICY), RETENTION_MS)
    det.on_incident_event(event("opened", now, "o", incident="other"))  # sets the clock
    return det


def apply(det: Detector, ev: Any) -> list[dict[str, Any]]:
    return det.before(ev.at) + det.on_incident_event(ev)


def test_an_updated_at_epoch_0_before_the_opened_does_not_forget_the_incident() -> None:
    det = detector_at(NOW)
    assert apply(det, event("updated", 0, "u")) == []
    det.advance(NOW + MINUTE_MS)
    assert "I" in det.incidents and "I" not in det.forgotten
    apply(det, event("opened", NOW + MINUTE_MS, "o"))  # not late
    records = det.advance(NOW + 20 * MINUTE_MS)
    assert [(r["incident_id"], r["kind"], r["metric"]) for r in records] == [
        ("other", "breach", "response"), ("I", "breach", "response")]
    assert det.stats["late"] == 0 and det.stats["evicted"] == 0


def test_a_held_acknowledgement_before_the_opened_changes_no_clock_and_forgets_nothing() -> None:
    det = detector_at(NOW)
    apply(det, event("acknowledged", 0, "a"))
    det.advance(NOW + DAY_MS)
    apply(det, event("opened", NOW + DAY_MS, "o"))
    records = det.advance(NOW + DAY_MS + 15 * MINUTE_MS)
    # the acknowledgement at 0 is before the opened: the response clock runs and breaches
    assert [r["kind"] for r in records if r["incident_id"] == "I"] == ["breach"]


def test_a_held_only_incident_is_dropped_after_retention_on_the_clock_and_not_forgotten() -> None:
    det = detector_at(NOW)
    apply(det, event("updated", 0, "u"))
    det.advance(NOW + RETENTION_MS - 1)
    assert "I" in det.incidents  # retention runs from when it was touched, on the clock
    apply(det, event("updated", 1, "u2"))  # touched again: from now on
    det.advance(NOW + RETENTION_MS + DAY_MS)
    assert "I" in det.incidents
    det.advance(NOW + 2 * RETENTION_MS)
    assert "I" not in det.incidents and "I" not in det.forgotten
    assert det.dropped == ["I"] and det.evicted == []
    later = NOW + 2 * RETENTION_MS + MINUTE_MS
    apply(det, event("opened", later, "o"))  # a new incident, not late
    assert "I" in det.incidents and det.stats["late"] == 0
    records = det.advance(later + 15 * MINUTE_MS)
    assert [(r["incident_id"], r["kind"]) for r in records] == [("I", "breach")]


def test_a_finished_incident_is_still_forgotten_after_retention_from_its_events() -> None:
    det = detector_at(NOW)
    for ev in (event("opened", NOW, "o"), event("resolved", NOW + MINUTE_MS, "r")):
        apply(det, ev)
    det.advance(NOW + MINUTE_MS + RETENTION_MS)
    assert "I" in det.forgotten and det.evicted == ["I"]


def test_a_forgotten_incident_is_late_until_its_retention_passes_on_the_clock_advanced_or_not(
) -> None:
    # replay advances only ahead of what falls due, the live worker at every record: whether a
    # later event is late must hang on the clock alone, never on whether something fell due
    det = detector_at(NOW)
    for ev in (event("opened", NOW, "o"), event("resolved", NOW + MINUTE_MS, "r")):
        apply(det, ev)
    det.advance(NOW + MINUTE_MS + RETENTION_MS)
    gone = det.now_ms
    assert det.forgotten == {"I": gone}
    refused = det.refusal(event("updated", gone + RETENTION_MS - 1, "u1"))
    assert refused is not None and refused.reason == "late"
    det.on_incident_event(event("updated", gone + RETENTION_MS, "u", incident="other"))
    assert det.now_ms == gone + RETENTION_MS and "I" in det.forgotten  # no advance ran
    assert det.refusal(event("opened", gone + RETENTION_MS, "o2")) is None  # a new incident
