"""Sales orders of the BlueCherry simulator: creation (idempotent on ``customerPo`` + ``division``),
amendment, cancellation (only before the order has fully shipped), credit hold, and the ``wmsStatus`` note
an integration writes back.

Every function expects to be called with ``state.lock`` held or takes it itself; each raises
:class:`~erp_wms_simulators.bluecherry.records.Rejected` for a request the API would refuse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from erp_wms_simulators.bluecherry.fulfilment import print_pick_ticket
from erp_wms_simulators.bluecherry.lifecycle import Order, allocate, find_order, open_qty, refresh, release
from erp_wms_simulators.bluecherry.records import (
    Problems,
    Rejected,
    as_list,
    as_object,
    conflict,
    line_objects,
    moment,
    money,
    text_field,
    to_json,
    whole_number,
)

if TYPE_CHECKING:
    from erp_wms_simulators.bluecherry.state import BlueCherryState

CHANGEABLE = ("OPEN", "ALLOCATED", "PICK_TICKET_PRINTED", "PICKING", "ON_HOLD", "PARTIALLY_SHIPPED")
HOLDABLE = ("OPEN", "ALLOCATED", "PICK_TICKET_PRINTED", "PICKING")
CREDIT_HOLD = "CREDIT_HOLD"
WMS_STATUS_LENGTH = 256


def create_order(state: BlueCherryState, body: Any) -> tuple[Order, bool]:
    """Create an order from an API body; ``(order, False)`` when the customerPo + division already exists."""
    body = as_object(body, "The order")
    with state.lock:
        problems = Problems()
        header = _header(state, body, problems)
        lines = _new_lines(state, as_list(body.get("lines"), "lines"), problems)
        key = (header["customerPo"], header["division"])
        if state.settings.order_idempotency and key in state.book.order_keys:
            return state.book.orders[state.book.order_keys[key]], False
        problems.raise_any()
        order = _new_order(state, header, lines)
        state.book.orders[order["orderNumber"]] = order
        state.book.order_keys[key] = order["orderNumber"]
        if order["customer"] in state.settings.credit_hold_customers:
            order["onHold"], order["holdReason"] = True, CREDIT_HOLD
        elif state.settings.auto_allocate:
            allocate_order(state, order["orderNumber"])
        return refresh(state, order, order["createdAt"]), True


def allocate_order(state: BlueCherryState, number: str) -> Order:
    """Reserve free stock for an order (and print its pick ticket when ``auto_pick_ticket`` is on)."""
    with state.lock:
        order = find_order(state, number)
        if allocate(state, order):
            refresh(state, order)
        if state.settings.auto_pick_ticket and order["status"] == "ALLOCATED":
            print_pick_ticket(state, number)
        return order


def cancel_order(state: BlueCherryState, number: str, reason: str = "") -> Order:
    """Cancel what has not shipped: reservations go back to available stock, open pick tickets shrink.

    A partially shipped order keeps what shipped and becomes ``SHIPPED``; cancelling a cancelled order
    answers it unchanged; an order that has fully shipped cannot be cancelled (409).
    """
    with state.lock:
        order = find_order(state, number)
        if order["status"] == "CANCELLED":
            return order
        if order["status"] not in CHANGEABLE:
            raise conflict(f"Order {order['orderNumber']} is {order['status']}; an order can only be "
                           "cancelled before it has shipped.")
        for line in order["lines"]:
            remaining = open_qty(line)
            release(state, order, line, remaining)
            line["cancelled"] += remaining
        order["cancelReason"] = reason
        order["onHold"] = False
        return refresh(state, order)


def amend_order(state: BlueCherryState, number: str, lines: Sequence[Mapping[str, Any]]) -> Order:
    """Set the ordered quantity of SKUs (``[{"sku", "qty", "price"?}]``; qty 0 removes a line's remainder,
    a new SKU adds a line). Reservations above a reduced quantity are released; ``revision`` goes up.
    """
    with state.lock:
        order = find_order(state, number)
        if order["status"] not in CHANGEABLE:
            raise conflict(f"Order {order['orderNumber']} is {order['status']}; it can no longer be amended.")
        changes = _amendments(state, order, as_list(list(lines), "lines"))
        by_sku = {line["sku"]: line for line in order["lines"]}
        for sku, qty, price in changes:
            line = by_sku.get(sku)
            if line is None:
                order["lines"].append(_line(state, len(order["lines"]) + 1, sku, qty, price))
                continue
            line["qty"] = qty
            line["price"] = line["price"] if price is None else price
            excess = int(line["allocated"]) + int(line["picked"]) - open_qty(line)
            if excess > 0:
                release(state, order, line, excess)
        order["revision"] += 1
        if state.settings.auto_allocate:
            allocate(state, order)
        return refresh(state, order)


def hold_order(state: BlueCherryState, number: str, reason: str = CREDIT_HOLD) -> Order:
    """Put an order on hold (it keeps its reservations but cannot be picked or shipped)."""
    with state.lock:
        order = find_order(state, number)
        if order["status"] not in HOLDABLE and not order["onHold"]:
            raise conflict(f"Order {order['orderNumber']} is {order['status']}; only an order that has not "
                           "shipped can be put on hold.")
        order["onHold"], order["holdReason"] = True, reason or CREDIT_HOLD
        return refresh(state, order)


def release_hold(state: BlueCherryState, number: str) -> Order:
    with state.lock:
        order = find_order(state, number)
        if not order["onHold"]:
            raise conflict(f"Order {order['orderNumber']} is not on hold.")
        order["onHold"], order["holdReason"] = False, ""
        if state.settings.auto_allocate:
            allocate(state, order)
        return refresh(state, order)


def set_wms_status(state: BlueCherryState, number: str, text: str) -> Order:
    """Store the integration's note of where the order is in the warehouse (``wmsStatus``, at most 256
    characters); it is a change like any other, so ``updatedAt`` moves.
    """
    if len(text) > WMS_STATUS_LENGTH:
        raise Rejected(f"wmsStatus is limited to {WMS_STATUS_LENGTH} characters, got {len(text)}.")
    with state.lock:
        order = find_order(state, number)
        order["wmsStatus"] = text
        return refresh(state, order)


# ---- building orders -----------------------------------------------------------------------------
def _header(state: BlueCherryState, body: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
    where = "order"
    warehouse = text_field(body, "warehouse", where, problems)
    if warehouse and warehouse not in state.warehouses:
        problems.add(f"Unknown warehouse '{warehouse}'.")
    ship_to = body.get("shipTo") or {}
    if not isinstance(ship_to, dict):
        problems.add("order: 'shipTo' must be an object.")
        ship_to = {}
    return {
        "customerPo": text_field(body, "customerPo", where, problems),
        "division": text_field(body, "division", where, problems),
        "customer": text_field(body, "customer", where, problems),
        "store": text_field(body, "store", where, problems, required=False),
        "warehouse": warehouse,
        "shipTo": dict(ship_to),
        "carrier": text_field(body, "carrier", where, problems, required=False),
        "currency": text_field(body, "currency", where, problems, required=False, default="USD"),
        "orderDate": moment(body.get("orderDate"), "orderDate", where, problems, state.clock()),
    }


def _new_lines(state: BlueCherryState, raw_lines: list[Any], problems: Problems
               ) -> list[tuple[str, int, float | None]]:
    lines: list[tuple[str, int, float | None]] = []
    seen: set[str] = set()
    for _, where, raw in line_objects(raw_lines, problems):
        sku = _known_sku(state, text_field(raw, "sku", where, problems), where, problems)
        qty = whole_number(raw.get("qty"), "qty", where, problems)
        price = None if raw.get("price") is None else money(raw.get("price"), "price", where, problems)
        if sku and sku in seen:
            problems.add(f"{where}: SKU '{sku}' appears on more than one line; send one line per SKU.")
        seen.add(sku)
        lines.append((sku, qty, price))
    return lines


def _known_sku(state: BlueCherryState, sku: str, where: str, problems: Problems) -> str:
    if not sku:
        return ""
    row = state.sku_rows.get(sku)
    if row is None:
        problems.add(f"{where}: unknown SKU '{sku}'.")
    elif state.settings.reject_inactive_skus and row["status"] != "ACTIVE":
        problems.add(f"{where}: SKU '{sku}' is {row['status']} and cannot be ordered.")
    return sku


def _amendments(state: BlueCherryState, order: Order, raw_lines: list[Any]) -> list[tuple[str, int, float | None]]:
    problems = Problems()
    existing = {line["sku"]: line for line in order["lines"]}
    changes: list[tuple[str, int, float | None]] = []
    for _, where, raw in line_objects(raw_lines, problems):
        sku = text_field(raw, "sku", where, problems)
        qty = whole_number(raw.get("qty"), "qty", where, problems, minimum=0)
        price = None if raw.get("price") is None else money(raw.get("price"), "price", where, problems)
        if sku in existing:
            shipped = int(existing[sku]["shipped"]) + int(existing[sku]["cancelled"])
            if qty < shipped:
                problems.add(f"{where}: SKU '{sku}' already has {shipped} shipped; qty cannot go below that.")
        else:
            _known_sku(state, sku, where, problems)
            if qty == 0:
                problems.add(f"{where}: SKU '{sku}' is not on the order; a new line needs a qty of at least 1.")
        changes.append((sku, qty, price))
    problems.raise_any()
    return changes


def _new_order(state: BlueCherryState, header: dict[str, Any], lines: list[tuple[str, int, float | None]]
               ) -> Order:
    if not lines:
        raise Rejected("lines must be a non-empty list.")
    now = state.clock()
    number = state.book.next_number("order", first=state.settings.first_order_number, width=1)
    order: Order = {"orderNumber": number, **header, "status": "OPEN", "onHold": False, "holdReason": "",
                    "closed": False, "revision": 1, "cancelReason": "", "wmsStatus": "",
                    "lines": [_line(state, i, sku, qty, price) for i, (sku, qty, price) in enumerate(lines, 1)],
                    "pickTickets": [], "shipments": [], "invoices": [], "returns": [],
                    "history": [{"status": "OPEN", "at": now}], "createdAt": now, "updatedAt": now}
    return order


def _line(state: BlueCherryState, number: int, sku: str, qty: int, price: float | None) -> dict[str, Any]:
    row = state.sku_rows[sku]
    return {"lineNo": number, "sku": sku, "style": row["style"], "color": row["color"], "size": row["size"],
            "upc": row["upc"], "description": row["description"], "qty": qty,
            "price": float(row["price"]) if price is None else price, "allocated": 0, "picked": 0,
            "shipped": 0, "cancelled": 0, "invoiced": 0, "returned": 0}


def render_order(order: Order) -> dict[str, Any]:
    """An order as the API returns it: stored fields plus per-line ``openQty`` and order totals."""
    out: dict[str, Any] = to_json(order)
    del out["closed"]
    for line in out["lines"]:
        line["openQty"] = open_qty(line)
        line["amount"] = round(line["qty"] * line["price"], 2)
    out["totalQty"] = sum(line["qty"] for line in out["lines"])
    out["totalAmount"] = round(sum(line["amount"] for line in out["lines"]), 2)
    return out
