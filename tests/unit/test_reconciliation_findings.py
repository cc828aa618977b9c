"""The order, return, item-master and mapping comparisons of reconciliation (pure, over DataFrames): what an ops,
finance or data lead would see in the morning report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from erp_wms_sync.domain.reconciliation_findings import (
    FINDING_COLUMNS,
    FindingsInputError,
    compare_items,
    compare_locations,
    compare_orders,
    compare_returns,
    item_sync_due,
    kind_counts,
)

NOW = datetime(2026, 12, 4, 2, 30, tzinfo=UTC)
OLD = (NOW - timedelta(days=3)).replace(tzinfo=None)
RECENT = (NOW - timedelta(minutes=5)).replace(tzinfo=None)


def erp_orders(*rows: tuple[str, str, str, str, datetime]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["erp_id", "number", "state", "erp_status", "updated"])


def ledger_orders(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["erp_id", "number", "state", "wms_number"])


def wms_orders(*rows: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["SalesOrderNumber", "Status"])


def orders(erp: pd.DataFrame, ledger: pd.DataFrame, wms: pd.DataFrame, **kwargs) -> dict[str, str]:
    found = compare_orders(erp, ledger, wms, now=NOW, limbo_hours=48, **kwargs)
    assert list(found.columns) == list(FINDING_COLUMNS)
    return dict(zip(found["key"], found["kind"], strict=True))


def test_each_order_kind_is_found_and_a_healthy_order_is_not() -> None:
    erp = erp_orders(("a", "SO-1", "releasable", "ORDERED", RECENT), ("b", "SO-2", "releasable", "PICKED", RECENT),
                     ("c", "SO-3", "cancelled", "VOIDED", OLD), ("d", "SO-4", "releasable", "ORDERED", OLD),
                     ("e", "SO-5", "releasable", "ORDERED", RECENT))
    ledger = ledger_orders(("a", "SO-1", "released", "SO-1"), ("b", "SO-2", "released", "SO-2"),
                           ("c", "SO-3", "released", "SO-3"), ("e", "SO-5", "released", "SO-5"))
    wms = wms_orders(("SO-2", "Despatched"), ("SO-3", "Allocated"), ("SO-4", "Picking"), ("SO-5", "New"),
                     ("HAND-9", "New"))
    assert orders(erp, ledger, wms) == {"SO-1": "orphaned_order", "SO-2": "dispatched_but_open",
                                        "SO-3": "cancelled_but_live", "SO-4": "limbo", "HAND-9": "unknown_in_erp"}


def test_erp_stamps_in_any_iso_form_are_read() -> None:
    erp = erp_orders(("a", "SO-20", "releasable", "ORDERED", "2026-12-01T10:00:00Z"),
                     ("b", "SO-21", "releasable", "ORDERED", "2026-12-01T10:00:00.125+00:00"),
                     ("c", "SO-22", "releasable", "ORDERED", "2026-12-01T10:00:00"))
    assert orders(erp, ledger_orders(), wms_orders()) == {"SO-20": "limbo", "SO-21": "limbo", "SO-22": "limbo"}


def test_a_reissued_order_is_matched_to_its_erp_order() -> None:
    erp = erp_orders(("a", "SO-7", "releasable", "ORDERED", RECENT))
    ledger = ledger_orders(("a", "SO-7", "released", "SO-7-R1"))
    found = orders(erp, ledger, wms_orders(("SO-7", "Cancelled"), ("so-7-r1", "Despatched")))
    assert found == {"SO-7": "dispatched_but_open"}, "the -R1 order is SO-7's, not an order unknown to the ERP"


def test_a_cancelled_and_reissued_order_is_not_orphaned() -> None:
    erp = erp_orders(("a", "SO-8", "releasable", "ORDERED", RECENT))
    ledger = ledger_orders(("a", "SO-8", "released", "SO-8-R2"))
    assert orders(erp, ledger, wms_orders(("SO-8", "Cancelled"), ("SO-8-R1", "Cancelled"), ("SO-8-R2", "New"))) == {}


def test_a_released_order_whose_reissue_never_reached_peoplevox_is_orphaned() -> None:
    ledger = ledger_orders(("a", "SO-9", "released", "SO-9-R1"))
    erp = erp_orders(("a", "SO-9", "releasable", "ORDERED", RECENT))
    assert orders(erp, ledger, wms_orders(("SO-9", "Cancelled"))) == {"SO-9": "orphaned_order"}


def test_an_order_the_erp_cancelled_and_peoplevox_cancelled_too_is_fine_and_a_fresh_cancel_settles() -> None:
    erp = erp_orders(("a", "SO-10", "cancelled", "VOIDED", OLD), ("b", "SO-11", "cancelled", "VOIDED", RECENT))
    ledger = ledger_orders(("a", "SO-10", "cancelled", "SO-10"), ("b", "SO-11", "released", "SO-11"))
    assert orders(erp, ledger, wms_orders(("SO-10", "Cancelled"), ("SO-11", "New"))) == {}


def test_a_returned_order_was_despatched_first() -> None:
    erp = erp_orders(("a", "SO-13", "releasable", "ORDERED", RECENT))
    ledger = ledger_orders(("a", "SO-13", "released", "SO-13"))
    assert orders(erp, ledger, wms_orders(("SO-13", "Returned"))) == {"SO-13": "dispatched_but_open"}


def test_a_despatch_being_confirmed_is_not_open_yet() -> None:
    erp = erp_orders(("a", "SO-12", "releasable", "ORDERED", RECENT))
    ledger = ledger_orders(("a", "SO-12", "released", "SO-12"))
    assert orders(erp, ledger, wms_orders(("SO-12", "Despatched")), despatch_in_progress={"SO-12"}) == {}


def test_an_order_the_integration_holds_is_in_limbo_whatever_the_erp_calls_its_state() -> None:
    erp = erp_orders(("a", "1001", "not_yet", "ALLOCATED", OLD), ("b", "1002", "not_yet", "ON_HOLD", OLD))
    ledger = ledger_orders(("a", "1001", "held", "1001"))
    assert orders(erp, ledger, wms_orders()) == {"1001": "limbo"}


def test_a_released_order_stuck_in_the_warehouse_is_left_to_the_stage_deadlines() -> None:
    erp = erp_orders(("a", "SO-30", "releasable", "ORDERED", OLD))
    ledger = ledger_orders(("a", "SO-30", "released", "SO-30"))
    assert orders(erp, ledger, wms_orders(("SO-30", "Picking"))) == {}


def test_the_audit_without_a_ledger_names_limbo_and_unknown_orders_only() -> None:
    erp = erp_orders(("a", "SO-1", "releasable", "ORDERED", OLD), ("b", "SO-2", "releasable", "ORDERED", RECENT),
                     ("c", "SO-3", "done", "SHIPPED", OLD))
    found = orders(erp, ledger_orders(), wms_orders(("SO-3", "Despatched"), ("X-1", "Allocated")))
    assert found == {"SO-1": "limbo", "X-1": "unknown_in_erp"}


def test_a_peoplevox_order_row_without_its_number_is_an_error_not_a_missing_order() -> None:
    with pytest.raises(FindingsInputError, match="Peoplevox Sales orders: 1 row.*without SalesOrderNumber"):
        compare_orders(erp_orders(), ledger_orders(), wms_orders(("SO-1", "New"), ("", "New")), now=NOW,
                       limbo_hours=48)
    with pytest.raises(FindingsInputError, match="column\\(s\\) Status missing"):
        compare_orders(erp_orders(), ledger_orders(), pd.DataFrame({"SalesOrderNumber": ["SO-1"]}), now=NOW,
                       limbo_hours=48)


def return_lines(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["return_code", "item_code", "sales_order", "quantity", "sellable", "state",
                                       "returned_at", "ra_number", "sku"])


def test_returns_not_restocked_past_the_deadline_and_credited_before_stock_in() -> None:
    lines = return_lines(("R1", "BOOT", "SO-1", 2, True, "waiting", OLD, None, "BOOT"),
                         ("R2", "BAG", "SO-2", 1, True, "waiting", RECENT, None, "BAG"),
                         ("R3", "HAT", "SO-3", 1, False, "closed", OLD, None, "HAT"),
                         ("R4", "CAP", "SO-4", 1, True, "restocked", OLD, None, "CAP"),
                         ("R5", "TOP", "SO-5", 1, True, "held", OLD, None, "TOP"))  # its own exception says why
    credits = pd.DataFrame({"order_number": ["SO-2", "SO-4"], "credit_note": ["CR-1", "CR-2"]})
    found = compare_returns(lines, erp_kind="cin7core", now=NOW, deadline_hours=24, credits=credits)
    assert dict(zip(found["key"], found["kind"], strict=True)) == {"R1|BOOT": "return_not_restocked",
                                                                    "R2": "credit_before_stock_in"}
    assert set(found["exception_type"]) == {"return_not_restocked", "credit_before_stock_in"}


def test_bluecherry_a_return_received_in_peoplevox_but_not_booked() -> None:
    lines = return_lines(("R1", "S-1", "1001", 2, True, "held", OLD, None, "S-1"),
                         ("R2", "S-2", "1002", 2, True, "received", OLD, "RA-2", "S-2"),
                         ("R3", "S-3", "1003", 1, True, "received", OLD, "RA-3", "S-3"))
    ras = pd.DataFrame({"ra_number": ["RA-2", "RA-3"], "sku": ["S-2", "S-3"], "received": [0, 1]})
    found = compare_returns(lines, erp_kind="bluecherry", now=NOW, deadline_hours=24, ras=ras)
    assert dict(zip(found["key"], found["kind"], strict=True)) == {"R1|S-1": "return_not_restocked",
                                                                    "R2|S-2": "return_not_booked"}


def erp_items(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["sku", "item_code", "name", "barcode", "active"])


def wms_items(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ItemCode", "Name", "Barcode"])


def test_items_on_one_side_only_and_drift_but_whitespace_is_not_drift() -> None:
    erp = erp_items(("TEE-M", "TEE-M", "Tee  Medium ", "111", True), ("NEW-1", "NEW-1", "New", "", True),
                    ("CAP", "CAP", "Cap", "222", True), ("BAG", "BAG", "Bag", "333", True),
                    ("OLD", "OLD", "Old", "", False), ("MAPPED", "PV-MAPPED", "Mapped", "", True))
    wms = wms_items(("tee-m", "Tee Medium", "111"), ("CAP", "Baseball cap", "222"), ("BAG", "Bag", "334"),
                    ("OLD", "Old thing", ""), ("HAND-1", "Made by hand", ""), ("PV-MAPPED", "Mapped", ""))
    found = compare_items(erp, wms)
    assert sorted(zip(found["kind"], found["key"], strict=True)) == [
        ("barcode_drift", "BAG"), ("erp_only", "NEW-1"), ("name_drift", "CAP"), ("wms_only", "HAND-1")]
    drift = found[found["kind"] == "name_drift"].iloc[0]
    assert (drift["erp_value"], drift["wms_value"], drift["exception_type"]) == ("Cap", "Baseball cap", "item_drift")
    assert kind_counts(found) == {"erp_only": 1, "wms_only": 1, "name_drift": 1, "barcode_drift": 1}


def test_items_item_sync_has_not_written_yet_are_on_their_way_not_differences() -> None:
    """Right after start-up (item sync never finished a window) no ERP item is missing or drifting yet; later only
    those changed in the ERP before the end of item sync's last window are judged."""
    erp = erp_items(("NEW-1", "NEW-1", "New", "", True), ("CAP", "CAP", "Cap", "", True),
                    ("OLDER", "OLDER", "Older", "", True), ("UNDATED", "UNDATED", "Undated", "", True))
    erp["modified_at"] = [RECENT, RECENT, OLD, None]
    wms = wms_items(("CAP", "Baseball cap", ""), ("HAND-1", "Made by hand", ""))
    erp["due"] = item_sync_due(erp["modified_at"], None)
    assert sorted(zip(compare_items(erp, wms)["kind"], compare_items(erp, wms)["key"], strict=True)) == [
        ("wms_only", "HAND-1")]
    erp["due"] = item_sync_due(erp["modified_at"], (NOW - timedelta(hours=1)).replace(tzinfo=None))
    found = compare_items(erp, wms)
    assert sorted(zip(found["kind"], found["key"], strict=True)) == [
        ("erp_only", "OLDER"), ("erp_only", "UNDATED"), ("wms_only", "HAND-1")]
    erp["due"] = item_sync_due(erp["modified_at"], NOW)  # an aware watermark compares in UTC
    assert kind_counts(compare_items(erp, wms)) == {"erp_only": 3, "name_drift": 1, "wms_only": 1}


def test_a_peoplevox_item_without_its_code_is_an_error() -> None:
    with pytest.raises(FindingsInputError, match="Peoplevox Item types: 1 row"):
        compare_items(erp_items(("A", "A", "A", "", True)), wms_items(("A", "A", ""), (None, "B", "")))


def test_location_mapping_coverage() -> None:
    found = compare_locations(["Main Warehouse", "Pop-up Store", "returns bay"],
                              {"Main Warehouse": "MAIN", "Returns Bay": "RETURNS", "Outlet": "OUTLET"},
                              ["MAIN", "RETURNS", "OVERFLOW"])
    assert sorted(zip(found["kind"], found["key"], strict=True)) == [
        ("mapped_site_missing", "Outlet"), ("site_not_mapped", "OVERFLOW"), ("unmapped_location", "Pop-up Store")]
    assert found.loc[found["kind"] == "site_not_mapped", "exception_type"].tolist() == [None]
