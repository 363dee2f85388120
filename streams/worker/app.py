"""The Faust worker: agents, tables and the ticker around the pure detector.

    app = create_app(settings, policies, embedded=True)   # no module-level app
    run_worker(app)                                         # until SIGINT/SIGTERM

One agent (``slawatch.detect``, concurrency 1) reads the incident events, the heartbeats and the
ticks of a partition as one stream. Each partition has its own detector (``state.Partition``),
rebuilt lazily from the tables after every rebalance, so all state is written in stream context
on the partition's owner and comes back from the changelogs.

- An input record is decoded, applied, its table values written, and the records it produces
  sent (keyed by ``alert_id``); a bad one becomes a dead letter, never an exception.
- A timer on every worker produces a tick per owned partition to ``<prefix>.ticks`` (the same
  partition number). The tick moves that partition's detector clock: to the wall clock when the
  partition's inputs are caught up, else only to event time (SPEC section 6), so a backlog never
  pages with an alert that its next events would retract. With ``clock=MANUAL`` nothing ticks but
  what a user (or a test) produces to the ticks topic: ``{"now": <instant>}``.
- Records are delivered again around restarts and rebalances: each table value carries the offset
  of the input that wrote it last, and an input at or below it is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from typing import Any

import faust
import orjson
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP

from streams.broker import EMBEDDED_FAUST_SETTINGS
from streams.codec import dead_letter, decode_heartbeat, decode_incident, loads, topic_of
from streams.core.detector import Detector, Record
from streams.core.errors import InvalidEvent, SlawatchError
from streams.core.events import check_future
from streams.core.policy import PolicySet
from streams.core.timefmt import NEVER_MS, format_instant, parse_instant
from streams.settings import Settings
from streams.state import Partition, Step, Write, partition_clock, rebuild, written_first
from streams.status import Status, incidents_view, services_view
from streams.topics import HEARTBEATS_TOPIC, INCIDENTS_TOPIC, OUTPUT_TOPICS, TICKS_TOPIC
from streams.worker.fence import Fence
from streams.worker.recovery import LatestTable, SafeTableManager

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 0.25
#: The clock table is written when the clock moved this much: a rebuild from an older clock
#: fires again (identically) what fired since, and never loses it (``state.rebuild``), so a
#: write per tick would only grow the changelog.
CLOCK_SAVE_MS = 5_000
#: How long a fetch may wait on the broker for records. Faust hard-codes 1.5 s; Kafka answers a
#: fetch as soon as records arrive, but the embedded broker holds it for the whole wait, which
#: would set the alert latency. 20 ms there; 500 ms on Kafka (idle polling only).
FETCH_MAX_WAIT_MS = {True: 20, False: 500}
TABLES = ("incidents", "services", "clocks")
#: Kafka's default limit of a record batch (``message.max.bytes``, ``max.request.size``): no
#: record slawatch writes comes near it, and one that would is never sent.
MAX_RECORD_BYTES = 1_000_000
TABLE_HELP = {
    "incidents": "incident id -> the events applied to it and the ids of its standing records",
    "services": "service -> its availability state at its last heartbeat",
    "clocks": "partition -> the detector clock",
}


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


# ----------------------------------------------------------------------------- the transport


def _transport(wait_ms: int, true_highwaters: bool) -> type[aiokafka_driver.Transport]:
    """Faust's aiokafka transport with its consumer's fetch wait set to ``wait_ms``; with
    ``true_highwaters``, the end offsets that table recovery reads come from Fetch.

    The embedded broker answers ListOffsets(latest) with the base offset of the last record
    batch + 1 (ENGINE-NOTES, defect 1): recovery would stop before the last batch of each
    changelog and lose updates. The high watermark of a Fetch response is right, so a
    throwaway consumer fetches each partition from its reported end and reads it there. With it
    the producer batches as usual instead of sending one record per request.

    Faust seeks its input partitions to their committed offsets after every rebalance, also to
    rewind past records it fetched and then dropped (a batch cut short while the flow stopped);
    aiokafka's ``seek_to_committed`` leaves a partition with no committed offset where it was.
    An input partition taken over from a worker that had not committed yet (paused or killed
    in its first seconds) was then read from its end: the records before were never processed
    (measured on Kafka: 165 incident events and 1,381 heartbeats of one partition). Such a
    partition goes back to its beginning, the ``auto_offset_reset=earliest`` it was assigned
    with.
    """

    class _ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = wait_ms  # read when the consumer starts its fetcher
            return consumer

        async def seek_to_committed(self) -> Mapping[TP, int]:
            return await self.call_thread(self._seek_to_committed)  # type: ignore[no-any-return]

        async def _seek_to_committed(self) -> Mapping[Any, int | None]:
            return await seek_to_committed(self._ensure_consumer(),
                                           self.app.tables.changelog_topics)

        async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
            reported = await super()._highwaters(partitions)
            if not true_highwaters or not partitions:
                return reported
            return await _fetch_highwaters(self._ensure_consumer(), reported)

    class _Consumer(aiokafka_driver.Consumer):
        def _new_consumer_thread(self) -> aiokafka_driver.AIOKafkaConsumerThread:
            return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class _Transport(aiokafka_driver.Transport):
        Consumer = _Consumer

    return _Transport


async def seek_to_committed(consumer: Any, changelog_topics: Collection[str]
                            ) -> Mapping[Any, int | None]:
    """``consumer.seek_to_committed()`` (aiokafka), and every input partition with no committed
    offset back to its beginning (``_transport``); the committed offsets."""
    committed: Mapping[Any, int | None] = await consumer.seek_to_committed()
    fresh = [tp for tp, offset in committed.items()
             if not offset and tp.topic not in changelog_topics]
    if fresh:
        await consumer.seek_to_beginning(*fresh)
    return committed


async def _fetch_highwaters(consumer: Any, reported: Mapping[TP, int],
                            timeout_s: float = 10.0) -> dict[TP, int]:
    """The high watermark of each partition as a Fetch from its ``reported`` end gives it."""
    import aiokafka  # type: ignore[import-untyped]

    probe = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=consumer._client._bootstrap_servers, enable_auto_commit=False,
        fetch_max_wait_ms=10, request_timeout_ms=int(timeout_s * 1000))
    await probe.start()
    try:
        tps = [aiokafka.TopicPartition(tp.topic, tp.partition) for tp in reported]
        probe.assign(tps)
        for tp in tps:
            probe.seek(tp, max(reported[TP(tp.topic, tp.partition)] - 1, 0))
        deadline = time.monotonic() + timeout_s
        while any(probe.highwater(tp) is None for tp in tps):
            if time.monotonic() > deadline:
                msg = f"no high watermark for {tps} in {timeout_s} s"
                raise RuntimeError(msg)
            await probe.getmany(timeout_ms=100)
        return {TP(tp.topic, tp.partition): max(probe.highwater(tp), reported[TP(tp.topic,
                tp.partition)]) for tp in tps}
    finally:
        await probe.stop()


class _App(faust.App):
    fetch_max_wait_ms = 500
    true_highwaters = False

    def _new_transport(self) -> Any:
        transport_class = _transport(self.fetch_max_wait_ms, self.true_highwaters)
        return transport_class(self.conf.broker_consumer, self)


# ----------------------------------------------------------------------------- the shell


class Shell:
    """What the agent does with each record, apart from Faust: partitions, decoding, clocks."""

    def __init__(self, app: faust.App, settings: Settings, policies: PolicySet) -> None:
        self.app = app
        self.settings = settings
        self.policies = policies
        self.incidents_topic = settings.topic(INCIDENTS_TOPIC)
        self.heartbeats_topic = settings.topic(HEARTBEATS_TOPIC)
        self.ticks_topic = settings.topic(TICKS_TOPIC)
        self.manual = settings.clock == "MANUAL"
        self.parts: dict[int, Partition] = {}
        self.tables: dict[str, Any] = {}
        self.position: dict[TP, int] = {}  # next offset to process, per input partition
        self.saved_clock: dict[int, int] = {}  # the clock last written to the clocks table
        self.manual_now: dict[int, int] = {}  # MANUAL: the latest tick, the partition's "wall"
        self.status = Status()
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

    def partition(self, number: int) -> tuple[Partition, list[Record]]:
        """The partition's detector, rebuilt from the tables when it has none (after a
        rebalance), and what the rebuild found to publish. The memory store may keep keys of
        partitions owned before: the partition stored in each value tells them apart."""
        part = self.parts.get(number)
        if part is not None:
            return part, []
        incidents, services, clocks = (self.tables[name] for name in TABLES)
        saved = clocks.get(str(number))
        clock = None if saved is None else saved["now"]
        limit = _wall_ms() + self.settings.max_future_ms
        if clock is not None and clock > limit:
            log.warning("partition %d: the saved clock %s is later than the wall clock plus "
                        "max_future: not trusted, the clock restarts from the events", number,
                        format_instant(clock))
            clock = None
        det, records = rebuild(
            self.policies, clock,
            ((k, v) for k, v in incidents.items() if v["p"] == number),
            ((k, v) for k, v in services.items() if v["p"] == number),
            self.settings.retention_ms, follow_events=False, clock_limit_ms=limit)
        part = self.parts[number] = Partition(det, number, self._lookup)
        self.fence.took(number)
        self.saved_clock[number] = det.now_ms
        log.info("partition %d: rebuilt %d incidents and %d services at %s; %d records to "
                 "publish", number, len(det.incidents), len(det.services.services),
                 format_instant(det.now_ms) if det.now_ms > NEVER_MS else "no clock", len(records))
        return part, records

    def _lookup(self, table: str, key: str) -> Any:
        return self.tables[table].data.get(key)

    # -- records

    def handle(self, topic: str, partition: int, offset: int, key: bytes | None,
               value: bytes | None, timestamp_ms: int | None = None
               ) -> tuple[list[Record], list[Write]]:
        """Process one record of the stream (``timestamp_ms``: its Kafka timestamp): the
        records to send and the values to write."""
        part, records = self.partition(partition)
        if topic == self.ticks_topic:
            started = time.perf_counter()
            step = self._tick(part, value)
            self.status.ticked(time.perf_counter() - started)
        else:
            tp = TP(topic, partition)
            if tp not in self.position:
                log.info("%s[%d]: reading from offset %d", topic, partition, offset)
            self.position[tp] = offset + 1
            wall = _wall_ms()
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
        self.status.saw(topic, records)
        return records, step.writes

    def _input(self, part: Partition, topic: str, offset: int, key: bytes | None,
               value: bytes | None, reference_ms: int) -> Step:
        max_future_ms = self.settings.max_future_ms
        try:
            if topic == self.incidents_topic:
                obj, ev = decode_incident(value)
                self._check_key(key, ev.incident_id, "incident_id")
                check_future(ev.at, reference_ms, max_future_ms)
                return part.incident(offset, obj, ev)
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

    def _tick(self, part: Partition, value: bytes | None) -> Step:
        """Move the partition's clock (``state.partition_clock``): to the tick's instant when
        its inputs are caught up, else to the watermark of its inputs, never past the wall
        clock (a tick from a worker whose clock runs ahead moves it no further than ours)."""
        try:
            now = parse_instant(loads(value)["now"])
        except (SlawatchError, KeyError, TypeError):
            log.warning("tick %r ignored: expected {\"now\": <instant>}", value)
            return Step([], [], None)
        number = part.number
        if self.manual:
            self.manual_now[number] = max(now, self.manual_now.get(number, now))
            wall = self.manual_now[number]
        else:
            wall = min(now, _wall_ms())
        return self._follow(part, wall, self.caught_up(number))

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

    def _remaining(self, partition: int) -> list[str]:
        """The inputs ("incidents", "services") of the partition with records left to read."""
        return [table for topic, table in ((self.incidents_topic, "incidents"),
                                           (self.heartbeats_topic, "services"))
                if self._behind(TP(topic, partition))]

    def _behind(self, tp: TP) -> bool:
        """True while the input partition has records that this worker has not processed
        (judged by the fetch high watermark, never ListOffsets: see ENGINE-NOTES)."""
        consumer = self.app.consumer
        highwater = consumer.highwater(tp)
        if highwater is None:
            return True
        committed = consumer._committed_offset.get(tp) or 0  # type: ignore[attr-defined]
        return max(self.position.get(tp, 0), committed) < highwater

    def caught_up(self, partition: int) -> bool:
        """True when this worker has processed every input record of the partition that the
        broker has (the fetch high watermark, never ListOffsets: see ENGINE-NOTES)."""
        return not any(self._behind(TP(topic, partition))
                       for topic in (self.incidents_topic, self.heartbeats_topic))

    # -- what the web server shows

    def detectors(self) -> dict[int, Detector]:
        return {number: part.det for number, part in sorted(self.parts.items())}

    def metrics(self) -> str:
        wall = _wall_ms()
        dets = self.detectors()
        return self.status.prometheus({n: (d.now_ms, wall) for n, d in dets.items()},
                                      {n: len(d.incidents) for n, d in dets.items()})

    def health(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 200 while the detect agent runs, 503 when it has stopped."""
        app = self.app
        agent = app.agents.get("slawatch.detect")
        actors = list(getattr(agent, "_actors", ()))
        # Faust replaces a crashed actor with a new one (its supervisor): the agent runs while
        # one of its actors does, whatever crashed before
        running = any(not a.crashed and not a.should_stop for a in actors)
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


