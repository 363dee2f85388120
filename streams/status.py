"""What the worker's status page and ``/metrics`` show, as plain data: no Faust, no I/O.

    status = Status()
    status.saw(topic, records)                  # after each input record the agent processed
    status.ticked(seconds)                      # after each clock tick: how long it took
    status.alerts(limit)                        # the latest alerts sent, newest first
    status.prometheus(clocks, open_incidents)   # the text exposition format
    incidents_view(detectors, limit)            # open incidents, the most urgent first
    services_view(detectors, status.history)    # each service's period under each policy
    objectives_view(detectors)                  # each request objective's period so far

The views read the detectors without moving them (``MetricClock.view``, ``ServiceFold.view``),
each at its partition's detector clock (``Detector.now_ms``), so a page never fires an alert. A
request costs O(open incidents + services) of the worker's own partitions; per record, ``saw``
counts it and its records, keeps the latest alerts, and keeps the period outcomes of
availability (``history``, the last ``HISTORY_PERIODS`` of each service and policy).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from .core.detector import Detector, Record
from .core.errors import InvalidInstant
from .core.timefmt import END_INSTANT_MS, FAR_MS, MIN_INSTANT_MS, NEVER_MS, format_instant

LATEST_ALERTS = 100
#: The ended periods kept per (service, policy) for the page's strip of outcomes.
HISTORY_PERIODS = 30
#: Upper bounds of the tick-duration histogram, in seconds.
TICK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
DEAD_KINDS = ("invalid", "late")


class Status:
    """Counters and the latest alerts of one worker, since it started."""

    def __init__(self) -> None:
        self.events_in: dict[str, int] = {}
        self.alerts_out: dict[str, int] = {}
        self.dead_letters: dict[str, int] = {}
        self.latest: deque[Record] = deque(maxlen=LATEST_ALERTS)
        self.tick_counts = [0] * (len(TICK_BUCKETS) + 1)  # the last one is +Inf
        self.tick_sum = 0.0
        #: (service, policy_id) -> alert_id -> the availability outcome of an ended period, the
        #: last ``HISTORY_PERIODS`` this worker published (a retraction withdraws one)
        self.history: dict[tuple[str, str], dict[str, Record]] = {}

    def saw(self, topic: str, records: Iterable[Record]) -> None:
        """One input record of ``topic`` was processed and gave ``records``."""
        self.events_in[topic] = self.events_in.get(topic, 0) + 1
        for rec in records:
            kind = rec["kind"]
            if kind in DEAD_KINDS:
                reason = str(rec.get("reason", kind))
                self.dead_letters[reason] = self.dead_letters.get(reason, 0) + 1
            else:
                self.alerts_out[kind] = self.alerts_out.get(kind, 0) + 1
                self.latest.append(rec)
                if rec.get("metric") == "availability" and (
                        kind == "outcome" or rec.get("retracts") == "outcome"):
                    self._period(rec)

    def _period(self, rec: Record) -> None:
        """Keep (or withdraw) one period outcome in ``history``, the latest periods only."""
        periods = self.history.setdefault((str(rec.get("service")), str(rec.get("policy_id"))),
                                          {})
        periods.pop(rec["alert_id"], None)
        if rec["kind"] != "outcome":
            return
        periods[rec["alert_id"]] = {k: rec.get(k) for k in (
            "period_start", "period_end", "met", "availability", "credit_percent")}
        if len(periods) > HISTORY_PERIODS:
            oldest = min(periods, key=lambda a: str(periods[a]["period_start"]))
            del periods[oldest]

    def ticked(self, seconds: float) -> None:
        self.tick_sum += seconds
        for i, bound in enumerate(TICK_BUCKETS):
            if seconds <= bound:
                self.tick_counts[i] += 1
                return
        self.tick_counts[-1] += 1

    def alerts(self, limit: int = LATEST_ALERTS) -> list[Record]:
        """The latest alert records sent, newest first."""
        return list(reversed(self.latest))[:limit]

    def prometheus(self, clocks: Mapping[int, tuple[int, int]],
                   open_incidents: Mapping[int, int]) -> str:
        """The metrics in Prometheus' text format. ``clocks``: partition -> (detector clock,
        wall clock) in ms; ``open_incidents``: partition -> incidents held."""
        out: list[str] = []
        _family(out, "slawatch_events_in_total", "counter",
                "Input records processed, by topic (ticks included).",
                (({"topic": t}, n) for t, n in sorted(self.events_in.items())))
        _family(out, "slawatch_alerts_out_total", "counter",
                "Alert and outcome records published, by kind.",
                (({"kind": k}, n) for k, n in sorted(self.alerts_out.items())))
        _family(out, "slawatch_dead_letters_total", "counter",
                "Input records sent to the dead-letter topic, by reason.",
                (({"reason": r}, n) for r, n in sorted(self.dead_letters.items())))
        _family(out, "slawatch_clock_lag_seconds", "gauge",
                "Wall clock minus the partition's detector clock.",
                (({"partition": str(p)}, (wall - det) / 1000 if det > NEVER_MS else math.nan)
                 for p, (det, wall) in sorted(clocks.items())))
        _family(out, "slawatch_open_incidents", "gauge",
                "Incidents held by the partition's detector (open, or finished within the "
                "retention).", (({"partition": str(p)}, n) for p, n in
                                sorted(open_incidents.items())))
        out.append("# HELP slawatch_tick_duration_seconds Time to process one clock tick.")
        out.append("# TYPE slawatch_tick_duration_seconds histogram")
        running = 0
        for bound, count in zip((*TICK_BUCKETS, math.inf), self.tick_counts, strict=True):
            running += count
            le = "+Inf" if bound == math.inf else repr(bound)
            out.append(f'slawatch_tick_duration_seconds_bucket{{le="{le}"}} {running}')
        out.append(f"slawatch_tick_duration_seconds_sum {self.tick_sum!r}")
        out.append(f"slawatch_tick_duration_seconds_count {running}")
        return "\n".join(out) + "\n"


def _family(out: list[str], name: str, kind: str, text: str,
            samples: Iterable[tuple[dict[str, str], float]]) -> None:
    out.append(f"# HELP {name} {text}")
    out.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        shown = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        out.append(f"{name}{{{shown}}} {_number(value)}")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return repr(value)


# ----------------------------------------------------------------------------- views


def _instant(ms: int | None) -> str | None:
    """An instant as RFC 3339, or None for "never": no instant, or one outside the instant range
    (a deadline past its end, a clock not set yet), which a view shows as null, never as an
    error."""
    if ms is None or not MIN_INSTANT_MS <= ms < END_INSTANT_MS:
        return None
    return format_instant(ms)


def _bound(ms: int) -> str | None:
    """A period's bound as RFC 3339: the period that holds an instant near the end of the range
    may end after it (a period of a zone east of UTC, January 9000), which is still written;
    None only where RFC 3339 cannot write it."""
    try:
        return format_instant(ms)
    except InvalidInstant:
        return None


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _marks(clock: Any, target_ms: int | None) -> list[dict[str, Any]]:
    """Where a clock's near-breach thresholds fall: the working time elapsed at each."""
    if clock.policy is None or target_ms is None:
        return []
    marks = []
    for th in clock.policy.near_breach:
        level = None if th.is_breach else th.level_ms(target_ms)
        if level is not None:
            marks.append({"label": str(th.label), "elapsed_seconds": level / 1000})
    return marks


