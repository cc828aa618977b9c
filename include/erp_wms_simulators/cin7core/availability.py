"""``GET /ref/productavailability`` of the Cin7 Core simulator: rows, filters and order.

One row per product × location × batch with ``OnHand``, ``Allocated``, ``Available`` (= OnHand − Allocated),
``OnOrder``, ``StockOnHand`` (the stock's *value*) and ``InTransit``. A stock product that never had stock
shows one zero row at its default location (setting ``availability_zero_rows``). Filters: ``ID`` (product
ID), ``Name`` and ``Sku`` (start of the text, any case), ``Location`` (name, any case), ``Batch``,
``Category``. Rows are ordered by SKU, location and batch, so pages never overlap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from erp_wms_simulators.cin7core.stock import StockRow

if TYPE_CHECKING:
    from erp_wms_simulators.cin7core.state import Cin7CoreState


def render_row(row: StockRow, product: Mapping[str, Any], location: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ID": product["ID"], "SKU": product["SKU"], "Name": product["Name"], "Barcode": product.get("Barcode") or "",
        "Location": location["Name"], "Bin": None, "Batch": row.batch or None, "ExpiryDate": row.expiry or None,
        "Category": product.get("Category") or "", "OnHand": row.on_hand, "Allocated": row.allocated,
        "Available": round(row.available, 4), "OnOrder": row.on_order, "StockOnHand": row.value,
        "InTransit": row.in_transit,
    }


def all_rows(state: Cin7CoreState) -> list[dict[str, Any]]:
    """Every availability row (zero rows included per the setting), in the API's order."""
    with state.lock:
        rows = [render_row(r, state.products[r.product_id], state.locations[r.location_id])
                for r in state.stock.rows.values() if r.product_id in state.products and
                r.location_id in state.locations]
        if state.settings.availability_zero_rows:
            rows += _zero_rows(state)
    return sorted(rows, key=_order)


def rows_for(state: Cin7CoreState, pairs: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """The rows of the given (product ID, location ID) pairs (for the stock webhook)."""
    with state.lock:
        rows = [render_row(row, state.products[pid], state.locations[lid]) for pid, lid in pairs
                if pid in state.products and lid in state.locations for row in state.stock.rows_of(pid, lid)]
    return sorted(rows, key=_order)


def _zero_rows(state: Cin7CoreState) -> list[dict[str, Any]]:
    default = next((loc for loc in state.locations.values() if loc["IsDefault"]), None)
    by_name = {loc["Name"].casefold(): loc for loc in state.locations.values()}
    rows: list[dict[str, Any]] = []
    for product in state.products.values():
        if product.get("Type") != "Stock" or product.get("Status") == "Deprecated":
            continue
        if state.stock.has_stock_record(product["ID"]):
            continue
        location = by_name.get(str(product.get("DefaultLocation") or "").casefold()) or default
        if location is not None:
            rows.append(render_row(StockRow(product["ID"], location["ID"]), product, location))
    return rows


def _order(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (str(row["SKU"]).casefold(), str(row["Location"]).casefold(), str(row["Batch"] or ""), str(row["ID"]))


@dataclass(frozen=True)
class AvailabilityQuery:
    """The filters of ``GET /ref/productavailability``."""

    product_id: str = ""
    name: str = ""
    sku: str = ""
    location: str = ""
    batch: str = ""
    category: str = ""

    def select(self, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [dict(row) for row in rows if self._matches(row)]

    def _matches(self, row: Mapping[str, Any]) -> bool:
        checks = (
            not self.product_id or str(row["ID"]).lower() == self.product_id.lower(),
            not self.name or str(row["Name"]).casefold().startswith(self.name.casefold()),
            not self.sku or str(row["SKU"]).casefold().startswith(self.sku.casefold()),
            not self.location or str(row["Location"]).casefold() == self.location.strip().casefold(),
            not self.batch or str(row["Batch"] or "") == self.batch,
            not self.category or str(row["Category"]).casefold() == self.category.casefold(),
        )
        return all(checks)
