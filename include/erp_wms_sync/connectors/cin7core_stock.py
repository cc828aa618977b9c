"""Cin7 Core stock levels, stock adjustments and credit notes, mixed into
:class:`~erp_wms_sync.connectors.cin7core.Cin7CoreClient` (the inventory sync and returns flows).

- :meth:`~Cin7StockCalls.iter_availability` reads ``GET /ref/productavailability`` page by page: one row per
  product × location × bin × batch, quantities as :class:`~decimal.Decimal` (Cin7 keeps four decimals, and the
  sync compares them exactly).
- :meth:`~Cin7StockCalls.post_stock_adjustment` writes absolute quantities with one ``COMPLETED``
  ``POST /stockadjustment``; :meth:`~Cin7StockCalls.find_stock_adjustments` finds them again by ``Reference``
  after a crash (``/stockadjustmentList`` has no reference filter, so the list is read and filtered here) and
  :meth:`~Cin7StockCalls.get_stock_adjustment` reads one by ``TaskID``. Cin7 documents no limit on the lines of
  one adjustment: the caller decides how many lines go in one call.
- :meth:`~Cin7StockCalls.credit_notes` and :meth:`~Cin7StockCalls.create_credit_note` read and write the credit
  notes of a sale (``/sale/creditnote``), with their restock lines.

Every call spends the key's shared budget through the client's transport; a 400 from Cin7 arrives as
:class:`~erp_wms_sync.errors.ApiRejected` with Cin7's message. Every answer is checked before use: a non-object,
a row without its SKU or Location, a quantity that is not a number, a page short of its ``Total``, an answer
for another adjustment, reference or sale, or a write that does not show every line asked for raises
:class:`~erp_wms_sync.errors.ApiResponseInvalid` naming the call; nothing is taken from it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import requests

from erp_wms_sync.connectors.parsing import (
    FieldReader,
    Pager,
    RowKey,
    check_identity,
    decode_json,
    iter_pages,
    text,
)
from erp_wms_sync.connectors.redaction import redact
from erp_wms_sync.connectors.transport import HttpTransport, trim
from erp_wms_sync.errors import ApiResponseInvalid

SYSTEM = "cin7core"
_read = FieldReader(SYSTEM, blank_is_missing=True)
COMPLETED = "COMPLETED"
CREDIT_NOTE_STATUSES = ("DRAFT", "AUTHORISED")
FOUR_PLACES = Decimal("0.0001")
#: The TaskID that asks Cin7 for a new credit-note task on an advanced sale.
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"


# ---- records --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cin7Availability:
    """One ``ProductAvailability`` row: the stock of a product at a location (bin, batch)."""

    product_id: str
    sku: str
    location: str
    bin: str
    batch: str
    on_hand: Decimal
    allocated: Decimal
    available: Decimal
    on_order: Decimal
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_raw(cls, raw: Any, where: str) -> Cin7Availability:
        row = _read.obj(raw, where)
        return cls(product_id=_read.required_text(row, "ID", where), sku=_read.required_text(row, "SKU", where),
                   location=_read.required_text(row, "Location", where), bin=text(row.get("Bin")),
                   batch=text(row.get("Batch")), on_hand=_quantity(row, "OnHand", where),
                   allocated=_quantity(row, "Allocated", where), available=_quantity(row, "Available", where),
                   on_order=_maybe_quantity(row, "OnOrder", where) or Decimal(0), raw=row)


@dataclass(frozen=True)
class StockLine:
    """One line of a stock adjustment: the product (``sku`` or ``product_id``) has ``quantity`` (the absolute new
    quantity, not a change) at ``location`` (name), optionally in ``batch``."""

    quantity: Decimal
    location: str
    sku: str = ""
    product_id: str = ""
    batch: str = ""
    comments: str = ""

    def __post_init__(self) -> None:
        if not (self.sku.strip() or self.product_id.strip()):
            raise ValueError("a stock line names its product by SKU or ProductID, and this one has neither")
        if not self.location.strip():
            raise ValueError(f"the stock line of {self.label()} has no location")
        _check_amount(self.quantity, f"the stock line of {self.label()}", allow_zero=True)

    def label(self) -> str:
        return repr(self.sku.strip() or self.product_id.strip())

    def body(self) -> dict[str, Any]:
        line: dict[str, Any] = {"Quantity": _json_number(self.quantity), "Location": self.location.strip()}
        line.update({"SKU": self.sku.strip()} if self.sku.strip() else {"ProductID": self.product_id.strip()})
        if self.batch.strip():
            line["BatchSN"] = self.batch.strip()
        if self.comments:
            line["Comments"] = self.comments
        return line

    def matches(self, line: Cin7AdjustmentLine) -> bool:
        """Whether Cin7's answer line is this line (same product, location and batch; any case)."""
        product = (self.sku, line.sku) if self.sku.strip() else (self.product_id, line.product_id)
        return (_same(*product) and _same(self.location, line.location) and _same(self.batch, line.batch))


