"""Policies (SPEC section 3): every broken field named with its path, exact loading, resolution.

Expected values are worked out by hand from the SPEC (epoch milliseconds noted where they appear).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from textwrap import dedent

import pytest

from streams.core.errors import PolicyError, PolicyProblem
from streams.core.policy import PolicySet, PolicyVersion
from streams.core.policyfile import load_policies, load_policy_file

SLAWATCH = Path(sys.executable).parent / "slawatch"
RESPONSE, RESOLUTION = 0, 1
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
JUNE_1_2026_MS = 1_780_272_000_000  # (56*365 + 14 leap days + 151 days Jan..May) * 86_400_000


def ms(text: str) -> int:
    """Epoch ms of an RFC 3339 instant (stdlib only, independent of the code under test)."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * 1000


def load(text: str) -> PolicySet:
    return load_policies(dedent(text), "p.yaml")


def problems(text: str) -> list[PolicyProblem]:
    with pytest.raises(PolicyError) as info:
        load_policies(dedent(text), "p.yaml")
    assert info.value.problems, "a PolicyError must list its problems"
    assert all(p.file == "p.yaml" for p in info.value.problems)
    return info.value.problems


def the_problem(text: str, path: str, *words: str) -> PolicyProblem:
    """The one problem at ``path``, whose message holds every word of ``words``."""
    found = problems(text)
    at_path = [p for p in found if p.path == path]
    assert len(at_path) == 1, f"expected one problem at {path!r}, got {[str(p) for p in found]}"
    for word in words:
        assert word in at_path[0].message, f"{word!r} missing from {at_path[0]}"
    return at_path[0]


OFFICE = """\
calendars:
  office:
    timezone: Europe/Paris
    hours: {HOURS}
policies:
  - id: a
    calendar: office
    incidents: {"*": {response: 15m}}
"""


def office(hours: str) -> str:
    return OFFICE.replace("{HOURS}", hours)


# ----------------------------------------------------------------------------- broken policies


def test_unknown_calendar_names_the_field_and_the_defined_calendars() -> None:
    text = """\
        calendars:
          office: {timezone: UTC, hours: {mon-fri: ["09:00-17:00"]}}
        policies:
          - {id: a, calendar: office, incidents: {"*": {response: 15m}}}
          - {id: b, match: {customer: acme}, calendar: ofice, incidents: {"*": {response: 15m}}}
        """
    the_problem(text, "policies[1].calendar", "'ofice'", "office")
    assert [p.path for p in problems(text)] == ["policies[1].calendar"]


@pytest.mark.parametrize("value", ["15 minutes", "15x", "-5m", "1.5h", "true"])
def test_bad_duration_names_the_severity_and_metric(value: str) -> None:
    text = f"""\
        policies:
          - id: a
            incidents:
              P1: {{response: "{value}", resolution: 4h}}
        """
    problem = the_problem(text, "policies[0].incidents.P1.response", value, "expected", "15m")
    assert problem.message.count("duration") >= 1


def test_zero_duration_target_is_refused() -> None:
    the_problem("""\
        policies:
          - {id: a, incidents: {P1: {resolution: 0s}}}
        """, "policies[0].incidents.P1.resolution", "longer than 0")


@pytest.mark.parametrize("span", [
    "17:00-09:00",  # start after end
    "09:00-09:00",  # start not before end
    "09:00-25:00",  # no hour 25
    "25:00-26:00",
    "09:60-10:00",  # no minute 60
    "24:00-24:00",  # 24:00 is only an end
    "9-17",  # not HH:MM-HH:MM
    "09:00 - 17:00",
])
def test_bad_time_span_names_the_day_key_and_the_index(span: str) -> None:
    text = office(f'{{mon-fri: ["{span}"]}}')
    the_problem(text, "calendars.office.hours.mon-fri[0]", repr(span), "HH:MM-HH:MM",
                "start before end")


def test_a_span_ending_at_24_00_is_allowed() -> None:
    policies = load(office('{mon-fri: ["08:00-12:00", "22:00-24:00"], sat: "09:00-12:00"}'))
    assert policies.calendars["office"].schedule is not None


