"""Hostile Peoplevox answers are errors, not data: CSV pages without their key column, ragged or keyless rows,
keys listed twice, repeated pages, totals smaller than the page, and SaveData statuses about records that were
never sent. Each error names the operation, the template, the page and what is wrong, without credentials."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

from erp_wms_simulators.peoplevox import operations
from erp_wms_simulators.peoplevox.soap import IntegrationResult
from erp_wms_sync.connectors.peoplevox import PeoplevoxClient
from erp_wms_sync.connectors.transport import RetryPolicy
from erp_wms_sync.errors import ApiResponseInvalid
from tests.contract.conftest_peoplevox import PVX_CLIENT, PVX_PASSWORD, PVX_PASSWORD_B64, PVX_USER, PeoplevoxSim

FAST_RETRY = RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.002)


@pytest.fixture
def make_client(peoplevox_sim: PeoplevoxSim) -> Callable[..., PeoplevoxClient]:
    def build(page_size: int = 1000) -> PeoplevoxClient:
        return PeoplevoxClient(peoplevox_sim.base_url, PVX_CLIENT, PVX_USER, PVX_PASSWORD, retry=FAST_RETRY,
                               page_size=page_size)
    return build


def serve_csv(monkeypatch: pytest.MonkeyPatch, total: int, pages: Callable[[int], list[str]]) -> None:
    """Answer GetData with ``pages(page_no)`` (CSV lines) and the announced ``total``."""
    def handler(ctx: operations.CallContext, body: etree._Element) -> IntegrationResult:
        page = int(operations.text(operations.child(body, "getRequest"), "PageNo") or 1)
        return IntegrationResult(total_count=total, detail="\r\n".join(pages(page)))
    monkeypatch.setitem(operations.HANDLERS, "GetData", handler)


@pytest.mark.parametrize(("lines", "message"), [
    (["Name,Barcode", "Tent,111"], "GetData 'Item types' page 1 is malformed: the header has no key column "
                                   "'ItemCode' (columns: Name, Barcode)"),
    (["ItemCode,Name", "TENT-1", "MUG-1,Mug"], "page 1 is malformed: row 1 has 1 values but the header has 2"),
    (["ItemCode,Name", "TENT-1,Tent,surplus"], "page 1 is malformed: row 1 has 3 values but the header has 2"),
    (["ItemCode,Name", " ,Tent"], "page 1 is malformed: row 1 has an empty ItemCode"),
    (["ItemCode,Name,ItemCode", "A,Tent,B"], "page 1 is malformed: the header lists column 'ItemCode' more than once"),
    (["ItemCode,Name", "TENT-1,Tent", "TENT-1,Tent again"], "GetData 'Item types': page 1 lists ItemCode 'TENT-1' "
                                                            "more than once"),
], ids=["no-key-column", "short-row", "long-row", "blank-key", "key-column-twice", "key-twice"])
def test_a_malformed_item_types_page_is_refused(make_client: Callable[..., PeoplevoxClient],
                                                monkeypatch: pytest.MonkeyPatch, lines: list[str],
                                                message: str) -> None:
    serve_csv(monkeypatch, len(lines) - 1, lambda page: lines)
    with pytest.raises(ApiResponseInvalid, match="^peoplevox: ") as caught:
        list(make_client().iter_item_types())
    assert message in str(caught.value)


def test_order_lines_may_repeat_the_order_number_but_must_carry_it(make_client: Callable[..., PeoplevoxClient],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["SalesOrderNumber,ItemCode,QuantityOrdered", "SO-1,TENT-1,1", "SO-1,MUG-1,2"]
    serve_csv(monkeypatch, 2, lambda page: lines)
    assert [row["ItemCode"] for row in make_client().iter_sales_order_items()] == ["TENT-1", "MUG-1"]
    serve_csv(monkeypatch, 2, lambda page: ["ItemCode,QuantityOrdered", "TENT-1,1", "MUG-1,2"])
    with pytest.raises(ApiResponseInvalid, match="no key column 'SalesOrderNumber'"):
        list(make_client().iter_sales_order_items())


def test_a_repeated_page_is_refused(make_client: Callable[..., PeoplevoxClient], peoplevox_sim: PeoplevoxSim,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    serve_csv(monkeypatch, 10, lambda page: ["ItemCode,Name", "A,a", "B,b"])
    with pytest.raises(ApiResponseInvalid, match="GetData 'Item types': page 2 repeats page 1"):
        list(make_client(page_size=2).iter_item_types())
    assert peoplevox_sim.calls("GetData") == 2


def test_a_short_page_before_the_total_is_refused(make_client: Callable[..., PeoplevoxClient],
                                                  peoplevox_sim: PeoplevoxSim,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pages = {1: ["ItemCode,Name", "A,a", "B,b"], 2: ["ItemCode,Name", "C,c"], 3: ["ItemCode,Name", "D,d"]}
    serve_csv(monkeypatch, 5, lambda page: pages.get(page, ["ItemCode,Name"]))
    with pytest.raises(ApiResponseInvalid, match="page 2 has 1 rows of the 2 asked for, yet TotalCount says 5"):
        list(make_client(page_size=2).iter_item_types())
    assert peoplevox_sim.calls("GetData") == 3  # page 1, page 2 twice


def test_a_page_with_more_rows_than_its_total_is_refused(make_client: Callable[..., PeoplevoxClient],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    serve_csv(monkeypatch, 1, lambda page: ["ItemCode,Name", "A,a", "B,b"])
    with pytest.raises(ApiResponseInvalid, match="page 1 has 2 rows but TotalCount says 1"):
        list(make_client().iter_item_types())


def test_page_errors_never_show_credentials(make_client: Callable[..., PeoplevoxClient],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    serve_csv(monkeypatch, 2, lambda page: ["ItemCode,Name", f"{PVX_PASSWORD_B64},a", f"{PVX_PASSWORD_B64},b"])
    with pytest.raises(ApiResponseInvalid, match="more than once") as caught:
        list(make_client().iter_item_types())
    assert PVX_PASSWORD not in str(caught.value) and PVX_PASSWORD_B64 not in str(caught.value)


def test_savedata_statuses_for_records_not_sent_are_refused(make_client: Callable[..., PeoplevoxClient],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def confused(ctx: operations.CallContext, body: etree._Element) -> IntegrationResult:
        statuses = [("TENT-1", "Success"), ("SOMEONE-ELSE", "Success")]
        return IntegrationResult(total_count=2, detail="", statuses=statuses)

    monkeypatch.setitem(operations.HANDLERS, "SaveData", confused)
    rows = [{"ItemCode": "TENT-1", "Name": "Tent"}, {"ItemCode": "MUG-1", "Name": "Mug"}]
    with pytest.raises(ApiResponseInvalid, match=r"SaveData 'Item types': the answer reports statuses for 1 "
                                                 r"record\(s\) that were not in this batch of 2 \('SOMEONE-ELSE'\)"):
        make_client().save_item_types(rows)
