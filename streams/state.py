"""The detector's state as table values, and the detector rebuilt from them.

A partition's state is these kinds of values, each small, JSON-able and written when an input
changes it (the worker keeps them in Faust tables whose changelogs bring them back):

- an incident: the events applied to it but its ``updated`` ones, in arrival order, and the ids
  of the records standing for it (``{"events": [...], "sent": [...]}``), or the instant it was
  forgotten after retention (``{"forgotten": ms}``) or, held (no ``opened``), let go after it
  (``{"dropped": ms}``);
- a note: one ``updated`` event of an incident, keyed by ``note_key`` (the incident's and the
  event's ids), its value the event's ``at``. An ``updated`` changes no clock (SPEC section 4):
  the fold needs only its id (a repeat is a duplicate), its size (``too_large``) and its time
  (retention), so it writes one small value and leaves the incident's alone, whatever the
  incident's length. The notes of an incident forgotten or dropped are deleted (tombstones);
- a service: the exact state at its last heartbeat (``ServiceBook.snapshot``), never a
  projection, which is a function of that state and the clock;
- a service's request counts: one value per request objective fold (its counters,
  ``requests.snapshot``), and one for the service with the ``event_id``s it remembers; keyed by
  ``request_key`` (JSON arrays: no service name can make one key of another);
- the partition's detector clock.

Every value also carries the partition it belongs to (``"p"``) and the offset of the input record
that wrote it last (``"o"``), so a record delivered twice around a restart is recognised and
skipped. A value is written when an input changes it, never when the clock alone fires a
record (that would double the writes), so ``sent`` and a service's published records are what
stood when its last input was applied. Rebuilding refolds each incident's events and loads each
service at the clock, and returns what stands by then but was not written as sent: a record
fired by the clock since, or one sent just before a crash, is published again (identical but for
``detected_at``); none is lost. An incident value written before notes existed holds its
``updated`` events among the others: a rebuild takes them as notes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import orjson

from .core.detector import DEFAULT_RETENTION_MS, Detector, Record
from .core.errors import InvalidEvent
from .core.events import UPDATED, Heartbeat, IncidentEvent, incident_event
from .core.policy import PolicySet
from .core.requests.records import RequestCount
from .core.timefmt import END_INSTANT_MS, NEVER_MS

Value = dict[str, Any]


#: The fields of an event that the fold reads: a value keeps only these (``attributes`` only of
#: an ``opened``, the one event whose attributes reach alerts), so its size is bounded by what
#: the core bounds (field lengths, events per incident), not by what a producer adds.
_KEPT = ("incident_id", "event_id", "type", "at")
_KEPT_OF_TYPE = {"opened": ("severity", "service", "customer", "attributes"),
                 "severity_changed": ("severity",), "milestone": ("milestone",)}


def stored_event(raw_event: dict[str, Any]) -> dict[str, Any]:
    """The part of a valid incident event's JSON object that a rebuild needs (what
    ``core.incidents.stored_size`` bounds)."""
    kept = {name: raw_event[name] for name in _KEPT if name in raw_event}
    for name in _KEPT_OF_TYPE.get(raw_event.get("type"), ()):  # type: ignore[arg-type]
        if raw_event.get(name):
            kept[name] = raw_event[name]
    return kept


def incident_value(partition: int, offset: int, previous: Value | None, raw_event: Any | None,
                   sent: Iterable[str], touched_ms: int | None = None) -> Value:
    """The incident's value after it takes ``raw_event`` (the decoded JSON object, not an
    ``updated``: that is a note; None when only what was sent for it changed), with the ids of
    the records that stand for it, and while it is held (no ``opened``) the detector clock when
    it took the event (``"t"``, ``touched_ms``: its retention runs from there). An incident that
    starts again after it was dropped or forgotten keeps the offset of that (``"after"``): a
    note at or below it was the earlier one's."""
    value: Value = {"p": partition, "o": offset}
    if touched_ms is not None:
        value["t"] = touched_ms
    if previous is None or "events" not in previous:
        events = []
        if previous is not None:  # forgotten or dropped: this is a new incident of its id
            value["after"] = previous["o"]
    else:
        events = previous["events"]
        if "after" in previous:
            value["after"] = previous["after"]
    if raw_event is not None:
        events = [*events, stored_event(raw_event)]
    value["events"] = events
    value["sent"] = list(sent)
    return value


