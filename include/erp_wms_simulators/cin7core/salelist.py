"""Filters of ``GET /saleList`` and ``GET /saleCreditNoteList`` in the Cin7 Core simulator.

Status filters compare the row's value without regard to case. Besides the documented names
(``CombinedPickStatus``, ``CombinedPackStatus``, ``CombinedShippingStatus``, ``CombinedInvoiceStatus``) the
row field names and the older help-centre names (``PickStatus``, ``PackStatus``, ``ShipStatus``,
``InvoiceStatus``) are accepted. ``Search`` looks for the text in the order, invoice and credit-note numbers,
customer, customer reference and ExternalID. ``CreatedSince`` / ``UpdatedSince`` keep sales created /
changed at or after the time; ``ShipBy`` keeps sales to ship by that time; ``ReadyForShipping=true`` keeps
sales with packed, unshipped goods. Rows are in creation order, so pages never shift while sales change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from erp_wms_simulators.cin7core.model import Sale
from erp_wms_simulators.common import CaseInsensitiveQuery, parse_bool, parse_iso_datetime

STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "Status": ("Status",),
    "QuoteStatus": ("QuoteStatus",),
    "OrderStatus": ("OrderStatus",),
    "CombinedPickingStatus": ("CombinedPickStatus", "CombinedPickingStatus", "PickStatus"),
    "CombinedPackingStatus": ("CombinedPackStatus", "CombinedPackingStatus", "PackStatus"),
    "CombinedShippingStatus": ("CombinedShippingStatus", "CombinedShipStatus", "ShipStatus"),
    "CombinedInvoiceStatus": ("CombinedInvoiceStatus", "InvoiceStatus"),
    "CreditNoteStatus": ("CreditNoteStatus",),
}
CREDIT_NOTE_FILTERS = ("Status", "CreditNoteStatus")
SEARCHED = ("OrderNumber", "Customer", "CustomerReference", "InvoiceNumber", "ExternalID", "CreditNoteNumber")


@dataclass(frozen=True)
class SaleQuery:
    """The filters of a sale list request."""

    search: str = ""
    created_since: datetime | None = None
    updated_since: datetime | None = None
    ship_by: datetime | None = None
    external_id: str | None = None
    location_id: str = ""
    ready_for_shipping: bool | None = None
    statuses: dict[str, str] = field(default_factory=dict)  # row field -> wanted value

    @classmethod
    def parse(cls, query: CaseInsensitiveQuery, filters: Mapping[str, tuple[str, ...]]) -> SaleQuery:
        """Read the request's filters; a bad date or boolean raises ``ValueError`` naming the parameter."""
        statuses: dict[str, str] = {}
        for row_field, names in filters.items():
            value = next((query.get(name) for name in names if query.get(name)), None)
            if value:
                statuses[row_field] = value.strip()
        ready = query.get("ReadyForShipping")
        try:
            ready_flag = parse_bool(ready) if ready else None
        except ValueError as exc:
            raise ValueError(f"ReadyForShipping: {exc}") from None
        return cls(search=(query.get("Search") or "").strip(), created_since=_since(query, "CreatedSince"),
                   updated_since=_since(query, "UpdatedSince"), ship_by=_since(query, "ShipBy"),
                   external_id=query.get("ExternalID") or None,
                   location_id=(query.get("OrderLocationID") or "").strip().lower(),
                   ready_for_shipping=ready_flag, statuses=statuses)

    def matches(self, sale: Sale, row: Mapping[str, Any]) -> bool:
        if self.created_since is not None and sale.created < self.created_since:
            return False
        if self.updated_since is not None and sale.updated < self.updated_since:
            return False
        ship_by = sale.header.get("ShipBy")
        if self.ship_by is not None and not (isinstance(ship_by, datetime) and ship_by <= self.ship_by):
            return False
        if self.external_id is not None and row.get("ExternalID") != self.external_id:
            return False
        if self.location_id and sale.location_id != self.location_id:
            return False
        if self.ready_for_shipping is not None and _ready(row) != self.ready_for_shipping:
            return False
        if any(str(row.get(name, "")).casefold() != wanted.casefold() for name, wanted in self.statuses.items()):
            return False
        return not self.search or any(self.search.casefold() in str(row.get(name) or "").casefold()
                                      for name in SEARCHED)


def _ready(row: Mapping[str, Any]) -> bool:
    packed = row["CombinedPackingStatus"] in ("PACKED", "PARTIALLY PACKED")
    return packed and row["CombinedShippingStatus"] != "SHIPPED"


def _since(query: CaseInsensitiveQuery, name: str) -> datetime | None:
    text = query.get(name)
    if not text:
        return None
    try:
        return parse_iso_datetime(text)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
