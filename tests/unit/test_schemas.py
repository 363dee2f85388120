"""The JSON Schemas in ``schemas/`` accept the SPEC's examples and what the code really produces,
and reject what the SPEC calls invalid."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from jsonschema import Draft202012Validator

from streams.codec import dead_letter
from streams.core.errors import InvalidEvent, PolicyError
from streams.core.events import incident_event
from streams.core.policyfile import load_policies, load_policy_file
from streams.core.policyfile.loader import _Loader
from streams.core.timefmt import parse_instant
from streams.replay import replay
from tests.support.schemas import SCHEMA_OF_KIND, SCHEMAS, problems

ROOT = Path(__file__).parents[2]
SPEC = Path(os.environ.get("SLAWATCH_SHARED", ROOT.parent / "shared")) / "SPEC.md"
SCENARIOS = sorted(p for p in (ROOT / "tests" / "golden" / "scenarios").glob("*") if p.is_dir())
SCHEMA_NAMES = ("incident-event", "heartbeat", "alert", "outcome", "deadletter", "policy")
# expected.jsonl lines write only the fields they compare (scenarios README); these are the
# contract fields they leave out, per kind. Any other problem in a line is still an error.
EXPECTED_OMITS = {
    "breach": {"deadline", "availability"},
    "near_breach": {"deadline", "availability"},
    "outcome": {"at"},
}

# The policy example of SPEC section 3, verbatim (a backslash-newline joins a long line).
SPEC_POLICY_EXAMPLE = """\
calendars:
  paris-office:
    timezone: Europe/Paris            # IANA name
    hours: {mon-fri: ["08:00-12:00", "13:00-18:00"], sat: ["09:00-12:00"]}   # local; or "24x7"
    holidays: ["2026-12-25", "2027-01-01"]             # whole local dates with no working time
policies:
  - id: acme-gold
    version: 2                             # default 1; versions of one id are unique
    effective_from: 2026-06-01T00:00:00Z   # this version applies from this instant on \
(default: always)
    match: {customer: acme}                # customer-specific; {service: x} service-based; \
{} default
    calendar: paris-office                 # default: 24x7 in UTC
    near_breach: [0.5, 0.75, 0.9, "30m"]   # fractions in (0, 1) of the target, or working time left
    incidents:                             # targets per severity; "*" is the fallback severity
      P1: {response: 15m, resolution: 4h}
      "*": {response: 4h, resolution: 3d}
    availability:
      target: 99.9                         # percent, per period
      period: month                        # month | week (Monday 00:00) | day, \
in the calendar's timezone
      heartbeat_timeout: 90s
      near_breach: [0.5, 0.75, 0.9]        # fractions of the downtime budget
      maintenance: [{start: 2026-07-04T22:00:00Z, end: 2026-07-05T02:00:00Z}, \
{weekly: "sun 02:00-04:00"}]
      credits: [{below: 99.9, percent: 10}, {below: 99.0, percent: 25}, \
{below: 95.0, percent: 100}]
      burn_rate: default                   # or a list of {long: 1h, short: 5m, factor: 14.4}; \
