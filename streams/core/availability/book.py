"""Every service's availability folds (``ServiceBook``, one per detector): heartbeats in, the
folds' deadline heap, what they published as a changelog, and snapshots that carry a service
through a shell's changelog."""

from __future__ import annotations

import heapq
from typing import Any

from .. import changelog
from ..errors import InvalidEvent
from ..events import UP, Heartbeat
from ..ids import alert_id
from ..policy import PolicySet
from ..timefmt import NEVER_MS, format_instant
from .fold import ServiceFold
from .foldstate import KEPT_MS, Fired, FoldState

Record = dict[str, Any]


class Service:
    __slots__ = ("name", "last_at", "instances", "folds")

    def __init__(self, name: str, folds: list[ServiceFold]) -> None:
        self.name = name
        self.last_at = NEVER_MS
        self.instances: dict[str, tuple[int, int]] = {}  # instance -> (status, last heartbeat)
        self.folds = folds


class ServiceBook:
    """Every service's availability folds and their deadline heap (one per detector).

    ``snapshot(name)`` and ``restore(name, snap)`` carry one service through a changelog: the
    snapshot holds the exact state at the service's last heartbeat (never a projection, which is a
    function of that state and the clock) and what was published, as plain JSON-able data.
    """

    def __init__(self, policies: PolicySet) -> None:
        self.policies = policies
        self.services: dict[str, Service] = {}
        self.heap: list[tuple[int, int, ServiceFold]] = []
        self._seq = 0
        self._shared: dict[Any, Any] = {}  # periods and burn levels shared by every fold

    def refusal(self, hb: Heartbeat) -> InvalidEvent | None:
        """``late`` when ``hb`` comes before its service's latest applied heartbeat, else None
        (nothing changes either way)."""
        svc = self.services.get(hb.service)
        if svc is not None and hb.at < svc.last_at:
            return InvalidEvent(
                f"service {hb.service!r}: heartbeat at {format_instant(hb.at)} is before the "
                f"latest applied one ({format_instant(svc.last_at)})", "late")
        return None

    def on_heartbeat(self, hb: Heartbeat, now: int) -> list[Record]:
        """Apply one heartbeat; raise ``InvalidEvent`` (reason ``late``) for one that comes
        before the latest applied heartbeat of its service."""
        refused = self.refusal(hb)
        if refused is not None:
            raise refused
        return self.take(hb, now)

    def take(self, hb: Heartbeat, now: int) -> list[Record]:
        """Apply a heartbeat that ``refusal`` let through (the detector asked already)."""
        svc = self.services.get(hb.service)
        if svc is None:
            chains = [self.policies.chain(m) for m in self.policies.availability_for(hb.service)]
            svc = self.services[hb.service] = Service(
                hb.service, [ServiceFold(hb.service, c, self._shared) for c in chains])
        svc.last_at = hb.at
        previous = svc.instances.get(hb.instance)
        svc.instances[hb.instance] = (hb.status, hb.at)
        steady = hb.status == UP and previous is not None and previous[0] == UP
        out: list[Record] = []
        for fold in svc.folds:
            restored_to, fold.restored_to = fold.restored_to, None
            if steady and restored_to is None and fold.renew(hb.at):
                continue
            exact: list[Fired] = []
            rolled = fold.on_heartbeat(hb.at, svc.instances, exact)
            if rolled or (restored_to is not None and hb.at <= restored_to):
                projected: list[Fired] = []
                fold.project(now, projected)
                # not rolled: the projection stopped at or before the heartbeat and is exact
                # now, with what it fired (fold.restored_to: a projection of an older clock's)
                out.extend(_replace(fold, exact, projected, None if rolled else hb.at))
            else:
                fold.projected.clear()
                out.extend(_publish(fold, exact, speculative=False))
            fold.prune()
            self._schedule(fold)
        return out

    def advance(self, now: int) -> list[Record]:
        heap, out = self.heap, []
        while heap and heap[0][0] <= now:
            due, _, fold = heapq.heappop(heap)
            if fold.scheduled != due:
                continue
            fold.scheduled = None
            fired: list[Fired] = []
            fold.project(now, fired)
            out.extend(_publish(fold, fired, speculative=True))
            self._schedule(fold)
        return out

    def next_due(self) -> int | None:
        return self.heap[0][0] if self.heap else None

    def republish(self, name: str) -> list[Record]:
        """The records the service's folds published in the day before its last heartbeat (and
        since), again: for a shell that cannot tell whether they reached their topic."""
        svc = self.services.get(name)
        if svc is None:
            return []
        out = []
        for fold in svc.folds:
            exact = fold.base if fold.base is not None else fold.state
            out += [_record(fold, f) for f in fold.published.values()
                    if f.at >= exact.t - KEPT_MS]
            out += [changelog.retraction(_record(fold, f)) for f in fold.withdrawn.values()
                    if f.at >= exact.t - KEPT_MS]
        return out

    def snapshot(self, name: str) -> dict[str, Any] | None:
        """The service as plain data (None for a service never seen)."""
        svc = self.services.get(name)
        if svc is None:
            return None
        return {"last_at": svc.last_at,
                "instances": [[i, s, at] for i, (s, at) in svc.instances.items()],
                "folds": [fold_snapshot(f) for f in svc.folds]}

    def restore(self, name: str, snap: dict[str, Any], now: int) -> list[Record]:
        """Load a service from ``snapshot`` data and project it to the clock ``now``; return
        what the projection fires that the snapshot does not hold as published (it was fired
        after the snapshot was taken, or never): publishing it again is identical, never lost.

        Folds of policies that are gone are dropped; policies that are new start fresh."""
        chains = [self.policies.chain(m) for m in self.policies.availability_for(name)]
        svc = self.services[name] = Service(
            name, [ServiceFold(name, c, self._shared) for c in chains])
        svc.last_at = snap["last_at"]
        svc.instances = {i: (s, at) for i, s, at in snap["instances"]}
        saved = {f["policy"]: f for f in snap["folds"]}
        out: list[Record] = []
        for fold in svc.folds:
            data = saved.get(fold.chain[0].id)
            if data is not None:
                fold_restore(fold, data)
                # what a projection had fired when the snapshot was taken may not have reached
                # its topic (a crash between the two sends): published again, identical
                out += [_record(fold, fold.published[key]) for key in sorted(fold.projected,
                                                                            key=repr)]
                fired: list[Fired] = []
                fold.project(now, fired)
                out.extend(_publish(fold, fired, speculative=True))
            self._schedule(fold)
        return out

    def _schedule(self, fold: ServiceFold) -> None:
        """Keep the fold in the heap at its next due instant. A due that moves later keeps the
        earlier entry (it pops, finds nothing due, and reschedules): heartbeats that only push
        the projection further cost no heap operation."""
        due = fold.next_due()
        if due is not None and (fold.scheduled is None or due < fold.scheduled):
            fold.scheduled = due
            self._seq += 1
            heapq.heappush(self.heap, (due, self._seq, fold))


