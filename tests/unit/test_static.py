"""Static checks as tests: strict mypy, ruff, and the purity of ``streams.core``.

``streams.core`` is the sans-I/O engine: it imports only the allow-listed stdlib modules (plus
``yaml`` for policy files) and never reads the wall clock; time is always an argument.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "streams" / "core"

ALLOWED_IMPORTS = frozenset({
    "__future__", "bisect", "collections", "copy", "dataclasses", "datetime", "decimal", "enum",
    "fractions", "functools", "hashlib", "heapq", "itertools", "json", "math", "re", "types",
    "typing", "zoneinfo",
    "yaml",  # policy files
})
#: Names the core may import from a module it may not import whole (``sys`` holds stdout).
ALLOWED_NAMES = {"sys": frozenset({"intern"})}
CLOCK_READS = frozenset({  # as resolved through the module's imports
    "time.time", "time.time_ns",
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today",
    "datetime.date.today",
    "datetime.now", "datetime.utcnow",  # ``datetime`` with no import in sight
})


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False)


def test_mypy_strict_passes() -> None:
    done = _run("mypy", "streams")
    assert done.returncode == 0, f"mypy streams failed:\n{done.stdout}{done.stderr}"


def test_ruff_check_passes() -> None:
    done = _run("ruff", "check", "streams", "tests", "bench")
    assert done.returncode == 0, f"ruff check failed:\n{done.stdout}{done.stderr}"


# ----------------------------------------------------------------------------- core purity


def forbidden_imports(source: str) -> list[str]:
    """Every absolute import (anywhere in the module) whose top-level package is not allowed."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            allowed = ALLOWED_NAMES.get(node.module, frozenset())
            if all(alias.name in allowed for alias in node.names):
                continue
            names = [node.module]
        else:
            continue  # relative imports stay inside the package
        found += [f"line {node.lineno}: {n}" for n in names
                  if n.split(".")[0] not in ALLOWED_IMPORTS]
    return found


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base is not None else None
    return None


def clock_reads(source: str) -> list[str]:
    """Every call such as ``time.time()``, ``datetime.now()`` or ``dt.datetime.utcnow()``.

    Names are resolved through the module's imports, so ``from datetime import datetime as D``
    followed by ``D.now()`` is found too.
    """
    tree = ast.parse(source)
    bound: dict[str, str] = {}  # local name -> what it stands for ("datetime.datetime", "time")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname is not None:
                    bound[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    bound[top] = top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        called = _dotted(node.func)
        if called is None:
            continue
        head, _, rest = called.partition(".")
        if f"{bound.get(head, head)}.{rest}" in CLOCK_READS:
            found.append(f"line {node.lineno}: {called}()")
    return found


CORE_MODULES = sorted(CORE.rglob("*.py"))


def test_core_modules_are_found() -> None:
    names = {p.name for p in CORE_MODULES}
    assert {"policy.py", "detector.py", "timefmt.py"} <= names, names


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: p.relative_to(CORE).as_posix())
def test_core_imports_only_the_allow_list(path: Path) -> None:
    bad = forbidden_imports(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.relative_to(ROOT)} imports outside the core allow-list: {bad}"


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: p.relative_to(CORE).as_posix())
def test_core_never_reads_the_clock(path: Path) -> None:
    bad = clock_reads(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.relative_to(ROOT)} reads the wall clock (time is an argument): {bad}"


@pytest.mark.parametrize("source", [
    "import faust",
    "import os.path",
    "from kafka import KafkaConsumer",
    "import aiokafka",
    "import asyncio",
    "import time",
    "from socket import socket",
    "import subprocess",
    "import threading",
    "from random import random",
    "def f():\n    import os\n",
    "import sys",
    "from sys import stdout",
    "from sys import intern, stdout",
])
def test_the_import_check_refuses(source: str) -> None:
    assert forbidden_imports(source)


@pytest.mark.parametrize("source", [
    "from __future__ import annotations",
    "from collections.abc import Callable",
    "import yaml",
    "from .timefmt import parse_instant",
    "from . import errors",
    "from sys import intern",
])
def test_the_import_check_allows(source: str) -> None:
    assert forbidden_imports(source) == []


