"""The ``clocks`` block of a policy (SPEC sections 3 and 4.1): what it loads into, and every broken
field named with its path and what was expected, all at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from streams.core.clocks import BUILT_INS, ClockDefinition
from streams.core.events import TYPES
from streams.core.policyfile import load_policies
from tests.unit.test_policy import SLAWATCH, load, problems, the_problem

MIN = 60_000
HOUR = 60 * MIN

FIELD = """\
calendars:
  paris-office: {timezone: Europe/Paris, hours: {mon-fri: ["08:00-12:00", "13:00-18:00"]}}
policies:
  - id: elevators-field
    match: {service: elevators}
    calendar: paris-office
    clocks:
      on_site: {stop: [{milestone: on_site}], cancel: [resolved, closed], calendar: 24x7}
      repair: {start: {milestone: on_site}, stop: [resolved, closed], pauses: true,
               on_reopen: resume}
    incidents:
      P1: {response: 15m, on_site: 2h, repair: 4h}
      "*": {response: 1h, on_site: 1d}
"""


def test_the_spec_example_loads_into_definitions_beside_the_built_ins() -> None:
    v = load(FIELD).versions[0]
    assert v.clocks[:2] == BUILT_INS
    assert v.clocks[2:] == (
        ClockDefinition("on_site", stop=frozenset({"on_site"}),
                        cancel=frozenset({TYPES["resolved"], TYPES["closed"]}), calendar="24x7"),
        ClockDefinition("repair", start="on_site",
                        stop=frozenset({TYPES["resolved"], TYPES["closed"]}), pauses=True,
                        on_reopen="resume"),
    )
    assert v.metric_names == ("response", "resolution", "on_site", "repair")
    # targets by clock, "*" the fallback for each clock on its own
    assert [v.target_ms("P1", i) for i in range(4)] == [15 * MIN, None, 2 * HOUR, 4 * HOUR]
    assert [v.target_ms("P3", i) for i in range(4)] == [HOUR, None, 24 * HOUR, None]
    # each clock's calendar: 24x7 for on_site, the policy's for the others
    assert [cal.name for _, _, cal in v.engine] == ["paris-office", "paris-office", "24x7",
                                                    "paris-office"]
    assert load(FIELD).warnings == ()


def policy_with(clocks: str, incidents: str = '{"*": {response: 1h}}') -> str:
    return f"""\
        calendars:
          office: {{timezone: UTC, hours: {{mon-fri: ["09:00-17:00"]}}}}
        policies:
          - id: p
            calendar: office
            clocks: {clocks}
            incidents: {incidents}
        """


@pytest.mark.parametrize(("clocks", "path", "words"), [
    ("{x: {stop: [arrived]}}", "policies[0].clocks.x.stop[0]",
     ("unknown event type 'arrived'", "{milestone: NAME}")),
    ("{x: {start: arrived, stop: [closed]}}", "policies[0].clocks.x.start",
     ("unknown event type 'arrived'",)),
    ("{response: {stop: [closed]}}", "policies[0].clocks.response", ("reserved",)),
    ("{resolution: {stop: [closed]}}", "policies[0].clocks.resolution", ("reserved",)),
    ("{availability: {stop: [closed]}}", "policies[0].clocks.availability", ("reserved",)),
    ("{requests: {stop: [closed]}}", "policies[0].clocks.requests", ("reserved",)),
    ("{burn_rate: {stop: [closed]}}", "policies[0].clocks.burn_rate", ("reserved",)),
    ("{On_site: {stop: [closed]}}", "policies[0].clocks.On_site", ("[a-z][a-z0-9_]*",)),
    ("{x: {stop: [opened]}}", "policies[0].clocks.x.stop[0]", ("only as start",)),
    ("{x: {stop: [closed], cancel: [opened]}}", "policies[0].clocks.x.cancel[0]",
     ("only as start",)),
    ("{x: {stop: [closed, updated]}}", "policies[0].clocks.x.stop[1]", ("no condition",)),
    ("{x: {start: updated, stop: [closed]}}", "policies[0].clocks.x.start", ("no condition",)),
    ("{x: {stop: [milestone]}}", "policies[0].clocks.x.stop[0]", ("{milestone: NAME}",)),
    ("{x: {stop: [{milestone: On-Site}]}}", "policies[0].clocks.x.stop[0].milestone",
     ("not a milestone name", "[a-z][a-z0-9_]*")),
    ("{x: {stop: [{milestone: a, b: c}]}}", "policies[0].clocks.x.stop[0].b", ("unknown key",)),
    ("{x: {stop: [closed], calendar: nowhere}}", "policies[0].clocks.x.calendar",
     ("unknown calendar 'nowhere'", "office", "24x7")),
    ("{x: {cancel: [closed]}}", "policies[0].clocks.x.stop", ("missing", "non-empty list")),
    ("{x: {stop: []}}", "policies[0].clocks.x.stop", ("non-empty list", "empty list")),
    ("{x: {stop: closed}}", "policies[0].clocks.x.stop", ("non-empty list",)),
    ("{x: {stop: [closed], pauses: yes please}}", "policies[0].clocks.x.pauses",
     ("true or false",)),
    ("{x: {stop: [closed], on_reopen: restart}}", "policies[0].clocks.x.on_reopen",
     ("ignore or resume",)),
    ("{x: {stop: [closed], stops: [resolved]}}", "policies[0].clocks.x.stops",
     ("unknown key", "stop")),
])
def test_a_broken_clock_is_named_with_what_was_expected(clocks: str, path: str,
                                                        words: tuple[str, ...]) -> None:
    the_problem(policy_with(clocks), path, *words)


def test_a_target_for_a_clock_the_policy_does_not_define() -> None:
    the_problem(policy_with("{on_site: {stop: [{milestone: on_site}]}}",
                            "{P1: {response: 1h, onsite: 2h}}"),
                "policies[0].incidents.P1.onsite", "unknown key", "on_site")
    # a clock of another policy (or another version) is not one of this one's
    text = """\
        policies:
          - id: a
            match: {customer: a}
            clocks: {on_site: {stop: [{milestone: on_site}, closed]}}
            incidents: {P1: {on_site: 2h}}
          - id: b
            incidents: {P1: {response: 1h, on_site: 2h}}
        """
    the_problem(text, "policies[1].incidents.P1.on_site", "unknown key", "it has none")


def test_a_calendar_named_24x7_is_a_load_error() -> None:
    text = """\
        calendars:
          24x7: {timezone: UTC}
        policies:
          - {id: p, calendar: 24x7, incidents: {"*": {response: 1h}}}
        """
    the_problem(text, "calendars.24x7", "reserved")


def test_every_problem_at_once() -> None:
    text = policy_with("{response: {stop: [closed]}, x: {stop: [updated], calendar: nope}, "
                       "y: {start: resolved}}", "{P1: {response: 1h, z: 1h}}")
    assert {p.path for p in problems(text)} == {
        "policies[0].clocks.response", "policies[0].clocks.x.stop[0]",
        "policies[0].clocks.x.calendar", "policies[0].clocks.y.stop",
        "policies[0].incidents.P1.z"}


def test_a_clock_that_never_ends_with_the_incident_is_a_warning() -> None:
    policies = load(policy_with("{first_reply: {stop: [{milestone: first_reply}]}, "
                                "fix: {stop: [{milestone: fixed}], cancel: [closed]}}"))
    assert [(w.path, "runs on after the incident closes" in w.message)
            for w in policies.warnings] == [("policies[0].clocks.first_reply", True)]


def test_policy_validate_prints_the_warning_and_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(dedent(policy_with("{first_reply: {stop: [{milestone: first_reply}]}}")))
    done = subprocess.run([str(SLAWATCH) if SLAWATCH.exists() else sys.executable,
                           *([] if SLAWATCH.exists() else ["-m", "streams"]),
                           "policy", "validate", str(path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert f"{path}: policies[0].clocks.first_reply: warning: " in done.stderr
    assert "ok (1 policy versions" in done.stdout


def test_the_readme_policy_example_loads_with_its_field_service_contract() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## The policy file, by example"):]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    policies = load_policies(block, "README.md")
    field = next(v for v in policies.versions if v.id == "elevators-field")
    assert field.metric_names == ("response", "resolution", "on_site", "repair", "dispatch")
    assert policies.warnings == ()