def test_overlapping_spans_are_refused() -> None:
    text = office('{mon: ["08:00-12:00", "11:00-13:00"]}')
    the_problem(text, "calendars.office.hours.mon", "overlap")


def test_a_day_given_twice() -> None:
    text = office('{mon-fri: ["09:00-17:00"], fri: ["09:00-12:00"]}')
    the_problem(text, "calendars.office.hours.fri", "fri", "more than once")


@pytest.mark.parametrize("key", ["fri-mon", "sun-mon", "monday", "mon-fri-sat"])
def test_backward_or_unknown_day_range(key: str) -> None:
    text = office(f'{{{key}: ["09:00-17:00"], tue: ["09:00-17:00"]}}')
    the_problem(text, f"calendars.office.hours.{key}", "forward range", "mon-fri")


@pytest.mark.parametrize(
    "zone", ["Europe/Pariss", "Mars/Olympus", "utc", "", "America", "../etc/passwd"])
def test_bad_timezone(zone: str) -> None:
    text = f"""\
        calendars:
          office: {{timezone: "{zone}", hours: {{mon-fri: ["09:00-17:00"]}}}}
        policies:
          - {{id: a, calendar: office, incidents: {{"*": {{response: 15m}}}}}}
        """
    the_problem(text, "calendars.office.timezone", repr(zone), "IANA", "Europe/Paris")


def test_missing_timezone() -> None:
    text = """\
        calendars:
          office: {hours: {mon-fri: ["09:00-17:00"]}}
        policies:
          - {id: a, calendar: office, incidents: {"*": {response: 15m}}}
        """
    the_problem(text, "calendars.office.timezone", "missing", "IANA")


@pytest.mark.parametrize("hours", ["hours: 24x7", "hours: \"24x7\"", ""])  # "24x7" is the default
def test_holidays_on_a_24x7_calendar(hours: str) -> None:
    text = f"""\
        calendars:
          always:
            timezone: UTC
            {hours}
            holidays: [2026-12-25]
        policies:
          - {{id: a, calendar: always, incidents: {{"*": {{response: 15m}}}}}}
        """
    the_problem(text, "calendars.always.holidays", "24x7", "no holidays")


def test_bad_holiday_date() -> None:
    text = office('{mon-fri: ["09:00-17:00"]}').replace(
        "    hours:", "    holidays: [2026-02-30]\n    hours:")
    the_problem(text, "calendars.office.holidays[0]", "2026-02-30", "YYYY-MM-DD")


def test_two_policy_ids_with_one_match() -> None:
    text = """\
        policies:
          - {id: gold, match: {customer: acme}, incidents: {"*": {response: 15m}}}
          - {id: silver, match: {customer: acme}, incidents: {"*": {response: 1h}}}
        """
    the_problem(text, "policies[1].match", "customer: acme", "'gold'", "policies[0]")
    assert len(problems(text)) == 1


def test_two_default_policies_are_two_ids_with_one_match() -> None:
    text = """\
        policies:
          - {id: a, incidents: {"*": {response: 15m}}}
          - {id: b, match: {}, incidents: {"*": {response: 1h}}}
        """
    the_problem(text, "policies[1].match", "'a'")


def test_duplicate_versions_of_one_id() -> None:
    text = """\
        policies:
          - {id: a, version: 2, effective_from: 2026-01-01T00:00:00Z,
             incidents: {"*": {response: 15m}}}
          - {id: a, version: 2, effective_from: 2026-06-01T00:00:00Z,
             incidents: {"*": {response: 1h}}}
        """
    the_problem(text, "policies[1].version", "'a'", "version 2", "twice", "policies[0]")
    assert len(problems(text)) == 1


def test_two_versions_with_the_same_effective_from() -> None:
    text = """\
        policies:
          - {id: a, version: 1, effective_from: 2026-06-01T00:00:00Z,
             incidents: {"*": {response: 15m}}}
          - {id: a, version: 2, effective_from: "2026-06-01T02:00:00+02:00",
             incidents: {"*": {response: 1h}}}
        """
    the_problem(text, "policies[1].effective_from", "'a'", "effective_from", "policies[0]")
    assert len(problems(text)) == 1


