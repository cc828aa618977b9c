"""Contract tests of the Peoplevox simulator, through zeep (built from the served WSDL) and raw SOAP."""

from __future__ import annotations

import re

import pytest
import requests
import zeep
from lxml import etree

from erp_wms_simulators.peoplevox.templates import ITEM_TYPE_COLUMNS
from tests.contract.conftest_peoplevox import (
    PVX_CLIENT,
    PVX_PASSWORD,
    PVX_PASSWORD_B64,
    PVX_USER,
    PeoplevoxSim,
    Pvx,
    data_lines,
    envelope,
    fault_of,
    items,
    raw_post,
    result_of,
)

OPERATIONS = {"Authenticate", "GetData", "GetReportData", "GetReportColumns", "GetSaveTemplate", "SaveData",
              "SubscribeEvent", "SubscribePostEvent", "UnsubscribeEvent"}

# -- WSDL ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["wsdl", "WSDL"])
def test_wsdl_is_served_and_points_back_at_the_requested_url(peoplevox_sim: PeoplevoxSim, query: str) -> None:
    url = f"{peoplevox_sim.base_url}/{PVX_CLIENT}/Resources/IntegrationServicev4.asmx"
    response = requests.get(f"{url}?{query}", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(response.content)
    assert root.get("targetNamespace") == "http://www.peoplevox.net/"
    address = root.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None and address.get("location") == url


def test_zeep_reads_the_wsdl_unmodified(peoplevox_sim: PeoplevoxSim) -> None:
    client = zeep.Client(peoplevox_sim.service_url() + "?wsdl")
    binding = client.wsdl.bindings["{http://www.peoplevox.net/}IntegrationServiceV4Soap"]
    assert set(binding._operations) == OPERATIONS
    assert binding._operations["GetData"].soapaction == "http://www.peoplevox.net/GetData"
    response_type = client.get_type("{http://www.peoplevox.net/}IntegrationResponse")
    assert [name for name, _ in response_type.elements] == ["ResponseId", "TotalCount", "Detail", "Statuses"]
    header = client.get_element("{http://www.peoplevox.net/}UserSessionCredentials")
    assert [name for name, _ in header.type.elements] == ["UserId", "ClientId", "SessionId"]


# -- Authenticate and sessions --------------------------------------------------------------------
def test_authenticate_returns_client_and_session(peoplevox_sim: PeoplevoxSim) -> None:
    result = Pvx(peoplevox_sim).login()
    assert result.ResponseId == 0
    assert re.fullmatch(rf"{PVX_CLIENT},[0-9a-f]{{32}}", result.Detail)


@pytest.mark.parametrize(("username", "password", "fragment"), [
    (PVX_USER, "d3JvbmctcGFzcw==", "Failed to authenticate"),
    ("nobody", PVX_PASSWORD_B64, "Failed to authenticate"),
    (PVX_USER, PVX_PASSWORD, "base64"),
], ids=["wrong-password", "unknown-user", "plain-password-not-base64"])
def test_authenticate_failure(peoplevox_sim: PeoplevoxSim, username: str, password: str, fragment: str) -> None:
    result = Pvx(peoplevox_sim).login(username, password)
    assert result.ResponseId == -1
    assert fragment in result.Detail
    assert PVX_PASSWORD not in result.Detail


def test_documented_raw_requests_work_unmodified(peoplevox_sim: PeoplevoxSim) -> None:
    url = peoplevox_sim.service_url()
    auth = raw_post(url, envelope(
        f'<Authenticate xmlns="http://www.peoplevox.net/"><clientId>{PVX_CLIENT}</clientId>'
        f"<username>{PVX_USER}</username><password>{PVX_PASSWORD_B64}</password></Authenticate>"),
        "Authenticate")
    session_id = result_of(auth, "Authenticate")["Detail"].split(",")[1]
    peoplevox_sim.state.seed(PVX_CLIENT, "Item types", items(3))
    # Header child names in lower case, as one public client sends them; PageNo/ItemsPerPage omitted.
    header = (f'<UserSessionCredentials xmlns="http://www.peoplevox.net/"><UserId>0</UserId>'
              f"<clientId>{PVX_CLIENT}</clientId><sessionid>{session_id}</sessionid></UserSessionCredentials>")
    response = raw_post(url, envelope(
        '<GetData xmlns="http://www.peoplevox.net/"><getRequest><TemplateName>Item types</TemplateName>'
        '<SearchClause>ItemCode.Equals("SKU-0002")</SearchClause></getRequest></GetData>', header), "GetData")
    result = result_of(response, "GetData")
    assert (result["ResponseId"], result["TotalCount"]) == ("0", "1")
    assert data_lines(result["Detail"])[1].startswith("SKU-0002,Item 2,5000000000002")


def test_calls_without_a_valid_session_are_refused(peoplevox_sim: PeoplevoxSim) -> None:
    pvx = Pvx(peoplevox_sim)
    pvx.session_id = "0" * 32
    assert pvx.get("Sites").Detail == "System : Security - Invalid Session"
    no_header = raw_post(peoplevox_sim.service_url(), envelope(
        '<GetSaveTemplate xmlns="http://www.peoplevox.net/"><templateName>Sites</templateName></GetSaveTemplate>'))
    assert result_of(no_header, "GetSaveTemplate")["Detail"] == "System : Security - Invalid Session"


def test_session_expires_after_idle_lifetime_and_activity_refreshes_it(pvx: Pvx, peoplevox_sim: PeoplevoxSim) -> None:
    peoplevox_sim.clock.advance(19 * 60)
    assert pvx.get("Sites").ResponseId == 0
    peoplevox_sim.clock.advance(19 * 60)
    assert pvx.get("Sites").ResponseId == 0
    peoplevox_sim.clock.advance(20 * 60 + 1)
    result = pvx.get("Sites")
    assert (result.ResponseId, result.Detail) == (-1, "System : Security - Session Expired")
    assert pvx.login().ResponseId == 0 and pvx.get("Sites").ResponseId == 0


def test_admin_expire_sessions(pvx: Pvx, peoplevox_sim: PeoplevoxSim) -> None:
    response = requests.post(f"{peoplevox_sim.base_url}/_sim/expire-sessions", timeout=10)
    assert response.json() == {"expired": 1}
    assert pvx.get("Sites").Detail == "System : Security - Session Expired"


def test_tenants_are_isolated(pvx: Pvx, peoplevox_sim: PeoplevoxSim) -> None:
    peoplevox_sim.state.add_tenant("other", "u", "p")
    peoplevox_sim.state.seed(PVX_CLIENT, "Sites", [{"Reference": "MAIN", "Name": "Main"}])
    other = Pvx(peoplevox_sim, "other")
    other.session_id = pvx.session_id  # a session of acme1234 is not valid at another tenant's URL
    assert other.get("Sites").Detail == "System : Security - Invalid Session"
    assert other.login("u", "cA==").ResponseId == 0
    assert other.get("Sites").TotalCount == 0


# -- GetData --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("count", "per_page", "sizes"), [
    (250, 100, [100, 100, 50, 0]),
    (200, 100, [100, 100, 0]),
    (0, 100, [0]),
], ids=["partial-last-page", "exact-multiple", "no-rows"])
def test_get_data_pages(pvx: Pvx, peoplevox_sim: PeoplevoxSim, count: int, per_page: int, sizes: list[int]) -> None:
    peoplevox_sim.state.seed(PVX_CLIENT, "Item types", items(count))
    seen: list[str] = []
    for page, size in enumerate(sizes, start=1):
        result = pvx.get("Item types", page, per_page)
        lines = data_lines(result.Detail)
        assert (result.ResponseId, result.TotalCount) == (0, count)
        assert lines[0] == ",".join(ITEM_TYPE_COLUMNS)  # the header comes even on an empty page
        assert len(lines) - 1 == size
        seen.extend(line.split(",")[0] for line in lines[1:])
    assert seen == [f"SKU-{n:04d}" for n in range(1, count + 1)]


