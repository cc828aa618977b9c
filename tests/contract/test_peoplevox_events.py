"""Event subscriptions end to end: SubscribeEvent (GET with {Placeholders}), SubscribePostEvent (form POST),
filters, UnsubscribeEvent, every event type the warehouse publishes, and the client's subscription methods.
Callbacks are delivered to a local HTTP receiver."""

from __future__ import annotations

from typing import Any

import pytest

from erp_wms_simulators.peoplevox.events import PLACEHOLDERS
from erp_wms_simulators.peoplevox.wsdl import EVENT_TYPES
from erp_wms_sync.connectors.peoplevox import PeoplevoxClient
from erp_wms_sync.connectors.transport import RetryPolicy
from erp_wms_sync.errors import ApiRejected
from tests.contract.conftest_peoplevox import (
    PVX_CLIENT,
    PVX_PASSWORD,
    PVX_USER,
    Pvx,
    envelope,
    raw_post,
    result_of,
)
from tests.contract.fixtures_peoplevox_warehouse import CallbackReceiver, PvxWorld

SALT = {"ItemCode": "SALT-MILL", "Name": "Salt & pepper mill"}


def subscribe(pvx: Pvx, event: str, url: str, *, filter: str = "", encode: bool = True) -> Any:
    return pvx.call("SubscribeEvent", eventType=event, filter=filter, callbackUrl=url, encodeParameterData=encode)


def subscribe_post(pvx: Pvx, event: str, url: str, params: str, *, filter: str = "", encode: bool = True) -> Any:
    return pvx.call("SubscribePostEvent", eventType=event, filter=filter, postUrl=url, postParams=params,
                    encodeParameterData=encode)


def despatched_order(world: PvxWorld, number: str = "SO-1", tracking: str = "TRK-1") -> None:
    world.warehouse.goods_in("MUG-BLUE", 2, "MAIN")
    world.order(number, {"MUG-BLUE": 2})
    for step in ("allocate", "start_picking", "pick"):
        getattr(world.warehouse, step)(number)
    world.warehouse.despatch(number, carrier="Royal Mail", tracking=tracking)


def test_get_callback_substitutes_encoded_placeholders(pvx: Pvx, pvx_world: PvxWorld,
                                                       callback_receiver: CallbackReceiver) -> None:
    pvx_world.sim.state.seed(PVX_CLIENT, "Item types", [SALT])
    url = callback_receiver.url + "/avail?sku={ItemCode}&qty={Available}&name={ItemType.Name}&token=abc"
    assert subscribe(pvx, "AvailabilityChanges", url).Detail == "1000"
    pvx_world.warehouse.goods_in("SALT-MILL", 5, "MAIN")
    pvx_world.deliver()
    (call,) = callback_receiver.wait_for(1)
    assert (call.method, call.path) == ("GET", "/avail")
    assert call.query == {"sku": ["SALT-MILL"], "qty": ["5"], "name": ["Salt & pepper mill"], "token": ["abc"]}


def test_without_encoding_values_go_into_the_url_verbatim(pvx: Pvx, pvx_world: PvxWorld,
                                                          callback_receiver: CallbackReceiver) -> None:
    pvx_world.sim.state.seed(PVX_CLIENT, "Item types", [SALT])
    subscribe(pvx, "AvailabilityChanges", callback_receiver.url + "/raw?name={ItemType.Name}&qty={Available}",
              encode=False)
    pvx_world.warehouse.goods_in("SALT-MILL", 3, "MAIN")
    pvx_world.deliver()
    (call,) = callback_receiver.wait_for(1)
    assert call.query["name"] == ["Salt "]  # the '&' in the value split the query string
    assert call.query["qty"] == ["3"]


