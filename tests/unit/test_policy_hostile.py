"""Hostile policy files (issue 10 item 7): bounded loading, bounded durations, clean CLI errors.

A policy file may come from anyone who can write to a config repository. Whatever it holds,
loading it either gives a ``PolicySet`` or raises ``PolicyError`` naming the file, where (line and
column, or the field path) and what was expected; it never raises anything else, never runs past
a second, never holds more than a few MB, and ``slawatch policy validate`` exits 2 with one line per
problem. Bounds: 4 MiB, 64 levels of nesting, 1,000 YAML alias uses and 1,000,000 nodes with every
alias expanded, durations of at most 100 years (3,153,600,000 s), instants in SPEC 1's
``[1970-01-01T00:00:00Z, 9000-01-01T00:00:00Z)``.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from textwrap import dedent

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.cli import main
from streams.core.errors import PolicyError, PolicyProblem
from streams.core.policy import PolicySet
from streams.core.policyfile import load_policies, load_policy_file, parse_policy_document
from tests.support.hostile import watchdog as hard_limit

MIB = 1024 * 1024
YEARS_100_S = 100 * 365 * 86_400  # 3,153,600,000

HARD_S = 5.0  # generous: each hostile file below takes well under a second


@contextmanager
def watchdog(seconds: float = HARD_S) -> Iterator[None]:
    """Interrupt the code under test after ``seconds`` (the code as it was ran for minutes and
    gigabytes on these files: the test must fail, not hang)."""
    with hard_limit(seconds):
        yield


def refused(text: str, file: str = "hostile.yaml") -> list[PolicyProblem]:
    """The problems of loading ``text``, which must be refused quickly with a PolicyError."""
    began = time.monotonic()
    with watchdog(), pytest.raises(PolicyError) as info:
        load_policies(text, file)
    assert time.monotonic() - began < HARD_S
    problems = info.value.problems
    assert problems and all(p.file == file for p in problems)
    return problems


def one_problem(text: str, *words: str) -> PolicyProblem:
    problems = refused(text)
    assert len(problems) == 1, [str(p) for p in problems]
    for word in words:
        assert word in problems[0].message, f"{word!r} missing from {problems[0]}"
    return problems[0]


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The billion laughs: each anchor a list of ``width`` aliases of the one before
    (9 levels of 9: 387,420,489 leaves once expanded, from 440 bytes)."""
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        rows.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(rows) + "\n"


POLICY = """\
policies:
  - id: gold
    match: {}
    near_breach: [0.5, NEAR]
    incidents:
      P1: {response: RESPONSE, resolution: 4h}
    availability:
      target: 99.9
      heartbeat_timeout: TIMEOUT
      burn_rate: [{long: LONG, short: 5m, factor: 14.4}]
"""


def policy(response: str = "15m", near: str = "5m", timeout: str = "90s",
           long: str = "1h") -> str:
    return (POLICY.replace("RESPONSE", response).replace("NEAR", near)
            .replace("TIMEOUT", timeout).replace("LONG", long))


# ----------------------------------------------------------------------------- YAML aliases


