"""Every ``slawatch`` command: ``--help`` shows an example, and bad arguments get one line on
stderr and exit status 2 (issue 5's acceptance, held for all commands at once)."""

from __future__ import annotations

import pytest

from streams.cli import main

COMMANDS = (["replay"], ["report"], ["worker"], ["demo"], ["topics", "create"],
            ["policy", "validate"], ["policy", "explain"], ["broker"], ["send"], ["tail"])


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_an_example(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    heading = "\nexamples:\n" if "\nexamples:\n" in out else "\nexample:\n"
    assert heading in out, out
    assert f"slawatch {' '.join(command)}" in out.split(heading)[1]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("bad", [["--no-such-flag"], ["--policies"]], ids=["unknown", "no value"])
def test_bad_arguments_get_one_line_and_exit_2(command: list[str], bad: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    if command == ["policy", "validate"] and bad == ["--policies"]:
        bad = ["a.yaml", "b.yaml"]  # it takes no --policies: two paths are its bad input
    if command in (["topics", "create"],) and bad == ["--policies"]:
        bad = ["--partitions"]
    with pytest.raises(SystemExit) as exit_:
        main([*command, *bad])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("slawatch") and "error:" in err, err


def test_no_command_is_one_line_too(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
