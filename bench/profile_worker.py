"""Run ``slawatch`` (``streams.cli.main``) under cProfile in *every* thread.

``python -m cProfile`` sees only the main thread, but Faust runs its aiokafka consumer in a
thread of its own (``AIOKafkaConsumerThread``, a mode ``ServiceThread`` with its own event loop),
so a plain profile misses the fetching and half of the hand-off. Here each thread started through
``threading`` gets its own profiler; when the command returns (after SIGTERM, the worker stops
cleanly) all are written:

    python bench/profile_worker.py OUT.prof worker --no-web    # SLAWATCH_* from the environment

``OUT.prof`` holds every thread merged (for ``pstats``), ``OUT.prof.<n>-<thread name>`` each
thread alone, ``OUT.prof.threads.json`` the thread names and files.
"""

from __future__ import annotations

import cProfile
import json
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_profiles: list[tuple[str, cProfile.Profile]] = []
_lock = threading.Lock()


def _start_in_thread(frame: object, event: str, arg: object) -> None:
    """The first profile event of a new thread: replace this hook by a profiler of its own."""
    profile = cProfile.Profile()
    with _lock:
        _profiles.append((threading.current_thread().name, profile))
    profile.enable()


def main() -> int:
    out = Path(sys.argv[1])
    sys.argv = ["slawatch", *sys.argv[2:]]
    from streams.cli import main as slawatch_main

    threading.setprofile(_start_in_thread)
    profile = cProfile.Profile()
    with _lock:
        _profiles.insert(0, ("MainThread", profile))
    code = 1
    profile.enable()
    try:
        code = slawatch_main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        profile.disable()
        threading.setprofile(None)
        _write(out)
    return code


def _write(out: Path) -> None:
    import pstats

    with _lock:
        profiles = list(_profiles)
    merged: pstats.Stats | None = None
    threads = []
    for n, (name, profile) in enumerate(profiles):
        profile.create_stats()
        if not vars(profile).get("stats"):
            continue
        path = out.with_name(f"{out.name}.{n}-{name.replace('/', '_')}")
        profile.dump_stats(path)
        threads.append({"thread": name, "file": str(path)})
        if merged is None:
            merged = pstats.Stats(profile)
        else:
            merged.add(profile)
    if merged is not None:
        merged.dump_stats(out)
    out.with_name(f"{out.name}.threads.json").write_text(json.dumps(threads, indent=1))


if __name__ == "__main__":
    sys.exit(main())