@dataclass(frozen=True)
class Cin7AdjustmentLine:
    """A line of Cin7's answer: ``new`` for stock the adjustment created (``NewStockLines``), else stock it met
    (``ExistingStockLines``); ``quantity`` is the line's ``Quantity`` or ``QuantityOnHand``."""

    product_id: str
    sku: str
    location: str
    batch: str
    quantity: Decimal | None
    adjustment: Decimal | None
    new: bool

    @classmethod
    def from_raw(cls, raw: Any, where: str, *, new: bool) -> Cin7AdjustmentLine:
        row = _read.obj(raw, where)
        if not (text(row.get("SKU")).strip() or text(row.get("ProductID")).strip()):
            raise _read.invalid(f"{where}: the line names no product ('SKU' and 'ProductID' are missing)")
        return cls(product_id=text(row.get("ProductID")), sku=text(row.get("SKU")),
                   location=_read.required_text(row, "Location", where), batch=text(row.get("BatchSN")),
                   quantity=_maybe_quantity(row, "Quantity" if new else "QuantityOnHand", where),
                   adjustment=_maybe_quantity(row, "Adjustment", where), new=new)


@dataclass(frozen=True)
class Cin7Adjustment:
    """A Cin7 stock adjustment (``ST-00024``); ``lines`` is empty when read from the list, which has none."""

    task_id: str
    number: str
    status: str
    reference: str
    effective_date: datetime | None
    lines: tuple[Cin7AdjustmentLine, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_raw(cls, raw: Any, where: str) -> Cin7Adjustment:
        row = _read.obj(raw, where)
        lines: list[Cin7AdjustmentLine] = []
        for key, new in (("ExistingStockLines", False), ("NewStockLines", True)):
            listed = row.get(key)
            if listed is not None and not isinstance(listed, list):
                raise _read.invalid(f"{where}: '{key}' is not a list")
            lines += [Cin7AdjustmentLine.from_raw(line, f"{where} {key} {index}", new=new)
                      for index, line in enumerate(listed or [], start=1)]
        return cls(task_id=_read.required_text(row, "TaskID", where),
                   number=_read.required_text(row, "StocktakeNumber", where),
                   status=_read.required_text(row, "Status", where).strip().upper(),
                   reference=text(row.get("Reference")),
                   effective_date=_read.timestamp(row.get("EffectiveDate"), f"{where} EffectiveDate"),
                   lines=tuple(lines), raw=row)


@dataclass(frozen=True)
class CreditLine:
    """A credited line (invoice-line model): ``quantity`` of ``sku`` at ``price`` less ``discount`` percent."""

    sku: str
    quantity: Decimal
    price: Decimal
    discount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    tax_rule: str = ""
    account: str = ""
    comment: str = ""

    def body(self) -> dict[str, Any]:
        if not self.sku.strip():
            raise ValueError("a credit note line has no SKU")
        _check_amount(self.quantity, f"the credit note line of {self.sku!r}")
        total = (self.quantity * self.price * (1 - self.discount / 100)).quantize(FOUR_PLACES)
        line = {"SKU": self.sku.strip(), "Quantity": _json_number(self.quantity), "Price": _json_number(self.price),
                "Discount": _json_number(self.discount), "Tax": _json_number(self.tax), "Total": _json_number(total)}
        optional = {"TaxRule": self.tax_rule, "Account": self.account, "Comment": self.comment}
        return line | {key: value for key, value in optional.items() if value}


@dataclass(frozen=True)
class RestockLine:
    """Goods that came back: ``quantity`` of ``sku`` put back on hand at ``location`` (blank: the sale's)."""

    sku: str
    quantity: Decimal
    location: str = ""
    batch: str = ""

    def body(self) -> dict[str, Any]:
        if not self.sku.strip():
            raise ValueError("a restock line has no SKU")
        _check_amount(self.quantity, f"the restock line of {self.sku!r}")
        line: dict[str, Any] = {"SKU": self.sku.strip(), "Quantity": _json_number(self.quantity)}
        if self.location.strip():
            line["RestockLocation"] = self.location.strip()
        if self.batch.strip():
            line["BatchSN"] = self.batch.strip()
        return line


@dataclass(frozen=True)
class Cin7CreditNote:
    """A credit note of a sale (``CR-00001``); ``number`` is blank for the placeholder of a simple sale."""

    sale_id: str
    task_id: str
    number: str
    status: str
    memo: str
    invoice_number: str
    skus: tuple[str, ...]  # of its Lines
    restock_skus: tuple[str, ...]  # of its Restock lines
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_raw(cls, raw: Any, sale_id: str, where: str) -> Cin7CreditNote:
        row = _read.obj(raw, where)
        return cls(sale_id=sale_id, task_id=_read.required_text(row, "TaskID", where),
                   number=text(row.get("CreditNoteNumber")).strip(),
                   status=_read.required_text(row, "Status", where).strip().upper(), memo=text(row.get("Memo")),
                   invoice_number=text(row.get("CreditNoteInvoiceNumber")),
                   skus=_skus(row, "Lines", where), restock_skus=_skus(row, "Restock", where), raw=row)


# ---- the calls ------------------------------------------------------------------------------
class Cin7StockCalls:
    """Stock and credit-note calls of a Cin7 Core client (needs its ``transport``, ``_secrets``,
    ``page_limit`` and ``max_pages``)."""

    transport: HttpTransport
    _secrets: tuple[str, ...]
    page_limit: int
    max_pages: int

    # ---- stock levels -----------------------------------------------------------------------
    def iter_availability(self, *, location: str | None = None, sku: str | None = None) -> Iterator[Cin7Availability]:
        """Stock rows, all or of one ``location`` (name) and/or one ``sku``. Cin7's ``Sku`` filter matches SKUs
        *starting with* the text, so rows are kept only when their SKU (and location) equal the ones asked."""
        params = {key: value.strip() for key, value in (("Location", location), ("Sku", sku)) if value}
        rows = self._stock_pages("ref/productavailability", "ProductAvailabilityList", params, _availability_key,
                                 "SKU × Location")
        for index, raw in enumerate(rows, start=1):
            row = Cin7Availability.from_raw(raw, f"GET ref/productavailability row {index}")
            if (not sku or _same(row.sku, sku)) and (not location or _same(row.location, location)):
                yield row

    # ---- stock adjustments ------------------------------------------------------------------
    def post_stock_adjustment(self, lines: Sequence[StockLine], *, reference: str, effective_date: datetime,
                              update_on_hand: bool = True, account: str | None = None) -> Cin7Adjustment:
        """Set the absolute quantities of ``lines`` in one ``COMPLETED`` adjustment (``update_on_hand`` false
        sets the available quantity instead) and return it as Cin7 answered.

        ``reference`` is the idempotency key: :meth:`find_stock_adjustments` finds the adjustment by it after a
        crash. The answer must be that adjustment, completed, with every line asked for; otherwise
        :class:`ApiResponseInvalid` says what is missing and nothing is taken from it (Cin7 may have applied
        the adjustment: the caller finds it by reference before writing again)."""
        if not lines:
            raise ValueError("a stock adjustment needs at least one line")
        if not reference.strip():
            raise ValueError("a stock adjustment needs a Reference, the key to find it again after a crash")
        keys = [(line.sku.strip().casefold() or line.product_id.strip().casefold(),
                 line.location.strip().casefold(), line.batch.strip()) for line in lines]
        if len(set(keys)) != len(keys):
            raise ValueError("a stock adjustment lists a product at one location (and batch) more than once")
        body: dict[str, Any] = {"EffectiveDate": _cin7_time(effective_date), "Status": COMPLETED,
                                "Reference": reference.strip(), "UpdateOnHand": update_on_hand,
                                "Lines": [line.body() for line in lines]}
        if account:
            body["Account"] = account
        where = f"POST stockadjustment (Reference {reference.strip()!r})"
        answer = _read.obj(self._stock_call("POST", "stockadjustment", body=body), where)
        adjustment = Cin7Adjustment.from_raw(answer, where)
        if adjustment.status != COMPLETED:
            raise self._refuse(f"{where}: the adjustment {adjustment.number} is {trim(adjustment.status, 40)!r}, "
                               f"not {COMPLETED}; nothing was taken from it")
        check_identity(_read, answer, "Reference", reference, where, self._secrets)
        missing = [line.label() + f" at {line.location.strip()!r}" for line in lines
                   if not any(line.matches(answered) for answered in adjustment.lines)]
        if missing:
            raise self._refuse(f"{where}: the answer of {adjustment.number} does not show the line(s) of "
                               f"{', '.join(missing)}; a partial adjustment is not taken")
        return adjustment

    def find_stock_adjustments(self, reference: str, *, status: str | None = None) -> list[Cin7Adjustment]:
        """Every adjustment whose ``Reference`` is ``reference`` (any status unless ``status``: ``DRAFT``,
        ``COMPLETED`` or ``VOIDED``; only a ``COMPLETED`` one has changed stock), each read in full."""
        wanted = reference.strip()
        if not wanted:
            raise ValueError("stock adjustments are found by a Reference, and none was given")
        params = {"Status": status.strip().upper()} if status else {}
        listed: list[Cin7Adjustment] = []  # the whole list first, so its pages are read back to back
        rows = self._stock_pages("stockadjustmentList", "StockAdjustmentList", params, _task_key, "TaskID")
        for index, raw in enumerate(rows, start=1):
            row = _read.obj(raw, f"GET stockadjustmentList row {index}")
            if _same(text(row.get("Reference")), wanted):
                listed.append(Cin7Adjustment.from_raw(row, f"GET stockadjustmentList row {index}"))
        found: list[Cin7Adjustment] = []
        for entry in listed:
            has_lines = any(isinstance(entry.raw.get(key), list) for key in ("ExistingStockLines", "NewStockLines"))
            full = entry if has_lines else self.get_stock_adjustment(entry.task_id)
            if full is None:
                raise self._refuse(f"GET stockadjustmentList: adjustment {entry.number} ({entry.task_id}) is listed "
                                   "but GET stockadjustment does not know it")
            check_identity(_read, full.raw, "Reference", wanted, f"GET stockadjustment {full.task_id}",
                           self._secrets)
            found.append(full)
        return found

    def get_stock_adjustment(self, task_id: str) -> Cin7Adjustment | None:
        """The adjustment ``task_id`` with its lines; None when Cin7 answers 404 or an empty body. Cin7 refuses an
        unknown TaskID with a 400 (:class:`ApiRejected`), let through as every refusal."""
        if not task_id.strip():
            raise ValueError("a stock adjustment is read by its TaskID, and none was given")
        where = f"GET stockadjustment {task_id}"
        response = self.transport.request("GET", "stockadjustment", params={"TaskID": task_id.strip()},
                                          ok_statuses=(404,))
        if response.status_code in (204, 404) or not (response.content or b"").strip():
            return None
        answer = _read.obj(self._stock_decode(response, where), where)
        check_identity(_read, answer, "TaskID", task_id, where, self._secrets)
        return Cin7Adjustment.from_raw(answer, where)

    # ---- credit notes -----------------------------------------------------------------------
    def credit_notes(self, sale_id: str) -> list[Cin7CreditNote]:
        """The credit notes of a sale (any status), in Cin7's order."""
        if not sale_id.strip():
            raise ValueError("credit notes are read by their sale's ID, and none was given")
        where = f"GET sale/creditnote for sale {sale_id}"
        return self._credit_notes(self._stock_call("GET", "sale/creditnote", params={"SaleID": sale_id}), sale_id,
                                  where)

    def find_credit_notes(self, sale_id: str, memo: str) -> list[Cin7CreditNote]:
        """The credit notes of a sale whose ``Memo`` is ``memo`` (blanks and case aside): how a retry sees that
        the credit note it is about to create already exists (see :meth:`create_credit_note`)."""
        return [note for note in self.credit_notes(sale_id) if _same(note.memo, memo)]

    def create_credit_note(self, sale_id: str, *, lines: Sequence[CreditLine], restock: Sequence[RestockLine] = (),
                           memo: str, status: str = "AUTHORISED", invoice_number: str | None = None,
                           credit_note_date: datetime | None = None, task_id: str | None = None) -> Cin7CreditNote:
        """``POST /sale/creditnote``: credit ``lines`` of the sale's invoice (``invoice_number``, else Cin7's
        choice) and put ``restock`` back on hand; returns the credit note as Cin7 answered it.

        ``memo`` is the credit note's own key: Cin7 gives a credit note no reference or external id of ours
        (``TaskID`` and ``CreditNoteNumber`` are assigned by Cin7), and ``Memo`` is the one free-text field of
        the credit note it keeps and answers, so a caller writes its return's id there and, after a crash,
        looks for it with :meth:`find_credit_notes` before creating again. ``task_id`` names the credit note
        task to write (the empty GUID makes a new one on an advanced sale); without it Cin7 uses the sale's.

        The answer must be the sale's, with a credit note carrying ``memo`` (``task_id`` when given), its
        number, the status asked for and every SKU credited and restocked; else :class:`ApiResponseInvalid`."""
        if not sale_id.strip():
            raise ValueError("a credit note is written on a sale, and no SaleID was given")
        if not memo.strip():
            raise ValueError("a credit note needs a Memo, the key to find it again after a crash")
        if status not in CREDIT_NOTE_STATUSES:
            raise ValueError(f"a credit note is written as {' or '.join(CREDIT_NOTE_STATUSES)}, not {status!r}")
        if not lines:
            raise ValueError("a credit note needs at least one credited line")
        body: dict[str, Any] = {"SaleID": sale_id, "Memo": memo.strip(), "Status": status,
                                "Lines": [line.body() for line in lines]}
        if restock:
            body["Restock"] = [line.body() for line in restock]
        optional = {"TaskID": task_id, "CreditNoteInvoiceNumber": invoice_number,
                    "CreditNoteDate": _cin7_time(credit_note_date) if credit_note_date else None}
        body |= {key: value for key, value in optional.items() if value}
        where = f"POST sale/creditnote for sale {sale_id} (Memo {memo.strip()!r})"
        notes = self._credit_notes(self._stock_call("POST", "sale/creditnote", body=body), sale_id, where)
        note = self._written_note(notes, memo, task_id, where)
        _read.required_text(note.raw, "CreditNoteNumber", f"{where} credit note {note.task_id}")
        if note.status != status:
            raise self._refuse(f"{where}: credit note {note.number} is {trim(note.status, 40)!r}, not {status}")
        missing = [line.sku.strip() for line in lines if not _listed(line.sku, note.skus)]
        missing += [f"{line.sku.strip()} (restock)" for line in restock if not _listed(line.sku, note.restock_skus)]
        if missing:
            raise self._refuse(f"{where}: credit note {note.number} does not show {', '.join(missing)}")
        return note

    def _credit_notes(self, answer: Any, sale_id: str, where: str) -> list[Cin7CreditNote]:
        wrapper = _read.obj(answer, where)
        check_identity(_read, wrapper, "SaleID", sale_id, where, self._secrets)
        listed = wrapper.get("CreditNotes")
        if not isinstance(listed, list):
            raise _read.invalid(f"{where}: 'CreditNotes' is missing or not a list")
        notes = [Cin7CreditNote.from_raw(raw, sale_id, spot) for spot, raw in _read.objects(listed, where, "note")]
        task_ids = [note.task_id.strip().casefold() for note in notes]
        if len(set(task_ids)) != len(task_ids):
            raise _read.invalid(f"{where}: a credit note TaskID is listed twice")
        return notes

    def _written_note(self, notes: list[Cin7CreditNote], memo: str, task_id: str | None,
                      where: str) -> Cin7CreditNote:
        """The credit note a POST wrote: the one ``task_id`` names (unless it asked for a new one), else the last
        carrying ``memo`` (Cin7 lists a sale's credit notes in the order they were made)."""
        if task_id and task_id.strip().casefold() != EMPTY_GUID:
            named = [note for note in notes if _same(note.task_id, task_id)]
            if not named:
                raise self._refuse(f"{where}: the answer has no credit note {task_id}")
            if not _same(named[0].memo, memo):
                raise self._refuse(f"{where}: credit note {task_id} has Memo {trim(named[0].memo, 80)!r}")
            return named[0]
        carrying = [note for note in notes if _same(note.memo, memo)]
        if not carrying:
            raise self._refuse(f"{where}: none of the {len(notes)} credit notes answered has the Memo written")
        return carrying[-1]

    # ---- transport --------------------------------------------------------------------------
    def _stock_pages(self, path: str, list_key: str, params: Mapping[str, Any], row_key: RowKey,
                     key_name: str) -> Iterator[Any]:
        def fetch(page: int) -> tuple[int, list[Any]]:
            body = self._stock_call("GET", path, params={**params, "Page": page, "Limit": self.page_limit})
            return _read.page(body, f"GET {path} page {page}", list_key=list_key, total_key="Total")

        pager = Pager(SYSTEM, f"GET {path}", self.page_limit, self.max_pages, "Total", row_key, key_name,
                      self._secrets)
        return iter_pages(fetch, pager)

    def _stock_call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                    body: Any = None) -> Any:
        response = self.transport.request(method, path, params=params, json=body)
        return self._stock_decode(response, f"{method} {path}")

    def _stock_decode(self, response: requests.Response, what: str) -> Any:
        return decode_json(SYSTEM, response, what, self._secrets)

    def _refuse(self, message: str) -> ApiResponseInvalid:
        """The error refusing an answer, redacted (a hostile answer may echo anything)."""
        return _read.invalid(redact(message, self._secrets))


