"""Cin7 Core sale → :class:`ErpOrder`: the status table and the field mapping (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from erp_wms_sync.domain.order_fields import address, mapping, number, quantity, rows, text, when
from erp_wms_sync.domain.orders import ErpOrder, OrderLine, OrderStamp, OrderState, UnreadableOrder, open_quantity

#: Sale ``Status`` values after which the order is no longer ours to release.
DONE = frozenset({"SHIPPED", "SHIPPING", "INVOICED", "INVOICING", "CREDITED", "COMPLETED", "PAID", "CLOSED"})
#: Sale ``Status`` values before authorisation.
NOT_YET = frozenset({"DRAFT", "ESTIMATING", "ESTIMATED", "ORDERING"})
VOIDED = "VOIDED"
ADDRESS = ("Line1", "Line2", "City", "State", "Postcode", "Country")


#: ``CombinedShippingStatus`` / ``FulFilmentStatus`` values of a sale shipped in full. Cin7's sale ``Status`` has no
#: shipped value: a fully shipped simple sale stays ``PACKED`` (or ``SHIPPING``) until it is invoiced.
SHIPPED_IN_FULL = frozenset({"SHIPPED", "FULFILLED"})


def cin7_state(status: str, order_status: str, release_status: str, shipping: str = "",
               fulfilment: str = "") -> OrderState:
    """The one Cin7 Core status table: sale ``Status`` + order ``Status`` (+ the sale's combined shipping and
    fulfilment statuses, where the answer has them) → :class:`OrderState`."""
    status, order_status = status.upper(), order_status.upper()
    if status == VOIDED:
        return OrderState.CANCELLED
    if status in DONE or shipping.upper() in SHIPPED_IN_FULL or fulfilment.upper() in SHIPPED_IN_FULL:
        return OrderState.DONE
    if order_status == release_status.upper() and status not in NOT_YET:
        return OrderState.RELEASABLE
    return OrderState.NOT_YET


def stamp_from_sale_list(row: Mapping[str, Any], release_status: str) -> OrderStamp:
    """A ``saleList`` row as a stamp (``OrderStatus`` is the order's authorisation status there)."""
    status = text(row.get("Status"))
    state = cin7_state(status, text(row.get("OrderStatus")), release_status, text(row.get("CombinedShippingStatus")),
                       text(row.get("FulFilmentStatus")))
    return OrderStamp(text(row.get("SaleID")), text(row.get("OrderNumber")), text(row.get("Updated")), state,
                      status.upper())


def order_from_cin7(sale: Mapping[str, Any], release_status: str, expected_id: str | None = None) -> ErpOrder:
    """A ``GET sale`` answer as an order; :class:`UnreadableOrder` when it has no id or another id than asked."""
    erp_id = text(sale.get("ID")) if isinstance(sale, Mapping) else ""
    if not erp_id or (expected_id is not None and erp_id != expected_id):
        raise UnreadableOrder(f"Cin7 Core answered sale {erp_id or '(no id)'} when sale {expected_id} was asked for")
    where = f"Cin7 Core sale {erp_id[:64]}"
    order = mapping(sale.get("Order"), f"{where}: 'Order'")
    status = text(sale.get("Status"))
    lines = tuple(OrderLine(text(line.get("SKU")),
                            open_quantity(quantity(line.get("Quantity"), f"{where} line {pos} 'Quantity'")),
                            number(line.get("Price")), pos)
                  for pos, line in enumerate(rows(order.get("Lines"), f"{where}: 'Order.Lines'"), start=1))
    return ErpOrder(
        erp_id=erp_id, number=text(order.get("SaleOrderNumber") or sale.get("OrderNumber")),
        state=cin7_state(status, text(order.get("Status")), release_status, text(sale.get("CombinedShippingStatus")),
                         text(sale.get("FulFilmentStatus"))), erp_status=status.upper(),
        location=text(sale.get("Location")), customer=text(sale.get("Customer")), lines=lines,
        updated=text(sale.get("LastModifiedOn") or sale.get("Updated")), email=text(sale.get("Email")),
        contact=text(sale.get("Contact")), reference=text(sale.get("CustomerReference")),
        ship_by=when(sale.get("ShipBy")), created=when(sale.get("SaleOrderDate")), carrier=text(sale.get("Carrier")),
        channel=text(sale.get("SourceChannel")), total=number(order.get("Total")),
        shipping=address(sale.get("ShippingAddress"), ADDRESS, f"{where}: 'ShippingAddress'"),
        billing=address(sale.get("BillingAddress"), ADDRESS, f"{where}: 'BillingAddress'"),
        raw=dict(sale), fulfilment_task=open_fulfilment_task(sale))


def open_fulfilment_task(sale: Mapping[str, Any]) -> str:
    """The TaskID of the sale's first fulfilment whose pick is still open (DRAFT / NOT AVAILABLE), or ""."""
    tasks = sale.get("Fulfilments") or []
    for task in tasks if isinstance(tasks, list) else []:  # a malformed list names no open task
        if not isinstance(task, Mapping):
            continue
        pick = task.get("Pick")
        pick = pick if isinstance(pick, Mapping) else {}
        if text(task.get("TaskID")) and text(pick.get("Status") or "NOT AVAILABLE").upper() in OPEN_STAGES:
            return text(task.get("TaskID"))
    return ""


OPEN_STAGES = ("DRAFT", "NOT AVAILABLE", "")
