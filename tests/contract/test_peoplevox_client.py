"""The Peoplevox client against the simulator: sessions, paging, batching, outcomes, retries, redaction."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from lxml import etree

from erp_wms_simulators.peoplevox import operations
from erp_wms_simulators.peoplevox.soap import IntegrationResult
from erp_wms_sync.connectors.peoplevox import PeoplevoxClient, RecordOutcome
from erp_wms_sync.connectors.transport import RetryPolicy
from erp_wms_sync.errors import ApiAuthError, ApiRejected, ApiResponseInvalid, ApiUnavailable
from tests.contract.conftest_peoplevox import (
    PVX_CLIENT,
    PVX_PASSWORD,
    PVX_PASSWORD_B64,
    PVX_USER,
    PeoplevoxSim,
    items,
)

FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.005)
SECRETS = (PVX_PASSWORD, PVX_PASSWORD_B64)


@pytest.fixture
def make_client(peoplevox_sim: PeoplevoxSim) -> Callable[..., PeoplevoxClient]:
    def build(password: str = PVX_PASSWORD, **kwargs: object) -> PeoplevoxClient:
        kwargs.setdefault("retry", FAST_RETRY)
        return PeoplevoxClient(peoplevox_sim.base_url, PVX_CLIENT, PVX_USER, password, **kwargs)  # type: ignore[arg-type]
    return build


@pytest.fixture
def client(make_client: Callable[..., PeoplevoxClient]) -> PeoplevoxClient:
    return make_client()


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_no_io_until_first_call() -> None:
    lazy = PeoplevoxClient("http://127.0.0.1:9", "nowhere", "u", "p", retry=FAST_RETRY)
    assert lazy.service_url == "http://127.0.0.1:9/nowhere/resources/integrationservicev4.asmx"


def test_authenticate_and_wsdl_loaded_once(client: PeoplevoxClient, peoplevox_sim: PeoplevoxSim) -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", client.authenticate())
    client.get_save_template("Item types")
    list(client.get_data("Sites"))
    assert peoplevox_sim.calls("WSDL") == 1
    assert peoplevox_sim.calls("Authenticate") == 1


def test_wrong_password_raises_auth_error_without_the_password(make_client: Callable[..., PeoplevoxClient]) -> None:
    with pytest.raises(ApiAuthError) as caught:
        make_client(password="Wrong-Pass-123").authenticate()
    assert "Failed to authenticate" in str(caught.value)
    assert "Wrong-Pass-123" not in str(caught.value)


def test_secrets_echoed_by_the_server_are_redacted(client: PeoplevoxClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def careless(ctx: operations.CallContext, body: etree._Element) -> IntegrationResult:
        sent = operations.text(body, "password") or ""
        return IntegrationResult.error(f"Error: bad password {sent} (plain {PVX_PASSWORD})")

    monkeypatch.setattr(operations, "authenticate", careless)
    with pytest.raises(ApiAuthError) as caught:
        client.authenticate()
    assert "bad password ***" in str(caught.value)
    assert_no_secret(str(caught.value))


def test_get_data_pages_by_total_count(make_client: Callable[..., PeoplevoxClient],
                                       peoplevox_sim: PeoplevoxSim) -> None:
    peoplevox_sim.state.seed(PVX_CLIENT, "Item types", items(250))
    rows = list(make_client(page_size=100).iter_item_types())
    assert [row["ItemCode"] for row in rows] == [f"SKU-{n:04d}" for n in range(1, 251)]
    assert rows[0]["Name"] == "Item 1" and rows[0]["Attribute15"] == ""
    assert peoplevox_sim.calls("GetData") == 3


def test_get_data_exact_multiple_needs_no_extra_call(make_client: Callable[..., PeoplevoxClient],
                                                      peoplevox_sim: PeoplevoxSim) -> None:
    peoplevox_sim.state.seed(PVX_CLIENT, "Item types", items(200))
    assert len(list(make_client(page_size=100).get_data("Item types"))) == 200
    assert peoplevox_sim.calls("GetData") == 2


def test_get_data_with_search_clause(client: PeoplevoxClient, peoplevox_sim: PeoplevoxSim) -> None:
    peoplevox_sim.state.seed(PVX_CLIENT, "Item types", items(30))
    rows = list(client.iter_item_types('ItemCode.StartsWith("SKU-002")'))
    assert [row["ItemCode"] for row in rows] == [f"SKU-{n:04d}" for n in range(20, 30)]


def test_get_data_refusal_raises_api_rejected(client: PeoplevoxClient) -> None:
    with pytest.raises(ApiRejected, match="Template 'Widgets' not found"):
        list(client.get_data("Widgets", key="Code"))
    with pytest.raises(ValueError, match="template 'Widgets' has no known key column"):
        list(client.get_data("Widgets"))
    with pytest.raises(ApiRejected, match="at character 1: unknown field 'Colour'"):
        list(client.get_data("Item types", 'Colour == "red"'))


def lying_get_data(total: int, rows_per_page: int) -> Callable[..., IntegrationResult]:
    """A GetData handler announcing ``total`` rows but serving ``rows_per_page`` new ones on every page."""
    def handler(ctx: operations.CallContext, body: etree._Element) -> IntegrationResult:
        page = operations.text(operations.child(body, "getRequest"), "PageNo")
        lines = ["ItemCode,Name"] + [f"LIE-{page}-{n},x" for n in range(rows_per_page)]
        return IntegrationResult(total_count=total, detail="\r\n".join(lines))
    return handler


def test_empty_page_before_total_count_is_read_again_then_refused(client: PeoplevoxClient,
                                                                  peoplevox_sim: PeoplevoxSim,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(operations.HANDLERS, "GetData", lying_get_data(total=10, rows_per_page=0))
    with pytest.raises(ApiResponseInvalid, match="page 1 has 0 rows of the 1000 asked for, yet TotalCount says 10"):
        list(client.get_data("Item types"))
    assert peoplevox_sim.calls("GetData") == 2


def test_page_cap_stops_an_endless_listing(make_client: Callable[..., PeoplevoxClient],
                                           peoplevox_sim: PeoplevoxSim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(operations.HANDLERS, "GetData", lying_get_data(total=10**9, rows_per_page=2))
    with pytest.raises(ApiResponseInvalid, match="after 3 pages"):
        list(make_client(max_pages=3, page_size=2).get_data("Item types"))
    assert peoplevox_sim.calls("GetData") == 3


def test_save_data_batches(make_client: Callable[..., PeoplevoxClient], peoplevox_sim: PeoplevoxSim) -> None:
    outcomes = make_client(save_batch_size=100).save_item_types(items(250))
    assert peoplevox_sim.calls("SaveData") == 3
    assert outcomes == [RecordOutcome(f"SKU-{n:04d}", True) for n in range(1, 251)]
    assert len(peoplevox_sim.state.records(PVX_CLIENT, "Item types")) == 250


def test_save_data_quotes_and_unions_columns(client: PeoplevoxClient, peoplevox_sim: PeoplevoxSim) -> None:
    rows = [{"Name": 'Mug, "large"', "ItemCode": "MUG-1"},
            {"ItemCode": "MUG-2", "Name": "Mug\nsmall", "Description": "two lines"}]
    assert all(o.ok for o in client.save_item_types(rows))
    saved = peoplevox_sim.state.records(PVX_CLIENT, "Item types")
    assert saved["MUG-1"]["Name"] == 'Mug, "large"'
    assert (saved["MUG-2"]["Name"], saved["MUG-2"]["Description"]) == ("Mug\nsmall", "two lines")


def test_save_data_partial_failure_outcomes(client: PeoplevoxClient, peoplevox_sim: PeoplevoxSim) -> None:
    peoplevox_sim.state.seed(PVX_CLIENT, "Item types", [{"ItemCode": "OLD-1", "Name": "Old", "Barcode": "777"}])
    outcomes = client.save_item_types([
        {"ItemCode": "GOOD-1", "Name": "Good"},
        {"ItemCode": "NONAME-1", "Name": ""},
        {"ItemCode": "", "Name": "No key"},
        {"ItemCode": "DUPE-1", "Name": "Dupe", "Barcode": "777"},
    ])
    assert outcomes == [
        RecordOutcome("GOOD-1", True),
        RecordOutcome("NONAME-1", False, "Name is required"),
        RecordOutcome("", False, "the key column ItemCode is empty; not sent"),
        RecordOutcome("DUPE-1", False, "Barcode '777' is already used by item 'OLD-1'"),
    ]
    assert peoplevox_sim.calls("SaveData") == 1


def test_a_refused_batch_fails_its_rows_and_good_batches_still_count(
        make_client: Callable[..., PeoplevoxClient], peoplevox_sim: PeoplevoxSim) -> None:
    fresh = [{"ItemCode": "NEW-1", "Name": "New 1"}, {"ItemCode": "NEW-2", "Name": "New 2"}]
    rows = items(2) + [{"ItemCode": "BAD-1", "Name": ""}, {"ItemCode": "BAD-2", "Name": ""}] + fresh
    outcomes = make_client(save_batch_size=2).save_item_types(rows)
    assert [o.ok for o in outcomes] == [True, True, False, False, True, True]
    assert outcomes[2] == RecordOutcome("BAD-1", False, "Name is required")
    assert peoplevox_sim.calls("SaveData") == 3
    whole = make_client().save_data("Widgets", rows[:2], key="ItemCode")
    assert whole == [RecordOutcome(r["ItemCode"], False, "Template 'Widgets' not found") for r in rows[:2]]


def test_expired_session_is_renewed_exactly_once(client: PeoplevoxClient, peoplevox_sim: PeoplevoxSim) -> None:
    first = client.authenticate()
    peoplevox_sim.clock.advance(21 * 60)
    assert client.get_save_template("Sites")[:2] == ["Reference", "Name"]
    assert peoplevox_sim.calls("Authenticate") == 2
    assert peoplevox_sim.calls("GetSaveTemplate") == 2
    assert client.authenticate() != first


def test_invalid_session_is_renewed(client: PeoplevoxClient, peoplevox_sim: PeoplevoxSim) -> None:
    client.authenticate()
    peoplevox_sim.state.tenants[PVX_CLIENT].sessions.clear()  # e.g. the WMS was restarted
    assert list(client.get_data("Sites")) == []
    assert peoplevox_sim.calls("Authenticate") == 2


def test_a_fresh_session_refused_once_more_is_renewed_again(client: PeoplevoxClient,
                                                             peoplevox_sim: PeoplevoxSim) -> None:
    from erp_wms_simulators.faults import FaultRule

    client.authenticate()
    peoplevox_sim.state.faults.add_rule(FaultRule("session_expiry", endpoint="GetSaveTemplate", count=2))
    assert client.get_save_template("Sites")[:2] == ["Reference", "Name"]
    assert peoplevox_sim.calls("Authenticate") == 3 and peoplevox_sim.calls("GetSaveTemplate") == 3


def test_a_session_refused_after_every_renewal_raises_auth_error(client: PeoplevoxClient,
                                                                peoplevox_sim: PeoplevoxSim) -> None:
    peoplevox_sim.settings.session_idle_seconds = -1  # every session is already expired when used
    with pytest.raises(ApiAuthError, match="again after re-authenticating 2 times: System : Security - Session Ex"):
        client.get_save_template("Sites")
    assert peoplevox_sim.calls("Authenticate") == 3


def test_5xx_is_retried(client: PeoplevoxClient, peoplevox_sim: PeoplevoxSim) -> None:
    peoplevox_sim.settings.fail_next = 2  # the WSDL load and then Authenticate each see one 503
    client.authenticate()
    peoplevox_sim.settings.fail_next = 2  # GetData: two 503s, then the answer (3 attempts allowed)
    assert list(client.get_data("Sites")) == []
    assert peoplevox_sim.calls("GetData") == 1


def test_5xx_beyond_the_retry_budget_raises_unavailable_without_secrets(client: PeoplevoxClient,
                                                                        peoplevox_sim: PeoplevoxSim) -> None:
    client.authenticate()
    peoplevox_sim.settings.fail_next = 3
    with pytest.raises(ApiUnavailable) as caught:
        client.save_item_types(items(1))
    assert caught.value.status == 503
    assert_no_secret(str(caught.value))


def test_soap_fault_raises_api_rejected(client: PeoplevoxClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: operations.CallContext, body: etree._Element) -> IntegrationResult:
        raise RuntimeError("disk full")

    monkeypatch.setitem(operations.HANDLERS, "GetSaveTemplate", broken)
    with pytest.raises(ApiRejected, match="SOAP fault: Server was unable to process request. ---> RuntimeError"):
        client.get_save_template("Sites")


def test_a_server_fault_is_asked_again(client: PeoplevoxClient,
                                                                     peoplevox_sim: PeoplevoxSim,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A soap:Server fault (HTTP 500) is the service failing, not a verdict: the read is asked again, bounded."""
    real = operations.HANDLERS["GetData"]
    failures = iter([RuntimeError("deadlock victim"), RuntimeError("timeout expired")])

    def flaky(ctx: operations.CallContext, body: etree._Element) -> IntegrationResult:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real(ctx, body)

    client.save_item_types(items(3))
    monkeypatch.setitem(operations.HANDLERS, "GetData", flaky)
    assert sorted(row["ItemCode"] for row in client.get_data("Item types")) == [row["ItemCode"] for row in items(3)]
    assert peoplevox_sim.calls("GetData") == 3


