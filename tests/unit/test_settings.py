"""Settings: every SLAWATCH_* variable parsed, overrides, errors that name the variable, topics."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from streams.settings import (
    VARIABLES,
    Settings,
    SettingsError,
    bootstrap_servers,
    parse_setting,
)
from streams.topics import TopicSpec

ROOT = Path(__file__).resolve().parents[2]

FULL_ENV = {
    "SLAWATCH_BROKER": "kafka://k1.example:9093,k2.example:9094",
    "SLAWATCH_POLICIES": "/etc/slawatch/policies.yaml",
    "SLAWATCH_TOPIC_PREFIX": "acme.sla",
    "SLAWATCH_PARTITIONS": "12",
    "SLAWATCH_REPLICATION_FACTOR": "3",
    "SLAWATCH_DATA_DIR": "/var/lib/slawatch",
    "SLAWATCH_APP_ID": "acme-slawatch",
    "SLAWATCH_CLOCK": "manual",
    "SLAWATCH_DELIVERY": "stream",
    "SLAWATCH_BROKER_KIND": "tansu",
    "SLAWATCH_MAX_FUTURE": "90s",
    "SLAWATCH_RETENTION": "P7D",
    "SLAWATCH_SESSION_TIMEOUT": "10s",
    "SLAWATCH_WEB_HOST": "0.0.0.0",
    "SLAWATCH_WEB_PORT": "8080",
    "SLAWATCH_SECURITY_PROTOCOL": "SASL_SSL",
    "SLAWATCH_SASL_MECHANISM": "SCRAM-SHA-512",
    "SLAWATCH_SASL_USERNAME": "slawatch",
    "SLAWATCH_SASL_PASSWORD": "s3cret pass",
    "SLAWATCH_SSL_CAFILE": "/etc/ssl/kafka-ca.pem",
}


# ----------------------------------------------------------------------------- reading


def test_an_empty_environment_gives_the_defaults() -> None:
    settings = Settings.from_env({})

    assert settings == Settings(
        broker=None, policies=None, topic_prefix="sla", partitions=4, replication_factor=1,
        data_dir=Path("slawatch-data"), web_host="127.0.0.1", web_port=6066,
        security_protocol="PLAINTEXT", sasl_mechanism=None, sasl_username=None,
        sasl_password=None, ssl_cafile=None)


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(FULL_ENV)

    assert settings.broker == "kafka://k1.example:9093,k2.example:9094"
    assert settings.bootstrap == "k1.example:9093,k2.example:9094"
    assert settings.policies == Path("/etc/slawatch/policies.yaml")
    assert settings.topic_prefix == "acme.sla"
    assert settings.partitions == 12
    assert settings.replication_factor == 3
    assert settings.data_dir == Path("/var/lib/slawatch")
    assert (settings.app_id, settings.clock, settings.broker_kind, settings.delivery) == (
        "acme-slawatch", "MANUAL", "TANSU", "STREAM")
    assert (settings.web_host, settings.web_port) == ("0.0.0.0", 8080)
    assert (settings.max_future_ms, settings.retention_ms) == (90_000, 7 * 86_400_000)
    assert settings.session_timeout_ms == 10_000
    assert settings.security_protocol == "SASL_SSL"
    assert settings.sasl_mechanism == "SCRAM-SHA-512"
    assert (settings.sasl_username, settings.sasl_password) == ("slawatch", "s3cret pass")
    assert settings.ssl_cafile == Path("/etc/ssl/kafka-ca.pem")
    assert set(FULL_ENV) == set(VARIABLES.values())  # the test covers every variable


def test_only_slawatch_variables_of_the_mapping_given_are_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLAWATCH_PARTITIONS", "9")  # the process environment is not consulted
    monkeypatch.setenv("SLAWATCH_BROKER", "elsewhere:9092")

    settings = Settings.from_env({"PARTITIONS": "7", "KAFKA_BROKER": "x:1"})

    assert settings.partitions == 4
    assert settings.broker is None


def test_an_empty_variable_counts_as_unset() -> None:
    settings = Settings.from_env({"SLAWATCH_PARTITIONS": "", "SLAWATCH_TOPIC_PREFIX": "",
                                  "SLAWATCH_BROKER": ""})

    assert (settings.partitions, settings.topic_prefix, settings.broker) == (4, "sla", None)


def test_values_are_trimmed_and_names_are_case_insensitive() -> None:
    settings = Settings.from_env({
        "SLAWATCH_PARTITIONS": " 8 ", "SLAWATCH_SECURITY_PROTOCOL": "sasl_plaintext",
        "SLAWATCH_SASL_MECHANISM": "scram-sha-256", "SLAWATCH_SASL_USERNAME": "u",
        "SLAWATCH_SASL_PASSWORD": "p"})

    assert settings.partitions == 8
    assert settings.security_protocol == "SASL_PLAINTEXT"
    assert settings.sasl_mechanism == "SCRAM-SHA-256"


# ----------------------------------------------------------------------------- overrides


def test_overrides_win_over_the_environment() -> None:
    env = {"SLAWATCH_PARTITIONS": "12", "SLAWATCH_BROKER": "env:9092",
           "SLAWATCH_TOPIC_PREFIX": "env"}

    settings = Settings.from_env(env, partitions=2, broker="flag:9092", topic_prefix=None)

    assert settings.partitions == 2
    assert settings.broker == "flag:9092"
    assert settings.topic_prefix == "env"  # None: not given, the environment's stays


def test_overrides_are_checked_and_their_errors_name_the_field() -> None:
    with pytest.raises(SettingsError, match=r"^partitions=0: expected a whole number >= 1$"):
        Settings.from_env({"SLAWATCH_PARTITIONS": "12"}, partitions=0)
    with pytest.raises(SettingsError, match=r"^web_port=True: expected a whole number"):
        Settings(web_port=True)


def test_an_override_as_text_is_parsed_like_the_variable() -> None:
    settings = Settings.from_env({}, partitions="6", data_dir="/tmp/sw")

    assert settings.partitions == 6
    assert settings.data_dir == Path("/tmp/sw")


def test_an_unknown_override_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="unknown settings \\['partition'\\]"):
        Settings.from_env({}, partition=3)


def test_parse_setting_names_its_source() -> None:
    assert parse_setting("partitions", "16", "--partitions") == 16
    with pytest.raises(SettingsError, match=r"^--partitions='many': expected a whole") as info:
        parse_setting("partitions", "many", "--partitions")
    assert info.value.source == "--partitions"


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.partitions = 8  # type: ignore[misc]


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("SLAWATCH_PARTITIONS", "four", "a whole number >= 1"),
    ("SLAWATCH_PARTITIONS", "0", "a whole number >= 1"),
    ("SLAWATCH_PARTITIONS", "-3", "a whole number >= 1"),
    ("SLAWATCH_PARTITIONS", "2.5", "a whole number >= 1"),
    ("SLAWATCH_REPLICATION_FACTOR", "0", "a whole number >= 1"),
    ("SLAWATCH_WEB_PORT", "65536", "a whole number from 1 to 65535"),
    ("SLAWATCH_WEB_PORT", "http", "a whole number from 1 to 65535"),
    ("SLAWATCH_SECURITY_PROTOCOL", "TLS", "one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
    ("SLAWATCH_SASL_MECHANISM", "GSSAPI", "one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"),
    ("SLAWATCH_BROKER", "http://kafka:9092", "host:port or kafka://host:port"),
    ("SLAWATCH_BROKER", "kafka:ninety", "host:port or kafka://host:port"),
    ("SLAWATCH_BROKER", "kafka:99999", "host:port or kafka://host:port"),
    ("SLAWATCH_BROKER", "a:9092,,b:9092", "host:port or kafka://host:port"),
    ("SLAWATCH_BROKER", "my kafka:9092", "host:port or kafka://host:port"),
    ("SLAWATCH_TOPIC_PREFIX", "sla.", "characters of A-Z a-z 0-9 . _ -"),
    ("SLAWATCH_TOPIC_PREFIX", ".sla", "characters of A-Z a-z 0-9 . _ -"),
    ("SLAWATCH_TOPIC_PREFIX", "acme sla", "characters of A-Z a-z 0-9 . _ -"),
    ("SLAWATCH_TOPIC_PREFIX", "sla/prod", "characters of A-Z a-z 0-9 . _ -"),
    ("SLAWATCH_TOPIC_PREFIX", "x" * 236, "1 to 235 characters"),
    ("SLAWATCH_WEB_HOST", "local host", "a host name or IP address"),
])
def test_a_bad_value_names_the_variable_the_value_and_what_was_expected(
        variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({variable: value})

    message = str(info.value)
    assert message.startswith(f"{variable}={value!r}: expected ")
    assert expected in message
    assert info.value.source == variable
    assert isinstance(info.value, ValueError)


def test_a_sasl_protocol_needs_a_mechanism_and_credentials() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"SLAWATCH_SECURITY_PROTOCOL": "SASL_SSL",
                           "SLAWATCH_SASL_MECHANISM": "PLAIN"})

    assert str(info.value) == (
        "SLAWATCH_SECURITY_PROTOCOL=SASL_SSL needs SLAWATCH_SASL_MECHANISM (one of PLAIN, "
        "SCRAM-SHA-256, SCRAM-SHA-512), SLAWATCH_SASL_USERNAME and SLAWATCH_SASL_PASSWORD; "
        "missing: SLAWATCH_SASL_USERNAME, SLAWATCH_SASL_PASSWORD")
    assert info.value.source == "SLAWATCH_SASL_USERNAME"


def test_credentials_without_a_sasl_protocol_are_refused_not_ignored() -> None:
    with pytest.raises(SettingsError, match=r"^SLAWATCH_SASL_USERNAME, SLAWATCH_SASL_PASSWORD "
                                            r"set, but SLAWATCH_SECURITY_PROTOCOL=SSL: expected "
                                            r"SASL_PLAINTEXT or SASL_SSL"):
        Settings.from_env({"SLAWATCH_SECURITY_PROTOCOL": "SSL", "SLAWATCH_SASL_USERNAME": "u",
                           "SLAWATCH_SASL_PASSWORD": "p"})


def test_a_ca_file_without_tls_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"^SLAWATCH_SSL_CAFILE set, but "
                                            r"SLAWATCH_SECURITY_PROTOCOL=SASL_PLAINTEXT"):
        Settings.from_env({**FULL_ENV, "SLAWATCH_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})


def test_the_password_never_shows() -> None:
    settings = Settings.from_env(FULL_ENV)
    assert "s3cret" not in repr(settings)
    with pytest.raises(SettingsError) as info:
        Settings(sasl_password=42)  # type: ignore[arg-type]
    assert "42" not in str(info.value)
    assert str(info.value) == "sasl_password='***': expected a non-empty string"


def test_no_broker_is_an_error_only_when_one_is_needed() -> None:
    settings = Settings.from_env({})
    with pytest.raises(SettingsError, match=r"^no broker: set SLAWATCH_BROKER or pass --broker"):
        _ = settings.bootstrap


# ----------------------------------------------------------------------------- brokers


@pytest.mark.parametrize(("broker", "servers"), [
    ("localhost:9092", ["localhost:9092"]),
    ("kafka://localhost:9092", ["localhost:9092"]),
    ("KAFKA://k1", ["k1:9092"]),  # Kafka's default port
    ("kafka://k1:1;k2:2", ["k1:1", "k2:2"]),  # Faust's separator
    ("k1:1, kafka://k2:2", ["k1:1", "k2:2"]),
    ("[::1]:19092,10.0.0.5", ["[::1]:19092", "10.0.0.5:9092"]),
])
def test_broker_urls_become_bootstrap_servers(broker: str, servers: list[str]) -> None:
    assert bootstrap_servers(broker) == servers
    assert Settings(broker=broker).bootstrap == ",".join(servers)


# ----------------------------------------------------------------------------- topics


def test_topic_names_carry_the_prefix() -> None:
    assert Settings().topic("breaches") == "sla.breaches"
    assert Settings(topic_prefix="acme-prod").topic("near-breaches") == "acme-prod.near-breaches"
    assert Settings.from_env({"SLAWATCH_TOPIC_PREFIX": "x.y"}).topic("outcomes") == "x.y.outcomes"


def test_topic_specs_list_every_topic_and_compact_the_alert_changelogs() -> None:
    specs = Settings(topic_prefix="sw", partitions=6, replication_factor=3).topic_specs()

    assert specs == [
        TopicSpec("sw.incidents", 6, compact=False, replication_factor=3),
        TopicSpec("sw.heartbeats", 6, compact=False, replication_factor=3),
        TopicSpec("sw.requests", 6, compact=False, replication_factor=3),
        TopicSpec("sw.breaches", 6, compact=True, replication_factor=3),
        TopicSpec("sw.near-breaches", 6, compact=True, replication_factor=3),
        TopicSpec("sw.outcomes", 6, compact=True, replication_factor=3),
        TopicSpec("sw.deadletter", 6, compact=False, replication_factor=3),
        TopicSpec("sw.ticks", 6, compact=False, replication_factor=3),
    ]
    assert {s.name for s in specs if s.configs == {"cleanup.policy": "compact"}} == {
        "sw.breaches", "sw.near-breaches", "sw.outcomes"}


def test_the_default_topics() -> None:
    assert [(s.name, s.partitions, s.compact) for s in Settings.from_env({}).topic_specs()] == [
        ("sla.incidents", 4, False), ("sla.heartbeats", 4, False), ("sla.requests", 4, False),
        ("sla.breaches", 4, True),
        ("sla.near-breaches", 4, True), ("sla.outcomes", 4, True), ("sla.deadletter", 4, False),
        ("sla.ticks", 4, False)]


def test_the_longest_prefix_still_gives_legal_topic_names() -> None:
    specs = Settings(topic_prefix="p" * 235).topic_specs()  # TopicSpec checks the 249 limit
    assert max(len(s.name) for s in specs) == 249


# ----------------------------------------------------------------------------- kafka clients


def test_plaintext_clients_get_no_security_options() -> None:
    assert Settings().kafka_client_options() == {"security_protocol": "PLAINTEXT"}


def test_sasl_and_tls_reach_the_kafka_client_options() -> None:
    assert Settings.from_env(FULL_ENV).kafka_client_options() == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "slawatch", "sasl_plain_password": "s3cret pass",
        "ssl_cafile": "/etc/ssl/kafka-ca.pem"}


# ----------------------------------------------------------------------------- the one reader


def _environment_reads(source: str) -> list[int]:
    """Lines that touch ``os.environ`` / ``os.getenv`` / ``environ`` imported from os."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                a.name in ("environ", "getenv", "environb") for a in node.names):
            lines.append(node.lineno)
    return lines


