"""What each planned event does when its simulated time comes: create an order (launching a new style first
when the plan says so), amend or cancel an earlier order chosen among those that qualify, or start a return
(a BlueCherry return authorisation that the warehouse receives later, or for Cin7 Core a parcel the
warehouse receives at once). Every event ends as ``done``, ``skipped`` (nothing qualified) or ``refused``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from erp_wms_simulators.common import SimError
from erp_wms_simulators.scenario.brands import BLUECHERRY
from erp_wms_simulators.scenario.catalogue import Catalogue
from erp_wms_simulators.scenario.erps import ErpOrder, ErpSide
from erp_wms_simulators.scenario.plan import (
    AMEND,
    CANCEL_EARLY,
    CANCEL_LATE,
    NEW_ORDER_KINDS,
    RETURN_DAMAGED,
    Event,
)
from erp_wms_simulators.scenario.wms import RETURN_AUTHORISATIONS, PeoplevoxSide

T = TypeVar("T")
BEFORE_PICKING = ("", "New", "Allocated")
PICKING_STARTED = ("Picking", "Packing")
NOT_DESPATCHED = ("", "New", "Allocated", "Picking", "Packing", "On hold")
RETURN_DELAY = timedelta(hours=2)  # an authorised return reaches the warehouse this much later
REFUSALS = (ValueError, SimError)


@dataclass
class PendingReturn:
    due: datetime
    brand: str
    ra_number: str
    order_number: str
    sku: str
    qty: int
    condition: str


@dataclass
class World:
    """Everything an event may touch."""

    seed: int
    erps: dict[str, ErpSide]
    wms: dict[str, PeoplevoxSide]
    catalogues: dict[str, Catalogue]
    pending: list[PendingReturn] = field(default_factory=list)


def run_event(world: World, event: Event) -> tuple[str, str]:
    """Apply one event; returns ``(outcome, detail)``."""
    rng = random.Random(f"{world.seed}/{event.seq}")
    try:
        if event.kind in NEW_ORDER_KINDS:
            return _new_order(world, event)
        if event.kind == AMEND:
            return _amend(world, event, rng)
        if event.kind in (CANCEL_EARLY, CANCEL_LATE):
            return _cancel(world, event)
        return _return(world, event)
    except REFUSALS as exc:
        return "refused", str(exc)


def choose(items: Sequence[T], pick: float) -> T | None:
    return items[min(int(pick * len(items)), len(items) - 1)] if items else None


def _new_order(world: World, event: Event) -> tuple[str, str]:
    assert event.order is not None
    erp = world.erps[event.brand]
    spec = event.order
    if spec.launch_style:
        catalogue = world.catalogues[event.brand]
        style = next(s for s in catalogue.launch_styles if s.code == spec.launch_style)
        erp.launch(style, [sku for sku in catalogue.launch_skus if sku.style == style.code])
    return "done", erp.create_order(spec, event.at)


def _candidates(world: World, event: Event, statuses: Sequence[str]) -> list[ErpOrder]:
    """Open ERP orders with nothing shipped whose warehouse status (empty: not in the warehouse) fits."""
    found = [order for order in world.erps[event.brand].orders() if order.open and order.ship_state == ""]
    side = world.wms.get(event.brand)
    if side is None:
        return found if "" in statuses else []
    numbers = side.wms_numbers()
    table = side.orders_table()
    return [order for order in found
            if table.get(numbers.get(order.number, ""), {}).get("Status", "") in statuses]


def _amend(world: World, event: Event, rng: random.Random) -> tuple[str, str]:
    target = choose(_candidates(world, event, NOT_DESPATCHED), event.pick)
    if target is None:
        return "skipped", "no open order to amend"
    erp = world.erps[event.brand]
    lines = dict(erp.order(target.key).lines)
    roll = rng.random()
    if roll < 0.5 or not lines:
        sku = sorted(lines)[0] if lines else world.catalogues[event.brand].skus[0].code
        lines[sku] = lines.get(sku, 0) + 1
    elif roll < 0.8:
        extra = world.catalogues[event.brand].pick_skus(rng, 1)[0].code
        lines[extra] = lines.get(extra, 0) + 1
    else:
        sku = max(sorted(lines), key=lambda code: lines[code])
        lines[sku] = lines[sku] - 1 if lines[sku] > 1 or len(lines) == 1 else 0
        if not any(lines.values()):
            lines[sku] = 1
    erp.amend(target.key, lines)
    return "done", target.number


def _cancel(world: World, event: Event) -> tuple[str, str]:
    statuses = BEFORE_PICKING if event.kind == CANCEL_EARLY else PICKING_STARTED
    target = choose(_candidates(world, event, statuses), event.pick)
    if target is None:
        return "skipped", "no order in the right state to cancel"
    world.erps[event.brand].cancel(target.key)
    return "done", target.number


def _return(world: World, event: Event) -> tuple[str, str]:
    condition = "DAMAGED" if event.kind == RETURN_DAMAGED else "SELLABLE"
    if event.brand == BLUECHERRY:
        return _authorise_return(world, event, condition)
    side = world.wms.get(event.brand)
    if side is None:
        return "skipped", "no warehouse"
    numbers = sorted(number for number in side.orders_table() if side.despatched_lines(number))
    target = choose(numbers, event.pick)
    if target is None:
        return "skipped", "nothing despatched yet"
    sku = sorted(side.despatched_lines(target))[0]
    side.receive_return(target, sku, 1, condition)
    return "done", target


def _authorise_return(world: World, event: Event, condition: str) -> tuple[str, str]:
    erp = world.erps[event.brand]
    authorised: dict[tuple[str, str], int] = {}
    for _, number, lines in getattr(erp, "authorised_returns", list)():
        for sku, qty, _ in lines:
            authorised[(number, sku)] = authorised.get((number, sku), 0) + qty
    options = [(order.key, order.number, sku) for order in erp.orders() if order.ship_state
               for sku, qty in sorted(order.shipped.items()) if qty > authorised.get((order.number, sku), 0)]
    target = choose(options, event.pick)
    if target is None:
        return "skipped", "nothing shipped yet"
    key, number, sku = target
    ra_number = erp.authorise_return(key, sku, 1, condition)
    if ra_number:
        world.pending.append(PendingReturn(event.at + RETURN_DELAY, event.brand, ra_number, number, sku, 1,
                                           condition))
    return "done", str(ra_number)


def receive_due_returns(world: World, now: datetime) -> int:
    """The warehouse receives authorised returns that have arrived, once it knows the authorisation."""
    received = 0
    for pending in list(world.pending):
        side = world.wms.get(pending.brand)
        if side is None or pending.due > now:
            continue
        wms_number = side.wms_numbers().get(pending.order_number)
        known = side.port.table(RETURN_AUTHORISATIONS).get(f"{pending.ra_number}/{pending.sku}")
        if wms_number is None or known is None:
            continue
        try:
            side.receive_return(wms_number, pending.sku, pending.qty, pending.condition, pending.ra_number)
        except REFUSALS:
            continue
        world.pending.remove(pending)
        received += 1
    return received
