"""Peoplevox stock levels from the "Item inventory summary" report: bad rows named, a bin never summed from a
guess, and on-hand stock summed per SKU × site over the locations named as sellable (no API, no ledger)."""

from __future__ import annotations

import pytest

from erp_wms_simulators.peoplevox import report_specs
from erp_wms_sync.domain.pv_reports import BadReport, held_pairs
from erp_wms_sync.domain.stock_levels import LEVEL_COLUMNS, StockLevel, levels_from_report, sellable_on_hand
from tests.unit.pv_stock_fakes import stocked_tenant


def level_row(item: str = "MUG", location: str = "A-01-01", on_hand: str = "4", **cells: str) -> dict[str, str]:
    row = {"Item code": item, "Site reference": "MAIN", "Location": location, "On hand": on_hand,
           "Allocated": "0", "Available": on_hand}
    row.update(cells)
    return row


# --- Item inventory summary ------------------------------------------------------------------------------------
def test_levels_are_read_and_bad_rows_named() -> None:
    rows = [level_row(), level_row(location="QUARANTINE", on_hand="1", Available="0"),
            level_row("CAP", **{"On hand": "3.5"}), level_row("CAP", location="B-01", Allocated=""),
            level_row("HAT", on_hand="-1")]
    levels, problems = levels_from_report(rows)
    assert levels == [StockLevel("MUG", "MAIN", "A-01-01", 4, 0, 4), StockLevel("MUG", "MAIN", "QUARANTINE", 1, 0, 0),
                      StockLevel("HAT", "MAIN", "A-01-01", -1, 0, -1)]
    assert [p.reason for p in problems] == ["row 3 has On hand '3.5', not a whole number", "row 4 has no Allocated"]
    assert held_pairs(problems) == {("CAP", "MAIN")}
    assert set(LEVEL_COLUMNS) <= set(report_specs.ITEM_INVENTORY_SUMMARY_COLUMNS)


def test_a_bin_listed_twice_with_other_figures_is_never_summed() -> None:
    rows = [level_row(), level_row(), level_row("CAP"), level_row("CAP", on_hand="9")]
    levels, problems = levels_from_report(rows)
    assert [lv.bin for lv in levels] == [("MUG", "MAIN", "A-01-01")]
    assert [p.position for p in problems] == [3, 4] and held_pairs(problems) == {("CAP", "MAIN")}
    with pytest.raises(BadReport, match="no 'Item code' column"):
        levels_from_report([{"Site reference": "MAIN", "On hand": "1"}])


def test_sellable_on_hand_sums_named_locations_and_prefixes_per_sku_and_site() -> None:
    levels = [StockLevel("MUG", "MAIN", "A-01-01", 4, 1, 3), StockLevel("MUG", "MAIN", "a-02-07", 2, 0, 2),
              StockLevel("MUG", "MAIN", "QUARANTINE", 5, 0, 0), StockLevel("MUG", "EAST", "BULK", 7, 0, 7),
              StockLevel("CAP", "MAIN", "QUARANTINE", 1, 0, 0), StockLevel("MUG", "MAIN", "ARCHIVE", 3, 0, 0)]
    assert sellable_on_hand(levels, {"A-*", " bulk "}) == {("MUG", "MAIN"): 6, ("MUG", "EAST"): 7,
                                                           ("CAP", "MAIN"): 0}
    assert sellable_on_hand(levels, ["A-01-01"])[("MUG", "MAIN")] == 4
    assert sellable_on_hand(levels, ["*"])[("MUG", "MAIN")] == 14
    with pytest.raises(ValueError, match="no sellable locations are configured"):
        sellable_on_hand(levels, [" "])
    with pytest.raises(TypeError, match="not one string"):
        sellable_on_hand(levels, "A-01-01")


# --- what the Peoplevox simulator emits ------------------------------------------------------------------------
def test_simulator_inventory_report_reads_without_a_problem() -> None:
    levels, problems = levels_from_report(report_specs.item_inventory_summary(stocked_tenant()))
    assert problems == []
    assert sellable_on_hand(levels, {"A-01-01"}) == {("CAP", "MAIN"): 4, ("MUG", "MAIN"): 4}