def note_key(incident_id: str, event_id: str) -> str:
    """The notes table's key of an ``updated`` event (a JSON array, as ``request_key``: no
    pair of ids makes the key of another)."""
    return orjson.dumps([incident_id, event_id]).decode()


def note_value(partition: int, offset: int, at_ms: int, touched_ms: int | None = None) -> Value:
    """The value of a note: the ``updated`` event's ``at``, with the input offset that wrote
    it (its id and size come from the key, ``core.incidents.note_size``), and, of a held
    incident, the detector clock when it came (``"t"``, as ``incident_value``)."""
    value = {"p": partition, "o": offset, "at": at_ms}
    if touched_ms is not None:
        value["t"] = touched_ms
    return value


def forgotten_value(partition: int, offset: int, at_ms: int) -> Value:
    """The value of an incident forgotten at ``at_ms`` (its later events are late)."""
    return {"p": partition, "o": offset, "forgotten": at_ms}


def service_value(partition: int, offset: int, snapshot: dict[str, Any]) -> Value:
    """The value of a service: its snapshot, with the input offset that wrote it."""
    return {"p": partition, "o": offset, "snap": snapshot}


def request_key(service: str, fold: tuple[str, ...] = ()) -> str:
    """The requests table's key of a service (``fold`` empty) or of one of its folds."""
    return orjson.dumps([service, *fold]).decode()


def request_value(partition: int, offset: int, data: dict[str, Any]) -> Value:
    """A value of the requests table: a service's (``data`` has ``ids``; ``offset``: its last
    request count) or one of its folds' (``fold``: its snapshot; ``offset``: the last count the
    fold took)."""
    return {"p": partition, "o": offset, **data}


def rebuild(policies: PolicySet, clock_ms: int | None, incidents: Iterable[tuple[str, Value]],
            services: Iterable[tuple[str, Value]], retention_ms: int = DEFAULT_RETENTION_MS,
            follow_events: bool = True, clock_limit_ms: int | None = None,
            requests: Iterable[tuple[str, Value]] = (),
            notes: Iterable[tuple[str, Value]] = ()) -> tuple[Detector, list[Record]]:
    """A detector holding the state these values describe, at the clock ``clock_ms`` (or, when
    ``follow_events``, the latest instant they hold), and the records it has to publish: those
    due by then that the values do not show as sent (fired after the last write, or lost in a
    crash). Live (``follow_events`` False) the clock is ``clock_ms`` alone: the latest event
    time of one input says nothing of the others (SPEC section 6, the watermark). The clock a
    service's projection reached is taken up to ``clock_limit_ms`` (live: the wall clock plus
    ``max_future``), as the saved clock is.

    ``notes`` (``note_key`` -> ``note_value``) go to their incidents, a held one's too (it may
    have no value: only notes). Notes left behind by a crash that kept an incident's forgotten
    or dropped value and lost their deletion are not restored, and are deleted at the
    partition's next step (``Detector.released_notes``)."""
    det = Detector(policies, retention_ms, follow_events=follow_events)
    det.released_notes = {}
    noted = _notes_by_incident(notes)
    loaded, forgotten = [], []
    latest = NEVER_MS if clock_ms is None else clock_ms
    for incident_id, value in incidents:
        taken = noted.pop(incident_id, [])
        # a note at or below the offset of a forgetting or a drop was the incident's let go
        # then (its id starts anew: after a drop at once, after a forgetting once it expired)
        gone = value["o"] if "events" not in value else value.get("after", -1)
        kept = [note for note in taken if note[2] > gone]
        _stale(det, incident_id, [note for note in taken if note[2] <= gone])
        if "forgotten" in value and not kept:
            forgotten.append((value["forgotten"], incident_id))
            continue
        objs = value.get("events") or ()
        if not (objs or kept):
            continue  # a held incident let go after retention: nothing to rebuild
        events = [incident_event(obj) for obj in objs]
        loaded.append((incident_id, events, value.get("sent", ()), kept, value.get("t")))
    loaded += [(incident_id, [], (), kept, None) for incident_id, kept in noted.items()]
    if follow_events:
        for _, events, _, kept, _ in loaded:
            latest = max([latest, *(ev.at for ev in events), *(at for _, at, _, _ in kept)])
    snaps = [(name, value["snap"]) for name, value in services]
    if follow_events:
        latest = max([latest, *(snap["last_at"] for _, snap in snaps)])
    # the clock that projected a service was there when its value was written (a saved clock
    # lags): starting below it would withdraw what that projection fired, to fire it again
    limit = END_INSTANT_MS if clock_limit_ms is None else clock_limit_ms
    reached = [fold.get("projected_to") for _, snap in snaps for fold in snap["folds"]]
    latest = max([latest, *(t for t in reached if t is not None and t <= limit)])
    det.now_ms = latest
    out: list[Record] = []
    for incident_id, events, sent, kept, touched in loaded:
        # a held incident was last touched when its latest value or note was written
        touches = [t for t in (touched, *(t for _, _, _, t in kept)) if t is not None]
        out += det.restore_incident(incident_id, events, sent,
                                    [(event_id, at_ms) for event_id, at_ms, _, _ in kept],
                                    max(touches) if touches else None)
    for at_ms, incident_id in sorted(forgotten):
        det.remember_forgotten(incident_id, at_ms)
    for name, snap in snaps:
        out += det.services.restore(name, snap, latest)
    out += _restore_requests(det, requests)
    out += det.advance(latest)
    for incident_id in det.evicted:  # its value stays as it was: so do its notes
        det.released_notes.pop(incident_id, None)
    det.evicted.clear()
    return det, out


