"""``slawatch``: each command parses its arguments and calls one function."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

from .admin import check_reachable, create_topics
from .core.errors import InvalidInstant, PolicyError, SlawatchError
from .core.policy import IncidentExplanation, PolicySet
from .core.policyfile import load_policy_file
from .core.timefmt import NEVER_MS, format_instant, parse_instant
from .settings import VARIABLES, Settings, SettingsError, parse_setting
from .topics import TopicError, TopicSpec


def _instant(text: str) -> int:
    try:
        return parse_instant(int(text) if text.lstrip("-").isdigit() else text)
    except InvalidInstant as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage block stays in ``--help``); subcommands
    inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="slawatch", description="Stream-processing SLA breach detector."
    )
    parser.add_argument("--version", action="version", version=f"slawatch {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rp = sub.add_parser(
        "replay", help="replay incident and heartbeat files or topics offline, deterministically",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Replay JSON Lines inputs through the SLA core and write the alert and "
                    "outcome\nrecords as JSON Lines.\n\nWith --from-topics, backfill: read "
                    "PREFIX.incidents and PREFIX.heartbeats,\neach partition from the start (or "
                    "--from-time) up to its end when the run\nbegan (or --to-time), merge them "
                    "on `at` as files are merged, and write the\nrecords to a file or to "
                    "--to-topic (keyed by alert_id; never a live topic of\nPREFIX unless "
                    "--allow-live-topics). --from-time and --to-time compare Kafka\nrecord "
                    "timestamps. A progress line is drawn on stderr when it is a terminal.\n\n"
                    "--revision merges a policy file into --policies: what if this policy had "
                    "applied.\n\n"
                    "An input whose `at` is later than its reference instant plus --max-future is "
                    "a\ndead letter (reason future): the reference is --until in a file replay (no "
                    "bound\nwithout it), each record's Kafka timestamp in a backfill. A record "
                    "(line) over\n64 KiB is a dead letter too_large, one nested over 64 levels "
                    "too_deep.",
        epilog="examples:\n  slawatch replay --policies policy.yaml --incidents incidents.jsonl "
               "--until 2027-02-17T18:00:00Z --output out.jsonl\n"
               "  zcat heartbeats.jsonl.gz | slawatch replay --policies policy.yaml "
               "--heartbeats - \\\n      --until 2027-02-17T18:00:00Z --max-future 10m "
               "--retention 90d\n"
               "  slawatch replay --policies policy.yaml --from-topics --broker kafka-1:9092 "
               "--output out.jsonl\n"
               "  slawatch replay --policies policy.yaml --revision gold-v3.yaml --from-topics "
               "\\\n      --from-time 2027-02-01T00:00:00Z --to-time 2027-03-01T00:00:00Z "
               "--to-topic whatif.gold-v3")
    rp.add_argument("--policies", required=True, metavar="P", help="policy file (YAML or JSON)")
    rp.add_argument("--revision", action="append", default=[], metavar="FILE",
                    help="a policy file merged into P (repeatable): a policy of the same id and "
                         "version replaces P's, another is added, a calendar replaces P's of its "
                         "name")
    rp.add_argument("--incidents", metavar="F", help="incident events, JSON Lines (- is stdin)")
    rp.add_argument("--heartbeats", metavar="F", help="heartbeats, JSON Lines (- is stdin)")
    rp.add_argument("--until", type=_instant, metavar="T", help="advance the clock to T at the end")
    rp.add_argument("--output", metavar="O", help="output file (default: stdout)")
    rp.add_argument("--retention", metavar="D",
                    help="forget a finished incident this long after its last event "
                         "($SLAWATCH_RETENTION, else 30d)")
    rp.add_argument("--max-future", metavar="D",
                    help="how far past its reference instant an input's `at` may lie "
                         "($SLAWATCH_MAX_FUTURE, else 5m)")
    rp.add_argument("--from-topics", action="store_true",
                    help="read PREFIX.incidents and PREFIX.heartbeats instead of files")
    rp.add_argument("--broker", metavar="URL",
                    help="with --from-topics: host:port, several by commas ($SLAWATCH_BROKER)")
    rp.add_argument("--prefix", metavar="P",
                    help="with --from-topics: topic name prefix ($SLAWATCH_TOPIC_PREFIX, else sla)")
    rp.add_argument("--from-time", metavar="T",
                    help="with --from-topics: start each partition at its first record "
                         "timestamped T or later (default: the beginning)")
    rp.add_argument("--to-time", metavar="T",
                    help="with --from-topics: end each partition before its first record "
                         "timestamped after T (default: its end when the run began)")
    rp.add_argument("--to-topic", metavar="NAME",
                    help="with --from-topics: write the records to this topic (created, "
                         "compacted, if missing) instead of a file")
    rp.add_argument("--allow-live-topics", action="store_true",
                    help="let --to-topic name an input or output topic of PREFIX")
    rp.add_argument("--timeout", metavar="S",
                    help="with --from-topics: seconds to wait for the broker, and for a "
                         "partition that stops answering (default: 30)")

    pp = sub.add_parser("policy", help="policy file tools")
    psub = pp.add_subparsers(dest="policy_command", required=True, metavar="COMMAND")
    pv = psub.add_parser(
        "validate", help="validate a policy file: exit 0, or 2 with every error listed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  slawatch policy validate policies.yaml")
    pv.add_argument("path", metavar="P")
    pe = psub.add_parser(
        "explain", help="show which policy and version an incident would get, and why",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Show which policy (and which version) would govern an incident opened at "
                    "T: every\npolicy whose match fits, the version in force at T, whether it has "
                    "an incidents\nblock, the rule that picked the winner (customer+service > "
                    "customer > service > {}),\nand the winner's targets for the severity and its "
                    "calendar. Exits 0 (also when no\npolicy matches), or 2 with a one-line error.",
        epilog="example:\n  slawatch policy explain --policies policy.yaml --customer contoso "
               "--service auth \\\n      --severity P1 --at 2027-05-01T09:00:00Z")
    pe.add_argument("--policies", metavar="P",
                    help="policy file (YAML or JSON; default: $SLAWATCH_POLICIES)")
    pe.add_argument("--customer", required=True, metavar="C")
    pe.add_argument("--service", required=True, metavar="S")
    pe.add_argument("--severity", required=True, metavar="SEV")
    pe.add_argument("--at", required=True, metavar="T",
                    help="when the incident opens: RFC 3339 with an offset, or epoch ms")
    pe.add_argument("--json", action="store_true", help="print a JSON object instead")

    tp = sub.add_parser("topics", help="Kafka topic tools")
    tsub = tp.add_subparsers(dest="topics_command", required=True, metavar="COMMAND")
    tc = tsub.add_parser(
        "create", help="create the input and output topics with their partitions and compaction",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Create every slawatch topic, all with the same partitions:\n"
                    "  PREFIX.incidents, PREFIX.heartbeats        input\n"
                    "  PREFIX.breaches, PREFIX.near-breaches,     changelogs keyed by alert_id,\n"
                    "  PREFIX.outcomes                            cleanup.policy=compact\n"
                    "  PREFIX.deadletter                          invalid and late input\n"
                    "A topic already there is left as it is if its partition count agrees.\n"
                    "Prints one line per topic; exits 0, or 2 with a one-line error.\n"
                    "SASL and TLS: SLAWATCH_SECURITY_PROTOCOL, SLAWATCH_SASL_MECHANISM,\n"
                    "SLAWATCH_SASL_USERNAME, SLAWATCH_SASL_PASSWORD, SLAWATCH_SSL_CAFILE.",
        epilog="examples:\n  slawatch topics create --broker kafka-1:9092,kafka-2:9092 "
               "--partitions 12\n  SLAWATCH_BROKER=127.0.0.1:9092 slawatch topics create")
    tc.add_argument("--broker", metavar="URL",
                    help="host:port or kafka://host:port, several by commas "
                         "(default: $SLAWATCH_BROKER)")
    tc.add_argument("--partitions", metavar="N",
                    help="partitions of every topic (default: $SLAWATCH_PARTITIONS, else 4)")
    tc.add_argument("--prefix", metavar="P",
                    help="topic name prefix (default: $SLAWATCH_TOPIC_PREFIX, else sla)")
    tc.add_argument("--timeout", metavar="S", default="10",
                    help="seconds to wait for the broker (default: 10)")
    wk = sub.add_parser(
        "worker", help="run the Faust worker: live detection on Kafka",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Consume PREFIX.incidents and PREFIX.heartbeats, keep the detector's tables, "
                    "and publish\nto PREFIX.breaches, PREFIX.near-breaches, PREFIX.outcomes and "
                    "PREFIX.deadletter\nuntil SIGINT or SIGTERM. Workers with the same app id "
                    "share the partitions.\nEvery flag but --no-web and --loglevel has a "
                    "SLAWATCH_* variable (see the README);\nflags win.",
        epilog="examples:\n  slawatch worker --broker kafka-1:9092 --policies policies.yaml\n"
               "  slawatch worker --broker kafka-1:9092 --policies policies.yaml "
               "--retention 90d --max-future 10m\n"
               "  SLAWATCH_BROKER=kafka:9092 SLAWATCH_POLICIES=/etc/slawatch/policies.yaml "
               "slawatch worker")
    for _, flag, meta, text in _WORKER_FLAG_HELP:
        wk.add_argument(flag, metavar=meta, help=text)
    wk.add_argument("--no-web", action="store_true",
                    help="do not start the worker's web server")
    wk.add_argument("--timeout", metavar="S", default="30",
                    help="seconds to wait for the broker at start (default: 30)")
    wk.add_argument("--loglevel", default="warning", metavar="L",
                    help="debug, info, warning (default) or error")
    dm = sub.add_parser(
        "demo", help="the main job on an embedded broker: worker, traffic and live alerts",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start a local Kafka-protocol broker (Tansu, in memory) unless one is "
                    "configured,\ncreate the topics, run a worker and a generator of realistic "
                    "incidents and\nheartbeats, and print every alert as it happens. Ctrl-C "
                    "stops everything.\nThe policy file is streams/examples/demo-policies.yaml: "
                    "targets of seconds,\nso that breaches happen while you watch.",
        epilog="examples:\n  slawatch demo\n  slawatch demo --duration 120\n"
               "  slawatch demo --broker 127.0.0.1:9092   # your own Kafka")
    dm.add_argument("--broker", metavar="URL",
                    help="use this broker instead of starting one ($SLAWATCH_BROKER)")
    dm.add_argument("--policies", metavar="P", help="policy file (default: the demo's)")
    dm.add_argument("--duration", type=float, metavar="S",
                    help="stop after S seconds (default: run until Ctrl-C)")
    dm.add_argument("--timeout", metavar="S", default="30",
                    help="with --broker: seconds to wait for it at start (default: 30)")
    _add_report_parser(sub)
    _add_local_parsers(sub)
    return parser


def _add_local_parsers(sub: Any) -> None:
    """``broker``, ``send`` and ``tail``: a broker to try slawatch on, a way to feed it, and the
    example consumer of its alerts."""
    bk = sub.add_parser(
        "broker", help="run the embedded broker (Tansu, in memory) in the foreground",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start the embedded Kafka-protocol broker (Tansu, in memory, on a free port "
                    "of\n127.0.0.1), create the slawatch topics on it, print its address and "
                    "the line\nto export in other terminals, and run until Ctrl-C or SIGTERM. "
                    "For trying\nslawatch; production is Kafka.",
        epilog="example:\n  slawatch broker          # then, in other terminals: export "
               "SLAWATCH_BROKER=...")
    bk.add_argument("--partitions", metavar="N",
                    help="partitions of the topics ($SLAWATCH_PARTITIONS, else 4)")
    bk.add_argument("--prefix", metavar="P",
                    help="topic name prefix ($SLAWATCH_TOPIC_PREFIX, else sla)")
    sd = sub.add_parser(
        "send", help="send incident events or heartbeats (JSON, or a JSON Lines file)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Send events to the topics a worker reads: an incident event (it has "
                    "incident_id)\nto PREFIX.incidents keyed by incident_id, a heartbeat "
                    "(service and status) to\nPREFIX.heartbeats keyed by service. Each is "
                    "checked first as the worker checks it;\na bad one is reported with its "
                    "place and not sent, the others are. Exits 0,\nor 2 with a one-line error "
                    "(nothing valid to send, no broker, no topic).",
        epilog="examples:\n  slawatch send --now '{\"incident_id\": \"INC-1\", \"event_id\": "
               "\"e1\", \"type\": \"opened\",\n      \"severity\": \"P1\", \"customer\": "
               "\"acme\", \"service\": \"payments\"}'\n"
               "  slawatch send --file streams/examples/incidents.jsonl")
    sd.add_argument("event", nargs="?", metavar="JSON", help="one event as a JSON object")
    sd.add_argument("--file", metavar="F", help="events as JSON Lines (- is stdin)")
    sd.add_argument("--now", action="store_true",
                    help="stamp events that have no `at` with the wall clock")
    tl = sub.add_parser(
        "tail", help="follow the alert topics and print what stands as it changes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read PREFIX.breaches, PREFIX.near-breaches and PREFIX.outcomes from their "
                    "beginning\nand follow them: one line per change of what stands (a new or "
                    "changed alert,\na retraction; a record delivered again is not shown), and "
                    "a summary of what\nstands each time it has read everything. --standing "
                    "prints what stands now\nand exits. Ctrl-C or SIGTERM stops it.",
        epilog="examples:\n  slawatch tail\n  slawatch tail --json | jq .alert_id\n"
               "  slawatch tail --standing --broker kafka-1:9092")
    tl.add_argument("--standing", action="store_true",
                    help="print the records that stand now and exit")
    tl.add_argument("--json", action="store_true", help="print each record as JSON")
    for parser in (sd, tl):
        parser.add_argument("--broker", metavar="URL",
                            help="host:port, several by commas ($SLAWATCH_BROKER)")
        parser.add_argument("--prefix", metavar="P",
                            help="topic name prefix ($SLAWATCH_TOPIC_PREFIX, else sla)")
        parser.add_argument("--timeout", metavar="S", default="30",
                            help="seconds to wait for the broker (default: 30)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("slawatch")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


#: The flags of ``worker``: (the setting it overrides, flag, metavar, help).
_WORKER_FLAG_HELP = (
    ("broker", "--broker", "URL",
     "host:port or kafka://host:port, several by commas ($SLAWATCH_BROKER)"),
    ("policies", "--policies", "P", "the policy file ($SLAWATCH_POLICIES)"),
    ("topic_prefix", "--prefix", "P", "topic name prefix ($SLAWATCH_TOPIC_PREFIX, else sla)"),
    ("partitions", "--partitions", "N", "partitions of the topics ($SLAWATCH_PARTITIONS, else 4)"),
    ("app_id", "--app-id", "ID",
     "consumer group and table prefix ($SLAWATCH_APP_ID, else slawatch)"),
    ("data_dir", "--data-dir", "DIR", "the worker's data directory ($SLAWATCH_DATA_DIR)"),
    ("web_host", "--web-host", "H", "web server address ($SLAWATCH_WEB_HOST, else 127.0.0.1)"),
    ("web_port", "--web-port", "N", "web server port ($SLAWATCH_WEB_PORT, else 6066)"),
    ("clock", "--clock", "C",
     "WALL, or MANUAL: only produced ticks move the clock ($SLAWATCH_CLOCK)"),
    ("broker_kind", "--broker-kind", "K",
     "KAFKA, or TANSU for the embedded broker ($SLAWATCH_BROKER_KIND)"),
    ("retention_ms", "--retention", "D",
     "forget a finished incident this long after its last event ($SLAWATCH_RETENTION, "
     "else 30d)"),
    ("max_future_ms", "--max-future", "D",
     "how far past its reference instant an input's `at` may lie ($SLAWATCH_MAX_FUTURE, "
     "else 5m)"),
)
#: The flags of ``worker`` that override a setting: (field, flag).
_WORKER_FLAGS = tuple((name, flag) for name, flag, _, _ in _WORKER_FLAG_HELP)


#: The flags of ``topics create`` that override a setting: (field, flag).
_TOPICS_FLAGS = (("broker", "--broker"), ("partitions", "--partitions"),
                 ("topic_prefix", "--prefix"))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "replay":
        return _replay(args)
    if args.command == "policy" and args.policy_command == "validate":
        return _validate(args.path)
    if args.command == "policy" and args.policy_command == "explain":
        return _explain(args)
    if args.command == "topics" and args.topics_command == "create":
        return _topics_create(args)
    if args.command == "worker":
        return _worker(args)
    if args.command == "demo":
        return _demo(args)
    if args.command == "report":
        return _report(args)
    if args.command == "broker":
        return _broker(args)
    if args.command == "send":
        return _send(args)
    if args.command == "tail":
        return _tail(args)
    return 2


def _stop_on_sigterm() -> None:
    """SIGTERM stops a foreground command as Ctrl-C does."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _broker(args: argparse.Namespace) -> int:
    from .broker import EmbeddedBroker

    try:
        settings = _settings(args, (("partitions", "--partitions"),
                                    ("topic_prefix", "--prefix")))
        broker = EmbeddedBroker(keep_log=True).start()  # named below if it dies
    except SlawatchError as exc:
        return _fail(f"slawatch broker: error: {exc}")
    try:
        _stop_on_sigterm()
        specs = replace(settings, broker=broker.bootstrap).topic_specs()
        create_topics(broker.bootstrap, specs)
        print(f"embedded Kafka-protocol broker (Tansu, in memory) on {broker.bootstrap}, "
              f"pid {broker.pid}, log {broker.log_path}")
        print(f"topics: {', '.join(spec.name for spec in specs)}")
        print("in other terminals, to use it:")
        print(f"export SLAWATCH_BROKER={broker.bootstrap} SLAWATCH_BROKER_KIND=TANSU")
        print("Ctrl-C stops it (everything on it is lost)", flush=True)
        while broker.running:
            time.sleep(0.2)
        return _fail(f"slawatch broker: error: the broker (pid {broker.pid}) exited; its log: "
                     f"{broker.log_path}")
    except KeyboardInterrupt:
        print("stopping the broker", flush=True)
        broker.stop()
        if broker.log_path is not None:  # kept only for a broker that failed
            broker.log_path.unlink(missing_ok=True)
        return 0
    except SlawatchError as exc:
        return _fail(f"slawatch broker: error: {exc}")
    finally:
        broker.stop()