@pytest.mark.parametrize("where", ["root", "policies", "incidents", "near_breach", "hours"])
def test_an_alias_bomb_is_refused_fast_and_small(where: str) -> None:
    bomb = alias_bomb()
    text = {
        "root": bomb,
        "policies": bomb + "policies: *a9\n",
        "incidents": bomb + "policies: [{id: p, incidents: {P1: *a9}}]\n",
        "near_breach": bomb + "policies: [{id: p, near_breach: *a9, incidents: {P1: "
                              "{response: 1m}}}]\n",
        "hours": bomb + "calendars: {c: {timezone: UTC, hours: *a9}}\npolicies: []\n",
    }[where]
    tracemalloc.start()
    began = time.monotonic()
    try:
        problems = refused(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - began < HARD_S
    assert peak < 20 * MIB, f"{peak:,} bytes at the peak"
    assert len(problems) == 1, [str(p) for p in problems]
    assert "YAML aliases expand past 1,000,000 nodes" in problems[0].message
    assert "no use for that" in problems[0].message
    assert problems[0].path.startswith("line 7, column ")  # a6: 9**7 leaves, the first past 1M


def test_too_many_alias_uses_are_refused() -> None:
    text = "x: &x 1\npolicies: [" + ", ".join(["*x"] * 1001) + "]\n"
    problem = one_problem(text, "more than 1,000 YAML alias uses")
    assert problem.path.startswith("line 2, column ")


def test_a_recursive_alias_is_refused() -> None:
    problem = one_problem("a: &a {b: *a}\npolicies: []\n", "*a is inside the node it names")
    assert problem.path == "line 1, column 11"


def test_anchors_a_real_policy_uses_still_load() -> None:
    text = dedent("""\
        targets: &gold {P1: {response: 15m, resolution: 4h}, "*": {response: 1h}}
        policies:
          - {id: a, match: {customer: a}, incidents: *gold}
          - {id: b, match: {customer: b}, incidents: *gold}
          - {id: c, match: {customer: c}, incidents: {<<: *gold, P2: {response: 2h}}}
    """)
    with pytest.raises(PolicyError) as info:  # the extra top-level key only
        load_policies(text, "p.yaml")
    assert [p.path for p in info.value.problems] == ["targets"]
    doc = parse_policy_document(text, "p.yaml")
    del doc["targets"]
    loaded = load_policies(json.dumps(doc), "p.json")
    assert [v.target_ms("P1", 0) for v in loaded.versions] == [15 * 60_000] * 3


# ----------------------------------------------------------------------------- nesting


@pytest.mark.parametrize("text", [
    "policies: " + "[" * 5000 + "]" * 5000 + "\n",  # flow lists
    "policies: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",  # flow mappings
    # block style indents each level: 2,000 levels are all that fit in 4 MiB
    "policies:\n" + "".join(" " * i + "- \n" for i in range(1, 2001)),  # block lists
    "".join(" " * i + "k:\n" for i in range(2000)),  # block mappings
], ids=["flow-list", "flow-map", "block-list", "block-map"])
def test_yaml_nested_thousands_of_levels_is_refused_with_its_line(text: str) -> None:
    problem = one_problem(text, "nested more than 64 levels deep")
    assert problem.path.startswith("line ")


@pytest.mark.parametrize("text", [
    "[" * 5000 + "]" * 5000,
    '{"policies": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}",
    '{"policies": ' + "[" * 200 + "]" * 200 + "}",  # deeper than 64, less than json's limit
    "[" * 4_000_000,  # 4 MB of brackets, never closed
], ids=["list-5k", "map-5k", "list-200", "open-4M"])
def test_json_nested_past_64_levels_is_refused_with_its_line(text: str) -> None:
    problem = one_problem(text, "nested more than 64 levels deep")
    assert problem.path.startswith("line 1, column ")


def test_64_levels_are_allowed_65_are_not() -> None:
    for opening, closing in (("[", "]"), ('{"a": ', "}"), ("{a: ", "}")):
        ok = "x: " if opening == "{a: " else ""  # a YAML-only flow mapping under a key
        parse_policy_document(ok + opening * 63 + "1" + closing * 63)  # 63 (+1 under x) levels
        parse_policy_document(opening * 64 + "1" + closing * 64)
        with pytest.raises(PolicyError, match="nested more than 64 levels"):
            parse_policy_document(opening * 65 + "1" + closing * 65)


def test_brackets_inside_json_strings_are_not_nesting() -> None:
    doc = parse_policy_document(json.dumps({"policies": [], "x": "[" * 100 + '\\"' + "{" * 100}))
    assert doc["x"].startswith("[[[")


# ----------------------------------------------------------------------------- size


def test_a_file_over_4_mib_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text('{"policies": []}' + " " * (4 * MIB))
    with watchdog(), pytest.raises(PolicyError) as info:
        load_policy_file(str(path))
    [problem] = info.value.problems
    assert problem.file == str(path)
    assert "at most 4 MiB (4,194,304 bytes)" in problem.message
    text = path.read_text()
    assert "4,194,320 bytes" in one_problem(text, "at most 4 MiB").message


def test_a_file_of_4_mib_loads(tmp_path: Path) -> None:
    body = '{"policies": [{"id": "p", "incidents": {"P1": {"response": "1m"}}}]}'
    path = tmp_path / "edge.json"
    path.write_text(body + " " * (4 * MIB - len(body)))
    assert len(load_policy_file(str(path)).versions) == 1


def test_multibyte_text_is_measured_in_utf8_bytes() -> None:
    text = '{"policies": [], "x": "' + "é" * (2 * MIB + 10) + '"}'  # 2M characters, 4M+ bytes
    one_problem(text, "at most 4 MiB")


def test_a_huge_integer_is_a_policy_error() -> None:
    for text in ("policies: [{id: p, version: " + "9" * 5000 + "}]\n",
                 '{"policies": [{"id": "p", "version": ' + "9" * 5000 + "}]}"):
        problem = one_problem(text, "an integer of 5,000 characters")
        assert problem.path.startswith("line 1, column ")


def test_a_broken_file_lists_at_most_1000_problems_fast() -> None:
    text = '{"policies": [' + ",".join(['"x"'] * 500_000) + "]}"  # 1.5 million problems
    problems = refused(text)
    assert len(problems) == 1001
    assert "more than 1,000 problems" in problems[-1].message


def test_a_long_value_is_not_quoted_whole() -> None:
    text = json.dumps({"policies": [{"id": "p", "version": "v" * 1_000_000,
                                     "incidents": {"P1": {"response": "9" * 1_000_000}}}]})
    problems = refused(text)
    assert {p.path for p in problems} == {"policies[0].version",
                                          "policies[0].incidents.P1.response"}
    assert all(len(str(p)) < 300 for p in problems), [str(p)[:300] for p in problems]


# ----------------------------------------------------------------------------- durations


@pytest.mark.parametrize("where", ["response", "near", "timeout", "long"])
@pytest.mark.parametrize("huge", ["99999999999999999999999d", "9" * 5000 + "ms", "P36501D",
                                  "36500d1ms", "876001h", str(10**30)])
def test_a_duration_past_100_years_is_refused(where: str, huge: str) -> None:
    path = {"response": "policies[0].incidents.P1.response", "near": "policies[0].near_breach[1]",
            "timeout": "policies[0].availability.heartbeat_timeout",
            "long": "policies[0].availability.burn_rate[0].long"}[where]
    if where == "near" and huge.isdigit():
        huge += "s"  # a near_breach number is a fraction: as a duration it takes a unit
    problems = refused(policy(**{where: huge}))
    assert [p.path for p in problems] == [path]
    assert "at most 100 years (3,153,600,000 s)" in problems[0].message


@pytest.mark.parametrize("edge", ["36500d", "PT876000H", "P36500D", str(YEARS_100_S),
                                  "36499d23h59m59s999ms"])
def test_a_duration_of_100_years_is_allowed(edge: str) -> None:
    loaded = load_policies(policy(response=edge, timeout=edge), "p.yaml")
    [version] = loaded.versions
    target_ms = version.target_ms("P1", 0)
    assert target_ms is not None and target_ms >= YEARS_100_S * 1000 - 1
    assert version.availability is not None
    assert version.availability.heartbeat_timeout_ms == target_ms


def test_sub_second_durations_still_load() -> None:
    loaded = load_policies(policy(response="1s500ms", near="250ms", timeout="PT0.25S"), "p.yaml")
    [version] = loaded.versions
    assert version.target_ms("P1", 0) == 1500
    assert version.availability is not None and version.availability.heartbeat_timeout_ms == 250


def test_a_maintenance_window_past_100_years_is_refused() -> None:
    text = policy().replace("      burn_rate:", "      maintenance: [{start: 1970-01-01T00:00:00Z,"
                            " end: 8999-12-31T23:59:59Z}]\n      burn_rate:")
    problem = one_problem(text, "a maintenance window is at most 100 years")
    assert problem.path == "policies[0].availability.maintenance[0]"


def test_an_infinite_burn_factor_is_a_policy_error() -> None:
    for factor in (".inf", ".nan"):
        problem = one_problem(policy().replace("factor: 14.4", f"factor: {factor}"),
                              "is not a positive number")
        assert problem.path == "policies[0].availability.burn_rate[0].factor"


def test_a_version_past_what_json_readers_hold_is_refused() -> None:
    one_problem("policies: [{id: p, version: 99999999999999999999999, incidents: "
                "{P1: {response: 1m}}}]", "at most 9,007,199,254,740,991")


# ----------------------------------------------------------------------------- instants


@pytest.mark.parametrize("bad", ["9000-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                                 "1969-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "-1",
                                 str(10**30), "x" * 100_000])
@pytest.mark.parametrize("field", ["effective_from", "start", "end"])
def test_an_instant_out_of_range_names_its_field(bad: str, field: str) -> None:
    start, end = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
    effective = "2026-01-01T00:00:00Z"
    if field == "effective_from":
        effective = bad
    elif field == "start":
        start = bad
    else:
        end = bad
    text = policy().replace("    match: {}", f"    match: {{}}\n    effective_from: '{effective}'")
    window = f"      maintenance: [{{start: '{start}', end: '{end}'}}]\n"
    text = text.replace("      burn_rate:", window + "      burn_rate:")
    if bad.lstrip("-").isdigit():
        text = text.replace(f"'{bad}'", bad)  # an integer of epoch ms
    path = {"effective_from": "policies[0].effective_from",
            "start": "policies[0].availability.maintenance[0].start",
            "end": "policies[0].availability.maintenance[0].end"}[field]
    problem = one_problem(text)
    assert problem.path == path
    assert "instant" in problem.message
    assert len(problem.message) < 300


def test_the_last_instants_of_the_range_load() -> None:
    text = policy().replace("    match: {}", "    match: {}\n    effective_from: "
                            "8999-12-31T23:59:59.999Z")
    [version] = load_policies(text, "p.yaml").versions
    assert version.effective_from_ms == 221845392000000 - 1


# ----------------------------------------------------------------------------- the CLI


HOSTILE_FILES = {
    "bomb.yaml": alias_bomb() + "policies: *a9\n",
    "deep.yaml": "policies: " + "[" * 5000 + "]" * 5000 + "\n",
    "deep.json": '{"policies": ' + "[" * 5000 + "]" * 5000 + "}",
    "huge.json": '{"policies": []}' + " " * (5 * MIB),
    "duration.yaml": policy(response="99999999999999999999999d"),
    "recursive.yaml": "a: &a [*a]\npolicies: []\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_policy_validate_exits_2_with_one_line_per_problem(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_text(HOSTILE_FILES[name])
    began = time.monotonic()
    with watchdog():
        code = main(["policy", "validate", str(path)])
    assert time.monotonic() - began < HARD_S
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[-1] == f"{path}: {len(lines) - 1} error(s)"
    assert 1 <= len(lines) - 1 <= 2
    assert all(line.startswith(f"{path}: ") and len(line) < 300 for line in lines), lines
    assert "Traceback" not in err


# ----------------------------------------------------------------------------- property

KEYS = ("calendars", "policies", "id", "version", "effective_from", "match", "calendar",
        "near_breach", "incidents", "availability", "P1", "*", "response", "resolution",
        "target", "period", "heartbeat_timeout", "maintenance", "start", "end", "weekly",
        "credits", "below", "percent", "burn_rate", "long", "short", "factor", "timezone",
        "hours", "holidays", "customer", "service", "mon-fri", "c")
WORDS = ("15m", "1s500ms", "PT0.25S", "99999999999999999999999d", "36500d", "36500d1ms", "0s",
         "2026-03-02T09:15:00Z", "9000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "24x7", "UTC",
         "Europe/Paris", "08:00-12:00", "24:00-25:00", "sun 02:00-04:00", "default", "month",
         "2026-12-25", "c")
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**25), 10**25),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(WORDS), st.text(max_size=8))
documents = st.recursive(
    scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=5)),
    max_leaves=25)
