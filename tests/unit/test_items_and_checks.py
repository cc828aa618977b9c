"""Item rules (mapping to Peoplevox rows, content hash) and the Great Expectations runner."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from erp_wms_sync.checks.runner import run_checks
from erp_wms_sync.checks.suites import item_master_checks
from erp_wms_sync.connectors.bluecherry import BlueCherrySku
from erp_wms_sync.connectors.cin7core import Cin7Product
from erp_wms_sync.domain.items import content_hash, item_from_bluecherry, item_from_cin7, to_wms_row

WHEN = datetime(2026, 11, 22, 8, tzinfo=UTC)


def cin7(**over) -> Cin7Product:
    base = dict(id="g-1", sku="NWO-TEE-M", name="  Organic  Tee M ", barcode="5012345000017", category="Tops",
                brand="Northwind", uom="Item", status="Active", description="Long text", short_description="Tee",
                weight=0.25, price=19.5, last_modified=WHEN, raw={"SKU": "NWO-TEE-M"})
    base.update(over)
    return Cin7Product(**base)  # type: ignore[arg-type]


def test_cin7_product_maps_to_an_item_types_row() -> None:
    row = to_wms_row(item_from_cin7(cin7()))
    assert row["ItemCode"] == "NWO-TEE-M" and row["Name"] == "Organic Tee M"  # whitespace normalised
    assert row["Barcode"] == "5012345000017" and row["ItemGroup"] == "Tops" and row["Description"] == "Tee"
    assert row["RetailPrice"] == "19.5" and row["Weight"] == "0.25" and row["Attribute1"] == "Northwind"


@pytest.mark.parametrize("status, active", [("Active", True), ("Deprecated", False), ("deprecated", False)])
def test_deprecated_products_are_inactive(status: str, active: bool) -> None:
    assert item_from_cin7(cin7(status=status)).active is active


def test_bluecherry_sku_maps_style_colour_size() -> None:
    sku = BlueCherrySku(sku="10001-NVY-M", style="10001", color="NVY", color_name="Navy", size="M",
                        upc="012345678905", description="Oxford Shirt", division="01", season="SP25",
                        status="ACTIVE", price=49.0, weight=0.4, updated_at=WHEN, raw={})
    row = to_wms_row(item_from_bluecherry(sku))
    assert (row["ItemCode"], row["Barcode"], row["ItemGroup"]) == ("10001-NVY-M", "012345678905", "10001")
    assert (row["Attribute2"], row["Attribute3"], row["Attribute4"]) == ("SP25", "Navy", "M")
    assert row["Description"] == "Oxford Shirt Navy M"


def test_content_hash_changes_with_any_sent_field_only() -> None:
    base = to_wms_row(item_from_cin7(cin7()))
    assert content_hash(base) == content_hash(to_wms_row(item_from_cin7(cin7(raw={"other": 1}))))
    assert content_hash(base) != content_hash(to_wms_row(item_from_cin7(cin7(name="Organic Tee M v2"))))


def test_suite_names_each_failing_row_and_reason() -> None:
    frame = pd.DataFrame([
        {"ItemCode": "OK-1", "Name": "fine", "Barcode": "111"},
        {"ItemCode": "X" * 41, "Name": "too long", "Barcode": None},
        {"ItemCode": "DUP", "Name": "a", "Barcode": "222"},
        {"ItemCode": "DUP", "Name": None, "Barcode": "222"},
        {"ItemCode": None, "Name": "no sku", "Barcode": None},
    ])
    outcome = run_checks("item_master", frame, item_master_checks(40))
    assert not outcome.success and outcome.evaluated == 5
    assert 0 not in outcome.failures
    assert "longer than Peoplevox's ItemCode limit of 40" in outcome.failures[1][0]
    assert {"SKU appears more than once", "barcode is shared with another item"} <= set(outcome.failures[2])
    assert "item name is missing" in outcome.failures[3]
    assert "SKU is missing" in outcome.failures[4]
    assert {r["expectation"] for r in outcome.summary["results"] if not r["success"]} == {
        "ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeUnique", "ExpectColumnValueLengthsToBeBetween"}


def test_suite_passes_clean_data_and_empty_frames() -> None:
    clean = pd.DataFrame([{"ItemCode": "A", "Name": "a", "Barcode": None}, {"ItemCode": "B", "Name": "b",
                                                                            "Barcode": None}])
    assert run_checks("item_master", clean, item_master_checks(40)).success
    empty = run_checks("item_master", pd.DataFrame(columns=["ItemCode", "Name", "Barcode"]), item_master_checks(40))
    assert empty.success and empty.evaluated == 0


def test_the_itemcode_is_the_mapped_sku_and_the_hash_follows_it() -> None:
    item = item_from_cin7(cin7())
    mapped = to_wms_row(item, lambda sku: {"NWO-TEE-M": "PV-0001"}.get(sku, sku))
    assert mapped["ItemCode"] == "PV-0001" and to_wms_row(item)["ItemCode"] == "NWO-TEE-M"
    assert content_hash(mapped) != content_hash(to_wms_row(item)), "a new mapping re-sends the item"
