"""Sales orders, Sales order items, Return authorisations and Despatch packages templates through zeep (built
from the served WSDL) and through PeoplevoxClient; plus the session_expiry and partial_save_failure faults."""

from __future__ import annotations

import pytest

from erp_wms_simulators.faults import FaultRule
from erp_wms_simulators.peoplevox.orders import SALES_ORDER_COLUMNS, SALES_ORDER_IMPORTABLE
from erp_wms_sync.connectors.peoplevox import PeoplevoxClient, RecordOutcome
from erp_wms_sync.connectors.transport import RetryPolicy
from tests.contract.conftest_peoplevox import PVX_CLIENT, PVX_PASSWORD, PVX_USER, Pvx, data_lines, statuses
from tests.contract.fixtures_peoplevox_warehouse import PvxWorld

HEADER = "SalesOrderNumber,Customer,ServiceType,ChannelName,Site,RequestedDeliveryDate"
FAST = RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.002)


def client(world: PvxWorld) -> PeoplevoxClient:
    return PeoplevoxClient(world.sim.base_url, PVX_CLIENT, PVX_USER, PVX_PASSWORD, retry=FAST)


def orders(world: PvxWorld) -> dict[str, dict[str, str]]:
    return world.sim.state.records(PVX_CLIENT, "Sales orders")


def lines(world: PvxWorld) -> dict[str, dict[str, str]]:
    return world.sim.state.records(PVX_CLIENT, "Sales order items")


# -- Sales orders ---------------------------------------------------------------------------------
def test_save_template_and_export_columns(pvx: Pvx, pvx_world: PvxWorld) -> None:
    assert pvx.call("GetSaveTemplate", templateName="Sales orders").Detail == ",".join(SALES_ORDER_IMPORTABLE)
    export = data_lines(pvx.get("Sales orders").Detail)[0].split(",")
    assert export == list(SALES_ORDER_COLUMNS)
    assert export[-7:] == ["Site", "OnHold", "Attribute1", "Attribute2", "Attribute3", "Attribute4", "Attribute5"]


def test_order_and_lines_saved_then_exported(pvx: Pvx, pvx_world: PvxWorld) -> None:
    saved = pvx.save("Sales orders", f"{HEADER}\nSO-1001,Jane Doe,NEXTDAY,Web shop,MAIN,2024-05-03 12:00:00")
    assert statuses(saved) == [("SO-1001", "Success")]
    items = pvx.save("Sales order items", "SalesOrderNumber,ItemCode,QuantityOrdered\n"
                                          "SO-1001,TSHIRT-RED-M,2\nSO-1001,MUG-BLUE,1\nSO-1001,TSHIRT-RED-M,3")
    assert statuses(items) == [("SO-1001", "Success")] * 3
    stored = lines(pvx_world)
    assert set(stored) == {"SO-1001/1", "SO-1001/2"}  # without a Line, the ItemCode finds its line
    assert stored["SO-1001/1"]["QuantityOrdered"] == "3"
    exported = pvx.get("Sales orders", clause='SalesOrderNumber.Equals("SO-1001")')
    row = dict(zip(SALES_ORDER_COLUMNS, data_lines(exported.Detail)[1].split(","), strict=True))
    assert (row["Status"], row["Site"], row["OnHold"]) == ("New", "MAIN", "false")


@pytest.mark.parametrize(("row", "reason"), [
    ("SO-" + "9" * 28 + ",,NEXTDAY,Web,MAIN,", "SalesOrderNumber is longer than 30 characters (31)"),
    ("SO-2,,NEXTDAY,Web,NOWHERE,", "Site 'NOWHERE' not found"),
    ("SO-2,,,Web,MAIN,", "ServiceType is required"),
    ("SO-2,,NEXTDAY,,MAIN,", "ChannelName is required"),
    ("SO-2,,NEXTDAY,Web,MAIN,03/05/2024", "RequestedDeliveryDate must be a date as yyyy-MM-dd HH:mm:ss, "
                                          "got '03/05/2024'"),
], ids=["number-too-long", "unknown-site", "no-service-type", "no-channel", "bad-date"])
def test_sales_order_refusals(pvx: Pvx, pvx_world: PvxWorld, row: str, reason: str) -> None:
    result = pvx.save("Sales orders", f"{HEADER}\n{row}")
    assert (result.ResponseId, statuses(result)[0][1]) == (-1, "Error")
    assert result.Detail.split(": ", 1)[1] == reason
    assert orders(pvx_world) == {}


