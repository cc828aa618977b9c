"""Helpers of :class:`~erp_wms_simulators.bluecherry.state.BlueCherryState` for tests and the scenario driver:
create, amend, allocate, pick, ship, invoice, cancel and hold orders; authorise and receive returns; set and
read stock; dump everything as JSON. They apply the same rules as the HTTP API (and raise
:class:`~erp_wms_simulators.bluecherry.records.Rejected`, a ``ValueError``, where the API would refuse), and
return the live stored records.

:class:`PinnedClock` is the clock ``POST /_sim/clock`` installs to run the company on simulated time.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from erp_wms_simulators.bluecherry import adjustments, fulfilment, orders, returns
from erp_wms_simulators.bluecherry.catalog import render
from erp_wms_simulators.bluecherry.lifecycle import find_order, open_qty
from erp_wms_simulators.bluecherry.records import OrderBook, as_object, to_json
from erp_wms_simulators.bluecherry.stock import available, render_row
from erp_wms_simulators.common import Clock

if TYPE_CHECKING:
    from erp_wms_simulators.bluecherry.settings import BlueCherrySettings
    from erp_wms_simulators.bluecherry.state import BlueCherryState

Lines = Mapping[str, int] | Sequence[Mapping[str, Any]]


@dataclass
class PinnedClock:
    """A clock that stands still until moved (simulated time for a company driven from outside)."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def line_dicts(lines: Lines) -> list[dict[str, Any]]:
    """``{"SKU": qty}`` or ``[{"sku", "qty", ...}]`` as a list of line objects."""
    if isinstance(lines, Mapping):
        return [{"sku": sku, "qty": qty} for sku, qty in lines.items()]
    return [as_object(line, f"line {number}") for number, line in enumerate(lines, start=1)]


