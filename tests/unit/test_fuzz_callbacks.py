"""Fuzzed callbacks: Peoplevox despatch / stock / returns callbacks and Cin7 Core webhooks, hostile.

- The parsers the receiver uses (:mod:`erp_wms_sync.webhooks.inbox`) return a callback to keep, or raise
  ``Malformed`` with a message; nothing else.
- The receiver itself (FastAPI app, SQLite ledger) answers 2xx only for what it stored in ``webhook_inbox`` (or,
  for Cin7 Core, a type the integration does not act on, answered ``{"ignored": …}`` so Cin7 does not deactivate
  the webhook), 4xx for everything else, never 5xx; a stock or returns callback it stored is readable by its flow.
- The flows that drain the inbox (dispatch confirmation, returns) turn a malformed stored body into a held
  exception or a logged refusal and still process the rest of the batch.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import func, select

from erp_wms_sync.config import Integration, load_integration
from erp_wms_sync.domain.despatches import BadDespatch, notice_from_callback
from erp_wms_sync.domain.pv_reports import BadStockEvent
from erp_wms_sync.domain.pv_returns import return_notice_from_callback
from erp_wms_sync.domain.stock_movements import stock_notice_from_callback
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.dispatch_confirmation import collect as dispatch_collect
from erp_wms_sync.flows.returns import collect as returns_collect
from erp_wms_sync.ledger.db import session_scope, upgrade
from erp_wms_sync.ledger.models import ExceptionRecord, WebhookInbox
from erp_wms_sync.webhooks import (
    AVAILABILITY_CHANGES,
    CIN7_EVENTS,
    INCREMENTAL_CHANGES,
    MAX_BODY_BYTES,
    PACKAGE_DESPATCHED,
    PACKAGE_TRACKING_RECEIVED,
    PEOPLEVOX,
    PEOPLEVOX_STOCK_CHANGE_EVENTS,
    RETURNS,
)
from erp_wms_sync.webhooks.inbox import Callback, Ignored, Malformed, cin7_callback, peoplevox_callback
from erp_wms_sync.webhooks.receiver import create_app
from erp_wms_sync.webhooks.secrets import StaticSecretSource
from tests.unit.fuzz_payloads import FUZZ, FUZZ_FLOW, FUZZ_SLOW, hostile_json_bytes, nasty_text, outcome

ROOT = Path(__file__).resolve().parents[2]
SECRET = "pvx-Secret-0123456789abcdef"
LOGIN = "cin7-hooks"
SALE_ID = "0f6c2a52-8c1d-4f3e-9b7a-2d5e1c4b8a90"

# Callbacks as the simulators send them (parameter name -> value).
DESPATCH = {"SalesOrderNumber": "SO-1001", "DespatchNumber": "D-501", "PackageNumber": "P-1",
            "TrackingNumber": "TRK123", "Carrier": "Royal Mail", "Service": "RM48",
            "DespatchDate": "2026-03-01T10:15:00"}
MOVEMENT = {"ItemCode": "MUG-BLUE", "QuantityChanged": "-2", "UpdateTimestamp": "2026-03-01T10:15:00",
            "UpdatedBy": "picker1", "Reason": "Despatch", "Site": "MAIN", "HistoryId": "5001"}
AVAILABILITY = {"ItemCode": "MUG-BLUE", "Available": "7", "OnHand": "9", "Allocated": "2", "Site": "MAIN"}
RETURN_LINE = {"ReturnCode": "RET-77", "SalesOrderNumber": "SO-1001", "ItemCode": "MUG-BLUE", "Quantity": "1",
               "Reason": "Too small", "Condition": "Sellable", "Site": "MAIN", "ReturnDate": "01/03/2026 10:15:00"}
CALLBACKS: dict[str, dict[str, str]] = {
    PACKAGE_DESPATCHED: DESPATCH, PACKAGE_TRACKING_RECEIVED: DESPATCH, INCREMENTAL_CHANGES: MOVEMENT,
    AVAILABILITY_CHANGES: AVAILABILITY, RETURNS: RETURN_LINE,
}
CIN7_WEBHOOK = {"SaleID": SALE_ID, "SaleOrderNumber": "SO-77", "EventType": "Sale/OrderAuthorised"}
CIN7_STOCK_WEBHOOK = [{"ID": "5b0c9f7e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "SKU": "NW-TEE-BLK-M", "Available": 10}]


# --- strategies ------------------------------------------------------------------------------------------------
@st.composite
def hostile_pairs(draw: st.DrawFn, fields: dict[str, str]) -> list[tuple[str, str]]:
    """The (name, value) pairs of a callback like ``fields``: fields dropped, emptied, left as their
    ``{Placeholder}``, given hostile values, given twice (same or other value), or unknown fields added. A third
    of the callbacks are changed only here and there, so good ones reach the ledger too."""
    pairs: list[tuple[str, str]] = []
    odds = draw(st.sampled_from([9, 9, 40]))
    for name, value in fields.items():
        change = odds - draw(st.integers(min_value=0, max_value=odds))  # Hypothesis leans to small draws: 0 keeps
        if change == 0:
            continue
        if change == 1:
            value = draw(nasty_text)
        elif change == 2:
            value = "{" + name + "}"
        elif change == 3:
            pairs.append((name, draw(st.sampled_from([value, draw(nasty_text)]))))
        pairs.append((name, value))
    if draw(st.integers(min_value=0, max_value=odds // 2)) == odds // 2:
        pairs.append((draw(nasty_text), draw(nasty_text)))
    return draw(st.permutations(pairs))


@st.composite
def fresh(draw: st.DrawFn, fields: dict[str, str]) -> dict[str, str]:
    """``fields`` naming a new despatch / movement / return / figure, so a good callback is stored, not a repeat."""
    number = draw(st.integers(min_value=1, max_value=10**9))
    renames = {"DespatchNumber": f"D-{number}", "HistoryId": str(number), "ReturnCode": f"RET-{number}",
               "Available": str(number % 1000)}
    return {name: renames.get(name, value) for name, value in fields.items()}


def encode(pairs: list[tuple[str, str]]) -> str:
    """Form / query text; a lone surrogate becomes its (invalid UTF-8) percent escapes, as a broken sender's."""
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass")


