"""inventory_sync for BlueCherry end to end: the real DAG under dag.test() against the simulators.

Peoplevox is primary for available-to-sell: goods received in Peoplevox reach BlueCherry's inventory as ABSOLUTE
adjustments, one per warehouse, damaged stock in quarantine is never published, and a re-run publishes nothing
(counted from the simulators' own traffic and stock).
"""

from __future__ import annotations

from typing import Any

import pytest

from erp_wms_simulators.peoplevox import Warehouse
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import StockAdjustmentRecord
from tests.e2e.conftest import task_states

pytestmark = pytest.mark.e2e
INVENTORY = "bluebird__inventory_sync"


def bc_on_hand(stack: Any, sku: str, warehouse: str) -> int:
    row = stack.bluecherry.book.stock.get(sku, warehouse)
    return 0 if row is None else int(row["onHand"])


def adjustment_posts(stack: Any) -> int:
    endpoints = stack.traffic()["bluecherry"]["endpoints"]
    return sum(c["answered"] + c["refused"] for key, c in endpoints.items()
               if key.upper().startswith("POST") and key.lower().endswith("/inventory/adjustments"))


def test_peoplevox_available_reaches_bluecherry_once_and_quarantine_never(stack: Any, wired: str,
                                                                         run_dag: Any) -> None:
    run_dag("bluebird__item_master_sync")
    in_wms = stack.peoplevox.records("bluebird", "Item types")
    tee, hoodie, damaged = sorted(s["sku"] for s in stack.bluecherry.skus()
                                  if s["sku"] in in_wms and s["status"] == "ACTIVE")[:3]
    assert bc_on_hand(stack, damaged, "NJ01") > 0, "the demo company holds stock of every active SKU"
    warehouse = Warehouse(stack.peoplevox, "bluebird")
    warehouse.goods_in(tee, 30, "NJ01")
    warehouse.goods_in(hoodie, 12, "NJ01")
    warehouse.goods_in(hoodie, 4, "CA02")
    warehouse.adjust(damaged, "NJ01", 3, reason="Damaged return", location="QUARANTINE")
    stack.reset_traffic()

    run = run_dag(INVENTORY)
    assert set(task_states(run).values()) == {"success"}, task_states(run)
    assert bc_on_hand(stack, tee, "NJ01") == 30
    assert bc_on_hand(stack, hoodie, "NJ01") == 12 and bc_on_hand(stack, hoodie, "CA02") == 4
    assert bc_on_hand(stack, damaged, "NJ01") == 0, "stock only in quarantine is not available to sell"
    assert adjustment_posts(stack) == 2  # one adjustment per warehouse
    rows = {(r["sku"], r["warehouse"]): r for r in stack.bluecherry.book.stock.sorted_rows()}
    assert rows[(tee, "NJ01")]["onHand"] == 30 and rows[(hoodie, "CA02")]["onHand"] == 4

    warehouse.stock_count(tee, "NJ01", 26)  # four missing on the shelf
    warehouse.adjust(hoodie, "NJ01", 2, reason="Damaged in store", location="QUARANTINE")  # more damaged stock
    stack.reset_traffic()
    run = run_dag(INVENTORY)
    assert set(task_states(run).values()) == {"success"}, task_states(run)
    assert bc_on_hand(stack, tee, "NJ01") == 26
    assert bc_on_hand(stack, hoodie, "NJ01") == 12, "quarantined units change nothing that is published"
    assert adjustment_posts(stack) == 1
    last = list(stack.bluecherry.book.adjustments.values())[-1]
    assert (last["type"], last["warehouse"]) == ("ABSOLUTE", "NJ01")
    assert [(line["sku"], line["after"]) for line in last["lines"]] == [(tee, 26)], "only the change went"

    stack.reset_traffic()
    run = run_dag(INVENTORY)  # nothing new: nothing pushed
    assert set(task_states(run).values()) == {"success"}, task_states(run)
    assert adjustment_posts(stack) == 0
    assert bc_on_hand(stack, tee, "NJ01") == 26
    with session_scope(wired) as session:
        states = [row.state for row in session.query(StockAdjustmentRecord)]
    assert states == ["posted"] * 3
