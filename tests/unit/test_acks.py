"""Which acknowledgements make an input offset committable (``streams.worker.transport``).

Faust's stream acknowledges the messages it skips during a rebalance (taken while the flow was
stopped, or fetched in an earlier generation). The consumer had just dropped the partition's
acknowledged offsets, so the skipped offset stood alone and, the partition given back to the
same worker, the next commit stored it + 1: the records between the last commit and it were
never processed. These run the real consumer class of the worker with Faust's own messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from streams.core.policyfile import load_policies
from streams.settings import Settings
from streams.worker.app import create_app
from streams.worker.batches import refuse

POLICY = """
policies:
  - id: standard
    incidents:
      P1: {response: 15m, resolution: 4h}
"""
TP0 = TP("sla.incidents", 0)


def consumer_after_a_revocation() -> tuple[Any, Any]:
    """The worker's app and consumer, flowing, right after a partition was revoked: no
    acknowledged and no committed offset known for it."""
    app = create_app(Settings.from_env({"SLAWATCH_BROKER": "127.0.0.1:1"}),
                     load_policies(POLICY, "p.yaml"), web=False)
    app.consumer_generation_id = 7
    app.flow_control.resume()
    app.topics._acking_topics.add(TP0.topic)  # what subscribing the agent's topics does
    return app, app.consumer


def taken(consumer: Any, offset: int, generation: int) -> ConsumerMessage:
    """A message as the conductor hands it to the stream (tracked as unacknowledged)."""
    message = ConsumerMessage(TP0.topic, TP0.partition, offset, 0.0, 0, [], b"k", b"v", None,
                              generation_id=generation)
    consumer._unacked_messages.add(message)
    return message


def test_a_processed_message_is_committable() -> None:
    async def main() -> dict[TP, int]:
        app, consumer = consumer_after_a_revocation()
        for offset in (40, 41):
            assert taken(consumer, offset, 7).ack(consumer)
        return dict(consumer._filter_committable_offsets([TP0]))

    assert asyncio.run(main()) == {TP0: 42}


def skipped_for_an_old_generation(app: Any, message: ConsumerMessage) -> None:
    app.consumer_generation_id = 8  # the rebalance ended: the message is from generation 7


def skipped_while_the_flow_stopped(app: Any, message: ConsumerMessage) -> None:
    app.flow_control.suspend()


def dropped_by_the_fence(app: Any, message: ConsumerMessage) -> None:
    refuse(message)


@pytest.mark.parametrize("how", [skipped_for_an_old_generation, skipped_while_the_flow_stopped,
                                 dropped_by_the_fence])
def test_an_unprocessed_message_is_released_but_never_committable(
        how: Callable[[Any, ConsumerMessage], None]) -> None:
    async def main() -> tuple[bool, dict[TP, int], bool]:
        app, consumer = consumer_after_a_revocation()
        message = taken(consumer, 41, 7)
        how(app, message)
        acked = message.ack(consumer)
        app.flow_control.resume()
        return acked, dict(consumer._filter_committable_offsets([TP0])), (
            message in consumer._unacked_messages)

    acked, committable, still_waited_for = asyncio.run(main())
    assert committable == {}, "offset 42 would skip what came after the last commit"
    assert not acked
    assert not still_waited_for, "a rebalance waits for every unacknowledged message"


def test_faust_itself_would_commit_past_the_skipped_message() -> None:
    """What the override is for: Faust's own ``Consumer.ack`` makes the skipped offset
    committable (should Faust stop doing so, this fails and the override can go)."""
    async def main() -> dict[TP, int]:
        app, consumer = consumer_after_a_revocation()
        message = taken(consumer, 41, 7)
        app.flow_control.suspend()
        FaustConsumer.ack(consumer, message)
        return dict(consumer._filter_committable_offsets([TP0]))

    assert asyncio.run(main()) == {TP0: 42}
