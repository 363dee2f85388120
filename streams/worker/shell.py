"""What the worker's agent does with each record, apart from Faust: the partitions and their
detectors, decoding, the clock of each partition (``state.partition_clock``), the table writes
and the records to send, the pages' views."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import faust
import orjson
from faust.types import TP

from streams.codec import dead_letter, decode_heartbeat, decode_incident, decode_request, loads
from streams.core.detector import Detector, Record
from streams.core.errors import InvalidEvent, SlawatchError
from streams.core.events import check_future
from streams.core.policy import PolicySet
from streams.core.timefmt import NEVER_MS, format_instant, parse_instant
from streams.settings import Settings
from streams.state import Holding, Partition, Step, Value, Write, partition_clock, rebuild
from streams.status import Status
from streams.topics import HEARTBEATS_TOPIC, INCIDENTS_TOPIC, REQUESTS_TOPIC, TICKS_TOPIC
from streams.worker.fence import Fence, order_of

log = logging.getLogger(__name__)

#: The clock table is written when the clock moved this much: a rebuild from an older clock
#: fires again (identically) what fired since, and never loses it (``state.rebuild``), so a
#: write per tick would only grow the changelog.
CLOCK_SAVE_MS = 5_000
TABLES = ("incidents", "notes", "services", "requests", "clocks")
#: An input partition whose records have not reached the agent for this long, while its ticks
#: do, is read again from what was processed (``Shell._watch``).
STALL_S = 5.0


def stored(value: Any) -> Value | None:
    """A table store's value as a step reads it: the store keeps the bytes of its changelog
    (``app.publish``), or, within the batch that wrote it, the value itself."""
    if type(value) is bytes:
        decoded: Value = orjson.loads(value)  # recovery kept only JSON objects (``latest_only``)
        return decoded
    return value  # type: ignore[no-any-return]


def wall_ms() -> int:
    """The wall clock, in epoch ms (the shells' only reading of it)."""
    return time.time_ns() // 1_000_000


class Shell:
    """What the agent does with each record, apart from Faust: partitions, decoding, clocks."""

    def __init__(self, app: faust.App, settings: Settings, policies: PolicySet) -> None:
        self.app = app
        self.settings = settings
        self.policies = policies
        self.incidents_topic = settings.topic(INCIDENTS_TOPIC)
        self.heartbeats_topic = settings.topic(HEARTBEATS_TOPIC)
        self.requests_topic = settings.topic(REQUESTS_TOPIC)
        #: each input topic and the table its records write (``Partition.applied``'s names)
        self.inputs = ((self.incidents_topic, "incidents"), (self.heartbeats_topic, "services"),
                       (self.requests_topic, "requests"))
        self.ticks_topic = settings.topic(TICKS_TOPIC)
        self.manual = settings.clock == "MANUAL"
        self.parts: dict[int, Partition] = {}
        self.tables: dict[str, Any] = {}
        self.position: dict[TP, int] = {}  # next offset to process, per input partition
        self.saved_clock: dict[int, int] = {}  # the clock last written to the clocks table
        self.manual_now: dict[int, int] = {}  # MANUAL: the latest tick, the partition's "wall"
        self.stalls: dict[TP, tuple[int, float]] = {}  # behind since (read to, monotonic s)
        self.reread: list[tuple[TP, int]] = []  # input partitions to seek (``_watch``)
        self.status = Status()
        #: while a batch is processed, the input partitions' high watermarks read in it: the
        #: fetch that brought the batch set them, and each record asks (``_behind``)
        self._highwaters: dict[TP, int | None] | None = None
        self._input_tps: dict[int, list[tuple[TP, str]]] = {}  # (input partition, table)
        #: while a batch is processed, the store's values it decoded (``_lookup``): the store
        #: changes within a batch only by the values the batch writes, which it reads first
        self._decoded: dict[tuple[str, str], Value | None] | None = None
        self.fence = Fence(app, app.conf.broker_session_timeout,
                           app.conf.broker_heartbeat_interval, self.incidents_topic)

    # -- partitions

    def forget(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self.parts.pop(tp.partition, None)
            self.saved_clock.pop(tp.partition, None)
            self.manual_now.pop(tp.partition, None)
            self.fence.forget(tp.partition)
            self.position.pop(tp, None)
            self.stalls.pop(tp, None)

    def partition(self, number: int) -> tuple[Partition, list[Record]]:
        """The partition's detector, rebuilt from the tables when it has none (after a
        rebalance), and what the rebuild found to publish. The memory store may keep keys of
        partitions owned before: the partition stored in each value tells them apart."""
        part = self.parts.get(number)
        if part is not None:
            return part, []
        incidents, notes, services, requests = (
            self._values(name, number) for name in TABLES if name != "clocks")
        saved = self._lookup("clocks", str(number))
        clock = None if saved is None else saved["now"]
        limit = wall_ms() + self.settings.max_future_ms
        if clock is not None and clock > limit:
            log.warning("partition %d: the saved clock %s is later than the wall clock plus "
                        "max_future: not trusted, the clock restarts from the events", number,
                        format_instant(clock))
            clock = None
        began = time.perf_counter()
        det, records = rebuild(
            self.policies, clock, incidents, services, self.settings.retention_ms,
            follow_events=False, clock_limit_ms=limit, requests=requests, notes=notes)
        part = self.parts[number] = Partition(det, number, self._lookup, self._offset_of)
        if self._highwaters is not None:  # in a batch: what the rebuild published stays
            part.begin_batch(keep=True)
        if clock is not None:
            part.holding = Holding()
        self.fence.took(number)
        self.saved_clock[number] = det.now_ms
        log.info("partition %d: rebuilt %d incidents, %d services and the requests of %d at "
                 "%s in %.2f s; %d records to publish", number, len(det.incidents),
                 len(det.services.services), len(det.requests.services),
                 format_instant(det.now_ms) if det.now_ms > NEVER_MS else "no clock",
                 time.perf_counter() - began, len(records))
        return part, records

    def _lookup(self, table: str, key: str) -> Value | None:
        """The table's value for ``key``; within a batch a value is decoded once (a step
        reads the incident's value at each of its events, and it can weigh ~1 MB)."""
        value = self.tables[table].data.get(key)
        if type(value) is not bytes:
            return value  # type: ignore[no-any-return]
        cache = self._decoded
        if cache is None:
            return stored(value)
        found = cache.get((table, key))
        if found is None:
            found = cache[table, key] = stored(value)
        return found

    def encode(self, changed: Mapping[tuple[str, str], Value | None]
               ) -> list[tuple[str, str, bytes | None]]:
        """A batch's changed values (by table and key; None: deleted) as their changelogs
        take them, each kept so in the store from now on (``stored``)."""
        out: list[tuple[str, str, bytes | None]] = []
        dumps, tables = orjson.dumps, self.tables
        for (table, key), value in changed.items():
            encoded = None
            if value is not None:
                # a copy of its size: what orjson returns keeps a 4 KiB buffer
                encoded = tables[table].data[key] = memoryview(dumps(value)).tobytes()
            out.append((table, key, encoded))
        return out

    def _offset_of(self, table: str, key: str) -> int | None:
        """The input offset of the table's value for ``key``, read off its encoding."""
        return order_of(self.tables[table].data.get(key))

    def _values(self, table: str, number: int) -> Iterator[tuple[str, Value]]:
        """The values of ``table`` that belong to partition ``number``, decoded. The store
        holds every partition this worker had (the partition in each value tells them apart):
        a value's encoding begins with its partition (``state``: ``"p"`` first), so the others'
        are passed over undecoded."""
        mine = b'{"p":%d,' % number
        for key, value in self.tables[table].data.items():
            if type(value) is bytes:
                if not value.startswith(mine) and value.startswith(b'{"p":'):
                    continue
                value = stored(value)
            if value["p"] == number:
                yield key, value

    # -- records

    def begin_batch(self, partition: int | None = None) -> None:
        """The records handled until ``end_batch`` came in one fetch (of ``partition``): the
        high watermarks it brought are read once, and the partition keeps what it publishes
        in its values until the next batch (``Partition.begin_batch``)."""
        self._highwaters = {}
        self._decoded = {}
        part = self.parts.get(partition) if partition is not None else None
        if part is not None:
            part.begin_batch()

    def end_batch(self) -> None:
        self._highwaters = None
        self._decoded = None

    def _highwater(self, tp: TP) -> int | None:
        """The fetch high watermark of ``tp``: once per batch (``begin_batch``)."""
        cache = self._highwaters
        if cache is None:
            return self.app.consumer.highwater(tp)
        if tp not in cache:
            cache[tp] = self.app.consumer.highwater(tp)
        return cache[tp]

    def handle(self, topic: str, partition: int, offset: int, key: bytes | None,
               value: bytes | None, timestamp_ms: int | None = None
               ) -> tuple[list[Record], list[Write]]:
        """Process one record of the stream (``timestamp_ms``: its Kafka timestamp): the
        records to send and the values to write."""
        part, records = self.partition(partition)
        if topic == self.ticks_topic:
            started = time.perf_counter()
            step = self._tick(part, value, timestamp_ms)
            self.status.ticked(time.perf_counter() - started)
        else:
            tp = TP(topic, partition)
            if tp not in self.position:
                log.info("%s[%d]: reading from offset %d", topic, partition, offset)
            self.position[tp] = offset + 1
            wall = wall_ms()
            reference = wall if timestamp_ms is None else min(timestamp_ms, wall)
            step = self._input(part, topic, offset, key, value, reference)
            clocked = self._follow(part, wall)  # the watermark may have moved
            if clocked.records or clocked.writes:
                step = Step(step.records + clocked.records, step.writes + clocked.writes,
                            step.error)
        records += step.records
        if step.error is not None:
            records.append(dead_letter(step.error, value or b"", {
                "source_topic": topic, "partition": partition, "offset": offset}))
        if part.holding is not None:
            records = self._hold(part, part.holding, records)
        self.status.saw(topic, records)
        return records, step.writes

    def _hold(self, part: Partition, holding: Holding, records: list[Record]) -> list[Record]:
        """``records`` held (``state.Holding``) until this worker has read each input partition
        to the end it had when first seen here after the rebuild; then what the hold kept."""
        out = holding.take(records)
        inputs = [TP(topic, part.number) for topic, _ in self.inputs]
        if holding.until is None:
            ends = {tp: self.app.consumer.highwater(tp) for tp in inputs}
            if any(end is None for end in ends.values()):
                return out  # not fetched yet: the ends at the takeover are not known
            holding.until = ends
        if all(self._read_to(tp) >= end for tp, end in holding.until.items()):
            held = holding.release()
            part.holding = None
            log.info("partition %d: read again to %s; %d held records published", part.number,
                     {tp.topic: end for tp, end in holding.until.items()}, len(held))
            out += held
        return out

    def _read_to(self, tp: TP) -> int:
        """The offset up to which this worker has the input partition's records: processed, or
        committed by whoever had it."""
        committed = self.app.consumer._committed_offset.get(tp) or 0  # type: ignore[attr-defined]
        return max(self.position.get(tp, 0), committed)

    def _input(self, part: Partition, topic: str, offset: int, key: bytes | None,
               value: bytes | None, reference_ms: int) -> Step:
        max_future_ms = self.settings.max_future_ms
        try:
            if topic == self.incidents_topic:
                obj, ev = decode_incident(value)
                self._check_key(key, ev.incident_id, "incident_id")
                check_future(ev.at, reference_ms, max_future_ms)
                return part.incident(offset, obj, ev)
            if topic == self.requests_topic:
                rec = decode_request(value)
                self._check_key(key, rec.service, "service")
                check_future(rec.at, reference_ms, max_future_ms)
                return part.request(offset, rec)
            hb = decode_heartbeat(value)
            self._check_key(key, hb.service, "service")
            check_future(hb.at, reference_ms, max_future_ms)
            return part.heartbeat(offset, hb)
        except InvalidEvent as exc:
            return Step([], [], exc)

    def _check_key(self, key: bytes | None, value: str, field: str) -> None:
        """Every event of an incident (or heartbeat of a service) must reach one partition,
        which only its key guarantees (SPEC section 2)."""
        if self.settings.partitions > 1 and key != value.encode():
            shown = "no key" if key is None else f"key {key.decode(errors='replace')!r}"
            msg = (
                f"{shown}, but {field} is {value!r}: the record key must be the "
                f"{field}, so that all its records reach the same partition"
            )
            raise InvalidEvent(msg,
                               "wrong_key")

    # -- the clock

    def _tick(self, part: Partition, value: bytes | None, sent_ms: int | None = None) -> Step:
        """Move the partition's clock (``state.partition_clock``): to the tick's instant when
        its inputs are caught up, else to the watermark of its inputs, never past the wall
        clock (a tick from a worker whose clock runs ahead moves it no further than ours).
        ``sent_ms``, the tick's Kafka timestamp: caught up is judged by high watermarks
        fetched after it (``caught_up``)."""
        try:
            now = parse_instant(loads(value)["now"])
        except (SlawatchError, KeyError, TypeError):
            log.warning("tick %r ignored: expected {\"now\": <instant>}", value)
            return Step([], [], None)
        number = part.number
        self._watch(number)
        if self.manual:
            self.manual_now[number] = max(now, self.manual_now.get(number, now))
            wall = self.manual_now[number]
        else:
            wall = min(now, wall_ms())
        return self._follow(part, wall, self.caught_up(number, sent_ms))

    def _follow(self, part: Partition, wall_ms: int, caught_up: bool = False) -> Step:
        """Advance the partition's clock as far as ``partition_clock`` lets it; the clocks
        table is written when it moved ``CLOCK_SAVE_MS`` since the last write."""
        det, number = part.det, part.number
        if self.manual:
            wall: int | None = self.manual_now.get(number)
        else:
            wall = wall_ms
        target = partition_clock(det.now_ms, wall, caught_up, part.applied,
                                 self._remaining(number))
        if target <= det.now_ms:
            return Step([], [], None)
        step = part.advance(target)
        if det.now_ms >= self.saved_clock.get(number, NEVER_MS) + CLOCK_SAVE_MS:
            self.saved_clock[number] = det.now_ms
            step.writes.append(("clocks", str(number), {"p": number, "now": det.now_ms}))
        return step

    def _watch(self, partition: int, now_s: float | None = None) -> None:
        """Ask for the input partitions of ``partition`` to be read again (``reread``) from the
        offset processed so far, when they have had records this worker has not received for
        ``STALL_S`` while the partition's ticks came through.

        After a takeover Faust now and then delivered none of a taken partition's input, for
        good: a SIGKILL test's survivor processed its ticks for two minutes, never one record
        of the two partitions it took, so they published nothing (seen on the embedded broker,
        several runs in ten under load). Faust's fetch loop drops the records of a partition
        it holds paused, which aiokafka fetched all the same (``batches.skipped``): when they
        were all the partition had, no later batch shows the hole, and this finds it. A seek
        to what was processed is always safe: what comes twice is skipped by the offset each
        table value carries."""
        now_s = time.monotonic() if now_s is None else now_s
        for topic, _ in self.inputs:
            tp = TP(topic, partition)
            highwater, read_to = self._highwater(tp), self._read_to(tp)
            if highwater is not None and read_to >= highwater:
                self.stalls.pop(tp, None)
                continue
            since = self.stalls.get(tp)
            if since is None or since[0] != read_to:
                self.stalls[tp] = (read_to, now_s)
            elif now_s - since[1] >= STALL_S:
                log.warning("%s[%d]: no record received for %.0f s, %s; read again from "
                            "offset %d", topic, partition, now_s - since[1],
                            "never fetched" if highwater is None else
                            f"the broker has up to {highwater}", read_to)
                self.stalls[tp] = (read_to, now_s)
                self.reread.append((tp, read_to))

    def _remaining(self, partition: int) -> list[str]:
        """The inputs (by table: "incidents", "services", "requests") of the partition with
        records left to read."""
        tps = self._input_tps.get(partition)
        if tps is None:
            tps = self._input_tps[partition] = [(TP(topic, partition), table)
                                                for topic, table in self.inputs]
        return [table for tp, table in tps if self._behind(tp)]

    def _behind(self, tp: TP, since_ms: int | None = None) -> bool:
        """True while the input partition has records that this worker has not processed
        (judged by the fetch high watermark, never ListOffsets: see ENGINE-NOTES), or, with
        ``since_ms``, while its high watermark was last fetched before then."""
        highwater = self._highwater(tp)
        if highwater is None or self._read_to(tp) < highwater:
            return True
        if since_ms is None:
            return False
        polled = self._polled_ms(tp)
        return polled is not None and polled < since_ms

    def _polled_ms(self, tp: TP) -> int | None:
        """When aiokafka last took the partition's high watermark from a fetch response
        (``last_poll_timestamp``, this machine's clock); None where it cannot tell."""
        try:
            consumer = self.app.consumer._thread._ensure_consumer()  # type: ignore[attr-defined]
            return consumer.last_poll_timestamp(tp)  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 - not an aiokafka consumer (tests), or not assigned
            return None

    def caught_up(self, partition: int, since_ms: int | None = None) -> bool:
        """True when this worker has processed every input record of the partition that the
        broker has (the fetch high watermark, never ListOffsets: see ENGINE-NOTES); with
        ``since_ms`` (a tick's timestamp), by high watermarks fetched since then. A partition
        left out of the fetches a while (its records still buffered, or paused by Faust's flow
        control) keeps an old high watermark: read to it, a worker took itself for caught up
        and let a tick move the clock past records it had not read (measured on Kafka: a tick
        one day ahead at offset 400 of 633 fired 683 alerts that the next records withdrew)."""
        return not any(self._behind(TP(topic, partition), since_ms) for topic, _ in self.inputs)

    # -- what the web server shows

    def detectors(self) -> dict[int, Detector]:
        return {number: part.det for number, part in sorted(self.parts.items())}

    def metrics(self) -> str:
        wall = wall_ms()
        dets = self.detectors()
        return self.status.prometheus({n: (d.now_ms, wall) for n, d in dets.items()},
                                      {n: len(d.incidents) for n, d in dets.items()})

    def health(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 200 while the detect agent and Faust's fetcher (where batched
        delivery runs) run, 503 when either has stopped."""
        app = self.app
        agent = app.agents.get("slawatch.detect")
        actors = list(getattr(agent, "_actors", ()))
        # Faust replaces a crashed actor with a new one (its supervisor): the agent runs while
        # one of its actors does, whatever crashed before
        running = any(not a.crashed and not a.should_stop for a in actors)
        # batched delivery runs in Faust's fetcher, not the agent: it must not have crashed
        fetcher = getattr(app, "_fetcher", None)
        running = running and not getattr(fetcher, "crashed", False)
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        body = {"status": "ok" if running else "stopped", "agent_running": running,
                "recovered": recovered, "rebalancing": bool(app.rebalancing),
                "partitions": self.owned() if running else [],
                "caught_up": {str(n): self.caught_up(n) for n in self.parts},
                "clocks": {str(n): format_instant(p.det.now_ms) for n, p in self.parts.items()
                           if p.det.now_ms > NEVER_MS}}
        return (200 if running else 503), body

    def owned(self) -> list[int]:
        return sorted(tp.partition for tp in self.app.consumer.assignment()
                      if tp.topic == self.incidents_topic)
