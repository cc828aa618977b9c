"""Contract of the Cin7 Core simulator's webhooks: ``/webhooks`` CRUD and validation, the 5-per-type limit,
delivery to a local receiver with the subscription's credentials and headers, the documented thin payloads,
the retry schedule (1 min, then +5/+10/+15/+20/+25 min) with deactivation after the 6th failure, the
time-scale factor, and callback faults injected by the dispatcher.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
import requests

from erp_wms_simulators.cin7core.demo import DEMO_ACCOUNT_ID
from erp_wms_simulators.cin7core.events import DELIVERED_TYPES
from erp_wms_simulators.faults import FaultRule
from tests.contract.fixtures_cin7_sales import CUSTOMER, HEADERS, MAIN, Cin7Api, Receiver

TEE = "NWO-TEE-M"
CUSTOMER_FIELDS = {"CustomerName", "CustomerContactName", "CustomerContactEmail"}
STOCK_ROW_FIELDS = {"ID", "SKU", "Name", "Barcode", "Location", "Bin", "Batch", "ExpiryDate", "Category", "OnHand",
                    "Allocated", "Available", "OnOrder", "StockOnHand", "MaxRows"}


def subscribe(cin7: Cin7Api, receiver: Receiver, webhook_type: str, **extra: Any) -> dict[str, Any]:
    body = {"Type": webhook_type, "IsActive": True, "ExternalURL": receiver.url,
            "ExternalAuthorizationType": "noauth", **extra}
    hook: dict[str, Any] = cin7.ok("POST", "/webhooks", body)["Webhooks"][0]
    return hook


def deliver(cin7: Cin7Api, seconds: float = 61) -> int:
    cin7.monotonic.advance(seconds)
    return cin7.state.callbacks.pump()


# ---- subscriptions --------------------------------------------------------------------------
def test_webhooks_can_be_created_listed_changed_and_deleted(cin7: Cin7Api, receiver: Receiver) -> None:
    hook = subscribe(cin7, receiver, "sale/orderauthorised", ExternalAuthorizationType="bearerauth",
                     ExternalBearerToken="tok-123", ExternalHeaders=[{"Key": "X-Tenant", "Value": "northwind"}])
    assert (hook["Type"], hook["Name"], hook["IsActive"]) == ("Sale/OrderAuthorised", "Sale order has been authorised",
                                                              True)
    assert hook["ExternalHeaders"] == [{"Key": "X-Tenant", "Value": "northwind"}] and len(hook["ID"]) == 36
    assert cin7.ok("GET", "/webhooks") == {"Webhooks": [hook]}
    changed = cin7.ok("PUT", "/webhooks", {"ID": hook["ID"], "IsActive": False,
                                           "ExternalURL": receiver.url + "/v2"})["Webhooks"][0]
    assert (changed["IsActive"], changed["ExternalURL"], changed["ExternalBearerToken"]) == \
        (False, receiver.url + "/v2", "tok-123")
    assert cin7.ok("DELETE", "/webhooks", ID=hook["ID"]) == {"Webhooks": []}
    assert cin7.ok("GET", "/webhooks") == {"Webhooks": []}
    cin7.error("DELETE", "/webhooks", fragment="not found", ID=hook["ID"])
    cin7.error("PUT", "/webhooks", {"ID": hook["ID"], "IsActive": True}, "not found")
    cin7.error("DELETE", "/webhooks", fragment="ID")


@pytest.mark.parametrize(("change", "fragment"), [
    ({"Type": None}, "Type is not provided"),
    ({"Type": "Sale/Shipped"}, "'Sale/Shipped' is not a webhook type"),
    ({"IsActive": None}, "IsActive"),
    ({"IsActive": "yes"}, "IsActive"),
    ({"ExternalURL": None}, "ExternalURL is not provided"),
    ({"ExternalURL": "ftp://example.test/x"}, "http(s) URL"),
    ({"ExternalAuthorizationType": None}, "ExternalAuthorizationType is not provided"),
    ({"ExternalAuthorizationType": "oauth"}, "noauth, basicauth, bearerauth"),
    ({"ExternalAuthorizationType": "basicauth", "ExternalUserName": "u"}, "ExternalPassword is required"),
    ({"ExternalAuthorizationType": "bearerauth"}, "ExternalBearerToken is required"),
    ({"ExternalHeaders": [{"Key": "Bad Name", "Value": "x"}]}, "Key must be a header name"),
    ({"ExternalHeaders": [{"Key": "X-A", "Value": "a\r\nInjected: 1"}]}, "line breaks"),
    ({"ExternalHeaders": {"Key": "X-A"}}, "list"),
], ids=["no-type", "unknown-type", "no-active", "text-active", "no-url", "ftp-url", "no-auth", "bad-auth",
        "basic-no-password", "bearer-no-token", "header-name", "header-injection", "headers-object"])
def test_webhook_validation_names_the_field(cin7: Cin7Api, change: dict[str, Any], fragment: str) -> None:
    body = {"Type": "Sale/Voided", "IsActive": True, "ExternalURL": "http://127.0.0.1:9/hook",
            "ExternalAuthorizationType": "noauth", **change}
    cin7.error("POST", "/webhooks", {k: v for k, v in body.items() if v is not None}, fragment)
    assert cin7.state.webhooks == {}


def test_at_most_five_webhooks_per_type(cin7: Cin7Api, receiver: Receiver) -> None:
    hooks = [subscribe(cin7, receiver, "Sale/Voided") for _ in range(5)]
    cin7.error("POST", "/webhooks", {"Type": "Sale/Voided", "IsActive": False, "ExternalURL": receiver.url,
                                     "ExternalAuthorizationType": "noauth"}, "at most 5 webhooks of type Sale/Voided")
    other = subscribe(cin7, receiver, "Sale/Undo")
    cin7.error("PUT", "/webhooks", {"ID": other["ID"], "Type": "Sale/Voided"}, "at most 5")
    cin7.ok("PUT", "/webhooks", {"ID": hooks[0]["ID"], "IsActive": False})  # changing one of the five is fine
    cin7.settings.webhook_max_per_type = 6
    subscribe(cin7, receiver, "Sale/Voided")


# ---- delivery -------------------------------------------------------------------------------
def test_delivery_sends_credentials_headers_and_a_thin_payload(cin7: Cin7Api, receiver: Receiver) -> None:
    subscribe(cin7, receiver, "Sale/OrderAuthorised", ExternalAuthorizationType="bearerauth",
              ExternalBearerToken="tok-123", ExternalHeaders=[{"Key": "X-Tenant", "Value": "northwind"}])
    subscribe(cin7, receiver, "Sale/Voided", ExternalAuthorizationType="basicauth", ExternalUserName="cin7",
              ExternalPassword="s3cret")
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    assert deliver(cin7, 30) == 0  # the first try is about a minute after the event
    assert deliver(cin7, 31) == 1
    request, = receiver.delivered()
    assert request.body == {"SaleID": sale_id, "SaleOrderNumber": "SO-00001", "EventType": "Sale/OrderAuthorised"}
    assert request.headers["Authorization"] == "Bearer tok-123" and request.headers["X-Tenant"] == "northwind"
    assert request.headers["Content-Type"] == "application/json" and request.path == "/hooks"
    cin7.ok("DELETE", "/sale", ID=sale_id, Void="true")
    deliver(cin7)
    voided = receiver.delivered()[-1]
    assert voided.headers["Authorization"] == "Basic " + base64.b64encode(b"cin7:s3cret").decode()
    assert voided.body == {"SaleID": sale_id, "SaleOrderNumber": "SO-00001", "CustomerName": CUSTOMER,
                           "CustomerContactName": "Lee Okafor",
                           "CustomerContactEmail": "buying@summit-sports.example", "EventType": "Sale/Voided"}


def test_every_event_has_the_documented_payload(cin7: Cin7Api, receiver: Receiver) -> None:
    for webhook_type in DELIVERED_TYPES:
        subscribe(cin7, receiver, webhook_type)
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 2, "Price": 24}], CustomerReference="PO-5")
    cin7.state.ship(sale_id, tracking="1Z-1", carrier="UPS")
    cin7.ok("PUT", "/sale/fulfilment/ship", {"TaskID": sale_id, "AddTrackingNumbers": True,
                                             "Lines": [{"Box": "Box 1", "TrackingNumber": "1Z-2"}]})
    cin7.state.invoice_sale(sale_id, pay=True)
    cin7.state.credit_sale(sale_id, [{"SKU": TEE, "Quantity": 1}])
    other = cin7.new_sale([{"SKU": TEE, "Quantity": 500}])
    cin7.ok("DELETE", "/sale", ID=other)
    cin7.ok("DELETE", "/sale", ID=other, Void="true")
    deliver(cin7)
    by_type = {t: b for t, b in zip(receiver.event_types(), receiver.bodies(), strict=True)}
    assert set(by_type) == set(DELIVERED_TYPES) - {"Sale/QuoteAuthorised", "Sale/PartialPaymentReceived"}
    expected = {
        "Sale/OrderAuthorised": {"SaleID", "SaleOrderNumber", "EventType"},
        "Sale/Backordered": {"SaleID", "SaleOrderNumber", "EventType"},
        "Sale/PickAuthorised": {"SaleID", "SaleOrderNumber", "TaskID", *CUSTOMER_FIELDS, "EventType"},
        "Sale/PackAuthorised": {"SaleID", "SaleOrderNumber", "TaskID", *CUSTOMER_FIELDS, "EventType"},
        "Sale/ShipmentAuthorised": {"SaleTaskID", "TenantID", "OrderNumber", *CUSTOMER_FIELDS, "CustomerReference",
                                    "EventType"},
        "Sale/ShipmentTrackingNumberChanged": {"SaleID", "TaskID", "SaleOrderNumber", "SaleOrderDate",
                                               "CustomerContact", "CustomerEmail", "CustomerName", "TaskTypeSign",
                                               "Shipments", "EventType"},
        "Sale/InvoiceAuthorised": {"SaleTaskID", "TenantID", "OrderNumber", "InvoiceNumber", *CUSTOMER_FIELDS,
                                   "EventType"},
        "Sale/FullPaymentReceived": {"SaleID", "DocumentNumber", "DocumentType", "DocumentDate", *CUSTOMER_FIELDS,
                                     "AmountPercent", "EventType"},
        "Sale/CreditNoteAuthorised": {"SaleID", "SaleOrderNumber", "CreditNoteNumber", "TaskID", *CUSTOMER_FIELDS,
                                      "EventType"},
        "Sale/Undo": {"SaleID", "SaleOrderNumber", "CustomerContactName", "CustomerContactEmail", "EventType"},
        "Sale/Voided": {"SaleID", "SaleOrderNumber", *CUSTOMER_FIELDS, "EventType"},
    }
    for webhook_type, keys in expected.items():
        assert set(by_type[webhook_type]) == keys, webhook_type
    shipment = by_type["Sale/ShipmentAuthorised"]
    assert (shipment["SaleTaskID"], shipment["TenantID"], shipment["OrderNumber"], shipment["CustomerReference"]) == \
        (sale_id, DEMO_ACCOUNT_ID, "SO-00001", "PO-5")
    assert by_type["Sale/FullPaymentReceived"]["DocumentDate"] == "01/03/2025"
    assert by_type["Sale/ShipmentTrackingNumberChanged"]["Shipments"][0]["TrackingNumber"] == "1Z-2"
    assert by_type["Sale/InvoiceAuthorised"]["InvoiceNumber"] == "INV-00001"
    stock = [b for b in receiver.bodies() if isinstance(b, list)]
    assert stock and all(set(row) == STOCK_ROW_FIELDS for body in stock for row in body)
    assert "EventType" not in stock[0][0] and stock[0][0]["SKU"] == TEE and stock[0][0]["MaxRows"] == 1


# ---- retries and deactivation ---------------------------------------------------------------
def test_failures_follow_the_schedule_then_deactivate_the_webhook(cin7: Cin7Api, receiver: Receiver) -> None:
    hook = subscribe(cin7, receiver, "Sale/OrderAuthorised")
    receiver.statuses = [500] * 6
    created = cin7.monotonic.now
    cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    tries: list[float] = []
    for wait in (60, 300, 600, 900, 1200, 1500):
        assert deliver(cin7, wait - 1) == 0  # not yet due
        assert deliver(cin7, 1) == 1
        tries.append(cin7.monotonic.now - created)
    assert tries == [60, 360, 960, 1860, 3060, 4560]
    assert [r.status for r in receiver.requests] == [500] * 6
    assert cin7.ok("GET", "/webhooks")["Webhooks"][0]["IsActive"] is False
    assert cin7.state.callbacks.deactivated == [hook["ID"]] and len(cin7.state.callbacks.given_up) == 1
    cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    assert cin7.state.callbacks.pending == 0  # an inactive webhook gets nothing
    cin7.ok("PUT", "/webhooks", {"ID": hook["ID"], "IsActive": True})  # a watchdog re-enables it
    cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    assert deliver(cin7) == 1 and receiver.bodies()[-1]["SaleOrderNumber"] == "SO-00003"


def test_a_failed_try_is_retried_until_delivered(cin7: Cin7Api, receiver: Receiver) -> None:
    subscribe(cin7, receiver, "Sale/OrderAuthorised")
    receiver.statuses = [503, 404]
    cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    assert [deliver(cin7, wait) for wait in (60, 300, 600)] == [1, 1, 1]
    assert [r.status for r in receiver.requests] == [503, 404, 200]
    assert len(cin7.state.callbacks.delivered) == 1 and cin7.state.callbacks.pending == 0


def test_the_time_scale_compresses_the_schedule(cin7: Cin7Api, receiver: Receiver) -> None:
    callbacks = cin7.state.callbacks
    callbacks.clock = time.monotonic
    callbacks.time_scale = 6000.0  # 60 s -> 10 ms, 300 s -> 50 ms
    subscribe(cin7, receiver, "Sale/OrderAuthorised")
    receiver.statuses = [500]
    cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    callbacks.start(interval=0.01)
    deadline = time.monotonic() + 5
    while not receiver.delivered() and time.monotonic() < deadline:
        time.sleep(0.01)
    callbacks.stop()
    assert [r.status for r in receiver.requests] == [500, 200]


def test_callback_faults_come_from_the_dispatcher(cin7: Cin7Api, receiver: Receiver) -> None:
    for webhook_type in ("Sale/OrderAuthorised", "Sale/PickAuthorised"):
        subscribe(cin7, receiver, webhook_type)
    cin7.state.faults.add_rule(FaultRule("duplicate_callback", endpoint="Sale/OrderAuthorised"))
    cin7.state.faults.add_rule(FaultRule("drop_callback", endpoint="Sale/PickAuthorised"))
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    cin7.ok("POST", "/sale/fulfilment/pick", {"TaskID": sale_id, "Status": "AUTHORISED", "AutoPickMode": "AUTOPICK"})
    deliver(cin7)
    assert receiver.event_types() == ["Sale/OrderAuthorised", "Sale/OrderAuthorised"]
    assert [d.event_type for d in cin7.state.callbacks.dropped] == ["Sale/PickAuthorised"]


def test_deleting_a_webhook_cancels_its_queued_callbacks(cin7: Cin7Api, receiver: Receiver) -> None:
    hook = subscribe(cin7, receiver, "Sale/OrderAuthorised")
    subscribe(cin7, receiver, "Sale/OrderAuthorised", IsActive=False)
    cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    assert cin7.state.callbacks.pending == 1
    cin7.ok("DELETE", "/webhooks", ID=hook["ID"])
    assert cin7.state.callbacks.pending == 0 and deliver(cin7) == 0 and receiver.requests == []


def test_over_a_real_server(cin7_sim: Any, receiver: Receiver) -> None:
    hook = {"Type": "Sale/OrderAuthorised", "IsActive": True, "ExternalURL": receiver.url,
            "ExternalAuthorizationType": "noauth"}
    with requests.Session() as session:
        assert session.post(cin7_sim.url + "/Webhooks", json=hook, headers=HEADERS, timeout=5).status_code == 200
        sale = session.post(cin7_sim.url + "/Sale", json={"Customer": CUSTOMER, "Location": MAIN, "SkipQuote": True},
                            headers=HEADERS, timeout=5).json()
        order = session.post(cin7_sim.url + "/Sale/Order", headers=HEADERS, timeout=5, json={
            "SaleID": sale["ID"], "Status": "AUTHORISED", "Lines": [{"SKU": TEE, "Quantity": 1}]})
        assert order.status_code == 200
    assert cin7_sim.state.callbacks.pump(force=True) == 1
    assert receiver.bodies() == [{"SaleID": sale["ID"], "SaleOrderNumber": "SO-00001",
                                  "EventType": "Sale/OrderAuthorised"}]