def test_two_versions_that_both_apply_always_share_an_effective_from() -> None:
    text = """\
        policies:
          - {id: a, version: 1, incidents: {"*": {response: 15m}}}
          - {id: a, version: 2, incidents: {"*": {response: 1h}}}
        """
    the_problem(text, "policies[1].effective_from", "effective_from")


def test_versions_of_one_id_with_different_match() -> None:
    text = """\
        policies:
          - {id: a, version: 1, effective_from: 2026-01-01T00:00:00Z, match: {customer: acme},
             incidents: {"*": {response: 15m}}}
          - {id: a, version: 2, effective_from: 2026-06-01T00:00:00Z, match: {customer: globex},
             incidents: {"*": {response: 1h}}}
        """
    the_problem(text, "policies[1].match", "'a'", "share one match", "customer: acme")
    assert len(problems(text)) == 1


@pytest.mark.parametrize("version", ["0", "-1", "two", "1.5", "true"])
def test_bad_version_number(version: str) -> None:
    the_problem(f"""\
        policies:
          - {{id: a, version: {version}, incidents: {{"*": {{response: 15m}}}}}}
        """, "policies[0].version", "integer >= 1")


@pytest.mark.parametrize("instant", ["2026-06-01T00:00:00", "2026-06-01", "yesterday", "1.5"])
def test_bad_effective_from(instant: str) -> None:
    the_problem(f"""\
        policies:
          - {{id: a, effective_from: {instant}, incidents: {{"*": {{response: 15m}}}}}}
        """, "policies[0].effective_from", "RFC 3339")


AVAILABILITY = """\
policies:
  - id: a
    availability:
      target: 99.9
      heartbeat_timeout: 90s
      {EXTRA}
"""


def test_credit_tier_below_above_the_target() -> None:
    text = AVAILABILITY.replace(
        "{EXTRA}", "credits: [{below: 99.95, percent: 10}, {below: 99.0, percent: 25}]")
    the_problem(text, "policies[0].availability.credits[0].below", "99.95", "target", "at most")
    assert len(problems(text)) == 1


def test_credit_tier_below_equal_to_the_target_is_allowed() -> None:
    text = AVAILABILITY.replace(
        "{EXTRA}", "credits: [{below: 99.9, percent: 10}, {below: 95, percent: 100}]")
    availability = load(text).versions[0].availability
    assert availability is not None
    assert [t.percent for t in availability.credits] == [10, 100]


def test_credit_tiers_whose_below_does_not_fall_as_their_percent_rises_are_refused() -> None:
    # issue 16: written out of order, a deeper miss would earn less credit than a shallow one
    text = AVAILABILITY.replace(
        "{EXTRA}", "credits: [{below: 95, percent: 10}, {below: 99.0, percent: 25}]")
    found = the_problem(text, "policies[0].availability.credits[0].percent", "10%", "below 95",
                        "25%", "credits[1]", "below values fall as their percents rise")
    assert found.file == "p.yaml"  # the file, then the field path
    assert len(problems(text)) == 1
    three = AVAILABILITY.replace("{EXTRA}", "credits: [{below: 99.5, percent: 10}, "
                                 "{below: 99.0, percent: 50}, {below: 98, percent: 25}]")
    the_problem(three, "policies[0].availability.credits[2].percent", "25%", "50%", "credits[1]")


@pytest.mark.parametrize("credits", [
    "[{below: 99.5, percent: 10}, {below: 99.0, percent: 25}, {below: 95, percent: 100}]",
    "[{below: 95, percent: 100}, {below: 99.5, percent: 10}]",  # any order, as long as it falls
    "[{below: 99.5, percent: 10}, {below: 99.0, percent: 10}]",  # equal credits do not fall
])
def test_credit_tiers_whose_below_falls_as_their_percent_rises_load(credits: str) -> None:
    availability = load(AVAILABILITY.replace("{EXTRA}", f"credits: {credits}")
                        ).versions[0].availability
    assert availability is not None
    percents = [t.percent for t in availability.credits]
    assert percents == sorted(percents)


