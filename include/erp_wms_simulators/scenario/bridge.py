"""The drill bridge (``--bridge direct``): without an integration running, the driver itself carries orders
between one brand's ERP and its Peoplevox tenant, so a standalone day still exercises the warehouse.

This is a drill mode, not the product: it copies released orders (holding those with an unmapped location or
a SKU the warehouse lacks, and retrying the latter every hour), cancellations and amendments (the warehouse
refuses them after its cut-off), BlueCherry return authorisations, and back to the ERP the warehouse's
despatches and return receipts. It keeps what it sent in memory, so it belongs to one driver run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from erp_wms_simulators.common import SimError
from erp_wms_simulators.scenario.erps import BridgeErp, ErpOrder
from erp_wms_simulators.scenario.wms import (
    ORDER_ITEMS,
    REISSUE,
    RETURN_AUTHORISATIONS,
    SALES_ORDERS,
    LocalWarehouse,
    PeoplevoxSide,
)

SERVICE_TYPE = "Standard"
CHANNEL = "Scenario drill"


@dataclass
class DirectBridge:
    erp: BridgeErp
    wms: PeoplevoxSide
    house: LocalWarehouse
    sent: dict[str, dict[str, int]] = field(default_factory=dict)  # ERP number -> lines in the warehouse
    stamps: dict[str, str] = field(default_factory=dict)  # ERP number -> ERP updated stamp last compared
    held: dict[str, str] = field(default_factory=dict)  # ERP number -> why it is not in the warehouse
    closed: set[str] = field(default_factory=set)  # cancellations sent or refused
    despatches: set[str] = field(default_factory=set)
    authorisations: set[str] = field(default_factory=set)
    receipts: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)

    def run(self) -> dict[str, int]:
        """One pass in both directions; returns what it did this time."""
        before = dict(self.counts)
        items = self.wms.items()
        for view in self.erp.orders():
            self._order(view, items)
        self._despatches()
        self._authorisations()
        self._receipts()
        return {key: value - before.get(key, 0) for key, value in self.counts.items() if value != before.get(key, 0)}

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    # ---- ERP -> warehouse --------------------------------------------------------------------------
    def _order(self, view: ErpOrder, items: set[str]) -> None:
        number = view.number
        if number not in self.sent:
            if view.releasable:
                self._release(view, items)
            return
        if view.cancelled:
            if number not in self.closed:
                self.closed.add(number)
                refused = self.house.save(SALES_ORDERS, [{"SalesOrderNumber": number, "Status": "Cancelled"}])
                self._count("cancel_refused" if refused else "cancelled")
            return
        if view.open and view.ship_state == "" and self.stamps.get(number) != view.detail.get("updated"):
            self._amend(self.erp.order(view.key))

    def _release(self, view: ErpOrder, items: set[str]) -> None:
        site = self.wms.brand.site_of(view.location)
        if site is None:
            if self.held.get(view.number) != "unmapped_location":
                self.held[view.number] = "unmapped_location"
                self._count("held_unmapped_location")
            return
        full = self.erp.order(view.key)
        if any(sku not in items for sku in full.lines):
            if self.held.get(view.number) != "unmapped_sku":
                self.held[view.number] = "unmapped_sku"
                self._count("held_unmapped_sku")
            return
        refused = self.house.save(SALES_ORDERS, [_header(full, site)]) or self.house.save(ORDER_ITEMS, _items(full))
        if refused:
            self.held[view.number] = "refused: " + "; ".join(refused)
            self._count("release_refused")
            return
        self.held.pop(view.number, None)
        self.sent[view.number] = dict(full.lines)
        self.stamps[view.number] = str(view.detail.get("updated", ""))
        self._count("released")

    def _amend(self, full: ErpOrder) -> None:
        self.stamps[full.number] = str(full.detail.get("updated", ""))
        old = self.sent[full.number]
        if full.lines == old:
            return
        lines = {sku: position for position, sku in enumerate(old, start=1)}
        rows = []
        for sku, qty in full.lines.items():
            if old.get(sku) != qty:
                line = lines.get(sku) or len(lines) + 1
                lines.setdefault(sku, line)
                rows.append({"SalesOrderNumber": full.number, "ItemCode": sku, "QuantityOrdered": str(qty),
                             "Line": str(line), "Sequence": str(line)})
        refused = self.house.save(ORDER_ITEMS, rows) if rows else []
        self._count("amend_refused" if refused else "amended")
        if not refused:
            self.sent[full.number] = dict(full.lines)

    def _authorisations(self) -> None:
        returns = getattr(self.erp, "authorised_returns", None)
        if returns is None:
            return
        for ra_number, order_number, lines in returns():
            if ra_number in self.authorisations or order_number not in self.sent:
                continue
            self.authorisations.add(ra_number)
            rows = [{"ReturnAuthorisationNumber": ra_number, "SalesOrderNumber": order_number, "ItemCode": sku,
                     "QuantityExpected": str(qty), "Reason": reason} for sku, qty, reason in lines]
            self._count("ra_refused" if self.house.save(RETURN_AUTHORISATIONS, rows) else "ra_sent")

    # ---- warehouse -> ERP --------------------------------------------------------------------------
    def _despatches(self) -> None:
        for record, tracking in self.house.despatches():
            if record.number in self.despatches:
                continue
            self.despatches.add(record.number)
            lines: dict[str, int] = {}
            for _, item, qty in record.lines:
                lines[item] = lines.get(item, 0) + qty
            match = REISSUE.match(record.sales_order)
            number = match["number"] if match else record.sales_order
            try:
                self.erp.confirm_despatch(number, lines, record.carrier, tracking, record.number)
                self._count("despatch_confirmed")
            except (ValueError, SimError, StopIteration):
                self._count("despatch_refused")

    def _receipts(self) -> None:
        for line in self.house.returns():
            key = f"{line.return_code}/{line.item_code}"
            if not line.authorisation or key in self.receipts:
                continue
            self.receipts.add(key)
            try:
                self.erp.receive_return(line.authorisation, [(line.item_code, line.quantity, line.condition.upper())],
                                        key)
                self._count("return_received")
            except (ValueError, SimError):
                self._count("return_refused")


def _header(order: ErpOrder, site: str) -> dict[str, str]:
    address: dict[str, Any] = order.detail.get("address") or {}
    fields = {"ShippingAddressLine1": "address1", "ShippingAddressCity": "city", "ShippingAddressRegion": "state",
              "ShippingAddressPostcode": "zip", "ShippingAddressCountry": "country", "Email": "email",
              "ContactName": "name"}
    return {"SalesOrderNumber": order.number, "Customer": str(order.detail.get("customer", "")),
            "CustomerPurchaseOrderReferenceNumber": str(order.detail.get("reference", "")),
            **{column: str(address.get(key, "")) for column, key in fields.items()},
            "ServiceType": SERVICE_TYPE, "ChannelName": CHANNEL, "Site": site}


def _items(order: ErpOrder) -> list[dict[str, str]]:
    prices = order.detail.get("prices") or {}
    return [{"SalesOrderNumber": order.number, "ItemCode": sku, "QuantityOrdered": str(qty), "Line": str(position),
             "Sequence": str(position), "SalePrice": "" if prices.get(sku) is None else f"{float(prices[sku]):.2f}"}
            for position, (sku, qty) in enumerate(order.lines.items(), start=1)]
