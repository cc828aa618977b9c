"""A worker killed in the middle of each kind of write batch, then the run retried: exactly once at the vendor.

Every flow that writes to a vendor may die after the vendor applied a write and before the ledger heard of the
answer (the worker was killed, the pod evicted). Here the real client method that performs the write is wrapped so
that it calls the vendor for real and then raises ``SystemExit("worker killed")`` — not an API error, so nothing
may be recorded as refused. The DAG runs under ``dag.test()``, the write task fails, the real method is put back and
the DAG runs again. The simulator's own state — never the ledger — must then hold the effect exactly once (one item
row per ItemCode, one Cin7 adjustment per Reference with the on-hand moved once, one credit note per return, one
BlueCherry shipment per despatch, one BlueCherry adjustment per push, one re-issued Peoplevox order, each amended
order line once), and the ledger's record must end in its final state (confirmed, posted, credited, released).

Order release and the Cin7 fulfilment have their own crash tests (``test_order_release_cin7.py`` and
``test_dispatch_confirmation.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from erp_wms_simulators.cin7core import demo as c7_demo
from erp_wms_simulators.peoplevox import Warehouse
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import (
    CatalogueItem,
    DespatchRecord,
    Message,
    OrderRecord,
    ReturnRecord,
    StockAdjustmentRecord,
    StockMovementRecord,
)
from tests.e2e.conftest import task_states
from tests.e2e.orders_support import cin7_reauthorise, cin7_sale, wms_lines, wms_orders

pytestmark = pytest.mark.e2e
KILLED = "worker killed"
BOOT, BOOT_11, BAG = "NWO-BOOT-10", "NWO-BOOT-11", "NWO-BAG-REG"
CIN7_LOCATION = "Main Warehouse"
HANDMADE = "PVX-HANDMADE-001"
SHIP_TO = {"name": "Sam", "address1": "5 Main St", "city": "Newark", "state": "NJ", "zip": "07102", "country": "US"}


@dataclass
class Kill:
    """A client write method wrapped to die right after the vendor applied the write."""

    monkeypatch: pytest.MonkeyPatch
    owner: type
    name: str
    real: Callable[..., Any]
    answers: list[Any] = field(default_factory=list)  # what the vendor answered before each death

    def restore(self) -> None:
        """The worker is healthy again: the real method, unwrapped."""
        self.monkeypatch.setattr(self.owner, self.name, self.real)


def kill_after(monkeypatch: pytest.MonkeyPatch, owner: type, name: str,
               when: Callable[..., bool] = lambda *args, **kwargs: True) -> Kill:
    """Wrap ``owner.name``: the real method runs (the vendor applies the write), then, when ``when(*args,
    **kwargs)`` holds, the worker dies with ``SystemExit`` before the caller sees the answer."""
    kill = Kill(monkeypatch, owner, name, getattr(owner, name))

    def dies_after_the_write(self: Any, *args: Any, **kwargs: Any) -> Any:
        answer = kill.real(self, *args, **kwargs)
        if when(*args, **kwargs):
            kill.answers.append(answer)
            raise SystemExit(KILLED)  # not an API error: nothing may be recorded as refused
        return answer

    monkeypatch.setattr(owner, name, dies_after_the_write)
    return kill


def posts(stack: Any, system: str, path_end: str) -> int:
    """POST calls on an endpoint, from the simulator's own traffic counter."""
    endpoints = stack.traffic()[system]["endpoints"]
    return sum(c["answered"] + c["refused"] for key, c in endpoints.items()
               if key.upper().startswith("POST") and key.lower().endswith(path_end))


def journal(url: str, integration: str) -> dict[str, StockAdjustmentRecord]:
    """The integration's ``stock_adjustments`` journal entries, by Reference."""
    with session_scope(url) as session:
        rows = session.query(StockAdjustmentRecord).filter_by(integration=integration).all()
        session.expunge_all()
    return {row.reference: row for row in rows}