@pytest.mark.parametrize(("entries", "index"), [
    ("[0.5, 1.5]", 1), ("[0, 0.5]", 0), ("[0.5, 1]", 1), ("[1.0]", 0), ("[-0.1]", 0), ("[true]", 0),
])
def test_incident_near_breach_fraction_outside_0_1(entries: str, index: int) -> None:
    text = f"""\
        policies:
          - {{id: a, near_breach: {entries}, incidents: {{"*": {{response: 15m}}}}}}
        """
    the_problem(text, f"policies[0].near_breach[{index}]", "(0, 1)")


@pytest.mark.parametrize(("entries", "index"), [("[0.5, 1.5]", 1), ("[0]", 0), ("[1]", 0)])
def test_availability_near_breach_fraction_outside_0_1(entries: str, index: int) -> None:
    text = AVAILABILITY.replace("{EXTRA}", f"near_breach: {entries}")
    the_problem(text, f"policies[0].availability.near_breach[{index}]", "(0, 1)", "budget")


@pytest.mark.parametrize(("text", "path", "expected"), [
    ("""\
        policies:
          - {id: a, near_breaches: [0.5], incidents: {"*": {response: 15m}}}
        """, "policies[0].near_breaches", "near_breach"),
    ("""\
        policies:
          - {id: a, incidents: {P1: {response: 15m, resoluton: 4h}}}
        """, "policies[0].incidents.P1.resoluton", "resolution"),
    ("""\
        policies:
          - {id: a, match: {customers: acme}, incidents: {"*": {response: 15m}}}
        """, "policies[0].match.customers", "customer"),
    ("""\
        calendars:
          c: {timezone: UTC, holiday: ["2026-12-25"]}
        policies:
          - {id: a, calendar: c, incidents: {"*": {response: 15m}}}
        """, "calendars.c.holiday", "holidays"),
    ("""\
        calendar: {}
        policies:
          - {id: a, incidents: {"*": {response: 15m}}}
        """, "calendar", "calendars"),
    ("""\
        policies:
          - id: a
            availability: {target: 99.9, heartbeat_timeout: 90s, credit: []}
        """, "policies[0].availability.credit", "credits"),
    ("""\
        policies:
          - id: a
            availability: {target: 99.9, heartbeat_timeout: 90s, credits: [{below: 99, percnt: 10}]}
        """, "policies[0].availability.credits[0].percnt", "percent"),
])
def test_unknown_keys_are_named_with_the_expected_keys(text: str, path: str, expected: str) -> None:
    the_problem(text, path, "unknown key", expected)


def test_policy_with_neither_incidents_nor_availability() -> None:
    text = """\
        policies:
          - {id: a, match: {customer: acme}, near_breach: [0.5]}
        """
    the_problem(text, "policies[0]", "incidents", "availability")
    assert len(problems(text)) == 1


def test_empty_incidents_block() -> None:
    the_problem("""\
        policies:
          - {id: a, incidents: {}}
        """, "policies[0].incidents", "at least one severity")


def test_severity_with_neither_metric() -> None:
    the_problem("""\
        policies:
          - {id: a, incidents: {P1: {}}}
        """, "policies[0].incidents.P1", "response, resolution or both")


def test_yaml_syntax_error_names_the_line() -> None:
    text = """\
        policies:
          - id: a
            incidents: {P1: {response: 15m}
          - id: b
        """
    # the flow mapping opened on line 3 is still open when line 4's "-" arrives (column 3)
    (problem,) = problems(text)
    assert problem.path == "line 4, column 3"
    assert "not valid YAML/JSON" in problem.message
    assert "line 4" in str(problem) and str(problem).startswith("p.yaml: ")


def test_unhashable_yaml_key_is_a_problem_not_a_crash() -> None:
    (problem,) = problems("policies:\n  - {? [x, y] : 1}\n")
    assert problem.path.startswith("line 2,")


@pytest.mark.parametrize(("text", "key", "line", "first"), [
    ("policies:\n  - id: a\n    id: b\n    incidents: {P1: {response: 15m}}\n", "id", 3, 2),
    ("calendars:\n  c:\n    timezone: UTC\n    hours:\n      mon: [\"09:00-12:00\"]\n"
     "      mon: [\"13:00-17:00\"]\npolicies: []\n", "mon", 6, 5),
    ('{"policies": [],\n "policies": []}', "policies", 2, 1),  # JSON too
])
def test_duplicate_yaml_keys(text: str, key: str, line: int, first: int) -> None:
    (problem,) = problems(text)
    assert problem.path.startswith(f"line {line},")
    assert f"duplicate key {key!r}" in problem.message
    assert f"first at line {first}" in problem.message