@pytest.mark.parametrize("status", ["Despatched", "New", "Allocated"])
def test_only_cancelled_status_can_be_imported(pvx: Pvx, pvx_world: PvxWorld, status: str) -> None:
    result = pvx.save("Sales orders", f"SalesOrderNumber,ServiceType,ChannelName,Status\nSO-3,STD,Web,{status}")
    assert result.Detail == (f"SO-3: Status '{status}' cannot be imported: only Cancelled may be set (every "
                             f"other status is set by the warehouse)")


def test_required_service_and_channel_is_a_setting(pvx: Pvx, pvx_world: PvxWorld) -> None:
    pvx_world.sim.settings.sales_order_requires_service_and_channel = False
    assert pvx.save("Sales orders", "SalesOrderNumber,PaymentMethod\nSO-4,2").ResponseId == 0
    bad = pvx.save("Sales orders", "SalesOrderNumber,PaymentMethod,IsPartialShipment\nSO-5,card,\nSO-6,,maybe")
    assert bad.Detail.split("\n") == ["SO-5: PaymentMethod must be a whole number, got 'card'",
                                      "SO-6: IsPartialShipment must be true or false, got 'maybe'"]


def test_cancel_before_picking_releases_allocation(pvx: Pvx, pvx_world: PvxWorld) -> None:
    world = pvx_world
    world.warehouse.goods_in("TSHIRT-RED-M", 5, "MAIN")
    world.order("SO-10", {"TSHIRT-RED-M": 2})
    world.warehouse.allocate("SO-10")
    assert world.warehouse.available("TSHIRT-RED-M") == 3
    result = pvx.save("Sales orders", "SalesOrderNumber,Status\nSO-10,cancelled")
    assert statuses(result) == [("SO-10", "Success")]
    assert world.status("SO-10") == "Cancelled"
    assert world.warehouse.available("TSHIRT-RED-M") == 5
    change = world.warehouse.events("SalesOrderStatusChanges")[-1].values
    assert (change["SalesOrderStatus.Name"], change["PreviousStatus"], change["SalesOrderStatus.Id"]) == (
        "Cancelled", "Allocated", "7")
    assert world.warehouse.events("AvailabilityChanges")[-1].values["Available"] == "5"


def test_cancel_after_picking_started_is_refused_unless_configured(pvx: Pvx, pvx_world: PvxWorld) -> None:
    world = pvx_world
    world.warehouse.goods_in("MUG-BLUE", 4, "MAIN")
    world.order("SO-11", {"MUG-BLUE": 1})
    world.warehouse.allocate("SO-11")
    world.warehouse.start_picking("SO-11")
    refused = pvx.save("Sales orders", "SalesOrderNumber,Status\nSO-11,Cancelled")
    assert (refused.ResponseId, refused.Detail) == (-1, "SO-11: cannot cancel: order is Picking")
    world.sim.settings.cancellable_statuses = ("New", "Allocated", "Picking")
    assert pvx.save("Sales orders", "SalesOrderNumber,Status\nSO-11,Cancelled").ResponseId == 0


def test_orders_cannot_be_deleted(pvx: Pvx, pvx_world: PvxWorld) -> None:
    pvx_world.order("SO-12", {"MUG-BLUE": 1})
    result = pvx.save("Sales orders", "SalesOrderNumber\nSO-12", action=2)
    assert result.Detail == "SO-12: Sales orders cannot be deleted; import Status Cancelled instead"
    assert "SO-12" in orders(pvx_world)


