"""A changelog write the broker never took is logged (``streams.worker.app.write_failed``): the
worker's table store is then ahead of its changelogs, which Faust's commit does not notice."""

from __future__ import annotations

import asyncio
import logging

import pytest
from kafka.errors import KafkaTimeoutError

from streams.worker.app import write_failed


def test_a_failed_changelog_write_is_logged_and_a_taken_or_cancelled_one_is_not(
        caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.new_event_loop()
    try:
        failed, taken, cancelled = (loop.create_future() for _ in range(3))
        failed.set_exception(KafkaTimeoutError("batch expired"))
        taken.set_result(None)
        cancelled.cancel()
        with caplog.at_level(logging.ERROR, logger="streams.worker.app"):
            for ack in (failed, taken, cancelled):
                write_failed(ack)
    finally:
        loop.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "a changelog write failed" in errors[0] and "batch expired" in errors[0]
