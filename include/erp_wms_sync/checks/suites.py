"""The Great Expectations suites of each flow, built in code.

Each function returns the checks of one suite; column names are those of the WMS rows the flow sends, so the
check validates exactly what Peoplevox will receive.
"""

from __future__ import annotations

from erp_wms_sync.checks.runner import Check


def item_master_checks(item_code_max_length: int) -> list[Check]:
    """Item types bound for Peoplevox: SKU present and unique, ItemCode within the WMS limit, barcode unique
    where present, name present."""
    return [
        Check("ExpectColumnValuesToNotBeNull", {"column": "ItemCode"}, "SKU is missing"),
        Check("ExpectColumnValuesToBeUnique", {"column": "ItemCode"}, "SKU appears more than once"),
        Check("ExpectColumnValueLengthsToBeBetween",
              {"column": "ItemCode", "min_value": 1, "max_value": item_code_max_length},
              f"SKU is longer than Peoplevox's ItemCode limit of {item_code_max_length} characters"),
        Check("ExpectColumnValuesToBeUnique", {"column": "Barcode"},
              "barcode is shared with another item"),
        Check("ExpectColumnValuesToNotBeNull", {"column": "Name"}, "item name is missing"),
    ]