# ---- helpers --------------------------------------------------------------------------------
def _quantity(row: Mapping[str, Any], key: str, where: str) -> Decimal:
    """``row[key]``, a required quantity, as a Decimal."""
    number = _maybe_quantity(row, key, where)
    if number is None:
        raise _read.invalid(f"{where}: '{key}' is missing")
    return number


def _maybe_quantity(row: Mapping[str, Any], key: str, where: str) -> Decimal | None:
    """``row[key]`` as a Decimal, None when absent. A string, a bool or a non-finite number is refused: Cin7
    answers quantities as JSON numbers."""
    value = row.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _read.invalid(f"{where}: '{key}' is not a number (got {trim(repr(value), 40)})")
    number = Decimal(str(value))
    if not number.is_finite():
        raise _read.invalid(f"{where}: '{key}' is not a finite number (got {value!r})")
    return number


def _check_amount(quantity: Decimal, what: str, *, allow_zero: bool = False) -> None:
    if not isinstance(quantity, Decimal | int) or isinstance(quantity, bool):
        raise ValueError(f"{what}: the quantity must be a Decimal, not {type(quantity).__name__}")
    if not Decimal(quantity).is_finite() or quantity < 0 or (quantity == 0 and not allow_zero):
        raise ValueError(f"{what}: the quantity {quantity} is not {'at least 0' if allow_zero else 'above 0'}")


