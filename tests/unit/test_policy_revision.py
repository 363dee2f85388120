"""Policy revisions (``replay --revision``): merged into the policy file before validation, and
every problem named in the file that holds it."""

from __future__ import annotations

import copy
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
import yaml

from streams.core.errors import PolicyError
from streams.core.policyfile import MergedPolicies, load_policy_file, merge_revisions

BASE: dict[str, Any] = {
    "calendars": {"office": {"timezone": "Europe/Paris", "hours": {"mon-fri": ["09:00-17:00"]}}},
    "policies": [
        {"id": "standard", "match": {}, "incidents": {"*": {"response": "4h"}}},
        {"id": "gold", "version": 1, "match": {"customer": "acme"}, "calendar": "office",
         "incidents": {"P1": {"response": "30m"}}},
        {"id": "gold", "version": 2, "effective_from": "2027-03-01T00:00:00Z",
         "match": {"customer": "acme"}, "calendar": "office",
         "incidents": {"P1": {"response": "20m"}}},
    ],
}


def _gold(version: int, response: str, **extra: Any) -> dict[str, Any]:
    return {"id": "gold", "version": version, "match": {"customer": "acme"},
            "incidents": {"P1": {"response": response}}, **extra}


def test_a_policy_of_the_same_id_and_version_replaces_it_in_place() -> None:
    merged = merge_revisions(BASE, "base.yaml", [("rev.yaml", {"policies": [_gold(2, "10m")]})])
    assert [p.get("version", 1) for p in merged.doc["policies"]] == [1, 1, 2]
    assert merged.doc["policies"][2] == _gold(2, "10m")
    assert merged.origins == {"policies[2]": ("rev.yaml", "policies[0]")}


def test_an_unversioned_policy_is_version_1_and_replaces_version_1() -> None:
    standard = {"id": "standard", "match": {}, "incidents": {"*": {"response": "1h"}}}
    merged = merge_revisions(BASE, "base.yaml", [("rev.yaml", {"policies": [standard]})])
    assert merged.doc["policies"][0] is standard
    assert len(merged.doc["policies"]) == 3


def test_another_version_is_added_after_the_file_s_policies() -> None:
    v3 = _gold(3, "5m", effective_from="2027-06-01T00:00:00Z")
    merged = merge_revisions(BASE, "base.yaml", [("rev.yaml", {"policies": [v3]})])
    assert merged.doc["policies"][:3] == BASE["policies"] and merged.doc["policies"][3] is v3
    assert merged.origins == {"policies[3]": ("rev.yaml", "policies[0]")}


def test_a_calendar_of_the_same_name_replaces_it_and_others_are_added() -> None:
    office = {"timezone": "America/New_York", "hours": "24x7"}
    night = {"timezone": "UTC", "hours": {"mon-fri": ["00:00-08:00"]}}
    merged = merge_revisions(BASE, "base.yaml",
                             [("rev.yaml", {"calendars": {"office": office, "night": night}})])
    assert merged.doc["calendars"] == {"office": office, "night": night}
    assert merged.doc["policies"] == BASE["policies"]
    assert merged.origins == {"calendars.office": ("rev.yaml", "calendars.office"),
                              "calendars.night": ("rev.yaml", "calendars.night")}


def test_revisions_apply_in_order_and_a_later_one_replaces_an_earlier_one() -> None:
    merged = merge_revisions(BASE, "base.yaml", [
        ("a.yaml", {"policies": [_gold(2, "10m"), _gold(3, "9m")]}),
        ("b.yaml", {"policies": [_gold(3, "8m")]}),
    ])
    assert [p["incidents"]["P1"]["response"] for p in merged.doc["policies"][1:]] == [
        "30m", "10m", "8m"]
    assert merged.origins["policies[3]"] == ("b.yaml", "policies[0]")


def test_the_documents_are_left_as_they_were() -> None:
    base, revision = copy.deepcopy(BASE), {"policies": [_gold(2, "10m"), _gold(4, "1m")],
                                           "calendars": {"office": {"timezone": "UTC"}}}
    kept = copy.deepcopy(revision)
    merge_revisions(base, "base.yaml", [("rev.yaml", revision)])
    assert base == BASE and revision == kept