# ----------------------------------------------------------------------------- the app


def faust_settings(settings: Settings, embedded: bool) -> dict[str, Any]:
    """The Faust app settings for ``settings`` (those of the embedded broker when ``embedded``)."""
    conf: dict[str, Any] = {
        "broker": f"kafka://{settings.bootstrap}",
        "store": "memory://",
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "processing_guarantee": "at_least_once",
        "consumer_auto_offset_reset": "earliest",
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        "web_bind": settings.web_host,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "Table": LatestTable,
        "TableManager": SafeTableManager,
        # a produce request carries what 5 ms gathered (table writes and alerts), not one record
        "producer_linger": 0.005,
        # Faust reads unprefixed variables (BROKER_URL, WEB_PORT...) that would override ours,
        # and Kubernetes sets WEB_PORT=tcp://... for a Service named "web": read none of them
        "env": {},
        # its pages that show table contents (incident events) stay off
        "web_tables_enabled": False,
        "web_router_enabled": False,
    }
    if settings.security_protocol != "PLAINTEXT":
        conf["broker_credentials"] = _credentials(settings)
    if embedded:
        conf.update(EMBEDDED_FAUST_SETTINGS)
    return conf


def _credentials(settings: Settings) -> Any:
    import ssl

    context = None
    if settings.security_protocol.endswith("SSL"):
        context = ssl.create_default_context(
            cafile=None if settings.ssl_cafile is None else str(settings.ssl_cafile))
    if settings.security_protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=settings.sasl_username, password=settings.sasl_password,
            mechanism=settings.sasl_mechanism, ssl_context=context)
    return faust.SSLCredentials(context)


