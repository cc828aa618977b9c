"""The integration templates (GetData / SaveData) and reports (GetReportData) the simulator knows.

A template is data: its name, export columns, importable columns, key columns and a validator.
Adding one means adding a :class:`TemplateSpec` to ``catalog.DEFAULT_TEMPLATES``; the GetData /
SaveData / GetSaveTemplate code is shared by all of them. This module holds the spec types and the
master-data templates (Item types, Sites); orders and logistics templates live in their own modules.

A validator sees the record as it would be stored after the save (existing values merged with the
incoming cells) and returns a reason string when the record must be refused, or ``None``. Optional hooks:
``prepare`` completes the incoming cells before the key is read (e.g. a line number from the ItemCode),
``delete_rule`` refuses Action 2 deletes, ``search_view`` / ``numeric_aliases`` let a search compare a
status name column with a numeric id (``Status.Equals(5)``).
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
    existing: Row | None = None  # the stored record before this save (None when new)
    incoming: Row = field(default_factory=dict)  # the cells the request sent (after ``prepare``)


Validator = Callable[[Row, SaveContext], "str | None"]
#: Completes incoming cells in place (given the template's table and every table); returns a refusal reason.
Preparer = Callable[[dict[str, str], Table, Mapping[str, Table]], "str | None"]
SearchView = Callable[[Row, PeoplevoxSettings], Row]


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
    reference: tuple[str, ...] = ()  # columns of the Statuses Reference; empty means the key
    header_keys: tuple[tuple[str, ...], ...] = ()  # per group, one column must be in the CSV header
    prepare: Preparer | None = None
    delete_rule: Validator | None = None  # refuses an Action 2 delete of a stored record
    search_view: SearchView | None = None  # the row a search clause sees (may add hidden columns)
    numeric_aliases: Mapping[str, str] = field(default_factory=dict)  # column -> hidden id column

    @property
    def importable(self) -> tuple[str, ...]:
        return self.save_columns or self.columns

    @property
    def required_header(self) -> tuple[tuple[str, ...], ...]:
        return self.header_keys or tuple((column,) for column in self.key)

    @property
    def search_columns(self) -> tuple[str, ...]:
        return self.columns + tuple(self.numeric_aliases.values())

    def record_key(self, row: Row) -> str:
        return "/".join((row.get(column) or "").strip() for column in self.key)

    def reference_of(self, row: Row) -> str:
        """The Statuses Reference of a record (the key unless ``reference`` names other columns)."""
        return "/".join((row.get(column) or "").strip() for column in (self.reference or self.key))

    def searchable(self, row: Row, settings: PeoplevoxSettings) -> Row:
        return row if self.search_view is None else self.search_view(row, settings)


@dataclass(frozen=True)
class ReportSpec:
    """One report: fixed columns and a function deriving its rows from a tenant's data."""

    name: str
    columns: tuple[str, ...]
    rows: Callable[[Tenant], Iterable[Row]]


def numbers(names: Iterable[str]) -> Callable[[Row], str | None]:
    """A check that each of ``names`` (when not empty) is a number."""
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


def booleans(names: Iterable[str]) -> Callable[[Row], str | None]:
    """A check that each of ``names`` (when not empty) is true or false."""
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
_ITEM_NUMBERS = numbers((
    "RetailPrice", "DefaultEconomicOrderQuantity", "DefaultLeadTime", "ReorderPoint", "ShelfLife",
    "DefaultNumberItemsPerContainer", "DefaultNumberItemsPerOuterCase", "DefaultNumberItemsPerInnerCase",
    "BuyPrice", "WholesalePrice", "Weight", "Height", "Width", "Depth", "MinimumPickLocationQuantity",
    "DefaultReplenishmentQuantity",
))
_ITEM_BOOLEANS = booleans(("HasSerialNumbers", "UseManufacturersSerialNumber"))


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
