"""Settings: the one reader of the environment (``SLAWATCH_*``), as one frozen object.

``Settings.from_env(os.environ, **overrides)`` is called by the shells (the CLI passes
``os.environ``; nothing reads it at import). Each variable is parsed and checked where it is read,
and a bad one is a ``SettingsError`` naming the variable, the value and what was expected. Overrides
(command-line flags, tests) win over the environment; ``parse_setting`` turns a flag's text into a
value with the same rules, naming the flag. Its error is drawn in the one error tree, the docstring
of ``streams``.

Variable (field): default
    SLAWATCH_BROKER (broker): none; host:port or kafka://host:port, several separated by commas
    SLAWATCH_POLICIES (policies): none; the policy file
    SLAWATCH_TOPIC_PREFIX (topic_prefix): sla, so topics are sla.incidents, sla.breaches, ...
    SLAWATCH_PARTITIONS (partitions): 4, for every topic (they are co-partitioned)
    SLAWATCH_REPLICATION_FACTOR (replication_factor): 1
    SLAWATCH_DATA_DIR (data_dir): slawatch-data, relative to the working directory
    SLAWATCH_APP_ID (app_id): slawatch; the consumer group of the workers and the prefix of their
        table changelog topics (workers with the same id share the partitions)
    SLAWATCH_BROKER_KIND (broker_kind): KAFKA; or TANSU, the embedded broker, whose defects need
        other client settings (see ENGINE-NOTES and ``broker.EMBEDDED_FAUST_SETTINGS``)
    SLAWATCH_CLOCK (clock): WALL; or MANUAL, where only ticks produced to <prefix>.ticks move the
        detector clock past event time (tests, and backfills that must not see the wall clock)
    SLAWATCH_DELIVERY (delivery): BATCH, each fetch's records of an input partition processed as one
        batch below Faust's per-message path (``streams.worker.batches``); or STREAM, each record
        through Faust's agent stream: slower, the fallback should a faust-streaming release break
        the batch path
    SLAWATCH_MAX_FUTURE (max_future_ms): 5m; a duration: an input whose ``at`` is later than its
        reference instant plus this is a dead letter (reason ``future``, SPEC section 6)
    SLAWATCH_RETENTION (retention_ms): 30d; a duration: how long a finished incident is kept
        (its later events are ``late``), the same rule as ``slawatch replay --retention``
    SLAWATCH_SESSION_TIMEOUT (session_timeout_ms): none, Faust's 60 s (4 s with BROKER_KIND
        TANSU); a duration from 1s to 30m: how long a worker that stopped answering (killed,
        paused) keeps its partitions before the group gives them to another
    SLAWATCH_WEB_HOST (web_host): 127.0.0.1
    SLAWATCH_WEB_PORT (web_port): 6066
    SLAWATCH_SECURITY_PROTOCOL (security_protocol): PLAINTEXT; or SSL, SASL_PLAINTEXT, SASL_SSL
    SLAWATCH_SASL_MECHANISM (sasl_mechanism): none; PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
    SLAWATCH_SASL_USERNAME (sasl_username): none
    SLAWATCH_SASL_PASSWORD (sasl_password): none; never shown in a repr or an error
    SLAWATCH_SSL_CAFILE (ssl_cafile): none; the system's CA certificates

A variable set to the empty string counts as unset.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from .core.errors import SlawatchError
from .topics import ALL_TOPICS, CHANGELOG_TOPICS, TopicSpec

CLOCKS: Final = ("WALL", "MANUAL")
DELIVERIES: Final = ("BATCH", "STREAM")
BROKER_KINDS: Final = ("KAFKA", "TANSU")
SECURITY_PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
DEFAULT_KAFKA_PORT: Final = 9092

_MAX_TOPIC_NAME: Final = 249  # Kafka's limit
_MAX_PREFIX: Final = _MAX_TOPIC_NAME - 1 - max(len(name) for name in ALL_TOPICS)
_PREFIX = re.compile(r"[A-Za-z0-9_-](?:[A-Za-z0-9._-]*[A-Za-z0-9_-])?")
_HOST_PORT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]@,;]+)(?::(?P<port>[0-9]+))?")
_BROKER_EXPECTED: Final = ("host:port or kafka://host:port, several separated by commas "
                           "(e.g. kafka-1:9092,kafka-2:9092)")


class SettingsError(SlawatchError, ValueError):
    """A setting that is malformed, out of range or inconsistent with another.

    ``source`` is where it came from: an environment variable, a flag or a field name.
    """

    def __init__(self, message: str, source: str) -> None:
        super().__init__(message)
        self.source = source


# ----------------------------------------------------------------------------- one value each


def _shown(value: object, source: str) -> str:
    return "'***'" if "PASSWORD" in source.upper() else repr(value)


def _fail(source: str, value: object, expected: str) -> SettingsError:
    return SettingsError(f"{source}={_shown(value, source)}: expected {expected}", source)


def bootstrap_servers(broker: str, source: str = "broker") -> list[str]:
    """``host:port`` of every broker in a broker URL (``kafka://`` optional, the port 9092)."""
    servers = []
    for entry in re.split(r"[,;]", broker):
        entry = entry.strip()
        if entry.lower().startswith("kafka://"):
            entry = entry[len("kafka://"):]
        match = _HOST_PORT.fullmatch(entry)
        port = int(match["port"]) if match and match["port"] else DEFAULT_KAFKA_PORT
        if match is None or not 1 <= port <= 65535:
            raise _fail(source, broker, _BROKER_EXPECTED)
        servers.append(f"{match['host']}:{port}")
    return servers


def _whole_number(value: object, source: str, low: int, high: int | None = None) -> int:
    number = value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int) or number < low or (
            high is not None and number > high):
        expected = f"a whole number from {low} to {high}" if high else f"a whole number >= {low}"
        raise _fail(source, value, expected)
    return number