def test_every_independent_error_is_reported_at_once() -> None:
    text = """\
        calendars:
          office:
            timezone: Europe/Pariss
            hours: {mon-fri: ["09:00-17:00"], fri-mon: ["10:00-11:00"], sat: ["9-12"]}
          always: {timezone: UTC, holidays: ["2026-12-25"]}
        policies:
          - id: a
            calendar: nowhere
            near_breaches: [0.5]
            near_breach: [0.5, 1.5]
            incidents: {P1: {response: 15 minutes}}
          - id: a
            incidents: {P1: {response: 1h}}
          - id: b
            availability:
              target: 99.9
              heartbeat_timeout: 90s
              credits: [{below: 99.95, percent: 10}]
          - id: c
            match: {customer: acme}
        """
    found = problems(text)
    assert {p.path for p in found} == {
        "calendars.office.timezone",
        "calendars.office.hours.fri-mon",
        "calendars.office.hours.sat[0]",
        "calendars.always.holidays",
        "policies[0].calendar",
        "policies[0].near_breaches",
        "policies[0].near_breach[1]",
        "policies[0].incidents.P1.response",
        # policies[0] is broken, yet its identity still counts for the cross-version checks
        "policies[1].version",
        "policies[1].effective_from",
        "policies[2].match",
        "policies[2].availability.credits[0].below",
        "policies[3]",
    }
    assert len(found) == 13
    assert all(p.message for p in found)


def test_policies_missing_or_not_a_list() -> None:
    the_problem("calendars: {}\n", "policies", "missing", "list")
    the_problem("policies: {id: a}\n", "policies", "list", "a mapping")


# ----------------------------------------------------------------------------- valid loading


@pytest.mark.parametrize(("written", "expected_ms"), [
    ("2026-06-01T00:00:00Z", JUNE_1_2026_MS),
    ("2026-06-01T02:00:00+02:00", JUNE_1_2026_MS),
    ("2026-06-01T00:00:00.123456Z", JUNE_1_2026_MS + 123),  # digits past ms are truncated
    ("2026-05-31T23:59:59.999999Z", JUNE_1_2026_MS - 1),
    (str(JUNE_1_2026_MS), JUNE_1_2026_MS),  # epoch ms integer
    ("0", 0),  # epoch 0 is an instant, not "always"
])
def test_unquoted_yaml_timestamps_stay_exact(written: str, expected_ms: int) -> None:
    policies = load(f"""\
        policies:
          - id: a
            effective_from: {written}
            incidents: {{"*": {{response: 15m}}}}
        """)
    assert policies.versions[0].effective_from_ms == expected_ms
    assert policies.resolve_incident("x", "y", expected_ms) is policies.versions[0]
    assert policies.resolve_incident("x", "y", expected_ms - 1) is None


def test_epoch_zero_and_always_are_different_effective_froms() -> None:
    policies = load("""\
        policies:
          - {id: a, version: 1, incidents: {"*": {response: 15m}}}
          - {id: a, version: 2, effective_from: 0, incidents: {"*": {response: 1h}}}
        """)
    assert policies.resolve_incident("x", "y", -1).version == 1  # type: ignore[union-attr]
    assert policies.resolve_incident("x", "y", 0).version == 2  # type: ignore[union-attr]


def test_unquoted_dates_in_holidays_stay_dates() -> None:
    text = office('{mon-fri: ["09:00-17:00"]}').replace(
        "    hours:", "    holidays: [2026-12-25, 2027-01-01]\n    hours:")
    schedule = load(text).calendars["office"].schedule
    assert schedule is not None
    assert sorted(d.isoformat() for d in schedule.excluded_dates) == ["2026-12-25", "2027-01-01"]


