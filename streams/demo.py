"""``slawatch demo``: the main job on an embedded default, watched live.

It starts the embedded broker (unless one is configured), creates the topics, runs a worker (a
``slawatch worker`` child process), generates realistic traffic, and prints every alert as it
comes out of the output topics. Ctrl-C (or ``--duration``) stops the generator, the worker and
the broker, each by the PID we started, and leaves no process behind.

The traffic (``Traffic``) is a pure function of a random seed and the wall clock it is given:
customers open incidents of every severity on their services, acknowledge and resolve them (some
late, some paused while waiting on the customer, some escalated); services send heartbeats from
two instances and request counts (bursts of errors and of slow requests), and now and then one
fails (its instances report ``down`` or fall silent, its requests err); a rare malformed record
shows the dead-letter topic at work.
"""

from __future__ import annotations

import heapq
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import orjson

from .admin import create_topics
from .broker import EMBEDDED_KAFKA_PYTHON_PRODUCER_SETTINGS, EmbeddedBroker
from .core.timefmt import format_instant
from .settings import Settings
from .topics import OUTPUT_TOPICS

DEMO_POLICIES = Path(__file__).parent / "examples" / "demo-policies.yaml"
CUSTOMERS = ("acme", "globex", "initech", "umbrella")
SERVICES = ("payments", "auth", "search", "elevators")
SEVERITIES = (("P1", 15), ("P2", 30), ("P3", 35), ("P4", 20))
#: The demo policy's response and resolution targets (seconds), to make some answers late.
TARGETS_S = {"P1": (20, 120), "P2": (40, 240), "P3": (90, 360), "P4": (180, 600)}
#: The demo's elevators contract: a technician on site within these seconds (its ``on_site``
#: clock); the technician's app reports some arrivals late.
ON_SITE_S = {"P1": 45, "P2": 90, "P3": 90, "P4": 90}
HEARTBEAT_EVERY_MS = 2_000

Message = tuple[str, str | None, bytes]  # (topic name before the prefix, key, value)


# ----------------------------------------------------------------------------- the traffic


