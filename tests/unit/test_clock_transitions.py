"""The tables of the clocks (``core.clocks.transitions``), drawn from their definitions, against
SPEC sections 4 and 4.1 written out by hand: every (condition, clock state) that does something.
The built-ins are two definitions of the same language as the custom clocks."""

from __future__ import annotations

import pytest

from streams.core.clocks import (
    CANCELLED,
    IDLE,
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
    ("opened", "idle"): "start",
    ("acknowledged", "running"): "stop", ("acknowledged", "paused"): "stop",
    ("resolved", "running"): "stop", ("resolved", "paused"): "stop",
    ("closed", "running"): "stop", ("closed", "paused"): "stop",
    ("severity_changed", "running"): "new_severity", ("severity_changed", "paused"): "new_severity",
}
RESOLUTION_TABLE = {
    ("opened", "idle"): "start",
    ("resolved", "running"): "stop", ("resolved", "paused"): "stop",
    ("closed", "running"): "stop", ("closed", "paused"): "stop",
    ("paused", "running"): "pause", ("resumed", "paused"): "resume",
    ("reopened", "stopped"): "reopen",
    ("severity_changed", "running"): "new_severity", ("severity_changed", "paused"): "new_severity",
}
STATES = {IDLE: "idle", RUNNING: "running", PAUSED_: "paused", STOPPED: "stopped",
          CANCELLED: "cancelled"}
TYPE_NAMES = {v: k for k, v in TYPES.items()}


def _named(definition: ClockDefinition) -> dict[tuple[str, str], str]:
    return {(TYPE_NAMES[kind] if isinstance(kind, int) else f"milestone:{kind}", STATES[state]):
            action.__name__.lstrip("_")
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


#: SPEC 4.1's example: on site within 2 h, then a repair from arrival, paused and resumed
ON_SITE = ClockDefinition("on_site", stop=frozenset({"on_site"}),
                          cancel=frozenset({TYPES["resolved"], TYPES["closed"]}))
REPAIR = ClockDefinition("repair", start="on_site", stop=frozenset({TYPES["resolved"],
                                                                   TYPES["closed"]}),
                         pauses=True, on_reopen="resume")


def test_a_custom_clock_starts_stops_and_cancels_by_its_conditions() -> None:
    assert _named(ON_SITE) == {
        ("opened", "idle"): "start",
        ("milestone:on_site", "running"): "stop", ("milestone:on_site", "paused"): "stop",
        ("resolved", "running"): "cancel", ("resolved", "paused"): "cancel",
        ("closed", "running"): "cancel", ("closed", "paused"): "cancel",
        ("severity_changed", "running"): "new_severity",
        ("severity_changed", "paused"): "new_severity",
    }
    assert _named(REPAIR) == {
        ("milestone:on_site", "idle"): "start",
        ("resolved", "running"): "stop", ("resolved", "paused"): "stop",
        ("closed", "running"): "stop", ("closed", "paused"): "stop",
        ("paused", "running"): "pause", ("resumed", "paused"): "resume",
        ("reopened", "stopped"): "reopen",
        ("severity_changed", "running"): "new_severity",
        ("severity_changed", "paused"): "new_severity",
    }


def test_stop_wins_over_cancel_and_a_cancelled_clock_never_runs_again() -> None:
    both = ClockDefinition("x", stop=frozenset({TYPES["resolved"]}),
                           cancel=frozenset({TYPES["resolved"], TYPES["closed"]}),
                           pauses=True, on_reopen="resume")
    table = _named(both)
    assert table[("resolved", "running")] == "stop"
    assert table[("closed", "running")] == "cancel"
    assert not any(state == "cancelled" for _, state in table)


def test_conditions_before_the_start_are_ignored() -> None:
    # stop and cancel conditions met before a clock starts: nothing in its idle row but its start
    assert [k for k in _named(REPAIR) if k[1] == "idle"] == [("milestone:on_site", "idle")]
