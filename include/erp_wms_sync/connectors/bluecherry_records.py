"""Typed BlueCherry order-to-cash records read by :class:`~erp_wms_sync.connectors.bluecherry.BlueCherryClient`:
orders and their lines, shipments (with cartons), return authorisations, stock rows and inventory
adjustments. Each ``from_raw`` checks the fields the integration relies on and raises
:class:`~erp_wms_sync.errors.ApiResponseInvalid` naming the record and field when the answer breaks the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from erp_wms_sync.errors import ApiResponseInvalid

SYSTEM = "bluecherry"


@dataclass(frozen=True)
class BlueCherryOrderLine:
    sku: str
    qty: int
    price: float
    allocated: int
    picked: int
    shipped: int
    cancelled: int
    returned: int

    @property
    def open_qty(self) -> int:
        return self.qty - self.shipped - self.cancelled

    @classmethod
    def from_raw(cls, raw: Any, where: str) -> BlueCherryOrderLine:
        row = obj(raw, where)
        return cls(sku=required_text(row, "sku", where), qty=count(row, "qty", where),
                   price=number(row.get("price"), "price", where) or 0.0, allocated=count(row, "allocated", where),
                   picked=count(row, "picked", where), shipped=count(row, "shipped", where),
                   cancelled=count(row, "cancelled", where), returned=count(row, "returned", where))


@dataclass(frozen=True)
class BlueCherryOrder:
    """A sales order (``orderNumber``; the external key is ``customerPo`` + ``division``)."""

    order_number: str
    customer_po: str
    division: str
    customer: str
    warehouse: str
    status: str
    on_hold: bool
    revision: int
    lines: tuple[BlueCherryOrderLine, ...]
    ship_to: Mapping[str, Any]
    order_date: datetime | None
    updated_at: datetime | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_raw(cls, raw: Any, where: str) -> BlueCherryOrder:
        row = obj(raw, where)
        number_ = required_text(row, "orderNumber", where)
        lines = row.get("lines")
        if not isinstance(lines, list):
            raise ApiResponseInvalid(SYSTEM, f"{where} (order {number_}): 'lines' must be a list")
        ship_to = row.get("shipTo") or {}
        return cls(order_number=number_, customer_po=text(row.get("customerPo")), division=text(row.get("division")),
                   customer=text(row.get("customer")), warehouse=text(row.get("warehouse")),
                   status=required_text(row, "status", where), on_hold=bool(row.get("onHold", False)),
                   revision=count(row, "revision", where, default=1),
                   lines=tuple(BlueCherryOrderLine.from_raw(line, f"{where} (order {number_}) line {i}")
                               for i, line in enumerate(lines, start=1)),
                   ship_to=ship_to if isinstance(ship_to, dict) else {},
                   order_date=timestamp(row.get("orderDate"), f"{where} orderDate"),
                   updated_at=timestamp(row.get("updatedAt"), f"{where} updatedAt"), raw=row)


@dataclass(frozen=True)
class ShipmentCarton:
    """One carton of a shipment: ``lines`` are ``(sku, qty)`` pairs."""

    carton_no: str
    lines: tuple[tuple[str, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {"cartonNo": self.carton_no, "lines": [{"sku": sku, "qty": qty} for sku, qty in self.lines]}


@dataclass(frozen=True)
class BlueCherryShipment:
    """A shipment (despatch) of an order; ``created`` is False when a POST matched an earlier reference."""

    shipment_number: str
    order_number: str
    pick_ticket: str
    ship_date: datetime | None
    carrier: str
    tracking_numbers: tuple[str, ...]
    cartons: tuple[ShipmentCarton, ...]
    reference: str
    updated_at: datetime | None
    created: bool = field(default=False, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def quantities(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for carton in self.cartons:
            for sku, qty in carton.lines:
                totals[sku] = totals.get(sku, 0) + qty
        return totals

    @classmethod
    def from_raw(cls, raw: Any, where: str, created: bool = False) -> BlueCherryShipment:
        row = obj(raw, where)
        cartons = []
        for index, carton in enumerate(row.get("cartons") or [], start=1):
            spot = f"{where} carton {index}"
            body = obj(carton, spot)
            lines = tuple((required_text(obj(line, spot), "sku", spot), count(line, "qty", spot))
                          for line in body.get("lines") or [])
            cartons.append(ShipmentCarton(text(body.get("cartonNo")), lines))
        tracking = row.get("trackingNumbers") or []
        if not isinstance(tracking, list):
            raise ApiResponseInvalid(SYSTEM, f"{where}: 'trackingNumbers' must be a list")
        return cls(shipment_number=required_text(row, "shipmentNumber", where),
                   order_number=required_text(row, "orderNumber", where), pick_ticket=text(row.get("pickTicket")),
                   ship_date=timestamp(row.get("shipDate"), f"{where} shipDate"), carrier=text(row.get("carrier")),
                   tracking_numbers=tuple(text(t) for t in tracking), cartons=tuple(cartons),
                   reference=text(row.get("reference")),
                   updated_at=timestamp(row.get("updatedAt"), f"{where} updatedAt"), created=created, raw=row)


@dataclass(frozen=True)
class BlueCherryReturnLine:
    sku: str
    qty: int
    reason_code: str
    condition: str
    received: int
    received_sellable: int
    received_damaged: int


@dataclass(frozen=True)
class BlueCherryReturn:
    """A return authorisation (RA) and how much of it was received."""

    ra_number: str
    order_number: str
    warehouse: str
    status: str
    lines: tuple[BlueCherryReturnLine, ...]
    credit_memos: tuple[str, ...]
    updated_at: datetime | None
    created: bool = field(default=False, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_raw(cls, raw: Any, where: str, created: bool = False) -> BlueCherryReturn:
        row = obj(raw, where)
        lines = []
        for index, line in enumerate(row.get("lines") or [], start=1):
            spot = f"{where} line {index}"
            item = obj(line, spot)
            lines.append(BlueCherryReturnLine(
                sku=required_text(item, "sku", spot), qty=count(item, "qty", spot),
                reason_code=text(item.get("reasonCode")), condition=text(item.get("condition")),
                received=count(item, "received", spot), received_sellable=count(item, "receivedSellable", spot),
                received_damaged=count(item, "receivedDamaged", spot)))
        return cls(ra_number=required_text(row, "raNumber", where), order_number=text(row.get("orderNumber")),
                   warehouse=text(row.get("warehouse")), status=required_text(row, "status", where),
                   lines=tuple(lines), credit_memos=tuple(text(m) for m in row.get("creditMemos") or []),
                   updated_at=timestamp(row.get("updatedAt"), f"{where} updatedAt"), created=created, raw=row)


@dataclass(frozen=True)
class BlueCherryStockRow:
    """Stock of one SKU in one warehouse."""

    sku: str
    warehouse: str
    on_hand: int
    allocated: int
    picked: int
    available: int
    on_order: int
    wip: int
    updated_at: datetime | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_raw(cls, raw: Any, where: str) -> BlueCherryStockRow:
        row = obj(raw, where)
        return cls(sku=required_text(row, "sku", where), warehouse=required_text(row, "warehouse", where),
                   on_hand=count(row, "onHand", where, signed=True), allocated=count(row, "allocated", where),
                   picked=count(row, "picked", where), available=count(row, "available", where, signed=True),
                   on_order=count(row, "onOrder", where), wip=count(row, "wip", where),
                   updated_at=timestamp(row.get("updatedAt"), f"{where} updatedAt"), raw=row)


@dataclass(frozen=True)
class BlueCherryAdjustment:
    """An inventory adjustment as booked: per SKU the on-hand before and after."""

    adjustment_number: str
    reference: str
    warehouse: str
    reason: str
    changes: tuple[tuple[str, int, int], ...]  # (sku, before, after)
    created: bool = field(default=False, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_raw(cls, raw: Any, where: str, created: bool = False) -> BlueCherryAdjustment:
        row = obj(raw, where)
        changes = tuple((required_text(obj(line, where), "sku", where), count(line, "before", where, signed=True),
                         count(line, "after", where, signed=True)) for line in row.get("lines") or [])
        return cls(adjustment_number=required_text(row, "adjustmentNumber", where),
                   reference=text(row.get("reference")), warehouse=text(row.get("warehouse")),
                   reason=text(row.get("reason")), changes=changes, created=created, raw=row)


# ---- field readers -----------------------------------------------------------------------------------
def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiResponseInvalid(SYSTEM, f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def text(value: Any) -> str:
    return "" if value is None else str(value)


def required_text(row: Mapping[str, Any], key: str, where: str) -> str:
    if key not in row or row[key] is None or row[key] == "":
        raise ApiResponseInvalid(SYSTEM, f"{where}: '{key}' is missing")
    return text(row[key])


def count(row: Mapping[str, Any], key: str, where: str, *, default: int = 0, signed: bool = False) -> int:
    value = row.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or (value < 0 and not signed):
        raise ApiResponseInvalid(SYSTEM, f"{where}: '{key}' is not a whole number of at least 0 (got {value!r})")
    return value


def number(value: Any, key: str, where: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiResponseInvalid(SYSTEM, f"{where}: '{key}' is not a number (got {value!r})")
    return float(value)


def timestamp(value: Any, where: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiResponseInvalid(SYSTEM, f"{where}: expected a date-time string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ApiResponseInvalid(SYSTEM, f"{where}: '{value}' is not an ISO 8601 date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
