"""The outbox: stored callbacks become Airflow asset events (one per asset per batch), retried and nudged."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping
from typing import Any

import pytest
import requests
from sqlalchemy import select

from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import WebhookInbox
from erp_wms_sync.webhooks import CIN7_ORDER_AUTHORISED, CIN7CORE, PACKAGE_DESPATCHED, PEOPLEVOX
from erp_wms_sync.webhooks.inbox import Callback, store
from erp_wms_sync.webhooks.outbox import AssetNotReady, EmitError, Outbox, RestAssetEmitter

DESPATCH_URI = "erp-wms://northwind/despatch-received"
ORDERS_URI = "erp-wms://northwind/sale-order-authorised"
BLUEBIRD_URI = "erp-wms://bluebird/despatch-received"
_keys = itertools.count(1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeEmitter:
    """Emits into a list; ``failing`` URIs raise; ``nudge`` says what needs_nudge answers."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.failing: set[str] = set()
        self.nudge = False
        self.nudge_checks: list[str] = []

    def emit(self, uri: str, extra: Mapping[str, Any]) -> int:
        if uri in self.failing:
            raise EmitError(f"Airflow API unreachable for {uri}")
        self.events.append((uri, dict(extra)))
        return 100 + len(self.events)

    def needs_nudge(self, uri: str) -> bool:
        self.nudge_checks.append(uri)
        return self.nudge


def stored(url: str, integration: str = "northwind", source: str = PEOPLEVOX,
           event_type: str = PACKAGE_DESPATCHED) -> int:
    key = f"key-{next(_keys)}"
    return store(url, Callback(integration, source, event_type, f"DespatchNumber={key}", key, key)).inbox_id


def emitted(url: str) -> dict[int, tuple[int | None, int]]:
    with session_scope(url) as session:
        rows = session.scalars(select(WebhookInbox).order_by(WebhookInbox.id))
        return {row.id: (row.asset_event_id, row.emit_attempts) for row in rows}


def test_one_event_per_asset_per_batch_and_rows_marked(ledger_url: str) -> None:
    despatches = [stored(ledger_url) for _ in range(3)]
    order = stored(ledger_url, source=CIN7CORE, event_type=CIN7_ORDER_AUTHORISED)
    other = stored(ledger_url, integration="bluebird")
    emitter = FakeEmitter()
    outbox = Outbox(ledger_url, emitter, clock=Clock())

    result = outbox.run_once()

    assert (result.events, result.rows, result.failed) == (3, 5, 0)
    assert sorted(emitter.events) == sorted([
        (DESPATCH_URI, {"inbox_ids": despatches, "integration": "northwind"}),
        (ORDERS_URI, {"inbox_ids": [order], "integration": "northwind"}),
        (BLUEBIRD_URI, {"inbox_ids": [other], "integration": "bluebird"}),
    ])
    event_of = {uri: 101 + index for index, (uri, _) in enumerate(emitter.events)}
    state = emitted(ledger_url)
    assert {state[i][0] for i in despatches} == {event_of[DESPATCH_URI]}
    assert state[order][0] == event_of[ORDERS_URI] and state[other][0] == event_of[BLUEBIRD_URI]
    assert outbox.run_once().events == 0 and len(emitter.events) == 3


def test_batches_are_bounded_and_the_rest_follows(ledger_url: str) -> None:
    ids = [stored(ledger_url) for _ in range(5)]
    emitter = FakeEmitter()
    outbox = Outbox(ledger_url, emitter, batch_size=2, clock=Clock())

    passes = [outbox.run_once() for _ in range(3)]

    assert [p.more for p in passes] == [True, True, False]
    assert [extra["inbox_ids"] for _, extra in emitter.events] == [ids[:2], ids[2:4], ids[4:]]


def test_failing_emit_keeps_rows_backs_off_and_retries(ledger_url: str) -> None:
    despatch = stored(ledger_url)
    order = stored(ledger_url, source=CIN7CORE, event_type=CIN7_ORDER_AUTHORISED)
    emitter, clock = FakeEmitter(), Clock()
    emitter.failing = {DESPATCH_URI}
    outbox = Outbox(ledger_url, emitter, clock=clock)

    first = outbox.run_once()
    assert (first.failed, first.events) == (1, 1)
    assert emitted(ledger_url)[despatch] == (None, 1)
    assert emitted(ledger_url)[order][0] is not None

    emitter.failing.clear()
    assert outbox.run_once().events == 0, "the failing asset waits for its backoff"
    clock.now += 2.5
    second = outbox.run_once()

    assert second.events == 1
    assert emitter.events[-1] == (DESPATCH_URI, {"inbox_ids": [despatch], "integration": "northwind"})
    event_id, attempts = emitted(ledger_url)[despatch]
    assert event_id is not None and attempts == 1


