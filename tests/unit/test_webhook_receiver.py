"""The webhook receiver: what Peoplevox and Cin7 Core callbacks get as an answer, and what the ledger keeps."""

from __future__ import annotations

import base64
import io
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from erp_wms_sync.config import Integration, load_integration
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import SecurityEvent, WebhookInbox
from erp_wms_sync.webhooks import MAX_BODY_BYTES, PACKAGE_DESPATCHED, PACKAGE_TRACKING_RECEIVED
from erp_wms_sync.webhooks.receiver import (
    LAST,
    RECORD,
    SECURITY_EVENTS_PER_MINUTE,
    SUPPRESS,
    SecurityFlood,
    create_app,
    hide_tokens,
    install_token_log_filter,
)
from erp_wms_sync.webhooks.secrets import StaticSecretSource

ROOT = Path(__file__).resolve().parents[2]
SECRET = "pvx-Secret-0123456789abcdef"
BLUEBIRD_SECRET = "bluebird-Secret-9876543210"
LOGIN = "cin7-hooks"
PVX = f"/hooks/peoplevox/northwind/{PACKAGE_DESPATCHED}"
CIN7 = "/hooks/cin7core/northwind"
DESPATCH = {"SalesOrderNumber": "SO-1001", "DespatchNumber": "D-501", "PackageNumber": "P-1",
            "TrackingNumber": "TRK123", "Carrier": "Royal Mail", "Service": "RM48",
            "DespatchDate": "2026-03-01T10:15:00"}


