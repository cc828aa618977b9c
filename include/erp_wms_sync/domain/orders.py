"""The order every flow speaks of: the normalised :class:`ErpOrder`, and how it becomes Peoplevox rows.

- :class:`ErpOrder` / :class:`OrderLine` / :class:`OrderStamp`: one shape for every ERP. Each ERP maps its own
  records into it in its own module (:mod:`erp_wms_sync.domain.cin7_orders`,
  :mod:`erp_wms_sync.domain.bluecherry_orders`), which refuses an answer that is not the order asked for with
  :class:`UnreadableOrder`. :class:`OrderState` is the ERP's view; the ledger's is
  :class:`erp_wms_sync.domain.order_status.ReleaseState`.
- :func:`open_quantity` is the one definition of a line's open quantity; :func:`effective_state` treats an order
  whose every line was dropped as cancelled.
- :func:`wms_number`, :func:`wms_header`, :func:`wms_items`: the Peoplevox "Sales orders" header and "Sales order
  items" lines (SKUs mapped to ItemCodes by the function the caller passes, ``Integration.item_code_for``);
  :func:`order_hash` fingerprints them so an unchanged order is never resent.
- :func:`order_to_dict` / :func:`order_from_dict`: the JSON form kept in the ledger and in staged records;
  :func:`same_stamp` compares ERP modification stamps.

What to do with a change to an order already in the warehouse is :mod:`erp_wms_sync.domain.amendments`; whether
an order is released, held or waits is :mod:`erp_wms_sync.domain.release_rules`. Pure functions and field tables;
no I/O. Vendor field names are copied exactly (they are identifiers).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

SALES_ORDERS = "Sales orders"
SALES_ORDER_ITEMS = "Sales order items"
ORDER_KEY = "SalesOrderNumber"
WMS_ORDER_NUMBER_MAX = 30
WMS_DATE = "%Y-%m-%d %H:%M:%S"

# Peoplevox order statuses in warehouse order; the cut-off (orders.cutoff_status) is a position in this list.
WMS_STATUS_ORDER = ("New", "Allocated", "Picking", "Picked", "Packing", "Packed", "Partially despatched",
                    "Despatched", "Completed")


class OrderState(StrEnum):
    """What the ERP says about an order, in the integration's terms."""

    RELEASABLE = "releasable"  # at the configured release status
    CANCELLED = "cancelled"  # voided / cancelled in the ERP
    NOT_YET = "not_yet"  # draft, quote, on credit hold...
    DONE = "done"  # already fulfilled/closed in the ERP (not ours to release)


@dataclass(frozen=True)
class Address:
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postcode: str = ""
    country: str = ""


class UnreadableOrder(ValueError):
    """The ERP answered something that is not the order asked for (no id, another id): nothing may be written."""


def open_quantity(ordered: float | None, cancelled: float | None = None) -> float:
    """THE open quantity of an ERP order line: ordered minus cancelled (never below zero).

    Cin7 Core has no per-line cancellation (``cancelled`` is None); a BlueCherry line amended to zero stays on the
    order with its quantity cancelled. A line whose open quantity is 0 is not sent to the warehouse; a negative
    ordered quantity is kept as it is so the data check holds it."""
    ordered = ordered or 0.0
    if ordered < 0:
        return ordered
    return max(ordered - (cancelled or 0.0), 0.0)


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: float  # the open quantity (see open_quantity)
    price: float | None = None
    line_no: int = 0


@dataclass(frozen=True)
class ErpOrder:
    erp_id: str
    number: str
    state: OrderState
    erp_status: str
    location: str
    customer: str
    lines: tuple[OrderLine, ...]
    updated: str = ""
    email: str = ""
    contact: str = ""
    reference: str = ""
    ship_by: datetime | None = None
    created: datetime | None = None
    carrier: str = ""
    channel: str = ""
    shipping_cost: float | None = None
    total: float | None = None
    shipping: Address = field(default_factory=Address)
    billing: Address = field(default_factory=Address)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Cin7 Core: the sale's open fulfilment task (its TaskID), kept so a despatch is confirmed without a GET
    fulfilment_task: str = field(default="", compare=False)


@dataclass(frozen=True)
class OrderStamp:
    """One row of an ERP list call: enough to decide whether the order needs a detail call."""

    erp_id: str
    number: str
    updated: str
    state: OrderState
    erp_status: str
    order: ErpOrder | None = None  # set when the list call already carries the full order (BlueCherry)
    problem: str | None = None  # why the list row could not be read as an order (BlueCherry): its own exception


def all_lines_dropped(order: ErpOrder) -> bool:
    """The order had lines and every one was dropped (open quantity 0): it is as good as cancelled."""
    return bool(order.lines) and all(line.quantity == 0 for line in order.lines)


def effective_state(order: ErpOrder) -> OrderState:
    """What the integration does with the order: a releasable order with no open line left counts as cancelled."""
    if order.state is OrderState.RELEASABLE and all_lines_dropped(order):
        return OrderState.CANCELLED
    return order.state


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _date(value: datetime | None) -> str:
    return value.strftime(WMS_DATE) if value else ""


