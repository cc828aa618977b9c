"""dispatch_confirmation end to end: real DAGs under dag.test() against the simulators.

Peoplevox despatches (made on the simulated warehouse floor) reach Cin7 Core as shipped fulfilments with tracking
— three calls per whole despatch, a new fulfilment task for a second partial despatch, exactly once whatever is
re-run — and BlueCherry as shipments posted in a batch. The callback path under a running scheduler is covered by
``test_dispatch_live.py``; here the inbox is filled as the receiver fills it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from erp_wms_simulators.peoplevox import Warehouse
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import DespatchRecord, OrderRecord, WebhookInbox
from tests.e2e.conftest import task_states
from tests.e2e.dispatch_support import shipped_boxes
from tests.e2e.orders_support import cin7_sale, open_exceptions

pytestmark = pytest.mark.e2e
RELEASE = "northwind__order_release"
DISPATCH = "northwind__dispatch_confirmation"
GOOD = ("NWO-BOOT-10", "NWO-BOOT-11", "NWO-BAG-REG")


def dispatch_calls(stack: Any) -> int:
    """Cin7 Core calls on the fulfilment endpoints, from the simulator's own traffic counter."""
    endpoints = stack.traffic()["cin7core"]["endpoints"]
    return sum(count["answered"] + count["refused"] for key, count in endpoints.items()
               if "fulfilment" in key.lower())


def shipped(stack: Any, sale_id: str) -> list[dict[str, Any]]:
    """Every shipped box of the sale: {task, box, tracking, carrier, skus}."""
    return shipped_boxes(stack.cin7core.sale(sale_id))


def despatches(url: str) -> dict[str, DespatchRecord]:
    with session_scope(url) as session:
        rows = session.query(DespatchRecord).all()
        session.expunge_all()
    return {r.despatch_number: r for r in rows}


@pytest.fixture
def released(stack, run_dag) -> dict[str, dict[str, Any]]:
    """Three released Cin7 orders, stock in the warehouse, the orders picked and packed."""
    run_dag("northwind__item_master_sync")
    sales = {"whole": cin7_sale(stack, [(GOOD[0], 2), (GOOD[1], 1)]),
             "split": cin7_sale(stack, [(GOOD[0], 1), (GOOD[2], 2)]),
             "other": cin7_sale(stack, [(GOOD[1], 1)])}
    assert task_states(run_dag(RELEASE))["release_orders"] == "success"
    warehouse = Warehouse(stack.peoplevox, "northwind")
    for sku in GOOD:
        warehouse.goods_in(sku, 50, "MAIN")
    for sale in sales.values():
        number = sale["Order"]["SaleOrderNumber"]
        warehouse.allocate(number)
        warehouse.start_picking(number)
        warehouse.pick(number)
    return sales


def test_despatches_reach_cin7_as_shipped_fulfilments_exactly_once(stack, wired, run_dag, released) -> None:
    warehouse = Warehouse(stack.peoplevox, "northwind")
    whole, split = released["whole"], released["split"]
    first = warehouse.despatch(whole["Order"]["SaleOrderNumber"], carrier="Royal Mail", tracking="RM123456789GB")
    part = warehouse.despatch(split["Order"]["SaleOrderNumber"], {GOOD[2]: 2}, carrier="DHL Express",
                              tracking="DHL0001")
    stack.reset_traffic()

    run = run_dag(DISPATCH)
    assert task_states(run)["confirm_despatches"] == "success"
    boxes = shipped(stack, whole["ID"])
    assert boxes == [{"task": whole["ID"], "box": first.number, "tracking": "RM123456789GB", "carrier": "Royal Mail",
                      "skus": {GOOD[0]: 2, GOOD[1]: 1}}]
    assert shipped(stack, split["ID"])[0]["skus"] == {GOOD[2]: 2}
    assert dispatch_calls(stack) == 6, "pick, pack and ship: three calls per despatch, no GET"
    rows = despatches(wired)
    assert rows[first.number].state == "confirmed" and rows[first.number].confirmed_at is not None
    assert rows[part.number].erp_ref == split["ID"], "the first despatch uses the sale's own fulfilment task"

    stack.reset_traffic()
    rerun = run_dag(DISPATCH)
    assert task_states(rerun)["confirm_despatches"] == "success"
    assert dispatch_calls(stack) == 0, "a re-run confirms nothing twice"

    rest = warehouse.despatch(split["Order"]["SaleOrderNumber"], carrier="DHL Express", tracking="DHL0002")
    run_dag(DISPATCH)
    split_boxes = shipped(stack, split["ID"])
    assert sorted(b["box"] for b in split_boxes) == sorted([part.number, rest.number])
    assert {b["box"]: b["skus"] for b in split_boxes}[rest.number] == {GOOD[0]: 1}
    assert len({b["task"] for b in split_boxes}) == 2, "a later despatch gets its own fulfilment task"
    assert stack.cin7core.sale(split["ID"])["FulFilmentStatus"] == "FULFILLED"
    assert dispatch_calls(stack) == 4, "a second task costs one more call"


