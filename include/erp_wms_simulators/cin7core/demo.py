"""Demo tenant for the Cin7 Core simulator: the brand "Northwind Outfitters".

Two locations and 40 products, all deterministic (stable GUIDs, computed EAN-13 barcodes) and all last
modified at one fixed time a few hours before the state's clock. A few products are wrong on purpose,
so the data checks have something to catch:

- ``LONG_SKU`` is 45 characters, over the Peoplevox ItemCode limit of 40 (Cin7 allows 50);
- ``DUPLICATE_BARCODE_SKUS`` share one barcode;
- ``BLANK_NAME_SKU`` has a whitespace-only name (set directly in state; the API would refuse it);
- ``DEPRECATED_SKU`` has status Deprecated.

Every product carries the vendor's full field set with plausible values (carton, reorder levels, price
tiers, accounts and tax rules, customs data) and one supplier. The tenant also has the carriers of
:data:`CARRIERS`, three customers (:data:`CUSTOMERS`) and opening stock at the main warehouse for every
active product (:func:`opening_stock`: a fixed quantity and a unit cost of 45 % of the price); nothing is
allocated and no sale exists yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from erp_wms_simulators.cin7core.stock import MoveRef
from erp_wms_simulators.common import stable_guid, whole_hours_before

if TYPE_CHECKING:
    from erp_wms_simulators.cin7core.state import Cin7CoreState

DEMO_ACCOUNT_ID = "3f1c9a52-6d1e-4a7b-9c2e-5b8d0f4e7a11"
DEMO_APPLICATION_KEY = "a7d4e2c9-1b3f-4e6a-8d5c-9f0b2e4c6a83"

BRAND = "Northwind Outfitters"
MAIN_WAREHOUSE = "Main Warehouse"
RETURNS_BAY = "Returns Bay"
LONG_SKU = "NWO-EXPEDITION-PACK-65L-FORESTGREEN-LONGTORSO"
DUPLICATE_BARCODE_SKUS = ("NWO-BTL-500", "NWO-BTL-750")
BLANK_NAME_SKU = "NWO-GAITER-M"
DEPRECATED_SKU = "NWO-TEE-2019"
HOURS_BEFORE_NOW = 3
COST_RATIO = 0.45
# (name, contact, email)
CUSTOMERS: tuple[tuple[str, str, str], ...] = (
    ("Trailhead Outdoor Co", "Dana Reyes", "orders@trailhead-outdoor.example"),
    ("Summit Sports", "Lee Okafor", "buying@summit-sports.example"),
    ("Riverbend Adventure Store", "Sam Patel", "shop@riverbend-adventure.example"),
)

CARRIERS = ("Royal Mail", "DHL Express", "DPD", "Parcelforce", "Customer Collect")
SUPPLIER = ("Cascade Mills Ltd", "GBP")
ORIGIN = {"Apparel": ("Portugal", "6109.10"), "Footwear": ("Portugal", "6403.91"), "Packs": ("Vietnam", "4202.92"),
          "Camping": ("China", "6306.22"), "Accessories": ("China", "7323.93")}

# (SKU prefix, name pattern, category, UOM, price, weight kg, variants)
FAMILIES: tuple[tuple[str, str, str, str, float, float, tuple[str, ...]], ...] = (
    ("NWO-TEE", "Trailhead Tee - {v}", "Apparel", "Item", 24.0, 0.2, ("S", "M", "L", "XL", "XXL")),
    ("NWO-FLC", "Ridgeline Fleece - {v}", "Apparel", "Item", 79.0, 0.5, ("S", "M", "L", "XL", "XXL")),
    ("NWO-BOOT", "Summit Hiking Boot - US {v}", "Footwear", "Pair", 149.0, 1.3, ("8", "9", "10", "11", "12")),
    ("NWO-SOCK", "Merino Trail Sock - {v}", "Footwear", "Pair", 18.0, 0.1, ("S", "M", "L")),
    ("NWO-PACK", "Daybreak Pack {v}", "Packs", "Item", 89.0, 0.9, ("18L", "28L", "40L")),
    ("NWO-TENT", "Basecamp Tent {v}", "Camping", "Item", 249.0, 2.4, ("1P", "2P", "3P")),
    ("NWO-BAG", "Northstar Sleeping Bag {v}", "Camping", "Item", 189.0, 1.1, ("REG", "LONG")),
    ("NWO-BTL", "Alpine Bottle {v} ml", "Accessories", "Item", 22.0, 0.3, ("500", "750", "1000")),
    ("NWO-CAP", "Canyon Cap - {v}", "Accessories", "Item", 26.0, 0.1, ("BLK", "OLV", "TAN")),
    ("NWO-LAMP", "Headlamp {v} lm", "Accessories", "Item", 39.0, 0.1, ("200", "400")),
    ("NWO-GLOVE", "Summit Glove - {v}", "Accessories", "Pair", 34.0, 0.2, ("M", "L")),
    ("NWO-STOVE", "Trail Stove {v}", "Camping", "Item", 59.0, 0.4, ("ONE",)),
)
ODD_PRODUCTS: tuple[tuple[str, str, str, str, float, float, str], ...] = (
    (LONG_SKU, "Expedition Pack 65L Forest Green Long Torso", "Packs", "Item", 279.0, 2.1, "Active"),
    (BLANK_NAME_SKU, "   ", "Accessories", "Item", 29.0, 0.2, "Active"),
    (DEPRECATED_SKU, "Trailhead Tee (2019 cut)", "Apparel", "Item", 19.0, 0.2, "Deprecated"),
)


def ean13(number: int, prefix: str = "501234") -> str:
    """A valid EAN-13 built from ``prefix`` and ``number`` (with its check digit)."""
    body = f"{prefix}{number:06d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def demo_products() -> list[dict[str, Any]]:
    """The 40 demo products (without LastModifiedOn), in a fixed order."""
    rows: list[dict[str, Any]] = []
    for prefix, pattern, category, uom, price, weight, variants in FAMILIES:
        for variant in variants:
            rows.append(_product(f"{prefix}-{variant}", pattern.format(v=variant), category, uom, price, weight))
    for sku, name, category, uom, price, weight, status in ODD_PRODUCTS:
        rows.append(_product(sku, name, category, uom, price, weight, status))
    for index, row in enumerate(rows, start=1):
        row["Barcode"] = ean13(index)
    by_sku = {row["SKU"]: row for row in rows}
    first, second = DUPLICATE_BARCODE_SKUS
    by_sku[second]["Barcode"] = by_sku[first]["Barcode"]
    return rows


def _product(sku: str, name: str, category: str, uom: str, price: float, weight: float,
             status: str = "Active") -> dict[str, Any]:
    label = name.strip() or sku
    return {
        "ID": stable_guid("cin7core", "product", sku), "SKU": sku, "Name": name, "Category": category,
        "Brand": BRAND, "Type": "Stock", "CostingMethod": "FIFO", "UOM": uom, "Status": status,
        "DefaultLocation": MAIN_WAREHOUSE, "Weight": weight, "WeightUnits": "kg",
        "Length": 30.0, "Width": 20.0, "Height": 10.0, "DimensionsUnits": "cm", "PriceTier1": price,
        "ShortDescription": label, "Description": f"{label} by {BRAND}.", "Tags": category.lower(),
        "AdditionalAttribute1": category, **_extended(sku, category, price),
    }


def _extended(sku: str, category: str, price: float) -> dict[str, Any]:
    """The rest of the documented product fields, with plausible values derived from the product."""
    country, hs_code = ORIGIN.get(category, ("China", ""))
    per_carton = 6.0 if price > 100 else 24.0
    supplier_id = stable_guid("cin7core", "supplier", SUPPLIER[0])
    location_id = stable_guid("cin7core", "location", MAIN_WAREHOUSE)
    return {
        "CartonLength": 60.0, "CartonWidth": 40.0, "CartonHeight": 40.0, "CartonQuantity": per_carton,
        "CartonInnerQuantity": per_carton / 2, "MinimumBeforeReorder": 5.0, "ReorderQuantity": per_carton * 2,
        **{f"PriceTier{i}": round(price * (1 - 0.05 * (i - 1)), 2) for i in range(2, 5)},
        "AverageCost": round(price * COST_RATIO, 2), "InternalNote": "", "AttributeSet": "",
        "StockLocator": "A-01", "COGSAccount": "500", "RevenueAccount": "200", "ExpenseAccount": "",
        "InventoryAccount": "630", "PurchaseTaxRule": "Tax on Purchases", "SaleTaxRule": "Tax on Sales",
        "PickZones": "A", "HSCode": hs_code, "CountryOfOrigin": country,
        "Suppliers": [{"SupplierID": supplier_id, "SupplierName": SUPPLIER[0],
                       "ProductSupplierID": stable_guid("cin7core", "product-supplier", sku),
                       "SupplierInventoryCode": f"CM-{sku}", "SupplierProductName": "",
                       "Cost": round(price * COST_RATIO, 2), "FixedCost": 0.0, "Currency": SUPPLIER[1],
                       "DropShip": False, "URL": "", "LastSupplied": None}],
        "ReorderLevels": [{"LocationID": location_id, "LocationName": MAIN_WAREHOUSE,
                           "MinimumBeforeReorder": 5.0, "ReorderQuantity": per_carton * 2,
                           "StockLocator": "A-01", "PickZones": "A"}],
    }


def demo_modified_time(state: Cin7CoreState) -> datetime:
    """The fixed LastModifiedOn of the demo data: whole hour, a few hours before the state's clock."""
    return whole_hours_before(state.clock(), HOURS_BEFORE_NOW)


