"""Table recovery in bulk: each fetch of an active changelog partition applied at once.

Faust recovers a table record by record: every changelog record goes through the conductor
(an Event and a queue put), then through ``Recovery._slurp_changelogs`` (a queue get, an
``on_changelog_event`` await, two debug f-strings) before ``apply_changelog_batch`` stores a
buffer of them. Measured, 45 s of a restart with 100k open incidents. ``apply_fetch`` takes the
place of that path for the records of one fetch of a partition that recovery is reading as
active: they are decoded by the table's changelog topic (Faust's own codec), stored by one
``apply_changelog_batch`` (``LatestTable``'s, which keeps the newest value per key), and
recovery's offset for the partition moves past them, as ``_slurp_changelogs`` would move it.
When no active partition has anything left to read, recovery is told it ended, as
``_slurp_changelogs`` tells it (it would notice only after a 5 s wait on its empty queue).
A record that does not decode (not JSON: no worker wrote it) is logged and skipped, as Faust's
recovery skips it, and recovery still moves past it.

Standby partitions, and anything read while recovery is not running, keep Faust's path. The
code this stands for is private Faust API, pinned and digested by ``tests/unit/test_batches.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from time import monotonic
from typing import Any

from faust.exceptions import KeyDecodeError, ValueDecodeError
from faust.types import TP

log = logging.getLogger(__name__)


async def apply_fetch(app: Any, consumer: Any, tp: TP, batch: Sequence[Any]) -> bool:
    """Apply one fetch of ``tp`` (aiokafka records in offset order) to its table, when ``tp``
    is a changelog partition that recovery reads as active; False (nothing done) otherwise."""
    recovery = app.tables._recovery
    if recovery is None or not recovery.in_recovery or tp not in recovery.active_tps:
        return False
    table = recovery.tp_to_table[tp]
    offsets = recovery.active_offsets
    seen = offsets.get(tp)
    fresh = [r for r in batch if seen is None or r.offset > seen]
    if fresh:
        decode = table.changelog_topic.decode
        to_message = consumer._to_message
        events = []
        for record in fresh:
            try:
                events.append(await decode(to_message(tp, record), propagate=True))
            except (KeyDecodeError, ValueDecodeError) as exc:  # not written by a worker
                log.warning("%s[%d]@%d skipped in recovery: %s", tp.topic, tp.partition,
                            record.offset, exc)
        # what recovery buffered by Faust's path goes first: it was read before this fetch
        recovery.flush_buffers()
        table.apply_changelog_batch(events)
        offsets[tp] = fresh[-1].offset
        recovery._active_events_received_at[tp] = monotonic()
    consumer._read_offset[tp] = batch[-1].offset
    if not recovery.need_recovery():
        recovery.flush_buffers()
        recovery._set_recovery_ended()
        recovery.signal_recovery_end.set()
    return True
