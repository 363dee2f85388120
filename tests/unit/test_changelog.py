"""The changelog functions incidents and availability publish through (``core.changelog``)."""

from __future__ import annotations

from streams.core.changelog import diff, retraction, upsert, withdraw


def test_upsert_publishes_only_what_differs() -> None:
    published = {"a": 1, "b": 2}
    assert [upsert(published, k, v) for k, v in [("a", 1), ("b", 3), ("c", 4)]] == [
        False, True, True]
    assert published == {"a": 1, "b": 3, "c": 4}


def test_diff_gives_records_in_standing_order_then_retractions() -> None:
    records, retractions = diff({"a": 1, "b": 2, "c": 3}, {"d": 5, "b": 2, "a": 9})
    assert records == [("d", 5), ("a", 9)]
    assert retractions == [("c", 3)]
    assert diff({}, {}) == ([], [])


def test_withdraw_returns_only_what_stood() -> None:
    published = {"a": 1, "b": 2}
    assert withdraw(published, ["b", "x"]) == [("b", 2)]
    assert published == {"a": 1}


def test_a_retraction_names_what_it_withdraws_and_nothing_else() -> None:
    rec = {"alert_id": "x", "kind": "breach", "metric": "response", "at": "t", "threshold": 1.0,
           "service": "s", "elapsed_seconds": 3.0, "attributes": {"k": "v"}}
    assert retraction(rec) == {"alert_id": "x", "kind": "retraction", "retracts": "breach",
                               "metric": "response", "at": "t", "threshold": 1.0, "service": "s"}
    assert list(retraction(rec)) == ["alert_id", "kind", "retracts", "metric", "at", "threshold",
                                     "service"]
