"""The simulated Peoplevox warehouse end to end: an order saved with SaveData is allocated, picked short,
partly despatched, completed, and comes back partly sellable, partly damaged; plus stock counts,
adjustments, holds, the clock tick and the admin API that drives it out of process."""

from __future__ import annotations

import pytest
import requests

from erp_wms_simulators.peoplevox.warehouse import WarehouseError
from tests.contract.conftest_peoplevox import PVX_CLIENT, Pvx, statuses
from tests.contract.fixtures_peoplevox_warehouse import CallbackReceiver, PvxWorld


def flow(world: PvxWorld, order: str, *steps: str) -> None:
    for step in steps:
        getattr(world.warehouse, step)(order)


def test_order_lifecycle_end_to_end(pvx: Pvx, pvx_world: PvxWorld, callback_receiver: CallbackReceiver) -> None:
    world, wh = pvx_world, pvx_world.warehouse
    subscribed = pvx.call("SubscribeEvent", eventType="SalesOrderStatusChanges", filter="",
                          callbackUrl=callback_receiver.url + "/status?so={SalesOrderNumber}&s={SalesOrderStatus.Name}",
                          encodeParameterData=True)
    assert subscribed.ResponseId == 0
    wh.goods_in("TSHIRT-RED-M", 3, "MAIN", "PO-1")
    wh.goods_in("MUG-BLUE", 2, "MAIN")
    saved = pvx.save("Sales orders", "SalesOrderNumber,ServiceType,ChannelName,Site\nSO-1,NEXTDAY,Web,MAIN")
    items = pvx.save("Sales order items", "SalesOrderNumber,ItemCode,QuantityOrdered\nSO-1,TSHIRT-RED-M,3\n"
                                          "SO-1,MUG-BLUE,2")
    assert statuses(saved) + statuses(items) == [("SO-1", "Success")] * 3
    assert world.status("SO-1") == "New"  # a SOAP write never moves the warehouse

    world.clock.advance(minutes=5)
    assert wh.allocate("SO-1") == {"1": 3, "2": 2}
    assert wh.available("TSHIRT-RED-M") == 0
    world.clock.advance(minutes=5)
    wh.start_picking("SO-1")
    assert wh.pick("SO-1", short={"TSHIRT-RED-M": 1}) == {"1": 2, "2": 2}
    assert world.status("SO-1") == "Packing"
    first = wh.despatch("SO-1", {"1": 2}, carrier="DPD", tracking="DPD-0001")
    assert first.number.startswith("DES") and world.status("SO-1") == "Partially despatched"

    world.clock.advance(hours=1)
    wh.goods_in("TSHIRT-RED-M", 4, "MAIN", "PO-2")
    assert wh.allocate("SO-1") == {"1": 1}  # only what is still outstanding
    flow(world, "SO-1", "start_picking", "pick")
    assert wh.pack("SO-1", 2) == ["PKG0000002", "PKG0000003"]
    second = wh.despatch("SO-1", carrier="DPD", tracking=["DPD-0002", "DPD-0003"])
    assert world.status("SO-1") == "Despatched"
    assert second.lines == [("1", "TSHIRT-RED-M", 1), ("2", "MUG-BLUE", 2)]

    world.clock.advance(days=2)
    wh.receive_return("SO-1", {"TSHIRT-RED-M": 2, "MUG-BLUE": 1}, "sellable", "RC-1", reason="Too small")
    assert world.status("SO-1") == "Despatched"
    wh.receive_return("SO-1", {"1": 1, "2": 1}, "damaged", "RC-2")
    assert world.status("SO-1") == "Returned"

    assert wh.stock("TSHIRT-RED-M") == [
        {"item_code": "TSHIRT-RED-M", "site": "MAIN", "location": "A-01-01", "on_hand": 5, "allocated": 0,
         "available": 5},
        {"item_code": "TSHIRT-RED-M", "site": "MAIN", "location": "QUARANTINE", "on_hand": 1, "allocated": 0,
         "available": 0}]
    assert wh.available("MUG-BLUE") == 1

    history = wh.movements()
    ids = [movement.history_id for movement in history]
    assert ids == sorted(set(ids)) and len(ids) == 14
    assert [movement.timestamp for movement in history] == sorted(movement.timestamp for movement in history)
    assert [(m.item_code, m.from_location, m.to_location, m.quantity, m.reason) for m in history if m.sales_order] == [
        ("TSHIRT-RED-M", "A-01-01", "DESPATCH", 2, "Pick"),
        ("TSHIRT-RED-M", "A-01-01", "Short pick", 1, "Short pick"),
        ("MUG-BLUE", "A-01-01", "DESPATCH", 2, "Pick"),
        ("TSHIRT-RED-M", "DESPATCH", "Despatched", 2, "Despatch"),
        ("TSHIRT-RED-M", "A-01-01", "DESPATCH", 1, "Pick"),
        ("TSHIRT-RED-M", "DESPATCH", "Despatched", 1, "Despatch"),
        ("MUG-BLUE", "DESPATCH", "Despatched", 2, "Despatch"),
        ("TSHIRT-RED-M", "Customer", "A-01-01", 2, "Too small"),
        ("MUG-BLUE", "Customer", "A-01-01", 1, "Too small"),
        ("TSHIRT-RED-M", "Customer", "QUARANTINE", 1, "Return (damaged)"),
        ("MUG-BLUE", "Customer", "QUARANTINE", 1, "Return (damaged)"),
    ]

    world.deliver()
    received = callback_receiver.wait_for(8)
    assert [(r.method, r.path, r.query["so"][0], r.query["s"][0]) for r in received] == [
        ("GET", "/status", "SO-1", status) for status in (
            "Allocated", "Picking", "Packing", "Partially despatched", "Allocated", "Picking", "Packing",
            "Despatched")]
    world.deliver()
    assert callback_receiver.wait_for(9)[8].query["s"] == ["Returned"]


