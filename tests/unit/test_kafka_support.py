"""The test broker's helpers that need no Java."""

from __future__ import annotations

import uuid

import pytest

from tests.support import kafka


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The storage tool reads ``-t -abc`` as an option: the broker's start failed 1 time in 64."""
    draws = iter([uuid.UUID(bytes=b"\xfb" + bytes(15)), uuid.UUID(bytes=bytes(range(16)))])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    assert kafka._cluster_id() == "AAECAwQFBgcICQoLDA0ODw"


def test_a_cluster_id_is_what_kafka_prints() -> None:
    ids = {kafka._cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") and "=" not in i for i in ids)
