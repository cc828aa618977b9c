"""The ERP side of a scenario, in process: one adapter per ERP simulator state with the same small surface
(seed the catalogue, launch a style, create / amend / cancel orders, authorise returns, list orders, confirm
despatches and receipts for the drill bridge, read on-hand stock, dump).

:class:`BlueCherryErp` drives a :class:`~erp_wms_simulators.bluecherry.state.BlueCherryState`,
:class:`Cin7Erp` a :class:`~erp_wms_simulators.cin7core.state.Cin7CoreState`; both use the states' own helpers,
so orders obey the same rules as the APIs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from erp_wms_simulators.cin7core import sales
from erp_wms_simulators.cin7core.stock import MoveRef
from erp_wms_simulators.common import stable_guid
from erp_wms_simulators.scenario.brands import Brand
from erp_wms_simulators.scenario.catalogue import Catalogue, Sku, Style
from erp_wms_simulators.scenario.plan import OrderSpec

BLUECHERRY_SHIPPED = ("PARTIALLY_SHIPPED", "SHIPPED", "INVOICED", "CLOSED")
LAUNCH_STOCK = 12  # on-hand of each launch SKU at every mapped location


@dataclass
class ErpOrder:
    """What the driver needs to know about one ERP order (``lines`` may be empty in a light list view)."""

    key: str  # the id API calls use (BlueCherry orderNumber, Cin7 SaleID)
    number: str  # the order number the warehouse sees
    status: str
    releasable: bool
    cancelled: bool
    ship_state: str  # "" (nothing shipped), "partial" or "full"
    location: str
    lines: dict[str, int] = field(default_factory=dict)
    shipped: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)  # header fields for copying into the warehouse

    @property
    def open(self) -> bool:
        return not self.cancelled and self.ship_state != "full"


class ErpSide(Protocol):
    brand: Brand

    def seed(self, catalogue: Catalogue) -> dict[str, int]: ...

    def launch(self, style: Style, skus: Sequence[Sku]) -> bool: ...

    def create_order(self, spec: OrderSpec, at: datetime) -> str: ...

    def orders(self) -> list[ErpOrder]: ...

    def order(self, key: str) -> ErpOrder: ...

    def amend(self, key: str, lines: Mapping[str, int]) -> None: ...

    def cancel(self, key: str) -> None: ...

    def authorise_return(self, key: str, sku: str, qty: int, condition: str) -> str | None: ...

    def stock_levels(self, codes: Sequence[str], location: str) -> dict[str, int]: ...

    def dump(self) -> dict[str, Any]: ...


class BridgeErp(ErpSide, Protocol):
    """An ERP the drill bridge can also write despatches and return receipts into."""

    def confirm_despatch(self, number: str, lines: Mapping[str, int], carrier: str, tracking: Sequence[str],
                         reference: str) -> None: ...

    def receive_return(self, ra_number: str, lines: Sequence[tuple[str, int, str]], reference: str) -> None: ...


class BlueCherryErp:
    """A BlueCherry company: styles and SKUs, warehouses, stock, orders and return authorisations."""

    def __init__(self, state: Any, brand: Brand, release_status: str = "OPEN") -> None:
        self.state = state
        self.brand = brand
        self.release_status = release_status

    def seed(self, catalogue: Catalogue) -> dict[str, int]:
        state = self.state
        for location in self.brand.locations:
            if location.erp not in state.warehouses:
                state.add_warehouse(location.erp, f"{location.erp} distribution centre", country=self.brand.country)
        for style in catalogue.styles:
            if style.code not in state.styles:
                self._add_style(style)
        for (code, place), quantity in catalogue.stock.items():
            state.set_stock(code, place, on_hand=quantity)
        return {"styles": len(catalogue.styles), "skus": len(catalogue.skus), "stock_rows": len(catalogue.stock)}

    def _add_style(self, style: Style) -> None:
        self.state.add_style(style.code, style.name, style.colors, style.sizes, division="01", season="SP26",
                             price=style.price, weight=style.weight)

    def launch(self, style: Style, skus: Sequence[Sku]) -> bool:
        if style.code in self.state.styles:
            return False
        self._add_style(style)
        for sku in skus:
            for location in self.brand.mapped:
                self.state.set_stock(sku.code, location.erp, on_hand=LAUNCH_STOCK)
        return True

    def create_order(self, spec: OrderSpec, at: datetime) -> str:
        order = self.state.create_order(spec.reference, dict(spec.lines), warehouse=spec.location,
                                        customer=spec.customer, shipTo=spec.address(), orderDate=at.isoformat())
        return str(order["orderNumber"])

    def orders(self) -> list[ErpOrder]:
        with self.state.lock:
            return [self._view(order) for order in self.state.book.orders.values()]

    def order(self, key: str) -> ErpOrder:
        with self.state.lock:
            return self._view(self.state.order(key))

    def _view(self, order: Mapping[str, Any]) -> ErpOrder:
        lines = {line["sku"]: int(line["qty"]) for line in order["lines"] if line["qty"]}
        shipped = {line["sku"]: int(line["shipped"]) for line in order["lines"] if line["shipped"]}
        status = str(order["status"])
        ship_state = ("full" if status in BLUECHERRY_SHIPPED[1:] else "partial" if status == BLUECHERRY_SHIPPED[0]
                      else "")
        detail = {"customer": order["customer"], "reference": order["customerPo"], "address": dict(order["shipTo"]),
                  "created": order["orderDate"], "prices": {line["sku"]: line["price"] for line in order["lines"]},
                  "updated": order["updatedAt"].isoformat()}
        return ErpOrder(order["orderNumber"], order["orderNumber"], status, status == self.release_status,
                        status == "CANCELLED", ship_state, order["warehouse"], lines, shipped, detail)

    def amend(self, key: str, lines: Mapping[str, int]) -> None:
        self.state.amend_order(key, dict(lines))

    def cancel(self, key: str) -> None:
        self.state.cancel(key, "customer request")

    def authorise_return(self, key: str, sku: str, qty: int, condition: str) -> str | None:
        reason = "DEFECTIVE" if condition == "DAMAGED" else "WRONG_SIZE"
        ra = self.state.authorise_return(key, [{"sku": sku, "qty": qty, "reasonCode": reason,
                                                "condition": condition}])
        return str(ra["raNumber"])

    def authorised_returns(self) -> list[tuple[str, str, list[tuple[str, int, str]]]]:
        """Every RA as ``(raNumber, orderNumber, [(sku, qty, reasonCode)])``, oldest first."""
        with self.state.lock:
            return [(ra["raNumber"], ra["orderNumber"], [(line["sku"], int(line["qty"]), line["reasonCode"])
                                                         for line in ra["lines"]])
                    for ra in self.state.book.returns.values()]

    def confirm_despatch(self, number: str, lines: Mapping[str, int], carrier: str, tracking: Sequence[str],
                         reference: str) -> None:
        self.state.ship(number, dict(lines), carrier=carrier, tracking_numbers=list(tracking), reference=reference)

    def receive_return(self, ra_number: str, lines: Sequence[tuple[str, int, str]], reference: str) -> None:
        self.state.receive_return(ra_number, [{"sku": sku, "qty": qty, "condition": condition}
                                              for sku, qty, condition in lines], reference=reference)

    def stock_levels(self, codes: Sequence[str], location: str) -> dict[str, int]:
        return {code: int(self.state.inventory(code, location)["onHand"]) for code in codes}

    def dump(self) -> dict[str, Any]:
        data: dict[str, Any] = self.state.dump()
        return data


class Cin7Erp:
    """A Cin7 Core account: products, locations, stock and sales (authorised orders are the release point)."""

    def __init__(self, state: Any, brand: Brand) -> None:
        self.state = state
        self.brand = brand
        self.numbers: dict[str, str] = {}  # SaleID -> SaleOrderNumber

    def seed(self, catalogue: Catalogue) -> dict[str, int]:
        state = self.state
        known = {name.casefold() for name in state.locations_by_name()}
        for location in self.brand.locations:
            if location.erp.casefold() not in known:
                state.add_location(location.erp, location_id=stable_guid("cin7core", "location", location.erp))
        for sku in catalogue.skus:
            self._add_product(sku)
        self._set_levels({key: quantity for key, quantity in catalogue.stock.items() if quantity})
        return {"products": len(catalogue.skus), "stock_rows": sum(1 for q in catalogue.stock.values() if q)}

    def _set_levels(self, levels: Mapping[tuple[str, str], int]) -> None:
        """Set on-hand straight in the stock book, in one transaction (one stock webhook for all of it);
        ``set_stock`` looks every product up afresh, which is slow for thousands of rows."""
        state = self.state
        with state.transaction():
            places = {name: location["ID"] for name, location in state.locations_by_name().items()}
            ref = MoveRef("Stocktake", "", "", state.clock(), "")
            for (code, place), quantity in levels.items():
                state.stock.set_quantity(_product_id(code), places[place], float(quantity), ref)

    def _add_product(self, sku: Sku) -> None:
        self.state.add_product(
            ID=_product_id(sku.code), SKU=sku.code, Name=sku.name, Category=sku.category,
            Brand="Northwind Outfitters", Type="Stock", CostingMethod="FIFO", UOM="Item", Status="Active",
            DefaultLocation=self.brand.mapped[0].erp, Weight=sku.weight, WeightUnits="kg", Barcode=sku.barcode,
            PriceTier1=sku.price, ShortDescription=sku.name, Description=sku.name)

    def launch(self, style: Style, skus: Sequence[Sku]) -> bool:
        known = self.state.products_by_sku()
        new = [sku for sku in skus if sku.code not in known]
        for sku in new:
            self._add_product(sku)
        self._set_levels({(sku.code, location.erp): LAUNCH_STOCK for sku in new for location in self.brand.mapped})
        return bool(new)

    def create_order(self, spec: OrderSpec, at: datetime) -> str:
        address = spec.address()
        sale = self.state.create_sale(
            spec.customer, spec.location, [{"SKU": sku, "Quantity": qty} for sku, qty in spec.lines],
            external_id=spec.reference, CustomerReference=spec.reference, Email=address["email"],
            Contact=address["name"], SaleOrderDate=at.isoformat(),
            ShippingAddress={"Line1": address["address1"], "Line2": address["address2"], "City": address["city"],
                             "State": address["state"], "Postcode": address["zip"], "Country": address["country"]})
        self.numbers[sale["ID"]] = _order_number(sale)
        return str(sale["ID"])

    def orders(self) -> list[ErpOrder]:
        """Light views from the sale list (no lines), for the sales this scenario created."""
        names = {loc["ID"]: name for name, loc in self.state.locations_by_name().items()}
        return [self._row_view(row, names) for row in self.state.sales() if row["SaleID"] in self.numbers]

    def _row_view(self, row: Mapping[str, Any], names: Mapping[str, str]) -> ErpOrder:
        status = str(row["Status"])
        shipping = str(row.get("CombinedShippingStatus", ""))
        ship_state = "full" if shipping == "SHIPPED" else "partial" if shipping == "PARTIALLY SHIPPED" else ""
        releasable = row.get("OrderStatus") == "AUTHORISED" and status != "VOIDED"
        return ErpOrder(str(row["SaleID"]), str(row["OrderNumber"]), status, releasable, status == "VOIDED",
                        ship_state, names.get(str(row.get("OrderLocationID")), ""),
                        detail={"updated": str(row.get("Updated", ""))})

    def order(self, key: str) -> ErpOrder:
        sale = self.state.sale(key)
        order = sale.get("Order") or {}
        lines: dict[str, int] = {}
        for line in order.get("Lines") or []:
            lines[line["SKU"]] = lines.get(line["SKU"], 0) + int(line["Quantity"])
        address = sale.get("ShippingAddress") or {}
        detail = {"customer": sale.get("Customer", ""), "reference": sale.get("CustomerReference", ""),
                  "created": sale.get("SaleOrderDate", ""), "address": {
                      "name": sale.get("Contact", ""), "address1": address.get("Line1", ""),
                      "address2": address.get("Line2", ""), "city": address.get("City", ""),
                      "state": address.get("State", ""), "zip": address.get("Postcode", ""),
                      "country": address.get("Country", ""), "email": sale.get("Email", "")},
                  "prices": {line["SKU"]: line.get("Price") for line in order.get("Lines") or []},
                  "updated": str(sale.get("LastModifiedOn", ""))}
        shipping = str(sale.get("CombinedShippingStatus", ""))
        status = str(sale.get("Status", ""))
        return ErpOrder(str(sale["ID"]), _order_number(sale), status,
                        order.get("Status") == "AUTHORISED" and status != "VOIDED", status == "VOIDED",
                        "full" if shipping == "SHIPPED" else "partial" if shipping == "PARTIALLY SHIPPED" else "",
                        str(sale.get("Location", "")), lines, {}, detail)

    def amend(self, key: str, lines: Mapping[str, int]) -> None:
        """Undo the authorised order (allocation released), then authorise it again with the new lines."""
        with self.state.transaction():
            self.state.undo_sale(key)
            sales.post_order(self.state, {"SaleID": key, "Status": "AUTHORISED",
                                          "Lines": [{"SKU": sku, "Quantity": qty} for sku, qty in lines.items()
                                                    if qty > 0]})

    def cancel(self, key: str) -> None:
        self.state.void_sale(key)

    def authorise_return(self, key: str, sku: str, qty: int, condition: str) -> str | None:
        return None  # Cin7 Core returns start in the warehouse: its goods-received is the only trigger

    def confirm_despatch(self, number: str, lines: Mapping[str, int], carrier: str, tracking: Sequence[str],
                         reference: str) -> None:
        key = next(sale_id for sale_id, found in self.numbers.items() if found == number)
        self.state.ship(key, [{"SKU": sku, "Quantity": qty} for sku, qty in lines.items()],
                        tracking=", ".join(tracking), carrier=carrier)

    def receive_return(self, ra_number: str, lines: Sequence[tuple[str, int, str]], reference: str) -> None:
        return None

    def stock_levels(self, codes: Sequence[str], location: str) -> dict[str, int]:
        with self.state.lock:
            place = self.state.locations_by_name()[location]["ID"]
            return {code: int(self.state.stock.level(_product_id(code), place).on_hand) for code in codes}

    def dump(self) -> dict[str, Any]:
        state = self.state
        with state.lock:
            places = sorted(state.locations_by_name().items())
            products = sorted(state.products.values(), key=lambda p: str(p["SKU"]))
            stock = []
            for product in products:
                for name, location in places:
                    if state.stock.rows_of(product["ID"], location["ID"]):
                        level = state.stock.level(product["ID"], location["ID"])
                        stock.append({"SKU": product["SKU"], "Location": name, "OnHand": level.on_hand,
                                      "Allocated": level.allocated, "Available": level.available})
            return {"company": state.company, "locations": [name for name, _ in places], "products": products,
                    "sales": [state.sale(sale_id) for sale_id in self.numbers], "stock": stock}


def _order_number(sale: Mapping[str, Any]) -> str:
    return str((sale.get("Order") or {}).get("SaleOrderNumber") or sale.get("OrderNumber") or sale["ID"])


def _product_id(sku: str) -> str:
    return stable_guid("cin7core", "product", sku)
