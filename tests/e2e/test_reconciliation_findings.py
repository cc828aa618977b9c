"""Reconciliation's order, return and item findings against the simulators, with the real clients and ledger.

Four things go wrong on purpose after the real DAGs released two orders and created the items: a despatch whose
callback never arrives (and no poll runs), a released order that vanishes from Peoplevox, a sellable return that is
never restocked, and an Item type renamed in the warehouse. Each is named, with its kind, and nothing else is.
BlueCherry: a despatch BlueCherry never hears of, and a cancellation made after release that never reaches
Peoplevox (named once it is older than the settle time).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from erp_wms_simulators.peoplevox import Warehouse
from erp_wms_simulators.peoplevox.demo import HANDMADE_ITEM_CODE
from erp_wms_sync.airflow.runtime import erp_client, wms_client
from erp_wms_sync.config import load_integration
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.reconciliation.findings import items_findings, orders_findings, returns_findings
from tests.e2e.conftest import ROOT, task_states
from tests.e2e.orders_support import cin7_sale, open_exceptions

pytestmark = pytest.mark.e2e
BOOT, BAG = "NWO-BOOT-10", "NWO-BAG-REG"
ITEM_HELD = ("invalid_item", "wms_write_rejected")


def kinds(frame: Any) -> dict[str, str]:
    return dict(zip(frame["key"], frame["kind"], strict=True))


def vanish(stack: Any, tenant: str, number: str) -> None:
    """The order disappears from Peoplevox (deleted behind the integration's back)."""
    with stack.peoplevox.lock:
        table = stack.peoplevox.tenant(tenant).tables["Sales orders"]
        for key in [k for k, row in table.items() if row.get("SalesOrderNumber") == number]:
            del table[key]


def test_the_findings_name_exactly_what_went_wrong(stack, wired, run_dag) -> None:
    assert task_states(run_dag("northwind__item_master_sync"))["upsert_wms_items"] == "success"
    warehouse = Warehouse(stack.peoplevox, "northwind")
    warehouse.goods_in(BOOT, 20, "MAIN")
    warehouse.goods_in(BAG, 10, "MAIN")
    shipped, lost = cin7_sale(stack, [(BOOT, 1)]), cin7_sale(stack, [(BAG, 1)])
    assert task_states(run_dag("northwind__order_release"))["release_orders"] == "success"
    shipped_no, lost_no = shipped["Order"]["SaleOrderNumber"], lost["Order"]["SaleOrderNumber"]

    for step in (warehouse.allocate, warehouse.start_picking, warehouse.pick):
        step(shipped_no)
    warehouse.despatch(shipped_no, carrier="Royal Mail", tracking="RM1")  # no callback, no poll: never confirmed
    vanish(stack, "northwind", lost_no)
    warehouse.receive_return(shipped_no, {BOOT: 1}, "sellable", "RET-X1")
    assert set(task_states(run_dag("northwind__returns")).values()) == {"success"}  # waits for its stock-in
    stack.peoplevox.seed("northwind", "Item types", [{"ItemCode": BAG, "Name": "Renamed in the warehouse"}])

    integration = load_integration(ROOT / "include" / "integrations" / "northwind.yaml")
    now = datetime.now(UTC)
    ctx = RunContext(integration, "reconciliation", "findings-test", Window(None, now, "test"), wired)
    wms, erp = wms_client(integration), erp_client(integration)

    assert kinds(orders_findings(ctx, wms, erp, now)) == {shipped_no: "dispatched_but_open", lost_no: "orphaned_order"}

    late = now + timedelta(hours=integration.returns.restock_deadline_hours + 1)
    assert kinds(returns_findings(ctx, wms, erp, now)) == {}, "not overdue yet"
    returns = returns_findings(ctx, wms, erp, late)
    assert kinds(returns) == {f"RET-X1|{BOOT}": "return_not_restocked"}
    assert returns["exception_type"].tolist() == ["return_not_restocked"]

    items = items_findings(ctx, wms, erp)
    held = {e.entity_key for e in open_exceptions(wired, "northwind").values() if e.type in ITEM_HELD}
    assert kinds(items[items["kind"].isin(["name_drift", "barcode_drift"])]) == {BAG: "name_drift"}
    drift = items[items["kind"] == "name_drift"].iloc[0]
    assert (drift["wms_value"], drift["exception_type"]) == ("Renamed in the warehouse", "item_drift")
    assert set(items.loc[items["kind"] == "wms_only", "key"]) == {HANDMADE_ITEM_CODE}
    assert held and set(items.loc[items["kind"] == "erp_only", "key"]) == held  # the items item sync held


def test_bluecherry_an_unconfirmed_despatch_and_a_cancellation_the_warehouse_never_heard_of(
        stack, wired, run_dag) -> None:
    run_dag("bluebird__item_master_sync")
    in_wms = stack.peoplevox.records("bluebird", "Item types")
    sku = sorted(s["sku"] for s in stack.bluecherry.skus() if s["sku"] in in_wms)[0]
    ship_to = {"name": "Sam", "address1": "5 Main St", "city": "Newark", "state": "NJ", "zip": "07102", "country": "US"}
    shipped, cancelled = (stack.bluecherry.create_order(po, [{"sku": sku, "qty": 1}], warehouse="NJ01", customer="WEB",
                                                        shipTo=ship_to, carrier="UPS Ground")["orderNumber"]
                          for po in ("WEB-F1", "WEB-F2"))
    assert task_states(run_dag("bluebird__order_release"))["release_orders"] == "success"
    warehouse = Warehouse(stack.peoplevox, "bluebird")
    warehouse.goods_in(sku, 5, "NJ01")
    for step in (warehouse.allocate, warehouse.start_picking, warehouse.pick):
        step(shipped)
    warehouse.despatch(shipped, carrier="UPS", tracking="1Z9")  # BlueCherry never gets its shipment
    stack.bluecherry.cancel(cancelled)  # and no order release runs afterwards to cancel it in Peoplevox

    integration = load_integration(ROOT / "include" / "integrations" / "bluebird.yaml")
    now = datetime.now(UTC)
    ctx = RunContext(integration, "reconciliation", "findings-test", Window(None, now, "test"), wired)
    wms, erp = wms_client(integration), erp_client(integration)
    assert kinds(orders_findings(ctx, wms, erp, now)) == {shipped: "dispatched_but_open"}, "the cancel is fresh"
    later = now + timedelta(minutes=integration.reconciliation.settle_minutes + 1)
    assert kinds(orders_findings(ctx, wms, erp, later)) == {shipped: "dispatched_but_open",
                                                            cancelled: "cancelled_but_live"}