#: A note as a rebuild reads it: (event_id, at_ms, offset, touched_ms or None)
_Note = tuple[str, int, int, "int | None"]


def _notes_by_incident(notes: Iterable[tuple[str, Value]]) -> dict[str, list[_Note]]:
    """The notes of each incident, by incident id."""
    noted: dict[str, list[_Note]] = {}
    for key, value in notes:
        incident_id, event_id = orjson.loads(key)
        noted.setdefault(incident_id, []).append(
            (event_id, value["at"], value["o"], value.get("t")))
    return noted


def _stale(det: Detector, incident_id: str, notes: list[_Note]) -> None:
    """Notes whose incident was forgotten or dropped: to be deleted, never restored."""
    if notes:
        assert det.released_notes is not None
        det.released_notes.setdefault(incident_id, []).extend(note[0] for note in notes)


def _restore_requests(det: Detector, values: Iterable[tuple[str, Value]]) -> list[Record]:
    """The request objectives of each service whose values these are (``request_key``: a
    service's own value, or one of its folds')."""
    own: dict[str, Value] = {}
    folds: dict[str, dict[Any, Any]] = {}
    for key, value in values:
        service, *fid = orjson.loads(key)
        if fid:
            folds.setdefault(service, {})[tuple(fid)] = value["fold"]
        else:
            own[service] = value
    out: list[Record] = []
    for name in sorted(own.keys() | folds.keys()):
        out += det.requests.restore(name, own.get(name), folds.get(name, {}))
    return out


#: (table: "incidents" | "notes" | "services" | "requests" | "clocks", key, value); the value
#: None deletes the key (a tombstone in the changelog)
Write = tuple[str, str, Value | None]


class Step(NamedTuple):
    """What one step of a partition did: records to publish, values to write, and the error
    that made the input change nothing (None when it was applied)."""

    records: list[Record]
    writes: list[Write]
    error: InvalidEvent | None


def written_first(rec: Record) -> bool:
    """True for a service's record (an alert or its retraction): the clock may have fired it
    at a position no other worker reaches the same way, so the service's table value that
    names it is its only durable trace, and must reach the changelog before the record
    reaches its topic. (An incident's record comes again from its events and deadlines.)"""
    return "service" in rec and "incident_id" not in rec and "reason" not in rec


