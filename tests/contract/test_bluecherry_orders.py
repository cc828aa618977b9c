"""BlueCherry simulator order-to-cash contract: idempotent order creation, validation errors naming the
culprit, the status lifecycle with stock that really moves, cancellation rules, credit hold, shipments
confirmed from the WMS, pick tickets, inventory and adjustments, admin routes, and the client methods
(iter_orders, get_order, set_order_wms_status, post_shipment, iter_shipments, iter_inventory,
post_inventory_adjustment).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from erp_wms_simulators.bluecherry import BlueCherrySettings, BlueCherryState
from erp_wms_simulators.bluecherry.demo import DEMO_SUBSCRIPTION_KEY, INACTIVE_STYLE
from erp_wms_sync.connectors.bluecherry import BlueCherryClient
from erp_wms_sync.connectors.bluecherry_records import ShipmentCarton
from erp_wms_sync.errors import ApiRejected
from tests.contract.fixtures_bluecherry_orders import BlueCherryApi, assert_bc_error

TEE, HOODIE = "10001-BLK-M", "10002-NAV-L"


def shipment(number: str, lines: dict[str, int], reference: str = "", **extra: Any) -> dict[str, Any]:
    return {"orderNumber": number, "reference": reference, "carrier": "UPS", "trackingNumbers": ["1Z999"],
            "cartons": [{"cartonNo": "C1", "lines": [{"sku": s, "qty": q} for s, q in lines.items()]}], **extra}


def test_post_order_is_idempotent_on_customer_po_and_division(bc_api: BlueCherryApi) -> None:
    first = bc_api.order("SHOP-1001", {TEE: 2, HOODIE: 1})
    assert first.status_code == 201
    body = first.json()
    assert (body["orderNumber"], body["status"], body["totalQty"]) == ("100001", "OPEN", 3)
    assert [(line["sku"], line["qty"], line["price"], line["openQty"]) for line in body["lines"]] == \
        [(TEE, 2, 28.0, 2), (HOODIE, 1, 68.0, 1)]
    repeat = bc_api.order("SHOP-1001", {TEE: 5})
    assert repeat.status_code == 200 and repeat.json()["orderNumber"] == "100001"
    assert repeat.json()["totalQty"] == 3  # the repeat does not change the order
    other_division = bc_api.order("SHOP-1001", {TEE: 1}, division="02")
    assert other_division.status_code == 201 and other_division.json()["orderNumber"] == "100002"


def test_unknown_sku_warehouse_and_inactive_sku_are_400_naming_them(bc_api: BlueCherryApi,
                                                                     bc_settings: BlueCherrySettings) -> None:
    refused = bc_api.order("SHOP-2", {TEE: 1, "99999-XXX-M": 2}, warehouse="TX09")
    assert_bc_error(refused, 400, "bad_request", "unknown warehouse 'TX09'", "line 2: unknown SKU '99999-XXX-M'")
    inactive = f"{INACTIVE_STYLE}-BLU-S"
    assert_bc_error(bc_api.order("SHOP-3", {inactive: 1}), 400, "bad_request", inactive, "INACTIVE")
    assert_bc_error(bc_api.order("SHOP-4", {TEE: 0}), 400, "bad_request", "qty", "at least 1")
    assert_bc_error(bc_api.post("/orders", {"customerPo": "X"}), 400, "bad_request", "lines")
    malformed = bc_api.client.post("/api/v1/orders", content=b"{not json", headers={
        "Ocp-Apim-Subscription-Key": DEMO_SUBSCRIPTION_KEY})
    assert_bc_error(malformed, 400, "bad_request", "JSON")
    bc_settings.reject_inactive_skus = False
    assert bc_api.order("SHOP-3", {inactive: 1}).status_code == 201


def test_lifecycle_moves_stock_from_allocation_to_invoice(bc_api: BlueCherryApi, bc_state: BlueCherryState,
                                                          erp_clock: Any) -> None:
    bc_state.set_stock(TEE, "NJ01", on_hand=10)
    number = bc_api.order("SHOP-10", {TEE: 4}).json()["orderNumber"]
    stamps = [bc_state.order(number)["updatedAt"]]

    def step(action: Any) -> None:
        erp_clock.advance(60)
        action(number)
        stamps.append(bc_state.order(number)["updatedAt"])

    step(bc_state.allocate)
    assert bc_state.inventory(TEE, "NJ01") == {"onHand": 10, "allocated": 4, "picked": 0, "available": 6,
                                                   "onOrder": 0, "wip": 0, "quarantine": 0}
    step(bc_state.print_pick_ticket)
    assert (bc_state.inventory(TEE, "NJ01")["allocated"], bc_state.inventory(TEE, "NJ01")["picked"]) == (0, 4)
    step(bc_state.start_picking)
    erp_clock.advance(60)
    assert bc_api.post("/shipments", shipment(number, {TEE: 1}, "PVX-D1")).status_code == 201
    assert bc_state.order(number)["status"] == "PARTIALLY_SHIPPED"
    assert bc_state.inventory(TEE, "NJ01")["onHand"] == 9 and bc_state.inventory(TEE, "NJ01")["picked"] == 3
    step(lambda n: bc_api.post("/shipments", shipment(n, {TEE: 3}, "PVX-D2")))
    assert bc_state.inventory(TEE, "NJ01") == {"onHand": 6, "allocated": 0, "picked": 0, "available": 6,
                                               "onOrder": 0, "wip": 0, "quarantine": 0}
    step(bc_state.invoice)
    step(bc_state.close)
    history = [entry["status"] for entry in bc_api.get(f"/orders/{number}").json()["history"]]
    assert history == ["OPEN", "ALLOCATED", "PICK_TICKET_PRINTED", "PICKING", "PARTIALLY_SHIPPED", "SHIPPED",
                       "INVOICED", "CLOSED"]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # every change bumps updatedAt


def test_cancel_releases_reservations_until_shipped_then_409(bc_api: BlueCherryApi, bc_state: BlueCherryState) -> None:
    bc_state.set_stock(TEE, "NJ01", on_hand=10)
    picked = bc_api.order("SHOP-20", {TEE: 3}).json()["orderNumber"]
    bc_state.allocate(picked)
    bc_state.print_pick_ticket(picked)
    cancelled = bc_api.post(f"/orders/{picked}/cancel", {"reason": "customer changed mind"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["cancelReason"] == "customer changed mind"
    assert bc_state.inventory(TEE, "NJ01")["available"] == 10
    tickets = bc_api.get("/pickTickets", orderNumber=picked).json()["data"]
    assert [t["status"] for t in tickets] == ["CANCELLED"]
    assert bc_api.post(f"/orders/{picked}/cancel").json()["status"] == "CANCELLED"  # repeat is harmless

    shipped = bc_api.order("SHOP-21", {TEE: 2}).json()["orderNumber"]
    bc_state.ship(shipped)
    assert_bc_error(bc_api.post(f"/orders/{shipped}/cancel"), 409, "conflict", "SHIPPED", "before it has shipped")
    assert_bc_error(bc_api.post("/orders/424242/cancel"), 404, "not_found", "424242")


def test_cancelling_a_partially_shipped_order_keeps_what_shipped(bc_state: BlueCherryState) -> None:
    bc_state.set_stock(TEE, "NJ01", on_hand=10)
    number = bc_state.create_order("SHOP-22", {TEE: 5}, warehouse="NJ01")["orderNumber"]
    bc_state.allocate(number)
    bc_state.ship(number, {TEE: 2})
    order = bc_state.cancel(number)
    assert order["status"] == "SHIPPED" and order["lines"][0]["cancelled"] == 3
    assert bc_state.inventory(TEE, "NJ01") == {"onHand": 8, "allocated": 0, "picked": 0, "available": 8,
                                                   "onOrder": 0, "wip": 0, "quarantine": 0}


def test_credit_hold_blocks_shipping_until_released(bc_api: BlueCherryApi, bc_settings: BlueCherrySettings,
                                                    bc_state: BlueCherryState) -> None:
    bc_settings.credit_hold_customers = ("SHOPIFY",)
    number = bc_api.order("SHOP-30", {TEE: 1}).json()["orderNumber"]
    assert bc_state.order(number)["status"] == "ON_HOLD"
    assert_bc_error(bc_api.post("/shipments", shipment(number, {TEE: 1})), 409, "conflict", "credit hold")
    assert bc_state.release_hold(number)["status"] == "OPEN"
    assert bc_api.post("/shipments", shipment(number, {TEE: 1})).json()["pickTicket"].startswith("PT-")


def test_settings_auto_allocate_pick_ticket_and_all_or_nothing(bc_settings: BlueCherrySettings,
                                                               bc_state: BlueCherryState) -> None:
    bc_state.set_stock(TEE, "NJ01", on_hand=3)
    bc_settings.auto_allocate = True
    bc_settings.auto_pick_ticket = True
    assert bc_state.create_order("SHOP-40", {TEE: 2}, warehouse="NJ01")["status"] == "PICK_TICKET_PRINTED"
    short = bc_state.create_order("SHOP-41", {TEE: 2}, warehouse="NJ01")
    assert short["status"] == "OPEN" and short["lines"][0]["allocated"] == 1  # partial allocation is kept
    bc_settings.partial_allocation = False
    assert bc_state.create_order("SHOP-42", {TEE: 1, HOODIE: 1}, warehouse="NJ01")["lines"][0]["allocated"] == 0


def test_amend_changes_quantities_and_releases_stock(bc_api: BlueCherryApi, bc_state: BlueCherryState) -> None:
    bc_state.set_stock(TEE, "NJ01", on_hand=10)
    number = bc_state.create_order("SHOP-50", {TEE: 5}, warehouse="NJ01")["orderNumber"]
    bc_state.allocate(number)
    order = bc_state.amend_order(number, {TEE: 2, HOODIE: 1})
    assert [(line["sku"], line["qty"], line["allocated"]) for line in order["lines"]] == [(TEE, 2, 2), (HOODIE, 1, 0)]
    assert order["revision"] == 2 and order["status"] == "OPEN"
    assert bc_state.inventory(TEE, "NJ01")["available"] == 8
    bc_state.ship(number, {TEE: 2})
    with pytest.raises(ValueError, match="below"):
        bc_state.amend_order(number, {TEE: 1})
    assert_bc_error(bc_api.client.post(f"/_sim/orders/{number}/amend", json={"lines": [{"sku": "NOPE", "qty": 1}]}),
                    400, "bad_request", "unknown SKU 'NOPE'")


def test_shipments_are_idempotent_on_reference_and_checked(bc_api: BlueCherryApi, bc_state: BlueCherryState,
                                                           erp_clock: Any) -> None:
    bc_state.set_stock(TEE, "NJ01", on_hand=10)
    number = bc_api.order("SHOP-60", {TEE: 2, HOODIE: 1}).json()["orderNumber"]
    erp_clock.advance(120)
    first = bc_api.post("/shipments", shipment(number, {TEE: 2}, "PVX-77", shipDate="2025-03-01T12:01:30Z"))
    assert first.status_code == 201
    assert (first.json()["shipmentNumber"], first.json()["shipDate"]) == ("SH-000001", "2025-03-01T12:01:30Z")
    again = bc_api.post("/shipments", shipment(number, {TEE: 2}, "PVX-77"))
    assert again.status_code == 200 and again.json()["shipmentNumber"] == "SH-000001"
    assert bc_state.inventory(TEE, "NJ01")["onHand"] == 8  # stock moved once
    assert_bc_error(bc_api.post("/shipments", shipment(number, {HOODIE: 2})), 400, "bad_request",
                    f"SKU '{HOODIE}': 2 shipped but only 1 open")
    assert_bc_error(bc_api.post("/shipments", shipment(number, {"10005-NAV-M": 1})), 400, "bad_request",
                    "'10005-NAV-M' is not on order")
    assert_bc_error(bc_api.post("/shipments", shipment("999", {TEE: 1})), 404, "not_found", "999")
    assert_bc_error(bc_api.post("/shipments", shipment(number, {TEE: 1}, "PVX-77", orderNumber="100002")),
                    409, "conflict", "PVX-77")
    listed = bc_api.get("/shipments", updatedSince="2025-03-01T12:02:00Z").json()
    assert [s["reference"] for s in listed["data"]] == ["PVX-77"]
    assert listed["data"][0]["cartons"] == [{"cartonNo": "C1", "lines": [{"sku": TEE, "qty": 2}]}]
    assert bc_api.get("/shipments", updatedSince="2025-03-01T12:02:01Z").json()["total"] == 0


def test_orders_list_filters_and_rejects_unknown_status(bc_api: BlueCherryApi, bc_state: BlueCherryState,
                                                        erp_clock: Any) -> None:
    early = bc_api.order("SHOP-70", {TEE: 1}).json()["orderNumber"]
    erp_clock.advance(600)
    late = bc_api.order("SHOP-71", {HOODIE: 1}).json()["orderNumber"]
    bc_state.ship(late)
    rows = bc_api.get("/orders", updatedSince="2025-03-01T12:05:00Z").json()["data"]
    assert [r["orderNumber"] for r in rows] == [late]
    assert [r["orderNumber"] for r in bc_api.get("/orders", status="OPEN").json()["data"]] == [early]
    assert bc_api.get("/orders", status="open,shipped").json()["total"] == 2
    assert bc_api.get("/orders", customerPo="SHOP-71").json()["data"][0]["status"] == "SHIPPED"
    assert_bc_error(bc_api.get("/orders", status="DONE"), 400, "bad_request", "DONE", "PICK_TICKET_PRINTED")
    assert_bc_error(bc_api.get("/orders/31337"), 404, "not_found", "31337")


def test_inventory_rows_filters_and_adjustments(bc_api: BlueCherryApi, bc_state: BlueCherryState,
                                                erp_clock: Any) -> None:
    rows = bc_api.get("/inventory", warehouse="CA02", division="02", pageSize=500).json()
    assert rows["total"] == 8 and {r["style"] for r in rows["data"]} == {"10004"}
    assert set(rows["data"][0]) == {"sku", "style", "color", "size", "division", "warehouse", "onHand", "allocated",
                                    "picked", "available", "onOrder", "wip", "quarantine", "updatedAt"}
    erp_clock.advance(60)
    body = {"reference": "PVX-MOVE-1", "warehouse": "NJ01", "reason": "CYCLE_COUNT", "type": "DELTA",
            "lines": [{"sku": TEE, "qty": -2}]}
    before = bc_state.inventory(TEE, "NJ01")["onHand"]
    created = bc_api.post("/inventory/adjustments", body)
    assert created.status_code == 201 and created.json()["lines"][0] == {
        "sku": TEE, "qty": -2, "before": before, "after": before - 2, "change": -2}
    assert bc_api.post("/inventory/adjustments", body).status_code == 200
    assert bc_state.inventory(TEE, "NJ01")["onHand"] == before - 2
    absolute = {**body, "reference": "RECON-1", "type": "ABSOLUTE", "lines": [{"sku": TEE, "qty": 40}]}
    assert bc_api.post("/inventory/adjustments", absolute).json()["lines"][0]["change"] == 42 - before
    changed = bc_api.get("/inventory", updatedSince="2025-03-01T12:01:00Z").json()["data"]
    assert [(r["sku"], r["warehouse"], r["onHand"]) for r in changed] == [(TEE, "NJ01", 40)]
    assert_bc_error(bc_api.post("/inventory/adjustments", {**body, "reference": "X1", "reason": "WHIM"}),
                    400, "bad_request", "reason", "CYCLE_COUNT")
    assert_bc_error(bc_api.post("/inventory/adjustments", {**body, "reference": "X2",
                                                           "lines": [{"sku": "GHOST-1", "qty": 1}]}),
                    400, "bad_request", "unknown SKU 'GHOST-1'")


def test_admin_routes_drive_the_company_from_outside(bc_api: BlueCherryApi, bc_state: BlueCherryState) -> None:
    admin = bc_api.client
    seeded = admin.post("/_sim/bulk", json={
        "warehouses": [{"warehouse": "TX03", "name": "Dallas DC"}],
        "styles": [{"style": "20001", "styleName": "Reef Tee", "colors": [{"color": "AQU"}], "sizes": ["S", "M"],
                    "price": 20}],
        "stock": [{"sku": "20001-AQU-M", "warehouse": "TX03", "onHand": 7, "onOrder": 3}]})
    assert seeded.status_code == 200 and "TX03" in seeded.json()["warehouses"]
    assert admin.get("/_sim/stock", params={"sku": "20001-AQU-M", "warehouse": "TX03"}).json()["available"] == 7
    made = admin.post("/_sim/orders", json={"customerPo": "B2B-1", "division": "01", "customer": "ACME",
                                           "warehouse": "TX03", "lines": [{"sku": "20001-AQU-M", "qty": 2}]}).json()
    number = made["order"]["orderNumber"]
    assert made["created"] and admin.post(f"/_sim/orders/{number}/allocate").json()["status"] == "ALLOCATED"
    assert admin.post(f"/_sim/orders/{number}/pickTicket").json()["pickTicket"] == "PT-000001"
    shipped = admin.post(f"/_sim/orders/{number}/ship", json={"trackingNumbers": ["T1"], "carrier": "FEDEX"})
    assert shipped.json()["carrier"] == "FEDEX" and bc_state.order(number)["status"] == "SHIPPED"
    assert admin.post("/_sim/clock", json={"now": "2025-06-01T08:00:00Z"}).json()["pinned"] is True
    assert admin.post("/_sim/clock", json={"advanceSeconds": 90}).json()["now"] == "2025-06-01T08:01:30.000Z"
    assert admin.post(f"/_sim/orders/{number}/invoice").json()["invoiceDate"] == "2025-06-01T08:01:30Z"
    dump = admin.get("/_sim/dump", params={"catalogue": "false"}).json()
    assert [o["status"] for o in dump["orders"]] == ["INVOICED"] and "skus" not in dump
    assert_bc_error(admin.post(f"/_sim/orders/{number}/explode"), 404, "not_found", "explode")
    assert admin.post("/_sim/reset").json()["orders"] == 0


def test_client_reads_orders_and_posts_shipments_and_adjustments(bluecherry_sim: Any) -> None:
    state: BlueCherryState = bluecherry_sim.state
    client = BlueCherryClient(bluecherry_sim.url, DEMO_SUBSCRIPTION_KEY, rate_per_minute=6000, page_size=2)
    numbers = [state.create_order(f"WEB-{i}", {TEE: 1}, warehouse="NJ01")["orderNumber"] for i in range(3)]
    bluecherry_sim.clock.advance(60)
    state.cancel(numbers[0])
    orders = list(client.iter_orders(status="OPEN"))
    assert [o.order_number for o in orders] == numbers[1:] and orders[0].lines[0].open_qty == 1
    changed = list(client.iter_orders(updated_since=datetime(2025, 3, 1, 12, 0, 30, tzinfo=UTC)))
    assert [(o.order_number, o.status) for o in changed] == [(numbers[0], "CANCELLED")]
    found = client.get_order(numbers[1])
    assert found is not None and found.customer_po == "WEB-1"
    assert client.get_order("777777") is None
    bluecherry_sim.clock.advance(60)
    noted = client.set_order_wms_status(numbers[1], "Released to Peoplevox")
    assert (noted["wmsStatus"], noted["updatedAt"]) == ("Released to Peoplevox", "2025-03-01T12:02:00Z")
    with pytest.raises(ApiRejected, match="256"):
        client.set_order_wms_status(numbers[1], "x" * 257)

    carton = ShipmentCarton("1", ((TEE, 1),))
    sent = client.post_shipment(numbers[1], reference="PVX-9", cartons=[carton], carrier="UPS",
                                tracking_numbers=["1ZA"], ship_date=datetime(2025, 3, 1, 12, 1, tzinfo=UTC))
    repeat = client.post_shipment(numbers[1], reference="PVX-9", cartons=[carton])
    assert sent.created and not repeat.created and repeat.shipment_number == sent.shipment_number
    assert sent.quantities == {TEE: 1} and sent.tracking_numbers == ("1ZA",)
    assert [s.reference for s in client.iter_shipments()] == ["PVX-9"]
    assert [o.status for o in client.iter_orders(status="SHIPPED")] == ["SHIPPED"]

    adjustment = client.post_inventory_adjustment("PVX-ADJ-1", "NJ01", "CYCLE_COUNT", {TEE: 50}, absolute=True)
    assert adjustment.created and adjustment.changes[0][2] == 50
    rows = {(r.sku, r.warehouse): r for r in client.iter_inventory(warehouse="NJ01")}
    assert rows[(TEE, "NJ01")].on_hand == 50 and len(rows) == 59
    with pytest.raises(ApiRejected, match="unknown SKU"):
        client.post_inventory_adjustment("PVX-ADJ-2", "NJ01", "CYCLE_COUNT", {"NOPE": 1})


def test_admin_amend_with_a_line_that_is_not_an_object_is_a_400() -> None:
    from fastapi.testclient import TestClient

    from erp_wms_simulators.bluecherry import BlueCherryState, create_app
    from erp_wms_simulators.bluecherry.demo import seed_demo

    state = BlueCherryState()
    seed_demo(state)
    sku = next(s["sku"] for s in state.skus() if s["status"] == "ACTIVE")
    number = state.create_order("PO-ADMIN-1", [{"sku": sku, "qty": 1}], warehouse="NJ01")["orderNumber"]
    answer = TestClient(create_app(state)).post(f"/_sim/orders/{number}/amend", json={"lines": [3]})
    assert answer.status_code == 400
    assert answer.json() == {"error": {"code": "bad_request", "message": "line 1 must be a JSON object."}}
