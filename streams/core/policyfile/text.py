"""How a policy problem quotes what it found: values cut short, kinds named, paths joined."""

from __future__ import annotations

import re
from typing import Any

from ..policy import MATCH_KEYS

SHOW = 60  # characters of a value shown in a message


def match_text(match: tuple[str | None, str | None]) -> str:
    """A policy's ``match`` as a message writes it: ``{customer: acme}``."""
    parts = [f"{k}: {v if len(v) <= SHOW else show(v)}"
             for k, v in zip(MATCH_KEYS, match, strict=True) if v is not None]
    return "{" + ", ".join(parts) + "}"


def join(path: str, key: str) -> str:
    """The field path of ``key`` under ``path``: ``a.b``, or ``a['odd key']``."""
    if len(key) <= SHOW and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{show(key)}]"


def kind(value: Any) -> str:
    """What ``value`` is, for a message: ``a mapping``, ``the string 'x'``, ``int 3``."""
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"the string {show(value)}"
    kinds: dict[type[Any], str] = {dict: "a mapping", list: "a list"}
    return kinds.get(type(value), f"{type(value).__name__} {show(value)}")



def show(value: Any) -> str:
    """``repr(value)`` for a message, cut short: a 1 MB string or a list of a million items is
    named by its size (and never written out whole, so a hostile file costs no more here)."""
    if isinstance(value, str):
        if len(value) <= SHOW:
            return repr(value)
        return f"{value[:SHOW]!r}... ({len(value):,} characters)"
    if isinstance(value, list | dict) and not _small(value):
        kind = "a list" if isinstance(value, list) else "a mapping"
        return f"{kind} of {len(value):,} items"
    if type(value) is int and not -(10**SHOW) < value < 10**SHOW:
        return f"an integer of {len(str(abs(value))):,} digits"
    text = repr(value)
    return text if len(text) <= 2 * SHOW else text[:2 * SHOW] + "..."


def _small(value: Any, budget: int = 16) -> bool:
    """Whether ``value`` (lists, mappings, scalars) has at most ``budget`` parts and short
    strings: what ``repr`` writes out in a line. Stops at the budget, never walks a big value."""
    stack = [value]
    while stack:
        item = stack.pop()
        budget -= 1
        if budget < 0 or isinstance(item, str) and len(item) > SHOW:
            return False
        if isinstance(item, dict):
            if len(item) > budget:
                return False
            for k, v in item.items():
                stack += (k, v)
        elif isinstance(item, list):
            if len(item) > budget:
                return False
            stack += item
    return True
