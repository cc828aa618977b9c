"""reconciliation end to end: the real DAG under dag.test() against the simulators.

A lost stock message (three units gone from a Peoplevox shelf with no movement ever written to its history) is named
in the report, raised once as ``stock_variance`` with a pending proposal; approving it sets Cin7 to the count, the
next run shows the pair agreeing with the exception closed, and inventory sync carries on from the corrected
figure instead of undoing it. With ``auto_apply_adjustments`` the run applies the correction itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from erp_wms_simulators.peoplevox import Warehouse
from erp_wms_sync.config import load_integration
from erp_wms_sync.ledger import reconciliation_repo as rrepo
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.reconcile_cli import decide_and_apply
from tests.e2e.conftest import task_states

pytestmark = pytest.mark.e2e
SKU = "NWO-BOOT-10"
LOCATION = "Main Warehouse"


def test_a_lost_stock_message_is_reported_raised_once_and_fixed_by_approval(
        stack: Any, wired: str, run_dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_WMS_REPORTS_DIR", str(tmp_path / "reports"))
    integration = load_integration("include/integrations/northwind.yaml")
    from erp_wms_sync.airflow.runtime import erp_client

    erp = erp_client(integration)
    for row in list(erp.iter_availability()):  # the ERP's opening stock, which Peoplevox never received: both start
        stack.cin7core.set_stock(row.sku, row.location, 0)  # empty, so the only difference is the one made below
    run_dag("northwind__item_master_sync")
    warehouse = Warehouse(stack.peoplevox, "northwind")
    warehouse.goods_in(SKU, 50, "MAIN")
    run_dag("northwind__inventory_sync")
    assert float(stack.cin7core.availability(SKU, LOCATION)["OnHand"]) == 50
    with warehouse.state.lock:  # the lost message: the shelf changes, the movement history never says so
        warehouse.book.change(warehouse.book.item_bins(SKU, "MAIN")[0], -3)

    first = run_dag("northwind__reconciliation")
    states = task_states(first)
    assert states["propose_and_apply"] == "success", states
    with session_scope(wired) as session:
        variances = repo.open_exceptions(session, "northwind", type_="stock_variance")
        pending = rrepo.proposals(session, "northwind", states=["pending"])
        report_path = rrepo.run_of(session, "northwind", first.run_id).report_path
    assert [e.entity_key for e in variances] == [f"{SKU}|{LOCATION}"]
    assert [(p.sku, p.erp_on_hand, p.set_to) for p in pending] == [(SKU, 50, 47)]
    differences = pd.read_csv(Path(report_path) / "stock.csv")
    assert differences[["sku", "location", "variance"]].values.tolist() == [[SKU, LOCATION, 3]]
    assert SKU in (Path(report_path) / "report.html").read_text()
    assert states["data_check"] == "failed"  # the new breach alerts once

    second = run_dag("northwind__reconciliation")
    with session_scope(wired) as session:
        assert len(repo.open_exceptions(session, "northwind", type_="stock_variance")) == 1
        new = repo.new_exceptions_in_run(session, "northwind", second.run_id, ["reconciliation"])
    assert [e for e in new if e.type == "stock_variance"] == []
    assert task_states(second)["data_check"] == "success"  # the same breach, still open: no second alert

    assert decide_and_apply(integration, wired, erp, None, "approved", by="finance lead",
                            note="counted") == 0
    assert float(stack.cin7core.availability(SKU, LOCATION)["OnHand"]) == 47
    third = run_dag("northwind__reconciliation")
    assert task_states(third)["snapshot_and_compare"] == "success"
    with session_scope(wired) as session:
        assert repo.open_exceptions(session, "northwind", type_="stock_variance") == []
        assert rrepo.run_of(session, "northwind", third.run_id).summary["breaches"] == 0

    warehouse.goods_in(SKU, 5, "MAIN")  # inventory sync continues from the corrected figure: 47 + 5, not 50 + 5
    run_dag("northwind__inventory_sync")
    assert float(stack.cin7core.availability(SKU, LOCATION)["OnHand"]) == 52


def test_with_auto_apply_the_run_corrects_the_erp_itself(stack: Any, wired: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_wms_sync.airflow.dags import build_item_master_sync, build_reconciliation
    from erp_wms_sync.airflow.runtime import erp_client

    monkeypatch.setenv("ERP_WMS_REPORTS_DIR", str(tmp_path / "reports"))
    sample = load_integration("include/integrations/northwind.yaml")
    integration = sample.model_copy(update={"reconciliation": sample.reconciliation.model_copy(
        update={"auto_apply_adjustments": True})})
    erp = erp_client(integration)
    for row in list(erp.iter_availability()):
        stack.cin7core.set_stock(row.sku, row.location, 0)
    stack.cin7core.set_stock(SKU, LOCATION, 5)  # Peoplevox holds none of it: the ERP must come down to 0
    items = build_item_master_sync(integration)  # Peoplevox knows the item (else it is an item gap, not stock)
    for task in items.tasks:
        task.retries = 0
    items.test()
    dag = build_reconciliation(integration)
    for task in dag.tasks:
        task.retries = 0
    run = dag.test()
    assert task_states(run)["propose_and_apply"] == "success", task_states(run)
    assert float(stack.cin7core.availability(SKU, LOCATION)["OnHand"]) == 0
    with session_scope(wired) as session:
        applied = rrepo.proposals(session, "northwind", states=["applied"])
    assert [(p.sku, p.set_to, p.decided_by) for p in applied] == [(SKU, 0, "auto_apply_adjustments")]


def test_bluecherry_is_compared_on_availability_and_gets_no_proposals(stack: Any, wired: str, run_dag: Any,
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_WMS_REPORTS_DIR", str(tmp_path / "reports"))
    run_dag("bluebird__item_master_sync")
    for row in stack.bluecherry.book.stock.sorted_rows():  # the demo company's opening stock, which Peoplevox
        stack.bluecherry.set_stock(row["sku"], row["warehouse"], on_hand=0)  # never received: both start empty
    in_wms = stack.peoplevox.records("bluebird", "Item types")
    tee, hoodie = sorted(s["sku"] for s in stack.bluecherry.skus()
                         if s["sku"] in in_wms and s["status"] == "ACTIVE")[:2]
    warehouse = Warehouse(stack.peoplevox, "bluebird")
    warehouse.goods_in(tee, 30, "NJ01")
    warehouse.goods_in(hoodie, 4, "CA02")
    run_dag("bluebird__inventory_sync")  # the push: BlueCherry's availability set from Peoplevox's
    run = run_dag("bluebird__reconciliation")
    assert task_states(run)["propose_and_apply"] == "success", task_states(run)
    with session_scope(wired) as session:
        summary = rrepo.run_of(session, "bluebird", run.run_id).summary
        proposals = rrepo.proposals(session, "bluebird")
    assert summary["sections"]["stock"] == "compared" and summary["pairs"] > 0
    assert summary["breaches"] == 0, summary  # what the push published is what the comparison finds
    assert proposals == []

    stack.bluecherry.set_stock(tee, "NJ01", on_hand=25)  # booked by hand in BlueCherry: 5 short of Peoplevox
    run = run_dag("bluebird__reconciliation")
    with session_scope(wired) as session:
        variances = [e.entity_key for e in repo.open_exceptions(session, "bluebird", type_="stock_variance")]
        assert rrepo.proposals(session, "bluebird") == []  # the next push corrects it
    assert variances == [f"{tee}|NJ01"]