@pytest.mark.parametrize("source", [
    "import time\ntime.time()",
    "import time as t\nt.time()",
    "import datetime\ndatetime.datetime.now()",
    "import datetime as dt\ndt.datetime.utcnow()",
    "from datetime import datetime\ndatetime.now(UTC)",
    "from datetime import datetime as D\nD.utcnow()",
    "from datetime import date\ndate.today()",
    "from time import time\nx = time\nimport time as clock\nclock.time_ns()",
])
def test_the_clock_check_refuses(source: str) -> None:
    assert clock_reads(source)


@pytest.mark.parametrize("source", [
    "self.now = 0\nx = det.now",
    "from datetime import datetime\ndatetime.fromtimestamp(0, UTC)",
    "def f(clock):\n    return clock.now()",
    "import datetime\ndatetime.time(10, 30)",
    "from datetime import datetime\ndatetime(2026, 1, 1).time()",
])
def test_the_clock_check_allows(source: str) -> None:
    assert clock_reads(source) == []


def _imported_packages(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {n.name.split(".")[0] for n in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_worker_package_imports_faust() -> None:
    worker = ROOT / "streams" / "worker"
    outside = [p.relative_to(ROOT) for p in (ROOT / "streams").rglob("*.py")
               if worker not in p.parents
               and {"faust", "mode", "aiokafka"} & _imported_packages(p.read_text())]
    assert outside == []
    assert "faust" in _imported_packages((worker / "app.py").read_text())


def test_settings_stand_below_the_broker_and_kafka() -> None:
    """The topic vocabulary (``streams.topics``) is below settings: reading the settings loads
    neither the embedded broker nor kafka-python."""
    code = ("import sys, streams.settings, streams.topics\n"
            "print(sorted(m for m in sys.modules if m in ('streams.broker', 'streams.admin',"
            " 'kafka', 'faust')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_one_error_tree_is_the_code() -> None:
    """The docstring of ``streams`` draws every error once, each under its base class."""
    import importlib
    import pkgutil
    import re

    import streams
    from streams.core.errors import SlawatchError

    for info in pkgutil.walk_packages(streams.__path__, "streams."):
        if info.name != "streams.__main__":
            importlib.import_module(info.name)
    found: dict[str, type] = {}
    todo: list[type] = [SlawatchError]
    while todo:
        cls = todo.pop()
        if not cls.__name__.startswith("_"):
            found[cls.__name__] = cls
        todo += cls.__subclasses__()
    drawn: dict[str, str | None] = {}
    parents: list[str] = []
    for line in (streams.__doc__ or "").splitlines():
        m = re.match(r"    ((?:[│ ]   )*)(?:[├└]── )?([A-Z]\w+)\s", line)
        if m is None or not (m.group(2) == "SlawatchError" or "── " in line):
            continue
        depth = len(m.group(1)) // 4 + (1 if "── " in line else 0)
        parents[depth:] = [m.group(2)]
        drawn[m.group(2)] = parents[depth - 1] if depth else None
    assert set(drawn) == set(found), "the tree in streams/__init__.py and the code differ"
    for name, parent in drawn.items():
        if parent is not None:
            assert found[parent] in found[name].__bases__, f"{name} is not drawn under its base"


#: The one circle left: the report and its charts import each other; the coming ``report/``
#: package ends it (the issue 16 branch restructures both files).
def _module_graph() -> dict[str, set[str]]:
    """Module -> the modules of ``streams`` it imports anywhere in it (lazy imports too)."""
    names = {}
    for path in (ROOT / "streams").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = (path, package if path.name != "__init__.py" else parts)
    graph: dict[str, set[str]] = {}
    for name, (path, package) in names.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                candidates = [f"{module}.{a.name}" for a in node.names] or [module]
                candidates = [c for c in candidates if c in names] or [module]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            deps |= {c for c in candidates if c in names and c != name}
        graph[name] = deps
    return graph


def test_no_import_circle_but_the_known_one() -> None:
    graph = _module_graph()
    assert "streams.core.detector" in graph and graph["streams.core.detector"]
    circles = []
    for start in sorted(graph):
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    circles.append(set(trail))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    assert circles == [], f"import circles: {circles}"
