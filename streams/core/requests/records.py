"""Request counts (SPEC section 2, ``sla.requests``): checked once, at the edge, into a compact
immutable form, as heartbeats are (``core.events``).

One record counts requests that ended at or shortly before ``at``: a single request (an access-log
line, a span: ``total`` 1, maybe ``duration_ms``) or an aggregate over an interval ending at ``at``
(``total``, ``errors``, cumulative ``latency_le`` buckets). Every rule of the section 2 table is
checked here and a broken one raises ``InvalidEvent`` naming the field (reasons ``not_an_object``,
``missing_field``, ``bad_field``, ``bad_timestamp``, as for heartbeats); ``duplicate`` and ``late``
need the fold's state and are the book's (``requests.book``).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from ..errors import InvalidDuration, InvalidEvent, InvalidInstant
from ..events import MAX_FIELD_CHARS, _text
from ..timefmt import parse_duration, parse_instant

#: The key of the bucket that holds every request (Prometheus' ``le="+Inf"``).
INF_KEY = "+Inf"
#: ``latency_le`` with more buckets than this is refused (a record is at most 64 KiB anyway).
MAX_BUCKETS = 256
INF_MS = 2**62  # the +Inf bucket's bound: above every duration


class RequestCount:
    """One valid request count. ``latency_le`` is (bound_ms, count) pairs sorted by bound
    (``INF_MS`` for ``+Inf``), or None; ``duration_ms`` the single request's latency as written
    (an int or a float), or None."""

    __slots__ = ("service", "at", "total", "errors", "latency_le", "duration_ms", "customer",
                 "event_id")

    def __init__(self, service: str, at: int, total: int = 1, errors: int = 0,
                 latency_le: tuple[tuple[int, int], ...] | None = None,
                 duration_ms: int | float | None = None, customer: str | None = None,
                 event_id: str | None = None) -> None:
        self.service, self.at, self.total, self.errors = service, at, total, errors
        self.latency_le, self.duration_ms = latency_le, duration_ms
        self.customer, self.event_id = customer, event_id

    def within(self, threshold_ms: int) -> int | None:
        """How many of the requests took at most ``threshold_ms``; None when the record does
        not say (no ``duration_ms``, no ``latency_le`` bucket of exactly that duration): it does
        not count for a latency objective of that threshold at all (SPEC section 9)."""
        if self.duration_ms is not None:
            return 1 if self.duration_ms <= threshold_ms else 0
        if self.latency_le is not None:
            for bound, count in self.latency_le:
                if bound == threshold_ms:
                    return count
        return None

    def __repr__(self) -> str:
        return (f"RequestCount({self.service!r}, at={self.at}, total={self.total}, "
                f"errors={self.errors})")


def _count(obj: dict[str, Any], name: str, what: str, default: int, most: int | None) -> int:
    """An integer count field in ``[0, most]`` (``most`` None: no upper bound)."""
    value = obj.get(name, default)
    if type(value) is not int:
        kind = "a float" if type(value) is float else repr(value)
        msg = f"{what}: field {name!r} is {kind}, expected an integer >= 0"
        raise InvalidEvent(msg, "bad_field")
    if value < 0 or (most is not None and value > most):
        bound = f"in [0, total = {most}]" if most is not None else ">= 0"
        msg = f"{what}: field {name!r} is {value}, expected an integer {bound}"
        raise InvalidEvent(msg, "bad_field")
    return value


def _buckets(value: Any, total: int, what: str) -> tuple[tuple[int, int], ...]:
    """``latency_le`` checked: duration keys (``+Inf`` allowed, equal to ``total``), integer
    counts in ``[0, total]``, not decreasing with the duration."""
    if type(value) is not dict:
        msg = f"{what}: field 'latency_le' is {value!r}, expected an object of duration -> count"
        raise InvalidEvent(msg, "bad_field")
    if len(value) > MAX_BUCKETS:
        msg = f"{what}: field 'latency_le' has {len(value):,} buckets, more than {MAX_BUCKETS}"
        raise InvalidEvent(msg, "bad_field")
    pairs: dict[int, tuple[str, int]] = {}
    for key, count in value.items():
        field = f"latency_le[{key!r}]"
        if key == INF_KEY:
            bound = INF_MS
        else:
            try:
                bound = _bound(key)
            except InvalidDuration as exc:
                msg = f"{what}: field {field}: the key is not a duration ({exc}) nor '+Inf'"
                raise InvalidEvent(msg, "bad_field") from None
        if type(count) is not int or not 0 <= count <= total:
            kind = "a float" if type(count) is float else repr(count)
            msg = f"{what}: field {field} is {kind}, expected an integer in [0, total = {total}]"
            raise InvalidEvent(msg, "bad_field")
        if bound in pairs:
            msg = (f"{what}: field {field} is the same duration as {pairs[bound][0]!r}: "
                   "each bucket once")
            raise InvalidEvent(msg, "bad_field")
        pairs[bound] = (key, count)
    ordered = sorted(pairs.items())
    for (_, (k1, c1)), (_, (k2, c2)) in zip(ordered, ordered[1:], strict=False):
        if c2 < c1:
            msg = (f"{what}: field latency_le[{k2!r}] is {c2}, less than latency_le[{k1!r}] = "
                   f"{c1}: cumulative buckets do not decrease with the duration")
            raise InvalidEvent(msg, "bad_field")
    if INF_MS in pairs and pairs[INF_MS][1] != total:
        msg = (f"{what}: field latency_le['+Inf'] is {pairs[INF_MS][1]}, expected total "
               f"({total}): every request took at most +Inf")
        raise InvalidEvent(msg, "bad_field")
    return tuple((bound, count) for bound, (_, count) in ordered)


@lru_cache(maxsize=1024)
def _bound(key: str) -> int:
    """A bucket key as ms (the few keys of a histogram come again on every record)."""
    return parse_duration(key)


def _optional_text(obj: dict[str, Any], name: str, what: str) -> str | None:
    if obj.get(name) is None:
        return None
    return _text(obj, name, what)


def request_count(obj: Any) -> RequestCount:
    """Check one decoded JSON value as a request count; raise ``InvalidEvent`` naming the
    field."""
    if type(obj) is not dict:
        msg = f"expected a JSON object, got {type(obj).__name__}"
        raise InvalidEvent(msg, "not_an_object")
    service = obj.get("service")
    if type(service) is not str or not service or len(service) > MAX_FIELD_CHARS:
        service = _text(obj, "service", "request count")
    what = f"service {service!r} request count"
    event_id = _optional_text(obj, "event_id", what)
    if event_id is not None:
        what = f"{what} {event_id!r}"
    if "at" not in obj:
        msg = f"{what}: missing required field 'at'"
        raise InvalidEvent(msg, "missing_field")
    try:
        at = parse_instant(obj["at"])
    except InvalidInstant as exc:
        msg = f"{what}: field 'at': {exc}"
        raise InvalidEvent(msg, "bad_timestamp") from None
    total = _count(obj, "total", what, 1, None)
    errors = _count(obj, "errors", what, 0, total)
    buckets = obj.get("latency_le")
    latency = None if buckets is None else _buckets(buckets, total, what)
    duration = obj.get("duration_ms")
    if duration is not None:
        if type(duration) not in (int, float) or not math.isfinite(duration) or duration < 0:
            msg = f"{what}: field 'duration_ms' is {duration!r}, expected a number >= 0"
            raise InvalidEvent(msg, "bad_field")
        if total != 1:
            msg = (f"{what}: field 'duration_ms' is for a single request, but total is "
                   f"{total}: give latency_le buckets for an aggregate")
            raise InvalidEvent(msg, "bad_field")
        if latency is not None:
            msg = f"{what}: field 'duration_ms' beside 'latency_le': give one of them"
            raise InvalidEvent(msg, "bad_field")
    customer = _optional_text(obj, "customer", what)
    return RequestCount(service, at, total, errors, latency, duration, customer, event_id)
