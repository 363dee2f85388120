"""Batched delivery (``streams.worker.batches``): a fetch's records of an input partition go to
the worker's handler as one batch, and their offsets become committable only once it returned,
with the real consumer class of the worker (no broker: the fetch is handed in)."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Sequence
from typing import Any, NamedTuple

import pytest
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP

from streams.worker import batches
from tests.unit.test_acks import TP0, consumer_after_a_revocation

CHANGELOG0 = TP("slawatch-incidents-changelog", 0)


class Record(NamedTuple):
    """What aiokafka's ``ConsumerRecord`` has that the path reads."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes
    value: bytes
    checksum: None
    serialized_key_size: int
    serialized_value_size: int
    headers: tuple[()]


def records(first: int, last: int, tp: TP = TP0) -> list[Record]:
    return [Record(tp.topic, tp.partition, offset, 1_700_000_000_000, 0, b"k", b"v", None, 1, 1,
                   ()) for offset in range(first, last + 1)]


def flowing_consumer() -> tuple[Any, Any]:
    """The worker's app and consumer, flowing, in generation 7, nothing acknowledged."""
    return consumer_after_a_revocation()


def committable(consumer: Any) -> dict[TP, int]:
    return dict(consumer._filter_committable_offsets([TP0]))


def test_a_batch_becomes_committable_only_once_its_handler_returned() -> None:
    seen: list[tuple[list[int], dict[TP, int], int]] = []

    async def main() -> tuple[dict[TP, int], int, int | None]:
        app, consumer = flowing_consumer()

        async def handler(tp: TP, batch: Sequence[Any]) -> bool:
            await asyncio.sleep(0)
            seen.append(([r.offset for r in batch], committable(consumer),
                         len(consumer._unacked_messages)))
            return True

        await batches._deliver_batch(consumer, TP0, records(40, 49), handler)
        inbound.append(app.monitor.stream_inbound_time.get(TP0))
        return committable(consumer), len(consumer._unacked_messages), consumer._read_offset[TP0]

    inbound: list[float | None] = []
    after, unacked, read_offset = asyncio.run(main())
    assert seen == [(list(range(40, 50)), {}, 1)], "a rebalance must wait for the batch"
    assert inbound[0] is not None, "Faust's consumer thread would log the stream as stalled"
    assert after == {TP0: 50}
    assert unacked == 0
    assert read_offset == 50, "the next offset to process"


def test_records_below_the_read_offset_are_not_delivered_again() -> None:
    got: list[int] = []

    async def main() -> dict[TP, int]:
        app, consumer = flowing_consumer()
        consumer._read_offset[TP0] = 45  # a seek, or what was delivered already

        async def handler(tp: TP, batch: Sequence[Any]) -> bool:
            got.extend(r.offset for r in batch)
            return True

        await batches._deliver_batch(consumer, TP0, records(40, 49), handler)
        return committable(consumer)

    assert asyncio.run(main()) == {TP0: 50}
    assert got == list(range(45, 50))


def seeking(consumer: Any) -> list[tuple[TP, int]]:
    """The seeks ``consumer`` is asked for (no broker: recorded, and the read offset set the
    way Faust's ``Consumer.seek`` sets it)."""
    seeks: list[tuple[TP, int]] = []

    async def _seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    consumer._seek = _seek
    return seeks


def test_records_fetched_and_never_delivered_are_read_again() -> None:
    """What a takeover did (measured on the embedded broker): the partition sought to its
    committed offset 900, a fetch begun while Faust still held it paused brought 900..1709,
    which Faust's loop drops, and the next fetch went on at 1710. The batch after the hole is
    left, the partition sought back, and the refetch is delivered whole."""
    got: list[list[int]] = []

    async def main() -> tuple[list[tuple[TP, int]], dict[TP, int], int | None]:
        app, consumer = flowing_consumer()
        seeks = seeking(consumer)
        consumer._read_offset[TP0] = 900  # the seek to the committed offset

        async def handler(tp: TP, batch: Sequence[Any]) -> bool:
            got.append([r.offset for r in batch])
            return True

        consumer.highwater = lambda tp: 1800
        topics = frozenset({TP0.topic})
        paused: set[TP] = set()  # the live active set, without the partition yet
        await batches._deliver_fetch(consumer, app, {TP0: records(900, 1709)}, paused,
                                     handler, topics)
        await batches._deliver_fetch(consumer, app, {TP0: records(1710, 1799)}, {TP0},
                                     handler, topics)
        before = committable(consumer), consumer._read_offset[TP0]
        assert before == ({}, 900), "nothing of the batch after the hole was processed"
        await batches._deliver_fetch(consumer, app, {TP0: records(900, 1799)}, {TP0},
                                     handler, topics)
        return seeks, committable(consumer), consumer._read_offset[TP0]

    seeks, after, read_offset = asyncio.run(main())
    assert seeks == [(TP0, 900)]
    assert [(batch[0], batch[-1]) for batch in got] == [(900, 1799)]
    assert after == {TP0: 1800}
    assert read_offset == 1800


