"""Callback subscriptions against the simulators: the Peoplevox simulator calls the URLs a sync registered when a
package leaves the warehouse, when stock moves and when goods come back (a local HTTP recorder plays the receiver,
and every stock and returns callback is one the receiver accepts; ``AvailabilityChanges`` is not subscribed, so
none comes), a Cin7 Core webhook deactivated after six failed deliveries is made active again by the next sync,
and ``erp-wms-sync subscriptions`` works from ``AIRFLOW_CONN_*`` connections alone."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from erp_wms_simulators.cin7core.events import DELIVERED_TYPES
from erp_wms_sync import cli
from erp_wms_sync.config import load_integration
from erp_wms_sync.connectors.cin7core import Cin7CoreClient
from erp_wms_sync.connectors.peoplevox import PeoplevoxClient
from erp_wms_sync.connectors.transport import RetryPolicy
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.webhooks import (
    AVAILABILITY_CHANGES,
    CIN7_ORDER_AUTHORISED,
    INCREMENTAL_CHANGES,
    PACKAGE_DESPATCHED,
    PACKAGE_TRACKING_RECEIVED,
    PEOPLEVOX_SUBSCRIBED_EVENTS,
    RETURNS,
)
from erp_wms_sync.webhooks.inbox import peoplevox_callback
from erp_wms_sync.webhooks.subscriptions import SyncReport, stored_subscriptions, sync_subscriptions
from tests.contract.conftest_peoplevox import PVX_CLIENT, PVX_PASSWORD, PVX_USER, PeoplevoxSim
from tests.contract.fixtures_cin7_sales import CUSTOMER, MAIN, FakeMonotonic, Receiver
from tests.contract.fixtures_erp import CIN7_HEADERS, ErpSim
from tests.contract.fixtures_peoplevox_warehouse import CallbackReceiver, PvxWorld, Received

INTEGRATIONS = Path(__file__).resolve().parents[2] / "include" / "integrations"
NORTHWIND = load_integration(INTEGRATIONS / "northwind.yaml")
BLUEBIRD = load_integration(INTEGRATIONS / "bluebird.yaml")
SECRET = "contract-Secret_0123456789abcdef"
NEW_SECRET = "rotated-Secret_fedcba9876543210"
FAST = RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.002)
TEE = "NWO-TEE-M"
N_PVX = len(PEOPLEVOX_SUBSCRIBED_EVENTS)


def peoplevox(sim: PeoplevoxSim) -> PeoplevoxClient:
    return PeoplevoxClient(sim.base_url, PVX_CLIENT, PVX_USER, PVX_PASSWORD, retry=FAST)


def sync(ledger_url: str, integration: Any, wms: Any, erp: Any, base_url: str, secret: str = SECRET,
         login: str | None = None, force: bool = False) -> SyncReport:
    with session_scope(ledger_url) as session:
        return sync_subscriptions(integration, session=session, wms=wms, erp=erp, base_url=base_url, secret=secret,
                                  login=login, force=force)


def actions(report: SyncReport) -> list[str]:
    return [change.action for change in report.changes]


def despatch(world: PvxWorld, number: str) -> None:
    world.warehouse.goods_in("MUG-BLUE", 2, "MAIN")
    world.order(number, {"MUG-BLUE": 2})
    for step in ("allocate", "start_picking", "pick"):
        getattr(world.warehouse, step)(number)
    world.warehouse.despatch(number, carrier="Royal Mail", tracking=f"TRK-{number}")


def delivered(world: PvxWorld, receiver: CallbackReceiver, already: int = 0) -> dict[str, list[Received]]:
    """The callbacks the simulator sends now (after the ``already`` received before), by event type."""
    count = world.deliver()
    by_event: dict[str, list[Received]] = {}
    for call in receiver.wait_for(already + count)[already:]:
        by_event.setdefault(call.path.rsplit("/", 1)[1], []).append(call)
    return by_event


def accepted(call: Received, integration: str, secret: str) -> None:
    """The receiver's own reading of a callback: raises Malformed where it would answer 400."""
    peoplevox_callback(integration, call.path.rsplit("/", 1)[1], urlencode(call.query, doseq=True), secret)


