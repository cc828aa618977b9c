"""returns end to end: the real DAGs under dag.test() against the simulators.

Cin7 Core: a sale is released, picked and despatched in Peoplevox and shipped in Cin7 by dispatch confirmation, then
comes back. The credit note follows the stock-in that inventory sync books, never precedes it, and is made once;
damaged goods are never restocked and go to finance; a stock-in Cin7 did not take blocks the credit until it does.
BlueCherry: an authorised return reaches Peoplevox as an expected return and comes back received.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from erp_wms_simulators.faults import FaultRule
from erp_wms_simulators.peoplevox import Warehouse
from erp_wms_sync.connectors import cin7core
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import ReturnRecord
from tests.e2e.conftest import task_states
from tests.e2e.orders_support import cin7_sale, open_exceptions

pytestmark = pytest.mark.e2e
RETURNS = "northwind__returns"
INVENTORY = "northwind__inventory_sync"
BOOT, BAG = "NWO-BOOT-10", "NWO-BAG-REG"
CIN7_LOCATION = "Main Warehouse"


def cin7_on_hand(stack: Any, sku: str) -> float:
    return float(stack.cin7core.availability(sku, CIN7_LOCATION)["OnHand"])


def credit_notes(stack: Any, sale_id: str) -> list[dict[str, Any]]:
    return [n for n in stack.cin7core.sale(sale_id)["CreditNotes"] if n["Status"] == "AUTHORISED"]


def sold_and_shipped(stack: Any, run_dag: Any, lines: list[tuple[str, int]]) -> tuple[dict[str, Any], str]:
    """A Cin7 sale released to Peoplevox, despatched there, shipped in Cin7 and invoiced by finance."""
    warehouse = Warehouse(stack.peoplevox, "northwind")
    sale = cin7_sale(stack, lines)
    assert task_states(run_dag("northwind__order_release"))["release_orders"] == "success"
    number = sale["Order"]["SaleOrderNumber"]
    warehouse.allocate(number)
    warehouse.start_picking(number)
    warehouse.pick(number)
    warehouse.despatch(number, carrier="Royal Mail", tracking="RM1")
    assert task_states(run_dag("northwind__dispatch_confirmation"))["confirm_despatches"] == "success"
    stack.cin7core.invoice_sale(sale["ID"])
    return sale, number


@pytest.fixture
def stocked(stack: Any, run_dag: Any) -> Warehouse:
    run_dag("northwind__item_master_sync")
    warehouse = Warehouse(stack.peoplevox, "northwind")
    warehouse.goods_in(BOOT, 20, "MAIN")
    warehouse.goods_in(BAG, 10, "MAIN")
    assert set(task_states(run_dag(INVENTORY)).values()) == {"success"}
    return warehouse


def test_a_sellable_return_is_credited_once_and_only_after_its_stock_in(stack, wired, run_dag, stocked) -> None:
    sale, number = sold_and_shipped(stack, run_dag, [(BOOT, 2)])
    assert set(task_states(run_dag(INVENTORY)).values()) == {"success"}
    assert cin7_on_hand(stack, BOOT) == 18
    stocked.receive_return(number, {BOOT: 2}, "sellable", "RET-A1")

    run = run_dag(RETURNS)
    assert set(task_states(run).values()) == {"success"}, task_states(run)
    assert credit_notes(stack, sale["ID"]) == [], "no credit before inventory sync booked the stock-in"
    with session_scope(wired) as session:
        assert {r.state for r in session.query(ReturnRecord)} == {"waiting"}

    assert set(task_states(run_dag(INVENTORY)).values()) == {"success"}
    assert cin7_on_hand(stack, BOOT) == 20  # the stock-in, booked by inventory sync
    assert set(task_states(run_dag(RETURNS)).values()) == {"success"}
    notes = credit_notes(stack, sale["ID"])
    assert len(notes) == 1 and notes[0]["Memo"] == "WMS-RETURN RET-A1"
    assert notes[0]["Restock"] == [] and cin7_on_hand(stack, BOOT) == 20  # the credit restocked nothing
    assert {line["SKU"]: line["Quantity"] for line in notes[0]["Lines"]} == {BOOT: 2}

    run_dag(RETURNS)
    run_dag(INVENTORY)
    run_dag(RETURNS)
    assert len(credit_notes(stack, sale["ID"])) == 1 and cin7_on_hand(stack, BOOT) == 20


def test_a_damaged_return_is_never_restocked_and_goes_to_finance(stack, wired, run_dag, stocked) -> None:
    sale, number = sold_and_shipped(stack, run_dag, [(BAG, 1)])
    run_dag(INVENTORY)
    assert cin7_on_hand(stack, BAG) == 9
    stocked.receive_return(number, {BAG: 1}, "damaged", "RET-D1")

    run = run_dag(RETURNS)
    assert task_states(run)["data_check"] == "failed"  # a new problem for finance: the run alerts once
    assert task_states(run)["settle_returns"] == "success"
    damaged = [e for key, e in open_exceptions(wired, "northwind").items() if key.startswith("return_damaged:")]
    assert len(damaged) == 1 and damaged[0].owner == "finance"
    assert damaged[0].payload["return"]["code"] == "RET-D1"
    run_dag(INVENTORY)
    assert cin7_on_hand(stack, BAG) == 9, "quarantine is not Cin7 stock"
    assert set(task_states(run_dag(RETURNS)).values()) == {"success"}  # seen again: no second alert
    assert credit_notes(stack, sale["ID"]) == []  # damaged_credit: review


def test_a_failed_stock_in_blocks_the_credit_until_a_retry_succeeds(stack, wired, run_dag, stocked,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # Cin7's six attempts as in production, without their ~45 s of backoff
    monkeypatch.setattr(cin7core, "DEFAULT_RETRY", replace(cin7core.DEFAULT_RETRY, backoff_base=0.01, backoff_max=0.05))
    sale, number = sold_and_shipped(stack, run_dag, [(BOOT, 1)])
    run_dag(INVENTORY)
    stocked.receive_return(number, {BOOT: 1}, "sellable", "RET-F1")
    stack.cin7core.faults.add_rule(FaultRule("http_5xx", endpoint="POST /externalapi/v2/stockadjustment", count=50))
    failed = run_dag(INVENTORY)
    assert task_states(failed)["apply_movements"] == "failed"
    stack.cin7core.faults.clear()
    assert set(task_states(run_dag(RETURNS)).values()) == {"success"}
    assert credit_notes(stack, sale["ID"]) == [], "the stock-in failed: no credit"

    assert set(task_states(run_dag(INVENTORY)).values()) == {"success"}
    assert cin7_on_hand(stack, BOOT) == 20
    run_dag(RETURNS)
    assert [n["Memo"] for n in credit_notes(stack, sale["ID"])] == ["WMS-RETURN RET-F1"]


def test_a_return_of_an_order_never_released_is_an_exception(stack, wired, run_dag, stocked) -> None:
    sale = cin7_sale(stack, [(BOOT, 1)])  # released, then forgotten by the ledger: Peoplevox still has it
    assert task_states(run_dag("northwind__order_release"))["release_orders"] == "success"
    number = sale["Order"]["SaleOrderNumber"]
    for step in (stocked.allocate, stocked.start_picking, stocked.pick):
        step(number)
    stocked.despatch(number, carrier="Royal Mail", tracking="RM2")
    with session_scope(wired) as session:
        from erp_wms_sync.ledger.models import OrderRecord

        session.query(OrderRecord).filter_by(wms_order_number=number).delete()
    stocked.receive_return(number, {BOOT: 1}, "sellable", "RET-U1")
    run = run_dag(RETURNS)
    assert task_states(run)["data_check"] == "failed"
    found = open_exceptions(wired, "northwind")["return_without_authorisation:RET-U1"]
    assert found.payload["return"]["sales_order"] == number and "cx" in found.owner


def test_a_bluecherry_return_authorisation_is_expected_in_peoplevox_and_comes_back_received(
        stack, wired, run_dag) -> None:
    run_dag("bluebird__item_master_sync")
    in_wms = stack.peoplevox.records("bluebird", "Item types")
    sku = sorted(s["sku"] for s in stack.bluecherry.skus() if s["sku"] in in_wms)[0]
    placed = stack.bluecherry.create_order("WEB-R1", [{"sku": sku, "qty": 2}], warehouse="NJ01", customer="WEB",
                                           shipTo={"name": "Sam", "address1": "5 Main St", "city": "Newark",
                                                   "state": "NJ", "zip": "07102", "country": "US"},
                                           carrier="UPS Ground")
    assert task_states(run_dag("bluebird__order_release"))["release_orders"] == "success"
    number = placed["orderNumber"]
    warehouse = Warehouse(stack.peoplevox, "bluebird")
    warehouse.goods_in(sku, 5, "NJ01")
    for step in (warehouse.allocate, warehouse.start_picking, warehouse.pick):
        step(number)
    warehouse.despatch(number, carrier="UPS", tracking="1Z1")
    stack.bluecherry.ship(number)
    ra = stack.bluecherry.authorise_return(number, [{"sku": sku, "qty": 2, "reasonCode": "WRONG_SIZE"}])

    assert set(task_states(run_dag("bluebird__returns")).values()) == {"success"}
    expected = stack.peoplevox.records("bluebird", "Return authorisations")
    assert [(r["ReturnAuthorisationNumber"], r["SalesOrderNumber"], r["QuantityExpected"]) for r in expected.values()
            ] == [(ra["raNumber"], number, "2")]
    saves = stack.peoplevox.calls[("bluebird", "SaveData")]
    run_dag("bluebird__returns")
    assert stack.peoplevox.calls[("bluebird", "SaveData")] == saves, "an RA is announced once"

    warehouse.receive_return(number, {sku: 1}, "sellable", "RET-B1")
    warehouse.receive_return(number, {sku: 1}, "damaged", "RET-B2")
    assert set(task_states(run_dag("bluebird__returns")).values()) == {"success"}
    back = stack.bluecherry.order(number)
    received = [r for r in stack.bluecherry.dump(catalogue=False)["returns"] if r["raNumber"] == ra["raNumber"]][0]
    assert received["status"] in ("RECEIVED", "CREDITED")
    assert (received["lines"][0]["receivedSellable"], received["lines"][0]["receivedDamaged"]) == (1, 1)
    assert sorted(r["reference"] for r in received["receipts"]) == ["WMS-RETURN-RET-B1", "WMS-RETURN-RET-B2"]
    run_dag("bluebird__returns")
    again = [r for r in stack.bluecherry.dump(catalogue=False)["returns"] if r["raNumber"] == ra["raNumber"]][0]
    assert len(again["receipts"]) == 2 and back["orderNumber"] == number