policy_like = st.builds(
    lambda spec, cals: {"calendars": cals, "policies": [spec]},
    st.fixed_dictionaries({"id": st.sampled_from(["p", ""]), "match": documents},
                          optional={k: documents for k in KEYS[4:11] if k != "match"}),
    st.dictionaries(st.sampled_from(["c", "d"]), documents, max_size=2))


@st.composite
def texts(draw: st.DrawFn) -> str:
    doc = draw(st.one_of(documents, policy_like))
    body = json.dumps(doc)  # JSON is YAML flow too (finite floats only)
    form = draw(st.sampled_from(["json", "yaml", "deep", "aliases", "mutated"]))
    if form == "yaml":
        return yaml.safe_dump(doc)
    if form == "deep":
        depth = draw(st.sampled_from([1, 63, 64, 65, 200, 1200, 5000]))
        opening, closing = draw(st.sampled_from([("[", "]"), ('{"a": ', "}"), ("{a: ", "}")]))
        inner = opening * depth + body + closing * depth
        return f"policies: {inner}\n" if draw(st.booleans()) else inner
    if form == "aliases":
        levels = draw(st.integers(1, 12))
        width = draw(st.integers(1, 12))
        rows = [f"a0: &a0 {body}"]
        rows += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]"
                 for i in range(1, levels + 1)]
        target = draw(st.sampled_from(["policies", "calendars", "id", "incidents"]))
        tail = {"policies": f"policies: *a{levels}",
                "calendars": f"calendars: *a{levels}\npolicies: []",
                "id": f"policies: [{{id: *a{levels}, incidents: *a{levels}}}]",
                "incidents": f"policies: [{{id: p, incidents: {{P1: *a{levels}}}}}]"}[target]
        return "\n".join([*rows, tail]) + "\n"
    if form == "mutated":
        text = yaml.safe_dump(doc) if draw(st.booleans()) else body
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.sampled_from(list("[]{}&*:,-!|>'\"\n\t #") +
                                                    ["&a ", "*a", "<<: ", "!!binary "])) + text[at:]
        return text
    return body


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(texts())
def test_any_document_loads_or_raises_policy_error_quickly(text: str) -> None:
    began = time.monotonic()
    try:
        with watchdog(2.0):
            loaded = load_policies(text, "any.yaml")
    except PolicyError as exc:
        assert exc.problems and all(p.file == "any.yaml" for p in exc.problems)
        assert all(len(str(p)) < 1000 for p in exc.problems)
    else:
        assert isinstance(loaded, PolicySet)
    assert time.monotonic() - began < 2.0
