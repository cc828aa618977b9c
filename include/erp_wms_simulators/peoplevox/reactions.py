"""What the simulated warehouse does after SaveData wrote records (never moving stock on its own):

- a new sales order publishes ``OnDespatchOrderReceived``;
- a sales order cancelled by import gives back its allocation and publishes ``SalesOrderStatusChanges``;
- a line whose quantity went down gives back allocation beyond the new quantity;
- a tracking number imported onto a despatch package publishes ``DespatchPackageTrackingNumberReceived``
  and ``TrackingNumberReceived``.

A reaction that cannot run (for example an order whose site is unknown) is logged and skipped: the
records are saved either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from erp_wms_simulators.peoplevox import entities, events
from erp_wms_simulators.peoplevox.logistics import DESPATCH_PACKAGES
from erp_wms_simulators.peoplevox.orders import SALES_ORDER_ITEMS, SALES_ORDERS, cell, whole_number
from erp_wms_simulators.peoplevox.saving import Change
from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_simulators.peoplevox.state import PeoplevoxState
from erp_wms_simulators.peoplevox.statuses import CANCELLED
from erp_wms_simulators.peoplevox.warehouse import Warehouse, WarehouseError

log = logging.getLogger(__name__)


def after_save(state: PeoplevoxState, client_id: str, settings: PeoplevoxSettings, changes: Sequence[Change]) -> None:
    """Run the reaction of every change, in order (the caller holds the state lock)."""
    warehouse = Warehouse(state, client_id, settings)
    for change in changes:
        reaction = REACTIONS.get(change.template)
        if reaction is None or change.after is None:
            continue
        try:
            reaction(warehouse, change)
        except WarehouseError as exc:
            log.warning("peoplevox %s: no warehouse reaction to %s '%s': %s", client_id, change.template,
                        change.key, exc)


def _sales_order(warehouse: Warehouse, change: Change) -> None:
    assert change.after is not None
    order = change.after["SalesOrderNumber"]
    if change.before is None:
        warehouse.publish(events.ON_DESPATCH_ORDER_RECEIVED,
                          entities.order_values(change.after, warehouse.settings, warehouse.state.now()))
        return
    previous = cell(change.before, "Status")
    if cell(change.after, "Status") == CANCELLED and previous != CANCELLED:
        warehouse.cancelled(order, previous)


def _order_item(warehouse: Warehouse, change: Change) -> None:
    assert change.after is not None
    if change.before is None:
        return
    before = whole_number(cell(change.before, "QuantityOrdered")) or 0
    if (whole_number(cell(change.after, "QuantityOrdered")) or 0) < before:
        warehouse.trim_allocation(change.after["SalesOrderNumber"])


def _despatch_package(warehouse: Warehouse, change: Change) -> None:
    assert change.after is not None
    tracking = cell(change.after, "TrackingNumber")
    if not tracking or tracking == cell(change.before or {}, "TrackingNumber"):
        return
    despatch = warehouse.book.despatches.get(change.after["DespatchNumber"])
    if despatch is None:
        raise WarehouseError(f"despatch {change.after['DespatchNumber']} is unknown to the warehouse")
    settings = warehouse.settings
    warehouse.publish(events.PACKAGE_TRACKING_NUMBER_RECEIVED,
                      entities.package_values(despatch, change.after["PackageNumber"], tracking, settings))
    table = warehouse.tenant.table(DESPATCH_PACKAGES)
    trackings = [cell(table.get(f"{despatch.number}/{package}", {}), "TrackingNumber") for package in despatch.packages]
    email = cell(warehouse.tenant.table(SALES_ORDERS).get(despatch.sales_order, {}), "Email")
    warehouse.publish(events.TRACKING_NUMBER_RECEIVED, entities.tracking_values(despatch, trackings, email, settings))


REACTIONS: dict[str, Callable[[Warehouse, Change], None]] = {
    SALES_ORDERS: _sales_order,
    SALES_ORDER_ITEMS: _order_item,
    DESPATCH_PACKAGES: _despatch_package,
}
