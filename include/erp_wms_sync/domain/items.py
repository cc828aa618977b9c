"""Item master rules: ERP products → one normalised :class:`ErpItem` → Peoplevox "Item types" rows.

Pure functions and module-level field tables; no I/O. The content hash of the WMS row decides whether an item
changed since it was last written (unchanged items are skipped).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from erp_wms_sync.connectors.bluecherry import BlueCherrySku
    from erp_wms_sync.connectors.cin7core import Cin7Product

ITEM_TYPES_TEMPLATE = "Item types"
ITEM_KEY = "ItemCode"

# ErpItem attribute -> Peoplevox "Item types" column. Order is the CSV column order.
WMS_ITEM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("sku", "ItemCode"),
    ("name", "Name"),
    ("barcode", "Barcode"),
    ("group", "ItemGroup"),
    ("price", "RetailPrice"),
    ("description", "Description"),
    ("uom", "UnitOfMeasure"),
    ("weight", "Weight"),
    ("brand", "Attribute1"),
    ("season", "Attribute2"),
    ("colour", "Attribute3"),
    ("size", "Attribute4"),
)

INACTIVE_STATUSES = frozenset({"deprecated", "inactive", "discontinued"})


@dataclass(frozen=True)
class ErpItem:
    """An ERP product/SKU in the shape every flow uses, whatever the ERP."""

    sku: str
    name: str
    barcode: str = ""
    group: str = ""
    price: str = ""
    description: str = ""
    uom: str = ""
    weight: str = ""
    brand: str = ""
    season: str = ""
    colour: str = ""
    size: str = ""
    active: bool = True
    modified_at: datetime | None = None
    source_id: str = ""
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def status(self) -> str:
        return "active" if self.active else "inactive"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return " ".join(str(value).split())


def item_from_cin7(product: Cin7Product) -> ErpItem:
    return ErpItem(
        sku=_text(product.sku), name=_text(product.name), barcode=_text(product.barcode),
        group=_text(product.category), price=_text(product.price),
        description=_text(product.short_description or product.description), uom=_text(product.uom),
        weight=_text(product.weight), brand=_text(product.brand),
        active=_text(product.status).casefold() not in INACTIVE_STATUSES,
        modified_at=product.last_modified, source_id=_text(product.id), source=dict(product.raw),
    )


def item_from_bluecherry(sku: BlueCherrySku) -> ErpItem:
    return ErpItem(
        sku=_text(sku.sku), name=_text(sku.description), barcode=_text(sku.upc), group=_text(sku.style),
        price=_text(sku.price), description=_text(f"{sku.description} {sku.color_name} {sku.size}"),
        uom="EA", weight=_text(sku.weight), brand=_text(sku.division), season=_text(sku.season),
        colour=_text(sku.color_name or sku.color), size=_text(sku.size),
        active=_text(sku.status).casefold() not in INACTIVE_STATUSES,
        modified_at=sku.updated_at, source_id=_text(sku.sku), source=dict(sku.raw),
    )


def _same(sku: str) -> str:
    return sku


def to_wms_row(item: ErpItem, item_code: Callable[[str], str] = _same) -> dict[str, str]:
    """The Peoplevox "Item types" row for an item (every mapped column, blanks included); ``item_code`` maps the
    ERP SKU to its Peoplevox ItemCode (``Integration.item_code_for``: identity unless the integration has a
    cross-reference table)."""
    values = asdict(item)
    row = {column: str(values[attr]) for attr, column in WMS_ITEM_COLUMNS}
    row[ITEM_KEY] = item_code(item.sku) if item.sku else item.sku
    return row


def content_hash(row: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def item_payload(item: ErpItem) -> dict[str, Any]:
    """The archived form of an item (exception payloads, message archive): JSON-safe, no secrets."""
    data = asdict(item)
    data["modified_at"] = item.modified_at.isoformat() if item.modified_at else None
    return data
