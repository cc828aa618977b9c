"""Fixtures for the Cin7 Core sales, stock and webhook contract tests: an in-process API client on the demo
tenant (hand-driven clocks, no rate limit in the way), a local webhook receiver on 127.0.0.1, and small
helpers that walk a sale through its stages over HTTP.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from erp_wms_simulators.cin7core import Cin7CoreSettings, Cin7CoreState, create_app
from erp_wms_simulators.cin7core.demo import DEMO_ACCOUNT_ID, DEMO_APPLICATION_KEY, seed_demo

with warnings.catch_warnings():  # starlette warns that its test client's httpx backend will change
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

HEADERS = {"api-auth-accountid": DEMO_ACCOUNT_ID, "api-auth-applicationkey": DEMO_APPLICATION_KEY}
BASE = "/ExternalApi/v2"
MAIN = "Main Warehouse"
RETURNS = "Returns Bay"
CUSTOMER = "Summit Sports"


class FakeMonotonic:
    """A monotonic clock for the callback dispatcher that only moves when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Cin7Api:
    """The simulator app behind a test client, with its state, settings and clocks."""

    client: TestClient
    state: Cin7CoreState
    settings: Cin7CoreSettings
    clock: Any
    monotonic: FakeMonotonic

    def call(self, method: str, path: str, json_body: Any = None, **params: Any) -> Any:
        return self.client.request(method, BASE + path, headers=HEADERS, params=params or None, json=json_body)

    def ok(self, method: str, path: str, json_body: Any = None, **params: Any) -> Any:
        response = self.call(method, path, json_body, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def error(self, method: str, path: str, json_body: Any = None, fragment: str = "", status: int = 400,
              **params: Any) -> str:
        return assert_error_array(self.call(method, path, json_body, **params), status, fragment)

    # ---- walking a sale through its stages ----------------------------------------------------
    def new_sale(self, lines: list[dict[str, Any]], *, authorise: bool = True, **header: Any) -> str:
        body = {"Customer": CUSTOMER, "Location": MAIN, "SkipQuote": True, **header}
        sale_id: str = self.ok("POST", "/sale", body)["ID"]
        self.ok("POST", "/sale/order", {"SaleID": sale_id, "Status": "AUTHORISED" if authorise else "DRAFT",
                                        "Lines": lines})
        return sale_id

    def pick_pack(self, task_id: str) -> None:
        self.ok("POST", "/sale/fulfilment/pick", {"TaskID": task_id, "Status": "AUTHORISED",
                                                  "AutoPickMode": "AUTOPICK"})
        self.ok("POST", "/sale/fulfilment/pack", {"TaskID": task_id, "Status": "AUTHORISED"})

    def sale(self, sale_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.ok("GET", "/sale", ID=sale_id)
        return result

    def level(self, sku: str, location: str = MAIN) -> tuple[float, float, float]:
        """(OnHand, Allocated, Available) of a SKU at a location."""
        row = self.state.availability(sku, location)
        return row["OnHand"], row["Allocated"], row["Available"]


def assert_error_array(response: Any, status: int, fragment: str = "") -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list) and body, body
    assert all(set(entry) == {"ErrorCode", "Exception"} and entry["ErrorCode"] == status for entry in body)
    text = " | ".join(entry["Exception"] for entry in body)
    assert fragment.lower() in text.lower(), text
    assert "Traceback" not in response.text
    return text


@pytest.fixture
def cin7(erp_clock: Any) -> Iterator[Cin7Api]:
    state = Cin7CoreState(clock=erp_clock)
    seed_demo(state)
    monotonic = FakeMonotonic()
    state.callbacks.clock = monotonic
    settings = Cin7CoreSettings(rate_limit_per_minute=100_000)
    with TestClient(create_app(state, settings)) as client:
        yield Cin7Api(client, state, settings, erp_clock, monotonic)
    state.callbacks.stop()


# ---- a local webhook receiver ---------------------------------------------------------------
@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class Receiver:
    """Records every POST (with the status it answered): the next of ``statuses``, then 200."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.status < 300]

    def bodies(self, event_type: str | None = None) -> list[Any]:
        return [r.body for r in self.delivered() if event_type is None or
                (isinstance(r.body, dict) and r.body.get("EventType") == event_type)]

    def event_types(self) -> list[str]:
        """Delivered event types (the stock event is a bare array without EventType)."""
        return [r.body.get("EventType", "?") if isinstance(r.body, dict) else "Stock/AvailableStockLevelChanged"
                for r in self.delivered()]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with receiver.lock:
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.requests.append(Received(self.path, dict(self.headers.items()), json.loads(raw), status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()
    thread.join(5)
