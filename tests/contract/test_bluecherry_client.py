"""BlueCherryClient against the BlueCherry simulator on a real local server: paging, updated_since,
typed SKUs / styles / warehouses, the gateway's 429 + Retry-After, auth errors, malformed answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from erp_wms_simulators.bluecherry.demo import DEMO_SUBSCRIPTION_KEY, EMPTY_DESCRIPTION_SKU, INACTIVE_STYLE
from erp_wms_simulators.server import ServerThread
from erp_wms_sync.connectors.bluecherry import BlueCherryClient, BlueCherrySku
from erp_wms_sync.connectors.transport import RetryPolicy
from erp_wms_sync.errors import ApiAuthError, ApiResponseInvalid

FAST = 6000


def make_client(url: str, key: str = DEMO_SUBSCRIPTION_KEY, **options: Any) -> BlueCherryClient:
    return BlueCherryClient(url, key, rate_per_minute=options.pop("rate_per_minute", FAST), **options)


def test_pages_through_every_sku(bluecherry_sim: Any) -> None:
    skus = list(make_client(bluecherry_sim.url, page_size=20).iter_skus())
    assert len(skus) == 59 and len({s.sku for s in skus}) == 59
    assert bluecherry_sim.state.calls == 3


def test_skus_are_typed_records(bluecherry_sim: Any) -> None:
    skus = {s.sku: s for s in make_client(bluecherry_sim.url).iter_skus()}
    polo = skus["10005-NAV-M"]
    assert isinstance(polo, BlueCherrySku)
    assert (polo.style, polo.color, polo.color_name, polo.size, polo.division, polo.season, polo.status) == \
        ("10005", "NAV", "Navy", "M", "01", "SP25", "ACTIVE")
    assert (polo.price, polo.weight, polo.description) == (48.0, 0.5, "Pier Polo Navy M")
    assert polo.updated_at == datetime(2025, 3, 1, 9, 0, tzinfo=UTC) and polo.raw["sizeBucket"] == 2
    assert skus[EMPTY_DESCRIPTION_SKU].description == ""
    assert not skus[f"{INACTIVE_STYLE}-BLU-S"].active


def test_updated_since_returns_only_later_changes(bluecherry_sim: Any) -> None:
    bluecherry_sim.clock.advance(60)
    bluecherry_sim.state.update_sku("10002-NAV-L", upc="084599999999")
    changed = list(make_client(bluecherry_sim.url).iter_skus(updated_since=datetime(2025, 3, 1, 12, 0, 30,
                                                                                     tzinfo=UTC)))
    assert [(s.sku, s.upc) for s in changed] == [("10002-NAV-L", "084599999999")]
    with pytest.raises(ValueError, match="timezone-aware"):
        next(make_client(bluecherry_sim.url).iter_skus(updated_since=datetime(2025, 3, 1)))


def test_styles_warehouses_and_connection_check(bluecherry_sim: Any) -> None:
    client = make_client(bluecherry_sim.url, page_size=3)
    styles = {s.style: s for s in client.iter_styles()}
    assert len(styles) == 8 and styles["10003"].sizes == ("30", "32", "34", "36")
    assert styles["10003"].colors == ("KHK", "OLV") and styles[INACTIVE_STYLE].status == "INACTIVE"
    assert [w.code for w in client.iter_warehouses()] == ["CA02", "NJ01"]
    assert client.test_connection() == (True, "Connected to BlueCherry (2 warehouses visible)")


def test_gateway_429_is_waited_out_using_retry_after(bluecherry_sim: Any) -> None:
    bluecherry_sim.settings.rate_limit_per_minute = 2
    client = make_client(bluecherry_sim.url, page_size=10, sleep=bluecherry_sim.clock.sleep)
    assert len(list(client.iter_skus())) == 59
    # pages 1-2 fit the window; each later pair waits exactly what Retry-After said (60 s)
    assert bluecherry_sim.clock.sleeps == [60.0, 60.0]
    assert bluecherry_sim.state.calls == 6 and bluecherry_sim.state.throttled == 2


def test_refused_key_raises_auth_error_without_the_key(bluecherry_sim: Any) -> None:
    wrong = "f" * 32
    client = make_client(bluecherry_sim.url, key=wrong, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(ApiAuthError) as caught:
        list(client.iter_skus())
    assert caught.value.status == 401 and wrong not in str(caught.value)
    ok, message = client.test_connection()
    assert not ok and "401" in message and wrong not in message


def misbehaving_app() -> FastAPI:
    app = FastAPI()
    row = {"sku": "A-B-C", "style": "A", "updatedAt": "2025-01-01T00:00:00Z"}

    @app.get("/{case}/skus")
    def skus(case: str, page: int = 1, pageSize: int = 100) -> Any:
        if case == "text":
            return PlainTextResponse("gateway timeout page")
        if case == "nodata":
            return {"items": [row], "total": 1}
        if case == "nostyle":
            return {"data": [{"sku": "A-B-C"}], "total": 1}
        if case == "badprice":
            return {"data": [{**row, "price": "ten"}], "total": 1}
        if case == "short":  # total says 12 but page 2 holds 2 rows: SKUs would be lost
            return {"data": [{**row, "sku": f"{page}-{i}"} for i in range(pageSize if page == 1 else 2)],
                    "total": 12}
        if case == "twice":
            return {"data": [row, row], "total": 2}
        return {"data": [{**row, "sku": f"{page}-{i}"} for i in range(pageSize)], "total": 10**9}

    @app.get("/{case}/orders/{number}")
    def order(case: str, number: str) -> Any:
        other = {"orderNumber": "SO-2", "status": "OPEN", "lines": []}
        return {} if case == "emptyorder" else other

    return app


@pytest.fixture(scope="module")
def broken_url() -> Iterator[str]:
    with ServerThread(misbehaving_app(), name="broken-bluecherry") as server:
        yield server.url


@pytest.mark.parametrize(("case", "fragment"), [
    ("text", "did not answer JSON"),
    ("nodata", "no 'data' list"),
    ("nostyle", "'style' is missing"),
    ("badprice", "'price' is not a number"),
    ("short", "GET skus: page 2 has 2 rows of the 5 asked for, yet total says 12 and only 7 were read"),
    ("twice", "GET skus: page 1 lists sku 'A-B-C' more than once"),
    ("endless", "after 4 pages"),
])
def test_malformed_answers_raise_response_invalid(broken_url: str, case: str, fragment: str) -> None:
    client = make_client(f"{broken_url}/{case}", page_size=5, max_pages=4)
    with pytest.raises(ApiResponseInvalid, match=fragment) as caught:
        list(client.iter_skus())
    assert DEMO_SUBSCRIPTION_KEY not in str(caught.value)


@pytest.mark.parametrize(("case", "fragment"), [
    ("emptyorder", "GET orders/SO-1: the answer has no 'orderNumber'"),
    ("otherorder", "GET orders/SO-1: the answer is orderNumber 'SO-2', not the 'SO-1' asked for"),
], ids=["empty-object", "another-order"])
def test_an_order_answer_that_is_not_the_order_asked_for_is_refused(broken_url: str, case: str,
                                                                    fragment: str) -> None:
    with pytest.raises(ApiResponseInvalid, match="^bluecherry: ") as caught:
        make_client(f"{broken_url}/{case}").get_order("SO-1")
    assert fragment in str(caught.value)