@pytest.mark.parametrize(("clause", "expected"), [
    ("Status.Equals(5)", ["SO-21"]),
    ("Status == 1", ["SO-20"]),
    ('Status.Equals("Despatched")', ["SO-21"]),
    ("Status != 1 AND Status != 5", []),
])
def test_status_searches_by_name_or_id(pvx: Pvx, pvx_world: PvxWorld, clause: str, expected: list[str]) -> None:
    world = pvx_world
    world.warehouse.goods_in("CAP-GREY", 3, "MAIN")
    world.order("SO-20", {"CAP-GREY": 1})
    world.order("SO-21", {"CAP-GREY": 1})
    for step in ("allocate", "start_picking", "pick", "despatch"):
        getattr(world.warehouse, step)("SO-21")
    result = pvx.get("Sales orders", clause=clause)
    assert [line.split(",")[0] for line in data_lines(result.Detail)[1:]] == expected


def test_status_ids_are_a_setting(pvx: Pvx, pvx_world: PvxWorld) -> None:
    pvx_world.order("SO-22", {"CAP-GREY": 1})
    pvx_world.sim.settings.order_status_ids = {**pvx_world.sim.settings.order_status_ids, "New": 100}
    assert pvx.get("Sales orders", clause="Status.Equals(100)").TotalCount == 1
    assert pvx.get("Sales orders", clause="Status.Equals(1)").TotalCount == 0


# -- Sales order items ----------------------------------------------------------------------------
@pytest.mark.parametrize(("csv_line", "reason"), [
    ("SO-9,MUG-BLUE,1,", "Sales order 'SO-9' not found"),
    ("SO-30,NO-SUCH-SKU,1,", "ItemCode 'NO-SUCH-SKU' not found in Item types"),
    ("SO-30,MUG-BLUE,0,", "QuantityOrdered must be a positive whole number, got '0'"),
    ("SO-30,MUG-BLUE,1,x", "Line must be a whole number from 1, got 'x'"),
    ("SO-30,CAP-GREY,1,1", "line 1 of SO-30 is ItemCode 'TSHIRT-RED-M'; the ItemCode of a line cannot be changed"),
], ids=["unknown-order", "unknown-item", "zero-quantity", "bad-line", "item-change"])
def test_order_item_refusals(pvx: Pvx, pvx_world: PvxWorld, csv_line: str, reason: str) -> None:
    pvx_world.order("SO-30", {"TSHIRT-RED-M": 1})
    result = pvx.save("Sales order items", f"SalesOrderNumber,ItemCode,QuantityOrdered,Line\n{csv_line}")
    assert result.Detail == f"{csv_line.split(',')[0]}: {reason}"


def test_lines_change_only_before_picking_and_are_never_removed(pvx: Pvx, pvx_world: PvxWorld) -> None:
    world = pvx_world
    world.warehouse.goods_in("TSHIRT-RED-M", 10, "MAIN")
    world.order("SO-31", {"TSHIRT-RED-M": 4})
    world.warehouse.allocate("SO-31")
    assert pvx.save("Sales order items", "SalesOrderNumber,Line,QuantityOrdered\nSO-31,1,3").ResponseId == 0
    assert world.warehouse.order("SO-31")["lines"][0]["allocated"] == 3  # the excess allocation is given back
    assert world.warehouse.available("TSHIRT-RED-M") == 7
    world.warehouse.start_picking("SO-31")
    change = pvx.save("Sales order items", "SalesOrderNumber,Line,QuantityOrdered\nSO-31,1,2")
    assert change.Detail == "SO-31: cannot change quantity: order is Picking"
    added = pvx.save("Sales order items", "SalesOrderNumber,ItemCode,QuantityOrdered\nSO-31,MUG-BLUE,1")
    assert added.Detail == "SO-31: cannot add lines: order is Picking"
    removed = pvx.save("Sales order items", "SalesOrderNumber,Line\nSO-31,1", action=2)
    assert removed.Detail == "SO-31: Sales order lines cannot be removed"
    no_key = pvx.save("Sales order items", "SalesOrderNumber,QuantityOrdered\nSO-31,1")
    assert "must contain the key column(s) Line or ItemCode" in no_key.Detail


