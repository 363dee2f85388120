"""How a worker resumes its input after a rebalance (``streams.worker.recovery``).

Faust resumed the input partitions before seeking them, then cleared the agents' queues: what
was fetched in between was thrown away while the consumer counted it as read, and the agent
skipped a span of records (the paused-worker test in ``tests/integration`` found it). These
hold the safe order against a consumer that fetches whenever it may, and the private Faust
API the override relies on, so an upgrade that moves it fails here."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.tables.recovery import Recovery
from faust.types import TP

from streams.core.policyfile import load_policies
from streams.settings import Settings
from streams.worker.app import create_app, own_topics
from streams.worker.recovery import StreamsAfterSeek
from streams.worker.transport import seek_to_committed

POLICY = """
policies:
  - id: standard
    incidents:
      P1: {response: 15m, resolution: 4h}
"""
INPUT = ("sla.incidents", 1)
CHANGELOG = ("app-incidents-changelog", 1)


class Broker:
    """A consumer, its fetcher and the agent, as Faust runs them: while an input partition is
    resumed and the flow runs, the fetcher takes a batch of records from its position and
    puts them in the agent's queue, several per turn of the event loop, each moving the read
    offset (Faust's ``_drain_messages``), and drops a record below the read offset as read
    already; the agent takes one record per turn. A seek moves the position and the read
    offset, not the batch in hand."""

    BATCH = 24

    def __init__(self, committed: int) -> None:
        self.committed = committed
        self.position = committed  # aiokafka starts a new assignment at the committed offset
        self.read_offset = committed
        self.resumed: set[Any] = set()
        self.flowing = True  # the changelog recovery left the flow running
        self.queue: list[int] = []
        self.seen: list[int] = []  # what the agent processed
        self.calls: list[str] = []

    async def run(self) -> None:
        batch: list[int] = []
        while True:
            if self.flowing and INPUT in self.resumed:
                if not batch:
                    batch = list(range(self.position, self.position + self.BATCH))
                    self.position += self.BATCH
                for offset in batch[:4]:
                    if offset >= self.read_offset:
                        self.queue.append(offset)
                        self.read_offset = offset
                del batch[:4]
            if self.queue and self.flowing:
                self.seen.append(self.queue.pop(0))
            await asyncio.sleep(0)

    # -- what the recovery calls

    def assignment(self) -> set[Any]:
        return {INPUT, CHANGELOG}

    def resume_partitions(self, tps: set[Any]) -> None:
        self.calls.append(f"resume {sorted(tps)}")
        self.resumed |= set(tps)

    async def perform_seek(self) -> None:
        self.calls.append("seek")
        for _ in range(5):  # a round trip to the broker for the committed offsets
            await asyncio.sleep(0)
        self.position = self.read_offset = self.committed

    def resume_flow(self) -> None:
        self.flowing = True

    def clear(self) -> None:
        self.calls.append("clear")
        self.queue.clear()


def recovery_on(broker: Broker) -> StreamsAfterSeek:
    async def no_wait(coro: Any, timeout: Any = None) -> Any:
        return await coro

    async def nothing() -> None:
        return None

    app = SimpleNamespace(
        consumer=broker, consumer_generation_id=3,
        conf=SimpleNamespace(broker_request_timeout=30.0),
        on_rebalance_complete=SimpleNamespace(send=nothing),
        flow_control=SimpleNamespace(resume=broker.clear),
        _fetcher=SimpleNamespace(maybe_start=nothing),
        assignor=SimpleNamespace(assigned_standbys=lambda: set()),
        on_rebalance_end=lambda: None)
    rec = StreamsAfterSeek.__new__(StreamsAfterSeek)
    rec.__dict__.update(
        app=app, tables=SimpleNamespace(values=lambda: [], on_actives_ready=lambda: None,
                                        on_standbys_ready=lambda: None),
        actives_for_table={}, standbys_for_table={}, completed=asyncio.Event(),
        _set_recovery_ended=lambda: None, _wait=no_wait,
        _is_changelog_tp=lambda tp: tp == CHANGELOG,
        log=SimpleNamespace(info=lambda *a: None, warning=lambda *a: None, dev=lambda *a: None))
    return rec


def test_the_agent_reads_on_from_the_committed_offset_with_no_record_skipped() -> None:
    async def main() -> Broker:
        broker = Broker(committed=740)
        loop = asyncio.ensure_future(broker.run())
        await recovery_on(broker).on_recovery_completed(generation_id=3)
        for _ in range(200):
            await asyncio.sleep(0)
        loop.cancel()
        return broker

    broker = asyncio.run(main())
    assert broker.calls.index("seek") < broker.calls.index("clear") < next(
        i for i, c in enumerate(broker.calls) if c.startswith("resume")), broker.calls
    seen = broker.seen
    assert len(seen) > 100 and seen[0] == 740, "the input resumes at its committed offset"
    assert seen == list(range(740, 740 + len(seen))), f"and skips nothing: {seen}"
    assert CHANGELOG not in broker.resumed, "only the input partitions are resumed"


def test_a_recovery_for_an_older_generation_resumes_nothing() -> None:
    async def main() -> Broker:
        broker = Broker(committed=740)
        rec = recovery_on(broker)
        rec.app.consumer_generation_id = 4  # another rebalance began meanwhile
        await rec.on_recovery_completed(generation_id=3)
        return broker

    broker = asyncio.run(main())
    assert broker.calls == [] and not broker.resumed


def test_the_worker_app_recovers_with_the_safe_order() -> None:
    # the Faust API the override stands on (private: an upgrade that moves it fails here)
    for name in ("on_recovery_completed", "_set_recovery_ended", "_is_changelog_tp", "_wait"):
        assert callable(getattr(Recovery, name)), name
    settings = Settings.from_env({"SLAWATCH_BROKER": "127.0.0.1:1"})
    app = create_app(settings, load_policies(POLICY, "p.yaml"), web=False)
    tables: Any = app.tables
    assert type(tables.recovery) is StreamsAfterSeek
    assert tables.recovery is tables.recovery, "built once"


def test_an_input_partition_never_committed_is_read_from_its_beginning() -> None:
    """aiokafka's ``seek_to_committed`` leaves a partition with no committed offset where it
    was: taken over from a worker that had not committed yet, it was read from its end."""
    class Aiokafka:
        def __init__(self) -> None:
            self.rewound: list[Any] = []

        async def seek_to_committed(self) -> dict[Any, int | None]:
            return {INC1: None, INC2: 144, ZERO: 0, LOG: None}

        async def seek_to_beginning(self, *partitions: Any) -> None:
            self.rewound += partitions

    INC1, INC2 = TP("sla.incidents", 1), TP("sla.incidents", 2)
    ZERO = TP("sla.heartbeats", 3)  # nothing processed: committed 0, which aiokafka skips too
    LOG = TP("app-incidents-changelog", 1)
    consumer = Aiokafka()
    committed = asyncio.run(seek_to_committed(consumer, {"app-incidents-changelog"}))
    assert consumer.rewound == [INC1, ZERO], "the inputs with no commit, never a changelog"
    assert committed[INC2] == 144 and committed[INC1] is None


def test_a_partition_with_committed_offsets_is_not_rewound() -> None:
    class Aiokafka:
        async def seek_to_committed(self) -> dict[Any, int | None]:
            return {TP("sla.incidents", 0): 7}

        async def seek_to_beginning(self, *partitions: Any) -> None:
            raise AssertionError(f"rewound {partitions}")

    asyncio.run(seek_to_committed(Aiokafka(), set()))


def test_the_topics_created_before_faust_starts_are_the_ones_faust_uses() -> None:
    """Created first so that a group leader's metadata always shows them (``own_topics``): a
    name that drifted from Faust's would leave the race as it was."""
    settings = Settings.from_env({"SLAWATCH_BROKER": "127.0.0.1:1", "SLAWATCH_APP_ID": "sw-x",
                                  "SLAWATCH_PARTITIONS": "6"})
    app = create_app(settings, load_policies(POLICY, "p.yaml"), web=False)
    tables: Any = app.tables
    faust_made = {(t.changelog_topic.get_topic_name(), t.partitions or app.conf.topic_partitions)
                  for t in tables.values()}
    faust_made.add((app._leader_assignor._leader_topic_name, 1))  # type: ignore[attr-defined]
    ours = {(spec.name, spec.partitions) for spec in own_topics(settings)}
    assert ours == faust_made
    assert all(spec.compact for spec in own_topics(settings) if spec.name.endswith("changelog"))