class OrderHelpers:
    """Order-to-cash helpers mixed into the BlueCherry state."""

    lock: threading.RLock
    clock: Clock
    settings: BlueCherrySettings
    book: OrderBook
    company: str
    styles: dict[str, dict[str, Any]]
    sku_rows: dict[str, dict[str, Any]]
    warehouses: dict[str, dict[str, Any]]

    def _me(self) -> BlueCherryState:
        return cast("BlueCherryState", self)

    # ---- orders -------------------------------------------------------------------------------------
    def create_order(self, customer_po: str, lines: Lines, *, warehouse: str, customer: str = "WEB",
                     division: str = "01", **fields: Any) -> dict[str, Any]:
        """Create an order as ``POST /orders`` would (a repeated customerPo + division returns the first)."""
        body = {"customerPo": customer_po, "division": division, "customer": customer, "warehouse": warehouse,
                "lines": line_dicts(lines), **fields}
        return orders.create_order(self._me(), body)[0]

    def order(self, number: str) -> dict[str, Any]:
        with self.lock:
            return find_order(self._me(), number)

    def allocate(self, number: str) -> dict[str, Any]:
        return orders.allocate_order(self._me(), number)

    def amend_order(self, number: str, lines: Lines) -> dict[str, Any]:
        return orders.amend_order(self._me(), number, line_dicts(lines))

    def cancel(self, number: str, reason: str = "") -> dict[str, Any]:
        return orders.cancel_order(self._me(), number, reason)

    def hold(self, number: str, reason: str = orders.CREDIT_HOLD) -> dict[str, Any]:
        return orders.hold_order(self._me(), number, reason)

    def release_hold(self, number: str) -> dict[str, Any]:
        return orders.release_hold(self._me(), number)

    # ---- fulfilment ---------------------------------------------------------------------------------
    def print_pick_ticket(self, number: str) -> dict[str, Any]:
        return fulfilment.print_pick_ticket(self._me(), number)

    def start_picking(self, number: str) -> dict[str, Any]:
        return fulfilment.start_picking(self._me(), number)

    def ship(self, number: str, lines: Mapping[str, int] | None = None, *, carrier: str = "UPS",
             tracking_numbers: Sequence[str] = (), reference: str = "", ship_date: datetime | None = None
             ) -> dict[str, Any]:
        """Confirm a shipment of ``lines`` (``{"SKU": qty}``; default: everything open) in one carton."""
        with self.lock:
            order = find_order(self._me(), number)
            quantities = dict(lines) if lines is not None else {
                line["sku"]: open_qty(line) for line in order["lines"] if open_qty(line) > 0}
            body: dict[str, Any] = {
                "orderNumber": order["orderNumber"], "carrier": carrier, "trackingNumbers": list(tracking_numbers),
                "reference": reference, "cartons": [{"cartonNo": "1", "lines": line_dicts(quantities)}]}
            if ship_date is not None:
                body["shipDate"] = ship_date.isoformat()
            return fulfilment.post_shipment(self._me(), body)[0]

    def invoice(self, number: str) -> dict[str, Any]:
        return fulfilment.invoice_order(self._me(), number)

    def close(self, number: str) -> dict[str, Any]:
        return fulfilment.close_order(self._me(), number)

    # ---- returns ------------------------------------------------------------------------------------
    def authorise_return(self, order_number: str, lines: Sequence[Mapping[str, Any]], *, ra_number: str = "",
                         warehouse: str = "") -> dict[str, Any]:
        """An RA for shipped units: ``lines`` = ``[{"sku", "qty", "reasonCode", "condition"}]``."""
        body: dict[str, Any] = {"orderNumber": order_number, "lines": [dict(line) for line in lines]}
        if ra_number:
            body["raNumber"] = ra_number
        if warehouse:
            body["warehouse"] = warehouse
        return returns.authorise_return(self._me(), body)[0]

    def receive_return(self, ra_number: str, lines: Sequence[Mapping[str, Any]] | None = None, *,
                       reference: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {"reference": reference} if reference else {}
        if lines is not None:
            body["lines"] = [dict(line) for line in lines]
        return returns.receive_return(self._me(), ra_number, body)[0]

    # ---- stock --------------------------------------------------------------------------------------
    def set_stock(self, sku: str, warehouse: str, *, on_hand: int | None = None, on_order: int | None = None,
                  wip: int | None = None, quarantine: int | None = None,
                  updated_at: datetime | None = None) -> dict[str, Any]:
        """Set stock buckets directly (no adjustment document); ``updated_at`` defaults to the clock."""
        return adjustments.set_stock(self._me(), sku, warehouse, on_hand=on_hand, on_order=on_order, wip=wip,
                                     quarantine=quarantine, updated_at=updated_at)

    def inventory(self, sku: str, warehouse: str) -> dict[str, int]:
        """The stock buckets of a SKU in a warehouse (all zero when never touched), with ``available``."""
        with self.lock:
            row = self.book.stock.get(sku, warehouse)
            names = ("onHand", "allocated", "picked", "onOrder", "wip", "quarantine")
            levels = {name: 0 if row is None else int(row[name]) for name in names}
            levels["available"] = 0 if row is None else available(row)
            return levels

    # ---- inspection ---------------------------------------------------------------------------------
    def book_counts(self) -> dict[str, int]:
        with self.lock:
            book = self.book
            return {"orders": len(book.orders), "pickTickets": len(book.pick_tickets),
                    "shipments": len(book.shipments), "invoices": len(book.invoices), "returns": len(book.returns),
                    "creditMemos": len(book.credit_memos), "adjustments": len(book.adjustments),
                    "stockRows": len(book.stock.rows)}

    def dump(self, *, catalogue: bool = True) -> dict[str, Any]:
        """Everything the company holds, as JSON-ready data in a stable order (creation order per document)."""
        with self.lock:
            book = self.book
            out: dict[str, Any] = {"company": self.company,
                                   "warehouses": [dict(self.warehouses[code]) for code in sorted(self.warehouses)]}
            if catalogue:
                out["styles"] = [render(self.styles[style]) for style in sorted(self.styles)]
                out["skus"] = [render(row) for row in self._me().skus()]
            out.update({
                "orders": [orders.render_order(order) for order in book.orders.values()],
                "pickTickets": to_json(list(book.pick_tickets.values())),
                "shipments": to_json(list(book.shipments.values())),
                "invoices": to_json(list(book.invoices.values())),
                "returns": to_json(list(book.returns.values())),
                "creditMemos": to_json(list(book.credit_memos.values())),
                "adjustments": to_json(list(book.adjustments.values())),
                "inventory": [render_row(row) for row in book.stock.sorted_rows()],
            })
            return out
