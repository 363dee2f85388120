"""The arguments of ``slawatch`` read into what the commands take: settings from the flags over
an environment the caller passes (``cli`` is the one reader of ``os.environ``), seconds,
instants, and the flags of ``replay`` that go together (a file replay or a backfill).

A bad flag is a ``SettingsError`` naming it (argparse's own error for an argument ``type``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from .core.errors import InvalidInstant
from .core.timefmt import parse_instant
from .settings import VARIABLES, Settings, SettingsError, parse_setting
from .topics import TopicSpec


def instant(text: str) -> int:
    """An instant flag (RFC 3339 with an offset, or epoch ms) in ms; argparse's error if not."""
    try:
        return parse_instant(int(text) if text.lstrip("-").isdigit() else text)
    except InvalidInstant as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def settings_from_flags(args: argparse.Namespace, flags: Sequence[tuple[str, str]],
                        environ: Mapping[str, str]) -> Settings:
    """The settings of ``environ``, overridden by the ``flags`` given (named in any error)."""
    overrides: dict[str, Any] = {}
    for name, flag in flags:
        text = getattr(args, _dest(flag))
        if text is not None:
            overrides[name] = parse_setting(name, text, flag)
    return Settings.from_env(environ, **overrides)


def flag_or_env(text: str | None, name: str, flag: str, environ: Mapping[str, str]) -> Any:
    """Setting ``name`` from its ``flag`` when given, else from its ``SLAWATCH_*`` variable, else
    its default: the worker's rule, without reading (or failing on) the other variables."""
    if text is not None:
        return parse_setting(name, text, flag)
    variable = VARIABLES[name]
    if environ.get(variable):
        return parse_setting(name, environ[variable], variable)
    return getattr(Settings(), name)


def seconds(text: str, source: str) -> float:
    """A number of seconds > 0 (``--timeout``); a ``SettingsError`` naming ``source`` if not."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        msg = f"{source}={text!r}: expected a number of seconds > 0"
        raise SettingsError(msg, source)
    return value


def time_flag(text: str | None, flag: str) -> int | None:
    """The instant of an optional time ``flag`` in ms; a ``SettingsError`` naming it if bad."""
    if text is None:
        return None
    try:
        return instant(text)
    except argparse.ArgumentTypeError as exc:
        msg = f"{flag}: {exc}"
        raise SettingsError(msg, flag) from None


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


#: The flags of ``replay`` that only a backfill (``--from-topics``) takes.
_BACKFILL_ONLY = ("--broker", "--prefix", "--from-time", "--to-time", "--to-topic",
                  "--allow-live-topics", "--timeout")


def check_file_replay(args: argparse.Namespace) -> None:
    """The inputs of a file replay: at least one, at most one standard input, and no flag of a
    backfill; a ``SettingsError`` naming the flag if not."""
    given = [flag for flag in _BACKFILL_ONLY if getattr(args, _dest(flag))]
    if given:
        msg = f"{given[0]} goes with --from-topics"
        raise SettingsError(msg, given[0])
    if args.incidents is None and args.heartbeats is None:
        msg = "give --incidents, --heartbeats or both (or --from-topics)"
        raise SettingsError(msg, "--incidents")
    if args.incidents == "-" and args.heartbeats == "-":
        msg = "--incidents - and --heartbeats -: only one input can be standard input"
        raise SettingsError(msg, "--heartbeats")


class Backfill(NamedTuple):
    """What ``replay --from-topics`` reads: the settings, the time range, the wait."""

    settings: Settings
    from_ms: int | None
    to_ms: int | None
    timeout_s: float


def backfill_arguments(args: argparse.Namespace, environ: Mapping[str, str]) -> Backfill:
    """The settings and time range of ``replay --from-topics``; ``SettingsError`` for a flag
    that does not go with it, or with another."""
    for flag in ("--incidents", "--heartbeats"):
        if getattr(args, _dest(flag)) is not None:
            msg = f"--from-topics reads the topics: drop {flag}"
            raise SettingsError(msg, flag)
    if args.output is not None and args.to_topic is not None:
        msg = "give --output or --to-topic, not both"
        raise SettingsError(msg, "--to-topic")
    settings = settings_from_flags(args, (("broker", "--broker"), ("topic_prefix", "--prefix")),
                                   environ)
    settings.bootstrap  # noqa: B018 - fails early, naming the variable, when no broker
    from_ms, to_ms = time_flag(args.from_time, "--from-time"), time_flag(args.to_time,
                                                                         "--to-time")
    if from_ms is not None and to_ms is not None and from_ms > to_ms:
        msg = f"--from-time {args.from_time} is after --to-time {args.to_time}"
        raise SettingsError(msg, "--from-time")
    if args.to_topic is not None:
        from .replay import live_topics

        TopicSpec(args.to_topic, 1)  # a legal topic name, or a TopicError saying why
        if args.to_topic in live_topics(settings) and not args.allow_live_topics:
            msg = (
                f"--to-topic {args.to_topic} is a live topic of prefix "
                f"{settings.topic_prefix!r}: pick another, or add --allow-live-topics"
            )
            raise SettingsError(msg, "--to-topic")
    timeout_s = 30.0 if args.timeout is None else seconds(args.timeout, "--timeout")
    return Backfill(settings, from_ms, to_ms, timeout_s)
