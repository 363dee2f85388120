"""Policies (SPEC section 3): load, validate (every problem at once), and resolve.

``load_policies(text, file)`` parses YAML or JSON into a ``PolicySet``; a broken file raises
``PolicyError`` listing every problem with the file, the path of the field (``policies[2].incidents.
P1.response``) and what was expected. Numbers that feed budgets and thresholds are kept exact
(``Fraction``): ``1 - 99.9/100`` is ``1/1000`` here, not ``0.0010000000000000009``.

A policy file is bounded before it is trusted (issue 10): at most ``MAX_POLICY_BYTES``, nesting at
most ``MAX_DEPTH`` levels, at most ``MAX_ALIASES`` YAML alias uses and ``MAX_NODES`` nodes once
they are expanded (the "billion laughs" is refused while it is composed, long before it is built),
every duration at most ``MAX_DURATION_MS`` (100 years). Each refusal is a ``PolicyProblem`` naming
the file and, where it can, the line and column; a hostile file costs a fraction of a second.

``load_policy_file(path, revisions)`` first merges revision files into the policy file
(``merge_revisions``: a pure function on the parsed documents) for "what if this policy had
applied" replays; the merged document is validated as one, each problem naming the file that
holds the offending field.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_right
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any, NamedTuple, TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from .calendar import Calendar, Span, WeeklySchedule
from .errors import InvalidDuration, InvalidInstant, PolicyError, PolicyProblem
from .timefmt import DAY_MS, NEVER_MS, parse_duration, parse_instant

METRICS = ("response", "resolution")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MATCH_KEYS = ("customer", "service")

#: Bounds of a policy file: none is near what a policy needs, and each keeps a hostile file from
#: costing more than a fraction of a second and a few MB (the loader never builds what it refuses).
MAX_POLICY_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64  # nested mappings and lists; a policy uses about 7
MAX_ALIASES = 1000  # YAML alias uses (*name)
MAX_NODES = 1_000_000  # nodes of the document with every alias expanded
MAX_DURATION_MS = 100 * 365 * DAY_MS  # 3,153,600,000 s: no deadline can leave the instant range
MAX_PROBLEMS = 1000  # listed; past them the validator stops (a broken file could list millions)
MAX_VERSION = 2**53 - 1  # the largest integer every JSON reader of the outputs holds exactly
_MAX_DURATION_TEXT = "at most 100 years (3,153,600,000 s)"

DEFAULT_BURN_RATE = (
    ("1h", "5m", 14.4),
    ("6h", "30m", 6),
    ("3d", "6h", 1),
)


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True)
class Threshold:
    """One entry that fires: a fraction of the target, a working time left, or the breach."""

    index: int
    label: float | str  # the policy entry as written: 0.5, "4m"; 1.0 for the breach
    fraction: Fraction | None  # f of the target, or None for a duration entry
    left_ms: int = 0  # a duration entry stands for target - left_ms

    @property
    def is_breach(self) -> bool:
        return self.fraction == 1 and self.left_ms == 0 and self.label == 1.0

    def level_ms(self, target_ms: int) -> int | None:
        """The elapsed working ms at which this entry fires for ``target_ms``; None if skipped."""
        if self.fraction is None:
            return target_ms - self.left_ms if self.left_ms < target_ms else None
        f = self.fraction
        return -(-f.numerator * target_ms // f.denominator)  # round up to the whole ms


@dataclass(frozen=True, slots=True)
class BurnRule:
    long_ms: int
    short_ms: int
    factor: Fraction
    label: float


@dataclass(frozen=True, slots=True)
class CreditTier:
    below: Fraction
    percent: float


@dataclass(frozen=True, slots=True)
class Availability:
    target: Fraction  # percent
    period: str  # month | week | day
    heartbeat_timeout_ms: int
    near_breach: tuple[Fraction, ...]
    near_breach_labels: tuple[float, ...]
    maintenance: WeeklySchedule  # weekly windows in the calendar's zone, plus explicit ones
    credits: tuple[CreditTier, ...]
    burn_rules: tuple[BurnRule, ...]


@dataclass(eq=False, slots=True)
class PolicyVersion:
    id: str
    version: int
    effective_from_ms: int
    match: tuple[str | None, str | None]  # (customer, service)
    calendar: Calendar
    near_breach: tuple[Threshold, ...]  # the near-breach entries, then the breach last
    targets: dict[str, tuple[int | None, int | None]] | None  # severity -> (response, resolution)
    availability: Availability | None
    _levels: dict[tuple[int, int], tuple[tuple[int, Threshold], ...]] = field(
        default_factory=dict, repr=False
    )
    match_keys: tuple[str, ...] = field(init=False, default=())  # the keys of ``match``
    #: the index of the breach among the thresholds (``near_breach`` holds it last)
    breach_index: int = field(init=False, default=-1)

    def __post_init__(self) -> None:
        self.match_keys = tuple(k for k, v in zip(MATCH_KEYS, self.match, strict=True)
                                if v is not None)
        self.breach_index = len(self.near_breach) - 1

    def target_ms(self, severity: str, metric: int) -> int | None:
        """Target of ``metric`` (0 response, 1 resolution) for ``severity``; None: not measured."""
        targets = self.targets
        if targets is None:
            return None
        entry = targets.get(severity)
        if entry is not None and entry[metric] is not None:
            return entry[metric]
        fallback = targets.get("*")
        return fallback[metric] if fallback is not None else None

    def target_source(self, severity: str, metric: int) -> tuple[int | None, str | None]:
        """``target_ms`` and the severity entry it comes from (``severity`` or ``"*"``);
        (None, None) when the metric is not measured."""
        targets = self.targets or {}
        for key in (severity, "*"):
            entry = targets.get(key)
            if entry is not None and entry[metric] is not None:
                return entry[metric], key
        return None, None

    def levels(self, target_ms: int) -> tuple[tuple[int, Threshold], ...]:
        """(level_ms, threshold) of every entry that applies to ``target_ms``, lowest first."""
        key = (target_ms, 0)
        found = self._levels.get(key)
        if found is None:
            pairs = []
            for th in self.near_breach:
                level = th.level_ms(target_ms)
                if level is not None:
                    pairs.append((level, th))
            pairs.sort(key=lambda p: (p[0], p[1].index))
            found = self._levels[key] = tuple(pairs)
        return found


#: The matches an incident's policy may have, most specific first, with the name of each level.
LEVELS = ("customer+service", "customer", "service", "{}")


def _levels(customer: str, service: str) -> tuple[tuple[tuple[str | None, str | None], str], ...]:
    matches = ((customer, service), (customer, None), (None, service), (None, None))
    return tuple(zip(matches, LEVELS, strict=True))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A policy whose match fits an incident, and what resolution made of it."""

    policy_id: str
    match: tuple[str | None, str | None]
    level: str  # one of LEVELS
    version: PolicyVersion | None  # the version in force at the incident's opening, if any
    first_from_ms: int  # effective_from of its first version (NEVER_MS: always)
    outcome: str  # "chosen" | "outranked" | "no incidents block" | "not in force"


