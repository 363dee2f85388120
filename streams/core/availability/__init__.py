"""Availability from heartbeats (SPEC section 7): downtime, budgets, credits, burn rates, outcomes.

One ``ServiceFold`` per (service, policy id) folds the service's heartbeats in arrival order. Its
state is exact up to the latest heartbeat; past it the fold *projects*: every up instance stays up
until its last heartbeat + ``heartbeat_timeout``, then the service is down. Projection is how a
service that falls silent breaches with no event arriving. Advancing is one loop over the next
thing that happens (a status change, a threshold crossing, a period end, a burn-rate minute), so
it costs O(events), never a scan of time.

Downtime is counted outside maintenance, and only once the service is known (its first
heartbeat). The counted-down intervals of the longest burn-rate window are kept (with prefix
sums) for exact window sums; older ones are dropped, so memory per service is bounded by that
window and by the number of outages in it, not by its length in minutes.

A heartbeat that lands before a projection already published (it was delayed, not late) rolls the
fold back to its last heartbeat and replays; the detector publishes the difference.

    periods     the period holding an instant, its budget and threshold levels
    foldstate   what a fold holds at an instant, and the records it fires
    burnrate    burn-rate windows as exact sums, evaluated at whole minutes
    fold        ServiceFold: one service under one policy id, exact then projected
    book        ServiceBook: every service's folds, their heap, changelog and snapshots
"""

from .book import Service, ServiceBook, fold_restore, fold_snapshot
from .fold import SHARED_MAX, ServiceFold
from .foldstate import KEPT_MS, Fired, FoldState
from .periods import Level, Period, make_period, period_bounds

__all__ = [
    "KEPT_MS", "SHARED_MAX", "Fired", "FoldState", "Level", "Period", "Service", "ServiceBook",
    "ServiceFold", "fold_restore", "fold_snapshot", "make_period", "period_bounds",
]
