"""The shell of ``slawatch report``: read a file, stdin or the output topics into a
``Changelog``, report what stands, write it, and draw the charts when asked.

Input that holds no record at all is the wrong file, refused on one line naming what it holds
(``line_holds``, ``not_records``). The topics are read with ``streams.topicread`` and the charts
drawn by ``streams.report.charts``, each loaded only when used (kafka-python, matplotlib).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from streams.core.errors import SlawatchError
from streams.report.formats import format_report
from streams.report.kpis import build_report
from streams.report.options import ReportError, ReportOptions
from streams.report.records import Changelog
from streams.settings import Settings
from streams.topics import CHANGELOG_TOPICS

#: A file whose first this many lines hold no record is not records (``read_jsonl``).
RECORDS_WITHIN = 100


def read_jsonl(lines: Iterable[bytes], source: str, log: Changelog, err: IO[str]) -> None:
    """Fold JSON Lines records into ``log``; a line that is no record is reported and skipped.

    Input that holds no record at all (none in its first ``RECORDS_WITHIN`` lines, or none by
    its end) is a ``ReportError`` naming what it holds instead (incident events, heartbeats,
    binary data...), with no line per skip: it is the wrong file, not records with bad lines."""
    held: list[str] | None = []  # the skips before the first record; None once one came
    holds: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        why = log.add_json(line)
        if why is None:
            if held:
                err.write("".join(held))
            held = None
        elif held is None:
            err.write(f"{source}:{number}: skipped: {why}\n")
        else:
            held.append(f"{source}:{number}: skipped: {why}\n")
            what = line_holds(line)
            holds[what] = holds.get(what, 0) + 1
            if len(held) >= RECORDS_WITHIN:
                break
    if held:
        raise ReportError(not_records(source, holds))


def line_holds(line: bytes) -> str:
    """What a line that is no alert record holds, in words (``not_records``)."""
    if b"\0" in line:
        return "binary data"
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return "binary data"
        return "text that is not JSON"
    if isinstance(obj, dict) and "alert_id" not in obj:
        if "incident_id" in obj and "type" in obj:
            return "incident events"
        if "service" in obj and "status" in obj:
            return "heartbeats"
    return "JSON that is not alert records"


def not_records(source: str, holds: dict[str, int]) -> str:
    """The one line of a report refused for input with no record: what it holds the most."""
    what = max(holds, key=lambda k: holds[k])
    hint = ("run slawatch replay first" if what in ("incident events", "heartbeats")
            else "expected the JSON Lines of slawatch replay")
    return f"{source} holds {what}, not alert records: {hint}"


def read_changelog_topics(settings: Settings, log: Changelog, err: IO[str],
                          timeout_s: float) -> None:
    """Fold the output topics (breaches, near-breaches, outcomes) into ``log``: each partition
    from its beginning to its end as of the start, in offset order (a key lives in one
    partition, so its records come in publication order)."""
    from streams.topicread import read_topics  # kafka-python loads only for topics

    topics = [settings.topic(name) for name in CHANGELOG_TOPICS]
    for rec in read_topics(settings, topics, timeout_s=timeout_s):
        if rec.value is None:
            if rec.key is not None:
                log.tombstone(rec.key.decode("utf-8", "replace"))
        elif (why := log.add_json(rec.value)) is not None:
            err.write(f"{rec.topic}[{rec.partition}]@{rec.offset}: skipped: {why}\n")


@dataclass(frozen=True)
class Source:
    """Where the records come from: a file (``-`` or ``None`` is stdin), or the output topics
    of ``settings`` when it is given."""

    path: str | None = None
    settings: Settings | None = None
    timeout_s: float = 30.0


def run_report(options: ReportOptions, source: Source, output: str | None, charts: str | None,
               out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """``slawatch report``: read, compact, report, write; 0, or 2 with a one-line error.
    ``out`` and ``err`` default to the standard streams as they are at the call."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    log = Changelog()
    try:
        if source.settings is not None:
            read_changelog_topics(source.settings, log, err, source.timeout_s)
        elif source.path in (None, "-"):
            read_jsonl(sys.stdin.buffer, "<stdin>", log, err)
        else:
            with open(source.path, "rb") as fh:
                read_jsonl(fh, source.path, log, err)
    except OSError as exc:
        err.write(f"slawatch report: error: {exc.filename or source.path}: "
                  f"{exc.strerror or exc}\n")
        return 2
    except SlawatchError as exc:
        err.write(f"slawatch report: error: {' '.join(str(exc).split())}\n")
        return 2
    report = build_report(log.standing(), options)
    text = format_report(report)
    try:
        if output is None:
            out.write(text)
        else:
            Path(output).write_text(text, encoding="utf-8")
        if charts is not None:
            from streams.report.charts import write_charts  # matplotlib loads only for charts

            written = write_charts(report, Path(charts))
            err.write(f"charts: {', '.join(str(p) for p in written) or 'none (no outcomes)'}\n")
    except OSError as exc:
        err.write(f"slawatch report: error: {exc.filename}: {exc.strerror or exc}\n")
        return 2
    err.write(report.standing.summary_line() + "\n")
    return 0

