"""What a user gets when a command cannot run: one line on stderr, exit status 2, no traceback
(issue 16), for ``worker`` and ``demo`` as for the others; and ``slawatch --version``.

An unreachable broker is 127.0.0.1:1, where nothing listens: the command waits ``--timeout``
for it, then says so. No Faust, no broker starts in these tests.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.cli import main

SLAWATCH = Path(sys.executable).parent / "slawatch"
POLICY = """\
policies:
  - id: gold
    match: {}
    incidents:
      P1: {response: 15m, resolution: 4h}
"""
UNREACHABLE = "127.0.0.1:1"


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    path = tmp_path / "policies.yaml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port of 127.0.0.1 where this test listens."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def one_line(capsys: pytest.CaptureFixture[str], command: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"slawatch {command}: error: "), err
    return err


def run(*args: str) -> str:
    """``slawatch ARGS`` as a user runs it, in a process of its own (kafka-python leaves the
    sockets of a failed bootstrap to the garbage collector); its stderr, one line."""
    done = subprocess.run([str(SLAWATCH), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"slawatch {args[0]}: error: "), done.stderr
    return done.stderr


def test_a_worker_with_an_unreachable_broker_says_so_within_its_timeout(
        policies: Path) -> None:
    began = time.monotonic()
    err = run("worker", "--broker", UNREACHABLE, "--policies", str(policies), "--no-web",
              "--timeout", "1")
    assert time.monotonic() - began < 10
    assert f"cannot reach a Kafka broker at {UNREACHABLE} within 1 s" in err


@pytest.mark.parametrize("command", [["send", '{"service": "api", "status": "up", '
                                               '"at": "2027-03-01T10:00:00Z"}'], ["tail"]],
                         ids=["send", "tail"])
def test_send_and_tail_with_an_unreachable_broker_say_so_within_their_timeout(
        command: list[str]) -> None:
    err = run(*command, "--broker", UNREACHABLE, "--timeout", "1")
    assert f"cannot reach a Kafka broker at {UNREACHABLE} within 1 s" in err


def test_a_worker_whose_web_port_is_busy_names_the_port(
        policies: Path, busy_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--broker", UNREACHABLE, "--policies", str(policies),
                 "--web-port", str(busy_port)]) == 2
    err = one_line(capsys, "worker")
    assert f"the web port 127.0.0.1:{busy_port} is not free" in err and "--web-port" in err


def test_a_worker_with_an_unreadable_policy_file_names_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--broker", UNREACHABLE, "--policies", str(tmp_path)]) == 2
    assert f"{tmp_path}: <root>: cannot read the file" in one_line(capsys, "worker")


def test_the_demo_with_an_unreachable_broker_says_so_within_its_timeout() -> None:
    began = time.monotonic()
    err = run("demo", "--broker", UNREACHABLE, "--timeout", "1")
    assert time.monotonic() - began < 10
    assert f"cannot reach a Kafka broker at {UNREACHABLE} within 1 s" in err


def test_the_demo_with_an_unreadable_policy_file_names_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--policies", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: <root>: cannot read the file" in one_line(capsys, "demo")


def test_version_names_the_installed_release(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"slawatch {version('slawatch')}\n"


def test_a_worker_denied_topic_creation_leaves_its_topics_to_faust(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Its ACLs may let it use topics created beforehand but not create any (README)."""
    from streams import cli
    from streams.settings import Settings
    from streams.topics import TopicError

    def denied(*args: object, **kwargs: object) -> None:
        raise TopicError("cannot create topics on b:9092: app-incidents-changelog: "
                         "TopicAuthorizationFailedError (denied)", denied=True)

    monkeypatch.setattr(cli, "create_topics", denied)
    settings = Settings.from_env({"SLAWATCH_BROKER": "b:9092"})
    cli._create_own_topics(settings, [], 1.0)
    assert "its own topics were not created" in capsys.readouterr().err

    def clash(*args: object, **kwargs: object) -> None:
        raise TopicError("topic app-incidents-changelog has 4 partitions, not 6 "
                         "(TopicAuthorizationFailedError named in a message is no denial)")

    monkeypatch.setattr(cli, "create_topics", clash)
    with pytest.raises(TopicError, match="partitions"):
        cli._create_own_topics(settings, [], 1.0)


@pytest.mark.parametrize(("codes", "denied"), [([29], True), ([29, 31], True), ([29, 37], False),
                                               ([37], False)])
def test_a_creation_refused_by_acls_alone_is_a_denial(
        monkeypatch: pytest.MonkeyPatch, codes: list[int], denied: bool) -> None:
    """``TopicError.denied`` from the broker's error codes (29, 31: topic or cluster
    authorization failed), never from the words of a message."""
    from streams import admin
    from streams.topics import TopicError, TopicSpec

    class Admin:
        def create_topics(self, *args: object, **kwargs: object) -> dict[str, object]:
            return {"topics": [{"name": f"t{n}", "error_code": code, "error_message": "no"}
                               for n, code in enumerate(codes)]}

        def close(self) -> None:
            pass

    monkeypatch.setattr(admin, "_admin", lambda *args: Admin())
    with pytest.raises(TopicError) as error:
        admin.create_topics("b:9092", [TopicSpec(f"t{n}", 1) for n in range(len(codes))])
    assert error.value.denied is denied
