"""A naive reference model of request objectives (SPEC section 9), for property tests: every
period, slice and burn-rate minute recounted from scratch over the applied records, with no
state carried from one to the next. Slow and obviously right (one policy version per id).

    standing = reference(policies, applied_records, until_ms)   # projected as ``project``
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from streams.core.availability.periods import calendar_period
from streams.core.policy import PolicySet, PolicyVersion, RequestObjective, Requests
from streams.core.requests.records import INF_MS, RequestCount
from streams.core.timefmt import MINUTE_MS, format_instant

FIELDS = ("kind", "metric", "service", "customer", "objective", "at", "threshold",
          "period_start", "period_end", "good", "total", "bad_seconds", "budget_seconds", "met",
          "ratio", "credit_percent", "slices", "bad_slices", "burn_rate_long", "burn_rate_short",
          "policy_id")


def project(records: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Records as sorted tuples of the fields the reference computes."""
    return sorted((tuple(rec.get(f) for f in FIELDS) for rec in records), key=repr)


def _ceil(x: Fraction) -> int:
    return -(-x.numerator // x.denominator)


def _good(rec: RequestCount, o: RequestObjective) -> int | None:
    if o.sli == "errors":
        return rec.total - rec.errors
    if rec.duration_ms is not None:
        return 1 if rec.duration_ms <= (o.threshold_ms or 0) else 0
    for bound, count in rec.latency_le or ():
        if bound == o.threshold_ms and bound != INF_MS:
            return count
    return None


def _ratio(good: int, total: int) -> float | None:
    if not total:
        return None
    return int(Fraction(good, total) * 10**6 + Fraction(1, 2)) / 10**6


def reference(policies: PolicySet, applied: list[RequestCount], until: int
              ) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for v in policies.versions:
        req = v.requests
        if req is None:
            continue
        customer, service_match = v.match
        services = sorted({r.service for r in applied if service_match in (None, r.service)})
        for service in services:
            recs = [r for r in applied if r.service == service
                    and (customer is None or r.customer == customer)]
            if not recs:
                continue
            for o in req.objectives:
                base = {"service": service, "customer": customer, "objective": o.id,
                        "policy_id": v.id}
                out += [{**base, **rec} for rec in _objective(v, req, o, recs, until)]
    return out


def _objective(v: PolicyVersion, req: Requests, o: RequestObjective, recs: list[RequestCount],
               until: int) -> list[dict[str, Any]]:
    maint = req.maintenance

    def in_maintenance(t: int) -> bool:
        return maint.between(t - 1, t) == 1

    counted = [(r.at, g, r.total) for r in recs if not in_maintenance(r.at)
               if (g := _good(r, o)) is not None]
    first = min(r.at for r in recs)
    out: list[dict[str, Any]] = []
    start, end = calendar_period(first - 1, v.calendar.zone, req.period)
    judged_bad: list[tuple[int, int]] = []
    while start < until:
        out += _period(req, o, counted, start, end, until, judged_bad, maint)
        start, end = end, calendar_period(end, v.calendar.zone, req.period)[1]
    out += _burn(req, o, counted, first, until, judged_bad)
    return out


def _period(req: Requests, o: RequestObjective, counted: list[tuple[int, int, int]],
            start: int, end: int, until: int, judged_bad: list[tuple[int, int]],
            maint: Any) -> list[dict[str, Any]]:
    inside = [(at, g, t) for at, g, t in counted if start < at <= end]
    good, total = sum(g for _, g, _ in inside), sum(t for _, _, t in inside)
    ended = end <= until
    period = {"period_start": format_instant(start), "period_end": format_instant(end),
              "metric": "requests"}
    out = []
    target = o.target
    tiers = {c.below: c.percent for c in o.credits}
    if req.budgeting == "occurrences":
        if not ended:
            return []
        nums = {"good": good, "total": total}
        credits = []
        if 100 * good < target * total:
            rec = {**period, **nums, "kind": "breach", "at": format_instant(end), "threshold": 1.0}
            if target in tiers:
                rec["credit_percent"] = tiers[target]
                credits.append(tiers[target])
            out.append(rec)
        for below, percent in tiers.items():
            if below != target and 100 * good < below * total:
                out.append({**period, **nums, "kind": "breach", "at": format_instant(end),
                            "threshold": round(float((100 - below) / (100 - target)), 6),
                            "credit_percent": percent})
                credits.append(percent)
        out.append({**period, **nums, "kind": "outcome", "at": format_instant(end),
                    "met": not (100 * good < target * total), "ratio": _ratio(good, total),
                    "credit_percent": max(credits, default=0)})
        return out
    size = req.slice_ms
    slices, length, bad = 0, 0, []
    k = 0
    while start + k * size < end:
        s, e = start + k * size, min(start + (k + 1) * size, end)
        k += 1
        if maint.between(s, e) > 0:
            continue
        slices += 1
        length += e - s
        if e > until:
            continue
        cell = [(g, t) for at, g, t in inside if s < at <= e]
        sg, st = sum(g for g, _ in cell), sum(t for _, t in cell)
        if st >= req.min_requests and 100 * sg < o.slice_target * st:
            bad.append((s, e))
    judged_bad += bad
    budget = (1 - target / 100) * length
    levels = [(_ceil(f * budget), label, "near_breach", None)
              for f, label in zip(o.near_breach, o.near_breach_labels, strict=True)]
    levels.append((_ceil(budget), 1.0, "breach", tiers.get(target)))
    levels += [(_ceil((1 - below / 100) * length), round(float((100 - below) / (100 - target)),
                                                           6), "breach", percent)
               for below, percent in tiers.items() if below != target]
    fired = []
    for ms, label, kind, credit in levels:
        cum = 0
        for s, e in bad:
            cum += e - s
            if cum >= ms:
                rec = {**period, "kind": kind, "at": format_instant(e), "threshold": label,
                       "bad_seconds": cum / 1000, "budget_seconds": float(budget / 1000)}
                if credit is not None:
                    rec["credit_percent"] = credit
                out.append(rec)
                fired.append((label, kind, credit))
                break
    if ended:
        out.append({**period, "kind": "outcome", "at": format_instant(end),
                    "bad_seconds": sum(e - s for s, e in bad) / 1000,
                    "budget_seconds": float(budget / 1000), "slices": slices,
                    "bad_slices": len(bad), "ratio": _ratio(good, total),
                    "met": not any(lb == 1.0 and kd == "breach" for lb, kd, _ in fired),
                    "credit_percent": max((c for _, _, c in fired if c is not None),
                                          default=0)})
    return out


def _burn(req: Requests, o: RequestObjective, counted: list[tuple[int, int, int]], first: int,
          until: int, judged_bad: list[tuple[int, int]]) -> list[dict[str, Any]]:
    out = []
    share = 1 - o.target / 100
    active: dict[int, bool] = {}
    m = -(-first // MINUTE_MS) * MINUTE_MS
    while m <= until:
        for i, rule in enumerate(o.burn_rules):
            if req.budgeting == "occurrences":
                def window(w: int, m: int = m) -> tuple[int, int]:
                    inside = [(g, t) for at, g, t in counted if m - w < at <= m]
                    total = sum(t for _, t in inside)
                    return total - sum(g for g, _ in inside), total
                bl, tl = window(rule.long_ms)
                bs, ts = window(rule.short_ms)
                hot = (tl >= req.min_requests and tl > 0 and ts > 0
                       and bl >= rule.factor * share * tl and bs >= rule.factor * share * ts)
                rates = (round(float(Fraction(bl, tl) / share), 6) if tl else 0.0,
                         round(float(Fraction(bs, ts) / share), 6) if ts else 0.0)
            else:
                def bad_in(w: int, m: int = m) -> int:
                    return sum(max(0, min(e, m) - max(s, m - w))
                               for s, e in judged_bad if e <= m)
                bl, bs = bad_in(rule.long_ms), bad_in(rule.short_ms)
                hot = (bl >= _ceil(rule.factor * share * rule.long_ms)
                       and bs >= _ceil(rule.factor * share * rule.short_ms))
                rates = (round(float(bl / (share * rule.long_ms)), 6),
                         round(float(bs / (share * rule.short_ms)), 6))
            if hot and not active.get(i):
                out.append({"kind": "near_breach", "metric": "burn_rate",
                            "at": format_instant(m), "threshold": rule.label,
                            "burn_rate_long": rates[0], "burn_rate_short": rates[1]})
            active[i] = hot
        m += MINUTE_MS
    return out
