"""``slawatch topics create`` as a user runs it: the installed command, in a child process,
against the real broker.

Each test creates its topics under a prefix of its own, since the session's broker is shared.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from streams.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

SLAWATCH = Path(sys.executable).parent / "slawatch"
INPUTS = ("incidents", "heartbeats", "requests")
CHANGELOGS = ("breaches", "near-breaches", "outcomes")
ALL = (*INPUTS, *CHANGELOGS, "deadletter", "ticks")


def _slawatch(*args: str, env: Mapping[str, str] | None = None,
              timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the installed ``slawatch`` with no SLAWATCH_* variable but those in ``env``."""
    assert SLAWATCH.exists(), f"{SLAWATCH} missing: install the project with `pip install -e .`"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    return subprocess.run([str(SLAWATCH), *args], env={**clean, **(env or {})},
                          capture_output=True, text=True, timeout=timeout_s, check=False)


def _prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def _partitions_and_policies(bootstrap: str,
                             names: list[str]) -> tuple[dict[str, int], dict[str, str]]:
    """Partition count and cleanup.policy ("delete" when not reported) of each topic."""
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        partitions = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names)
                      if t["error_code"] == 0}
        # Tansu reports topic configs with source DEFAULT_CONFIG: only "all" shows them.
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names],
            config_filter="all")["topic"]
    policies = {name: configs[name].get("cleanup.policy", {"value": "delete"})["value"]
                for name in names}
    return partitions, policies


def test_creates_every_topic_then_finds_them_there(broker: EmbeddedBroker) -> None:
    prefix = _prefix()
    names = [f"{prefix}.{topic}" for topic in ALL]

    first = _slawatch("topics", "create", "--broker", broker.bootstrap, "--partitions", "3",
                      "--prefix", prefix)

    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout.splitlines() == [
        f"{prefix}.incidents: created (3 partitions, cleanup.policy=delete)",
        f"{prefix}.heartbeats: created (3 partitions, cleanup.policy=delete)",
        f"{prefix}.requests: created (3 partitions, cleanup.policy=delete)",
        f"{prefix}.breaches: created (3 partitions, cleanup.policy=compact)",
        f"{prefix}.near-breaches: created (3 partitions, cleanup.policy=compact)",
        f"{prefix}.outcomes: created (3 partitions, cleanup.policy=compact)",
        f"{prefix}.deadletter: created (3 partitions, cleanup.policy=delete)",
        f"{prefix}.ticks: created (3 partitions, cleanup.policy=delete)",
    ]
    partitions, policies = _partitions_and_policies(broker.bootstrap, names)
    assert partitions == dict.fromkeys(names, 3)
    assert policies == {name: "compact" if name.split(".", 1)[1] in CHANGELOGS else "delete"
                        for name in names}

    second = _slawatch("topics", "create", "--broker", broker.bootstrap, "--partitions", "3",
                       "--prefix", prefix)

    assert (second.returncode, second.stderr) == (0, "")
    assert second.stdout.splitlines() == [f"{name}: already there (3 partitions)"
                                          for name in names]


def test_reads_the_environment_and_flags_win(broker: EmbeddedBroker) -> None:
    prefix = _prefix()
    env = {"SLAWATCH_BROKER": f"kafka://{broker.bootstrap}", "SLAWATCH_TOPIC_PREFIX": prefix,
           "SLAWATCH_PARTITIONS": "5"}

    done = _slawatch("topics", "create", "--partitions", "2", env=env)

    assert done.returncode == 0, done.stderr
    names = [f"{prefix}.{topic}" for topic in ALL]
    assert [line.split(":")[0] for line in done.stdout.splitlines()] == names
    partitions, _ = _partitions_and_policies(broker.bootstrap, names)
    assert partitions == dict.fromkeys(names, 2)  # --partitions over SLAWATCH_PARTITIONS

    defaults = _slawatch("topics", "create", env={"SLAWATCH_BROKER": broker.bootstrap,
                                                  "SLAWATCH_TOPIC_PREFIX": f"{prefix}-d"})

    assert defaults.returncode == 0, defaults.stderr
    partitions, _ = _partitions_and_policies(broker.bootstrap, [f"{prefix}-d.outcomes"])
    assert partitions == {f"{prefix}-d.outcomes": 4}


def test_existing_topics_with_other_partitions_are_an_error(broker: EmbeddedBroker) -> None:
    prefix = _prefix()
    assert _slawatch("topics", "create", "--broker", broker.bootstrap, "--prefix", prefix,
                     "--partitions", "2").returncode == 0

    done = _slawatch("topics", "create", "--broker", broker.bootstrap, "--prefix", prefix)

    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert f"{prefix}.incidents has 2 partitions, not 4" in done.stderr


def _closed_port() -> int:
    with socket.socket() as probe:  # bound then closed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_unreachable_broker_is_exit_2_and_one_line() -> None:
    address = f"127.0.0.1:{_closed_port()}"

    done = _slawatch("topics", "create", "--broker", address, "--timeout", "1.5")

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(
        f"slawatch topics create: error: cannot reach a Kafka broker at {address} within 1.5 s")


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--partitions", "0"], {"SLAWATCH_BROKER": "k:9092"},
     "--partitions='0': expected a whole number >= 1"),
    (["--partitions", "four"], {"SLAWATCH_BROKER": "k:9092"},
     "--partitions='four': expected a whole number >= 1"),
    (["--prefix", "sla."], {"SLAWATCH_BROKER": "k:9092"}, "--prefix='sla.': expected 1 to 235"),
    (["--broker", "http://k:9092"], {}, "--broker='http://k:9092': expected host:port"),
    (["--timeout", "-1"], {"SLAWATCH_BROKER": "k:9092"}, "--timeout='-1': expected a number"),
    ([], {"SLAWATCH_BROKER": "k:9092", "SLAWATCH_PARTITIONS": "x"},
     "SLAWATCH_PARTITIONS='x': expected a whole number >= 1"),
    ([], {"SLAWATCH_BROKER": "k:9092", "SLAWATCH_SECURITY_PROTOCOL": "TLS"},
     "SLAWATCH_SECURITY_PROTOCOL='TLS': expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
    ([], {}, "no broker: set SLAWATCH_BROKER or pass --broker"),
    ([], {"SLAWATCH_BROKER": "k:9093", "SLAWATCH_SECURITY_PROTOCOL": "SSL",
          "SLAWATCH_SSL_CAFILE": "/nonexistent/ca.pem"},
     "the CA file /nonexistent/ca.pem (for TLS to k:9093) does not exist"),
])
def test_a_bad_argument_is_exit_2_and_one_line(args: list[str], env: dict[str, str],
                                               message: str) -> None:
    done = _slawatch("topics", "create", *args, env=env)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        done.stderr.strip()], f"expected one line, got {done.stderr!r}"
    assert done.stderr.startswith(f"slawatch topics create: error: {message}")


def test_help_shows_an_example() -> None:
    done = _slawatch("topics", "create", "--help")

    assert done.returncode == 0
    assert "examples:\n  slawatch topics create --broker" in done.stdout
    for flag in ("--broker URL", "--partitions N", "--prefix P"):
        assert flag in done.stdout
