"""In-memory tenant of the Cin7 Core simulator: products, locations, reference lists and counters.

Tests and scenarios drive it directly (``add_product``, ``update_product``, ``add_location``, and the sales
and stock helpers of :mod:`erp_wms_simulators.cin7core.tenant`); the HTTP app and the ``/_sim`` admin routes
use the same methods, under one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from erp_wms_simulators.callbacks import CIN7_FIRST_DELAY, CIN7_RETRY_SCHEDULE, CallbackDispatcher
from erp_wms_simulators.cin7core.products import Catalogue, new_product
from erp_wms_simulators.cin7core.tenant import SalesTenant
from erp_wms_simulators.common import Clock, SlidingWindowLimiter, new_guid, stable_guid, utc_now
from erp_wms_simulators.faults import FaultPlan
from erp_wms_simulators.traffic import CallCounter

DEFAULT_CATEGORIES = ("General",)
DEFAULT_UOMS = ("Item", "Each", "Pair", "Pack", "Box")


class Cin7CoreState(SalesTenant):
    """One simulated Cin7 Core account (sales, stock and webhooks: :class:`SalesTenant`)."""

    def __init__(self, clock: Clock = utc_now, company: str = "Demo Company") -> None:
        self.clock = clock
        self.company = company
        self.currency = "USD"
        self.products: dict[str, dict[str, Any]] = {}
        self.locations: dict[str, dict[str, Any]] = {}
        self.categories: set[str] = set(DEFAULT_CATEGORIES)
        self.uoms: set[str] = set(DEFAULT_UOMS)
        self.carriers: dict[str, dict[str, str]] = {}  # CarrierID (lower case) -> {"CarrierID", "Description"}
        self.calls = 0
        self.throttled = 0
        self.traffic = CallCounter()  # per endpoint, counted by the served app (see traffic.py)
        self.limiter = SlidingWindowLimiter()
        self.lock = threading.RLock()
        self.faults = FaultPlan.none("cin7core")
        # 6 tries (1 min after the event, then +5/+10/+15/+20/+25 min); the webhook is deactivated when they fail
        self.callbacks = CallbackDispatcher("cin7core", self.faults, first_delay=CIN7_FIRST_DELAY,
                                            retry_schedule=CIN7_RETRY_SCHEDULE, deactivate_after=1)
        self._init_sales()

    # ---- products ---------------------------------------------------------------------------
    def add_product(self, **fields: Any) -> dict[str, Any]:
        """Store a product as given (no API validation, so tests can seed bad data); returns it.

        ``ID`` and ``LastModifiedOn`` default to a new GUID and the clock; the category and UOM used
        are added to the reference lists.
        """
        sku = fields.get("SKU")
        if not isinstance(sku, str):
            raise ValueError("add_product needs a SKU string")
        with self.lock:
            if sku.casefold() in self.sku_index():
                raise ValueError(f"a product with SKU {sku!r} already exists")
            modified = fields.get("LastModifiedOn") or self.clock()
            product = new_product(fields, str(fields.get("ID") or new_guid()), _aware(modified))
            self._register_reference(product)
            self.products[product["ID"]] = product
            return product

    def update_product(self, sku: str, **fields: Any) -> dict[str, Any]:
        """Change fields of the product with ``sku`` and bump its ``LastModifiedOn``."""
        with self.lock:
            product = self.products_by_sku().get(sku)
            if product is None:
                raise KeyError(f"no product with SKU {sku!r}")
            return self.apply_update(product["ID"], fields)

    def apply_update(self, product_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Update a product by ID (``Type`` and ``ID`` are read-only); bumps ``LastModifiedOn``."""
        with self.lock:
            product = self.products[product_id]
            for name, value in fields.items():
                if name in product and name not in {"ID", "Type", "LastModifiedOn"}:
                    product[name] = value
            product["LastModifiedOn"] = _aware(fields.get("LastModifiedOn") or self.clock())
            self._register_reference(product)
            return product

    def create_product(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """A product created through the API: new ID, clock time; fields already validated."""
        with self.lock:
            product = new_product(fields, new_guid(), self.clock())
            self.products[product["ID"]] = product
            return product

    def products_by_sku(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {p["SKU"]: p for p in self.products.values()}

    def sku_index(self) -> dict[str, str]:
        with self.lock:
            return {str(p["SKU"]).casefold(): p["ID"] for p in self.products.values()}

    def catalogue(self) -> Catalogue:
        with self.lock:
            return Catalogue(self.sku_index(), frozenset(self.categories), frozenset(self.uoms))

    def _register_reference(self, product: Mapping[str, Any]) -> None:
        if isinstance(product.get("Category"), str) and product["Category"].strip():
            self.categories.add(product["Category"])
        if isinstance(product.get("UOM"), str) and product["UOM"].strip():
            self.uoms.add(product["UOM"])

    # ---- locations --------------------------------------------------------------------------
    def add_location(self, name: str, *, is_default: bool = False, deprecated: bool = False,
                     bins: Sequence[str] = (), location_id: str | None = None,
                     **address: Any) -> dict[str, Any]:
        """Add a location (``bins`` are bin names); ``address`` takes ``AddressLine1`` etc."""
        with self.lock:
            if any(loc["Name"].casefold() == name.casefold() for loc in self.locations.values()):
                raise ValueError(f"a location named {name!r} already exists")
            if is_default:
                for other in self.locations.values():
                    other["IsDefault"] = False
            location = _location(location_id or new_guid(), name, is_default, deprecated, bins, address)
            self.locations[location["ID"]] = location
            return location

    def add_carrier(self, description: str, carrier_id: str | None = None) -> dict[str, str]:
        """Add a carrier (``GET /ref/carrier``); its ``Description`` is what a sale's ``Carrier`` holds."""
        if not description.strip():
            raise ValueError("a carrier needs a Description")
        with self.lock:
            if any(c["Description"].casefold() == description.casefold() for c in self.carriers.values()):
                raise ValueError(f"a carrier described {description!r} already exists")
            record = {"CarrierID": carrier_id or stable_guid("cin7core", "carrier", description.casefold()),
                      "Description": description}
            self.carriers[record["CarrierID"].lower()] = record
            return record

    def locations_by_name(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {loc["Name"]: loc for loc in self.locations.values()}

    # ---- counters and snapshots -------------------------------------------------------------
    def count_call(self) -> None:
        with self.lock:
            self.calls += 1

    def snapshot(self) -> dict[str, Any]:
        """Counts and reference lists (for ``GET /_sim/state``)."""
        with self.lock:
            return {
                "company": self.company,
                "calls": self.calls,
                "throttled": self.throttled,
                "products": len(self.products),
                "locations": sorted(loc["Name"] for loc in self.locations.values()),
                "carriers": sorted(c["Description"] for c in self.carriers.values()),
                "categories": sorted(self.categories),
                "uoms": sorted(self.uoms),
                **self._sales_snapshot(),
            }

    def reset(self) -> None:
        with self.lock:
            self.products.clear()
            self.locations.clear()
            self.categories = set(DEFAULT_CATEGORIES)
            self.uoms = set(DEFAULT_UOMS)
            self.carriers.clear()
            self.calls = 0
            self.throttled = 0
            self.traffic.reset()
            self.limiter.reset()
            self._reset_sales()


def _location(location_id: str, name: str, is_default: bool, deprecated: bool, bins: Iterable[str],
              address: Mapping[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "ID": location_id, "Name": name, "IsDefault": is_default, "IsDeprecated": deprecated,
        "ParentID": None, "ParentName": None, "ReferenceCount": 0,
        "AddressLine1": "", "AddressLine2": "", "AddressCitySuburb": "", "AddressStateProvince": "",
        "AddressZipPostCode": "", "AddressCountry": "",
        "FixedAssetsLocation": False, "PickZones": "", "IsShopfloor": False, "IsCoMan": False,
        "IsStaging": False,
    }
    record.update({k: v for k, v in address.items() if k in record})
    record["Bins"] = [{"ID": stable_guid(location_id, b), "Name": b, "IsDeprecated": False, "IsStaging": False}
                      for b in bins]
    return record


def _aware(moment: Any) -> datetime:
    if not isinstance(moment, datetime):
        raise ValueError(f"LastModifiedOn must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None:
        raise ValueError("LastModifiedOn must be timezone-aware")
    return moment
