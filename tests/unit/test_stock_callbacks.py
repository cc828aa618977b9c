"""Peoplevox stock and returns callbacks through the receiver: which are kept (and under which key), which are
refused and why, which DAG each wakes, that a stock asset Airflow does not know yet never holds back despatch
callbacks, and that dispatch confirmation leaves stock callbacks in the inbox for inventory sync."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from erp_wms_sync.config import load_integration
from erp_wms_sync.domain.pv_returns import return_notice_from_callback
from erp_wms_sync.domain.stock_movements import STOCK_EVENTS, STOCK_FIELDS, stock_notice_from_callback
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.dispatch_confirmation.collect import collect
from erp_wms_sync.ledger import dispatch_repo
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import WebhookInbox
from erp_wms_sync.webhooks import (
    AVAILABILITY_CHANGES,
    BATCH_WAKE_UP_SECONDS,
    INCREMENTAL_CHANGES,
    PACKAGE_DESPATCHED,
    PEOPLEVOX,
    PEOPLEVOX_ACCEPTED_EVENTS,
    PEOPLEVOX_EVENTS,
    PEOPLEVOX_STOCK_EVENTS,
    RETURNS,
    asset_uri_for,
    despatch_asset_uri,
    returns_asset_uri,
    stock_asset_uri,
)
from erp_wms_sync.webhooks.inbox import ENTITY_KEY_MAX, Callback, Malformed, peoplevox_callback, store
from erp_wms_sync.webhooks.outbox import AssetNotReady, Outbox
from erp_wms_sync.webhooks.receiver import create_app
from erp_wms_sync.webhooks.secrets import StaticSecretSource

ROOT = Path(__file__).resolve().parents[2]
NORTHWIND = load_integration(ROOT / "include" / "integrations" / "northwind.yaml")
SECRET = "pvx-Secret-0123456789abcdef"
MOVEMENT = {"ItemCode": "MUG-BLUE", "QuantityChanged": "-2", "UpdateTimestamp": "2026-03-01T10:15:00",
            "UpdatedBy": "picker1", "Reason": "Despatch", "Site": "MAIN", "HistoryId": "5001"}
AVAILABILITY = {"ItemCode": "MUG-BLUE", "Available": "7", "OnHand": "9", "Allocated": "2", "Site": "MAIN"}
RETURN_LINE = {"ReturnCode": "RET-77", "SalesOrderNumber": "SO-1001", "ItemCode": "MUG-BLUE", "Quantity": "1",
               "Reason": "Too small", "Condition": "Sellable", "Site": "MAIN", "ReturnDate": "01/03/2026 10:15:00"}
DESPATCH = {"SalesOrderNumber": "SO-1001", "DespatchNumber": "D-501", "PackageNumber": "P-1",
            "TrackingNumber": "TRK123", "Carrier": "Royal Mail", "Service": "RM48",
            "DespatchDate": "2026-03-01T10:15:00"}


def query(fields: Mapping[str, str], token: str | None = SECRET) -> str:
    return urlencode({**({"token": token} if token is not None else {}), **fields})


def callback(event_type: str, fields: Mapping[str, str], **changes: str | None) -> Callback:
    merged = {k: v for k, v in {**fields, **changes}.items() if v is not None}
    return peoplevox_callback("northwind", event_type, query(merged), SECRET)


# --- the contract shared with the domain parsers -----------------------------------------------------------------
def test_the_receiver_accepts_every_event_the_stock_and_returns_flows_subscribe_to() -> None:
    assert PEOPLEVOX_STOCK_EVENTS == STOCK_EVENTS == (INCREMENTAL_CHANGES, AVAILABILITY_CHANGES, RETURNS)
    assert set(STOCK_FIELDS) == set(PEOPLEVOX_STOCK_EVENTS)
    assert PEOPLEVOX_ACCEPTED_EVENTS == (*PEOPLEVOX_EVENTS, *PEOPLEVOX_STOCK_EVENTS)
    assert not set(PEOPLEVOX_EVENTS) & set(PEOPLEVOX_STOCK_EVENTS), "despatch events stay despatch events only"


@pytest.mark.parametrize(("source", "event_type", "uri"), [
    (PEOPLEVOX, PACKAGE_DESPATCHED, "erp-wms://northwind/despatch-received"),
    (PEOPLEVOX, INCREMENTAL_CHANGES, "erp-wms://northwind/stock-changed"),
    (PEOPLEVOX, AVAILABILITY_CHANGES, "erp-wms://northwind/stock-changed"),
    (PEOPLEVOX, RETURNS, "erp-wms://northwind/return-received"),
    (PEOPLEVOX, "GoodsReceived", None),
    ("cin7core", INCREMENTAL_CHANGES, None),
])
def test_each_event_wakes_its_own_dag(source: str, event_type: str, uri: str | None) -> None:
    assert asset_uri_for("northwind", source, event_type) == uri
    assert (stock_asset_uri("northwind"), returns_asset_uri("northwind"), despatch_asset_uri("northwind")) == (
        "erp-wms://northwind/stock-changed", "erp-wms://northwind/return-received",
        "erp-wms://northwind/despatch-received")


# --- reading and keying ------------------------------------------------------------------------------------------
def test_a_stock_movement_is_kept_under_its_item_without_the_token() -> None:
    kept = callback(INCREMENTAL_CHANGES, MOVEMENT, UpdatedBy=f"someone {SECRET}")
    assert (kept.source, kept.event_type, kept.entity_key) == (PEOPLEVOX, INCREMENTAL_CHANGES, "MUG-BLUE")
    assert kept.asset_uri == stock_asset_uri("northwind")
    assert "token" not in kept.body and SECRET not in kept.body and "HistoryId=5001" in kept.body
    notice = stock_notice_from_callback(INCREMENTAL_CHANGES, kept.body, "Europe/London")  # what the flow reads
    assert (notice.item_code, notice.quantity_changed, notice.history_id) == ("MUG-BLUE", -2, 5001)


def test_an_availability_change_and_a_return_are_kept_for_their_flows() -> None:
    availability = callback(AVAILABILITY_CHANGES, AVAILABILITY)
    assert (availability.entity_key, availability.asset_uri) == ("MUG-BLUE", stock_asset_uri("northwind"))
    returned = callback(RETURNS, RETURN_LINE)
    assert (returned.entity_key, returned.asset_uri) == ("RET-77", returns_asset_uri("northwind"))
    line = return_notice_from_callback(RETURNS, returned.body, "Europe/London")
    assert (line.return_code, line.sales_order, line.quantity, line.sellable) == ("RET-77", "SO-1001", 1, True)


def test_a_long_item_code_is_cut_to_the_entity_key_column() -> None:
    kept = callback(AVAILABILITY_CHANGES, AVAILABILITY, ItemCode="X" * 300)
    assert kept.entity_key == "X" * ENTITY_KEY_MAX


def test_the_same_movement_twice_is_one_event_whatever_else_changed() -> None:
    first = callback(INCREMENTAL_CHANGES, MOVEMENT)
    assert callback(INCREMENTAL_CHANGES, MOVEMENT, UpdatedBy="someone else").dedupe_key == first.dedupe_key
    assert callback(INCREMENTAL_CHANGES, MOVEMENT, HistoryId="5002").dedupe_key != first.dedupe_key


def test_without_a_history_id_the_change_itself_identifies_a_movement() -> None:
    first = callback(INCREMENTAL_CHANGES, MOVEMENT, HistoryId=None)
    assert callback(INCREMENTAL_CHANGES, MOVEMENT, HistoryId="{HistoryId}").dedupe_key == first.dedupe_key
    assert callback(INCREMENTAL_CHANGES, MOVEMENT, HistoryId=None, UpdatedBy="x").dedupe_key == first.dedupe_key
    for change in ({"QuantityChanged": "-3"}, {"UpdateTimestamp": "2026-03-01T10:16:00"}, {"Reason": "Count"},
                   {"ItemCode": "TEE-M"}):
        assert callback(INCREMENTAL_CHANGES, MOVEMENT, HistoryId=None, **change).dedupe_key != first.dedupe_key


def test_availability_and_returns_are_identified_by_their_figures() -> None:
    figures = callback(AVAILABILITY_CHANGES, AVAILABILITY)
    assert callback(AVAILABILITY_CHANGES, AVAILABILITY, Allocated="3").dedupe_key == figures.dedupe_key
    for change in ({"Available": "6"}, {"OnHand": "8"}, {"Site": "OUTLET"}, {"ItemCode": "TEE-M"}):
        assert callback(AVAILABILITY_CHANGES, AVAILABILITY, **change).dedupe_key != figures.dedupe_key
    line = callback(RETURNS, RETURN_LINE)
    assert callback(RETURNS, RETURN_LINE, Reason="Changed mind").dedupe_key == line.dedupe_key
    for change in ({"ItemCode": "TEE-M"}, {"Quantity": "2"}, {"Condition": "Damaged"}, {"ReturnCode": "RET-78"}):
        assert callback(RETURNS, RETURN_LINE, **change).dedupe_key != line.dedupe_key
    assert figures.dedupe_key != callback(INCREMENTAL_CHANGES, MOVEMENT).dedupe_key != line.dedupe_key


@pytest.mark.parametrize(("event_type", "fields", "changes", "message"), [
    (INCREMENTAL_CHANGES, MOVEMENT, {"ItemCode": None}, "required field ItemCode is missing or empty"),
    (INCREMENTAL_CHANGES, MOVEMENT, {"ItemCode": "{ItemType.ItemCode}"}, "still holds the placeholder"),
    (INCREMENTAL_CHANGES, MOVEMENT, {"QuantityChanged": "2.5"}, "QuantityChanged '2.5' is not a whole number"),
    (INCREMENTAL_CHANGES, MOVEMENT, {"HistoryId": "50x"}, "HistoryId '50x' is not a whole number"),
    (INCREMENTAL_CHANGES, MOVEMENT, {"UpdateTimestamp": "yesterday"}, "UpdateTimestamp 'yesterday' is not a"),
    (AVAILABILITY_CHANGES, AVAILABILITY, {"Available": None}, "required field Available is missing or empty"),
    (AVAILABILITY_CHANGES, AVAILABILITY, {"OnHand": "many"}, "OnHand 'many' is not a whole number"),
    (RETURNS, RETURN_LINE, {"ReturnCode": ""}, "required field ReturnCode is missing or empty"),
    (RETURNS, RETURN_LINE, {"Quantity": "0"}, "Quantity 0 is not a positive whole number"),
    (RETURNS, RETURN_LINE, {"ReturnDate": "31/02/2026 10:00:00"}, "ReturnDate '31/02/2026 10:00:00' is not a"),
], ids=["no-item", "placeholder", "fraction", "history-id", "timestamp", "no-available", "on-hand", "no-code",
        "zero-returned", "return-date"])
def test_a_callback_its_flow_could_not_read_is_refused_naming_why(event_type: str, fields: Mapping[str, str],
                                                                  changes: dict[str, str | None],
                                                                  message: str) -> None:
    with pytest.raises(Malformed) as refused:
        callback(event_type, fields, **changes)
    assert message in str(refused.value) and refused.value.status == 400


def test_a_field_given_twice_with_different_values_is_refused() -> None:
    raw = query(AVAILABILITY) + "&Available=8"
    with pytest.raises(Malformed, match="field Available is given 2 times with different values"):
        peoplevox_callback("northwind", AVAILABILITY_CHANGES, raw, SECRET)


def test_an_unknown_event_lists_every_accepted_one() -> None:
    with pytest.raises(Malformed) as refused:
        peoplevox_callback("northwind", "GoodsReceived", query(AVAILABILITY), SECRET)
    assert all(event in str(refused.value) for event in PEOPLEVOX_ACCEPTED_EVENTS)


# --- through the receiver ----------------------------------------------------------------------------------------
class Emitter:
    """Records emitted events; assets in ``unknown`` are not known to Airflow yet."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.unknown: set[str] = set()
        self.ids = itertools.count(1)

    def emit(self, uri: str, extra: Mapping[str, Any]) -> int:
        if uri in self.unknown:
            raise AssetNotReady(f"asset {uri} is not known to Airflow yet")
        self.events.append((uri, dict(extra)))
        return next(self.ids)

    def needs_nudge(self, uri: str) -> bool:
        return False


