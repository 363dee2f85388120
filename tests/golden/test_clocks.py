"""Custom clocks (SPEC section 4.1): the worked examples of ``tests/golden/clocks``, and the
built-in clocks redefined in the clocks language giving byte-identical output on every golden case.

The equivalence runs each golden case twice: as it is, and with every policy's ``response`` and
``resolution`` written out in its ``clocks`` block as SPEC 4.1 defines them (every key explicit, the
calendar named), loaded through the validator with the two names unreserved. A definition written
so is not the built-in constant (its calendar is named), so its table is drawn afresh and the clock
runs as any custom clock does: the outputs must still be the same bytes, ``detected_at`` aside.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from streams.core.clocks import BUILT_INS
from streams.core.policy import PolicySet
from streams.core.policyfile import clocks as clock_block
from streams.core.policyfile import load_policies, load_policy_file
from streams.core.timefmt import parse_instant
from streams.replay import replay
from tests.golden.test_scenarios import ALL, read_jsonl
from tests.support.compare import diff

CLOCKS = Path(__file__).parent / "clocks"
CLOCK_CASES = sorted(p for p in CLOCKS.glob("*") if (p / "expected.jsonl").exists())


def replayed(folder: Path, policies: PolicySet) -> tuple[list[bytes], str]:
    """The output lines of a replay of ``folder`` (``detected_at`` dropped), and its stderr."""
    out, err = io.BytesIO(), io.StringIO()
    until = parse_instant((folder / "until.txt").read_text().strip())
    replay(policies, str(folder / "incidents.jsonl"), str(folder / "heartbeats.jsonl"), until,
           out, err)
    lines = []
    for line in out.getvalue().splitlines():
        rec = orjson.loads(line)
        rec.pop("detected_at", None)
        lines.append(orjson.dumps(rec))
    return lines, err.getvalue()


def test_the_clock_examples_are_there() -> None:
    assert len(CLOCK_CASES) >= 5, f"no worked examples found under {CLOCKS}"


@pytest.mark.parametrize("folder", CLOCK_CASES, ids=lambda p: p.name)
def test_clock_example(folder: Path) -> None:
    lines, err = replayed(folder, load_policy_file(str(folder / "policy.yaml")))
    assert err == ""
    assert diff(read_jsonl(folder / "expected.jsonl"), [orjson.loads(x) for x in lines]) == []


BUILT_INS_WRITTEN = {
    "response": {"start": "opened", "stop": ["acknowledged", "resolved", "closed"], "cancel": [],
                 "pauses": False, "on_reopen": "ignore"},
    "resolution": {"start": "opened", "stop": ["resolved", "closed"], "cancel": [],
                   "pauses": True, "on_reopen": "resume"},
}


def redefined(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the built-in clocks written in every incidents policy's ``clocks`` block."""
    for policy in doc["policies"]:
        if "incidents" not in policy:
            continue
        calendar = policy.get("calendar", "24x7")
        written = {name: {**spec, "calendar": calendar} for name, spec in BUILT_INS_WRITTEN.items()}
        policy["clocks"] = {**written, **policy.get("clocks", {})}
    return doc


@pytest.mark.parametrize("folder", [*ALL, *CLOCK_CASES], ids=lambda p: p.name)
def test_the_built_ins_redefined_in_the_language_give_the_same_bytes(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_is, err = replayed(folder, load_policy_file(str(folder / "policy.yaml")))
    assert err == "" and as_is
    monkeypatch.setattr(clock_block, "RESERVED", ("availability", "requests", "burn_rate"))
    doc = yaml.load((folder / "policy.yaml").read_text(), Loader=clock_block_loader())
    policies = load_policies(yaml.safe_dump(redefined(doc)), "redefined.yaml")
    versions = [v for v in policies.versions if v.targets is not None]
    for v in versions:  # (none in the availability cases: the same bytes, trivially)
        # written in the language, not the constants: drawn as any custom clock
        assert v.metric_names[:2] == ("response", "resolution")
        assert all(d != b and d.calendar is not None for d, b in zip(v.clocks, BUILT_INS,
                                                                     strict=False))
        assert [(d.start, d.stop, d.cancel, d.pauses, d.on_reopen) for d in v.clocks[:2]] == [
            (b.start, b.stop, b.cancel, b.pauses, b.on_reopen) for b in BUILT_INS]
    again, err = replayed(folder, policies)
    assert err == ""
    assert again == as_is


def clock_block_loader() -> type[yaml.SafeLoader]:
    """A YAML loader that keeps instants as strings (as the policy loader does)."""
    class Loader(yaml.SafeLoader):
        pass
    Loader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    return Loader
