"""How the Cin7 Core simulator writes sales out: the full sale (``GET /sale``), its stage documents, and
the rows of ``/saleList`` and ``/saleCreditNoteList``. Field names are the vendor's, including its
spelling (``FulFilmentStatus``, ``FulfillmentNumber``); timestamps are text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from erp_wms_simulators.cin7core.model import (
    AUTHORISED,
    PAID,
    CreditNote,
    Document,
    Fulfilment,
    Invoice,
    Payment,
    Sale,
    line_totals,
)
from erp_wms_simulators.cin7core.sales import ATTRIBUTES, BILLING_FIELDS, HEADER_TEXT, SHIPPING_FIELDS
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.statuses import (
    combined_statuses,
    credit_note_status,
    note_restock_status,
    restock_status,
    sale_status,
)
from erp_wms_simulators.common import format_timestamp


class SaleWriter:
    """Renders sales with the settings' status and timestamp choices."""

    def __init__(self, settings: Cin7CoreSettings) -> None:
        self.settings = settings

    def stamp(self, moment: Any) -> str | None:
        if not isinstance(moment, datetime):
            return None
        return format_timestamp(moment, zulu=self.settings.timestamps_with_z)

    def sale(self, sale: Sale, *, movements: bool = True) -> dict[str, Any]:
        """The full sale of ``GET /sale``."""
        header = sale.header
        body: dict[str, Any] = {"ID": sale.id, "Customer": sale.customer, "CustomerID": header.get("CustomerID")}
        body.update({name: header.get(name, "") for name in HEADER_TEXT if name != "SourceChannel"})
        body.update({
            "SkipQuote": sale.skip_quote, "BillingAddress": _address(header.get("BillingAddress"), BILLING_FIELDS),
            "ShippingAddress": _address(header.get("ShippingAddress"), SHIPPING_FIELDS),
            "BaseCurrency": header.get("BaseCurrency"), "CustomerCurrency": header.get("CustomerCurrency"),
            "TaxCalculation": header.get("TaxCalculation", "Exclusive"),
            "CurrencyRate": header.get("CurrencyRate", 1.0),
            "ShipBy": self.stamp(header.get("ShipBy")), "Location": header.get("Location"),
            "SaleOrderDate": self.stamp(header.get("SaleOrderDate")), "LastModifiedOn": self.stamp(sale.updated),
            "COGSAmount": sale.cogs, "Status": sale_status(sale, self.settings.shipped_sale_status),
            **combined_statuses(sale), "CombinedTrackingNumbers": self.tracking(sale),
            "ServiceOnly": False, "Type": sale.sale_type, "SourceChannel": header.get("SourceChannel", "API"),
            "Quote": self.document(sale, sale.quote, quote=True), "Order": self.document(sale, sale.order),
            "Fulfilments": [self.task(t) for t in sale.fulfilments],
            "Invoices": [self.invoice(sale, inv) for inv in sale.invoices],
            "CreditNotes": [self.credit_note(sale, note) for note in sale.credit_notes],
            "ManualJournals": {"Status": "NOT AVAILABLE", "Lines": []},
            "AdditionalAttributes": {name: sale.additional_attributes.get(name, "") for name in ATTRIBUTES},
            "Attachments": [], "InventoryMovements": [self._movement(m) for m in sale.movements] if movements else [],
            "Transactions": [],
        })
        return body

    def tracking(self, sale: Sale) -> str:
        return self.settings.tracking_separator.join(sale.tracking_numbers())

    def document(self, sale: Sale, document: Document, *, quote: bool = False) -> dict[str, Any]:
        """``Quote`` / ``Order`` (``GET /sale/order`` adds ``SaleID``)."""
        before, tax, total = line_totals(document.lines, document.additional_charges)
        body: dict[str, Any] = {"SaleOrderNumber": sale.order_number, "Memo": document.memo,
                                "Status": document.status, "Lines": [dict(line) for line in document.lines],
                                "AdditionalCharges": [dict(c) for c in document.additional_charges],
                                "TotalBeforeTax": before, "Tax": tax, "Total": total}
        if quote:
            body.pop("SaleOrderNumber")
        return body

    def task(self, task: Fulfilment) -> dict[str, Any]:
        return {"TaskID": task.task_id, "FulfillmentNumber": task.number,
                "LinkedInvoiceNumber": task.linked_invoice_number or None, "FulFilmentStatus": task.status,
                "Pick": self.stage(task, "pick", wrapped=False), "Pack": self.stage(task, "pack", wrapped=False),
                "Ship": self.stage(task, "ship", wrapped=False)}

    def stage(self, task: Fulfilment, stage: str, *, wrapped: bool = True) -> dict[str, Any]:
        """A pick, pack or ship document (``wrapped`` adds the ``TaskID``, as the stage endpoints answer)."""
        body: dict[str, Any] = {"TaskID": task.task_id} if wrapped else {}
        if stage == "ship":
            ship = task.ship
            lines = [{**{k: v for k, v in line.items() if k != "Box"}, "Boxes": line["Box"]} for line in ship.lines]
            body.update({"Status": ship.status, "RequireBy": ship.require_by,
                         "ShippingAddress": dict(ship.shipping_address), "ShippingNotes": ship.shipping_notes,
                         "Lines": lines})
            return body
        document: Document = getattr(task, stage)
        body.update({"Status": document.status, "Lines": [dict(line) for line in document.lines]})
        return body

    def invoice(self, sale: Sale, invoice: Invoice) -> dict[str, Any]:
        before, tax, total = line_totals(invoice.lines, invoice.additional_charges)
        paid = sum(p.amount for p in sale.payments if p.task_id == invoice.task_id and p.type == "PAYMENT")
        return {"TaskID": invoice.task_id, "InvoiceNumber": invoice.number, "Status": invoice.status,
                "InvoiceDate": invoice.invoice_date, "InvoiceDueDate": invoice.due_date, "Memo": invoice.memo,
                "LinkedFulfillmentNumber": invoice.linked_fulfilment_number or None,
                "Lines": [dict(line) for line in invoice.lines],
                "AdditionalCharges": [dict(c) for c in invoice.additional_charges], "TotalBeforeTax": before,
                "Tax": tax, "Total": total, "Paid": round(paid, 4),
                "Payments": [payment(p) for p in sale.payments if p.task_id == invoice.task_id]}

    def credit_note(self, sale: Sale, note: CreditNote) -> dict[str, Any]:
        before, tax, total = line_totals(note.lines, note.additional_charges)
        return {"TaskID": note.task_id, "CreditNoteNumber": note.number,
                "CreditNoteInvoiceNumber": note.invoice_number, "Status": note.status,
                "CreditNoteDate": note.credit_note_date, "Memo": note.memo,
                "Lines": [dict(line) for line in note.lines],
                "AdditionalCharges": [dict(c) for c in note.additional_charges],
                "Restock": [dict(line) for line in note.restock],
                "Refunds": [payment(p) for p in sale.payments if p.type == "REFUND" and p.task_id == note.task_id],
                "TotalBeforeTax": before, "Tax": tax, "Total": total}

    def list_row(self, sale: Sale) -> dict[str, Any]:
        """One ``/saleList`` row."""
        statuses = combined_statuses(sale)
        live = [inv for inv in sale.invoices if inv.status in (AUTHORISED, PAID)]
        first = live[0] if live else None
        notes = [note for note in sale.credit_notes if note.status == AUTHORISED]
        return {
            "SaleID": sale.id, "OrderNumber": sale.order_number,
            "Status": sale_status(sale, self.settings.shipped_sale_status),
            "OrderDate": self.stamp(sale.header.get("SaleOrderDate")),
            "InvoiceDate": first.invoice_date if first else None, "Customer": sale.customer,
            "CustomerID": sale.header.get("CustomerID"), "InvoiceNumber": first.number if first else "",
            "CustomerReference": sale.header.get("CustomerReference", ""),
            "InvoiceAmount": round(sum(inv.total for inv in live), 4),
            "PaidAmount": round(sum(p.amount for p in sale.payments if p.type != "REFUND"), 4),
            "InvoiceDueDate": first.due_date if first else None, "ShipBy": self.stamp(sale.header.get("ShipBy")),
            "BaseCurrency": sale.header.get("BaseCurrency"), "CustomerCurrency": sale.header.get("CustomerCurrency"),
            "CreditNoteNumber": notes[-1].number if notes else "", "Updated": self.stamp(sale.updated),
            "QuoteStatus": sale.quote.status, "OrderStatus": sale.order.status,
            "CombinedPickingStatus": statuses["CombinedPickingStatus"],
            "CombinedPackingStatus": statuses["CombinedPackingStatus"],
            "CombinedShippingStatus": statuses["CombinedShippingStatus"],
            "FulFilmentStatus": statuses["FulFilmentStatus"],
            "CombinedInvoiceStatus": statuses["CombinedInvoiceStatus"], "CreditNoteStatus": credit_note_status(sale),
            "CombinedPaymentStatus": statuses["CombinedPaymentStatus"], "RestockStatus": restock_status(sale),
            "Type": sale.sale_type,
            "CombinedTrackingNumbers": self.tracking(sale), "SourceChannel": sale.header.get("SourceChannel", "API"),
            "ExternalID": sale.header.get("ExternalID", ""), "OrderLocationID": sale.location_id,
        }

    def credit_note_row(self, sale: Sale, note: CreditNote) -> dict[str, Any]:
        """One ``/saleCreditNoteList`` row (one per credit note)."""
        return {
            "SaleID": sale.id, "OrderNumber": sale.order_number,
            "Status": sale_status(sale, self.settings.shipped_sale_status), "CreditNoteTaskID": note.task_id,
            "CreditNoteNumber": note.number, "CreditNoteInvoiceNumber": note.invoice_number,
            "CreditNoteDate": note.credit_note_date, "CreditNoteStatus": note.status, "Customer": sale.customer,
            "CustomerID": sale.header.get("CustomerID"), "CustomerReference": sale.header.get("CustomerReference", ""),
            "CreditNoteAmount": note.total, "BaseCurrency": sale.header.get("BaseCurrency"),
            "RestockStatus": note_restock_status(note),
            "Updated": self.stamp(sale.updated), "ExternalID": sale.header.get("ExternalID", ""),
            "Type": sale.sale_type,
        }

    def _movement(self, movement: dict[str, Any]) -> dict[str, Any]:
        return {**movement, "Date": self.stamp(movement["Date"])}


def payment(item: Payment) -> dict[str, Any]:
    return {"ID": item.id, "Type": item.type, "TaskID": item.task_id or None, "Amount": item.amount,
            "DatePaid": item.date_paid, "Account": item.account, "Reference": item.reference}


def _address(value: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    given = value if isinstance(value, dict) else {}
    address = {name: given.get(name) for name in fields}
    address["DisplayAddressLine1"] = ", ".join(str(given[k]) for k in ("Line1", "Line2") if given.get(k))
    address["DisplayAddressLine2"] = ", ".join(str(given[k]) for k in ("City", "State", "Postcode", "Country")
                                               if given.get(k))
    return address