# -- client methods -------------------------------------------------------------------------------
def test_client_saves_and_reads_sales_orders(pvx_world: PvxWorld) -> None:
    pvx_client = client(pvx_world)
    outcomes = pvx_client.save_sales_orders([
        {"SalesOrderNumber": "SO-40", "Customer": "Ann, Ltd", "ServiceType": "NEXTDAY", "ChannelName": "Web"},
        {"SalesOrderNumber": "SO-41", "ServiceType": "NEXTDAY", "ChannelName": "Web", "Site": "MARS"},
    ])
    assert outcomes == [RecordOutcome("SO-40", True), RecordOutcome("SO-41", False, "Site 'MARS' not found")]
    item_outcomes = pvx_client.save_sales_order_items([
        {"SalesOrderNumber": "SO-40", "ItemCode": "MUG-BLUE", "QuantityOrdered": "2"},
        {"SalesOrderNumber": "SO-40", "ItemCode": "GHOST", "QuantityOrdered": "1"},
        {"SalesOrderNumber": "SO-40", "ItemCode": "CAP-GREY", "QuantityOrdered": "1"},
    ])
    assert [(o.reference, o.ok, o.message) for o in item_outcomes] == [
        ("SO-40", True, ""), ("SO-40", False, "ItemCode 'GHOST' not found in Item types"), ("SO-40", True, "")]
    rows = list(pvx_client.iter_sales_orders('Customer.StartsWith("Ann")'))
    assert [(row["SalesOrderNumber"], row["Customer"], row["Status"]) for row in rows] == [
        ("SO-40", "Ann, Ltd", "New")]


def test_partial_save_failure_fault_is_a_retryable_record_error(pvx_world: PvxWorld) -> None:
    pvx_world.sim.state.faults.add_rule(FaultRule("partial_save_failure", endpoint="Sales orders", count=1))
    pvx_client = client(pvx_world)
    rows = [{"SalesOrderNumber": f"SO-5{n}", "ServiceType": "STD", "ChannelName": "Web"} for n in range(3)]
    first = pvx_client.save_sales_orders(rows)
    assert first[0] == RecordOutcome("SO-50", False, "System : Temporary failure, retry")
    assert [outcome.ok for outcome in first[1:]] == [True, True]
    assert pvx_client.save_sales_orders(rows[:1]) == [RecordOutcome("SO-50", True)]
    assert set(orders(pvx_world)) == {"SO-50", "SO-51", "SO-52"}


def test_session_expiry_fault_makes_the_client_authenticate_once_more(pvx: Pvx, pvx_world: PvxWorld) -> None:
    state = pvx_world.sim.state
    state.faults.add_rule(FaultRule("session_expiry", endpoint="GetData", count=1))
    expired = pvx.get("Sales orders")
    assert (expired.ResponseId, expired.Detail) == (-1, "System : Security - Session Expired")
    assert pvx.get("Sites").Detail == "System : Security - Session Expired"  # the session stays expired
    state.faults.add_rule(FaultRule("session_expiry", endpoint="GetData", count=1))
    pvx_world.order("SO-60", {"MUG-BLUE": 1})
    pvx_client = client(pvx_world)
    assert [row["SalesOrderNumber"] for row in pvx_client.iter_sales_orders()] == ["SO-60"]
    assert pvx_world.sim.calls("Authenticate") == 3  # pvx once, the client twice
    assert state.faults.count("session_expiry") == 2


