"""CallbackDispatcher against a local HTTP receiver: delivery, Cin7 Core's retry schedule on a fake clock,
deactivation, drop / duplicate / reorder faults, Peoplevox-style GET and form callbacks, the admin pump.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from erp_wms_simulators.bluecherry import BlueCherryState
from erp_wms_simulators.bluecherry import create_app as create_bluecherry
from erp_wms_simulators.callbacks import (
    CIN7_FIRST_DELAY,
    CIN7_RETRY_SCHEDULE,
    CallbackDispatcher,
    Delivery,
    fill_placeholders,
    form_fields,
)
from erp_wms_simulators.cin7core import Cin7CoreState
from erp_wms_simulators.faults import FaultPlan, FaultRule
from erp_wms_simulators.server import ServerThread


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver: ``/ok`` answers 200, ``/fail`` 500, ``/slow`` sleeps 1 s; it records every request."""

    url: str
    requests: list[Received] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.requests) >= count, f"only {len(self.requests)} of {count} callbacks arrived"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    record = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            record.requests.append(Received(self.command, parts.path, parse_qs(parts.query),
                                            {k.lower(): v for k, v in self.headers.items()}, body))
            if parts.path == "/slow":
                time.sleep(1.0)
            status = 500 if parts.path == "/fail" else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def webhook(receiver: Receiver, event: str, path: str = "/ok", subscription: str = "wh-1") -> Delivery:
    return Delivery(f"{receiver.url}{path}", headers={"Authorization": "Bearer t0k3n"},
                    json_body={"SaleID": "s-1", "EventType": event}, event_type=event, subscription_id=subscription)


def test_a_json_webhook_is_delivered_with_its_headers(receiver: Receiver) -> None:
    dispatcher = CallbackDispatcher("cin7core")
    event_id = dispatcher.enqueue(webhook(receiver, "Sale/OrderAuthorised"))
    assert dispatcher.pending == 1
    assert dispatcher.pump() == 1
    [got] = receiver.requests
    assert (got.method, got.path, got.json()) == ("POST", "/ok", {"SaleID": "s-1", "EventType": "Sale/OrderAuthorised"})
    assert got.headers["authorization"] == "Bearer t0k3n" and got.headers["content-type"] == "application/json"
    assert dispatcher.pending == 0 and dispatcher.attempts[event_id] == 1
    assert [d.event_id for d in dispatcher.delivered] == [event_id] and dispatcher.given_up == []
    assert dispatcher.enqueue(webhook(receiver, "Sale/Voided")) == event_id + 1


def test_cin7_schedule_six_tries_then_the_webhook_is_deactivated(receiver: Receiver) -> None:
    clock = FakeClock()
    deactivated: list[str] = []
    dispatcher = CallbackDispatcher("cin7core", first_delay=CIN7_FIRST_DELAY, retry_schedule=CIN7_RETRY_SCHEDULE,
                                    deactivate_after=1, on_deactivate=deactivated.append, clock=clock)
    event_id = dispatcher.enqueue(webhook(receiver, "Sale/OrderAuthorised", "/fail"))
    tried_at: list[float] = []
    for _ in range(100 * 60):  # one pump per simulated second for 100 minutes
        if dispatcher.pump():
            tried_at.append(clock.now)
        clock.now += 1.0
    assert [t / 60 for t in tried_at] == [1, 6, 16, 31, 51, 76]  # +1, +5, +10, +15, +20, +25 minutes
    assert len(receiver.requests) == 6 and dispatcher.attempts[event_id] == 6
    assert [d.event_id for d in dispatcher.given_up] == [event_id] and deactivated == ["wh-1"]
    assert dispatcher.pending == 0


def test_time_scale_compresses_the_schedule(receiver: Receiver) -> None:
    clock = FakeClock()
    dispatcher = CallbackDispatcher("cin7core", first_delay=CIN7_FIRST_DELAY, retry_schedule=CIN7_RETRY_SCHEDULE,
                                    time_scale=600, clock=clock)
    dispatcher.enqueue(webhook(receiver, "Sale/PickAuthorised", "/fail"))
    clock.now = 0.09
    assert dispatcher.pump() == 0
    clock.now = 0.1
    assert dispatcher.pump() == 1
    clock.now = 0.59
    assert dispatcher.pump() == 0
    clock.now = 0.6  # 0.1 s + 300 s / 600
    assert dispatcher.pump() == 1


