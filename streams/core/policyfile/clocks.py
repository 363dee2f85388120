"""The ``clocks`` block of a policy (SPEC section 4.1): custom incident clocks, written in the
language the built-in ``response`` and ``resolution`` are defined in (``core.clocks``).

    clocks:
      on_site: {stop: [{milestone: on_site}], cancel: [resolved, closed], calendar: 24x7}
      repair: {start: {milestone: on_site}, stop: [resolved, closed], pauses: true,
               on_reopen: resume}

``read_clocks`` gives every clock of a policy version, the built-ins first, with the calendar of
each; the problems it notes name the field (``policies[1].clocks.repair.stop[0]``) and what was
expected, and a clock that ends on neither ``resolved`` nor ``closed`` is a warning (it runs on
after the incident closes).
"""

from __future__ import annotations

from typing import Any

from ..calendar import Calendar, utc_always
from ..clocks import BUILT_INS, ClockDefinition, Condition
from ..events import CLOSED, NAME, OPENED, RESOLVED, TYPES
from ..policy import RESERVED_METRICS
from .checker import Checker
from .text import join, kind, show

#: Names a custom clock may not take (SPEC section 4.1).
RESERVED = RESERVED_METRICS
#: The name of the always-working calendar a clock may give; no calendar may be defined with it.
ALWAYS = "24x7"
KEYS = ("start", "stop", "cancel", "pauses", "on_reopen", "calendar")
#: The event types a condition may name (``opened`` only as ``start``).
CONDITION_TYPES = tuple(t for t in TYPES if t not in ("updated", "milestone"))
_EXPECTED = (f"expected an event type ({', '.join(t for t in CONDITION_TYPES if t != 'opened')}; "
             "opened as start only) or {milestone: NAME}")


def clock_names(value: Any) -> tuple[str, ...]:
    """The names a ``clocks`` block gives, valid or not (what a target may name)."""
    return tuple(k for k in value if isinstance(k, str)) if isinstance(value, dict) else ()


def read_clocks(chk: Checker, value: Any, path: str, raw_calendars: Any,
                calendars: dict[str, Calendar]
                ) -> tuple[tuple[ClockDefinition, ...], tuple[Calendar | None, ...]]:
    """The clocks of a policy version: the built-ins, then those of the ``clocks`` block at
    ``path`` in the order written (a clock named as a built-in replaces it, where ``RESERVED``
    allows that), with each clock's calendar (None: the policy's)."""
    found: dict[str, tuple[ClockDefinition, Calendar | None]] = {
        d.name: (d, None) for d in BUILT_INS}
    for name, spec in chk.mapping(value, path).items():
        cpath = join(path, str(name))
        if not isinstance(name, str) or NAME.match(name) is None:
            chk.bad(cpath, f"{show(name)} is not a clock name: expected [a-z][a-z0-9_]* "
                    "such as on_site")
            continue
        if name in RESERVED:
            chk.bad(cpath, f"{show(name)} is reserved (the names {', '.join(RESERVED)} are "
                    "metrics of their own): give the clock another name")
            continue
        clock = read_clock(chk, name, spec, cpath, raw_calendars, calendars)
        if clock is not None:
            found[name] = clock
    return tuple(d for d, _ in found.values()), tuple(c for _, c in found.values())


def read_clock(chk: Checker, name: str, value: Any, path: str, raw_calendars: Any,
               calendars: dict[str, Calendar]
               ) -> tuple[ClockDefinition, Calendar | None] | None:
    """One clock's definition and calendar (None with problems noted when it is broken)."""
    spec = chk.mapping(value, path, KEYS)
    ok = len(chk.problems)
    start = condition(chk, spec.get("start", "opened"), f"{path}.start", as_start=True)
    if "stop" not in spec:
        chk.bad(f"{path}.stop", "missing: expected a non-empty list of conditions such as "
                "[resolved, closed]")
        stop: frozenset[Condition] = frozenset()
    else:
        stop = conditions(chk, spec["stop"], f"{path}.stop", empty=False)
    cancel = conditions(chk, spec.get("cancel", []), f"{path}.cancel", empty=True)
    pauses = spec.get("pauses", False)
    if not isinstance(pauses, bool):
        chk.bad(f"{path}.pauses", f"{show(pauses)}: expected true or false")
    on_reopen = spec.get("on_reopen", "ignore")
    if on_reopen not in ("ignore", "resume"):
        chk.bad(f"{path}.on_reopen", f"{show(on_reopen)}: expected ignore or resume")
    cal_name = spec.get("calendar")
    calendar: Calendar | None = None
    if cal_name == ALWAYS:
        calendar = utc_always()
    elif cal_name is not None:
        if not isinstance(cal_name, str) or cal_name not in raw_calendars:
            defined = [str(c) for c in raw_calendars if c != ALWAYS]
            chk.bad(f"{path}.calendar", f"unknown calendar {show(cal_name)}; defined: "
                    f"{', '.join(defined) or 'none'} (or {ALWAYS})")
        else:
            calendar = calendars.get(cal_name)  # a broken one is a problem of its own
    if len(chk.problems) != ok or start is None:
        return None
    if not {RESOLVED, CLOSED} & (stop | cancel):
        chk.warn(path, f"clock {name!r} lists neither resolved nor closed in its stop or cancel "
                 "conditions: it runs on after the incident closes")
    definition = ClockDefinition(name, stop, start, cancel, pauses, str(on_reopen),
                                 None if cal_name is None else str(cal_name))
    return definition, calendar


def conditions(chk: Checker, value: Any, path: str, empty: bool) -> frozenset[Condition]:
    """A list of stop or cancel conditions (``empty``: the list may be empty)."""
    if not isinstance(value, list) or (not value and not empty):
        what = "a list" if empty else "a non-empty list"
        got = "an empty list" if value == [] else kind(value)
        chk.bad(path, f"expected {what} of conditions such as [resolved, closed], got {got}")
        return frozenset()
    out = []
    for i, item in enumerate(value):
        found = condition(chk, item, f"{path}[{i}]", as_start=False)
        if found is not None:
            out.append(found)
    return frozenset(out)


def condition(chk: Checker, value: Any, path: str, as_start: bool) -> Condition | None:
    """One condition: an event type (``acknowledged``) or ``{milestone: NAME}``."""
    if isinstance(value, dict):
        spec = chk.mapping(value, path, ("milestone",))
        name = spec.get("milestone")
        if not isinstance(name, str) or NAME.match(name) is None:
            chk.bad(f"{path}.milestone", f"{show(name)} is not a milestone name: expected "
                    "[a-z][a-z0-9_]* such as on_site")
            return None
        return name
    if not isinstance(value, str):
        chk.bad(path, f"{_EXPECTED}, got {kind(value)}")
        return None
    if value == "opened":
        if as_start:
            return OPENED
        chk.bad(path, "'opened' is allowed only as start (it matches only the incident's "
                "opened, before which no clock has started)")
        return None
    if value == "updated":
        chk.bad(path, "'updated' is no condition: it changes no clock")
        return None
    if value == "milestone":
        chk.bad(path, "a milestone condition names its milestone: {milestone: NAME}")
        return None
    if value not in TYPES:
        chk.bad(path, f"unknown event type {show(value)}; {_EXPECTED}")
        return None
    return TYPES[value]