# -- Return authorisations and Despatch packages --------------------------------------------------
def test_return_authorisations(pvx: Pvx, pvx_world: PvxWorld) -> None:
    world = pvx_world
    world.warehouse.goods_in("MUG-BLUE", 3, "MAIN")
    world.order("SO-70", {"MUG-BLUE": 3})
    for step in ("allocate", "start_picking", "pick", "despatch"):
        getattr(world.warehouse, step)("SO-70")
    header = "ReturnAuthorisationNumber,SalesOrderNumber,ItemCode,QuantityExpected,Reason,Site"
    result = pvx.save("Return authorisations", f"{header}\nRA-1,SO-70,MUG-BLUE,2,Too small,EAST\n"
                                               f"RA-2,SO-99,MUG-BLUE,1,,\nRA-3,SO-70,MUG-BLUE,-1,,\n"
                                               f"RA-4,SO-70,MUG-BLUE,1,,ATLANTIS")
    assert statuses(result) == [("RA-1", "Success"), ("RA-2", "Error"), ("RA-3", "Error"), ("RA-4", "Error")]
    assert result.Detail.split("\n") == ["RA-2: Sales order 'SO-99' not found",
                                         "RA-3: QuantityExpected must be a positive whole number, got '-1'",
                                         "RA-4: Site 'ATLANTIS' not found"]
    world.warehouse.receive_return("SO-70", {"MUG-BLUE": 2}, "sellable")
    exported = data_lines(pvx.get("Return authorisations").Detail)
    assert exported == [header + ",QuantityReceived,Status", "RA-1,SO-70,MUG-BLUE,2,Too small,EAST,2,Received"]
    assert world.warehouse.stock("MUG-BLUE", "EAST")[0]["on_hand"] == 2  # received at the authorised site
    frozen = pvx.save("Return authorisations", f"{header}\nRA-1,SO-70,MUG-BLUE,3,,")
    assert frozen.Detail == "RA-1: return authorisation RA-1 is Received and can no longer be changed"
    kept = pvx.save("Return authorisations", "ReturnAuthorisationNumber,ItemCode\nRA-1,MUG-BLUE", action=2)
    assert kept.Detail == "RA-1: return authorisation RA-1 has received stock and cannot be deleted"


def test_despatch_packages_take_imported_tracking_numbers(pvx: Pvx, pvx_world: PvxWorld) -> None:
    world = pvx_world
    world.warehouse.goods_in("CAP-GREY", 2, "MAIN")
    world.order("SO-80", {"CAP-GREY": 2})
    for step in ("allocate", "start_picking", "pick"):
        getattr(world.warehouse, step)("SO-80")
    packages = world.warehouse.pack("SO-80", 2)
    despatch = world.warehouse.despatch("SO-80", carrier="Royal Mail", tracking="")
    listed = data_lines(pvx.get("Despatch packages").Detail)
    assert listed[0] == "DespatchNumber,PackageNumber,TrackingNumber,Carrier,ServiceType,SalesOrderNumber,DespatchDate"
    assert listed[1] == f"{despatch.number},{packages[0]},,Royal Mail,NEXTDAY,SO-80,2024-05-01 09:00:00"
    assert world.warehouse.events("TrackingNumberReceived") == []
    saved = pvx.save("Despatch packages", f"DespatchNumber,PackageNumber,TrackingNumber\n"
                                          f"{despatch.number},{packages[1]},RM123456789GB\n{despatch.number},PKG9,X")
    assert statuses(saved) == [(f"{despatch.number}/{packages[1]}", "Success"),
                               (f"{despatch.number}/PKG9", "Error")]
    assert "packages are created by the warehouse when it despatches" in saved.Detail
    package_event = world.warehouse.events("DespatchPackageTrackingNumberReceived")[-1].values
    assert (package_event["PackageNumber"], package_event["TrackingNumber"]) == (packages[1], "RM123456789GB")
    tracking_event = world.warehouse.events("TrackingNumberReceived")[-1].values
    assert (tracking_event["DespatchNumber"], tracking_event["TrackingNumber"]) == (despatch.number, "RM123456789GB")
    gone = pvx.save("Despatch packages", f"DespatchNumber,PackageNumber\n{despatch.number},{packages[0]}", action=2)
    assert gone.Detail.endswith("Despatch packages cannot be deleted")
