"""Cin7 Core for a scenario over HTTP: products, locations and sales through the simulator's ``/_sim/`` admin
routes (no rate limit), and through the public API (demo credentials) only what the admin routes do not
offer: the opening stock (one ``POST /stockadjustment`` for the whole catalogue), a sale's detail and
re-authorising an amended order (``POST /sale/order``), a handful of calls a day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from erp_wms_simulators.common import stable_guid
from erp_wms_simulators.scenario.brands import Brand
from erp_wms_simulators.scenario.catalogue import Catalogue, Sku, Style
from erp_wms_simulators.scenario.erps import LAUNCH_STOCK, ErpOrder
from erp_wms_simulators.scenario.plan import OrderSpec
from erp_wms_simulators.scenario.remote import Http, path_part

API_SUFFIX = "/ExternalApi/v2"


class RemoteCin7:
    """A running Cin7 Core simulator (``root`` = host root; ``credentials`` as ``up --write-json`` lists them)."""

    def __init__(self, root: str, brand: Brand, credentials: Mapping[str, Any]) -> None:
        self.admin = Http(root)
        self.api = Http(root + API_SUFFIX, {"api-auth-accountid": str(credentials.get("account_id", "")),
                                            "api-auth-applicationkey": str(credentials.get("application_key", ""))})
        self.brand = brand
        self.prefix = f"{brand.key.upper()[:3]}-WEB-"

    def seed(self, catalogue: Catalogue) -> dict[str, int]:
        known = {name.casefold() for name in self.admin.get("/_sim/state")["locations"]}
        for location in self.brand.locations:
            if location.erp.casefold() not in known:
                self.admin.post("/_sim/locations", {"Name": location.erp})
        self.admin.post("/_sim/products", [_product(sku, self.brand) for sku in catalogue.skus])
        levels = {key: qty for key, qty in catalogue.stock.items() if qty}
        self._adjust(levels)
        return {"products": len(catalogue.skus), "stock_rows": len(levels)}

    def _adjust(self, levels: Mapping[tuple[str, str], int]) -> None:
        if levels:
            self.api.post("/stockadjustment", {
                "EffectiveDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "Status": "COMPLETED",
                "UpdateOnHand": True, "Reference": "Scenario opening stock",
                "Lines": [{"SKU": sku, "Location": place, "Quantity": qty} for (sku, place), qty in levels.items()]})

    def launch(self, style: Style, skus: Sequence[Sku]) -> bool:
        known = {row["SKU"] for row in self.admin.get("/_sim/products")}
        new = [sku for sku in skus if sku.code not in known]
        if new:
            self.admin.post("/_sim/products", [_product(sku, self.brand) for sku in new])
            self._adjust({(sku.code, loc.erp): LAUNCH_STOCK for sku in new for loc in self.brand.mapped})
        return bool(new)

    def create_order(self, spec: OrderSpec, at: datetime) -> str:
        address = spec.address()
        sale = self.admin.post("/_sim/sales", {
            "Customer": spec.customer, "Location": spec.location, "ExternalID": spec.reference,
            "CustomerReference": spec.reference, "Email": address["email"], "Contact": address["name"],
            "SaleOrderDate": at.isoformat(), "Lines": [{"SKU": sku, "Quantity": qty} for sku, qty in spec.lines],
            "ShippingAddress": {"Line1": address["address1"], "Line2": address["address2"], "City": address["city"],
                                "State": address["state"], "Postcode": address["zip"],
                                "Country": address["country"]}})
        return str(sale["ID"])

    def orders(self) -> list[ErpOrder]:
        names = {loc["ID"]: loc["Name"] for loc in self.api.get("/ref/location", Limit=1000).get("LocationList", [])}
        return [_row_view(row, names) for row in self.admin.get("/_sim/sales")
                if str(row.get("CustomerReference", "")).startswith(self.prefix)]

    def order(self, key: str) -> ErpOrder:
        sale = self.api.get("/sale", ID=key)
        order = sale.get("Order") or {}
        lines: dict[str, int] = {}
        for line in order.get("Lines") or []:
            lines[line["SKU"]] = lines.get(line["SKU"], 0) + int(line["Quantity"])
        shipping = str(sale.get("CombinedShippingStatus", ""))
        status = str(sale.get("Status", ""))
        return ErpOrder(str(sale["ID"]), str(order.get("SaleOrderNumber") or sale["ID"]), status,
                        order.get("Status") == "AUTHORISED" and status != "VOIDED", status == "VOIDED",
                        "full" if shipping == "SHIPPED" else "partial" if shipping == "PARTIALLY SHIPPED" else "",
                        str(sale.get("Location", "")), lines, {}, {"updated": str(sale.get("LastModifiedOn", ""))})

    def amend(self, key: str, lines: Mapping[str, int]) -> None:
        """Undo the authorised order, then authorise it again with the new lines."""
        self.admin.post(f"/_sim/sales/{path_part(key)}/undo")
        self.api.post("/sale/order", {"SaleID": key, "Status": "AUTHORISED",
                                      "Lines": [{"SKU": sku, "Quantity": qty} for sku, qty in lines.items() if qty]})

    def cancel(self, key: str) -> None:
        self.admin.post(f"/_sim/sales/{path_part(key)}/void")

    def authorise_return(self, key: str, sku: str, qty: int, condition: str) -> str | None:
        return None  # Cin7 Core returns start in the warehouse: its goods-received is the only trigger

    def stock_levels(self, codes: Sequence[str], location: str) -> dict[str, int]:
        rows: dict[str, int] = {}
        for row in self.admin.get("/_sim/availability"):
            if str(row.get("Location", "")).casefold() == location.casefold():
                rows[row["SKU"]] = rows.get(row["SKU"], 0) + int(row.get("OnHand") or 0)
        return {code: rows.get(code, 0) for code in codes}

    def dump(self) -> dict[str, Any]:
        return {"products": sorted(self.admin.get("/_sim/products"), key=lambda p: str(p["SKU"])),
                "sales": self.admin.get("/_sim/sales"),
                "stock": sorted(self.admin.get("/_sim/availability"),
                                key=lambda r: (str(r["SKU"]), str(r["Location"]), str(r.get("Batch") or "")))}


def _product(sku: Sku, brand: Brand) -> dict[str, Any]:
    return {"ID": stable_guid("cin7core", "product", sku.code), "SKU": sku.code, "Name": sku.name,
            "Category": sku.category, "Brand": "Northwind Outfitters", "Type": "Stock", "CostingMethod": "FIFO",
            "UOM": "Item", "Status": "Active", "DefaultLocation": brand.mapped[0].erp, "Weight": sku.weight,
            "WeightUnits": "kg", "Barcode": sku.barcode, "PriceTier1": sku.price, "ShortDescription": sku.name,
            "Description": sku.name}


def _row_view(row: Mapping[str, Any], names: Mapping[str, str]) -> ErpOrder:
    status = str(row["Status"])
    shipping = str(row.get("CombinedShippingStatus", ""))
    return ErpOrder(str(row["SaleID"]), str(row["OrderNumber"]), status,
                    row.get("OrderStatus") == "AUTHORISED" and status != "VOIDED", status == "VOIDED",
                    "full" if shipping == "SHIPPED" else "partial" if shipping == "PARTIALLY SHIPPED" else "",
                    names.get(str(row.get("OrderLocationID")), ""), detail={"updated": str(row.get("Updated", ""))})
