"""``slawatch policy explain`` as text and as JSON: which policy and version an incident opened
at an instant would get, and why (``PolicySet.explain_incident`` finds it; this only writes it),
with the winner's clocks (the built-ins and its custom ones, SPEC 4.1) and their targets.
"""

from __future__ import annotations

from typing import Any

from .core.clocks import BUILT_INS, ClockDefinition, Condition
from .core.events import TYPE_NAMES
from .core.policy import IncidentExplanation, PolicyVersion
from .core.timefmt import NEVER_MS, format_instant


def _condition(c: Condition) -> str:
    return TYPE_NAMES[c] if isinstance(c, int) else f"{{milestone: {c}}}"


def _conditions(cs: frozenset[Condition]) -> list[str]:
    """Conditions as written: event types in their SPEC order, then milestones by name."""
    return [_condition(c) for c in sorted(cs, key=lambda c: (isinstance(c, str), str(c)
                                                             if isinstance(c, str) else c))]


def clock_json(d: ClockDefinition, policy: PolicyVersion) -> dict[str, Any]:
    """A clock's definition in the clocks language, its calendar resolved."""
    calendar = d.calendar or policy.calendar.name
    return {"start": _condition(d.start), "stop": _conditions(d.stop),
            "cancel": _conditions(d.cancel), "pauses": d.pauses, "on_reopen": d.on_reopen,
            "calendar": calendar, "built_in": d in BUILT_INS}


def clock_text(d: ClockDefinition, policy: PolicyVersion) -> str:
    """``{start: opened, stop: [resolved, closed], pauses: true, ...}``: the keys that differ
    from the defaults, and the calendar."""
    spec = clock_json(d, policy)
    parts = [f"start: {spec['start']}", f"stop: [{', '.join(spec['stop'])}]"]
    if spec["cancel"]:
        parts.append(f"cancel: [{', '.join(spec['cancel'])}]")
    if d.pauses:
        parts.append("pauses: true")
    if d.on_reopen != "ignore":
        parts.append(f"on_reopen: {d.on_reopen}")
    parts.append(f"calendar: {spec['calendar']}")
    return "{" + ", ".join(parts) + "}"


def format_duration(ms: int) -> str:
    """``1d2h``, ``20m``, ``90s`` (``1500ms`` below a whole second)."""
    if ms == 0:
        return "0s"
    parts, rest = [], ms
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) if rest == 0 else f"{ms}ms"


def _match_text(match: tuple[str | None, str | None]) -> str:
    parts = [f"{k}: {v}" for k, v in zip(("customer", "service"), match, strict=True)
             if v is not None]
    return "{" + ", ".join(parts) + "}"


def _since(from_ms: int) -> str:
    return "always" if from_ms == NEVER_MS else f"from {format_instant(from_ms)}"


_RULE = "customer+service > customer > service > {}"


def format_explanation(e: IncidentExplanation) -> str:
    """The text of ``policy explain``: the candidates, the winner and why, its targets."""
    lines = [f"incident: customer {e.customer}, service {e.service}, severity {e.severity}, "
             f"opened {format_instant(e.at_ms)}"]
    if e.candidates:
        lines.append("candidates, most specific first:")
    else:
        lines.append("candidates: no policy's match fits this customer and service")
    winner = e.winner
    for c in e.candidates:
        if c.version is None:
            version = f"no version in force yet (first {_since(c.first_from_ms)})"
        else:
            blocks = "yes" if c.version.targets is not None else "no"
            version = (f"version {c.version.version} in force "
                       f"({_since(c.version.effective_from_ms)}), incidents block: {blocks}")
        verdict = {"chosen": "chosen",
                   "not in force": "passed over: not in force yet",
                   "no incidents block": "passed over: no incidents block",
                   "outranked": f"passed over: {e.rule} is more specific"}[c.outcome]
        lines.append(f"  {c.policy_id} {_match_text(c.match)} [{c.level}]: {version} -> {verdict}")
    if winner is None:
        lines.append("winner: none: no matching policy; the incident would be tracked and counted, "
                     "with no alert and no outcome")
        return "\n".join(lines)
    lines.append(f"winner: {winner.id} version {winner.version} by the rule {_RULE}: "
                 f"{e.rule} is the most specific match in force with an incidents block")
    lines.append(f"targets for {e.severity}:")
    for t in e.targets:
        if t.target_ms is None:
            lines.append(f"  {t.metric}: not measured (no {e.severity} nor \"*\" target)")
        elif t.severity == e.severity:
            lines.append(f"  {t.metric}: {format_duration(t.target_ms)} (from {e.severity})")
        else:
            lines.append(f"  {t.metric}: {format_duration(t.target_ms)} "
                         f"(from the \"*\" fallback: no {e.severity} {t.metric} target)")
    lines.append(f"calendar: {winner.calendar.name} ({winner.calendar.zone.key})")
    lines.append("clocks:")
    for d in winner.clocks:
        kind = "built-in" if d in BUILT_INS else "custom"
        lines.append(f"  {d.name} ({kind}): {clock_text(d, winner)}")
    return "\n".join(lines)


def explanation_json(e: IncidentExplanation) -> dict[str, Any]:
    """The JSON object of ``policy explain --json``: the same facts as ``format_explanation``."""
    def since(from_ms: int) -> str | None:
        return None if from_ms == NEVER_MS else format_instant(from_ms)

    candidates = [{
        "policy_id": c.policy_id,
        "match": {k: v for k, v in zip(("customer", "service"), c.match, strict=True)
                  if v is not None},
        "level": c.level,
        "version": c.version.version if c.version else None,
        "effective_from": since(c.version.effective_from_ms) if c.version else None,
        "first_effective_from": since(c.first_from_ms),
        "incidents_block": c.version is not None and c.version.targets is not None,
        "outcome": c.outcome,
    } for c in e.candidates]
    winner = None
    if e.winner is not None:
        winner = {
            "policy_id": e.winner.id, "version": e.winner.version, "rule": e.rule,
            "calendar": {"name": e.winner.calendar.name, "timezone": e.winner.calendar.zone.key},
            "targets": {t.metric: None if t.target_ms is None else {
                "ms": t.target_ms, "text": format_duration(t.target_ms), "from": t.severity,
                "fallback": t.severity != e.severity} for t in e.targets},
            "clocks": {d.name: clock_json(d, e.winner) for d in e.winner.clocks},
        }
    return {"customer": e.customer, "service": e.service, "severity": e.severity,
            "at": format_instant(e.at_ms), "rule": _RULE, "candidates": candidates,
            "winner": winner,
            "note": None if winner else "no matching policy: the incident would be tracked and "
                                        "counted, with no alert and no outcome"}
