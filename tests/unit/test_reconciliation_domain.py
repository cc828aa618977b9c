"""Stock reconciliation rules as a finance or warehouse lead sees them: what counts as a variance, what breaches
the tolerance, what is proposed, and which drifts are flagged over the nights."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erp_wms_sync.domain import reconciliation
from erp_wms_sync.domain.reconciliation import (
    DIFFERENCE_COLUMNS,
    PROPOSAL_COLUMNS,
    TREND_COLUMNS,
    ReconciliationInputError,
    Tolerance,
    compare_stock,
    drift_trends,
    propose_adjustments,
)


def stock(*rows: tuple[str, str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["sku", "location", "on_hand"])


def flight(*rows: tuple[str, str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["sku", "location", "quantity"])


def one(erp: int, wms: int, tolerance: Tolerance, in_flight: int = 0) -> dict[str, Any]:
    moved = flight(("A", "MAIN", in_flight)) if in_flight else None
    result = compare_stock(stock(("A", "MAIN", erp)), stock(("A", "MAIN", wms)), moved, tolerance)
    return result.differences.iloc[0].to_dict() if len(result.differences) else {}


# ---- comparison -------------------------------------------------------------------------------------------------
def test_differences_have_the_agreed_columns_and_only_differing_pairs() -> None:
    erp = stock(("A", "MAIN", 10), ("B", "MAIN", 4), ("C", "MAIN", 1))
    wms = stock(("A", "MAIN", 10), ("B", "MAIN", 7), ("C", "MAIN", 2))
    result = compare_stock(erp, wms, None, Tolerance())
    assert tuple(result.differences.columns) == DIFFERENCE_COLUMNS
    assert result.differences[["sku", "variance"]].values.tolist() == [["B", -3], ["C", -1]]
    assert result.summary() == {"pairs": 3, "matching": 1, "within_tolerance": 0, "breaches": 2, "erp_units": 15,
                                "wms_units": 19, "in_flight_units": 0, "abs_variance_units": 4}
    assert all(type(v) is int for v in result.summary().values())


@pytest.mark.parametrize(("erp", "wms", "tolerance", "breach"), [
    (10, 8, Tolerance(units=2), False),  # exactly at the units limit
    (10, 7, Tolerance(units=2), True),
    (100, 90, Tolerance(pct=10), False),  # exactly at 10% of the larger figure (100)
    (100, 89, Tolerance(pct=10), True),
    (90, 100, Tolerance(pct=10), False),  # the larger of the two sides counts, whichever it is
    (100, 71, Tolerance(pct=29), False),  # 29% of 100 is exactly 29 (0.29 * 100 is 28.999... in floats)
    (100, 96, Tolerance(units=5, pct=1), False),  # the larger allowance wins: 5 units over 1 unit
    (1000, 985, Tolerance(units=5, pct=2), False),  # ... and here 2% (20) over 5 units
], ids=["units-at-limit", "units-over", "pct-at-limit", "pct-over", "pct-of-larger-side",
        "pct-float-exact", "units-beat-pct", "pct-beats-units"])
def test_tolerance_edges(erp: int, wms: int, tolerance: Tolerance, breach: bool) -> None:
    row = one(erp, wms, tolerance)
    assert bool(row["breach"]) is breach
    assert row["allowed"] == pytest.approx(max(tolerance.units, tolerance.pct / 100 * max(erp, wms)))


def test_tolerance_refuses_negative_limits() -> None:
    with pytest.raises(ValueError, match="units"):
        Tolerance(units=-1)
    with pytest.raises(ValueError, match="pct"):
        Tolerance(pct=-0.5)


def test_one_sided_pairs_count_zero_on_the_missing_side() -> None:
    erp = stock(("A", "MAIN", 5), ("GONE", "MAIN", 3))
    wms = stock(("A", "MAIN", 5), ("NEW", "BACK", 2))
    rows = compare_stock(erp, wms, None, Tolerance()).differences.set_index("sku")
    assert rows.loc["GONE", ["erp_on_hand", "wms_on_hand", "variance", "side"]].tolist() == [3, 0, 3, "erp_only"]
    assert rows.loc["NEW", ["erp_on_hand", "wms_on_hand", "variance", "side"]].tolist() == [0, 2, -2, "wms_only"]


def test_a_pending_despatch_makes_no_variance() -> None:
    # Peoplevox despatched 2 (on-hand 8); the ERP has not booked the shipment yet (still 10).
    assert one(10, 8, Tolerance(), in_flight=-2) == {}
    # two movements of one pair in flight are summed: goods in +5, despatch -2
    moved = flight(("A", "MAIN", 5), ("A", "MAIN", -2))
    result = compare_stock(stock(("A", "MAIN", 10)), stock(("A", "MAIN", 13)), moved, Tolerance())
    assert result.differences.empty and result.in_flight_units == 3 and result.matching == 1


def test_in_flight_that_does_not_explain_the_gap_leaves_the_rest_as_variance() -> None:
    row = one(10, 8, Tolerance(), in_flight=-1)
    assert (row["in_flight"], row["expected_erp"], row["variance"]) == (-1, 9, 1)


def test_sorted_by_size_of_variance_then_sku_and_location() -> None:
    erp = stock(("B", "L2", 1), ("B", "L1", 1), ("A", "L9", 1), ("Z", "L1", 50))
    wms = stock(("B", "L2", 0), ("B", "L1", 0), ("A", "L9", 0), ("Z", "L1", 0))
    keys = compare_stock(erp, wms, None, Tolerance()).differences[["sku", "location"]].values.tolist()
    assert keys == [["Z", "L1"], ["A", "L9"], ["B", "L1"], ["B", "L2"]]


def test_sparse_key_space_gives_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    erp = stock(("A", "L1", 3), ("B", "L2", 4), ("C", "L3", 5))
    wms = stock(("A", "L1", 2), ("B", "L2", 4), ("D", "L3", 1))
    dense = compare_stock(erp, wms, flight(("E", "L1", 2)), Tolerance())
    monkeypatch.setattr(reconciliation, "DENSE_FLOOR", 0)
    monkeypatch.setattr(reconciliation, "DENSE_FACTOR", 0)
    sparse = compare_stock(erp, wms, flight(("E", "L1", 2)), Tolerance())
    pd.testing.assert_frame_equal(dense.differences, sparse.differences)
    assert dense.summary() == sparse.summary() and dense.pairs == 5


# ---- refused inputs ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("erp", "wms", "side", "column", "named"), [
    (stock(("A", "MAIN", 1), ("A", "MAIN", 2)), stock(("A", "MAIN", 1)), "erp", "sku, location", "A|MAIN"),
    (stock(("A", "MAIN", 1)), pd.DataFrame({"sku": ["A"], "on_hand": [1]}), "wms", "location", None),
    (stock(("A", "MAIN", 1), ("B", "MAIN", float("nan"))), stock(("A", "MAIN", 1)), "erp", "on_hand", "B|MAIN"),
    (stock(("A", "MAIN", 1)), stock(("A", "MAIN", 1.5)), "wms", "on_hand", "A|MAIN"),
    (stock(("A", "MAIN", 1)), stock(("A", "MAIN", "7")), "wms", "on_hand", "A|MAIN"),
    (stock(("  ", "MAIN", 1)), stock(("A", "MAIN", 1)), "erp", "sku", "<blank>|MAIN"),
    (stock(("A", "MAIN", 1)), stock((None, "BACK", 1)), "wms", "sku", "<null>|BACK"),
    (stock(("A", "MAIN", 1)), pd.DataFrame({"sku": ["A"], "location": [7], "on_hand": [1]}), "wms", "location",
     "A|7"),
], ids=["duplicate-key", "missing-column", "nan-quantity", "fraction", "text-quantity", "blank-sku", "null-sku",
        "number-as-location"])
def test_unreadable_inputs_are_refused_naming_side_column_and_keys(erp: pd.DataFrame, wms: pd.DataFrame, side: str,
                                                                  column: str, named: str | None) -> None:
    with pytest.raises(ReconciliationInputError) as caught:
        compare_stock(erp, wms, None, Tolerance())
    error = caught.value
    assert (error.side, error.column) == (side, column)
    assert side in str(error) and column in str(error)
    if named:
        assert any(key.startswith(named) for key in error.keys) and named in str(error)


def test_bad_in_flight_rows_are_refused_and_at_most_five_keys_are_named() -> None:
    moved = flight(*[(f"S{i}", "MAIN", 0.5) for i in range(8)])
    with pytest.raises(ReconciliationInputError) as caught:
        compare_stock(stock(("A", "MAIN", 1)), stock(("A", "MAIN", 1)), moved, Tolerance())
    assert caught.value.side == "in_flight" and len(caught.value.keys) == 5 and "8 row(s)" in str(caught.value)


def test_whole_number_floats_and_nullable_integers_are_accepted() -> None:
    erp = stock(("A", "MAIN", 3.0))
    wms = pd.DataFrame({"sku": ["A"], "location": ["MAIN"], "on_hand": pd.array([2], dtype="Int64")})
    assert one_row(compare_stock(erp, wms, None, Tolerance()).differences)["variance"] == 1


def one_row(frame: pd.DataFrame) -> dict[str, Any]:
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


# ---- proposals --------------------------------------------------------------------------------------------------
def test_proposals_set_the_erp_to_the_count_less_what_is_in_flight() -> None:
    erp = stock(("A", "MAIN", 10), ("B", "MAIN", 0), ("GHOST", "MAIN", 4))
    wms = stock(("A", "MAIN", 7), ("B", "MAIN", 1))
    moved = flight(("A", "MAIN", -1), ("B", "MAIN", 3))  # B: in flight says +3 but the count is 1 -> expected -2
    differences = compare_stock(erp, wms, moved, Tolerance(units=1)).differences
    proposals = propose_adjustments(differences)
    assert tuple(proposals.columns) == PROPOSAL_COLUMNS
    got = proposals.set_index("sku")[["erp_on_hand", "set_to", "change"]].T.to_dict("list")
    assert got == {"A": [10, 8, -2], "GHOST": [4, 0, -4]}  # B's negative expected figure is never proposed
    assert (proposals["set_to"] >= 0).all()


def test_proposals_skip_skus_peoplevox_does_not_know() -> None:
    differences = compare_stock(stock(("A", "MAIN", 2), ("OLD", "MAIN", 5)), stock(("A", "MAIN", 3)), None,
                                Tolerance()).differences
    proposals = propose_adjustments(differences, wms_skus=["A"])
    assert proposals["sku"].tolist() == ["A"] and proposals["change"].tolist() == [1]
    assert set(propose_adjustments(differences)["sku"]) == {"A", "OLD"}


def test_proposals_refuse_a_frame_without_the_difference_columns() -> None:
    with pytest.raises(ReconciliationInputError, match="expected_erp"):
        propose_adjustments(pd.DataFrame({"sku": ["A"], "location": ["M"]}))


# ---- drift trends -----------------------------------------------------------------------------------------------
NIGHTS = [f"2026-11-{day:02d}" for day in range(1, 11)]


def history(*rows: tuple[int, str, str, int]) -> pd.DataFrame:
    """Rows of (night number 1-10, sku, location, variance); every night exists through a marker pair."""
    marker = [(NIGHTS[n], f"MARK{n}", f"M{n}", 1) for n in range(10)]  # one night each: never recurring
    data = marker + [(NIGHTS[n - 1], sku, location, v) for n, sku, location, v in rows]
    return pd.DataFrame(data, columns=["business_date", "sku", "location", "variance"])


def flagged(trends: pd.DataFrame, level: str) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in trends[trends["level"] == level].to_dict("records")}


def test_a_pair_recurring_on_three_of_seven_nights_is_flagged_with_its_history() -> None:
    trends = drift_trends(history((4, "A", "MAIN", -2), (6, "A", "MAIN", -1), (9, "A", "MAIN", -3)))
    assert tuple(trends.columns) == TREND_COLUMNS
    row = flagged(trends, "pair")["A|MAIN"]
    assert (row["nights"], row["nights_seen"], row["first_date"], row["last_date"]) == (7, 3, NIGHTS[3], NIGHTS[8])
    assert (row["latest_variance"], row["growing"], row["sku"], row["location"]) == (-3, False, "A", "MAIN")
    assert row["history"] == [[NIGHTS[n], {3: -2, 5: -1, 8: -3}.get(n, 0)] for n in range(3, 10)]
    json.dumps(row["history"])  # plain str / int


def test_nights_outside_the_window_and_a_pair_back_to_zero_are_not_recurring() -> None:
    old = [(n, "OLD", "MAIN", 4) for n in (1, 2, 3)]  # three nights, but before the last seven
    fixed = [(5, "FIXED", "MAIN", 2), (6, "FIXED", "MAIN", 2)]  # a lost message, corrected after two nights
    trends = drift_trends(history(*old, *fixed))
    assert trends.empty and tuple(trends.columns) == TREND_COLUMNS
    assert set(flagged(drift_trends(history(*old), window=10), "pair")) == {"OLD|MAIN"}


def test_growing_variance_is_flagged_even_below_min_nights() -> None:
    rows = [(7, "G", "MAIN", 1), (8, "G", "MAIN", -2), (10, "G", "MAIN", 5), (9, "FLAT", "MAIN", 3),
            (10, "FLAT", "MAIN", 3), (8, "FLAT", "MAIN", 3)]
    trends = drift_trends(history(*rows), min_nights=5)
    assert list(flagged(trends, "pair")) == ["G|MAIN"]
    assert flagged(trends, "pair")["G|MAIN"]["growing"] is True
    assert drift_trends(history(*rows[:2]), min_nights=5).empty  # two nights cannot show growth


def test_sku_and_location_levels_catch_drift_spread_over_pairs() -> None:
    spread = [(5, "BOOT", "BIN-1", -1), (7, "BOOT", "BIN-2", -1), (9, "BOOT", "BIN-3", -2),
              (6, "TEE", "BIN-4", -1), (8, "BAG", "BIN-4", -1), (10, "CAP", "BIN-4", -1)]
    trends = drift_trends(history(*spread))
    assert flagged(trends, "pair") == {}
    sku = flagged(trends, "sku")
    assert set(sku) == {"BOOT"} and sku["BOOT"]["nights_seen"] == 3 and sku["BOOT"]["location"] is None
    location = flagged(trends, "location")
    assert set(location) == {"BIN-4"} and location["BIN-4"]["sku"] is None
    assert list(trends["level"]) == ["sku", "location"]


def test_trends_sorted_by_level_then_size_of_latest_variance() -> None:
    rows = [(n, "SMALL", "X", 1) for n in (6, 7, 8)] + [(n, "BIG", "Y", -9) for n in (6, 7, 8)]
    trends = drift_trends(history(*rows))
    assert list(zip(trends["level"], trends["key"], strict=True)) == [
        ("pair", "BIG|Y"), ("pair", "SMALL|X"), ("sku", "BIG"), ("sku", "SMALL"), ("location", "Y"),
        ("location", "X")]


def test_history_with_a_bad_date_is_refused() -> None:
    bad = pd.DataFrame({"business_date": ["2026-11-01", "2026-11-2"], "sku": ["A", "B"], "location": ["M", "M"],
                        "variance": [1, 2]})
    with pytest.raises(ReconciliationInputError) as caught:
        drift_trends(bad)
    assert caught.value.column == "business_date" and "B|M" in str(caught.value)


# ---- property -------------------------------------------------------------------------------------------------
SKUS, LOCATIONS = ["A", "B", "C", "D"], ["L1", "L2", "L3"]
pair_rows = st.dictionaries(st.tuples(st.sampled_from(SKUS), st.sampled_from(LOCATIONS)),
                            st.integers(-50, 500), max_size=12)
flight_rows = st.lists(st.tuples(st.sampled_from(SKUS), st.sampled_from(LOCATIONS), st.integers(-20, 20)),
                       max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair_rows, pair_rows, flight_rows, st.integers(0, 5), st.sampled_from([0.0, 2.5, 10.0]))
def test_property_every_difference_adds_up_and_every_pair_is_counted(
        erp: dict[tuple[str, str], int], wms: dict[tuple[str, str], int], moved: list[tuple[str, str, int]],
        units: int, pct: float) -> None:
    result = compare_stock(stock(*[(*k, v) for k, v in erp.items()]), stock(*[(*k, v) for k, v in wms.items()]),
                           flight(*moved), Tolerance(units=units, pct=pct))
    diff = result.differences
    assert (diff["erp_on_hand"] - diff["variance"] == diff["expected_erp"]).all()
    assert (diff["variance"] != 0).all()
    assert result.matching + len(diff) == result.pairs
    assert result.pairs == len(set(erp) | set(wms) | {(s, loc) for s, loc, _ in moved})
    assert result.within_tolerance + result.breaches == len(diff)
    assert (diff["breach"] == (diff["abs_variance"] > diff["allowed"])).all()
