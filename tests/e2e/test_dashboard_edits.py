"""The dashboard's edit-and-retry end to end: records held or refused by real DAG runs against the simulators are
edited and sent through their flows' own paths (erp_wms_sync.dashboard.edits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

import pytest
from fastapi import HTTPException

from erp_wms_simulators.cin7core import demo as c7_demo
from erp_wms_sync.airflow.runtime import make_client
from erp_wms_sync.config import load_integration
from erp_wms_sync.dashboard.edits import edit_and_retry, editable
from erp_wms_sync.dashboard.web import Dashboard, Viewer
from erp_wms_sync.ledger import dashboard_repo, repo
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.leases import release, try_acquire
from erp_wms_sync.ledger.models import ExceptionRecord, OrderRecord, utcnow
from tests.e2e.conftest import ROOT, task_states
from tests.e2e.orders_support import cin7_reauthorise, cin7_sale, open_exceptions, wms_lines, wms_orders

pytestmark = pytest.mark.e2e
DAG = "northwind__order_release"
BOOT, BAG = "NWO-BOOT-10", "NWO-BAG-REG"
ALICE, BOB = Viewer("alice"), Viewer("bob")


def dashboard(url: str, name: str = "northwind") -> Dashboard:
    integration = load_integration(ROOT / "include" / "integrations" / f"{name}.yaml")
    return Dashboard(ledger_url=lambda: url, integrations=lambda: {name: integration}, secrets=lambda _: (),
                     can_act=lambda viewer, _: viewer.name == "alice",
                     clients=lambda integ, kind: make_client(integ, kind))


def exception(url: str, exception_id: int) -> ExceptionRecord:
    with session_scope(url) as s:
        row = s.get(ExceptionRecord, exception_id)
        assert row is not None
        _ = list(row.history)
        s.expunge(row)
        return row


def actions(url: str, exception_id: int) -> list[Any]:
    with session_scope(url) as s:
        found = dashboard_repo.actions(s, target_type="exception", target_id=exception_id)
        for row in found:
            s.expunge(row)
        return found


def saves(stack: Any) -> int:
    return stack.peoplevox.calls[("northwind", "SaveData")]


def refused(call: Any) -> HTTPException:
    with pytest.raises(HTTPException) as caught:
        call()
    return caught.value


@pytest.fixture
def held(stack: Any, wired: str, run_dag: Any) -> tuple[dict, ExceptionRecord]:
    """A Cin7 order with a SKU Peoplevox does not have, held by a real order_release run."""
    run_dag("northwind__item_master_sync")
    sale = cin7_sale(stack, [(BOOT, 1), (c7_demo.BLANK_NAME_SKU, 2)])
    run = run_dag(DAG)
    assert task_states(run)["data_check"] == "failed", "the held order makes the run red"
    number = sale["Order"]["SaleOrderNumber"]
    assert number not in wms_orders(stack, "northwind")
    return sale, open_exceptions(wired, "northwind")[f"unmapped_sku:{number}"]


def with_item_code(spec_fields: dict, erp_sku: str, code: str) -> dict:
    items = [dict(i, ItemCode=code) if i["erp_sku"] == erp_sku else dict(i) for i in spec_fields["items"]]
    return {"header": dict(spec_fields["header"]), "items": items}


def test_a_held_order_edited_to_an_existing_item_goes_to_peoplevox_once(stack, wired, run_dag, held) -> None:
    sale, hold = held
    number = sale["Order"]["SaleOrderNumber"]
    board = dashboard(wired)
    spec = editable(hold)
    assert spec is not None and spec.fields["header"]["SalesOrderNumber"] == number
    blank = c7_demo.BLANK_NAME_SKU
    assert {i["erp_sku"]: i["ItemCode"] for i in spec.fields["items"]} == {BOOT: BOOT, blank: blank}
    before = saves(stack)

    # bob may look, not act: 403 and nothing sent, nothing recorded
    denied = refused(lambda: edit_and_retry(board, BOB, hold.id, with_item_code(spec.fields,
                                                                                c7_demo.BLANK_NAME_SKU, BAG)))
    assert denied.status_code == 403
    assert saves(stack) == before and actions(wired, hold.id) == []

    # a run of order release is writing (it holds the flow's lease): 409 after a bounded wait, nothing sent
    with session_scope(wired) as s:
        assert try_acquire(s, "northwind", "order_release", "scheduled__busy/release_orders", utcnow()) is None
    with patch("erp_wms_sync.dashboard.edits.EDIT_WAIT", 0.5):
        busy = refused(lambda: edit_and_retry(board, ALICE, hold.id, with_item_code(spec.fields, blank, BAG)))
    assert busy.status_code == 409 and "order_release is writing" in str(busy.detail)
    assert saves(stack) == before and exception(wired, hold.id).status == "open"
    with session_scope(wired) as s:
        release(s, "northwind", "order_release", "scheduled__busy/release_orders")

    # an ItemCode Peoplevox does not have: 400 naming the line's field; still held, the attempt on record
    bad = refused(lambda: edit_and_retry(board, ALICE, hold.id, with_item_code(spec.fields,
                                                                              c7_demo.BLANK_NAME_SKU, "NOPE-1")))
    assert bad.status_code == 400
    assert ".ItemCode" in str(bad.detail) and "NOPE-1" in str(bad.detail)
    assert saves(stack) == before
    still = exception(wired, hold.id)
    assert still.status == "open" and still.history[-1].outcome == "edit_refused"
    assert [a.outcome.startswith("refused") for a in actions(wired, hold.id)] == [True]
    # a field that comes from the ERP cannot be changed here
    quantity = with_item_code(spec.fields, c7_demo.BLANK_NAME_SKU, BAG)
    quantity["items"][0]["QuantityOrdered"] = "9"
    assert refused(lambda: edit_and_retry(board, ALICE, hold.id, quantity)).status_code == 400
    assert saves(stack) == before

    outcome = edit_and_retry(board, ALICE, hold.id, with_item_code(spec.fields, c7_demo.BLANK_NAME_SKU, BAG))
    assert outcome.ok, outcome.message
    assert number in outcome.message
    assert list(wms_orders(stack, "northwind")).count(number) == 1
    assert wms_lines(stack, "northwind", number) == {BOOT: "1", BAG: "2"}
    closed = exception(wired, hold.id)
    assert closed.status == "resolved" and closed.resolved_by == "alice"
    assert "ItemCode" in (closed.resolution_note or "") and BAG in (closed.resolution_note or "")
    latest = actions(wired, hold.id)[0]
    assert latest.action == "edit_retry" and latest.user == "alice" and latest.outcome.startswith("released")
    [(field, change)] = latest.detail.items()
    assert field.endswith(".ItemCode") and change == {"old": c7_demo.BLANK_NAME_SKU, "new": BAG}
    with session_scope(wired) as s:
        record = repo.order_records(s, "northwind", [sale["ID"]])[sale["ID"]]
        assert record.state == "released" and record.wms_order_number == number
    assert refused(lambda: edit_and_retry(board, ALICE, hold.id, {})).status_code == 409, "closed: nothing to redo"
    status = stack.cin7core.sale(sale["ID"])["AdditionalAttributes"]["AdditionalAttribute1"]
    assert status == f"Released to WMS as {number}", "the held status written to Cin7 is replaced, as a run does"

    # the next run neither holds it again nor sends it again
    after = saves(stack)
    rerun = run_dag(DAG)
    fetched = rerun.get_task_instance("fetch_orders").xcom_pull(task_ids="fetch_orders")
    assert fetched["to_release"] == 0 and fetched["to_amend"] == 0 and fetched["revalidated"] == 0
    assert task_states(rerun)["data_check"] == "success"
    assert saves(stack) == after
    assert not [k for k in open_exceptions(wired, "northwind") if k.endswith(number)]

    # a later change in the ERP still reaches Peoplevox, as an amendment, with the person's ItemCode kept
    cin7_reauthorise(stack, sale["ID"], [(BOOT, 3), (c7_demo.BLANK_NAME_SKU, 2)])
    run_dag(DAG)
    assert wms_lines(stack, "northwind", number) == {BOOT: "3", BAG: "2"}
    assert list(wms_orders(stack, "northwind")).count(number) == 1
    assert not [k for k in open_exceptions(wired, "northwind") if k.endswith(number)]

    # the warehouse ships the item it was given; Cin7 is told about its own SKU on the sale
    from erp_wms_simulators.peoplevox import Warehouse
    from tests.e2e.dispatch_support import shipped_boxes

    warehouse = Warehouse(stack.peoplevox, "northwind")
    for code in (BOOT, BAG):
        warehouse.goods_in(code, 5, "MAIN")
    for step in (warehouse.allocate, warehouse.start_picking, warehouse.pick):
        step(number)
    despatch = warehouse.despatch(number, carrier="Royal Mail", tracking="RM1")
    run_dag("northwind__dispatch_confirmation")
    assert not [k for k in open_exceptions(wired, "northwind") if k.endswith(despatch.number)]
    boxes = shipped_boxes(stack.cin7core.sale(sale["ID"]))
    assert [b["skus"] for b in boxes] == [{BOOT: 3, c7_demo.BLANK_NAME_SKU: 2}]


def test_an_order_already_in_peoplevox_is_adopted_not_sent_again(stack, wired, run_dag, held) -> None:
    sale, hold = held
    number = sale["Order"]["SaleOrderNumber"]
    spec = editable(hold)
    assert spec is not None
    edit = with_item_code(spec.fields, c7_demo.BLANK_NAME_SKU, BAG)
    # someone keyed the order into Peoplevox by hand, exactly as the edit would send it
    header = {k: v for k, v in spec.fields["header"].items()}
    items = [{k: v for k, v in i.items() if k != "erp_sku"} | {"SalesOrderNumber": number} for i in edit["items"]]
    wms = make_client(load_integration(ROOT / "include" / "integrations" / "northwind.yaml"), "wms")
    assert all(o.ok for o in wms.save_sales_orders([header]))
    assert all(o.ok for o in wms.save_sales_order_items(items))
    before = saves(stack)

    outcome = edit_and_retry(dashboard(wired), ALICE, hold.id, edit)
    assert outcome.ok and "already in Peoplevox" in outcome.message
    assert saves(stack) == before, "adopted: no SaveData"
    with session_scope(wired) as s:
        record = s.query(OrderRecord).filter_by(integration="northwind", erp_order_id=sale["ID"]).one()
        assert record.state == "released"
    assert exception(wired, hold.id).status == "resolved"


def test_a_missing_postcode_is_fixed_for_this_order_only(stack, wired, run_dag) -> None:
    run_dag("northwind__item_master_sync")
    sale = cin7_sale(stack, [(BOOT, 1)], ShippingAddress={"Line1": "2 Low St", "City": "York", "Country": "GB"})
    run_dag(DAG)
    number = sale["Order"]["SaleOrderNumber"]
    hold = open_exceptions(wired, "northwind")[f"invalid_order:{number}"]
    spec = editable(hold)
    assert spec is not None and spec.fields["header"]["ShippingAddressPostcode"] == ""
    board = dashboard(wired)

    unchanged = refused(lambda: edit_and_retry(board, ALICE, hold.id, {"header": {"Email": "a@example.com"}}))
    assert unchanged.status_code == 400 and "header.ShippingAddressPostcode" in str(unchanged.detail)
    assert number not in wms_orders(stack, "northwind")
    site = refused(lambda: edit_and_retry(board, ALICE, hold.id, {"header": {"Site": "NOWHERE"}}))
    assert site.status_code == 400 and "header.Site" in str(site.detail)

    outcome = edit_and_retry(board, ALICE, hold.id, {"header": {"ShippingAddressPostcode": "YO1 7HH"}})
    assert outcome.ok, outcome.message
    assert wms_orders(stack, "northwind")[number]["ShippingAddressPostcode"] == "YO1 7HH"
    assert task_states(run_dag(DAG))["data_check"] == "success"
    assert not [k for k in open_exceptions(wired, "northwind") if k.endswith(number)]


# --- failed stock increments ---------------------------------------------------------------------------------------
INVENTORY = "northwind__inventory_sync"
CIN7_LOCATION = "Main Warehouse"


def adjustment_posts(stack: Any) -> int:
    endpoints = stack.traffic()["cin7core"]["endpoints"]
    return sum(c["answered"] + c["refused"] for key, c in endpoints.items()
               if key.upper().startswith("POST") and key.lower().endswith("/stockadjustment"))


def test_a_refused_stock_adjustment_is_edited_and_posted_through_the_journal(stack, wired, run_dag) -> None:
    from erp_wms_simulators.faults import FaultRule
    from erp_wms_simulators.peoplevox import Warehouse
    from erp_wms_sync.ledger.models import StockAdjustmentRecord, StockMovementRecord

    run_dag("northwind__item_master_sync")
    Warehouse(stack.peoplevox, "northwind").goods_in(BOOT, 12, "MAIN")
    stack.cin7core.faults.add_rule(FaultRule("http_5xx", status=400, endpoint="POST /externalapi/v2/stockadjustment",
                                             count=1))
    run_dag(INVENTORY)
    failure = open_exceptions(wired, "northwind")[f"failed_stock_increment:{BOOT}|MAIN"]
    spec = editable(failure)  # as the exception page asks: the exception carries the mapped SKU and location
    assert spec is not None
    assert spec.fields == {"item_code": BOOT, "site": "MAIN", "sku": BOOT, "location": CIN7_LOCATION, "quantity": 12}
    board = dashboard(wired)
    stack.reset_traffic()

    assert refused(lambda: edit_and_retry(board, BOB, failure.id, {**spec.fields, "quantity": 11})).status_code == 403
    bad = refused(lambda: edit_and_retry(board, ALICE, failure.id, {**spec.fields, "quantity": -1}))
    assert bad.status_code == 400 and "quantity" in str(bad.detail)
    nowhere = refused(lambda: edit_and_retry(board, ALICE, failure.id, {**spec.fields, "location": "Mars"}))
    assert nowhere.status_code == 400 and "location" in str(nowhere.detail)
    assert adjustment_posts(stack) == 0, "nothing posted for a refused or forbidden edit"

    outcome = edit_and_retry(board, ALICE, failure.id, {**spec.fields, "quantity": 11})
    assert outcome.ok, outcome.message
    assert adjustment_posts(stack) == 1
    assert float(stack.cin7core.availability(BOOT, CIN7_LOCATION)["OnHand"]) == 11
    assert exception(wired, failure.id).status == "resolved"
    assert actions(wired, failure.id)[0].detail == {"quantity": {"old": 12, "new": 11}}
    with session_scope(wired) as s:
        entries = {e.reference: e.state for e in s.query(StockAdjustmentRecord)}
        states = {m.state for m in s.query(StockMovementRecord).filter_by(item_code=BOOT)}
    assert sorted(entries.values()) == ["failed", "posted"], entries
    assert states <= {"applied", "opening"}, states

    stack.reset_traffic()
    run_dag(INVENTORY)
    assert adjustment_posts(stack) == 0, "the next run re-posts nothing: the journal has it"
    assert f"failed_stock_increment:{BOOT}|MAIN" not in open_exceptions(wired, "northwind")


# --- fulfilment rejections -----------------------------------------------------------------------------------------
DISPATCH = "northwind__dispatch_confirmation"


def test_a_rejected_fulfilment_is_edited_and_confirmed_once(stack, wired, run_dag) -> None:
    from erp_wms_simulators.faults import FaultRule
    from erp_wms_simulators.peoplevox import Warehouse
    from tests.e2e.dispatch_support import shipped_boxes

    run_dag("northwind__item_master_sync")
    sale = cin7_sale(stack, [(BOOT, 2)])
    run_dag(DAG)
    number = sale["Order"]["SaleOrderNumber"]
    warehouse = Warehouse(stack.peoplevox, "northwind")
    warehouse.goods_in(BOOT, 5, "MAIN")
    for step in (warehouse.allocate, warehouse.start_picking, warehouse.pick):
        step(number)
    despatch = warehouse.despatch(number, carrier="Royal Mail", tracking="RM-TYPO")
    stack.cin7core.faults.add_rule(FaultRule("http_5xx", status=400, count=1,
                                             endpoint="POST /externalapi/v2/sale/fulfilment/pick"))
    run_dag(DISPATCH)
    rejection = open_exceptions(wired, "northwind")[f"fulfilment_rejected:{despatch.number}"]
    spec = editable(rejection)
    assert spec is not None
    assert spec.fields == {"lines": [{"item_code": BOOT, "quantity": 2}], "tracking": ["RM-TYPO"],
                           "carrier": "Royal Mail"}
    board = dashboard(wired)

    too_many = refused(lambda: edit_and_retry(board, ALICE, rejection.id, {"lines": [{"item_code": BOOT,
                                                                                       "quantity": 3}]}))
    assert too_many.status_code == 400 and "lines" in str(too_many.detail)
    assert shipped_boxes(stack.cin7core.sale(sale["ID"])) == []

    outcome = edit_and_retry(board, ALICE, rejection.id, {"tracking": ["RM123456789GB"]})
    assert outcome.ok, outcome.message
    boxes = shipped_boxes(stack.cin7core.sale(sale["ID"]))
    assert [(b["box"], b["tracking"], b["skus"]) for b in boxes] == [(despatch.number, "RM123456789GB", {BOOT: 2})]
    assert exception(wired, rejection.id).status == "resolved"
    assert actions(wired, rejection.id)[0].detail == {"tracking": {"old": ["RM-TYPO"], "new": ["RM123456789GB"]}}

    run_dag(DISPATCH)
    assert len(shipped_boxes(stack.cin7core.sale(sale["ID"]))) == 1, "the next run confirms nothing twice"


def test_a_refused_bluecherry_push_is_edited_and_published_under_its_reference(stack, wired, run_dag) -> None:
    from erp_wms_simulators.faults import FaultRule
    from erp_wms_simulators.peoplevox import Warehouse

    run_dag("bluebird__item_master_sync")
    in_wms = stack.peoplevox.records("bluebird", "Item types")
    tee = sorted(s["sku"] for s in stack.bluecherry.skus() if s["sku"] in in_wms and s["status"] == "ACTIVE")[0]
    Warehouse(stack.peoplevox, "bluebird").goods_in(tee, 30, "NJ01")
    stack.bluecherry.faults.add_rule(FaultRule("http_5xx", status=400, count=1,
                                               endpoint="POST */inventory/adjustments"))
    run_dag("bluebird__inventory_sync")
    [key] = [k for k in open_exceptions(wired, "bluebird") if k.startswith("failed_stock_increment:")]
    failure = open_exceptions(wired, "bluebird")[key]
    spec = editable(failure)
    assert spec is not None and spec.fields["sku"] == tee and spec.fields["quantity"] == 30
    board = dashboard(wired, "bluebird")

    outcome = edit_and_retry(board, ALICE, failure.id, {**spec.fields, "quantity": 29})
    assert outcome.ok, outcome.message
    row = stack.bluecherry.book.stock.get(tee, spec.fields["location"])
    assert int(row["onHand"]) == 29
    assert exception(wired, failure.id).status == "resolved"
    assert actions(wired, failure.id)[0].detail == {"quantity": {"old": 30, "new": 29}}
    assert refused(lambda: edit_and_retry(board, ALICE, failure.id, spec.fields)).status_code == 409
    # Peoplevox stays primary: the next push compares with BlueCherry and publishes Peoplevox's figure again
    run_dag("bluebird__inventory_sync")
    assert int(stack.bluecherry.book.stock.get(tee, spec.fields["location"])["onHand"]) == 30
    assert key not in open_exceptions(wired, "bluebird")


def test_a_refused_bluecherry_shipment_is_edited_and_posted_once(stack, wired, run_dag) -> None:
    from erp_wms_simulators.faults import FaultRule
    from erp_wms_simulators.peoplevox import Warehouse

    run_dag("bluebird__item_master_sync")
    bc = stack.bluecherry
    in_wms = stack.peoplevox.records("bluebird", "Item types")
    sku = sorted(s["sku"] for s in bc.skus() if s["sku"] in in_wms)[0]
    order = bc.create_order("WEB-EDIT-1", [{"sku": sku, "qty": 2}], warehouse="NJ01", customer="WEB",
                            shipTo={"name": "Sam", "address1": "5 Main St", "city": "Newark", "state": "NJ",
                                    "zip": "07102", "country": "US"}, carrier="UPS Ground")
    run_dag("bluebird__order_release")
    warehouse = Warehouse(stack.peoplevox, "bluebird")
    warehouse.goods_in(sku, 10, "NJ01")
    number = order["orderNumber"]
    for step in (warehouse.allocate, warehouse.start_picking, warehouse.pick):
        step(number)
    despatch = warehouse.despatch(number, carrier="UPS Ground", tracking="1Z-TYPO")
    bc.faults.add_rule(FaultRule("http_5xx", status=400, count=1, endpoint="POST */shipments"))
    run_dag("bluebird__dispatch_confirmation")
    rejection = open_exceptions(wired, "bluebird")[f"fulfilment_rejected:{despatch.number}"]
    spec = editable(rejection)
    assert spec is not None and spec.fields["tracking"] == ["1Z-TYPO"]

    outcome = edit_and_retry(dashboard(wired, "bluebird"), ALICE, rejection.id,
                             {**spec.fields, "tracking": ["1Z999"], "carrier": "UPS Next Day"})
    assert outcome.ok, outcome.message
    shipments = [s for s in bc.book.shipments.values() if s.get("reference") == despatch.number]
    assert len(shipments) == 1 and list(shipments[0]["trackingNumbers"]) == ["1Z999"]
    assert exception(wired, rejection.id).status == "resolved"
    assert set(actions(wired, rejection.id)[0].detail) == {"tracking", "carrier"}
    run_dag("bluebird__dispatch_confirmation")
    assert len([s for s in bc.book.shipments.values() if s.get("reference") == despatch.number]) == 1


def test_a_refused_tracking_update_of_a_shipped_despatch_is_edited_and_sent(stack, wired, run_dag) -> None:
    from erp_wms_simulators.faults import FaultRule
    from erp_wms_simulators.peoplevox import Warehouse
    from tests.e2e.dispatch_support import shipped_boxes

    run_dag("northwind__item_master_sync")
    sale = cin7_sale(stack, [(BOOT, 1)])
    run_dag(DAG)
    number = sale["Order"]["SaleOrderNumber"]
    warehouse = Warehouse(stack.peoplevox, "northwind")
    warehouse.goods_in(BOOT, 5, "MAIN")
    for step in (warehouse.allocate, warehouse.start_picking, warehouse.pick):
        step(number)
    despatch = warehouse.despatch(number, carrier="Royal Mail", tracking="")
    run_dag(DISPATCH)  # the goods left: shipped without tracking
    stack.peoplevox.seed("northwind", "Despatch packages", [{"DespatchNumber": despatch.number,
                                                             "PackageNumber": despatch.packages[0],
                                                             "TrackingNumber": "RM-TYPO"}])
    stack.cin7core.faults.add_rule(FaultRule("http_5xx", status=400, count=1,
                                             endpoint="PUT /externalapi/v2/sale/fulfilment/ship"))
    run_dag(DISPATCH)
    rejection = open_exceptions(wired, "northwind")[f"fulfilment_rejected:{despatch.number}"]
    spec = editable(rejection)
    assert spec is not None

    lines = refused(lambda: edit_and_retry(dashboard(wired), ALICE, rejection.id,
                                           {"lines": [{"item_code": BOOT, "quantity": 2}]}))
    assert lines.status_code == 400 and "lines" in str(lines.detail), "Cin7 holds the shipment: lines are fixed"
    outcome = edit_and_retry(dashboard(wired), ALICE, rejection.id, {"tracking": ["RM777"]})
    assert outcome.ok, outcome.message
    assert [b["tracking"] for b in shipped_boxes(stack.cin7core.sale(sale["ID"]))] == ["RM777"]
    assert exception(wired, rejection.id).status == "resolved"
    now = datetime.now(UTC)  # Peoplevox still reports the typo: re-reading it does not bring it back
    run_dag(DISPATCH, window_start=(now - timedelta(hours=1)).isoformat(), window_end=now.isoformat())
    assert [b["tracking"] for b in shipped_boxes(stack.cin7core.sale(sale["ID"]))] == ["RM777"]
    assert f"fulfilment_rejected:{despatch.number}" not in open_exceptions(wired, "northwind")