def test_only_the_cli_touches_the_process_environment() -> None:
    """settings.py reads the mapping it is given; the CLI passes ``os.environ`` to it."""
    readers = {path.relative_to(ROOT).as_posix(): lines
               for path in sorted((ROOT / "streams").rglob("*.py"))
               if (lines := _environment_reads(path.read_text(encoding="utf-8")))}

    assert list(readers) == ["streams/cli.py"], readers
    assert _environment_reads("import os\nos.environ.get('X')")
    assert _environment_reads("from os import getenv")


def test_the_environment_of_settings_gives_them_back() -> None:
    settings = Settings.from_env(FULL_ENV)
    assert Settings.from_env(settings.environment()) == settings
    assert Settings.from_env(Settings().environment()) == Settings()


@pytest.mark.parametrize(("variable", "text"), [
    ("SLAWATCH_MAX_FUTURE", "soon"), ("SLAWATCH_MAX_FUTURE", "-5m"),
    ("SLAWATCH_RETENTION", "0s"), ("SLAWATCH_RETENTION", "1000000d"),
    ("SLAWATCH_SESSION_TIMEOUT", "500ms"), ("SLAWATCH_SESSION_TIMEOUT", "31m")])
def test_a_bad_duration_setting_names_the_variable(variable: str, text: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: text})


