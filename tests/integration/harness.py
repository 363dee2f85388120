"""Running ``slawatch worker`` processes against the session's broker, over the wire.

The broker is the embedded Tansu or Apache Kafka (the ``broker`` fixture's two legs); its
``kind`` is the ``SLAWATCH_BROKER_KIND`` of everything a ``Deployment`` starts: TANSU with the
client settings its defects need, KAFKA with the production ones. A ``Worker`` is a real child
process started with the installed ``slawatch`` command; it is stopped (by its PID, SIGTERM then
SIGKILL) when its ``with`` block ends. Records go in with kafka-python and come out the same way,
read up to the end of every partition.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.admin import create_topics
from streams.broker import (
    EMBEDDED_FAUST_SETTINGS,
    EMBEDDED_KAFKA_PYTHON_PRODUCER_SETTINGS,
    EmbeddedBroker,
)
from streams.settings import Settings

SLAWATCH = Path(sys.executable).parent / "slawatch"
ALERT_TOPICS = ("breaches", "near-breaches", "outcomes")


class Broker(Protocol):
    """What the tests use of a broker (``EmbeddedBroker``, ``tests.support.kafka.KafkaBroker``)."""

    @property
    def bootstrap(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def pid(self) -> int: ...
    @property
    def kind(self) -> str: ...


def broker_kind(broker: Broker | EmbeddedBroker) -> str:
    """``"TANSU"`` or ``"KAFKA"``: the ``SLAWATCH_BROKER_KIND`` for clients of ``broker``."""
    return str(getattr(broker, "kind", "TANSU"))


def producer_settings(broker: Broker | EmbeddedBroker) -> dict[str, Any]:
    """kafka-python producer settings for ``broker``: one record per batch on Tansu (right end
    offsets, its defect 1), the defaults on Kafka."""
    if broker_kind(broker) == "TANSU":
        return dict(EMBEDDED_KAFKA_PYTHON_PRODUCER_SETTINGS)
    return {}
MANUAL_MAX_FUTURE_MS = 10 * 365 * 24 * 3600 * 1000
#: The session timeout of the workers on Kafka (``SLAWATCH_SESSION_TIMEOUT``): a killed or
#: paused worker holds its partitions this long (Faust's 60 s made each takeover test wait a
#: minute). On Tansu the embedded broker's test settings hold it at 4 s.
KAFKA_SESSION_MS = 10_000


class Deployment:
    """A topic prefix and app id of its own on the shared broker, with its topics created.

    ``close`` ends its clients; ``close_all`` those of every deployment still open (the broker
    fixture calls it before it stops a broker: a client left open by a failed test would go on
    reconnecting to the stopped broker and leave unclosed sockets to the garbage collector,
    ResourceWarnings that fail whichever test of the other leg collects them).
    """

    _open: ClassVar[set[Deployment]] = set()

    def __init__(self, broker: Broker | EmbeddedBroker, policies: Path, partitions: int = 4,
                 clock: str = "MANUAL") -> None:
        tag = uuid.uuid4().hex[:10]
        self.broker = broker
        self.kind = broker_kind(broker)
        self.settings = Settings.from_env(
            {}, broker=broker.bootstrap, topic_prefix=f"t{tag}", partitions=partitions,
            app_id=f"app-{tag}", policies=policies, clock=clock, broker_kind=self.kind,
            # the worked examples happen in 2027: with manual ticks, events ahead of the wall
            # clock are the test's own time, not a producer's wrong clock
            max_future_ms=MANUAL_MAX_FUTURE_MS if clock == "MANUAL" else None,
            session_timeout_ms=KAFKA_SESSION_MS if self.kind == "KAFKA" else None)
        create_topics(broker.bootstrap, self.settings.topic_specs())
        self.producer = KafkaProducer(bootstrap_servers=broker.bootstrap,
                                      **producer_settings(broker))
        self._reader: KafkaConsumer | None = None
        Deployment._open.add(self)

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    @property
    def session_s(self) -> float:
        """How long a worker that stopped answering keeps its partitions."""
        session_ms = self.settings.session_timeout_ms
        if session_ms is None:
            return float(EMBEDDED_FAUST_SETTINGS["broker_session_timeout"])
        return session_ms / 1000

    def env(self) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
        return {**clean, **self.settings.environment()}

    # -- in

    def send(self, name: str, key: str | None, value: bytes | dict[str, Any]) -> None:
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        self.producer.send(self.topic(name), key=None if key is None else key.encode(),
                           value=raw)

    def send_file(self, name: str, path: Path, key_field: str) -> int:
        """Produce every line of a JSON Lines file, keyed by ``key_field`` (unkeyed when the
        line is not a JSON object); the number of lines sent."""
        count = 0
        if not path.exists():
            return 0
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
                key = obj.get(key_field) if isinstance(obj, dict) else None
            except orjson.JSONDecodeError:
                key = None
            self.send(name, None if key is None else str(key), line)
            count += 1
        self.producer.flush()
        return count

    def tick(self, now: str | int) -> None:
        """A tick to every partition: the detector clock moves to ``now`` where caught up."""
        for partition in range(self.settings.partitions):
            self.producer.send(self.topic("ticks"), value=orjson.dumps({"now": now}),
                               partition=partition)
        self.producer.flush()

    # -- out

    def read(self, names: Iterable[str] = ALERT_TOPICS) -> list[dict[str, Any]]:
        """Every record of the topics, in offset order per partition, with ``_key``."""
        if self._reader is None:  # one consumer for the deployment: clients are not cheap
            # Full fetches: in an incremental fetch session (KIP-227; Kafka has them, Tansu does
            # not) a partition with nothing new is left out of the response, so a read after the
            # first would never learn the high watermark of an empty partition.
            self._reader = KafkaConsumer(bootstrap_servers=self.broker.bootstrap,
                                         enable_auto_commit=False, fetch_max_wait_ms=20,
                                         enable_incremental_fetch_sessions=False)
        records = []
        for key, value in read_topics(self._reader, [self.topic(n) for n in names],
                                      self.settings.partitions):
            rec = orjson.loads(value)
            rec["_key"] = key.decode()
            records.append(rec)
        return records

    def close(self) -> None:
        Deployment._open.discard(self)
        self.producer.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @classmethod
    def close_all(cls) -> None:
        for deployment in list(cls._open):
            deployment.close()


def read_topics(consumer: KafkaConsumer, topics: list[str], partitions: int
                ) -> list[tuple[bytes, bytes]]:
    """(key, value) of every record up to the end of each partition: the high watermark of the
    fetch responses, never ListOffsets, which the embedded broker under-reports when a producer
    batches (ENGINE-NOTES, defect 1). A ``consumer`` used for more than one read needs
    ``enable_incremental_fetch_sessions=False`` on Kafka (see ``Deployment.read``)."""
    tps = [TopicPartition(topic, p) for topic in topics for p in range(partitions)]
    consumer.assign([])  # forget the high watermarks of an earlier read
    consumer.assign(tps)
    consumer.seek_to_beginning()
    out: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + 20

    def behind(tp: TopicPartition) -> bool:
        highwater = consumer.highwater(tp)
        return highwater is None or consumer.position(tp) < highwater

    while any(behind(tp) for tp in tps):
        assert time.monotonic() < deadline, f"{topics}: could not read to the high watermark"
        for batch in consumer.poll(timeout_ms=100).values():
            out += [(r.key, r.value) for r in batch]
    return out


def standing(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What a compacted topic holds: the latest record per key, but retractions (and the wall
    clock stamp), which is what the SPEC says consumers keep."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in records:
        latest[rec["alert_id"]] = rec
    return {aid: {k: v for k, v in rec.items() if k not in ("detected_at", "_key")}
            for aid, rec in latest.items() if rec["kind"] != "retraction"}


def wait_for(check: Callable[[], Any], timeout_s: float, every_s: float = 0.5,
             what: str = "condition") -> Any:
    """Call ``check`` until it returns something true; that value (or fail after timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(every_s)


class Worker:
    """One ``slawatch worker`` child process; ``with`` stops it (and only it) at the end."""

    def __init__(self, deployment: Deployment, log_dir: Path, name: str = "worker",
                 extra_env: Mapping[str, str] | None = None, web_port: int | None = None
                 ) -> None:
        self.deployment = deployment
        self.web_port = web_port  # None: no web server
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.extra_env = dict(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        assert SLAWATCH.exists(), f"{SLAWATCH} missing: install the project with pip install -e ."
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child writes it until it ends
        data_dir = self.log_path.with_suffix(".data")  # never the working directory
        web = ["--no-web"] if self.web_port is None else ["--web-port", str(self.web_port)]
        self.process = subprocess.Popen(
            [str(SLAWATCH), "worker", *web, "--loglevel", "info"],
            env={**self.deployment.env(), "SLAWATCH_DATA_DIR": str(data_dir), **self.extra_env},
            stdout=log, stderr=log)
        log.close()
        return self

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no goodbye to the group, no flush, no commit."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            assert self.process is not None
            self.process.wait(10)

    def stop(self, timeout_s: float = 20) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


#: The incident policy most worker tests run.
STANDARD = """
policies:
  - id: standard
    version: 1
    effective_from: 2020-01-01T00:00:00Z
    match: {}
    near_breach: [0.5, 0.75]
    incidents:
      P1: {response: 15m, resolution: 4h}
      P2: {response: 1h, resolution: 8h}
      "*": {response: 4h, resolution: 3d}
"""
