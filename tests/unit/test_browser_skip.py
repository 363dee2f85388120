"""The browser test without Debian's chromium: skipped with a one-line reason, a failure under
``CI=true`` (where ``.ci/run`` installs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_status_page import chromium


def test_without_chromium_the_browser_test_is_skipped_with_its_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        chromium()
    reason = str(skipped.value)
    assert "\n" not in reason and "apt-get install chromium" in reason


def test_without_chromium_under_ci_the_browser_test_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and no chromium"):
        chromium()


def test_with_chromium_on_the_path_it_is_found(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert chromium() == str(fake)