def test_get_data_clamps_page_size_to_1000(pvx: Pvx, peoplevox_sim: PeoplevoxSim) -> None:
    peoplevox_sim.state.seed(PVX_CLIENT, "Item types", items(1005))
    result = pvx.get("Item types", 1, 5000)
    assert result.TotalCount == 1005
    assert len(data_lines(result.Detail)) - 1 == 1000
    assert len(data_lines(pvx.get("Item types", 2, 5000).Detail)) - 1 == 5


@pytest.mark.parametrize(("clause", "codes"), [
    ('ItemCode.Equals("SKU-0003")', ["SKU-0003"]),
    ('ItemCode == "SKU-0001" OR ItemCode == "SKU-0004"', ["SKU-0001", "SKU-0004"]),
    ('Name.StartsWith("Item 1") AND !ItemCode.EndsWith("0")', ["SKU-0001", "SKU-0011", "SKU-0012"]),
    ("RetailPrice >= 11", ["SKU-0011", "SKU-0012"]),
])
def test_get_data_search_clause(pvx: Pvx, peoplevox_sim: PeoplevoxSim, clause: str, codes: list[str]) -> None:
    rows = [dict(row, RetailPrice=str(n)) for n, row in enumerate(items(12), start=1)]
    peoplevox_sim.state.seed(PVX_CLIENT, "Item types", rows)
    result = pvx.get("Item types", clause=clause)
    assert result.TotalCount == len(codes)
    assert [line.split(",")[0] for line in data_lines(result.Detail)[1:]] == codes


