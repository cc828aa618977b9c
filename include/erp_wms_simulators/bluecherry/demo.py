"""Demo company for the BlueCherry simulator: the brand "Bluebird Apparel".

Two warehouses and 8 styles (59 SKUs), deterministic, all updated at one fixed time a few hours before
the state's clock, with stock of every active SKU in both warehouses (``demo_on_hand``). Some data is
wrong on purpose, for the data checks:

- ``EMPTY_DESCRIPTION_SKU`` has an empty description;
- ``SHARED_UPC_SKUS`` carry the same UPC;
- ``INACTIVE_STYLE`` (and so each of its SKUs) is INACTIVE.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from erp_wms_simulators.common import whole_hours_before

if TYPE_CHECKING:
    from erp_wms_simulators.bluecherry.state import BlueCherryState

DEMO_SUBSCRIPTION_KEY = "5c0e7b2a9d1f4c38b6e2a47f90d3c815"

BRAND = "Bluebird Apparel"
WAREHOUSES = (("NJ01", "Secaucus Distribution Center", "Secaucus", "NJ"),
              ("CA02", "Ontario West DC", "Ontario", "CA"))
EMPTY_DESCRIPTION_SKU = "10005-RED-L"
SHARED_UPC_SKUS = ("10003-KHK-36", "10003-OLV-36")
INACTIVE_STYLE = "10008"
HOURS_BEFORE_NOW = 3

TOPS = ("S", "M", "L", "XL")
# (style, name, colours, sizes, division, season, price, weight lb)
STYLES: tuple[tuple[str, str, tuple[tuple[str, str], ...], tuple[str, ...], str, str, float, float], ...] = (
    ("10001", "Harbor Tee", (("BLK", "Black"), ("WHT", "White")), TOPS, "01", "SP25", 28.0, 0.4),
    ("10002", "Coastline Hoodie", (("NAV", "Navy"), ("HGR", "Heather Grey")), TOPS, "01", "FA25", 68.0, 1.2),
    ("10003", "Drift Chino", (("KHK", "Khaki"), ("OLV", "Olive")), ("30", "32", "34", "36"), "01", "SP25",
     74.0, 1.1),
    ("10004", "Tidewater Dress", (("BLU", "Ocean Blue"), ("CRL", "Coral")), ("XS", "S", "M", "L"), "02", "SP25",
     96.0, 0.8),
    ("10005", "Pier Polo", (("WHT", "White"), ("NAV", "Navy"), ("RED", "Red")), ("S", "M", "L"), "01", "SP25",
     48.0, 0.5),
    ("10006", "Gull Cap", (("BLK", "Black"), ("KHK", "Khaki")), ("OS",), "03", "SP25", 24.0, 0.2),
    ("10007", "Marina Jacket", (("OLV", "Olive"), ("BLK", "Black")), TOPS, "01", "FA25", 148.0, 2.0),
    (INACTIVE_STYLE, "Lagoon Swim Short", (("BLU", "Ocean Blue"), ("RED", "Red")), TOPS, "01", "SP24",
     38.0, 0.4),
)


def demo_on_hand(index: int, warehouse: str, status: str) -> int:
    """The demo on-hand of the ``index``-th SKU (in SKU order): 5-44 in NJ01, 0-19 in CA02, 0 if inactive."""
    if status != "ACTIVE":
        return 0
    return 5 + (index * 7) % 40 if warehouse == WAREHOUSES[0][0] else (index * 3) % 20


def demo_updated_time(state: BlueCherryState) -> datetime:
    """The fixed updatedAt of the demo data: whole hour, a few hours before the state's clock."""
    return whole_hours_before(state.clock(), HOURS_BEFORE_NOW)


def seed_demo(state: BlueCherryState, updated_at: datetime | None = None) -> None:
    """Fill ``state`` with the Bluebird Apparel demo company (the state should be empty)."""
    updated = updated_at or demo_updated_time(state)
    state.company = BRAND
    for code, name, city, region in WAREHOUSES:
        state.add_warehouse(code, name, city=city, region=region)
    for style, name, colors, sizes, division, season, price, weight in STYLES:
        status = "INACTIVE" if style == INACTIVE_STYLE else "ACTIVE"
        state.add_style(style, name, colors, sizes, division=division, season=season, status=status,
                        price=price, weight=weight, updated_at=updated)
    rows = {row["sku"]: row for row in state.skus()}
    for index, (sku, row) in enumerate(sorted(rows.items())):
        for code, *_ in WAREHOUSES:
            state.set_stock(sku, code, on_hand=demo_on_hand(index, code, row["status"]), updated_at=updated)
    rows[EMPTY_DESCRIPTION_SKU]["description"] = ""
    first, second = SHARED_UPC_SKUS
    rows[second]["upc"] = rows[first]["upc"]