@pytest.fixture
def client(ledger_url: str) -> Iterator[TestClient]:
    app = create_app(integrations=lambda: {"northwind": NORTHWIND},
                     secrets=StaticSecretSource({"northwind_webhooks": (SECRET, "cin7-hooks")}),
                     ledger_url=ledger_url, emitter=Emitter(), start_outbox=False)
    with TestClient(app, client=("203.0.113.7", 5000)) as test_client:
        yield test_client


def inbox_rows(url: str) -> list[WebhookInbox]:
    with session_scope(url) as session:
        return list(session.scalars(select(WebhookInbox).order_by(WebhookInbox.id)))


def test_stock_callbacks_by_get_and_post_are_stored_once(client: TestClient, ledger_url: str) -> None:
    answer = client.get(f"/hooks/peoplevox/northwind/{INCREMENTAL_CHANGES}?{query(MOVEMENT)}")
    assert answer.status_code == 202
    assert client.get(f"/hooks/peoplevox/northwind/{INCREMENTAL_CHANGES}?{query(MOVEMENT)}").json() == {
        "duplicate": True, "inbox_id": answer.json()["inbox_id"]}
    posted = client.post(f"/hooks/peoplevox/northwind/{RETURNS}?token={SECRET}", data=RETURN_LINE)
    assert posted.status_code == 202
    rows = inbox_rows(ledger_url)
    assert [(r.event_type, r.entity_key, r.status, r.asset_event_id) for r in rows] == [
        (INCREMENTAL_CHANGES, "MUG-BLUE", "received", None), (RETURNS, "RET-77", "received", None)]
    assert all(SECRET not in r.body and "token" not in r.body for r in rows)


