"""Sequencing of Peoplevox stock movements into absolute Cin7 Core quantities, without a stock fight.

Cin7 Core's stock adjustment sets an *absolute* quantity per SKU × location, so applying movements out of order,
or from a stale read of Cin7, overwrites newer truth (the "stock fight"). Here the new quantity is derived only
from Peoplevox's own sequence:

- Every SKU × site has a **position**: ``wms_counted``, the on-hand stock Peoplevox holds in locations the ERP
  counts (:class:`LocationRules`), as of ``last_history_id``. It is opened once from a stock snapshot taken at a
  known History Id, then moved forward only by movements, strictly in History Id order.
- Each movement changes ``wms_counted`` by its :func:`counted_delta` (stock entering or leaving counted
  locations; a pick from a bin to the despatch area changes nothing).
- **Despatches are booked in Cin7 by dispatch confirmation** (the ship step takes the stock out), not here. A
  despatch movement still moves ``wms_counted`` down, so the target only agrees with Cin7 once Cin7 has shipped
  it: a pair whose next movement is a despatch Cin7 has not shipped yet **waits** (with every later movement of
  the pair) until it has — seconds, on the callback path. A despatch Cin7 refused (an open
  ``fulfilment_rejected``) is **compensated** instead: the target adds its quantity back, because Cin7 still holds
  that stock and takes it out itself when the retry succeeds. A despatch of an order the ERP does not know is
  plain stock leaving: nothing in Cin7 will ever take it out, so the adjustment does.
- **Returns are booked here too**: a sellable return put back in a counted location is a movement like any other,
  so the adjustment that carries it *is* the Cin7 stock-in (goods received in Peoplevox is its only trigger); a
  damaged return goes to quarantine, which does not count, so it is never restocked. The returns flow issues the
  credit note only once the position has applied the return's History Id (stock-in confirmed).
- A movement at or below its pair's ``last_history_id`` that was never seen is **stale**: the absolute quantity
  already set cannot include it safely, so it is a ``stale_stock_event`` for finance and the warehouse
  (reconciliation corrects the figure) — unless it is at or below the History Id the position was opened at,
  when the opening snapshot already holds it.

Pure; no I/O. The flow (:mod:`erp_wms_sync.flows.inventory_sync`) feeds it ledger rows and posts the plans.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

STOCK = "stock"  # booked in the ERP by inventory sync
DESPATCH = "despatch"  # booked in the ERP by dispatch confirmation (Cin7's ship step)

#: What Cin7 holds of a despatch movement (see :func:`plan_pair`).
BOOKED = "booked"  # shipped in Cin7: the stock is out there too
PENDING = "pending"  # not shipped yet and not refused: wait for dispatch confirmation
REFUSED = "refused"  # Cin7 refused it (open exception): Cin7 still holds the stock, compensate
NO_ERP_ORDER = "no_erp_order"  # no ERP order will ever ship it: plain stock leaving
#: Shipped in Cin7 *before* the pair's last adjustment was posted, which did not include it: that absolute
#: quantity put the shipped stock back, so the pair is posted again.
OVERWRITTEN = "overwritten"

DESPATCH_WORDS = ("despatch", "dispatch")


@dataclass(frozen=True)
class LocationRules:
    """Which Peoplevox locations hold stock the ERP counts (an integration setting).

    A location counts when it matches ``sellable`` and matches neither ``non_sellable`` nor ``outside``. Each entry
    is an exact name or ``PREFIX*`` (``*`` alone: every location), compared case-insensitively. ``outside`` names
    Peoplevox's pseudo-locations where stock enters or leaves the warehouse; a movement's location type (report
    columns "Location type from/to") is matched against it as well. An empty location never counts."""

    sellable: tuple[str, ...]
    non_sellable: tuple[str, ...] = ()
    outside: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not [entry for entry in self.sellable if entry.strip()]:
            raise ValueError("no sellable locations: name the locations (or 'PREFIX*', or '*') whose stock counts")

    @classmethod
    def from_settings(cls, settings: Any) -> LocationRules:
        """From an integration's ``stock:`` section (:class:`erp_wms_sync.config.StockSettings`)."""
        return cls(tuple(settings.sellable_locations), tuple(settings.non_sellable_locations),
                   tuple(settings.outside_locations))

    def counts(self, location: str, location_type: str = "") -> bool:
        name = location.strip()
        if not name:
            return False
        if _matches(name, self.outside) or (location_type.strip() and _matches(location_type, self.outside)):
            return False
        return _matches(name, self.sellable) and not _matches(name, self.non_sellable)