def test_json_input_works() -> None:
    doc = {
        "calendars": {
            "office": {"timezone": "Europe/Paris", "hours": {"mon-fri": ["09:00-17:00"]}},
        },
        "policies": [{
            "id": "gold", "version": 2, "effective_from": "2026-06-01T00:00:00Z",
            "match": {"customer": "acme"}, "calendar": "office", "near_breach": [0.5, "4m"],
            "incidents": {"P1": {"response": "15m", "resolution": "PT4H"}, "*": {"response": 3600}},
            "availability": {"target": 99.9, "period": "week", "heartbeat_timeout": "90s"},
        }],
    }
    policies = load_policies(json.dumps(doc, indent="\t"), "p.json")  # tabs: JSON, not YAML 1.1
    (v,) = policies.versions
    assert (v.id, v.version, v.match) == ("gold", 2, ("acme", None))
    assert v.effective_from_ms == JUNE_1_2026_MS
    assert v.calendar is policies.calendars["office"]
    assert v.target_ms("P1", RESPONSE) == 15 * MIN
    assert v.target_ms("P1", RESOLUTION) == 4 * HOUR
    assert v.target_ms("P4", RESPONSE) == HOUR
    assert v.availability is not None and v.availability.period == "week"
    assert v.match_keys == ("customer",)


def test_json_numbers_with_an_exponent() -> None:
    text = '{"policies": [{"id": "a", "near_breach": [5e-1], "incidents": {"*": {"response": 1}}}]}'
    v = load_policies(text, "p.json").versions[0]
    assert [level for level, _ in v.levels(1000)] == [500, 1000]


def test_json_syntax_error_is_a_problem() -> None:
    (problem,) = problems('{"policies": [\n  {"id": "a" "incidents": {}}\n]}')  # a missing comma
    assert problem.path.startswith("line 2,")
    assert "expected ','" in problem.message


NEAR = """\
policies:
  - id: a
    near_breach: {NEAR}
    incidents:
      P1: {response: 15m, resolution: 4h}
      P2: {resolution: 8h}
      "*": {response: 1h, resolution: 3d}
      P9: {response: "1s", resolution: PT1.001S}
"""


def version_with(near: str) -> PolicyVersion:
    return load(NEAR.replace("{NEAR}", near)).versions[0]


def test_fraction_levels_are_exact() -> None:
    v = version_with("[0.1, 0.07, 0.75]")
    assert [lv for lv, _ in v.levels(1000)] == [70, 100, 750, 1000]  # not 100.00000000000001 -> 101
    assert [lv for lv, _ in v.levels(15 * MIN)] == [63_000, 90_000, 675_000, 900_000]  # 0.07*900000


def test_fraction_levels_round_up_to_the_whole_millisecond() -> None:
    v = version_with("[0.1, 0.75]")
    assert [lv for lv, _ in v.levels(1001)] == [101, 751, 1001]  # 100.1 -> 101, 750.75 -> 751
    assert [th.level_ms(1001) for th in v.near_breach] == [101, 751, 1001]
    assert v.target_ms("P9", RESOLUTION) == 1001


def test_levels_carry_their_entries_and_end_with_the_breach() -> None:
    v = version_with('[0.5, "4m", 0.9]')
    levels = v.levels(15 * MIN)
    # 0.5 -> 7.5m, "4m" -> 15m - 4m = 11m, 0.9 -> 13.5m, breach 15m
    assert [(lv, th.label) for lv, th in levels] == [
        (450_000, 0.5), (660_000, "4m"), (810_000, 0.9), (900_000, 1.0)]
    assert [th.is_breach for _, th in levels] == [False, False, False, True]


def test_duration_entry_is_skipped_when_not_shorter_than_the_target() -> None:
    v = version_with('[0.5, "4m"]')
    four_min = v.near_breach[1]
    assert four_min.level_ms(4 * MIN + 1) == 1
    assert four_min.level_ms(4 * MIN) is None
    assert four_min.level_ms(3 * MIN) is None
    assert [th.label for _, th in v.levels(4 * MIN)] == [0.5, 1.0]
    assert [lv for lv, _ in v.levels(5 * MIN)] == [60_000, 150_000, 300_000]


