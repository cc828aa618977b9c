"""Where orders come from: one adapter per ERP, turning its API into :class:`ErpOrder` records.

An adapter lists the orders changed since a moment as cheap :class:`OrderStamp` rows (list endpoints, pages of up
to 1000), fetches the full order only when asked (one detail call, and only for orders the ledger cannot prove
unchanged), and writes the release status back where the ERP has a place for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from erp_wms_sync.config import Integration
from erp_wms_sync.domain.orders import Address, ErpOrder, OrderLine, OrderState

CIN7_DONE = frozenset({"SHIPPED", "SHIPPING", "INVOICED", "INVOICING", "CREDITED", "COMPLETED", "PAID", "CLOSED"})
CIN7_NOT_YET = frozenset({"DRAFT", "ESTIMATING", "ESTIMATED", "ORDERING"})
BLUECHERRY_DONE = frozenset({"SHIPPED", "PARTIALLY_SHIPPED", "INVOICED", "CLOSED"})
BLUECHERRY_CANCELLED = frozenset({"CANCELLED"})


@dataclass(frozen=True)
class OrderStamp:
    """One row of a list call: enough to decide whether the order needs a detail call."""

    erp_id: str
    number: str
    updated: str
    state: OrderState
    erp_status: str
    order: ErpOrder | None = None  # set when the list call already carries the full order (BlueCherry)


class OrderSource(Protocol):
    def changed(self, since: datetime) -> Iterator[OrderStamp]: ...

    def fetch(self, stamp: OrderStamp) -> ErpOrder: ...

    def fetch_by_id(self, erp_id: str) -> ErpOrder | None: ...

    def write_back(self, order: ErpOrder, text: str) -> str | None: ...


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _address(raw: Mapping[str, Any] | None, keys: tuple[str, str, str, str, str, str]) -> Address:
    raw = raw or {}
    return Address(*(_text(raw.get(k)) for k in keys))


CIN7_ADDRESS = ("Line1", "Line2", "City", "State", "Postcode", "Country")
BLUECHERRY_ADDRESS = ("address1", "address2", "city", "state", "zip", "country")


class Cin7Orders:
    """Cin7 Core: ``saleList`` (OrderStatus = the release status, and voided sales) then ``sale?ID=`` for lines."""

    def __init__(self, client: Any, integration: Integration) -> None:
        self.client = client
        self.release_status = integration.orders.release_status.upper()
        self.attribute = integration.orders.release_attribute

    def changed(self, since: datetime) -> Iterator[OrderStamp]:
        seen: set[str] = set()
        for filters in ({"OrderStatus": self.release_status}, {"Status": "VOIDED"}):
            for row in self.client.iter_sale_list(updated_since=since, **filters):
                if row["SaleID"] not in seen:
                    seen.add(row["SaleID"])
                    yield self._stamp(row)

    def _stamp(self, row: Mapping[str, Any]) -> OrderStamp:
        status = _text(row.get("Status")).upper()
        if status == "VOIDED":
            state = OrderState.CANCELLED
        elif status in CIN7_DONE:
            state = OrderState.DONE
        elif _text(row.get("OrderStatus")).upper() == self.release_status and status not in CIN7_NOT_YET:
            state = OrderState.RELEASABLE
        else:
            state = OrderState.NOT_YET
        return OrderStamp(_text(row["SaleID"]), _text(row.get("OrderNumber")), _text(row.get("Updated")), state,
                          status)

    def fetch(self, stamp: OrderStamp) -> ErpOrder:
        return self.from_sale(self.client.get_sale(stamp.erp_id), stamp.state)

    def fetch_by_id(self, erp_id: str) -> ErpOrder | None:
        sale = self.client.get_sale(erp_id)
        if not sale:
            return None
        status = _text(sale.get("Status")).upper()
        order_status = _text((sale.get("Order") or {}).get("Status")).upper()
        state = (OrderState.CANCELLED if status == "VOIDED" else OrderState.DONE if status in CIN7_DONE
                 else OrderState.RELEASABLE if order_status == self.release_status else OrderState.NOT_YET)
        return self.from_sale(sale, state)

    def from_sale(self, sale: Mapping[str, Any], state: OrderState) -> ErpOrder:
        order = sale.get("Order") or {}
        lines = tuple(OrderLine(_text(line.get("SKU")), _float(line.get("Quantity")) or 0.0,
                                _float(line.get("Price")), pos)
                      for pos, line in enumerate(order.get("Lines") or [], start=1))
        return ErpOrder(
            erp_id=_text(sale.get("ID")), number=_text(order.get("SaleOrderNumber") or sale.get("OrderNumber")),
            state=state, erp_status=_text(sale.get("Status")), location=_text(sale.get("Location")),
            customer=_text(sale.get("Customer")), lines=lines,
            updated=_text(sale.get("LastModifiedOn") or sale.get("Updated")), email=_text(sale.get("Email")),
            contact=_text(sale.get("Contact")), reference=_text(sale.get("CustomerReference")),
            ship_by=_when(sale.get("ShipBy")), created=_when(sale.get("SaleOrderDate")),
            carrier=_text(sale.get("Carrier")), channel=_text(sale.get("SourceChannel")),
            total=_float(order.get("Total")), shipping=_address(sale.get("ShippingAddress"), CIN7_ADDRESS),
            billing=_address(sale.get("BillingAddress"), CIN7_ADDRESS), raw=dict(sale))

    def write_back(self, order: ErpOrder, text: str) -> str | None:
        """Store the release status in the configured additional attribute; returns the sale's new stamp."""
        sale = self.client.update_sale(order.erp_id, AdditionalAttributes={self.attribute: text[:256]})
        return _text((sale or {}).get("LastModifiedOn")) or None


