"""HTTP fault injection on real local servers: vendor error envelopes, latency, timeouts, rate-limit bursts,
the ``/_sim/faults`` admin API, the stack / CLI options, and the project's clients riding through faults.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from lxml import etree

from erp_wms_simulators.bluecherry import BlueCherrySettings, BlueCherryState
from erp_wms_simulators.bluecherry import create_app as create_bluecherry
from erp_wms_simulators.bluecherry.demo import DEMO_SUBSCRIPTION_KEY
from erp_wms_simulators.bluecherry.demo import seed_demo as seed_bluecherry
from erp_wms_simulators.cin7core import Cin7CoreSettings, Cin7CoreState
from erp_wms_simulators.cin7core import create_app as create_cin7
from erp_wms_simulators.cin7core.demo import DEMO_ACCOUNT_ID, DEMO_APPLICATION_KEY
from erp_wms_simulators.cin7core.demo import seed_demo as seed_cin7
from erp_wms_simulators.cli import main as cli_main
from erp_wms_simulators.faultmw import install_faults
from erp_wms_simulators.faults import FaultPlan, FaultRule
from erp_wms_simulators.peoplevox import PeoplevoxState
from erp_wms_simulators.peoplevox import create_app as create_peoplevox
from erp_wms_simulators.server import ServerThread, SimulatorStack
from erp_wms_sync.connectors.bluecherry import BlueCherryClient
from erp_wms_sync.connectors.cin7core import Cin7CoreClient
from erp_wms_sync.connectors.peoplevox import PeoplevoxClient
from erp_wms_sync.connectors.transport import RetryPolicy

CIN7_HEADERS = {"api-auth-accountid": DEMO_ACCOUNT_ID, "api-auth-applicationkey": DEMO_APPLICATION_KEY}
BLUECHERRY_HEADERS = {"Ocp-Apim-Subscription-Key": DEMO_SUBSCRIPTION_KEY}
PVX_CLIENT, PVX_USER, PVX_PASSWORD = "faultco", "api.user", "Fault-Pass-1"
SOAP_NS = {"soap": "http://schemas.xmlsoap.org/soap/envelope/"}
FAST_RETRY = RetryPolicy(max_attempts=10, backoff_base=0.001, backoff_max=0.002)
ITEM_COUNT = 23


@dataclass
class Sims:
    states: dict[str, Any]
    roots: dict[str, str]

    def plan(self, name: str) -> FaultPlan:
        plan: FaultPlan = self.states[name].faults
        return plan


@pytest.fixture(scope="module")
def sims() -> Iterator[Sims]:
    """The three simulators, fault middleware installed, generous server-side rate limits."""
    cin7 = Cin7CoreState()
    seed_cin7(cin7)
    bluecherry = BlueCherryState()
    seed_bluecherry(bluecherry)
    peoplevox = PeoplevoxState()
    peoplevox.add_tenant(PVX_CLIENT, PVX_USER, PVX_PASSWORD)
    peoplevox.seed(PVX_CLIENT, "Item types", [{"ItemCode": f"FLT-{n:03d}", "Name": f"Item {n}"}
                                              for n in range(1, ITEM_COUNT + 1)])
    apps = {
        "cin7core": create_cin7(cin7, Cin7CoreSettings(rate_limit_per_minute=100_000)),
        "bluecherry": create_bluecherry(bluecherry, BlueCherrySettings(rate_limit_per_minute=100_000)),
        "peoplevox": create_peoplevox(peoplevox),
    }
    states: dict[str, Any] = {"cin7core": cin7, "bluecherry": bluecherry, "peoplevox": peoplevox}
    servers = {name: ServerThread(install_faults(app, states[name].faults), name=f"{name}-faults").start()
               for name, app in apps.items()}
    try:
        yield Sims(states, {name: server.url for name, server in servers.items()})
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(autouse=True)
def no_faults_left(sims: Sims) -> Iterator[None]:
    yield
    for state in sims.states.values():
        state.faults.clear()


def soap(operation: str, body: str = "") -> bytes:
    return (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f'<{operation} xmlns="http://www.peoplevox.net/">{body}</{operation}></soap:Body></soap:Envelope>'
            ).encode()


def call(sims: Sims, name: str, operation: str = "Authenticate", timeout: float = 5.0) -> requests.Response:
    """One plain API call of simulator ``name`` (a SOAP ``operation`` for Peoplevox)."""
    root = sims.roots[name]
    if name == "cin7core":
        return requests.get(f"{root}/ExternalApi/v2/me", headers=CIN7_HEADERS, timeout=timeout)
    if name == "bluecherry":
        return requests.get(f"{root}/api/v1/warehouses", headers=BLUECHERRY_HEADERS, timeout=timeout)
    body = f"<clientId>{PVX_CLIENT}</clientId><username>{PVX_USER}</username><password>x</password>"
    return requests.post(f"{root}/{PVX_CLIENT}/resources/integrationservicev4.asmx", data=soap(operation, body),
                         headers={"Content-Type": "text/xml; charset=utf-8",
                                  "SOAPAction": f'"http://www.peoplevox.net/{operation}"'}, timeout=timeout)


def error_message(name: str, response: requests.Response) -> str:
    """The message of an error answer, read the way each vendor shapes it."""
    if name == "cin7core":
        body = response.json()
        assert isinstance(body, list) and body[0]["ErrorCode"] == response.status_code
        return str(body[0]["Exception"])
    if name == "bluecherry":
        error = response.json()["error"]
        assert error["code"]
        return str(error["message"])
    assert response.headers["content-type"].startswith("text/xml")
    fault = etree.fromstring(response.content).find("soap:Body/soap:Fault", SOAP_NS)
    assert fault is not None and fault.findtext("faultcode") == "soap:Server"
    return fault.findtext("faultstring") or ""


NAMES = ("cin7core", "bluecherry", "peoplevox")


@pytest.mark.parametrize("name", NAMES)
def test_http_5xx_answers_in_the_vendors_error_envelope(sims: Sims, name: str) -> None:
    sims.plan(name).add_rule(FaultRule("http_5xx", count=1))
    refused = call(sims, name)
    assert refused.status_code == 503
    assert "temporarily unavailable" in error_message(name, refused)
    assert call(sims, name).status_code == 200
    assert sims.plan(name).to_dict()["fired"] == {"http_5xx": 1}


@pytest.mark.parametrize("name", NAMES)
def test_admin_paths_are_never_faulted(sims: Sims, name: str) -> None:
    sims.plan(name).set_knob("http_5xx=1,status=500")
    assert call(sims, name).status_code == 500
    answer = requests.get(f"{sims.roots[name]}/_sim/faults", timeout=5)
    assert answer.status_code == 200 and answer.json()["fired"] == {"http_5xx": 1}


def test_peoplevox_faults_target_one_soap_operation_and_spare_the_wsdl(sims: Sims) -> None:
    sims.plan("peoplevox").set_knob("http_5xx@SaveData=1")
    service = f"{sims.roots['peoplevox']}/{PVX_CLIENT}/resources/integrationservicev4.asmx"
    assert requests.get(service + "?wsdl", timeout=5).status_code == 200
    assert call(sims, "peoplevox", "Authenticate").status_code == 200
    refused = call(sims, "peoplevox", "SaveData")
    assert refused.status_code == 503 and "simulated fault" in error_message("peoplevox", refused)
    assert sims.plan("peoplevox").fired == [("http_5xx", "SaveData")]


def test_cin7_endpoint_names_are_lower_cased_paths(sims: Sims) -> None:
    sims.plan("cin7core").set_knob("http_5xx@GET /externalapi/v2/product=1")
    assert call(sims, "cin7core").status_code == 200  # /me is not targeted
    refused = requests.get(f"{sims.roots['cin7core']}/ExternalApi/v2/Product", headers=CIN7_HEADERS, timeout=5)
    assert refused.status_code == 503
    assert sims.plan("cin7core").fired == [("http_5xx", "GET /externalapi/v2/product")]


@pytest.mark.parametrize("name", NAMES)
def test_slow_adds_latency_and_still_answers(sims: Sims, name: str) -> None:
    sims.plan(name).add_rule(FaultRule("slow", delay_seconds=0.3))
    started = time.monotonic()
    assert call(sims, name).status_code == 200
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("name", NAMES)
def test_timeout_makes_an_impatient_client_give_up(sims: Sims, name: str) -> None:
    sims.plan(name).add_rule(FaultRule("timeout", delay_seconds=1.0, count=1))
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        call(sims, name, timeout=0.3)
    assert time.monotonic() - started < 1.0
    assert call(sims, name).status_code == 200  # the server is not stuck


def test_a_patient_client_gets_504_after_the_hang(sims: Sims) -> None:
    sims.plan("bluecherry").add_rule(FaultRule("timeout", delay_seconds=0.2, count=1))
    answer = call(sims, "bluecherry")
    assert answer.status_code == 504 and "did not answer in time" in error_message("bluecherry", answer)


@pytest.mark.parametrize("name", NAMES)
def test_rate_limit_burst_refuses_exactly_burst_calls(sims: Sims, name: str) -> None:
    sims.plan(name).add_rule(FaultRule("rate_limit_burst", count=1, burst=3, retry_after=7))
    answers = [call(sims, name) for _ in range(5)]
    assert [a.status_code for a in answers] == [429, 429, 429, 200, 200]
    assert [a.headers.get("Retry-After") for a in answers[:3]] == ["7", "7", "7"]
    assert "Retry-After" not in answers[3].headers


def test_admin_api_sets_profiles_rules_and_knobs_and_clears(sims: Sims) -> None:
    url = f"{sims.roots['cin7core']}/_sim/faults"
    plan = requests.post(url, json={"profile": "flaky", "seed": 7}, timeout=5).json()
    assert (plan["profile"], plan["seed"], len(plan["rules"])) == ("flaky", 7, 4)
    plan = requests.post(url, json={"rules": [{"kind": "slow", "delay": 0.1, "endpoint": "GET /x"}],
                                    "knobs": ["http_5xx@GET /y=0.5,count=2"]}, timeout=5).json()
    assert [r["kind"] for r in plan["rules"][-2:]] == ["slow", "http_5xx"]
    assert plan["rules"][-1]["count"] == 2 and plan["seed"] == 7
    bad = requests.post(url, json={"knobs": ["http_5xx=sometimes"]}, timeout=5)
    assert bad.status_code == 400 and "probability must be a number" in bad.json()[0]["Exception"]
    assert len(requests.get(url, timeout=5).json()["rules"]) == 6  # nothing applied from the bad request
    assert requests.post(url, json={"profile": "evil"}, timeout=5).status_code == 400
    cleared = requests.delete(url, timeout=5).json()
    assert (cleared["profile"], cleared["rules"]) == ("none", [])


def test_admin_api_on_peoplevox_and_bluecherry(sims: Sims) -> None:
    for name in ("peoplevox", "bluecherry"):
        answer = requests.post(f"{sims.roots[name]}/_sim/faults", json={"knobs": ["session_expiry@GetData=1"]},
                               timeout=5)
        assert answer.status_code == 200 and answer.json()["simulator"] == name
        assert sims.plan(name).fires("session_expiry", "GetData") is not None
        pumped = requests.post(f"{sims.roots[name]}/_sim/callbacks/pump", timeout=5).json()
        assert (pumped["sent"], pumped["pending"]) == (0, 0)


FLAKY = [FaultRule("http_5xx", 0.3), FaultRule("slow", 0.2, delay_seconds=0.01),
         FaultRule("rate_limit_burst", 0.1, burst=2, retry_after=0)]


def test_cin7_client_rides_through_faults(sims: Sims) -> None:
    plan = sims.plan("cin7core")
    plan.set_profile("flaky", seed=4)
    for rule in FLAKY:
        plan.add_rule(rule)
    client = Cin7CoreClient(sims.roots["cin7core"] + "/ExternalApi/v2", DEMO_ACCOUNT_ID, DEMO_APPLICATION_KEY,
                            rate_per_minute=100_000, page_limit=5, retry=FAST_RETRY, sleep=lambda _: None)
    skus = [product.sku for product in client.iter_products()]
    assert sorted(skus) == sorted(p["SKU"] for p in sims.states["cin7core"].products.values())
    assert plan.count("http_5xx") + plan.count("rate_limit_burst") > 0


def test_bluecherry_client_rides_through_faults(sims: Sims) -> None:
    plan = sims.plan("bluecherry")
    plan.set_profile("flaky", seed=5)
    for rule in FLAKY:
        plan.add_rule(rule)
    client = BlueCherryClient(sims.roots["bluecherry"] + "/api/v1", DEMO_SUBSCRIPTION_KEY, rate_per_minute=100_000,
                              page_size=5, retry=FAST_RETRY, sleep=lambda _: None)
    skus = [sku.sku for sku in client.iter_skus()]
    assert sorted(skus) == sorted(row["sku"] for row in sims.states["bluecherry"].skus())
    assert plan.count("http_5xx") + plan.count("rate_limit_burst") > 0


def test_peoplevox_client_rides_through_faults(sims: Sims) -> None:
    plan = sims.plan("peoplevox")
    plan.set_profile("flaky", seed=6)
    for rule in FLAKY:
        plan.add_rule(rule)
    client = PeoplevoxClient(sims.roots["peoplevox"], PVX_CLIENT, PVX_USER, PVX_PASSWORD, retry=FAST_RETRY,
                             page_size=4)
    codes = [row["ItemCode"] for row in client.iter_item_types()]
    assert sorted(codes) == [f"FLT-{n:03d}" for n in range(1, ITEM_COUNT + 1)]
    assert plan.count("http_5xx") + plan.count("rate_limit_burst") > 0


def test_stack_installs_profiles_knobs_and_time_scale() -> None:
    stack = SimulatorStack(names=("cin7core", "bluecherry"), faults="flaky", fault_seed=9,
                           knobs=["bluecherry:http_5xx@GET /api/v1/warehouses=1", "slow@GET /nowhere=1"],
                           time_scale=600)
    with stack:
        assert stack.cin7core.faults.profile == "flaky" and stack.cin7core.faults.seed == 9
        assert len(stack.bluecherry.faults.rules) == len(stack.cin7core.faults.rules) + 1
        assert stack.cin7core.callbacks.running and stack.cin7core.callbacks.time_scale == 600
        refused = requests.get(stack.urls["bluecherry"] + "/warehouses", headers=BLUECHERRY_HEADERS, timeout=5)
        assert refused.status_code == 503 and refused.json()["error"]["message"]
    assert not stack.cin7core.callbacks.running and not stack.bluecherry.callbacks.running


def test_cli_rejects_bad_fault_options_before_starting(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["up", "--fault", "cin7core:http_5xx=often"]) == 2
    assert "probability must be a number" in capsys.readouterr().err
    assert cli_main(["up", "--time-scale", "0"]) == 2
    with pytest.raises(SystemExit):
        cli_main(["up", "--faults", "chaos"])
