"""Stock allocation of sales in the Cin7 Core simulator.

- Authorising an order allocates each line at the sale's location: what is available, and with the setting
  ``allocate_backorders`` also the rest; what could not be allocated is the line's ``BackorderQuantity``.
- Authorising a pick secures the picked quantity at the pick location: the sale's allocation there, topped
  up from available stock (a pick that stock cannot cover is refused). Allocation the sale no longer needs
  (picked elsewhere, or more than is still to ship) is released again.
- Shipping issues stock: on-hand and the sale's allocation go down together.
- Voiding a sale or undoing its order releases everything it holds.

A sale's own allocations are kept in ``Sale.allocations`` so one sale never releases another's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from erp_wms_simulators.cin7core.model import Sale
from erp_wms_simulators.cin7core.stock import EPSILON, MoveRef

if TYPE_CHECKING:
    from erp_wms_simulators.cin7core.state import Cin7CoreState


def allocate_order(state: Cin7CoreState, sale: Sale, ref: MoveRef) -> None:
    """Allocate every order line at the sale's location and set its ``BackorderQuantity``."""
    beyond = state.settings.allocate_backorders
    for line in sale.order.lines:
        product_id, wanted = line["ProductID"], float(line["Quantity"])
        available = max(state.stock.level(product_id, sale.location_id).available, 0.0)
        got = state.stock.allocate(product_id, sale.location_id, wanted, ref, beyond_available=beyond)
        sale.allocations[(product_id, sale.location_id)] += got
        line["BackorderQuantity"] = round(max(wanted - available, 0.0) if beyond else wanted - got, 4)


def release_all(state: Cin7CoreState, sale: Sale, ref: MoveRef) -> None:
    """Give back every allocation the sale holds."""
    for (product_id, location_id), quantity in list(sale.allocations.items()):
        if quantity > EPSILON:
            state.stock.release(product_id, location_id, quantity, ref)
    sale.allocations.clear()
    for line in sale.order.lines:
        line["BackorderQuantity"] = 0.0


def pick_shortages(state: Cin7CoreState, sale: Sale, needs: dict[tuple[str, str], float],
                   names: dict[str, str], location_names: dict[str, str]) -> list[str]:
    """Why stock cannot cover a pick of ``needs`` ((product, location) -> quantity); empty when it can."""
    problems: list[str] = []
    for (product_id, location_id), need in needs.items():
        held = sale.allocations.get((product_id, location_id), 0.0)
        level = state.stock.level(product_id, location_id)
        extra = need - held
        short_available = extra > EPSILON and level.available + EPSILON < extra
        if short_available or level.on_hand + EPSILON < need:
            free = max(level.available, 0.0) + held
            problems.append(f"Not enough stock of '{names[product_id]}' at '{location_names[location_id]}' to pick "
                            f"{need:g}: {min(free, level.on_hand):g} available.")
    return problems


def secure_pick(state: Cin7CoreState, sale: Sale, needs: dict[tuple[str, str], float], ref: MoveRef) -> None:
    """Make the sale hold at least ``needs`` at each pick location, then drop what it no longer needs."""
    for (product_id, location_id), need in needs.items():
        extra = need - sale.allocations.get((product_id, location_id), 0.0)
        if extra > EPSILON:
            sale.allocations[(product_id, location_id)] += state.stock.allocate(product_id, location_id, extra, ref)
    rebalance(state, sale, ref, keep=needs)


def issue(state: Cin7CoreState, sale: Sale, product_id: str, location_id: str, quantity: float,
          ref: MoveRef) -> float:
    """Ship ``quantity`` from ``location_id``; returns its cost."""
    held = sale.allocations.get((product_id, location_id), 0.0)
    from_allocation = min(held, quantity)
    cost = state.stock.issue(product_id, location_id, quantity, ref, allocated=from_allocation)
    sale.allocations[(product_id, location_id)] = round(held - from_allocation, 4)
    return cost


def unissue(state: Cin7CoreState, sale: Sale, product_id: str, location_id: str, quantity: float,
            ref: MoveRef) -> None:
    """Undo a shipment: the stock is back on hand and allocated to the sale."""
    state.stock.restore(product_id, location_id, quantity, ref)
    sale.allocations[(product_id, location_id)] += quantity


def rebalance(state: Cin7CoreState, sale: Sale, ref: MoveRef,
              keep: dict[tuple[str, str], float] | None = None) -> None:
    """Release allocation beyond what is still to ship (never below ``keep``) and refresh backorders."""
    outstanding = _outstanding(sale)
    held: dict[str, float] = defaultdict(float)
    for (product_id, _location), quantity in sale.allocations.items():
        held[product_id] += quantity
    for product_id, total in held.items():
        excess = total - outstanding.get(product_id, 0.0)
        keys = sorted((k for k in sale.allocations if k[0] == product_id),
                      key=lambda k: (keep or {}).get(k, 0.0))  # locations the pick does not use go first
        for key in keys:
            if excess <= EPSILON:
                break
            spare = sale.allocations[key] - (keep or {}).get(key, 0.0)
            take = min(max(spare, 0.0), excess)
            if take > EPSILON:
                state.stock.release(key[0], key[1], take, ref)
                sale.allocations[key] = round(sale.allocations[key] - take, 4)
                excess -= take
    if state.settings.allocate_backorders:
        _clear_covered_backorders(sale)
    else:
        _refresh_backorders(sale, outstanding)


def _outstanding(sale: Sale) -> dict[str, float]:
    shipped = sale.total_of("shipped")
    return {pid: max(quantity - shipped.get(pid, 0.0), 0.0) for pid, quantity in sale.ordered().items()}


def _refresh_backorders(sale: Sale, outstanding: dict[str, float]) -> None:
    """Spread each product's unallocated outstanding quantity over its order lines (last lines first)."""
    short: dict[str, float] = {}
    for product_id, still in outstanding.items():
        held = sum(q for (pid, _loc), q in sale.allocations.items() if pid == product_id)
        short[product_id] = max(still - held, 0.0)
    for line in reversed(sale.order.lines):
        gap = short.get(line["ProductID"], 0.0)
        line["BackorderQuantity"] = round(min(gap, float(line["Quantity"])), 4)
        short[line["ProductID"]] = gap - line["BackorderQuantity"]


def _clear_covered_backorders(sale: Sale) -> None:
    """With backorders allocated up front, a line stops being backordered once its product is fully picked."""
    picked, ordered = sale.total_of("picked"), sale.ordered()
    for line in sale.order.lines:
        if picked.get(line["ProductID"], 0.0) + EPSILON >= ordered.get(line["ProductID"], 0.0):
            line["BackorderQuantity"] = 0.0
