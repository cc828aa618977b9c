"""Invoices, payments and credit notes of the Cin7 Core simulator.

- ``POST/PUT /sale/invoice {SaleID, TaskID, Status, InvoiceDate, InvoiceDueDate, Lines, AdditionalCharges}``:
  the order must be authorised. ``TaskID`` = the empty GUID makes a new invoice (advanced sales); a simple
  sale has one invoice whose TaskID is the SaleID (setting ``simple_sale_task_id_is_sale_id``). Without
  ``Lines`` the order's lines are invoiced. Authorising raises ``Sale/InvoiceAuthorised`` (``INV-00001``).
- ``POST /sale/payment {SaleID, Type, TaskID, Amount, DatePaid}``: ``PAYMENT`` needs an authorised invoice
  and turns it ``PAID`` once covered (``Sale/FullPaymentReceived``, else ``Sale/PartialPaymentReceived``);
  ``REFUND`` needs an authorised credit note; ``PREPAYMENT`` counts towards the first invoice.
- ``POST /sale/creditnote {SaleID, TaskID, CreditNoteInvoiceNumber, Status, Lines, Restock[]}``: the invoice
  must be ``AUTHORISED`` or ``PAID`` and the credit note ``DRAFT``/``NOT AVAILABLE``. Authorising puts the
  restock lines back on hand at ``RestockLocation`` (default: the sale's location; never more than shipped)
  and raises ``Sale/CreditNoteAuthorised`` (``CR-00001``); the sale becomes ``CREDITED``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from erp_wms_simulators.cin7core import events
from erp_wms_simulators.cin7core.fulfilment import stage_status
from erp_wms_simulators.cin7core.lines import (
    Lookup,
    number,
    object_list,
    priced_lines,
    raise_problems,
    reject,
    stock_lines,
)
from erp_wms_simulators.cin7core.model import (
    AUTHORISED,
    DRAFT,
    EMPTY_GUID,
    PAID,
    VOIDED,
    CreditNote,
    Invoice,
    Payment,
    Sale,
    quantities,
)
from erp_wms_simulators.cin7core.sales import charge_lines, find_sale, sale_ref
from erp_wms_simulators.cin7core.stock import EPSILON
from erp_wms_simulators.common import format_timestamp, new_guid

if TYPE_CHECKING:
    from erp_wms_simulators.cin7core.state import Cin7CoreState

PAYMENT_TYPES = ("PREPAYMENT", "PAYMENT", "REFUND")
LIVE_INVOICE = (AUTHORISED, PAID)


# ---- invoices -------------------------------------------------------------------------------
def post_invoice(state: Cin7CoreState, body: Mapping[str, Any]) -> Sale:
    with state.transaction():
        sale = find_sale(state, body.get("SaleID"))
        problems = ["The sale is voided."] if sale.voided else []
        if not sale.order.authorised:
            problems.append("The sale order must be authorised before invoicing.")
        status = stage_status(body, problems)
        invoice = _task(state, sale, sale.invoices, body.get("TaskID"), "invoice", problems)
        if invoice is not None and invoice.status != DRAFT:
            problems.append(f"The invoice is {invoice.status} and cannot be changed; undo it first.")
        raise_problems(problems)
        lookup = Lookup.of(state)
        lines = priced_lines(lookup, object_list(body, "Lines", problems), problems, account=True) \
            if "Lines" in body else [{**line, "Account": ""} for line in sale.order.lines]
        charges = charge_lines(object_list(body, "AdditionalCharges", problems), problems) \
            if "AdditionalCharges" in body else [dict(c) for c in sale.order.additional_charges]
        raise_problems(problems)
        now = format_timestamp(state.clock(), zulu=state.settings.timestamps_with_z)
        if invoice is None:
            invoice = Invoice(_new_task_id(state, sale, sale.invoices), state.next_number("INV"))
            sale.invoices.append(invoice)
        invoice.lines, invoice.additional_charges, invoice.status = lines, charges, status
        invoice.memo = str(body.get("Memo") or invoice.memo)
        invoice.invoice_date = str(body.get("InvoiceDate") or invoice.invoice_date or now)
        invoice.due_date = str(body.get("InvoiceDueDate") or invoice.due_date or invoice.invoice_date)
        invoice.linked_fulfilment_number = str(body.get("LinkedFulfillmentNumber") or invoice.linked_fulfilment_number)
        if status == AUTHORISED:
            _settle_invoice(sale, invoice)
            state.publish(events.INVOICE_AUTHORISED, events.invoice_event(sale, invoice, state.tenant_id))
        state.touch(sale)
        return sale


def _settle_invoice(sale: Sale, invoice: Invoice) -> None:
    """An authorised invoice already covered by payments is PAID."""
    if invoice.status in LIVE_INVOICE:
        invoice.status = PAID if _paid_towards(sale, invoice) + EPSILON >= invoice.total else AUTHORISED


def _paid_towards(sale: Sale, invoice: Invoice) -> float:
    live = [inv for inv in sale.invoices if inv.status in LIVE_INVOICE]
    first = bool(live) and live[0] is invoice
    return round(sum(p.amount for p in sale.payments if (p.type == "PAYMENT" and p.task_id == invoice.task_id)
                     or (p.type == "PREPAYMENT" and first)), 4)


# ---- payments -------------------------------------------------------------------------------
def post_payment(state: Cin7CoreState, body: Mapping[str, Any]) -> Sale:
    with state.transaction():
        sale = find_sale(state, body.get("SaleID"))
        problems = ["The sale is voided."] if sale.voided else []
        kind = str(body.get("Type") or "").strip().upper()
        if kind not in PAYMENT_TYPES:
            problems.append(f"Type must be one of: {', '.join(PAYMENT_TYPES)}.")
        amount = number(body, "Amount", "Payment", problems, required=True, above=True)
        target = _payment_target(sale, kind, body.get("TaskID"), amount, problems)
        raise_problems(problems)
        when = state.clock()
        payment = Payment(new_guid(), kind, target, amount,
                          str(body.get("DatePaid") or format_timestamp(when, zulu=state.settings.timestamps_with_z)),
                          str(body.get("Account") or ""), str(body.get("Reference") or ""))
        sale.payments.append(payment)
        invoice = next((inv for inv in sale.invoices if inv.task_id == target), None)
        if kind == "PAYMENT" and invoice is not None:
            _settle_invoice(sale, invoice)
            state.publish(*_payment_event(sale, invoice, when))
        state.touch(sale)
        return sale


def delete_payment(state: Cin7CoreState, payment_id: str) -> Sale:
    """``DELETE /sale/payment?ID=``: remove a payment; a PAID invoice it covered is AUTHORISED again."""
    with state.transaction():
        for sale in state.sale_records.values():
            payment = next((p for p in sale.payments if p.id == payment_id.strip().lower()), None)
            if payment is not None:
                sale.payments.remove(payment)
                for invoice in sale.invoices:
                    _settle_invoice(sale, invoice)
                state.touch(sale)
                return sale
    raise reject(f"Payment with ID '{payment_id}' not found.")


def _payment_target(sale: Sale, kind: str, task_id: Any, amount: float, problems: list[str]) -> str:
    wanted = str(task_id or "").strip().lower()
    if kind == "PAYMENT":
        live = [inv for inv in sale.invoices if inv.status == AUTHORISED and (not wanted or inv.task_id == wanted)]
        if not live:
            problems.append("A payment needs an authorised, unpaid invoice.")
            return ""
        due = round(live[0].total - _paid_towards(sale, live[0]), 4)
        if amount > due + EPSILON:
            problems.append(f"The payment ({amount:g}) is more than the amount due ({due:g}).")
        return live[0].task_id
    if kind == "REFUND":
        notes = [n for n in sale.credit_notes if n.status == AUTHORISED and (not wanted or n.task_id == wanted)]
        if not notes:
            problems.append("A refund needs an authorised credit note.")
            return ""
        return notes[0].task_id
    if kind == "PREPAYMENT" and not sale.order.authorised:
        problems.append("A prepayment needs an authorised order.")
    return ""


def _payment_event(sale: Sale, invoice: Invoice, when: Any) -> tuple[str, dict[str, Any]]:
    payload = events.payment_event(sale, invoice, _paid_towards(sale, invoice), when)
    return str(payload["EventType"]), payload


# ---- credit notes ---------------------------------------------------------------------------
def post_credit_note(state: Cin7CoreState, body: Mapping[str, Any]) -> Sale:
    with state.transaction():
        sale = find_sale(state, body.get("SaleID"))
        problems = ["The sale is voided."] if sale.voided else []
        invoice = _credited_invoice(sale, body.get("CreditNoteInvoiceNumber"), problems)
        status = stage_status(body, problems)
        note = _task(state, sale, sale.credit_notes, body.get("TaskID"), "credit note", problems)
        if note is not None and note.status != DRAFT:
            problems.append(f"The credit note is {note.status} and cannot be changed; undo it first.")
        raise_problems(problems)
        assert invoice is not None
        lookup = Lookup.of(state)
        lines = priced_lines(lookup, object_list(body, "Lines", problems), problems, account=True) \
            if "Lines" in body else [dict(line) for line in invoice.lines]
        charges = charge_lines(object_list(body, "AdditionalCharges", problems), problems)
        restock = stock_lines(lookup, object_list(body, "Restock", problems), problems, sale.location_id,
                              restock=True)
        problems += _restock_limits(sale, restock)
        raise_problems(problems)
        if note is None:
            note = CreditNote(_new_task_id(state, sale, sale.credit_notes), state.next_number("CR"), invoice.number)
            sale.credit_notes.append(note)
        note.lines, note.additional_charges, note.restock, note.status = lines, charges, restock, status
        note.memo = str(body.get("Memo") or note.memo)
        note.credit_note_date = str(body.get("CreditNoteDate") or note.credit_note_date or
                                    format_timestamp(state.clock(), zulu=state.settings.timestamps_with_z))
        if status == AUTHORISED:
            restock_note(state, sale, note, +1)
            state.publish(events.CREDIT_NOTE_AUTHORISED, events.credit_note_event(sale, note))
        state.touch(sale)
        return sale


def restock_note(state: Cin7CoreState, sale: Sale, note: CreditNote, sign: int) -> None:
    """Put a credit note's restock lines back on hand (``sign`` -1 takes them out again, for an undo)."""
    ref = sale_ref(state, sale, "Restock", note.task_id, note.number)
    for line in note.restock:
        quantity = sign * float(line["Quantity"])
        cost = next((r.unit_cost for r in state.stock.rows_of(line["ProductID"], sale.location_id)), None)
        state.stock.receive(line["ProductID"], line["LocationID"], quantity, ref, batch=str(line.get("BatchSN") or ""),
                            unit_cost=cost)
        if sign > 0:
            sale.movements.append({"Type": "Restock", "TaskID": note.task_id, "ProductID": line["ProductID"],
                                   "SKU": line["SKU"], "Date": ref.at, "Quantity": quantity,
                                   "Location": line["Location"], "COGS": 0.0})
    if sign < 0:
        sale.movements = [m for m in sale.movements if (m["Type"], m["TaskID"]) != ("Restock", note.task_id)]
    note.restocked = sign > 0


