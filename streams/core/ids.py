"""Deterministic record ids: the same subject gives the same ``alert_id`` everywhere."""

from __future__ import annotations

import hashlib

_blake2b = hashlib.blake2b


def alert_id(*parts: object) -> str:
    """Deterministic id of an alert subject: the same parts give the same id everywhere."""
    text = "\x1f".join(map(str, parts))
    return _blake2b(text.encode(), digest_size=12).hexdigest()
