"""Confirming Peoplevox despatches in Cin7 Core through the client, against the simulator on a local server:
a whole order in three calls (AUTOPICK), a partial despatch then a second one on a new fulfilment task,
tracking added after the shipment, Cin7's refusal of a voided sale, the webhook round trip with its
credentials kept out of errors, and hostile answers refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from erp_wms_simulators.cin7core.demo import CUSTOMERS, DEMO_ACCOUNT_ID, DEMO_APPLICATION_KEY, MAIN_WAREHOUSE
from erp_wms_sync.connectors.cin7core import Cin7CoreClient
from erp_wms_sync.domain import cin7_fulfilment as c7
from erp_wms_sync.errors import ApiRejected, ApiResponseInvalid
from tests.contract.fixtures_erp import CIN7_HEADERS, ErpSim

TEE = "NWO-TEE-M"
BOOT = "NWO-BOOT-9"
SHIPPED_AT = datetime(2025, 3, 1, 14, 30, tzinfo=UTC)
SECRET_PASSWORD = "hook-pass-8c1f0e77"


def client_for(sim: ErpSim) -> Cin7CoreClient:
    return Cin7CoreClient(sim.url, DEMO_ACCOUNT_ID, DEMO_APPLICATION_KEY, rate_per_minute=6000)


def api(sim: ErpSim, method: str, path: str, body: Any = None, **params: Any) -> Any:
    """A direct call to the simulator (setting up sales the way an ERP user would)."""
    response = requests.request(method, f"{sim.url}/{path}", headers=CIN7_HEADERS, json=body, params=params or None,
                                timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def authorised_sale(sim: ErpSim, lines: dict[str, float]) -> str:
    """A sale at the main warehouse with its order authorised (stock is the demo's opening stock)."""
    sale = api(sim, "POST", "sale", {"Customer": CUSTOMERS[0][0], "Location": MAIN_WAREHOUSE, "SkipQuote": True})
    api(sim, "POST", "sale/order", {"SaleID": sale["ID"], "Status": "AUTHORISED",
                                    "Lines": [{"SKU": sku, "Quantity": qty} for sku, qty in lines.items()]})
    return str(sale["ID"])


def despatch(client: Cin7CoreClient, task: str, lines: dict[str, float], box: str, tracking: list[str], *,
             autopick: bool = False) -> None:
    """Pick, pack and ship one despatch on ``task`` and check each answer as the dispatch flow does."""
    answer = client.write_fulfilment_stage("pick", c7.pick_body(task, lines, MAIN_WAREHOUSE, autopick=autopick))
    assert c7.check_stage("pick", answer, task, lines) is None, answer
    answer = client.write_fulfilment_stage("pack", c7.pack_body(task, lines, MAIN_WAREHOUSE, box))
    assert c7.check_stage("pack", answer, task, lines, box=box) is None, answer
    answer = client.write_fulfilment_stage("ship", c7.ship_body(task, box, "DHL Express", tracking, SHIPPED_AT))
    assert c7.check_stage("ship", answer, task, None, box=box, tracking=tracking) is None, answer


def test_a_whole_order_is_confirmed_in_three_calls_with_autopick(cin7_sim: ErpSim) -> None:
    sale_id = authorised_sale(cin7_sim, {TEE: 3, BOOT: 1})
    client = client_for(cin7_sim)
    [task] = c7.task_ids(client.fulfilment_tasks(sale_id))
    client_calls, served = client.transport.calls, cin7_sim.state.calls

    despatch(client, task, {TEE: 3, BOOT: 1}, "DSP-1001", ["1Z999", "1Z998"], autopick=True)

    assert (client.transport.calls - client_calls, cin7_sim.state.calls - served) == (3, 3)
    sale = client.get_sale(sale_id)
    assert sale is not None
    assert sale["CombinedShippingStatus"] == "SHIPPED"
    assert set(c7.split_tracking(sale["CombinedTrackingNumbers"])) == {"1Z999", "1Z998"}
    tasks = client.fulfilment_tasks(sale_id)
    assert [c7.stage_status(tasks, task, stage) for stage in c7.STAGES] == ["AUTHORISED"] * 3
    assert c7.box_shipped(tasks, task, "DSP-1001") and not c7.box_shipped(tasks, task, "DSP-1002")
    ship = tasks[0]["Ship"]["Lines"][0]
    assert (ship["Carrier"], ship["ShipmentDate"][:19]) == ("DHL Express", "2025-03-01T14:30:00")


def test_a_partial_despatch_then_a_second_one_on_a_new_task(cin7_sim: ErpSim) -> None:
    sale_id = authorised_sale(cin7_sim, {TEE: 5, BOOT: 2})
    client = client_for(cin7_sim)
    [first] = c7.task_ids(client.fulfilment_tasks(sale_id))
    despatch(client, first, {TEE: 2}, "DSP-A", ["TRK-A"])
    sale = client.get_sale(sale_id)
    assert sale is not None and sale["CombinedShippingStatus"] == "PARTIALLY SHIPPED"

    client_calls = client.transport.calls
    tasks = client.add_fulfilment_task(sale_id)
    second = c7.new_task_id([first], tasks)
    assert second.casefold() != first.casefold() and c7.stage_status(tasks, second, "pick") == "NOT AVAILABLE"
    despatch(client, second, {TEE: 3, BOOT: 2}, "DSP-B", ["TRK-B"])
    assert client.transport.calls - client_calls == 4

    sale = client.get_sale(sale_id)
    assert sale is not None and sale["CombinedShippingStatus"] == "SHIPPED"
    assert set(c7.split_tracking(sale["CombinedTrackingNumbers"])) == {"TRK-A", "TRK-B"}
    tasks = client.fulfilment_tasks(sale_id)
    assert c7.box_shipped(tasks, first, "DSP-A") and c7.box_shipped(tasks, second, "DSP-B")
    assert not c7.box_shipped(tasks, first, "DSP-B")


def test_tracking_learned_after_the_shipment_is_added(cin7_sim: ErpSim) -> None:
    sale_id = authorised_sale(cin7_sim, {TEE: 1})
    client = client_for(cin7_sim)
    [task] = c7.task_ids(client.fulfilment_tasks(sale_id))
    despatch(client, task, {TEE: 1}, "DSP-7", [], autopick=True)
    before = client.get_sale(sale_id)
    assert before is not None and before["CombinedTrackingNumbers"] == ""

    answer = client.write_fulfilment_stage("ship", c7.tracking_body(task, "DSP-7", "", ["TRK-LATE", "TRK-LATE-2"]),
                                           method="PUT")

    assert c7.check_stage("ship", answer, task, None, box="DSP-7", tracking=["TRK-LATE", "TRK-LATE-2"]) is None
    after = client.get_sale(sale_id)
    assert after is not None
    assert set(c7.split_tracking(after["CombinedTrackingNumbers"])) == {"TRK-LATE", "TRK-LATE-2"}
    assert after["Fulfilments"][0]["Ship"]["Lines"][0]["Carrier"] == "DHL Express"  # a blank carrier changes nothing


def test_a_pick_on_a_voided_sale_is_refused_with_cin7s_message(cin7_sim: ErpSim) -> None:
    sale_id = authorised_sale(cin7_sim, {TEE: 1})
    client = client_for(cin7_sim)
    [task] = c7.task_ids(client.fulfilment_tasks(sale_id))
    api(cin7_sim, "DELETE", "sale", ID=sale_id, Void="true")

    with pytest.raises(ApiRejected, match="The sale is voided") as caught:
        client.write_fulfilment_stage("pick", c7.pick_body(task, {TEE: 1}, MAIN_WAREHOUSE, autopick=False))

    assert caught.value.status == 400 and DEMO_APPLICATION_KEY not in str(caught.value)


def test_webhooks_round_trip(cin7_sim: ErpSim) -> None:
    client = client_for(cin7_sim)
    created = client.create_webhook({
        "Type": "Sale/ShipmentTrackingNumberChanged", "IsActive": True, "ExternalURL": "http://127.0.0.1:9/hooks",
        "ExternalAuthorizationType": "basicauth", "ExternalUserName": "cin7", "ExternalPassword": SECRET_PASSWORD})
    assert created["ID"] and created["Type"] == "Sale/ShipmentTrackingNumberChanged" and created["IsActive"] is True
    assert [hook["ID"] for hook in client.list_webhooks()] == [created["ID"]]

    changed = client.update_webhook({"ID": created["ID"], "IsActive": False})
    assert changed["IsActive"] is False and changed["ExternalURL"] == "http://127.0.0.1:9/hooks"
    assert [hook["IsActive"] for hook in client.list_webhooks()] == [False]

    client.delete_webhook(created["ID"])
    assert client.list_webhooks() == []
    with pytest.raises(ApiRejected, match="not found"):
        client.update_webhook({"ID": created["ID"], "IsActive": True})


def test_a_webhook_password_never_reaches_an_error_message(cin7_sim: ErpSim, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that echoes the request in its refusal must not put the subscription's password in the error."""
    client = client_for(cin7_sim)
    answer(monkeypatch, client, lambda body: (400, [{"ErrorCode": 400, "Exception": f"bad request {body}"}]))
    with pytest.raises(ApiRejected) as caught:
        client.create_webhook({"Type": "Sale/Voided", "IsActive": True, "ExternalURL": "http://127.0.0.1:9/h",
                               "ExternalAuthorizationType": "bearerauth", "ExternalBearerToken": SECRET_PASSWORD})
    assert "bad request" in str(caught.value) and SECRET_PASSWORD not in str(caught.value)


# ---- hostile answers --------------------------------------------------------------------------
def answer(monkeypatch: pytest.MonkeyPatch, client: Cin7CoreClient,
           reply: Callable[[Any], tuple[int, Any]]) -> None:
    """Make the client's HTTP session answer ``reply(request JSON body)`` instead of calling the server."""
    def request(method: str, url: str, **kwargs: Any) -> requests.Response:
        status, body = reply(kwargs.get("json"))
        response = requests.Response()
        response.status_code, response.url = status, url
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        return response

    monkeypatch.setattr(client.transport.session, "request", request)


OTHER = "0c8f6a52-0000-4000-8000-0000000000ff"


@pytest.mark.parametrize(("reply", "fragment"), [
    ({"TaskID": OTHER, "Status": "AUTHORISED", "Lines": []}, f"the answer is TaskID '{OTHER}', not the"),
    ({"Status": "AUTHORISED", "Lines": []}, "the answer has no 'TaskID'"),
    (["AUTHORISED"], "expected a JSON object, got list"),
    ({"TaskID": "TASK-1", "Lines": []}, "'Status' is missing"),
    ({"TaskID": "TASK-1", "Status": "AUTHORISED", "Lines": "all of them"}, "'Lines' is not a list"),
], ids=["another-task", "no-task", "not-an-object", "no-status", "lines-not-a-list"])
def test_a_stage_answer_that_is_not_our_stage_is_refused(cin7_sim: ErpSim, monkeypatch: pytest.MonkeyPatch,
                                                         reply: Any, fragment: str) -> None:
    client = client_for(cin7_sim)
    answer(monkeypatch, client, lambda _body: (200, reply))
    with pytest.raises(ApiResponseInvalid, match="^cin7core: ") as caught:
        client.write_fulfilment_stage("pack", c7.pack_body("TASK-1", {TEE: 1}, MAIN_WAREHOUSE, "DSP-1"))
    assert "POST sale/fulfilment/pack" in str(caught.value) and fragment in str(caught.value)


@pytest.mark.parametrize(("reply", "fragment"), [
    ({"SaleID": OTHER, "Fulfilments": []}, f"the answer is SaleID '{OTHER}'"),
    ({"SaleID": "SALE-1"}, "'Fulfilments' is missing or not a list"),
    ({"SaleID": "SALE-1", "Fulfilments": [{"FulfillmentNumber": 1}]}, "task 1: 'TaskID' is missing"),
    ({"SaleID": "SALE-1", "Fulfilments": [{"TaskID": "T"}, {"TaskID": "t"}]}, "is listed twice"),
    ({"SaleID": "SALE-1", "Fulfilments": [{"TaskID": "T", "Ship": {"Lines": []}}]}, "Ship: 'Status' is missing"),
], ids=["another-sale", "no-list", "task-without-id", "task-twice", "stage-without-status"])
def test_a_fulfilment_listing_that_is_not_our_sales_is_refused(cin7_sim: ErpSim, monkeypatch: pytest.MonkeyPatch,
                                                               reply: Any, fragment: str) -> None:
    client = client_for(cin7_sim)
    answer(monkeypatch, client, lambda _body: (200, reply))
    with pytest.raises(ApiResponseInvalid, match="GET sale/fulfilment for sale SALE-1") as caught:
        client.fulfilment_tasks("SALE-1")
    assert fragment in str(caught.value)


@pytest.mark.parametrize(("reply", "fragment"), [
    ({"Webhooks": "none"}, "'Webhooks' is missing or not a list"),
    ({"Webhooks": [{"Type": "Sale/Voided"}]}, "webhook 1: 'ID' is missing"),
    ({"Webhooks": [{"ID": OTHER, "Type": "Sale/Voided", "ExternalPassword": SECRET_PASSWORD}]},
     f"the answer is ID '{OTHER}', not the 'HOOK-1' asked for"),
    ({"Webhooks": []}, "lists 0 webhooks, not the one written"),
], ids=["not-a-list", "no-id", "another-webhook", "none"])
def test_a_webhook_answer_that_is_not_our_webhook_is_refused(cin7_sim: ErpSim, monkeypatch: pytest.MonkeyPatch,
                                                             reply: Any, fragment: str) -> None:
    client = client_for(cin7_sim)
    answer(monkeypatch, client, lambda _body: (200, reply))
    with pytest.raises(ApiResponseInvalid, match="PUT webhooks HOOK-1") as caught:
        client.update_webhook({"ID": "HOOK-1", "IsActive": True})
    assert fragment in str(caught.value) and SECRET_PASSWORD not in str(caught.value)