def _credited_invoice(sale: Sale, number_text: Any, problems: list[str]) -> Invoice | None:
    candidates = [inv for inv in sale.invoices if inv.status != VOIDED]
    if number_text:
        candidates = [inv for inv in candidates if inv.number.casefold() == str(number_text).strip().casefold()]
        if not candidates:
            problems.append(f"Invoice '{number_text}' not found on this sale.")
            return None
    invoice = candidates[-1] if candidates else None
    if invoice is None or invoice.status not in LIVE_INVOICE:
        problems.append("The invoice must be AUTHORISED or PAID before a credit note is created.")
    return invoice


def _restock_limits(sale: Sale, restock: list[dict[str, Any]]) -> list[str]:
    shipped = sale.total_of("shipped")
    back = quantities(line for note in sale.credit_notes if note.restocked for line in note.restock)
    problems: list[str] = []
    for product_id, quantity in quantities(restock).items():
        left = shipped.get(product_id, 0.0) - back.get(product_id, 0.0)
        if quantity > left + EPSILON:
            sku = next(line["SKU"] for line in restock if line["ProductID"] == product_id)
            problems.append(f"Cannot restock {quantity:g} of '{sku}': {max(left, 0):g} shipped and not restocked.")
    return problems


# ---- task ids -------------------------------------------------------------------------------
def _task(state: Cin7CoreState, sale: Sale, existing: list[Any], task_id: Any, label: str,
          problems: list[str]) -> Any:
    """The invoice / credit note ``task_id`` names; None means "create one" (validated here)."""
    wanted = str(task_id or "").strip().lower()
    if wanted and wanted != EMPTY_GUID:
        found = next((item for item in existing if item.task_id == wanted), None)
        if found is None and not (wanted == sale.id and not existing and sale.simple):
            problems.append(f"The {label} with TaskID '{task_id}' was not found on this sale.")
        return found
    live = [item for item in existing if item.status != VOIDED]
    if sale.simple and live:
        if wanted == EMPTY_GUID:
            problems.append(f"A simple sale has one {label}; use its TaskID '{live[0].task_id}'.")
        return live[0]
    return None


def _new_task_id(state: Cin7CoreState, sale: Sale, existing: list[Any]) -> str:
    first = sale.simple and not existing and state.settings.simple_sale_task_id_is_sale_id
    return sale.id if first else new_guid()
