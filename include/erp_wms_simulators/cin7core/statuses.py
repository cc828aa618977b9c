"""Sale-level statuses of the Cin7 Core simulator, derived from the stage documents.

``Sale.Status`` follows the documented table: ``DRAFT`` → ``ESTIMATING``/``ESTIMATED`` (quote) →
``ORDERING`` → ``ORDERED``/``BACKORDERED`` → ``PICKING``/``PICKED`` → ``PACKING``/``PACKED`` → ``SHIPPING``
(simple sales only) → ``INVOICING``/``INVOICED`` → ``COMPLETED``, with ``CREDITED`` and ``VOIDED`` overriding.
No ``SHIPPED`` Sale.Status is documented: once every box has shipped a simple sale shows the setting
``shipped_sale_status`` (default ``PACKED``) until it is invoiced; shipping shows in
``CombinedShippingStatus=SHIPPED`` and ``FulFilmentStatus=FULFILLED``. Advanced sales keep
``ORDERED``/``BACKORDERED`` while their tasks progress.

The combined statuses compare quantities: what was picked, packed or shipped over all tasks against what
was ordered (``PARTIALLY …`` in between).
"""

from __future__ import annotations

from collections.abc import Mapping

from erp_wms_simulators.cin7core.model import (
    AUTHORISED,
    DRAFT,
    NOT_AVAILABLE,
    PAID,
    PARTIALLY_AUTHORISED,
    VOIDED,
    CreditNote,
    Sale,
)

EPSILON = 1e-9
SALE_STATUSES = ("DRAFT", "ESTIMATING", "ESTIMATED", "ORDERING", "ORDERED", "BACKORDERED", "PICKING", "PICKED",
                 "PACKING", "PACKED", "SHIPPING", "SHIPPED", "INVOICING", "INVOICED", "CREDITED", "COMPLETED",
                 "VOIDED")
PICK_WORDS = ("NOT PICKED", "PICKING", "PARTIALLY PICKED", "PICKED")
PACK_WORDS = ("NOT PACKED", "PACKING", "PARTIALLY PACKED", "PACKED")
SHIP_WORDS = ("NOT SHIPPED", "SHIPPING", "PARTIALLY SHIPPED", "SHIPPED")


def sale_status(sale: Sale, shipped_status: str = "PACKED") -> str:
    """``Sale.Status`` of ``sale``."""
    if sale.voided:
        return VOIDED
    if any(note.status == AUTHORISED for note in sale.credit_notes):
        return "CREDITED"
    invoices = [inv for inv in sale.invoices if inv.status != VOIDED]
    if invoices and all(inv.status == PAID for inv in invoices) and shipping_status(sale) == "SHIPPED":
        return "COMPLETED"
    if any(inv.status in (AUTHORISED, PAID) for inv in invoices):
        return "INVOICED"
    if any(inv.status == DRAFT for inv in invoices):
        return "INVOICING"
    return _before_invoice(sale, shipped_status)


def _before_invoice(sale: Sale, shipped_status: str) -> str:
    if sale.order.status == NOT_AVAILABLE:
        if sale.quote.status == DRAFT:
            return "ESTIMATING"
        return "ESTIMATED" if sale.quote.status == AUTHORISED or sale.skip_quote else "DRAFT"
    if sale.order.status == DRAFT:
        return "ORDERING"
    if sale.simple and sale.fulfilments:
        task = sale.fulfilments[0]
        if task.ship.status == AUTHORISED:
            return shipped_status
        if task.ship.status in (DRAFT, PARTIALLY_AUTHORISED):
            return "SHIPPING"
        for document, word in ((task.pack, "PACK"), (task.pick, "PICK")):
            if document.status == AUTHORISED:
                return f"{word}ED"
            if document.status == DRAFT:
                return f"{word}ING"
    return "BACKORDERED" if backordered(sale) else "ORDERED"


def backordered(sale: Sale) -> bool:
    return sale.order.authorised and any(float(line.get("BackorderQuantity") or 0) > EPSILON
                                         for line in sale.order.lines)


def picking_status(sale: Sale) -> str:
    drafts = any(task.pick.status == DRAFT for task in sale.fulfilments)
    return _combined(sale, sale.total_of("picked"), drafts, PICK_WORDS)


def packing_status(sale: Sale) -> str:
    drafts = any(task.pack.status == DRAFT for task in sale.fulfilments)
    return _combined(sale, sale.total_of("packed"), drafts, PACK_WORDS)


