"""The real broker for integration tests: one embedded Tansu for the whole session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from streams.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name of its own for each test: the session's broker is shared."""
    return f"test-{request.node.name[:60]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace(
        "]", "")
