"""The fence that keeps a worker that lost its partitions (paused past its session timeout)
from writing their table values and alerts after the new owner did (``streams.worker.fence``).

The end-to-end proof is the SIGSTOP test in ``tests/integration``; these pin the rules, and the
private aiokafka/Faust API the fence relies on, so an upgrade that moves it fails here."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from faust.types import TP

from streams.worker.fence import EXIT_FENCED, Fence, Lease
from tests.unit.test_acks import consumer_after_a_revocation

TOPIC = "sla.incidents"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_lease_runs_out_a_session_after_its_last_confirmation() -> None:
    clock = Clock()
    lease = Lease(10.0, clock)
    clock.t += 9.9
    assert lease.valid()
    clock.t += 0.2
    assert not lease.valid(), "a paused worker wakes up past its session: unconfirmed"
    lease.confirm(clock.t - 1)
    assert lease.valid()
    lease.confirm(clock.t - 50)  # an older confirmation never shortens it
    assert lease.valid()


class Coordinator:
    def __init__(self) -> None:
        self.generation = 7
        self.answer = True
        self.beats = 0

    async def _do_heartbeat(self) -> bool:
        self.beats += 1
        return self.answer


def fence_with(coordinator: Coordinator, assigned: set[int]) -> tuple[Fence, Any]:
    consumer = SimpleNamespace(
        _thread=SimpleNamespace(_consumer=SimpleNamespace(_coordinator=coordinator)),
        assignment=lambda: [SimpleNamespace(topic=TOPIC, partition=p) for p in assigned])
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=coordinator.generation)
    fence = Fence(app, session_timeout_s=4.0, heartbeat_interval_s=0.5, topic=TOPIC)
    return fence, app


def test_writes_go_while_the_partition_is_owned_under_its_generation() -> None:
    coordinator = Coordinator()
    fence, _ = fence_with(coordinator, {0, 1})
    fence.assigned()
    fence.took(0)
    assert asyncio.run(fence.wait(0)) is True
    assert not fence.lost(0)


@pytest.mark.parametrize("how", ["generation reset", "new generation", "revoked", "never took"])
def test_a_lost_partition_drops_its_writes(how: str) -> None:
    coordinator = Coordinator()
    fence, _ = fence_with(coordinator, {0} if how != "revoked" else {1})
    fence.assigned()
    if how != "never took":
        fence.took(0)
    if how == "generation reset":
        coordinator.generation = -1  # aiokafka: IllegalGeneration / UnknownMemberId
    elif how == "new generation":
        coordinator.generation = 8
    assert fence.lost(0)
    assert asyncio.run(fence.wait(0)) is False
    assert fence.dropped == 1


def test_an_unconfirmed_lease_waits_for_the_coordinator() -> None:
    """Woken past its session: no write until a heartbeat is accepted, or the partition is
    known lost (here: the heartbeat says the generation is gone, as after SIGSTOP)."""
    coordinator = Coordinator()
    fence, _ = fence_with(coordinator, {0})
    fence.assigned()
    fence.took(0)
    fence.lease.confirmed_at -= 100  # the process was stopped for 100 s

    async def scenario() -> tuple[bool, bool]:
        waiting = asyncio.ensure_future(fence.wait(0))
        await asyncio.sleep(0.1)
        blocked = not waiting.done()
        coordinator.answer = False
        await coordinator._do_heartbeat()  # the wrapped one: refused, nothing confirmed
        coordinator.generation = -1  # what aiokafka does on IllegalGeneration
        return blocked, await asyncio.wait_for(waiting, 2)

    blocked, went = asyncio.run(scenario())
    assert blocked, "a write waited while membership was unconfirmed"
    assert went is False


def test_an_accepted_heartbeat_confirms_the_lease() -> None:
    coordinator = Coordinator()
    fence, _ = fence_with(coordinator, {0})
    fence.assigned()  # hooks the coordinator's heartbeat
    fence.took(0)
    fence.lease.confirmed_at -= 100

    async def scenario() -> bool:
        waiting = asyncio.ensure_future(fence.wait(0))
        await asyncio.sleep(0.05)
        await coordinator._do_heartbeat()
        return await asyncio.wait_for(waiting, 2)

    assert asyncio.run(scenario()) is True
    assert coordinator.beats == 1


def test_the_private_api_the_fence_relies_on_is_still_there() -> None:
    """aiokafka's group coordinator has ``_do_heartbeat`` (True when the coordinator accepted
    the member) and ``generation``; Faust's aiokafka consumer keeps its thread in ``_thread``,
    the aiokafka consumer in ``_consumer``, and sets ``app.consumer_generation_id``."""
    import inspect

    from aiokafka.consumer.group_coordinator import GroupCoordinator  # type: ignore[import-untyped]
    from faust.transport.drivers import aiokafka as driver

    assert inspect.iscoroutinefunction(GroupCoordinator._do_heartbeat)
    source = inspect.getsource(GroupCoordinator._do_heartbeat)
    assert "return True" in source and "RebalanceInProgressError" in source
    assert "self.generation" in inspect.getsource(GroupCoordinator.reset_generation)
    assert "self._thread" in inspect.getsource(driver.Consumer)
    thread_source = inspect.getsource(driver.AIOKafkaConsumerThread)
    assert "self._consumer = self._create_consumer" in thread_source
    assert "consumer_generation_id = generation" in inspect.getsource(driver)


def test_recovery_keeps_the_newest_value_per_key_not_the_last_written() -> None:
    """A paused worker's producer can deliver an old value after the new owner's: the changelog
    then ends on it. Recovery keeps, per key, the value of the greatest input offset (``o``;
    ``now`` for clocks), whatever the order; a tombstone or a value without one passes."""
    from streams.worker.fence import latest_only

    def ev(key: str, value: Any) -> Any:
        return SimpleNamespace(key=key, value=value)

    store = {"held": {"o": 50}}
    batch = [ev("a", {"o": 3}), ev("a", {"o": 9}), ev("a", {"o": 4}),  # 4: the stale one
             ev("held", {"o": 40}),  # older than the store's
             ev("b", {"o": 5}), ev("b", {"o": 5}),  # the same input again: identical, kept
             ev("clock", {"now": 1000}), ev("clock", {"now": 900}),
             ev("gone", None), ev("other", {"x": 1})]
    kept = latest_only(batch, store.get, lambda k: k)
    assert [(e.key, e.value) for e in kept] == [
        ("a", {"o": 3}), ("a", {"o": 9}), ("b", {"o": 5}), ("b", {"o": 5}),
        ("clock", {"now": 1000}), ("gone", None), ("other", {"x": 1})]


def test_the_producer_buffer_waits_for_the_lease_and_is_dropped_when_fenced() -> None:
    """What a paused worker had handed to its producer before the pause: nothing leaves while
    membership is unconfirmed; once the generation is known to have changed, every buffered
    batch is failed (alerts the new owner may have retracted, values older than its own) and
    the worker is told, to stop and start again from the changelogs."""
    from collections import deque

    from aiokafka.structs import TopicPartition  # type: ignore[import-untyped]

    from streams.worker.fence import Fenced, gate

    class Batch:
        def __init__(self) -> None:
            self.error: BaseException | None = None

        def failure(self, exception: BaseException) -> None:
            self.error = exception

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        alert, value = Batch(), Batch()
        alerts, changelog = TopicPartition("sla.breaches", 0), TopicPartition("app-changelog", 0)
        drained: list[Any] = []
        acc = SimpleNamespace(_batches={alerts: deque([alert]), changelog: deque([value])},
                              _waiter_future=loop.create_future())
        acc.drain_by_nodes = lambda ignore, muted=frozenset(): (
            drained.append(list(acc._batches)) or ({}, False))
        clock = Clock()
        lease = Lease(3.5, clock)
        generation, fenced = [7], []
        gated = gate(acc, lease, lambda: generation[0], fenced.append, loop)

        clock.t += 100  # paused
        assert gated(set()) == ({}, False) and drained == [], "nothing leaves unconfirmed"
        assert fenced == [] and alert.error is None
        generation[0] = -1  # the heartbeat learns the generation is gone
        gated(set())
        assert isinstance(alert.error, Fenced) and isinstance(value.error, Fenced)
        assert fenced == [2] and acc._batches == {}
        generation[0] = 8
        lease.confirm()  # assigned again
        gated(set())
        assert drained == [[]] and fenced == [2]

    asyncio.run(scenario())


def test_a_confirmed_lease_lets_the_buffer_go_untouched() -> None:
    from streams.worker.fence import gate

    async def scenario() -> tuple[list[Any], list[int]]:
        loop = asyncio.get_running_loop()
        calls: list[Any] = []
        fenced: list[int] = []
        acc = SimpleNamespace(_batches={}, _waiter_future=loop.create_future())
        acc.drain_by_nodes = lambda ignore, muted=frozenset(): calls.append(ignore) or ({}, False)
        gated = gate(acc, Lease(3.5, Clock()), lambda: 7, fenced.append, loop)
        gated({1})
        return calls, fenced

    assert asyncio.run(scenario()) == ([{1}], [])


def test_a_fenced_worker_exits_at_once_rather_than_stopping_gracefully(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Once its buffered writes were dropped, the worker's table store is ahead of the
    changelogs: it exits at once with EXIT_FENCED. A graceful stop (SIGTERM) would rejoin the
    group and commit the offsets of the records it dropped, and nothing may run after it."""
    class Exited(Exception):  # noqa: N818 - what os._exit does: nothing after it runs
        pass

    def exit_now(status: int) -> None:
        raise Exited(status)

    signals: list[int] = []
    monkeypatch.setattr("streams.worker.fence.os._exit", exit_now)
    monkeypatch.setattr("streams.worker.fence.os.kill", lambda pid, sig: signals.append(sig))
    monkeypatch.setattr("streams.worker.fence.logging.shutdown", lambda: None)
    fence, _ = fence_with(Coordinator(), {0})
    fence.assigned()
    fence.took(0)
    with pytest.raises(Exited) as exited:
        fence._fenced(3)
    assert exited.value.args == (EXIT_FENCED,) and EXIT_FENCED != 0
    assert signals == [] and fence.dropped == 3


