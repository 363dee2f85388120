"""Batched delivery: each fetch's records of an input partition handed to the worker as one
batch, below Faust's per-message path.

Faust delivers a fetched record through its consumer's ``_drain_messages`` (a ``wait_first``
per record), the conductor (an Event and a channel put), the agent's stream (an ack and a
``sleep(0)`` per record) and the event loop scheduling all of it: measured, half of the
worker's CPU per record, more than slawatch and the producer together. ``drain`` is that loop
as faust-streaming 0.15.3 writes it (``Consumer.getmany`` and ``Consumer._drain_messages``),
except that the records of the worker's input topics are handed, a partition's at a time and in
offset order, to a handler that processes them, writes each table value it changed once and
sends the batch's records together. A fetch of a changelog partition that table recovery reads
as active is applied to its table at once (``streams.worker.changelogs``); every other record
(standby changelogs) keeps Faust's path, one at a time.

What Faust guarantees and this keeps (at least once):

- a batch's offsets are acknowledged only after the handler returned, that is after its table
  writes and records were handed to the producer; Faust flushes the producer before it commits
  (``Consumer._commit_offsets``), so a committed offset never outruns what its records wrote;
- the last record of a batch is tracked as Faust tracks every message it delivers
  (``track_message``) before the handler runs, so a rebalance (``wait_empty``) waits for the
  batch to end before it revokes anything;
- a batch started before the flow stopped or in an older generation is acknowledged as
  unprocessed (``release``): its records are read again from the last commit;
- records below the read offset (fetched again after a seek) are skipped, and a seek sets it;
  a batch above it follows records fetched and never delivered, and the partition is sought
  back to it (``skipped``): Faust's fetch loop drops records now and then (the first to go:
  those of a partition it holds paused, which aiokafka fetched all the same).

This is private Faust API: faust-streaming is pinned, and ``tests/unit/test_batches.py`` holds
digests of the Faust code copied here, so an upgrade that changes it fails until someone has read
the new code against this module. ``SLAWATCH_DELIVERY=STREAM`` turns the batch path off.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from time import monotonic
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING
from faust.types import TP
from faust.types.tuples import Message, ack_lock
from mode.utils.futures import notify

from streams.worker.changelogs import apply_fetch

log = logging.getLogger(__name__)

#: (input partition, its fetched records in offset order: aiokafka ``ConsumerRecord``s) ->
#: True when they were processed (their offsets may be committed), False when they were not
#: (the partition was lost): they are read again from the last commit, here or elsewhere.
BatchHandler = Callable[[TP, Sequence[Any]], Awaitable[bool]]

#: Faust's ``_drain_messages`` gives the event loop a turn every this many records.
YIELD_EVERY = 100


async def drain(consumer: Any, fetcher: Any, handler: BatchHandler,
                batch_topics: frozenset[str]) -> None:
    """Faust's ``Consumer._drain_messages`` with the records of ``batch_topics`` handed to
    ``handler`` (the module docstring); it runs as Faust's fetcher until that stops."""
    app = consumer.app
    consumer_stopped = consumer._stopped.is_set
    fetcher_stopped = fetcher._stopped.is_set
    try:
        while not (consumer_stopped() or fetcher_stopped()):
            consumer.diag.set_flag(CONSUMER_FETCHING)
            records, active = await consumer._wait_next_records(1.0)
            await consumer.sleep(0)
            if records and not consumer.should_stop:
                await _deliver_fetch(consumer, app, records, active, handler, batch_topics)
            consumer.diag.unset_flag(CONSUMER_FETCHING)
    except consumer.consumer_stopped_errors:
        if consumer.transport.app.should_stop:
            log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if consumer.transport.app.should_stop:
            log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        log.exception("Drain messages raised: %r", exc)
        raise


