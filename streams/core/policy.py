"""Policies (SPEC section 3): the model and its resolution.

A ``PolicySet`` holds every ``PolicyVersion``, indexed by ``match``: ``resolve_incident`` picks the
version that governs an incident (the most specific match in force at its ``opened``),
``explain_incident`` says why, and ``chain``/``availability_for`` give the versions that judge a
service. Numbers that feed budgets and thresholds are kept exact (``Fraction``): ``1 - 99.9/100``
is ``1/1000`` here, not ``0.0010000000000000009``.

Reading, merging and validating a policy file is ``core.policyfile``'s work; it builds these.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from fractions import Fraction

from .calendar import Calendar, WeeklySchedule
from .clocks import (
    BUILT_INS,
    TABLES,
    Action,
    ClockDefinition,
    Condition,
    Threshold,
    transitions,
)
from .errors import PolicyProblem

#: The built-in incident metrics; a policy's ``clocks`` block adds more (SPEC section 4.1).
METRICS = ("response", "resolution")
#: Names no custom clock may take: the built-in metrics and the other metrics of the outputs.
RESERVED_METRICS = ("response", "resolution", "availability", "requests", "burn_rate")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MATCH_KEYS = ("customer", "service")

# ----------------------------------------------------------------------------- the model


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


OCCURRENCES, TIMESLICES = "occurrences", "timeslices"


@dataclass(frozen=True, slots=True)
class RequestObjective:
    """One request objective (SPEC section 9): ``target`` percent of the requests good, by
    ``sli`` (errors or latency)."""

    id: str
    sli: str  # errors | latency
    target: Fraction  # percent
    threshold_ms: int | None  # latency: good = within this
    threshold_text: str | None  # the threshold as written
    near_breach: tuple[Fraction, ...]  # timeslices only: fractions of the bad-time budget
    near_breach_labels: tuple[float, ...]
    credits: tuple[CreditTier, ...]
    burn_rules: tuple[BurnRule, ...]
    slice_target: Fraction  # timeslices: the block's slice_target, else the target


@dataclass(frozen=True, slots=True)
class Requests:
    """A policy's ``requests`` block (read by ``core.policyfile.requests``)."""

    period: str  # month | week | day, in the calendar's zone
    budgeting: str  # occurrences | timeslices
    slice_ms: int
    min_requests: int
    lateness_ms: int
    maintenance: WeeklySchedule
    objectives: tuple[RequestObjective, ...]

    def objective(self, objective_id: str) -> RequestObjective | None:
        """The objective named ``objective_id`` (the same across versions by its id)."""
        return next((o for o in self.objectives if o.id == objective_id), None)


@dataclass(eq=False, slots=True)
class PolicyVersion:
    id: str
    version: int
    effective_from_ms: int
    match: tuple[str | None, str | None]  # (customer, service)
    calendar: Calendar
    near_breach: tuple[Threshold, ...]  # the near-breach entries, then the breach last
    #: severity -> a target (ms, None: none given) per clock, in the order of ``clocks``
    targets: dict[str, tuple[int | None, ...]] | None
    availability: Availability | None
    requests: Requests | None = None  # request objectives (SPEC section 9)
    #: every incident clock: the built-ins, then the ``clocks`` block in the order written
    clocks: tuple[ClockDefinition, ...] = BUILT_INS
    #: the calendar of each clock's working time (None: the policy's ``calendar``)
    clock_calendars: tuple[Calendar | None, ...] = (None, None)
    _levels: dict[tuple[int, int], tuple[tuple[int, Threshold], ...]] = field(
        default_factory=dict, repr=False
    )
    match_keys: tuple[str, ...] = field(init=False, default=())  # the keys of ``match``
    #: the index of the breach among the thresholds (``near_breach`` holds it last)
    breach_index: int = field(init=False, default=-1)
    #: each clock's (name, table, calendar), drawn once: what an incident's clocks are made of
    engine: tuple[tuple[str, dict[tuple[Condition, int], Action], Calendar], ...] = field(
        init=False, default=())

    def __post_init__(self) -> None:
        self.match_keys = tuple(k for k, v in zip(MATCH_KEYS, self.match, strict=True)
                                if v is not None)
        self.breach_index = len(self.near_breach) - 1
        self.engine = tuple(
            (d.name, TABLES[i] if i < len(BUILT_INS) and d == BUILT_INS[i] else transitions(d),
             cal or self.calendar)
            for i, (d, cal) in enumerate(zip(self.clocks, self.clock_calendars, strict=True)))

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The names of the policy's incident clocks (the ``metric`` of their records)."""
        return tuple(d.name for d in self.clocks)
    def target_ms(self, severity: str, metric: int) -> int | None:
        """Target of clock ``metric`` (its index in ``clocks``: 0 response, 1 resolution) for
        ``severity``; None: not measured."""
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

    metric: str  # "response" | "resolution" | a custom clock's name
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
    targets: tuple[TargetSource, ...]  # per clock of the winner; empty without a winner

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
    #: what is valid but likely not meant (``policy validate`` prints them)
    warnings: tuple[PolicyProblem, ...] = ()
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
                            for metric, name in enumerate(chosen.metric_names))
        return IncidentExplanation(customer, service, severity, at_ms,
                                   tuple(c for _, _, c in candidates), chosen, targets)

    def availability_for(self, service: str) -> list[tuple[str | None, str | None]]:
        """The matches whose policies judge ``service``'s availability: every policy with an
        availability block whose match has no service, or this service (SPEC section 7)."""
        return [m for m in self._by_match if m[1] in (None, service)
                and any(v.availability is not None for v in self._by_match[m])]

    def requests_for(self, service: str) -> list[tuple[str | None, str | None]]:
        """The matches whose policies judge ``service``'s request counts: every policy with a
        requests block whose match has no service, or this service (SPEC section 9)."""
        return [m for m in self._by_match if m[1] in (None, service)
                and any(v.requests is not None for v in self._by_match[m])]

    def chain(self, match: tuple[str | None, str | None]) -> list[PolicyVersion]:
        return self._by_match.get(match, [])