class Holding:
    """What a partition rebuilt at a saved clock publishes while its new owner reads again what
    the last owner had read: nothing but dead letters, until the inputs reach the ends they had
    at the takeover (``until``, set by the shell); then the latest record of each ``alert_id``.

    The saved clock was written after inputs whose own writes a crash may have lost (each
    changelog partition is sent on its own), so until those inputs are read again the clock is
    ahead of the state: it fires the breach of an incident whose resolution is being read
    again, which that resolution then withdraws. Held, the breach and its withdrawal collapse
    into the withdrawal; a page never goes out. A retraction is always released: the last owner
    may have published what it withdraws (a retraction of a record that never went out
    changes nothing for a consumer of the compacted topic)."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.until: dict[Any, int] | None = None  # input partition -> its end at the takeover

    def take(self, records: list[Record]) -> list[Record]:
        """Hold ``records``, the latest per ``alert_id`` in the order first held; the dead
        letters, which no clock fires, pass."""
        passing = []
        for rec in records:
            if "reason" in rec:
                passing.append(rec)
            else:
                self.records[rec["alert_id"]] = rec
        return passing

    def release(self) -> list[Record]:
        out = list(self.records.values())
        self.records.clear()
        return out


class Partition:
    """One input partition's detector and the table values its steps change.

    Every step returns the records to publish and the values to write; the caller (the Faust
    agent, or a test) does the I/O. ``lookup(table, key)`` reads a value back, and
    ``offset_of(table, key)`` its input offset (``"o"``), which is all most steps read of it
    (the worker's store keeps values encoded: it reads the offset without decoding the rest).
    """

    def __init__(self, det: Detector, number: int,
                 lookup: Callable[[str, str], Value | None],
                 offset_of: Callable[[str, str], int | None] | None = None) -> None:
        self.det = det
        if det.released_notes is None:
            det.released_notes = {}  # the notes of what it lets go are deleted (``_evictions``)
        self.number = number
        self.lookup = lookup
        self.offset_of = offset_of or (lambda table, key: _offset(lookup(table, key)))
        self.resent: set[tuple[str, str]] = set()
        #: the greatest ``at`` applied from each input ("incidents", "services"): the watermark
        self.applied: dict[str, int] = {}
        #: the offset of the heartbeat each service took last here: its value's ``o`` even
        #: while the write that carries it is not in the store yet (the same step)
        self.service_offsets: dict[str, int] = {}
        #: the same, of the last request count each request fold took, by its table key
        self.fold_offsets: dict[str, int] = {}
        #: rebuilt at a saved clock: what it publishes until it has read its inputs again
        self.holding: Holding | None = None

    def begin_batch(self, keep: bool = False) -> None:
        """The shell's next records come in one batch, whose values it writes before it sends
        the batch's records (``RequestBook.begin_batch``; ``keep``: the batch began before
        this partition was rebuilt)."""
        self.det.requests.begin_batch(keep)

    def incident(self, offset: int, raw: Any, ev: IncidentEvent) -> Step:
        """Apply one decoded incident event (``raw``: its JSON object) read at ``offset``."""
        det, iid = self.det, ev.incident_id
        if ev.type == UPDATED:
            return self._note(offset, ev)
        return self._apply("incidents", iid, offset, ev, lambda: incident_value(
            self.number, offset, self.lookup("incidents", iid), raw,
            det.incidents[iid].published, _touched(det, iid)))

    def _note(self, offset: int, ev: IncidentEvent) -> Step:
        """Apply an ``updated`` event: its note is its one write, the incident's value is left
        as it is (the event changes no clock, publishes nothing)."""
        iid = ev.incident_id
        key = note_key(iid, ev.event_id)
        if self._noted(key, offset, ev):
            return self._again("incidents", iid)
        try:
            out = self.det.on_event(ev)
        except InvalidEvent as exc:
            return Step([], self._evictions(offset), exc)
        if ev.at > self.applied.get("incidents", NEVER_MS):
            self.applied["incidents"] = ev.at
        writes = self._evictions(offset)
        writes.append(("notes", key, note_value(self.number, offset, ev.at,
                                                _touched(self.det, iid))))
        return Step(out, writes, None)

    def _noted(self, key: str, offset: int, ev: IncidentEvent) -> bool:
        """True when the ``updated`` event read at ``offset`` was taken already (delivered
        again): its note is this input's or a later one's, or the incident's value is, and the
        value is not one from which the note was lost in a crash (the note and the value are
        separate changelog records: a crash can keep the value and lose the note, and then the
        event is taken again). A value of an incident forgotten or dropped since, or one
        written before notes (its ``updated`` events inside), holds the event if its offset
        says so, as every value does."""
        noted = self.offset_of("notes", key)
        if noted is not None and noted >= offset:
            return True
        written = self.offset_of("incidents", ev.incident_id)
        if written is None or written < offset:
            return False
        value = self.lookup("incidents", ev.incident_id)
        assert value is not None
        if "events" not in value or offset <= value.get("after", -1):
            return True  # forgotten or dropped since, or the dropped incident's event
        inc = self.det.incidents.get(ev.incident_id)
        return inc is not None and ev.event_id in inc.event_ids

    def heartbeat(self, offset: int, hb: Heartbeat) -> Step:
        """Apply one decoded heartbeat read at ``offset``."""
        return self._apply("services", hb.service, offset, hb, lambda: service_value(
            self.number, offset, self._snapshot(hb.service)))

    def request(self, offset: int, rec: RequestCount) -> Step:
        """Apply one decoded request count read at ``offset``: the service's value, and one
        per objective fold it changed, each with the offset of the last record it took.

        The values of one step are separate changelog records, so a crash can keep some and
        lose the rest: a record delivered again goes to the folds whose value is older than
        it (none: it is skipped, ``_again``), and is refused as a duplicate or late only if
        the service's value is older too."""
        det, book, service = self.det, self.det.requests, rec.service
        key = request_key(service)
        fids = book.fold_ids(service)
        done = frozenset(fid for fid in fids if self._fold_offset(service, fid) >= offset)
        written = self.offset_of("requests", key)
        again = written is not None and written >= offset
        if again and len(done) == len(fids):
            return self._again("requests", key)
        if not again:
            refused = book.refusal(rec, det.now_ms)
            if refused is not None:
                return Step([], self._evictions(offset), refused)
        out = book.take(rec, det.now_ms, done)
        if rec.at > self.applied.get("requests", NEVER_MS):
            self.applied["requests"] = rec.at
        writes = self._evictions(offset)
        if not again:
            writes.append(("requests", key, request_value(self.number, offset,
                                                          book.service_data(service))))
        writes += self._fold_writes(offset)
        return Step(out, writes, None)

    def _fold_offset(self, service: str, fid: tuple[str, ...]) -> int:
        """The offset of the last request count the fold took (-1: none)."""
        key = request_key(service, fid)
        found = self.fold_offsets.get(key)
        if found is None:
            written = self.offset_of("requests", key)
            found = -1 if written is None else written
        return found

    def _fold_writes(self, taken: int | None = None) -> list[Write]:
        """The values of the request folds changed since the last step: with the offset of
        the record they ``taken`` in it, else of the last one they took."""
        writes: list[Write] = []
        for service, fid, snap in self.det.requests.changed():
            key = request_key(service, fid)
            offset = self._fold_offset(service, fid) if taken is None else taken
            self.fold_offsets[key] = offset
            writes.append(("requests", key, request_value(self.number, offset, {"fold": snap})))
        return writes

    def _snapshot(self, name: str) -> dict[str, Any]:
        snap = self.det.services.snapshot(name)
        assert snap is not None, f"service {name!r} took a heartbeat but has no state"
        return snap

    def _apply(self, table: str, key: str, offset: int, event: IncidentEvent | Heartbeat,
               value: Callable[[], Value]) -> Step:
        """One input for ``key``: skipped if its value was written by this input or a later one
        (delivered again), else fire what falls due before ``at``, apply it, write its value
        (``value()``, once the event is applied)."""
        written = self.offset_of(table, key)
        if written is not None and written >= offset:
            return self._again(table, key)
        # an input that is refused (a duplicate, a late one) moves nothing, the clock neither
        try:
            out = self.det.on_event(event)
        except InvalidEvent as exc:
            return Step([], self._evictions(offset), exc)
        at = event.at
        if at > self.applied.get(table, NEVER_MS):
            self.applied[table] = at
        writes = self._evictions(offset)
        writes.append((table, key, value()))
        if table == "services":
            self.service_offsets[key] = offset
        return Step(out, writes, None)

    def advance(self, now_ms: int) -> Step:
        """Move the partition's detector clock to ``now_ms`` and fire what is due.

        The value of each service that fired is written again (same input offset) with what
        its projection published: a new owner that rebuilds it at an older clock publishes
        those records again (they may not have reached their topic) and retracts them if the
        heartbeats it reads next withdraw them, instead of leaving a page standing that it
        never saw. (An incident's clock-fired records need no write: an in-order event never
        withdraws them, and a rebuild fires them again when its clock gets there.)"""
        det = self.det
        out = det.advance(now_ms)
        if not (out or det.evicted or det.dropped or det.released_notes
                or det.requests.has_changes()):
            return Step(out, [], None)  # the common case: the clock moved, nothing fired
        writes = self._evictions(-1)
        fired = {rec["service"] for rec in out if written_first(rec) and "objective" not in rec}
        for name in sorted(fired):
            offset = self.service_offsets.get(name)
            if offset is None:
                offset = self.offset_of("services", name)
            snap = det.services.snapshot(name)
            if offset is not None and snap is not None:
                writes.append(("services", name, service_value(self.number, offset, snap)))
        writes += self._fold_writes()
        return Step(out, writes, None)

    def _again(self, table: str, key: str) -> Step:
        """An input delivered again around a restart: its effect is in the value already, but
        the records it produced may not have reached their topics (a crash can lose a send but
        not the table write made next to it). So the key's records are published again, the
        first time one of its inputs comes back after the rebuild: identical, never lost."""
        if (table, key) in self.resent:
            return Step([], [], None)
        self.resent.add((table, key))
        det = self.det
        if table == "incidents":
            again = det.republish(key)
        elif table == "services":
            again = det.services.republish(key)
        else:
            again = det.requests.republish(orjson.loads(key)[0])
        return Step(again, [], None)

    def _evictions(self, offset: int) -> list[Write]:
        """The incidents forgotten after retention (their values become tombstones of sorts),
        and the held ones (no ``opened``) let go after it, which are not forgotten: a later
        ``opened`` starts them anew. Their notes are deleted. The value of each carries the
        latest offset of its inputs, its notes' included, so an input delivered again after
        that is known as such (``_noted``)."""
        det = self.det
        released = det.released_notes
        assert released is not None
        writes: list[Write] = []
        for iid in det.evicted:
            writes.append(("incidents", iid, forgotten_value(
                self.number, self._last_offset(iid, released.get(iid, ()), offset),
                det.now_ms)))
        det.evicted.clear()
        for iid in det.dropped:
            writes.append(("incidents", iid, {
                "p": self.number, "o": self._last_offset(iid, released.get(iid, ()), offset),
                "dropped": det.now_ms}))
        det.dropped.clear()
        for iid, ids in released.items():
            writes += [("notes", note_key(iid, eid), None) for eid in ids]
        released.clear()
        return writes

    def _last_offset(self, iid: str, note_ids: Iterable[str], offset: int) -> int:
        """The offset of the last input the incident took: its value's or one of its notes'
        (``offset`` when it has neither)."""
        last = self.offset_of("incidents", iid)
        for eid in note_ids:
            noted = self.offset_of("notes", note_key(iid, eid))
            if noted is not None and (last is None or noted > last):
                last = noted
        return offset if last is None else last


