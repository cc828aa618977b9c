"""The integration templates (GetData / SaveData) and reports (GetReportData) the simulator knows.

A template is data: its name, export columns, importable columns, key columns and a validator.
Adding one (Sales orders, Sales order items, ...) means adding a :class:`TemplateSpec` to
:data:`DEFAULT_TEMPLATES`; the GetData / SaveData / GetSaveTemplate code is shared by all of them.

A validator sees the record as it would be stored after the save (existing values merged with the
incoming cells) and returns a reason string when the record must be refused, or ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings

if TYPE_CHECKING:
    from erp_wms_simulators.peoplevox.state import Tenant

Row = Mapping[str, str]
Table = Mapping[str, Row]


@dataclass(frozen=True)
class SaveContext:
    """What a validator may consult besides the record itself."""

    template: str
    table: Table  # the template's stored records, key -> row (before this record is written)
    tables: Mapping[str, Table]  # every template's records of the tenant, for cross-template checks
    settings: PeoplevoxSettings
    is_new: bool


Validator = Callable[[Row, SaveContext], "str | None"]


def no_rules(row: Row, ctx: SaveContext) -> str | None:
    """The validator of a template with no rules beyond its key."""
    return None


@dataclass(frozen=True)
class TemplateSpec:
    """One integration template."""

    name: str
    columns: tuple[str, ...]  # export columns, in GetData order
    key: tuple[str, ...]  # key columns; the record key (and Statuses Reference) joins them with "/"
    validate: Validator = no_rules
    save_columns: tuple[str, ...] = ()  # importable columns; empty means "all export columns"
    defaults: Mapping[str, str] = field(default_factory=dict)  # values given to new records

    @property
    def importable(self) -> tuple[str, ...]:
        return self.save_columns or self.columns

    def record_key(self, row: Row) -> str:
        return "/".join((row.get(column) or "").strip() for column in self.key)


@dataclass(frozen=True)
class ReportSpec:
    """One report: fixed columns and a function deriving its rows from a tenant's data."""

    name: str
    columns: tuple[str, ...]
    rows: Callable[[Tenant], Iterable[Row]]


def _numbers(names: Iterable[str]) -> Callable[[Row], str | None]:
    names = tuple(names)

    def check(row: Row) -> str | None:
        for name in names:
            value = (row.get(name) or "").strip()
            if not value:
                continue
            try:
                Decimal(value)
            except InvalidOperation:
                return f"{name} must be a number, got {value!r}"
        return None

    return check


def _booleans(names: Iterable[str]) -> Callable[[Row], str | None]:
    names = tuple(names)

    def check(row: Row) -> str | None:
        for name in names:
            value = (row.get(name) or "").strip().lower()
            if value and value not in ("true", "false"):
                return f"{name} must be true or false, got {row.get(name)!r}"
        return None

    return check


ITEM_TYPE_COLUMNS: tuple[str, ...] = (
    "ItemCode", "Name", "Barcode", "ItemGroup", "RetailPrice", "Description", "UnitOfMeasure",
    "DefaultEconomicOrderQuantity", "DefaultLeadTime", "DefaultSuppliersPartNumber", "HasSerialNumbers",
    "UseManufacturersSerialNumber", "ReorderPoint", "Traceability", "ShelfLife",
    "DefaultNumberItemsPerContainer", "DefaultContainerType", "DefaultNumberItemsPerOuterCase",
    "DefaultNumberItemsPerInnerCase", "BuyPrice", "WholesalePrice", "Weight", "WeightMeasure", "Height",
    "Width", "Depth", "DimensionMeasure", "Tags",
    *(f"Attribute{n}" for n in range(1, 16)),
    "TaxCode", "MinimumPickLocationQuantity", "DefaultReplenishmentQuantity",
)
_ITEM_NUMBERS = _numbers((
    "RetailPrice", "DefaultEconomicOrderQuantity", "DefaultLeadTime", "ReorderPoint", "ShelfLife",
    "DefaultNumberItemsPerContainer", "DefaultNumberItemsPerOuterCase", "DefaultNumberItemsPerInnerCase",
    "BuyPrice", "WholesalePrice", "Weight", "Height", "Width", "Depth", "MinimumPickLocationQuantity",
    "DefaultReplenishmentQuantity",
))
_ITEM_BOOLEANS = _booleans(("HasSerialNumbers", "UseManufacturersSerialNumber"))


def validate_item_type(row: Row, ctx: SaveContext) -> str | None:
    """ItemCode length, Name required, numeric/boolean fields, Barcode unique across item types."""
    code = row.get("ItemCode", "")
    limit = ctx.settings.item_code_max_length
    if len(code) > limit:
        return f"ItemCode is longer than {limit} characters ({len(code)})"
    if not (row.get("Name") or "").strip():
        return "Name is required"
    problem = _ITEM_NUMBERS(row) or _ITEM_BOOLEANS(row)
    if problem:
        return problem
    barcode = (row.get("Barcode") or "").strip()
    if barcode:
        for other_code, other in ctx.table.items():
            if other_code != code and (other.get("Barcode") or "").strip() == barcode:
                return f"Barcode '{barcode}' is already used by item '{other_code}'"
    return None


SITE_COLUMNS: tuple[str, ...] = (
    "Reference", "Name", "AddressLine1", "AddressLine2", "City", "Region", "Postcode", "Country",
    "Phone", "Email",
)


def validate_site(row: Row, ctx: SaveContext) -> str | None:
    if not (row.get("Name") or "").strip():
        return "Name is required"
    return None


ITEM_TYPES = TemplateSpec("Item types", ITEM_TYPE_COLUMNS, ("ItemCode",), validate_item_type)
SITES = TemplateSpec("Sites", SITE_COLUMNS, ("Reference",), validate_site)

DEFAULT_TEMPLATES: tuple[TemplateSpec, ...] = (ITEM_TYPES, SITES)
DEFAULT_REPORTS: tuple[ReportSpec, ...] = ()
