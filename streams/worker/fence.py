"""A fence for a worker that lost its partitions without knowing it yet.

A worker paused past its session timeout (SIGSTOP, a VM freeze, a long GC) is removed from the
group and its partitions go to another worker, which rebuilds their state from the changelogs.
When the paused one runs again it still holds records it fetched before, and would process
them and write table values and alerts after the new owner did: old values last in the
changelogs, state wrong for good. The broker cannot stop it on the embedded broker (no
transactions), so the worker stops itself: it writes for a partition only while

- the partition is in its assignment, under the generation in which it took it, and
- its membership is confirmed: a heartbeat that the group coordinator accepted was sent less
  than a session timeout ago (the coordinator cannot have given the partition away before
  then), with a margin of one heartbeat interval.

While membership is unconfirmed the agent waits (the heartbeat task either confirms it or
learns the generation is gone and a rebalance revokes the partition); once the partition is
known lost, the record's writes and sends are dropped and it is left to the new owner, which
reads it again from the last committed offset. Nothing is lost: the dropped record was never
committed by this worker (its commit carries the old generation, which the coordinator
refuses).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

import orjson

log = logging.getLogger(__name__)

#: How often a waiting write looks again.
POLL_S = 0.02

#: The exit status of a fenced worker (EX_TEMPFAIL: start it again).
EXIT_FENCED = 75
#: The beginning of an encoded table value (``state``: the partition, then the input offset or
#: the saved clock): read without decoding the rest.
_ORDER = re.compile(rb'\{"p":-?\d+,"(?:o|now)":(-?\d+)[,}]')


class Lease:
    """Membership confirmed at a monotonic instant, valid for ``length_s`` after it."""

    def __init__(self, length_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.length_s = length_s
        self.clock = clock
        self.confirmed_at = clock()

    def confirm(self, at: float | None = None) -> None:
        at = self.clock() if at is None else at
        if at > self.confirmed_at:
            self.confirmed_at = at

    def valid(self) -> bool:
        return self.clock() < self.confirmed_at + self.length_s


class Fence:
    """Whether this worker may still write for a partition (see the module docstring)."""

    def __init__(self, app: Any, session_timeout_s: float, heartbeat_interval_s: float,
                 topic: str) -> None:
        self.app = app
        self.topic = topic
        self._gated: Any = None
        self.lease = Lease(max(session_timeout_s - heartbeat_interval_s, 0.1))
        self.generations: dict[int, int] = {}
        self._hooked: Any = None
        self.dropped = 0

    # -- what Faust tells us

    def assigned(self) -> None:
        """The coordinator just gave this worker its assignment: membership is confirmed."""
        self.lease.confirm()
        self._hook()
        self._gate()

    def took(self, partition: int) -> None:
        """The partition's detector was (re)built under the current generation."""
        self.generations[partition] = self._generation_at_assignment()

    def forget(self, partition: int) -> None:
        self.generations.pop(partition, None)

    # -- the check

    def lost(self, partition: int) -> bool:
        """True when the partition surely is no longer ours to write."""
        taken = self.generations.get(partition)
        if taken is None:
            return True
        coordinator = self._coordinator()
        if coordinator is not None and coordinator.generation != taken:
            return True
        assignment = self.app.consumer.assignment()
        return not any(tp.partition == partition and tp.topic == self.topic
                       for tp in assignment)

    async def wait(self, partition: int) -> bool:
        """True once writes for ``partition`` may go; False when it was lost meanwhile."""
        self._hook()
        while True:
            if self.lost(partition):
                self.dropped += 1
                log.warning("partition %d is no longer this worker's: its writes are dropped "
                            "(the new owner processes the record again)", partition)
                return False
            if self.lease.valid():
                return True
            await asyncio.sleep(POLL_S)

    # -- the consumer's group coordinator (aiokafka, private API: tests/unit/test_fence.py)

    def _coordinator(self) -> Any:
        thread = getattr(self.app.consumer, "_thread", None)
        consumer = getattr(thread, "_consumer", None)
        return getattr(consumer, "_coordinator", None)

    def _generation_at_assignment(self) -> int:
        generation: Any = getattr(self.app, "consumer_generation_id", None)
        if generation is None:
            generation = getattr(self._coordinator(), "generation", -1)
        return int(generation)

    def _fenced(self, dropped: int) -> None:
        """Buffered writes were dropped: the table store is ahead of the changelogs. The process
        ends at once with ``EXIT_FENCED`` (its supervisor, compose or Kubernetes, starts it
        again) and a new one rebuilds every partition from the changelogs, as after SIGKILL. Not
        a graceful stop: that rejoins the group and commits the offsets of the records whose
        writes were dropped, in a generation the coordinator accepts, and they would be lost."""
        self.dropped += dropped
        log.error("fenced: this worker lost its partitions while it was paused, with %d "
                  "unsent batches; they are dropped and the worker exits (%d), to start again "
                  "from the changelogs", dropped, EXIT_FENCED)
        logging.shutdown()
        os._exit(EXIT_FENCED)

    def _gate(self) -> None:
        """Hold the producer's buffer behind the lease (``gate``)."""
        producer = getattr(getattr(self.app, "producer", None), "_producer", None)
        accumulator = getattr(producer, "_message_accumulator", None)
        if accumulator is None or accumulator is self._gated:
            return
        coordinator = self._coordinator

        def generation() -> int:
            return int(getattr(coordinator(), "generation", -1))

        accumulator.drain_by_nodes = gate(accumulator, self.lease, generation, self._fenced,
                                          asyncio.get_running_loop())
        self._gated = accumulator

    def _hook(self) -> None:
        """Confirm the lease whenever the coordinator accepts a heartbeat: wrap the
        coordinator's ``_do_heartbeat`` (it returns True when the coordinator answered
        NoError or RebalanceInProgress, both of which mean the member is still in the group
        with its generation)."""
        coordinator = self._coordinator()
        if coordinator is None or coordinator is self._hooked:
            return
        beat = coordinator._do_heartbeat
        lease = self.lease

        async def _do_heartbeat() -> Any:
            sent_at = lease.clock()
            ok = await beat()
            if ok:
                lease.confirm(sent_at)
            return ok

        coordinator._do_heartbeat = _do_heartbeat
        self._hooked = coordinator