@st.composite
def hostile_query(draw: st.DrawFn, fields: dict[str, str]) -> str:
    """A callback's query / form text, sometimes broken as text (truncated, stray separators or escapes)."""
    text = encode(draw(hostile_pairs(fields)))
    kind = 6 - draw(st.integers(min_value=0, max_value=6))
    if kind == 0:
        return text[:draw(st.integers(min_value=0, max_value=len(text)))]
    if kind == 1:
        at = draw(st.integers(min_value=0, max_value=len(text)))
        stray = draw(st.sampled_from(["&", "&&", "=", "==", "%", "%E2%82", "%00", "+", ";", "#"]))
        return text[:at] + stray + text[at:]
    return text


event_types = st.sampled_from([*sorted(CALLBACKS) * 3, "Bogus", "returns", "x" * 300])


# --- the parsers the receiver uses -------------------------------------------------------------------------------
@FUZZ
@given(event_type=event_types, data=st.data())
def test_a_hostile_peoplevox_callback_is_kept_or_malformed(event_type: str, data: st.DataObject) -> None:
    raw = data.draw(hostile_query(CALLBACKS.get(event_type, DESPATCH)), label="raw")
    kept, error = outcome(lambda: peoplevox_callback("northwind", event_type, raw, SECRET), (Malformed,))
    if error is not None:
        assert error.status in (400, 413, 415)  # type: ignore[attr-defined]
        return
    assert isinstance(kept, Callback) and kept.entity_key and len(kept.entity_key) <= 128
    assert "\x00" not in kept.body + kept.entity_key
    json.dumps([kept.body, kept.entity_key, kept.dedupe_key])  # storable
    _readable_by_its_flow(kept)


def _readable_by_its_flow(kept: Callback) -> None:
    """The receiver promises that a stock or returns callback it keeps is readable by its flow's parser."""
    if kept.event_type in PEOPLEVOX_STOCK_CHANGE_EVENTS:
        stock_notice_from_callback(kept.event_type, kept.body, "UTC")
    elif kept.event_type == RETURNS:
        return_notice_from_callback(kept.event_type, kept.body, "UTC")
    else:  # a despatch: readable, or a held exception of dispatch confirmation (a number too long for the ledger)
        outcome(lambda: notice_from_callback(kept.event_type, kept.body, "UTC"), (BadDespatch,))


