"""The ``requests`` block of a policy (SPEC sections 3 and 9): the model it builds, and every
problem reported at once with the file, the field path and what was expected."""

from __future__ import annotations

from fractions import Fraction

import pytest
import yaml

from streams.core.errors import PolicyError
from streams.core.policyfile import load_policies
from tests.support.schemas import problems

SPEC_EXAMPLE = """\
policies:
  - id: api-requests
    match: {service: api}
    requests:                              # request objectives (section 9)
      period: month
      budgeting: occurrences               # occurrences | timeslices
      objectives:
        - {id: success, sli: errors, target: 99.9, burn_rate: default, credits: [{below: 99.9, percent: 10}]}
        - {id: fast, sli: latency, threshold: 300ms, target: 99}
"""  # noqa: E501 - verbatim from the SPEC


def test_the_spec_example() -> None:
    version = load_policies(SPEC_EXAMPLE).versions[0]
    req = version.requests
    assert req is not None and version.targets is None and version.availability is None
    assert (req.period, req.budgeting, req.slice_ms, req.min_requests, req.lateness_ms) == (
        "month", "occurrences", 60_000, 1, 3_600_000)
    success, fast = req.objectives
    assert success.target == Fraction(999, 10) and len(success.burn_rules) == 3
    assert success.credits[0].below == Fraction(999, 10) and success.slice_target == success.target
    assert (fast.sli, fast.threshold_ms, fast.burn_rules) == ("latency", 300, ())
    assert problems("policy", yaml.safe_load(SPEC_EXAMPLE)) == []


def test_timeslices_with_every_key() -> None:
    req = load_policies("""
policies:
  - id: t
    requests:
      budgeting: timeslices
      period: day
      slice: 5m
      slice_target: 95
      min_requests: 10
      lateness: 10m
      maintenance: [{weekly: "sun 02:00-04:00"}]
      objectives:
        - {id: ok, sli: errors, target: 99, near_breach: [0.5, 0.75]}
""").versions[0].requests
    assert req is not None
    assert (req.slice_ms, req.min_requests, req.lateness_ms) == (300_000, 10, 600_000)
    assert req.objectives[0].slice_target == 95 and req.objectives[0].near_breach_labels == (
        0.5, 0.75)
    assert not req.maintenance.empty


BROKEN = """
policies:
  - id: x
    requests:
      period: year
      budgeting: sometimes
      min_requests: 0
      lateness: soon
      objectives:
        - {id: a, sli: errors, target: 100}
        - {id: a, sli: latency, target: 99, credits: [{below: 99.5, percent: 10}]}
        - {sli: foo, threshold: 1s, colour: red}
  - id: y
    match: {service: y}
    requests:
      slice: 1m
      objectives:
        - {id: e, sli: errors, target: 99, threshold: 1s, near_breach: [0.5]}
  - id: z
    match: {service: z}
    requests: {budgeting: timeslices, slice: 7s, slice_target: 0, objectives: []}
"""

EXPECTED = [
    ("policies[0].requests.period", "'year': expected month, week or day"),
    ("policies[0].requests.budgeting", "'sometimes': expected occurrences or timeslices"),
    ("policies[0].requests.min_requests", "0 is not an integer >= 1"),
    ("policies[0].requests.lateness", "not a duration"),
    ("policies[0].requests.objectives[0].target", "100 is not a percentage in (0, 100)"),
    ("policies[0].requests.objectives[1].threshold", "missing: a latency objective needs"),
    ("policies[0].requests.objectives[1].credits[0].below", "99.5 is above the target 99.0"),
    ("policies[0].requests.objectives[1].id", "'a' is already the id of"),
    ("policies[0].requests.objectives[2].colour", "unknown key"),
    ("policies[0].requests.objectives[2].id", "missing"),
    ("policies[0].requests.objectives[2].sli", "'foo': expected errors or latency"),
    ("policies[0].requests.objectives[2].target", "is not a percentage"),
    ("policies[1].requests.slice", "only for budgeting: timeslices"),
    ("policies[1].requests.objectives[0].threshold", "only for sli: latency"),
    ("policies[1].requests.objectives[0].near_breach", "not allowed with budgeting: occurrences"),
    ("policies[2].requests.slice", "'7s': expected a whole number of seconds that divides 24"),
    ("policies[2].requests.slice_target", "0 is not a percentage in (0, 100)"),
    ("policies[2].requests.objectives", "expected a non-empty list"),
]


def test_every_problem_at_once() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policies(BROKEN, "api.yaml")
    found = [(p.file, p.path, p.message) for p in caught.value.problems]
    for path, words in EXPECTED:
        hits = [f for f in found if f[1] == path and words in f[2]]
        assert hits, f"no problem at {path} saying {words!r}; got {found}"
        assert hits[0][0] == "api.yaml"
    assert len(found) == len(EXPECTED), found


def test_the_readme_example_loads() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "README.md").read_text()
    block = re.search(r"are a `requests` block.*?```yaml\n(.*?)```", text, re.S)
    assert block is not None, "the README lost its request-objectives example"
    versions = load_policies("policies:\n" + block.group(1)).versions
    assert [v.requests.budgeting for v in versions if v.requests] == ["occurrences", "timeslices"]