@pytest.mark.parametrize(("revision", "path", "expected"), [
    (["a list"], "", "expected a mapping with calendars and/or policies, got a list"),
    ({"policy": []}, "policy", "unknown key; expected one of calendars, policies"),
    ({"policies": {"id": "x"}}, "policies", "expected a list of policies, got a mapping"),
    ({"calendars": ["office"]}, "calendars", "expected a mapping, got a list"),
])
def test_a_revision_of_the_wrong_shape_is_named(revision: Any, path: str, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        merge_revisions(BASE, "base.yaml", [("rev.yaml", revision)])
    [problem] = info.value.problems
    assert (problem.file, problem.path, problem.message) == ("rev.yaml", path, expected)


@pytest.mark.parametrize("base", [["a list"], {"policies": {"id": "standard"}},
                                  {"calendars": ["office"], "policies": []}])
def test_a_policy_file_of_the_wrong_shape_is_left_as_it_is(base: Any) -> None:
    merged = merge_revisions(base, "base.yaml", [("rev.yaml", {"policies": [_gold(3, "5m")]})])
    assert merged == MergedPolicies(base, {})


# ----------------------------------------------------------------------------- through the files


def _write(path: Path, doc: Any) -> str:
    path.write_text(yaml.safe_dump(doc) if not isinstance(doc, str) else dedent(doc))
    return str(path)


def test_the_merged_document_is_validated_and_resolves_to_the_revision(tmp_path: Path) -> None:
    base = _write(tmp_path / "base.yaml", BASE)
    rev = _write(tmp_path / "rev.yaml", {"policies": [_gold(
        2, "10m", calendar="office", effective_from="2027-03-01T00:00:00Z")]})
    policies = load_policy_file(base, [rev])
    after_march = policies.resolve_incident("acme", "mail", 1_804_000_000_000)
    assert after_march is not None and after_march.version == 2
    assert after_march.target_ms("P1", 0) == 10 * 60_000
    assert load_policy_file(base).versions[2].target_ms("P1", 0) == 20 * 60_000


def test_a_problem_is_named_in_the_revision_file_at_its_own_path(tmp_path: Path) -> None:
    base = _write(tmp_path / "base.yaml", BASE)
    rev = _write(tmp_path / "rev.yaml", {
        "calendars": {"office": {"timezone": "Mars/Olympus"}},
        "policies": [_gold(2, "10x")]})
    with pytest.raises(PolicyError) as info:
        load_policy_file(base, [rev])
    where = {(p.file, p.path) for p in info.value.problems}
    assert (rev, "policies[0].incidents.P1.response") in where
    assert (rev, "calendars.office.timezone") in where
    assert all(p.file == rev for p in info.value.problems), info.value.problems


def test_a_clash_with_the_policy_file_names_both_files(tmp_path: Path) -> None:
    base = _write(tmp_path / "base.yaml", BASE)
    # a new version of gold with another match, and a new id on standard's match
    rev = _write(tmp_path / "rev.yaml", {"policies": [
        {"id": "gold", "version": 3, "effective_from": "2027-06-01T00:00:00Z",
         "match": {"customer": "globex"}, "incidents": {"P1": {"response": "1h"}}},
        {"id": "fallback", "match": {}, "incidents": {"*": {"response": "1h"}}}]})
    with pytest.raises(PolicyError) as info:
        load_policy_file(base, [rev])
    text = sorted(str(p) for p in info.value.problems)
    assert text == sorted([
        f"{rev}: policies[0].match: versions of 'gold' must share one match "
        f"(policies[1] of {base} has {{customer: acme}})",
        f"{rev}: policies[1].match: {{}} is already the match of 'standard' (policies[0] of "
        f"{base}): one match, one policy id",
    ])


def test_a_revision_that_cannot_be_read_is_named_with_the_others(tmp_path: Path) -> None:
    base = _write(tmp_path / "base.yaml", BASE)
    broken = _write(tmp_path / "broken.yaml", "policies: [\n")
    missing = str(tmp_path / "missing.yaml")
    with pytest.raises(PolicyError) as info:
        load_policy_file(base, [missing, broken])
    assert [p.file for p in info.value.problems] == [missing, broken]


def test_a_policy_file_of_the_wrong_shape_is_named_not_its_revision(tmp_path: Path) -> None:
    base = _write(tmp_path / "base.yaml", ["a list"])
    rev = _write(tmp_path / "rev.yaml", {"policies": [_gold(3, "5m")]})
    with pytest.raises(PolicyError) as info:
        load_policy_file(base, [rev])
    assert {p.file for p in info.value.problems} == {base}
    assert ("", "expected a mapping, got a list") in {
        (p.path, p.message) for p in info.value.problems}