@dataclass(frozen=True, slots=True)
class TargetSource:
    """The winner's target of one metric for a severity: from that severity's entry or "*"."""

    metric: str  # "response" | "resolution"
    target_ms: int | None  # None: not measured
    severity: str | None  # the entry it comes from; None when not measured


@dataclass(frozen=True, slots=True)
class IncidentExplanation:
    """``PolicySet.explain_incident``: the candidates, most specific first, and the winner."""

    customer: str
    service: str
    severity: str
    at_ms: int
    candidates: tuple[Candidate, ...]
    winner: PolicyVersion | None  # None: tracked and counted, no alert, no outcome
    targets: tuple[TargetSource, ...]  # response, resolution; empty without a winner

    @property
    def rule(self) -> str | None:
        """The level of the winner's match (customer+service > customer > service > {})."""
        return next((c.level for c in self.candidates if c.outcome == "chosen"), None)


@dataclass(eq=False)
class PolicySet:
    """Every policy version, indexed by ``match`` for resolution."""

    versions: list[PolicyVersion]
    calendars: dict[str, Calendar]
    file: str = "<policies>"
    _by_match: dict[tuple[str | None, str | None], list[PolicyVersion]] = field(
        default_factory=dict, repr=False
    )

    def __post_init__(self) -> None:
        for v in self.versions:
            self._by_match.setdefault(v.match, []).append(v)
        for chain in self._by_match.values():
            chain.sort(key=lambda v: v.effective_from_ms)
        self._starts = {m: [v.effective_from_ms for v in c] for m, c in self._by_match.items()}

    def in_force(self, match: tuple[str | None, str | None], at_ms: int) -> PolicyVersion | None:
        chain = self._by_match.get(match)
        if chain is None:
            return None
        i = bisect_right(self._starts[match], at_ms) - 1
        return chain[i] if i >= 0 else None

    def resolve_incident(self, customer: str, service: str, at_ms: int) -> PolicyVersion | None:
        """The policy version that governs an incident opened at ``at_ms`` (most specific wins)."""
        for match in ((customer, service), (customer, None), (None, service), (None, None)):
            version = self.in_force(match, at_ms)
            if version is not None and version.targets is not None:
                return version
        return None

    def explain_incident(self, customer: str, service: str, severity: str,
                         at_ms: int) -> IncidentExplanation:
        """Why ``resolve_incident`` picks what it picks for an incident opened at ``at_ms``: every
        policy whose match fits, most specific first (then by id), what happened to it, and the
        winner's targets for ``severity``. Pure data; the shells format it."""
        chosen = self.resolve_incident(customer, service, at_ms)
        candidates = []
        for rank, (match, level) in enumerate(_levels(customer, service)):
            chain = self._by_match.get(match)
            if chain is None:
                continue
            version = self.in_force(match, at_ms)
            if version is None:
                outcome = "not in force"
            elif version.targets is None:
                outcome = "no incidents block"
            elif version is chosen:
                outcome = "chosen"
            else:
                outcome = "outranked"
            candidates.append((rank, chain[0].id, Candidate(
                chain[0].id, match, level, version, chain[0].effective_from_ms, outcome)))
        candidates.sort(key=lambda c: (c[0], c[1]))
        targets: tuple[TargetSource, ...] = ()
        if chosen is not None:
            targets = tuple(TargetSource(name, *chosen.target_source(severity, metric))
                            for metric, name in enumerate(METRICS))
        return IncidentExplanation(customer, service, severity, at_ms,
                                   tuple(c for _, _, c in candidates), chosen, targets)

    def availability_for(self, service: str) -> list[tuple[str | None, str | None]]:
        """The matches whose policies judge ``service``'s availability: every policy with an
        availability block whose match has no service, or this service (SPEC section 7)."""
        return [m for m in self._by_match if m[1] in (None, service)
                and any(v.availability is not None for v in self._by_match[m])]

    def chain(self, match: tuple[str | None, str | None]) -> list[PolicyVersion]:
        return self._by_match.get(match, [])