def test_tracking_that_arrives_later_updates_the_shipment(stack, wired, run_dag, released) -> None:
    warehouse = Warehouse(stack.peoplevox, "northwind")
    sale = released["other"]
    record = warehouse.despatch(sale["Order"]["SaleOrderNumber"], carrier="Royal Mail", tracking="")
    first = run_dag(DISPATCH)
    assert str(first.state) == "failed", "a despatch without tracking is a new problem: the run alerts once"
    assert task_states(first)["confirm_despatches"] == "success"
    assert shipped(stack, sale["ID"])[0]["tracking"] == "", "the goods left: confirmed without tracking"
    assert f"despatch_without_tracking:{record.number}" in open_exceptions(wired, "northwind")

    package = record.packages[0]
    stack.peoplevox.seed(  # the carrier's number reaches Peoplevox later (imported on the Despatch packages template)
        "northwind", "Despatch packages",
        [{"DespatchNumber": record.number, "PackageNumber": package, "TrackingNumber": "RM999"}])
    later = run_dag(DISPATCH)
    assert str(later.state) == "success"
    assert shipped(stack, sale["ID"])[0]["tracking"] == "RM999"
    assert f"despatch_without_tracking:{record.number}" not in open_exceptions(wired, "northwind")


def test_unknown_and_cancelled_orders_are_exceptions_not_fulfilments(stack, wired, run_dag, released) -> None:
    warehouse = Warehouse(stack.peoplevox, "northwind")
    stack.peoplevox.seed("northwind", "Sales orders", [{"SalesOrderNumber": "HANDMADE-1", "Customer": "Walk-in",
                                                         "ServiceType": "STANDARD", "ChannelName": "shop"}])
    stack.peoplevox.seed("northwind", "Sales order items", [{"SalesOrderNumber": "HANDMADE-1", "ItemCode": GOOD[0],
                                                             "QuantityOrdered": "1", "Line": "1"}])
    for step in (warehouse.allocate, warehouse.start_picking, warehouse.pick):
        step("HANDMADE-1")
    unknown = warehouse.despatch("HANDMADE-1", tracking="T1")
    voided = released["other"]
    stack.cin7core.void_sale(voided["ID"])  # cancelled in the ERP after the cut-off (the warehouse was picking)
    late = warehouse.despatch(voided["Order"]["SaleOrderNumber"], tracking="T2")
    good = warehouse.despatch(released["whole"]["Order"]["SaleOrderNumber"], tracking="T3")
    unsettled = released["split"]["Order"]["SaleOrderNumber"]
    with session_scope(wired) as session:  # its release is held (a write Peoplevox did not complete), yet it left
        session.query(OrderRecord).filter_by(integration="northwind", wms_order_number=unsettled).update(
            {"state": "held"})
    early = warehouse.despatch(unsettled, tracking="T4")

    run = run_dag(DISPATCH)
    assert str(run.state) == "failed" and task_states(run)["confirm_despatches"] == "success"
    problems = open_exceptions(wired, "northwind")
    assert problems[f"despatch_for_unknown_order:{unknown.number}"].owner == "warehouse"
    assert problems[f"despatch_for_unknown_order:{unknown.number}"].payload["despatch"]["lines"]
    assert "which the integration never released" in problems[f"despatch_for_unknown_order:{unknown.number}"].summary
    held = problems[f"despatch_for_unknown_order:{early.number}"].summary
    assert "ledger state 'held'" in held and "never released" not in held, held
    assert shipped(stack, released["split"]["ID"]) == [], "not confirmed while its release is unsettled"
    cancelled = [k for k in problems if k.endswith(late.number)]
    assert cancelled and cancelled[0].split(":")[0] in ("despatch_for_cancelled_order", "fulfilment_rejected")
    assert shipped(stack, voided["ID"]) == []
    assert shipped(stack, released["whole"]["ID"])[0]["box"] == good.number, "the good despatch still went"

    again = run_dag(DISPATCH)
    assert str(again.state) == "success", "known problems do not alert again"


