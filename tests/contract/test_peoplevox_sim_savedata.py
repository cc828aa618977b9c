"""Contract tests of the Peoplevox simulator's writes (SaveData), subscriptions, reports, admin API and demo."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from erp_wms_simulators.peoplevox import PeoplevoxState
from erp_wms_simulators.peoplevox.demo import (
    BLUEBIRD_CLIENT_ID,
    HANDMADE_ITEM_CODE,
    NORTHWIND_CLIENT_ID,
    NORTHWIND_PASSWORD,
    NORTHWIND_USERNAME,
    seed_demo,
)
from erp_wms_simulators.peoplevox.templates import ReportSpec
from tests.contract.conftest_peoplevox import PVX_CLIENT, PeoplevoxSim, Pvx, data_lines, statuses


def item_types(sim: PeoplevoxSim) -> dict[str, dict[str, str]]:
    return sim.state.records(PVX_CLIENT, "Item types")


# -- SaveData -------------------------------------------------------------------------------------
def test_save_data_inserts_then_updates_only_the_columns_sent(pvx: Pvx, peoplevox_sim: PeoplevoxSim) -> None:
    first = pvx.save("Item types", "ItemCode,Name,Barcode,RetailPrice\r\nTSHIRT-RED-M,Red T-shirt M,501,19.99")
    assert (first.ResponseId, first.TotalCount) == (0, 1)
    assert statuses(first) == [("TSHIRT-RED-M", "Success")]
    second = pvx.save("Item types", "ItemCode,RetailPrice\nTSHIRT-RED-M,17.50")
    assert (second.ResponseId, second.TotalCount) == (0, 1)
    record = item_types(peoplevox_sim)["TSHIRT-RED-M"]
    assert (record["Name"], record["Barcode"], record["RetailPrice"]) == ("Red T-shirt M", "501", "17.50")


def test_save_data_is_lenient_with_layout_and_honours_csv_quoting(pvx: Pvx, peoplevox_sim: PeoplevoxSim) -> None:
    csv_data = ('\r\n\nitemcode,name,Description\r\n'
                'MUG-1,"Mug, large","Says ""hello""\nsecond line"\r\n\r\n'
                "MUG-2,Small mug,\n")
    result = pvx.save("Item types", csv_data)
    assert (result.ResponseId, result.TotalCount) == (0, 2)
    saved = item_types(peoplevox_sim)
    assert saved["MUG-1"]["Name"] == "Mug, large"
    assert saved["MUG-1"]["Description"] == 'Says "hello"\nsecond line'
    exported = pvx.get("Item types", clause='ItemCode.Equals("MUG-1")').Detail
    assert '"Mug, large"' in exported and '"Says ""hello""\nsecond line"' in exported


def test_save_data_partial_failure_reports_each_record(pvx: Pvx, peoplevox_sim: PeoplevoxSim) -> None:
    peoplevox_sim.state.seed(PVX_CLIENT, "Item types", [{"ItemCode": "OLD-1", "Name": "Old", "Barcode": "777"}])
    long_code = "X" * 41
    csv_data = "\n".join([
        "ItemCode,Name,Barcode,Weight",
        "GOOD-1,Good one,100,1.5",
        "NONAME-1,,101,",
        "DUPE-1,Duplicate barcode,777,",
        f"{long_code},Too long,,",
        "BADWEIGHT-1,Heavy,,lots",
        "OLD-1,Old renamed,777,",  # keeping its own barcode is fine
        ",No key,,",
    ])
    result = pvx.save("Item types", csv_data)
    assert (result.ResponseId, result.TotalCount) == (0, 2)
    assert statuses(result) == [("GOOD-1", "Success"), ("NONAME-1", "Error"), ("DUPE-1", "Error"),
                                (long_code, "Error"), ("BADWEIGHT-1", "Error"), ("OLD-1", "Success"),
                                ("", "Error")]
    assert result.Detail.split("\n") == [
        "NONAME-1: Name is required",
        "DUPE-1: Barcode '777' is already used by item 'OLD-1'",
        f"{long_code}: ItemCode is longer than 40 characters (41)",
        "BADWEIGHT-1: Weight must be a number, got 'lots'",
        ": ItemCode is required",
    ]
    assert set(item_types(peoplevox_sim)) == {"OLD-1", "GOOD-1"}


def test_save_data_all_failed_is_response_minus_one(pvx: Pvx) -> None:
    result = pvx.save("Item types", "ItemCode,Name\nA,\nB,")
    assert (result.ResponseId, result.TotalCount) == (-1, 0)
    assert statuses(result) == [("A", "Error"), ("B", "Error")]


def test_item_code_limit_is_a_setting(pvx: Pvx, peoplevox_sim: PeoplevoxSim) -> None:
    peoplevox_sim.settings.item_code_max_length = 5
    result = pvx.save("Item types", "ItemCode,Name\nABCDE,ok\nABCDEF,too long")
    assert statuses(result) == [("ABCDE", "Success"), ("ABCDEF", "Error")]


@pytest.mark.parametrize(("csv_data", "action", "fragment"), [
    ("ItemCode,Colour\nA,red", 0, "Unknown column(s) for template 'Item types': Colour"),
    ("Name\nApple", 0, "must contain the key column(s) ItemCode"),
    ("ItemCode,Name,NAME\nA,x,y", 0, "Column 'Name' appears more than once"),
    ("", 0, "CsvData is empty"),
    ("ItemCode,Name\nA,Apple", 7, "Action 7 is not valid"),
], ids=["unknown-column", "no-key-column", "repeated-column", "empty", "bad-action"])
def test_save_data_request_level_errors(pvx: Pvx, csv_data: str, action: int, fragment: str) -> None:
    result = pvx.save("Item types", csv_data, action)
    assert result.ResponseId == -1
    assert fragment in result.Detail
    assert result.Statuses is None


def test_save_data_delete_action(pvx: Pvx, peoplevox_sim: PeoplevoxSim) -> None:
    peoplevox_sim.state.seed(PVX_CLIENT, "Sites", [{"Reference": "A", "Name": "a"}, {"Reference": "B", "Name": "b"}])
    result = pvx.save("Sites", "Reference\nA\nZ", action=2)
    assert statuses(result) == [("A", "Success"), ("Z", "Error")]
    assert result.Detail == "Z: Sites record 'Z' not found"
    assert list(peoplevox_sim.state.records(PVX_CLIENT, "Sites")) == ["B"]


def test_do_not_allocate_action_is_accepted(pvx: Pvx, peoplevox_sim: PeoplevoxSim) -> None:
    assert pvx.save("Sites", "Reference,Name\nMAIN,Main", action=1).ResponseId == 0
    assert peoplevox_sim.state.records(PVX_CLIENT, "Sites")["MAIN"]["Name"] == "Main"


# -- subscriptions --------------------------------------------------------------------------------
def test_subscribe_and_unsubscribe(pvx: Pvx, peoplevox_sim: PeoplevoxSim) -> None:
    first = pvx.call("SubscribeEvent", eventType="AvailabilityChanges", filter="",
                     callbackUrl="http://127.0.0.1:9/pvx?sku={ItemCode}&qty={Available}")
    second = pvx.call("SubscribePostEvent", eventType="TrackingNumberReceived", filter="",
                      postUrl="http://127.0.0.1:9/track", postParams="d={DespatchNumber}&t={TrackingNumber}")
    assert (first.Detail, second.Detail) == ("1000", "1001")
    live = peoplevox_sim.state.subscriptions(PVX_CLIENT)
    assert [(s.event_type, s.post_params) for s in live] == [
        ("AvailabilityChanges", None), ("TrackingNumberReceived", "d={DespatchNumber}&t={TrackingNumber}")]
    assert pvx.call("UnsubscribeEvent", subscriptionId=1000).Detail == "True"
    again = pvx.call("UnsubscribeEvent", subscriptionId=1000)
    assert (again.ResponseId, again.Detail) == (-1, "Subscription 1000 not found")
    bad = pvx.call("SubscribeEvent", eventType="Returns", filter="", callbackUrl="not-a-url")
    assert (bad.ResponseId, bad.Detail) == (-1, "callbackUrl must be an absolute http(s) URL")


# -- reports --------------------------------------------------------------------------------------
@pytest.fixture
def despatch_report(peoplevox_sim: PeoplevoxSim) -> Iterator[None]:
    rows = [
        {"Salesorder number": "SO-1", "Despatch date": "'02/05/2024 10:00'", "Carrier": "DPD"},
        {"Salesorder number": "SO-2", "Despatch date": "'30/04/2024 09:00'", "Carrier": "Royal Mail"},
        {"Salesorder number": "SO-3", "Despatch date": "'03/05/2024 16:45'", "Carrier": "DPD"},
    ]
    peoplevox_sim.state.register_report(
        ReportSpec("Despatch summary", ("Salesorder number", "Despatch date", "Carrier"), lambda tenant: rows))
    yield


@pytest.mark.usefixtures("despatch_report")
def test_report_columns_filter_and_order(pvx: Pvx) -> None:
    assert pvx.call("GetReportColumns", templateName="Despatch summary").Detail == (
        "Salesorder number,Despatch date,Carrier")
    result = pvx.call("GetReportData", getReportRequest={
        "TemplateName": "Despatch summary", "PageNo": 1, "ItemsPerPage": 10,
        "SearchClause": "([Despatch date] >= DateTime(2024,05,01,00,00,00))", "FilterClause": "",
        "OrderBy": "[Despatch date] DESC", "Columns": "[Salesorder number],[Carrier]"})
    assert result.TotalCount == 2
    assert data_lines(result.Detail) == ["Salesorder number,Carrier", "SO-3,DPD", "SO-1,DPD"]


@pytest.mark.usefixtures("despatch_report")
def test_report_unknown_column_or_report(pvx: Pvx) -> None:
    bad_column = pvx.call("GetReportData", getReportRequest={
        "TemplateName": "Despatch summary", "PageNo": 1, "ItemsPerPage": 10, "Columns": "Weight"})
    assert bad_column.Detail == "Column 'Weight' is not a column of report 'Despatch summary'"
    missing = pvx.call("GetReportColumns", templateName="Customs Data")
    assert (missing.ResponseId, missing.Detail) == (-1, "Template 'Customs Data' not found")


# -- admin API, counters, demo --------------------------------------------------------------------
def test_admin_api_seeds_and_reads_records(pvx: Pvx, peoplevox_sim: PeoplevoxSim) -> None:
    admin = f"{peoplevox_sim.base_url}/_sim"
    seeded = requests.post(f"{admin}/{PVX_CLIENT}/records/Item types",
                           json=[{"ItemCode": "ADM-1", "Name": "Seeded", "RetailPrice": 5}], timeout=10)
    assert seeded.json() == {"seeded": 1}
    records = requests.get(f"{admin}/{PVX_CLIENT}/records/Item types", timeout=10).json()
    assert records["ADM-1"]["RetailPrice"] == "5"
    refused = requests.post(f"{admin}/{PVX_CLIENT}/records/Item types", json=[{"ItemCode": "ADM-2"}], timeout=10)
    assert refused.status_code == 422 and "Name is required" in refused.json()["detail"]
    assert requests.get(f"{admin}/nobody/records/Sites", timeout=10).status_code == 404
    pvx.get("Item types")
    calls = requests.get(f"{admin}/calls", timeout=10).json()
    assert {"client_id": PVX_CLIENT, "operation": "GetData", "count": 1} in calls
    assert peoplevox_sim.calls("Authenticate") == 1


def test_demo_seed(peoplevox_sim: PeoplevoxSim) -> None:
    state = PeoplevoxState()
    seed_demo(state)
    seed_demo(state)  # idempotent
    assert set(state.records(NORTHWIND_CLIENT_ID, "Sites")) == {"MAIN", "RETURNS"}
    assert set(state.records(BLUEBIRD_CLIENT_ID, "Sites")) == {"NJ01", "CA02"}
    for client_id in (NORTHWIND_CLIENT_ID, BLUEBIRD_CLIENT_ID):
        items = state.records(client_id, "Item types")
        assert list(items) == [HANDMADE_ITEM_CODE]
        assert items[HANDMADE_ITEM_CODE]["Name"] == "Created by hand in Peoplevox"
    assert state.open_session(NORTHWIND_CLIENT_ID, NORTHWIND_USERNAME, NORTHWIND_PASSWORD) is not None
    assert state.open_session(BLUEBIRD_CLIENT_ID, NORTHWIND_USERNAME, NORTHWIND_PASSWORD) is None