def incidents_view(detectors: Mapping[int, Detector], limit: int = 200) -> dict[str, Any]:
    """The open incidents of ``detectors`` (partition -> detector), each at its partition's
    clock: breached ones first (any clock breached, a stopped one too: the incident missed its
    SLA), then by the nearest deadline; paused clocks last."""
    rows = []
    for partition, det in detectors.items():
        now = det.now_ms
        for inc in det.incidents.values():
            if inc.clocks is None or inc.finished():
                continue
            opened = inc.opened
            assert opened is not None
            # one row per clock that started and is measured (the built-ins and the policy's
            # custom clocks alike); a clock not started yet has no deadline and shows nothing
            views = [(clock, v) for clock, v in ((c, c.view(now)) for c in inc.clocks)
                     if v["target_ms"] is not None and v["state"] != "idle"]
            live = [v for _, v in views if v["state"] in ("running", "paused")]
            urgent = min((v["deadline"] for v in live if _instant(v["deadline"]) is not None),
                         default=FAR_MS)
            breached = any(v["breached"] for _, v in views)
            clocks = [{"metric": v["metric"], "state": v["state"],
                       "elapsed_seconds": _seconds(v["elapsed_ms"]),
                       "target_seconds": _seconds(v["target_ms"]),
                       "left_seconds": _seconds(v["left_ms"]),
                       "deadline": _instant(v["deadline"]), "breached": v["breached"],
                       "fired": v["fired"], "marks": _marks(clock, v["target_ms"])}
                      for clock, v in views]
            policy = inc.policy
            rows.append(((not breached, urgent, inc.id), {
                "incident_id": inc.id, "customer": opened.customer, "service": opened.service,
                "severity": inc.severity, "opened_at": _instant(opened.at),
                "breached": breached,
                "policy_id": None if policy is None else policy.id,
                "policy_version": None if policy is None else policy.version,
                "partition": partition, "clock": _instant(now), "clocks": clocks}))
    urgent_first = heapq.nsmallest(limit, rows, key=lambda row: row[0])
    return {"count": len(rows), "incidents": [row for _, row in urgent_first]}