def _matches(value: str, entries: Collection[str]) -> bool:
    folded = value.strip().casefold()
    for entry in entries:
        rule = entry.strip().casefold()
        if not rule:
            continue
        if rule.endswith("*"):
            if folded.startswith(rule[:-1]):
                return True
        elif folded == rule:
            return True
    return False


def counted_delta(quantity: int, from_location: str, to_location: str, rules: LocationRules, *,
                  type_from: str = "", type_to: str = "") -> int:
    """How much a movement of ``quantity`` changes the ERP-counted on-hand stock of its SKU × site."""
    return ((quantity if rules.counts(to_location, type_to) else 0)
            - (quantity if rules.counts(from_location, type_from) else 0))


def movement_kind(delta: int, sales_order: str, reason: str, to_location: str, type_to: str = "") -> str:
    """:data:`DESPATCH` for stock leaving counted locations against a sales order as a despatch (its reason, target
    or target type says so); :data:`STOCK` for everything else (goods in, adjustments, counts, short picks,
    quarantine moves, returns)."""
    if delta >= 0 or not sales_order.strip():
        return STOCK
    words = f"{reason} {to_location} {type_to}".casefold()
    return DESPATCH if any(word in words for word in DESPATCH_WORDS) else STOCK


@dataclass(frozen=True)
class Move:
    """A queued movement as the planner sees it."""

    row_id: int
    history_id: int
    item_code: str
    site: str
    delta: int  # counted_delta
    kind: str = STOCK
    sales_order: str = ""
    quantity: int = 0

    @property
    def pair(self) -> tuple[str, str]:
        return self.item_code, self.site


@dataclass(frozen=True)
class Position:
    """Where a SKU × site stands: Peoplevox's counted on-hand as of ``last_history_id``; ``opened_history_id`` is
    the History Id of the snapshot it was opened from (movements at or below it are in that snapshot)."""

    last_history_id: int
    wms_counted: int
    opened_history_id: int = 0


@dataclass
class PairPlan:
    """What to do for one SKU × site this run."""

    item_code: str
    site: str
    apply: list[Move] = field(default_factory=list)  # in History Id order: their deltas are in ``counted``
    stale: list[Move] = field(default_factory=list)  # never seen, older than what was applied
    in_opening: list[Move] = field(default_factory=list)  # already in the opening snapshot
    waiting: list[Move] = field(default_factory=list)  # held back behind a despatch Cin7 has not shipped yet
    counted: int = 0  # wms_counted after ``apply``
    through: int = 0  # last_history_id after ``apply``
    compensation: int = 0  # refused despatches' stock Cin7 still holds
    needs_adjustment: bool = False  # a movement changed what Cin7 must hold

    @property
    def target(self) -> int:
        """The absolute quantity Cin7 must hold: Peoplevox's counted stock plus what Cin7 has not shipped."""
        return self.counted + self.compensation