@pytest.mark.parametrize(("encode", "expected"), [
    (True, {"item": ["SALT-MILL"], "name": ["Salt & pepper mill"], "available": ["4"]}),
    (False, {"item": ["SALT-MILL"], "name": ["Salt "], " pepper mill": [""], "available": ["4"]}),
], ids=["encoded", "verbatim"])
def test_post_callback_sends_form_fields(pvx: Pvx, pvx_world: PvxWorld, callback_receiver: CallbackReceiver,
                                         encode: bool, expected: dict[str, list[str]]) -> None:
    pvx_world.sim.state.seed(PVX_CLIENT, "Item types", [SALT])
    # '&amp;' as some clients send it (the XML escape written into the string itself)
    params = "item={ItemCode}&amp;name={ItemType.Name}&available={Available}"
    assert subscribe_post(pvx, "AvailabilityChanges", callback_receiver.url + "/post", params,
                          encode=encode).ResponseId == 0
    pvx_world.warehouse.goods_in("SALT-MILL", 4, "MAIN")
    pvx_world.deliver()
    (call,) = callback_receiver.wait_for(1)
    assert (call.method, call.path) == ("POST", "/post")
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert call.form == expected


def test_filter_selects_the_events_delivered(pvx: Pvx, pvx_world: PvxWorld,
                                             callback_receiver: CallbackReceiver) -> None:
    subscribe(pvx, "AvailabilityChanges", callback_receiver.url + "/mugs?sku={ItemCode}",
              filter='ItemCode.StartsWith("MUG") AND Available > 1')
    subscribe(pvx, "SalesOrderStatusChanges", callback_receiver.url + "/done?so={SalesOrderNumber}",
              filter='SalesOrderStatus.Name.Equals("Despatched")')
    pvx_world.warehouse.goods_in("CAP-GREY", 5, "MAIN")
    pvx_world.warehouse.goods_in("MUG-BLUE", 1, "MAIN")
    despatched_order(pvx_world)  # MUG-BLUE goes to 3 then back down to 1
    pvx_world.deliver()
    calls = callback_receiver.wait_for(2)
    assert [(c.path, c.query) for c in calls] == [("/mugs", {"sku": ["MUG-BLUE"]}), ("/done", {"so": ["SO-1"]})]
    assert len(callback_receiver.requests) == 2


@pytest.mark.parametrize(("kwargs", "detail"), [
    ({"event": "AvailabilityChanges", "url": "http://127.0.0.1:9/x?n={ItemName}"},
     "Unknown placeholder {ItemName} for event AvailabilityChanges. Placeholders: {ItemCode}, {Available}, "
     "{OnHand}, {Allocated}, {Site.Reference}, {ItemType.Name}, {ItemType.ItemCode}"),
    ({"event": "Returns", "url": "http://127.0.0.1:9/x", "filter": 'ReturnCode.Equals("A"'},
     "Invalid filter: Search clause error at character 22: expected ')' but found end of clause"),
    ({"event": "Returns", "url": "http://127.0.0.1:9/x", "filter": "Colour == 1"},
     "Invalid filter: Search clause error at character 1: unknown field 'Colour'"),
], ids=["unknown-placeholder", "unparsable-filter", "unknown-filter-field"])
def test_bad_subscriptions_are_refused(pvx: Pvx, pvx_world: PvxWorld, kwargs: dict[str, str], detail: str) -> None:
    result = subscribe(pvx, kwargs["event"], kwargs["url"], filter=kwargs.get("filter", ""))
    assert (result.ResponseId, result.Detail) == (-1, detail)
    assert pvx_world.sim.state.subscriptions(PVX_CLIENT) == []


def test_lenient_placeholders_are_a_setting(pvx: Pvx, pvx_world: PvxWorld,
                                            callback_receiver: CallbackReceiver) -> None:
    pvx_world.sim.settings.strict_placeholders = False
    subscribe(pvx, "AvailabilityChanges", callback_receiver.url + "/x?sku={ItemCode}&n={ItemName}")
    pvx_world.warehouse.goods_in("CAP-GREY", 1, "MAIN")
    pvx_world.deliver()
    assert callback_receiver.wait_for(1)[0].query == {"sku": ["CAP-GREY"], "n": [""]}


