"""The errors of the SLA core: ``SlawatchError``, the base of everything slawatch raises on
purpose, and the core's own (the whole tree is drawn once, in the docstring of ``streams``).

Messages name the value, where it came from and what was expected. Bad input is data: the shells
turn ``InvalidEvent`` into a dead-letter record and go on.
"""

from __future__ import annotations

from dataclasses import dataclass


class SlawatchError(Exception):
    """Base of every error slawatch raises on purpose."""


class InvalidInstant(SlawatchError, ValueError):
    pass


class InvalidDuration(SlawatchError, ValueError):
    pass


class InvalidEvent(SlawatchError, ValueError):
    """An input event that cannot be applied; ``reason`` is a short machine-readable tag."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class PolicyProblem:
    """One problem in a policy file: where (``file``, ``path``) and what was expected."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '<root>'}: {self.message}"


class PolicyError(SlawatchError):
    """A policy file that cannot be loaded; ``problems`` lists every problem found."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
