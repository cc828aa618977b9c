"""Void and undo of a sale in the Cin7 Core simulator (``DELETE /sale?ID=&Void=``).

- **Void** (``Void=true``) releases every allocation the sale holds and marks each started document
  ``VOIDED``; ``Sale/Voided``. A sale with shipped boxes is refused (undo the shipment first) unless the
  setting ``allow_void_after_shipment`` is on, in which case the shipped stock stays gone.
- **Undo** (``Void`` false or absent) reverts the *last* authorised stage, in this order: credit note (its
  restocked stock is taken back out), invoice (refused while payments remain), then for the newest
  fulfilment task ship (shipped stock returns on hand and allocated; the shipment is a draft again), pack
  (a draft shipment is dropped), pick (a draft pack is dropped); then the order (allocation released,
  empty tasks dropped) and the quote. Each undo raises ``Sale/Undo``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from erp_wms_simulators.cin7core import events
from erp_wms_simulators.cin7core.allocation import rebalance, release_all, unissue
from erp_wms_simulators.cin7core.billing import LIVE_INVOICE, restock_note
from erp_wms_simulators.cin7core.lines import reject
from erp_wms_simulators.cin7core.model import (
    AUTHORISED,
    DRAFT,
    FULFILLED,
    NOT_AVAILABLE,
    VOIDED,
    Document,
    Fulfilment,
    Sale,
    Shipment,
)
from erp_wms_simulators.cin7core.sales import find_sale, sale_ref
from erp_wms_simulators.cin7core.shipping import SHIPPED

if TYPE_CHECKING:
    from erp_wms_simulators.cin7core.state import Cin7CoreState

Step = Callable[[], None]


def void_sale(state: Cin7CoreState, sale_id: str) -> Sale:
    with state.transaction():
        sale = find_sale(state, sale_id, "ID")
        if sale.voided:
            raise reject("The sale is already voided.")
        if any(task.ship.shipped_boxes for task in sale.fulfilments) and not state.settings.allow_void_after_shipment:
            raise reject("The sale has shipped goods and cannot be voided; undo the shipment first.")
        release_all(state, sale, sale_ref(state, sale, "Sale"))
        sale.voided = True
        for document in (sale.quote, sale.order, *(d for t in sale.fulfilments for d in (t.pick, t.pack))):
            _void(document)
        for task in sale.fulfilments:
            task.ship.status = VOIDED if task.ship.status != NOT_AVAILABLE else NOT_AVAILABLE
        for invoice in sale.invoices:
            invoice.status = VOIDED
        for note in sale.credit_notes:
            note.status = VOIDED
        state.publish(events.VOIDED, events.voided_event(sale))
        state.touch(sale)
        return sale


def undo_sale(state: Cin7CoreState, sale_id: str) -> Sale:
    with state.transaction():
        sale = find_sale(state, sale_id, "ID")
        if sale.voided:
            raise reject("A voided sale cannot be undone.")
        step = _last_step(state, sale)
        if step is None:
            raise reject("There is nothing to undo: no stage of the sale is authorised.")
        step()
        state.publish(events.UNDO, events.undo_event(sale))
        state.touch(sale)
        return sale


def _void(document: Document) -> None:
    if document.status != NOT_AVAILABLE:
        document.status = VOIDED


def _last_step(state: Cin7CoreState, sale: Sale) -> Step | None:
    """The undo of the latest authorised stage, or None."""
    note = next((n for n in reversed(sale.credit_notes) if n.status == AUTHORISED), None)
    if note is not None:
        def undo_note() -> None:
            if any(p.type == "REFUND" and p.task_id == note.task_id for p in sale.payments):
                raise reject(f"Credit note {note.number} has refunds; delete them before undoing it.")
            restock_note(state, sale, note, -1)
            note.status = DRAFT
        return undo_note
    invoice = next((inv for inv in reversed(sale.invoices) if inv.status in LIVE_INVOICE), None)
    if invoice is not None:
        def undo_invoice() -> None:
            if any(p.task_id == invoice.task_id or p.type == "PREPAYMENT" for p in sale.payments):
                raise reject(f"Invoice {invoice.number} has payments; delete them before undoing it.")
            invoice.status = DRAFT
        return undo_invoice
    for task in reversed(sale.fulfilments):
        step = _task_step(state, sale, task)
        if step is not None:
            return step
    if sale.order.authorised:
        return lambda: _undo_order(state, sale)
    if sale.quote.status == AUTHORISED:
        return lambda: setattr(sale.quote, "status", DRAFT)
    return None


def _task_step(state: Cin7CoreState, sale: Sale, task: Fulfilment) -> Step | None:
    if task.ship.status in SHIPPED:
        return lambda: _undo_shipment(state, sale, task)
    if task.pack.status == AUTHORISED:
        def undo_pack() -> None:
            task.pack.status = DRAFT
            task.ship = Shipment(shipping_address=task.ship.shipping_address,
                                 shipping_notes=task.ship.shipping_notes)  # a draft shipment needs packed boxes
        return undo_pack
    if task.pick.status == AUTHORISED:
        def undo_pick() -> None:
            task.pick.status = DRAFT
            task.pack = Document()
            rebalance(state, sale, sale_ref(state, sale, "Sale", task.task_id))
        return undo_pick
    return None


def _undo_shipment(state: Cin7CoreState, sale: Sale, task: Fulfilment) -> None:
    ref = sale_ref(state, sale, "Sale", task.task_id)
    contents = task.boxes()
    for box in sorted(task.ship.shipped_boxes):
        for line in contents.get(box, []):
            unissue(state, sale, line["ProductID"], line["LocationID"], float(line["Quantity"]), ref)
    sale.movements = [m for m in sale.movements if (m["Type"], m["TaskID"]) != ("Sale", task.task_id)]
    sale.cogs = round(sum(float(m["COGS"]) for m in sale.movements), 4)
    task.ship.shipped_boxes.clear()
    task.ship.status = DRAFT
    for line in task.ship.lines:
        line["IsShipped"] = False
    if sale.order.status == FULFILLED:
        sale.order.status = AUTHORISED
    rebalance(state, sale, ref)


def _undo_order(state: Cin7CoreState, sale: Sale) -> None:
    release_all(state, sale, sale_ref(state, sale, "Sale"))
    sale.order.status = DRAFT
    for task in list(sale.fulfilments):
        if AUTHORISED not in (task.pick.status, task.pack.status, task.ship.status):
            sale.fulfilments.remove(task)
            state.task_index.pop(task.task_id, None)
