"""Table recovery around a rebalance: Faust's, with two faults of it closed.

- ``LatestTable``: recovery keeps, per key, the newest value by the input offset it carries,
  not the last one in the changelog (``fence.latest_only``): a fenced worker's late writes can
  land after the new owner's.
- ``StreamsAfterSeek``: when recovery completes, Faust (0.15.3, ``Recovery.on_recovery_completed``)
  resumes the input partitions, then seeks them to their committed offsets, then clears the
  agents' queues (``flow_control.resume``). Records fetched while the seek waits on the
  broker reach the agent's queue and move the consumer's read offset; the clear then throws
  away the ones the agent had not taken, and the seek's own re-fetch of them is dropped as
  already read. The agent saw offsets 740..863 and then 930 (measured, the paused-worker test):
  the records between were never processed, and the table values written after them claim
  they were, so a restart skips them too (lost events, false breaches). Here the order is the
  safe one: seek, clear, and only then resume the input partitions. Faust's #216 and #221
  were faults of the same family, fixed elsewhere in the same method's siblings.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import faust
from faust.tables import TableManager
from faust.tables.recovery import Recovery

from streams.worker.fence import latest_only


class LatestTable(faust.Table):  # type: ignore[type-arg]
    """A table whose recovery keeps, per key, the newest value by the input offset it carries,
    not the last one in the changelog (``fence.latest_only``)."""

    def apply_changelog_batch(self, batch: Any) -> None:
        data = self.data
        super().apply_changelog_batch(latest_only(batch, data.get, self._to_key))


class StreamsAfterSeek(Recovery):
    """Faust's recovery, resuming the input partitions only once they are at their committed
    offsets and the queues are clear (the module docstring)."""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        app, consumer = self.app, self.app.consumer
        self.log.info("Restore complete!")
        await app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [asyncio.ensure_future(table.on_recovery_completed(
            self.actives_for_table[table], self.standbys_for_table[table]))
            for table in self.tables.values()]
        if callbacks:
            await asyncio.wait(callbacks)
        if app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again (generation %s, recovered for %s)",
                             app.consumer_generation_id, generation_id)
            return
        assignment = consumer.assignment()
        streams = {tp for tp in assignment if not self._is_changelog_tp(tp)}
        if assignment:
            self.log.info("Seek stream partitions to committed offsets.")
            await self._wait(consumer.perform_seek(),
                             timeout=app.conf.broker_request_timeout)
        self.completed.set()
        app.flow_control.resume()  # clears the queues: nothing of the input is in them yet
        consumer.resume_partitions(streams)
        consumer.resume_flow()
        await cast(Any, app)._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        app.on_rebalance_end()
        self.log.info("Worker ready")


class SafeTableManager(TableManager):
    """Faust's table manager with ``StreamsAfterSeek`` as its recovery."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = StreamsAfterSeek(self.app, self, beacon=self.beacon,
                                              loop=self.loop)
        return self._recovery