def _client_settings(args: argparse.Namespace) -> tuple[Settings, float]:
    """The settings of ``send`` and ``tail`` (broker, prefix), and their ``--timeout``."""
    settings = _settings(args, (("broker", "--broker"), ("topic_prefix", "--prefix")))
    settings.bootstrap  # noqa: B018 - fails early, naming the variable, when no broker
    return settings, _seconds(args.timeout, "--timeout")


def _send(args: argparse.Namespace) -> int:
    from .send import plan, produce
    from .sources import _lines

    try:
        if (args.event is None) == (args.file is None):
            raise SettingsError("give one event as JSON, or --file F (- for stdin)", "--file")
        settings, timeout_s = _client_settings(args)
        lines = ([("argument", args.event.encode())] if args.event is not None else
                 ((f"{args.file}:{n}", raw) for n, raw, _ in _lines(args.file, args.file)))
        planned = plan(lines, time.time_ns() // 1_000_000 if args.now else None)
        if not planned.messages:
            return _fail(f"slawatch send: error: nothing to send: "
                         f"{'; '.join(planned.problems[:3]) or 'the file has no event'}")
        for problem in planned.problems:
            print(problem, file=sys.stderr)
        sent = produce(settings, planned.messages, timeout_s)
    except SlawatchError as exc:
        return _fail(f"slawatch send: error: {exc}")
    where = ", ".join(f"{n} to {topic}" for topic, n in sorted(sent.items()))
    print(f"send: {len(planned.messages)} sent ({where}), {len(planned.problems)} bad "
          "skipped", file=sys.stderr)
    return 0


def _tail(args: argparse.Namespace) -> int:
    import threading

    import orjson

    from .demo import format_record
    from .tail import Changes, follow, standing
    from .topics import CHANGELOG_TOPICS

    def show(rec: dict[str, Any]) -> None:
        print(orjson.dumps(rec).decode() if args.json else format_record(rec), flush=True)

    try:
        settings, timeout_s = _client_settings(args)
        check_reachable(settings.bootstrap, timeout_s=timeout_s,
                        client_options=settings.kafka_client_options())
        if args.standing:
            for rec in standing(settings, timeout_s).latest.values():
                show(rec)
            return 0
        _stop_on_sigterm()
        changes = Changes()

        def changed(rec: dict[str, Any]) -> None:
            if changes.apply(rec):
                show(rec)

        def caught_up() -> None:
            if not args.json:
                print(f"-- {changes.summary()}; following (Ctrl-C stops)", flush=True)

        follow(settings, CHANGELOG_TOPICS, threading.Event(), changed, caught_up)
    except KeyboardInterrupt:
        return 0
    except SlawatchError as exc:
        return _fail(f"slawatch tail: error: {exc}")
    return 0


def _fail(message: str) -> int:
    """Print ``message`` on stderr as one line; the exit status of a failed command, 2."""
    print(" ".join(message.split()), file=sys.stderr)
    return 2


def _demo(args: argparse.Namespace) -> int:
    from .demo import DEMO_POLICIES, run_demo

    try:
        settings = _settings(args, (("broker", "--broker"),))
        policies = DEMO_POLICIES if args.policies is None else Path(args.policies)
        load_policy_file(str(policies))
        if args.duration is not None and args.duration <= 0:
            raise SettingsError(f"--duration {args.duration:g}: expected seconds > 0",
                                "--duration")
        if settings.broker is not None:
            check_reachable(settings.bootstrap, timeout_s=_seconds(args.timeout, "--timeout"),
                            client_options=settings.kafka_client_options())
    except (SlawatchError, OSError) as exc:
        return _fail(f"slawatch demo: error: {exc}")
    try:
        return run_demo(settings, os.environ, policies=policies, duration_s=args.duration)
    except SlawatchError as exc:  # the broker went away, or the embedded one did not start
        return _fail(f"slawatch demo: error: {exc}")


def _worker(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args, _WORKER_FLAGS)
        settings.bootstrap  # noqa: B018 - fails early, naming the variable, when no broker
        if settings.policies is None:
            raise SettingsError("no policy file: set SLAWATCH_POLICIES or pass --policies",
                                "SLAWATCH_POLICIES")
        policies = load_policy_file(str(settings.policies))
        timeout_s = _seconds(args.timeout, "--timeout")
        if not args.no_web:
            check_port_free(settings.web_host, settings.web_port)
        # Faust's own failure to connect is a traceback after its retries
        check_reachable(settings.bootstrap, timeout_s=timeout_s,
                        client_options=settings.kafka_client_options())
        from .worker import create_app, own_topics, run_worker  # Faust loads only for the worker

        _create_own_topics(settings, own_topics(settings), timeout_s)
        app = create_app(settings, policies, embedded=settings.broker_kind == "TANSU",
                         web=not args.no_web)
    except (SlawatchError, OSError) as exc:
        return _fail(f"slawatch worker: error: {exc}")
    return run_worker(app, loglevel=args.loglevel)


def _create_own_topics(settings: Settings, specs: list[TopicSpec], timeout_s: float) -> None:
    """The worker's own topics (``worker.own_topics``), there before Faust starts; where the
    broker's ACLs do not let this worker create topics, Faust is left to find them (README,
    Production notes)."""
    try:
        create_topics(settings.bootstrap, specs, timeout_s=timeout_s,
                      client_options=settings.kafka_client_options())
    except TopicError as exc:
        if "Authorization" not in str(exc):
            raise
        print(f"slawatch worker: warning: its own topics were not created ({exc}); Faust "
              "will look for them", file=sys.stderr)


def check_port_free(host: str, port: int) -> None:
    """A ``SettingsError`` naming ``host:port`` when a server already listens there (bound as
    the worker's web server binds, with SO_REUSEADDR)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SettingsError(f"the web port {host}:{port} is not free ({exc.strerror}): "
                                "pass --web-port (SLAWATCH_WEB_PORT) or --no-web",
                                "--web-port") from None


def _settings(args: argparse.Namespace, flags: Sequence[tuple[str, str]]) -> Settings:
    """The settings from the environment, overridden by the flags given (named in any error)."""
    overrides: dict[str, Any] = {}
    for name, flag in flags:
        text = getattr(args, flag.lstrip("-").replace("-", "_"))
        if text is not None:
            overrides[name] = parse_setting(name, text, flag)
    return Settings.from_env(os.environ, **overrides)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _topics_create(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args, _TOPICS_FLAGS)
        timeout_s = _seconds(args.timeout, "--timeout")
        specs = settings.topic_specs()
        created = create_topics(settings.bootstrap, specs, timeout_s=timeout_s,
                                client_options=settings.kafka_client_options())
    except SlawatchError as exc:
        print(f"slawatch topics create: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    for spec in specs:
        print(format_topic(spec, spec.name in created))
    return 0


def _seconds(text: str, source: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise SettingsError(f"{source}={text!r}: expected a number of seconds > 0", source)
    return seconds


def format_topic(spec: TopicSpec, created: bool) -> str:
    """One line of ``topics create``: ``sla.breaches: created (4 partitions, compact)``."""
    policy = "cleanup.policy=compact" if spec.compact else "cleanup.policy=delete"
    if created:
        return f"{spec.name}: created ({spec.partitions} partitions, {policy})"
    return f"{spec.name}: already there ({spec.partitions} partitions)"


def _validate(path: str) -> int:
    try:
        policies = load_policy_file(path)
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: {len(exc.problems)} error(s)", file=sys.stderr)
        return 2
    for warning in policies.warnings:
        print(f"{warning.file}: {warning.path}: warning: {warning.message}", file=sys.stderr)
    print(f"{path}: ok ({len(policies.versions)} policy versions, "
          f"{len(policies.calendars)} calendars)")
    return 0


def _explain(args: argparse.Namespace) -> int:
    try:
        at_ms = _instant(args.at)
    except argparse.ArgumentTypeError as exc:
        print(f"slawatch policy explain: error: --at: {_one_line(exc)}", file=sys.stderr)
        return 2
    try:
        path = _settings(args, (("policies", "--policies"),)).policies
        if path is None:
            raise SettingsError("no policy file: pass --policies or set SLAWATCH_POLICIES",
                                "--policies")
        policies = load_policy_file(str(path))
    except SlawatchError as exc:  # a PolicyError lists every problem, each naming the file
        print(f"slawatch policy explain: error: {_problems_line(exc)}", file=sys.stderr)
        return 2
    explanation = policies.explain_incident(args.customer, args.service, args.severity, at_ms)
    if args.json:
        print(json.dumps(explanation_json(explanation), indent=2))
    else:
        print(format_explanation(explanation))
    return 0


def _problems_line(error: SlawatchError) -> str:
    if isinstance(error, PolicyError):
        return "; ".join(" ".join(str(p).split()) for p in error.problems)
    return _one_line(error)


def format_duration(ms: int) -> str:
    """``1d2h``, ``20m``, ``90s`` (``1500ms`` below a whole second)."""
    if ms == 0:
        return "0s"
    parts, rest = [], ms
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) if rest == 0 else f"{ms}ms"


def _match_text(match: tuple[str | None, str | None]) -> str:
    parts = [f"{k}: {v}" for k, v in zip(("customer", "service"), match, strict=True)
             if v is not None]
    return "{" + ", ".join(parts) + "}"


def _since(from_ms: int) -> str:
    return "always" if from_ms == NEVER_MS else f"from {format_instant(from_ms)}"


_RULE = "customer+service > customer > service > {}"


def format_explanation(e: IncidentExplanation) -> str:
    """The text of ``policy explain``: the candidates, the winner and why, its targets."""
    lines = [f"incident: customer {e.customer}, service {e.service}, severity {e.severity}, "
             f"opened {format_instant(e.at_ms)}"]
    if e.candidates:
        lines.append("candidates, most specific first:")
    else:
        lines.append("candidates: no policy's match fits this customer and service")
    winner = e.winner
    for c in e.candidates:
        if c.version is None:
            version = f"no version in force yet (first {_since(c.first_from_ms)})"
        else:
            blocks = "yes" if c.version.targets is not None else "no"
            version = (f"version {c.version.version} in force "
                       f"({_since(c.version.effective_from_ms)}), incidents block: {blocks}")
        verdict = {"chosen": "chosen",
                   "not in force": "passed over: not in force yet",
                   "no incidents block": "passed over: no incidents block",
                   "outranked": f"passed over: {e.rule} is more specific"}[c.outcome]
        lines.append(f"  {c.policy_id} {_match_text(c.match)} [{c.level}]: {version} -> {verdict}")
    if winner is None:
        lines.append("winner: none: no matching policy; the incident would be tracked and counted, "
                     "with no alert and no outcome")
        return "\n".join(lines)
    lines.append(f"winner: {winner.id} version {winner.version} by the rule {_RULE}: "
                 f"{e.rule} is the most specific match in force with an incidents block")
    lines.append(f"targets for {e.severity}:")
    for t in e.targets:
        if t.target_ms is None:
            lines.append(f"  {t.metric}: not measured (no {e.severity} nor \"*\" target)")
        elif t.severity == e.severity:
            lines.append(f"  {t.metric}: {format_duration(t.target_ms)} (from {e.severity})")
        else:
            lines.append(f"  {t.metric}: {format_duration(t.target_ms)} "
                         f"(from the \"*\" fallback: no {e.severity} {t.metric} target)")
    lines.append(f"calendar: {winner.calendar.name} ({winner.calendar.zone.key})")
    return "\n".join(lines)


def explanation_json(e: IncidentExplanation) -> dict[str, Any]:
    """The JSON object of ``policy explain --json``: the same facts as ``format_explanation``."""
    def since(from_ms: int) -> str | None:
        return None if from_ms == NEVER_MS else format_instant(from_ms)

    candidates = [{
        "policy_id": c.policy_id,
        "match": {k: v for k, v in zip(("customer", "service"), c.match, strict=True)
                  if v is not None},
        "level": c.level,
        "version": c.version.version if c.version else None,
        "effective_from": since(c.version.effective_from_ms) if c.version else None,
        "first_effective_from": since(c.first_from_ms),
        "incidents_block": c.version is not None and c.version.targets is not None,
        "outcome": c.outcome,
    } for c in e.candidates]
    winner = None
    if e.winner is not None:
        winner = {
            "policy_id": e.winner.id, "version": e.winner.version, "rule": e.rule,
            "calendar": {"name": e.winner.calendar.name, "timezone": e.winner.calendar.zone.key},
            "targets": {t.metric: None if t.target_ms is None else {
                "ms": t.target_ms, "text": format_duration(t.target_ms), "from": t.severity,
                "fallback": t.severity != e.severity} for t in e.targets},
        }
    return {"customer": e.customer, "service": e.service, "severity": e.severity,
            "at": format_instant(e.at_ms), "rule": _RULE, "candidates": candidates,
            "winner": winner,
            "note": None if winner else "no matching policy: the incident would be tracked and "
                                        "counted, with no alert and no outcome"}


#: The flags of ``replay`` that only a backfill (``--from-topics``) takes.
_BACKFILL_ONLY = ("--broker", "--prefix", "--from-time", "--to-time", "--to-topic",
                  "--allow-live-topics", "--timeout")


def _replay(args: argparse.Namespace) -> int:
    from .replay import replay

    try:
        backfill = _backfill_arguments(args) if args.from_topics else None
        if backfill is None:
            given = [flag for flag in _BACKFILL_ONLY if getattr(args, _dest(flag))]
            if given:
                raise SettingsError(f"{given[0]} goes with --from-topics", given[0])
            if args.incidents is None and args.heartbeats is None:
                raise SettingsError("give --incidents, --heartbeats or both (or --from-topics)",
                                    "--incidents")
            if args.incidents == "-" and args.heartbeats == "-":
                raise SettingsError("--incidents - and --heartbeats -: only one input can be "
                                    "standard input", "--heartbeats")
        retention = _flag_or_env(args.retention, "retention_ms", "--retention")
        max_future = _flag_or_env(args.max_future, "max_future_ms", "--max-future")
    except SlawatchError as exc:
        print(f"slawatch replay: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    try:
        policies = load_policy_file(args.policies, args.revision)
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    if backfill is not None:
        return _backfill(args, backfill, policies, retention, max_future)
    try:
        with contextlib.ExitStack() as stack:
            out = (stack.enter_context(open(args.output, "wb"))  # noqa: SIM115
                   if args.output else sys.stdout.buffer)
            summary = replay(policies, args.incidents, args.heartbeats, args.until, out,
                             sys.stderr, retention_ms=retention, max_future_ms=max_future)
    except OSError as exc:
        print(f"slawatch replay: error: {_os_error(exc, args.output)}", file=sys.stderr)
        return 2
    except SlawatchError as exc:  # an input that cannot be read, named with its line
        print(f"slawatch replay: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    print(summary.line(), file=sys.stderr)
    return 0


def _flag_or_env(text: str | None, name: str, flag: str) -> Any:
    """Setting ``name`` from its ``flag`` when given, else from its ``SLAWATCH_*`` variable, else
    its default: the worker's rule, without reading (or failing on) the other variables."""
    if text is not None:
        return parse_setting(name, text, flag)
    variable = VARIABLES[name]
    if os.environ.get(variable):
        return parse_setting(name, os.environ[variable], variable)
    return getattr(Settings(), name)


def _os_error(exc: OSError, output: str | None) -> str:
    """``file: what went wrong``, naming the ``output`` file (None: stdout) when the error names
    none (a failed write)."""
    name = exc.filename if exc.filename is not None else output or "stdout"
    return f"{name}: {exc.strerror or _one_line(exc)}"


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


class _Backfill(NamedTuple):
    settings: Settings
    from_ms: int | None
    to_ms: int | None
    timeout_s: float


def _backfill_arguments(args: argparse.Namespace) -> _Backfill:
    """The settings and time range of ``replay --from-topics``; ``SettingsError`` for a flag
    that does not go with it, or with another."""
    for flag in ("--incidents", "--heartbeats"):
        if getattr(args, _dest(flag)) is not None:
            raise SettingsError(f"--from-topics reads the topics: drop {flag}", flag)
    if args.output is not None and args.to_topic is not None:
        raise SettingsError("give --output or --to-topic, not both", "--to-topic")
    settings = _settings(args, (("broker", "--broker"), ("topic_prefix", "--prefix")))
    settings.bootstrap  # noqa: B018 - fails early, naming the variable, when no broker
    from_ms, to_ms = _time_flag(args.from_time, "--from-time"), _time_flag(args.to_time,
                                                                           "--to-time")
    if from_ms is not None and to_ms is not None and from_ms > to_ms:
        raise SettingsError(f"--from-time {args.from_time} is after --to-time {args.to_time}",
                            "--from-time")
    if args.to_topic is not None:
        from .replay import live_topics

        TopicSpec(args.to_topic, 1)  # a legal topic name, or a TopicError saying why
        if args.to_topic in live_topics(settings) and not args.allow_live_topics:
            raise SettingsError(f"--to-topic {args.to_topic} is a live topic of prefix "
                                f"{settings.topic_prefix!r}: pick another, or add "
                                "--allow-live-topics", "--to-topic")
    timeout_s = 30.0 if args.timeout is None else _seconds(args.timeout, "--timeout")
    return _Backfill(settings, from_ms, to_ms, timeout_s)


def _time_flag(text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    try:
        return _instant(text)
    except argparse.ArgumentTypeError as exc:
        raise SettingsError(f"{flag}: {exc}", flag) from None


def _backfill(args: argparse.Namespace, plan: _Backfill, policies: PolicySet,
              retention_ms: int, max_future_ms: int) -> int:
    from .replay import Progress, backfill

    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        with contextlib.ExitStack() as stack:
            if progress is not None:
                stack.callback(progress.finish)  # cleared before any message below
            out = None
            if args.output is not None:
                out = stack.enter_context(open(args.output, "wb"))  # noqa: SIM115
            summary = backfill(policies, plan.settings, from_ms=plan.from_ms, to_ms=plan.to_ms,
                               until=args.until, out=out, to_topic=args.to_topic,
                               err=sys.stderr, retention_ms=retention_ms,
                               max_future_ms=max_future_ms, timeout_s=plan.timeout_s,
                               progress=progress)
    except OSError as exc:
        print(f"slawatch replay: error: {_os_error(exc, args.output)}", file=sys.stderr)
        return 2
    except SlawatchError as exc:  # a broker that cannot be reached, a missing topic...
        print(f"slawatch replay: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    print(summary.line(), file=sys.stderr)
    return 0


_REPORT_DESCRIPTION = """\
Read alert and outcome records (the JSON Lines of `slawatch replay`, or the
output topics PREFIX.breaches, PREFIX.near-breaches and PREFIX.outcomes up to
their end), keep what stands (the latest record per alert_id; retractions
withdraw, dead letters are counted and ignored) and report, per group:
incidents, breaches and near-breaches, compliance (met outcomes / outcomes),
MTTA and MTTR (response and resolution outcomes: working time and wall time,
mean, p50 and p90 by nearest rank), availability, downtime, budget burn and
credits owed (per service, policy and period: the greatest tier reached).
Periods are UTC. The summary line goes to stderr. Exits 0, or 2 with a
one-line error."""


def _add_report_parser(sub: Any) -> None:
    rp = sub.add_parser(
        "report", help="KPIs from alert and outcome records: table, CSV, JSON and PNG charts",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=_REPORT_DESCRIPTION,
        epilog="examples:\n  slawatch report --input out.jsonl\n"
               "  slawatch report --input out.jsonl --by service,period --period week "
               "--format csv --output kpis.csv\n"
               "  slawatch replay --policies p.yaml --incidents i.jsonl | slawatch report "
               "--input - --charts charts/\n"
               "  slawatch report --from-topics --broker kafka-1:9092 --by service --format json")
    rp.add_argument("--input", metavar="FILE",
                    help="records as JSON Lines (the output of slawatch replay); - is stdin")
    rp.add_argument("--from-topics", action="store_true",
                    help="read the output topics instead, each partition up to its end")
    rp.add_argument("--broker", metavar="URL",
                    help="with --from-topics: host:port, several by commas ($SLAWATCH_BROKER)")
    rp.add_argument("--prefix", metavar="P",
                    help="with --from-topics: topic name prefix ($SLAWATCH_TOPIC_PREFIX, else sla)")
    rp.add_argument("--timeout", metavar="S", default="30",
                    help="with --from-topics: seconds to wait for the broker (default: 30)")
    rp.add_argument("--by", action="append", metavar="DIM",
                    help="group by customer, service, severity, policy or period; repeat or "
                         "separate by commas (default: customer)")
    rp.add_argument("--period", metavar="P",
                    help="month (default), week (ISO, from Monday) or day, in UTC: the groups "
                         "of --by period and the charts")
    rp.add_argument("--customer", action="append", metavar="C",
                    help="only these customers (repeat or commas)")
    rp.add_argument("--service", action="append", metavar="S",
                    help="only these services (repeat or commas)")
    rp.add_argument("--from-time", metavar="T",
                    help="only records whose period instant is at or after T (RFC 3339, epoch ms)")
    rp.add_argument("--to-time", metavar="T", help="only records whose period instant is before T")
    rp.add_argument("--format", metavar="F", help="table (default), csv or json")
    rp.add_argument("--periods", action="store_true",
                    help="with --format csv: one row per (service, policy, period) with its "
                         "credit, instead of the groups")
    rp.add_argument("--output", metavar="FILE", help="write the report here (default: stdout)")
    rp.add_argument("--charts", metavar="DIR",
                    help="also write PNG charts here: compliance.png, availability.png, "
                         "budget-burn.png")


def _report(args: argparse.Namespace) -> int:
    from .report import ReportError, ReportOptions, Source, run_report

    try:
        options = ReportOptions.parse(
            by=args.by, period=args.period, customers=args.customer, services=args.service,
            from_ms=_time_flag(args.from_time, "--from-time"),
            to_ms=_time_flag(args.to_time, "--to-time"), format=args.format,
            periods_csv=args.periods)
        if args.from_topics and args.input is not None:
            raise ReportError("give --input FILE or --from-topics, not both")
        if args.from_topics:
            settings = _settings(args, (("broker", "--broker"), ("topic_prefix", "--prefix")))
            settings.bootstrap  # noqa: B018 - fails early, naming the variable, when no broker
            source = Source(settings=settings, timeout_s=_seconds(args.timeout, "--timeout"))
        elif args.input is not None:
            if args.broker or args.prefix:
                raise ReportError("--broker and --prefix go with --from-topics")
            source = Source(args.input)
        else:
            raise ReportError("no input: give --input FILE (- for stdin) or --from-topics")
    except SlawatchError as exc:
        print(f"slawatch report: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    return run_report(options, source, args.output, args.charts)


if __name__ == "__main__":
    sys.exit(main())