def _choice(value: object, source: str, choices: tuple[str, ...]) -> str:
    text = value.strip().upper() if isinstance(value, str) else value
    if text not in choices:
        raise _fail(source, value, f"one of {', '.join(choices)}")
    assert isinstance(text, str)
    return text


def _text(value: object, source: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(source, value, "a non-empty string")
    return value


def _broker(value: object, source: str) -> str:
    text = _text(value, source).strip()
    bootstrap_servers(text, source)
    return text


def _prefix(value: object, source: str) -> str:
    text = _text(value, source).strip()
    if not _PREFIX.fullmatch(text) or len(text) > _MAX_PREFIX:
        raise _fail(source, value, f"1 to {_MAX_PREFIX} characters of A-Z a-z 0-9 . _ -, "
                                   "not starting or ending with '.'")
    return text


def _host(value: object, source: str) -> str:
    text = _text(value, source).strip()
    if not text or any(c.isspace() for c in text):
        raise _fail(source, value, "a host name or IP address")
    return text


def _duration_ms(value: object, source: str, low_ms: int, high_ms: int | None = None) -> int:
    """A duration (SPEC section 1) as whole milliseconds, from ``low_ms`` to ``high_ms`` (100
    years); an int is ms."""
    if isinstance(value, int) and not isinstance(value, bool):
        ms = value
    else:
        from .core.errors import InvalidDuration
        from .core.timefmt import parse_duration

        try:
            ms = parse_duration(_text(value, source).strip())
        except InvalidDuration:
            raise _fail(source, value, "a duration such as 90s, 5m, 30d or PT5M") from None
    if ms < low_ms or ms > (_MAX_DURATION_MS if high_ms is None else high_ms):
        high = "100 years" if high_ms is None else f"{high_ms // 60_000}m"
        raise _fail(source, value, f"a duration from {low_ms // 1000}s to {high}")
    return ms


_MAX_DURATION_MS: Final = 100 * 366 * 24 * 3600 * 1000
#: Kafka's default ``group.max.session.timeout.ms``: a longer session is refused by the broker.
_MAX_SESSION_MS: Final = 30 * 60 * 1000


def _path(value: object, source: str) -> Path:
    if isinstance(value, Path):
        return value
    return Path(_text(value, source).strip())


@dataclass(frozen=True)
class _Var:
    """How one field is read: its variable, and the check that turns text or a value into it."""

    variable: str
    check: Callable[[object, str], object]


_VARS: Final[Mapping[str, _Var]] = {
    "broker": _Var("SLAWATCH_BROKER", _broker),
    "policies": _Var("SLAWATCH_POLICIES", _path),
    "topic_prefix": _Var("SLAWATCH_TOPIC_PREFIX", _prefix),
    "partitions": _Var("SLAWATCH_PARTITIONS", lambda v, s: _whole_number(v, s, 1)),
    "replication_factor": _Var("SLAWATCH_REPLICATION_FACTOR",
                               lambda v, s: _whole_number(v, s, 1)),
    "data_dir": _Var("SLAWATCH_DATA_DIR", _path),
    "app_id": _Var("SLAWATCH_APP_ID", _prefix),
    "broker_kind": _Var("SLAWATCH_BROKER_KIND", lambda v, s: _choice(v, s, BROKER_KINDS)),
    "clock": _Var("SLAWATCH_CLOCK", lambda v, s: _choice(v, s, CLOCKS)),
    "delivery": _Var("SLAWATCH_DELIVERY", lambda v, s: _choice(v, s, DELIVERIES)),
    "max_future_ms": _Var("SLAWATCH_MAX_FUTURE", lambda v, s: _duration_ms(v, s, 0)),
    "retention_ms": _Var("SLAWATCH_RETENTION", lambda v, s: _duration_ms(v, s, 1000)),
    "session_timeout_ms": _Var("SLAWATCH_SESSION_TIMEOUT",
                               lambda v, s: _duration_ms(v, s, 1000, _MAX_SESSION_MS)),
    "web_host": _Var("SLAWATCH_WEB_HOST", _host),
    "web_port": _Var("SLAWATCH_WEB_PORT", lambda v, s: _whole_number(v, s, 1, 65535)),
    "security_protocol": _Var("SLAWATCH_SECURITY_PROTOCOL",
                              lambda v, s: _choice(v, s, SECURITY_PROTOCOLS)),
    "sasl_mechanism": _Var("SLAWATCH_SASL_MECHANISM", lambda v, s: _choice(v, s, SASL_MECHANISMS)),
    "sasl_username": _Var("SLAWATCH_SASL_USERNAME", _text),
    "sasl_password": _Var("SLAWATCH_SASL_PASSWORD", _text),
    "ssl_cafile": _Var("SLAWATCH_SSL_CAFILE", _path),
}

#: Every variable ``Settings.from_env`` reads, by field.
VARIABLES: Final[Mapping[str, str]] = {name: var.variable for name, var in _VARS.items()}


def parse_setting(name: str, text: str, source: str) -> Any:
    """The value of field ``name`` written as ``text`` (a flag's argument, say); errors name
    ``source``. Cross-field rules are checked when the ``Settings`` is built."""
    if name not in _VARS:
        msg = f"no setting {name!r}; the settings are {', '.join(_VARS)}"
        raise KeyError(msg)
    return _VARS[name].check(text, source)


# ----------------------------------------------------------------------------- the object


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything slawatch is configured with; build it with ``Settings.from_env``."""

    broker: str | None = None
    policies: Path | None = None
    topic_prefix: str = "sla"
    partitions: int = 4
    replication_factor: int = 1
    data_dir: Path = Path("slawatch-data")
    app_id: str = "slawatch"
    broker_kind: str = "KAFKA"
    clock: str = "WALL"
    delivery: str = "BATCH"
    max_future_ms: int = 5 * 60 * 1000
    retention_ms: int = 30 * 24 * 3600 * 1000
    session_timeout_ms: int | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None

    def __post_init__(self) -> None:
        for f in fields(self):  # values given directly or as overrides: the same checks
            value = getattr(self, f.name)
            if value is not None:
                checked = _VARS[f.name].check(value, f.name)
                if checked != value:  # normalised (e.g. upper-cased): keep the checked form
                    object.__setattr__(self, f.name, checked)
        self._check_security()

    def _check_security(self) -> None:
        protocol, var = self.security_protocol, VARIABLES
        sasl = {name: getattr(self, name)
                for name in ("sasl_mechanism", "sasl_username", "sasl_password")}
        if protocol.startswith("SASL_"):
            missing = [var[name] for name, value in sasl.items() if value is None]
            if missing:
                msg = (
                    f"{var['security_protocol']}={protocol} needs {var['sasl_mechanism']} "
                    f"(one of {', '.join(SASL_MECHANISMS)}), {var['sasl_username']} and "
                    f"{var['sasl_password']}; missing: {', '.join(missing)}"
                )
                raise SettingsError(msg, missing[0])
        else:
            given = [var[name] for name, value in sasl.items() if value is not None]
            if given:
                msg = (
                    f"{', '.join(given)} set, but {var['security_protocol']}={protocol}: "
                    "expected SASL_PLAINTEXT or SASL_SSL to use SASL"
                )
                raise SettingsError(msg, given[0])
        if self.ssl_cafile is not None and not protocol.endswith("SSL"):
            msg = (
                f"{var['ssl_cafile']} set, but {var['security_protocol']}={protocol}: "
                "expected SSL or SASL_SSL to use TLS"
            )
            raise SettingsError(msg, var["ssl_cafile"])

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """The settings from ``environ``'s ``SLAWATCH_*`` variables, then ``overrides`` (by field
        name; ``None`` means not given, so optional flags can be passed as they are)."""
        unknown = set(overrides) - set(_VARS)
        if unknown:
            msg = (
                f"unknown settings {sorted(unknown)}; the settings are "
                f"{', '.join(_VARS)}"
            )
            raise TypeError(msg)
        values: dict[str, Any] = {}
        for name, var in _VARS.items():
            text = environ.get(var.variable)
            if text:  # unset or empty: the default
                values[name] = var.check(text, var.variable)
        values.update((name, value) for name, value in overrides.items() if value is not None)
        return cls(**values)

    # -- what the shells need

    def environment(self) -> dict[str, str]:
        """These settings as ``SLAWATCH_*`` variables, for a child process (``from_env`` of
        them gives these settings back)."""
        env = {}
        for name, variable in VARIABLES.items():
            value = getattr(self, name)
            if value is not None:
                env[variable] = f"{value}ms" if name.endswith("_ms") else str(value)
        return env

    @property
    def bootstrap(self) -> str:
        """``host:port,host:port`` for kafka-python's ``bootstrap_servers``."""
        if self.broker is None:
            msg = (
                f"no broker: set {VARIABLES['broker']} or pass --broker; "
                f"expected {_BROKER_EXPECTED}"
            )
            raise SettingsError(msg, VARIABLES["broker"])
        return ",".join(bootstrap_servers(self.broker))

    def kafka_client_options(self) -> dict[str, object]:
        """The security options of a kafka-python client (admin, producer or consumer)."""
        options: dict[str, object] = {"security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL_"):
            options.update(sasl_mechanism=self.sasl_mechanism,
                           sasl_plain_username=self.sasl_username,
                           sasl_plain_password=self.sasl_password)
        if self.ssl_cafile is not None:
            options["ssl_cafile"] = str(self.ssl_cafile)
        return options

    def topic(self, name: str) -> str:
        """The full name of topic ``name``: ``"breaches"`` is ``"sla.breaches"`` by default."""
        return f"{self.topic_prefix}.{name}"

    def topic_specs(self) -> list[TopicSpec]:
        """Every topic slawatch uses, with the configured partitions; the alert topics compacted."""
        return [TopicSpec(self.topic(name), self.partitions, compact=name in CHANGELOG_TOPICS,
                          replication_factor=self.replication_factor)
                for name in ALL_TOPICS]