def test_failures_are_logged_once_a_minute_without_secrets(ledger_url: str, caplog: pytest.LogCaptureFixture) -> None:
    from erp_wms_sync.connectors.redaction import remember

    remember("outbox-Secret-42")
    stored(ledger_url)
    emitter, clock = FakeEmitter(), Clock()

    def broken(uri: str, extra: Mapping[str, Any]) -> int:
        raise EmitError("token outbox-Secret-42 refused")

    emitter.emit = broken  # type: ignore[method-assign]
    outbox = Outbox(ledger_url, emitter, clock=clock)
    with caplog.at_level("INFO", logger="erp_wms_sync.webhooks.outbox"):
        for _ in range(5):
            outbox.run_once()
            clock.now += 5

    warnings = [r for r in caplog.records if "could not emit" in r.getMessage()]
    assert len(warnings) == 1
    assert "outbox-Secret-42" not in caplog.text and "***" in caplog.text


def test_stranded_event_is_nudged_once(ledger_url: str) -> None:
    stored(ledger_url)
    emitter, clock = FakeEmitter(), Clock()
    emitter.nudge = True
    outbox = Outbox(ledger_url, emitter, clock=clock)

    outbox.run_once()
    assert outbox.run_once().nudges == 0 and emitter.nudge_checks == [], "too early to tell"
    clock.now += 3
    assert outbox.run_once().nudges == 1
    assert emitter.events[-1] == (DESPATCH_URI, {"nudge": True, "integration": "northwind"})

    stored(ledger_url)
    outbox.run_once()
    clock.now += 3
    assert outbox.run_once().nudges == 0, "at most one nudge per asset per 10 s"
    assert len(emitter.events) == 3


def test_no_nudge_when_the_event_started_a_run(ledger_url: str) -> None:
    stored(ledger_url)
    emitter, clock = FakeEmitter(), Clock()
    outbox = Outbox(ledger_url, emitter, clock=clock)

    outbox.run_once()
    clock.now += 3
    assert outbox.run_once().nudges == 0
    assert emitter.nudge_checks == [DESPATCH_URI] and len(emitter.events) == 1


def test_thread_emits_when_woken_and_stops(ledger_url: str) -> None:
    emitter = FakeEmitter()
    outbox = Outbox(ledger_url, emitter, idle_wait=30)
    outbox.start()
    try:
        inbox_id = stored(ledger_url)
        outbox.wake()
        deadline = time.monotonic() + 10
        while not emitter.events and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        outbox.stop(timeout=5)

    assert emitter.events == [(DESPATCH_URI, {"inbox_ids": [inbox_id], "integration": "northwind"})]
    assert not outbox.running