def test_deactivation_after_consecutive_give_ups_of_one_subscription(receiver: Receiver) -> None:
    deactivated: list[str] = []
    dispatcher = CallbackDispatcher("cin7core", deactivate_after=3, on_deactivate=deactivated.append)
    for _ in range(5):
        dispatcher.enqueue(webhook(receiver, "Sale/Voided", "/fail", subscription="A"))
    dispatcher.enqueue(webhook(receiver, "Sale/Voided", "/fail", subscription="B"))
    for path in ("/fail", "/ok", "/fail", "/fail"):  # a success resets the count
        dispatcher.enqueue(webhook(receiver, "Sale/Voided", path, subscription="C"))
    assert dispatcher.pump() == 8
    assert deactivated == ["A"]
    assert [d.subscription_id for d in dispatcher.cancelled] == ["A", "A"]
    assert [r.path for r in receiver.requests].count("/fail") == 7
    assert dispatcher.to_dict()["deactivated"] == ["A"] and dispatcher.pending == 0


def test_connection_errors_and_slow_receivers_are_failed_tries(receiver: Receiver) -> None:
    dispatcher = CallbackDispatcher("peoplevox", timeout=0.2)
    dispatcher.enqueue(Delivery("http://127.0.0.1:9/closed", event_type="GoodsReceived"))
    dispatcher.enqueue(Delivery(f"{receiver.url}/slow", event_type="GoodsReceived"))
    started = time.monotonic()
    assert dispatcher.pump() == 2
    assert time.monotonic() - started < 1.0
    assert len(dispatcher.given_up) == 2 and dispatcher.delivered == []


def test_drop_duplicate_and_reorder_faults_reach_the_receiver(receiver: Receiver) -> None:
    plan = FaultPlan("cin7core", rules=[FaultRule("drop_callback", endpoint="Sale/Voided"),
                                        FaultRule("duplicate_callback", endpoint="Sale/OrderAuthorised"),
                                        FaultRule("reorder_callback", endpoint="Sale/PickAuthorised", count=1)])
    dispatcher = CallbackDispatcher("cin7core", plan)
    ids = [dispatcher.enqueue(webhook(receiver, event)) for event in
           ("Sale/Voided", "Sale/OrderAuthorised", "Sale/PickAuthorised", "Sale/PackAuthorised")]
    assert dispatcher.pending == 4
    assert dispatcher.pump() == 4
    assert [r.json()["EventType"] for r in receiver.requests] == [
        "Sale/OrderAuthorised", "Sale/OrderAuthorised", "Sale/PackAuthorised", "Sale/PickAuthorised"]
    assert [d.event_id for d in dispatcher.dropped] == [ids[0]]
    assert plan.to_dict()["fired"] == {"drop_callback": 1, "duplicate_callback": 1, "reorder_callback": 1}


def test_a_lone_reordered_callback_is_held_back_then_sent(receiver: Receiver) -> None:
    clock = FakeClock()
    plan = FaultPlan("peoplevox", rules=[FaultRule("reorder_callback", count=1)])
    dispatcher = CallbackDispatcher("peoplevox", plan, clock=clock)
    dispatcher.enqueue(Delivery(f"{receiver.url}/ok?n=1", method="GET", event_type="AvailabilityChanges"))
    assert dispatcher.pump() == 0 and dispatcher.pending == 1
    dispatcher.enqueue(Delivery(f"{receiver.url}/ok?n=2", method="GET", event_type="AvailabilityChanges"))
    assert dispatcher.pump() == 1
    clock.now += 1.0
    assert dispatcher.pump() == 1
    assert [r.query["n"] for r in receiver.requests] == [["2"], ["1"]]


def test_peoplevox_get_callback_with_placeholders(receiver: Receiver) -> None:
    template = receiver.url + "/pvx/avail?sku={ItemCode}&qty={available}&site={Site.Name}"
    url = fill_placeholders(template, {"ItemCode": "TEE BLK&M", "Available": 7})
    dispatcher = CallbackDispatcher("peoplevox")
    dispatcher.enqueue(Delivery(url, method="GET", event_type="AvailabilityChanges", subscription_id="1000"))
    assert dispatcher.pump() == 1
    [got] = receiver.requests
    assert (got.method, got.path, got.body) == ("GET", "/pvx/avail", b"")
    assert got.query == {"sku": ["TEE BLK&M"], "qty": ["7"]}


def test_peoplevox_post_callback_is_form_encoded(receiver: Receiver) -> None:
    fields = form_fields("order={SalesOrderNumber}&amp;tracking={TrackingNumber}&carrier={Carrier.Number}",
                        {"SalesOrderNumber": "SO-1", "TrackingNumber": "1Z 99", "Carrier.Number": "UPS"})
    assert fields == {"order": "SO-1", "tracking": "1Z 99", "carrier": "UPS"}
    dispatcher = CallbackDispatcher("peoplevox")
    dispatcher.enqueue(Delivery(receiver.url + "/pvx/track", form_body=fields, event_type="TrackingNumberReceived"))
    assert dispatcher.pump() == 1
    [got] = receiver.requests
    assert got.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(got.body.decode()) == {"order": ["SO-1"], "tracking": ["1Z 99"], "carrier": ["UPS"]}


