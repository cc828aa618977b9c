"""Contract of the BlueCherry simulator, checked over HTTP: subscription-key auth, JSON error shapes,
paging, ``updatedSince``, styles / SKUs / warehouses, the gateway's 429 with Retry-After, demo data.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from erp_wms_simulators.bluecherry import BlueCherrySettings, BlueCherryState, create_app
from erp_wms_simulators.bluecherry.demo import (
    DEMO_SUBSCRIPTION_KEY,
    EMPTY_DESCRIPTION_SKU,
    INACTIVE_STYLE,
    SHARED_UPC_SKUS,
    seed_demo,
)

with warnings.catch_warnings():  # starlette warns that its test client's httpx backend will change
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

HEADERS = {"Ocp-Apim-Subscription-Key": DEMO_SUBSCRIPTION_KEY}
BASE = "/api/v1"
SKU_FIELDS = {"sku", "style", "color", "colorName", "size", "sizeBucket", "upc", "description", "styleName",
              "division", "season", "status", "price", "weight", "updatedAt"}


@pytest.fixture
def settings() -> BlueCherrySettings:
    return BlueCherrySettings()


@pytest.fixture
def state(erp_clock: Any) -> BlueCherryState:
    state = BlueCherryState(clock=erp_clock)
    seed_demo(state)
    return state


@pytest.fixture
def client(state: BlueCherryState, settings: BlueCherrySettings) -> Iterator[TestClient]:
    with TestClient(create_app(state, settings)) as test_client:
        yield test_client


def get(client: TestClient, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    return client.get(BASE + path, params=params, headers=HEADERS if headers is None else headers)


def assert_error(response: Any, status: int, code: str, fragment: str = "") -> None:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert fragment.lower() in body["error"]["message"].lower(), body
    assert "Traceback" not in response.text


@pytest.mark.parametrize("headers", [{}, {"Ocp-Apim-Subscription-Key": "0" * 32}], ids=["missing", "wrong"])
def test_missing_or_wrong_key_is_401(client: TestClient, state: BlueCherryState, headers: dict[str, str]) -> None:
    response = get(client, "/skus", headers)
    assert_error(response, 401, "unauthorized", "subscription key")
    assert DEMO_SUBSCRIPTION_KEY not in response.text
    assert state.calls == 0


def test_unknown_paths_styles_and_methods_are_json_errors(client: TestClient) -> None:
    assert_error(get(client, "/nothing"), 404, "not_found")
    assert_error(get(client, "/styles/99999"), 404, "not_found", "99999")
    assert_error(client.post(BASE + "/skus", headers=HEADERS, json={}), 405, "method_not_allowed")


def test_unexpected_failure_is_json_without_traceback(client: TestClient, state: BlueCherryState,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def explode() -> list[dict[str, Any]]:
        raise KeyError("internal detail")

    monkeypatch.setattr(state, "skus", explode)
    response = get(client, "/skus")
    assert_error(response, 500, "internal_error")
    assert "internal detail" not in response.text


def test_paging_shape_edges_and_cap(client: TestClient) -> None:
    first = get(client, "/skus", page=1, pageSize=25).json()
    assert (first["page"], first["pageSize"], first["total"], len(first["data"])) == (1, 25, 59, 25)
    assert len(get(client, "/skus", page=3, pageSize=25).json()["data"]) == 9
    assert get(client, "/skus", page=4, pageSize=25).json() == {"data": [], "page": 4, "pageSize": 25, "total": 59}
    assert get(client, "/skus").json()["pageSize"] == 100
    assert get(client, "/skus", pageSize=500).status_code == 200
    assert_error(get(client, "/skus", pageSize=501), 400, "bad_request", "pageSize")
    assert_error(get(client, "/skus", page=0), 400, "bad_request", "page")
    pages = [get(client, "/skus", page=p, pageSize=20).json()["data"] for p in (1, 2, 3)]
    skus = [row["sku"] for page in pages for row in page]
    assert len(skus) == len(set(skus)) == 59


def test_updated_since_filters_skus(client: TestClient, state: BlueCherryState, erp_clock: Any) -> None:
    erp_clock.advance(120)
    state.update_sku("10001-BLK-M", price=30.0)
    state.update_style("10006", season="FA25")
    rows = get(client, "/skus", updatedSince="2025-03-01T12:01:00Z").json()["data"]
    assert sorted(r["sku"] for r in rows) == ["10001-BLK-M", "10006-BLK-OS", "10006-KHK-OS"]
    assert {r["updatedAt"] for r in rows} == {"2025-03-01T12:02:00Z"}
    assert get(client, "/skus", updatedSince="2025-03-01T12:02:00").json()["total"] == 3
    assert get(client, "/skus", updatedSince="2025-03-01T14:02:01+02:00").json()["total"] == 0
    assert_error(get(client, "/skus", updatedSince="soon"), 400, "bad_request", "updatedSince")


def test_sku_rows_and_style_detail(client: TestClient) -> None:
    row = get(client, "/skus", style="10004", pageSize=1).json()["data"][0]
    assert set(row) == SKU_FIELDS
    assert (row["sku"], row["color"], row["size"], row["sizeBucket"]) == ("10004-BLU-XS", "BLU", "XS", 1)
    assert len(row["upc"]) == 12 and row["upc"].isdigit()
    detail = get(client, "/styles/10004").json()
    assert detail["sizes"] == ["XS", "S", "M", "L"] and detail["sizeScale"] == "XS-S-M-L"
    assert [c["color"] for c in detail["colors"]] == ["BLU", "CRL"]
    assert len(detail["skus"]) == 8 and detail["skus"][0] == row
    styles = get(client, "/styles").json()
    assert styles["total"] == 8 and "skus" not in styles["data"][0]


def test_warehouses(client: TestClient) -> None:
    body = get(client, "/warehouses").json()
    assert [w["warehouse"] for w in body["data"]] == ["CA02", "NJ01"] and body["total"] == 2


def test_gateway_limit_answers_429_with_retry_after(client: TestClient, settings: BlueCherrySettings,
                                                    erp_clock: Any) -> None:
    settings.rate_limit_per_minute = 2
    assert get(client, "/warehouses").status_code == 200
    erp_clock.advance(20)
    assert get(client, "/warehouses").status_code == 200
    refused = get(client, "/warehouses")
    assert_error(refused, 429, "too_many_requests", "Try again in 40 seconds")
    assert refused.headers["Retry-After"] == "40"
    erp_clock.advance(40)
    assert get(client, "/warehouses").status_code == 200


def test_demo_data_has_the_planted_problems(state: BlueCherryState, erp_clock: Any) -> None:
    rows = {row["sku"]: row for row in state.skus()}
    assert len(rows) == 59 and len(state.styles) == 8 and sorted(state.warehouses) == ["CA02", "NJ01"]
    assert rows[EMPTY_DESCRIPTION_SKU]["description"] == ""
    first, second = SHARED_UPC_SKUS
    assert rows[first]["upc"] == rows[second]["upc"]
    assert len({row["upc"] for row in rows.values()}) == 58
    inactive = {sku for sku, row in rows.items() if row["status"] == "INACTIVE"}
    assert inactive and all(sku.startswith(INACTIVE_STYLE + "-") for sku in inactive)
    assert state.styles[INACTIVE_STYLE]["status"] == "INACTIVE"
    stamps = {row["updatedAt"] for row in rows.values()}
    assert len(stamps) == 1 and (erp_clock() - stamps.pop()).total_seconds() == 3 * 3600


def test_admin_routes(client: TestClient, state: BlueCherryState) -> None:
    added = client.post("/_sim/styles", json={"style": "20001", "styleName": "Reef Tank",
                                              "colors": [{"color": "AQU", "colorName": "Aqua"}],
                                              "sizes": ["S", "M"], "price": 30})
    assert added.status_code == 200 and added.json()["style"] == "20001"
    assert client.post("/_sim/skus/20001-AQU-M", json={"upc": "000000000000"}).json()["upc"] == "000000000000"
    assert_error(client.post("/_sim/skus/NOPE", json={"upc": "1"}), 404, "not_found")
    assert_error(client.post("/_sim/styles", json={"style": "20002"}), 400, "bad_request", "colour")
    assert client.get("/_sim/state").json()["skus"] == 61
    assert DEMO_SUBSCRIPTION_KEY not in client.get("/_sim/state").text
    assert client.post("/_sim/settings", json={"rate_limit_per_minute": 5}).json()["rate_limit_per_minute"] == 5
    assert client.post("/_sim/reset?seed=true").json()["skus"] == 59


def test_over_a_real_server(bluecherry_sim: Any) -> None:
    with requests.Session() as session:
        ok = session.get(bluecherry_sim.url + "/skus", params={"pageSize": 5}, headers=HEADERS, timeout=5)
        assert ok.status_code == 200 and len(ok.json()["data"]) == 5 and ok.json()["total"] == 59
        refused = session.get(bluecherry_sim.url + "/skus", timeout=5)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
