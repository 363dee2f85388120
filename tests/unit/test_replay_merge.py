"""The replay's k-way merge of sources (files, topic partitions) and what a topic source writes
for a bad record; the backfill's progress line."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.errors import InvalidEvent
from streams.core.events import heartbeat
from streams.core.policyfile import load_policies
from streams.replay import FileSink, Progress, _replay, format_progress
from streams.sources import HEARTBEATS, INCIDENTS, Item, PartitionSource, Source, merge
from streams.topicread import Consumed

BAD = -1  # an ``at`` in a test list that stands for a bad record


class ListSource(Source):
    """A source of heartbeats at the given instants (``BAD``: a bad record), in list order."""

    def __init__(self, name: str, ats: list[int]) -> None:
        super().__init__(HEARTBEATS)
        self.name, self.ats = name, ats

    def items(self) -> Iterator[Item]:
        for position, at in enumerate(self.ats):
            ev = InvalidEvent("bad") if at == BAD else heartbeat(
                {"service": self.name, "at": at, "status": "up"})
            yield self, position, b"", ev

    def where(self, position: int) -> dict[str, Any]:
        return {"source": self.name, "position": position}

    def label(self, position: int) -> str:
        return f"{self.name}@{position}"


def merged(*sources: ListSource) -> list[tuple[str, int]]:
    """(source name, position) of every item, in the merge's order."""
    return [(src.name, pos) for src, pos, _, _ in merge(sources)]  # type: ignore[attr-defined]


def test_ties_go_to_the_earlier_source() -> None:
    a, b, c = ListSource("a", [5, 7]), ListSource("b", [5, 7]), ListSource("c", [5])
    assert merged(a, b, c) == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1)]


def test_each_source_keeps_its_own_order_when_its_time_goes_back() -> None:
    late = ListSource("late", [10, 3, 20])  # its second record arrived late
    other = ListSource("other", [1, 5, 15])
    assert merged(late, other) == [("other", 0), ("other", 1), ("late", 0), ("late", 1),
                                   ("other", 2), ("late", 2)]


def test_a_bad_record_comes_out_as_soon_as_it_is_read() -> None:
    a = ListSource("a", [BAD, 10])
    b = ListSource("b", [5, BAD, 20])
    # a's first record is read first (to find a's head), b's bad one right after b's 5
    assert merged(a, b) == [("a", 0), ("b", 0), ("b", 1), ("a", 1), ("b", 2)]


def test_every_record_is_counted_on_its_source() -> None:
    a, b, empty = ListSource("a", [BAD, 1, 2]), ListSource("b", [3]), ListSource("e", [])
    assert len(merged(a, b, empty)) == 4
    assert (a.read, b.read, empty.read) == (3, 1, 0)
    only = ListSource("only", [BAD, 4])
    assert merged(only) == [("only", 0), ("only", 1)] and only.read == 2


@given(st.lists(st.lists(st.integers(0, 50), max_size=12), min_size=1, max_size=6))
def test_sorted_sources_merge_into_one_sorted_stream_stable_by_source(
        lists: list[list[int]]) -> None:
    sources = [ListSource(str(i), sorted(ats)) for i, ats in enumerate(lists)]
    want = sorted(((at, i, pos) for i, src in enumerate(sources)
                   for pos, at in enumerate(src.ats)))
    assert merged(*sources) == [(str(i), pos) for _, i, pos in want]


@given(st.lists(st.lists(st.one_of(st.integers(0, 50), st.just(BAD)), max_size=12),
                min_size=1, max_size=6))
def test_any_sources_keep_their_order_and_lose_nothing(lists: list[list[int]]) -> None:
    sources = [ListSource(str(i), ats) for i, ats in enumerate(lists)]
    out = merged(*sources)
    for src in sources:
        assert [pos for name, pos in out if name == src.name] == list(range(len(src.ats)))


# ----------------------------------------------------------------------------- topic sources


class FakeReader:
    """What ``PartitionSource`` asks of a ``TopicReader``: one partition's records."""

    def __init__(self, records: dict[tuple[str, int], list[Consumed]]) -> None:
        self.by_partition = records

    def records(self, topic: str, partition: int) -> Iterator[Consumed]:
        yield from self.by_partition[(topic, partition)]


POLICY = """
policies:
  - id: standard
    match: {}
    incidents: {"*": {response: 10m}}
"""


def _incident(iid: str, kind: str, at: str, **extra: Any) -> bytes:
    return orjson.dumps({"event_id": f"{iid}-{kind}", "incident_id": iid, "type": kind,
                         "at": at, **extra})