@FUZZ
@given(body=st.one_of(hostile_json_bytes(CIN7_WEBHOOK), hostile_json_bytes(CIN7_STOCK_WEBHOOK), st.binary()))
def test_a_hostile_cin7_webhook_is_kept_ignored_or_malformed(body: bytes) -> None:
    kept, error = outcome(lambda: cin7_callback("northwind", body, SECRET), (Malformed,))
    if error is None:
        assert isinstance(kept, Callback | Ignored)
        if isinstance(kept, Callback):
            assert kept.event_type in CIN7_EVENTS and str(uuid.UUID(kept.entity_key)) == kept.entity_key.lower()
        else:
            assert kept.event_type not in CIN7_EVENTS


@pytest.mark.parametrize(("body", "words"), [
    (b"[" * 60_000, "nested too deeply"),
    (b'{"EventType": "Sale/OrderAuthorised", "SaleID": "' + SALE_ID.encode() + b'", "Note": ' + b"[" * 5000
     + b"]" * 5000 + b"}", "nested too deeply"),
], ids=["array-60000-deep", "deep-field-in-a-good-webhook"])
def test_regression_deeply_nested_cin7_json_is_malformed_not_a_recursion_error(body: bytes, words: str) -> None:
    """Found by the fuzz: RecursionError escaped the JSON reader, so the receiver answered 500."""
    with pytest.raises(Malformed, match=words):
        cin7_callback("northwind", body, SECRET)


def test_regression_a_lone_surrogate_in_a_cin7_webhook_is_kept() -> None:
    """Found by the fuzz: a field holding an escaped lone surrogate ("\\ud800") broke the dedupe digest
    (UnicodeEncodeError, HTTP 500). JSON allows the escape; the webhook is kept as sent."""
    body = json.dumps({**CIN7_WEBHOOK, "Note": "\ud800"}).encode()
    kept = cin7_callback("northwind", body, SECRET)
    assert isinstance(kept, Callback) and kept.entity_key == SALE_ID and kept.body == body.decode()


@pytest.mark.parametrize("raw", [encode([*DESPATCH.items(), ("Carrier", "Royal\x00Mail")][1:]),
                                 encode(list(MOVEMENT.items())).replace("MUG-BLUE", "MUG%00BLUE"),
                                 "SalesOrderNumber=SO-1\x00&DespatchNumber=D-1&PackageNumber=P-1"],
                         ids=["despatch-field", "stock-item-code", "raw-form-body"])
def test_regression_a_nul_character_in_a_peoplevox_callback_is_malformed(raw: str) -> None:
    """Found by the fuzz: a NUL reached the entity key / body, which a PostgreSQL ledger refuses with a
    ValueError the receiver does not expect (HTTP 500). It is refused as malformed instead."""
    event_type = INCREMENTAL_CHANGES if "ItemCode" in raw else PACKAGE_DESPATCHED
    with pytest.raises(Malformed, match="NUL character"):
        peoplevox_callback("northwind", event_type, raw, SECRET)


# --- the receiver ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz-ledger') / 'ledger.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def known() -> dict[str, Integration]:
    return {name: load_integration(ROOT / "include" / "integrations" / f"{name}.yaml")
            for name in ("northwind", "bluebird")}


@pytest.fixture(scope="module")
def receiver(known: dict[str, Integration], fuzz_ledger: str) -> Iterator[TestClient]:
    secrets = StaticSecretSource({"northwind_webhooks": (SECRET, LOGIN), "bluebird_webhooks": "bluebird-Secret-98"})
    app = create_app(integrations=lambda: known, secrets=secrets, ledger_url=fuzz_ledger, emitter=None)
    with TestClient(app, client=("203.0.113.9", 5000), raise_server_exceptions=False) as client:
        yield client


def _inbox(url: str) -> tuple[int, int]:
    """(rows, highest id) of the inbox."""
    with session_scope(url) as session:
        count, top = session.execute(select(func.count(), func.max(WebhookInbox.id))).one()
    return int(count), int(top or 0)


def _stored(url: str, inbox_id: int) -> WebhookInbox | None:
    with session_scope(url) as session:
        row = session.get(WebhookInbox, inbox_id)
        if row is not None:
            session.expunge(row)
        return row


