"""What ``slawatch report`` was asked for (``ReportOptions``), checked, and the error of a bad ask.

``ReportError`` is also the refusal of input that holds no record at all (``streams.report.run``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from streams.core.errors import SlawatchError
from streams.core.timefmt import format_instant
from streams.report.records import Rec

DIMENSIONS: Final = ("customer", "service", "severity", "policy", "period")
PERIODS: Final = ("month", "week", "day")
FORMATS: Final = ("table", "csv", "json")


class ReportError(SlawatchError, ValueError):
    """A bad option of ``slawatch report``; the message names the flag and what was expected."""


@dataclass(frozen=True)
class ReportOptions:
    """What ``slawatch report`` was asked for, checked."""

    by: tuple[str, ...] = ("customer",)
    period: str = "month"
    customers: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    from_ms: int | None = None
    to_ms: int | None = None
    format: str = "table"
    periods_csv: bool = False
    objective_periods_csv: bool = False

    @classmethod
    def parse(cls, *, by: Sequence[str] | None = None, period: str | None = None,
              customers: Sequence[str] | None = None, services: Sequence[str] | None = None,
              from_ms: int | None = None, to_ms: int | None = None,
              format: str | None = None, periods_csv: bool = False,
              objective_periods_csv: bool = False) -> ReportOptions:
        """The options from the flags' texts (the instants parsed by the command line);
        ``ReportError`` names the first bad one."""
        dims = _list(by) or ["customer"]
        for dim in dims:
            if dim not in DIMENSIONS:
                msg = (
                    f"--by {dim!r}: expected {', '.join(DIMENSIONS)} "
                    "(several by commas or repeated)"
                )
                raise ReportError(msg)
        if len(set(dims)) != len(dims):
            msg = f"--by {','.join(dims)}: a dimension is given twice"
            raise ReportError(msg)
        period = "month" if period is None else period.strip().lower()
        if period not in PERIODS:
            msg = f"--period {period!r}: expected {', '.join(PERIODS)}"
            raise ReportError(msg)
        fmt = "table" if format is None else format.strip().lower()
        if fmt not in FORMATS:
            msg = f"--format {fmt!r}: expected {', '.join(FORMATS)}"
            raise ReportError(msg)
        if from_ms is not None and to_ms is not None and from_ms >= to_ms:
            msg = (
                f"--from-time {format_instant(from_ms)} is not before --to-time "
                f"{format_instant(to_ms)}"
            )
            raise ReportError(msg)
        for flag, given in (("--periods", periods_csv),
                            ("--objective-periods", objective_periods_csv)):
            if given and fmt != "csv":
                msg = f"{flag} goes with --format csv (table and json show the periods anyway)"
                raise ReportError(msg)
        if periods_csv and objective_periods_csv:
            msg = "--periods or --objective-periods: one table of periods per CSV"
            raise ReportError(msg)
        return cls(tuple(dims), period, frozenset(_list(customers)), frozenset(_list(services)),
                   from_ms, to_ms, fmt, periods_csv, objective_periods_csv)

    def keep(self, rec: Rec, ref_ms: int | None) -> bool:
        """Whether a standing record (at its reference instant ``ref_ms``) is in the report."""
        if self.customers and rec.customer not in self.customers:
            return False
        if self.services and rec.service not in self.services:
            return False
        if self.from_ms is not None and (ref_ms is None or ref_ms < self.from_ms):
            return False
        return self.to_ms is None or (ref_ms is not None and ref_ms < self.to_ms)


def _list(values: Sequence[str] | None) -> list[str]:
    return [v.strip() for text in values or () for v in text.split(",") if v.strip()]

