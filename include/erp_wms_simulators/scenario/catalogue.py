"""A generated apparel catalogue: styles in colours × sizes, one SKU each, with prices, barcodes, opening
stock per location and a popularity curve for picking order lines. Deterministic for a given seed.

SKU codes follow each ERP's habits: BlueCherry ``style-color-size`` (styles numbered from 30001), Cin7 Core
``NWS-<style>-<color>-<size>``. A few extra "launch" styles are kept out of the seeded catalogue: the day
creates them in the ERP just before their first order, so those orders meet a SKU the warehouse does not
know yet.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate

from erp_wms_simulators.scenario.brands import BLUECHERRY, Brand

FAMILIES: tuple[tuple[str, tuple[str, ...], float, float, str], ...] = (
    # name, size scale, price, weight (kg), category
    ("Tee", ("XS", "S", "M", "L", "XL", "XXL"), 24.0, 0.2, "Tops"),
    ("Hoodie", ("S", "M", "L", "XL", "XXL"), 68.0, 0.7, "Tops"),
    ("Polo", ("S", "M", "L", "XL"), 48.0, 0.3, "Tops"),
    ("Chino", ("28", "30", "32", "34", "36", "38"), 74.0, 0.6, "Bottoms"),
    ("Short", ("S", "M", "L", "XL"), 38.0, 0.3, "Bottoms"),
    ("Dress", ("XS", "S", "M", "L"), 96.0, 0.5, "Dresses"),
    ("Jacket", ("S", "M", "L", "XL"), 148.0, 1.2, "Outerwear"),
    ("Cap", ("OS",), 24.0, 0.1, "Accessories"),
    ("Sock", ("S", "M", "L"), 14.0, 0.1, "Accessories"),
)
ADJECTIVES = ("Harbor", "Coastline", "Drift", "Tidewater", "Pier", "Marina", "Lagoon", "Summit", "Ridge", "Canyon",
              "Meadow", "Boreal", "Granite", "Willow", "Ember", "Aurora")
COLORS: tuple[tuple[str, str], ...] = (
    ("BLK", "Black"), ("WHT", "White"), ("NAV", "Navy"), ("HGR", "Heather Grey"), ("OLV", "Olive"), ("KHK", "Khaki"),
    ("RED", "Red"), ("BLU", "Ocean Blue"), ("CRL", "Coral"), ("GRN", "Forest Green"), ("SND", "Sand"),
    ("BRG", "Burgundy"))
LAUNCH_STYLES = 3


@dataclass(frozen=True)
class Style:
    code: str
    name: str
    category: str
    colors: tuple[tuple[str, str], ...]
    sizes: tuple[str, ...]
    price: float
    weight: float


@dataclass(frozen=True)
class Sku:
    code: str
    style: str
    color: str
    color_name: str
    size: str
    name: str
    category: str
    barcode: str
    price: float
    weight: float


@dataclass
class Catalogue:
    """What one brand sells: the seeded styles and SKUs, the launch styles, and opening stock."""

    styles: list[Style] = field(default_factory=list)
    skus: list[Sku] = field(default_factory=list)
    launch_styles: list[Style] = field(default_factory=list)
    launch_skus: list[Sku] = field(default_factory=list)
    stock: dict[tuple[str, str], int] = field(default_factory=dict)  # (sku, ERP location) -> opening on-hand
    weights: list[float] = field(default_factory=list)  # cumulative popularity of ``skus``

    def pick_skus(self, rng: random.Random, count: int) -> list[Sku]:
        """``count`` different SKUs drawn by popularity (best sellers come up far more often)."""
        chosen: dict[str, Sku] = {}
        for sku in rng.choices(self.skus, cum_weights=self.weights, k=count * 3):
            chosen.setdefault(sku.code, sku)
            if len(chosen) == count:
                break
        return list(chosen.values())


def sku_code(brand: Brand, style: str, color: str, size: str) -> str:
    if brand.erp == BLUECHERRY:
        return f"{style}-{color}-{size}"
    return f"{brand.sku_prefix}-{style}-{color}-{size}"


def ean13(number: int, prefix: str) -> str:
    body = f"{prefix}{number:0{12 - len(prefix)}d}"
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(body))
    return body + str((10 - total % 10) % 10)


def build_catalogue(brand: Brand, sku_count: int, rng: random.Random) -> Catalogue:
    """Exactly ``sku_count`` SKUs (plus the launch styles) with opening stock at every location."""
    if sku_count < 1:
        raise ValueError("a catalogue needs at least one SKU")
    catalogue = Catalogue()
    number = brand.style_start
    remaining = sku_count
    for _ in range(sku_count):  # every style takes at least one SKU, so this always ends in time
        if remaining <= 0:
            break
        style = _style(brand, number, rng, limit=remaining)
        catalogue.styles.append(style)
        remaining -= len(style.colors) * len(style.sizes)
        number += 1
    for offset in range(LAUNCH_STYLES):
        catalogue.launch_styles.append(_style(brand, number + offset, rng, limit=8, launch=True))
    prefix = "0845" if brand.erp == BLUECHERRY else "5012"
    serial = iter(range(1, 10**7))
    catalogue.skus = [sku for style in catalogue.styles for sku in _skus(brand, style, serial, prefix)]
    catalogue.launch_skus = [sku for style in catalogue.launch_styles for sku in _skus(brand, style, serial, prefix)]
    catalogue.weights = list(accumulate(1.0 / (rank + 8) ** 0.9 for rank in range(len(catalogue.skus))))
    for sku in catalogue.skus:
        for location in brand.locations:
            low, high = location.stock_range
            catalogue.stock[(sku.code, location.erp)] = rng.randint(low, high)
    return catalogue


def _style(brand: Brand, number: int, rng: random.Random, *, limit: int, launch: bool = False) -> Style:
    family, scale, price, weight, category = rng.choice(FAMILIES)
    sizes = scale[:limit] if len(scale) > limit else scale
    most_colors = max(1, min(4, limit // len(sizes)))
    colors = tuple(rng.sample(COLORS, rng.randint(1, most_colors)))
    name = f"{rng.choice(ADJECTIVES)} {family}" + (" (new season)" if launch else "")
    code = f"{number:05d}" if brand.erp == BLUECHERRY else str(number)
    return Style(code, name, category, colors, sizes, round(price * rng.uniform(0.9, 1.2), 2), weight)


def _skus(brand: Brand, style: Style, serial: Iterator[int], prefix: str) -> list[Sku]:
    return [Sku(sku_code(brand, style.code, color, size), style.code, color, color_name, size,
                f"{style.name} {color_name} {size}", style.category, ean13(next(serial), prefix), style.price,
                style.weight)
            for color, color_name in style.colors for size in style.sizes]