def plan_pair(position: Position, moves: Sequence[Move], despatch_state: Callable[[Move], str], *,
              refused_earlier: int = 0) -> PairPlan:
    """Plan one SKU × site from its position and its queued movements (any order; duplicates by History Id are
    ignored). ``despatch_state`` says what Cin7 holds of a despatch movement (:data:`BOOKED`, :data:`PENDING`,
    :data:`REFUSED`, :data:`NO_ERP_ORDER`); ``refused_earlier`` is the quantity of already-applied despatch
    movements of the pair that Cin7 still refuses (their stock is still in Cin7)."""
    if not moves:
        raise ValueError("plan_pair needs at least one movement")
    first = moves[0]
    plan = PairPlan(first.item_code, first.site, counted=position.wms_counted, through=position.last_history_id,
                    compensation=refused_earlier)
    seen: set[int] = set()
    for move in sorted(moves, key=lambda m: m.history_id):
        if move.pair != (plan.item_code, plan.site):
            raise ValueError(f"movement {move.history_id} is for {move.pair}, not {(plan.item_code, plan.site)}")
        if move.history_id in seen:
            continue
        seen.add(move.history_id)
        if plan.waiting:
            plan.waiting.append(move)
            continue
        if move.history_id <= position.last_history_id:
            (plan.in_opening if move.history_id <= position.opened_history_id else plan.stale).append(move)
            continue
        if move.kind == DESPATCH:
            state = despatch_state(move)
            if state == PENDING:
                plan.waiting.append(move)
                continue
            if state == REFUSED:
                plan.compensation += -move.delta
            elif state in (NO_ERP_ORDER, OVERWRITTEN):
                plan.needs_adjustment = True
        elif move.delta:
            plan.needs_adjustment = True
        plan.apply.append(move)
        plan.counted += move.delta
        plan.through = move.history_id
    return plan


def plan_opening(snapshot_counted: int, opened_at: int, moves: Sequence[Move],
                 despatch_state: Callable[[Move], str]) -> PairPlan | None:
    """Open a position from a stock snapshot that holds every movement up to History Id ``opened_at``.

    Movements at or below ``opened_at`` are in the snapshot; later ones are planned on top of it. None when a
    despatch in the snapshot is not shipped in Cin7 yet (the snapshot has it out, Cin7 does not): open later."""
    inside = [m for m in moves if m.history_id <= opened_at]
    if any(m.kind == DESPATCH and despatch_state(m) == PENDING for m in inside):
        return None
    refused = sum(-m.delta for m in inside if m.kind == DESPATCH and despatch_state(m) == REFUSED)
    start = Position(last_history_id=opened_at, wms_counted=snapshot_counted, opened_history_id=opened_at)
    later = [m for m in moves if m.history_id > opened_at]
    if later:
        plan = plan_pair(start, later, despatch_state, refused_earlier=refused)
    else:
        plan = PairPlan(moves[0].item_code, moves[0].site, counted=snapshot_counted, through=opened_at,
                        compensation=refused)
    plan.in_opening = sorted(inside, key=lambda m: m.history_id)
    plan.needs_adjustment = True  # the opening sets Cin7 from the snapshot
    return plan


def pairs_of(moves: Iterable[Move]) -> dict[tuple[str, str], list[Move]]:
    """Movements grouped per SKU × site, each group in History Id order."""
    out: dict[tuple[str, str], list[Move]] = {}
    for move in moves:
        out.setdefault(move.pair, []).append(move)
    for group in out.values():
        group.sort(key=lambda m: m.history_id)
    return out


def batches(plans: Sequence[PairPlan], size: int) -> list[list[PairPlan]]:
    """The plans that need an adjustment, ``size`` lines per Cin7 call, in a stable order."""
    due = sorted((p for p in plans if p.needs_adjustment), key=lambda p: (p.site, p.item_code))
    return [due[start:start + size] for start in range(0, len(due), size)]


__all__ = ["BOOKED", "DESPATCH", "NO_ERP_ORDER", "OVERWRITTEN", "PENDING", "REFUSED", "STOCK", "LocationRules", "Move",
           "PairPlan", "Position", "batches", "counted_delta", "movement_kind", "pairs_of", "plan_opening",
           "plan_pair"]