class BlueCherryOrders:
    """BlueCherry: ``orders?status=&updatedSince=`` carries the lines; the order status is written back."""

    def __init__(self, client: Any, integration: Integration) -> None:
        self.client = client
        self.release_status = integration.orders.release_status.upper()

    def changed(self, since: datetime) -> Iterator[OrderStamp]:
        seen: set[str] = set()
        for status in (self.release_status, "CANCELLED"):
            for raw in self.client.iter_orders(status=status, updated_since=since):
                order = self.from_order(raw)
                if order.erp_id not in seen:
                    seen.add(order.erp_id)
                    yield OrderStamp(order.erp_id, order.number, order.updated, order.state, order.erp_status, order)

    def _state(self, status: str) -> OrderState:
        if status in BLUECHERRY_CANCELLED:
            return OrderState.CANCELLED
        if status == self.release_status:
            return OrderState.RELEASABLE
        return OrderState.DONE if status in BLUECHERRY_DONE else OrderState.NOT_YET

    def fetch(self, stamp: OrderStamp) -> ErpOrder:
        if stamp.order is not None:
            return stamp.order
        found = self.fetch_by_id(stamp.erp_id)
        if found is None:
            raise LookupError(f"BlueCherry order {stamp.erp_id} disappeared")
        return found

    def fetch_by_id(self, erp_id: str) -> ErpOrder | None:
        raw = self.client.get_order(erp_id)
        return self.from_order(raw) if raw else None

    def from_order(self, raw: Any) -> ErpOrder:
        row: Mapping[str, Any] = raw if isinstance(raw, Mapping) else getattr(raw, "raw", {})
        status = _text(row.get("status")).upper()
        ship_to = row.get("shipTo") or {}
        lines = tuple(OrderLine(_text(line.get("sku")), _open_quantity(line), _float(line.get("price")),
                                int(line.get("lineNo") or pos))
                      for pos, line in enumerate(row.get("lines") or [], start=1) if _open_quantity(line) > 0
                      or not _float(line.get("cancelled")))
        return ErpOrder(
            erp_id=_text(row.get("orderNumber")), number=_text(row.get("orderNumber")), state=self._state(status),
            erp_status=status, location=_text(row.get("warehouse")),
            customer=_text(ship_to.get("name") or row.get("customerName") or row.get("customer")), lines=lines,
            updated=_text(row.get("updatedAt")), email=_text(row.get("email") or ship_to.get("email")),
            contact=_text(ship_to.get("name")), reference=_text(row.get("customerPo")),
            ship_by=_when(row.get("requestedShipDate") or row.get("shipBy")), created=_when(row.get("orderDate")),
            carrier=_text(row.get("carrier") or row.get("shipVia")), channel=_text(row.get("channel")),
            total=_float(row.get("total")), shipping=_address(ship_to, BLUECHERRY_ADDRESS),
            billing=_address(row.get("billTo") or ship_to, BLUECHERRY_ADDRESS), raw=dict(row))

    def write_back(self, order: ErpOrder, text: str) -> str | None:
        result = self.client.set_order_wms_status(order.erp_id, text[:256])
        return _text((result or {}).get("updatedAt")) or None


def _open_quantity(line: Mapping[str, Any]) -> float:
    """Ordered minus cancelled: a BlueCherry line amended to zero stays on the order with its quantity cancelled."""
    return (_float(line.get("qty")) or 0.0) - (_float(line.get("cancelled")) or 0.0)


def order_source(integration: Integration, client: Any) -> OrderSource:
    if integration.erp.kind.value == "cin7core":
        return Cin7Orders(client, integration)
    return BlueCherryOrders(client, integration)
