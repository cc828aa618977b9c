"""Pick tickets, shipments and invoices of the BlueCherry simulator.

- :func:`print_pick_ticket` moves an order's allocated quantity onto a new pick ticket (stock: allocated →
  picked); :func:`start_picking` marks its open tickets as being picked.
- :func:`post_shipment` is how the integration confirms a WMS despatch (``POST /shipments``): idempotent
  on the external ``reference``; each shipped unit leaves on-hand, taken from the order's picked, then
  allocated, then free stock. An order with no open pick ticket gets one made for the shipment.
- :func:`invoice_order` invoices shipped, not yet invoiced units; :func:`close_order` closes an invoiced order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from erp_wms_simulators.bluecherry.lifecycle import (
    TICKET_OPEN,
    Order,
    find_order,
    open_qty,
    order_tickets,
    refresh,
    stock_row,
)
from erp_wms_simulators.bluecherry.records import (
    Problems,
    as_list,
    as_object,
    conflict,
    line_objects,
    moment,
    not_found,
    text_field,
    units_due,
    whole_number,
)

if TYPE_CHECKING:
    from erp_wms_simulators.bluecherry.state import BlueCherryState

SHIPPABLE = ("OPEN", "ALLOCATED", "PICK_TICKET_PRINTED", "PICKING", "PARTIALLY_SHIPPED")


def print_pick_ticket(state: BlueCherryState, number: str) -> dict[str, Any]:
    """A new pick ticket for everything the order has allocated (409 when nothing is, or it is on hold)."""
    with state.lock:
        order = find_order(state, number)
        if order["onHold"]:
            raise conflict(f"Order {order['orderNumber']} is on hold; no pick ticket can be printed.")
        lines = [line for line in order["lines"] if int(line["allocated"]) > 0]
        if not lines:
            raise conflict(f"Order {order['orderNumber']} has nothing allocated to pick.")
        now = state.clock()
        ticket = _new_ticket(state, order, [(line["sku"], int(line["allocated"])) for line in lines], now)
        for line in lines:
            quantity = int(line["allocated"])
            state.book.stock.move(stock_row(state, line["sku"], order["warehouse"]), now, allocated=-quantity,
                                  picked=quantity)
            line["picked"] += quantity
            line["allocated"] = 0
        refresh(state, order, now)
        return ticket


def start_picking(state: BlueCherryState, number: str) -> Order:
    """Mark the order's printed pick tickets as being picked (status ``PICKING``)."""
    with state.lock:
        order = find_order(state, number)
        tickets = [t for t in order_tickets(state, order) if t["status"] == "PRINTED"]
        if not tickets:
            raise conflict(f"Order {order['orderNumber']} has no printed pick ticket to start picking.")
        for ticket in tickets:
            ticket["picking"] = True
        return refresh(state, order)


def post_shipment(state: BlueCherryState, body: Any) -> tuple[dict[str, Any], bool]:
    """Record a despatch confirmed by the warehouse; ``(shipment, False)`` for a known ``reference``."""
    body = as_object(body, "The shipment")
    with state.lock:
        problems = Problems()
        number = text_field(body, "orderNumber", "shipment", problems)
        reference = text_field(body, "reference", "shipment", problems, required=False)
        problems.raise_any()
        known = state.book.shipment_refs.get(reference) if reference else None
        if known is not None:
            shipment = state.book.shipments[known]
            if shipment["orderNumber"] != number:
                raise conflict(f"Shipment reference '{reference}' was already used for order "
                               f"{shipment['orderNumber']}.")
            return shipment, False
        order = find_order(state, number)
        _check_shippable(order)
        details = _shipment_details(state, order, body)
        return _ship(state, order, reference, details), True


def invoice_order(state: BlueCherryState, number: str) -> dict[str, Any]:
    """Invoice the order's shipped, not yet invoiced units (409 when there are none)."""
    with state.lock:
        order = find_order(state, number)
        lines = units_due(order["lines"], "shipped", "invoiced")
        if not lines:
            raise conflict(f"Order {order['orderNumber']} has no shipped units left to invoice.")
        now = state.clock()
        invoice_number = state.book.next_number("invoice", "INV-")
        rows = [{"sku": line["sku"], "qty": qty, "price": line["price"], "amount": round(qty * line["price"], 2)}
                for line, qty in lines]
        invoice = {"invoiceNumber": invoice_number, "orderNumber": order["orderNumber"],
                   "customer": order["customer"], "invoiceDate": now, "lines": rows,
                   "total": round(sum(row["amount"] for row in rows), 2), "createdAt": now, "updatedAt": now}
        for line, qty in lines:
            line["invoiced"] += qty
        state.book.invoices[invoice_number] = invoice
        order["invoices"].append(invoice_number)
        refresh(state, order, now)
        return invoice


def close_order(state: BlueCherryState, number: str) -> Order:
    with state.lock:
        order = find_order(state, number)
        if order["status"] != "INVOICED":
            raise conflict(f"Order {order['orderNumber']} is {order['status']}; only an INVOICED order can be "
                           "closed.")
        order["closed"] = True
        return refresh(state, order)


# ---- shipments ---------------------------------------------------------------------------------------
def _check_shippable(order: Order) -> None:
    if order["onHold"]:
        raise conflict(f"Order {order['orderNumber']} is on credit hold and cannot ship.")
    if order["status"] not in SHIPPABLE:
        raise conflict(f"Order {order['orderNumber']} is {order['status']}; it has nothing left to ship.")


