"""The Faust worker: agents, tables and the ticker around the pure detector.

    app = create_app(settings, policies, embedded=True)   # no module-level app
    run_worker(app)                                         # until SIGINT/SIGTERM

The worker reads the incident events, the heartbeats, the request counts and the ticks of a
partition in batches (``batches``: each fetch's records of an input partition go to ``deliver``
at once, below Faust's per-message path; ``SLAWATCH_DELIVERY=STREAM`` sends each through the
agent ``slawatch.detect`` instead, as a batch of one). Each partition has its own detector
(``state.Partition``), rebuilt lazily from the tables after every rebalance, so all state is
written on the partition's owner and comes back from the changelogs.

- An input record is decoded and applied, its table values kept; after the batch each changed
  value is written once to its changelog and the records the batch produced are sent (keyed by
  ``alert_id``); a bad record becomes a dead letter, never an exception.
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
import gc
import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import faust
import orjson
from faust.types import TP

from streams.broker import EMBEDDED_FAUST_SETTINGS
from streams.codec import topic_of
from streams.core.policy import PolicySet
from streams.core.timefmt import format_instant
from streams.settings import Settings
from streams.state import written_first
from streams.status import incidents_view, objectives_view, services_view
from streams.topics import (
    INPUT_TOPICS,
    OUTPUT_TOPICS,
    TICKS_TOPIC,
    TopicSpec,
)
from streams.worker.batches import refuse
from streams.worker.recovery import LatestTable, SafeTableManager
from streams.worker.shell import TABLES, Shell, wall_ms
from streams.worker.transport import FETCH_MAX_WAIT_MS, _App

log = logging.getLogger(__name__)


class _Record(NamedTuple):
    """A message as ``deliver`` reads it: what it needs of an aiokafka ``ConsumerRecord``."""

    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None  # ms

TICK_INTERVAL_S = 0.25
#: ``gc.set_threshold`` of the worker process (``run_worker``)
GC_THRESHOLDS = (50_000, 20, 100)
#: Kafka's default limit of a record batch (``message.max.bytes``, ``max.request.size``): no
#: record slawatch writes comes near it, and one that would is never sent.
MAX_RECORD_BYTES = 1_000_000
TABLE_HELP = {
    "incidents": "incident id -> the events applied to it (not its updated ones) and the ids "
                 "of its standing records",
    "notes": "[incident id, event id] -> an updated event's time",
    "services": "service -> its availability state at its last heartbeat",
    "requests": "service (and objective) -> its request objectives' counters",
    "clocks": "partition -> the detector clock",
}


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
        # a fetch hands the worker at most this many records (``batches``): a batch's alerts go
        # out when it ends, so it bounds how long they wait (~70 ms at 1000)
        "broker_max_poll_records": 1000,
        # a produce request carries what 5 ms gathered (table writes and alerts), not one record
        "producer_linger": 0.005,
        # a batch's writes go out together: with aiokafka's 16 KiB a send waits for the
        # partition's full batch to drain, a round trip per 16 KiB of a batch's output
        "producer_max_batch_size": 512 * 1024,
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
    if settings.session_timeout_ms is not None:
        session_s = settings.session_timeout_ms / 1000
        conf["broker_session_timeout"] = session_s
        # Faust's ratio (3 s in 60 s), and never above a tenth of the session: a member whose
        # heartbeats are late a few times in a row is not taken for dead
        conf["broker_heartbeat_interval"] = min(3.0, session_s / 10)
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


def own_topics(settings: Settings) -> list[TopicSpec]:
    """The topics Faust creates for the worker (the tables' changelogs, the leader topic), to be
    created before it starts: two workers starting together each created them, and a group
    leader whose metadata did not show one yet assigned none of its partitions, for good (its
    metadata is refreshed every 5 minutes): the recovery of a takeover then waited on them and
    never read any changelog (measured on Kafka: 1 SIGKILL run in 4)."""
    return [*(TopicSpec(f"{settings.app_id}-{table}-changelog", settings.partitions, compact=True,
                        replication_factor=settings.replication_factor) for table in TABLES),
            TopicSpec(f"{settings.app_id}-__assignor-__leader", 1,
                      replication_factor=settings.replication_factor)]


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
        # keys as JSON (Faust's json codec is orjson when it is installed); values as the bytes
        # the changelog holds, which the store keeps too: a third of the decoded value's
        # memory (``shell.stored`` decodes what a step reads)
        shell.tables[name] = app.Table(
            name, partitions=settings.partitions, key_type=str, value_type=bytes,
            help=TABLE_HELP[name])  # bytes: Faust's "raw" codec

    def raw(name: str) -> faust.TopicT:
        return app.topic(settings.topic(name), key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw",
                         partitions=settings.partitions)

    source = app.topic(*(settings.topic(name) for name in (*INPUT_TOPICS, TICKS_TOPIC)),
                       key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    outputs = {name: settings.topic(name) for name in OUTPUT_TOPICS}
    ticks = raw(TICKS_TOPIC)

    tables = shell.tables
    changelogs: dict[str, str] = {}
    dumps = orjson.dumps
    #: the acknowledgement of each partition's last service value: a record held past the step
    #: that wrote the value naming it (``Shell._hold``) waits for it too
    service_acks: dict[int, Any] = {}

    async def deliver(tp: TP, batch: Sequence[Any]) -> bool:
        """Process one input partition's records (aiokafka ``ConsumerRecord``s, in offset
        order): each applied and its table values put in the store, then each value the batch
        changed written once to its changelog, then the batch's records sent. False when the
        partition was lost meanwhile: nothing is written, and the records are left to the new
        owner, which reads them again from the last committed offset."""
        topic, partition = tp.topic, tp.partition
        if not changelogs:
            changelogs.update((name, table.changelog_topic.get_topic_name())
                              for name, table in tables.items())
        out: list[Any] = []
        changed: dict[tuple[str, str], Any] = {}
        before: dict[tuple[str, str], Any] = {}  # what the store held, for ``undo``
        shell.begin_batch(partition)
        try:
            for record in batch:
                try:
                    records, writes = shell.handle(topic, partition, record.offset, record.key,
                                                   record.value, record.timestamp or None)
                except Exception:  # a bug, not bad input: log it, never stall the partition
                    log.exception("record %s[%d]@%d could not be processed", topic, partition,
                                  record.offset)
                    continue
                for table, key, value in writes:
                    if (table, key) not in before:
                        before[table, key] = tables[table].data.get(key)
                    put(table, key, value)  # the next record of the batch reads it
                    changed[table, key] = value
                out += records
        finally:
            shell.end_batch()
        if shell.reread:
            await reread()
        if not (out or changed):
            return True
        if not await shell.fence.wait(partition):
            # the store goes back to what the changelogs hold: were the partition to come back,
            # its rebuild would take the batch for applied, and the refetched records for
            # repeats, whose values no changelog has
            undo(before)
            shell.parts.pop(partition, None)  # rebuilt from the store if it comes back
            return False
        try:
            await publish(partition, changed, out)
        except Exception:  # the producer refused a record: log it, go on with the next
            log.exception("the output of %s[%d]@%d..%d was not sent", topic, partition,
                          batch[0].offset, batch[-1].offset)
        return True

    def put(table: str, key: str, value: Any) -> None:
        """``value`` in the table store (None: deleted, a tombstone in the changelog)."""
        if value is None:
            tables[table].data.pop(key, None)
        else:
            tables[table].data[key] = value

    def undo(before: dict[tuple[str, str], Any]) -> None:
        """Put back the table values a batch replaced (``before``: None where it added one)."""
        for (table, key), value in before.items():
            put(table, key, value)

    async def publish(partition: int, changed: dict[tuple[str, str], Any],
                      records: list[Any]) -> None:
        """The batch's table values to their changelogs (what ``table[key] = value`` does,
        without Faust's per-write future, buffer and callbacks: a record on the input's
        partition), then its records, keyed by ``alert_id``."""
        acks = []
        for table, key, encoded in shell.encode(changed):
            acks.append(await send(changelogs[table], dumps(key), encoded, partition))
            if acks[-1] is not None:
                acks[-1].add_done_callback(write_failed)
            if table in ("services", "requests"):
                service_acks[partition] = acks[-1]
        if records and any(map(written_first, records)):
            # the changelog is the only trace of what the clock fired for a service: it
            # lands before the alert does, or a new owner could not retract it
            acks.append(service_acks.pop(partition, None))
            await asyncio.gather(*(ack for ack in acks if ack is not None))
        if records:
            stamp = format_instant(wall_ms())
            for rec in records:
                rec["detected_at"] = stamp
                await send(outputs[topic_of(rec)], rec["alert_id"].encode(), dumps(rec), None)

    @app.agent(source, name="slawatch.detect", concurrency=1)
    async def detect(stream: faust.StreamT[bytes]) -> None:
        """Faust's per-message path (``SLAWATCH_DELIVERY=STREAM``): each record a batch of
        one. With batched delivery no record reaches it."""
        async for event in stream.events():
            message = event.message
            stamp_s = message.timestamp
            record = _Record(message.offset, message.key, message.value,
                             int(stamp_s * 1000) if stamp_s else None)
            if not await deliver(message.tp, [record]):
                refuse(message)  # its offset stays uncommitted: the new owner reads it

    if settings.delivery == "BATCH":
        consumer: Any = app.consumer  # the transport's ``_Consumer``
        consumer.batch_handler = deliver
        consumer.batch_topics = frozenset(
            settings.topic(name) for name in (*INPUT_TOPICS, TICKS_TOPIC))

    async def reread() -> None:
        """Seek the input partitions whose records stopped coming (``Shell._watch``) to what
        was processed; none during a rebalance, which seeks every partition it assigns."""
        while shell.reread:
            tp, offset = shell.reread.pop()
            if app.rebalancing or tp not in app.consumer.assignment():
                continue
            try:
                app.consumer.resume_partitions([tp])
                await app.consumer.seek(tp, offset)
            except Exception:  # lost meanwhile: its next owner reads it from the commit
                log.exception("%s[%d] could not be read again", tp.topic, tp.partition)

    async def send(topic: str, key: bytes, value: bytes | None, partition: int | None) -> Any:
        """One record to the producer (``value`` None: a tombstone), and the future of its
        acknowledgement; one too large for any broker's default limit is logged, never sent
        (the core bounds every value far below it)."""
        if value is not None and len(key) + len(value) > MAX_RECORD_BYTES:
            log.error("a %d-byte record for %s was not sent: over the %d-byte limit",
                      len(value), topic, MAX_RECORD_BYTES)
            return None
        return await app.producer.send(topic, key, value, partition, None, None)

    @app.timer(interval=TICK_INTERVAL_S, name="slawatch.ticker")  # type: ignore[untyped-decorator]
    async def ticker() -> None:
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        if shell.manual or app.rebalancing or not recovered:
            return
        value = orjson.dumps({"now": wall_ms()})
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


def write_failed(ack: Any) -> None:
    """The done callback of a changelog write: one the broker never took (after aiokafka's
    retries) leaves the table store holding a value its changelog does not, and Faust's commit,
    which flushes the producer but does not look at what failed, still goes. Logged, so that
    it is seen (a restart rebuilds from the changelogs); no run has shown one yet."""
    if not ack.cancelled() and ack.exception() is not None:
        log.error("a changelog write failed: %r; this worker's table store is ahead of its "
                  "changelogs until it restarts", ack.exception())


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
        return as_json(view, services_view(shell.detectors(), shell.status.history))

    @app.page("/api/objectives")
    async def objectives(view: faust.web.View, request: faust.web.Request) -> Any:
        return as_json(view, objectives_view(shell.detectors()))

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

    del index, incidents, services, objectives, alerts, metrics, health  # registered


def run_worker(app: faust.App, loglevel: str = "warning") -> int:
    """Run ``app`` as a worker until SIGINT or SIGTERM; the exit code."""
    # the detector's state is many small objects that live long: collected as often as
    # Python's defaults do it (every 700 allocations), they cost a fifth of a record's CPU
    # (measured: 43 -> 35 us per event in the shell, 200k events); what start-up loaded is
    # never collected at all
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
    worker = faust.Worker(app, loglevel=loglevel, redirect_stdouts=False)
    # Faust's start-up spinner sets the root logger to DEBUG, so every debug call of Faust and
    # aiokafka builds a record (11 % of the worker's time, measured) and escape codes reach logs
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