class RecordingEmitter:
    """An asset emitter that remembers what it was asked to emit."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def emit(self, uri: str, extra: Mapping[str, Any]) -> int:
        with self.lock:
            self.events.append((uri, dict(extra)))
            return len(self.events)

    def needs_nudge(self, uri: str) -> bool:
        return False


def integrations() -> dict[str, Integration]:
    return {name: load_integration(ROOT / "include" / "integrations" / f"{name}.yaml")
            for name in ("northwind", "bluebird")}


@pytest.fixture(scope="module")
def known() -> dict[str, Integration]:
    return integrations()


def make_app(known: dict[str, Integration], ledger_url: str, *, start_outbox: bool = False,
             emitter: RecordingEmitter | None = None, secrets: dict[str, Any] | None = None) -> Any:
    source = StaticSecretSource(secrets if secrets is not None else
                                {"northwind_webhooks": (SECRET, LOGIN), "bluebird_webhooks": BLUEBIRD_SECRET})
    return create_app(integrations=lambda: known, secrets=source, ledger_url=ledger_url,
                      emitter=emitter or RecordingEmitter(), start_outbox=start_outbox)


@pytest.fixture
def client(known: dict[str, Integration], ledger_url: str) -> Iterator[TestClient]:
    with TestClient(make_app(known, ledger_url), client=("203.0.113.7", 5000)) as test_client:
        yield test_client


def inbox_rows(url: str) -> list[WebhookInbox]:
    with session_scope(url) as session:
        return list(session.scalars(select(WebhookInbox).order_by(WebhookInbox.id)))


def security_events(url: str) -> list[SecurityEvent]:
    with session_scope(url) as session:
        return list(session.scalars(select(SecurityEvent).order_by(SecurityEvent.id)))


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def sale(event_type: str = "Sale/OrderAuthorised", sale_id: str | None = None) -> dict[str, str]:
    return {"SaleID": sale_id or str(uuid.uuid4()), "SaleOrderNumber": "SO-77", "EventType": event_type}


# --- Peoplevox ------------------------------------------------------------------------------------------------
def test_peoplevox_get_callback_is_stored_without_its_token(client: TestClient, ledger_url: str) -> None:
    answer = client.get(PVX, params={"token": SECRET, **DESPATCH})

    assert answer.status_code == 202
    [row] = inbox_rows(ledger_url)
    assert answer.json() == {"inbox_id": row.id}
    assert (row.integration, row.source, row.event_type) == ("northwind", "peoplevox", PACKAGE_DESPATCHED)
    assert row.entity_key == "D-501" and row.status == "received" and row.asset_event_id is None
    assert "token" not in row.body and SECRET not in row.body
    assert "DespatchNumber=D-501" in row.body and "TrackingNumber=TRK123" in row.body
    assert security_events(ledger_url) == []


def test_peoplevox_post_form_callback_is_stored(client: TestClient, ledger_url: str) -> None:
    answer = client.post(f"/hooks/peoplevox/northwind/{PACKAGE_TRACKING_RECEIVED}?token={SECRET}", data=DESPATCH)

    assert answer.status_code == 202, answer.text
    [row] = inbox_rows(ledger_url)
    assert row.event_type == PACKAGE_TRACKING_RECEIVED and row.entity_key == "D-501"
    assert row.body == urlencode(DESPATCH)


def test_repeated_callback_is_answered_but_stored_once(client: TestClient, ledger_url: str) -> None:
    first = client.get(PVX, params={"token": SECRET, **DESPATCH})
    again = client.get(PVX, params={"token": SECRET, **DESPATCH})
    other_package = client.get(PVX, params={"token": SECRET, **DESPATCH, "PackageNumber": "P-2"})

    assert first.status_code == 202
    assert again.status_code == 200 and again.json() == {"duplicate": True, "inbox_id": first.json()["inbox_id"]}
    assert other_package.status_code == 202
    assert [row.entity_key for row in inbox_rows(ledger_url)] == ["D-501", "D-501"]


@pytest.mark.parametrize(("params", "reason"), [
    pytest.param(DESPATCH, "the token query parameter is missing", id="missing"),
    pytest.param({"token": "not-the-secret", **DESPATCH}, "the token is wrong", id="wrong"),
])
def test_bad_token_is_refused_and_recorded_without_query(client: TestClient, ledger_url: str,
                                                         params: dict[str, str], reason: str) -> None:
    answer = client.get(PVX, params=params)

    assert answer.status_code == 401 and answer.json() == {"error": reason}
    assert inbox_rows(ledger_url) == []
    [event] = security_events(ledger_url)
    assert (event.integration, event.source, event.reason, event.status_code) == ("northwind", "peoplevox",
                                                                                  reason, 401)
    assert (event.method, event.path, event.remote_addr) == ("GET", PVX, "203.0.113.7")
    assert "?" not in event.path and "D-501" not in event.reason


def test_a_flood_of_bad_callbacks_is_refused_without_filling_the_ledger(client: TestClient, ledger_url: str) -> None:
    answers = [client.get(PVX, params={"token": f"guess-{n}", "DespatchNumber": "D-1"}).status_code
               for n in range(SECURITY_EVENTS_PER_MINUTE + 40)]

    assert set(answers) == {401}  # every one is still refused
    events = security_events(ledger_url)
    assert len(events) == SECURITY_EVENTS_PER_MINUTE and all(e.status_code == 401 for e in events)
    assert inbox_rows(ledger_url) == []


def test_flood_summary_counts_what_was_not_recorded_one_by_one() -> None:
    now = [1000.0]
    flood = SecurityFlood(limit=3, clock=lambda: now[0])

    verdicts = [flood.admit("northwind", "peoplevox", "198.51.100.9") for _ in range(7)]
    other = flood.admit("northwind", "peoplevox", "198.51.100.10")  # another address has its own count
    now[0] += 61
    after = flood.admit("northwind", "peoplevox", "198.51.100.9")

    assert [v for v, _ in verdicts] == [RECORD, RECORD, LAST, SUPPRESS, SUPPRESS, SUPPRESS, SUPPRESS]
    assert all(summary is None for _, summary in verdicts) and other == (RECORD, None)
    assert after[0] == RECORD and after[1] is not None
    assert after[1].startswith("4 more refused peoplevox requests from 198.51.100.9 in one minute")


def test_unauthenticated_oversize_body_is_refused_before_it_is_read(client: TestClient, ledger_url: str) -> None:
    answer = client.post(PVX + "?token=wrong", content=b"x" * (MAX_BODY_BYTES + 10),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})

    assert answer.status_code == 401
    assert [e.status_code for e in security_events(ledger_url)] == [401]


def test_unknown_integration_and_wrong_system_are_not_found(client: TestClient, ledger_url: str) -> None:
    unknown = client.get(f"/hooks/peoplevox/nobody/{PACKAGE_DESPATCHED}", params={"token": SECRET, **DESPATCH})
    not_cin7 = client.post("/hooks/cin7core/bluebird", json=sale(),
                           headers={"Authorization": f"Bearer {BLUEBIRD_SECRET}"})

    assert unknown.status_code == 404 and "nobody" in unknown.json()["error"]
    assert not_cin7.status_code == 404
    assert [(e.integration, e.source, e.status_code) for e in security_events(ledger_url)] == [
        (None, "peoplevox", 404), ("bluebird", "cin7core", 404)]
    assert inbox_rows(ledger_url) == []


def test_integration_without_a_secret_refuses_every_callback(known: dict[str, Integration],
                                                             ledger_url: str) -> None:
    app = make_app(known, ledger_url, secrets={"northwind_webhooks": SECRET})
    with TestClient(app) as client:
        answer = client.get(f"/hooks/peoplevox/bluebird/{PACKAGE_DESPATCHED}", params={"token": "", **DESPATCH})

    assert answer.status_code == 401
    assert [e.reason for e in security_events(ledger_url)] == ["no webhook secret configured"]


FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(("path", "body", "status", "words"), [
    pytest.param(PVX, {k: v for k, v in DESPATCH.items() if k != "DespatchNumber"}, 400, "DespatchNumber",
                 id="missing-despatch-number"),
    pytest.param(PVX, {**DESPATCH, "DespatchNumber": "{DespatchNumber}"}, 400, "placeholder", id="placeholder"),
    pytest.param(PVX, {**DESPATCH, "DespatchDate": "yesterday"}, 400, "DespatchDate", id="bad-date"),
    pytest.param("/hooks/peoplevox/northwind/GoodsReceived", DESPATCH, 400, "GoodsReceived", id="unknown-event"),
    pytest.param(PVX, {**DESPATCH, "Notes": "x" * MAX_BODY_BYTES}, 413, "larger than", id="oversize"),
])
def test_malformed_peoplevox_callback_is_refused_and_recorded(client: TestClient, ledger_url: str, path: str,
                                                              body: dict[str, str], status: int, words: str) -> None:
    answer = client.post(f"{path}?token={SECRET}", content=urlencode(body), headers=FORM_HEADERS)

    assert answer.status_code == status
    assert words in answer.json()["error"]
    assert inbox_rows(ledger_url) == []
    [event] = security_events(ledger_url)
    assert (event.status_code, event.integration, event.path) == (status, "northwind", path)


def test_peoplevox_post_must_be_a_form(client: TestClient, ledger_url: str) -> None:
    answer = client.post(f"{PVX}?token={SECRET}", json=DESPATCH)

    assert answer.status_code == 415 and "application/x-www-form-urlencoded" in answer.json()["error"]
    assert inbox_rows(ledger_url) == []


# --- Cin7 Core ------------------------------------------------------------------------------------------------
def test_cin7_bearer_and_basic_are_accepted(client: TestClient, ledger_url: str) -> None:
    by_bearer = client.post(CIN7, json=sale(), headers={"Authorization": f"Bearer {SECRET}"})
    by_basic = client.post(CIN7, json=sale(), headers=basic(LOGIN, SECRET))

    assert (by_bearer.status_code, by_basic.status_code) == (202, 202)
    rows = inbox_rows(ledger_url)
    assert [(r.source, r.event_type) for r in rows] == [("cin7core", "Sale/OrderAuthorised")] * 2
    assert all(r.entity_key and r.body.startswith("{") and SECRET not in r.body for r in rows)


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="none"),
    pytest.param({"Authorization": "Bearer wrong-secret"}, id="wrong-bearer"),
    pytest.param(basic("someone-else", SECRET), id="wrong-login"),
    pytest.param(basic(LOGIN, "wrong-secret"), id="wrong-password"),
    pytest.param({"Authorization": "Basic %%%"}, id="unreadable-basic"),
    pytest.param({"Authorization": f"Token {SECRET}"}, id="other-scheme"),
])
def test_cin7_wrong_credentials_are_refused(client: TestClient, ledger_url: str, headers: dict[str, str]) -> None:
    answer = client.post(CIN7, json=sale(), headers=headers)

    assert answer.status_code == 401
    assert inbox_rows(ledger_url) == []
    [event] = security_events(ledger_url)
    assert (event.source, event.status_code, event.path) == ("cin7core", 401, CIN7)
    assert SECRET not in event.reason


def test_cin7_type_we_do_not_act_on_is_acknowledged_not_stored(client: TestClient, ledger_url: str) -> None:
    answer = client.post(CIN7, json=sale("Sale/Voided"), headers={"Authorization": f"Bearer {SECRET}"})

    assert answer.status_code == 200 and answer.json() == {"ignored": "Sale/Voided"}
    assert inbox_rows(ledger_url) == [] and security_events(ledger_url) == []


@pytest.mark.parametrize(("body", "words"), [
    pytest.param(b"{not json", "not valid JSON", id="not-json"),
    pytest.param(b'"just a string"', "JSON object", id="not-an-object"),
    pytest.param(b'{"SaleID": "1"}', "EventType", id="no-event-type"),
    pytest.param(b'{"EventType": "Sale/Exploded", "SaleID": "x"}', "unknown Cin7 Core event type", id="unknown"),
    pytest.param(b'{"EventType": "Sale/OrderAuthorised", "SaleID": "SO-1"}', "not a GUID", id="bad-sale-id"),
])
def test_malformed_cin7_webhook_is_refused(client: TestClient, ledger_url: str, body: bytes, words: str) -> None:
    answer = client.post(CIN7, content=body, headers={"Authorization": f"Bearer {SECRET}",
                                                       "Content-Type": "application/json"})

    assert answer.status_code == 400 and words in answer.json()["error"]
    assert inbox_rows(ledger_url) == []
    assert [e.status_code for e in security_events(ledger_url)] == [400]


# --- the ledger -----------------------------------------------------------------------------------------------
def test_unusable_ledger_answers_503_so_the_sender_retries(known: dict[str, Integration], tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'no-such-dir' / 'ledger.db'}"
    with TestClient(make_app(known, missing)) as client:
        answer = client.get(PVX, params={"token": SECRET, **DESPATCH})

    assert answer.status_code == 503 and answer.json() == {"error": "could not store the callback; retry"}


def test_ledger_failing_after_start_answers_503(client: TestClient, ledger_url: str) -> None:
    assert client.get(PVX, params={"token": SECRET, **DESPATCH}).status_code == 202
    with session_scope(ledger_url) as session:
        session.execute(text("DROP TABLE webhook_inbox"))

    answer = client.get(PVX, params={"token": SECRET, **DESPATCH, "PackageNumber": "P-9"})

    assert answer.status_code == 503 and answer.json()["error"] == "could not store the callback; retry"


def test_health_counts_callbacks_waiting_for_their_event(client: TestClient) -> None:
    client.get(PVX, params={"token": SECRET, **DESPATCH})
    client.post(CIN7, json=sale(), headers={"Authorization": f"Bearer {SECRET}"})

    answer = client.get("/health")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "outbox": "stopped", "pending_events": {"northwind": 2},
                             "pending_total": 2}
    assert SECRET not in answer.text and "D-501" not in answer.text


# --- logs -----------------------------------------------------------------------------------------------------
def test_access_log_never_shows_the_token() -> None:
    install_token_log_filter()
    install_token_log_filter()  # idempotent
    access = logging.getLogger("uvicorn.access")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    access.addHandler(handler)
    old_level, access.level = access.level, logging.INFO
    try:
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
                    f"/erp-wms{PVX}?token={SECRET}&DespatchNumber=D-501", "1.1", 202)
    finally:
        access.removeHandler(handler)
        access.setLevel(old_level)

    line = stream.getvalue()
    assert SECRET not in line and "token=***&DespatchNumber=D-501" in line
    assert sum(type(f).__name__ == "TokenFilter" for f in access.filters) == 1
    assert hide_tokens("GET /x?a=1&Token=abc HTTP/1.1") == "GET /x?a=1&Token=*** HTTP/1.1"


# --- end to end with the outbox thread ------------------------------------------------------------------------
def test_stored_callback_wakes_the_outbox_thread(known: dict[str, Integration], ledger_url: str) -> None:
    emitter = RecordingEmitter()
    app = make_app(known, ledger_url, start_outbox=True, emitter=emitter)
    with TestClient(app) as client:
        inbox_id = client.get(PVX, params={"token": SECRET, **DESPATCH}).json()["inbox_id"]
        deadline = time.monotonic() + 10
        while not emitter.events and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.get("/health").json()["outbox"] == "running"

    assert emitter.events == [("erp-wms://northwind/despatch-received",
                               {"inbox_ids": [inbox_id], "integration": "northwind"})]
    assert not app.state.outbox.running


# --- the simulators' own callback senders ---------------------------------------------------------------------
def test_callbacks_sent_by_the_simulators_are_stored(known: dict[str, Integration], ledger_url: str) -> None:
    from erp_wms_simulators.callbacks import CallbackDispatcher
    from erp_wms_simulators.cin7core.webhooks import delivery as cin7_delivery
    from erp_wms_simulators.peoplevox.events import build_delivery
    from erp_wms_simulators.peoplevox.state import Subscription
    from erp_wms_simulators.server import ServerThread
    from erp_wms_sync.webhooks import cin7_callback_url, peoplevox_callback_url

    server = ServerThread(make_app(known, ledger_url), name="webhook-receiver-test").start()
    try:
        values = {"SalesOrderNumber": "SO-1001", "DespatchNumber": "D-777", "PackageNumber": "P-1",
                  "TrackingNumber": "TRK 9/1", "Carrier.Name": "Royal Mail", "ServiceType.Code": "RM48",
                  "DespatchDate": "01/03/2026 10:15"}
        get_url = peoplevox_callback_url(server.url, "northwind", PACKAGE_DESPATCHED, SECRET)
        post_url = f"{server.url}/hooks/peoplevox/northwind/{PACKAGE_TRACKING_RECEIVED}?token={SECRET}"
        webhook = {"ID": "w1", "ExternalURL": cin7_callback_url(server.url, "northwind"),
                   "ExternalAuthorizationType": "basicauth", "ExternalUserName": LOGIN, "ExternalPassword": SECRET,
                   "ExternalBearerToken": "", "ExternalHeaders": []}
        dispatcher = CallbackDispatcher("test")
        dispatcher.enqueue(build_delivery(Subscription(1, PACKAGE_DESPATCHED, "", get_url, None, True), values))
        dispatcher.enqueue(build_delivery(Subscription(
            2, PACKAGE_TRACKING_RECEIVED, "", post_url,
            "DespatchNumber={DespatchNumber}&amp;PackageNumber={PackageNumber}&amp;SalesOrderNumber="
            "{SalesOrderNumber}&amp;TrackingNumber={TrackingNumber}", True), values))
        dispatcher.enqueue(cin7_delivery(webhook, "Sale/OrderAuthorised", sale()))
        assert dispatcher.pump(force=True) == 3
    finally:
        server.stop()

    assert len(dispatcher.delivered) == 3 and not dispatcher.given_up
    rows = inbox_rows(ledger_url)
    assert [(r.source, r.event_type, r.entity_key) for r in rows][:2] == [
        ("peoplevox", PACKAGE_DESPATCHED, "D-777"), ("peoplevox", PACKAGE_TRACKING_RECEIVED, "D-777")]
    assert rows[2].source == "cin7core"
    assert all(SECRET not in r.body for r in rows) and security_events(ledger_url) == []


def test_plugin_imports_before_the_ledger_is_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setenv("ERP_WMS_LEDGER_URL", f"sqlite:///{tmp_path / 'not-migrated.db'}")
    monkeypatch.setenv("ERP_WMS_INTEGRATIONS_DIR", str(ROOT / "include" / "integrations"))
    spec = importlib.util.spec_from_file_location("erp_wms_webhooks_test", ROOT / "plugins" / "erp_wms_webhooks.py")
    assert spec is not None and spec.loader is not None
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)

    [mounted] = plugin.ErpWmsWebhooksPlugin.fastapi_apps
    assert (mounted["url_prefix"], mounted["app"]) == ("/erp-wms", plugin.app)
    answer = TestClient(plugin.app).get("/health")  # no lifespan: no outbox thread here
    assert answer.status_code == 503 and answer.json() == {"status": "ledger unavailable"}
