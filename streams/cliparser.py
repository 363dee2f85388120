"""The ``slawatch`` command line declared: every command, its flags, help and examples (argparse).

``build_parser()`` builds it; ``cli.main`` parses with it and calls the command. The flag tables
say which flags override which setting (``WORKER_FLAGS``, ``TOPICS_FLAGS``); ``streams.cliargs``
reads the flags into what the commands take.
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from .cliargs import instant


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage block stays in ``--help``); subcommands
    inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``slawatch`` command line: every command, its flags, help and examples."""
    parser = _Parser(
        prog="slawatch", description="Stream-processing SLA breach detector."
    )
    parser.add_argument("--version", action="version", version=f"slawatch {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rp = sub.add_parser(
        "replay", help="replay input files or topics offline, deterministically",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Replay JSON Lines inputs through the SLA core and write the alert and "
                    "outcome\nrecords as JSON Lines.\n\nWith --from-topics, backfill: read "
                    "PREFIX.incidents, PREFIX.heartbeats and\nPREFIX.requests, each partition from "
                    "the start (or --from-time) up to its\nend when the run began (or "
                    "--to-time), merge them on `at` as files are merged,\nand write the records "
                    "to a file or to --to-topic (keyed by alert_id; never a\nlive topic of "
                    "PREFIX unless --allow-live-topics). --from-time and --to-time\ncompare "
                    "Kafka record timestamps. A progress line is drawn on stderr when it is a\n"
                    "terminal.\n\n"
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
    rp.add_argument("--requests", metavar="F",
                    help="request counts, JSON Lines (- is stdin; SPEC section 9)")
    rp.add_argument("--until", type=instant, metavar="T", help="advance the clock to T at the end")
    rp.add_argument("--output", metavar="O", help="output file (default: stdout)")
    rp.add_argument("--retention", metavar="D",
                    help="forget a finished incident this long after its last event "
                         "($SLAWATCH_RETENTION, else 30d)")
    rp.add_argument("--max-future", metavar="D",
                    help="how far past its reference instant an input's `at` may lie "
                         "($SLAWATCH_MAX_FUTURE, else 5m)")
    rp.add_argument("--from-topics", action="store_true",
                    help="read PREFIX.incidents, PREFIX.heartbeats and PREFIX.requests "
                         "instead of files")
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
                    "  PREFIX.incidents, PREFIX.heartbeats,       input\n"
                    "  PREFIX.requests\n"
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
        description="Consume PREFIX.incidents, PREFIX.heartbeats and PREFIX.requests, keep the "
                    "detector's tables, "
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
        "send", help="send incident events, heartbeats or request counts (JSON, or JSON Lines)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Send events to the topics a worker reads: an incident event (it has "
                    "incident_id)\nto PREFIX.incidents keyed by incident_id, a heartbeat "
                    "(service and status) to\nPREFIX.heartbeats keyed by service, a request "
                    "count (service and total, errors,\nlatency_le or duration_ms) to "
                    "PREFIX.requests keyed by service. Each is checked first\nas the worker "
                    "checks it; a bad one is reported with its "
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
    ("session_timeout_ms", "--session-timeout", "D",
     "how long a worker that stopped answering keeps its partitions "
     "($SLAWATCH_SESSION_TIMEOUT, else 60s)"),
)
#: The flags of ``worker`` that override a setting: (field, flag).
WORKER_FLAGS = tuple((name, flag) for name, flag, _, _ in _WORKER_FLAG_HELP)


#: The flags of ``topics create`` that override a setting: (field, flag).
TOPICS_FLAGS = (("broker", "--broker"), ("partitions", "--partitions"),
                ("topic_prefix", "--prefix"))


_REPORT_DESCRIPTION = """\
Read alert and outcome records (the JSON Lines of `slawatch replay`, or the
output topics PREFIX.breaches, PREFIX.near-breaches and PREFIX.outcomes up to
their end), keep what stands (the latest record per alert_id; retractions
withdraw, dead letters are counted and ignored) and report, per group:
incidents, breaches and near-breaches, compliance (met outcomes / outcomes),
MTTA and MTTR (response and resolution outcomes: working time and wall time,
mean, p50 and p90 by nearest rank), availability, downtime, budget burn and
credits owed (per service, policy and period: the greatest tier reached),
outages, MTBF and mean outage; for request objectives, the error rate and
latency compliance (requests pooled over the periods), the share of periods
met, budget burn and credits.
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
    rp.add_argument("--objective-periods", action="store_true",
                    help="with --format csv: one row per request objective's period (service, "
                         "customer, policy, objective) with its budget burn and credit, instead "
                         "of the groups")
    rp.add_argument("--output", metavar="FILE", help="write the report here (default: stdout)")
    rp.add_argument("--charts", metavar="DIR",
                    help="also write PNG charts here: compliance.png, availability.png, "
                         "budget-burn.png, objective-budget.png")

