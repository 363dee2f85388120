"""The availability fold's state copy (taken before projecting past the last heartbeat)."""

from __future__ import annotations

import dataclasses

from streams.core.availability import FoldState


def test_clone_copies_every_field_and_shares_no_mutable_part() -> None:
    values = {}
    for i, f in enumerate(dataclasses.fields(FoldState)):
        if f.name == "fired":
            values[f.name] = {0.5, 1.0}
        elif f.name in ("starts", "ends", "cum"):
            values[f.name] = [i, i + 1]
        elif f.name == "episodes":
            values[f.name] = {0: 60_000}
        elif f.name == "period":
            values[f.name] = None
        elif f.name == "burn_active":
            values[f.name] = True
        else:
            values[f.name] = 1000 + i  # distinct, so a field copied into another shows
    st = FoldState(**values)
    twin = st.clone()
    assert twin == st
    twin.fired.add(2.0)
    twin.starts.append(9)
    twin.episodes[1] = 0
    assert st.fired == {0.5, 1.0} and st.starts == values["starts"] and st.episodes == {0: 60_000}
