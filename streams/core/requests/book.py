"""Every service's request objectives (``RequestBook``, one per detector): request counts in,
the folds' deadline heap, and what they publish as records (SPEC sections 5 and 9).

A record is refused, changing nothing (the clock neither), when it is a ``duplicate`` (its
``event_id`` was applied before for its service) or ``late`` (its ``at`` is earlier than the clock
minus the greatest ``lateness`` of the policies that would count it, ``1h`` when none). An applied
record goes to every objective of every policy whose ``requests`` block matches it: a match with a
``customer`` counts only that customer's records (SPEC section 9).
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any

from .. import changelog
from ..availability.foldstate import Fired
from ..errors import InvalidEvent
from ..ids import _blake2b, alert_id
from ..policy import PolicySet
from ..timefmt import HOUR_MS, NEVER_MS, format_instant
from .fold import Change, ObjectiveFold
from .records import RequestCount
from .snapshot import Data, fold_restore, fold_snapshot

Record = dict[str, Any]
DEFAULT_LATENESS_MS = HOUR_MS
#: The ``event_id``s a service remembers at most (the oldest arrivals are forgotten first): a
#: table value stays far below Kafka's 1 MB with 64-bit digests.
MAX_EVENT_IDS = 10_000


class RequestService:
    __slots__ = ("name", "folds", "event_ids", "arrivals", "lateness", "horizon", "reached")

    def __init__(self, name: str, folds: list[ObjectiveFold]) -> None:
        self.name = name
        self.folds = folds
        #: the digests of the applied records' ``event_id``s and their ``at``, kept while a
        #: copy could still be applied (until the clock minus ``horizon`` passes its ``at``: a
        #: copy is ``late`` from then on), at most ``MAX_EVENT_IDS``; ``arrivals`` in order
        self.event_ids: set[str] = set()
        self.arrivals: deque[tuple[str, int]] = deque()
        self.lateness: dict[str | None, int] = {}  # customer -> its greatest lateness
        self.horizon = max((f.horizon_ms for f in folds), default=DEFAULT_LATENESS_MS)
        #: the clock its restored folds had reached (a rebuild may start below it)
        self.reached = NEVER_MS

    def remember(self, digest: str, at: int, now: int) -> None:
        self.event_ids.add(digest)
        arrivals = self.arrivals
        arrivals.append((digest, at))
        floor = now - self.horizon
        while arrivals and (arrivals[0][1] < floor or len(arrivals) > MAX_EVENT_IDS):
            self.event_ids.discard(arrivals.popleft()[0])


def _digest(event_id: str) -> str:
    return _blake2b(event_id.encode(), digest_size=8).hexdigest()


FoldId = tuple[str, str, str]


def fold_id(fold: ObjectiveFold) -> FoldId:
    """What tells a service's folds apart: its policy, customer (or "") and objective."""
    return fold.chain[0].id, fold.customer or "", fold.objective_id


