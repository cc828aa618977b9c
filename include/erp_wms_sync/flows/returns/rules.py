"""The pure rules of the returns flow (no I/O): how a Peoplevox return becomes ledger lines, when a sellable line's
stock-in counts as confirmed, what a Cin7 credit note credits and at what price, and how a Peoplevox receipt is
booked against a BlueCherry return authorisation (RA).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from erp_wms_sync.domain.pv_returns import PeoplevoxReturn

MEMO_PREFIX = "WMS-RETURN"
RECEIPT_PREFIX = "WMS-RETURN"
LIVE_INVOICE_STATUSES = ("AUTHORISED", "PAID")
CREDITED_STATUSES = ("AUTHORISED",)  # a DRAFT credit note is not a credit yet
CONFIRMING_STATES = ("applied", "opening")  # a stock_queue movement in one of these is held by Cin7
DAMAGED_POLICIES = ("review", "credit", "none")
BLUECHERRY_SELLABLE = "SELLABLE"
BLUECHERRY_DAMAGED = "DAMAGED"


def credit_memo(return_code: str) -> str:
    """The Memo of a return's Cin7 credit note: its key, looked up before creating (never two per return)."""
    return f"{MEMO_PREFIX} {return_code}"


def receipt_reference(return_code: str) -> str:
    """The BlueCherry receipt reference of a Peoplevox return (BlueCherry books a reference once)."""
    return f"{RECEIPT_PREFIX}-{return_code}"


def ledger_lines(found: PeoplevoxReturn, *, source: str) -> list[dict[str, Any]]:
    """One ledger line per item code of a return (quantities of rows of the same item added up). An item listed in
    both a sellable and an unsellable row is judged unsellable as a whole: goods wrongly kept out of stock are found
    on a count, goods wrongly sold are not."""
    by_item: dict[str, dict[str, Any]] = {}
    for line in found.lines:
        known = by_item.get(line.item_code)
        if known is None:
            by_item[line.item_code] = {
                "return_code": found.code, "item_code": line.item_code, "quantity": line.quantity,
                "sellable": line.sellable, "condition": line.condition, "reason": line.reason,
                "sales_order": found.sales_order, "site": found.site, "returned_at": found.returned_at,
                "source": source}
        else:
            known["quantity"] += line.quantity
            known["sellable"] = known["sellable"] and line.sellable
            if not line.sellable:
                known["condition"] = line.condition
    return list(by_item.values())


@dataclass(frozen=True)
class Movement:
    """What the rules need of a queued Peoplevox stock movement."""

    history_id: int
    quantity: int
    counted_delta: int
    state: str
    comments: str


@dataclass(frozen=True)
class StockIn:
    """Whether a sellable line's stock-in is in Cin7: ``confirmed`` when movements of this return bringing its
    whole quantity onto counted shelves are applied by inventory sync. ``seen`` is what Peoplevox moved so far."""

    confirmed: bool
    history_ids: tuple[int, ...]
    seen: int
    applied: int


def stock_in(return_code: str, quantity: int, movements: Sequence[Movement]) -> StockIn:
    """The stock-in of one returned line from the movements of its order and item (the caller's list). A movement
    is this return's when its comments carry the return code (Peoplevox writes it there); a movement with no
    comments is taken as well (an older account that does not write them). Only movements onto counted locations
    count; the stock-in is confirmed once those sum to the returned quantity and every one is in Cin7."""
    mine = [m for m in movements if m.comments.strip() in ("", return_code) and m.counted_delta > 0]
    seen = sum(m.counted_delta for m in mine)
    applied = sum(m.counted_delta for m in mine if m.state in CONFIRMING_STATES)
    confirmed = seen >= quantity and applied >= quantity
    return StockIn(confirmed, tuple(m.history_id for m in mine), seen, applied)


def overdue(returned_at: datetime | None, now: datetime, deadline_hours: int) -> bool:
    """A return still not in stock ``deadline_hours`` after Peoplevox received it (naive UTC both)."""
    return returned_at is not None and now - returned_at >= timedelta(hours=deadline_hours)