@pytest.mark.parametrize(("severity", "metric", "expected"), [
    ("P1", RESPONSE, 15 * MIN),
    ("P1", RESOLUTION, 4 * HOUR),
    ("P2", RESPONSE, HOUR),  # P2 gives only resolution: response falls back to "*"
    ("P2", RESOLUTION, 8 * HOUR),
    ("P3", RESPONSE, HOUR),  # no entry at all: "*"
    ("P3", RESOLUTION, 3 * DAY),
    ("p1", RESPONSE, HOUR),  # matched exactly: case matters
])
def test_star_fallback_per_metric(severity: str, metric: int, expected: int) -> None:
    assert version_with("[]").target_ms(severity, metric) == expected


def test_no_target_and_no_fallback_is_not_measured() -> None:
    v = load("""\
        policies:
          - id: a
            incidents:
              P1: {response: 15m}
              P2: {resolution: 1h30m}
        """).versions[0]
    assert v.target_ms("P1", RESPONSE) == 15 * MIN
    assert v.target_ms("P1", RESOLUTION) is None
    assert v.target_ms("P2", RESPONSE) is None
    assert v.target_ms("P2", RESOLUTION) == 90 * MIN
    assert v.target_ms("P3", RESPONSE) is None


@pytest.mark.parametrize(("written", "expected_ms"), [
    ("90s", 90_000), ("15m", 15 * MIN), ("4h", 4 * HOUR), ("2d", 2 * DAY), ("1h30m", 90 * MIN),
    ("PT1H30M", 90 * MIN), ("P2D", 2 * DAY), ("90", 90_000),
])
def test_target_durations(written: str, expected_ms: int) -> None:
    v = load(f"""\
        policies:
          - {{id: a, incidents: {{P1: {{response: {written}}}}}}}
        """).versions[0]
    assert v.target_ms("P1", RESPONSE) == expected_ms


def test_availability_numbers_are_exact() -> None:
    text = AVAILABILITY.replace(
        "{EXTRA}", "near_breach: [0.5]\n      credits: [{below: 99.0, percent: 25}]")
    a = load(text).versions[0].availability
    assert a is not None
    assert (1 - a.target / 100) * 1000 == 1  # 1 - 99.9/100 is exactly 1/1000
    assert a.heartbeat_timeout_ms == 90_000
    assert a.period == "month"  # the default
    assert a.credits[0].below * 10 == 990


# ----------------------------------------------------------------------------- resolution


RESOLUTION_TABLE = """\
policies:
  - {id: acme-api, effective_from: 2026-03-01T00:00:00Z, match: {customer: acme, service: api},
     incidents: {"*": {response: 1m}}}
  - {id: acme, version: 1, effective_from: 2026-01-01T00:00:00Z, match: {customer: acme},
     incidents: {"*": {response: 2m}}}
  - {id: acme, version: 2, effective_from: 2026-06-01T00:00:00Z, match: {customer: acme},
     incidents: {"*": {response: 3m}}}
  - {id: api, effective_from: 2025-01-01T00:00:00Z, match: {service: api},
     incidents: {"*": {response: 4m}}}
  - {id: default, match: {}, incidents: {"*": {response: 5m}}}
  - {id: globex, version: 1, effective_from: 2026-01-01T00:00:00Z, match: {customer: globex},
     incidents: {"*": {response: 6m}}}
  - id: globex
    version: 2
    effective_from: 2026-06-01T00:00:00Z
    match: {customer: globex}
    availability: {target: 99.9, heartbeat_timeout: 90s}
"""


