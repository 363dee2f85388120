"""Apache Kafka for the integration tests: a pinned release from Maven Central, one KRaft node.

``KafkaBroker`` is the test twin of ``streams.broker.EmbeddedBroker``: a context manager that
starts one combined broker + controller on free ports of 127.0.0.1 with a small heap, waits until
it answers a Kafka metadata request, and stops it by the PID it started (SIGTERM, then SIGKILL
after a timeout). It exposes what the tests use of ``EmbeddedBroker``: ``bootstrap``
(``"127.0.0.1:PORT"``), ``url`` (``kafka://`` + it), ``port``, ``pid``, ``log_path``,
``running``, and ``kind`` (``"KAFKA"``: the ``SLAWATCH_BROKER_KIND`` workers run with on it).

The jars are the runtime dependencies of ``org.apache.kafka:kafka_2.13`` at the version pinned in
``tests/kafka/pom.xml``, copied by ``mvn dependency:copy-dependencies`` into a cache outside the
checkout: ``$SLAWATCH_KAFKA_CACHE``, else ``~/.cache/slawatch/kafka-<version>``. ``fetch()`` does
it once (a complete copy is marked by the file ``lib/FETCHED``; nothing is fetched again while it
is there). Maven Central is the only source: Maven's own local repository (``~/.m2``) caches the
downloads as usual. ``tests/kafka/kafka.py`` is the command-line front (``fetch``, ``run``).

A start is, with a new cluster id and temporary directory each time (measured here: format ~1 s,
the broker answers ~2-3 s after it is started)::

    java -cp 'CACHE/lib/*' kafka.tools.StorageTool format -t ID -c server.properties
    java -Xmx512m -cp 'CACHE/lib/*' kafka.Kafka server.properties

with ``controller.quorum.voters`` naming this node (a static quorum; ``format --standalone`` is
the dynamic-quorum alternative of Kafka 3.9+, which needs ``controller.quorum.bootstrap.servers``
instead). The data and logs live in the temporary directory, deleted on stop unless ``keep``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import weakref
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Final, Self

ROOT: Final = Path(__file__).resolve().parents[2]
POM: Final = ROOT / "tests" / "kafka" / "pom.xml"
HOST: Final = "127.0.0.1"
MIN_JAVA: Final = 17  # Kafka 4's broker needs Java 17 or later
HEAP: Final = "512m"
FETCHED_MARK: Final = "FETCHED"

_PORT_ATTEMPTS: Final = 3
_LOG_TAIL_LINES: Final = 25

#: Broker settings beyond the listeners and directories: one node, so every internal topic has
#: one replica; no initial rebalance delay (a worker's first join would wait 3 s).
BROKER_PROPERTIES: Final[Mapping[str, str]] = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "4",  # the default 50 costs ~1 s at the first group join
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    # slawatch creates its topics (`topics create`), Faust its changelog and leader topics, both
    # through CreateTopics: as in docker/compose.yaml, nothing is created by a metadata request.
    "auto.create.topics.enable": "false",
    # Test records carry event-time timestamps from years ago or to come (backfills): time-based
    # retention would delete them while a test reads them. Compaction still runs.
    "log.retention.ms": "-1",
    # Kafka 4 rejects records stamped more than an hour ahead of the broker's clock (the default
    # of log.message.timestamp.after.max.ms went from unlimited to 1 h); the tests' worked
    # examples happen in 2027 and the backfill tests stamp records with their events' time.
    "log.message.timestamp.after.max.ms": str(2**63 - 1),
}


class KafkaError(Exception):
    """Kafka cannot be fetched, formatted, started or reached."""


# ----------------------------------------------------------------------------- what it needs


def kafka_version(pom: Path = POM) -> str:
    """The Kafka version pinned in ``tests/kafka/pom.xml`` (its ``kafka.version`` property)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    found = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    if found is None or not (found.text or "").strip():
        raise KafkaError(f"{pom}: no <kafka.version> property")
    return (found.text or "").strip()


