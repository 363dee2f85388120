"""The real brokers for integration tests: every test that takes ``broker`` runs on both.

- ``tansu``: the embedded Tansu (``streams.broker.EmbeddedBroker``), workers with
  ``SLAWATCH_BROKER_KIND=TANSU`` (the client settings its defects need);
- ``kafka``: Apache Kafka, the release pinned in ``tests/kafka/pom.xml``, one KRaft node
  (``tests.support.kafka.KafkaBroker``), workers with ``SLAWATCH_BROKER_KIND=KAFKA``: the
  production settings.

One broker of each kind for the whole session (pytest runs the tests of one leg, then the other);
``-k tansu`` or ``-k kafka`` picks one leg. Where ``java`` (>= 17) is missing, or ``mvn`` and the
jars are, the kafka leg is skipped with the reason; under ``CI=true`` it is a failure instead.
Both brokers expose ``bootstrap``, ``url``, ``port``, ``pid``, ``log_path``, ``running`` and
``kind``; ``tests.integration.harness.broker_kind`` reads the last.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest

from streams.broker import EmbeddedBroker
from tests.integration.harness import Deployment
from tests.support import kafka

log = logging.getLogger(__name__)

BROKERS = ("tansu", "kafka")


@pytest.fixture(scope="session", params=BROKERS, ids=BROKERS)
def broker(request: pytest.FixtureRequest) -> Iterator[EmbeddedBroker | kafka.KafkaBroker]:
    if request.param == "tansu":
        with EmbeddedBroker() as tansu:
            yield tansu
            Deployment.close_all()
        return
    reason = kafka.missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the Kafka leg cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    with kafka.KafkaBroker() as running:
        log.warning("Kafka %s (pid %d) ready at %s in %.1f s", running.version, running.pid,
                    running.bootstrap, running.start_seconds or 0.0)
        yield running
        Deployment.close_all()


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name of its own for each test: the session's broker is shared."""
    return f"test-{request.node.name[:60]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace(
        "]", "")
