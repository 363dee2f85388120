"""``/health`` answers from the state of the worker's detect agent: 200 while its actor runs,
503 once it crashed or is stopping (what an orchestrator's liveness probe needs)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from streams.core.policy import load_policies
from streams.settings import Settings
from streams.worker.app import Shell


class _Event:
    def is_set(self) -> bool:
        return True


def shell_with(actor: Any) -> Shell:
    agent = SimpleNamespace(_actors=[actor] if actor is not None else [])
    app = SimpleNamespace(
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
