"""Contract of the Cin7 Core simulator, checked over HTTP: auth, error arrays, paging, filters,
case-insensitive resources, validation, rate limiting (429 / 503 variant), demo data and admin routes.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from erp_wms_simulators.cin7core import Cin7CoreSettings, Cin7CoreState, create_app
from erp_wms_simulators.cin7core.demo import (
    BLANK_NAME_SKU,
    DEMO_ACCOUNT_ID,
    DEMO_APPLICATION_KEY,
    DEPRECATED_SKU,
    DUPLICATE_BARCODE_SKUS,
    LONG_SKU,
    seed_demo,
)

with warnings.catch_warnings():  # starlette warns that its test client's httpx backend will change
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

HEADERS = {"api-auth-accountid": DEMO_ACCOUNT_ID, "api-auth-applicationkey": DEMO_APPLICATION_KEY}
BASE = "/ExternalApi/v2"
OTHER_KEY = "0b7e1c44-2f55-4d0a-9a1e-6c3d8e9f0a12"
NEW_PRODUCT = {"SKU": "NWO-NEW-1", "Name": "Trail Mug", "Category": "Camping", "Type": "Stock", "UOM": "Item",
               "Barcode": "5012349999990", "PriceTier1": 12.5, "Weight": 0.3}


@pytest.fixture
def settings() -> Cin7CoreSettings:
    return Cin7CoreSettings(applications={DEMO_APPLICATION_KEY: DEMO_ACCOUNT_ID, OTHER_KEY: DEMO_ACCOUNT_ID})


@pytest.fixture
def state(erp_clock: Any) -> Cin7CoreState:
    state = Cin7CoreState(clock=erp_clock)
    seed_demo(state)
    return state


@pytest.fixture
def client(state: Cin7CoreState, settings: Cin7CoreSettings) -> Iterator[TestClient]:
    with TestClient(create_app(state, settings)) as test_client:
        yield test_client


def get(client: TestClient, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    return client.get(BASE + path, params=params, headers=HEADERS if headers is None else headers)


def assert_error_array(response: Any, status: int, fragment: str = "") -> str:
    assert response.status_code == status
    body = response.json()
    assert isinstance(body, list) and body, body
    assert all(set(entry) == {"ErrorCode", "Exception"} and entry["ErrorCode"] == status for entry in body)
    text = " ".join(entry["Exception"] for entry in body)
    assert fragment.lower() in text.lower(), text
    assert "Traceback" not in response.text
    return text


# ---- auth and error shapes ------------------------------------------------------------------
@pytest.mark.parametrize("headers", [
    {},
    {"api-auth-accountid": DEMO_ACCOUNT_ID},
    {"api-auth-accountid": DEMO_ACCOUNT_ID, "api-auth-applicationkey": "not-the-key"},
    {"api-auth-accountid": OTHER_KEY, "api-auth-applicationkey": DEMO_APPLICATION_KEY},
], ids=["no-headers", "no-key", "wrong-key", "wrong-account"])
def test_bad_or_missing_credentials_answer_403_array(client: TestClient, state: Cin7CoreState,
                                                     headers: dict[str, str]) -> None:
    text = assert_error_array(get(client, "/product", headers), 403)
    assert DEMO_APPLICATION_KEY not in text
    assert state.calls == 0


def test_unknown_resource_and_method_answer_error_arrays(client: TestClient) -> None:
    assert_error_array(get(client, "/Products"), 404, "not found")
    assert_error_array(client.delete(BASE + "/product", headers=HEADERS), 405, "DELETE")


def test_malformed_json_is_400_by_default_and_500_when_configured(client: TestClient,
                                                                  settings: Cin7CoreSettings) -> None:
    bad = {**HEADERS, "Content-Type": "application/json"}
    assert_error_array(client.post(BASE + "/product", content=b"{not json", headers=bad), 400, "JSON")
    settings.malformed_body_status = 500
    assert_error_array(client.post(BASE + "/product", content=b"{not json", headers=bad), 500, "JSON")


def test_unexpected_failure_is_a_500_array_without_traceback(client: TestClient, state: Cin7CoreState,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def explode() -> None:
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(state, "catalogue", explode)
    response = client.post(BASE + "/product", json=NEW_PRODUCT, headers=HEADERS)
    text = assert_error_array(response, 500, "unexpected")
    assert "internal detail" not in text


# ---- paging ---------------------------------------------------------------------------------
def test_paging_reports_total_and_ends_with_an_empty_page(client: TestClient) -> None:
    first = get(client, "/product", Page=1, Limit=10).json()
    assert (first["Total"], first["Page"], len(first["Products"])) == (39, 1, 10)
    last = get(client, "/product", Page=4, Limit=10).json()
    assert len(last["Products"]) == 9
    beyond = get(client, "/product", Page=5, Limit=10).json()
    assert beyond == {"Total": 39, "Page": 5, "Products": []}
    skus = [p["SKU"] for page in (1, 2, 3, 4) for p in get(client, "/product", Page=page, Limit=10).json()["Products"]]
    assert len(skus) == len(set(skus)) == 39


def test_default_limit_is_100_and_1000_is_the_cap(client: TestClient) -> None:
    assert len(get(client, "/product").json()["Products"]) == 39
    assert get(client, "/product", Limit=1000).status_code == 200
    assert_error_array(get(client, "/product", Limit=1001), 400, "Limit")
    assert_error_array(get(client, "/product", Limit=0), 400, "Limit")
    assert_error_array(get(client, "/product", Page=0), 400, "Page")
    assert_error_array(get(client, "/product", Limit="ten"), 400, "Limit")


def test_resource_names_and_query_names_are_case_insensitive(client: TestClient) -> None:
    upper = client.get("/EXTERNALAPI/V2/PRODUCT?PAGE=2&LIMIT=5", headers=HEADERS)
    lower = client.get("/externalapi/v2/product?page=2&limit=5", headers=HEADERS)
    assert upper.status_code == lower.status_code == 200
    assert upper.json() == lower.json()
    assert lower.json()["Page"] == 2 and len(lower.json()["Products"]) == 5
    assert client.get("/externalapi/v2/Ref/Location", headers=HEADERS).json()["Total"] == 2


# ---- filters --------------------------------------------------------------------------------
def test_deprecated_products_are_hidden_unless_asked_for(client: TestClient, state: Cin7CoreState) -> None:
    default = {p["SKU"] for p in get(client, "/product").json()["Products"]}
    everything = {p["SKU"] for p in get(client, "/product", IncludeDeprecated="true").json()["Products"]}
    assert DEPRECATED_SKU not in default
    assert everything - default == {DEPRECATED_SKU}
    by_id = get(client, "/product", ID=state.products_by_sku()[DEPRECATED_SKU]["ID"]).json()
    assert [p["SKU"] for p in by_id["Products"]] == [DEPRECATED_SKU]


def test_modified_since_returns_only_later_changes(client: TestClient, state: Cin7CoreState,
                                                   erp_clock: Any) -> None:
    erp_clock.advance(600)
    state.update_product("NWO-TENT-2P", PriceTier1=259.0)
    for since in ("2025-03-01T12:05:00", "2025-03-01T12:05:00.000Z", "2025-03-01T12:10:00.000"):
        rows = get(client, "/product", ModifiedSince=since).json()["Products"]
        assert [(p["SKU"], p["PriceTier1"]) for p in rows] == [("NWO-TENT-2P", 259.0)], since
        assert rows[0]["LastModifiedOn"] == "2025-03-01T12:10:00.000Z"
    assert get(client, "/product", ModifiedSince="2025-03-01T12:10:00.001Z").json()["Total"] == 0
    assert get(client, "/product", ModifiedSince="2025-03-01T08:00:00Z").json()["Total"] == 39
    assert_error_array(get(client, "/product", ModifiedSince="yesterday"), 400, "ISO 8601")


def test_name_and_sku_filters_match_the_start(client: TestClient) -> None:
    by_sku = get(client, "/product", Sku="nwo-boot").json()["Products"]
    assert {p["SKU"] for p in by_sku} == {f"NWO-BOOT-{size}" for size in (8, 9, 10, 11, 12)}
    by_name = get(client, "/product", Name="basecamp").json()["Products"]
    assert {p["SKU"] for p in by_name} == {"NWO-TENT-1P", "NWO-TENT-2P", "NWO-TENT-3P"}
    assert get(client, "/product", Name="Tent").json()["Total"] == 0


# ---- writes ---------------------------------------------------------------------------------
def test_post_creates_a_product_with_id_and_timestamp(client: TestClient, erp_clock: Any) -> None:
    response = client.post(BASE + "/Product", json=NEW_PRODUCT, headers=HEADERS)
    assert response.status_code == 200
    body = response.json()
    assert body["Total"] == 1 and body["Products"][0]["SKU"] == "NWO-NEW-1"
    created = body["Products"][0]
    assert len(created["ID"]) == 36 and created["Status"] == "Active"
    assert created["LastModifiedOn"] == "2025-03-01T12:00:00.000Z"
    assert get(client, "/product", ID=created["ID"]).json()["Products"][0]["Name"] == "Trail Mug"


@pytest.mark.parametrize(("change", "field"), [
    ({"Name": "  "}, "Name"),
    ({"SKU": None}, "SKU"),
    ({"SKU": "X" * 51}, "SKU"),
    ({"SKU": "nwo-tent-2p"}, "already exists"),
    ({"Category": "Spaceships"}, "Category"),
    ({"UOM": "Barrel"}, "UOM"),
    ({"Type": "Gadget"}, "Type"),
    ({"Status": "Gone"}, "Status"),
    ({"PriceTier1": "cheap"}, "PriceTier1"),
    ({"Weight": -1}, "Weight"),
], ids=["blank-name", "no-sku", "long-sku", "duplicate-sku", "unknown-category", "unknown-uom", "bad-type",
        "bad-status", "text-price", "negative-weight"])
def test_post_validation_names_the_field(client: TestClient, change: dict[str, Any], field: str) -> None:
    response = client.post(BASE + "/product", json={**NEW_PRODUCT, **change}, headers=HEADERS)
    assert_error_array(response, 400, field)


def test_post_of_a_list_is_refused(client: TestClient) -> None:
    assert_error_array(client.post(BASE + "/product", json=[NEW_PRODUCT], headers=HEADERS), 400, "object")


def test_put_updates_by_id_and_bumps_last_modified(client: TestClient, state: Cin7CoreState,
                                                   erp_clock: Any) -> None:
    product_id = state.products_by_sku()["NWO-CAP-BLK"]["ID"]
    erp_clock.advance(90)
    response = client.put(BASE + "/product", json={"ID": product_id, "Name": "Canyon Cap Black", "Type": "Service"},
                          headers=HEADERS)
    assert response.status_code == 200
    updated = response.json()["Products"][0]
    assert updated["Name"] == "Canyon Cap Black" and updated["Type"] == "Stock"  # Type is read-only
    assert updated["LastModifiedOn"] == "2025-03-01T12:01:30.000Z"
    assert_error_array(client.put(BASE + "/product", json={"Name": "x"}, headers=HEADERS), 400, "ID")
    unknown = {"ID": "00000000-0000-0000-0000-000000000001", "Name": "x"}
    assert_error_array(client.put(BASE + "/product", json=unknown, headers=HEADERS), 400, "not found")
    clash = {"ID": product_id, "SKU": "NWO-TENT-1P"}
    assert_error_array(client.put(BASE + "/product", json=clash, headers=HEADERS), 400, "already exists")


# ---- rate limit -----------------------------------------------------------------------------
def test_rate_limit_is_a_sliding_window_per_application_key(client: TestClient, settings: Cin7CoreSettings,
                                                            state: Cin7CoreState, erp_clock: Any) -> None:
    settings.rate_limit_per_minute = 3
    for _ in range(3):
        assert get(client, "/me").status_code == 200
        erp_clock.advance(10)
    refused = get(client, "/me")
    assert_error_array(refused, 429, "You reached 3 calls per minute API limit")
    assert "Retry-After" not in refused.headers
    other = {"api-auth-accountid": DEMO_ACCOUNT_ID, "api-auth-applicationkey": OTHER_KEY}
    assert get(client, "/me", other).status_code == 200  # limits apply per application key
    erp_clock.advance(30.5)  # the first call (t=0) has left the 60-second window
    assert get(client, "/me").status_code == 200
    assert get(client, "/me").status_code == 429
    assert (state.calls, state.throttled) == (5, 2)


def test_rate_limit_can_answer_503_with_retry_after(client: TestClient, settings: Cin7CoreSettings,
                                                    erp_clock: Any) -> None:
    settings.update({"rate_limit_per_minute": 2, "rate_limit_status": 503, "rate_limit_retry_after": True})
    get(client, "/me")
    erp_clock.advance(15)
    get(client, "/me")
    refused = get(client, "/me")
    assert_error_array(refused, 503, "You reached 2 calls per minute API limit")
    assert refused.headers["Retry-After"] == "45"


# ---- other resources, demo data, admin ------------------------------------------------------
def test_me_and_locations(client: TestClient) -> None:
    assert get(client, "/me").json()["Company"] == "Northwind Outfitters"
    body = get(client, "/ref/location").json()
    assert body["Total"] == 2 and body["Page"] == 1
    main, returns = body["LocationList"]
    assert (main["Name"], main["IsDefault"], main["IsDeprecated"]) == ("Main Warehouse", True, False)
    assert returns["Name"] == "Returns Bay" and [b["Name"] for b in returns["Bins"]] == ["RET-01"]
    assert {"ID", "Bins", "AddressCountry"} <= set(main)


def test_demo_data_has_the_planted_problems(state: Cin7CoreState, erp_clock: Any) -> None:
    products = state.products_by_sku()
    assert len(products) == 40
    assert len(LONG_SKU) == 45 and LONG_SKU in products
    first, second = DUPLICATE_BARCODE_SKUS
    assert products[first]["Barcode"] == products[second]["Barcode"]
    assert sum(1 for p in products.values() if p["Barcode"] == products[first]["Barcode"]) == 2
    assert products[BLANK_NAME_SKU]["Name"].strip() == ""
    assert [sku for sku, p in products.items() if p["Status"] == "Deprecated"] == [DEPRECATED_SKU]
    stamps = {p["LastModifiedOn"] for p in products.values()}
    assert len(stamps) == 1 and (erp_clock() - stamps.pop()).total_seconds() == 3 * 3600
    again = Cin7CoreState(clock=erp_clock)
    seed_demo(again)
    assert {p["SKU"]: (p["ID"], p["Barcode"]) for p in again.products.values()} == \
        {p["SKU"]: (p["ID"], p["Barcode"]) for p in products.values()}


def test_admin_routes_upsert_products_and_switch_settings(client: TestClient, state: Cin7CoreState,
                                                          erp_clock: Any) -> None:
    erp_clock.advance(60)
    answer = client.post("/_sim/products", json=[{"SKU": "NWO-TEE-M", "PriceTier1": 26.0},
                                                 {"SKU": "NWO-ODD", "Name": "", "Category": "Odd"}])
    assert answer.json() == {"created": ["NWO-ODD"], "updated": ["NWO-TEE-M"]}
    assert state.products_by_sku()["NWO-TEE-M"]["PriceTier1"] == 26.0
    assert_error_array(client.post("/_sim/products", json={"SKU": "nwo-tee-m"}), 400, "already exists")
    since = get(client, "/product", ModifiedSince="2025-03-01T12:01:00").json()["Products"]
    assert sorted(p["SKU"] for p in since) == ["NWO-ODD", "NWO-TEE-M"]
    snapshot = client.get("/_sim/state").json()
    assert snapshot["products"] == 41 and "Odd" in snapshot["categories"]
    assert DEMO_APPLICATION_KEY not in client.get("/_sim/state").text
    assert client.post("/_sim/settings", json={"rate_limit_status": 503}).json()["rate_limit_status"] == 503
    assert_error_array(client.post("/_sim/settings", json={"rate_limit_status": 418}), 400, "rate_limit_status")
    assert_error_array(client.post("/_sim/settings", json={"bogus": 1}), 400, "bogus")
    assert client.post("/_sim/reset").json()["products"] == 0
    assert client.post("/_sim/reset?seed=true").json()["products"] == 40


def test_over_a_real_server(cin7_sim: Any) -> None:
    with requests.Session() as session:
        ok = session.get(cin7_sim.url + "/Product", params={"Limit": 5}, headers=HEADERS, timeout=5)
        assert ok.status_code == 200 and len(ok.json()["Products"]) == 5
        refused = session.get(cin7_sim.url + "/Product", timeout=5)
        assert refused.status_code == 403 and refused.json()[0]["ErrorCode"] == 403
        assert session.get(cin7_sim.root + "/_sim/state", timeout=5).json()["calls"] == 1