# ---- Peoplevox ---------------------------------------------------------------------------------------------
def test_peoplevox_calls_the_registered_url_once_per_package(ledger_url: str, pvx_world: PvxWorld,
                                                             callback_receiver: CallbackReceiver) -> None:
    base_url = callback_receiver.url + "/erp-wms"
    wms = peoplevox(pvx_world.sim)
    assert actions(sync(ledger_url, BLUEBIRD, wms, None, base_url)) == ["created"] * N_PVX
    assert actions(sync(ledger_url, BLUEBIRD, wms, None, base_url)) == ["kept"] * N_PVX
    assert sorted(s.event_type for s in pvx_world.sim.state.subscriptions(PVX_CLIENT)) == sorted(
        PEOPLEVOX_SUBSCRIBED_EVENTS)

    despatch(pvx_world, "SO-1")
    by_event = delivered(pvx_world, callback_receiver)
    assert (len(by_event[PACKAGE_DESPATCHED]), len(by_event[PACKAGE_TRACKING_RECEIVED])) == (1, 1)
    calls = {event: found[0] for event, found in by_event.items()}
    call = calls[PACKAGE_DESPATCHED]
    assert (call.method, call.path) == ("GET", f"/erp-wms/hooks/peoplevox/bluebird/{PACKAGE_DESPATCHED}")
    assert call.query["token"] == [SECRET]
    assert (call.query["SalesOrderNumber"], call.query["PackageNumber"], call.query["Carrier"]) == \
        (["SO-1"], ["PKG0000001"], ["Royal Mail"])
    assert calls[PACKAGE_TRACKING_RECEIVED].query["TrackingNumber"] == ["TRK-SO-1"]

    # Goods in and the despatch moved stock: the stock callbacks carry what inventory sync reads, and the
    # receiver takes every one of them. Allocation changed availability too, but nothing subscribed to that.
    movements = by_event[INCREMENTAL_CHANGES]
    assert sorted(int(c.query["QuantityChanged"][0]) for c in movements) == [-2, 2]
    assert all(c.query["ItemCode"] == ["MUG-BLUE"] and c.query["Site"] == ["MAIN"] for c in movements)
    assert all(c.query["HistoryId"][0].isdigit() for c in movements)
    assert set(by_event) == {PACKAGE_DESPATCHED, PACKAGE_TRACKING_RECEIVED, INCREMENTAL_CHANGES}  # no availability
    for stock_call in movements:
        assert stock_call.query["token"] == [SECRET]
        accepted(stock_call, "bluebird", SECRET)
    received = len(callback_receiver.requests)
    pvx_world.warehouse.receive_return("SO-1", {"MUG-BLUE": 1}, "sellable", "RC-1")
    (returned,) = delivered(pvx_world, callback_receiver, received)[RETURNS]
    assert (returned.query["ReturnCode"], returned.query["SalesOrderNumber"], returned.query["Quantity"]) == (
        ["RC-1"], ["SO-1"], ["1"])
    accepted(returned, "bluebird", SECRET)

    report = sync(ledger_url, BLUEBIRD, wms, None, base_url, secret=NEW_SECRET)
    assert actions(report) == ["updated"] * N_PVX
    remaining = pvx_world.sim.state.subscriptions(PVX_CLIENT)
    assert sorted(s.subscription_id for s in remaining) == sorted(int(c.external_id) for c in report.changes)
    assert all(f"token={NEW_SECRET}&" in s.url for s in remaining)
    received = len(callback_receiver.requests)
    despatch(pvx_world, "SO-2")
    later = delivered(pvx_world, callback_receiver, received)
    # the old subscriptions are gone: one callback per despatch event, every one with the new secret
    assert (len(later[PACKAGE_DESPATCHED]), len(later[PACKAGE_TRACKING_RECEIVED])) == (1, 1)
    assert all(c.query["token"] == [NEW_SECRET] for found in later.values() for c in found)
    assert later[PACKAGE_DESPATCHED][0].query["SalesOrderNumber"] == ["SO-2"]