def test_allocation_refuses_a_shortage_unless_partial(pvx_world: PvxWorld) -> None:
    wh = pvx_world.warehouse
    wh.goods_in("CAP-GREY", 2, "MAIN")
    wh.goods_in("CAP-GREY", 5, "EAST")  # stock at another site does not count
    pvx_world.order("SO-2", {"CAP-GREY": 3}, Site="MAIN")
    with pytest.raises(WarehouseError, match="insufficient stock to allocate SO-2: CAP-GREY needs 3, 2 available"):
        wh.allocate("SO-2")
    assert pvx_world.status("SO-2") == "New" and wh.available("CAP-GREY", "MAIN") == 2
    assert wh.allocate("SO-2", partial=True) == {"1": 2}
    assert wh.available("CAP-GREY") == 5
    with pytest.raises(WarehouseError, match="nothing to allocate on order SO-2: CAP-GREY needs 1, 0 available"):
        wh.allocate("SO-2", partial=True)


@pytest.mark.parametrize(("call", "message"), [
    (lambda wh: wh.start_picking("SO-3"), "cannot start picking: order SO-3 is New"),
    (lambda wh: wh.pick("SO-3"), "cannot pick: order SO-3 is New"),
    (lambda wh: wh.despatch("SO-3"), "nothing picked to despatch on order SO-3"),
    (lambda wh: wh.pack("SO-3"), "nothing picked to pack on order SO-3"),
    (lambda wh: wh.receive_return("SO-3", {"1": 1}), "line 1 of SO-3: 0 despatched, 0 already returned"),
    (lambda wh: wh.receive_return("SO-3", {"1": 1}, "broken"), "condition must be sellable or damaged"),
    (lambda wh: wh.allocate("SO-404"), "Sales order 'SO-404' not found"),
    (lambda wh: wh.goods_in("GHOST", 1, "MAIN"), "ItemCode 'GHOST' not found in Item types"),
    (lambda wh: wh.goods_in("MUG-BLUE", 0, "MAIN"), "quantity of MUG-BLUE must be a positive whole number"),
    (lambda wh: wh.goods_in("MUG-BLUE", 1, "MOON"), "Site 'MOON' not found"),
    (lambda wh: wh.goods_in("MUG-BLUE", 1, "MAIN", location="DESPATCH"), "'DESPATCH' is not a stock location"),
    (lambda wh: wh.adjust("MUG-BLUE", "MAIN", -1), "bin A-01-01 at MAIN holds 0 of MUG-BLUE; cannot remove 1"),
], ids=["start-picking", "pick", "despatch", "pack", "return-too-much", "condition", "unknown-order",
        "unknown-item", "zero-quantity", "unknown-site", "not-a-stock-location", "negative-stock"])
