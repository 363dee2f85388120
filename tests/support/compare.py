"""Compare replay output with a scenario's ``expected.jsonl`` as the scenarios README says:
compact by ``alert_id`` (latest wins, retractions and dead letters dropped), then match each
expected line with exactly one standing record on the fields it writes."""

from __future__ import annotations

from typing import Any

from streams.core.timefmt import parse_instant

INSTANT_FIELDS = {"at", "period_start", "period_end", "deadline", "detected_at"}


def compact(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec["kind"] in ("invalid", "late"):
            continue
        latest.pop(rec["alert_id"], None)  # keep the order of the latest publication
        latest[rec["alert_id"]] = rec
    return [r for r in latest.values() if r["kind"] != "retraction"]


def _same(field: str, want: Any, got: Any) -> bool:
    if want == "<any>":
        return True
    if field == "credit_percent" and not want and not got:
        return True
    if field in INSTANT_FIELDS:
        return got is not None and parse_instant(want) == parse_instant(got)
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got
    if isinstance(want, int | float) and isinstance(got, int | float):
        tolerance = 0.000001 if field == "availability" else 0.001
        return abs(want - got) <= tolerance
    return bool(want == got)


def matches(want: dict[str, Any], got: dict[str, Any]) -> bool:
    for field, value in want.items():
        if field == "credit_percent":
            if not _same(field, value, got.get(field)):
                return False
        elif field not in got or not _same(field, value, got[field]):
            return False
    return True


def diff(expected: list[dict[str, Any]], records: list[dict[str, Any]]) -> list[str]:
    """Problems found (empty when the standing records are exactly the expected ones)."""
    standing = compact(records)
    problems = []
    unmatched = list(standing)
    for want in expected:
        hits = [r for r in unmatched if matches(want, r)]
        if len(hits) != 1:
            problems.append(f"{len(hits)} standing records match expected {want}")
        if hits:
            unmatched.remove(hits[0])
    for rec in unmatched:
        problems.append(f"unexpected standing record {rec}")
    return problems
