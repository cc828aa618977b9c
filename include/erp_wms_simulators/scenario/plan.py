"""The plan of a simulated trading day: every event with its simulated time, drawn from one seeded random
generator, so the same seed always plans the same day.

New orders follow a daily curve (quiet at night, busy late morning and evening). Besides ordinary orders the
day holds orders for a SKU the warehouse does not know yet, orders from an unmapped location, amendments of
earlier orders, cancellations before and after picking started, and returns (sellable or damaged). Events
that act on an earlier order carry a random number (``pick``) the driver uses to choose that order among
those that qualify when the event happens.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from erp_wms_simulators.scenario.brands import Brand
from erp_wms_simulators.scenario.catalogue import Catalogue

ORDER = "order"
UNKNOWN_SKU = "order_unknown_sku"
UNMAPPED_LOCATION = "order_unmapped_location"
AMEND = "amend"
CANCEL_EARLY = "cancel_before_picking"
CANCEL_LATE = "cancel_after_picking"
RETURN_SELLABLE = "return_sellable"
RETURN_DAMAGED = "return_damaged"
NEW_ORDER_KINDS = (ORDER, UNKNOWN_SKU, UNMAPPED_LOCATION)
KINDS = (ORDER, UNKNOWN_SKU, UNMAPPED_LOCATION, AMEND, CANCEL_EARLY, CANCEL_LATE, RETURN_SELLABLE, RETURN_DAMAGED)

HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 7, 9, 10, 10, 10, 9, 8, 8, 8, 8, 9, 10, 10, 8, 5, 3)
# (first hour, last hour) of the window in which each follow-up kind happens
WINDOWS = {AMEND: (7, 22), CANCEL_EARLY: (6, 22), CANCEL_LATE: (9, 23), RETURN_SELLABLE: (12, 23),
           RETURN_DAMAGED: (12, 23)}
CITIES = {"GB": (("London", "", "E1 6AN"), ("Leeds", "", "LS1 4DY"), ("Bristol", "", "BS1 5TR"),
                 ("Manchester", "", "M1 1AE"), ("Edinburgh", "", "EH1 1YZ")),
          "US": (("Brooklyn", "NY", "11201"), ("Austin", "TX", "78701"), ("Portland", "OR", "97201"),
                 ("Denver", "CO", "80202"), ("Chicago", "IL", "60601"))}
FIRST_NAMES = ("Ava", "Noah", "Mia", "Liam", "Zoe", "Omar", "Ines", "Theo", "Maya", "Leo", "Ruth", "Kai")
LAST_NAMES = ("Patel", "Smith", "Garcia", "Okafor", "Nguyen", "Rossi", "Murphy", "Kowalski", "Silva", "Haddad")
STREETS = ("High Street", "Market Road", "Elm Avenue", "Harbour Lane", "Station Road", "Maple Drive")


@dataclass(frozen=True)
class DayMix:
    """Shares of the day's events, relative to the number of new orders."""

    unknown_sku: float = 0.03
    unmapped_location: float = 0.03
    amendments: float = 0.05
    cancel_before_picking: float = 0.04
    cancel_after_picking: float = 0.02
    returns: float = 0.05
    damaged_share: float = 0.3  # of the returns


@dataclass(frozen=True)
class OrderSpec:
    """A new order: where it ships from, for whom, and its ``(sku, qty)`` lines."""

    reference: str
    customer: str
    location: str
    lines: tuple[tuple[str, int], ...]
    ship_to: tuple[tuple[str, str], ...]  # address fields, in a fixed order
    launch_style: str = ""  # create this style in the ERP first (its SKUs are new to the warehouse)

    def address(self) -> dict[str, str]:
        return dict(self.ship_to)


@dataclass(frozen=True)
class Event:
    at: datetime
    seq: int
    kind: str
    brand: str  # the brand's ERP (cin7core / bluecherry)
    pick: float  # chooses the target order of a follow-up event
    order: OrderSpec | None = None


