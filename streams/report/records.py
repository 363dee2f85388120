"""The records a report reads, and what of them stands.

``decode_record`` checks and types the fields of one output record a report needs (``Rec``);
``Changelog`` folds records in publication order into the latest one per ``alert_id`` (a
``retraction`` or a Kafka tombstone withdraws the key; dead letters are counted and ignored);
``Standing`` is what stands, each record with its reference instant: the instant that puts it in
a report period (see ``streams.report``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from streams.core.errors import InvalidInstant
from streams.core.timefmt import parse_instant

INCIDENT_METRICS: Final = ("response", "resolution")  # the built-in ones
#: The metrics of a request objective's records (SPEC section 9): its periods' records, and its
#: burn-rate alerts (which carry ``objective``; an availability burn rate does not).
OBJECTIVE_METRICS: Final = ("requests", "burn_rate")
#: The metrics that are not an incident's: every other name is (a built-in or a custom clock,
#: SPEC 4.1: ``metric`` is an open name).
NOT_INCIDENT_METRICS: Final = ("availability", "burn_rate", "requests")
DEAD_LETTERS: Final = ("invalid", "late")


def is_incident_metric(metric: str | None) -> bool:
    """Whether ``metric`` names an incident clock: ``response``, ``resolution`` or a custom one."""
    return metric is not None and metric not in NOT_INCIDENT_METRICS


def is_objective_record(rec: Rec) -> bool:
    """Whether ``rec`` is a request objective's (SPEC section 9): a period's record or a burn-rate
    alert, both naming the ``objective``."""
    return rec.objective is not None and rec.metric in OBJECTIVE_METRICS


@dataclass(frozen=True, slots=True)
class Rec:
    """The fields of one output record that a report reads, checked and typed."""

    alert_id: str
    kind: str  # breach, near_breach, outcome, retraction, invalid, late
    metric: str | None = None
    at_ms: int | None = None
    threshold: float | str | None = None
    policy_id: str | None = None
    incident_id: str | None = None
    customer: str | None = None
    service: str | None = None
    severity: str | None = None
    opened_at_ms: int | None = None
    met: bool | None = None
    elapsed_s: float | None = None
    target_s: float | None = None
    period_start_ms: int | None = None
    period_end_ms: int | None = None
    target: float | None = None
    availability: float | None = None
    downtime_s: float | None = None
    degraded_s: float | None = None
    budget_s: float | None = None
    credit_percent: float = 0.0
    outages: int | None = None  # availability outcomes (SPEC 5); None from older producers
    # request objectives (SPEC 9)
    objective: str | None = None
    sli: str | None = None  # errors, latency
    budgeting: str | None = None  # occurrences, timeslices
    good: int | None = None  # occurrences
    total: int | None = None
    ratio: float | None = None
    bad_s: float | None = None  # timeslices: the bad time (``budget_s`` is its budget)


class BadRecord(ValueError):
    """A record a report cannot read; it is reported with where it came from and skipped."""


def _text(obj: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        msg = f"{name}={value!r}: expected a non-empty string"
        raise BadRecord(msg)
    return str(value)


def _number(obj: dict[str, Any], name: str, required: bool = False) -> float | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        msg = f"{name}={value!r}: expected a number"
        raise BadRecord(msg)
    return float(value)


def _count(obj: dict[str, Any], name: str, required: bool = False) -> int | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if type(value) is not int or value < 0:
        msg = f"{name}={value!r}: expected an integer >= 0"
        raise BadRecord(msg)
    return value


def _instant(obj: dict[str, Any], name: str, required: bool = False) -> int | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    try:
        return parse_instant(value)
    except InvalidInstant as exc:
        msg = f"{name}: {exc}"
        raise BadRecord(msg) from None


def decode_record(obj: Any) -> Rec:
    """The ``Rec`` of one JSON value; ``BadRecord`` names the field a report needs and lacks."""
    if not isinstance(obj, dict):
        msg = f"expected a JSON object, got {type(obj).__name__}"
        raise BadRecord(msg)
    alert_id, kind = _text(obj, "alert_id", True), _text(obj, "kind", True)
    assert alert_id is not None and kind is not None
    if kind in DEAD_LETTERS or kind == "retraction":
        return Rec(alert_id, kind)
    if kind not in ("breach", "near_breach", "outcome"):
        msg = f"kind={kind!r}: expected breach, near_breach, outcome, retraction, invalid or late"
        raise BadRecord(msg)
    metric = _text(obj, "metric", True)
    incident = is_incident_metric(metric)
    outcome = kind == "outcome"
    threshold = obj.get("threshold")
    if threshold is not None and (not isinstance(threshold, int | float | str)
                                  or isinstance(threshold, bool)):
        msg = f"threshold={threshold!r}: expected a number or a duration string"
        raise BadRecord(msg)
    met = obj.get("met")
    if outcome and not isinstance(met, bool):
        msg = f"met={met!r}: expected true or false"
        raise BadRecord(msg)
    availability_outcome = outcome and metric == "availability"
    periodic = availability_outcome or (outcome and metric == "requests")
    return Rec(
        alert_id=alert_id, kind=kind, metric=metric,
        at_ms=_instant(obj, "at", incident and outcome),
        threshold=float(threshold) if isinstance(threshold, int | float) else threshold,
        policy_id=_text(obj, "policy_id"),
        incident_id=_text(obj, "incident_id", incident),
        customer=_text(obj, "customer"), service=_text(obj, "service", not incident),
        severity=_text(obj, "severity"),
        opened_at_ms=_instant(obj, "opened_at"),
        met=met if isinstance(met, bool) else None,
        elapsed_s=_number(obj, "elapsed_seconds", incident and outcome),
        target_s=_number(obj, "target_seconds"),
        period_start_ms=_instant(obj, "period_start", periodic),
        period_end_ms=_instant(obj, "period_end", periodic),
        target=_number(obj, "target"),
        availability=_number(obj, "availability", availability_outcome),
        downtime_s=_number(obj, "downtime_seconds", availability_outcome),
        degraded_s=_number(obj, "degraded_seconds"),
        credit_percent=_number(obj, "credit_percent") or 0.0,
        outages=_count(obj, "outages"),
        **_objective_fields(obj, metric, outcome, availability_outcome),
    )


def _objective_fields(obj: dict[str, Any], metric: str | None, outcome: bool,
                      availability_outcome: bool) -> dict[str, Any]:
    """The fields of a request objective's record (SPEC 9), and ``budget_seconds`` (the budget of
    an availability period or of a timeslices one); an objective's outcome needs the fields its
    figures are made of: ``good`` and ``total`` (occurrences) or the bad time and its budget
    (timeslices)."""
    requests_outcome = outcome and metric == "requests"
    budgeting = _text(obj, "budgeting", requests_outcome)
    if requests_outcome and budgeting not in ("occurrences", "timeslices"):
        msg = f"budgeting={budgeting!r}: expected occurrences or timeslices"
        raise BadRecord(msg)
    sli = _text(obj, "sli", requests_outcome)
    if requests_outcome and sli not in ("errors", "latency"):
        msg = f"sli={sli!r}: expected errors or latency"
        raise BadRecord(msg)
    counted = requests_outcome and budgeting == "occurrences"
    sliced = requests_outcome and budgeting == "timeslices"
    fields: dict[str, Any] = {
        "objective": _text(obj, "objective", requests_outcome), "sli": sli,
        "budgeting": budgeting, "good": _count(obj, "good", counted),
        "total": _count(obj, "total", counted), "ratio": _number(obj, "ratio"),
        "bad_s": _number(obj, "bad_seconds", sliced),
        "budget_s": _number(obj, "budget_seconds", availability_outcome or sliced)}
    good, total = fields["good"], fields["total"]
    if good is not None and total is not None and good > total:
        msg = f"good={good}: expected at most total ({total})"
        raise BadRecord(msg)
    return fields


# ----------------------------------------------------------------------------- the changelog


@dataclass
class Changelog:
    """Folds records in publication order into the latest record per ``alert_id``."""

    latest: dict[str, Rec] = field(default_factory=dict)
    read: int = 0
    dead_letters: int = 0
    unreadable: int = 0

    def add(self, rec: Rec) -> None:
        self.read += 1
        if rec.kind in DEAD_LETTERS:
            self.dead_letters += 1
            return
        self.latest.pop(rec.alert_id, None)  # keep the order of the latest publication
        self.latest[rec.alert_id] = rec

    def add_json(self, raw: bytes) -> str | None:
        """Fold one record's JSON; why it was skipped when it is no record, else ``None``."""
        try:
            self.add(decode_record(orjson.loads(raw)))
        except (orjson.JSONDecodeError, BadRecord) as exc:
            self.bad()
            return str(exc)
        return None

    def tombstone(self, key: str) -> None:
        """A Kafka tombstone (no value): the key is deleted, like a retraction."""
        self.read += 1
        self.latest[key] = Rec(key, "retraction")

    def bad(self) -> None:
        self.read += 1
        self.unreadable += 1

    def standing(self) -> Standing:
        records = [r for r in self.latest.values() if r.kind != "retraction"]
        return Standing(records, _reference_instants(records), read=self.read,
                        retracted=len(self.latest) - len(records),
                        dead_letters=self.dead_letters, unreadable=self.unreadable)