def _publish(fold: ServiceFold, fired: list[Fired], speculative: bool) -> list[Record]:
    """Publish what differs from what stands; ``speculative``: fired by a projection."""
    out = []
    published, withdrawn, upsert = fold.published, fold.withdrawn, changelog.upsert
    for f in fired:
        key = (f.metric, *f.key)
        if upsert(published, key, f):
            withdrawn.pop(key, None)
            out.append(_record(fold, f))
        if speculative:
            fold.projected.add(key)
    return out


def _replace(fold: ServiceFold, exact: list[Fired], projected: list[Fired],
             confirmed_to: int | None = None) -> list[Record]:
    """After a roll-back: publish what changed, retract what the projection published in vain
    (but what it fired up to ``confirmed_to``, which a heartbeat confirmed)."""
    stale = fold.projected
    fold.projected = set()
    out = _publish(fold, exact, speculative=False) + _publish(fold, projected, speculative=True)
    kept = {(f.metric, *f.key) for f in exact} | fold.projected
    if confirmed_to is not None:
        kept |= {key for key in stale
                 if key in fold.published and fold.published[key].at <= confirmed_to}
    for key, gone in changelog.withdraw(fold.published, stale - kept):
        fold.withdrawn[key] = gone
        out.append(changelog.retraction(_record(fold, gone)))
    return out