def plan_day(start: datetime, orders: int, catalogues: dict[str, tuple[Brand, Catalogue]], rng: random.Random,
             mix: DayMix = DayMix()) -> list[Event]:
    """Every event of the day that starts at ``start``, in time order; ``orders`` new orders across brands."""
    if orders < 0:
        raise ValueError("orders must be 0 or more")
    brands = sorted(catalogues)
    kinds = _new_order_kinds(orders, mix, rng)
    events: list[Event] = []
    counters = dict.fromkeys(brands, 0)
    for kind in kinds:
        erp = rng.choice(brands)
        brand, catalogue = catalogues[erp]
        counters[erp] += 1
        spec = _order(brand, catalogue, kind, counters[erp], rng)
        events.append(Event(_order_time(start, rng), 0, kind, erp, rng.random(), spec))
    for kind, count in _follow_up_counts(orders, mix).items():
        low, high = WINDOWS[kind]
        for _ in range(count):
            moment = start + timedelta(hours=rng.randint(low, high), minutes=rng.randint(0, 59),
                                       seconds=rng.randint(0, 59))
            events.append(Event(moment, 0, kind, rng.choice(brands), rng.random()))
    events.sort(key=lambda event: (event.at, KINDS.index(event.kind), event.brand, event.pick))
    return [Event(e.at, seq, e.kind, e.brand, e.pick, e.order) for seq, e in enumerate(events, start=1)]


def _new_order_kinds(orders: int, mix: DayMix, rng: random.Random) -> list[str]:
    unknown = round(orders * mix.unknown_sku)
    unmapped = round(orders * mix.unmapped_location)
    kinds = [UNKNOWN_SKU] * unknown + [UNMAPPED_LOCATION] * unmapped
    kinds += [ORDER] * max(0, orders - len(kinds))
    rng.shuffle(kinds)
    return kinds[:orders]


def _follow_up_counts(orders: int, mix: DayMix) -> dict[str, int]:
    returns = round(orders * mix.returns)
    damaged = round(returns * mix.damaged_share)
    return {AMEND: round(orders * mix.amendments), CANCEL_EARLY: round(orders * mix.cancel_before_picking),
            CANCEL_LATE: round(orders * mix.cancel_after_picking), RETURN_SELLABLE: returns - damaged,
            RETURN_DAMAGED: damaged}


def _order_time(start: datetime, rng: random.Random) -> datetime:
    hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
    return start + timedelta(hours=hour, minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))


def _order(brand: Brand, catalogue: Catalogue, kind: str, number: int, rng: random.Random) -> OrderSpec:
    customer = rng.choice(brand.customers)
    line_count = rng.choices((1, 2, 3, 4), weights=(50, 30, 15, 5))[0]
    lines = [(sku.code, rng.choices((1, 2, 3), weights=(75, 20, 5))[0])
             for sku in catalogue.pick_skus(rng, line_count)]
    launch = ""
    if kind == UNKNOWN_SKU:
        style = rng.choice(catalogue.launch_styles)
        launch = style.code
        new_sku = next(sku for sku in catalogue.launch_skus if sku.style == style.code)
        lines = [(new_sku.code, 1)] + lines[:1]
    mapped = brand.mapped
    location = (brand.unmapped.erp if kind == UNMAPPED_LOCATION else
                rng.choices([loc.erp for loc in mapped], weights=[loc.order_weight for loc in mapped])[0])
    return OrderSpec(f"{brand.key.upper()[:3]}-WEB-{number:06d}", customer, location, tuple(lines),
                     _address(brand, rng), launch)


def _address(brand: Brand, rng: random.Random) -> tuple[tuple[str, str], ...]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city, region, postcode = rng.choice(CITIES.get(brand.country, CITIES["US"]))
    return (("name", f"{first} {last}"), ("address1", f"{rng.randint(1, 240)} {rng.choice(STREETS)}"),
            ("address2", ""), ("city", city), ("state", region), ("zip", postcode), ("country", brand.country),
            ("email", f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@example.com"))
