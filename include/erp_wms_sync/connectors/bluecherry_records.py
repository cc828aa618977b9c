"""Typed BlueCherry order-to-cash records read by :class:`~erp_wms_sync.connectors.bluecherry.BlueCherryClient`:
orders and their lines, shipments (with cartons), return authorisations, stock rows and inventory
adjustments. Each ``from_raw`` checks the fields the integration relies on and raises
:class:`~erp_wms_sync.errors.ApiResponseInvalid` naming the record and field when the answer breaks the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from erp_wms_sync.connectors.parsing import FieldReader, text

SYSTEM = "bluecherry"
_read = FieldReader(SYSTEM, blank_is_missing=True)


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
        row = _read.obj(raw, where)
        return cls(sku=_read.required_text(row, "sku", where), qty=_read.count(row, "qty", where),
                   price=_read.number(row.get("price"), "price", where) or 0.0,
                   allocated=_read.count(row, "allocated", where), picked=_read.count(row, "picked", where),
                   shipped=_read.count(row, "shipped", where), cancelled=_read.count(row, "cancelled", where),
                   returned=_read.count(row, "returned", where))


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
        row = _read.obj(raw, where)
        number_ = _read.required_text(row, "orderNumber", where)
        lines = row.get("lines")
        if not isinstance(lines, list):
            raise _read.invalid(f"{where} (order {number_}): 'lines' must be a list")
        ship_to = row.get("shipTo") or {}
        return cls(order_number=number_, customer_po=text(row.get("customerPo")),
                   division=text(row.get("division")), customer=text(row.get("customer")),
                   warehouse=text(row.get("warehouse")),
                   status=_read.required_text(row, "status", where), on_hold=bool(row.get("onHold", False)),
                   revision=_read.count(row, "revision", where, default=1),
                   lines=tuple(BlueCherryOrderLine.from_raw(line, f"{where} (order {number_}) line {i}")
                               for i, line in enumerate(lines, start=1)),
                   ship_to=ship_to if isinstance(ship_to, dict) else {},
                   order_date=_read.timestamp(row.get("orderDate"), f"{where} orderDate"),
                   updated_at=_read.timestamp(row.get("updatedAt"), f"{where} updatedAt"), raw=row)


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
        row = _read.obj(raw, where)
        cartons = tuple(ShipmentCarton(text(body.get("cartonNo")), _carton_lines(body.get("lines"), spot))
                        for spot, body in _read.objects(row.get("cartons"), where, "carton"))
        tracking = row.get("trackingNumbers") or []
        if not isinstance(tracking, list):
            raise _read.invalid(f"{where}: 'trackingNumbers' must be a list")
        return cls(shipment_number=_read.required_text(row, "shipmentNumber", where),
                   order_number=_read.required_text(row, "orderNumber", where),
                   pick_ticket=text(row.get("pickTicket")),
                   ship_date=_read.timestamp(row.get("shipDate"), f"{where} shipDate"),
                   carrier=text(row.get("carrier")), tracking_numbers=tuple(text(t) for t in tracking), cartons=cartons,
                   reference=text(row.get("reference")),
                   updated_at=_read.timestamp(row.get("updatedAt"), f"{where} updatedAt"), created=created, raw=row)


@dataclass(frozen=True)
class BlueCherryReturnLine:
    sku: str
    qty: int
    reason_code: str
    condition: str
    received: int
    received_sellable: int
    received_damaged: int

    @classmethod
    def from_json(cls, item: Mapping[str, Any], where: str) -> BlueCherryReturnLine:
        return cls(sku=_read.required_text(item, "sku", where), qty=_read.count(item, "qty", where),
                   reason_code=text(item.get("reasonCode")), condition=text(item.get("condition")),
                   received=_read.count(item, "received", where),
                   received_sellable=_read.count(item, "receivedSellable", where),
                   received_damaged=_read.count(item, "receivedDamaged", where))


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
        row = _read.obj(raw, where)
        lines = tuple(BlueCherryReturnLine.from_json(item, spot)
                      for spot, item in _read.objects(row.get("lines"), where, "line"))
        return cls(ra_number=_read.required_text(row, "raNumber", where), order_number=text(row.get("orderNumber")),
                   warehouse=text(row.get("warehouse")), status=_read.required_text(row, "status", where),
                   lines=lines,
                   credit_memos=tuple(text(m) for m in _list(row.get("creditMemos"), "creditMemos", where)),
                   updated_at=_read.timestamp(row.get("updatedAt"), f"{where} updatedAt"), created=created, raw=row)


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
        row = _read.obj(raw, where)
        return cls(sku=_read.required_text(row, "sku", where), warehouse=_read.required_text(row, "warehouse", where),
                   on_hand=_read.count(row, "onHand", where, signed=True),
                   allocated=_read.count(row, "allocated", where), picked=_read.count(row, "picked", where),
                   available=_read.count(row, "available", where, signed=True),
                   on_order=_read.count(row, "onOrder", where), wip=_read.count(row, "wip", where),
                   updated_at=_read.timestamp(row.get("updatedAt"), f"{where} updatedAt"), raw=row)


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
        row = _read.obj(raw, where)
        changes = tuple((_read.required_text(_read.obj(line, where), "sku", where),
                         _read.count(line, "before", where, signed=True),
                         _read.count(line, "after", where, signed=True))
                        for line in _list(row.get("lines"), "lines", where))
        return cls(adjustment_number=_read.required_text(row, "adjustmentNumber", where),
                   reference=text(row.get("reference")), warehouse=text(row.get("warehouse")),
                   reason=text(row.get("reason")), changes=changes, created=created, raw=row)


def _carton_lines(lines: Any, where: str) -> tuple[tuple[str, int], ...]:
    """``(sku, qty)`` of each line of a carton (errors name the carton)."""
    return tuple((_read.required_text(_read.obj(line, where), "sku", where), _read.count(line, "qty", where))
                 for line in _list(lines, "lines", where))


def _list(value: Any, key: str, where: str) -> list[Any]:
    """An optional JSON list (``[]`` when absent); anything else is refused naming the record and the field."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _read.invalid(f"{where}: '{key}' must be a list (got {type(value).__name__})")
    return value