def seed_demo(state: Cin7CoreState, modified_at: datetime | None = None) -> None:
    """Fill ``state`` with the Northwind Outfitters demo tenant (the state should be empty)."""
    modified = modified_at or demo_modified_time(state)
    state.company = BRAND
    state.add_location(MAIN_WAREHOUSE, is_default=True, bins=("A-01-01", "A-01-02", "B-02-01", "B-02-02"),
                       location_id=stable_guid("cin7core", "location", MAIN_WAREHOUSE),
                       AddressLine1="1 Harbour Road", AddressCitySuburb="Portland",
                       AddressStateProvince="OR", AddressZipPostCode="97201", AddressCountry="United States")
    state.add_location(RETURNS_BAY, bins=("RET-01",),
                       location_id=stable_guid("cin7core", "location", RETURNS_BAY),
                       AddressLine1="1 Harbour Road", AddressCitySuburb="Portland",
                       AddressStateProvince="OR", AddressZipPostCode="97201", AddressCountry="United States")
    for row in demo_products():
        state.add_product(**row, LastModifiedOn=modified)
    for carrier in CARRIERS:
        state.add_carrier(carrier)
    for name, contact, email in CUSTOMERS:
        state.add_customer(name, Contact=contact, Email=email)
    seed_opening_stock(state)


def opening_stock() -> dict[str, tuple[float, float]]:
    """SKU -> (on-hand quantity at the main warehouse, unit cost) for every active demo product."""
    stock: dict[str, tuple[float, float]] = {}
    for index, row in enumerate(demo_products()):
        if row["Status"] == "Active":
            stock[row["SKU"]] = (float(12 + (index * 7) % 37), round(row["PriceTier1"] * COST_RATIO, 2))
    return stock


def seed_opening_stock(state: Cin7CoreState) -> None:
    """Put :func:`opening_stock` on hand (movement ``Stocktake``) without raising stock webhooks."""
    location = state.locations_by_name()[MAIN_WAREHOUSE]
    ref = MoveRef("Stocktake", "", "OPENING", state.clock())
    with state.lock:
        for sku, (quantity, unit_cost) in opening_stock().items():
            product = state.products_by_sku()[sku]
            state.stock.set_quantity(product["ID"], location["ID"], quantity, ref, unit_cost=unit_cost)
        state.stock.take_changed()