def services_view(detectors: Mapping[int, Detector],
                  history: Mapping[tuple[str, str], Mapping[str, Record]] | None = None
                  ) -> dict[str, Any]:
    """Every service of ``detectors`` with its current period under each policy that judges
    it, at its partition's clock: the near-breach fractions of its budget (``marks``), and the
    ended periods of ``history`` (``Status.history``) oldest first."""
    rows = []
    for partition, det in detectors.items():
        now = det.now_ms
        for name, svc in det.services.services.items():
            periods = []
            for fold in svc.folds:
                view = fold.view(now)
                if view is None:
                    continue
                version = fold.in_force(view["period_start"])
                availability = None if version is None else version.availability
                view["marks"] = [] if availability is None else [
                    float(f) for f in availability.near_breach]
                ended = (history or {}).get((name, view["policy_id"]), {})
                view["history"] = sorted(ended.values(), key=lambda p: str(p["period_start"]))
                view["period_start"] = _bound(view["period_start"])
                view["period_end"] = _bound(view["period_end"])
                periods.append(view)
            rows.append((name, {"service": name, "partition": partition,
                         "clock": _instant(now),
                         "last_heartbeat": _instant(svc.last_at),
                         "up": any(p["up"] for p in periods) if periods else None,
                         "instances": len(svc.instances), "periods": periods}))
    rows.sort(key=lambda row: row[0])
    return {"count": len(rows), "services": [row for _, row in rows]}


def objectives_view(detectors: Mapping[int, Detector]) -> dict[str, Any]:
    """Every request objective of ``detectors`` with its latest period so far (SPEC section 9):
    its counts, ``ratio`` and the share of its error budget spent (``budget_used``: bad over
    the budget, above 1 once spent; occurrences: bad requests over the share of those counted
    so far, the ratio it would end with)."""
    rows = []
    for partition, det in detectors.items():
        for name, svc in det.requests.services.items():
            for fold in svc.folds:
                if not fold.order:
                    continue
                p = fold.periods[fold.order[-1]]
                if p.objective is None or p.version is None or p.block is None:
                    continue
                share = 1 - p.objective.target / 100
                row: dict[str, Any] = {
                    "service": name, "customer": fold.customer, "partition": partition,
                    "policy_id": p.version.id, "objective": fold.objective_id,
                    "sli": p.objective.sli, "budgeting": p.block.budgeting,
                    "target": float(p.objective.target), "period_start": _bound(p.start),
                    "period_end": _bound(p.end), "good": p.good, "total": p.total,
                    "ratio": None if not p.total else round(p.good / p.total, 6)}
                if p.timeslices:
                    row["bad_seconds"] = p.bad_ms / 1000
                    row["budget_seconds"] = float(p.budget / 1000)
                    used = float(p.bad_ms / p.budget) if p.budget else None
                else:
                    used = float((p.total - p.good) / (share * p.total)) if p.total else 0.0
                row["budget_used"] = None if used is None else round(used, 6)
                rows.append(row)
    rows.sort(key=lambda r: (r["service"], r["customer"] or "", r["policy_id"], r["objective"]))
    return {"count": len(rows), "objectives": rows}
