"""``slawatch policy explain`` (issue 5): which policy and version an incident would get, and why.

The policy file is worked example 04 (tests/golden/scenarios/04-policy-resolution) plus a
severity-specific entry, a service policy whose second version has no incidents block, and a
customer policy not in force until 2028.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from textwrap import dedent

import pytest

from streams.core.policy import IncidentExplanation, PolicySet
from streams.core.policyfile import load_policies
from streams.explain import format_explanation

SLAWATCH = Path(sys.executable).parent / "slawatch"
MIN = 60_000
HOUR = 60 * MIN

POLICY = dedent("""\
    policies:
      - id: contoso-auth
        effective_from: 2027-01-01T00:00:00Z
        match: {customer: contoso, service: auth}
        incidents:
          P1: {response: 5m}
          "*": {response: 10m, resolution: 2h}
      - id: contoso
        version: 2
        effective_from: 2027-04-01T00:00:00Z
        match: {customer: contoso}
        incidents:
          "*": {response: 20m, resolution: 6h}
      - id: contoso
        version: 1
        effective_from: 2027-01-01T00:00:00Z
        match: {customer: contoso}
        incidents:
          "*": {response: 30m, resolution: 8h}
      - id: globex
        effective_from: 2028-01-01T00:00:00Z
        match: {customer: globex}
        incidents:
          "*": {response: 1m, resolution: 1h}
      - id: dns-team
        version: 1
        effective_from: 2027-01-01T00:00:00Z
        match: {service: dns}
        incidents:
          "*": {response: 45m, resolution: 4h}
      - id: dns-team
        version: 2
        effective_from: 2027-03-01T00:00:00Z
        match: {service: dns}
        availability: {target: 99.9, heartbeat_timeout: 90s}
      - id: default
        effective_from: 2027-01-01T00:00:00Z
        match: {}
        incidents:
          "*": {response: 2h, resolution: 1d}
    """)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * 1000


@pytest.fixture(scope="module")
def policies() -> PolicySet:
    return load_policies(POLICY, "p.yaml")


def outcomes(e: IncidentExplanation) -> list[tuple[str, int | None, str]]:
    return [(c.policy_id, c.version.version if c.version else None, c.outcome)
            for c in e.candidates]


# ----------------------------------------------------------------------------- the core


def test_customer_service_wins_over_customer_and_default(policies: PolicySet) -> None:
    e = policies.explain_incident("contoso", "auth", "P1", ms("2027-05-01T00:00:00Z"))
    assert e.winner is not None and (e.winner.id, e.winner.version) == ("contoso-auth", 1)
    assert e.rule == "customer+service"
    assert outcomes(e) == [("contoso-auth", 1, "chosen"), ("contoso", 2, "outranked"),
                           ("default", 1, "outranked")]
    assert [c.level for c in e.candidates] == ["customer+service", "customer", "{}"]
    # P1 gives a response target only: the resolution falls back to "*"
    assert [(t.metric, t.target_ms, t.severity) for t in e.targets] == [
        ("response", 5 * MIN, "P1"), ("resolution", 2 * HOUR, "*")]


def test_severity_without_an_entry_falls_back_to_star(policies: PolicySet) -> None:
    e = policies.explain_incident("contoso", "auth", "P3", ms("2027-05-01T00:00:00Z"))
    assert [(t.target_ms, t.severity) for t in e.targets] == [(10 * MIN, "*"), (2 * HOUR, "*")]


def test_the_version_in_force_at_the_opening_is_the_one_shown(policies: PolicySet) -> None:
    before = policies.explain_incident("contoso", "web", "P2", ms("2027-03-31T23:59:59Z"))
    after = policies.explain_incident("contoso", "web", "P2", ms("2027-04-01T00:00:00Z"))
    assert outcomes(before)[0] == ("contoso", 1, "chosen")
    assert outcomes(after)[0] == ("contoso", 2, "chosen")
    assert after.targets[0].target_ms == 20 * MIN


def test_not_in_force_and_no_incidents_block_are_passed_over(policies: PolicySet) -> None:
    e = policies.explain_incident("globex", "dns", "P1", ms("2027-06-01T00:00:00Z"))
    # globex starts in 2028; dns-team version 2 (in force) has only an availability block
    assert outcomes(e) == [("globex", None, "not in force"), ("dns-team", 2, "no incidents block"),
                           ("default", 1, "chosen")]
    assert e.candidates[0].first_from_ms == ms("2028-01-01T00:00:00Z")
    assert e.winner is not None and e.winner.id == "default" and e.rule == "{}"
    assert policies.resolve_incident("globex", "dns", ms("2027-06-01T00:00:00Z")) is e.winner


def test_no_matching_policy(policies: PolicySet) -> None:
    e = policies.explain_incident("initech", "web", "P1", ms("2026-06-01T00:00:00Z"))
    assert e.winner is None and e.rule is None and e.targets == ()
    assert outcomes(e) == [("default", None, "not in force")]
    text = format_explanation(e)
    assert "no matching policy" in text and "tracked" in text


def test_candidates_do_not_depend_on_the_file_order() -> None:
    head, body = POLICY.split("policies:\n")
    entries = ["  - " + chunk for chunk in body.split("  - ") if chunk.strip()]
    reversed_set = load_policies(head + "policies:\n" + "".join(reversed(entries)), "r.yaml")
    forward_set = load_policies(POLICY, "p.yaml")
    at = ms("2027-06-01T00:00:00Z")
    for customer, service in (("contoso", "dns"), ("globex", "dns"), ("contoso", "auth")):
        assert (outcomes(reversed_set.explain_incident(customer, service, "P1", at))
                == outcomes(forward_set.explain_incident(customer, service, "P1", at)))
    e = forward_set.explain_incident("contoso", "dns", "P1", at)
    assert [c.policy_id for c in e.candidates] == ["contoso", "dns-team", "default"]


def test_format_explanation_names_the_winner_targets_and_calendar(policies: PolicySet) -> None:
    text = format_explanation(
        policies.explain_incident("contoso", "auth", "P1", ms("2027-05-01T00:00:00Z")))
    assert "winner: contoso-auth version 1" in text
    assert "customer+service > customer > service > {}" in text
    assert "response: 5m (from P1)" in text
    assert 'resolution: 2h (from the "*" fallback' in text
    assert "calendar: 24x7 (UTC)" in text


# ----------------------------------------------------------------------------- the CLI


def explain(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    return subprocess.run([str(SLAWATCH), "policy", "explain", *args],
                          env={**clean, **(env or {})},
                          capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return path


INCIDENT = ("--customer", "globex", "--service", "dns", "--severity", "P1",
            "--at", "2027-06-01T00:00:00Z")


def test_cli_prints_the_candidates_and_the_winner(policy_file: Path) -> None:
    result = explain("--policies", str(policy_file), *INCIDENT)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "globex {customer: globex}" in out and "no version in force yet" in out
    assert "dns-team {service: dns}" in out and "incidents block: no" in out
    assert "winner: default version 1" in out
    assert "response: 2h" in out and "resolution: 1d" in out


def test_cli_json_parses(policy_file: Path) -> None:
    result = explain("--policies", str(policy_file), *INCIDENT, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [(c["policy_id"], c["version"], c["incidents_block"], c["outcome"])
            for c in doc["candidates"]] == [("globex", None, False, "not in force"),
                                            ("dns-team", 2, False, "no incidents block"),
                                            ("default", 1, True, "chosen")]
    assert doc["winner"]["policy_id"] == "default" and doc["winner"]["rule"] == "{}"
    assert doc["winner"]["targets"]["response"] == {"ms": 2 * HOUR, "text": "2h", "from": "*",
                                                    "fallback": True}


def test_cli_no_match_exits_0(policy_file: Path) -> None:
    result = explain("--policies", str(policy_file), "--customer", "initech", "--service", "web",
                     "--severity", "P1", "--at", "2026-06-01T00:00:00Z", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["winner"] is None and "no matching policy" in doc["note"]


def test_cli_reads_the_policy_file_from_slawatch_policies(policy_file: Path) -> None:
    result = explain(*INCIDENT, env={"SLAWATCH_POLICIES": str(policy_file)})
    assert result.returncode == 0, result.stderr
    assert "winner: default version 1" in result.stdout


@pytest.mark.parametrize("at", ["yesterday", "2027-06-01T00:00:00"])
def test_cli_bad_at_is_one_line_exit_2(policy_file: Path, at: str) -> None:
    result = explain("--policies", str(policy_file), *INCIDENT[:-1], at)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "--at" in lines[0] and repr(at) in lines[0], result.stderr


def test_cli_missing_or_broken_policy_file_is_one_line_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("policies:\n  - {id: a, incidents: {P1: {response: soon}}}\n"
                      "  - {id: b, calendar: nowhere, incidents: {P1: {response: 1h}}}\n",
                      encoding="utf-8")
    for path, words in ((tmp_path / "missing.yaml", ["missing.yaml", "cannot read"]),
                        (broken, ["policies[0].incidents.P1.response", "policies[1].calendar"]),
                        (None, ["--policies", "SLAWATCH_POLICIES"])):
        result = explain(*(["--policies", str(path)] if path else []), *INCIDENT)
        assert result.returncode == 2, result.stdout
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and "Traceback" not in lines[0], result.stderr
        for word in words:
            assert word in lines[0], (word, lines[0])


def test_cli_help_has_an_example() -> None:
    result = explain("--help")
    assert result.returncode == 0
    assert "example:" in result.stdout and "slawatch policy explain --policies" in result.stdout


def test_the_winners_custom_clocks_and_their_targets_are_shown() -> None:
    """SPEC 4.1: explain lists every clock of the winning version (built-in and custom) with its
    definition and calendar, and each one's target for the severity."""
    from streams.core.policyfile import load_policies
    from streams.explain import explanation_json

    policies = load_policies(
        "calendars:\n"
        "  office: {timezone: Europe/Paris, hours: {mon-fri: ['08:00-18:00']}}\n"
        "policies:\n"
        "  - id: field\n"
        "    match: {service: elevators}\n"
        "    calendar: office\n"
        "    clocks:\n"
        "      on_site: {stop: [{milestone: on_site}], cancel: [resolved, closed],"
        " calendar: 24x7}\n"
        "      repair: {start: {milestone: on_site}, stop: [resolved, closed], pauses: true,"
        " on_reopen: resume}\n"
        "    incidents:\n"
        "      P1: {response: 15m, on_site: 2h, repair: 4h}\n"
        "      '*': {response: 1h, on_site: 1d}\n", "p.yaml")
    e = policies.explain_incident("otis", "elevators", "P2", ms("2027-05-01T00:00:00Z"))
    assert [(t.metric, t.target_ms, t.severity) for t in e.targets] == [
        ("response", HOUR, "*"), ("resolution", None, None), ("on_site", 24 * HOUR, "*"),
        ("repair", None, None)]
    text = format_explanation(e)
    assert "  on_site: 1d (from the \"*\" fallback: no P2 on_site target)" in text
    assert ("  repair (custom): {start: {milestone: on_site}, stop: [resolved, closed], "
            "pauses: true, on_reopen: resume, calendar: office}") in text
    assert ("  on_site (custom): {start: opened, stop: [{milestone: on_site}], "
            "cancel: [resolved, closed], calendar: 24x7}") in text
    assert "  response (built-in): {start: opened, stop: [acknowledged, resolved, closed]" in text
    clocks = explanation_json(e)["winner"]["clocks"]
    assert list(clocks) == ["response", "resolution", "on_site", "repair"]
    assert clocks["repair"] == {"start": "{milestone: on_site}", "stop": ["resolved", "closed"],
                                "cancel": [], "pauses": True, "on_reopen": "resume",
                                "calendar": "office", "built_in": False}