# ----------------------------------------------------------------------------- loading


class _Refused(yaml.MarkedYAMLError):
    """A document the loader will not build (too deep, too many aliases, too big): its
    ``problem`` is the whole message."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps (instants stay strings), with duplicate keys refused, and
    bounded while it is composed: ``MAX_DEPTH`` levels, ``MAX_ALIASES`` alias uses, ``MAX_NODES``
    nodes with every alias expanded (each alias counts the nodes of what it names), no alias
    inside the node it names. The document is refused before the constructor or the validator
    sees it, so neither recursion limits nor memory are ever reached."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._nodes = 0  # composed so far, aliases expanded
        self._sizes: dict[str, int] = {}  # anchor -> expanded nodes of its node, once composed

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self.anchors:  # an undefined one: the composer says so
                size = self._sizes.get(str(event.anchor))
                if size is None:
                    raise _Refused(f"the YAML alias *{event.anchor} is inside the node it names "
                                   "(a recursive structure): a policy file has no use for that",
                                   event.start_mark)
                self._aliases += 1
                if self._aliases > MAX_ALIASES:
                    raise _Refused(f"more than {MAX_ALIASES:,} YAML alias uses: a policy file has "
                                   "no use for that", event.start_mark)
                self._count(size, event.start_mark)
            return super().compose_node(parent, index)
        nested = isinstance(event, yaml.CollectionStartEvent)
        if nested:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep: a policy file has no "
                               "use for that", event.start_mark)
        before = self._nodes
        self._count(1, event.start_mark)
        node = super().compose_node(parent, index)
        if nested:
            self._depth -= 1
        if event.anchor is not None:
            self._sizes[event.anchor] = self._nodes - before
        return node

    def _count(self, nodes: int, mark: Any) -> None:
        self._nodes += nodes
        if self._nodes > MAX_NODES:
            what = "YAML aliases expand past" if self._aliases else "more than"
            raise _Refused(f"{what} {MAX_NODES:,} nodes: a policy file has no use for that", mark)


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(
    loader: _Loader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # <<: *base, flattened by construct_mapping
            continue
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be a string, got {_kind(key)}", key_node.start_mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {_show(key)} (first at line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:  # past the 4,300 digits Python converts
        raise _Refused(f"an integer of {len(node.value):,} characters: a policy file has no use "
                       "for that", node.start_mark) from None


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def load_policy_file(path: str, revisions: Sequence[str] = ()) -> PolicySet:
    """Load the policy file at ``path``; with ``revisions``, the files whose calendars and
    policies are merged into it first (``merge_revisions``), validated as one document."""
    problems: list[PolicyProblem] = []
    docs = []
    for file in (path, *revisions):
        try:
            docs.append((file, read_policy_document(file)))
        except PolicyError as exc:
            problems += exc.problems
    if problems:
        raise PolicyError(problems)
    if not revisions:
        return _Validator(path).policy_set(docs[0][1])
    merged = merge_revisions(docs[0][1], path, docs[1:])
    return _Validator(path, merged.origins).policy_set(merged.doc)


def read_policy_document(path: str) -> Any:
    """The parsed YAML or JSON document of a policy file, not yet validated; a file over
    ``MAX_POLICY_BYTES`` is refused unread (no more than that is read of it)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        message = f"cannot read the file: {exc.strerror}"
        raise PolicyError([PolicyProblem(path, "", message)]) from None
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError([PolicyProblem(path, "", _too_big())])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([PolicyProblem(path, "", f"not UTF-8: byte {exc.start} is "
                                         f"{exc.object[exc.start]:#04x}")]) from None
    return parse_policy_document(text, path)


def _too_big(size: int | None = None) -> str:
    written = f"{size:,} bytes" if size is not None else "larger than that"
    return (f"a policy file is at most {MAX_POLICY_BYTES // 2**20} MiB ({MAX_POLICY_BYTES:,} "
            f"bytes), this one is {written}")


def load_policies(text: str, file: str = "<policies>") -> PolicySet:
    """Parse and validate a policy document; raise ``PolicyError`` listing every problem."""
    return _Validator(file).policy_set(parse_policy_document(text, file))