def test_duration_settings_survive_the_environment_of_a_child() -> None:
    settings = Settings.from_env({"SLAWATCH_MAX_FUTURE": "250ms", "SLAWATCH_RETENTION": "2d"})
    again = Settings.from_env(settings.environment())
    assert (again.max_future_ms, again.retention_ms) == (250, 2 * 86_400_000)


def test_the_session_timeout_reaches_faust_with_a_heartbeat_a_tenth_of_it() -> None:
    """Unset, Faust's own (60 s on Kafka) or the embedded broker's test settings (4 s); set,
    it wins over both, and the heartbeat interval follows it (never above Faust's 3 s)."""
    from streams.broker import EMBEDDED_FAUST_SETTINGS
    from streams.worker.app import faust_settings

    kafka = Settings.from_env({}, broker="127.0.0.1:9092")
    assert "broker_session_timeout" not in faust_settings(kafka, embedded=False)
    assert faust_settings(kafka, embedded=True)["broker_session_timeout"] == (
        EMBEDDED_FAUST_SETTINGS["broker_session_timeout"])
    for env, want in (("10s", (10.0, 1.0)), ("2m", (120.0, 3.0))):
        given = Settings.from_env({"SLAWATCH_SESSION_TIMEOUT": env}, broker="127.0.0.1:9092")
        for embedded in (False, True):
            conf = faust_settings(given, embedded)
            assert (conf["broker_session_timeout"], conf["broker_heartbeat_interval"]) == want