@pytest.mark.parametrize(("clause", "fragment"), [
    ('ItemCode.Equals("SKU', "at character 17: unterminated string"),
    ('Colour == "red"', "at character 1: unknown field 'Colour'"),
])
def test_get_data_bad_search_clause_is_refused(pvx: Pvx, clause: str, fragment: str) -> None:
    result = pvx.get("Item types", clause=clause)
    assert result.ResponseId == -1
    assert fragment in result.Detail


@pytest.mark.parametrize("operation", ["GetData", "SaveData", "GetSaveTemplate"])
def test_unknown_template(pvx: Pvx, operation: str) -> None:
    if operation == "GetData":
        result = pvx.get("Widgets")
    elif operation == "SaveData":
        result = pvx.save("Widgets", "Code\nA")
    else:
        result = pvx.call("GetSaveTemplate", templateName="Widgets")
    assert (result.ResponseId, result.Detail) == (-1, "Template 'Widgets' not found")


def test_get_save_template_lists_importable_columns(pvx: Pvx) -> None:
    result = pvx.call("GetSaveTemplate", templateName="Item types")
    assert result.ResponseId == 0
    assert result.Detail == ",".join(ITEM_TYPE_COLUMNS)
    assert pvx.call("GetSaveTemplate", templateName="sites").Detail.startswith("Reference,Name,")


# -- malformed requests ---------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "action", "fragment"), [
    ("this is not xml", None, "not well-formed XML"),
    ("", None, "Request body is empty"),
    ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/></soap:Envelope>',
     None, "has no Body"),
    (envelope(""), None, "SOAP Body is empty"),
    (envelope('<DropTables xmlns="http://www.peoplevox.net/"/>'), None, "Unknown operation 'DropTables'"),
    (envelope("<GetData><getRequest/></GetData>"), None, "must be in namespace http://www.peoplevox.net/"),
    (envelope('<GetData xmlns="http://www.peoplevox.net/"/>'), "SaveData", "did not recognize the value of HTTP"),
    ('<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Body/></Envelope>', None, "SOAP 1.2"),
    (envelope('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/hostname">]><x>&e;</x>'), None, "not well-formed"),
    ('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/hostname">]>' + envelope(
        '<Authenticate xmlns="http://www.peoplevox.net/"><username>&e;</username></Authenticate>'),
     None, "must not contain a document type declaration"),
], ids=["not-xml", "empty", "no-body", "empty-body", "unknown-operation", "wrong-namespace",
        "soapaction-mismatch", "soap12", "doctype-in-body", "external-entity"])
def test_malformed_requests_get_a_soap_fault(peoplevox_sim: PeoplevoxSim, body: str, action: str | None,
                                             fragment: str) -> None:
    assert fragment in fault_of(raw_post(peoplevox_sim.service_url(), body, action))


def test_non_integer_page_number_is_a_fault_not_a_crash(pvx: Pvx, peoplevox_sim: PeoplevoxSim) -> None:
    header = (f'<UserSessionCredentials xmlns="http://www.peoplevox.net/"><UserId>0</UserId>'
              f"<ClientId>{PVX_CLIENT}</ClientId><SessionId>{pvx.session_id}</SessionId></UserSessionCredentials>")
    body = ('<GetData xmlns="http://www.peoplevox.net/"><getRequest><TemplateName>Sites</TemplateName>'
            "<PageNo>two</PageNo></getRequest></GetData>")
    message = fault_of(raw_post(peoplevox_sim.service_url(), envelope(body, header), "GetData"))
    assert "<PageNo>two</PageNo> is not an integer" in message


def test_unknown_paths_are_404(peoplevox_sim: PeoplevoxSim) -> None:
    url = f"{peoplevox_sim.base_url}/{PVX_CLIENT}/resources/otherservice.asmx"
    assert requests.post(url, data=b"<x/>", timeout=10).status_code == 404
    assert requests.get(url + "?wsdl", timeout=10).status_code == 404


def test_fail_next_answers_503_then_recovers(pvx: Pvx, peoplevox_sim: PeoplevoxSim) -> None:
    peoplevox_sim.settings.fail_next = 2
    url = peoplevox_sim.service_url()
    assert [requests.get(url + "?wsdl", timeout=10).status_code for _ in range(3)] == [503, 503, 200]
    assert pvx.get("Sites").ResponseId == 0
