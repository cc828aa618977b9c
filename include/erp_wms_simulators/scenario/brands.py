"""The two sample brands a scenario trades for, and where each one's stock lives.

Locations mirror the sample integrations: an ERP location (Cin7 Core) or warehouse (BlueCherry) with the
Peoplevox site it is mapped to, and one location deliberately left unmapped so some orders arrive from a
place the integration does not know. Change these together with the integration YAML files.
"""

from __future__ import annotations

from dataclasses import dataclass

CIN7CORE = "cin7core"
BLUECHERRY = "bluecherry"


@dataclass(frozen=True)
class Location:
    """An ERP location and its Peoplevox site (``None``: unmapped on purpose)."""

    erp: str
    site: str | None
    order_weight: float  # share of ordinary orders shipped from here
    stock_range: tuple[int, int]  # opening on-hand per SKU, drawn from this range


@dataclass(frozen=True)
class Brand:
    key: str
    erp: str
    client_id: str  # the brand's Peoplevox tenant
    locations: tuple[Location, ...]
    carriers: tuple[str, ...]
    sku_prefix: str  # Cin7 Core SKUs start with it; BlueCherry styles are numbered from style_start
    style_start: int
    country: str
    customers: tuple[str, ...]

    @property
    def mapped(self) -> tuple[Location, ...]:
        return tuple(location for location in self.locations if location.site is not None)

    @property
    def unmapped(self) -> Location:
        return next(location for location in self.locations if location.site is None)

    def site_of(self, erp_location: str) -> str | None:
        return next((loc.site for loc in self.locations if loc.erp.casefold() == erp_location.casefold()), None)


NORTHWIND = Brand(
    key="northwind", erp=CIN7CORE, client_id="northwind",
    locations=(Location("Main Warehouse", "MAIN", 1.0, (10, 60)), Location("Returns Bay", "RETURNS", 0.0, (0, 5)),
               Location("Pop-up Store", None, 0.0, (2, 8))),
    carriers=("Royal Mail", "DPD", "DHL"), sku_prefix="NWS", style_start=3001, country="GB",
    customers=("Shopify Store", "Amazon Marketplace", "Wholesale - Peak Outfitters", "Wholesale - Fell & Co"),
)
BLUEBIRD = Brand(
    key="bluebird", erp=BLUECHERRY, client_id="bluebird",
    locations=(Location("NJ01", "NJ01", 0.7, (10, 60)), Location("CA02", "CA02", 0.3, (5, 30)),
               Location("TX03", None, 0.0, (2, 8))),
    carriers=("UPS", "FedEx", "USPS"), sku_prefix="", style_start=30001, country="US",
    customers=("SHOPIFY", "NORDSTROM", "REI", "ZAPPOS"),
)
BRANDS: dict[str, Brand] = {NORTHWIND.erp: NORTHWIND, BLUEBIRD.erp: BLUEBIRD}