@dataclass
class Standing:
    """The standing alerts and outcomes, with what compaction dropped (for the summary line)."""

    records: list[Rec]
    #: each record's reference instant (its period), by ``alert_id``: found before any
    #: ``select``, so a filter never moves an incident to another period
    reference_ms: dict[str, int | None]
    read: int = 0
    retracted: int = 0
    dead_letters: int = 0
    unreadable: int = 0

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for rec in self.records:
            counts[rec.kind] = counts.get(rec.kind, 0) + 1
        return counts

    def without_opened_at(self) -> int:
        return sum(1 for r in self.records if r.kind == "outcome"
                   and is_incident_metric(r.metric) and r.opened_at_ms is None)

    def summary_line(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.kinds().items())) or "none"
        line = (f"report: {self.read} records read, {len(self.records)} standing ({kinds}), "
                f"{self.retracted} retracted, {self.dead_letters} dead letters ignored, "
                f"{self.unreadable} unreadable skipped")
        missing = self.without_opened_at()
        if missing:
            line += f"; {missing} incident outcomes without opened_at (wall time n/a for them)"
        return line

    def summary(self) -> dict[str, Any]:
        return {"records_read": self.read, "standing": len(self.records),
                "standing_by_kind": dict(sorted(self.kinds().items())),
                "retracted": self.retracted, "dead_letters": self.dead_letters,
                "unreadable": self.unreadable,
                "outcomes_without_opened_at": self.without_opened_at()}

    def select(self, keep: Callable[[Rec, int | None], bool]) -> Standing:
        """The standing records that ``keep(record, reference_ms)``; the counts stay."""
        refs = self.reference_ms
        return Standing([r for r in self.records if keep(r, refs[r.alert_id])], refs,
                        read=self.read, retracted=self.retracted,
                        dead_letters=self.dead_letters, unreadable=self.unreadable)


def _reference_instants(records: Sequence[Rec]) -> dict[str, int | None]:
    """The instant that puts each record in a period (see ``streams.report``)."""
    incident_ms: dict[str, int] = {}
    opened = {r.incident_id: r.opened_at_ms for r in records
              if r.incident_id is not None and r.opened_at_ms is not None}
    for r in records:
        if r.incident_id is not None and r.at_ms is not None and r.incident_id not in opened:
            incident_ms[r.incident_id] = min(incident_ms.get(r.incident_id, r.at_ms), r.at_ms)
    refs: dict[str, int | None] = {}
    for r in records:
        if r.incident_id is not None:
            refs[r.alert_id] = opened.get(r.incident_id, incident_ms.get(r.incident_id))
        elif r.period_start_ms is not None and r.period_end_ms is not None:
            refs[r.alert_id] = (r.period_start_ms + r.period_end_ms) // 2
        else:
            refs[r.alert_id] = r.at_ms
    return refs