absent: none
"""

OPENED = {"event_id": "e-1", "incident_id": "INC-1", "type": "opened", "at": "2027-02-17T14:00:00Z",
          "severity": "P1", "service": "mail", "customer": "contoso"}


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def run_replay(folder: Path) -> list[dict[str, Any]]:
    out, err = io.BytesIO(), io.StringIO()
    replay(load_policy_file(str(folder / "policy.yaml")), str(folder / "incidents.jsonl"),
           str(folder / "heartbeats.jsonl"),
           parse_instant((folder / "until.txt").read_text().strip()), out, err)
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


# ----------------------------------------------------------------------------- the schemas


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


# ----------------------------------------------------------------------------- SPEC examples


@pytest.mark.parametrize("folder", SCENARIOS, ids=lambda p: p.name)
def test_scenario_inputs_validate(folder: Path) -> None:
    found = [(f"incidents.jsonl:{i}", problems("incident-event", ev))
             for i, ev in enumerate(jsonl(folder / "incidents.jsonl"), 1)]
    found += [(f"heartbeats.jsonl:{i}", problems("heartbeat", hb))
              for i, hb in enumerate(jsonl(folder / "heartbeats.jsonl"), 1)]
    assert [(where, p) for where, p in found if p] == []


@pytest.mark.parametrize("folder", SCENARIOS, ids=lambda p: p.name)
def test_scenario_policy_validates(folder: Path) -> None:
    assert problems("policy", load_yaml((folder / "policy.yaml").read_text())) == []


@pytest.mark.skipif(not SPEC.is_file(), reason="no ../shared/SPEC.md beside this checkout")
def test_spec_policy_example_is_the_specs() -> None:
    assert SPEC_POLICY_EXAMPLE in SPEC.read_text(), "SPEC section 3 changed: copy the example again"


def test_spec_policy_example_validates() -> None:
    doc = load_yaml(SPEC_POLICY_EXAMPLE)
    assert doc["policies"][0]["effective_from"] == "2026-06-01T00:00:00Z"  # stayed a string
    assert problems("policy", doc) == []
    load_policies(SPEC_POLICY_EXAMPLE)  # and the code agrees


@pytest.mark.parametrize("folder", SCENARIOS, ids=lambda p: p.name)
def test_scenario_expected_records_validate(folder: Path) -> None:
    found = []
    for i, rec in enumerate(jsonl(folder / "expected.jsonl"), 1):
        if rec.get("alert_id") == "<any>":
            rec["alert_id"] = "0123456789abcdef01234567"
        rec["detected_at"] = "2027-01-01T00:00:00.000Z"
        omits = frozenset(EXPECTED_OMITS.get(rec["kind"], ()))
        found.append((i, problems(SCHEMA_OF_KIND[rec["kind"]], rec, omits)))
    assert [(i, p) for i, p in found if p] == []


# ------------------------------------------------------------------------- what the code produces


@pytest.mark.parametrize("folder", SCENARIOS, ids=lambda p: p.name)
def test_replay_output_validates(folder: Path) -> None:
    records = run_replay(folder)
    assert records, "the replay wrote nothing"
    found = [(rec["alert_id"], problems(SCHEMA_OF_KIND[rec["kind"]], rec)) for rec in records]
    assert [(aid, p) for aid, p in found if p] == []
    if folder.name.startswith("03"):
        assert any(rec["kind"] == "retraction" for rec in records), "03 should show a retraction"


@pytest.mark.parametrize(
    ("error", "raw", "source"),
    [
        (InvalidEvent("missing required field 'at'", "missing_field"), b'{"type": "opened"}',
         {"source_file": "incidents.jsonl", "line": 3}),
        (InvalidEvent("malformed JSON", "malformed_json"), b"\xff\xfe not utf-8",
         {"source_topic": "sla.incidents", "partition": 2, "offset": 41}),
        (InvalidEvent("heartbeat before the latest applied one", "late"),
         b'{"service": "auth", "at": 1, "status": "up"}',
         {"source_topic": "sla.heartbeats", "partition": 0, "offset": 7}),
        (InvalidEvent("the record is 100,000 bytes", "too_large"), b"x" * 100_000,
         {"source_topic": "sla.incidents", "partition": 0, "offset": 8}),
        (InvalidEvent("malformed JSON " * 1000, "malformed_json"), b"\xff" * 100_000,
         {"source_file": "incidents.jsonl", "line": 4}),
        (InvalidEvent("field 'at' is later than max_future", "future"), b"{}",
         {"source_file": "incidents.jsonl", "line": 5}),
    ],
    ids=["invalid-from-file", "not-utf8-from-kafka", "late-from-kafka", "truncated-text",
         "truncated-base64-long-error", "future"],
)
def test_dead_letter_validates(error: InvalidEvent, raw: bytes, source: dict[str, Any]) -> None:
    rec = dead_letter(error, raw, source)
    assert problems("deadletter", rec) == []
    assert problems("deadletter", {**rec, "detected_at": "2027-01-01T00:00:00.000Z"}) == []


def test_a_truncated_dead_letter_says_so_or_is_rejected() -> None:
    rec = dead_letter(InvalidEvent("x", "too_large"), b"x" * 70_000, {"source_file": "f",
                                                                     "line": 1})
    assert (rec["raw_truncated"], rec["raw_bytes"]) == (True, 70_000)
    assert problems("deadletter", _without(rec, "raw_bytes")) != []
    assert problems("deadletter", {**rec, "raw": "x" * 70_000}) != []  # more than is kept
    short = dead_letter(InvalidEvent("x", "bad_field"), b"{}", {"source_file": "f", "line": 1})
    assert problems("deadletter", {**short, "raw_bytes": 2}) != []


def test_dead_letter_without_a_source_is_rejected() -> None:
    rec = dead_letter(InvalidEvent("x", "bad_field"), b"{}", {"source_file": "f", "line": 1})
    del rec["source_file"], rec["line"]
    assert problems("deadletter", rec) != []


# ----------------------------------------------------------------------------- what is rejected


def _without(obj: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != name}


@pytest.mark.parametrize(
    "event",
    [
        _without(OPENED, "at"),
        {**OPENED, "type": "escalated"},
        {**OPENED, "at": 1802871660000.5},
        _without(OPENED, "severity"),
        {"event_id": "e-2", "incident_id": "INC-1", "type": "severity_changed",
         "at": "2027-02-17T14:00:00Z"},
        {**OPENED, "at": "2027-02-17T14:00:00"},
        {**OPENED, "attributes": ["not", "an", "object"]},
    ],
    ids=["missing-at", "unknown-type", "float-at", "opened-without-severity",
         "severity-changed-without-severity", "at-without-offset", "attributes-not-an-object"],
)
def test_invalid_event_is_rejected(event: dict[str, Any]) -> None:
    assert problems("incident-event", event) != []
    with pytest.raises(InvalidEvent):  # the schema and the code agree
        incident_event(event)


def test_valid_event_with_extra_fields_is_accepted() -> None:
    event = {**OPENED, "at": 1802871660000, "source": "pagerduty", "attributes": {"team": "mail"}}
    assert problems("incident-event", event) == []
    incident_event(event)


def test_invalid_heartbeat_is_rejected() -> None:
    assert problems("heartbeat", {"service": "auth", "at": "2027-08-23T09:00:00Z"}) != []
    assert problems("heartbeat", {"service": "auth", "at": 1, "status": "sleeping"}) != []


def test_credit_percent_as_string_is_rejected() -> None:
    text = SPEC_POLICY_EXAMPLE.replace("percent: 25}", 'percent: "25"}')
    assert text != SPEC_POLICY_EXAMPLE
    found = problems("policy", load_yaml(text))
    assert any("policies/0/availability/credits/1/percent" in p for p in found), found
    with pytest.raises(PolicyError):  # the schema and the code agree
        load_policies(text)


_BASE_POLICY = "policies:\n  - id: p\n    incidents: {P1: {response: 15m}}\n"
_AVAILABILITY = "policies:\n  - id: p\n    availability: {target: 99, heartbeat_timeout: 1m"


@pytest.mark.parametrize(
    "text",
    [
        "calendars:\n  c: {timezone: UTC, holidays: ['2027-01-01']}\n" + _BASE_POLICY,
        "calendars:\n  c: {timezone: UTC, hours: {mon: '9:00-17:00'}}\n" + _BASE_POLICY,
        _BASE_POLICY.replace("15m", "PT0S"),
        _BASE_POLICY + "    near_breach: [1.5]\n",
        _BASE_POLICY + "    effective_from: 2027-01-01T00:00:00\n",
        _BASE_POLICY + "    owner: me\n",
        "policies:\n  - id: p\n",
        _AVAILABILITY + ", burn_rate: fast}\n",
        _AVAILABILITY + ", maintenance: [{weekly: 'sunday 02:00-04:00'}]}\n",
    ],
    ids=["holidays-on-24x7", "span-without-leading-zero", "zero-target", "fraction-above-1",
         "instant-without-offset", "unknown-key", "neither-incidents-nor-availability",
         "unknown-burn-rate", "bad-weekly-maintenance"],
)
def test_invalid_policy_is_rejected(text: str) -> None:
    assert problems("policy", load_yaml(text)) != []
    with pytest.raises(PolicyError):  # the schema and the code agree
        load_policies(text)


def test_alert_missing_its_subject_is_rejected() -> None:
    alert = {"alert_id": "a", "kind": "breach", "metric": "response",
             "at": "2027-02-17T14:20:00.000Z", "detected_at": "2027-02-17T14:20:00.001Z",
             "threshold": 1.0, "policy_id": "standard",
             "policy_version": 1, "policy_match": [], "incident_id": "INC-1", "service": "mail",
             "customer": "contoso", "severity": "P1", "target_seconds": 1200.0,
             "elapsed_seconds": 1200.0, "deadline": "2027-02-17T14:20:00.000Z"}
    assert problems("alert", alert) == []
    assert problems("alert", _without(alert, "deadline")) != []
    assert problems("alert", {**alert, "threshold": 0.5}) != []  # a breach fires at 1.0
    assert problems("alert", {**alert, "metric": "burn_rate"}) != []  # burn rates only near-breach


def test_availability_alert_thresholds() -> None:
    alert = {"alert_id": "a", "kind": "breach", "metric": "availability",
             "at": "2027-06-26T19:42:43.200Z", "detected_at": "2027-06-26T19:42:44.000Z",
             "threshold": 1.6, "policy_id": "storage-sla", "policy_version": 1,
             "policy_match": ["service"], "service": "storage",
             "period_start": "2027-05-31T15:00:00.000Z", "period_end": "2027-06-30T15:00:00.000Z",
             "target": 99.5, "budget_seconds": 12852.0, "downtime_seconds": 20563.2,
             "availability": 99.2, "credit_percent": 25}
    assert problems("alert", alert) == []
    assert problems("alert", {**alert, "kind": "near_breach"}) != []  # near-breach: a fraction
    assert problems("alert", _without(alert, "period_start")) != []