def create_app(  # noqa: C901 - the factory wires each agent, timer and page as a small closure
        settings: Settings, policies: PolicySet, *, embedded: bool = False, web: bool = True,
        overrides: Mapping[str, Any] | None = None) -> faust.App:
    """A Faust app that runs the detector on ``settings``' topics with ``policies``."""
    conf = faust_settings(settings, embedded)
    conf["web_enabled"] = web
    conf.update(overrides or {})
    app = _App(settings.app_id, **conf)
    app.fetch_max_wait_ms = FETCH_MAX_WAIT_MS[embedded]
    app.true_highwaters = embedded
    shell = Shell(app, settings, policies)
    app.slawatch = shell  # type: ignore[attr-defined]

    for name in TABLES:
        # keys and values as JSON (Faust's json codec is orjson when it is installed)
        shell.tables[name] = app.Table(
            name, partitions=settings.partitions, key_type=str, value_type=None,
            help=TABLE_HELP[name])

    def raw(name: str) -> faust.TopicT:
        return app.topic(settings.topic(name), key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw",
                         partitions=settings.partitions)

    source = app.topic(settings.topic(INCIDENTS_TOPIC), settings.topic(HEARTBEATS_TOPIC),
                       settings.topic(TICKS_TOPIC), key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    outputs = {name: settings.topic(name) for name in OUTPUT_TOPICS}
    ticks = raw(TICKS_TOPIC)

    @app.agent(source, name="slawatch.detect", concurrency=1)
    async def detect(stream: faust.StreamT[bytes]) -> None:
        tables = shell.tables
        changelogs = {name: table.changelog_topic.get_topic_name()
                      for name, table in tables.items()}
        dumps = orjson.dumps
        async for event in stream.events():
            message = event.message
            partition = message.partition
            stamp_s = message.timestamp
            try:
                records, writes = shell.handle(
                    message.topic, partition, message.offset, message.key, message.value,
                    None if not stamp_s else int(stamp_s * 1000))
            except Exception:  # a bug, not bad input: log it, never stall the partition
                log.exception("record %s[%d]@%d could not be processed", message.topic,
                              partition, message.offset)
                continue
            if not (records or writes):
                continue
            if not await shell.fence.wait(partition):
                shell.parts.pop(partition, None)  # rebuilt from the changelogs if it comes back
                continue
            try:
                acks = []
                for table, key, value in writes:
                    # what ``table[key] = value`` does, without Faust's per-write future, buffer
                    # and callbacks (a third of a write's cost): the store, then the changelog
                    # record on the input's partition, sent before the input is acknowledged
                    tables[table].data[key] = value
                    acks.append(await send(changelogs[table], dumps(key), dumps(value),
                                           partition))
                if records and acks and any(map(written_first, records)):
                    # the changelog is the only trace of what the clock fired for a service:
                    # it lands before the alert does, or a new owner could not retract it
                    await asyncio.gather(*(ack for ack in acks if ack is not None))
                if records:
                    stamp = format_instant(_wall_ms())
                    for rec in records:
                        rec["detected_at"] = stamp
                        await send(outputs[topic_of(rec)], rec["alert_id"].encode(),
                                   dumps(rec), None)
            except Exception:  # the producer refused a record: log it, go on with the next
                log.exception("the output of record %s[%d]@%d was not sent", message.topic,
                              partition, message.offset)

    async def send(topic: str, key: bytes, value: bytes, partition: int | None) -> Any:
        """One record to the producer, and the future of its acknowledgement; one too large for
        any broker's default limit is logged, never sent (the core bounds every value far
        below it)."""
        if len(key) + len(value) > MAX_RECORD_BYTES:
            log.error("a %d-byte record for %s was not sent: over the %d-byte limit",
                      len(value), topic, MAX_RECORD_BYTES)
            return None
        return await app.producer.send(topic, key, value, partition, None, None)

    @app.timer(interval=TICK_INTERVAL_S, name="slawatch.ticker")  # type: ignore[untyped-decorator]
    async def ticker() -> None:
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        if shell.manual or app.rebalancing or not recovered:
            return
        value = orjson.dumps({"now": _wall_ms()})
        for number in shell.owned():
            await ticks.send(value=value, partition=number)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: set[TP], **_: Any) -> None:
        shell.forget(revoked)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: set[TP], **_: Any) -> None:
        shell.fence.assigned()

    if web:
        _pages(app, shell)
    del detect, ticker, on_revoked, on_assigned  # registered with the app
    return app


