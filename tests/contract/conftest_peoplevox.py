"""Fixtures for the Peoplevox simulator: one uvicorn server per test session, fresh state per test.

``peoplevox_sim`` swaps a new :class:`PeoplevoxState` (with a controllable clock) and new settings
into the running app, and creates the tenant ``acme1234`` with one user. ``pvx`` is a logged-in zeep
client built from the served WSDL; the helpers below build and read raw SOAP for the wire-level tests.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import zeep
from fastapi import FastAPI
from lxml import etree

from erp_wms_simulators.peoplevox import PeoplevoxSettings, PeoplevoxState, create_app
from erp_wms_simulators.server import ServerThread

PVX_CLIENT = "acme1234"
PVX_USER = "api.user"
PVX_PASSWORD = "S3cret-Pvx-Pass!"
PVX_PASSWORD_B64 = base64.b64encode(PVX_PASSWORD.encode()).decode()


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class PeoplevoxSim:
    base_url: str  # host root, e.g. http://127.0.0.1:PORT
    app: FastAPI
    state: PeoplevoxState
    settings: PeoplevoxSettings
    clock: FakeClock

    def service_url(self, client_id: str = PVX_CLIENT) -> str:
        return f"{self.base_url}/{client_id}/resources/integrationservicev4.asmx"

    def calls(self, operation: str, client_id: str = PVX_CLIENT) -> int:
        return self.state.calls[(client_id, operation)]


@pytest.fixture(scope="session")
def peoplevox_server() -> Iterator[tuple[str, FastAPI]]:
    app = create_app()
    server = ServerThread(app, name="peoplevox-test").start()
    try:
        yield server.url, app
    finally:
        server.stop()


@pytest.fixture
def peoplevox_sim(peoplevox_server: tuple[str, FastAPI]) -> PeoplevoxSim:
    base_url, app = peoplevox_server
    clock = FakeClock()
    state = PeoplevoxState(clock=clock)
    settings = PeoplevoxSettings()
    state.add_tenant(PVX_CLIENT, PVX_USER, PVX_PASSWORD)
    app.state.peoplevox = state
    app.state.peoplevox_settings = settings
    return PeoplevoxSim(base_url, app, state, settings, clock)


NS = {"soap": "http://schemas.xmlsoap.org/soap/envelope/", "pvx": "http://www.peoplevox.net/"}


def items(count: int, prefix: str = "SKU") -> list[dict[str, str]]:
    return [{"ItemCode": f"{prefix}-{n:04d}", "Name": f"Item {n}", "Barcode": f"50000{n:08d}"}
            for n in range(1, count + 1)]


class Pvx:
    """A zeep client of the simulator plus the session header, as an integration would use it."""

    def __init__(self, sim: PeoplevoxSim, client_id: str = PVX_CLIENT) -> None:
        self.client = zeep.Client(sim.service_url(client_id) + "?wsdl")
        self.client_id = client_id
        self.session_id = ""

    def login(self, username: str = PVX_USER, password_b64: str = PVX_PASSWORD_B64) -> Any:
        result = self.client.service.Authenticate(self.client_id, username, password_b64)
        if result.ResponseId == 0:
            self.session_id = result.Detail.split(",")[1]
        return result

    def call(self, operation: str, **kwargs: Any) -> Any:
        header = {"UserSessionCredentials": {"UserId": 0, "ClientId": self.client_id,
                                             "SessionId": self.session_id}}
        return getattr(self.client.service, operation)(_soapheaders=header, **kwargs)

    def get(self, template: str, page: int = 1, per_page: int = 100, clause: str = "") -> Any:
        return self.call("GetData", getRequest={"TemplateName": template, "PageNo": page,
                                                "ItemsPerPage": per_page, "SearchClause": clause})

    def save(self, template: str, csv_data: str, action: int = 0) -> Any:
        return self.call("SaveData", saveRequest={"TemplateName": template, "CsvData": csv_data,
                                                  "Action": action})


@pytest.fixture
def pvx(peoplevox_sim: PeoplevoxSim) -> Pvx:
    """A zeep client of tenant acme1234 with an open session."""
    client = Pvx(peoplevox_sim)
    assert client.login().ResponseId == 0
    return client


def statuses(result: Any) -> list[tuple[str, str]]:
    return [(s.Reference or "", s.Status) for s in result.Statuses.IntegrationStatusResponse]


def data_lines(detail: str) -> list[str]:
    return detail.split("\r\n")


def raw_post(url: str, body: str, action: str | None = None) -> requests.Response:
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if action:
        headers["SOAPAction"] = f'"http://www.peoplevox.net/{action}"'
    return requests.post(url, data=body.encode(), headers=headers, timeout=10)


def envelope(body: str, header: str = "") -> str:
    return (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            f"<soap:Header>{header}</soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>")


def result_of(response: requests.Response, operation: str) -> dict[str, str]:
    root = etree.fromstring(response.content)
    node = root.find(f"soap:Body/pvx:{operation}Response/pvx:{operation}Result", NS)
    assert node is not None, response.text
    return {etree.QName(child).localname: child.text or "" for child in node}


def fault_of(response: requests.Response) -> str:
    assert response.status_code == 500
    assert "Traceback" not in response.text
    root = etree.fromstring(response.content)
    fault = root.find("soap:Body/soap:Fault", NS)
    assert fault is not None, response.text
    return fault.findtext("faultstring") or ""