def test_force_leaves_exactly_one_peoplevox_subscription_per_event(ledger_url: str, pvx_world: PvxWorld,
                                                                   callback_receiver: CallbackReceiver) -> None:
    base_url = callback_receiver.url + "/erp-wms"
    wms = peoplevox(pvx_world.sim)
    first = sync(ledger_url, BLUEBIRD, wms, None, base_url)
    pvx_world.sim.state.remove_subscription(PVX_CLIENT, int(first.changes[0].external_id))  # lost in Peoplevox
    forced = sync(ledger_url, BLUEBIRD, wms, None, base_url, force=True)
    assert actions(forced) == ["updated"] * N_PVX
    events = sorted(s.event_type for s in pvx_world.sim.state.subscriptions(PVX_CLIENT))
    assert events == sorted(PEOPLEVOX_SUBSCRIBED_EVENTS)
    with session_scope(ledger_url) as session:
        stored = {r.event_type: r.external_id for r in stored_subscriptions(session, ["bluebird"])}
    assert stored == {c.event_type: c.external_id for c in forced.changes}


# ---- Cin7 Core ---------------------------------------------------------------------------------------------
def cin7_webhooks(sim: ErpSim, ledger_url: str) -> Any:
    """The real client, spending its API budget in the same ledger the sync writes to (as in production: a sync
    that kept the ledger's write lock across a vendor call would wait on itself)."""
    return Cin7CoreClient(sim.url, CIN7_HEADERS["api-auth-accountid"], CIN7_HEADERS["api-auth-applicationkey"],
                          rate_per_minute=6000, retry=FAST, budget_url=ledger_url)