def _judge(answer: Any, url: str, before: tuple[int, int], event_type: str | None) -> None:
    """2xx only for a stored callback (or an ignored Cin7 type), 4xx with an error otherwise, never 5xx."""
    after = _inbox(url)
    status = answer.status_code
    assert status < 500, f"HTTP {status}: {answer.text[:300]}"
    body = answer.json()
    event(f"HTTP {status} {str(body.get('error', ''))[:50]}")  # the spread shows with --hypothesis-show-statistics
    if status == 202:
        row = _stored(url, body["inbox_id"])
        assert row is not None and row.id > before[1] and after[0] == before[0] + 1, "202 for a callback not stored"
        if event_type is not None:
            assert row.event_type == event_type and row.source == PEOPLEVOX
            _readable_by_its_flow(Callback("northwind", PEOPLEVOX, event_type, row.body, row.entity_key or "", ""))
        assert SECRET not in row.body
    elif status == 200:
        assert after == before, "a 200 answer stored something new"
        if "ignored" in body:
            assert event_type is None and body["ignored"] not in CIN7_EVENTS
        else:
            assert body["duplicate"] is True and _stored(url, body["inbox_id"]) is not None
    else:
        assert 400 <= status < 500 and after == before and body.get("error"), (status, body)


@st.composite
def peoplevox_requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes | None, str]:
    """(method, URL, headers, body, event type) of a hostile Peoplevox callback."""
    event_type = draw(event_types)
    text = draw(hostile_query(draw(fresh(CALLBACKS.get(event_type, DESPATCH)))))
    token = f"token={SECRET}"
    if draw(st.integers(min_value=0, max_value=7)) == 7:
        token = draw(st.sampled_from(["", "token=wrong", f"token={SECRET}&token={SECRET}", f"TOKEN={SECRET}"]))
    path = f"/hooks/peoplevox/northwind/{quote(event_type, safe='')}"
    if draw(st.booleans()):
        query = "&".join(part for part in (token, text) if part)[:8000]  # HTTP clients cap a URL's length
        return "GET", f"{path}?{query}", {}, None, event_type
    content_type = "application/x-www-form-urlencoded; charset=utf-8"
    if draw(st.integers(min_value=0, max_value=7)) == 7:
        content_type = draw(st.sampled_from(["text/plain", "", "application/json", "multipart/form-data"]))
    body = text.encode()
    kind = 7 - draw(st.integers(min_value=0, max_value=7))
    if kind == 0:
        body = body + b"\xff\xfe" + draw(st.binary(max_size=8))
    elif kind == 1:
        body = b"a=" + b"x" * (MAX_BODY_BYTES + 10)
    return "POST", f"{path}?{token}", {"content-type": content_type} if content_type else {}, body, event_type


@FUZZ_SLOW
@given(request=peoplevox_requests())
def test_the_receiver_answers_a_peoplevox_callback_2xx_only_once_stored(receiver: TestClient, fuzz_ledger: str,
                                                                        request: tuple[Any, ...]) -> None:
    method, url, headers, body, event_type = request
    before = _inbox(fuzz_ledger)
    answer = receiver.request(method, url, headers=headers, content=body)
    _judge(answer, fuzz_ledger, before, event_type)


AUTH = ("Bearer " + SECRET, "Bearer wrong", "Basic !!!", "Basic " + "Y2luNy1ob29rczpw", "", "Digest x")


@FUZZ_SLOW
@given(body=st.one_of(st.just(json.dumps(CIN7_WEBHOOK).encode()), hostile_json_bytes(CIN7_WEBHOOK),
                      hostile_json_bytes(CIN7_STOCK_WEBHOOK)),
       wrong_auth=st.integers(min_value=0, max_value=len(AUTH) + 4), new_sale=st.booleans())
def test_the_receiver_answers_a_cin7_webhook_2xx_only_once_stored(receiver: TestClient, fuzz_ledger: str, body: bytes,
                                                                  wrong_auth: int, new_sale: bool) -> None:
    auth = AUTH[max(wrong_auth - 5, 0)]  # mostly the right Bearer token
    if new_sale:  # a new sale each time, so most good webhooks are stored rather than answered as repeats
        body = body.replace(SALE_ID.encode(), str(uuid.uuid4()).encode())
    headers = {"content-type": "application/json", **({"authorization": auth} if auth else {})}
    before = _inbox(fuzz_ledger)
    answer = receiver.post("/hooks/cin7core/northwind", content=body, headers=headers)
    _judge(answer, fuzz_ledger, before, None)
    if answer.status_code == 202:
        row = _stored(fuzz_ledger, answer.json()["inbox_id"])
        assert row is not None and row.source == "cin7core" and row.event_type in CIN7_EVENTS


def test_regression_the_receiver_refuses_deep_json_with_400_not_500(receiver: TestClient, fuzz_ledger: str) -> None:
    before = _inbox(fuzz_ledger)
    answer = receiver.post("/hooks/cin7core/northwind", content=b"[" * 60_000,
                           headers={"authorization": "Bearer " + SECRET, "content-type": "application/json"})
    assert answer.status_code == 400 and "nested too deeply" in answer.json()["error"]
    assert _inbox(fuzz_ledger) == before