def order_of(value: Any) -> int | None:
    """How recent a table value is: the input offset that wrote it (``"o"``, incidents, notes,
    services and requests) or the clock it saved (``"now"``, clocks); None for anything else
    (a tombstone: a note deleted with its incident)."""
    if type(value) is bytes:  # as the store and the changelog keep it
        found = _ORDER.match(value)
        if found is not None:
            return int(found[1])
        value = _decoded(value)
    if type(value) is dict:
        order = value.get("o", value.get("now"))
        if type(order) is int:
            return order
    return None


def _decoded(value: bytes) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _table_value(value: bytes) -> bool:
    """True for a value a worker wrote (``state``): a JSON object with its partition and its
    input offset (or, of a clock, the instant it saved)."""
    if _ORDER.match(value) is not None:
        return True
    decoded = _decoded(value)
    return (type(decoded) is dict and type(decoded.get("p")) is int
            and order_of(decoded) is not None)


def latest_only(events: Any, current: Callable[[Any], Any], key_of: Callable[[Any], Any]
                ) -> list[Any]:
    """The changelog events of a recovery batch that do not go back: an event whose value is
    older (``order_of``) than what the store holds for its key, or than an earlier event of the
    batch, is left out. What a fenced worker still had in its producer when it was paused can
    reach the changelog after the new owner's values; recovery keeps the newest instead of the
    last written. A value that is not a table value (no worker wrote it: the tables' codec is
    Faust's "raw", which decodes nothing) is logged and left out too: a step or a rebuild
    reads every value kept."""
    best: dict[Any, int] = {}
    kept = []
    for event in events:
        value = event.value
        if type(value) is bytes and not _table_value(value):
            log.warning("%s[%d]@%d skipped in recovery: its value is not a table value",
                        event.message.topic, event.message.partition, event.message.offset)
            continue
        order = order_of(value)
        if order is not None:
            key = key_of(event.key)
            prior = best.get(key)
            if prior is None:
                prior = order_of(current(key))
            if prior is not None and order < prior:
                continue
            best[key] = order
        kept.append(event)
    return kept


class Fenced(Exception):  # noqa: N818 - what happened to the record
    """A record this worker had produced but not yet sent when it lost its partitions."""


def gate(accumulator: Any, lease: Lease, generation: Callable[[], int],
         on_fenced: Callable[[int], None], loop: Any) -> Callable[..., Any]:
    """``accumulator.drain_by_nodes`` (aiokafka's producer buffer, read by its sender task)
    that sends nothing while the lease is unconfirmed. When the generation changed meanwhile,
    what the buffer holds is stale (alerts the new owner may have retracted, table values older
    than its own, ``sent`` lists naming alerts that never left) and was never committed (Faust
    flushes the producer before it commits): every batch is failed, and ``on_fenced`` is told
    how many, since this worker's own table store now holds values its changelogs do not. A
    paused worker's buffer is the one thing the agent-side check cannot reach."""
    drain = accumulator.drain_by_nodes
    held: list[int | None] = [None]

    def wake() -> None:
        if not accumulator._waiter_future.done():
            accumulator._waiter_future.set_result(None)

    def drop() -> None:
        dropped = 0
        for tp in list(accumulator._batches):
            for batch in accumulator._batches.pop(tp):
                batch.failure(exception=Fenced(f"{tp.topic}[{tp.partition}]"))
                dropped += 1
        if dropped:
            on_fenced(dropped)

    def gated(ignore_nodes: Any, muted_partitions: Any = frozenset()) -> Any:
        now = generation()
        if held[0] is not None and now != held[0]:
            drop()
            held[0] = None if lease.valid() else now
        if not lease.valid():
            if held[0] is None:
                held[0] = now
            if accumulator._waiter_future.done():
                accumulator._waiter_future = loop.create_future()
            loop.call_later(POLL_S, wake)
            return {}, False
        held[0] = None
        return drain(ignore_nodes, muted_partitions)

    return gated
