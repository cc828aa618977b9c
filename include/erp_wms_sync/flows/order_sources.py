"""Where orders come from: one adapter per ERP, turning its API into :class:`ErpOrder` records.

An adapter lists the orders changed since a moment as cheap :class:`OrderStamp` rows (list endpoints, pages of up
to 1000), fetches the full order only when asked (one detail call, and only for orders the ledger cannot prove
unchanged), and writes the release status back where the ERP has a place for it. The field mapping and the status
tables live in :mod:`erp_wms_sync.domain.cin7_orders` and :mod:`erp_wms_sync.domain.bluecherry_orders`; the
adapters satisfy :class:`erp_wms_sync.connectors.protocols.ErpOrderSource`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from erp_wms_sync.config import Integration
from erp_wms_sync.connectors.protocols import ErpOrderSource
from erp_wms_sync.domain.bluecherry_orders import bluecherry_state, order_from_bluecherry
from erp_wms_sync.domain.cin7_orders import VOIDED, order_from_cin7, stamp_from_sale_list
from erp_wms_sync.domain.items import INACTIVE_STATUSES
from erp_wms_sync.domain.order_fields import text
from erp_wms_sync.domain.orders import ErpOrder, OrderStamp, UnreadableOrder

if TYPE_CHECKING:
    from erp_wms_sync.connectors.bluecherry import BlueCherrySku

__all__ = ["BlueCherryOrders", "Cin7Orders", "ErpOrderSource", "OrderSource", "OrderStamp", "order_source"]

OrderSource = ErpOrderSource  # the former name
UNNUMBERED = "unnumbered-"  # key of a BlueCherry listing row without an order number


class Cin7Orders:
    """Cin7 Core: ``saleList`` (OrderStatus = the release status, and voided sales) then ``sale?ID=`` for lines."""

    def __init__(self, client: Any, integration: Integration) -> None:
        self.client = client
        self.release_status = integration.orders.release_status.upper()
        self.attribute = integration.orders.release_attribute

    def changed(self, since: datetime) -> Iterator[OrderStamp]:
        seen: set[str] = set()
        for filters in ({"OrderStatus": self.release_status}, {"Status": VOIDED}):
            for row in self.client.iter_sale_list(updated_since=since, **filters):
                stamp = stamp_from_sale_list(row, self.release_status)
                if stamp.erp_id not in seen:
                    seen.add(stamp.erp_id)
                    yield stamp

    def fetch(self, stamp: OrderStamp) -> ErpOrder:
        return order_from_cin7(self.client.get_sale(stamp.erp_id), self.release_status, expected_id=stamp.erp_id)

    def fetch_by_id(self, erp_id: str) -> ErpOrder | None:
        sale = self.client.get_sale(erp_id)
        return order_from_cin7(sale, self.release_status, expected_id=erp_id) if sale else None

    def write_back(self, order: ErpOrder, text_: str) -> str | None:
        """Store the release status in the configured additional attribute; returns the sale's new stamp."""
        sale = self.client.update_sale(order.erp_id, AdditionalAttributes={self.attribute: text_[:256]})
        return text((sale or {}).get("LastModifiedOn")) or None

    def existing_skus(self, skus: Sequence[str]) -> set[str]:
        """One ``GET /product?Sku=`` per SKU (the filter matches a prefix, so only an exact SKU counts; Cin7
        SKUs compare without case); the listing stops at the first page holding the SKU."""
        found = set()
        for sku in skus:
            wanted = sku.casefold()
            for product in self.client.iter_products(sku=sku, include_deprecated=False):
                if product.sku.casefold() == wanted:
                    if product.status.casefold() not in INACTIVE_STATUSES:
                        found.add(sku)
                    break
        return found


