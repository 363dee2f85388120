"""Table recovery in bulk (``streams.worker.changelogs``): a fetch of an active changelog
partition is stored at once, as Faust's record-by-record path would store it, with the worker's
real app, tables and recovery service (no broker: the fetch is handed in)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from faust.types import TP

from streams.worker import batches
from streams.worker.changelogs import apply_fetch
from streams.worker.shell import stored
from tests.unit.test_acks import TP0
from tests.unit.test_batches import Record, flowing_consumer

LOG0 = TP("slawatch-incidents-changelog", 0)


def value(offset: int, n: int) -> bytes:
    return orjson.dumps({"p": 0, "o": offset, "events": [n]})


def changelog(*writes: tuple[str, bytes | None], first: int = 0) -> list[Record]:
    return [Record(LOG0.topic, 0, first + n, 1_700_000_000_000, 0, orjson.dumps(key), raw, None,
                   1, 1, ()) for n, (key, raw) in enumerate(writes)]


def recovering(app: Any, highwater: int) -> Any:
    """The app's recovery service reading ``LOG0`` (the incidents table's) as active, up to
    the offset ``highwater``, as ``Recovery._restart_recovery`` sets it up."""
    recovery = app.tables.recovery
    table = app.slawatch.tables["incidents"]
    recovery.in_recovery = True
    recovery.active_tps = {LOG0}
    recovery.tp_to_table = {LOG0: table}
    recovery.active_highwaters[LOG0] = highwater
    recovery.active_offsets[LOG0] = -1
    recovery.signal_recovery_end.clear()
    return recovery


def stored_values(app: Any) -> dict[str, Any]:
    """The incidents table's store, decoded (it keeps the changelog's bytes)."""
    return {key: stored(raw) for key, raw in app.slawatch.tables["incidents"].data.items()}


WRITES = (("INC-1", value(10, 1)), ("INC-2", value(11, 1)), ("INC-1", value(12, 2)),
          ("INC-3", value(13, 1)), ("INC-3", None), ("INC-2", value(9, 0)))


def test_a_fetch_is_stored_as_faust_stores_it_record_by_record() -> None:
    async def bulk() -> tuple[dict[str, Any], Any]:
        app, consumer = flowing_consumer()
        recovery = recovering(app, highwater=100)
        assert await apply_fetch(app, consumer, LOG0, changelog(*WRITES))
        return stored_values(app), recovery

    async def faust_path() -> dict[str, Any]:
        app, consumer = flowing_consumer()
        table = app.slawatch.tables["incidents"]
        events = [await table.changelog_topic.decode(consumer._to_message(LOG0, r),
                                                     propagate=True)
                  for r in changelog(*WRITES)]
        table.apply_changelog_batch(events)
        return stored_values(app)

    got, recovery = asyncio.run(bulk())
    want = asyncio.run(faust_path())
    assert got == want
    # the newest value by input offset, a tombstone deletes, an older write is left out
    assert got == {"INC-1": orjson.loads(value(12, 2)), "INC-2": orjson.loads(value(11, 1))}
    assert recovery.active_offsets[LOG0] == 5
    assert recovery.in_recovery, "the partition's end (offset 100) is not read yet"
    assert not recovery.signal_recovery_end.is_set()


def test_records_recovery_has_seen_are_not_applied_again() -> None:
    async def main() -> dict[str, Any]:
        app, consumer = flowing_consumer()
        recovering(app, highwater=100)
        await apply_fetch(app, consumer, LOG0, changelog(("INC-1", value(12, 2))))
        # fetched again after a seek: offset 0 again (a value told apart, as if newer)
        await apply_fetch(app, consumer, LOG0, changelog(("INC-1", value(13, 3)),
                                                         ("INC-2", value(8, 1))))
        return stored_values(app)

    assert asyncio.run(main()) == {"INC-1": orjson.loads(value(12, 2)),
                                   "INC-2": orjson.loads(value(8, 1))}


def test_reading_the_last_offset_ends_recovery_at_once() -> None:
    async def main() -> tuple[bool, bool]:
        app, consumer = flowing_consumer()
        recovery = recovering(app, highwater=5)
        await apply_fetch(app, consumer, LOG0, changelog(*WRITES[:3]))
        assert not recovery.signal_recovery_end.is_set()
        await apply_fetch(app, consumer, LOG0, changelog(*WRITES[3:], first=3))
        return recovery.signal_recovery_end.is_set(), recovery.in_recovery

    assert asyncio.run(main()) == (True, False)


def test_a_record_that_is_no_table_value_is_skipped_and_recovery_still_ends() -> None:
    async def main() -> tuple[dict[str, Any], bool]:
        app, consumer = flowing_consumer()
        recovery = recovering(app, highwater=2)
        fetch = changelog(("INC-1", value(10, 1)), ("INC-2", b"{not json"),
                          ("INC-3", value(12, 1)), ("INC-4", b'{"events": [1]}'),
                          ("INC-5", b'{"p": "0", "o": 3}'), ("INC-6", b"[1, 2]"))
        fetch[1] = fetch[1]._replace(key=b"\xff not a json key")
        fetch.append(fetch[1]._replace(offset=6, key=orjson.dumps("INC-2")))
        recovery.active_highwaters[LOG0] = 6
        await apply_fetch(app, consumer, LOG0, fetch)
        return stored_values(app), recovery.signal_recovery_end.is_set()

    stored, ended = asyncio.run(main())
    assert stored == {"INC-1": orjson.loads(value(10, 1)), "INC-3": orjson.loads(value(12, 1))}
    assert ended, "recovery moves past what it skipped"


def test_outside_recovery_a_changelog_keeps_faust_s_path() -> None:
    called: list[int] = []

    async def main() -> tuple[bool, bool]:
        app, consumer = flowing_consumer()
        recovery = recovering(app, highwater=100)
        recovery.in_recovery = False
        idle = await apply_fetch(app, consumer, LOG0, changelog(*WRITES))
        recovery.in_recovery = True
        recovery.active_tps = set()  # a standby partition
        standby = await apply_fetch(app, consumer, LOG0, changelog(*WRITES))

        async def callback(message: Any) -> None:
            called.append(message.offset)

        consumer.callback = callback
        consumer.highwater = lambda tp: None
        await batches._deliver_fetch(consumer, app, {LOG0: changelog(*WRITES[:2])}, None,
                                     lambda tp, batch: asyncio.sleep(0, True),
                                     frozenset({TP0.topic}))
        return idle, standby

    assert asyncio.run(main()) == (False, False)
    assert called == [0, 1], "the fetch went one record at a time through Faust's callback"
