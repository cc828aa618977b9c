"""Cin7 Core product records: field table, validation of POST/PUT bodies, list filtering and the
``Include…`` sub-collections of ``GET /product``.

Products are kept as dicts with the vendor's field names (the documented Product model: identity and
classification, dimensions and carton, reorder, ten price tiers, texts and attributes, accounts and tax
rules, assembly, customs); ``LastModifiedOn`` is held as an aware datetime and only turned into text
when rendered. ``AverageCost``, ``CountryOfOriginCode``, ``PriceTiers`` and ``LastModifiedOn`` are read-only:
an API body cannot set them. The sub-collections (:data:`INCLUDES`) are stored with the product but only
rendered when the request asks for them with their ``Include…`` flag, as the real service does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from erp_wms_simulators.common import format_timestamp

SKU_MAX = 50
NAME_MAX = 256
TYPES = ("Stock", "Service")
STATUSES = ("Active", "Deprecated")
COSTING_METHODS = ("FIFO", "Special - Batch", "Special - Serial Number", "FIFO - Serial Number",
                   "FIFO - Batch", "FEFO - Batch", "FEFO - Serial Number")
DROP_SHIP_MODES = ("No Drop Ship", "Optional Drop Ship", "Always Drop Ship")
PRICE_TIERS = tuple(f"PriceTier{i}" for i in range(1, 11))
ATTRIBUTES = tuple(f"AdditionalAttribute{i}" for i in range(1, 11))
NUMBER_FIELDS = ("Weight", "Length", "Width", "Height", "CartonLength", "CartonWidth", "CartonHeight",
                 "CartonQuantity", "CartonInnerQuantity", "MinimumBeforeReorder", "ReorderQuantity",
                 "QuantityToProduce", *PRICE_TIERS)
BOOL_FIELDS = ("Sellable", "BillOfMaterial", "AutoAssembly", "AutoDisassembly", "AlwaysShowQuantity")
TEXT_FIELDS = ("SKU", "Name", "Category", "Brand", "Type", "CostingMethod", "UOM", "Status", "DropShipMode",
               "DefaultLocation", "Barcode", "WeightUnits", "DimensionsUnits", "ShortDescription",
               "Description", "InternalNote", "Tags", "AttributeSet", "DiscountRule", "StockLocator",
               "COGSAccount", "RevenueAccount", "ExpenseAccount", "InventoryAccount", "PurchaseTaxRule",
               "SaleTaxRule", "PickZones", "AssemblyInstructionURL", "AssemblyCostEstimationMethod", "BOMType",
               "WarrantyName", "HSCode", "CountryOfOrigin", *ATTRIBUTES)
READ_ONLY = frozenset({"ID", "AverageCost", "CountryOfOriginCode", "PriceTiers", "LastModifiedOn", "Movements"})

# Include flag of GET /product -> the arrays it adds to each product (absent unless asked for)
INCLUDES: dict[str, tuple[str, ...]] = {
    "IncludeSuppliers": ("Suppliers",),
    "IncludeReorderLevels": ("ReorderLevels",),
    "IncludeBOM": ("BillOfMaterialsProducts", "BillOfMaterialsServices"),
    "IncludeAttachments": ("Attachments",),
    "IncludeCustomPrices": ("CustomPrices",),
    "IncludeMovements": ("Movements",),  # computed from the stock book, never stored
}
STORED_COLLECTIONS = tuple(name for names in INCLUDES.values() for name in names if name != "Movements")
COUNTRY_CODES = {"united kingdom": "GB", "united states": "US", "portugal": "PT", "china": "CN",
                 "vietnam": "VN", "italy": "IT", "germany": "DE", "new zealand": "NZ", "australia": "AU"}

DEFAULTS: dict[str, Any] = {
    "SKU": "", "Name": "", "Category": "", "Brand": "", "Type": "Stock", "CostingMethod": "FIFO",
    "DropShipMode": "No Drop Ship", "DefaultLocation": "",
    "Length": 0.0, "Width": 0.0, "Height": 0.0, "Weight": 0.0,
    "CartonLength": 0.0, "CartonWidth": 0.0, "CartonHeight": 0.0, "CartonQuantity": 0.0,
    "CartonInnerQuantity": 0.0, "UOM": "Item", "WeightUnits": "kg", "DimensionsUnits": "cm", "Barcode": "",
    "MinimumBeforeReorder": 0.0, "ReorderQuantity": 0.0, **{name: 0.0 for name in PRICE_TIERS},
    "AverageCost": 0.0, "ShortDescription": "", "Description": "", "InternalNote": "",
    **{name: "" for name in ATTRIBUTES}, "AttributeSet": "", "DiscountRule": "", "Tags": "", "Status": "Active",
    "StockLocator": "", "COGSAccount": "", "RevenueAccount": "", "ExpenseAccount": "", "InventoryAccount": "",
    "PurchaseTaxRule": "", "SaleTaxRule": "", "Sellable": True, "PickZones": "", "BillOfMaterial": False,
    "AutoAssembly": False, "AutoDisassembly": False, "QuantityToProduce": 0.0, "AssemblyInstructionURL": "",
    "AssemblyCostEstimationMethod": "Average Cost", "BOMType": "", "WarrantyName": "",
    "AlwaysShowQuantity": False, "HSCode": "", "CountryOfOrigin": "",
}
FIELDS = ("ID", *DEFAULTS, "CountryOfOriginCode", "PriceTiers", "LastModifiedOn")


def new_product(fields: Mapping[str, Any], product_id: str, modified: datetime) -> dict[str, Any]:
    """A full product record: defaults, then the known ``fields`` (sub-collections included); unknown
    names are ignored."""
    record: dict[str, Any] = {"ID": product_id, **DEFAULTS, **{name: [] for name in STORED_COLLECTIONS}}
    record.update({k: v for k, v in fields.items() if k in record and k != "ID"})
    for name in STORED_COLLECTIONS:
        record[name] = [dict(item) for item in record[name] or []]
    record["LastModifiedOn"] = modified
    return record


def writable(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an API body the caller may set (read-only ones such as ``AverageCost`` dropped)."""
    return {k: v for k, v in body.items() if k not in READ_ONLY}


