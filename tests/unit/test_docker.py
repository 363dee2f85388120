"""docker/: the image, the compose file and the README's settings, checked against the code.

Every value in ``docker/Dockerfile`` and ``docker/compose.yaml`` that slawatch interprets goes
through the code that interprets it: commands through the CLI's parser, the containers'
environment through ``Settings`` as the CLI builds it, the mounted policy file through the policy
loader, the sample event in the compose header through the codec and the detector.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import http.server
import json
import os
import re
import shlex
import socket
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from streams import cli
from streams.codec import decode_incident, topic_of
from streams.core.detector import Detector
from streams.core.policyfile import load_policy_file
from streams.settings import VARIABLES, Settings, bootstrap_servers, parse_setting

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
README = ROOT / "README.md"  # its section "Run it on your Kafka"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
KNOWN_VARIABLES = frozenset(VARIABLES.values())


# ----------------------------------------------------------------------------- the Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON array of ``CMD ["a", "b"]`` (shell form is a failure: no signals reach it)."""
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            value = None
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), (
            f"Dockerfile line {self.line}: {self.keyword} {self.args}: expected the exec form, "
            "a JSON array of strings")
        return value


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.image}"
        return found[-1]


def parse_dockerfile(text: str) -> list[Stage]:
    """The stages of a Dockerfile: continuation lines joined, comment lines dropped."""
    logical: list[tuple[int, str]] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue  # comments and blank lines, also inside a continuation, as Docker does
        if not parts:
            start = number
        if stripped.endswith("\\"):
            parts.append(stripped[:-1].strip())
            continue
        parts.append(stripped)
        logical.append((start, " ".join(p for p in parts if p)))
        parts = []
    assert not parts, "the Dockerfile ends inside a line continuation"
    stages: list[Stage] = []
    for number, line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            named = len(words) == 3 and words[1].lower() == "as"
            assert len(words) == 1 or named, f"Dockerfile line {number}: FROM {args}"
            stages.append(Stage(words[0], words[2] if named else None))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, args, number))
        else:
            assert keyword == "ARG", f"Dockerfile line {number}: {keyword} before any FROM"
    assert stages, "the Dockerfile has no FROM"
    return stages


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a RUN's shell script, split on ``&&``, ``||``, ``;`` and ``|``."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {"&&", "||", ";", "|", "&"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def stage_commands(stage: Stage) -> list[list[str]]:
    return [argv for run in stage.all("RUN") for argv in shell_commands(run.args)]


#: pip options that take a value as the next word (``--opt=value`` is one word anyway).
PIP_VALUE_OPTIONS = frozenset({
    "-w", "--wheel-dir", "-r", "--requirement", "-c", "--constraint", "-e", "--editable",
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-t", "--target",
    "--prefix", "--root", "--src", "--platform", "--python-version", "--progress-bar",
})


def pip_calls(stage: Stage, subcommand: str) -> list[list[str]]:
    """The arguments of every ``pip SUBCOMMAND`` (or ``python -m pip``) in the stage's RUNs."""
    calls = []
    for argv in stage_commands(stage):
        if argv[0] in {"pip", "pip3"}:
            rest = argv[1:]
        elif argv[:3] in (["python", "-m", "pip"], ["python3", "-m", "pip"]):
            rest = argv[3:]
        else:
            continue
        if rest[:1] == [subcommand]:
            calls.append(rest[1:])
    return calls


def pip_targets(args: list[str]) -> list[str]:
    """What a pip command installs or builds: its words that are neither options nor values."""
    targets, skip = [], False
    for word in args:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in PIP_VALUE_OPTIONS
        else:
            targets.append(word)
    return targets


def dockerfile_env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in stage.all("ENV"):
        words = shlex.split(ins.args)
        if words and "=" not in words[0]:  # the legacy form: ENV NAME value with spaces
            env[words[0]] = ins.args.split(None, 1)[1] if len(words) > 1 else ""
            continue
        for word in words:
            name, sep, value = word.partition("=")
            assert sep, f"Dockerfile line {ins.line}: ENV {ins.args}"
            env[name] = value
    return env


STAGES = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
FINAL = STAGES[-1]
IMAGE_ENV = dockerfile_env(FINAL)


