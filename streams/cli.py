"""``slawatch``: each command parses its arguments and calls one function.

The arguments are declared in ``streams.cliparser`` and read by ``streams.cliargs`` (cli keeps
its names ``_parser``, ``_settings``, ``_seconds``, ``_WORKER_FLAGS`` and ``_TOPICS_FLAGS`` for
the tests and the container checks that call them); ``policy explain`` is written by
``streams.explain``. This is the one module that reads the process environment: it hands
``os.environ`` to the functions that read settings. A command that cannot run says why on one
line of stderr and exits 2 (``_fail``).
"""

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
from typing import Any

from .admin import check_reachable, create_topics
from .cliargs import (
    Backfill,
    backfill_arguments,
    check_file_replay,
    flag_or_env,
    instant,
    settings_from_flags,
    time_flag,
)
from .cliargs import seconds as _seconds
from .cliparser import TOPICS_FLAGS as _TOPICS_FLAGS
from .cliparser import WORKER_FLAGS as _WORKER_FLAGS
from .cliparser import build_parser as _parser
from .core.errors import PolicyError, SlawatchError
from .core.policy import PolicySet
from .core.policyfile import load_policy_file
from .explain import explanation_json, format_explanation
from .settings import Settings, SettingsError
from .topics import TopicError, TopicSpec


def main(argv: Sequence[str] | None = None) -> int:
    """``slawatch ARGV``: the exit status of the command (0, or 2 when it cannot run)."""
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
            msg = "give one event as JSON, or --file F (- for stdin)"
            raise SettingsError(msg, "--file")
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
            msg = f"--duration {args.duration:g}: expected seconds > 0"
            raise SettingsError(msg, "--duration")
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
            msg = "no policy file: set SLAWATCH_POLICIES or pass --policies"
            raise SettingsError(msg, "SLAWATCH_POLICIES")
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
        if not exc.denied:
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
            msg = (
                f"the web port {host}:{port} is not free ({exc.strerror}): "
                "pass --web-port (SLAWATCH_WEB_PORT) or --no-web"
            )
            raise SettingsError(msg, "--web-port") from None


def _settings(args: argparse.Namespace, flags: Sequence[tuple[str, str]]) -> Settings:
    """The settings from the environment, overridden by the flags given (named in any error)."""
    return settings_from_flags(args, flags, os.environ)


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
        return _fail(f"slawatch topics create: error: {exc}")
    for spec in specs:
        print(format_topic(spec, spec.name in created))
    return 0


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
        at_ms = instant(args.at)
    except argparse.ArgumentTypeError as exc:
        return _fail(f"slawatch policy explain: error: --at: {exc}")
    try:
        path = _settings(args, (("policies", "--policies"),)).policies
        if path is None:
            msg = "no policy file: pass --policies or set SLAWATCH_POLICIES"
            raise SettingsError(msg, "--policies")
        policies = load_policy_file(str(path))
    except SlawatchError as exc:  # a PolicyError lists every problem, each naming the file
        return _fail(f"slawatch policy explain: error: {_problems_line(exc)}")
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


def _replay(args: argparse.Namespace) -> int:
    from .replay import replay

    try:
        backfill = backfill_arguments(args, os.environ) if args.from_topics else None
        if backfill is None:
            check_file_replay(args)
        retention = flag_or_env(args.retention, "retention_ms", "--retention", os.environ)
        max_future = flag_or_env(args.max_future, "max_future_ms", "--max-future", os.environ)
    except SlawatchError as exc:
        return _fail(f"slawatch replay: error: {exc}")
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
                             sys.stderr, retention_ms=retention, max_future_ms=max_future,
                             requests=args.requests)
    except (OSError, SlawatchError) as exc:  # an input that cannot be read, named with its line
        return _replay_failed(exc, args.output)
    print(summary.line(), file=sys.stderr)
    return 0


def _replay_failed(exc: OSError | SlawatchError, output: str | None) -> int:
    """The exit of a replay or backfill that failed. An ``OSError`` says ``file: what went
    wrong``, naming the ``output`` file (None: stdout) when the error names none (a failed
    write); the file name is printed as it is, spaces and all, so not through ``_fail``."""
    if isinstance(exc, OSError):
        name = exc.filename if exc.filename is not None else output or "stdout"
        print(f"slawatch replay: error: {name}: {exc.strerror or _one_line(exc)}",
              file=sys.stderr)
        return 2
    return _fail(f"slawatch replay: error: {exc}")


def _backfill(args: argparse.Namespace, plan: Backfill, policies: PolicySet,
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
    except (OSError, SlawatchError) as exc:  # a broker that cannot be reached, a missing topic...
        return _replay_failed(exc, args.output)
    print(summary.line(), file=sys.stderr)
    return 0

def _report(args: argparse.Namespace) -> int:
    from .report import ReportError, ReportOptions, Source, run_report

    try:
        options = ReportOptions.parse(
            by=args.by, period=args.period, customers=args.customer, services=args.service,
            from_ms=time_flag(args.from_time, "--from-time"),
            to_ms=time_flag(args.to_time, "--to-time"), format=args.format,
            periods_csv=args.periods, objective_periods_csv=args.objective_periods)
        if args.from_topics and args.input is not None:
            msg = "give --input FILE or --from-topics, not both"
            raise ReportError(msg)
        if args.from_topics:
            settings = _settings(args, (("broker", "--broker"), ("topic_prefix", "--prefix")))
            settings.bootstrap  # noqa: B018 - fails early, naming the variable, when no broker
            source = Source(settings=settings, timeout_s=_seconds(args.timeout, "--timeout"))
        elif args.input is not None:
            if args.broker or args.prefix:
                msg = "--broker and --prefix go with --from-topics"
                raise ReportError(msg)
            source = Source(args.input)
        else:
            msg = "no input: give --input FILE (- for stdin) or --from-topics"
            raise ReportError(msg)
    except SlawatchError as exc:
        return _fail(f"slawatch report: error: {exc}")
    return run_report(options, source, args.output, args.charts)


if __name__ == "__main__":
    sys.exit(main())
