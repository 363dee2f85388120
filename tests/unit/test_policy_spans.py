"""The one span parser of policy files (working hours and weekly maintenance windows)."""

from __future__ import annotations

from typing import Any

import pytest

from streams.core.policyfile.calendars import parse_span, parse_weekly_span


@pytest.mark.parametrize(("text", "span"), [
    ("09:00-12:30", (540, 750)),
    ("00:00-24:00", (0, 1440)),
    ("23:59-24:00", (1439, 1440)),
    ("12:00-12:00", None),  # start before end
    ("13:00-12:00", None),
    ("24:00-24:00", None),  # 24:00 only as an end
    ("09:60-10:00", None),
    ("09:00-24:01", None),
    ("9:00-10:00", None),
    ("09:00-10:00\n", None),
    (" 09:00-10:00", None),
    (540, None),
])
def test_a_span(text: Any, span: tuple[int, int] | None) -> None:
    assert parse_span(text) == span


@pytest.mark.parametrize(("text", "found"), [
    ("sun 02:00-04:00", (6, (120, 240))),
    ("mon 00:00-24:00", (0, (0, 1440))),
    ("sun  02:00-04:00", None),
    ("sunday 02:00-04:00", None),
    ("Sun 02:00-04:00", None),
    ("sun 04:00-02:00", None),
    ("sun", None),
    (None, None),
])
def test_a_weekly_span(text: Any, found: tuple[int, tuple[int, int]] | None) -> None:
    assert parse_weekly_span(text) == found