def test_a_server_fault_that_persists_is_refused_after_the_retry_budget(client: PeoplevoxClient,
                                                                       peoplevox_sim: PeoplevoxSim,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: operations.CallContext, body: etree._Element) -> IntegrationResult:
        raise RuntimeError("disk full")

    monkeypatch.setitem(operations.HANDLERS, "GetSaveTemplate", broken)
    with pytest.raises(ApiRejected, match="disk full"):
        client.get_save_template("Sites")
    assert peoplevox_sim.calls("GetSaveTemplate") == FAST_RETRY.max_attempts


def test_a_client_fault_is_a_verdict_and_not_repeated(client: PeoplevoxClient, peoplevox_sim: PeoplevoxSim,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_wms_simulators.peoplevox.soap import SoapFault

    def refuses(ctx: operations.CallContext, body: etree._Element) -> IntegrationResult:
        raise SoapFault("Server did not recognize the value of HTTP Header SOAPAction.", "Client")

    monkeypatch.setitem(operations.HANDLERS, "GetSaveTemplate", refuses)
    with pytest.raises(ApiRejected, match="did not recognize"):
        client.get_save_template("Sites")
    assert peoplevox_sim.calls("GetSaveTemplate") == 1


def test_connection_check(make_client: Callable[..., PeoplevoxClient]) -> None:
    ok, message = make_client().test_connection()
    assert ok and f"client '{PVX_CLIENT}' as '{PVX_USER}'" in message
    ok, message = make_client(password="Not-The-Password").test_connection()
    assert not ok and "Failed to authenticate" in message and "Not-The-Password" not in message


def test_unreachable_host_is_unavailable() -> None:
    lazy = PeoplevoxClient("http://127.0.0.1:9", PVX_CLIENT, PVX_USER, PVX_PASSWORD,
                           retry=RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.001))
    with pytest.raises(ApiUnavailable) as caught:
        lazy.authenticate()
    assert_no_secret(str(caught.value))