def wms_number(order: ErpOrder, reissue: int = 0) -> str:
    """The Peoplevox SalesOrderNumber: the ERP order number, suffixed ``-R<n>`` when re-issued."""
    return order.number if reissue == 0 else f"{order.number}-R{reissue}"


def wms_header(order: ErpOrder, *, number: str, site: str, service_type: str, channel: str) -> dict[str, str]:
    ship, bill = order.shipping, order.billing
    return {
        "SalesOrderNumber": number, "Customer": order.customer, "CustomerPurchaseOrderReferenceNumber": order.reference,
        "ShippingAddressLine1": ship.line1, "ShippingAddressLine2": ship.line2, "ShippingAddressCity": ship.city,
        "ShippingAddressRegion": ship.region, "ShippingAddressPostcode": ship.postcode,
        "ShippingAddressCountry": ship.country, "InvoiceAddressLine1": bill.line1, "InvoiceAddressLine2": bill.line2,
        "InvoiceAddressCity": bill.city, "InvoiceAddressRegion": bill.region, "InvoiceAddressPostcode": bill.postcode,
        "InvoiceAddressCountry": bill.country, "RequestedDeliveryDate": _date(order.ship_by),
        "ShippingCost": _num(order.shipping_cost), "Email": order.email, "ContactName": order.contact,
        "TotalSale": _num(order.total), "CreatedDate": _date(order.created), "ServiceType": service_type,
        "ChannelName": order.channel or channel, "Site": site,
    }


def _same(sku: str) -> str:
    return sku


def wms_items(order: ErpOrder, number: str, item_code: Callable[[str], str] = _same) -> list[dict[str, str]]:
    """The "Sales order items" rows: one per line with an open quantity (dropped lines are not sent); ``Line``
    keeps the ERP line number, so a line keeps its identity in the warehouse; ``item_code`` maps an ERP SKU to the
    Peoplevox ItemCode (identity unless the integration has a cross-reference)."""
    return [{"SalesOrderNumber": number, "ItemCode": item_code(line.sku) if line.sku else line.sku,
             "QuantityOrdered": _num(line.quantity), "Line": str(line.line_no or pos), "Sequence": str(pos),
             "SalePrice": _num(line.price)}
            for pos, line in enumerate(order.lines, start=1) if line.quantity != 0]


def order_hash(header: Mapping[str, str], items: Sequence[Mapping[str, str]]) -> str:
    """Content hash of what the warehouse would receive, ignoring the (possibly suffixed) order number."""
    body = {"header": {k: v for k, v in header.items() if k != ORDER_KEY},
            "items": [{k: v for k, v in item.items() if k != ORDER_KEY} for item in items]}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def order_payload(header: Mapping[str, str], items: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    return {"header": dict(header), "items": [dict(i) for i in items]}


def order_to_dict(order: ErpOrder) -> dict[str, Any]:
    """JSON-safe form (ledger payloads, staging, exception payloads)."""
    return {
        "erp_id": order.erp_id, "number": order.number, "state": order.state.value, "erp_status": order.erp_status,
        "location": order.location, "customer": order.customer, "updated": order.updated, "email": order.email,
        "contact": order.contact, "reference": order.reference,
        "ship_by": order.ship_by.isoformat() if order.ship_by else None,
        "created": order.created.isoformat() if order.created else None, "carrier": order.carrier,
        "channel": order.channel, "shipping_cost": order.shipping_cost, "total": order.total,
        "shipping": vars(order.shipping).copy(), "billing": vars(order.billing).copy(),
        "lines": [{"sku": ln.sku, "quantity": ln.quantity, "price": ln.price, "line_no": ln.line_no}
                  for ln in order.lines],
        "fulfilment_task": order.fulfilment_task,
    }


def order_from_dict(data: Mapping[str, Any]) -> ErpOrder:
    def when(value: Any) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return ErpOrder(
        erp_id=data["erp_id"], number=data["number"], state=OrderState(data["state"]), erp_status=data["erp_status"],
        location=data["location"], customer=data["customer"],
        lines=tuple(OrderLine(ln["sku"], ln["quantity"], ln.get("price"), ln.get("line_no", 0))
                    for ln in data.get("lines", [])),
        updated=data.get("updated", ""), email=data.get("email", ""), contact=data.get("contact", ""),
        reference=data.get("reference", ""), ship_by=when(data.get("ship_by")), created=when(data.get("created")),
        carrier=data.get("carrier", ""), channel=data.get("channel", ""), shipping_cost=data.get("shipping_cost"),
        total=data.get("total"), shipping=Address(**data.get("shipping", {})),
        billing=Address(**data.get("billing", {})), fulfilment_task=data.get("fulfilment_task", ""))


def same_stamp(a: str | None, b: str | None) -> bool:
    """Two ERP modification stamps denote the same moment (formats with/without 'Z' or fractions compare equal)."""
    if not a or not b:
        return False
    if a == b:
        return True
    try:
        first = datetime.fromisoformat(a.replace("Z", "+00:00"))
        second = datetime.fromisoformat(b.replace("Z", "+00:00"))
    except ValueError:
        return False
    if (first.tzinfo is None) != (second.tzinfo is None):
        first, second = first.replace(tzinfo=None), second.replace(tzinfo=None)
    return first == second