def test_a_hole_the_partition_has_is_read_past() -> None:
    """Offsets with no record (a compacted or trimmed input, transaction markers) come back
    the same after the seek: read on, once."""
    got: list[int] = []

    async def main() -> tuple[list[tuple[TP, int]], dict[TP, int]]:
        app, consumer = flowing_consumer()
        seeks = seeking(consumer)
        consumer._read_offset[TP0] = 10

        async def handler(tp: TP, batch: Sequence[Any]) -> bool:
            got.extend(r.offset for r in batch)
            return True

        for _ in range(2):
            await batches._deliver_batch(consumer, TP0, records(15, 20), handler)
        await batches._deliver_batch(consumer, TP0, records(23, 24), handler)
        await batches._deliver_batch(consumer, TP0, records(23, 24), handler)
        return seeks, committable(consumer)

    seeks, after = asyncio.run(main())
    assert seeks == [(TP0, 10), (TP0, 21)]
    assert got == [15, 16, 17, 18, 19, 20, 23, 24]
    assert after == {TP0: 25}, "the hole is committable (Faust's gaps), or no commit passes it"


def refused(app: Any) -> bool:
    return False  # the fence: the partition was lost


def flow_stopped(app: Any) -> bool:
    app.flow_control.suspend()  # a rebalance began while the batch ran
    return True


def generation_changed(app: Any) -> bool:
    app.consumer_generation_id = 8
    return True


@pytest.mark.parametrize("how", [refused, flow_stopped, generation_changed])
def test_an_unprocessed_batch_is_released_but_never_committable(how: Any) -> None:
    async def main() -> tuple[dict[TP, int], int]:
        app, consumer = flowing_consumer()
        consumer._read_offset[TP0] = 40

        async def handler(tp: TP, batch: Sequence[Any]) -> bool:
            return how(app)

        await batches._deliver_batch(consumer, TP0, records(40, 49), handler)
        app.flow_control.resume()
        assert consumer._read_offset[TP0] == 40, "the records are still to process"
        return committable(consumer), len(consumer._unacked_messages)

    assert asyncio.run(main()) == ({}, 0), "released: a rebalance does not wait for it"


def test_a_cancelled_batch_is_never_committable() -> None:
    async def main() -> tuple[dict[TP, int], int]:
        app, consumer = flowing_consumer()

        async def handler(tp: TP, batch: Sequence[Any]) -> bool:
            await asyncio.sleep(10)
            return True

        task = asyncio.ensure_future(batches._deliver_batch(consumer, TP0, records(40, 49),
                                                            handler))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return committable(consumer), len(consumer._unacked_messages)

    assert asyncio.run(main()) == ({}, 0)