# --- 1. item master sync: Peoplevox SaveData of Item types -----------------------------------------------------
def test_item_types_saved_before_the_kill_are_there_once_after_the_retry(
        stack: Any, wired: str, run_dag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_wms_sync.connectors.peoplevox import PeoplevoxClient

    products = stack.cin7core.products_by_sku()
    invalid = {c7_demo.LONG_SKU, c7_demo.BLANK_NAME_SKU, *c7_demo.DUPLICATE_BARCODE_SKUS}
    expected = {sku for sku, p in products.items() if p["Status"] == "Active"} - invalid
    kill = kill_after(monkeypatch, PeoplevoxClient, "save_item_types")
    killed = run_dag("northwind__item_master_sync")
    assert task_states(killed)["upsert_wms_items"] == "failed"
    assert task_states(killed)["advance_watermark"] != "success", "the window must be read again"
    assert len(kill.answers) == 1 and all(o.ok for o in kill.answers[0]), "Peoplevox saved the batch, then death"
    saved_before = set(stack.peoplevox.records("northwind", "Item types")) - {HANDMADE}
    assert {o.reference for o in kill.answers[0]} == saved_before and saved_before <= expected
    with session_scope(wired) as session:
        assert session.query(Message).filter_by(flow="item_master_sync").count() == 0, "the ledger heard nothing"

    kill.restore()
    retried = run_dag("northwind__item_master_sync")
    assert task_states(retried)["upsert_wms_items"] == "success"
    assert task_states(retried)["advance_watermark"] == "success"
    rows = stack.peoplevox.records("northwind", "Item types")
    assert set(rows) == expected | {HANDMADE}, "every item there, and nothing else"
    codes = [row["ItemCode"].casefold() for row in rows.values()]
    assert len(codes) == len(set(codes)), "one Item types row per ItemCode"
    assert all(rows[sku]["Name"] == products[sku]["Name"] for sku in expected)
    with session_scope(wired) as session:
        confirmed = [m.entity_key for m in session.query(Message).filter_by(flow="item_master_sync",
                                                                          status="confirmed")]
        synced = {c.sku for c in session.query(CatalogueItem).filter_by(integration="northwind") if c.synced_at}
    assert sorted(confirmed) == sorted(expected), "one confirmed message per item, none twice"
    assert synced >= expected, "the catalogue knows every item is in Peoplevox"
    saves = stack.peoplevox.calls[("northwind", "SaveData")]
    run_dag("northwind__item_master_sync")
    assert stack.peoplevox.calls[("northwind", "SaveData")] == saves, "after the retry nothing is sent again"


# --- 2. inventory sync (Cin7 Core): the stock adjustment POST --------------------------------------------------
def test_a_stock_adjustment_cin7_applied_before_the_kill_is_adopted_not_posted_again(
        stack: Any, wired: str, run_dag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_wms_sync.connectors.cin7core_stock import Cin7StockCalls

    run_dag("northwind__item_master_sync")
    warehouse = Warehouse(stack.peoplevox, "northwind")
    received = {BOOT: 50, BOOT_11: 20, BAG: 7}
    for sku, quantity in received.items():
        warehouse.goods_in(sku, quantity, "MAIN")
    before = {sku: float(stack.cin7core.availability(sku, CIN7_LOCATION)["OnHand"]) for sku in received}
    kill = kill_after(monkeypatch, Cin7StockCalls, "post_stock_adjustment")
    killed = run_dag("northwind__inventory_sync")
    assert task_states(killed)["apply_movements"] == "failed"
    assert len(kill.answers) == 1
    reference = kill.answers[0].raw["Reference"]
    assert journal(wired, "northwind")[reference].state == "posting", "the intent was committed before the post"

    kill.restore()
    stack.reset_traffic()
    retried = run_dag("northwind__inventory_sync")
    assert set(task_states(retried).values()) == {"success"}, task_states(retried)
    assert posts(stack, "cin7core", "/stockadjustment") == 0, "found by its Reference, never posted again"
    ours = [a for a in stack.cin7core.adjustments.values() if a.get("Reference") == reference]
    assert len(ours) == 1 and ours[0]["Status"] == "COMPLETED", "Cin7 holds ONE adjustment with that Reference"
    assert len(stack.cin7core.adjustments) == 1
    products = stack.cin7core.products_by_sku()
    for sku, quantity in received.items():
        assert float(stack.cin7core.availability(sku, CIN7_LOCATION)["OnHand"]) == quantity, sku
        moves = [m.on_hand_delta for m in stack.cin7core.stock.movements(products[sku]["ID"])
                 if m.ref.kind == "Adjustment"]
        assert moves == [quantity - before[sku]], f"{sku}: the on-hand moved once, by the difference"
    entry = journal(wired, "northwind")[reference]
    assert entry.state == "posted" and entry.erp_task_id == ours[0]["TaskID"]
    with session_scope(wired) as session:
        states = {row.state for row in session.query(StockMovementRecord).filter_by(integration="northwind")}
    assert states <= {"applied", "opening"}, states
    stack.reset_traffic()
    run_dag("northwind__inventory_sync")
    assert posts(stack, "cin7core", "/stockadjustment") == 0, "nothing is left to post"


# --- 3. returns (Cin7 Core): the credit note POST --------------------------------------------------------------
def test_a_credit_note_cin7_made_before_the_kill_is_found_by_its_memo(
        stack: Any, wired: str, run_dag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_wms_sync.connectors.cin7core_stock import Cin7StockCalls

    run_dag("northwind__item_master_sync")
    warehouse = Warehouse(stack.peoplevox, "northwind")
    warehouse.goods_in(BOOT, 20, "MAIN")
    assert set(task_states(run_dag("northwind__inventory_sync")).values()) == {"success"}
    sale = cin7_sale(stack, [(BOOT, 2)])
    assert task_states(run_dag("northwind__order_release"))["release_orders"] == "success"
    number = sale["Order"]["SaleOrderNumber"]
    for step in (warehouse.allocate, warehouse.start_picking, warehouse.pick):
        step(number)
    warehouse.despatch(number, carrier="Royal Mail", tracking="RM1")
    assert task_states(run_dag("northwind__dispatch_confirmation"))["confirm_despatches"] == "success"
    stack.cin7core.invoice_sale(sale["ID"])
    assert set(task_states(run_dag("northwind__inventory_sync")).values()) == {"success"}
    warehouse.receive_return(number, {BOOT: 2}, "sellable", "RET-K1")
    assert set(task_states(run_dag("northwind__inventory_sync")).values()) == {"success"}  # the stock-in

    kill = kill_after(monkeypatch, Cin7StockCalls, "create_credit_note")
    killed = run_dag("northwind__returns")
    assert task_states(killed)["settle_returns"] == "failed"
    assert len(kill.answers) == 1 and kill.answers[0].memo == "WMS-RETURN RET-K1"

    kill.restore()
    stack.reset_traffic()
    retried = run_dag("northwind__returns")
    assert set(task_states(retried).values()) == {"success"}, task_states(retried)
    assert posts(stack, "cin7core", "/sale/creditnote") == 0, "found by its memo, never made again"
    notes = [n for n in stack.cin7core.sale(sale["ID"])["CreditNotes"] if n["Status"] != "VOIDED"]
    assert [n["Memo"] for n in notes] == ["WMS-RETURN RET-K1"], "ONE credit note for the return"
    assert {line["SKU"]: line["Quantity"] for line in notes[0]["Lines"]} == {BOOT: 2}
    assert float(stack.cin7core.availability(BOOT, CIN7_LOCATION)["OnHand"]) == 20, "nothing restocked twice"
    with session_scope(wired) as session:
        rows = session.query(ReturnRecord).filter_by(integration="northwind", return_code="RET-K1").all()
        assert rows and {(r.state, r.erp_ref) for r in rows} == {("credited", notes[0]["CreditNoteNumber"])}
    run_dag("northwind__returns")
    assert len([n for n in stack.cin7core.sale(sale["ID"])["CreditNotes"] if n["Status"] != "VOIDED"]) == 1


# --- 4. dispatch confirmation (BlueCherry): the shipment POST --------------------------------------------------
def test_a_bluecherry_shipment_recorded_before_the_kill_is_there_once(
        stack: Any, wired: str, run_dag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_wms_sync.connectors.bluecherry import BlueCherryClient

    run_dag("bluebird__item_master_sync")
    bc = stack.bluecherry
    in_wms = stack.peoplevox.records("bluebird", "Item types")
    sku = sorted(s["sku"] for s in bc.skus() if s["sku"] in in_wms)[0]
    order = bc.create_order("WEB-KILL-1", [{"sku": sku, "qty": 2}], warehouse="NJ01", customer="WEB",
                            shipTo=SHIP_TO, carrier="UPS Ground")
    assert task_states(run_dag("bluebird__order_release"))["release_orders"] == "success"
    warehouse = Warehouse(stack.peoplevox, "bluebird")
    warehouse.goods_in(sku, 10, "NJ01")
    number = order["orderNumber"]
    for step in (warehouse.allocate, warehouse.start_picking, warehouse.pick):
        step(number)
    record = warehouse.despatch(number, carrier="UPS Ground", tracking="1Z999")

    kill = kill_after(monkeypatch, BlueCherryClient, "post_shipment")
    killed = run_dag("bluebird__dispatch_confirmation")
    assert task_states(killed)["post_shipments"] == "failed"
    assert len(kill.answers) == 1 and kill.answers[0].created

    kill.restore()
    retried = run_dag("bluebird__dispatch_confirmation")
    assert task_states(retried)["post_shipments"] == "success"
    shipments = [s for s in bc.book.shipments.values() if s.get("reference") == record.number]
    assert len(shipments) == 1, "ONE shipment for the despatch"
    assert list(shipments[0]["trackingNumbers"]) == ["1Z999"]
    assert sum(int(line["qty"]) for c in shipments[0]["cartons"] for line in c["lines"]) == 2
    assert bc.order(number)["status"] == "SHIPPED"
    with session_scope(wired) as session:
        row = session.query(DespatchRecord).filter_by(integration="bluebird", despatch_number=record.number).one()
        assert (row.state, row.erp_ref) == ("confirmed", shipments[0]["shipmentNumber"])
    run_dag("bluebird__dispatch_confirmation")
    assert len([s for s in bc.book.shipments.values() if s.get("reference") == record.number]) == 1


# --- 5. inventory sync (BlueCherry): the inventory push ------------------------------------------------------------
def test_a_bluecherry_push_applied_before_the_kill_is_not_applied_twice(
        stack: Any, wired: str, run_dag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_wms_sync.connectors.bluecherry import BlueCherryClient

    run_dag("bluebird__item_master_sync")
    bc = stack.bluecherry
    in_wms = stack.peoplevox.records("bluebird", "Item types")
    tee, hoodie = sorted(s["sku"] for s in bc.skus() if s["sku"] in in_wms and s["status"] == "ACTIVE")[:2]
    warehouse = Warehouse(stack.peoplevox, "bluebird")
    warehouse.goods_in(tee, 30, "NJ01")
    warehouse.goods_in(hoodie, 12, "NJ01")
    adjustments_before = len(bc.book.adjustments)

    kill = kill_after(monkeypatch, BlueCherryClient, "post_inventory_adjustment")
    killed = run_dag("bluebird__inventory_sync")
    assert task_states(killed)["push_availability"] == "failed"
    assert len(kill.answers) == 1 and kill.answers[0].created
    reference = kill.answers[0].reference
    assert journal(wired, "bluebird")[reference].state == "posting", "the intent was committed before the post"

    def on_hand(sku: str) -> int:
        row = bc.book.stock.get(sku, "NJ01")
        return 0 if row is None else int(row["onHand"])

    assert (on_hand(tee), on_hand(hoodie)) == (30, 12), "BlueCherry applied the push before the kill"
    kill.restore()
    retried = run_dag("bluebird__inventory_sync")
    assert set(task_states(retried).values()) == {"success"}, task_states(retried)
    ours = [a for a in bc.book.adjustments.values() if a.get("reference") == reference]
    assert len(ours) == 1, "ONE adjustment under the push's Reference"
    assert len(bc.book.adjustments) == adjustments_before + 1, "the retry applied no second adjustment"
    assert (on_hand(tee), on_hand(hoodie)) == (30, 12), "BlueCherry's figure is Peoplevox's"
    assert {ref: row.state for ref, row in journal(wired, "bluebird").items()} == {reference: "posted"}
    stack.reset_traffic()
    assert set(task_states(run_dag("bluebird__inventory_sync")).values()) == {"success"}
    assert posts(stack, "bluecherry", "/inventory/adjustments") == 0, "nothing is pushed a second time"


# --- 6. order amendments: a re-issue killed after the new order's lines were saved ---------------------------------
def test_a_reissue_killed_after_its_lines_went_is_completed_once(
        stack: Any, wired: str, run_dag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_wms_sync.connectors.peoplevox import PeoplevoxClient

    run_dag("northwind__item_master_sync")
    sale = cin7_sale(stack, [(BOOT, 1), (BOOT_11, 1)])
    assert task_states(run_dag("northwind__order_release"))["release_orders"] == "success"
    number = sale["Order"]["SaleOrderNumber"]
    reissued = f"{number}-R1"
    cin7_reauthorise(stack, sale["ID"], [(BOOT, 1)])  # a line removed: Peoplevox cannot, so the order is re-issued

    kill = kill_after(monkeypatch, PeoplevoxClient, "save_sales_order_items",
                      lambda rows, *a, **k: any(row.get("SalesOrderNumber") == reissued for row in rows))
    killed = run_dag("northwind__order_release")
    assert task_states(killed)["apply_amendments"] == "failed"
    assert len(kill.answers) == 1 and all(o.ok for o in kill.answers[0])
    assert wms_orders(stack, "northwind")[number]["Status"] == "Cancelled"
    assert wms_lines(stack, "northwind", reissued) == {BOOT: "1"}, "Peoplevox took the new order before the kill"

    kill.restore()
    retried = run_dag("northwind__order_release")
    assert task_states(retried)["apply_amendments"] == "success"
    orders = wms_orders(stack, "northwind")
    assert sorted(n for n in orders if n.startswith(number)) == [number, reissued], "no second re-issue"
    assert orders[number]["Status"] == "Cancelled" and orders[reissued]["Status"] != "Cancelled"
    items = [r for r in stack.peoplevox.records("northwind", "Sales order items").values()
             if r["SalesOrderNumber"] == reissued]
    assert [(r["ItemCode"], r["QuantityOrdered"]) for r in items] == [(BOOT, "1")], "one line, once"
    with session_scope(wired) as session:
        record = session.query(OrderRecord).filter_by(integration="northwind", erp_order_id=sale["ID"]).one()
        assert record.wms_order_number == reissued and str(record.state).endswith("released"), record.state
        assert "reissue_to" not in (record.payload or {}), "the re-issue is finished in the ledger"
        applied = session.query(Message).filter_by(flow="order_amendments", status="confirmed").count()
    assert applied == 1
    saves = stack.peoplevox.calls[("northwind", "SaveData")]
    run_dag("northwind__order_release")
    assert stack.peoplevox.calls[("northwind", "SaveData")] == saves, "after the retry nothing is sent again"


def test_a_line_change_killed_after_peoplevox_took_it_is_recorded_once(
        stack: Any, wired: str, run_dag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_wms_sync.connectors.peoplevox import PeoplevoxClient

    run_dag("northwind__item_master_sync")
    sale = cin7_sale(stack, [(BOOT, 1), (BOOT_11, 1)])
    assert task_states(run_dag("northwind__order_release"))["release_orders"] == "success"
    number = sale["Order"]["SaleOrderNumber"]
    cin7_reauthorise(stack, sale["ID"], [(BOOT, 3), (BOOT_11, 1), (BAG, 2)])  # a quantity changed, a line added

    kill = kill_after(monkeypatch, PeoplevoxClient, "save_sales_order_items",
                      lambda rows, *a, **k: any(row.get("SalesOrderNumber") == number for row in rows))
    killed = run_dag("northwind__order_release")
    assert task_states(killed)["apply_amendments"] == "failed"
    assert len(kill.answers) == 1 and all(o.ok for o in kill.answers[0])
    assert wms_lines(stack, "northwind", number) == {BOOT: "3", BOOT_11: "1", BAG: "2"}, "Peoplevox took it"

    kill.restore()
    retried = run_dag("northwind__order_release")
    assert task_states(retried)["apply_amendments"] == "success"
    assert [n for n in wms_orders(stack, "northwind") if n.startswith(number)] == [number], "no re-issue"
    items = sorted((r["Line"], r["ItemCode"], r["QuantityOrdered"])
                   for r in stack.peoplevox.records("northwind", "Sales order items").values()
                   if r["SalesOrderNumber"] == number)
    assert items == [("1", BOOT, "3"), ("2", BOOT_11, "1"), ("3", BAG, "2")], "each line once"
    with session_scope(wired) as session:
        record = session.query(OrderRecord).filter_by(integration="northwind", erp_order_id=sale["ID"]).one()
        held = {(i["ItemCode"], i["QuantityOrdered"]) for i in (record.payload or {}).get("items") or []}
        applied = session.query(Message).filter_by(flow="order_amendments", entity_key=number,
                                                   status="confirmed").count()
    assert held == {(BOOT, "3"), (BOOT_11, "1"), (BAG, "2")}, "the ledger says what Peoplevox holds"
    assert applied == 1