class RequestBook:
    """Every service's objective folds and their deadline heap."""

    def __init__(self, policies: PolicySet) -> None:
        self.policies = policies
        self.services: dict[str, RequestService] = {}
        self.heap: list[tuple[int, int, ObjectiveFold]] = []
        self._seq = 0
        self._shared: dict[Any, Any] = {}  # burn levels shared by every fold
        #: the folds changed since the shell last took them (``changed``)
        self._changed: dict[tuple[str, FoldId], ObjectiveFold] = {}
        #: a shell's batch is open (``begin_batch``): each fold's ``fresh`` keeps everything
        #: it published since the batch began, not only what the clock fired since its last
        #: record; the folds whose ``fresh`` holds anything
        self.batched = False
        self._fresh: list[ObjectiveFold] = []

    def _service(self, name: str) -> RequestService:
        svc = self.services.get(name)
        if svc is None:
            folds = []
            for match in self.policies.requests_for(name):
                chain = self.policies.chain(match)
                ids: dict[str, None] = {}
                for v in chain:
                    if v.requests is not None:
                        ids.update((o.id, None) for o in v.requests.objectives)
                folds += [ObjectiveFold(name, match[0], chain, oid, self._shared) for oid in ids]
            horizon = max((f.lateness_ms for f in folds), default=0)
            for f in folds:
                f.keep_for(horizon)
            svc = self.services[name] = RequestService(name, folds)
        return svc

    def _lateness(self, svc: RequestService, customer: str | None) -> int:
        found = svc.lateness.get(customer)
        if found is None:
            found = max((f.lateness_ms for f in svc.folds if f.customer in (None, customer)),
                        default=DEFAULT_LATENESS_MS)
            svc.lateness[customer] = found
        return found

    def refusal(self, rec: RequestCount, now: int) -> InvalidEvent | None:
        """``duplicate`` or ``late`` (SPEC section 9), found without changing anything."""
        svc = self._service(rec.service)
        if rec.event_id is not None and _digest(rec.event_id) in svc.event_ids:
            return InvalidEvent(
                f"service {rec.service!r}: request count event_id {rec.event_id!r} was already "
                "applied (the first arrival counts)", "duplicate")
        lateness = self._lateness(svc, rec.customer)
        now = max(now, svc.reached)
        if rec.at < now - lateness:
            return InvalidEvent(
                f"service {rec.service!r} request count at {format_instant(rec.at)} is earlier "
                f"than the detector clock {format_instant(now)} minus lateness "
                f"({lateness / 1000:g}s): it changes nothing", "late")
        return None

    def take(self, rec: RequestCount, now: int, skip: frozenset[FoldId] = frozenset()
             ) -> list[Record]:
        """Apply a record that ``refusal`` let through, at detector clock ``now``, to every
        fold of its service but those of ``skip`` (a shell's: they have it already)."""
        svc = self._service(rec.service)
        if rec.event_id is not None:
            digest = _digest(rec.event_id)
            if digest not in svc.event_ids:
                svc.remember(digest, rec.at, now)
        out: list[Record] = []
        for fold in svc.folds:
            if fold.customer is not None and fold.customer != rec.customer:
                continue
            if skip and fold_id(fold) in skip:
                continue
            changes: list[Change] = []
            if fold.scheduled is not None and fold.scheduled < now:
                fold.advance(now - 1, changes)  # what the clock holds already (rarely any)
            else:
                fold.catch_up(now - 1)  # nothing is due before the clock: no loop
            if self.batched:
                fold.take(rec, changes)
                self._keep(fold, changes)
            else:
                fold.fresh.clear()  # sent again with this record if it comes twice
                fold.take(rec, changes)
            out += _records(fold, changes)
            self._changed[fold.service, fold_id(fold)] = fold
            self._schedule(fold)
        return out

    def advance(self, now: int) -> list[Record]:
        heap, out = self.heap, []
        while heap and heap[0][0] <= now:
            due, _, fold = heapq.heappop(heap)
            if fold.scheduled != due:
                continue
            fold.scheduled = None
            changes: list[Change] = []
            fold.advance(now, changes)
            if changes:
                self._keep(fold, changes)
                self._changed[fold.service, fold_id(fold)] = fold
                out += _records(fold, changes)
            self._schedule(fold)
        return out

    def next_due(self) -> int | None:
        return self.heap[0][0] if self.heap else None

    # -- through a changelog

    def begin_batch(self, keep: bool = False) -> None:
        """A shell's batch begins: what each fold publishes until the next one stays in its
        ``fresh``, so in its snapshot, and a rebuild publishes it again.

        A shell writes a batch's values before it sends the batch's records (``written_first``)
        and a crash can come between: the records are lost while the values say they went out.
        The inputs are delivered again, but they are in the values already, so what stands is
        published again (``republish``), and nothing else: a burn-rate episode or an outcome
        published and forgotten (past lateness) within the batch, which can span hours of event
        time on a backlog, would be lost for good. ``keep``: the batch began before this book
        was rebuilt; what the rebuild published again stays."""
        self.batched = True
        if keep:
            return
        for fold in self._fresh:
            fold.fresh.clear()
        self._fresh.clear()

    def _keep(self, fold: ObjectiveFold, changes: list[Change]) -> None:
        if changes:
            if not fold.fresh and self.batched:
                self._fresh.append(fold)
            fold.fresh += changes

    def has_changes(self) -> bool:
        """True when a fold changed since the last ``changed``."""
        return bool(self._changed)

    def changed(self) -> list[tuple[str, FoldId, Data]]:
        """(service, ``fold_id``, snapshot) of every fold changed since the last call."""
        out = [(service, fid, fold_snapshot(fold, fold.fresh))
               for (service, fid), fold in self._changed.items()]
        self._changed.clear()
        return out

    def fold_ids(self, name: str) -> list[FoldId]:
        """The ``fold_id`` of each of the service's folds."""
        return [fold_id(f) for f in self._service(name).folds]

    def service_data(self, name: str) -> Data:
        """What a service keeps beside its folds: the event ids it remembers."""
        svc = self._service(name)
        return {"ids": [[d, at] for d, at in svc.arrivals]}

    def restore(self, name: str, data: Data | None, folds: dict[FoldId, Data]) -> list[Record]:
        """Load a service from ``service_data`` and its folds' snapshots (by ``fold_id``);
        return what its folds' clocks fired that may not have reached its topic (``fresh``).
        Folds of objectives that are gone are dropped; new ones start fresh."""
        self.services.pop(name, None)
        svc = self._service(name)
        for digest, at in (data or {}).get("ids", ()):
            svc.event_ids.add(digest)
            svc.arrivals.append((digest, at))
        out: list[Record] = []
        for fold in svc.folds:
            saved = folds.get(fold_id(fold))
            if saved is not None:
                fold.fresh = fold_restore(fold, saved)
                if fold.fresh:
                    self._fresh.append(fold)
                svc.reached = max(svc.reached, fold.processed)
                out += _records(fold, fold.fresh)
            self._schedule(fold)
        return out

    def republish(self, name: str) -> list[Record]:
        """What the service's folds stand on, again (for a shell that cannot tell whether the
        records of a record delivered twice reached their topic)."""
        svc = self.services.get(name)
        out: list[Record] = []
        for fold in svc.folds if svc is not None else ():
            for start in fold.order:
                out += [_record(fold, f) for f in fold.periods[start].published.values()]
            out += [_record(fold, f) for f in fold.burn_published.values()]
        return out

    def _schedule(self, fold: ObjectiveFold) -> None:
        """Keep the fold in the heap at its next due instant (a due that moves later keeps the
        earlier entry: it pops, finds nothing due, and reschedules)."""
        due = fold.next_due()
        if due is not None and (fold.scheduled is None or due < fold.scheduled):
            fold.scheduled = due
            self._seq += 1
            heapq.heappush(self.heap, (due, self._seq, fold))


