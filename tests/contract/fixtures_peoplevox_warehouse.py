"""Fixtures for the Peoplevox warehouse, orders, reports and events tests.

``pvx_world`` seeds the per-test Peoplevox state (two sites, three Item types), puts a hand-driven wall
clock into it and hands out a :class:`Warehouse` using the simulator's own settings. ``callback_receiver``
is a tiny HTTP server on 127.0.0.1 that records every callback it gets; waits on it are bounded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from erp_wms_simulators.peoplevox.warehouse import Warehouse
from tests.contract.conftest_peoplevox import PVX_CLIENT, PeoplevoxSim

SITES = [{"Reference": "MAIN", "Name": "Main warehouse"}, {"Reference": "EAST", "Name": "East warehouse"}]
ITEMS = [
    {"ItemCode": "TSHIRT-RED-M", "Name": "Red T-shirt M", "Barcode": "5000000000011"},
    {"ItemCode": "MUG-BLUE", "Name": "Blue mug", "Barcode": "5000000000028"},
    {"ItemCode": "CAP-GREY", "Name": "Grey cap", "Barcode": "5000000000035"},
]


class WallClock:
    """The simulator's wall clock, moved by hand."""

    def __init__(self, start: datetime = datetime(2024, 5, 1, 9, 0, 0)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class PvxWorld:
    sim: PeoplevoxSim
    clock: WallClock
    warehouse: Warehouse

    def order(self, number: str, lines: dict[str, int], **header: str) -> None:
        """Seed a sales order with its lines (as SaveData would store them)."""
        row = {"SalesOrderNumber": number, "ServiceType": "NEXTDAY", "ChannelName": "Web shop",
               "Email": "jane@example.com", **header}
        self.sim.state.seed(PVX_CLIENT, "Sales orders", [row], self.sim.settings)
        self.sim.state.seed(PVX_CLIENT, "Sales order items", [
            {"SalesOrderNumber": number, "ItemCode": code, "QuantityOrdered": str(quantity)}
            for code, quantity in lines.items()], self.sim.settings)

    def status(self, number: str) -> str:
        return self.sim.state.records(PVX_CLIENT, "Sales orders")[number]["Status"]

    def deliver(self) -> int:
        """Send every queued callback now."""
        return self.sim.state.callbacks.pump(force=True)


@pytest.fixture
def pvx_world(peoplevox_sim: PeoplevoxSim) -> PvxWorld:
    clock = WallClock()
    peoplevox_sim.state.now = clock
    peoplevox_sim.state.seed(PVX_CLIENT, "Sites", SITES)
    peoplevox_sim.state.seed(PVX_CLIENT, "Item types", ITEMS)
    return PvxWorld(peoplevox_sim, clock, Warehouse(peoplevox_sim.state, PVX_CLIENT, peoplevox_sim.settings))


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    body: str
    headers: dict[str, str]

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body, keep_blank_values=True)


@dataclass
class CallbackReceiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """The first ``count`` callbacks, waiting at most ``timeout`` seconds for them."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.requests) >= count, timeout)
            assert len(self.requests) >= count, f"expected {count} callbacks, got {len(self.requests)}"
            return list(self.requests[:count])


@pytest.fixture
def callback_receiver() -> Iterator[CallbackReceiver]:
    holder: list[CallbackReceiver] = []

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            receiver = holder[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            with receiver.changed:
                receiver.requests.append(Received(self.command, parts.path, query, body, dict(self.headers)))
                receiver.changed.notify_all()
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = _record
        do_POST = _record

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(CallbackReceiver(f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