def test_refused_operations_change_nothing(pvx_world: PvxWorld, call: object, message: str) -> None:
    pvx_world.order("SO-3", {"MUG-BLUE": 1})
    with pytest.raises(WarehouseError, match=message):
        call(pvx_world.warehouse)  # type: ignore[operator]
    assert pvx_world.warehouse.movements() == [] and pvx_world.warehouse.events() == []
    assert pvx_world.status("SO-3") == "New"


def test_pick_cannot_exceed_allocation_or_the_bin(pvx_world: PvxWorld) -> None:
    wh = pvx_world.warehouse
    wh.goods_in("MUG-BLUE", 3, "MAIN")
    pvx_world.order("SO-4", {"MUG-BLUE": 3})
    flow(pvx_world, "SO-4", "allocate", "start_picking")
    with pytest.raises(WarehouseError, match="has 3 allocated; cannot pick 4"):
        wh.pick("SO-4", {"MUG-BLUE": 4})
    wh.stock_count("MUG-BLUE", "MAIN", 1)  # two units went missing after allocation
    with pytest.raises(WarehouseError, match="holds 1 of MUG-BLUE; pick at most 1 and report the rest short"):
        wh.pick("SO-4")
    assert wh.pick("SO-4", {"MUG-BLUE": 1}) == {"1": 1}
    assert pvx_world.status("SO-4") == "Picking"  # two still allocated
    with pytest.raises(WarehouseError, match="cannot despatch: order SO-4 is Picking"):
        wh.despatch("SO-4")
    assert wh.pick("SO-4", short={"1": 2}) == {"1": 0}
    assert pvx_world.status("SO-4") == "Packing"


def test_stock_count_and_adjustments_are_movements(pvx_world: PvxWorld) -> None:
    wh = pvx_world.warehouse
    wh.goods_in("CAP-GREY", 10, "MAIN")
    counted = wh.stock_count("CAP-GREY", "MAIN", 7)
    assert counted is not None and (counted.from_location, counted.to_location, counted.quantity_changed) == (
        "A-01-01", "Stock count", -3)
    assert wh.stock_count("CAP-GREY", "MAIN", 7) is None
    added = wh.adjust("CAP-GREY", "MAIN", 2, reason="Found in returns cage", location="B-02-01")
    assert (added.from_location, added.to_location, added.reason) == ("Adjustment", "B-02-01", "Found in returns cage")
    assert wh.available("CAP-GREY") == 9
    changes = [event.values for event in wh.events("IncrementalChanges")]
    assert [(v["QuantityChanged"], v["Reason"], v["HistoryId"]) for v in changes] == [
        ("10", "Goods in", "1"), ("-3", "Stock count", "2"), ("2", "Found in returns cage", "3")]
    assert [event.values["Available"] for event in wh.events("AvailabilityChanges")] == ["10", "7", "9"]


def test_availability_per_site_is_a_setting(pvx_world: PvxWorld) -> None:
    pvx_world.sim.settings.availability_per_site = True
    wh = pvx_world.warehouse
    wh.goods_in("MUG-BLUE", 4, "MAIN")
    wh.goods_in("MUG-BLUE", 6, "EAST")
    values = [(e.values["Site.Reference"], e.values["Available"]) for e in wh.events("AvailabilityChanges")]
    assert values == [("MAIN", "4"), ("EAST", "6")]
    assert (wh.available("MUG-BLUE"), wh.available("MUG-BLUE", "east")) == (10, 6)


def test_hold_and_release(pvx_world: PvxWorld) -> None:
    wh = pvx_world.warehouse
    wh.goods_in("MUG-BLUE", 1, "MAIN")
    pvx_world.order("SO-5", {"MUG-BLUE": 1})
    wh.allocate("SO-5")
    assert wh.hold("SO-5") == "On hold"
    assert pvx_world.sim.state.records(PVX_CLIENT, "Sales orders")["SO-5"]["OnHold"] == "true"
    with pytest.raises(WarehouseError, match="cannot start picking: order SO-5 is On hold"):
        wh.start_picking("SO-5")
    assert wh.hold("SO-5", on=False) == "Allocated"


