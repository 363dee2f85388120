"""The tables of the built-in clocks (``core.clocks.transitions``), drawn from their definitions,
against SPEC section 4 written out by hand: every (event type, clock state) that does something."""

from __future__ import annotations

import pytest

from streams.core.clocks import (
    PAUSED_,
    RESOLUTION_CLOCK,
    RESPONSE_CLOCK,
    RUNNING,
    STOPPED,
    ClockDefinition,
    transitions,
)
from streams.core.events import TYPES

RESPONSE_TABLE = {
    ("acknowledged", "running"): "stop", ("acknowledged", "paused"): "stop",
    ("resolved", "running"): "stop", ("resolved", "paused"): "stop",
    ("closed", "running"): "stop", ("closed", "paused"): "stop",
    ("severity_changed", "running"): "new_severity", ("severity_changed", "paused"): "new_severity",
}
RESOLUTION_TABLE = {
    ("resolved", "running"): "stop", ("resolved", "paused"): "stop",
    ("closed", "running"): "stop", ("closed", "paused"): "stop",
    ("paused", "running"): "pause", ("resumed", "paused"): "resume",
    ("reopened", "stopped"): "reopen",
    ("severity_changed", "running"): "new_severity", ("severity_changed", "paused"): "new_severity",
}
STATES = {RUNNING: "running", PAUSED_: "paused", STOPPED: "stopped"}
TYPE_NAMES = {v: k for k, v in TYPES.items()}


def _named(definition: ClockDefinition) -> dict[tuple[str, str], str]:
    return {(TYPE_NAMES[kind], STATES[state]): action.__name__.lstrip("_")
            for (kind, state), action in transitions(definition).items()}


@pytest.mark.parametrize(("definition", "table"), [
    (RESPONSE_CLOCK, RESPONSE_TABLE), (RESOLUTION_CLOCK, RESOLUTION_TABLE)],
    ids=["response", "resolution"])
def test_a_built_in_clock_moves_as_section_4_says(definition: ClockDefinition,
                                                  table: dict[tuple[str, str], str]) -> None:
    assert _named(definition) == table


def test_what_is_not_in_a_table_is_a_no_op() -> None:
    # SPEC 4: a paused, resumed or reopened that does not apply to the clock's state
    response = transitions(RESPONSE_CLOCK)
    for kind in ("paused", "resumed", "reopened", "updated", "opened"):
        for state in (RUNNING, PAUSED_, STOPPED):
            assert (TYPES[kind], state) not in response
    assert (TYPES["resumed"], RUNNING) not in transitions(RESOLUTION_CLOCK)
    assert (TYPES["paused"], PAUSED_) not in transitions(RESOLUTION_CLOCK)
