"""Stock of the Cin7 Core simulator: one :class:`StockRow` per product × location × batch.

Every change to a row is recorded as a :class:`StockChange` (on-hand and allocated deltas, the document that
caused it, when). Changes of on-hand quantity are the product's ``Movements[]``; allocation changes are kept
too (``kind`` ``Allocation`` / ``Deallocation``) so a test can replay exactly how a level came about.

Quantities spread over a product's batch rows at one location in a fixed order (earliest expiry, then batch
name; the unbatched row first): allocation and issue take from the front, release from the back.
``Available`` is always ``OnHand - Allocated``. Product × location pairs whose *available* quantity differs
from what it was at the last :meth:`StockBook.take_changed` are handed to the
``Stock/AvailableStockLevelChanged`` webhook (shipping moves on-hand and allocation together: no event).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

EPSILON = 1e-9
HISTORY_LIMIT = 200_000
ALLOCATION = "Allocation"
DEALLOCATION = "Deallocation"


@dataclass
class StockRow:
    """Stock of one product at one location and batch (``batch`` "" = not batch tracked)."""

    product_id: str
    location_id: str
    batch: str = ""
    expiry: str = ""
    on_hand: float = 0.0
    allocated: float = 0.0
    on_order: float = 0.0
    in_transit: float = 0.0
    unit_cost: float = 0.0

    @property
    def available(self) -> float:
        return self.on_hand - self.allocated

    @property
    def value(self) -> float:
        """``StockOnHand``: the value of the on-hand quantity."""
        return round(self.on_hand * self.unit_cost, 4)


@dataclass(frozen=True)
class MoveRef:
    """Why stock changed: movement type, the document (task id and number), the time and the counterparty."""

    kind: str
    task_id: str
    number: str
    at: datetime
    from_to: str = ""


@dataclass(frozen=True)
class StockChange:
    """One recorded change of one stock row."""

    ref: MoveRef
    product_id: str
    location_id: str
    batch: str
    on_hand_delta: float
    allocated_delta: float
    unit_cost: float

    @property
    def amount(self) -> float:
        return round(self.on_hand_delta * self.unit_cost, 4)


@dataclass(frozen=True)
class Level:
    """Totals of one product at one location (all batches)."""

    on_hand: float
    allocated: float

    @property
    def available(self) -> float:
        return self.on_hand - self.allocated


class StockBook:
    """All stock rows and their history. Not thread-safe on its own: the state's lock guards it."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], StockRow] = {}
        self.history: list[StockChange] = []
        self._changed: dict[tuple[str, str], float] = {}  # (product, location) -> available before
        self._pairs: dict[tuple[str, str], list[tuple[str, str, str]]] = {}  # (product, location) -> row keys
        self._products: set[str] = set()

    # ---- reading ----------------------------------------------------------------------------
    def rows_of(self, product_id: str, location_id: str) -> list[StockRow]:
        found = [self.rows[key] for key in self._pairs.get((product_id, location_id), ())]
        return sorted(found, key=lambda r: (r.batch != "", r.expiry or "9999", r.batch))

    def level(self, product_id: str, location_id: str) -> Level:
        rows = self.rows_of(product_id, location_id)
        return Level(sum(r.on_hand for r in rows), sum(r.allocated for r in rows))

    def has_stock_record(self, product_id: str) -> bool:
        return product_id in self._products

    def movements(self, product_id: str) -> Iterator[StockChange]:
        """On-hand changes of a product, oldest first."""
        return (c for c in self.history if c.product_id == product_id and abs(c.on_hand_delta) > EPSILON)

    def take_changed(self) -> list[tuple[str, str]]:
        """(product id, location id) pairs whose available quantity changed since the last call."""
        changed = [key for key, before in self._changed.items()
                   if abs(self.level(key[0], key[1]).available - before) > EPSILON]
        self._changed.clear()
        return changed

    # ---- writing ----------------------------------------------------------------------------
    def row(self, product_id: str, location_id: str, batch: str = "", expiry: str = "") -> StockRow:
        key = (product_id, location_id, batch)
        if key not in self.rows:
            self.rows[key] = StockRow(product_id, location_id, batch, expiry)
            self._pairs.setdefault((product_id, location_id), []).append(key)
            self._products.add(product_id)
        elif expiry:
            self.rows[key].expiry = expiry
        return self.rows[key]

    def set_quantity(self, product_id: str, location_id: str, quantity: float, ref: MoveRef, *, batch: str = "",
                     update_on_hand: bool = True, unit_cost: float | None = None, expiry: str = "") -> float:
        """Make the row's on-hand (or, with ``update_on_hand`` False, its available) quantity ``quantity``.

        Returns the change of on-hand quantity (the adjustment).
        """
        row = self.row(product_id, location_id, batch, expiry)
        target = quantity if update_on_hand else quantity + row.allocated
        delta = target - row.on_hand
        if unit_cost is not None and unit_cost >= 0:
            row.unit_cost = unit_cost
        self._apply(row, delta, 0.0, ref)
        return delta

    def receive(self, product_id: str, location_id: str, quantity: float, ref: MoveRef, *, batch: str = "",
                unit_cost: float | None = None) -> None:
        """Add ``quantity`` on hand (negative takes it away again); ``unit_cost`` is averaged in."""
        row = self.row(product_id, location_id, batch)
        if unit_cost is not None and quantity > 0:
            total = row.on_hand + quantity
            row.unit_cost = unit_cost if total <= EPSILON else \
                round((max(row.on_hand, 0.0) * row.unit_cost + quantity * unit_cost) / total, 4)
        self._apply(row, quantity, 0.0, ref)

    def allocate(self, product_id: str, location_id: str, quantity: float, ref: MoveRef, *,
                 beyond_available: bool = False) -> float:
        """Allocate up to ``quantity`` of the available stock (all of it with ``beyond_available``)."""
        remaining = quantity
        for row in self.rows_of(product_id, location_id):
            take = min(max(row.available, 0.0), remaining)
            if take > EPSILON:
                self._apply(row, 0.0, take, ref)
                remaining -= take
        if beyond_available and remaining > EPSILON:
            rows = self.rows_of(product_id, location_id)
            row = rows[0] if rows else self.row(product_id, location_id)
            self._apply(row, 0.0, remaining, ref)
            remaining = 0.0
        return quantity - remaining

    def release(self, product_id: str, location_id: str, quantity: float, ref: MoveRef) -> float:
        """Release up to ``quantity`` of allocated stock; returns how much was released."""
        remaining = quantity
        for row in reversed(self.rows_of(product_id, location_id)):
            take = min(row.allocated, remaining)
            if take > EPSILON:
                self._apply(row, 0.0, -take, ref)
                remaining -= take
        return quantity - remaining

    def issue(self, product_id: str, location_id: str, quantity: float, ref: MoveRef, *,
              allocated: float | None = None) -> float:
        """Ship ``quantity``: on-hand goes down, and allocation by ``allocated`` (default: the same quantity).

        Returns the cost of what left.
        """
        cost = 0.0
        remaining = quantity
        rows = self.rows_of(product_id, location_id) or [self.row(product_id, location_id)]
        for index, row in enumerate(rows):
            last = index == len(rows) - 1
            take = remaining if last else min(max(row.on_hand, 0.0), remaining)
            if take > EPSILON:
                cost += take * row.unit_cost
                self._apply(row, -take, 0.0, ref)
                remaining -= take
        self.release(product_id, location_id, quantity if allocated is None else allocated, ref)
        return round(cost, 4)

    def restore(self, product_id: str, location_id: str, quantity: float, ref: MoveRef) -> None:
        """Undo an issue: the quantity is on hand and allocated again."""
        rows = self.rows_of(product_id, location_id)
        row = rows[0] if rows else self.row(product_id, location_id)
        self._apply(row, quantity, quantity, ref)

    def clear(self) -> None:
        self.rows.clear()
        self.history.clear()
        self._changed.clear()
        self._pairs.clear()
        self._products.clear()

    def _apply(self, row: StockRow, on_hand_delta: float, allocated_delta: float, ref: MoveRef) -> None:
        if abs(on_hand_delta) <= EPSILON and abs(allocated_delta) <= EPSILON:
            return
        key = (row.product_id, row.location_id)
        if key not in self._changed:
            self._changed[key] = self.level(*key).available
        row.on_hand = _tidy(row.on_hand + on_hand_delta)
        row.allocated = _tidy(row.allocated + allocated_delta)
        kind = ref.kind
        if abs(on_hand_delta) <= EPSILON:
            kind = ALLOCATION if allocated_delta > 0 else DEALLOCATION
        change = StockChange(MoveRef(kind, ref.task_id, ref.number, ref.at, ref.from_to), row.product_id,
                             row.location_id, row.batch, _tidy(on_hand_delta), _tidy(allocated_delta),
                             row.unit_cost)
        self.history.append(change)
        if len(self.history) > HISTORY_LIMIT:
            del self.history[: len(self.history) - HISTORY_LIMIT]


def _tidy(value: float) -> float:
    """Round away float noise (quantities carry at most 4 decimals in Cin7 Core)."""
    rounded = round(value, 4)
    return 0.0 if rounded == 0 else rounded