@dataclass
class Traffic:
    """Incident events and heartbeats due by a wall-clock instant: ``due(now_ms)``."""

    seed: int = 1
    incident_every_ms: int = 2_500
    outage_every_ms: int = 40_000
    rng: random.Random = field(init=False)
    _queue: list[tuple[int, int, Message]] = field(init=False, default_factory=list)
    _seq: int = field(init=False, default=0)
    _next_incident: int | None = field(init=False, default=None)
    _next_outage: int | None = field(init=False, default=None)
    _next_beat: int | None = field(init=False, default=None)
    _incidents: int = field(init=False, default=0)
    _down: dict[str, tuple[int, str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def due(self, now_ms: int) -> list[Message]:
        """Every message due at or before ``now_ms``, stamped with its own instant."""
        if self._next_incident is None:
            self._next_incident = now_ms
            self._next_outage = now_ms + self.outage_every_ms // 2
            self._next_beat = now_ms
        assert self._next_outage is not None and self._next_beat is not None
        while self._next_incident <= now_ms:
            self._open(self._next_incident)
            self._next_incident += self.rng.randint(self.incident_every_ms // 2,
                                                    self.incident_every_ms * 3 // 2)
        while self._next_outage <= now_ms:
            self._outage(self._next_outage)
            self._next_outage += self.rng.randint(self.outage_every_ms // 2,
                                                  self.outage_every_ms * 3 // 2)
        while self._next_beat <= now_ms:
            self._beats(self._next_beat)
            self._next_beat += HEARTBEAT_EVERY_MS
        out = []
        while self._queue and self._queue[0][0] <= now_ms:
            out.append(heapq.heappop(self._queue)[2])
        return out

    def _at(self, at_ms: int, message: Message) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at_ms, self._seq, message))

    def _event(self, at_ms: int, iid: str, kind: str, sent_ms: int | None = None,
               **extra: Any) -> None:
        """An incident event stamped ``at_ms``, sent then (or at ``sent_ms``, late)."""
        self._seq += 1
        body = {"event_id": f"{iid}-{self._seq}", "incident_id": iid, "type": kind,
                "at": format_instant(at_ms), **extra}
        self._at(at_ms if sent_ms is None else sent_ms, ("incidents", iid, orjson.dumps(body)))

    def _open(self, t: int) -> None:
        rng = self.rng
        self._incidents += 1
        iid = f"INC-{self._incidents:05d}"
        first = self._incidents == 1  # a P1 answered late: a breach in the first half minute
        severity = "P1" if first else rng.choices([s for s, _ in SEVERITIES],
                                                  [w for _, w in SEVERITIES])[0]
        customer, service = rng.choice(CUSTOMERS), rng.choice(SERVICES)
        self._event(t, iid, "opened", severity=severity, customer=customer, service=service,
                    attributes={"summary": f"{service} trouble for {customer}"})
        response_s, resolution_s = TARGETS_S[severity]
        if rng.random() < 0.05:
            self._at(t, ("incidents", iid, b'{"event_id": "broken", "incident_id": '))
        # three in ten answers come late
        ack = t + int(1000 * response_s * rng.uniform(*(
            (1.05, 1.6) if first or rng.random() < 0.3 else (0.2, 0.95))))
        self._event(ack, iid, "acknowledged")
        done = ack + int(1000 * resolution_s * rng.uniform(*(
            (0.9, 1.4) if rng.random() < 0.25 else (0.2, 0.7))))
        if severity in ("P3", "P4") and rng.random() < 0.4:  # waiting on the customer
            pause = ack + (done - ack) // 3
            self._event(pause, iid, "paused", attributes={"reason": "waiting on customer"})
            self._event(pause + rng.randint(10_000, 60_000), iid, "resumed")
            done += 30_000
        if severity == "P2" and rng.random() < 0.2:
            self._event(ack + 5_000, iid, "severity_changed", severity="P1")
        if service == "elevators":
            self._field_visit(t, iid, severity)
        self._event(done, iid, "resolved")

    def _field_visit(self, t: int, iid: str, severity: str) -> None:
        """An elevator call: a crew dispatched, then a technician on site, one arrival in four
        reported late by the technician's app (so the page shows a breach withdrawn), some after
        a remote fix resolved the incident (the ``on_site`` clock was cancelled by then)."""
        rng = self.rng
        self._event(t + rng.randint(2_000, 8_000), iid, "milestone", milestone="dispatched")
        arrived = t + int(1000 * ON_SITE_S[severity] * rng.uniform(0.4, 1.3))
        late = arrived + rng.randint(5_000, 20_000) if rng.random() < 0.25 else None
        self._event(arrived, iid, "milestone", late, milestone="on_site")

    def _outage(self, t: int) -> None:
        up = [s for s in SERVICES if s not in self._down]
        if not up:
            return
        service = self.rng.choice(up)
        how = self.rng.choice(["down", "silent"])
        self._down[service] = (t + self.rng.randint(30_000, 120_000), how)

    def _beats(self, t: int) -> None:
        for service in SERVICES:
            until, how = self._down.get(service, (0, ""))
            if until and t >= until:
                del self._down[service]
                until = 0
            if until and how == "silent":
                continue
            status = "down" if until else "up"
            for instance in ("a", "b"):
                beat = {"service": service, "instance": instance, "status": status,
                        "at": format_instant(t)}
                self._at(t, ("heartbeats", service, orjson.dumps(beat)))
            self._requests(t, service, failing=bool(until))

    def _requests(self, t: int, service: str, failing: bool) -> None:
        """The requests a service served in the last interval, as a collector's delta: most
        succeed and are fast; a failing service errs, and now and then a burst of errors or
        of slow requests (payments most often) spends the request objectives' budgets."""
        rng = self.rng
        total = rng.randint(80, 120)
        errors = rng.randint(0, 1)
        slow = rng.randint(0, 2)
        if failing:
            errors = rng.randint(total // 2, total)
        elif rng.random() < 0.04:
            errors = rng.randint(5, 30)
        if rng.random() < (0.15 if service == "payments" else 0.03):
            slow = rng.randint(10, 40)
        count = {"service": service, "at": format_instant(t), "total": total, "errors": errors,
                 "latency_le": {"300ms": total - slow, "+Inf": total},
                 "event_id": f"{service}-{t}"}
        self._at(t, ("requests", service, orjson.dumps(count)))


# ----------------------------------------------------------------------------- the live view


def format_record(rec: dict[str, Any]) -> str:
    """One line per output record, readable at a glance."""
    kind = rec.get("kind", "?")
    at = rec.get("at", "")
    clock = at[11:19] if len(at) >= 19 else at
    if kind in ("invalid", "late"):
        where = f"{rec.get('source_topic')}[{rec.get('partition')}]@{rec.get('offset')}"
        return f"{clock:8}  DEAD LETTER   {kind}/{rec.get('reason')}  {where}: {rec.get('error')}"
    label = {"breach": "BREACH", "near_breach": "NEAR-BREACH", "outcome": "OUTCOME",
             "retraction": "RETRACTED"}.get(kind, kind.upper())
    metric = rec.get("metric", "")
    if "incident_id" in rec:
        who = (f"{rec['incident_id']} {rec.get('severity', '')} "
               f"{rec.get('customer')}/{rec.get('service')}")
        if kind == "outcome":
            verdict = "met" if rec.get("met") else "MISSED"
            detail = (f"{verdict}: {rec.get('elapsed_seconds', 0):g}s of "
                      f"{rec.get('target_seconds', 0):g}s")
        elif kind == "retraction":
            detail = f"withdraws a {rec.get('retracts')}"
        else:
            detail = (f"{_threshold(rec.get('threshold'))} of {rec.get('target_seconds', 0):g}s"
                      f", deadline {str(rec.get('deadline', ''))[11:19]}")
        return f"{clock:8}  {label:12}  {metric:10}  {who:32}  {detail}  [{rec.get('policy_id')}]"
    who = f"service {rec.get('service')}"
    if "objective" in rec:
        who += f" {rec['objective']}"
    if metric == "requests":
        detail = _requests_detail(rec, kind)
    elif metric == "burn_rate":
        detail = (f"budget burning {rec.get('burn_rate_long', 0):.1f}x over "
                  f"{rec.get('long_window_seconds', 0):g}s (alert at {rec.get('threshold')}x)")
    else:
        detail = (f"availability {rec.get('availability')}%, down "
                  f"{rec.get('downtime_seconds', 0):g}s of a {rec.get('budget_seconds', 0):g}s "
                  "budget")
        if kind != "outcome":
            detail = f"{_threshold(rec.get('threshold'))} of budget: " + detail
        if rec.get("credit_percent"):
            detail += f", credit {rec['credit_percent']:g}%"
    return f"{clock:8}  {label:12}  {metric:10}  {who:32}  {detail}  [{rec.get('policy_id')}]"


def _requests_detail(rec: dict[str, Any], kind: str) -> str:
    if "good" in rec:
        detail = f"{rec['good']} of {rec['total']} requests good"
    else:
        detail = (f"{rec.get('bad_seconds', 0):g}s of bad slices of a "
                  f"{rec.get('budget_seconds', 0):g}s budget")
    detail = f"target {rec.get('target')}%: {detail}"
    if kind == "outcome":
        return ("met" if rec.get("met") else "MISSED") + f", ratio {rec.get('ratio')}, " + detail
    if kind != "retraction":
        return f"{_threshold(rec.get('threshold'))} of budget: " + detail
    return detail


def _threshold(value: Any) -> str:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return f"{value:.0%}" if value <= 1 else f"{value:g}x"
    return str(value)


# ----------------------------------------------------------------------------- the run


def _web_port(settings: Settings) -> int:
    """The configured web port when it is free, else a free one: a demo should start anyway."""
    for port in (settings.web_port, 0):
        with socket.socket() as probe:
            try:
                probe.bind((settings.web_host, port))
            except OSError:
                continue
            found: int = probe.getsockname()[1]
            return found
    msg = f"no free port on {settings.web_host}"
    raise OSError(msg)


class Demo:
    """The processes and threads of one demo run; ``stop`` ends each one we started."""

    def __init__(self, settings: Settings, policies: Path, out: IO[str], log_dir: Path,
                 parent_env: Mapping[str, str]) -> None:
        self.settings = settings
        self.parent_env = parent_env
        self.policies = policies
        self.out = out
        self.log_dir = log_dir
        self.broker: EmbeddedBroker | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.counts: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.threads: list[threading.Thread] = []

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def start(self) -> None:
        settings = self.settings
        if settings.broker is None:
            self.broker = EmbeddedBroker(log_dir=self.log_dir).start()
            settings = self.settings = replace(settings, broker=self.broker.bootstrap,
                                               broker_kind="TANSU")
            self.say(f"embedded Kafka-protocol broker (Tansu) on {self.broker.bootstrap}, "
                     f"pid {self.broker.pid}")
        created = create_topics(settings.bootstrap, settings.topic_specs(),
                                client_options=settings.kafka_client_options())
        self.say(f"topics: {', '.join(s.name for s in settings.topic_specs())} "
                 f"({len(created)} created)")
        self.settings = replace(self.settings, web_port=_web_port(self.settings))
        self.worker = self._start_worker()
        self.say(f"worker pid {self.worker.pid} (log: {self.log_dir / 'worker.log'}); "
                 f"policies: {self.policies}")
        self.say(f"status page: http://{self.settings.web_host}:{self.settings.web_port}/ "
                 "(also /metrics and /health)")
        self.say("alerts appear below as they happen; Ctrl-C stops everything\n")
        for target in (self._generate, self._watch):
            thread = threading.Thread(target=target, name=f"demo-{target.__name__}",
                                      daemon=True)
            thread.start()
            self.threads.append(thread)

    def _start_worker(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in self.parent_env.items() if not k.startswith("SLAWATCH_")}
        env.update(self.settings.environment())
        env.update(SLAWATCH_POLICIES=str(self.policies),
                   SLAWATCH_DATA_DIR=str(self.log_dir / "data"))
        with open(self.log_dir / "worker.log", "wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "streams", "worker", "--loglevel", "info"],
                env=env, stdout=log, stderr=log,
                # its own process group: Ctrl-C reaches the demo, which stops it in order
                start_new_session=True)

    def _generate(self) -> None:
        from kafka import KafkaProducer

        s = self.settings
        options = dict(EMBEDDED_KAFKA_PYTHON_PRODUCER_SETTINGS) if s.broker_kind == "TANSU" \
            else {"linger_ms": 5}
        producer = KafkaProducer(bootstrap_servers=s.bootstrap, **s.kafka_client_options(),
                                 **options)
        traffic = Traffic(seed=int(time.time()))
        try:
            while not self.stopping.is_set():
                for topic, key, value in traffic.due(time.time_ns() // 1_000_000):
                    producer.send(s.topic(topic), key=None if key is None else key.encode(),
                                  value=value)
                    self.sent[topic] += 1
                producer.flush()
                self.stopping.wait(0.1)
        finally:
            producer.close(timeout=5)

    def _watch(self) -> None:
        from .tail import follow

        def show(rec: dict[str, Any]) -> None:
            self.counts[rec.get("kind", "?")] += 1
            self.say(format_record(rec))

        follow(self.settings, OUTPUT_TOPICS, self.stopping, show)

    def summary(self) -> str:
        sent = ", ".join(f"{n} {t} records" for t, n in sorted(self.sent.items())) or "nothing"
        got = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items())) or "nothing yet"
        return f"sent {sent}; received {got}"

    def worker_alive(self) -> bool:
        return self.worker is not None and self.worker.poll() is None

    def stop(self) -> None:
        """Stop the threads, then the worker, then the broker: each one we started, by PID."""
        self.stopping.set()
        for thread in self.threads:
            thread.join(10)
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(20)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait(10)
        if self.broker is not None:
            self.broker.stop()


def run_demo(settings: Settings, parent_env: Mapping[str, str], *, policies: Path = DEMO_POLICIES,
             duration_s: float | None = None, out: IO[str] = sys.stdout,
             clock: Callable[[], float] = time.monotonic) -> int:
    """Run the demo until Ctrl-C or ``duration_s``; the exit code (1 if the worker died).
    ``parent_env`` is passed on to the worker, but for its ``SLAWATCH_*`` variables, which are
    ``settings``'."""
    with tempfile.TemporaryDirectory(prefix="slawatch-demo-") as tmp:
        demo = Demo(settings, policies, out, Path(tmp), parent_env)
        code = 0
        try:
            demo.start()
            end = None if duration_s is None else clock() + duration_s
            last = clock()
            while end is None or clock() < end:
                time.sleep(0.2)
                if not demo.worker_alive():
                    log = (Path(tmp) / "worker.log").read_text(errors="replace")
                    demo.say("the worker stopped:\n" + log[-4000:])
                    code = 1
                    break
                if clock() - last >= 30:
                    last = clock()
                    demo.say(f"-- {demo.summary()}")
        except KeyboardInterrupt:
            demo.say("\nstopping...")
        finally:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C waits
            try:
                demo.stop()
            finally:
                signal.signal(signal.SIGINT, previous)
        demo.say(f"demo over: {demo.summary()}")
        return code

