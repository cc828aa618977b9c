"""The sale records of the Cin7 Core simulator.

A :class:`Sale` holds its header fields under the vendor's names (``header``), and one object per stage
document: quote, order, fulfilment tasks (each with pick, pack and ship), invoices, credit notes and
payments. Lines are plain dicts with the vendor's field names, already validated and normalised, so
rendering them is a copy. Statuses are the stage enums of the API; the sale-level and combined statuses
are derived in :mod:`erp_wms_simulators.cin7core.statuses`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

NOT_AVAILABLE = "NOT AVAILABLE"
DRAFT = "DRAFT"
AUTHORISED = "AUTHORISED"
PARTIALLY_AUTHORISED = "PARTIALLY AUTHORISED"
VOIDED = "VOIDED"
PAID = "PAID"
FULFILLED = "FULFILLED"
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
SIMPLE = "Simple Sale"
ADVANCED = "Advanced Sale"


@dataclass
class Document:
    """A quote, order, pick or pack: a status and its lines."""

    status: str = NOT_AVAILABLE
    lines: list[dict[str, Any]] = field(default_factory=list)
    memo: str = ""
    additional_charges: list[dict[str, Any]] = field(default_factory=list)

    @property
    def authorised(self) -> bool:
        return self.status in (AUTHORISED, FULFILLED)

    @property
    def open(self) -> bool:
        """Still editable (a POST may replace its lines)."""
        return self.status in (NOT_AVAILABLE, DRAFT)


@dataclass
class Shipment:
    """The ship stage of a fulfilment task; lines are boxes with carrier and tracking."""

    status: str = NOT_AVAILABLE
    lines: list[dict[str, Any]] = field(default_factory=list)
    require_by: str | None = None
    shipping_address: dict[str, Any] = field(default_factory=dict)
    shipping_notes: str = ""
    shipped_boxes: set[str] = field(default_factory=set)  # boxes whose stock has left


@dataclass
class Fulfilment:
    """One fulfilment task: pick, pack and ship."""

    task_id: str
    number: int
    pick: Document = field(default_factory=Document)
    pack: Document = field(default_factory=Document)
    ship: Shipment = field(default_factory=Shipment)
    linked_invoice_number: str = ""

    @property
    def status(self) -> str:
        """The task's ``FulFilmentStatus``."""
        if self.ship.status == AUTHORISED:
            return "FULFILLED"
        if self.ship.status == PARTIALLY_AUTHORISED:
            return "PARTIALLY FULFILLED"
        if VOIDED in (self.pick.status, self.ship.status):
            return VOIDED
        return "NOT FULFILLED"

    def picked(self) -> dict[str, float]:
        return quantities(self.pick.lines) if self.pick.status == AUTHORISED else {}

    def packed(self) -> dict[str, float]:
        return quantities(self.pack.lines) if self.pack.status == AUTHORISED else {}

    def boxes(self) -> dict[str, list[dict[str, Any]]]:
        """Pack lines grouped by box name, in packing order."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for line in self.pack.lines:
            grouped.setdefault(str(line["Box"]), []).append(line)
        return grouped

    def shipped(self) -> dict[str, float]:
        """Product quantities in boxes that have shipped."""
        lines = [line for box, content in self.boxes().items() if box in self.ship.shipped_boxes
                 for line in content]
        return quantities(lines)


@dataclass
class Invoice:
    task_id: str
    number: str
    status: str = DRAFT
    lines: list[dict[str, Any]] = field(default_factory=list)
    additional_charges: list[dict[str, Any]] = field(default_factory=list)
    memo: str = ""
    invoice_date: str = ""
    due_date: str = ""
    linked_fulfilment_number: str = ""

    @property
    def total(self) -> float:
        return line_totals(self.lines, self.additional_charges)[2]


@dataclass
class CreditNote:
    task_id: str
    number: str
    invoice_number: str
    status: str = DRAFT
    lines: list[dict[str, Any]] = field(default_factory=list)
    additional_charges: list[dict[str, Any]] = field(default_factory=list)
    restock: list[dict[str, Any]] = field(default_factory=list)
    memo: str = ""
    credit_note_date: str = ""
    restocked: bool = False  # the restock lines' stock is back

    @property
    def total(self) -> float:
        return line_totals(self.lines, self.additional_charges)[2]


@dataclass
class Payment:
    id: str
    type: str  # PREPAYMENT | PAYMENT | REFUND
    task_id: str
    amount: float
    date_paid: str
    account: str = ""
    reference: str = ""


@dataclass
class Sale:
    """One sale with every stage document."""

    id: str
    order_number: str
    created: datetime
    updated: datetime
    header: dict[str, Any]
    location_id: str
    sale_type: str = SIMPLE
    skip_quote: bool = True
    auto_mode: str = "NOPICK"
    additional_attributes: dict[str, str] = field(default_factory=dict)
    quote: Document = field(default_factory=Document)
    order: Document = field(default_factory=Document)
    fulfilments: list[Fulfilment] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    credit_notes: list[CreditNote] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    allocations: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    voided: bool = False
    cogs: float = 0.0
    movements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def simple(self) -> bool:
        return self.sale_type == SIMPLE

    @property
    def customer(self) -> str:
        return str(self.header.get("Customer") or "")

    def ordered(self) -> dict[str, float]:
        return quantities(self.order.lines) if self.order.authorised else {}

    def total_of(self, stage: str) -> dict[str, float]:
        """Summed product quantities over all tasks of ``stage`` (``picked``, ``packed`` or ``shipped``)."""
        return merge(getattr(task, stage)() for task in self.fulfilments)

    def task(self, task_id: str) -> Fulfilment | None:
        wanted = task_id.lower()
        return next((t for t in self.fulfilments if t.task_id.lower() == wanted), None)

    def tracking_numbers(self) -> list[str]:
        seen: dict[str, None] = {}
        for task in self.fulfilments:
            for line in task.ship.lines:
                if line.get("TrackingNumber"):
                    seen[str(line["TrackingNumber"])] = None
        return list(seen)

    def paid(self, task_id: str | None = None) -> float:
        """Payments (prepayments included) less refunds, optionally for one invoice task."""
        total = 0.0
        for payment in self.payments:
            if task_id is not None and payment.task_id != task_id and payment.type != "PREPAYMENT":
                continue
            total += -payment.amount if payment.type == "REFUND" else payment.amount
        return round(total, 4)


def quantities(lines: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Quantity per ProductID."""
    totals: dict[str, float] = defaultdict(float)
    for line in lines:
        totals[str(line["ProductID"])] += float(line["Quantity"])
    return dict(totals)


def merge(parts: Iterable[Mapping[str, float]]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for part in parts:
        for key, value in part.items():
            totals[key] += value
    return dict(totals)


def line_totals(lines: Iterable[Mapping[str, Any]],
                charges: Iterable[Mapping[str, Any]] = ()) -> tuple[float, float, float]:
    """``(TotalBeforeTax, Tax, Total)`` of priced lines and additional charges."""
    every = [*lines, *charges]
    before = sum(float(line.get("Total") or 0) for line in every)
    tax = sum(float(line.get("Tax") or 0) for line in every)
    return round(before, 4), round(tax, 4), round(before + tax, 4)
