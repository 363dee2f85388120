"""What every part of the validator shares: the problems found so far (each naming its file and
field path, merged revisions named by the file that holds them), and the checks of a mapping, a
duration and an instant."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any, TypeGuard

from ..errors import InvalidDuration, InvalidInstant, PolicyProblem
from ..timefmt import DAY_MS, parse_duration, parse_instant
from .text import SHOW, join, kind, show

MAX_DURATION_MS = 100 * 365 * DAY_MS  # 3,153,600,000 s: no deadline can leave the instant range
MAX_PROBLEMS = 1000  # listed; past them the validator stops (a broken file could list millions)
MAX_DURATION_TEXT = "at most 100 years (3,153,600,000 s)"


def is_number(v: Any) -> TypeGuard[int | float]:
    """An int or a finite float (YAML's .inf and .nan, JSON's Infinity and NaN are not)."""
    if isinstance(v, float):
        return math.isfinite(v)
    return isinstance(v, int) and not isinstance(v, bool)


def exact(v: int | float) -> Fraction:
    """A number as written, exactly: ``99.9`` is 999/10, not the float nearest it."""
    return Fraction(v) if isinstance(v, int) else Fraction(repr(v))


class TooManyProblems(Exception):  # noqa: N818 - reads as what happened
    """``MAX_PROBLEMS`` problems found: the validator stops there."""


_MERGED_PART = re.compile(r"policies\[\d+\]|calendars(?:\.[A-Za-z_][A-Za-z0-9_-]*|\['[^']*'\])")


class Checker:
    """The problems of one policy document, and the checks every block uses."""

    def __init__(self, file: str, origins: dict[str, tuple[str, str]] | None = None) -> None:
        self.file = file
        self.origins = origins or {}  # merged revisions: a path here -> (file, path there)
        self.problems: list[PolicyProblem] = []
        #: what is valid but likely not meant (``policy validate`` prints them; loading goes on)
        self.warnings: list[PolicyProblem] = []

    def warn(self, path: str, message: str) -> None:
        """Note a warning at ``path`` (named as a problem is)."""
        problems, self.problems = self.problems, self.warnings
        try:
            self.bad(path, message)
        finally:
            self.problems = problems

    def bad(self, path: str, message: str) -> None:
        """Note a problem at ``path`` (named in the file that holds it, for merged revisions)."""
        file = self.file
        if self.origins:
            head = _MERGED_PART.match(path)
            if head is not None and head.group() in self.origins:
                file, there = self.origins[head.group()]
                path = there + path[head.end():]
            message = _MERGED_PART.sub(lambda m: self._elsewhere(m.group(), file), message)
        if len(self.problems) >= MAX_PROBLEMS:
            raise TooManyProblems
        self.problems.append(PolicyProblem(file, path, message))

    def _elsewhere(self, part: str, file: str) -> str:
        """A merged path named inside a message, as it reads from ``file``."""
        origin_file, there = self.origins.get(part, (self.file, part))
        return there if origin_file == file else f"{there} of {origin_file}"

    def mapping(
        self, value: Any, path: str, allowed: tuple[str, ...] | None = None
    ) -> dict[str, Any]:
        """``value`` if it is a mapping (else ``{}``), each key not ``allowed`` a problem."""
        if not isinstance(value, dict):
            self.bad(path, f"expected a mapping, got {kind(value)}")
            return {}
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    self.bad(join(path, str(key)),
                             f"unknown key; expected one of {', '.join(allowed)}")
        return value

    def duration(self, value: Any, path: str, positive: bool = True) -> int | None:
        """Every duration of a policy: longer than 0 (unless not ``positive``) and at most
        ``MAX_DURATION_MS``, so that no target, window or timeout added to an instant of the
        range (SPEC section 1) leaves what a deadline can be."""
        if isinstance(value, str) and len(value) > SHOW:
            self.bad(path, f"{show(value)} is not a duration: expected e.g. 90s, 15m, 4h, 2d, "
                     f"1h30m or PT1H30M, {MAX_DURATION_TEXT}")
            return None
        try:
            ms = parse_duration(value)
        except InvalidDuration as exc:
            self.bad(path, str(exc))
            return None
        if positive and ms <= 0:
            self.bad(path, f"{show(value)} must be longer than 0 seconds")
            return None
        if ms > MAX_DURATION_MS:
            self.bad(path, f"{show(value)} is too long: a duration is {MAX_DURATION_TEXT}")
            return None
        return ms

    def instant(self, value: Any, path: str) -> int | None:
        """Epoch ms of an instant of the range (SPEC section 1), or None and a problem."""
        if isinstance(value, str) and len(value) > SHOW:  # what parse_instant would quote whole
            self.bad(path, f"{show(value)} is not an instant: expected an RFC 3339 string with "
                     "an offset such as 2026-03-02T09:15:00Z")
            return None
        try:
            return parse_instant(value)
        except InvalidInstant as exc:
            self.bad(path, str(exc))
            return None
