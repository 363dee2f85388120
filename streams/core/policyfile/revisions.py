"""Revision files merged into a policy file ("what if this policy had applied"), before the
merged document is validated as one."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import PolicyError, PolicyProblem
from .text import join, kind


@dataclass(frozen=True)
class MergedPolicies:
    """A policy document with revisions merged in, and where each merged part came from:
    ``origins`` maps a path of ``doc`` (``policies[3]``, ``calendars.office``) to the file and
    the path it has there, so that problems name the file that holds the offending field."""

    doc: dict[str, Any]
    origins: dict[str, tuple[str, str]]


def merge_revisions(base: Any, base_file: str, revisions: Sequence[tuple[str, Any]]
                    ) -> MergedPolicies:
    """Merge the ``calendars`` and ``policies`` of each revision (``(file, document)``, in order)
    into the ``base`` document ("what if this policy had applied"): a policy with the ``id`` and
    ``version`` (default 1) of an earlier file's replaces it in place, any other is added; a
    calendar replaces the one of the same name. Pure: the documents are not modified, and the
    result is validated like any policy document. A revision that is not a mapping of those two
    keys is a ``PolicyError``; a base of the wrong shape is returned as it is, for the validator
    to report."""
    problems: list[PolicyProblem] = []
    if not isinstance(base, dict) or not isinstance(base.get("policies", []), list) or not (
            isinstance(base.get("calendars", {}), dict)):
        return MergedPolicies(base, {})
    calendars = dict(base.get("calendars") or {})
    policies = list(base.get("policies") or [])
    cal_origin = {str(name): base_file for name in calendars}
    pol_origin = [(base_file, i) for i in range(len(policies))]
    where: dict[tuple[Any, Any], tuple[int, int]] = {}  # (id, version) -> (index, file number)
    for i, spec in enumerate(policies):
        where.setdefault(_identity_key(spec), (i, 0))
    for number, (file, doc) in enumerate(revisions, 1):
        parts = _revision_parts(file, doc, problems)
        if parts is None:
            continue
        new_calendars, new_policies = parts
        for name, spec in new_calendars.items():
            calendars[name] = spec
            cal_origin[str(name)] = file
        for j, spec in enumerate(new_policies):
            key = _identity_key(spec)
            earlier = where.get(key)
            if earlier is not None and earlier[1] != number and key[0] is not None:
                policies[earlier[0]] = spec
                pol_origin[earlier[0]] = (file, j)
                where[key] = (earlier[0], number)
            else:  # a new version, or a duplicate within this file (the validator says so)
                where.setdefault(key, (len(policies), number))
                policies.append(spec)
                pol_origin.append((file, j))
    if problems:
        raise PolicyError(problems)
    merged = {**base, "calendars": calendars, "policies": policies}
    if not calendars and "calendars" not in base:
        del merged["calendars"]
    origins = {f"policies[{i}]": (file, f"policies[{j}]") for i, (file, j) in
               enumerate(pol_origin) if file != base_file or i != j}
    origins.update((join("calendars", name), (file, join("calendars", name)))
                   for name, file in cal_origin.items() if file != base_file)
    return MergedPolicies(merged, origins)


def _revision_parts(file: str, doc: Any, problems: list[PolicyProblem]
                    ) -> tuple[dict[Any, Any], list[Any]] | None:
    """The calendars and policies of one revision document; what is wrong with its shape goes
    to ``problems`` (None: not a mapping at all)."""
    if not isinstance(doc, dict):
        problems.append(PolicyProblem(file, "", f"expected a mapping with calendars and/or "
                                                f"policies, got {kind(doc)}"))
        return None
    for key in doc:
        if key not in ("calendars", "policies"):
            problems.append(PolicyProblem(file, join("", str(key)),
                                          "unknown key; expected one of calendars, policies"))
    new_calendars, new_policies = doc.get("calendars") or {}, doc.get("policies") or []
    if not isinstance(new_calendars, dict):
        problems.append(PolicyProblem(file, "calendars",
                                      f"expected a mapping, got {kind(new_calendars)}"))
        new_calendars = {}
    if not isinstance(new_policies, list):
        problems.append(PolicyProblem(
            file, "policies", f"expected a list of policies, got {kind(new_policies)}"))
        new_policies = []
    return new_calendars, new_policies


def _identity_key(spec: Any) -> tuple[Any, Any]:
    """(id, version) of a policy entry as written (version default 1); (None, None) when it has
    no usable id, so that it never replaces anything."""
    if not isinstance(spec, dict) or not isinstance(spec.get("id"), str):
        return None, None
    version = spec.get("version", 1)
    return spec["id"], version if isinstance(version, Hashable) else repr(version)
