"""``/health`` answers from the state of the worker's detect agent and fetcher: 200 while they run,
503 once it crashed or is stopping (what an orchestrator's liveness probe needs)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from streams.core.policyfile import load_policies
from streams.settings import Settings
from streams.worker.shell import Shell


class _Event:
    def is_set(self) -> bool:
        return True


def shell_with(actor: Any, *more: Any) -> Shell:
    agent = SimpleNamespace(_actors=[actor, *more] if actor is not None else [])
    app = SimpleNamespace(
        conf=SimpleNamespace(broker_session_timeout=60.0, broker_heartbeat_interval=3.0),
        agents={"slawatch.detect": agent}, rebalancing=False,
        tables=SimpleNamespace(recovery=SimpleNamespace(completed=_Event())),
        consumer=SimpleNamespace(assignment=lambda: set(), highwater=lambda tp: None,
                                 _committed_offset={}))
    settings = Settings.from_env({}, broker="127.0.0.1:9092")
    return Shell(app, settings, load_policies("policies: []\n"))  # type: ignore[arg-type]


@pytest.mark.parametrize(("crashed", "stopping", "code"), [
    (False, False, 200), (True, False, 503), (False, True, 503)])
def test_health_follows_the_detect_agent(crashed: bool, stopping: bool, code: int) -> None:
    actor = SimpleNamespace(crashed=crashed, should_stop=stopping)
    status, body = shell_with(actor).health()
    assert status == code
    assert body["agent_running"] is (code == 200)
    assert body["status"] == ("ok" if code == 200 else "stopped")


def test_health_is_503_before_the_agent_has_an_actor() -> None:
    status, body = shell_with(None).health()
    assert (status, body["status"]) == (503, "stopped")


def test_health_is_200_when_faust_restarted_a_crashed_actor() -> None:
    """Faust's supervisor replaces a crashed actor with a new one; the crashed one stays in the
    agent's set: the agent runs again, and a liveness probe must not kill a healthy worker."""
    crashed = SimpleNamespace(crashed=True, should_stop=False)
    restarted = SimpleNamespace(crashed=False, should_stop=False)
    status, body = shell_with(crashed, restarted).health()
    assert (status, body["agent_running"]) == (200, True)


def test_health_is_503_when_the_fetcher_that_runs_batched_delivery_crashed() -> None:
    s = shell_with(SimpleNamespace(crashed=False, should_stop=False))
    s.app._fetcher = SimpleNamespace(crashed=False)  # type: ignore[attr-defined]
    assert s.health()[0] == 200
    s.app._fetcher.crashed = True  # type: ignore[attr-defined]
    status, body = s.health()
    assert (status, body["status"]) == (503, "stopped")
