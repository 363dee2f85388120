"""The files a new user looks for besides the code: the licence pyproject names, the changelog,
the docker folder's README and the pointers to it."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_license_is_the_apache_2_text_pyproject_names() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text.splitlines()) > 200


def test_the_changelog_is_of_the_version_in_pyproject_and_names_real_commits() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    text = (ROOT / "CHANGELOG.md").read_text()
    assert f"## {version} " in text
    commits = set(re.findall(r"`([0-9a-f]{7})`", text))
    assert commits
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the commits cannot be looked up")
    for commit in sorted(commits):
        found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"],
                               capture_output=True)
        assert found.returncode == 0, f"CHANGELOG.md names {commit}, which is no commit"


def test_the_dockerfile_points_to_files_and_sections_that_exist() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert 'README.md (section "Settings")' in dockerfile and "docker/README.md" in dockerfile
    readme = (ROOT / "README.md").read_text()
    assert "\n### Settings\n" in readme
    docker_readme = (ROOT / "docker" / "README.md").read_text()
    headings = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", readme, re.M)}
    for anchor in re.findall(r"\(\.\./README\.md#([a-z0-9-]+)\)", docker_readme):
        assert anchor in headings, f"docker/README.md links to a missing section #{anchor}"
    for name in re.findall(r"^\| `([^`]+)` \|", docker_readme, re.M):
        assert (ROOT / "docker" / name).is_file(), f"docker/README.md lists {name}"
