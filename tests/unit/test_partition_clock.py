"""The live clock of a partition (SPEC section 6) as a pure function: the wall clock once caught
up; while behind, the watermark of its inputs, never past the wall clock, never back."""

from __future__ import annotations

import pytest

from streams.state import partition_clock

INC, SVC = "incidents", "services"


@pytest.mark.parametrize(("now", "wall", "caught_up", "applied", "remaining", "expected", "why"), [
    (100, 5_000, True, {INC: 200, SVC: 300}, [], 5_000, "caught up: the wall clock"),
    (100, 5_000, False, {INC: 2_000, SVC: 900}, [INC, SVC], 899,
     "behind on both: the least, less 1 ms"),
    (100, 5_000, False, {INC: 2_000, SVC: 900}, [INC], 1_999,
     "heartbeats read to their end do not hold the clock back"),
    (100, 5_000, False, {INC: 2_000, SVC: 900}, [SVC], 899, "incidents read to their end"),
    (100, 5_000, False, {INC: 2_000}, [INC, SVC], 100,
     "heartbeats left to read, none applied yet: the clock holds"),
    (100, 1_500, False, {INC: 2_000, SVC: 3_000}, [INC, SVC], 1_500, "never past the wall clock"),
    (100, None, False, {INC: 2_000, SVC: 3_000}, [INC, SVC], 1_999, "no wall clock (manual ticks)"),
    (5_000, 9_000, False, {INC: 2_000, SVC: 3_000}, [INC, SVC], 5_000, "never back"),
    (5_000, 4_000, True, {}, [], 5_000, "caught up, a wall clock behind the clock: never back"),
    (100, 5_000, False, {}, [], 100, "nothing applied, nothing left: holds"),
    (100, 5_000, False, {INC: 700, SVC: 900}, [], 699,
     "behind by the caller's word but nothing left: the least applied"),
])
def test_partition_clock(now: int, wall: int | None, caught_up: bool, applied: dict[str, int],
                         remaining: list[str], expected: int, why: str) -> None:
    assert partition_clock(now, wall, caught_up, applied, remaining) == expected, why
