"""Stock reconciliation over a sparse key space (many SKUs, few locations each; the layout of a brand with one stock
location per SKU): the two sparse paths (SKU as the pair's slot when every SKU is at one location, a hash of the pair
codes otherwise) give exactly the answer of the dense path, and refuse what it refuses. Blank keys are refused
whatever whitespace they are made of."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erp_wms_sync.domain import reconciliation
from erp_wms_sync.domain.reconciliation import ReconciliationInputError, StockComparison, Tolerance, compare_stock


def stock(*rows: tuple[str, str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["sku", "location", "on_hand"])


def flight(*rows: tuple[str, str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["sku", "location", "quantity"])


def both_ways(erp: pd.DataFrame, wms: pd.DataFrame, moved: pd.DataFrame | None,
              tolerance: Tolerance) -> tuple[StockComparison, StockComparison]:
    """The comparison on the dense path, then with the key space forced sparse."""
    dense = compare_stock(erp, wms, moved, tolerance)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reconciliation, "DENSE_FLOOR", 0)
        patch.setattr(reconciliation, "DENSE_FACTOR", 0)
        sparse = compare_stock(erp, wms, moved, tolerance)
    return dense, sparse


def assert_same(dense: StockComparison, sparse: StockComparison) -> None:
    pd.testing.assert_frame_equal(dense.differences, sparse.differences)
    assert dense.summary() == sparse.summary() and dense.pairs == sparse.pairs


def test_one_location_per_sku_gives_the_dense_answer() -> None:
    erp = stock(("A", "L1", 3), ("B", "L2", 4), ("C", "L3", 5), ("Q", "L1", 9))
    wms = stock(("A", "L1", 2), ("B", "L2", 4), ("D", "L3", 1), ("Q", "L1", 6))
    moved = flight(("E", "L1", 2), ("Q", "L1", -1), ("Q", "L1", -2))
    dense, sparse = both_ways(erp, wms, moved, Tolerance(units=1))
    assert_same(dense, sparse)
    assert dense.differences[["sku", "variance"]].values.tolist() == [
        ["C", 5], ["E", 2], ["A", 1], ["D", -1]]  # Q: a count of 6 with -3 in flight means 9, as the ERP says


def test_a_sku_at_two_locations_takes_the_hashed_path_and_gives_the_dense_answer() -> None:
    erp = stock(("A", "L1", 3), ("A", "L2", 7), ("B", "L2", 4))
    wms = stock(("A", "L1", 3), ("A", "L2", 5), ("B", "L1", 4))  # B moved location on the WMS side
    dense, sparse = both_ways(erp, wms, flight(("A", "L2", 1)), Tolerance())
    assert_same(dense, sparse)
    assert dense.differences[["sku", "location", "variance"]].values.tolist() == [
        ["B", "L1", -4], ["B", "L2", 4], ["A", "L2", 3]]


@pytest.mark.parametrize("erp", [
    stock(("A", "L1", 1), ("A", "L1", 2)),  # one location per SKU: the SKU path
    stock(("A", "L1", 1), ("A", "L2", 1), ("A", "L1", 2)),  # two locations: the hashed path
], ids=["sku-path", "hashed-path"])
def test_a_pair_listed_twice_is_refused_on_both_sparse_paths(erp: pd.DataFrame) -> None:
    with pytest.raises(ReconciliationInputError) as caught:
        both_ways(erp, stock(("A", "L1", 1)), None, Tolerance())
    assert (caught.value.side, caught.value.column) == ("erp", "sku, location")
    assert any(key.startswith("A|L1") for key in caught.value.keys)


KEYS = st.tuples(st.sampled_from("ABCDEFGH"), st.sampled_from(["L1", "L2", "L3"]))


@settings(max_examples=60, deadline=None)
@given(erp=st.dictionaries(KEYS, st.integers(-5, 50), max_size=12),
       wms=st.dictionaries(KEYS, st.integers(-5, 50), max_size=12),
       moved=st.lists(st.tuples(KEYS, st.integers(-4, 4)), max_size=6),
       one_location=st.booleans(), units=st.integers(0, 3))
def test_sparse_and_dense_paths_always_agree(erp: dict[tuple[str, str], int], wms: dict[tuple[str, str], int],
                                             moved: list[tuple[tuple[str, str], int]], one_location: bool,
                                             units: int) -> None:
    def pin(key: tuple[str, str]) -> tuple[str, str]:  # every SKU at one location (its own), or as drawn
        return (key[0], f"L{ord(key[0]) % 3 + 1}") if one_location else key

    erp_rows = {pin(k): v for k, v in erp.items()}
    wms_rows = {pin(k): v for k, v in wms.items()}
    dense, sparse = both_ways(stock(*[(s, loc, q) for (s, loc), q in erp_rows.items()]),
                              stock(*[(s, loc, q) for (s, loc), q in wms_rows.items()]),
                              flight(*[(*pin(k), q) for k, q in moved]), Tolerance(units=units))
    assert_same(dense, sparse)


@pytest.mark.parametrize("blank", ["", " ", "\t\n", "\u3000", "\u00a0 "])
def test_blank_keys_are_refused_whatever_whitespace_they_hold(blank: str) -> None:
    with pytest.raises(ReconciliationInputError) as caught:
        compare_stock(stock(("A", "MAIN", 1), (blank, "MAIN", 2)), stock(("A", "MAIN", 1)), None, Tolerance())
    assert (caught.value.side, caught.value.column) == ("erp", "sku")
    assert "1 row(s) with a null, blank or non-text key" in str(caught.value)


def test_keys_with_whitespace_around_text_are_kept_as_they_are() -> None:
    differences = compare_stock(stock((" A", "MAIN", 2)), stock(("A", "MAIN", 2)), None, Tolerance()).differences
    assert sorted(differences["sku"]) == [" A", "A"]  # two different SKUs: keys are never trimmed