async def _deliver_fetch(consumer: Any, app: Any, records: dict[TP, list[Any]],
                         active: set[TP] | None, handler: BatchHandler,
                         batch_topics: frozenset[str]) -> None:
    """The records of one fetch, as ``Consumer.getmany`` yields them: none once the flow
    stopped or the generation changed (the rebalance seeks every partition to its commit)."""
    generation = app.consumer_generation_id
    if not consumer.flow_active:
        # fetched while the flow stopped: Faust seeks back to the committed offsets
        try:
            await consumer.perform_seek()
        except Exception as exc:  # noqa: BLE001 - what Faust does: log it, fetch again
            log.warning("exception performing seek when flow not active %s", exc)
        return
    for tp, batch in records.items():
        if not consumer.flow_active or app.consumer_generation_id != generation:
            return
        if active is not None and tp not in active and tp not in consumer._buffered_partitions:
            continue
        app.monitor.track_tp_end_offset(tp, consumer.highwater(tp))
        if tp.topic in batch_topics:
            await _deliver_batch(consumer, tp, batch, handler)
        elif not await apply_fetch(app, consumer, tp, batch):
            await _deliver_each(consumer, tp, batch)


async def _deliver_batch(consumer: Any, tp: TP, batch: list[Any], handler: BatchHandler
                         ) -> None:
    """One input partition's fetched records through ``handler``, then acknowledged.

    ``consumer._read_offset[tp]`` is the next offset to process: a seek sets it (Faust), a
    processed batch moves it past its last record, an unprocessed one leaves it. Records below
    it were processed already (fetched again after a seek) and are left out; a batch that
    starts above it follows records that were fetched and never delivered (``skipped``)."""
    read_offset = consumer._read_offset[tp]
    if read_offset is not None:
        if batch[0].offset > read_offset and await skipped(consumer, tp, read_offset,
                                                            batch[0].offset):
            return
        batch = [record for record in batch if record.offset >= read_offset]
    if not batch:
        return
    last = consumer._to_message(tp, batch[-1])
    consumer.track_message(last)
    # what Faust's stream marks per event, and its consumer thread reads to log a partition
    # whose stream never processes ("Stream has not started processing", every few minutes)
    consumer.app.monitor.stream_inbound_time[tp] = monotonic()
    done = False
    try:
        done = await handler(tp, batch)
    except Exception:  # a bug, not bad input (the handler catches per record): go on
        log.exception("the batch %s[%d]@%d..%d raised", tp.topic, tp.partition,
                      batch[0].offset, batch[-1].offset)
        done = True
    finally:
        if done and processed(consumer.app, last):
            consumer._read_offset[tp] = last.offset + 1
            ack_offsets(consumer, tp, [record.offset for record in batch[:-1]])
            consumer.ack(last)
        else:
            release(consumer, last)
    commit_every = consumer._commit_every
    if commit_every is not None and consumer._n_acked >= commit_every:
        consumer._n_acked = 0
        await consumer.commit()


#: Per input partition, the last hole ``skipped`` sought back over: (the offset expected, the
#: first offset fetched).
_holes: weakref.WeakKeyDictionary[Any, dict[TP, tuple[int, int]]] = weakref.WeakKeyDictionary()


async def skipped(consumer: Any, tp: TP, expected: int, first: int) -> bool:
    """True when the records ``expected``..``first - 1`` of ``tp`` were fetched and never
    delivered: the partition is sought back to ``expected`` and the batch is left for the
    fetch that brings them (nothing of it processed, nothing acknowledged).

    Faust drops a fetch's records of a partition it holds paused (``getmany``: "tp in
    active_partitions"), and aiokafka hands such records over: the active set Faust passes is
    the live one, which it empties and refills around a rebalance, and an empty set asks
    aiokafka for every partition. A getmany begun before a taken-over partition was resumed
    then took its records from the seek to the committed offset on, and the next fetch went on
    after them: measured, 810 request counts of a partition never processed and the commit
    past them, so the new owner lost them for good. A hole that is still there after the seek
    is one the partition has (compacted, deleted or transaction markers): read on."""
    holes = _holes.setdefault(consumer, {})
    if holes.pop(tp, None) == (expected, first):
        log.warning("%s[%d]: offsets %d..%d are not in the partition: read on", tp.topic,
                    tp.partition, expected, first - 1)
        if consumer.app.topics.acks_enabled_for(tp.topic):  # or no commit would pass it
            await consumer._add_gap(tp, expected, first - 1)
        return False
    holes[tp] = (expected, first)
    log.warning("%s[%d]: records %d..%d were fetched and never delivered: read again from "
                "%d", tp.topic, tp.partition, expected, first - 1, expected)
    try:
        await consumer.seek(tp, expected)
    except Exception:  # noqa: BLE001 - lost meanwhile: its next owner reads it from the commit
        log.exception("%s[%d] could not be sought back to %d", tp.topic, tp.partition, expected)
    return True