class BlueCherryOrders:
    """BlueCherry: ``orders?status=&updatedSince=`` carries the lines; the order status is written back."""

    def __init__(self, client: Any, integration: Integration) -> None:
        self.client = client
        self.release_status = integration.orders.release_status.upper()

    def changed(self, since: datetime) -> Iterator[OrderStamp]:
        """Every order of the listing as a stamp carrying the order. A row that cannot be read as an order (a
        line without a readable quantity, an address that is not an object...) is a stamp with its ``problem``:
        the fetch step makes it that order's ``erp_record_unreadable`` exception and the other orders go on."""
        seen: set[str] = set()
        for status in (self.release_status, "CANCELLED"):
            for raw in self.client.iter_orders(status=status, updated_since=since):
                try:
                    order = order_from_bluecherry(raw, self.release_status)
                except UnreadableOrder as exc:
                    stamp = self._unreadable_stamp(raw, status, exc)
                else:
                    stamp = OrderStamp(order.erp_id, order.number, order.updated, order.state, order.erp_status,
                                       order)
                if stamp.erp_id not in seen:
                    seen.add(stamp.erp_id)
                    yield stamp

    def _unreadable_stamp(self, raw: Any, listed_as: str, exc: UnreadableOrder) -> OrderStamp:
        row: Any = raw if isinstance(raw, Mapping) else getattr(raw, "raw", {})
        row = row if isinstance(row, Mapping) else {}
        number = text(row.get("orderNumber"))[:64]
        if not number:  # nothing to track it by but its content: a stable key, never sent to BlueCherry
            digest = hashlib.sha256(repr(sorted(row.items(), key=str)).encode()).hexdigest()[:12]
            number = f"{UNNUMBERED}{digest}"
        status = text(row.get("status")).upper() or listed_as
        return OrderStamp(number, number, text(row.get("updatedAt")), bluecherry_state(status, self.release_status),
                          status, None, problem=str(exc))

    def fetch(self, stamp: OrderStamp) -> ErpOrder:
        if stamp.order is not None:
            return stamp.order
        if stamp.problem is not None and stamp.erp_id.startswith(UNNUMBERED):
            raise UnreadableOrder(f"a BlueCherry order listed without an order number: {stamp.problem}")
        found = self.fetch_by_id(stamp.erp_id)  # the listing's copy was unreadable: the order's own answer decides
        if found is None:
            raise LookupError(f"BlueCherry order {stamp.erp_id} disappeared")
        return found

    def fetch_by_id(self, erp_id: str) -> ErpOrder | None:
        if erp_id.startswith(UNNUMBERED):
            raise UnreadableOrder(f"BlueCherry listed this order without an order number ({erp_id})")
        raw = self.client.get_order(erp_id)
        return order_from_bluecherry(raw, self.release_status, expected_id=erp_id) if raw else None

    def write_back(self, order: ErpOrder, text_: str) -> str | None:
        result = self.client.set_order_wms_status(order.erp_id, text_[:256])
        return text((result or {}).get("updatedAt")) or None

    def existing_skus(self, skus: Sequence[str]) -> set[str]:
        """BlueCherry lists SKUs by style, not by SKU: one ``GET /styles/{style}`` per style the SKUs may belong
        to (a SKU is ``style-color-size``: the text before the first hyphen, and before the last two when the
        style itself holds a hyphen); a SKU counts when its style lists it as active."""
        found: set[str] = set()
        styles: dict[str, dict[str, BlueCherrySku]] = {}
        for sku in skus:
            for style in style_candidates(sku):
                if style not in styles:
                    listed = self.client.get_style_skus(style) or []
                    styles[style] = {row.sku.casefold(): row for row in listed}
                row = styles[style].get(sku.casefold())
                if row is not None and row.status.casefold() not in INACTIVE_STATUSES:
                    found.add(sku)
                    break
        return found


def style_candidates(sku: str) -> list[str]:
    """The styles a BlueCherry SKU (``style-color-size``) may belong to, most likely first (at most two)."""
    parts = sku.split("-")
    if len(parts) < 3:
        return []
    return list(dict.fromkeys(("-".join(parts[:1]), "-".join(parts[:-2]))))


def order_source(integration: Integration, client: Any) -> ErpOrderSource:
    if integration.erp.kind.value == "cin7core":
        return Cin7Orders(client, integration)
    return BlueCherryOrders(client, integration)