def _offset(value: Value | None) -> int | None:
    return None if value is None else value["o"]


def _touched(det: Detector, incident_id: str) -> int | None:
    """When a held incident was last touched (its retention runs from there); None for one
    that is not held."""
    inc = det.incidents[incident_id]
    return inc.touched_at_ms if inc.held() else None


def partition_clock(now_ms: int, wall_ms: int | None, caught_up: bool,
                    applied: Mapping[str, int], remaining: Iterable[str]) -> int:
    """Where a live partition's detector clock moves (SPEC section 6), from ``now_ms``.

    Caught up with its inputs, the clock is the wall clock. Behind, it is the watermark: the
    least, over the inputs that still have records to read (``remaining``), of the greatest
    ``at`` applied from each (``applied``), less 1 ms (the events of that instant may still
    come); an input read to its end does not hold it back, and one with records left of which
    none was applied yet holds it where it is. Never past the wall clock (``wall_ms`` None: no
    wall clock, as with manual ticks), and never back.
    """
    if caught_up:
        target = wall_ms if wall_ms is not None else now_ms
    else:
        holding = list(remaining) or list(applied)
        if not holding or any(name not in applied for name in holding):
            return now_ms
        target = min(applied[name] for name in holding) - 1
        if wall_ms is not None and target > wall_ms:
            target = wall_ms
    return target if target > now_ms else now_ms
