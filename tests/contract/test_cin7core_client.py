"""Cin7CoreClient against the Cin7 Core simulator on a real local server: paging, filters, typed
records, rate-limit recovery, auth errors without secrets, and refusal of malformed answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from erp_wms_simulators.cin7core.demo import (
    DEMO_ACCOUNT_ID,
    DEMO_APPLICATION_KEY,
    DEPRECATED_SKU,
    LONG_SKU,
    MAIN_WAREHOUSE,
)
from erp_wms_simulators.server import ServerThread
from erp_wms_sync.connectors.cin7core import Cin7CoreClient, Cin7Location, Cin7Product
from erp_wms_sync.connectors.transport import RetryPolicy
from erp_wms_sync.errors import ApiAuthError, ApiResponseInvalid, ApiUnavailable

FAST = 6000  # calls per minute: keeps the client's own pacing out of these tests


def make_client(url: str, *, key: str = DEMO_APPLICATION_KEY, account: str = DEMO_ACCOUNT_ID, **options: Any
                ) -> Cin7CoreClient:
    return Cin7CoreClient(url, account, key, rate_per_minute=options.pop("rate_per_minute", FAST), **options)


def test_pages_through_every_product_without_an_extra_call(cin7_sim: Any) -> None:
    client = make_client(cin7_sim.url, page_limit=8)
    products = list(client.iter_products())
    assert len(products) == 40 and len({p.sku for p in products}) == 40
    assert cin7_sim.state.calls == 5  # 40 rows / 8 per page: Total reached, no empty sixth page
    cin7_sim.state.calls = 0
    assert len(list(make_client(cin7_sim.url, page_limit=7).iter_products())) == 40
    assert cin7_sim.state.calls == 6  # the short last page ends it


def test_products_are_typed_records(cin7_sim: Any) -> None:
    products = {p.sku: p for p in make_client(cin7_sim.url).iter_products()}
    tent = products["NWO-TENT-2P"]
    assert isinstance(tent, Cin7Product)
    assert (tent.name, tent.category, tent.uom, tent.status, tent.price, tent.weight) == \
        ("Basecamp Tent 2P", "Camping", "Item", "Active", 249.0, 2.4)
    assert tent.last_modified == datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    assert tent.raw["PriceTier1"] == 249.0 and tent.id == cin7_sim.state.products_by_sku()["NWO-TENT-2P"]["ID"]
    assert products[DEPRECATED_SKU].deprecated and len(products[LONG_SKU].sku) == 45


def test_deprecated_products_can_be_left_out(cin7_sim: Any) -> None:
    skus = {p.sku for p in make_client(cin7_sim.url).iter_products(include_deprecated=False)}
    assert len(skus) == 39 and DEPRECATED_SKU not in skus


def test_modified_since_returns_only_later_changes(cin7_sim: Any) -> None:
    cin7_sim.clock.advance(300)
    cin7_sim.state.update_product("NWO-SOCK-M", PriceTier1=19.0)
    cin7_sim.state.update_product(DEPRECATED_SKU, Description="old cut")
    since = datetime(2025, 3, 1, 13, 2, tzinfo=UTC) - timedelta(hours=1)  # 12:02 UTC, given as 13:02+01:00
    changed = list(make_client(cin7_sim.url).iter_products(modified_since=since.astimezone()))
    assert sorted(p.sku for p in changed) == sorted(["NWO-SOCK-M", DEPRECATED_SKU])
    assert all(p.last_modified == datetime(2025, 3, 1, 12, 5, tzinfo=UTC) for p in changed)
    with pytest.raises(ValueError, match="timezone-aware"):
        next(make_client(cin7_sim.url).iter_products(modified_since=datetime(2025, 3, 1)))


def test_locations_and_connection_check(cin7_sim: Any) -> None:
    client = make_client(cin7_sim.url)
    locations = list(client.iter_locations())
    assert all(isinstance(loc, Cin7Location) for loc in locations)
    main = next(loc for loc in locations if loc.name == MAIN_WAREHOUSE)
    assert main.is_default and not main.is_deprecated and "A-01-01" in main.bins
    assert client.me()["Company"] == "Northwind Outfitters"
    assert client.test_connection() == (True, "Connected to Cin7 Core as Northwind Outfitters")


def test_no_io_happens_when_the_client_is_built(cin7_sim: Any) -> None:
    make_client(cin7_sim.url)
    assert cin7_sim.state.calls == 0


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limit_answers_are_waited_out(cin7_sim: Any, status: int) -> None:
    cin7_sim.settings.update({"rate_limit_per_minute": 2, "rate_limit_status": status})
    retry = RetryPolicy(max_attempts=6, backoff_base=40.0, backoff_max=60.0)
    client = make_client(cin7_sim.url, page_limit=10, retry=retry, sleep=cin7_sim.clock.sleep)
    products = list(client.iter_products())
    assert len(products) == 40
    assert cin7_sim.state.throttled >= 1 and cin7_sim.clock.sleeps  # it was refused, waited, and went on
    assert all(20.0 <= s <= 60.0 for s in cin7_sim.clock.sleeps)
    assert cin7_sim.state.calls == 4


def test_retry_after_is_honoured_when_sent(cin7_sim: Any) -> None:
    cin7_sim.settings.update({"rate_limit_per_minute": 1, "rate_limit_retry_after": True})
    client = make_client(cin7_sim.url, page_limit=20, sleep=cin7_sim.clock.sleep)
    assert len(list(client.iter_products())) == 40
    assert cin7_sim.clock.sleeps == [60.0]


def test_persistent_rate_limit_ends_as_api_unavailable(cin7_sim: Any) -> None:
    cin7_sim.settings.rate_limit_per_minute = 1
    sleeps: list[float] = []
    client = make_client(cin7_sim.url, retry=RetryPolicy(max_attempts=3, backoff_base=0.001), sleep=sleeps.append)
    client.me()
    with pytest.raises(ApiUnavailable) as caught:
        client.me()
    # refusals do not use up max_attempts (3): the client gives up only after 10 minutes of refusal
    assert caught.value.status == 429 and "rate limit for 600s" in str(caught.value)
    assert sleeps == [60.0] * 10


def test_refused_credentials_raise_auth_error_without_secrets(cin7_sim: Any) -> None:
    wrong_key = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
    client = make_client(cin7_sim.url, key=wrong_key)
    with pytest.raises(ApiAuthError) as caught:
        list(client.iter_products())
    text = str(caught.value)
    assert caught.value.status == 403 and "cin7core" in text
    assert wrong_key not in text and DEMO_ACCOUNT_ID not in text
    ok, message = client.test_connection()
    assert not ok and "403" in message and wrong_key not in message


# ---- a server that breaks the contract -------------------------------------------------------
def misbehaving_app() -> FastAPI:
    app = FastAPI()
    row = {"ID": "x", "SKU": "A", "Name": "A", "LastModifiedOn": "2025-01-01T00:00:00"}

    @app.get("/{case}/product")
    def product(case: str, Page: int = 1, Limit: int = 100) -> Any:
        if case == "html":
            return PlainTextResponse("<html>maintenance</html>")
        if case == "nolist":
            return {"Total": 1, "Items": [row]}
        if case == "nototal":
            return {"Products": [row]}
        if case == "badrow":
            return {"Total": 1, "Products": [{"ID": "x", "Name": "no sku"}]}
        if case == "baddate":
            return {"Total": 1, "Products": [{**row, "LastModifiedOn": "last tuesday"}]}
        if case == "array":
            return JSONResponse([row])
        if case == "samepage":
            return {"Total": 10_000, "Products": [{**row, "ID": f"x{i}"} for i in range(Limit)]}
        if case == "twice":
            return {"Total": 10_000, "Products": [row] * Limit}
        if case == "short":  # Total says 5 but page 2 holds 1 row: an order would be lost
            return {"Total": 5, "Products": [{**row, "ID": f"{Page}-{i}"} for i in range(Limit if Page == 1 else 1)]}
        fresh = [{**row, "ID": f"{Page}-{i}", "SKU": f"S{Page}-{i}"} for i in range(Limit)]
        return {"Total": 10_000_000, "Products": fresh}  # "endless": always a full, new page

    @app.get("/{case}/sale")
    def sale(case: str, ID: str) -> Any:
        if case == "emptysale":
            return {}
        if case == "lowercase":
            return {"ID": ID.lower(), "Order": {"Lines": []}}
        return {"ID": "0c8f6a52-0000-4000-8000-000000000002", "Order": {"Lines": []}}  # another sale

    return app


@pytest.fixture(scope="module")
def broken_url() -> Iterator[str]:
    with ServerThread(misbehaving_app(), name="broken-cin7") as server:
        yield server.url


@pytest.mark.parametrize(("case", "fragment"), [
    ("html", "did not answer JSON"),
    ("nolist", "no 'Products' list"),
    ("nototal", "'Total' is missing"),
    ("badrow", "'SKU' is missing"),
    ("baddate", "not an ISO 8601"),
    ("array", "expected a JSON object"),
    ("samepage", "repeats page 1"),
    ("twice", "page 1 lists ID 'x' more than once"),
    ("short", "GET product: page 2 has 1 rows of the 2 asked for, yet Total says 5 and only 3 were read"),
    ("endless", "after 3 pages"),
])
def test_malformed_answers_raise_response_invalid(broken_url: str, case: str, fragment: str) -> None:
    client = make_client(f"{broken_url}/{case}", page_limit=2, max_pages=3)
    with pytest.raises(ApiResponseInvalid, match=fragment) as caught:
        list(client.iter_products())
    assert DEMO_APPLICATION_KEY not in str(caught.value)
    assert caught.value.system == "cin7core"


@pytest.mark.parametrize(("case", "fragment"), [
    ("emptysale", "GET sale 0c8f6a52-0000-4000-8000-000000000001: the answer has no 'ID'"),
    ("othersale", "the answer is ID '0c8f6a52-0000-4000-8000-000000000002', not the "
                  "'0c8f6a52-0000-4000-8000-000000000001' asked for"),
], ids=["empty-object", "another-sale"])
def test_a_sale_answer_that_is_not_the_sale_asked_for_is_refused(broken_url: str, case: str, fragment: str) -> None:
    """``GET sale`` answering ``{}`` once created a ledger row with an empty order id; now nothing is returned."""
    client = make_client(f"{broken_url}/{case}")
    with pytest.raises(ApiResponseInvalid, match="^cin7core: ") as caught:
        client.get_sale("0c8f6a52-0000-4000-8000-000000000001")
    assert fragment in str(caught.value)


def test_a_sale_id_in_another_case_is_the_same_sale(broken_url: str) -> None:
    sale = make_client(f"{broken_url}/lowercase").get_sale("0C8F6A52-0000-4000-8000-000000000001")
    assert sale is not None and sale["ID"] == "0c8f6a52-0000-4000-8000-000000000001"