def test_unsubscribe_stops_queued_callbacks(pvx: Pvx, pvx_world: PvxWorld,
                                            callback_receiver: CallbackReceiver) -> None:
    keep = int(subscribe(pvx, "IncrementalChanges", callback_receiver.url + "/keep?q={QuantityChanged}").Detail)
    drop = int(subscribe(pvx, "IncrementalChanges", callback_receiver.url + "/drop?q={QuantityChanged}").Detail)
    pvx_world.warehouse.adjust("CAP-GREY", "MAIN", 3, reason="Found")
    assert pvx_world.sim.state.callbacks.pending == 2
    assert pvx.call("UnsubscribeEvent", subscriptionId=drop).Detail == "True"
    pvx_world.deliver()
    assert [c.path for c in callback_receiver.wait_for(1)] == ["/keep"]
    assert len(callback_receiver.requests) == 1 and keep == drop - 1


def test_order_status_and_tracking_callbacks(pvx: Pvx, pvx_world: PvxWorld,
                                             callback_receiver: CallbackReceiver) -> None:
    subscribe(pvx, "SalesOrderStatusChanges",
              callback_receiver.url + "/s?so={SalesOrderNumber}&st={SalesOrderStatu.Name}&id={SalesOrderStatus.Id}"
              "&at={LastModificationTime}", filter='SalesOrderStatus.Name.Equals("Despatched")')
    subscribe_post(pvx, "TrackingNumberReceived", callback_receiver.url + "/t",
                   "d={DespatchNumber}&t={TrackingNumber}&c={Carrier.Number}&svc={ServiceType.Code}"
                   "&so={Picks.SalesOrder.SalesOrderNumber}&e={Picks.SalesOrder.Email}")
    pvx_world.clock.advance(hours=3)
    despatched_order(pvx_world)
    pvx_world.deliver()
    tracking, status = sorted(callback_receiver.wait_for(2), key=lambda c: c.path, reverse=True)
    assert tracking.form == {"d": ["DES1000001"], "t": ["TRK-1"], "c": ["Royal Mail"], "svc": ["NEXTDAY"],
                             "so": ["SO-1"], "e": ["jane@example.com"]}
    assert status.query == {"so": ["SO-1"], "st": ["Despatched"], "id": ["5"], "at": ["2024-05-01T12:00:00"]}


def test_goods_received_joins_collections(pvx: Pvx, pvx_world: PvxWorld, callback_receiver: CallbackReceiver) -> None:
    subscribe(pvx, "GoodsReceived", callback_receiver.url + "/gi?id={GoodsInId}&ref={Reference}"
              "&q={Consignments.ConsignmentItemTypes.Quantity}&c={Consignments.ConsignmentItemTypes.ItemType.ItemCode}"
              "&when={ReconciledDateTime}")
    pvx_world.warehouse.receive_delivery({"MUG-BLUE": 5, "CAP-GREY": 3}, "EAST", "PO-7", reference="ASN-7")
    pvx_world.deliver()
    (call,) = callback_receiver.wait_for(1)
    assert call.query == {"id": ["1"], "ref": ["ASN-7"], "q": ["5,3"], "c": ["MUG-BLUE,CAP-GREY"],
                          "when": ["2024-05-01T09:00:00"]}


def test_every_event_type_is_published_with_its_placeholders(pvx: Pvx, pvx_world: PvxWorld) -> None:
    world = pvx_world
    pvx.save("Sales orders", "SalesOrderNumber,ServiceType,ChannelName\nSO-9,STD,Web")
    pvx.save("Sales order items", "SalesOrderNumber,ItemCode,QuantityOrdered\nSO-9,MUG-BLUE,1")
    world.warehouse.goods_in("MUG-BLUE", 1, "MAIN")
    for step in ("allocate", "start_picking", "pick", "despatch"):
        getattr(world.warehouse, step)("SO-9")
    world.warehouse.receive_return("SO-9", {"MUG-BLUE": 1}, "sellable", "RC-9", reason="Unwanted")
    published = {event.event_type: event.values for event in world.warehouse.events()}
    assert set(published) == set(PLACEHOLDERS) == set(EVENT_TYPES)  # all nine types of the WSDL enum
    for event_type, values in published.items():
        assert list(values) == list(PLACEHOLDERS[event_type])
    assert published["OnDespatchOrderReceived"]["SalesOrderStatus.Name"] == "New"
    assert published["Returns"] == {**published["Returns"], "ReturnCode": "RC-9", "Quantity": "1",
                                    "Reason": "Unwanted", "Condition": "Sellable", "ItemCode": "MUG-BLUE"}
    assert published["DespatchPackageDespatched"]["PackageNumber"] == "PKG0000001"
    assert published["IncrementalChanges"]["QuantityChanged"] == "1"  # the return came back in