def _shipment_details(state: BlueCherryState, order: Order, body: Mapping[str, Any]) -> dict[str, Any]:
    problems = Problems()
    tracking = body.get("trackingNumbers") or []
    if not isinstance(tracking, list) or not all(isinstance(t, str) and t.strip() for t in tracking):
        problems.add("shipment: 'trackingNumbers' must be a list of non-empty strings.")
        tracking = []
    cartons = []
    totals: dict[str, int] = {}
    for index, raw in enumerate(as_list(body.get("cartons"), "cartons"), start=1):
        carton = _carton(raw, index, problems)
        cartons.append(carton)
        for line in carton["lines"]:
            totals[line["sku"]] = totals.get(line["sku"], 0) + line["qty"]
    _check_quantities(state, order, totals, problems)
    details = {"shipDate": moment(body.get("shipDate"), "shipDate", "shipment", problems, state.clock()),
               "carrier": text_field(body, "carrier", "shipment", problems, required=False),
               "trackingNumbers": [t.strip() for t in tracking], "cartons": cartons, "totals": totals}
    problems.raise_any()
    return details


def _carton(raw: Any, index: int, problems: Problems) -> dict[str, Any]:
    where = f"carton {index}"
    if not isinstance(raw, dict):
        problems.add(f"{where} must be an object.")
        return {"cartonNo": str(index), "lines": []}
    lines = []
    for _, spot, item in line_objects(as_list(raw.get("lines"), f"{where} lines"), problems, f"{where} line"):
        lines.append({"sku": text_field(item, "sku", spot, problems),
                      "qty": whole_number(item.get("qty"), "qty", spot, problems)})
    return {"cartonNo": text_field(raw, "cartonNo", where, problems, required=False, default=str(index)),
            "lines": lines}


def _check_quantities(state: BlueCherryState, order: Order, totals: Mapping[str, int], problems: Problems) -> None:
    lines = {line["sku"]: line for line in order["lines"]}
    for sku, qty in sorted(totals.items()):
        line = lines.get(sku)
        if line is None:
            if sku:
                problems.add(f"SKU '{sku}' is not on order {order['orderNumber']}.")
            continue
        if qty > open_qty(line):
            problems.add(f"SKU '{sku}': {qty} shipped but only {open_qty(line)} open on order "
                         f"{order['orderNumber']}.")
        elif not state.settings.allow_negative_stock:
            row = stock_row(state, sku, order["warehouse"])
            if int(row["onHand"]) < qty:
                problems.add(f"SKU '{sku}': {qty} shipped but only {row['onHand']} on hand in "
                             f"{order['warehouse']}.")


def _ship(state: BlueCherryState, order: Order, reference: str, details: dict[str, Any]) -> dict[str, Any]:
    now = state.clock()
    tickets = [t for t in order_tickets(state, order) if t["status"] in TICKET_OPEN]
    totals: dict[str, int] = details.pop("totals")
    if not tickets:
        tickets = [_new_ticket(state, order, sorted(totals.items()), now)]
    by_sku = {line["sku"]: line for line in order["lines"]}
    for sku, qty in totals.items():
        _ship_line(state, order, by_sku[sku], qty, now)
        _mark_tickets(tickets, sku, qty, now)
    number = state.book.next_number("shipment", "SH-")
    shipment = {"shipmentNumber": number, "orderNumber": order["orderNumber"], "customerPo": order["customerPo"],
                "warehouse": order["warehouse"], "pickTicket": tickets[0]["pickTicket"], **details,
                "reference": reference, "createdAt": now, "updatedAt": now}
    state.book.shipments[number] = shipment
    if reference:
        state.book.shipment_refs[reference] = number
    order["shipments"].append(number)
    refresh(state, order, now)
    if state.settings.auto_invoice and order["status"] == "SHIPPED":
        invoice_order(state, order["orderNumber"])
    return shipment


def _ship_line(state: BlueCherryState, order: Order, line: dict[str, Any], qty: int, now: datetime) -> None:
    """Units leave on-hand: first from the line's picked, then its allocated, then free stock."""
    from_picked = min(qty, int(line["picked"]))
    from_allocated = min(qty - from_picked, int(line["allocated"]))
    row = stock_row(state, line["sku"], order["warehouse"])
    state.book.stock.move(row, now, onHand=-qty, picked=-from_picked, allocated=-from_allocated)
    line["picked"] -= from_picked
    line["allocated"] -= from_allocated
    line["shipped"] += qty


def _mark_tickets(tickets: list[dict[str, Any]], sku: str, qty: int, now: datetime) -> None:
    for ticket in tickets:
        for line in ticket["lines"]:
            if line["sku"] == sku and qty > 0:
                take = min(qty, int(line["qty"]) - int(line["shipped"]))
                line["shipped"] += take
                qty -= take
                ticket["updatedAt"] = now


def _new_ticket(state: BlueCherryState, order: Order, lines: list[tuple[str, int]], now: datetime
                ) -> dict[str, Any]:
    number = state.book.next_number("pickTicket", "PT-")
    ticket = {"pickTicket": number, "orderNumber": order["orderNumber"], "customerPo": order["customerPo"],
              "warehouse": order["warehouse"], "status": "PRINTED", "picking": False,
              "lines": [{"sku": sku, "qty": qty, "shipped": 0} for sku, qty in lines],
              "printedAt": now, "updatedAt": now}
    state.book.pick_tickets[number] = ticket
    order["pickTickets"].append(number)
    return ticket


def find_shipment(state: BlueCherryState, number: str) -> dict[str, Any]:
    shipment = state.book.shipments.get(number.strip())
    if shipment is None:
        raise not_found(f"Shipment '{number}' was not found.")
    return shipment