def test_an_unreadable_stock_callback_is_answered_400_and_not_kept(client: TestClient, ledger_url: str) -> None:
    answer = client.get(f"/hooks/peoplevox/northwind/{AVAILABILITY_CHANGES}?"
                        + query({**AVAILABILITY, "Available": "{Available}"}))
    assert answer.status_code == 400
    assert "required field Available still holds the placeholder {Available}" in answer.json()["error"]
    assert inbox_rows(ledger_url) == []
    wrong = client.get(f"/hooks/peoplevox/northwind/{AVAILABILITY_CHANGES}?{query(AVAILABILITY, 'wrong-token')}")
    assert wrong.status_code == 401 and inbox_rows(ledger_url) == []


# --- the outbox: one asset per flow, backing off alone -----------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_flow_gets_its_own_event(ledger_url: str) -> None:
    ids = [store(ledger_url, c).inbox_id for c in (
        callback(INCREMENTAL_CHANGES, MOVEMENT), callback(AVAILABILITY_CHANGES, AVAILABILITY),
        callback(RETURNS, RETURN_LINE), peoplevox_callback("northwind", PACKAGE_DESPATCHED, query(DESPATCH), SECRET))]
    emitter = Emitter()
    assert Outbox(ledger_url, emitter, clock=Clock()).run_once().events == 3
    assert sorted(emitter.events) == sorted([
        (despatch_asset_uri("northwind"), {"inbox_ids": [ids[3]], "integration": "northwind"}),
        (returns_asset_uri("northwind"), {"inbox_ids": [ids[2]], "integration": "northwind"}),
        (stock_asset_uri("northwind"), {"inbox_ids": ids[:2], "integration": "northwind"})])


