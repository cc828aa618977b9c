"""Call counting at the simulator side: every served simulator (built as the stack serves it) counts calls
per endpoint, answered and refused (429/503) apart, readable from Python and through ``/_sim/traffic``."""

from __future__ import annotations

import warnings
from typing import Any

from erp_wms_simulators.bluecherry import BlueCherryState
from erp_wms_simulators.bluecherry.demo import DEMO_SUBSCRIPTION_KEY
from erp_wms_simulators.bluecherry.demo import seed_demo as seed_bluecherry
from erp_wms_simulators.cin7core import Cin7CoreState
from erp_wms_simulators.cin7core.demo import DEMO_ACCOUNT_ID, DEMO_APPLICATION_KEY
from erp_wms_simulators.cin7core.demo import seed_demo as seed_cin7
from erp_wms_simulators.peoplevox import PeoplevoxState
from erp_wms_simulators.peoplevox.demo import NORTHWIND_CLIENT_ID, NORTHWIND_PASSWORD, NORTHWIND_USERNAME
from erp_wms_simulators.peoplevox.demo import seed_demo as seed_peoplevox
from erp_wms_simulators.server import build_app

with warnings.catch_warnings():  # starlette warns that its test client's httpx backend will change
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CIN7 = {"api-auth-accountid": DEMO_ACCOUNT_ID, "api-auth-applicationkey": DEMO_APPLICATION_KEY}
AUTHENTICATE = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    '<Authenticate xmlns="http://www.peoplevox.net/"><clientId>{c}</clientId><username>{u}</username>'
    '<password>{p}</password></Authenticate></soap:Body></soap:Envelope>')


def endpoint(snapshot: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = snapshot["endpoints"][name]
    return found


def test_cin7_counts_answered_and_refused_calls_per_endpoint(erp_clock: Any) -> None:
    state = Cin7CoreState(clock=erp_clock)
    seed_cin7(state)
    with TestClient(build_app("cin7core", state)) as client:
        client.post("/_sim/settings", json={"rate_limit_per_minute": 3})
        for _ in range(2):
            assert client.get("/ExternalApi/v2/saleList", headers=CIN7).status_code == 200
        assert client.get("/externalapi/v2/Product", headers=CIN7).status_code == 200
        assert client.get("/ExternalApi/v2/saleList", headers=CIN7).status_code == 429
        sale_list, product = "GET /externalapi/v2/salelist", "GET /externalapi/v2/product"
        assert state.traffic.answered(sale_list) == 2 and state.traffic.refused(sale_list) == 1
        assert state.traffic.answered(product) == 1 and state.traffic.answered() == 3
        over_http = client.get("/_sim/traffic").json()
        assert over_http == state.traffic.snapshot(), "admin routes are not counted themselves"
        assert endpoint(over_http, sale_list) == {"answered": 2, "refused": 1, "statuses": {"200": 2, "429": 1}}
        assert (over_http["answered"], over_http["refused"]) == (3, 1)
        assert client.delete("/_sim/traffic").json() == {"answered": 0, "refused": 0, "endpoints": {}}
        assert state.traffic.answered() == 0


def test_a_fault_injected_503_counts_as_refused(erp_clock: Any) -> None:
    state = BlueCherryState(clock=erp_clock)
    seed_bluecherry(state)
    state.faults.set_knob("http_5xx@GET /api/v1/styles=1.0,count=1")
    with TestClient(build_app("bluecherry", state)) as client:
        headers = {"Ocp-Apim-Subscription-Key": DEMO_SUBSCRIPTION_KEY}
        assert client.get("/api/v1/styles", headers=headers).status_code == 503
        assert client.get("/api/v1/styles", headers=headers).status_code == 200
    styles = endpoint(state.traffic.snapshot(), "GET /api/v1/styles")
    assert (styles["answered"], styles["refused"]) == (1, 1)


def test_peoplevox_counts_soap_operations_and_wsdl_downloads() -> None:
    state = PeoplevoxState()
    seed_peoplevox(state)
    service = f"/{NORTHWIND_CLIENT_ID}/resources/integrationservicev4.asmx"
    body = AUTHENTICATE.format(c=NORTHWIND_CLIENT_ID, u=NORTHWIND_USERNAME, p=NORTHWIND_PASSWORD)
    with TestClient(build_app("peoplevox", state)) as client:
        assert client.get(service, params={"wsdl": ""}).status_code == 200
        for _ in range(2):
            answer = client.post(service, content=body, headers={
                "Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"http://www.peoplevox.net/Authenticate"'})
            assert answer.status_code == 200, answer.text
        snapshot = client.get("/_sim/traffic").json()
    assert set(snapshot["endpoints"]) == {"WSDL", "Authenticate"}
    assert endpoint(snapshot, "Authenticate")["answered"] == 2 and endpoint(snapshot, "WSDL")["answered"] == 1
