"""Instants and durations (SPEC section 1), as whole integer milliseconds.

An instant is an RFC 3339 string with an offset or a JSON integer of epoch milliseconds; digits past
the millisecond are truncated. A duration is ``250ms``, ``90s``, ``15m``, ``4h``, ``2d``, a
combination (``1h30m``, ``1s500ms``), ISO 8601 (``PT1H30M``, ``P2D``, ``PT0.25S``) or an integer
of seconds; ``d`` is always 24 hours.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from .errors import InvalidDuration, InvalidInstant

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

_fromiso = datetime.fromisoformat
#: The instant range of SPEC section 1, ``[1970-01-01T00:00:00Z, 9000-01-01T00:00:00Z)``: every
#: instant read (events, ticks, policies, stored clocks) lies in it, so no calendar, period or heap
#: computation downstream ever leaves what ``datetime`` can represent (year 9999).
MIN_INSTANT_MS = 0
END_INSTANT_MS = 221845392000000  # 9000-01-01T00:00:00Z, excluded
#: Before every instant: "not yet" (a clock never set, a heartbeat never seen, a policy version in
#: force always). After every instant: "not before the end of time" (nothing due, nothing cached).
#: Both lie far outside the instant range, so no instant read ever equals either.
NEVER_MS = -(2**62)
FAR_MS = 2**62
_RANGE = "expected an instant from 1970-01-01T00:00:00Z to before 9000-01-01T00:00:00Z"
_MIN_MS = -62135596800000  # 0001-01-01T00:00:00Z: what format_instant can still write
_MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


def parse_instant(value: Any) -> int:
    """Epoch milliseconds of an RFC 3339 string with an offset, or of an integer of epoch ms."""
    if type(value) is str:
        # the common shapes, 2026-03-02T09:15:00Z and 2026-03-02T09:15:00.123Z, in one C call
        n = len(value)
        if (
            (n == 24 and value[19] == "." or n == 20)
            and value[-1] == "Z"
            and value[10] == "T"
            and value[4] == "-"
            and value[7] == "-"
            and value[13] == ":"
            and value[16] == ":"
            and value.isascii()
        ):
            try:
                ms = round(_fromiso(value).timestamp() * 1000)
            except ValueError:
                pass
            else:
                if MIN_INSTANT_MS <= ms < END_INSTANT_MS:
                    return ms
                msg = f"{value!r} is out of range: {_RANGE}"
                raise InvalidInstant(msg)
        return _parse_rfc3339(value)
    if type(value) is int:
        if MIN_INSTANT_MS <= value < END_INSTANT_MS:
            return value
        msg = f"{value} epoch milliseconds is out of range: {_RANGE}"
        raise InvalidInstant(msg)
    msg = (
        f"{value!r} is not an instant: expected an RFC 3339 string with an offset "
        "or an integer of epoch milliseconds"
    )
    raise InvalidInstant(msg)


def _parse_rfc3339(value: str) -> int:
    bad = InvalidInstant(
        f"{value!r} is not an RFC 3339 instant with an offset "
        "(expected e.g. 2026-03-02T09:15:00Z or 2026-03-02T10:15:00+01:00)"
    )
    n = len(value)
    if (
        n < 20
        or value[4] != "-"
        or value[7] != "-"
        or value[10] not in "Tt "
        or value[13] != ":"
        or value[16] != ":"
    ):
        raise bad
    last = value[-1]
    if last in "Zz":
        body, offset = value[:-1], "+00:00"
    elif n >= 25 and value[-3] == ":" and value[-6] in "+-":
        body, offset = value[:-6], value[-6:]
        if not (offset[1:3].isdigit() and offset[4:6].isdigit() and offset[4] < "6"):
            raise bad
    else:
        raise bad
    if len(body) != 19:
        frac = body[20:]
        if body[19] != "." or not frac or not frac.isdigit() or not frac.isascii():
            raise bad
        body = body[:23].ljust(23, "0")
    if not body[:4].isdigit():
        raise bad
    try:
        parsed = _fromiso(body.replace("t", "T").replace(" ", "T") + offset)
    except ValueError:
        raise bad from None
    ms = round(parsed.timestamp() * 1000)
    if not MIN_INSTANT_MS <= ms < END_INSTANT_MS:
        msg = f"{value!r} is out of range: {_RANGE}"
        raise InvalidInstant(msg)
    return ms


_MINUTES: dict[int, str] = {}  # minute number -> "YYYY-MM-DDTHH:MM" (formatting is hot)


def format_instant(ms: int) -> str:
    """``2026-03-02T09:15:00.000Z``: RFC 3339 in UTC with millisecond precision."""
    minute, rem = divmod(ms, MINUTE_MS)
    prefix = _MINUTES.get(minute)
    if prefix is None:
        if not _MIN_MS <= ms <= _MAX_MS:
            msg = f"{ms} is out of range for an RFC 3339 instant"
            raise InvalidInstant(msg)
        if len(_MINUTES) >= 200_000:
            _MINUTES.clear()
        when = datetime.fromtimestamp(minute * 60, UTC)
        prefix = _MINUTES[minute] = when.replace(tzinfo=None).isoformat(timespec="minutes")
    return f"{prefix}:{rem // 1000:02d}.{rem % 1000:03d}Z"


_SIMPLE = re.compile(
    r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?\Z", re.ASCII)
_ISO = re.compile(
    r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d{1,3}))?S)?)?\Z", re.ASCII
)


def parse_duration(value: Any) -> int:
    """Milliseconds of a duration: ``250ms``, ``1h30m``, ``1s500ms``, ``PT1H30M``, ``PT0.25S``,
    ``P2D`` or an integer of seconds."""
    if type(value) is int:
        if value < 0:
            msg = f"{value} is negative: a duration is at least 0 seconds"
            raise InvalidDuration(msg)
        return value * SECOND_MS
    if type(value) is not str or not value:
        msg = (
            f"{value!r} is not a duration: expected e.g. 90s, 15m, 4h, 2d, 1h30m, PT1H30M "
            "or an integer of seconds"
        )
        raise InvalidDuration(msg)
    text = value.strip()
    m = _SIMPLE.match(text)
    if m is not None and any(m.groups()):
        days, hours, minutes, secs, millis = (int(g) if g else 0 for g in m.groups())
        return (((days * 24 + hours) * 60 + minutes) * MINUTE_MS + secs * SECOND_MS + millis)
    m = _ISO.match(text.upper())
    if m is not None and any(g is not None for g in m.groups()) and not text.upper().endswith("T"):
        w, d, h, mi, s, frac = m.groups()
        total = (int(w or 0) * 7 + int(d or 0)) * DAY_MS
        total += int(h or 0) * HOUR_MS + int(mi or 0) * MINUTE_MS + int(s or 0) * SECOND_MS
        if frac:
            total += int(frac.ljust(3, "0"))
        return total
    msg = (
        f"{value!r} is not a duration: expected e.g. 90s, 15m, 4h, 2d, 1h30m, PT1H30M "
        "or an integer of seconds"
    )
    raise InvalidDuration(msg)

