"""Contract of the Cin7 Core simulator's fidelity additions, over HTTP: the documented Product fields and
its ``Include…`` flags, ``RestockStatus`` on saleList rows, ``GET /customer``, ``GET /ref/carrier``, and the
``Retry-After`` setting on both rate-limit statuses."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from erp_wms_simulators.cin7core import Cin7CoreSettings, Cin7CoreState, create_app
from erp_wms_simulators.cin7core.demo import CARRIERS, CUSTOMERS, DEMO_ACCOUNT_ID, DEMO_APPLICATION_KEY, seed_demo
from erp_wms_simulators.cin7core.products import FIELDS, INCLUDES

with warnings.catch_warnings():  # starlette warns that its test client's httpx backend will change
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

HEADERS = {"api-auth-accountid": DEMO_ACCOUNT_ID, "api-auth-applicationkey": DEMO_APPLICATION_KEY}
BASE = "/ExternalApi/v2"
BOOT = "NWO-BOOT-10"
# a sample of the documented Product fields the simulator used not to serve
DOCUMENTED = {"CartonLength", "CartonQuantity", "CartonInnerQuantity", "MinimumBeforeReorder", "ReorderQuantity",
              "PriceTier10", "PriceTiers", "AverageCost", "InternalNote", "AttributeSet", "DiscountRule",
              "StockLocator", "COGSAccount", "RevenueAccount", "InventoryAccount", "PurchaseTaxRule", "SaleTaxRule",
              "Sellable", "PickZones", "BillOfMaterial", "AutoAssembly", "QuantityToProduce", "BOMType", "HSCode",
              "CountryOfOrigin", "CountryOfOriginCode"}


@pytest.fixture
def settings() -> Cin7CoreSettings:
    return Cin7CoreSettings()


@pytest.fixture
def state(erp_clock: Any) -> Cin7CoreState:
    state = Cin7CoreState(clock=erp_clock)
    seed_demo(state)
    return state


@pytest.fixture
def client(state: Cin7CoreState, settings: Cin7CoreSettings) -> Iterator[TestClient]:
    with TestClient(create_app(state, settings)) as test_client:
        yield test_client


def get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(BASE + path, params=params, headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.json()


def one_product(client: TestClient, **flags: Any) -> dict[str, Any]:
    rows = get(client, "/product", Sku=BOOT, **flags)["Products"]
    assert len(rows) == 1
    product: dict[str, Any] = rows[0]
    return product


# ---- products -------------------------------------------------------------------------------
def test_products_carry_the_documented_fields_with_sensible_values(client: TestClient) -> None:
    product = one_product(client)
    assert len(FIELDS) >= 75 and set(product) == set(FIELDS)
    assert DOCUMENTED <= set(product)
    assert product["PriceTiers"]["Tier 1"] == product["PriceTier1"] == 149.0
    assert 0 < product["AverageCost"] < product["PriceTier1"]
    assert product["CountryOfOrigin"] == "Portugal" and product["CountryOfOriginCode"] == "PT"
    assert product["Sellable"] is True and product["BillOfMaterial"] is False
    assert product["CartonQuantity"] > 0 and product["SaleTaxRule"] == "Tax on Sales"


def test_sub_collections_appear_only_when_their_include_flag_asks(client: TestClient) -> None:
    every_array = {name for names in INCLUDES.values() for name in names}
    assert not every_array & set(one_product(client)), "arrays are absent unless asked for"
    suppliers = one_product(client, IncludeSuppliers="true")
    assert suppliers["Suppliers"][0]["SupplierName"] and "ReorderLevels" not in suppliers
    levels = one_product(client, IncludeReorderLevels="true")["ReorderLevels"]
    assert levels[0]["LocationName"] == "Main Warehouse" and levels[0]["ReorderQuantity"] > 0
    bom = one_product(client, IncludeBOM="true")
    assert bom["BillOfMaterialsProducts"] == [] and bom["BillOfMaterialsServices"] == []
    assert one_product(client, IncludeAttachments="true")["Attachments"] == []
    assert one_product(client, IncludeCustomPrices="true")["CustomPrices"] == []
    movements = one_product(client, IncludeMovements="true")["Movements"]
    assert movements and movements[0]["Type"] == "Stocktake"
    everything = one_product(client, **{flag: "true" for flag in INCLUDES})
    assert every_array <= set(everything)


def test_read_only_fields_cannot_be_written_and_collections_round_trip(client: TestClient) -> None:
    body = {"SKU": "NWO-MUG", "Name": "Trail Mug", "Category": "Camping", "Type": "Stock", "UOM": "Item",
            "AverageCost": 999.0, "CartonQuantity": 48, "Sellable": False,
            "CustomPrices": [{"CustomerID": "c-1", "Customer": "Summit Sports", "Price": 9.5}]}
    created = client.post(f"{BASE}/product", json=body, headers=HEADERS)
    assert created.status_code == 200, created.text
    product = created.json()["Products"][0]
    assert product["AverageCost"] == 0.0 and product["CartonQuantity"] == 48 and product["Sellable"] is False
    prices = get(client, "/product", Sku="NWO-MUG", IncludeCustomPrices="true")["Products"][0]["CustomPrices"]
    assert prices == body["CustomPrices"]
    refused = client.post(f"{BASE}/product", json={**body, "SKU": "NWO-MUG-2", "Sellable": "yes"}, headers=HEADERS)
    assert refused.status_code == 400 and "Sellable" in refused.text


# ---- saleList RestockStatus -----------------------------------------------------------------
def test_sale_list_rows_carry_restock_status(client: TestClient, state: Cin7CoreState) -> None:
    plain = state.create_sale("Summit Sports", "Main Warehouse", [{"SKU": BOOT, "Quantity": 1}])
    returned = state.create_sale("Summit Sports", "Main Warehouse", [{"SKU": BOOT, "Quantity": 2}])
    state.ship(returned["ID"])
    state.invoice_sale(returned["ID"])
    state.credit_sale(returned["ID"], [{"SKU": BOOT, "Quantity": 1}])
    rows = {row["SaleID"]: row for row in get(client, "/saleList")["SaleList"]}
    assert rows[plain["ID"]]["RestockStatus"] == "NOT AVAILABLE"
    assert rows[returned["ID"]]["RestockStatus"] == "RESTOCKED"


# ---- customers ------------------------------------------------------------------------------
def test_customer_list_pages_and_filters(client: TestClient, state: Cin7CoreState, erp_clock: Any) -> None:
    listed = get(client, "/customer")
    assert listed["Total"] == len(CUSTOMERS) and [c["Name"] for c in listed["CustomerList"]] == sorted(
        name for name, _, _ in CUSTOMERS)
    first = listed["CustomerList"][0]
    assert first["Status"] == "Active" and first["Contacts"][0]["Email"] and "ProductPrices" not in first
    assert get(client, "/customer", Limit=2, Page=2)["CustomerList"] == listed["CustomerList"][2:]
    assert [c["Name"] for c in get(client, "/customer", Name="summit")["CustomerList"]] == ["Summit Sports"]
    assert get(client, "/customer", ID=first["ID"].upper())["CustomerList"][0]["Name"] == first["Name"]
    assert "ProductPrices" in get(client, "/customer", IncludeProductPrices="true")["CustomerList"][0]
    erp_clock.advance(3600)
    newcomer = state.add_customer("Alpine Outfitters", Status="Deprecated")
    since = get(client, "/customer", ModifiedSince=newcomer["LastModifiedOn"].isoformat(), IncludeDeprecated="true")
    assert [c["Name"] for c in since["CustomerList"]] == ["Alpine Outfitters"]
    assert "Alpine Outfitters" not in {c["Name"] for c in get(client, "/customer")["CustomerList"]}
    bad = client.get(f"{BASE}/customer", params={"ModifiedSince": "last week"}, headers=HEADERS)
    assert bad.status_code == 400 and "ModifiedSince" in bad.text


# ---- carriers -------------------------------------------------------------------------------
def test_carrier_list_serves_the_descriptions_sales_use(client: TestClient) -> None:
    listed = get(client, "/ref/carrier")
    assert listed["Total"] == len(CARRIERS)
    assert {c["Description"] for c in listed["CarrierList"]} == set(CARRIERS)
    assert all(set(c) == {"CarrierID", "Description"} for c in listed["CarrierList"])
    royal = get(client, "/ref/Carrier", Description="royal")["CarrierList"]
    assert [c["Description"] for c in royal] == ["Royal Mail"]
    assert get(client, "/ref/carrier", CarrierID=royal[0]["CarrierID"])["CarrierList"] == royal
    assert get(client, "/ref/carrier", Limit=1, Page=2)["CarrierList"] == listed["CarrierList"][1:2]


# ---- Retry-After on either rate-limit status -------------------------------------------------
@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("retry_after", [False, True])
def test_retry_after_is_a_setting_for_both_statuses(client: TestClient, settings: Cin7CoreSettings,
                                                    status: int, retry_after: bool) -> None:
    settings.update({"rate_limit_per_minute": 1, "rate_limit_status": status,
                     "rate_limit_retry_after": retry_after, "rate_limit_window_seconds": 6.0})
    assert client.get(f"{BASE}/me", headers=HEADERS).status_code == 200
    refused = client.get(f"{BASE}/me", headers=HEADERS)
    assert refused.status_code == status
    assert ("Retry-After" in refused.headers) is retry_after
    if retry_after:
        assert 1 <= int(refused.headers["Retry-After"]) <= 6, "the scaled window bounds the wait"