def test_background_pump_delivers_and_stops(receiver: Receiver) -> None:
    dispatcher = CallbackDispatcher("bluecherry")
    dispatcher.start(interval=0.02)
    dispatcher.start(interval=0.02)  # idempotent
    try:
        dispatcher.enqueue(webhook(receiver, "Stock/AvailableStockLevelChanged"))
        receiver.wait_for(1)
    finally:
        dispatcher.stop()
    assert not dispatcher.running and len(dispatcher.delivered) == 1


def test_the_queue_is_bounded() -> None:
    dispatcher = CallbackDispatcher("cin7core", max_queue=2)
    for _ in range(3):
        dispatcher.enqueue(Delivery("http://127.0.0.1:9/x", event_type="Sale/Voided"))
    assert (dispatcher.pending, dispatcher.overflowed) == (2, 1)
    with pytest.raises(ValueError, match="time_scale must be positive"):
        dispatcher.time_scale = 0


def test_each_simulator_state_carries_its_dispatcher() -> None:
    cin7 = Cin7CoreState().callbacks
    assert (cin7.first_delay, cin7.retry_schedule, cin7.deactivate_after) == (60.0, CIN7_RETRY_SCHEDULE, 1)
    assert cin7.faults is not None and not cin7.faults.active
    state = BlueCherryState()
    assert state.callbacks.faults is state.faults and state.callbacks.retry_schedule == ()


def test_admin_pump_sends_queued_callbacks(receiver: Receiver) -> None:
    state = BlueCherryState()
    state.callbacks.first_delay = 3600.0  # not due for an hour: only a forced pump sends it
    with ServerThread(create_bluecherry(state), name="bluecherry-callbacks") as server:
        state.callbacks.enqueue(webhook(receiver, "Product/Updated"))
        assert requests.post(f"{server.url}/_sim/callbacks/pump", timeout=5).json()["sent"] == 0
        pumped = requests.post(f"{server.url}/_sim/callbacks/pump?force=true", timeout=5).json()
        assert (pumped["sent"], pumped["delivered"], pumped["pending"]) == (1, 1, 0)
        summary = requests.get(f"{server.url}/_sim/callbacks", timeout=5).json()
        assert summary["recent"][0]["event_type"] == "Product/Updated" and summary["recent"][0]["tries"] == 1
        assert "t0k3n" not in json.dumps(summary)


def test_retry_knob_for_a_fire_once_simulator(receiver: Receiver) -> None:
    clock = FakeClock()
    dispatcher = CallbackDispatcher("peoplevox", clock=clock)
    dispatcher.configure({"retry_schedule": [5, 30], "time_scale": 5})
    assert dispatcher.settings()["retry_schedule"] == (5.0, 30.0)
    dispatcher.enqueue(Delivery(f"{receiver.url}/fail", method="GET", event_type="GoodsReceived"))
    tries = 0
    for step in range(100):  # 0.1 s steps over 10 s
        clock.now = step / 10
        tries += dispatcher.pump()
    assert tries == 3 and len(dispatcher.given_up) == 1
    for bad in ({"retry_schedule": "5,30"}, {"time_scale": 0}, {"deactivate_after": 0}, {"colour": 1}):
        with pytest.raises(ValueError):
            dispatcher.configure(bad)
    assert dispatcher.settings()["time_scale"] == 5.0


def test_a_stopped_dispatcher_still_pumps_on_request(receiver: Receiver) -> None:
    dispatcher = CallbackDispatcher("cin7core")
    dispatcher.start(interval=5.0)
    dispatcher.stop()
    dispatcher.enqueue(webhook(receiver, "Sale/Undo"))
    assert dispatcher.pump() == 1 and len(receiver.requests) == 1


def test_admin_changes_callback_settings(receiver: Receiver) -> None:
    state = BlueCherryState()
    with ServerThread(create_bluecherry(state), name="bluecherry-callbacks") as server:
        answer = requests.post(f"{server.url}/_sim/callbacks", json={"retry_schedule": [1, 2], "first_delay": 0},
                               timeout=5)
        assert answer.status_code == 200 and answer.json()["settings"]["retry_schedule"] == [1.0, 2.0]
        assert state.callbacks.retry_schedule == (1.0, 2.0)
        refused = requests.post(f"{server.url}/_sim/callbacks", json={"time_scale": -1}, timeout=5)
        assert refused.status_code == 400 and "time_scale" in refused.json()["error"]["message"]