def cache_dir(version: str | None = None) -> Path:
    """Where the jars go: ``$SLAWATCH_KAFKA_CACHE``, else ``~/.cache/slawatch/kafka-<version>``."""
    configured = os.environ.get("SLAWATCH_KAFKA_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "slawatch" / f"kafka-{version or kafka_version()}"


def lib_dir(version: str | None = None) -> Path:
    return cache_dir(version) / "lib"


def fetched(version: str | None = None) -> bool:
    return (lib_dir(version) / FETCHED_MARK).is_file()


def java_major(java: str = "java") -> int | None:
    """The major version of ``java`` on the PATH (17 for "17.0.15"), None without one."""
    path = shutil.which(java)
    if path is None:
        return None
    try:
        done = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=30,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def missing() -> str | None:
    """Why Kafka cannot run here (one line), or None: Java >= 17 on the PATH, and Maven to fetch
    the jars unless they are cached already."""
    major = java_major()
    if major is None:
        return f"no `java` on the PATH: the Kafka leg needs Java >= {MIN_JAVA} (and Maven)"
    if major < MIN_JAVA:
        return f"`java` on the PATH is Java {major}: Kafka {kafka_version()} needs >= {MIN_JAVA}"
    if not fetched() and shutil.which("mvn") is None:
        return (f"no `mvn` on the PATH to fetch Kafka {kafka_version()} from Maven Central "
                f"(and no copy in {lib_dir()})")
    return None


# ----------------------------------------------------------------------------- fetch


def fetch(*, quiet: bool = True, timeout_s: float = 900.0) -> Path:
    """The directory of the broker's jars, fetched from Maven Central by Maven unless cached.

    Maven copies into ``lib.partial`` which is renamed to ``lib`` once complete, so an
    interrupted fetch is never taken for a complete one.
    """
    version = kafka_version()
    lib = lib_dir(version)
    if fetched(version):
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaError(f"no `mvn` on the PATH to fetch Kafka {version} into {lib}")
    partial = lib.with_name("lib.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    command = [mvn, "-B", *(["-q"] if quiet else []), "-f", str(POM),
               "dependency:copy-dependencies", f"-DoutputDirectory={partial}",
               "-DincludeScope=runtime"]
    try:
        done = subprocess.run(command, capture_output=quiet, text=True, timeout=timeout_s,
                              check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise KafkaError(f"`{' '.join(command)}` took longer than {timeout_s:g} s") from exc
    jars = sorted(p.name for p in partial.glob("*.jar")) if partial.is_dir() else []
    if done.returncode != 0 or not any(j.startswith(f"kafka_2.13-{version}") for j in jars):
        output = ((done.stdout or "") + (done.stderr or ""))[-3000:] if quiet else ""
        raise KafkaError(f"`{' '.join(command)}` exited with status {done.returncode} and "
                         f"copied {len(jars)} jars{':' if output else ''}\n{output}")
    (partial / FETCHED_MARK).write_text(f"org.apache.kafka:kafka_2.13:{version}\n"
                                        + "".join(f"{j}\n" for j in jars))
    shutil.rmtree(lib, ignore_errors=True)
    partial.rename(lib)
    return lib


# ----------------------------------------------------------------------------- the broker


class _PortTaken(Exception):
    """Kafka could not bind a port we picked: someone took it meanwhile; pick others."""


class KafkaBroker:
    """Apache Kafka, one KRaft node on free ports of 127.0.0.1, for the ``with`` block.

    ``start_timeout_s`` bounds format + start + the first metadata answer; ``stop_timeout_s`` is
    the grace between SIGTERM and SIGKILL. ``properties`` add to or override
    ``BROKER_PROPERTIES``. The directory (data, config, log) is kept on a failed start, and on
    stop only with ``keep``. ``start_seconds`` is how long the last start took (format included).
    """

    kind: Final = "KAFKA"

    def __init__(self, *, start_timeout_s: float = 60.0, stop_timeout_s: float = 20.0,
                 heap: str = HEAP, properties: Mapping[str, str] | None = None,
                 base_dir: Path | None = None, keep: bool = False) -> None:
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._heap = heap
        self._properties = dict(properties or {})
        self._base_dir = base_dir
        self._keep = keep
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._dir: Path | None = None
        self._stopper: weakref.finalize[..., KafkaBroker] | None = None
        self.version = kafka_version()
        self.start_seconds: float | None = None

    # -- what clients need

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    @property
    def port(self) -> int:
        if self._port is None or not self.running:
            raise KafkaError("the Kafka broker is not running")
        return self._port

    @property
    def pid(self) -> int:
        if self._process is None:
            raise KafkaError("the Kafka broker was never started")
        return self._process.pid

    @property
    def log_path(self) -> Path | None:
        return None if self._dir is None else self._dir / "kafka.log"

    @property
    def directory(self) -> Path | None:
        return self._dir

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- start and stop

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> Self:
        if self._process is not None:
            raise KafkaError("this KafkaBroker was already started; make a new one")
        lib = fetch()
        java = shutil.which("java")
        if java is None:
            raise KafkaError(f"no `java` on the PATH (Kafka needs Java >= {MIN_JAVA})")
        began = time.monotonic()
        deadline = began + self._start_timeout_s
        for _ in range(_PORT_ATTEMPTS):
            work = Path(tempfile.mkdtemp(prefix="slawatch-kafka-", dir=self._base_dir))
            port, controller = _free_ports(2)
            config = self._configure(work, port, controller)
            log_path = work / "kafka.log"
            _format(java, lib, work, config, deadline)
            process = _spawn(java, lib, self._heap, work, config, log_path)
            try:
                _wait_until_ready(process, port, log_path, deadline, self._start_timeout_s)
            except _PortTaken:
                _end_process(process, self._stop_timeout_s)
                shutil.rmtree(work, ignore_errors=True)
                continue
            except BaseException:
                _end_process(process, self._stop_timeout_s)
                raise
            self._process, self._port, self._dir = process, port, work
            self.start_seconds = time.monotonic() - began
            self._stopper = weakref.finalize(self, _stop, process, self._stop_timeout_s,
                                             None if self._keep else work)
            return self
        raise KafkaError(f"Kafka found free ports of {HOST} taken by the time it bound them, "
                         f"{_PORT_ATTEMPTS} times")

    def stop(self) -> None:
        """SIGTERM, wait ``stop_timeout_s``, then SIGKILL; only our own child, by its PID.

        Idempotent; also runs when the object is collected or the interpreter exits.
        """
        if self._stopper is not None:
            self._stopper()

    def _configure(self, work: Path, port: int, controller: int) -> Path:
        props = {
            **BROKER_PROPERTIES,
            "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
            "controller.quorum.voters": f"1@{HOST}:{controller}",
            "log.dirs": str(work / "data"),
            "metadata.log.dir": str(work / "data"),
            **self._properties,
        }
        config = work / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (work / "log4j2.properties").write_text(LOG4J2)
        return config


#: Kafka's own log, INFO to stdout (the child's stdout is the log file); the chatty request and
#: state-change loggers at WARN.
LOG4J2: Final = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def _java_command(java: str, lib: Path, work: Path, heap: str | None) -> list[str]:
    """``java`` with the jars and our log4j2 config; ``heap`` None for the short-lived storage
    tool (a small heap and the C1 compiler only: it starts faster)."""
    memory = [f"-Xmx{heap}"] if heap else ["-Xmx256m", "-XX:TieredStopAtLevel=1"]
    # IPv4 sockets: Java would bind 127.0.0.1 as the IPv6 address ::ffff:127.0.0.1
    return [java, *memory, "-Djava.awt.headless=true", "-Djava.net.preferIPv4Stack=true",
            f"-Dlog4j2.configurationFile={work / 'log4j2.properties'}", "-cp", f"{lib}/*"]


def _format(java: str, lib: Path, work: Path, config: Path, deadline: float) -> None:
    """``kafka-storage.sh format``: a KRaft log dir must be formatted before the first start."""
    cluster_id = _cluster_id()
    command = [*_java_command(java, lib, work, None), "kafka.tools.StorageTool", "format",
               "-t", cluster_id, "-c", str(config)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL, env=_env(),
                              timeout=max(deadline - time.monotonic(), 5.0))
    except subprocess.TimeoutExpired as exc:
        raise KafkaError(f"formatting {work / 'data'} timed out") from exc
    if done.returncode != 0:
        raise KafkaError(f"formatting {work / 'data'} failed with status {done.returncode}:\n"
                         f"{(done.stdout + done.stderr)[-3000:]}")


def _cluster_id() -> str:
    """What ``kafka-storage.sh random-uuid`` prints: 16 random bytes, base64url without '=', and
    never starting with '-' (Kafka's ``Uuid.randomUuid`` draws again: the storage tool would read
    such an id as an option, and the broker's start failed 1 time in 64)."""
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _env() -> dict[str, str]:
    """The caller's environment without what the JVM or Kafka's scripts would read from it."""
    drop = ("KAFKA_", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH",
            "LOG_DIR")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def _spawn(java: str, lib: Path, heap: str, work: Path, config: Path,
           log_path: Path) -> subprocess.Popen[bytes]:
    command = [*_java_command(java, lib, work, heap), "kafka.Kafka", str(config)]
    with open(log_path, "ab") as log_file:  # the child keeps its own descriptor
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, env=_env(), cwd=work,
                                start_new_session=True)


def _free_ports(count: int) -> list[int]:
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((HOST, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _wait_until_ready(process: subprocess.Popen[bytes], port: int, log_path: Path,
                      deadline: float, timeout_s: float) -> None:
    """Return once Kafka answers a metadata request on ``port`` with itself as a live broker.

    The listener accepts connections before the broker serves them, and a kafka-python client
    that cannot bootstrap leaves its socket to the garbage collector (a ResourceWarning, an error
    under the tests' ``filterwarnings``, in whichever later test collects it): so the first
    request waits for the log's "Kafka Server started", and a failed one is collected here.
    """
    while True:
        _check_alive(process, port, log_path)
        if time.monotonic() >= deadline:
            raise KafkaError(f"Kafka (pid {process.pid}) did not answer a metadata request on "
                             f"{HOST}:{port} within {timeout_s:g} s{_tail_of(log_path)}")
        if STARTED not in _log_tail(log_path, 200) or not _accepts_connections(port):
            time.sleep(0.05)
            continue
        brokers = _metadata_brokers(f"{HOST}:{port}")
        if (HOST, port) in brokers:
            _check_alive(process, port, log_path)  # the answer was our Kafka's
            return
        time.sleep(0.1)


#: What kafka.Kafka logs once the broker serves requests (KafkaRaftServer, Kafka 3 and 4).
STARTED: Final = "Kafka Server started"


def _metadata_brokers(bootstrap: str) -> set[tuple[str, int]]:
    """The brokers of the cluster's metadata; empty if it did not answer (yet)."""
    import gc
    import warnings

    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="slawatch-kafka-probe",
                                 bootstrap_timeout_ms=5000, request_timeout_ms=5000)
        try:
            cluster = admin.describe_cluster()
        finally:
            admin.close()
    except Exception:  # kafka-python raises many kinds; all mean "not ready yet"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()  # the failed client's sockets, now rather than in a later test
        return set()
    return {(b["host"], int(b["port"])) for b in cluster["brokers"]}


def _check_alive(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    status = process.poll()
    if status is None:
        return
    if "Address already in use" in _log_tail(log_path, 200):
        raise _PortTaken()
    raise KafkaError(f"Kafka (pid {process.pid}) exited with status {status} before answering "
                     f"on {HOST}:{port}{_tail_of(log_path)}")


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _log_tail(log_path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with open(log_path, "rb") as log_file:
            log_file.seek(0, os.SEEK_END)
            log_file.seek(max(log_file.tell() - 16384, 0))
            text = log_file.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(log {log_path} unreadable: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _tail_of(log_path: Path) -> str:
    tail = _log_tail(log_path)
    return f"; its log is {log_path}, ending:\n{tail}" if tail else f"; its log {log_path} is empty"


def _end_process(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, wait, SIGKILL: to this one child only (Popen knows once it is reaped, so a
    reused PID is never signalled)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _stop(process: subprocess.Popen[bytes], timeout_s: float, work: Path | None) -> None:
    _end_process(process, timeout_s)
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)