def authorise_sale(sim: ErpSim) -> None:
    def post(path: str, body: dict[str, Any]) -> Any:
        response = requests.post(f"{sim.url}/{path}", headers=CIN7_HEADERS, json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    sale_id = post("sale", {"Customer": CUSTOMER, "Location": MAIN, "SkipQuote": True})["ID"]
    post("sale/order", {"SaleID": sale_id, "Status": "AUTHORISED", "Lines": [{"SKU": TEE, "Quantity": 1}]})


def webhook_id(answer: Any) -> str:
    """The ID of the webhook a create answered (``{"Webhooks": [hook]}`` or the hook itself)."""
    hook = answer["Webhooks"][0] if "Webhooks" in answer else answer
    return str(hook["ID"])


def sim_hooks(sim: ErpSim) -> list[dict[str, Any]]:
    with sim.state.lock:
        return [dict(hook) for hook in sim.state.webhooks.values()]


def test_a_webhook_cin7_deactivated_is_reactivated_by_sync(ledger_url: str, cin7_sim: ErpSim, receiver: Receiver,
                                                           peoplevox_sim: PeoplevoxSim) -> None:
    assert CIN7_ORDER_AUTHORISED in DELIVERED_TYPES
    base_url = receiver.url.removesuffix("/hooks") + "/erp-wms"
    callback = f"{base_url}/hooks/cin7core/northwind"
    wms, erp = peoplevox(peoplevox_sim), cin7_webhooks(cin7_sim, ledger_url)
    cin7_sim.state.callbacks.clock = FakeMonotonic()  # deliveries happen only when the test pumps them
    report = sync(ledger_url, NORTHWIND, wms, erp, base_url, login="cin7")
    assert actions(report) == ["created"] * (N_PVX + 1)
    (hook,) = sim_hooks(cin7_sim)
    assert (hook["Type"], hook["ExternalURL"], hook["ExternalAuthorizationType"], hook["IsActive"]) == \
        (CIN7_ORDER_AUTHORISED, callback, "basicauth", True)
    assert report.changes[-1].external_id == hook["ID"]

    receiver.statuses = [500] * 6
    authorise_sale(cin7_sim)
    for _ in range(6):  # the first try and the five retries, all failing
        assert cin7_sim.state.callbacks.pump(force=True) == 1
    assert sim_hooks(cin7_sim)[0]["IsActive"] is False

    report = sync(ledger_url, NORTHWIND, wms, erp, base_url, login="cin7")
    assert actions(report) == ["kept"] * N_PVX + ["reactivated"]
    assert sim_hooks(cin7_sim)[0]["IsActive"] is True
    authorise_sale(cin7_sim)
    assert cin7_sim.state.callbacks.pump(force=True) == 1
    delivered = receiver.delivered()[-1]
    assert delivered.path == "/erp-wms/hooks/cin7core/northwind"
    assert delivered.body["EventType"] == CIN7_ORDER_AUTHORISED
    assert delivered.headers["Authorization"] == "Basic " + base64.b64encode(f"cin7:{SECRET}".encode()).decode()


def test_rotated_secret_and_duplicates_leave_one_current_cin7_webhook(ledger_url: str, cin7_sim: ErpSim,
                                                                      receiver: Receiver,
                                                                      peoplevox_sim: PeoplevoxSim) -> None:
    base_url = receiver.url.removesuffix("/hooks") + "/erp-wms"
    wms, erp = peoplevox(peoplevox_sim), cin7_webhooks(cin7_sim, ledger_url)
    cin7_sim.state.callbacks.clock = FakeMonotonic()
    sync(ledger_url, NORTHWIND, wms, erp, base_url)
    (ours,) = sim_hooks(cin7_sim)
    assert (ours["ExternalAuthorizationType"], ours["ExternalBearerToken"]) == ("bearerauth", SECRET)
    duplicate = erp.create_webhook({k: ours[k] for k in ("Type", "IsActive", "ExternalURL",
                                                         "ExternalAuthorizationType", "ExternalBearerToken")})
    someone_else = erp.create_webhook({"Type": CIN7_ORDER_AUTHORISED, "IsActive": True,
                                       "ExternalURL": "http://127.0.0.1:9/elsewhere",
                                       "ExternalAuthorizationType": "noauth"})
    report = sync(ledger_url, NORTHWIND, wms, erp, base_url, secret=NEW_SECRET, login="cin7")
    cin7_changes = [(c.action, c.external_id) for c in report.changes if c.system == "cin7core"]
    assert cin7_changes == [("updated", ours["ID"]), ("removed", webhook_id(duplicate))]
    hooks = {hook["ID"]: hook for hook in sim_hooks(cin7_sim)}
    assert set(hooks) == {ours["ID"], webhook_id(someone_else)}
    assert (hooks[ours["ID"]]["ExternalAuthorizationType"], hooks[ours["ID"]]["ExternalUserName"],
            hooks[ours["ID"]]["ExternalPassword"]) == ("basicauth", "cin7", NEW_SECRET)
    assert NEW_SECRET not in json.dumps(report.as_dict())


# ---- the CLI from AIRFLOW_CONN_* -------------------------------------------------------------------------------
def test_cli_sync_and_list_from_environment_connections(ledger_url: str, pvx_world: PvxWorld,
                                                        callback_receiver: CallbackReceiver,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    root = pvx_world.sim.base_url.removeprefix("http://")
    host, port = root.split(":")
    monkeypatch.setenv("AIRFLOW_CONN_BLUEBIRD_PEOPLEVOX", json.dumps({
        "conn_type": "peoplevox", "host": host, "port": int(port), "schema": "http", "login": PVX_USER,
        "password": PVX_PASSWORD, "extra": {"client_id": PVX_CLIENT}}))
    monkeypatch.setenv("AIRFLOW_CONN_BLUEBIRD_WEBHOOKS", json.dumps({
        "conn_type": "http", "host": "http://127.0.0.1:1/wrong", "password": SECRET}))
    args = ["subscriptions", "sync", "--integration", "bluebird", "--ledger-url", ledger_url,
            "--integrations-dir", str(INTEGRATIONS), "--base-url", callback_receiver.url + "/erp-wms"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "bluebird: 4 created" and f"peoplevox {PACKAGE_DESPATCHED}: created (id " in out
    assert f"peoplevox {INCREMENTAL_CHANGES}: created (id " in out and f"peoplevox {RETURNS}: created (id " in out
    assert AVAILABILITY_CHANGES not in out and SECRET not in out
    assert cli.main(args) == 0 and capsys.readouterr().out.splitlines()[0] == "bluebird: 4 kept"

    despatch(pvx_world, "SO-9")
    calls = [c for found in delivered(pvx_world, callback_receiver).values() for c in found]
    # --base-url won over the connection's host
    assert {c.path for c in calls} >= {f"/erp-wms/hooks/peoplevox/bluebird/{event}"
                                       for event in (PACKAGE_DESPATCHED, PACKAGE_TRACKING_RECEIVED,
                                                     INCREMENTAL_CHANGES)}
    assert all(c.path.startswith("/erp-wms/hooks/peoplevox/bluebird/") for c in calls)
    assert all(c.query["token"] == [SECRET] for c in calls)

    assert cli.main(["subscriptions", "list", "--ledger-url", ledger_url]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in listing[1:]] == [["bluebird", "peoplevox", event]
                                                         for event in sorted(PEOPLEVOX_SUBSCRIBED_EVENTS)]
    assert all("token=***" in line and SECRET not in line for line in listing[1:])
