"""What an availability fold holds: its state at an instant (``FoldState``, cloned to project
past the last heartbeat) and the records it fires (``Fired``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..policy import PolicyVersion
from ..timefmt import FAR_MS, NEVER_MS
from .periods import Period

#: A snapshot keeps the records a fold published this long before its last heartbeat: what a
#: roll-back could publish again or retract (those at or after it), and what a shell may have to
#: publish again when the heartbeats that fired them are delivered twice (``republish``).
KEPT_MS = 24 * 3600 * 1000


@dataclass(slots=True)
class Fired:
    """A record the fold produced: a threshold crossing, a burn-rate episode or an outcome."""

    kind: str  # near_breach | breach | outcome
    metric: str  # availability | burn_rate
    at: int
    key: tuple[Any, ...]  # what identifies it within the fold (with the period or episode)
    fields: dict[str, Any]
    version: PolicyVersion


@dataclass(slots=True)
class FoldState:
    """Everything the fold knows at instant ``t``; cloned to project past the last heartbeat."""

    t: int = NEVER_MS  # accounted up to here
    up_until: int = NEVER_MS  # an ``up`` instance keeps the service up until here
    degraded_until: int = NEVER_MS  # the same for ``degraded`` instances
    period: Period | None = None
    next_start: int = FAR_MS  # where the next judged period may start, while none is open
    down_ms: int = 0  # counted downtime in the period so far
    degraded_ms: int = 0
    fired: set[float] = field(default_factory=set)  # labels of the period's fired levels
    # counted-down intervals of the longest burn window, with prefix sums
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    cum: list[int] = field(default_factory=list)  # downtime before interval i (all time)
    total_down: int = 0
    episodes: dict[int, int] = field(default_factory=dict)  # rule index -> episode start minute
    last_minute: int = NEVER_MS  # the last whole minute at which burn rates were evaluated
    burn_active: bool = False  # some short window held downtime at the last evaluation
    crossing: int | None = None  # cached next level crossing of the projection (None: unknown)
    down_start: int = FAR_MS  # when the current (or projected) down stretch began
    #: outages (maximal down intervals outside maintenance) that intersect the period so far,
    #: the end of the last counted down piece, and the period it was last counted in
    outages: int = 0
    down_end: int = NEVER_MS
    outage_period: int = NEVER_MS

    def clone(self) -> FoldState:
        return FoldState(
            self.t, self.up_until, self.degraded_until, self.period, self.next_start,
            self.down_ms, self.degraded_ms, set(self.fired), self.starts[:], self.ends[:],
            self.cum[:], self.total_down, dict(self.episodes), self.last_minute, self.burn_active,
            self.crossing, self.down_start, self.outages, self.down_end, self.outage_period)

    @property
    def down_from(self) -> int:
        """The instant from which the service is down (until its next heartbeat)."""
        return max(self.up_until, self.degraded_until, self.t)
