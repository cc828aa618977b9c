"""BlueCherry order → :class:`ErpOrder`: the status table and the field mapping (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from erp_wms_sync.domain.order_fields import address, mapping, number, quantity, rows, text, when
from erp_wms_sync.domain.orders import ErpOrder, OrderLine, OrderState, UnreadableOrder, open_quantity

DONE = frozenset({"SHIPPED", "PARTIALLY_SHIPPED", "INVOICED", "CLOSED"})
CANCELLED = frozenset({"CANCELLED"})
ADDRESS = ("address1", "address2", "city", "state", "zip", "country")


def bluecherry_state(status: str, release_status: str) -> OrderState:
    """The one BlueCherry status table: order ``status`` → :class:`OrderState`."""
    status = status.upper()
    if status in CANCELLED:
        return OrderState.CANCELLED
    if status == release_status.upper():
        return OrderState.RELEASABLE
    return OrderState.DONE if status in DONE else OrderState.NOT_YET


def order_from_bluecherry(raw: Any, release_status: str, expected_id: str | None = None) -> ErpOrder:
    """A BlueCherry order (list row or ``GET order``) as an order. Every line is kept with its open quantity
    (``qty`` − ``cancelled``): a dropped line has 0 and is not sent (see :func:`wms_items`)."""
    row: Mapping[str, Any] = raw if isinstance(raw, Mapping) else getattr(raw, "raw", {})
    erp_id = text(row.get("orderNumber"))
    if not erp_id or (expected_id is not None and erp_id != expected_id):
        raise UnreadableOrder(f"BlueCherry answered order {erp_id or '(no number)'} when {expected_id} was asked for")
    where = f"BlueCherry order {erp_id[:64]}"
    status = text(row.get("status")).upper()
    ship_to = mapping(row.get("shipTo"), f"{where}: 'shipTo'")
    lines = tuple(OrderLine(text(line.get("sku")),
                            open_quantity(quantity(line.get("qty"), f"{where} line {pos} 'qty'"),
                                          quantity(line.get("cancelled"), f"{where} line {pos} 'cancelled'")),
                            number(line.get("price")), _line_no(line.get("lineNo"), pos, where))
                  for pos, line in enumerate(rows(row.get("lines"), f"{where}: 'lines'"), start=1))
    return ErpOrder(
        erp_id=erp_id, number=erp_id, state=bluecherry_state(status, release_status), erp_status=status,
        location=text(row.get("warehouse")),
        customer=text(ship_to.get("name") or row.get("customerName") or row.get("customer")), lines=lines,
        updated=text(row.get("updatedAt")), email=text(row.get("email") or ship_to.get("email")),
        contact=text(ship_to.get("name")), reference=text(row.get("customerPo")),
        ship_by=when(row.get("requestedShipDate") or row.get("shipBy")), created=when(row.get("orderDate")),
        carrier=text(row.get("carrier") or row.get("shipVia")), channel=text(row.get("channel")),
        total=number(row.get("total")), shipping=address(ship_to, ADDRESS),
        billing=address(row.get("billTo") or ship_to, ADDRESS, f"{where}: 'billTo'"), raw=dict(row))


def _line_no(value: Any, position: int, where: str) -> int:
    """The line's ``lineNo`` (its position when absent or 0); :class:`UnreadableOrder` when it is not a whole
    number."""
    if value is None or value == "" or value == 0:
        return position
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise UnreadableOrder(f"{where} line {position}: 'lineNo' is not a whole number (got {str(value)[:40]!r})")
