"""The JSON Schemas of ``schemas/`` as validators, and the schema of each kind of record."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMAS = Path(__file__).parents[2] / "schemas"
SCHEMA_OF_KIND = {
    "breach": "alert",
    "near_breach": "alert",
    "retraction": "alert",
    "outcome": "outcome",
    "invalid": "deadletter",
    "late": "deadletter",
}


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMAS / f"{name}.schema.json").read_text()))


def problems(name: str, instance: Any, may_omit: frozenset[str] = frozenset()) -> list[str]:
    """Every schema error of ``instance``, except required fields listed in ``may_omit``."""
    out = []
    for error in validator(name).iter_errors(instance):
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = {p for p in error.validator_value if p not in error.instance}
            if missing <= may_omit:
                continue
        out.append(f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}")
    return out