def _json_number(value: Decimal) -> int | float:
    """A Decimal as a JSON number (a whole one as an integer)."""
    number = Decimal(value)
    return int(number) if number == number.to_integral_value() else float(number)


def _cin7_time(moment: datetime) -> str:
    """Cin7's date-time text (``yyyy-MM-ddTHH:mm:ss``, UTC) for an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("a Cin7 date must be timezone-aware (UTC is what Cin7 Core expects)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _same(left: str, right: str) -> bool:
    return left.strip().casefold() == right.strip().casefold()


def _listed(sku: str, skus: Sequence[str]) -> bool:
    return any(_same(sku, other) for other in skus)


def _skus(row: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    listed = row.get(key)
    if listed is not None and not isinstance(listed, list):
        raise _read.invalid(f"{where}: '{key}' is not a list")
    return tuple(text(line.get("SKU")) for _, line in _read.objects(listed, f"{where} {key}", "line"))


def _availability_key(row: Any) -> Hashable:
    """A stock row's identity (product × location × bin × batch × expiry); None without its SKU or Location."""
    if not isinstance(row, dict) or not text(row.get("SKU")).strip() or not text(row.get("Location")).strip():
        return None
    return tuple(text(row.get(key)).strip().casefold() for key in ("SKU", "Location", "Bin", "Batch", "ExpiryDate"))


def _task_key(row: Any) -> Hashable:
    """An adjustment list row's identity (its TaskID, any case); None without one."""
    if not isinstance(row, dict):
        return None
    return text(row.get("TaskID")).strip().casefold() or None