@pytest.mark.parametrize(("customer", "service", "at", "expected"), [
    ("acme", "api", "2026-03-01T00:00:00Z", ("acme-api", 1)),  # customer+service beats the rest
    ("acme", "web", "2026-03-01T00:00:00Z", ("acme", 1)),  # customer beats service and {}
    ("acme", "api", "2026-02-28T23:59:59.999Z", ("acme", 1)),  # customer beats service
    ("zed", "api", "2026-03-01T00:00:00Z", ("api", 1)),  # service beats {}
    ("zed", "web", "2026-03-01T00:00:00Z", ("default", 1)),
    ("acme", "web", "2026-05-31T23:59:59.999Z", ("acme", 1)),
    ("acme", "web", "2026-06-01T00:00:00Z", ("acme", 2)),  # effective_from equal: in force
    ("acme", "web", "2027-01-01T00:00:00Z", ("acme", 2)),
    ("acme", "api", "2025-12-31T23:59:59.999Z", ("api", 1)),  # acme's not in force yet
    ("acme", "web", "2025-12-31T23:59:59.999Z", ("default", 1)),
    ("zed", "api", "2024-12-31T23:59:59.999Z", ("default", 1)),  # default applies always
    ("globex", "web", "2026-05-31T23:59:59.999Z", ("globex", 1)),
    ("globex", "web", "2026-06-01T00:00:00Z", ("default", 1)),  # v2 has no incidents block
    ("globex", "api", "2026-06-01T00:00:00Z", ("api", 1)),
])
def test_resolution_table(customer: str, service: str, at: str, expected: tuple[str, int]) -> None:
    found = load(RESOLUTION_TABLE).resolve_incident(customer, service, ms(at))
    assert found is not None
    assert (found.id, found.version) == expected


def test_resolution_gives_the_version_with_its_targets() -> None:
    policies = load(RESOLUTION_TABLE)
    v1 = policies.resolve_incident("acme", "web", ms("2026-05-31T23:59:59.999Z"))
    v2 = policies.resolve_incident("acme", "web", ms("2026-06-01T00:00:00Z"))
    assert v1 is not None and v2 is not None
    assert (v1.target_ms("P1", RESPONSE), v2.target_ms("P1", RESPONSE)) == (2 * MIN, 3 * MIN)
    assert v2.match_keys == ("customer",)


def test_no_matching_policy_gives_none() -> None:
    policies = load("""\
        policies:
          - {id: acme, effective_from: 2026-01-01T00:00:00Z, match: {customer: acme},
             incidents: {"*": {response: 15m}}}
          - {id: api-uptime, match: {service: api},
             availability: {target: 99.9, heartbeat_timeout: 90s}}
        """)
    assert policies.resolve_incident("globex", "web", ms("2026-03-01T00:00:00Z")) is None
    assert policies.resolve_incident("acme", "web", ms("2025-12-31T23:59:59.999Z")) is None
    # api-uptime fits but has no incidents block
    assert policies.resolve_incident("globex", "api", ms("2026-03-01T00:00:00Z")) is None
    found = policies.resolve_incident("acme", "web", ms("2026-01-01T00:00:00Z"))
    assert found is not None and found.id == "acme"


# ----------------------------------------------------------------------------- the CLI


def run_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SLAWATCH), "policy", "validate", str(path)],
                          capture_output=True, text=True, timeout=30, check=False)


def test_cli_validate_good_file_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(RESOLUTION_TABLE, encoding="utf-8")
    result = run_validate(path)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
    assert result.stderr == ""


def test_cli_validate_bad_file_exits_2_listing_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(dedent("""\
        policies:
          - {id: a, calendar: nowhere, incidents: {P1: {response: soon}}}
          - {id: b, match: {service: web}, near_breaches: [0.5], incidents: {"*": {response: 1h}}}
        """), encoding="utf-8")
    result = run_validate(path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    wheres = ("policies[0].calendar", "policies[0].incidents.P1.response",
              "policies[1].near_breaches")
    for where in wheres:
        assert any(line.startswith(f"{path}: {where}: ") for line in lines), (where, result.stderr)
    assert "3 error(s)" in result.stderr
    assert result.stdout == ""


def test_cli_validate_unreadable_files_exit_2(tmp_path: Path) -> None:
    not_utf8 = tmp_path / "latin1.yaml"
    not_utf8.write_bytes(b"policies:\n  - id: caf\xe9\n")
    missing = tmp_path / "missing.yaml"
    for path in (not_utf8, missing):
        result = run_validate(path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"{path}: ")
        assert "Traceback" not in result.stderr


def test_load_policy_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("policies:\n  - {id: a, incidents: {P1: {response: nope}}}\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy_file(str(path))
    found = [(p.file, p.path) for p in info.value.problems]
    assert found == [(str(path), "policies[0].incidents.P1.response")]