def render(product: Mapping[str, Any], zulu: bool, include: Iterable[str] = ()) -> dict[str, Any]:
    """The product as the API returns it: scalar fields with derived ``CountryOfOriginCode`` and
    ``PriceTiers`` and the timestamp as text, plus the stored arrays named in ``include``."""
    out = {name: product.get(name, default) for name, default in DEFAULTS.items()}
    out = {"ID": product["ID"], **out}
    country = str(product.get("CountryOfOrigin") or "")
    out["CountryOfOriginCode"] = COUNTRY_CODES.get(country.casefold(), "") if country else ""
    out["PriceTiers"] = {f"Tier {i}": product.get(f"PriceTier{i}", 0.0) for i in range(1, 11)}
    out["LastModifiedOn"] = format_timestamp(product["LastModifiedOn"], zulu=zulu)
    for name in include:
        if name in STORED_COLLECTIONS:
            out[name] = [dict(item) for item in product.get(name) or []]
    return out


@dataclass(frozen=True)
class Catalogue:
    """What a product body is validated against: existing SKUs, categories and units of measure."""

    skus: Mapping[str, str]  # casefolded SKU -> product ID
    categories: frozenset[str]
    uoms: frozenset[str]


def validate_post(body: Mapping[str, Any], catalogue: Catalogue) -> list[str]:
    """Every problem with a new product body, each message naming its field (empty list = valid)."""
    problems = [f"Required attribute {name} is not provided."
                for name in ("SKU", "Name", "Category", "Type", "UOM") if _blank(body.get(name))]
    problems += _check_values(body, catalogue, own_id=None)
    return problems


def validate_put(body: Mapping[str, Any], catalogue: Catalogue, own_id: str) -> list[str]:
    """Problems with an update body; only the fields present are checked (ID must be present)."""
    problems = [f"{name} cannot be empty." for name in ("SKU", "Name", "Category", "UOM")
                if name in body and _blank(body.get(name))]
    return problems + _check_values(body, catalogue, own_id=own_id)


def _check_values(body: Mapping[str, Any], catalogue: Catalogue, own_id: str | None) -> list[str]:
    problems: list[str] = []
    for name in TEXT_FIELDS:
        if name in body and body[name] is not None and not isinstance(body[name], str):
            problems.append(f"{name} must be a string.")
    for name in NUMBER_FIELDS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            problems.append(f"{name} must be a number not below 0.")
    for name in BOOL_FIELDS:
        if name in body and body[name] is not None and not isinstance(body[name], bool):
            problems.append(f"{name} must be true or false.")
    for name in STORED_COLLECTIONS:
        value = body.get(name)
        if value is not None and (not isinstance(value, list) or not all(isinstance(i, dict) for i in value)):
            problems.append(f"{name} must be a list of objects.")
    if problems:
        return problems
    problems += _check_text(body, catalogue, own_id)
    for name, allowed in (("Type", TYPES), ("Status", STATUSES), ("CostingMethod", COSTING_METHODS),
                          ("DropShipMode", DROP_SHIP_MODES)):
        if not _blank(body.get(name)) and body[name] not in allowed:
            problems.append(f"{name} '{body[name]}' is not one of: {', '.join(allowed)}.")
    return problems


def _check_text(body: Mapping[str, Any], catalogue: Catalogue, own_id: str | None) -> list[str]:
    problems: list[str] = []
    sku = body.get("SKU")
    if isinstance(sku, str) and sku.strip():
        if len(sku) > SKU_MAX:
            problems.append(f"SKU is longer than {SKU_MAX} characters.")
        holder = catalogue.skus.get(sku.casefold())
        if holder is not None and holder != own_id:
            problems.append(f"Product with SKU '{sku}' already exists.")
    name = body.get("Name")
    if isinstance(name, str) and len(name) > NAME_MAX:
        problems.append(f"Name is longer than {NAME_MAX} characters.")
    category = body.get("Category")
    if not _blank(category) and category not in catalogue.categories:
        problems.append(f"Category '{category}' not found.")
    uom = body.get("UOM")
    if not _blank(uom) and uom not in catalogue.uoms:
        problems.append(f"UOM '{uom}' not found.")
    return problems


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ProductQuery:
    """The filters of ``GET /product``."""

    product_id: str | None = None
    name: str | None = None
    sku: str | None = None
    modified_since: datetime | None = None
    include_deprecated: bool = False

    def select(self, products: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Matching products ordered by SKU (a stable order, so pages never overlap)."""
        chosen = [p for p in products if self._matches(p)]
        return sorted(chosen, key=lambda p: (str(p["SKU"]).casefold(), p["ID"]))

    def _matches(self, product: Mapping[str, Any]) -> bool:
        if self.product_id is not None:
            return str(product["ID"]).lower() == self.product_id.lower()
        if not self.include_deprecated and product.get("Status") == "Deprecated":
            return False
        if self.name and not str(product["Name"]).casefold().startswith(self.name.casefold()):
            return False
        if self.sku and not str(product["SKU"]).casefold().startswith(self.sku.casefold()):
            return False
        return self.modified_since is None or product["LastModifiedOn"] >= self.modified_since