def client(world: PvxWorld) -> PeoplevoxClient:
    return PeoplevoxClient(world.sim.base_url, PVX_CLIENT, PVX_USER, PVX_PASSWORD,
                           retry=RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.002))


def test_client_subscription_methods(pvx_world: PvxWorld, callback_receiver: CallbackReceiver) -> None:
    pvx_client = client(pvx_world)
    get_id = pvx_client.subscribe_event("Returns", callback_receiver.url + "/r?code={ReturnCode}&sku={ItemCode}",
                                        filter='Condition.Equals("Damaged")')
    post_id = pvx_client.subscribe_post_event("DespatchPackageDespatched", callback_receiver.url + "/p",
                                              "pkg={PackageNumber}&so={SalesOrderNumber}")
    assert (get_id, post_id) == (1000, 1001)
    despatched_order(pvx_world, "SO-5")
    pvx_world.warehouse.receive_return("SO-5", {"MUG-BLUE": 1}, "sellable", "RC-A")
    pvx_world.warehouse.receive_return("SO-5", {"MUG-BLUE": 1}, "damaged", "RC-B")
    pvx_world.deliver()
    calls = callback_receiver.wait_for(2)
    assert [(c.path, c.query or c.form) for c in calls] == [
        ("/p", {"pkg": ["PKG0000001"], "so": ["SO-5"]}), ("/r", {"code": ["RC-B"], "sku": ["MUG-BLUE"]})]
    assert pvx_client.unsubscribe_event(get_id) is True
    assert pvx_client.unsubscribe_event(get_id) is False
    with pytest.raises(ApiRejected, match="Unknown event type 'Sneezes'"):
        pvx_client.subscribe_event("Sneezes", callback_receiver.url)


def test_raw_soap_post_subscription_with_xml_escaped_ampersands(pvx: Pvx, pvx_world: PvxWorld,
                                                                callback_receiver: CallbackReceiver) -> None:
    header = (f'<UserSessionCredentials xmlns="http://www.peoplevox.net/"><UserId>0</UserId>'
              f"<ClientId>{PVX_CLIENT}</ClientId><SessionId>{pvx.session_id}</SessionId></UserSessionCredentials>")
    body = ('<SubscribePostEvent xmlns="http://www.peoplevox.net/"><eventType>IncrementalChanges</eventType>'
            f"<filter>Reason.Equals(&quot;Found&quot;)</filter><postUrl>{callback_receiver.url}/raw</postUrl>"
            "<postParams>sku={ItemType.ItemCode}&amp;q={QuantityChanged}&amp;id={HistoryId}</postParams>"
            "</SubscribePostEvent>")
    response = raw_post(pvx_world.sim.service_url(), envelope(body, header), "SubscribePostEvent")
    assert result_of(response, "SubscribePostEvent")["Detail"] == "1000"
    pvx_world.warehouse.adjust("CAP-GREY", "MAIN", 2, reason="Found")
    pvx_world.warehouse.adjust("CAP-GREY", "MAIN", -1, reason="Damaged in store")
    pvx_world.deliver()
    (call,) = callback_receiver.wait_for(1)
    assert call.form == {"sku": ["CAP-GREY"], "q": ["2"], "id": ["1"]}
    assert len(callback_receiver.requests) == 1
