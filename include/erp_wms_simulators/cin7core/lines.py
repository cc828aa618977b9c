"""Validation and normalisation of document lines posted to the Cin7 Core simulator.

A line names its product by ``ProductID`` or ``SKU`` (an unknown one is reported by name) and its location
by ``LocationID`` or ``Location`` (name). Every problem is collected as a readable message, so one request
answers with the full error array; :func:`raise_problems` turns the list into a 400.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from erp_wms_simulators.common import SimError

if TYPE_CHECKING:
    from erp_wms_simulators.cin7core.state import Cin7CoreState


@dataclass(frozen=True)
class Lookup:
    """Products and locations indexed for one request (built under the state's lock)."""

    products: Mapping[str, dict[str, Any]]  # lower-case ID -> product
    skus: Mapping[str, str]  # casefolded SKU -> lower-case product ID
    locations: Mapping[str, dict[str, Any]]  # lower-case ID -> location
    location_names: Mapping[str, str]  # casefolded name -> lower-case location ID

    @classmethod
    def of(cls, state: Cin7CoreState) -> Lookup:
        with state.lock:
            products = {str(pid).lower(): p for pid, p in state.products.items()}
            locations = {str(lid).lower(): loc for lid, loc in state.locations.items()}
        return cls(products, {str(p["SKU"]).casefold(): pid for pid, p in products.items()}, locations,
                   {str(loc["Name"]).casefold(): lid for lid, loc in locations.items()})

    def product(self, line: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, Any] | None:
        """The product a line names by ``ProductID`` or ``SKU``."""
        product_id, sku = line.get("ProductID"), line.get("SKU")
        if _blank(product_id) and _blank(sku):
            problems.append(f"{where}: ProductID or SKU is required.")
            return None
        if not _blank(product_id):
            found = self.products.get(str(product_id).lower())
            if found is None:
                problems.append(f"Product with ID '{product_id}' not found.")
            elif not _blank(sku) and str(found["SKU"]).casefold() != str(sku).casefold():
                problems.append(f"{where}: ProductID '{product_id}' and SKU '{sku}' name different products.")
                return None
            return found
        found_id = self.skus.get(str(sku).casefold())
        if found_id is None:
            problems.append(f"Product with SKU '{sku}' not found.")
            return None
        return self.products[found_id]

    def location(self, location_id: Any, name: Any, where: str, problems: list[str],
                 default: str | None = None) -> dict[str, Any] | None:
        """A live location by ID or name; ``default`` (an ID) when neither is given."""
        if _blank(location_id) and _blank(name):
            if default is None:
                problems.append(f"{where}: Location is required.")
                return None
            return self.locations.get(default.lower())
        if not _blank(location_id):
            found = self.locations.get(str(location_id).lower())
            label = f"ID '{location_id}'"
        else:
            found_id = self.location_names.get(str(name).strip().casefold())
            found = self.locations.get(found_id) if found_id else None
            label = f"'{name}'"
        if found is None:
            problems.append(f"Location {label} not found.")
        elif found.get("IsDeprecated"):
            problems.append(f"Location '{found['Name']}' is deprecated.")
            return None
        return found


def number(line: Mapping[str, Any], name: str, where: str, problems: list[str], *, default: float = 0.0,
           low: float | None = 0.0, high: float | None = None, required: bool = False,
           above: bool = False) -> float:
    """A numeric field of a line, checked against its bounds (``above``: strictly greater than ``low``)."""
    value = line.get(name)
    if value is None or value == "":
        if required:
            problems.append(f"{where}: {name} is required.")
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{where}: {name} must be a number.")
        return default
    number_value = float(value)
    too_low = low is not None and (number_value <= low if above else number_value < low)
    if too_low or (high is not None and number_value > high):
        problems.append(f"{where}: {name} must be {_bounds(low, high, above)}, got {number_value:g}.")
        return default
    return round(number_value, 4)


def _bounds(low: float | None, high: float | None, above: bool) -> str:
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    if low is not None:
        return f"greater than {low:g}" if above else f"at least {low:g}"
    return f"at most {high:g}"


def text(line: Mapping[str, Any], name: str, default: str = "") -> str:
    value = line.get(name)
    return default if value is None else str(value)


def object_list(body: Mapping[str, Any], name: str, problems: list[str], *,
                required: bool = False) -> list[Mapping[str, Any]]:
    """``body[name]`` as a list of objects (an absent list is empty unless ``required``)."""
    value = body.get(name)
    if value is None:
        if required:
            problems.append(f"Required attribute {name} is not provided.")
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        problems.append(f"{name} must be a list of objects.")
        return []
    return value


def priced_lines(lookup: Lookup, raw: Sequence[Mapping[str, Any]], problems: list[str], *,
                 account: bool = False, min_quantity: float = 1.0) -> list[dict[str, Any]]:
    """Order, quote, invoice or credit-note lines with computed ``Total`` (before tax)."""
    lines: list[dict[str, Any]] = []
    for index, line in enumerate(raw, start=1):
        where = f"Line {index}"
        product = lookup.product(line, where, problems)
        quantity = number(line, "Quantity", where, problems, required=True, low=min_quantity)
        price = number(line, "Price", where, problems, default=float(product.get("PriceTier1") or 0)
                       if product else 0.0)
        discount = number(line, "Discount", where, problems, high=100.0)
        tax = number(line, "Tax", where, problems)
        if product is None:
            continue
        if product.get("Status") == "Deprecated":
            problems.append(f"Product '{product['SKU']}' is deprecated.")
        normalised = {
            "ProductID": product["ID"], "SKU": product["SKU"], "Name": text(line, "Name", product["Name"]),
            "Quantity": quantity, "Price": price, "Discount": discount, "Tax": tax,
            "AverageCost": float(product.get("AverageCost") or 0), "TaxRule": text(line, "TaxRule"),
            "Comment": text(line, "Comment"), "DropShip": bool(line.get("DropShip")), "BackorderQuantity": 0.0,
            "Total": round(quantity * price * (1 - discount / 100), 4),
        }
        if account:
            normalised["Account"] = text(line, "Account")
        lines.append(normalised)
    return lines


def stock_lines(lookup: Lookup, raw: Sequence[Mapping[str, Any]], problems: list[str], default_location: str,
                *, box: str | None = None, restock: bool = False) -> list[dict[str, Any]]:
    """Pick, pack or restock lines: product, location (the sale's by default), quantity and batch.

    ``box`` (the default box name) adds ``Box``; ``restock`` reads ``RestockLocation(ID)`` first.
    """
    lines: list[dict[str, Any]] = []
    for index, line in enumerate(raw, start=1):
        where = f"Line {index}"
        product = lookup.product(line, where, problems)
        quantity = number(line, "Quantity", where, problems, required=True, above=True)
        location_id, location_name = line.get("LocationID"), line.get("Location")
        if restock and not (_blank(line.get("RestockLocationID")) and _blank(line.get("RestockLocation"))):
            location_id, location_name = line.get("RestockLocationID"), line.get("RestockLocation")
        location = lookup.location(location_id, location_name, where, problems, default_location)
        if product is None or location is None:
            continue
        normalised = {"ProductID": product["ID"], "SKU": product["SKU"], "Name": text(line, "Name", product["Name"]),
                      "Location": location["Name"], "LocationID": location["ID"], "Quantity": quantity,
                      "BatchSN": line.get("BatchSN") or None, "ExpiryDate": line.get("ExpiryDate") or None,
                      "NonInventory": bool(line.get("NonInventory"))}
        if box is not None:
            normalised["Box"] = text(line, "Box").strip() or box
            normalised["WarrantyRegistrationNumber"] = text(line, "WarrantyRegistrationNumber")
        if restock:
            normalised["RestockLocation"] = location["Name"]
            normalised["RestockLocationID"] = location["ID"]
        lines.append(normalised)
    return lines


def raise_problems(problems: Sequence[str], status: int = 400) -> None:
    """A :class:`SimError` carrying every problem (one error array entry each), if there are any."""
    if problems:
        unique = tuple(dict.fromkeys(problems))
        raise SimError(status, unique[0], details=unique)


def reject(message: str, status: int = 400) -> SimError:
    return SimError(status, message)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
