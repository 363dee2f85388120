"""Burn rates (SPEC section 7): how fast a period's downtime budget burns over a long and a short
window, as exact sums over the counted-down intervals of the longest window (prefix sums and a
bisection), evaluated at whole minutes."""

from __future__ import annotations

from bisect import bisect_right
from fractions import Fraction
from typing import Any, Protocol

from ..policy import BurnRule, PolicyVersion
from ..timefmt import MINUTE_MS
from .foldstate import Fired, FoldState
from .periods import ceil_ms


class BurnBlock(Protocol):
    """What burn-rate levels read of a block: its rules and its target (percent)."""

    @property
    def target(self) -> Fraction: ...

    @property
    def burn_rules(self) -> tuple[BurnRule, ...]: ...


def record_down(st: FoldState, s: int, e: int, window_ms: int) -> None:
    """Keep counted downtime ``[s, e)`` for the windows: the intervals of the longest window
    (``window_ms``) with their prefix sums; older ones are dropped."""
    if not st.burn_active and not st.episodes:
        # minutes were skipped while no short window could hold downtime: that holds up to
        # the minute starting before ``s``, and no further (downtime that starts and ends
        # between two heartbeats must be evaluated at the next minute)
        st.last_minute = max(st.last_minute, s // MINUTE_MS * MINUTE_MS)
        st.burn_active = True
    if st.ends and st.ends[-1] == s:
        st.ends[-1] = e
    else:
        st.starts.append(s)
        st.ends.append(e)
        st.cum.append(st.total_down)
    st.total_down += e - s
    horizon = e - window_ms - MINUTE_MS
    drop = 0
    while drop < len(st.ends) - 1 and st.ends[drop] <= horizon:
        drop += 1
    if drop:
        del st.starts[:drop], st.ends[:drop], st.cum[:drop]


def down_before(st: FoldState, t: int) -> int:
    """Counted downtime before ``t`` (all time; exact within the longest window)."""
    i = bisect_right(st.starts, t) - 1
    if i < 0:
        return st.cum[0] if st.cum else st.total_down
    return st.cum[i] + min(t, st.ends[i]) - st.starts[i]


def rule_levels(shared: dict[Any, Any], version: PolicyVersion, index: int,
                block: BurnBlock | None = None) -> tuple[int, int]:
    """The downtime (ms, rounded up) each window of a rule must reach: factor x budget
    (cached in ``shared`` for every fold of a book). ``block`` holds the rules and target (by
    default the version's availability; a timeslices request objective spends bad time the same
    way, SPEC section 9)."""
    av = version.availability if block is None else block
    key = (id(av), index)
    found = shared.get(key)
    if found is None:
        assert av is not None
        rule = av.burn_rules[index]
        share = rule.factor * (1 - av.target / 100)
        found = shared[key] = (ceil_ms(share * rule.long_ms), ceil_ms(share * rule.short_ms))
    return found


def evaluate(st: FoldState, m: int, version: PolicyVersion | None, shared: dict[Any, Any],
             out: list[Fired]) -> bool:
    """Evaluate every burn-rate rule of ``version`` at whole minute ``m`` (downtime in
    ``[m - w, m)``): an episode starts when a rule becomes hot (both windows at their levels) and
    ends when it cools. Returns whether some short window holds downtime."""
    av = version.availability if version is not None else None
    rules = av.burn_rules if av is not None else ()
    now_down = down_before(st, m)
    active = False
    for i, rule in enumerate(rules):
        assert version is not None and av is not None
        need_long, need_short = rule_levels(shared, version, i)
        long_down = now_down - down_before(st, m - rule.long_ms)
        short_down = now_down - down_before(st, m - rule.short_ms)
        hot = long_down >= need_long and short_down >= need_short
        if hot and i not in st.episodes:
            st.episodes[i] = m
            share = 1 - av.target / 100
            out.append(Fired("near_breach", "burn_rate", m, ("burn", i, m), {
                "threshold": rule.label, "target": float(av.target),
                "long_window_seconds": rule.long_ms / 1000,
                "short_window_seconds": rule.short_ms / 1000,
                "burn_rate_long": round(float(long_down / (share * rule.long_ms)), 6),
                "burn_rate_short": round(float(short_down / (share * rule.short_ms)), 6),
            }, version))
        elif not hot:
            st.episodes.pop(i, None)
        active = active or short_down > 0
    return active
