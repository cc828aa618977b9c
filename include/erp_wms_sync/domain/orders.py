"""Order rules: ERP orders → one normalised :class:`ErpOrder` → Peoplevox "Sales orders" + "Sales order items" rows,
and the plan for a change to an order already in the warehouse.

Pure functions and field tables; no I/O. Vendor field names are copied exactly (they are identifiers).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

SALES_ORDERS = "Sales orders"
SALES_ORDER_ITEMS = "Sales order items"
ORDER_KEY = "SalesOrderNumber"
WMS_ORDER_NUMBER_MAX = 30
WMS_DATE = "%Y-%m-%d %H:%M:%S"

# Peoplevox order statuses in warehouse order; the cut-off is a position in this list.
WMS_STATUS_ORDER = ("New", "Allocated", "Picking", "Picked", "Packing", "Packed", "Partially despatched",
                    "Despatched", "Completed")
WMS_CLOSED = frozenset({"Cancelled", "Despatched", "Completed", "Returned"})


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


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: float
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


def wms_items(order: ErpOrder, number: str) -> list[dict[str, str]]:
    return [{"SalesOrderNumber": number, "ItemCode": line.sku, "QuantityOrdered": _num(line.quantity),
             "Line": str(line.line_no or pos), "Sequence": str(pos), "SalePrice": _num(line.price)}
            for pos, line in enumerate(order.lines, start=1)]


def order_hash(header: Mapping[str, str], items: Sequence[Mapping[str, str]]) -> str:
    """Content hash of what the warehouse would receive, ignoring the (possibly suffixed) order number."""
    body = {"header": {k: v for k, v in header.items() if k != ORDER_KEY},
            "items": [{k: v for k, v in item.items() if k != ORDER_KEY} for item in items]}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def order_payload(header: Mapping[str, str], items: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    return {"header": dict(header), "items": [dict(i) for i in items]}


class Action(StrEnum):
    NOTHING = "nothing"
    UPDATE = "update"  # send the changed header and/or items (added lines, changed quantities)
    CANCEL = "cancel"  # set Status=Cancelled in the WMS
    REISSUE = "reissue"  # cancel, then release again under a suffixed number (lines were removed)
    BLOCK = "block"  # past the cut-off: nothing is changed, people decide (amendment_after_cutoff)
    HOLD = "hold"  # lines removed and the strategy says hold: nothing changes, an exception says why


@dataclass(frozen=True)
class AmendmentPlan:
    action: Action
    reason: str
    header: dict[str, str] | None = None
    items: list[dict[str, str]] = field(default_factory=list)


def before_cutoff(wms_status: str, cutoff: str) -> bool:
    """True while the WMS order has not reached the cut-off state (unknown statuses count as past it)."""
    names = [s.casefold() for s in WMS_STATUS_ORDER]
    status, limit = wms_status.strip().casefold(), cutoff.strip().casefold()
    if status not in names or limit not in names:
        return False
    return names.index(status) < names.index(limit)


def _lines_by_code(items: Sequence[Mapping[str, str]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        out[item["ItemCode"]] = out.get(item["ItemCode"], 0.0) + float(item.get("QuantityOrdered") or 0)
    return out


def plan_amendment(old: Mapping[str, Any], new_header: Mapping[str, str], new_items: Sequence[Mapping[str, str]], *,
                   cancelled: bool, wms_status: str, cutoff: str, line_removal: str) -> AmendmentPlan:
    """What to do with a released order whose ERP version changed (or was cancelled)."""
    if wms_status.casefold() == "cancelled":
        return AmendmentPlan(Action.NOTHING, "already cancelled in the warehouse")
    if not before_cutoff(wms_status, cutoff):
        what = "cancelled" if cancelled else "changed"
        return AmendmentPlan(Action.BLOCK, f"order {what} in the ERP but the warehouse status is "
                                           f"'{wms_status}' (cut-off: {cutoff})")
    if cancelled:
        return AmendmentPlan(Action.CANCEL, "cancelled in the ERP before the cut-off")
    old_lines, new_lines = _lines_by_code(old.get("items", [])), _lines_by_code(new_items)
    removed = sorted(set(old_lines) - set(new_lines))
    if removed:
        if line_removal == "reissue":
            return AmendmentPlan(Action.REISSUE, f"line(s) {', '.join(removed)} removed: Peoplevox cannot remove "
                                                 "lines, so the order is cancelled and re-issued")
        return AmendmentPlan(Action.HOLD, f"line(s) {', '.join(removed)} removed and line_removal is 'hold'")
    header_changed = {k: v for k, v in new_header.items() if old.get("header", {}).get(k) != v and k != ORDER_KEY}
    number = str(old.get("header", {}).get(ORDER_KEY, new_header.get(ORDER_KEY, "")))
    changed_items = _renumber([dict(i, SalesOrderNumber=number) for i in new_items
                               if old_lines.get(i["ItemCode"]) != float(i.get("QuantityOrdered") or 0)],
                              old.get("items", []))
    if not header_changed and not changed_items:
        return AmendmentPlan(Action.NOTHING, "no change the warehouse would see")
    header = {ORDER_KEY: number, **header_changed} if header_changed else None
    return AmendmentPlan(Action.UPDATE, "changed before the cut-off", header, changed_items)


def _renumber(changed: list[dict[str, str]], old_items: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """Keep the warehouse's line number of an existing item; new items get numbers after the last one, so an
    inserted line never overwrites another line in Peoplevox."""
    old_line = {i["ItemCode"]: i.get("Line", "") for i in old_items}
    last = max((int(i["Line"]) for i in old_items if str(i.get("Line", "")).isdigit()), default=0)
    for item in changed:
        if item["ItemCode"] in old_line:
            item["Line"] = old_line[item["ItemCode"]]
        else:
            last += 1
            item["Line"] = str(last)
            item["Sequence"] = str(last)
    return changed


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
        billing=Address(**data.get("billing", {})))


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
