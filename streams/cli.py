"""``slawatch``: each command parses its arguments and calls one function."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .core.errors import InvalidDuration, InvalidInstant, PolicyError
from .core.policy import load_policy_file
from .core.timefmt import parse_duration, parse_instant


def _instant(text: str) -> int:
    try:
        return parse_instant(int(text) if text.lstrip("-").isdigit() else text)
    except InvalidInstant as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(text: str) -> int:
    try:
        return parse_duration(int(text) if text.isdigit() else text)
    except InvalidDuration as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slawatch", description="Stream-processing SLA breach detector."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rp = sub.add_parser(
        "replay", help="replay incident and heartbeat files offline, deterministically",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Replay JSON Lines inputs through the SLA core and write the alert and outcome "
                    "records as JSON Lines.",
        epilog="example:\n  slawatch replay --policies policy.yaml --incidents incidents.jsonl "
               "--until 2027-02-17T18:00:00Z --output out.jsonl")
    rp.add_argument("--policies", required=True, metavar="P", help="policy file (YAML or JSON)")
    rp.add_argument("--incidents", metavar="F", help="incident events, JSON Lines")
    rp.add_argument("--heartbeats", metavar="F", help="heartbeats, JSON Lines")
    rp.add_argument("--until", type=_instant, metavar="T", help="advance the clock to T at the end")
    rp.add_argument("--output", metavar="O", help="output file (default: stdout)")
    rp.add_argument("--retention", type=_duration, default=None, metavar="D",
                    help="forget a finished incident this long after its last event (default 30d)")

    pp = sub.add_parser("policy", help="policy file tools")
    psub = pp.add_subparsers(dest="policy_command", required=True, metavar="COMMAND")
    pv = psub.add_parser(
        "validate", help="validate a policy file: exit 0, or 2 with every error listed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  slawatch policy validate policies.yaml")
    pv.add_argument("path", metavar="P")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "replay":
        return _replay(args)
    if args.command == "policy" and args.policy_command == "validate":
        return _validate(args.path)
    return 2


def _validate(path: str) -> int:
    try:
        policies = load_policy_file(path)
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: {len(exc.problems)} error(s)", file=sys.stderr)
        return 2
    print(f"{path}: ok ({len(policies.versions)} policy versions, "
          f"{len(policies.calendars)} calendars)")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from .core.detector import DEFAULT_RETENTION_MS
    from .replay import replay

    try:
        policies = load_policy_file(args.policies)
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    if args.incidents is None and args.heartbeats is None:
        print("slawatch replay: error: give --incidents, --heartbeats or both", file=sys.stderr)
        return 2
    retention = args.retention if args.retention is not None else DEFAULT_RETENTION_MS
    try:
        if args.output:
            with open(args.output, "wb") as out:
                summary = replay(policies, args.incidents, args.heartbeats, args.until, out,
                                 retention_ms=retention)
        else:
            summary = replay(policies, args.incidents, args.heartbeats, args.until,
                             sys.stdout.buffer, retention_ms=retention)
    except OSError as exc:
        print(f"slawatch replay: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    print(summary.line(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
