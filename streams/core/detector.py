"""The detector: one fold over incident events, heartbeats and the detector clock (SPEC 4-7).

    det = Detector(policies)
    records = det.on_event(event)            # an incident event or a heartbeat, decoded and
                                             # checked by ``events``: what is due before it, then it
    records = det.advance(now_ms)            # the detector clock moved: fire what is due

Both return new output records (dicts without ``detected_at``, which the shell stamps). The state
is explicit (the ``Detector`` object) and holds no I/O, no wall clock and no globals. Deadlines live
in a heap keyed by instant, so advancing the clock costs O(log n) per due incident, never a scan.

The topics are changelogs keyed by ``alert_id``: the detector keeps what it published per incident
and publishes only the difference. An event in order extends the fold; one that lands before what
was applied or fired rebuilds the incident's fold and publishes the difference (retractions and
re-publications), so what stands is always the pure function of the events and the clock.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from typing import Any

from . import changelog
from .availability import ServiceBook
from .clocks import Crossing, Stop
from .errors import InvalidEvent
from .events import UPDATED, Heartbeat, IncidentEvent
from .ids import _blake2b
from .incidents import MAX_INCIDENT_BYTES, Change, Incident, note_size, stored_size
from .policy import PolicySet, PolicyVersion
from .requests.book import RequestBook
from .requests.records import RequestCount
from .timefmt import DAY_MS, NEVER_MS, format_instant

Record = dict[str, Any]


DEFAULT_RETENTION_MS = 30 * DAY_MS


class Detector:
    """The state of the fold: open incidents, their deadline heap, and the detector clock."""

    def __init__(self, policies: PolicySet, retention_ms: int = DEFAULT_RETENTION_MS,
                 follow_events: bool = True) -> None:
        self.policies = policies
        self.retention_ms = retention_ms
        #: True (replay): an event moves the clock to its ``at``. False (live): only ``advance``
        #: moves it, to the watermark of the partition's inputs or the wall clock (SPEC 6), so
        #: an input read ahead of another cannot make a service look silent.
        self.follow_events = follow_events
        self.now_ms = NEVER_MS
        self.incidents: dict[str, Incident] = {}
        self.heap: list[tuple[int, str]] = []
        self.forgotten: dict[str, int] = {}  # evicted incident -> instant it was evicted
        self._forget_queue: deque[tuple[int, str]] = deque()
        self.evicted: list[str] = []  # incidents forgotten since the shell last emptied this
        #: held incidents (events but no ``opened``) dropped after retention since the shell last
        #: emptied this: not forgotten, so a later ``opened`` starts a new incident
        self.dropped: list[str] = []
        #: None (replay), or (a shell's) the note ids (``Incident.note_ids``) of each incident
        #: forgotten or dropped since the shell last emptied it, whose notes it deletes
        self.released_notes: dict[str, list[str]] | None = None
        self.stats = {"events": 0, "duplicates": 0, "late": 0, "evicted": 0, "dropped": 0}
        self.services = ServiceBook(policies)
        self.requests = RequestBook(policies)

    # -- input

    def before(self, at_ms: int) -> list[Record]:
        """Fire what falls due before instant ``at_ms``, as every runner does ahead of an event
        at ``at_ms`` (so a crossing at an instant waits for that instant's events)."""
        due_ms = self.next_due()
        return self.advance(at_ms - 1) if due_ms is not None and due_ms < at_ms else []

    def refusal(self, ev: IncidentEvent | Heartbeat | RequestCount) -> InvalidEvent | None:
        """The error that applying ``ev`` would raise (``duplicate``, ``late``), found without
        changing anything: runners ask before they fire what falls due before ``ev.at``, so an
        input that is refused never moves the clock (SPEC sections 2, 6 and 7)."""
        if type(ev) is Heartbeat:
            return self.services.refusal(ev)
        if type(ev) is RequestCount:
            return self.requests.refusal(ev, self.now_ms)
        assert type(ev) is IncidentEvent
        inc = self.incidents.get(ev.incident_id)
        if inc is None:
            forgotten_ms = self.forgotten.get(ev.incident_id)
            # expired at the clock, whether or not an ``advance`` has let it go yet: replay
            # advances only ahead of what falls due, the live worker at every record, and what
            # is late must not hang on that
            if forgotten_ms is not None and forgotten_ms + self.retention_ms > self.now_ms:
                return InvalidEvent(
                    f"incident {ev.incident_id!r} event {ev.event_id!r}: the incident finished and "
                    f"was forgotten at {format_instant(forgotten_ms)} "
                    "(retention passed)", "late")
        elif ev.event_id in inc.event_ids:
            return InvalidEvent(
                f"incident {ev.incident_id!r}: event_id {ev.event_id!r} was already applied "
                "(the first arrival counts)", "duplicate")
        elif inc.size + stored_size(ev) > MAX_INCIDENT_BYTES:
            return InvalidEvent(
                f"incident {ev.incident_id!r} event {ev.event_id!r}: the incident holds "
                f"{len(inc.event_ids):,} events, and its state is bounded to "
                f"{MAX_INCIDENT_BYTES:,} bytes (what a Kafka record can carry): this event "
                "is refused", "too_large")
        return None

    def on_event(self, ev: IncidentEvent | Heartbeat | RequestCount) -> list[Record]:
        """What every runner does with one valid input: refuse it (raise ``InvalidEvent``:
        ``duplicate``, ``late``, ``too_large``) changing nothing, the clock neither; else fire
        what falls due before ``ev.at`` when events drive the clock (``follow_events``; live,
        the clock is the shell's), then apply it. Returns the records both change."""
        refused = self.refusal(ev)
        if refused is not None:
            try:
                raise refused
            finally:  # no frame <-> exception cycle: it would keep the detector alive after
                refused = None  # a run, for a full collection of all its state to find
        out = self.before(ev.at) if self.follow_events else []
        if type(ev) is IncidentEvent:
            out += self._incident(ev)
        elif type(ev) is Heartbeat:
            out += self._heartbeat(ev)
        else:
            assert type(ev) is RequestCount
            if ev.at > self.now_ms and self.follow_events:
                self.now_ms = ev.at
            out += self.requests.take(ev, self.now_ms)
        return out

    def on_incident_event(self, ev: IncidentEvent) -> list[Record]:
        """Apply one valid incident event; return the records it changes.

        Raises ``InvalidEvent`` (reason ``duplicate`` or ``late``) for an event that changes
        nothing.
        """
        refused = self.refusal(ev)
        if refused is not None:
            key = {"duplicate": "duplicates"}.get(refused.reason, refused.reason)
            self.stats[key] = self.stats.get(key, 0) + 1
            raise refused
        return self._incident(ev)

    def _incident(self, ev: IncidentEvent) -> list[Record]:
        """Apply an incident event that ``refusal`` let through."""
        inc = self.incidents.get(ev.incident_id)
        if inc is None:
            inc = self.incidents[ev.incident_id] = Incident(ev.incident_id)
        self.stats["events"] += 1
        if ev.at > self.now_ms and self.follow_events:
            self.now_ms = ev.at
        if ev.type == UPDATED:
            inc.note(ev.event_id, ev.at, stored_size(ev))  # changes no clock: nothing to fold
            if inc.held():
                self._touch(inc)  # held: dropped after retention if no opened comes
            return []
        inc.add(ev)
        changes: list[Change] = []
        if inc.can_extend(ev):
            inc.apply(ev, changes)
            out = self._publish(inc, changes) if changes else []
        else:
            judged = (inc.policy, inc.opened)  # what stands was judged by these
            inc.refold(self.policies, self.now_ms, changes)
            out = self._replace(inc, changes, judged)
        if inc.held():
            self._touch(inc)
        else:
            self._schedule(inc)
        return out

    def advance(self, now_ms: int) -> list[Record]:
        """Move the detector clock to ``now_ms`` (never back); fire every threshold due by then."""
        if now_ms > self.now_ms:
            self.now_ms = now_ms
        now_ms = self.now_ms
        heap, out = self.heap, []
        incidents = self.incidents
        while heap and heap[0][0] <= now_ms:
            due_ms, incident_id = heapq.heappop(heap)
            inc = incidents.get(incident_id)
            if inc is None or inc.scheduled != due_ms:
                continue  # stale entry: the incident moved on since
            inc.scheduled = None
            if inc.held():
                if inc.touched_at_ms == NEVER_MS:  # touched before the clock was set: from now on
                    inc.touched_at_ms = now_ms
                if inc.touched_at_ms + self.retention_ms <= now_ms:
                    self._drop(inc)
                else:
                    self._schedule(inc)
                continue
            changes: list[Change] = []
            inc.fire_until(now_ms, changes)
            if changes:
                out.extend(self._publish(inc, changes))
            elif inc.finished() and inc.seen_at_ms + self.retention_ms <= now_ms:
                self._forget(inc, now_ms)
                continue
            self._schedule(inc)
        queue = self._forget_queue
        while queue and queue[0][0] <= now_ms:
            _, incident_id = queue.popleft()
            self.forgotten.pop(incident_id, None)
        services = self.services
        if services.heap and services.heap[0][0] <= now_ms:
            out.extend(services.advance(now_ms))
        requests = self.requests
        if requests.heap and requests.heap[0][0] <= now_ms:
            out.extend(requests.advance(now_ms))
        return out

    def next_due(self) -> int | None:
        """The earliest instant at which ``advance`` has something to do."""
        dues = [heap[0][0] for heap in (self.heap, self.services.heap, self.requests.heap)
                if heap]
        return min(dues) if dues else None

    def on_heartbeat(self, hb: Heartbeat) -> list[Record]:
        """Apply one valid heartbeat; return the records it changes.

        Raises ``InvalidEvent`` (reason ``late``) for a heartbeat before its service's latest.
        """
        refused = self.services.refusal(hb)
        if refused is not None:
            raise refused
        return self._heartbeat(hb)

    def _heartbeat(self, hb: Heartbeat) -> list[Record]:
        """Apply a heartbeat that ``refusal`` let through."""
        if hb.at > self.now_ms and self.follow_events:
            self.now_ms = hb.at
        return self.services.take(hb, self.now_ms)

    # -- the deadline heap

    def _schedule(self, inc: Incident) -> None:
        if inc.held():
            # a held incident is measured on the detector clock from when it was last touched,
            # never from its events' ``at`` (a stray early event must not shorten anything)
            # (touched before the clock was set: due at the first instant the clock holds)
            due: int | None = (NEVER_MS + 1 if inc.touched_at_ms == NEVER_MS
                               else inc.touched_at_ms + self.retention_ms)
        else:
            due = inc.next_due()
        if due is None:
            due = inc.seen_at_ms + self.retention_ms if inc.finished() else None
        if due is not None and (inc.scheduled is None or due < inc.scheduled):
            inc.scheduled = due  # a later due keeps the earlier entry: it pops and reschedules
            heapq.heappush(self.heap, (due, inc.id))

    def _touch(self, inc: Incident) -> None:
        """An event came for a held incident: its retention starts again at the clock."""
        inc.touched_at_ms = self.now_ms
        self._schedule(inc)

    def _drop(self, inc: Incident) -> None:
        """Let a held incident go (retention passed with no ``opened``): memory stays bounded,
        and it is not forgotten, so a later ``opened`` is a new incident, never late."""
        del self.incidents[inc.id]
        self.dropped.append(inc.id)
        self.stats["dropped"] += 1
        self._release_notes(inc)

    def _forget(self, inc: Incident, now_ms: int) -> None:
        del self.incidents[inc.id]
        self.remember_forgotten(inc.id, now_ms)
        self.evicted.append(inc.id)
        self.stats["evicted"] += 1
        self._release_notes(inc)

    def _release_notes(self, inc: Incident) -> None:
        released = self.released_notes
        if released is not None:
            ids = inc.note_ids()
            if ids:
                released[inc.id] = ids

    def restore_incident(self, incident_id: str, events: list[IncidentEvent],
                         sent: Iterable[str], notes: Iterable[tuple[str, int]] = (),
                         touched_at_ms: int | None = None) -> list[Record]:
        """Load an incident from a changelog: the events applied to it (in arrival order), the
        ids of the records that stand for it (``published`` as it was) and its notes (the
        ``updated`` events, ``(event_id, at_ms)``; an ``updated`` among ``events``, as values
        written before notes hold them, is taken as a note too). The fold is rebuilt at the
        detector clock; what stands now but was not sent is returned, to be published. A held
        incident's retention runs from ``touched_at_ms``, when it last took an event (unknown:
        from the restored clock).

        A record sent but not standing now was fired beyond this clock (the saved clock lags
        the one that fired it): it fires again, identical, when the clock gets there."""
        inc = self.incidents[incident_id] = Incident(incident_id)
        for ev in events:
            if ev.type == UPDATED:
                inc.note(ev.event_id, ev.at, stored_size(ev))
            else:
                inc.add(ev)
        for event_id, at_ms in notes:
            inc.note(event_id, at_ms, note_size(incident_id, event_id))
        standing: list[Change] = []
        inc.refold(self.policies, self.now_ms, standing)
        self._replace(inc, standing, (None, None))  # against nothing: every standing entry
        sent = set(sent)
        fresh = {aid: change for aid, change in inc.published.items() if aid not in sent}
        if inc.held() and touched_at_ms is not None:
            inc.touched_at_ms = touched_at_ms
            self._schedule(inc)
        elif inc.held():
            self._touch(inc)  # its retention runs from the restored clock
        else:
            self._schedule(inc)
        return _records(inc, fresh.items())

    def republish(self, incident_id: str) -> list[Record]:
        """The records that stand for an incident, again (none if it is not held)."""
        inc = self.incidents.get(incident_id)
        if inc is None:
            return []
        return _records(inc, inc.published.items())

    def remember_forgotten(self, incident_id: str, at_ms: int) -> None:
        """Note that ``incident_id`` was forgotten at ``at_ms``: its later events are late (a
        shell restoring state from a changelog calls this for the incidents it kept forgotten)."""
        self.forgotten[incident_id] = at_ms
        self._forget_queue.append((at_ms + self.retention_ms, incident_id))

    # -- the changelog

    def _publish(self, inc: Incident, changes: list[Change]) -> list[Record]:
        """Publish fold changes that differ from what stands (the in-order path)."""
        policy, opened = inc.policy, inc.opened
        out: list[Record] = []
        if policy is None:
            return out
        assert opened is not None  # a policy was resolved from it
        published, upsert, iid = inc.published, changelog.upsert, inc.id
        for change in changes:  # one loop: the in-order path is the hot one
            aid = _alert_id(iid, policy, *change)
            if upsert(published, aid, change):
                out.append(_record(iid, aid, change, policy, opened))
        return out

    def _replace(self, inc: Incident, standing: list[Change],
                 judged: tuple[PolicyVersion | None, IncidentEvent | None]) -> list[Record]:
        """Publish the difference between what stood (judged by ``judged``: the policy and
        ``opened`` of before the refold) and ``standing`` (the whole new set). Every entry of
        an incident's ``published`` is judged by its ``policy`` and ``opened``: a change of
        either publishes all of them again."""
        policy, opened, iid = inc.policy, inc.opened, inc.id
        new: dict[str, Change] = {}
        if policy is not None:
            assert opened is not None  # a policy was resolved from it
            new = {_alert_id(iid, policy, *change): change for change in standing}
        old = inc.published
        if judged[0] != policy or judged[1] is not opened:
            records = list(new.items())
            retractions = [(aid, change) for aid, change in old.items() if aid not in new]
        else:
            records, retractions = changelog.diff(old, new)
        inc.published = new
        out: list[Record] = []
        if records:  # some stand: a policy judges them
            assert policy is not None and opened is not None
            out += [_record(iid, aid, change, policy, opened) for aid, change in records]
        if retractions:
            old_policy, old_opened = judged
            assert old_policy is not None and old_opened is not None  # they published these
            out += [changelog.retraction(_record(iid, aid, change, old_policy, old_opened))
                    for aid, change in retractions]
        return out


def _records(inc: Incident, entries: Iterable[tuple[str, Change]]) -> list[Record]:
    """The records of what stands for ``inc`` (judged by its policy and ``opened``)."""
    policy, opened = inc.policy, inc.opened
    if policy is None or opened is None:
        return []
    return [_record(inc.id, aid, change, policy, opened) for aid, change in entries]


def _alert_kind(policy: PolicyVersion, crossing: Crossing) -> str:
    return "breach" if crossing.threshold.index == policy.breach_index else "near_breach"


def _alert_id(incident_id: str, policy: PolicyVersion, kind: str, metric: str,
              value: Crossing | Stop) -> str:
    """The id of an incident's record: the clock's name is its metric, built-in or custom (the
    definition of a clock is not part of it, SPEC section 4.1)."""
    if type(value) is Stop:
        text = f"incident\x1f{incident_id}\x1f{metric}\x1foutcome"
    else:
        assert type(value) is Crossing
        text = (f"incident\x1f{incident_id}\x1f{policy.id}\x1f{metric}\x1f"
                f"{_alert_kind(policy, value)}\x1f{value.threshold.label}")
    return _blake2b(text.encode(), digest_size=12).hexdigest()


def _record(incident_id: str, aid: str, change: Change, policy: PolicyVersion,
            opened: IncidentEvent) -> Record:
    _, metric, value = change  # unpacked by name: the hot path
    keys = policy.match_keys
    if type(value) is Crossing:
        at_ms, elapsed_ms, target_ms, severity, deadline_ms, threshold = value
        rec: Record = {
            "alert_id": aid, "kind": _alert_kind(policy, value), "metric": metric,
            "at": format_instant(at_ms), "threshold": threshold.label,
            "policy_id": policy.id, "policy_version": policy.version,
            "policy_match": list(keys), "incident_id": incident_id, "service": opened.service,
            "customer": opened.customer, "severity": severity,
            "target_seconds": target_ms / 1000, "elapsed_seconds": elapsed_ms / 1000,
            # None: the breach would fall only past the end of the instant range (never)
            "deadline": None if deadline_ms is None else format_instant(deadline_ms),
        }
    else:
        assert type(value) is Stop
        at_ms, elapsed_ms, target_ms, severity, met = value
        rec = {
            "alert_id": aid, "kind": "outcome", "metric": metric,
            "at": format_instant(at_ms), "policy_id": policy.id,
            "policy_version": policy.version, "policy_match": list(keys),
            "incident_id": incident_id, "service": opened.service, "customer": opened.customer,
            "severity": severity, "target_seconds": target_ms / 1000,
            "elapsed_seconds": elapsed_ms / 1000, "met": met,
            "opened_at": format_instant(opened.at),
        }
    if opened.attributes:
        rec["attributes"] = opened.attributes
    return rec

