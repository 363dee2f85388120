"""Incident events (SPEC section 2): checked once, at the edge, into a compact immutable form."""

from __future__ import annotations

import re
from sys import intern
from typing import Any

from .errors import InvalidEvent, InvalidInstant
from .timefmt import parse_instant

(OPENED, ACKNOWLEDGED, PAUSED, RESUMED, RESOLVED, REOPENED, CLOSED, SEVERITY_CHANGED,
 UPDATED, MILESTONE) = range(10)
TYPES = {
    "opened": OPENED,
    "acknowledged": ACKNOWLEDGED,
    "paused": PAUSED,
    "resumed": RESUMED,
    "resolved": RESOLVED,
    "reopened": REOPENED,
    "closed": CLOSED,
    "severity_changed": SEVERITY_CHANGED,
    "updated": UPDATED,
    "milestone": MILESTONE,
}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
#: SPEC sections 2 and 4.1: a milestone's name (``on_site``), and a custom clock's.
NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


class IncidentEvent:
    """One valid incident event.

    ``seq`` is its arrival number (ties on ``at`` keep arrival order). ``milestone`` is the name
    of a ``milestone`` event (None for every other type: the field is an extra one there).
    """

    __slots__ = ("incident_id", "event_id", "type", "at", "seq", "severity", "service", "customer",
                 "attributes", "milestone")

    def __init__(self, incident_id: str, event_id: str, type_: int, at: int, severity: str | None,
                 service: str | None, customer: str | None, attributes: dict[str, Any] | None,
                 seq: int = 0, milestone: str | None = None) -> None:
        self.incident_id = incident_id
        self.event_id = event_id
        self.type = type_
        self.at = at
        self.seq = seq
        self.severity = severity
        self.service = service
        self.customer = customer
        self.attributes = attributes
        self.milestone = milestone

    def __repr__(self) -> str:
        return (f"IncidentEvent({self.incident_id!r}, {self.event_id!r}, {TYPE_NAMES[self.type]}, "
                f"at={self.at})")


#: The longest string an identifying field (``incident_id``, ``event_id``, ``service``,
#: ``customer``, ``severity``, ``instance``) may hold: they are keys and values of the tables.
MAX_FIELD_CHARS = 256


def _too_long(name: str, value: str, what: str) -> InvalidEvent:
    return InvalidEvent(f"{what}: field {name!r} is {len(value):,} characters long, more than "
                        f"the limit of {MAX_FIELD_CHARS}", "bad_field")


def _text(obj: dict[str, Any], name: str, what: str) -> str:
    value = obj.get(name)
    if type(value) is str and value:
        if len(value) > MAX_FIELD_CHARS:
            raise _too_long(name, value, what)
        return value
    if value is None:
        msg = f"{what}: missing required field {name!r}"
        raise InvalidEvent(msg, "missing_field")
    if type(value) is int:
        return str(value)
    msg = f"{what}: field {name!r} is {value!r}, expected a non-empty string"
    raise InvalidEvent(msg,
                       "bad_field")


def _at(obj: dict[str, Any], subject: str, event_id: str | None) -> int:
    """The ``at`` field as epoch ms, or ``InvalidEvent`` saying whose ``at`` is missing or bad."""
    at = obj.get("at")
    try:
        return parse_instant(at)
    except InvalidInstant as exc:
        what = (f"incident {subject!r} event {event_id!r}" if event_id is not None
                else f"service {subject!r} heartbeat")
        if at is None and "at" not in obj:
            msg = f"{what}: missing required field 'at'"
            raise InvalidEvent(msg, "missing_field") from None
        msg = f"{what}: field 'at': {exc}"
        raise InvalidEvent(msg, "bad_timestamp") from None


def incident_event(obj: Any) -> IncidentEvent:
    """Check one decoded JSON value as an incident event.

    Raises ``InvalidEvent`` naming the field.
    """
    if type(obj) is not dict:
        msg = f"expected a JSON object, got {type(obj).__name__}"
        raise InvalidEvent(msg, "not_an_object")
    get = obj.get
    incident_id = get("incident_id")
    if type(incident_id) is not str or not incident_id or len(incident_id) > MAX_FIELD_CHARS:
        incident_id = _text(obj, "incident_id", "incident event")
    event_id = get("event_id")
    if type(event_id) is not str or not event_id or len(event_id) > MAX_FIELD_CHARS:
        event_id = _text(obj, "event_id", f"incident {incident_id!r}")
    type_name = get("type")
    type_ = TYPES.get(type_name) if type(type_name) is str else None
    if type_ is None:
        what = f"incident {incident_id!r} event {event_id!r}"
        if type_name is None:
            msg = f"{what}: missing required field 'type'"
            raise InvalidEvent(msg, "missing_field")
        msg = (
            f"{what}: unknown type {type_name!r}; expected one of "
            f"{', '.join(TYPES)}"
        )
        raise InvalidEvent(msg, "unknown_type")
    at = _at(obj, incident_id, event_id)
    severity = service = customer = None
    # the names many incidents share are held once (``sys.intern``: freed with the last holder)
    if type_ == OPENED:
        what = f"incident {incident_id!r} event {event_id!r}"
        severity = intern(_text(obj, "severity", what))
        service = intern(_text(obj, "service", what))
        customer = intern(_text(obj, "customer", what))
    elif type_ == SEVERITY_CHANGED:
        severity = intern(_text(obj, "severity", f"incident {incident_id!r} event {event_id!r}"))
    milestone = None
    if type_ == MILESTONE:
        milestone = intern(_milestone(obj, f"incident {incident_id!r} event {event_id!r}"))
    attributes = get("attributes")
    if attributes is not None and type(attributes) is not dict:
        msg = (
            f"incident {incident_id!r} event {event_id!r}: field 'attributes' is "
            f"{attributes!r}, expected an object"
        )
        raise InvalidEvent(msg, "bad_field")
    return IncidentEvent(incident_id, event_id, type_, at, severity, service, customer, attributes,
                         0, milestone)


