"""A request objective's fold as plain data and back (``fold_snapshot``, ``fold_restore``), so a
worker carries it through a changelog: counters, never records (SPEC section 9).

What a snapshot holds is the fold's exact state where its clock stands (``processed``): every kept
period's counters and what it published, the counters of the slices that can still change, the
burn-rate minutes of the longest window plus ``lateness`` as per-minute deltas, the episodes and
the burn-rate records published. Everything derived from the policy (a period's version, budget,
levels, excluded slices) is computed again from it. ``fresh``: what the clock fired since the
fold last took a record, for a shell that cannot tell whether it reached its topic.

A snapshot of a 1-minute-slice fold with a 3-day burn window is ~4,400 minutes of deltas, some
40 KB of JSON: each fold is a table value of its own.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any

from ..availability.burnrate import record_down
from ..availability.foldstate import Fired, FoldState
from ..policy import PolicyVersion
from ..timefmt import MINUTE_MS
from .fold import Change, ObjectiveFold
from .slices import MinuteCounts, slice_bounds

Data = dict[str, Any]


def _fired_row(f: Fired) -> list[Any]:
    return [f.kind, f.metric, f.at, list(f.key), f.fields, f.version.version]


def _fired(row: list[Any], versions: dict[int, PolicyVersion]) -> Fired | None:
    kind, metric, at, key, fields, version = row
    found = versions.get(version)
    return None if found is None else Fired(kind, metric, at, tuple(key), fields, found)


def fold_snapshot(fold: ObjectiveFold, fresh: list[Change]) -> Data:
    """``fold`` as plain data (a value of its own: nothing in it is shared with the fold)."""
    periods = []
    for start in fold.order:
        p = fold.periods[start]
        periods.append([p.start, p.end, p.good, p.total, p.ended, p.bad_ms, p.fired,
                        [x for k, cell in sorted(p.cells.items()) for x in (k, *cell)],
                        [x for k, span in sorted(p.bad.items()) for x in (k, span)],
                        [_fired_row(f) for f in p.published.values()]])
    return {
        "processed": fold.processed, "periods": periods,
        "last_minute": fold.last_minute, "hot_until": fold.hot_until,
        "log": [list(entry) for entry in fold.log],
        "burn": [_fired_row(f) for f in fold.burn_published.values()],
        "counts": _counts_data(fold.counts),
        "bad_slices": [x for span in fold.bad_slices for x in span],
        "fresh": [[_fired_row(f), retract] for f, retract in fresh],
    }


def fold_restore(fold: ObjectiveFold, data: Data) -> list[Change]:
    """Load ``data`` (``fold_snapshot``) into a fresh fold of the same subject and objective;
    return its ``fresh`` changes (of versions the policy still has)."""
    versions = {v.version: v for v in fold.chain}
    fold.processed = data["processed"]
    _restore_periods(fold, data["periods"], versions)
    fold.last_minute, fold.hot_until = data["last_minute"], data["hot_until"]
    fold.log = deque(list(entry) for entry in data["log"])
    fold.episodes = {entry[0]: entry for entry in fold.log if entry[2] is None}
    for row in data["burn"]:
        f = _fired(row, versions)
        if f is not None:
            fold.burn_published[f.key] = f
    fold.counts = _counts_from(data["counts"])
    spans = data["bad_slices"]
    fold.bad_slices = [(spans[i], spans[i + 1]) for i in range(0, len(spans), 2)]
    fold.bad_time = FoldState()
    for s, e in fold.bad_slices:
        record_down(fold.bad_time, s, e, fold.keep_ms)
    fresh = []
    for row, retract in data["fresh"]:
        f = _fired(row, versions)
        if f is not None:
            fresh.append((f, retract))
    return fresh


def _restore_periods(fold: ObjectiveFold, rows: list[Any],
                     versions: dict[int, PolicyVersion]) -> None:
    """The kept periods back, with their slices pending or judged at the fold's clock."""
    for start, end, good, total, ended, bad_ms, fired, cells, bad, published in rows:
        p = fold.periods[start] = fold.new_period(start, end)
        fold.order.append(start)
        p.good, p.total, p.ended, p.bad_ms, p.fired = good, total, ended, bad_ms, fired
        if not ended:
            fold.open.append(start)
        p.cells = {cells[i]: [cells[i + 1], cells[i + 2]] for i in range(0, len(cells), 3)}
        p.bad = {bad[i]: bad[i + 1] for i in range(0, len(bad), 2)}
        for row in published:
            f = _fired(row, versions)
            if f is not None:
                p.published[f.key] = f
        if p.block is not None:
            for k in p.cells:
                end_k = slice_bounds(k, p.start, p.end, p.block.slice_ms)[1]
                if end_k > fold.processed:
                    fold.pending.append((end_k, start, k))
                else:
                    fold.judged.append((end_k, start, k))
    heapq.heapify(fold.pending)
    fold.judged = deque(sorted(fold.judged))


def _counts_data(counts: MinuteCounts) -> list[int]:
    """[base bad, base total, then per minute: minutes since the previous one, bad, total]."""
    out = [*counts.base]
    minute, bad, total = 0, *counts.base
    for m, b, t in zip(counts.minutes, counts.cum_bad, counts.cum_total, strict=True):
        out += ((m - minute) // MINUTE_MS, b - bad, t - total)
        minute, bad, total = m, b, t
    return out


def _counts_from(data: list[int]) -> MinuteCounts:
    counts = MinuteCounts()
    counts.base = (data[0], data[1])
    minute, bad, total = 0, data[0], data[1]
    for i in range(2, len(data), 3):
        minute += data[i] * MINUTE_MS
        bad += data[i + 1]
        total += data[i + 2]
        counts.minutes.append(minute)
        counts.cum_bad.append(bad)
        counts.cum_total.append(total)
    return counts