def _copies(stage: Stage) -> list[tuple[str | None, list[str], str]]:
    """``(from stage or None, sources, destination)`` of every COPY and ADD of the stage."""
    found = []
    for ins in stage.all("COPY") + stage.all("ADD"):
        words = shlex.split(ins.args)
        options = [w for w in words if w.startswith("--")]
        paths = [w for w in words if not w.startswith("--")]
        assert len(paths) >= 2, f"Dockerfile line {ins.line}: {ins.keyword} {ins.args}"
        source_stage = next((o.split("=", 1)[1] for o in options if o.startswith("--from=")),
                            None)
        assert ins.keyword == "COPY" or source_stage is None, (
            f"Dockerfile line {ins.line}: use COPY, not ADD")
        found.append((source_stage, paths[:-1], paths[-1]))
    return found


def test_every_stage_is_python_3_11_slim_which_the_project_supports() -> None:
    names = set()
    for stage in STAGES:
        assert stage.image == "python:3.11-slim" or stage.image in names, stage.image
        if stage.name:
            names.add(stage.name)
    assert "3.11" in SpecifierSet(PROJECT["requires-python"])


def test_only_the_package_sources_are_copied_from_the_repository() -> None:
    local = {src.rstrip("/") for stage in STAGES for from_, sources, _ in _copies(stage)
             if from_ is None for src in sources}
    needed = {"pyproject.toml", PROJECT["readme"], "streams"}  # the readme: pyproject needs it
    assert local == needed, f"COPY from the build context: {sorted(local)}, expected exactly " \
                            f"{sorted(needed)} (nothing else is needed to build the package)"


def test_the_image_installs_this_repository_not_a_package_from_pypi() -> None:
    # The stages that build a wheel of the repository itself ("." after copying pyproject.toml).
    builders = {stage.name for stage in STAGES[:-1]
                if stage.name is not None
                and any(pip_targets(args) == ["."] for args in pip_calls(stage, "wheel"))
                and any("pyproject.toml" in srcs for from_, srcs, _ in _copies(stage)
                        if from_ is None)}
    assert builders, "no named stage runs `pip wheel .` on the copied pyproject.toml"
    wheel_dirs = [dest for from_, _, dest in _copies(FINAL) if from_ in builders]
    assert wheel_dirs, f"the final stage copies nothing from the wheel stage(s) {builders}"
    installs = pip_calls(FINAL, "install")
    assert installs, "the final stage runs no pip install"
    wheel = f"{PROJECT['name'].replace('-', '_')}-{PROJECT['version']}-py3-none-any.whl"
    for args in installs:
        targets = pip_targets(args)
        assert targets, f"pip install {args}: installs nothing"
        for target in targets:
            assert "[" not in target, f"pip install {target}: no extras in the image"
            assert any(target.startswith(d) for d in wheel_dirs), (
                f"pip install {target}: expected the wheel copied from the build stage into "
                f"{wheel_dirs}, never a name looked up on an index")
            assert fnmatch(wheel, PurePosixPath(target).name), (
                f"pip install {target} does not match this project's wheel {wheel}")
    for stage in STAGES:  # nowhere is slawatch installed by name
        for args in pip_calls(stage, "install"):
            for target in pip_targets(args):
                assert not re.fullmatch(rf"{re.escape(PROJECT['name'])}\b.*", target), target


def test_the_entrypoint_is_the_slawatch_console_script() -> None:
    assert FINAL.last("ENTRYPOINT").exec_form() == ["slawatch"]
    assert PROJECT["scripts"]["slawatch"] == "streams.cli:main"
    assert callable(cli.main)


def test_the_default_command_is_a_worker_the_cli_accepts() -> None:
    cmd = FINAL.last("CMD").exec_form()
    assert cmd == ["worker"]
    assert parse(cmd).command == "worker"


def test_the_image_runs_as_a_non_root_user_who_owns_the_data_dir() -> None:
    user = FINAL.last("USER").args.split(":")[0]
    assert user not in {"", "root", "0"}, f"USER {user}: the image must not run as root"
    # Faust creates its datadir without parents: the directory must exist and be writable.
    settings = Settings.from_env(IMAGE_ENV)
    data_dir = str(settings.data_dir)
    assert settings.data_dir.is_absolute(), f"SLAWATCH_DATA_DIR={data_dir}: set it absolute"
    owned = False
    for argv in stage_commands(FINAL):
        if data_dir not in argv and data_dir + "/" not in argv:
            continue
        if argv[0] == "install" and "-d" in argv and "-o" in argv:
            owned |= argv[argv.index("-o") + 1] == user
        elif argv[0] == "chown":
            owner = next(a for a in argv[1:] if not a.startswith("-"))
            owned |= owner.split(":")[0] == user
    assert owned, f"no RUN creates {data_dir} owned by {user} (install -d -o or chown)"


