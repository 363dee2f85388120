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
from ..clocks import Threshold
from ..errors import PolicyError, PolicyProblem
from ..policy import MATCH_KEYS, METRICS, PolicySet, PolicyVersion, Requests
from ..timefmt import NEVER_MS
from .availability import read_availability
from .calendars import read_calendar
from .checker import MAX_PROBLEMS, Checker, TooManyProblems, exact, is_number
from .clocks import ALWAYS, clock_names, read_clocks
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
            if name == ALWAYS:
                self.bad(f"calendars.{name}", f"{ALWAYS!r} is reserved: it names the calendar "
                         "that is always working (give yours another name)")
                continue
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
        return PolicySet(versions, calendars, self.file, tuple(self.warnings))

    def policy(self, spec: Any, index: int, raw_calendars: Any, calendars: dict[str, Calendar]
               ) -> PolicyVersion | None:
        path = f"policies[{index}]"
        allowed = ("id", "version", "effective_from", "match", "calendar", "near_breach",
                   "clocks", "incidents", "availability", "requests")
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
        calendar = self.calendar(spec.get("calendar"), f"{path}.calendar", raw_calendars,
                                 calendars)
        near = self.near_breach(spec.get("near_breach", []), f"{path}.near_breach")
        clocks, clock_calendars = read_clocks(self, spec.get("clocks", {}), f"{path}.clocks",
                                              raw_calendars, calendars)
        if "clocks" in spec and "incidents" not in spec:
            self.bad(f"{path}.clocks", "clocks without an incidents block measure nothing: "
                     "give their targets per severity under incidents")
        targets = None
        if "incidents" in spec:
            written = tuple(dict.fromkeys((*METRICS, *clock_names(spec.get("clocks")))))
            targets = self.incidents(spec["incidents"], f"{path}.incidents",
                                     tuple(d.name for d in clocks), written)
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
                             requests, clocks, clock_calendars)

    def requests(self, spec: dict[str, Any], path: str, calendar: Calendar) -> Requests | None:
        """The policy's requests block, if it has one (``core.policyfile.requests``)."""
        if "requests" not in spec:
            return None
        return read_requests(self, spec["requests"], f"{path}.requests", calendar.zone)

    def calendar(self, name: Any, path: str, raw_calendars: Any,
                 calendars: dict[str, Calendar]) -> Calendar:
        """A policy's calendar: a defined one, or ``24x7`` in UTC (the default)."""
        if name is not None and name != ALWAYS:
            if not isinstance(name, str) or name not in raw_calendars:
                self.bad(path, f"unknown calendar {show(name)}; defined: "
                         f"{', '.join(map(str, raw_calendars)) or 'none'} (or {ALWAYS})")
            elif name in calendars:
                return calendars[name]
        return Calendar(ALWAYS, ZoneInfo("UTC"))

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

    def incidents(self, value: Any, path: str, names: tuple[str, ...], written: tuple[str, ...]
                  ) -> dict[str, tuple[int | None, ...]]:
        """Targets per severity, one per clock of ``names`` (the built-ins, then the policy's
        valid ``clocks``); a key that is none of the clocks ``written`` is a problem."""
        out = {}
        value = self.mapping(value, path)
        if not value:
            self.bad(path, "expected at least one severity (e.g. P1, or \"*\" for every severity)")
        for sev, spec in value.items():
            spath = join(path, str(sev))
            spec = self.mapping(spec, spath)
            for key in spec:
                if key not in written:
                    self.unknown_metric(join(spath, str(key)), written)
            targets = tuple(self.duration(spec[name], f"{spath}.{name}") if name in spec
                            else None for name in names)
            if not any(name in spec for name in written):
                self.bad(spath, "expected response, resolution or both" if len(written) == 2
                         else f"expected a target for at least one of {', '.join(written)}")
            out[str(sev)] = targets
        return out

    def unknown_metric(self, path: str, names: tuple[str, ...]) -> None:
        """A severity entry's key that is neither a built-in metric nor a clock of the policy."""
        clocks = names[len(METRICS):]
        defined = (f"one of its clocks ({', '.join(clocks)})" if clocks
                   else "a clock of its clocks block (it has none)")
        self.bad(path, f"unknown key; expected one of {', '.join(METRICS)}, or {defined}")

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
