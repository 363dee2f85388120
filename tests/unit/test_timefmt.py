"""Instants and durations (SPEC section 1): tables of edge cases, then properties.

Expected values come from ``utc_ms`` below (naive ``datetime`` arithmetic, no parsing) or are
spelled out by hand; nothing here is a number copied from a run of the code under test.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.errors import InvalidDuration, InvalidInstant, SlawatchError
from streams.core.timefmt import format_instant, parse_duration, parse_instant

_EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)

S, M, H, D = 1000, 60_000, 3_600_000, 86_400_000


def utc_ms(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, milli: int = 0,
           offset_min: int = 0) -> int:
    """Epoch ms of a wall time at a fixed offset (minutes east of UTC), by plain arithmetic."""
    local = (datetime(y, mo, d, h, mi, s) - _EPOCH) // _MS + milli
    return local - offset_min * M


MIN_MS = utc_ms(1, 1, 1)  # what format_instant can write
MAX_MS = utc_ms(9999, 12, 31, 23, 59, 59, 999)
FIRST_MS = 0  # SPEC section 1: instants read lie in [1970-01-01T00:00:00Z, 9000-01-01T00:00:00Z)
LAST_MS = utc_ms(8999, 12, 31, 23, 59, 59, 999)
T0 = utc_ms(2026, 3, 2, 9, 15)  # 2026-03-02T09:15:00Z


def test_reference_anchor_by_hand() -> None:
    # 1970..2025 is 56 years with 14 leap days, then Jan (31) + Feb (28) + 1 day:
    # 20514 days * 86400 s + 9 h 15 min = 1_772_442_900 s
    assert T0 == 1_772_442_900_000
    assert parse_instant("2026-03-02T09:15:00Z") == 1_772_442_900_000


# ----------------------------------------------------------------------------- parse_instant

VALID = [
    ("2026-03-02T09:15:00Z", T0),
    ("2026-03-02T10:15:00+01:00", T0),
    ("2026-03-02T14:45:00+05:30", T0),
    ("2026-03-02T05:15:00-04:00", T0),
    ("2026-03-02T09:15:00+00:00", T0),
    ("2026-03-02T09:15:00-00:00", T0),
    ("2026-03-02t09:15:00z", T0),
    ("2026-03-02t10:15:00+01:00", T0),
    ("2026-03-02T09:15:00z", T0),
    # the local date differs from the UTC date
    ("2026-03-01T23:30:00-04:00", utc_ms(2026, 3, 2, 3, 30)),
    ("2026-01-01T00:30:00+05:30", utc_ms(2025, 12, 31, 19, 0)),
    ("2024-02-29T12:00:00Z", utc_ms(2024, 2, 29, 12)),
    # fractions: milliseconds kept, digits past them truncated (never rounded up)
    ("2026-03-02T09:15:00.5Z", T0 + 500),
    ("2026-03-02T09:15:00.05Z", T0 + 50),
    ("2026-03-02T09:15:00.123Z", T0 + 123),
    ("2026-03-02T09:15:00.1239Z", T0 + 123),
    ("2026-03-02T09:15:00.999999999Z", T0 + 999),
    ("2026-03-02T10:15:00.9996+01:00", T0 + 999),
    ("2026-03-02T14:45:00.0009+05:30", T0),
    ("1970-01-01T00:00:00Z", 0),
    ("1970-01-01T00:00:00.0009Z", 0),
    ("1970-01-01T01:00:00+01:00", FIRST_MS),
    ("8999-12-31T23:59:59.999Z", LAST_MS),
    ("8999-12-31T23:59:59.999999Z", LAST_MS),
    ("8999-12-31T18:59:59.999-05:00", LAST_MS),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_parse_instant_rfc3339(text: str, expected: int) -> None:
    assert parse_instant(text) == expected


@pytest.mark.parametrize("value", [-1, MIN_MS, MAX_MS, LAST_MS + 1, 2**62])
def test_an_epoch_ms_integer_out_of_range_is_invalid(value: int) -> None:
    with pytest.raises(InvalidInstant, match="out of range"):
        parse_instant(value)


@pytest.mark.parametrize("value", [0, 1, T0, T0 + 123, FIRST_MS, LAST_MS])
def test_parse_instant_epoch_ms_integer(value: int) -> None:
    result = parse_instant(value)
    assert result == value
    assert type(result) is int


INVALID = [
    # no offset
    "2026-03-02T09:15:00",
    "2026-03-02T09:15:00.123",
    "2026-03-02t09:15:00",
    # date only, or a time without seconds
    "2026-03-02",
    "2026-03-02T09:15Z",
    "2026-03-02T09:15+01:00",
    # offsets that are not +HH:MM
    "2026-03-02T10:15:00+0100",
    "2026-03-02T10:15:00+01",
    "2026-03-02T10:15:00+1:00",
    "2026-03-02T10:15:00 +01:00",
    "2026-03-02T10:15:00+24:00",
    "2026-03-02T10:15:00+05:60",
    "2026-03-02T10:15:00+01:00Z",
    # other ISO 8601 spellings that RFC 3339 does not have
    "20260302T091500Z",
    "2026-03-02T09:15:00,5Z",
    "2026-03-02T09:15:00.Z",
    "2026-061T09:15:00Z",
    "2026-W10-1T09:15:00Z",
    # out-of-range fields
    "2026-13-01T00:00:00Z",
    "2026-00-01T00:00:00Z",
    "2026-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-03-02T24:00:00Z",
    "2026-03-02T09:60:00Z",
    "2026-03-02T09:15:61Z",
    # out of range (SPEC section 1): before 1970-01-01T00:00:00Z or from 9000-01-01T00:00:00Z
    "1969-12-31T23:59:59.9999Z",
    "1970-01-01T00:59:59+01:00",
    "9000-01-01T00:00:00Z",
    "8999-12-31T23:59:59-00:01",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999Z",
    "9999-12-31T23:59:59-00:01",
    "9999-12-31T23:30:00-01:00",
    "0001-01-01T00:00:00+00:01",
    # garbage and look-alikes
    "",
    " ",
    "garbage",
    "now",
    "1772442900000",
    "2026-03-02T09:15:00.\u0661\u0662Z",  # Arabic-Indic digits in the fraction
    "2026-0\u0663-02T09:15:00Z",  # an Arabic-Indic digit in the month
    " 2026-03-02T09:15:00Z",
    "2026-03-02T09:15:00Z ",
]


@pytest.mark.parametrize("text", INVALID)
def test_parse_instant_rejects_strings(text: str) -> None:
    with pytest.raises(InvalidInstant):
        parse_instant(text)


@pytest.mark.parametrize(
    "value",
    [
        1772442900000.0,  # a float, even a whole one
        1.5,
        float("nan"),
        True,
        False,
        None,
        MIN_MS - 1,
        MAX_MS + 1,
        2**63,
        -(2**63),
        [T0],
        {"at": T0},
        b"2026-03-02T09:15:00Z",
    ],
)
def test_parse_instant_rejects_non_instants(value: object) -> None:
    with pytest.raises(InvalidInstant):
        parse_instant(value)


def test_invalid_instant_is_a_slawatch_value_error() -> None:
    with pytest.raises(SlawatchError):
        parse_instant("2026-03-02T09:15:00")
    with pytest.raises(ValueError):
        parse_instant(1.0)


def test_invalid_instant_message_names_the_value() -> None:
    with pytest.raises(InvalidInstant, match="2026-03-02T09:15:00"):
        parse_instant("2026-03-02T09:15:00")


# ----------------------------------------------------------------------------- format_instant

FORMATTED = [
    (T0, "2026-03-02T09:15:00.000Z"),
    (T0 + 5, "2026-03-02T09:15:00.005Z"),
    (T0 + 123, "2026-03-02T09:15:00.123Z"),
    (T0 + 59 * S + 999, "2026-03-02T09:15:59.999Z"),
    (0, "1970-01-01T00:00:00.000Z"),
    (-1, "1969-12-31T23:59:59.999Z"),
    (-1000, "1969-12-31T23:59:59.000Z"),
    (utc_ms(2024, 2, 29, 23, 59, 59, 1), "2024-02-29T23:59:59.001Z"),
    (utc_ms(2026, 12, 31, 23, 59, 59, 999), "2026-12-31T23:59:59.999Z"),
    (MIN_MS, "0001-01-01T00:00:00.000Z"),  # a four-digit year, always
    (utc_ms(999, 6, 1), "0999-06-01T00:00:00.000Z"),
    (MAX_MS, "9999-12-31T23:59:59.999Z"),
]


@pytest.mark.parametrize(("ms", "text"), FORMATTED)
def test_format_instant(ms: int, text: str) -> None:
    assert format_instant(ms) == text


def test_format_instant_normalises_offsets_to_utc() -> None:
    ms = parse_instant("2026-03-02T14:45:00.1239+05:30")
    assert format_instant(ms) == "2026-03-02T09:15:00.123Z"


# ----------------------------------------------------------------------------- parse_duration

DURATIONS = [
    ("90s", 90 * S),
    ("15m", 15 * M),
    ("4h", 4 * H),
    ("2d", 2 * D),
    ("1d", 24 * H),  # d is always 24 hours
    ("0s", 0),
    ("1h30m", 90 * M),
    ("1d2h3m4s", D + 2 * H + 3 * M + 4 * S),
    ("2h0m", 2 * H),
    ("90m", 90 * M),
    ("3600s", H),
    ("PT1H30M", 90 * M),
    ("PT90S", 90 * S),
    ("PT15M", 15 * M),
    ("P2D", 2 * D),
    ("P1DT12H", D + 12 * H),
    ("P1W", 7 * D),
    ("PT0S", 0),
    (90, 90 * S),
    (0, 0),
    (86400, D),
    (1, S),
]


@pytest.mark.parametrize(("value", "expected"), DURATIONS)
def test_parse_duration(value: object, expected: int) -> None:
    result = parse_duration(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "value",
    [
        -1,
        -90,
        "-90s",
        "-1h",
        "1.5h",
        "1,5h",
        "",
        "abc",
        "h",
        "1x",
        "1w",
        "P",
        "PT",
        "P1DT",
        "P1Y",
        "P1M",
        "PT1.5H",
        "1h 30m",
        "\u0669\u0660s",  # Arabic-Indic digits
        1.5,
        90.0,
        True,
        False,
        None,
        [90],
    ],
)
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(InvalidDuration):
        parse_duration(value)


# ----------------------------------------------------------------------------- properties

instants = st.integers(min_value=FIRST_MS, max_value=LAST_MS)


@settings(max_examples=300, deadline=None)
@given(instants)
def test_format_then_parse_is_identity(ms: int) -> None:
    text = format_instant(ms)
    assert len(text) == 24 and text.endswith("Z")
    assert parse_instant(text) == ms


@settings(max_examples=300, deadline=None)
@given(
    when=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 12, 30)),
    offset_min=st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
    extra=st.text(alphabet="0123456789", max_size=9),
    separator=st.sampled_from("Tt"),
)
def test_parse_matches_the_arithmetic_reference(
    when: datetime, offset_min: int, extra: str, separator: str
) -> None:
    """Any wall time, any offset, any number of digits past the milliseconds (truncated)."""
    milli = when.microsecond // 1000
    sign = "-" if offset_min < 0 else "+"
    hh, mm = divmod(abs(offset_min), 60)
    text = (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}{separator}"
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}.{milli:03d}{extra}"
        f"{sign}{hh:02d}:{mm:02d}"
    )
    expected = utc_ms(when.year, when.month, when.day, when.hour, when.minute, when.second,
                      milli, offset_min)
    assert parse_instant(text) == expected
    if offset_min == 0:
        assert parse_instant(text[:-6] + "Z") == expected


@settings(max_examples=200, deadline=None)
@given(
    d=st.integers(0, 400), h=st.integers(0, 99), m=st.integers(0, 999), s=st.integers(0, 99_999),
    use=st.sets(st.sampled_from("dhms"), min_size=1),
)
def test_duration_forms_agree(d: int, h: int, m: int, s: int, use: set[str]) -> None:
    parts = {"d": d if "d" in use else 0, "h": h if "h" in use else 0,
             "m": m if "m" in use else 0, "s": s if "s" in use else 0}
    expected = ((parts["d"] * 24 + parts["h"]) * 60 + parts["m"]) * M + parts["s"] * S
    short = "".join(f"{parts[u]}{u}" for u in "dhms" if u in use)
    assert parse_duration(short) == expected
    iso = "P" + (f"{parts['d']}D" if "d" in use else "")
    if use & set("hms"):
        iso += "T" + "".join(f"{parts[u]}{u.upper()}" for u in "hms" if u in use)
    assert parse_duration(iso) == expected
    if expected % S == 0:
        assert parse_duration(expected // S) == expected