def test_the_image_environment_is_valid_settings() -> None:
    unknown = {k for k in IMAGE_ENV if k.startswith("SLAWATCH_")} - KNOWN_VARIABLES
    assert not unknown, f"the Dockerfile sets variables the code never reads: {sorted(unknown)}"
    Settings.from_env(IMAGE_ENV)


def test_the_exposed_port_is_the_default_web_port() -> None:
    ports = {p.split("/")[0] for ins in FINAL.all("EXPOSE") for p in ins.args.split()}
    assert ports == {str(Settings().web_port)}


@pytest.fixture
def web_server() -> Iterator[tuple[int, list[str], dict[str, str]]]:
    """A stand-in for the worker's web server: ``/health`` answers 200 while ``state["agent"]``
    is "running", else 503; any other path 404. Yields its port, the paths asked and the state."""
    asked: list[str] = []
    state = {"agent": "running"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the http.server interface
            asked.append(self.path)
            running = state["agent"] == "running"
            body = b'{"status": "ok"}' if running else b'{"status": "stopped"}'
            self.send_response((200 if running else 503) if self.path == "/health" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], asked, state
    finally:
        server.shutdown()
        server.server_close()


def test_the_healthcheck_asks_the_worker_for_health(
        web_server: tuple[int, list[str], dict[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, sep, command = FINAL.last("HEALTHCHECK").args.partition("CMD ")
    assert sep, "HEALTHCHECK without CMD"
    argv = Instruction("HEALTHCHECK CMD", command, 0).exec_form()
    assert argv[:2] == ["python", "-c"] and len(argv) == 3, argv
    code = compile(argv[2], "HEALTHCHECK", "exec")  # run here: an exception is exit status 1
    port, asked, state = web_server
    monkeypatch.setenv("SLAWATCH_WEB_HOST", "0.0.0.0")  # as in compose: checked on 127.0.0.1
    for proxy in ("http_proxy", "HTTP_PROXY"):  # a proxy in the environment is not used
        monkeypatch.setenv(proxy, f"http://127.0.0.1:{unused_port()}")
    monkeypatch.setenv("SLAWATCH_WEB_PORT", str(port))
    exec(code, {})  # fails the test if the check fails against a working server
    assert asked == ["/health"], f"the healthcheck asked for {asked}"
    state["agent"] = "stopped"  # the worker answers 503 once its agent stopped: unhealthy
    with pytest.raises(OSError):
        exec(code, {})
    monkeypatch.setenv("SLAWATCH_WEB_PORT", str(unused_port()))
    with pytest.raises(OSError):
        exec(code, {})


def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ----------------------------------------------------------------------------- compose.yaml


COMPOSE_TEXT = COMPOSE.read_text(encoding="utf-8")
COMPOSE_DOC: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE_DOC["services"]


def _built_from_our_dockerfile(service: dict[str, Any]) -> bool:
    build = service.get("build")
    if build is None:
        return False
    if isinstance(build, str):
        context, dockerfile = build, "Dockerfile"
    else:
        context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
    return (DOCKER / context / dockerfile).resolve() == DOCKERFILE.resolve()


OURS = {name: s for name, s in SERVICES.items() if _built_from_our_dockerfile(s)}


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A service's ``environment`` (mapping or list); ``None``: passed on from the shell."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = [entry.partition("=") for entry in raw]
        raw = {name: value if sep else None for name, sep, value in pairs}
    env: dict[str, str | None] = {}
    for name, value in raw.items():
        assert not isinstance(value, bool | float), (
            f"{name}: {value!r}: quote it, compose refuses booleans and YAML changes floats")
        env[name] = None if value is None else str(value)
    return env


def container_env(name: str) -> dict[str, str]:
    """What a container of our image sees: the image's ENV, then the service's environment."""
    env = dict(IMAGE_ENV)
    env.update((k, v) for k, v in environment(OURS[name]).items() if v is not None)
    return env


def argv_of(name: str) -> list[str]:
    service = OURS[name]
    entrypoint = service.get("entrypoint", FINAL.last("ENTRYPOINT").exec_form())
    assert entrypoint == ["slawatch"], f"{name}: entrypoint {entrypoint}"
    command = service.get("command", FINAL.last("CMD").exec_form())
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def parse(argv: list[str]) -> argparse.Namespace:
    try:
        return cli._parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"slawatch {' '.join(argv)}: the CLI rejects it (exit {exc.code})")


@pytest.fixture
def effective(monkeypatch: pytest.MonkeyPatch
              ) -> Callable[[str], tuple[argparse.Namespace, Settings]]:
    """A service's arguments and settings, built as ``slawatch`` builds them in its container."""

    def build(name: str) -> tuple[argparse.Namespace, Settings]:
        args = parse(argv_of(name))
        for key in list(os.environ):
            if key.startswith("SLAWATCH_"):
                monkeypatch.delenv(key)
        for key, value in container_env(name).items():
            monkeypatch.setenv(key, value)
        flags = {"worker": cli._WORKER_FLAGS, "topics": cli._TOPICS_FLAGS}.get(args.command, ())
        return args, cli._settings(args, flags)

    return build


def test_topics_and_worker_are_built_from_the_dockerfile_with_the_repo_as_context() -> None:
    assert {"topics", "worker"} <= set(OURS), f"built from docker/Dockerfile: {sorted(OURS)}"
    for name, service in OURS.items():
        build = service["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        assert (DOCKER / context).resolve() == ROOT, f"{name}: build context {context}"


def test_every_slawatch_variable_set_is_one_the_code_reads() -> None:
    for name, service in SERVICES.items():
        unknown = {k for k in environment(service) if k.startswith("SLAWATCH")} - KNOWN_VARIABLES
        assert not unknown, f"{name} sets variables slawatch never reads: {sorted(unknown)}"


def test_every_command_of_our_image_is_accepted_by_the_cli() -> None:
    for name in OURS:
        parse(argv_of(name))


def test_each_container_gets_valid_settings_for_real_kafka(
        effective: Callable[[str], tuple[argparse.Namespace, Settings]]) -> None:
    for name in OURS:
        args, settings = effective(name)
        assert settings.bootstrap, name  # both commands need a broker
        assert settings.broker_kind == "KAFKA", f"{name}: TANSU is the embedded test broker"
        assert settings.clock == "WALL", f"{name}: a MANUAL clock never fires silent deadlines"
        if args.command == "topics":
            cli._seconds(args.timeout, "--timeout")


def test_topics_create_runs_once_kafka_is_healthy_and_the_workers_after_it(
        effective: Callable[[str], tuple[argparse.Namespace, Settings]]) -> None:
    topics_args, _ = effective("topics")
    assert (topics_args.command, topics_args.topics_command) == ("topics", "create")
    assert effective("worker")[0].command == "worker"
    topics, worker = SERVICES["topics"], SERVICES["worker"]
    assert topics.get("restart") == "no", "topics is one-shot: restart must be the string 'no'"
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    health = SERVICES["kafka"].get("healthcheck") or {}
    assert health.get("test") not in (None, [], ["NONE"]) and not health.get("disable"), (
        "topics waits for service_healthy: kafka needs a healthcheck")
    assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert worker.get("restart") == "unless-stopped"


def test_the_worker_agrees_with_topics_create(
        effective: Callable[[str], tuple[argparse.Namespace, Settings]]) -> None:
    _, topics = effective("topics")
    _, worker = effective("worker")
    assert worker.partitions == topics.partitions, (
        f"SLAWATCH_PARTITIONS: the worker has {worker.partitions}, the topics {topics.partitions}")
    assert worker.topic_specs() == topics.topic_specs()  # names, partitions, replicas
    assert worker.bootstrap == topics.bootstrap
    assert worker.kafka_client_options() == topics.kafka_client_options()


def published_host_ports(service: dict[str, Any]) -> list[tuple[str, str]]:
    """``(host port, container port)`` of every ``ports`` entry; the host port '' if random."""
    found = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            found.append((str(entry.get("published", "")), str(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        found.append((parts[-2] if len(parts) >= 2 else "", parts[-1]))
    return found


def test_the_worker_can_be_scaled(
        effective: Callable[[str], tuple[argparse.Namespace, Settings]]) -> None:
    worker = SERVICES["worker"]
    assert "container_name" not in worker, "a container_name allows one worker only"
    _, settings = effective("worker")
    for host, container in published_host_ports(worker):
        assert host == "" or "-" in host, (
            f"worker publishes host port {host}: a second worker could not start")
        assert container == str(settings.web_port), (
            f"worker publishes port {container}, its web server is on {settings.web_port}")
    if worker.get("ports"):
        assert settings.web_host == "0.0.0.0", "a published port needs SLAWATCH_WEB_HOST=0.0.0.0"


def mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """``(source, target, read-only)`` of every volume of the service."""
    found = []
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            found.append((entry["source"], entry["target"], bool(entry.get("read_only"))))
            continue
        source, target, *mode = str(entry).split(":")
        found.append((source, target, "ro" in ",".join(mode).split(",")))
    return found


def test_the_policy_file_mounted_into_the_worker_is_in_the_repo_and_valid(
        effective: Callable[[str], tuple[argparse.Namespace, Settings]]) -> None:
    _, settings = effective("worker")
    assert settings.policies is not None, "the worker needs SLAWATCH_POLICIES"
    found = [(s, ro) for s, t, ro in mounts(SERVICES["worker"]) if t == str(settings.policies)]
    assert found, f"nothing is mounted at SLAWATCH_POLICIES={settings.policies}"
    ((source, read_only),) = found
    path = (DOCKER / source).resolve()
    assert path.is_relative_to(ROOT) and path.is_file(), f"{source}: no such file in the repo"
    assert read_only, f"{source}: mount the policy file read-only (:ro)"
    policies = load_policy_file(str(path))
    assert policies.versions


def kafka_env() -> dict[str, str]:
    env = environment(SERVICES["kafka"])
    return {k: v for k, v in env.items() if v is not None}


def listeners(text: str) -> dict[str, int]:
    """``NAME://host:port,...`` as {name: port}."""
    found = {}
    for entry in text.split(","):
        name, _, address = entry.strip().partition("://")
        found[name] = int(address.rsplit(":", 1)[1])
    return found


def test_compose_runs_the_kafka_release_the_tests_run() -> None:
    """The image's tag is the version pinned in ``tests/kafka/pom.xml``, which the integration
    tests fetch and run: what users start is what was tested."""
    from tests.support.kafka import kafka_version

    assert SERVICES["kafka"]["image"] == f"apache/kafka:{kafka_version()}"


def test_kafka_runs_in_kraft_mode_without_zookeeper() -> None:
    kafka, env = SERVICES["kafka"], kafka_env()
    assert kafka["image"].startswith("apache/kafka:")
    assert {"broker", "controller"} <= {r.strip() for r in env["KAFKA_PROCESS_ROLES"].split(",")}
    assert "zookeeper" not in COMPOSE_TEXT.lower()
    try:
        cluster_id = base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")
    except (KeyError, binascii.Error):
        cluster_id = b""
    assert len(cluster_id) == 16, "CLUSTER_ID: a base64url UUID (kafka-storage.sh random-uuid)"
    bound = listeners(env["KAFKA_LISTENERS"])
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(bound) <= set(protocols), "every listener needs a security protocol"
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    voters = [v.split("@") for v in env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")]
    assert [(node, int(addr.rsplit(":", 1)[1])) for node, addr in voters] == [
        (env["KAFKA_NODE_ID"], bound[controller])], "the voter is this node's controller listener"
    assert env.get("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT") in bound


def test_our_services_reach_kafka_on_its_advertised_listener(
        effective: Callable[[str], tuple[argparse.Namespace, Settings]]) -> None:
    env = kafka_env()
    advertised = {}
    for entry in env["KAFKA_ADVERTISED_LISTENERS"].split(","):
        name, _, address = entry.partition("://")
        advertised[address] = name
    kafka_hosts = {"kafka", SERVICES["kafka"].get("hostname", "kafka")}
    bound = listeners(env["KAFKA_LISTENERS"])
    for name in OURS:
        _, settings = effective(name)
        for server in bootstrap_servers(settings.broker or ""):
            assert server in advertised, f"{name}: {server} is not an advertised listener"
            assert server.rsplit(":", 1)[0] in kafka_hosts
            assert bound[advertised[server]] == int(server.rsplit(":", 1)[1])
    test = SERVICES["kafka"]["healthcheck"]["test"]
    assert any("kafka-broker-api-versions.sh" in word for word in test)
    health_server = test[test.index("--bootstrap-server") + 1]
    assert int(health_server.rsplit(":", 1)[1]) in bound.values()


def test_kafka_keeps_its_data_in_a_named_volume() -> None:
    log_dir = kafka_env()["KAFKA_LOG_DIRS"]
    named = set(COMPOSE_DOC.get("volumes") or {})
    assert any(source in named and target == log_dir
               for source, target, _ in mounts(SERVICES["kafka"])), (
        f"no named volume at KAFKA_LOG_DIRS={log_dir}")


# ----------------------------------------------------------------------------- the header


HEADER = "\n".join(line[1:].strip() for line in COMPOSE_TEXT.splitlines()
                   if line.startswith("#"))


def test_the_header_says_how_to_run_produce_and_read(
        effective: Callable[[str], tuple[argparse.Namespace, Settings]]) -> None:
    assert "docker compose -f docker/compose.yaml up --build --scale worker=3" in HEADER
    _, settings = effective("worker")
    topics = {spec.name for spec in settings.topic_specs()}
    named = re.findall(r"--topic (\S+)", HEADER)
    assert settings.topic("incidents") in named and settings.topic("breaches") in named
    assert set(named) <= topics, f"the header names topics slawatch does not use: {named}"
    for script in ("kafka-console-producer.sh", "kafka-console-consumer.sh"):
        assert f"exec -T kafka /opt/kafka/bin/{script}" in HEADER or \
               f"exec kafka /opt/kafka/bin/{script}" in HEADER, script


def test_the_sample_event_in_the_header_is_valid_and_breaches_at_once(
        effective: Callable[[str], tuple[argparse.Namespace, Settings]]) -> None:
    match = re.search(r"echo '([^|']+)\|(\{[^']*\})'", HEADER)
    assert match, "no `echo 'KEY|{...}'` sample event in the header"
    assert "parse.key=true" in HEADER and "key.separator='|'" in HEADER
    key, value = match.groups()
    _, event = decode_incident(value.encode())
    assert key == event.incident_id, "the record key must be the incident_id (SPEC section 2)"
    _, settings = effective("worker")
    policies = load_policy_file(str((DOCKER / next(
        s for s, t, _ in mounts(SERVICES["worker"]) if t == str(settings.policies))).resolve()))
    detector = Detector(policies)
    records = detector.on_incident_event(event)
    records += detector.advance(time.time_ns() // 1_000_000)
    assert "breaches" in {topic_of(r) for r in records}, (
        "the sample incident does not breach under the mounted policies by now")


# ----------------------------------------------------------------------------- the README


def test_the_readme_table_lists_every_variable_with_its_default() -> None:
    rows = re.findall(r"^\| `(SLAWATCH_[A-Z_]+)` \| ([^|]+) \|", README.read_text("utf-8"),
                      flags=re.MULTILINE)
    listed = {name: default.strip() for name, default in rows}
    assert len(rows) == len(listed), "a variable is listed twice"
    assert set(listed) == KNOWN_VARIABLES, (
        f"missing: {sorted(KNOWN_VARIABLES - set(listed))}, "
        f"not read by the code: {sorted(set(listed) - KNOWN_VARIABLES)}")
    defaults = Settings()
    for f in fields(Settings):
        value = getattr(defaults, f.name)
        said = listed[VARIABLES[f.name]]
        if f.name.endswith("_ms") and value is not None:  # a duration, as the flags take it
            assert parse_setting(f.name, said.strip("`"), "README") == value, (
                f"{VARIABLES[f.name]}: the README says {said}, the code {value} ms")
            continue
        expected = "none" if value is None else f"`{value}`"
        assert listed[VARIABLES[f.name]] == expected, (
            f"{VARIABLES[f.name]}: the README says {listed[VARIABLES[f.name]]}, the code "
            f"{expected}")


def test_the_readme_names_only_real_variables() -> None:
    named = set(re.findall(r"SLAWATCH_[A-Z_]+", README.read_text("utf-8")))
    assert named <= KNOWN_VARIABLES, sorted(named - KNOWN_VARIABLES)