def _milestone(obj: dict[str, Any], what: str) -> str:
    """The ``milestone`` field of a ``milestone`` event: a name such as ``on_site``."""
    value = obj.get("milestone")
    if value is None:
        msg = f"{what}: missing required field 'milestone'"
        raise InvalidEvent(msg, "missing_field")
    if type(value) is str and len(value) > MAX_FIELD_CHARS:
        name = "milestone"
        raise _too_long(name, value, what)
    if type(value) is not str or NAME.match(value) is None:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:80] + "..."
        msg = (f"{what}: field 'milestone' is {shown}, expected a name matching "
               "[a-z][a-z0-9_]* such as on_site")
        raise InvalidEvent(msg, "bad_field")
    return value


UP, DEGRADED, DOWN = 0, 1, 2
STATUSES = {"up": UP, "degraded": DEGRADED, "down": DOWN}


class Heartbeat:
    """One valid heartbeat; ``instance`` is "" when absent (the service's own instance)."""

    __slots__ = ("service", "at", "status", "instance")

    def __init__(self, service: str, at: int, status: int, instance: str) -> None:
        self.service, self.at, self.status, self.instance = service, at, status, instance

    def __repr__(self) -> str:
        return f"Heartbeat({self.service!r}, at={self.at}, status={self.status}, {self.instance!r})"


def heartbeat(obj: Any) -> Heartbeat:
    """Check one decoded JSON value as a heartbeat; raise ``InvalidEvent`` naming the field."""
    if type(obj) is not dict:
        msg = f"expected a JSON object, got {type(obj).__name__}"
        raise InvalidEvent(msg, "not_an_object")
    get = obj.get
    service = get("service")
    if type(service) is not str or not service or len(service) > MAX_FIELD_CHARS:
        service = _text(obj, "service", "heartbeat")
    status_name = get("status")
    status = STATUSES.get(status_name) if type(status_name) is str else None
    if status is None:
        if status_name is None:
            msg = f"service {service!r} heartbeat: missing required field 'status'"
            raise InvalidEvent(msg,
                               "missing_field")
        msg = (
            f"service {service!r} heartbeat: unknown status {status_name!r}; "
            "expected up, down or degraded"
        )
        raise InvalidEvent(msg, "bad_field")
    at = _at(obj, service, None)
    instance = get("instance")
    if instance is None:
        instance = ""
    elif type(instance) is not str:
        if type(instance) is not int:
            msg = (
                f"service {service!r} heartbeat: field 'instance' is {instance!r},"
                " expected a string"
            )
            raise InvalidEvent(msg, "bad_field")
        instance = str(instance)
    elif len(instance) > MAX_FIELD_CHARS:
        msg = "instance"
        raise _too_long(msg, instance, f"service {service!r} heartbeat")
    return Heartbeat(service, at, status, instance)


#: SPEC section 6: how far past its reference instant an input's ``at`` may lie (``max_future``).
DEFAULT_MAX_FUTURE_MS = 5 * 60 * 1000


def check_future(at_ms: int, reference_ms: int | None, max_future_ms: int) -> None:
    """Raise ``InvalidEvent`` (reason ``future``) when ``at_ms`` lies more than ``max_future_ms``
    after ``reference_ms`` (SPEC section 6); ``reference_ms`` None means no bound (a file replay
    without ``--until``). Such a record changes nothing and never moves a clock."""
    if reference_ms is not None and at_ms > reference_ms + max_future_ms:
        from .timefmt import format_instant

        msg = (
            f"field 'at' is {format_instant(at_ms)}, more than max_future "
            f"({max_future_ms / 1000:g}s) after the reference instant "
            f"{format_instant(reference_ms)}: an event from the future changes nothing"
        )
        raise InvalidEvent(msg, "future")
