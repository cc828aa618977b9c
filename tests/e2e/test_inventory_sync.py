"""inventory_sync end to end: the real DAG under dag.test() against the simulators.

Peoplevox stock movements (goods in, counts, write-offs, damaged stock to quarantine) reach Cin7 Core as absolute
stock adjustments that leave Cin7's on-hand equal to what Peoplevox counts as sellable, in batched calls, and a
re-run or backfill re-applies nothing (counted from the simulators' own traffic and stock).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from erp_wms_simulators.peoplevox import Warehouse
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import StockAdjustmentRecord, StockMovementRecord
from tests.e2e.conftest import task_states
from tests.e2e.orders_support import cin7_sale

pytestmark = pytest.mark.e2e
INVENTORY = "northwind__inventory_sync"
SKUS = ("NWO-BOOT-10", "NWO-BOOT-11", "NWO-BAG-REG")
CIN7_LOCATION = "Main Warehouse"


def cin7_on_hand(stack: Any, sku: str) -> float:
    return float(stack.cin7core.availability(sku, CIN7_LOCATION)["OnHand"])


def pv_sellable(warehouse: Warehouse, sku: str) -> int:
    """What Peoplevox holds of ``sku`` at MAIN outside quarantine (the sample's counted locations)."""
    return sum(int(row["on_hand"]) for row in warehouse.stock(sku, "MAIN")
               if row["location"].upper() != "QUARANTINE")


def adjustment_posts(stack: Any) -> int:
    endpoints = stack.traffic()["cin7core"]["endpoints"]
    return sum(c["answered"] + c["refused"] for key, c in endpoints.items()
               if key.upper().startswith("POST") and key.lower().endswith("/stockadjustment"))


def test_movements_reach_cin7_as_batched_absolute_adjustments_once(stack, wired, run_dag) -> None:
    run_dag("northwind__item_master_sync")
    warehouse = Warehouse(stack.peoplevox, "northwind")
    warehouse.goods_in(SKUS[0], 50, "MAIN")
    warehouse.goods_in(SKUS[1], 20, "MAIN")
    warehouse.goods_in(SKUS[2], 7, "MAIN")
    stack.reset_traffic()

    run = run_dag(INVENTORY)
    assert set(task_states(run).values()) == {"success"}, task_states(run)
    for sku in SKUS:
        assert cin7_on_hand(stack, sku) == pv_sellable(warehouse, sku), sku
    assert adjustment_posts(stack) == 1  # three SKUs, one call

    warehouse.stock_count(SKUS[0], "MAIN", 46)  # four missing on the shelf
    warehouse.adjust(SKUS[1], "MAIN", -3, reason="Damaged in store")
    warehouse.adjust(SKUS[2], "MAIN", 2, location="QUARANTINE")  # damaged stock: not sellable
    stack.reset_traffic()
    run = run_dag(INVENTORY)
    assert set(task_states(run).values()) == {"success"}, task_states(run)
    assert [cin7_on_hand(stack, sku) for sku in SKUS] == [46, 17, 7]
    assert adjustment_posts(stack) == 1

    stack.reset_traffic()
    run = run_dag(INVENTORY)  # nothing new: nothing posted, nothing changed
    assert adjustment_posts(stack) == 0
    assert [cin7_on_hand(stack, sku) for sku in SKUS] == [46, 17, 7]
    now = datetime.now(UTC)  # a backfill of the last hour re-reads every movement and re-applies none
    run = run_dag(INVENTORY, window_start=(now - timedelta(hours=1)).isoformat(), window_end=now.isoformat())
    assert set(task_states(run).values()) == {"success"}, task_states(run)
    assert adjustment_posts(stack) == 0
    assert [cin7_on_hand(stack, sku) for sku in SKUS] == [46, 17, 7]
    with session_scope(wired) as session:
        states = {row.history_id: row.state for row in session.query(StockMovementRecord)}
        posted = session.query(StockAdjustmentRecord).filter_by(state="posted").count()
    assert posted == 2
    assert set(states.values()) <= {"applied", "opening"}, states


def test_a_despatch_is_left_to_dispatch_confirmation_and_never_deducted_twice(stack, wired, run_dag) -> None:
    """Peoplevox despatches two boots and receives five more before inventory sync runs; Cin7 has not shipped the
    order yet. Inventory sync must not set Cin7 to Peoplevox's figure now (Cin7's ship would then take the two out a
    second time): the pair waits; once dispatch confirmation shipped the order, Cin7 ends equal to Peoplevox."""
    run_dag("northwind__item_master_sync")
    warehouse = Warehouse(stack.peoplevox, "northwind")
    warehouse.goods_in(SKUS[0], 50, "MAIN")
    assert set(task_states(run_dag(INVENTORY)).values()) == {"success"}
    assert cin7_on_hand(stack, SKUS[0]) == 50

    sale = cin7_sale(stack, [(SKUS[0], 2)])
    assert task_states(run_dag("northwind__order_release"))["release_orders"] == "success"
    number = sale["Order"]["SaleOrderNumber"]
    warehouse.allocate(number)
    warehouse.start_picking(number)
    warehouse.pick(number)
    warehouse.despatch(number, carrier="Royal Mail", tracking="RM1")
    warehouse.goods_in(SKUS[0], 5, "MAIN")

    assert set(task_states(run_dag(INVENTORY)).values()) == {"success"}
    assert cin7_on_hand(stack, SKUS[0]) == 50, "nothing posted while Cin7 has not shipped the despatch"
    with session_scope(wired) as session:
        waiting = session.query(StockMovementRecord).filter_by(state="waiting").count()
    assert waiting == 2  # the despatch and the goods in behind it

    assert task_states(run_dag("northwind__dispatch_confirmation"))["confirm_despatches"] == "success"
    assert cin7_on_hand(stack, SKUS[0]) == 48  # Cin7's ship took the two out
    assert set(task_states(run_dag(INVENTORY)).values()) == {"success"}
    assert cin7_on_hand(stack, SKUS[0]) == pv_sellable(warehouse, SKUS[0]) == 53


def test_a_despatch_cin7_refuses_never_holds_its_stock_back(stack, wired, run_dag) -> None:
    """Cin7 refuses to ship a despatch (dispatch confirmation retries it on its schedule). Cin7 still holds those
    two boots, so inventory sync does not wait for the ship: the goods that arrived behind the despatch reach Cin7
    now, on top of the two it still holds; once Cin7 ships on a retry, it equals Peoplevox."""
    from erp_wms_simulators.faults import FaultRule
    from erp_wms_sync.ledger.models import ExceptionRecord

    run_dag("northwind__item_master_sync")
    warehouse = Warehouse(stack.peoplevox, "northwind")
    warehouse.goods_in(SKUS[0], 50, "MAIN")
    assert set(task_states(run_dag(INVENTORY)).values()) == {"success"}
    sale = cin7_sale(stack, [(SKUS[0], 2)])
    assert task_states(run_dag("northwind__order_release"))["release_orders"] == "success"
    number = sale["Order"]["SaleOrderNumber"]
    for step in (warehouse.allocate, warehouse.start_picking, warehouse.pick):
        step(number)
    warehouse.despatch(number, carrier="Royal Mail", tracking="RM1")
    warehouse.goods_in(SKUS[0], 5, "MAIN")
    stack.cin7core.faults.add_rule(FaultRule("http_5xx", status=400, endpoint="POST /externalapi/v2/sale/fulfilment/*"))

    run_dag("northwind__dispatch_confirmation")
    with session_scope(wired) as session:
        refusal = session.query(ExceptionRecord).filter_by(type="fulfilment_rejected", status="open").one()
    assert set(task_states(run_dag(INVENTORY)).values()) == {"success"}
    assert cin7_on_hand(stack, SKUS[0]) == 55, "the five behind the refused despatch reached Cin7; it holds the two"
    with session_scope(wired) as session:
        assert session.query(StockMovementRecord).filter_by(state="waiting").count() == 0

    stack.cin7core.faults.clear()
    with session_scope(wired) as session:  # the refusal's retry is due
        session.get(ExceptionRecord, refusal.id).next_retry_at = datetime(2000, 1, 1)
    assert task_states(run_dag("northwind__dispatch_confirmation"))["confirm_despatches"] == "success"
    assert cin7_on_hand(stack, SKUS[0]) == pv_sellable(warehouse, SKUS[0]) == 53, "Cin7's ship took the two out"
    assert set(task_states(run_dag(INVENTORY)).values()) == {"success"}
    assert cin7_on_hand(stack, SKUS[0]) == 53