def _records(fold: ObjectiveFold, changes: list[Change]) -> list[Record]:
    return [changelog.retraction(_record(fold, f)) if retract else _record(fold, f)
            for f, retract in changes]


def _record(fold: ObjectiveFold, f: Fired) -> Record:
    version, fields = f.version, f.fields
    customer = fold.customer or ""
    if f.metric == "burn_rate":
        aid = alert_id("burn_rate", "requests", fold.service, customer, version.id,
                       fold.objective_id, f.key[1], f.at)
    else:
        aid = alert_id("requests", fold.service, customer, version.id, fold.objective_id,
                       *f.key)
    rec: Record = {"alert_id": aid, "kind": f.kind, "metric": f.metric,
                   "at": format_instant(f.at)}
    if "threshold" in fields:
        rec["threshold"] = fields["threshold"]
    rec["policy_id"] = version.id
    rec["policy_version"] = version.version
    rec["policy_match"] = list(version.match_keys)
    rec["service"] = fold.service
    if fold.customer is not None:
        rec["customer"] = fold.customer
    requests = version.requests
    assert requests is not None
    objective = requests.objective(fold.objective_id)
    rec["objective"] = fold.objective_id
    rec["sli"] = objective.sli if objective is not None else None
    rec["budgeting"] = requests.budgeting
    for name, value in fields.items():
        if name != "threshold":
            rec[name] = format_instant(value) if name in ("period_start", "period_end") \
                else value
    return rec
