"""The validator of a policy document: every problem at once, each naming the file, the path of
the field (``policies[2].incidents.P1.response``) and what was expected, then the ``PolicySet``.

The blocks have rooms of their own (``calendars``, ``availability``); this one reads the document,
each policy entry, its match, near-breach thresholds and incident targets, and checks the
versions of one policy id against each other.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from ..calendar import Calendar
from ..errors import PolicyError, PolicyProblem
from ..policy import MATCH_KEYS, METRICS, PolicySet, PolicyVersion, Requests, Threshold
from ..timefmt import NEVER_MS
from .availability import read_availability
from .calendars import read_calendar
from .checker import MAX_PROBLEMS, Checker, TooManyProblems, exact, is_number
from .requests import read_requests
from .text import join, kind, match_text, show

MAX_VERSION = 2**53 - 1  # the largest integer every JSON reader of the outputs holds exactly


class _Identity(NamedTuple):
    """What the cross-version checks need of a policy entry (even one with other problems)."""

    id: str
    version: int
    effective_from_ms: int
    match: tuple[str | None, str | None]


class Validator(Checker):
    """Validates one policy document (``origins``: where merged revisions came from)."""

    def __init__(self, file: str, origins: dict[str, tuple[str, str]] | None = None) -> None:
        super().__init__(file, origins)
        self.identities: list[tuple[int, _Identity]] = []  # cross-checked even if otherwise broken

    def policy_set(self, doc: Any) -> PolicySet:
        try:
            return self._policy_set(doc)
        except TooManyProblems:  # a file this broken needs no more listed (nor its cost)
            self.problems.append(PolicyProblem(
                self.file, "", f"more than {MAX_PROBLEMS:,} problems: the first "
                f"{MAX_PROBLEMS:,} are listed, the rest of the file was not checked"))
            raise PolicyError(self.problems) from None

    def _policy_set(self, doc: Any) -> PolicySet:
        root = self.mapping(doc, "", ("calendars", "policies"))
        calendars = {}
        for name, spec in self.mapping(root.get("calendars", {}), "calendars").items():
            cal = read_calendar(self, str(name), spec, f"calendars.{name}")
            if cal is not None:
                calendars[str(name)] = cal
        raw_policies = root.get("policies")
        versions: list[PolicyVersion] = []
        if raw_policies is None:
            self.bad("policies", "missing: expected a list of policies")
        elif not isinstance(raw_policies, list):
            self.bad("policies", f"expected a list of policies, got {kind(raw_policies)}")
        else:
            for i, spec in enumerate(raw_policies):
                v = self.policy(spec, i, root.get("calendars") or {}, calendars)
                if v is not None:
                    versions.append(v)
            self.cross_check(self.identities)
        if self.problems:
            raise PolicyError(self.problems)
        return PolicySet(versions, calendars, self.file)

    def policy(self, spec: Any, index: int, raw_calendars: Any, calendars: dict[str, Calendar]
               ) -> PolicyVersion | None:
        path = f"policies[{index}]"
        allowed = ("id", "version", "effective_from", "match", "calendar", "near_breach",
                   "incidents", "availability", "requests")
        spec = self.mapping(spec, path, allowed)
        ok = len(self.problems)
        pid = spec.get("id")
        if not isinstance(pid, str) or not pid:
            self.bad(f"{path}.id", "missing: expected a non-empty string")
        version = spec.get("version", 1)
        if (not isinstance(version, int) or isinstance(version, bool)
                or not 1 <= version <= MAX_VERSION):
            self.bad(f"{path}.version", f"{show(version)} is not a version: expected an integer "
                     f">= 1 (and at most {MAX_VERSION:,})")
        eff: int | None = NEVER_MS
        if "effective_from" in spec:
            eff = self.instant(spec["effective_from"], f"{path}.effective_from")
        match = self.match(spec.get("match", {}), f"{path}.match")
        if len(self.problems) == ok and eff is not None:
            self.identities.append((index, _Identity(pid, version, eff, match)))
        cal_name = spec.get("calendar")
        calendar = Calendar("24x7", ZoneInfo("UTC"))
        if cal_name is not None:
            if not isinstance(cal_name, str) or cal_name not in raw_calendars:
                self.bad(f"{path}.calendar", f"unknown calendar {show(cal_name)}; defined: "
                         f"{', '.join(map(str, raw_calendars)) or 'none'}")
            elif cal_name in calendars:
                calendar = calendars[cal_name]
        near = self.near_breach(spec.get("near_breach", []), f"{path}.near_breach")
        targets = None
        if "incidents" in spec:
            targets = self.incidents(spec["incidents"], f"{path}.incidents")
        availability = None
        if "availability" in spec:
            availability = read_availability(self, spec["availability"], f"{path}.availability",
                                             calendar.zone)
        requests = self.requests(spec, path, calendar)
        if not any(block in spec for block in ("incidents", "availability", "requests")):
            self.bad(path, "expected an incidents, availability or requests block (or more)")
        if len(self.problems) != ok or eff is None:
            return None
        return PolicyVersion(pid, version, eff, match, calendar, near, targets, availability,
                             requests)

    def requests(self, spec: dict[str, Any], path: str, calendar: Calendar) -> Requests | None:
        """The policy's requests block, if it has one (``core.policyfile.requests``)."""
        if "requests" not in spec:
            return None
        return read_requests(self, spec["requests"], f"{path}.requests", calendar.zone)

    def match(self, value: Any, path: str) -> tuple[str | None, str | None]:
        value = self.mapping(value, path, MATCH_KEYS)
        out = []
        for key in MATCH_KEYS:
            v = value.get(key)
            if v is not None and not isinstance(v, str):
                self.bad(f"{path}.{key}", f"expected a string, got {kind(v)}")
                v = None
            out.append(v)
        return out[0], out[1]

    def near_breach(self, value: Any, path: str) -> tuple[Threshold, ...]:
        entries: list[Threshold] = []
        if not isinstance(value, list):
            self.bad(path,
                     f"expected a list of fractions in (0, 1) or durations, got {kind(value)}")
            value = []
        for i, item in enumerate(value):
            if is_number(item):
                if not 0 < item < 1:
                    self.bad(f"{path}[{i}]", f"{show(item)} is not a fraction in (0, 1)")
                    continue
                entries.append(Threshold(len(entries), float(item), exact(item)))
            elif isinstance(item, str):
                left = self.duration(item, f"{path}[{i}]")
                if left is not None:
                    entries.append(Threshold(len(entries), item, None, left))
            else:
                self.bad(f"{path}[{i}]",
                         f"{show(item)} is neither a fraction in (0, 1) nor a duration")
        labels = [e.label for e in entries]
        if len(set(labels)) != len(labels):
            self.bad(path, "an entry is given twice")
        entries.append(Threshold(len(entries), 1.0, Fraction(1)))
        return tuple(entries)

    def incidents(self, value: Any, path: str) -> dict[str, tuple[int | None, int | None]]:
        out = {}
        value = self.mapping(value, path)
        if not value:
            self.bad(path, "expected at least one severity (e.g. P1, or \"*\" for every severity)")
        for sev, spec in value.items():
            spath = join(path, str(sev))
            spec = self.mapping(spec, spath, METRICS)
            pair = []
            for metric in METRICS:
                pair.append(self.duration(spec[metric], f"{spath}.{metric}")
                            if metric in spec else None)
            if not any(m in spec for m in METRICS):
                self.bad(spath, "expected response, resolution or both")
            out[str(sev)] = (pair[0], pair[1])
        return out

    def cross_check(self, indexed: list[tuple[int, _Identity]]) -> None:
        by_id: dict[str, list[tuple[int, _Identity]]] = {}
        for i, v in indexed:
            by_id.setdefault(v.id, []).append((i, v))
        match_owner: dict[tuple[str | None, str | None], tuple[int, str]] = {}
        for pid, items in by_id.items():
            first_i, first = items[0]
            seen_versions: dict[int, int] = {}
            seen_from: dict[int, int] = {}
            for i, v in items:
                if v.match != first.match:
                    self.bad(f"policies[{i}].match", f"versions of {show(pid)} must share one "
                             f"match (policies[{first_i}] has {match_text(first.match)})")
                if v.version in seen_versions:
                    self.bad(f"policies[{i}].version", f"{show(pid)} version {v.version} is given "
                             f"twice (also policies[{seen_versions[v.version]}])")
                seen_versions.setdefault(v.version, i)
                if v.effective_from_ms in seen_from:
                    self.bad(f"policies[{i}].effective_from", f"two versions of {show(pid)} "
                             f"share one effective_from (also policies"
                             f"[{seen_from[v.effective_from_ms]}])")
                seen_from.setdefault(v.effective_from_ms, i)
            owner = match_owner.get(first.match)
            if owner is not None:
                self.bad(f"policies[{first_i}].match", f"{match_text(first.match)} is already "
                         f"the match of {show(owner[1])} (policies[{owner[0]}]): one match, one "
                         "policy id")
            else:
                match_owner[first.match] = (first_i, pid)