def creditable(sellable: bool, policy: str) -> bool:
    """Whether a line goes on the return's credit note: sellable lines always (after their stock-in), damaged lines
    only when ``returns.damaged_credit`` is ``credit``."""
    if policy not in DAMAGED_POLICIES:
        raise ValueError(f"returns.damaged_credit is {policy!r}: expected one of {', '.join(DAMAGED_POLICIES)}")
    return sellable or policy == "credit"


def live_invoice(sale: Mapping[str, Any]) -> str | None:
    """The number of the sale's last AUTHORISED or PAID invoice (what a credit note credits), else None."""
    numbers = [str(inv.get("InvoiceNumber") or "") for inv in sale.get("Invoices") or []
               if isinstance(inv, Mapping) and str(inv.get("Status") or "").upper() in LIVE_INVOICE_STATUSES]
    return numbers[-1] if numbers and numbers[-1] else None


@dataclass(frozen=True)
class PricedLine:
    sku: str
    quantity: int
    price: Decimal
    discount: Decimal
    tax_rule: str


def priced_lines(order_lines: Iterable[Any], quantities: Mapping[str, int]) -> tuple[list[PricedLine], list[str]]:
    """Credit lines priced as the sale's order lines (``SKU``, ``Price``, ``Discount``, ``TaxRule``), and the
    SKUs that cannot be priced (not on the order, or without a readable price)."""
    prices: dict[str, tuple[Decimal, Decimal, str]] = {}
    for line in order_lines:
        if not isinstance(line, Mapping):
            continue
        sku = str(line.get("SKU") or "").strip()
        try:
            price = Decimal(str(line.get("Price")))
            discount = Decimal(str(line.get("Discount") or 0))
        except (InvalidOperation, ValueError):
            continue
        if sku and price.is_finite() and price >= 0 and sku.casefold() not in prices:
            prices[sku.casefold()] = (price, discount, str(line.get("TaxRule") or ""))
    lines: list[PricedLine] = []
    missing: list[str] = []
    for sku, quantity in quantities.items():
        known = prices.get(sku.casefold())
        if known is None:
            missing.append(sku)
        else:
            lines.append(PricedLine(sku, quantity, known[0], known[1], known[2]))
    return lines, missing


def hand_made_credit(notes: Iterable[Any], memo: str, skus: Iterable[str]) -> Any | None:
    """An authorised credit note of the sale that is not the return's own (another Memo) and credits one of its
    SKUs: a credit made by hand, which must never be doubled by the integration's."""
    wanted = {sku.casefold() for sku in skus}
    for note in notes:
        if (note.status in CREDITED_STATUSES and " ".join(note.memo.split()).casefold() != memo.casefold()
                and wanted & {sku.casefold() for sku in note.skus}):
            return note
    return None


def bluecherry_condition(sellable: bool) -> str:
    return BLUECHERRY_SELLABLE if sellable else BLUECHERRY_DAMAGED


def allocate_to_authorisations(lines: Sequence[tuple[str, int]],
                               outstanding: Sequence[tuple[str, Mapping[str, int]]]
                               ) -> tuple[dict[str, list[tuple[str, int]]], list[str]]:
    """Book returned ``(sku, quantity)`` lines against the RAs of their order, oldest RA first:
    ``outstanding`` is ``[(ra_number, {sku: units not yet received})]``. Returns the lines per RA and the SKUs
    (or part quantities) no RA covers."""
    left = [(ra, dict(skus)) for ra, skus in outstanding]
    booked: dict[str, list[tuple[str, int]]] = {}
    uncovered: list[str] = []
    for sku, quantity in lines:
        need = quantity
        for ra, skus in left:
            take = min(need, skus.get(sku, 0))
            if take > 0:
                booked.setdefault(ra, []).append((sku, take))
                skus[sku] -= take
                need -= take
            if need == 0:
                break
        if need:
            uncovered.append(f"{sku} x{need}")
    return booked, uncovered