# --- the REST emitter -------------------------------------------------------------------------------------------
class FakeAirflow(requests.Session):
    """Answers the few /api/v2 calls the emitter makes, from canned data."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[dict[str, Any]] = [{"id": 7, "uri": DESPATCH_URI + "-old"}, {"id": 8, "uri": DESPATCH_URI}]
        self.calls: list[tuple[str, str, Any]] = []
        self.event_answer: dict[str, Any] = {"id": 55, "asset_id": 8}
        self.newest: list[dict[str, Any]] = [{"id": 55, "asset_id": 8, "created_dagruns": []}]
        self.queued: list[dict[str, Any]] = []
        self.reject_tokens: set[str] = set()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        path = str(url).removeprefix("http://airflow.test")
        self.calls.append((str(method), path, kwargs.get("params") or kwargs.get("json")))
        if kwargs["headers"]["Authorization"].removeprefix("Bearer ") in self.reject_tokens:
            return answer(401, {"detail": "expired"})
        if path == "/api/v2/assets":
            pattern = str(kwargs["params"]["uri_pattern"])
            return answer(200, {"assets": [a for a in self.assets if pattern in str(a["uri"])]})
        if path == "/api/v2/assets/events" and method == "POST":
            return answer(200, self.event_answer)
        if path == "/api/v2/assets/events":
            return answer(200, {"asset_events": self.newest, "total_entries": len(self.newest)})
        if path == "/api/v2/assets/8/queuedEvents":
            return answer(200, {"queued_events": self.queued, "total_entries": len(self.queued)})
        return answer(404, {"detail": "not found"})


def answer(status: int, body: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    return response


def rest(session: FakeAirflow, tokens: list[str] | None = None) -> RestAssetEmitter:
    minted = iter(tokens or ["jwt-1", "jwt-2", "jwt-3"])
    return RestAssetEmitter("http://airflow.test", mint=lambda: next(minted), session=session)


def test_rest_emitter_posts_to_the_exact_asset_and_caches_its_id() -> None:
    airflow = FakeAirflow()
    emitter = rest(airflow)

    assert emitter.emit(DESPATCH_URI, {"inbox_ids": [1, 2]}) == 55
    assert emitter.emit(DESPATCH_URI, {"inbox_ids": [3]}) == 55

    posts = [body for method, path, body in airflow.calls if method == "POST"]
    assert posts == [{"asset_id": 8, "extra": {"inbox_ids": [1, 2]}}, {"asset_id": 8, "extra": {"inbox_ids": [3]}}]
    assert sum(path == "/api/v2/assets" for _, path, _ in airflow.calls) == 1


def test_rest_emitter_renews_a_refused_token() -> None:
    airflow = FakeAirflow()
    airflow.reject_tokens = {"jwt-1"}

    assert rest(airflow).emit(DESPATCH_URI, {}) == 55


def test_rest_emitter_refuses_an_event_for_another_asset() -> None:
    airflow = FakeAirflow()
    airflow.event_answer = {"id": 56, "asset_id": 7}

    with pytest.raises(EmitError, match="for asset 7"):
        rest(airflow).emit(DESPATCH_URI, {})


def test_unknown_asset_is_not_ready_yet() -> None:
    airflow = FakeAirflow()
    airflow.assets = []

    with pytest.raises(AssetNotReady, match="not known to Airflow yet"):
        rest(airflow).emit(DESPATCH_URI, {})


@pytest.mark.parametrize(("newest", "queued", "expected"), [
    pytest.param([{"id": 55, "asset_id": 8, "created_dagruns": []}], [], True, id="stranded"),
    pytest.param([{"id": 55, "asset_id": 8, "created_dagruns": [{"run_id": "r"}]}], [], False, id="run-created"),
    pytest.param([{"id": 55, "asset_id": 8, "created_dagruns": []}], [{"dag_id": "d"}], False, id="queued"),
    pytest.param([], [], False, id="no-event"),
])
def test_rest_emitter_tells_a_stranded_event(newest: list[dict[str, Any]], queued: list[dict[str, Any]],
                                            expected: bool) -> None:
    airflow = FakeAirflow()
    airflow.newest, airflow.queued = newest, queued

    assert rest(airflow).needs_nudge(DESPATCH_URI) is expected


def test_stock_wake_ups_are_throttled_and_never_hold_back_a_despatch(ledger_url: str) -> None:
    """A big delivery is hundreds of IncrementalChanges callbacks in seconds: inventory sync gets one wake-up per
    half minute carrying all of them, while a despatch behind them still goes at once."""
    from erp_wms_sync.webhooks import BATCH_WAKE_UP_SECONDS, INCREMENTAL_CHANGES

    stock_uri = "erp-wms://northwind/stock-changed"
    clock = Clock()
    emitter = FakeEmitter()
    outbox = Outbox(ledger_url, emitter, clock=clock)
    first = [stored(ledger_url, event_type=INCREMENTAL_CHANGES) for _ in range(3)]
    assert outbox.run_once().events == 1
    clock.now += 1
    later = [stored(ledger_url, event_type=INCREMENTAL_CHANGES) for _ in range(40)]
    despatch = stored(ledger_url)

    outbox.run_once()
    assert [uri for uri, _ in emitter.events] == [stock_uri, DESPATCH_URI]
    assert emitter.events[1][1]["inbox_ids"] == [despatch]
    assert all(emitted(ledger_url)[i][0] is None for i in later)  # waiting for the next wake-up

    clock.now += BATCH_WAKE_UP_SECONDS
    outbox.run_once()
    assert [uri for uri, _ in emitter.events] == [stock_uri, DESPATCH_URI, stock_uri]
    assert emitter.events[0][1]["inbox_ids"] == first and emitter.events[2][1]["inbox_ids"] == later