def test_tick_moves_every_open_order_one_step(pvx_world: PvxWorld) -> None:
    wh = pvx_world.warehouse
    wh.goods_in("TSHIRT-RED-M", 1, "MAIN")
    pvx_world.order("SO-6", {"TSHIRT-RED-M": 1})
    pvx_world.order("SO-7", {"TSHIRT-RED-M": 5})  # never enough stock: stays New
    seen = [wh.tick() for _ in range(5)]
    assert seen == [{"SO-6": "Allocated"}, {"SO-6": "Picking"}, {"SO-6": "Packing"}, {"SO-6": "Despatched"}, {}]
    assert pvx_world.status("SO-7") == "New"
    assert wh.events("TrackingNumberReceived")[0].values["TrackingNumber"] == "TRK0000000001"


def test_short_pick_write_off_is_a_setting(pvx_world: PvxWorld) -> None:
    pvx_world.sim.settings.short_pick_adjusts_stock = False
    wh = pvx_world.warehouse
    wh.goods_in("CAP-GREY", 2, "MAIN")
    pvx_world.order("SO-8", {"CAP-GREY": 2})
    flow(pvx_world, "SO-8", "allocate", "start_picking")
    wh.pick("SO-8", short={"CAP-GREY": 2})
    assert pvx_world.status("SO-8") == "New" and wh.available("CAP-GREY") == 2
    assert [m.reason for m in wh.movements()] == ["Goods in"]


def test_admin_api_drives_the_warehouse(pvx_world: PvxWorld) -> None:
    base = f"{pvx_world.sim.base_url}/_sim/{PVX_CLIENT}/warehouse"
    pvx_world.order("SO-9", {"MUG-BLUE": 2})
    received = requests.post(f"{base}/goods-in", json={"site": "MAIN", "lines": {"MUG-BLUE": 5}, "po": "PO-9"},
                             timeout=10)
    assert received.status_code == 200 and received.json()["reference"] == "GI000001"
    allocated = requests.post(f"{base}/orders/SO-9/allocate", json={}, timeout=10).json()
    assert allocated["allocated"] == {"1": 2} and allocated["order"]["status"] == "Allocated"
    assert requests.post(f"{base}/orders/SO-9/start-picking", timeout=10).json()["status"] == "Picking"
    picked = requests.post(f"{base}/orders/SO-9/pick", json={"short": {"MUG-BLUE": 1}}, timeout=10).json()
    assert picked["picked"] == {"1": 1}
    despatch = requests.post(f"{base}/orders/SO-9/despatch", json={"carrier": "UPS", "tracking": "1Z999"},
                             timeout=10).json()
    assert (despatch["number"], despatch["carrier"], despatch["lines"]) == (
        "DES1000001", "UPS", [["1", "MUG-BLUE", 1]])
    returned = requests.post(f"{base}/orders/SO-9/return", json={"lines": {"1": 1}, "condition": "damaged"},
                             timeout=10).json()
    assert returned[0]["location"] == "QUARANTINE"
    refused = requests.post(f"{base}/orders/SO-9/return", json={"lines": {"1": 1}}, timeout=10)
    assert refused.status_code == 409 and "already returned" in refused.json()["detail"]
    assert requests.post(f"{base}/adjust", json={"item": "MUG-BLUE", "site": "MAIN", "delta": -1},
                         timeout=10).json()["movement"]["quantity_changed"] == -1
    assert requests.post(f"{base}/stock-count", json={"item": "MUG-BLUE", "site": "MAIN", "counted": 2},
                         timeout=10).json() == {"movement": None}
    stock = requests.get(f"{base}/stock", params={"item": "MUG-BLUE"}, timeout=10).json()
    assert [(row["location"], row["on_hand"], row["available"]) for row in stock] == [
        ("A-01-01", 2, 2), ("QUARANTINE", 1, 0)]
    movements = requests.get(f"{base}/movements", params={"after": 3}, timeout=10).json()
    assert [(m["history_id"], m["reason"]) for m in movements] == [
        (4, "Despatch"), (5, "Return (damaged)"), (6, "Adjustment")]
    events = requests.get(f"{base}/events", params={"event_type": "Returns"}, timeout=10).json()
    assert events[0]["values"]["Condition"] == "Damaged"
    assert requests.get(f"{base}/orders/SO-9", timeout=10).json()["lines"][0]["shorted"] == 1
    assert requests.post(f"{base}/tick", timeout=10).json() == {"SO-9": "Allocated"}  # the rest of the order
    assert requests.get(f"{pvx_world.sim.base_url}/_sim/nobody/warehouse/stock", timeout=10).status_code == 404
    assert requests.get(f"{base}/orders/SO-404", timeout=10).status_code == 404