async def _deliver_each(consumer: Any, tp: TP, batch: list[Any]) -> None:
    """Faust's own path for the records of a topic that is not batched, one at a time."""
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    commit_every = consumer._commit_every
    for n, record in enumerate(batch, 1):
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        message = consumer._to_message(tp, record)
        offset = message.offset
        read_offset = consumer._read_offset[tp]
        if read_offset is None or offset >= read_offset:
            if read_offset and offset - read_offset > 1 and acks_enabled_for(message.topic):
                await consumer._add_gap(tp, read_offset + 1, offset)
            if commit_every is not None and consumer._n_acked >= commit_every:
                consumer._n_acked = 0
                await consumer.commit()
            await consumer.wait_first(consumer.callback(message), consumer.suspend_flow.wait())
            consumer._read_offset[tp] = offset


#: Messages the agent took but left unprocessed (``refuse``): their acknowledgement does not
#: make their offset committable.
_unprocessed: weakref.WeakSet[Message] = weakref.WeakSet()


def refuse(message: Message) -> None:
    """The agent dropped ``message`` unprocessed (its partition was lost): its offset must not
    be committed by this worker, whatever acknowledges it."""
    _unprocessed.add(message)


def processed(app: Any, message: Message) -> bool:
    """False for a message the agent never processed: one Faust's stream skipped (fetched in an
    earlier generation, or taken while the flow was stopped for a rebalance) or one the agent
    refused (``refuse``).

    Faust acknowledges the messages its stream skips (``Stream._py_aiter``: "we want to ack
    the filtered out message"). A skip happens during a rebalance, after the consumer dropped
    the partition's acknowledged offsets: the skipped offset then stood alone in them, with no
    committed offset to compare with, and when the partition came back to the same worker the
    next commit stored it + 1, before the seek to the committed offset read the partition
    again. The records from the last commit up to it were never processed: with a paused worker
    (``tests/integration/test_worker_hostile.py``), incidents lost one event each for good."""
    return (message not in _unprocessed and app.flow_control.is_active()
            and message.generation_id == app.consumer_generation_id)


def release(consumer: Any, message: Message) -> bool:
    """What ``Consumer.ack`` does for a message, except marking its offset committable: the
    consumer stops waiting for it (a rebalance waits until every message taken is
    acknowledged), and its partition is read again from the last committed offset."""
    with ack_lock:
        if message.acked:
            return False
        message.acked = True
        consumer._unacked_messages.discard(message)
        notify(consumer._waiting_for_ack)
    log.info("%s[%d]@%d acknowledged unprocessed: its offset is not committed", message.topic,
             message.partition, message.offset)
    return False


def ack_offsets(consumer: Any, tp: TP, offsets: list[int]) -> None:
    """What ``Consumer.ack`` does for each of ``offsets`` of ``tp``, at once: make them
    committable (the messages were never built, so none is tracked)."""
    if not offsets or not consumer.app.topics.acks_enabled_for(tp.topic):
        return
    with ack_lock:
        committed = consumer._committed_offset[tp]
        index = consumer._acked_index[tp]
        acked = consumer._acked[tp]
        for offset in offsets:
            if (committed is None or offset >= committed) and offset not in index:
                index.add(offset)
                acked.append(offset)
                consumer._n_acked += 1
        notify(consumer._waiting_for_ack)
