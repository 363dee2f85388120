"""Inputs that ``tests/unit/test_memory.py`` and ``bench/memory_bench.py`` share."""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from streams.core.timefmt import format_instant, parse_instant

START = parse_instant("2025-01-06T00:00:00Z")


def open_incidents(count: int) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of ``count`` incidents' ``opened`` (P3) then ``acknowledged``, a millisecond
    apart: each one's resolution clock runs, so all stay open."""
    for i in range(count):
        iid = f"INC-{i:08d}"
        at = START + 2 * i
        yield iid.encode(), orjson.dumps({
            "event_id": f"{iid}-o", "incident_id": iid, "type": "opened",
            "at": format_instant(at), "severity": "P3", "service": f"svc-{i % 500}",
            "customer": f"cust-{i % 50}"})
        yield iid.encode(), orjson.dumps({
            "event_id": f"{iid}-a", "incident_id": iid, "type": "acknowledged",
            "at": format_instant(at + 1)})