class _Record(SimpleNamespace):
    """What the worker's batch handler reads of an aiokafka ``ConsumerRecord``."""


def incident_event(iid: str, kind: str, at: str) -> bytes:
    return orjson.dumps({"incident_id": iid, "event_id": f"{iid}-{kind}", "type": kind,
                         "at": at, "severity": "P1", "service": "svc", "customer": "c"})


def test_a_batch_whose_partition_was_lost_leaves_the_store_as_the_changelogs_have_it() -> None:
    """The batch handler puts each value in the table store as it goes (the batch's next
    record reads it). When the fence then refuses the batch, nothing reaches the changelogs,
    so the store goes back to what they hold: had the values stayed and the partition come
    back to this worker, its rebuild would take the batch for applied and the refetched
    records for repeats, values no changelog has (a paused worker given its partition back)."""
    app, consumer = consumer_after_a_revocation()
    shell = app.slawatch
    consumer.highwater = lambda tp: 10  # the records' fetch: the partition is behind
    tp = TP(shell.incidents_topic, 0)
    held = shell.tables["incidents"].data
    first = _Record(offset=0, key=b"i-2", timestamp=None,
                    value=incident_event("i-2", "opened", "2026-12-01T00:00:00Z"))
    _, writes = shell.handle(tp.topic, 0, 0, first.key, first.value)
    for table, key, value in writes:  # what an earlier batch wrote and the changelogs have
        shell.tables[table].data[key] = value
    committed = {key: dict(value) for key, value in held.items()}

    async def lost(partition: int) -> bool:
        return False

    shell.fence.wait = lost
    batch = [_Record(offset=1, key=b"i-1", timestamp=None,
                     value=incident_event("i-1", "opened", "2026-12-01T00:01:00Z")),
             _Record(offset=2, key=b"i-2", timestamp=None,
                     value=incident_event("i-2", "acknowledged", "2026-12-01T00:02:00Z"))]
    assert asyncio.run(consumer.batch_handler(tp, batch)) is False
    assert dict(held) == committed
    assert 0 not in shell.parts, "rebuilt from the tables if it comes back"