def test_a_stock_asset_airflow_does_not_know_never_holds_back_despatches(ledger_url: str) -> None:
    stock = [store(ledger_url, callback(INCREMENTAL_CHANGES, MOVEMENT, HistoryId=str(5000 + n))).inbox_id
             for n in range(3)]  # older than the despatch, and more than one batch
    despatch = store(ledger_url, peoplevox_callback("northwind", PACKAGE_DESPATCHED, query(DESPATCH),
                                                    SECRET)).inbox_id
    emitter, clock = Emitter(), Clock()
    emitter.unknown = {stock_asset_uri("northwind")}  # the inventory_sync DAG is not deployed yet
    outbox = Outbox(ledger_url, emitter, batch_size=2, clock=clock)

    first = outbox.run_once()
    assert (first.events, first.failed, first.more) == (0, 1, True)
    second = outbox.run_once()  # the stock asset backs off; the despatch behind it goes now
    assert emitter.events == [(despatch_asset_uri("northwind"), {"inbox_ids": [despatch], "integration": "northwind"})]
    assert second.events == 1

    emitter.unknown.clear()  # the DAG is deployed: the stock callbacks follow once the backoff is over
    clock.now += 61
    outbox.run_once()
    outbox.run_once()  # the third is beyond the batch and waits for the next wake-up (at most one per 30 s)
    clock.now += BATCH_WAKE_UP_SECONDS
    outbox.run_once()
    stock_events = [extra["inbox_ids"] for uri, extra in emitter.events if uri == stock_asset_uri("northwind")]
    assert sorted(i for ids in stock_events for i in ids) == stock


