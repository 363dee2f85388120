"""The golden scenarios (``tests/golden/scenarios``, then the custom clocks of
``tests/golden/clocks``) as inputs: each folder's incidents and heartbeats merged on ``at`` (each
file keeping its order) and its ``until``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from streams.core.timefmt import parse_instant

GOLDEN = Path(__file__).parent.parent / "golden"
SCENARIOS = [p for name in ("scenarios", "clocks") for p in sorted((GOLDEN / name).iterdir())
             if p.is_dir()]

Input = tuple[str, dict[str, Any]]  # ("incident" | "heartbeat", the JSON object)


def scenario_inputs(folder: Path) -> tuple[list[Input], int]:
    def lines(name: str) -> list[dict[str, Any]]:
        path = folder / name
        if not path.exists():
            return []
        return [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]

    tagged = [("incident", o) for o in lines("incidents.jsonl")]
    tagged += [("heartbeat", o) for o in lines("heartbeats.jsonl")]
    tagged.sort(key=lambda t: parse_instant(t[1]["at"]))  # stable: each file keeps its order
    return tagged, parse_instant((folder / "until.txt").read_text().strip())