def test_topic_partitions_replay_with_dead_letters_saying_topic_partition_offset() -> None:
    opened = _incident("I-1", "opened", "2027-01-01T00:00:00Z", severity="P1", service="s",
                       customer="c")
    acked = _incident("I-1", "acknowledged", "2027-01-01T00:20:00Z")
    reader = FakeReader({
        ("sla.incidents", 0): [Consumed("sla.incidents", 0, 7, 0, b"I-1", opened),
                               Consumed("sla.incidents", 0, 8, 0, b"I-1", None),
                               Consumed("sla.incidents", 0, 9, 0, b"I-1", acked)],
        ("sla.incidents", 1): [Consumed("sla.incidents", 1, 0, 0, None, b"{not json")],
    })
    sources: list[Source] = [PartitionSource(reader, "sla.incidents", p, INCIDENTS)  # type: ignore[arg-type]
                             for p in (0, 1)]
    out, err = io.BytesIO(), io.StringIO()
    summary = _replay(load_policies(POLICY), sources, None, FileSink(out), err, 10**12)
    records = [orjson.loads(line) for line in out.getvalue().splitlines()]

    dead = [{k: r[k] for k in ("source_topic", "partition", "offset", "reason", "raw")}
            for r in records if r["kind"] == "invalid"]
    assert dead == [
        {"source_topic": "sla.incidents", "partition": 1, "offset": 0,
         "reason": "malformed_json", "raw": "{not json"},
        {"source_topic": "sla.incidents", "partition": 0, "offset": 8,
         "reason": "malformed_json", "raw": ""},  # a tombstone
    ]
    assert err.getvalue().splitlines()[0].startswith("sla.incidents partition 1 offset 0: ")
    assert {(r["kind"], r["metric"]) for r in records if r["kind"] != "invalid"} >= {
        ("breach", "response"), ("outcome", "response")}
    assert (summary.events_read, summary.skipped) == (4, 2)


# ----------------------------------------------------------------------------- progress


@pytest.mark.parametrize(("read", "total", "elapsed_s", "line"), [
    (25_000, 100_000, 5.0, "25,000 / 100,000 events (25 %), 5,000 events/s, ETA 0:15"),
    (0, 100_000, 0.0, "0 / 100,000 events (0 %), - events/s, ETA -"),
    (10, 100_000, 0.0, "10 / 100,000 events (0 %), - events/s, ETA -"),
    (1_000, 7_201_000, 1.0, "1,000 / 7,201,000 events (0 %), 1,000 events/s, ETA 2:00:00"),
    (999, 1_000, 1.0, "999 / 1,000 events (99 %), 999 events/s, ETA 0:00"),
    (1_000, 1_000, 2.0, "1,000 / 1,000 events (100 %), 500 events/s, ETA 0:00"),
    (0, 0, 1.0, "0 / 0 events (100 %), - events/s, ETA -"),
])
def test_the_progress_line(read: int, total: int, elapsed_s: float, line: str) -> None:
    assert format_progress(read, total, elapsed_s) == line


def test_progress_is_redrawn_in_place_at_most_five_times_a_second_then_cleared() -> None:
    now = [100.0]
    stream = io.StringIO()
    progress = Progress(stream, clock=lambda: now[0])
    for step in range(10):  # 10 updates 0.05 s apart: drawn at 0, 0.2 and 0.4 s
        now[0] = 100.0 + step * 0.05
        progress.update(step * 100, 1_000)
    progress.finish()
    drawn = stream.getvalue().split("\r\x1b[K")
    assert drawn == ["", "0 / 1,000 events (0 %), - events/s, ETA -",
                     "400 / 1,000 events (40 %), 2,000 events/s, ETA 0:00",
                     "800 / 1,000 events (80 %), 2,000 events/s, ETA 0:00", ""]
    assert "\n" not in stream.getvalue()


def test_a_message_takes_the_progress_line_s_place_and_the_line_comes_back_after_it() -> None:
    now = [0.0]
    stream = io.StringIO()
    progress = Progress(stream, clock=lambda: now[0])
    now[0] = 1.0
    progress.update(100, 1_000)
    progress.write("sla.incidents partition 0 offset 3: malformed JSON\n")
    now[0] = 1.01  # long before the next 0.2 s: drawn again at once, below the message
    progress.update(101, 1_000)
    assert stream.getvalue() == (
        "\r\x1b[K100 / 1,000 events (10 %), 100 events/s, ETA 0:09"
        "\r\x1b[Ksla.incidents partition 0 offset 3: malformed JSON\n"
        "\r\x1b[K101 / 1,000 events (10 %), 100 events/s, ETA 0:09")
