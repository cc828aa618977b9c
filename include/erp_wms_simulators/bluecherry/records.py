"""Shared pieces of the BlueCherry order, shipment, return and stock documents: the :class:`OrderBook` that
holds them, document numbering, the :class:`Rejected` error the HTTP layer turns into a JSON error, body
validation helpers and JSON rendering (datetimes as ``yyyy-MM-ddTHH:mm:ssZ``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from erp_wms_simulators.bluecherry.stock import StockLedger
from erp_wms_simulators.common import format_timestamp, parse_iso_datetime

ORDER_STATUSES = ("OPEN", "ALLOCATED", "PICK_TICKET_PRINTED", "PICKING", "PARTIALLY_SHIPPED", "SHIPPED",
                  "INVOICED", "CLOSED", "CANCELLED", "ON_HOLD")
RETURN_STATUSES = ("AUTHORISED", "PARTIALLY_RECEIVED", "RECEIVED", "CREDITED")
CONDITIONS = ("SELLABLE", "DAMAGED")


class Rejected(ValueError):
    """A request the simulator refuses on purpose; the app renders it as ``{"error": {code, message}}``."""

    def __init__(self, message: str, status: int = 400, code: str = "bad_request") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


def not_found(message: str) -> Rejected:
    return Rejected(message, 404, "not_found")


def conflict(message: str) -> Rejected:
    return Rejected(message, 409, "conflict")


@dataclass
class OrderBook:
    """Every order-to-cash document of one company, plus the idempotency keys that point at them."""

    stock: StockLedger = field(default_factory=StockLedger)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    order_keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (customerPo, division) -> number
    pick_tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    shipments: dict[str, dict[str, Any]] = field(default_factory=dict)
    shipment_refs: dict[str, str] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    returns: dict[str, dict[str, Any]] = field(default_factory=dict)
    receipt_refs: dict[str, str] = field(default_factory=dict)  # receipt reference -> raNumber
    credit_memos: dict[str, dict[str, Any]] = field(default_factory=dict)
    adjustments: dict[str, dict[str, Any]] = field(default_factory=dict)
    adjustment_refs: dict[str, str] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)

    def next_number(self, kind: str, prefix: str = "", first: int = 1, width: int = 6) -> str:
        """The next document number of ``kind`` (``PT-000001``, ``SH-000002``…, or plain digits)."""
        number = self.sequences.get(kind, first - 1) + 1
        self.sequences[kind] = number
        return f"{prefix}{number:0{width}d}"


# ---- body validation -----------------------------------------------------------------------------
class Problems:
    """Collects every validation problem of one request, then raises them together."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def raise_any(self, status: int = 400, code: str = "bad_request") -> None:
        if self.items:
            raise Rejected("; ".join(item.rstrip(".") for item in self.items) + ".", status, code)


def as_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Rejected(f"{where} must be a JSON object.")
    return value


def as_list(value: Any, where: str, *, required: bool = True) -> list[Any]:
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        raise Rejected(f"{where} must be a non-empty list.")
    return value


def line_objects(raw_lines: Iterable[Any], problems: Problems, label: str = "line"
                 ) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """``(number, where, line)`` of each line that is a JSON object, numbered from 1 (``where`` is
    ``"line 3"``, or ``"<label> 3"``); any other line adds the problem ``"<where> must be an object."``."""
    for number, raw in enumerate(raw_lines, start=1):
        where = f"{label} {number}"
        if isinstance(raw, dict):
            yield number, where, raw
        else:
            problems.add(f"{where} must be an object.")


def units_due(lines: Iterable[dict[str, Any]], done: str, counted: str) -> list[tuple[dict[str, Any], int]]:
    """Each line with its units in ``done`` not yet in ``counted`` (shipped, not invoiced…); lines with
    none are left out."""
    due = [(line, int(line[done]) - int(line[counted])) for line in lines]
    return [(line, qty) for line, qty in due if qty > 0]


def text_field(body: Mapping[str, Any], key: str, where: str, problems: Problems, *,
               required: bool = True, default: str = "") -> str:
    value = body.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(f"{where}: '{key}' is required.")
        return default
    if not isinstance(value, str | int) or isinstance(value, bool):
        problems.add(f"{where}: '{key}' must be a string.")
        return default
    return str(value).strip()


def whole_number(value: Any, key: str, where: str, problems: Problems, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        problems.add(f"{where}: '{key}' must be a whole number, got {value!r}.")
        return 0
    if value < minimum:
        problems.add(f"{where}: '{key}' must be at least {minimum}, got {int(value)}.")
        return 0
    return int(value)


def money(value: Any, key: str, where: str, problems: Problems) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        problems.add(f"{where}: '{key}' must be a number of at least 0, got {value!r}.")
        return 0.0
    return round(float(value), 2)


def moment(value: Any, key: str, where: str, problems: Problems, default: datetime) -> datetime:
    if value is None or value == "":
        return default
    try:
        return parse_iso_datetime(str(value))
    except ValueError as exc:
        problems.add(f"{where}: '{key}': {exc}.")
        return default


def choice(value: str, allowed: Iterable[str], key: str, where: str, problems: Problems) -> str:
    options = tuple(allowed)
    upper = value.upper()
    if options and upper not in options:
        problems.add(f"{where}: '{key}' must be one of {', '.join(options)}, got '{value}'.")
    return upper


# ---- rendering and filters ---------------------------------------------------------------------
def to_json(value: Any) -> Any:
    """A deep copy of ``value`` with every datetime as ``yyyy-MM-ddTHH:mm:ssZ`` and tuples as lists."""
    if isinstance(value, datetime):
        return format_timestamp(value, millis=False)
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return copy.copy(value)


def since_filter(text: str | None) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate ``updatedAt >= updatedSince`` (always true without a value); bad text is a 400."""
    if not text:
        return lambda record: True
    try:
        since = parse_iso_datetime(text)
    except ValueError as exc:
        raise Rejected(f"updatedSince: {exc}") from None
    return lambda record: bool(record["updatedAt"] >= since)


def status_filter(text: str | None, allowed: Iterable[str]) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate on ``status`` (comma-separated values allowed); an unknown status is a 400."""
    if not text:
        return lambda record: True
    options = tuple(allowed)
    wanted = {part.strip().upper() for part in text.split(",") if part.strip()}
    unknown = sorted(wanted - set(options))
    if unknown:
        raise Rejected(f"status must be one of {', '.join(options)}; got {', '.join(unknown)}.")
    return lambda record: record["status"] in wanted