def parse_policy_document(text: str, file: str = "<policies>") -> Any:
    """YAML or JSON text as a document (mappings, lists, scalars); ``PolicyError`` if neither,
    or if it is past a bound (``MAX_POLICY_BYTES``, ``MAX_DEPTH``, ``MAX_ALIASES``,
    ``MAX_NODES``)."""
    if len(text) > MAX_POLICY_BYTES // 4:  # only then can its UTF-8 be past the bound
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_POLICY_BYTES:
            raise PolicyError([PolicyProblem(file, "", _too_big(size))])
    deep_at = _json_too_deep(text)
    try:
        # JSON first: PyYAML (YAML 1.1) refuses tab indentation and reads 5e-1 as a string
        doc = json.loads(text, object_pairs_hook=_unique_pairs)
    except RecursionError:  # deeper than json reads: it is too deep as JSON or as YAML
        raise PolicyError([_deep_json(file, text, deep_at or 0)]) from None
    except ValueError:  # not JSON, or a duplicate key: the YAML parser reads it and names the line
        try:
            return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            message = problem if isinstance(exc, _Refused) else f"not valid YAML/JSON: {problem}"
            raise PolicyError([PolicyProblem(file, where, message)]) from None
    if deep_at is not None:
        raise PolicyError([_deep_json(file, text, deep_at)])
    return doc


