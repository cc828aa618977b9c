"""One night's reconciliation after five things went wrong at once, through the real DAGs and the simulators.

After a clean night (the baseline: the demo's deliberate gaps only), the day goes wrong five ways: three units leave
a Peoplevox shelf with no movement ever written (a lost stock message), an order is despatched but its callback never
arrives and no poll runs, a sellable return is never restocked, a released order vanishes from Peoplevox, and an Item
type is renamed in the warehouse. The next night's report names exactly those five, each raised once as its
exception, with one proposal; approving it makes both sides agree at the following run.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import update

from erp_wms_simulators.peoplevox import Warehouse
from erp_wms_sync.airflow.runtime import erp_client
from erp_wms_sync.config import load_integration
from erp_wms_sync.ledger import reconciliation_repo as rrepo
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import ReturnRecord, utcnow
from erp_wms_sync.reconcile_cli import decide_and_apply
from tests.e2e.conftest import ROOT, task_states
from tests.e2e.orders_support import cin7_sale

pytestmark = pytest.mark.e2e
BOOT, BAG, LOCATION = "NWO-BOOT-10", "NWO-BAG-REG", "Main Warehouse"


def vanish(stack: Any, tenant: str, number: str) -> None:
    """The order disappears from Peoplevox (deleted behind the integration's back)."""
    with stack.peoplevox.lock:
        table = stack.peoplevox.tenant(tenant).tables["Sales orders"]
        for key in [k for k, row in table.items() if row.get("SalesOrderNumber") == number]:
            del table[key]


def report(url: str, run_id: str) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    with session_scope(url) as session:
        folder = Path(rrepo.run_of(session, "northwind", run_id).report_path)
    return folder, pd.read_csv(folder / "stock.csv"), pd.read_csv(folder / "findings.csv", dtype=str)


def findings(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["kind"], frame["key"], strict=True))


def test_five_drifts_are_named_exactly_and_the_approved_proposal_makes_both_sides_agree(
        stack: Any, wired: str, run_dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_WMS_REPORTS_DIR", str(tmp_path / "reports"))
    integration = load_integration(ROOT / "include" / "integrations" / "northwind.yaml")
    erp = erp_client(integration)
    for row in list(erp.iter_availability()):  # both sides start empty: the only stock is what the day books
        stack.cin7core.set_stock(row.sku, row.location, 0)
    run_dag("northwind__item_master_sync")
    warehouse = Warehouse(stack.peoplevox, "northwind")
    warehouse.goods_in(BOOT, 20, "MAIN")
    warehouse.goods_in(BAG, 10, "MAIN")
    run_dag("northwind__inventory_sync")
    baseline = run_dag("northwind__reconciliation")
    _, stock, before = report(wired, baseline.run_id)
    assert stock.empty, stock  # a clean night: stock agrees
    assert "name_drift" not in set(before["kind"])

    shipped, lost = cin7_sale(stack, [(BOOT, 1)]), cin7_sale(stack, [(BOOT, 2)])
    assert task_states(run_dag("northwind__order_release"))["release_orders"] == "success"
    shipped_no, lost_no = shipped["Order"]["SaleOrderNumber"], lost["Order"]["SaleOrderNumber"]
    for step in (warehouse.allocate, warehouse.start_picking, warehouse.pick):
        step(shipped_no)
    warehouse.despatch(shipped_no, carrier="Royal Mail", tracking="RM1")  # no callback, no poll: never confirmed
    warehouse.receive_return(shipped_no, {BOOT: 1}, "sellable", "RET-X1")
    assert set(task_states(run_dag("northwind__returns")).values()) == {"success"}
    with session_scope(wired) as session:  # the return was received a day and more ago and still not restocked
        session.execute(update(ReturnRecord).where(ReturnRecord.return_code == "RET-X1").values(
            returned_at=utcnow() - timedelta(hours=integration.returns.restock_deadline_hours + 2)))
    vanish(stack, "northwind", lost_no)
    stack.peoplevox.seed("northwind", "Item types", [{"ItemCode": BAG, "Name": "Renamed in the warehouse"}])
    with warehouse.state.lock:  # the lost stock message: the shelf changes, the movement history never says so
        warehouse.book.change(warehouse.book.item_bins(BAG, "MAIN")[0], -3)

    night = run_dag("northwind__reconciliation")
    states = task_states(night)
    assert states["propose_and_apply"] == "success", states
    folder, stock, after = report(wired, night.run_id)
    assert stock[["sku", "location", "variance"]].values.tolist() == [[BAG, LOCATION, 3]]
    assert findings(after) - findings(before) == {
        ("dispatched_but_open", shipped_no), ("orphaned_order", lost_no),
        ("return_not_restocked", f"RET-X1|{BOOT}"), ("name_drift", BAG)}
    assert findings(before) <= findings(after)  # the demo's deliberate gaps, reported every night
    page = (folder / "report.html").read_text()
    assert all(name in page for name in (BAG, shipped_no, lost_no, "RET-X1", "Renamed in the warehouse"))
    with session_scope(wired) as session:
        raised = repo.new_exceptions_in_run(session, "northwind", night.run_id, ["reconciliation"])
        pending = rrepo.proposals(session, "northwind", states=["pending"])
    assert sorted((e.type, e.entity_key) for e in raised) == sorted([
        ("dispatched_but_open", shipped_no), ("item_drift", BAG), ("orphaned_order", lost_no),
        ("return_not_restocked", f"RET-X1|{BOOT}"), ("stock_variance", f"{BAG}|{LOCATION}")])
    assert [(p.sku, p.location, p.erp_on_hand, p.set_to) for p in pending] == [(BAG, LOCATION, 10, 7)]
    assert states["data_check"] == "failed"  # the new problems alert, once

    assert decide_and_apply(integration, wired, erp, None, "approved", by="finance lead", note="counted") == 0
    following = run_dag("northwind__reconciliation")
    _, stock, _ = report(wired, following.run_id)
    assert stock.empty, stock
    with session_scope(wired) as session:
        assert repo.open_exceptions(session, "northwind", type_="stock_variance") == []
        still = {(e.type, e.entity_key) for e in repo.open_exceptions(session, "northwind")}
    assert ("item_drift", BAG) in still and ("orphaned_order", lost_no) in still  # not stock: not fixed by approval
    assert task_states(following)["data_check"] == "success"  # nothing new: no second alert