def _record(fold: ServiceFold, f: Fired) -> Record:
    version = f.version
    fields = f.fields
    if f.metric == "burn_rate":
        aid = alert_id("burn_rate", fold.service, version.id, fields["long_window_seconds"],
                       fields["short_window_seconds"], fields["threshold"], f.at)
    else:
        aid = alert_id("availability", fold.service, version.id, *f.key)
    rec: Record = {"alert_id": aid, "kind": f.kind, "metric": f.metric,
                   "at": format_instant(f.at)}
    if "threshold" in fields:
        rec["threshold"] = fields["threshold"]
    rec["policy_id"] = version.id
    rec["policy_version"] = version.version
    rec["policy_match"] = list(version.match_keys)
    rec["service"] = fold.service
    for name, value in fields.items():
        if name == "threshold":
            continue
        rec[name] = format_instant(value) if name in ("period_start", "period_end") else value
    return rec


# ----------------------------------------------------------------------------- snapshots


def _state_data(st: FoldState) -> dict[str, Any]:
    period = st.period
    return {
        "t": st.t, "up": st.up_until, "degraded": st.degraded_until,
        "period": None if period is None else [period.start, period.end],
        "next_start": st.next_start, "down_ms": st.down_ms, "degraded_ms": st.degraded_ms,
        # copies: a snapshot is a value of its own (the fold keeps changing its lists)
        "fired": sorted(st.fired), "starts": st.starts[:], "ends": st.ends[:], "cum": st.cum[:],
        "total_down": st.total_down, "episodes": [[i, m] for i, m in st.episodes.items()],
        "last_minute": st.last_minute, "burn_active": st.burn_active,
        "down_start": st.down_start, "outages": st.outages, "down_end": st.down_end,
        "outage_period": st.outage_period,
    }


def _fired_data(f: Fired) -> list[Any]:
    return [f.kind, f.metric, f.at, list(f.key), f.fields, f.version.version]


def fold_snapshot(fold: ServiceFold) -> dict[str, Any]:
    """The fold as plain data: its exact state at the last heartbeat and what it published."""
    exact = fold.base if fold.base is not None else fold.state
    return {
        "policy": fold.chain[0].id,
        "state": _state_data(exact),
        "published": [_fired_data(f) for f in fold.published.values()
                      if f.at >= exact.t - KEPT_MS],
        # which of them a projection past the last heartbeat fired: a heartbeat that shows it
        # fired in vain retracts it, whoever restores the fold
        "projected": [list(key) for key in sorted(fold.projected, key=repr)
                      if key in fold.published and fold.published[key].at >= exact.t - KEPT_MS],
        "projected_to": fold.state.t if fold.base is not None else fold.restored_to,
        "withdrawn": [_fired_data(f) for f in fold.withdrawn.values()
                      if f.at >= exact.t - KEPT_MS],
    }


def _fired_from(rows: Any, versions: dict[int, Any]) -> dict[tuple[Any, ...], Fired]:
    """``_fired_data`` rows back as records by key (those of versions the policy still has)."""
    out = {}
    for kind, metric, at, key, fields, version in rows:
        if version in versions:
            out[(metric, *key)] = Fired(kind, metric, at, tuple(key), fields, versions[version])
    return out


def fold_restore(fold: ServiceFold, data: dict[str, Any]) -> None:
    """Load ``data`` (from ``fold_snapshot``) into a fresh fold of the same policy id."""
    d = data["state"]
    st = fold.state = FoldState(
        d["t"], d["up"], d["degraded"], None, d["next_start"], d["down_ms"], d["degraded_ms"],
        set(d["fired"]), list(d["starts"]), list(d["ends"]), list(d["cum"]), d["total_down"],
        {i: m for i, m in d["episodes"]}, d["last_minute"], d["burn_active"], None,
        d["down_start"])
    if d["period"] is not None:
        fired = st.fired
        fold._open(st, *d["period"])
        st.fired, st.down_ms, st.degraded_ms = fired, d["down_ms"], d["degraded_ms"]
        st.next_start = d["next_start"]
    # snapshots written before outages were counted hold none: counted from here on
    st.outages = d.get("outages", 0)
    st.down_end, st.outage_period = d.get("down_end", NEVER_MS), d.get("outage_period", NEVER_MS)
    versions = {v.version: v for v in fold.chain}
    fold.published = _fired_from(data["published"], versions)
    fold.withdrawn = _fired_from(data.get("withdrawn", ()), versions)
    fold.projected = {tuple(key) for key in data.get("projected", ())
                      if tuple(key) in fold.published}
    if fold.projected:
        fold.restored_to = data.get("projected_to")