def test_a_callback_is_processed_once_its_despatch_is_in_the_report(stack, wired, run_dag, released) -> None:
    warehouse = Warehouse(stack.peoplevox, "northwind")
    sale = released["whole"]
    record = warehouse.despatch(sale["Order"]["SaleOrderNumber"], tracking="RM1")
    received = datetime.now(UTC).replace(tzinfo=None)
    body = (f"SalesOrderNumber={sale['Order']['SaleOrderNumber']}&DespatchNumber={record.number}"
            f"&PackageNumber={record.packages[0]}&TrackingNumber=RM1&Carrier=Royal+Mail&Service=RM48"
            f"&DespatchDate={record.timestamp.strftime('%Y-%m-%dT%H:%M:%S')}")
    ghost = "SalesOrderNumber=SO-X&DespatchNumber=DES-NOT-YET&PackageNumber=PKG1&TrackingNumber=&Carrier=&Service="
    with session_scope(wired) as session:  # as the webhook receiver stores them
        session.add_all([
            WebhookInbox(integration="northwind", source="peoplevox", event_type="DespatchPackageDespatched",
                         body=body, dedupe_key="a", entity_key=record.number, received_at=received),
            WebhookInbox(integration="northwind", source="peoplevox", event_type="DespatchPackageDespatched",
                         body=ghost, dedupe_key="b", entity_key="DES-NOT-YET", received_at=received)])
    run_dag(DISPATCH)
    row = despatches(wired)[record.number]
    assert row.source == "callback" and row.callback_at == received and row.state == "confirmed"
    with session_scope(wired) as session:
        states = {r.entity_key: (r.status, r.attempts) for r in session.query(WebhookInbox)}
    assert states[record.number][0] == "processed"
    assert states["DES-NOT-YET"] == ("waiting", 1), "not in the report yet: looked at again by the next run"


def test_bluecherry_shipments_are_posted_in_a_batch(stack, wired, run_dag) -> None:
    run_dag("bluebird__item_master_sync")
    bc = stack.bluecherry
    in_wms = stack.peoplevox.records("bluebird", "Item types")
    skus = sorted(s["sku"] for s in bc.skus() if s["sku"] in in_wms)[:1]
    order = bc.create_order("WEB-DESP-1", [{"sku": skus[0], "qty": 2}], warehouse="NJ01", customer="WEB",
                            shipTo={"name": "Sam", "address1": "5 Main St", "city": "Newark", "state": "NJ",
                                    "zip": "07102", "country": "US"}, carrier="UPS Ground")
    assert task_states(run_dag("bluebird__order_release"))["release_orders"] == "success"
    warehouse = Warehouse(stack.peoplevox, "bluebird")
    warehouse.goods_in(skus[0], 10, "NJ01")
    number = order["orderNumber"]
    for step in (warehouse.allocate, warehouse.start_picking, warehouse.pick):
        step(number)
    record = warehouse.despatch(number, carrier="UPS Ground", tracking="1Z999")
    run = run_dag("bluebird__dispatch_confirmation")
    assert task_states(run)["post_shipments"] == "success"
    shipments = [s for s in bc.book.shipments.values() if s.get("reference") == record.number]
    assert len(shipments) == 1 and list(shipments[0]["trackingNumbers"]) == ["1Z999"]
    assert bc.order(number)["status"] in ("SHIPPED", "PARTIALLY_SHIPPED")
    assert despatches(wired)[record.number].erp_ref == shipments[0]["shipmentNumber"]
    run_dag("bluebird__dispatch_confirmation")
    assert len([s for s in bc.book.shipments.values() if s.get("reference") == record.number]) == 1


def test_a_worker_killed_mid_despatch_never_ships_twice(stack, wired, run_dag, released, monkeypatch) -> None:
    """The pack went through but the worker died before the ledger heard of it: the next run reads the sale's
    fulfilments once, sees the pack, and only ships."""
    from erp_wms_sync.connectors.cin7core_fulfilment import Cin7FulfilmentCalls

    warehouse = Warehouse(stack.peoplevox, "northwind")
    sale = released["whole"]
    record = warehouse.despatch(sale["Order"]["SaleOrderNumber"], carrier="Royal Mail", tracking="RM42")
    real = Cin7FulfilmentCalls.write_fulfilment_stage

    def dies_after_pack(self, stage, body, *, method="POST"):  # type: ignore[no-untyped-def]
        answer = real(self, stage, body, method=method)
        if stage == "pack":
            raise SystemExit("worker killed")  # not an API error: nothing may be recorded as refused
        return answer

    monkeypatch.setattr(Cin7FulfilmentCalls, "write_fulfilment_stage", dies_after_pack)
    killed = run_dag(DISPATCH)
    assert task_states(killed)["confirm_despatches"] == "failed"
    assert despatches(wired)[record.number].step == "packing", "the intent was committed before the call"
    monkeypatch.setattr(Cin7FulfilmentCalls, "write_fulfilment_stage", real)
    stack.reset_traffic()
    run = run_dag(DISPATCH)
    assert task_states(run)["confirm_despatches"] == "success"
    boxes = shipped(stack, sale["ID"])
    assert len(boxes) == 1 and boxes[0]["box"] == record.number and boxes[0]["tracking"] == "RM42"
    assert dispatch_calls(stack) == 2, "one GET of the fulfilments, then the ship: nothing picked or packed twice"
    assert despatches(wired)[record.number].state == "confirmed"