# --- the flows that drain the inbox ----------------------------------------------------------------------------
class DespatchReport:
    """Peoplevox's Despatch summary listing D-501 (the good callback's despatch)."""

    def get_report(self, name: str, **_: Any) -> list[dict[str, str]]:
        assert name == "Despatch summary"
        return [{"Despatch number": "D-501", "Salesorder number": "SO-1001", "Item code": "MUG-BLUE",
                 "No of items": "1", "Despatch date": "'01/03/2026 10:15:00'", "Carrier": "Royal Mail",
                 "Service": "RM48", "Tracking number": "TRK123", "Site reference": "MAIN"}]


class EmptyReturnReport:
    def get_report(self, name: str, **_: Any) -> list[dict[str, str]]:
        assert name == "Return summary"
        return []


_runs = itertools.count(1)


def _put(url: str, event_type: str, bodies: list[str]) -> list[int]:
    """Store ``bodies`` straight into the inbox (as an older receiver, or a hand edit, might have left them)."""
    with session_scope(url) as session:
        rows = [WebhookInbox(integration="northwind", source=PEOPLEVOX, event_type=event_type, body=body,
                             dedupe_key=uuid.uuid4().hex, entity_key=None, status="received", asset_event_id=-1)
                for body in bodies]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _statuses(url: str, ids: list[int]) -> dict[int, str]:
    with session_scope(url) as session:
        return {row.id: row.status for row in session.scalars(select(WebhookInbox).where(WebhookInbox.id.in_(ids)))}


def _context(known: dict[str, Integration], url: str, flow: str) -> RunContext:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    return RunContext(known["northwind"], flow, f"manual__fuzz{next(_runs)}",
                      Window(now - timedelta(hours=4), now, "test"), url)


@FUZZ_FLOW
@given(hostile=st.lists(hostile_query(DESPATCH), min_size=1, max_size=3),
       event_type=st.sampled_from([PACKAGE_DESPATCHED, PACKAGE_TRACKING_RECEIVED]))
def test_dispatch_confirmation_holds_a_malformed_stored_callback_and_processes_the_rest(
        known: dict[str, Integration], fuzz_ledger: str, hostile: list[str], event_type: str) -> None:
    good, *bad = _put(fuzz_ledger, PACKAGE_DESPATCHED, [encode(list(DESPATCH.items()))]) + \
        _put(fuzz_ledger, event_type, hostile)
    ctx = _context(known, fuzz_ledger, "dispatch_confirmation")

    dispatch_collect.collect(ctx, DespatchReport(), now=datetime(2026, 3, 1, 12, tzinfo=UTC))

    statuses = _statuses(fuzz_ledger, [good, *bad])
    assert statuses[good] == "processed"
    with session_scope(fuzz_ledger) as session:
        held = {exc.detail["inbox_id"] for exc in session.scalars(
            select(ExceptionRecord).where(ExceptionRecord.entity_type == "callback")) if exc.detail}
    for inbox_id, body in zip(bad, hostile, strict=True):
        try:
            notice_from_callback(event_type, body, known["northwind"].wms.timezone)
        except ValueError:
            assert statuses[inbox_id] == "failed" and inbox_id in held, f"unreadable callback #{inbox_id} not held"
        else:
            assert statuses[inbox_id] in ("processed", "waiting")


@FUZZ_FLOW
@given(hostile=st.lists(hostile_query(RETURN_LINE), min_size=1, max_size=3))
def test_the_returns_flow_refuses_a_malformed_stored_callback_and_drains_the_batch(
        known: dict[str, Integration], fuzz_ledger: str, hostile: list[str]) -> None:
    ids = _put(fuzz_ledger, RETURNS, [encode(list(RETURN_LINE.items())), *hostile])
    ctx = _context(known, fuzz_ledger, "returns")

    result = returns_collect.collect(ctx, EmptyReturnReport(), now=datetime(2026, 3, 1, 12, tzinfo=UTC))

    assert result["callbacks"] >= len(ids)
    assert set(_statuses(fuzz_ledger, ids).values()) == {"processed"}
    for body in hostile:  # a refusal is a BadStockEvent the flow logs, never another exception
        outcome(lambda body=body: return_notice_from_callback(RETURNS, body, "Europe/London"), (BadStockEvent,))
