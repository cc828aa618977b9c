"""A warehouse that moves: the simulated Peoplevox warehouse of one tenant.

``Warehouse(state, client_id, settings)`` offers goods in, stock counts and adjustments
(:class:`~.stockroom.Stockroom`), allocation, picking, packing and despatch (:class:`~.fulfilment.Fulfilment`),
and here: returns (sellable back to pickable stock, damaged to quarantine), holds, the reaction to a
cancelled order, an order summary and :meth:`Warehouse.tick`, which moves every open order one step.

Only the scenario driver, tests, the admin API (``/_sim/{clientId}/warehouse/...``) or a tick move it; SOAP
writes never do (cancelling an order only gives back its allocation). Every stock movement gets the next
History Id and the state's clock time, and every change publishes the matching events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from erp_wms_simulators.peoplevox import entities, events
from erp_wms_simulators.peoplevox.floor import CUSTOMER, WarehouseError
from erp_wms_simulators.peoplevox.fulfilment import Fulfilment, Quantities
from erp_wms_simulators.peoplevox.logistics import RETURN_AUTHORISATIONS, ra_status
from erp_wms_simulators.peoplevox.orders import SALES_ORDERS, cell, whole_number
from erp_wms_simulators.peoplevox.statuses import (
    ALLOCATED,
    DESPATCHED,
    FINAL_STATUSES,
    NEW,
    ON_HOLD,
    PACKING,
    PARTIALLY_DESPATCHED,
    PICKING,
    RETURNED,
)
from erp_wms_simulators.peoplevox.stock import LineProgress, OrderProgress, ReturnLine

__all__ = ["CONDITIONS", "Warehouse", "WarehouseError"]

CONDITIONS = {"sellable": "Sellable", "damaged": "Damaged"}


class Warehouse(Fulfilment):
    """The simulated warehouse of one Peoplevox tenant."""

    # -- returns -------------------------------------------------------------------------------------
    def receive_return(self, order: str, lines: Quantities, condition: str = "sellable",
                       return_code: str | None = None, *, reason: str = "", comments: str = "",
                       authorisation: str | None = None, location: str | None = None) -> list[ReturnLine]:
        """Receive returned stock of a despatched order: sellable goes back to the pick location (available
        again), damaged to the quarantine location (on hand, never available). Matching return
        authorisations have their ``QuantityReceived`` and ``Status`` updated."""
        with self.state.lock:
            grade = CONDITIONS.get(condition.strip().lower())
            if grade is None:
                raise WarehouseError(f"condition must be sellable or damaged, got {condition!r}")
            progress = self.progress(order)
            wanted = self.quantities(progress, lines)
            for name, quantity in wanted.items():
                line = progress.lines[name]
                if quantity > line.despatched - line.returned:
                    raise WarehouseError(f"line {name} of {progress.number}: {line.despatched} despatched, "
                                         f"{line.returned} already returned; cannot return {quantity}")
            claims = {name: self._authorisation(progress, progress.lines[name], authorisation) for name in wanted}
            target = location or (self.settings.pick_location if grade == "Sellable"
                                  else self.settings.quarantine_location)
            code = return_code or f"RET{self.book.next_number('return'):06d}"
            received: list[ReturnLine] = []
            with self.watching({progress.lines[name].item_code for name in wanted}):
                for name, quantity in wanted.items():
                    received.append(self._return_line(progress, progress.lines[name], quantity, claims[name],
                                                      (code, grade, reason, comments, target)))
                self._finish_return(progress)
            return received

    def _authorisation(self, progress: OrderProgress, line: LineProgress, number: str | None) -> str:
        """The key of the return authorisation row this line is received against ('' when none)."""
        table = self.tenant.table(RETURN_AUTHORISATIONS)
        if number:
            key = f"{number.strip()}/{line.item_code}"
            if key not in table:
                raise WarehouseError(f"Return authorisation '{number}' has no line for {line.item_code}")
            return key
        for key, row in table.items():
            if (cell(row, "SalesOrderNumber") == progress.number and cell(row, "ItemCode") == line.item_code
                    and cell(row, "Status") != "Received"):
                return key
        return ""

    def _return_line(self, progress: OrderProgress, line: LineProgress, quantity: int, claim: str,
                     details: tuple[str, str, str, str, str]) -> ReturnLine:
        code, grade, reason, comments, target = details
        ra_row = self.tenant.table(RETURN_AUTHORISATIONS).get(claim, {}) if claim else {}
        site = self.require_site(cell(ra_row, "Site")) if cell(ra_row, "Site") else progress.site
        self.move(line.item_code, site, quantity, source=CUSTOMER, target=target,
                  reason=reason or f"Return ({grade.lower()})", order=progress.number, comments=code)
        line.returned += quantity
        if ra_row:
            got = (whole_number(cell(ra_row, "QuantityReceived")) or 0) + quantity
            ra_row["QuantityReceived"] = str(got)
            ra_row["Status"] = ra_status(whole_number(cell(ra_row, "QuantityExpected")) or 0, got)
        record = ReturnLine(code, self.state.now(), progress.number, line.item_code, quantity,
                            reason or cell(ra_row, "Reason"), grade, comments, site, target,
                            self._despatch_date(progress.number, line.line), cell(ra_row, "ReturnAuthorisationNumber"))
        self.book.returns.append(record)
        self.publish(events.RETURNS, entities.return_values(record, self.item_name(line.item_code), self.settings))
        return record

    def _despatch_date(self, order: str, line: str) -> datetime | None:
        dates = [d.timestamp for d in self.book.despatches.values()
                 if d.sales_order == order and any(name == line for name, _, _ in d.lines)]
        return max(dates) if dates else None

    def _finish_return(self, progress: OrderProgress) -> None:
        status = cell(self.order_row(progress.number), "Status")
        if status == DESPATCHED and all(line.returned >= line.despatched for line in progress.lines.values()):
            self.set_status(progress, RETURNED)

    # -- holds and cancellations -------------------------------------------------------------------------
    def hold(self, order: str, on: bool = True) -> str:
        """Put an order on hold (or release it to the status it had); returns the new status."""
        with self.state.lock:
            progress = self.progress(order)
            row = self.order_row(order)
            status = cell(row, "Status")
            if on:
                if status in FINAL_STATUSES or status == ON_HOLD:
                    raise WarehouseError(f"cannot hold: order {progress.number} is {status}")
                progress.status_before_hold = status
                row["OnHold"] = "true"
                self.set_status(progress, ON_HOLD)
            else:
                if status != ON_HOLD:
                    raise WarehouseError(f"order {progress.number} is not on hold")
                row["OnHold"] = "false"
                self.set_status(progress, progress.status_before_hold or NEW)
            return cell(row, "Status")

    def cancelled(self, order: str, previous: str) -> None:
        """React to an order cancelled by import: give back its allocation, announce the status change."""
        with self.state.lock:
            progress = self.book.orders.get(order)
            changed = self.state.now()
            if progress is not None:  # the warehouse has worked on it: give back what it reserved
                lines = [line for line in progress.lines.values() if line.allocated_total]
                with self.watching({line.item_code for line in lines}):
                    for line in lines:
                        self.release(line, progress.site)
                progress.status_changed = changed
            self.publish(events.SALES_ORDER_STATUS_CHANGES, entities.order_values(
                self.order_row(order), self.settings, changed, previous))

    def trim_allocation(self, order: str) -> None:
        """After a line's quantity went down, give back what is now allocated beyond the quantity."""
        with self.state.lock:
            if order not in self.book.orders:
                return
            progress = self.progress(order)
            excess = {line.line: line.allocated_total - max(0, self.quantity_ordered(order, line.line)
                                                            - line.despatched - line.picked)
                      for line in progress.lines.values()}
            lines = [progress.lines[name] for name, extra in excess.items() if extra > 0]
            with self.watching({line.item_code for line in lines}):
                for line in lines:
                    self.release(line, progress.site, excess[line.line])

    # -- the clock tick and views --------------------------------------------------------------------------
    def tick(self) -> dict[str, str]:
        """Move every open order one step along New -> Allocated -> Picking -> Packing -> Despatched.

        An order that cannot move (not enough stock) stays where it is. Returns order -> new status.
        """
        with self.state.lock:
            moved: dict[str, str] = {}
            for number, row in list(self.tenant.table(SALES_ORDERS).items()):
                before = cell(row, "Status")
                try:
                    self._step(number, before)
                except WarehouseError:
                    continue
                if cell(row, "Status") != before:
                    moved[number] = cell(row, "Status")
            return moved

    def _step(self, order: str, status: str) -> None:
        if status == NEW:
            self.allocate(order)
        elif status == ALLOCATED:
            self.start_picking(order)
        elif status == PICKING:
            self.pick(order)
        elif status == PACKING:
            self.despatch(order)
        elif status == PARTIALLY_DESPATCHED:
            if any(line.picked for line in self.progress(order).lines.values()):
                self.despatch(order)
            else:
                self.allocate(order)

    def order(self, number: str) -> dict[str, Any]:
        """Status, site and per-line progress of one order."""
        with self.state.lock:
            progress = self.progress(number)
            return {
                "sales_order": progress.number, "status": cell(self.order_row(number), "Status"),
                "site": progress.site, "packages": list(progress.packages),
                "lines": [{"line": line.line, "item_code": line.item_code,
                           "ordered": self.quantity_ordered(progress.number, line.line),
                           "allocated": line.allocated_total, "picked": line.picked, "despatched": line.despatched,
                           "returned": line.returned, "shorted": line.shorted}
                          for line in self._lines(progress)],
            }