def shipping_status(sale: Sale) -> str:
    drafts = any(task.ship.status in (DRAFT, PARTIALLY_AUTHORISED) for task in sale.fulfilments)
    return _combined(sale, sale.total_of("shipped"), drafts, SHIP_WORDS)


def fulfilment_status(sale: Sale) -> str:
    """The sale's ``FulFilmentStatus``."""
    words = ("NOT FULFILLED", "NOT FULFILLED", "PARTIALLY FULFILLED", "FULFILLED")
    return _combined(sale, sale.total_of("shipped"), False, words)


def _combined(sale: Sale, done: Mapping[str, float], drafts: bool, words: tuple[str, str, str, str]) -> str:
    if sale.voided:
        return VOIDED
    if not sale.order.authorised:
        return NOT_AVAILABLE
    ordered = sum(sale.ordered().values())
    finished = sum(done.values())
    if finished <= EPSILON:
        return words[1] if drafts else words[0]
    return words[2] if finished + EPSILON < ordered else words[3]


def invoice_status(sale: Sale) -> str:
    """``CombinedInvoiceStatus``: NOT AVAILABLE, NOT INVOICED, DRAFT, (PARTIALLY) INVOICED (/ CREDITED), PAID."""
    if sale.voided:
        return VOIDED
    if not sale.order.authorised:
        return NOT_AVAILABLE
    live = [inv for inv in sale.invoices if inv.status in (AUTHORISED, PAID)]
    if not live:
        return DRAFT if any(inv.status == DRAFT for inv in sale.invoices) else "NOT INVOICED"
    invoiced = sum(float(line.get("Quantity") or 0) for inv in live for line in inv.lines if "ProductID" in line)
    partial = invoiced + EPSILON < sum(sale.ordered().values())
    base = "PARTIALLY INVOICED" if partial else "INVOICED"
    if any(note.status == AUTHORISED for note in sale.credit_notes):
        return f"{base} / CREDITED"
    return PAID if not partial and all(inv.status == PAID for inv in live) else base


def credit_note_status(sale: Sale) -> str:
    notes = [note for note in sale.credit_notes if note.status != VOIDED] or sale.credit_notes
    return notes[-1].status if notes else NOT_AVAILABLE


RESTOCKED = "RESTOCKED"
NOT_RESTOCKED = "NOT RESTOCKED"


def note_restock_status(note: CreditNote) -> str:
    """``RestockStatus`` of one credit note: RESTOCKED, NOT RESTOCKED (restock lines not yet back in
    stock) or NOT AVAILABLE (no restock lines)."""
    if note.restocked:
        return RESTOCKED
    return NOT_RESTOCKED if note.restock else NOT_AVAILABLE


def restock_status(sale: Sale) -> str:
    """``RestockStatus`` of a ``saleList`` row, over the credit notes that are not voided: NOT RESTOCKED
    while any restock is pending, RESTOCKED once every one is back, NOT AVAILABLE with no restock at all."""
    found = {note_restock_status(note) for note in sale.credit_notes if note.status != VOIDED}
    for status in (NOT_RESTOCKED, RESTOCKED):
        if status in found:
            return status
    return NOT_AVAILABLE


def payment_status(sale: Sale) -> str:
    """``CombinedPaymentStatus``: UNPAID, PREPAID, PARTIALLY PAID, PAID, NOT REFUNDED or VOIDED."""
    if sale.voided:
        return VOIDED
    credited = sum(note.total for note in sale.credit_notes if note.status == AUTHORISED)
    refunded = sum(p.amount for p in sale.payments if p.type == "REFUND")
    if credited > EPSILON and refunded + EPSILON < credited:
        return "NOT REFUNDED"
    invoiced = sum(inv.total for inv in sale.invoices if inv.status in (AUTHORISED, PAID))
    paid = sum(p.amount for p in sale.payments if p.type != "REFUND")
    if invoiced <= EPSILON:
        return "PREPAID" if paid > EPSILON else "UNPAID"
    if paid + EPSILON >= invoiced:
        return PAID
    return "PARTIALLY PAID" if paid > EPSILON else "UNPAID"


def combined_statuses(sale: Sale) -> dict[str, str]:
    """Every combined status field of a sale, keyed by its API name."""
    return {
        "CombinedPickingStatus": picking_status(sale),
        "CombinedPackingStatus": packing_status(sale),
        "CombinedShippingStatus": shipping_status(sale),
        "FulFilmentStatus": fulfilment_status(sale),
        "CombinedInvoiceStatus": invoice_status(sale),
        "CombinedPaymentStatus": payment_status(sale),
    }
