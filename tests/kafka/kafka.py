"""Apache Kafka for slawatch's tests: fetch the pinned release, or run one broker by hand.

    python tests/kafka/kafka.py fetch     # the jars from Maven Central into the cache, once
    python tests/kafka/kafka.py run       # one KRaft node on 127.0.0.1 until Ctrl-C
    python tests/kafka/kafka.py where     # the version, the cache, and what is missing

The version is pinned in ``tests/kafka/pom.xml`` (``kafka.version``):
``org.apache.kafka:kafka_2.13`` and its runtime dependencies, copied by
``mvn dependency:copy-dependencies`` into
``$SLAWATCH_KAFKA_CACHE``, else ``~/.cache/slawatch/kafka-<version>``, outside the checkout; a
cache that is complete is not fetched again. It needs Java >= 17 and Maven on the PATH. ``run``
prints the bootstrap address (``127.0.0.1:PORT``, a free port) and the log file; try it with
``SLAWATCH_BROKER=127.0.0.1:PORT slawatch topics create``. The integration tests start the same
broker through ``tests.support.kafka.KafkaBroker`` (their ``broker`` fixture's ``kafka`` leg).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path, and its name would shadow the
# kafka-python package ("kafka"): put the checkout there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parents[1]))

from tests.support import kafka  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests/kafka/kafka.py", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="copy the jars from Maven Central into the cache (once)")
    fetch.add_argument("--verbose", action="store_true", help="show Maven's output")
    run = sub.add_parser("run", help="start one broker and wait for Ctrl-C (or SIGTERM)")
    run.add_argument("--keep", action="store_true", help="keep its data and log after it stops")
    sub.add_parser("where", help="the version, the cache, and what this machine lacks")
    args = parser.parse_args(argv)
    version = kafka.kafka_version()

    if args.command == "where":
        print(f"Kafka {version}; jars in {kafka.lib_dir(version)} "
              f"({'fetched' if kafka.fetched(version) else 'not fetched'})")
        print(kafka.missing() or "java and mvn: fine")
        return 0
    reason = kafka.missing()
    if reason is not None:
        print(f"kafka.py: {reason}", file=sys.stderr)
        return 2
    try:
        if args.command == "fetch":
            began = time.monotonic()
            was = kafka.fetched(version)
            lib = kafka.fetch(quiet=not args.verbose)
            jars = len(list(lib.glob("*.jar")))
            print(f"Kafka {version}: {jars} jars in {lib} "
                  f"({'already there' if was else f'fetched in {time.monotonic() - began:.1f} s'})")
            return 0
        with kafka.KafkaBroker(keep=args.keep) as broker:
            print(f"Kafka {version} (pid {broker.pid}) at {broker.bootstrap}, started in "
                  f"{broker.start_seconds:.1f} s; log {broker.log_path}. Ctrl-C stops it.",
                  flush=True)
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            try:
                while broker.running:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
            if not broker.running:
                print(f"Kafka exited; log {broker.log_path}", file=sys.stderr)
                return 1
        return 0
    except kafka.KafkaError as exc:
        print(f"kafka.py: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
