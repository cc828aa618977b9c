"""Webhook payloads of the Cin7 Core simulator, one builder per event family.

Payloads are *thin*, as documented: identifiers, document numbers, customer name/contact/email and the
``EventType``; the receiver is expected to call the API for details. Note the documented irregularities:
``Sale/ShipmentAuthorised`` and ``Sale/InvoiceAuthorised`` carry ``SaleTaskID``/``OrderNumber`` (not
``SaleID``/``SaleOrderNumber``) plus ``TenantID``; payment and tracking events give dates as ``dd/MM/yyyy``;
``Stock/AvailableStockLevelChanged`` is a bare JSON array of availability rows without ``EventType``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from erp_wms_simulators.cin7core.model import CreditNote, Fulfilment, Invoice, Sale

ORDER_AUTHORISED = "Sale/OrderAuthorised"
QUOTE_AUTHORISED = "Sale/QuoteAuthorised"
BACKORDERED = "Sale/Backordered"
VOIDED = "Sale/Voided"
UNDO = "Sale/Undo"
PICK_AUTHORISED = "Sale/PickAuthorised"
PACK_AUTHORISED = "Sale/PackAuthorised"
SHIPMENT_AUTHORISED = "Sale/ShipmentAuthorised"
TRACKING_CHANGED = "Sale/ShipmentTrackingNumberChanged"
INVOICE_AUTHORISED = "Sale/InvoiceAuthorised"
CREDIT_NOTE_AUTHORISED = "Sale/CreditNoteAuthorised"
PARTIAL_PAYMENT = "Sale/PartialPaymentReceived"
FULL_PAYMENT = "Sale/FullPaymentReceived"
STOCK_CHANGED = "Stock/AvailableStockLevelChanged"
TASK_TYPE_SIGN = "SaleFulfilment"
DELIVERED_TYPES = (QUOTE_AUTHORISED, ORDER_AUTHORISED, BACKORDERED, VOIDED, UNDO, PICK_AUTHORISED, PACK_AUTHORISED,
                   SHIPMENT_AUTHORISED, TRACKING_CHANGED, INVOICE_AUTHORISED, CREDIT_NOTE_AUTHORISED,
                   PARTIAL_PAYMENT, FULL_PAYMENT, STOCK_CHANGED)


def customer(sale: Sale) -> dict[str, Any]:
    return {"CustomerName": sale.customer, "CustomerContactName": str(sale.header.get("Contact") or ""),
            "CustomerContactEmail": str(sale.header.get("Email") or "")}


def order_event(sale: Sale, event_type: str) -> dict[str, Any]:
    """``Sale/QuoteAuthorised``, ``Sale/OrderAuthorised``, ``Sale/Backordered``."""
    return {"SaleID": sale.id, "SaleOrderNumber": sale.order_number, "EventType": event_type}


def voided_event(sale: Sale) -> dict[str, Any]:
    return {"SaleID": sale.id, "SaleOrderNumber": sale.order_number, **customer(sale), "EventType": VOIDED}


def undo_event(sale: Sale) -> dict[str, Any]:
    contact = customer(sale)
    return {"SaleID": sale.id, "SaleOrderNumber": sale.order_number,
            "CustomerContactName": contact["CustomerContactName"],
            "CustomerContactEmail": contact["CustomerContactEmail"], "EventType": UNDO}


def task_event(sale: Sale, task: Fulfilment, event_type: str) -> dict[str, Any]:
    """``Sale/PickAuthorised``, ``Sale/PackAuthorised``."""
    return {"SaleID": sale.id, "SaleOrderNumber": sale.order_number, "TaskID": task.task_id, **customer(sale),
            "EventType": event_type}


def shipment_event(sale: Sale, task: Fulfilment, tenant_id: str) -> dict[str, Any]:
    return {"SaleTaskID": task.task_id, "TenantID": tenant_id, "OrderNumber": sale.order_number, **customer(sale),
            "CustomerReference": str(sale.header.get("CustomerReference") or ""), "EventType": SHIPMENT_AUTHORISED}


def invoice_event(sale: Sale, invoice: Invoice, tenant_id: str) -> dict[str, Any]:
    return {"SaleTaskID": invoice.task_id, "TenantID": tenant_id, "OrderNumber": sale.order_number,
            "InvoiceNumber": invoice.number, **customer(sale), "EventType": INVOICE_AUTHORISED}


def credit_note_event(sale: Sale, note: CreditNote) -> dict[str, Any]:
    return {"SaleID": sale.id, "SaleOrderNumber": sale.order_number, "CreditNoteNumber": note.number,
            "TaskID": note.task_id, **customer(sale), "EventType": CREDIT_NOTE_AUTHORISED}


def payment_event(sale: Sale, invoice: Invoice, paid: float, when: datetime) -> dict[str, Any]:
    """``Sale/FullPaymentReceived`` when ``paid`` covers the invoice, else ``Sale/PartialPaymentReceived``."""
    full = paid + 1e-9 >= invoice.total
    percent = 100.0 if invoice.total <= 0 else round(min(paid / invoice.total, 1.0) * 100, 2)
    return {"SaleID": sale.id, "DocumentNumber": invoice.number, "DocumentType": "invoice",
            "DocumentDate": day_month_year(when), **customer(sale), "AmountPercent": percent,
            "EventType": FULL_PAYMENT if full else PARTIAL_PAYMENT}


def tracking_event(sale: Sale, task: Fulfilment) -> dict[str, Any]:
    shipments = [{"ShipmentDate": line.get("ShipmentDate"), "TrackingNumber": line.get("TrackingNumber"),
                  "TrackingUrl": line.get("TrackingURL"), "Carrier": line.get("Carrier")}
                 for line in task.ship.lines if line.get("TrackingNumber")]
    order_date = sale.header.get("SaleOrderDate")
    return {"SaleID": sale.id, "TaskID": task.task_id, "SaleOrderNumber": sale.order_number,
            "SaleOrderDate": day_month_year(order_date) if isinstance(order_date, datetime) else "",
            "CustomerContact": str(sale.header.get("Contact") or ""),
            "CustomerEmail": str(sale.header.get("Email") or ""), "CustomerName": sale.customer,
            "TaskTypeSign": TASK_TYPE_SIGN, "Shipments": shipments, "EventType": TRACKING_CHANGED}


def stock_event(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bare array of ``Stock/AvailableStockLevelChanged``: availability rows plus ``MaxRows``."""
    keep = ("ID", "SKU", "Name", "Barcode", "Location", "Bin", "Batch", "ExpiryDate", "Category", "OnHand",
            "Allocated", "Available", "OnOrder", "StockOnHand")
    return [{**{name: row.get(name) for name in keep}, "MaxRows": len(rows)} for row in rows]


def day_month_year(moment: datetime) -> str:
    return moment.strftime("%d/%m/%Y")