# --- dispatch confirmation leaves stock callbacks to inventory sync ------------------------------------------------
class DespatchReport:
    """A Peoplevox client whose Despatch summary lists despatch D-501."""

    def get_report(self, name: str, **_: Any) -> list[dict[str, str]]:
        assert name == "Despatch summary"
        return [{"Despatch number": "D-501", "Salesorder number": "SO-1001", "Item code": "MUG-BLUE",
                 "No of items": "1", "Despatch date": "'01/03/2026 10:15:00'", "Carrier": "Royal Mail",
                 "Service": "RM48", "Tracking number": "TRK123", "Site reference": "MAIN"}]


def test_dispatch_confirmation_drains_despatches_and_leaves_stock_callbacks(ledger_url: str) -> None:
    stock = store(ledger_url, callback(INCREMENTAL_CHANGES, MOVEMENT)).inbox_id
    returned = store(ledger_url, callback(RETURNS, RETURN_LINE)).inbox_id
    despatch = store(ledger_url, peoplevox_callback("northwind", PACKAGE_DESPATCHED, query(DESPATCH),
                                                    SECRET)).inbox_id
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    ctx = RunContext(NORTHWIND, "dispatch_confirmation", "manual__1", Window(now - timedelta(hours=4), now, "test"),
                     ledger_url)

    collected = collect(ctx, DespatchReport(), now=now)

    assert (collected.callbacks, collected.new, collected.problems) == (1, 1, 0)
    state = {row.id: (row.status, row.error) for row in inbox_rows(ledger_url)}
    assert state == {stock: ("received", None), returned: ("received", None), despatch: ("processed", None)}
    with session_scope(ledger_url) as session:
        waiting = dispatch_repo.pending_inbox(session, "northwind", PEOPLEVOX, 10,
                                              event_types=(INCREMENTAL_CHANGES, AVAILABILITY_CHANGES))
        assert [row.id for row in waiting] == [stock]
        assert [row.id for row in dispatch_repo.pending_inbox(session, "northwind", PEOPLEVOX, 10)] == [stock,
                                                                                                     returned]

