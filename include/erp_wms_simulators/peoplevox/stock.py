"""What the simulated warehouse of one tenant remembers: bins, allocations, order progress, movements,
despatches, returns, goods in and the events it published.

Plain data with a few bookkeeping helpers; the rules that move stock live in :mod:`.warehouse`.
A bin is an ``(ItemCode, Site reference, Location)`` triple. Locations other than the despatch area and the
quarantine are pickable: their stock minus what is allocated there is *available*.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

Bin = tuple[str, str, str]  # (ItemCode, Site reference, Location)


@dataclass(frozen=True)
class Movement:
    """One line of the item movement history."""

    history_id: int
    timestamp: datetime
    item_code: str
    site: str
    from_location: str
    to_location: str
    from_type: str
    to_type: str
    quantity: int  # how much moved (positive)
    quantity_changed: int  # the signed change of the site's on-hand stock (0 for a move inside the site)
    reason: str
    user: str
    sales_order: str = ""
    comments: str = ""


@dataclass
class LineProgress:
    """How far one sales order line has got."""

    line: str
    item_code: str
    allocated: dict[str, int] = field(default_factory=dict)  # location -> quantity reserved there
    picked: int = 0  # waiting in the despatch area
    despatched: int = 0
    returned: int = 0
    shorted: int = 0

    @property
    def allocated_total(self) -> int:
        return sum(self.allocated.values())


@dataclass
class OrderProgress:
    number: str
    site: str
    lines: dict[str, LineProgress] = field(default_factory=dict)
    packages: list[str] = field(default_factory=list)  # packed, not yet despatched
    status_changed: datetime | None = None
    status_before_hold: str = ""


@dataclass
class Despatch:
    number: str
    sales_order: str
    site: str
    timestamp: datetime
    carrier: str
    service: str
    user: str
    packages: list[str]
    lines: list[tuple[str, str, int]]  # (line, ItemCode, quantity)


@dataclass(frozen=True)
class ReturnLine:
    return_code: str
    timestamp: datetime
    sales_order: str
    item_code: str
    quantity: int
    reason: str
    condition: str  # "Sellable" | "Damaged"
    comments: str
    site: str
    location: str
    despatch_date: datetime | None
    authorisation: str = ""


@dataclass(frozen=True)
class GoodsIn:
    goods_in_id: int
    reference: str
    timestamp: datetime
    site: str
    purchase_order: str
    supplier: str
    carrier: str
    delivery_note: str
    user: str
    lines: tuple[tuple[str, int, str], ...]  # (ItemCode, quantity, location)


@dataclass(frozen=True)
class EventRecord:
    """One event the warehouse published, with the values its placeholders resolve to."""

    sequence: int
    event_type: str
    timestamp: datetime
    values: dict[str, str]
    deliveries: tuple[int, ...]  # callback event ids queued for it


@dataclass
class StockBook:
    """The warehouse of one tenant."""

    bins: dict[Bin, int] = field(default_factory=dict)  # on hand
    allocated: dict[Bin, int] = field(default_factory=dict)
    orders: dict[str, OrderProgress] = field(default_factory=dict)
    movements: list[Movement] = field(default_factory=list)
    despatches: dict[str, Despatch] = field(default_factory=dict)
    returns: list[ReturnLine] = field(default_factory=list)
    goods_in: list[GoodsIn] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    location_types: dict[str, str] = field(default_factory=dict)  # location -> Pick | Despatch | Quarantine

    def next_number(self, name: str, first: int = 1) -> int:
        """The next value of a named counter (history ids, despatch numbers, ...), starting at ``first``."""
        value = max(self.counters[name] + 1, first)
        self.counters[name] = value
        return value

    def on_hand(self, bin_: Bin) -> int:
        return self.bins.get(bin_, 0)

    def change(self, bin_: Bin, delta: int) -> None:
        self.bins[bin_] = self.bins.get(bin_, 0) + delta

    def reserve(self, bin_: Bin, delta: int) -> None:
        value = self.allocated.get(bin_, 0) + delta
        if value:
            self.allocated[bin_] = value
        else:
            self.allocated.pop(bin_, None)

    def item_bins(self, item_code: str, site: str | None = None) -> list[Bin]:
        """The bins holding (or having held) an item, optionally at one site, in a stable order."""
        return sorted(b for b in self.bins if b[0] == item_code and (site is None or b[1] == site))