#: A JSON string (closed or not) or a bracket: what the depth scan of JSON text steps on.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def _json_too_deep(text: str) -> int | None:
    """The offset of the first bracket of ``text`` nested past ``MAX_DEPTH`` levels, outside
    JSON strings; None when there is none. Cheap: a file with few brackets is not scanned."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    for m in _JSON_TOKEN.finditer(text):
        c = text[m.start()]
        if c == "[" or c == "{":
            depth += 1
            if depth > MAX_DEPTH:
                return m.start()
        elif c == "]" or c == "}":
            depth -= 1
    return None


def _deep_json(file: str, text: str, offset: int) -> PolicyProblem:
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    return PolicyProblem(file, f"line {line}, column {column}",
                         f"nested more than {MAX_DEPTH} levels deep: a policy file has no use "
                         "for that")


# ----------------------------------------------------------------------------- revisions


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
        if not isinstance(doc, dict):
            problems.append(PolicyProblem(file, "", f"expected a mapping with calendars and/or "
                                                    f"policies, got {_kind(doc)}"))
            continue
        for key in doc:
            if key not in ("calendars", "policies"):
                problems.append(PolicyProblem(file, _join("", str(key)),
                                              "unknown key; expected one of calendars, policies"))
        new_calendars, new_policies = doc.get("calendars") or {}, doc.get("policies") or []
        if not isinstance(new_calendars, dict):
            problems.append(PolicyProblem(file, "calendars",
                                          f"expected a mapping, got {_kind(new_calendars)}"))
            new_calendars = {}
        if not isinstance(new_policies, list):
            problems.append(PolicyProblem(
                file, "policies", f"expected a list of policies, got {_kind(new_policies)}"))
            new_policies = []
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
    origins.update((_join("calendars", name), (file, _join("calendars", name)))
                   for name, file in cal_origin.items() if file != base_file)
    return MergedPolicies(merged, origins)


def _identity_key(spec: Any) -> tuple[Any, Any]:
    """(id, version) of a policy entry as written (version default 1); (None, None) when it has
    no usable id, so that it never replaces anything."""
    if not isinstance(spec, dict) or not isinstance(spec.get("id"), str):
        return None, None
    version = spec.get("version", 1)
    return spec["id"], version if isinstance(version, Hashable) else repr(version)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


class _Identity(NamedTuple):
    """What the cross-version checks need of a policy entry (even one with other problems)."""

    id: str
    version: int
    effective_from_ms: int
    match: tuple[str | None, str | None]


_SPAN = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)\Z")
_WEEKLY = re.compile(r"(mon|tue|wed|thu|fri|sat|sun) (\d\d):(\d\d)-(\d\d):(\d\d)\Z")


def _is_number(v: Any) -> TypeGuard[int | float]:
    """An int or a finite float (YAML's .inf and .nan, JSON's Infinity and NaN are not)."""
    if isinstance(v, float):
        return math.isfinite(v)
    return isinstance(v, int) and not isinstance(v, bool)


def _exact(v: int | float) -> Fraction:
    return Fraction(v) if isinstance(v, int) else Fraction(repr(v))


class _TooManyProblems(Exception):  # noqa: N818 - reads as what happened
    """``MAX_PROBLEMS`` problems found: the validator stops there."""


_MERGED_PART = re.compile(r"policies\[\d+\]|calendars(?:\.[A-Za-z_][A-Za-z0-9_-]*|\['[^']*'\])")


class _Validator:
    def __init__(self, file: str, origins: dict[str, tuple[str, str]] | None = None) -> None:
        self.file = file
        self.origins = origins or {}  # merged revisions: a path here -> (file, path there)
        self.problems: list[PolicyProblem] = []
        self.identities: list[tuple[int, _Identity]] = []  # cross-checked even if otherwise broken

    def bad(self, path: str, message: str) -> None:
        file = self.file
        if self.origins:
            head = _MERGED_PART.match(path)
            if head is not None and head.group() in self.origins:
                file, there = self.origins[head.group()]
                path = there + path[head.end():]
            message = _MERGED_PART.sub(lambda m: self._elsewhere(m.group(), file), message)
        if len(self.problems) >= MAX_PROBLEMS:
            raise _TooManyProblems
        self.problems.append(PolicyProblem(file, path, message))

    def _elsewhere(self, part: str, file: str) -> str:
        """A merged path named inside a message, as it reads from ``file``."""
        origin_file, there = self.origins.get(part, (self.file, part))
        return there if origin_file == file else f"{there} of {origin_file}"

    def mapping(
        self, value: Any, path: str, allowed: tuple[str, ...] | None = None
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.bad(path, f"expected a mapping, got {_kind(value)}")
            return {}
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    self.bad(_join(path, str(key)),
                             f"unknown key; expected one of {', '.join(allowed)}")
        return value

    def duration(self, value: Any, path: str, positive: bool = True) -> int | None:
        """Every duration of a policy: longer than 0 (unless not ``positive``) and at most
        ``MAX_DURATION_MS``, so that no target, window or timeout added to an instant of the
        range (SPEC section 1) leaves what a deadline can be."""
        if isinstance(value, str) and len(value) > _SHOW:
            self.bad(path, f"{_show(value)} is not a duration: expected e.g. 90s, 15m, 4h, 2d, "
                     f"1h30m or PT1H30M, {_MAX_DURATION_TEXT}")
            return None
        try:
            ms = parse_duration(value)
        except InvalidDuration as exc:
            self.bad(path, str(exc))
            return None
        if positive and ms <= 0:
            self.bad(path, f"{_show(value)} must be longer than 0 seconds")
            return None
        if ms > MAX_DURATION_MS:
            self.bad(path, f"{_show(value)} is too long: a duration is {_MAX_DURATION_TEXT}")
            return None
        return ms

    def instant(self, value: Any, path: str) -> int | None:
        if isinstance(value, str) and len(value) > _SHOW:  # what parse_instant would quote whole
            self.bad(path, f"{_show(value)} is not an instant: expected an RFC 3339 string with "
                     "an offset such as 2026-03-02T09:15:00Z")
            return None
        try:
            return parse_instant(value)
        except InvalidInstant as exc:
            self.bad(path, str(exc))
            return None

    # -- the document

    def policy_set(self, doc: Any) -> PolicySet:
        try:
            return self._policy_set(doc)
        except _TooManyProblems:  # a file this broken needs no more listed (nor its cost)
            self.problems.append(PolicyProblem(
                self.file, "", f"more than {MAX_PROBLEMS:,} problems: the first "
                f"{MAX_PROBLEMS:,} are listed, the rest of the file was not checked"))
            raise PolicyError(self.problems) from None

    def _policy_set(self, doc: Any) -> PolicySet:
        root = self.mapping(doc, "", ("calendars", "policies"))
        calendars = {}
        for name, spec in self.mapping(root.get("calendars", {}), "calendars").items():
            cal = self.calendar(str(name), spec, f"calendars.{name}")
            if cal is not None:
                calendars[str(name)] = cal
        raw_policies = root.get("policies")
        versions: list[PolicyVersion] = []
        if raw_policies is None:
            self.bad("policies", "missing: expected a list of policies")
        elif not isinstance(raw_policies, list):
            self.bad("policies", f"expected a list of policies, got {_kind(raw_policies)}")
        else:
            for i, spec in enumerate(raw_policies):
                v = self.policy(spec, i, root.get("calendars") or {}, calendars)
                if v is not None:
                    versions.append(v)
            self.cross_check(self.identities)
        if self.problems:
            raise PolicyError(self.problems)
        return PolicySet(versions, calendars, self.file)

    def calendar(self, name: str, spec: Any, path: str) -> Calendar | None:
        spec = self.mapping(spec, path, ("timezone", "hours", "holidays"))
        ok = len(self.problems)
        tz = spec.get("timezone")
        zone = None
        if not isinstance(tz, str):
            self.bad(f"{path}.timezone",
                     "missing: expected an IANA time zone name such as Europe/Paris")
        else:
            try:
                zone = ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America" (a folder)
                self.bad(f"{path}.timezone",
                         f"{_show(tz)} is not an IANA time zone name (e.g. Europe/Paris)")
        hours = spec.get("hours", "24x7")
        holidays = self.holidays(spec.get("holidays", []), f"{path}.holidays")
        if hours == "24x7":
            if holidays:
                self.bad(f"{path}.holidays", "a 24x7 calendar takes no holidays")
            return Calendar(name, zone) if zone is not None and len(self.problems) == ok else None
        spans = self.weekly_hours(hours, f"{path}.hours")
        if zone is None or spans is None or len(self.problems) != ok:
            return None
        return Calendar(name, zone, WeeklySchedule(zone, spans, frozenset(holidays)))

    def holidays(self, value: Any, path: str) -> list[date]:
        if not isinstance(value, list):
            self.bad(path, f"expected a list of dates (YYYY-MM-DD), got {_kind(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            try:
                if not isinstance(item, str) or len(item) != 10:
                    raise ValueError
                out.append(date.fromisoformat(item))
            except ValueError:
                self.bad(f"{path}[{i}]", f"{_show(item)} is not a date: expected YYYY-MM-DD")
        return out

    def weekly_hours(self, value: Any, path: str) -> tuple[tuple[Span, ...], ...] | None:
        if not isinstance(value, dict):
            self.bad(path, 'expected "24x7" or a mapping of days (mon..sun, mon-fri) to spans, '
                     f"got {_show(value)}")
            return None
        days: list[list[Span] | None] = [None] * 7
        for key, spans in value.items():
            kpath = _join(path, str(key))
            rng = self.day_range(str(key), kpath)
            if rng is None:
                continue
            parsed = self.spans(spans, kpath)
            for d in rng:
                if days[d] is not None:
                    self.bad(kpath, f"{DAYS[d]} is given more than once")
                days[d] = parsed
        if not any(days):
            self.bad(path, "no working time at all: give at least one span")
        return tuple(tuple(sorted(d or ())) for d in days)

    def day_range(self, key: str, path: str) -> range | None:
        parts = key.split("-")
        if len(parts) in (1, 2) and all(p in DAYS for p in parts):
            lo, hi = DAYS.index(parts[0]), DAYS.index(parts[-1])
            if lo <= hi:
                return range(lo, hi + 1)
        self.bad(path, "expected a day (mon..sun) or a forward range such as mon-fri")
        return None

    def spans(self, value: Any, path: str) -> list[Span]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.bad(path, f'expected a list of spans such as ["09:00-12:30"], got {_kind(value)}')
            return []
        out: list[Span] = []
        for i, text in enumerate(value):
            m = _SPAN.match(text) if isinstance(text, str) else None
            span = None
            if m is not None:
                h1, m1, h2, m2 = (int(g) for g in m.groups())
                start, end = h1 * 60 + m1, h2 * 60 + m2
                if h1 < 24 and m1 < 60 and m2 < 60 and (h2 < 24 or end == 1440) and start < end:
                    span = (start, end)
            if span is None:
                self.bad(f"{path}[{i}]", f"{_show(text)} is not a span: expected HH:MM-HH:MM "
                         "with start before end (24:00 allowed as an end)")
            else:
                out.append(span)
        out.sort()
        for (_, e1), (s2, _) in zip(out, out[1:], strict=False):
            if s2 < e1:
                self.bad(path, "spans overlap")
                break
        return out

    def policy(self, spec: Any, index: int, raw_calendars: Any, calendars: dict[str, Calendar]
               ) -> PolicyVersion | None:
        path = f"policies[{index}]"
        allowed = ("id", "version", "effective_from", "match", "calendar", "near_breach",
                   "incidents", "availability")
        spec = self.mapping(spec, path, allowed)
        ok = len(self.problems)
        pid = spec.get("id")
        if not isinstance(pid, str) or not pid:
            self.bad(f"{path}.id", "missing: expected a non-empty string")
        version = spec.get("version", 1)
        if (not isinstance(version, int) or isinstance(version, bool)
                or not 1 <= version <= MAX_VERSION):
            self.bad(f"{path}.version", f"{_show(version)} is not a version: expected an integer "
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
                self.bad(f"{path}.calendar", f"unknown calendar {_show(cal_name)}; defined: "
                         f"{', '.join(map(str, raw_calendars)) or 'none'}")
            elif cal_name in calendars:
                calendar = calendars[cal_name]
        near = self.near_breach(spec.get("near_breach", []), f"{path}.near_breach")
        targets = None
        if "incidents" in spec:
            targets = self.incidents(spec["incidents"], f"{path}.incidents")
        availability = None
        if "availability" in spec:
            availability = self.availability(spec["availability"], f"{path}.availability",
                                             calendar.zone)
        if "incidents" not in spec and "availability" not in spec:
            self.bad(path, "expected an incidents block, an availability block, or both")
        if len(self.problems) != ok or eff is None:
            return None
        return PolicyVersion(pid, version, eff, match, calendar, near, targets, availability)

    def match(self, value: Any, path: str) -> tuple[str | None, str | None]:
        value = self.mapping(value, path, MATCH_KEYS)
        out = []
        for key in MATCH_KEYS:
            v = value.get(key)
            if v is not None and not isinstance(v, str):
                self.bad(f"{path}.{key}", f"expected a string, got {_kind(v)}")
                v = None
            out.append(v)
        return out[0], out[1]

    def near_breach(self, value: Any, path: str) -> tuple[Threshold, ...]:
        entries: list[Threshold] = []
        if not isinstance(value, list):
            self.bad(path,
                     f"expected a list of fractions in (0, 1) or durations, got {_kind(value)}")
            value = []
        for i, item in enumerate(value):
            if _is_number(item):
                if not 0 < item < 1:
                    self.bad(f"{path}[{i}]", f"{_show(item)} is not a fraction in (0, 1)")
                    continue
                entries.append(Threshold(len(entries), float(item), _exact(item)))
            elif isinstance(item, str):
                left = self.duration(item, f"{path}[{i}]")
                if left is not None:
                    entries.append(Threshold(len(entries), item, None, left))
            else:
                self.bad(f"{path}[{i}]",
                         f"{_show(item)} is neither a fraction in (0, 1) nor a duration")
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
            spath = _join(path, str(sev))
            spec = self.mapping(spec, spath, METRICS)
            pair = []
            for metric in METRICS:
                pair.append(self.duration(spec[metric], f"{spath}.{metric}")
                            if metric in spec else None)
            if not any(m in spec for m in METRICS):
                self.bad(spath, "expected response, resolution or both")
            out[str(sev)] = (pair[0], pair[1])
        return out

    def availability(self, value: Any, path: str, zone: ZoneInfo) -> Availability | None:
        allowed = ("target", "period", "heartbeat_timeout", "near_breach", "maintenance", "credits",
                   "burn_rate")
        spec = self.mapping(value, path, allowed)
        ok = len(self.problems)
        target = spec.get("target")
        if not _is_number(target) or not 0 < target < 100:
            self.bad(f"{path}.target",
                     f"{_show(target)} is not a percentage in (0, 100) such as 99.9")
            target = 99.9
        period = spec.get("period", "month")
        if period not in ("month", "week", "day"):
            self.bad(f"{path}.period", f"{_show(period)}: expected month, week or day")
        timeout = None
        if "heartbeat_timeout" not in spec:
            self.bad(f"{path}.heartbeat_timeout", "missing: expected a duration such as 90s")
        else:
            timeout = self.duration(spec["heartbeat_timeout"], f"{path}.heartbeat_timeout")
        fractions, labels = [], []
        near = spec.get("near_breach", [])
        if not isinstance(near, list):
            self.bad(f"{path}.near_breach", "expected a list of fractions in (0, 1) of the budget")
            near = []
        for i, f in enumerate(near):
            if not _is_number(f) or not 0 < f < 1:
                self.bad(f"{path}.near_breach[{i}]",
                         f"{_show(f)} is not a fraction in (0, 1) of the budget")
            else:
                fractions.append(_exact(f))
                labels.append(float(f))
        maintenance = self.maintenance(spec.get("maintenance", []), f"{path}.maintenance", zone)
        credits = self.credits(spec.get("credits", []), f"{path}.credits", _exact(target))
        rules = self.burn_rules(spec.get("burn_rate"), f"{path}.burn_rate")
        if len(self.problems) != ok or timeout is None:
            return None
        return Availability(_exact(target), period, timeout, tuple(fractions), tuple(labels),
                            maintenance, credits, rules)

    def maintenance(self, value: Any, path: str, zone: ZoneInfo) -> WeeklySchedule:
        intervals: list[tuple[int, int]] = []
        weekly: list[list[Span]] = [[] for _ in range(7)]
        if not isinstance(value, list):
            self.bad(path, "expected a list of {start, end} or {weekly: \"sun 02:00-04:00\"}")
            value = []
        for i, item in enumerate(value):
            ipath = f"{path}[{i}]"
            if isinstance(item, dict) and "weekly" in item:
                self.mapping(item, ipath, ("weekly",))
                m = _WEEKLY.match(item["weekly"]) if isinstance(item["weekly"], str) else None
                span = None
                if m is not None:
                    h1, m1, h2, m2 = (int(g) for g in m.groups()[1:])
                    s, e = h1 * 60 + m1, h2 * 60 + m2
                    if h1 < 24 and m1 < 60 and m2 < 60 and (h2 < 24 or e == 1440) and s < e:
                        span = (s, e)
                if span is None:
                    self.bad(f"{ipath}.weekly", f"{_show(item['weekly'])}: expected a day and a "
                             "span such as \"sun 02:00-04:00\"")
                else:
                    weekly[DAYS.index(m.group(1))].append(span)  # type: ignore[union-attr]
                continue
            item = self.mapping(item, ipath, ("start", "end"))
            if "start" not in item or "end" not in item:
                self.bad(ipath, "expected start and end instants, or weekly")
                continue
            start = self.instant(item["start"], f"{ipath}.start")
            end = self.instant(item["end"], f"{ipath}.end")
            if start is not None and end is not None:
                if end <= start:
                    self.bad(ipath, "end must be after start")
                elif end - start > MAX_DURATION_MS:
                    self.bad(ipath, f"a window from {_show(item['start'])} to {_show(item['end'])} "
                             f"is too long: a maintenance window is {_MAX_DURATION_TEXT}")
                else:
                    intervals.append((start, end))
        return WeeklySchedule(zone, tuple(tuple(sorted(d)) for d in weekly),
                              extra=tuple(sorted(intervals)))

    def credits(self, value: Any, path: str, target: Fraction) -> tuple[CreditTier, ...]:
        out = []
        if not isinstance(value, list):
            self.bad(path, "expected a list of {below, percent}")
            return ()
        for i, item in enumerate(value):
            ipath = f"{path}[{i}]"
            item = self.mapping(item, ipath, ("below", "percent"))
            below, percent = item.get("below"), item.get("percent")
            good = True
            if not _is_number(below) or not 0 < below < 100:
                self.bad(f"{ipath}.below", f"{_show(below)} is not a percentage in (0, 100)")
                good = False
            elif _exact(below) > target:
                self.bad(f"{ipath}.below", f"{below} is above the target {float(target)}: a credit "
                         "tier's below is at most the target")
                good = False
            if not _is_number(percent) or not 0 < percent <= 100:
                self.bad(f"{ipath}.percent",
                         f"{_show(percent)} is not a credit percentage in (0, 100]")
                good = False
            if good:
                assert _is_number(below) and _is_number(percent)  # good: both were checked above
                out.append(CreditTier(_exact(below), float(percent)))
        if len({t.below for t in out}) != len(out):
            self.bad(path, "two tiers have the same below")
        return tuple(sorted(out, key=lambda t: t.below, reverse=True))

    def burn_rules(self, value: Any, path: str) -> tuple[BurnRule, ...]:
        if value is None:
            return ()
        if value == "default":
            value = [{"long": lg, "short": sh, "factor": f} for lg, sh, f in DEFAULT_BURN_RATE]
        if not isinstance(value, list):
            self.bad(path, "expected \"default\" or a list of {long, short, factor}")
            return ()
        out = []
        for i, item in enumerate(value):
            ipath = f"{path}[{i}]"
            item = self.mapping(item, ipath, ("long", "short", "factor"))
            long_ms = self.duration(item.get("long"), f"{ipath}.long")
            short_ms = self.duration(item.get("short"), f"{ipath}.short")
            factor = item.get("factor")
            if not _is_number(factor) or factor <= 0:
                self.bad(f"{ipath}.factor", f"{_show(factor)} is not a positive number")
                continue
            if long_ms is None or short_ms is None:
                continue
            if short_ms > long_ms:
                self.bad(ipath, "the short window must not be longer than the long one")
                continue
            if long_ms % 60000 or short_ms % 60000:
                self.bad(ipath, "windows must be whole minutes")
                continue
            out.append(BurnRule(long_ms, short_ms, _exact(factor), float(factor)))
        return tuple(out)

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
                    self.bad(f"policies[{i}].match", f"versions of {_show(pid)} must share one "
                             f"match (policies[{first_i}] has {_match_text(first.match)})")
                if v.version in seen_versions:
                    self.bad(f"policies[{i}].version", f"{_show(pid)} version {v.version} is given "
                             f"twice (also policies[{seen_versions[v.version]}])")
                seen_versions.setdefault(v.version, i)
                if v.effective_from_ms in seen_from:
                    self.bad(f"policies[{i}].effective_from", f"two versions of {_show(pid)} "
                             f"share one effective_from (also policies"
                             f"[{seen_from[v.effective_from_ms]}])")
                seen_from.setdefault(v.effective_from_ms, i)
            owner = match_owner.get(first.match)
            if owner is not None:
                self.bad(f"policies[{first_i}].match", f"{_match_text(first.match)} is already "
                         f"the match of {_show(owner[1])} (policies[{owner[0]}]): one match, one "
                         "policy id")
            else:
                match_owner[first.match] = (first_i, pid)


def _match_text(match: tuple[str | None, str | None]) -> str:
    parts = [f"{k}: {v if len(v) <= _SHOW else _show(v)}"
             for k, v in zip(MATCH_KEYS, match, strict=True) if v is not None]
    return "{" + ", ".join(parts) + "}"


def _join(path: str, key: str) -> str:
    if len(key) <= _SHOW and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{_show(key)}]"


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"the string {_show(value)}"
    kinds: dict[type[Any], str] = {dict: "a mapping", list: "a list"}
    return kinds.get(type(value), f"{type(value).__name__} {_show(value)}")


_SHOW = 60  # characters of a value shown in a message


def _show(value: Any) -> str:
    """``repr(value)`` for a message, cut short: a 1 MB string or a list of a million items is
    named by its size (and never written out whole, so a hostile file costs no more here)."""
    if isinstance(value, str):
        if len(value) <= _SHOW:
            return repr(value)
        return f"{value[:_SHOW]!r}... ({len(value):,} characters)"
    if isinstance(value, list | dict) and not _small(value):
        kind = "a list" if isinstance(value, list) else "a mapping"
        return f"{kind} of {len(value):,} items"
    if type(value) is int and not -(10**_SHOW) < value < 10**_SHOW:
        return f"an integer of {len(str(abs(value))):,} digits"
    text = repr(value)
    return text if len(text) <= 2 * _SHOW else text[:2 * _SHOW] + "..."


def _small(value: Any, budget: int = 16) -> bool:
    """Whether ``value`` (lists, mappings, scalars) has at most ``budget`` parts and short
    strings: what ``repr`` writes out in a line. Stops at the budget, never walks a big value."""
    stack = [value]
    while stack:
        item = stack.pop()
        budget -= 1
        if budget < 0 or isinstance(item, str) and len(item) > _SHOW:
            return False
        if isinstance(item, dict):
            if len(item) > budget:
                return False
            for k, v in item.items():
                stack += (k, v)
        elif isinstance(item, list):
            if len(item) > budget:
                return False
            stack += item
    return True
