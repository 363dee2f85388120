"""Kafka admin requests (kafka-python's admin client), on any Kafka-protocol broker, embedded or
real: ``create_topics``, ``check_reachable`` and the cluster's broker list
(``metadata_brokers``).

kafka-python is imported inside each function (about 0.2 s): only when a broker is used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .topics import BrokerError, TopicError, TopicSpec

if TYPE_CHECKING:
    from kafka import KafkaAdminClient

log = logging.getLogger(__name__)


def create_topics(bootstrap: str, topics: Iterable[TopicSpec], *, timeout_s: float = 30.0,
                  client_options: Mapping[str, object] | None = None) -> list[str]:
    """Create ``topics`` on the broker at ``bootstrap``; return the names created now.

    A topic that already exists is fine if it has the partition count asked for (its configs are
    not compared); with another count it is a ``TopicError``: co-partitioned topics must agree.
    ``client_options`` are extra kafka-python client settings: the security ones of
    ``Settings.kafka_client_options()`` (SASL, TLS) for a real Kafka. ``timeout_s`` bounds the
    wait for the broker to answer at all, and then each request.
    """
    specs = list(topics)
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        msg = f"a topic is listed twice: {names}"
        raise TopicError(msg)
    if not specs:
        return []
    from kafka.errors import (
        ClusterAuthorizationFailedError,
        KafkaError,
        TopicAlreadyExistsError,
        TopicAuthorizationFailedError,
        for_code,
    )

    denied = {TopicAuthorizationFailedError.errno, ClusterAuthorizationFailedError.errno}

    timeout_ms = int(timeout_s * 1000)
    admin = _admin(bootstrap, "slawatch-topics", timeout_s, client_options)
    try:
        response = admin.create_topics(
            {spec.name: {"num_partitions": spec.partitions,
                         "replication_factor": spec.replication_factor,
                         "configs": spec.configs} for spec in specs},
            timeout_ms=timeout_ms, raise_errors=False)
        created, existing, failed = [], [], {}
        for result in response["topics"]:
            code = result["error_code"]
            if code == 0:
                created.append(result["name"])
            elif code == TopicAlreadyExistsError.errno:
                existing.append(result["name"])
            else:
                failed[f"{result['name']}: {for_code(code).__name__} "
                       f"({result['error_message']})"] = code
        if failed:
            msg = f"cannot create topics on {bootstrap}: {'; '.join(failed)}"
            raise TopicError(msg, denied=set(failed.values()) <= denied)
        # in the broker's metadata before this returns: also those that another client created
        # a moment ago (a consumer group's leader assigns only the partitions it sees there)
        admin.wait_for_topics(created + existing, timeout_ms=timeout_ms)
        if existing:
            _check_partitions(admin.describe_topics(existing),
                              {spec.name: spec.partitions for spec in specs}, bootstrap)
    except KafkaError as exc:
        msg = f"creating topics {names} on {bootstrap}: {exc}"
        raise BrokerError(msg) from exc
    finally:
        admin.close()
    log.info("topics on %s: created %s, already there %s", bootstrap, created, existing)
    return created


def check_reachable(bootstrap: str, *, timeout_s: float = 30.0,
                    client_options: Mapping[str, object] | None = None) -> None:
    """Return once a broker at ``bootstrap`` answers; a ``BrokerError`` naming it and the wait
    when none does within ``timeout_s`` (a worker checks it before Faust starts, whose failure
    to connect is a traceback)."""
    _admin(bootstrap, "slawatch-probe", timeout_s, client_options).close()


def _admin(bootstrap: str, client_id: str, timeout_s: float,
           client_options: Mapping[str, object] | None) -> KafkaAdminClient:
    """A kafka-python admin client connected to ``bootstrap``, or a ``BrokerError``."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    options = dict(client_options or {})
    cafile = options.get("ssl_cafile")
    if cafile is not None and not os.path.isfile(str(cafile)):
        msg = f"the CA file {cafile} (for TLS to {bootstrap}) does not exist"
        raise BrokerError(msg)
    timeout_ms = int(timeout_s * 1000)
    try:
        return KafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id,
                                bootstrap_timeout_ms=timeout_ms, request_timeout_ms=timeout_ms,
                                **options)
    except KafkaError as exc:
        msg = f"cannot reach a Kafka broker at {bootstrap} within {timeout_s:g} s: {exc}"
        raise BrokerError(msg) from exc


def _check_partitions(described: list[dict[str, object]], wanted: Mapping[str, int],
                      bootstrap: str) -> None:
    wrong = []
    for topic in described:
        name, partitions = str(topic["name"]), topic["partitions"]
        count = len(partitions) if isinstance(partitions, list) else -1
        if count != wanted[name]:
            wrong.append(f"{name} has {count} partitions, not {wanted[name]}")
    if wrong:
        msg = (
            f"existing topics on {bootstrap} differ from what was asked: "
            f"{'; '.join(wrong)}"
        )
        raise TopicError(msg)


def metadata_brokers(bootstrap: str, timeout_s: float) -> set[tuple[str, int]]:
    """The (host, port) of every broker in the cluster's metadata, as kafka-python sees them."""
    from kafka import KafkaAdminClient  # ~0.2 s to import: only when a broker is used

    timeout_ms = int(timeout_s * 1000)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="slawatch-embedded-probe",
                             bootstrap_timeout_ms=timeout_ms, request_timeout_ms=timeout_ms)
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    return {(b["host"], int(b["port"])) for b in cluster["brokers"]}
