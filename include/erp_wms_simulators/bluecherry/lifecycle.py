"""The designed BlueCherry order lifecycle, derived from an order's quantities rather than set by hand:

``OPEN`` → ``ALLOCATED`` → ``PICK_TICKET_PRINTED`` / ``PICKING`` → ``PARTIALLY_SHIPPED`` / ``SHIPPED`` →
``INVOICED`` → ``CLOSED``; ``CANCELLED``; ``ON_HOLD`` (credit hold, before anything ships).

Per order line: ``qty`` ordered, ``shipped``, ``cancelled``, ``invoiced``, ``returned``; the open quantity
(qty − shipped − cancelled) may be reserved as ``allocated`` (stock bucket *allocated*) or ``picked`` (on a
printed pick ticket, stock bucket *picked*). Every change goes through :func:`refresh`, which re-derives
the status, records a history entry when it changed and bumps ``updatedAt``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from erp_wms_simulators.bluecherry.records import not_found

if TYPE_CHECKING:
    from erp_wms_simulators.bluecherry.state import BlueCherryState

Order = dict[str, Any]
TICKET_OPEN = ("PRINTED", "PICKING", "PARTIALLY_SHIPPED")


def open_qty(line: dict[str, Any]) -> int:
    return int(line["qty"]) - int(line["shipped"]) - int(line["cancelled"])


def find_order(state: BlueCherryState, number: str) -> Order:
    order = state.book.orders.get(str(number).strip())
    if order is None:
        raise not_found(f"Order '{number}' was not found.")
    return order


def order_tickets(state: BlueCherryState, order: Order) -> Iterator[dict[str, Any]]:
    for number in order["pickTickets"]:
        yield state.book.pick_tickets[number]


def ticket_status(ticket: dict[str, Any]) -> str:
    lines = ticket["lines"]
    if all(int(line["qty"]) == 0 for line in lines):
        return "CANCELLED"
    if all(int(line["shipped"]) >= int(line["qty"]) for line in lines):
        return "SHIPPED"
    if any(int(line["shipped"]) > 0 for line in lines):
        return "PARTIALLY_SHIPPED"
    return "PICKING" if ticket["picking"] else "PRINTED"


def derive_status(state: BlueCherryState, order: Order) -> str:
    """The order status its quantities, hold flag, pick tickets and invoices add up to."""
    if order["closed"]:
        return "CLOSED"
    lines = order["lines"]
    shipped = sum(int(line["shipped"]) for line in lines)
    remaining = sum(open_qty(line) for line in lines)
    if remaining == 0:
        if shipped == 0:
            return "CANCELLED"
        invoiced = sum(int(line["invoiced"]) for line in lines)
        return "INVOICED" if invoiced >= shipped else "SHIPPED"
    if order["onHold"]:
        return "ON_HOLD"
    if shipped:
        return "PARTIALLY_SHIPPED"
    statuses = {ticket["status"] for ticket in order_tickets(state, order)}
    if "PICKING" in statuses:
        return "PICKING"
    if "PRINTED" in statuses:
        return "PICK_TICKET_PRINTED"
    if all(int(line["allocated"]) + int(line["picked"]) >= open_qty(line) for line in lines):
        return "ALLOCATED"
    return "OPEN"


def refresh(state: BlueCherryState, order: Order, now: datetime | None = None) -> Order:
    """Re-derive the order's and its pick tickets' statuses after a change and bump ``updatedAt``."""
    moment = now or state.clock()
    for ticket in order_tickets(state, order):
        status = ticket_status(ticket)
        if status != ticket["status"]:
            ticket["status"] = status
            ticket["updatedAt"] = moment
    status = derive_status(state, order)
    if status != order["status"]:
        order["status"] = status
        order["history"].append({"status": status, "at": moment})
    order["updatedAt"] = moment
    return order


def stock_row(state: BlueCherryState, sku: str, warehouse: str) -> dict[str, Any]:
    return state.book.stock.row(state.sku_rows[sku], warehouse, state.clock())


def release(state: BlueCherryState, order: Order, line: dict[str, Any], quantity: int) -> int:
    """Give back up to ``quantity`` of a line's reservation (allocated first, then picked); returns how much."""
    now = state.clock()
    row = stock_row(state, line["sku"], order["warehouse"])
    from_allocated = min(quantity, int(line["allocated"]))
    from_picked = min(quantity - from_allocated, int(line["picked"]))
    if from_allocated or from_picked:
        state.book.stock.move(row, now, allocated=-from_allocated, picked=-from_picked)
        line["allocated"] -= from_allocated
        line["picked"] -= from_picked
        _unpick(state, order, line["sku"], from_picked, now)
    return from_allocated + from_picked


def _unpick(state: BlueCherryState, order: Order, sku: str, quantity: int, now: datetime) -> None:
    """Take ``quantity`` of ``sku`` off the order's open pick tickets, newest first."""
    for ticket in reversed(list(order_tickets(state, order))):
        if quantity <= 0:
            return
        if ticket["status"] not in TICKET_OPEN:
            continue
        for ticket_line in ticket["lines"]:
            if ticket_line["sku"] != sku:
                continue
            take = min(quantity, int(ticket_line["qty"]) - int(ticket_line["shipped"]))
            ticket_line["qty"] -= take
            quantity -= take
            ticket["updatedAt"] = now


def allocate(state: BlueCherryState, order: Order) -> int:
    """Reserve free stock for the order's open quantity; returns the units newly allocated.

    With ``partial_allocation`` off, nothing is reserved unless every line can be covered in full.
    An order on hold, or with nothing open, is left alone.
    """
    if order["onHold"] or order["closed"]:
        return 0
    needs = [(line, open_qty(line) - int(line["allocated"]) - int(line["picked"])) for line in order["lines"]]
    needs = [(line, need) for line, need in needs if need > 0]
    stock = state.book.stock
    if not state.settings.partial_allocation and any(
            stock.free(line["sku"], order["warehouse"]) < need for line, need in needs):
        return 0
    now = state.clock()
    total = 0
    for line, need in needs:
        take = min(need, stock.free(line["sku"], order["warehouse"]))
        if take > 0:
            stock.move(stock_row(state, line["sku"], order["warehouse"]), now, allocated=take)
            line["allocated"] += take
            total += take
    return total