def test_a_handler_that_raises_does_not_stall_its_partition(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> dict[TP, int]:
        app, consumer = flowing_consumer()

        async def handler(tp: TP, batch: Sequence[Any]) -> bool:
            raise RuntimeError("a bug")

        await batches._deliver_batch(consumer, TP0, records(40, 49), handler)
        await batches._deliver_batch(consumer, TP0, records(50, 51), handler)
        return committable(consumer)

    assert asyncio.run(main()) == {TP0: 52}
    assert "sla.incidents[0]@40..49 raised" in caplog.text


def test_offsets_acknowledged_at_once_are_what_acknowledging_each_gives() -> None:
    async def main() -> tuple[list[Any], list[Any]]:
        states = []
        for one_by_one in (False, True):
            app, consumer = flowing_consumer()
            consumer._committed_offset[TP0] = 42
            offsets = [40, 41, 42, 43, 43, 44]
            if one_by_one:
                for offset in offsets:
                    FaustConsumer.ack(consumer, consumer._to_message(TP0, records(
                        offset, offset)[0]))
            else:
                batches.ack_offsets(consumer, TP0, offsets)
            states.append([sorted(consumer._acked[TP0]), set(consumer._acked_index[TP0]),
                           consumer._n_acked, committable(consumer)])
        return states[0], states[1]

    at_once, each = asyncio.run(main())
    assert at_once == each == [[42, 43, 44], {42, 43, 44}, 3, {TP0: 45}]


def test_a_fetch_sends_input_records_in_batches_and_the_rest_one_by_one() -> None:
    handled: list[tuple[TP, list[int]]] = []
    called: list[tuple[str, int]] = []
    tp1 = TP(TP0.topic, 1)

    async def main() -> None:
        app, consumer = flowing_consumer()

        async def handler(tp: TP, batch: Sequence[Any]) -> bool:
            handled.append((tp, [r.offset for r in batch]))
            if batch[0].offset == 3:
                app.consumer_generation_id = 8  # a rebalance ended meanwhile
            return True

        async def callback(message: Any) -> None:
            called.append((message.topic, message.offset))

        consumer.callback = callback
        consumer.highwater = lambda tp: None  # no fetch was made
        topics = frozenset({TP0.topic})
        fetch = {TP0: records(0, 2), CHANGELOG0: records(5, 6, CHANGELOG0)}
        await batches._deliver_fetch(consumer, app, fetch, None, handler, topics)
        # what was fetched in the older generation is not delivered
        fetch = {TP0: records(3, 4), tp1: records(0, 1, tp1)}
        await batches._deliver_fetch(consumer, app, fetch, None, handler, topics)

    asyncio.run(main())
    assert handled == [(TP0, [0, 1, 2]), (TP0, [3, 4])]
    assert called == [(CHANGELOG0.topic, 5), (CHANGELOG0.topic, 6)]


#: The Faust code that ``batches`` copies or relies on, by digest of its source (faust-streaming
#: 0.15.3). A release that changes one fails here: read the new code against
#: ``streams/worker/batches.py`` (the loop, the checks per record, the acknowledgement), mend
#: the module if needed, then update the digest.
FAUST_SOURCES = {
    "Consumer._drain_messages": "44a2500309e83c63",
    "Consumer.getmany": "4b168d84882a70d6",
    "Consumer._wait_next_records": "6218e1969a636b3f",
    "Consumer.ack": "5fcf41cf45153475",
    "Consumer.track_message": "217d7f1399a4cd8e",
    "Consumer.seek": "b86a9fe05f956b30",
    "Consumer._commit_offsets": "1a69799041188441",
    "Consumer._add_gap": "4df2573ded7c1c2c",
    # what ``streams.worker.changelogs.apply_fetch`` stands for and calls
    "Recovery._slurp_changelogs": "7825c7e50f766d5a",
    "Recovery.flush_buffers": "6fa9c17f1071018c",
    "Recovery.need_recovery": "fd1dc345b5d5e121",
    "Recovery._set_recovery_ended": "84badf3f2cfe0d02",
    "Recovery._build_highwaters": "91b4cc0d3724ae7b",
}


OWNERS = {"Consumer": FaustConsumer, "Recovery": Recovery}


def _digest(qualname: str) -> str:
    owner, name = qualname.split(".")
    code = getattr(OWNERS[owner], name)
    source = inspect.getsource(getattr(code, "fun", code))  # a Service.task: its function
    return hashlib.sha256(source.encode()).hexdigest()[:16]


@pytest.mark.parametrize("qualname", sorted(FAUST_SOURCES))
def test_the_faust_code_the_batch_path_copies_is_unchanged(qualname: str) -> None:
    assert _digest(qualname) == FAUST_SOURCES[qualname], (
        f"faust-streaming's {qualname} changed: read it against streams/worker/batches.py")