def _pages(app: faust.App, shell: Shell) -> None:
    """The status page and the endpoints behind it, on the worker's web server. Each worker
    shows the partitions it owns (the page says which)."""
    from importlib.resources import files

    page = files("streams.worker").joinpath("status.html").read_text(encoding="utf-8")

    def as_json(view: faust.web.View, value: Any, status: int = 200) -> faust.web.Response:
        return view.bytes(orjson.dumps(value), content_type="application/json", status=status)

    def limit(request: faust.web.Request, default: int) -> int:
        text = request.query.get("limit", "")
        return int(text) if text.isdigit() else default

    @app.page("/")
    async def index(view: faust.web.View, request: faust.web.Request) -> Any:
        return view.html(page)

    @app.page("/api/incidents")
    async def incidents(view: faust.web.View, request: faust.web.Request) -> Any:
        return as_json(view, incidents_view(shell.detectors(), limit(request, 200)))

    @app.page("/api/services")
    async def services(view: faust.web.View, request: faust.web.Request) -> Any:
        return as_json(view, services_view(shell.detectors()))

    @app.page("/api/alerts")
    async def alerts(view: faust.web.View, request: faust.web.Request) -> Any:
        return as_json(view, {"alerts": shell.status.alerts(limit(request, 100))})

    @app.page("/metrics")
    async def metrics(view: faust.web.View, request: faust.web.Request) -> Any:
        return view.text(shell.metrics(), content_type="text/plain; version=0.0.4")

    @app.page("/health")
    async def health(view: faust.web.View, request: faust.web.Request) -> Any:
        code, body = shell.health()
        return as_json(view, body, code)

    del index, incidents, services, alerts, metrics, health  # registered


def run_worker(app: faust.App, loglevel: str = "warning") -> int:
    """Run ``app`` as a worker until SIGINT or SIGTERM; the exit code."""
    worker = faust.Worker(app, loglevel=loglevel, redirect_stdouts=False)
    # Faust's start-up spinner sets the root logger to DEBUG, so every debug call of Faust and
    # aiokafka builds a record (11 % of the worker's time, measured) and escape codes reach logs
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
