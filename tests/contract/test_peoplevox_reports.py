"""GetReportData / GetReportColumns over the warehouse reports: columns, selection, ordering, bracketed search
clauses with DateTime(...) and quoted dates, the quoted report dates, malformed-row faults and the client's
get_report."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

from erp_wms_simulators.faults import FaultRule
from erp_wms_simulators.peoplevox.report_specs import (
    DESPATCH_SUMMARY_COLUMNS,
    GOODS_IN_SUMMARY_COLUMNS,
    ITEM_INVENTORY_SUMMARY_COLUMNS,
    ITEM_MOVEMENT_HISTORY_COLUMNS,
    RETURN_SUMMARY_COLUMNS,
)
from erp_wms_sync.connectors.peoplevox import PeoplevoxClient, report_datetime
from erp_wms_sync.connectors.transport import RetryPolicy
from erp_wms_sync.errors import ApiRejected, ApiResponseInvalid
from tests.contract.conftest_peoplevox import (
    PVX_CLIENT,
    PVX_PASSWORD,
    PVX_USER,
    Pvx,
    envelope,
    raw_post,
    result_of,
)
from tests.contract.fixtures_peoplevox_warehouse import PvxWorld


@pytest.fixture
def busy(pvx_world: PvxWorld) -> PvxWorld:
    """Goods in on 1 May, SO-1 despatched on 2 May, SO-2 on 3 May, part of SO-1 returned on 4 May."""
    world, wh = pvx_world, pvx_world.warehouse
    wh.goods_in("TSHIRT-RED-M", 5, "MAIN", "PO-1", supplier="Acme Textiles", delivery_note="DN-1")
    wh.goods_in("MUG-BLUE", 2, "MAIN", "PO-2")
    world.order("SO-1", {"TSHIRT-RED-M": 2, "MUG-BLUE": 1}, ShippingAddressCountry="GB",
                RequestedDeliveryDate="2024-05-03 12:00:00")
    world.order("SO-2", {"TSHIRT-RED-M": 1})
    for number, day in (("SO-1", 2), ("SO-2", 3)):
        world.clock.now = datetime(2024, 5, day, 10, 30, 0)
        for step in ("allocate", "start_picking", "pick"):
            getattr(wh, step)(number)
        wh.despatch(number, carrier="DPD", tracking=f"TRK-{number}")
    world.clock.now = datetime(2024, 5, 4, 16, 0, 0)
    wh.receive_return("SO-1", {"TSHIRT-RED-M": 1}, "damaged", "RC-1", reason="Torn", comments="seam")
    return world


def report(pvx: Pvx, name: str, *, columns: str = "", clause: str = "", order_by: str = "", page: int = 1,
           per_page: int = 100) -> tuple[int, int, list[dict[str, str]], str]:
    result = pvx.call("GetReportData", getReportRequest={
        "TemplateName": name, "PageNo": page, "ItemsPerPage": per_page, "SearchClause": clause,
        "FilterClause": "", "OrderBy": order_by, "Columns": columns})
    rows = list(csv.DictReader(io.StringIO(result.Detail or ""))) if result.ResponseId == 0 else []
    return result.ResponseId, result.TotalCount, rows, result.Detail or ""


@pytest.mark.parametrize(("name", "columns"), [
    ("Despatch summary", DESPATCH_SUMMARY_COLUMNS),
    ("Return summary", RETURN_SUMMARY_COLUMNS),
    ("Goods in summary", GOODS_IN_SUMMARY_COLUMNS),
    ("Item inventory summary", ITEM_INVENTORY_SUMMARY_COLUMNS),
    ("Item movement history", ITEM_MOVEMENT_HISTORY_COLUMNS),
])
def test_report_columns(pvx: Pvx, pvx_world: PvxWorld, name: str, columns: tuple[str, ...]) -> None:
    assert pvx.call("GetReportColumns", templateName=name).Detail == ",".join(columns)


def test_documented_column_names() -> None:
    assert DESPATCH_SUMMARY_COLUMNS[:7] == ("Salesorder number", "Requested delivery date", "Despatch number",
                                            "Carrier", "Service", "Despatch date", "Tracking number")
    assert ITEM_INVENTORY_SUMMARY_COLUMNS == ("Item code", "Name", "Site reference", "Location", "On hand",
                                              "Allocated", "Available")
    assert {"History Id", "Date timestamp", "From", "To", "Quantity", "Sales order number", "Site reference",
            "Register Reason"} <= set(ITEM_MOVEMENT_HISTORY_COLUMNS)


def test_despatch_summary_rows_with_quoted_dates(pvx: Pvx, busy: PvxWorld) -> None:
    ok, total, rows, _ = report(pvx, "Despatch summary")
    assert (ok, total) == (0, 3)
    first = rows[0]
    assert (first["Salesorder number"], first["Despatch number"], first["Tracking number"], first["Item code"],
            first["No of items"], first["Item name"]) == ("SO-1", "DES1000001", "TRK-SO-1", "TSHIRT-RED-M", "2",
                                                          "Red T-shirt M")
    assert first["Despatch date"] == "'02/05/2024 10:30:00'"
    assert first["Requested delivery date"] == "'03/05/2024 12:00:00'"
    assert (first["Destination country"], first["Service"], first["Channel name"]) == ("GB", "NEXTDAY", "Web shop")


@pytest.mark.parametrize("columns", ["[Salesorder number],[Despatch date]", "Salesorder number, Despatch date"])
def test_columns_with_or_without_brackets(pvx: Pvx, busy: PvxWorld, columns: str) -> None:
    _, _, _, detail = report(pvx, "Despatch summary", columns=columns)
    assert detail.split("\r\n") == ["Salesorder number,Despatch date", "SO-1,'02/05/2024 10:30:00'",
                                    "SO-1,'02/05/2024 10:30:00'", "SO-2,'03/05/2024 10:30:00'"]


@pytest.mark.parametrize(("clause", "order_by", "expected"), [
    ("([Despatch date] >= DateTime(2024,05,03,00,00,00))", "", ["SO-2"]),
    ("[Despatch date] < DateTime(2024,05,03)", "", ["SO-1", "SO-1"]),
    ("[Despatch date] > '2024-05-02 12:00'", "", ["SO-2"]),
    ('([Salesorder number].Equals("SO-1")) AND [Item code].StartsWith("MUG")', "", ["SO-1"]),
    ("", "[Despatch number] DESC, [Item code]", ["SO-2", "SO-1", "SO-1"]),
    ('[Site reference].Equals("MAIN")', "[No of items] DESC", ["SO-1", "SO-1", "SO-2"]),
])
def test_search_clause_and_order(pvx: Pvx, busy: PvxWorld, clause: str, order_by: str, expected: list[str]) -> None:
    ok, total, rows, _ = report(pvx, "Despatch summary", clause=clause, order_by=order_by)
    assert (ok, total) == (0, len(expected))
    assert [row["Salesorder number"] for row in rows] == expected


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"clause": "[Despatch date] >= DateTime(2024,13,01)"}, "invalid date in DateTime(...)"),
    ({"clause": "[Despatch day] > 1"}, "unknown field 'Despatch day'"),
    ({"clause": '[Carrier].Equals("DPD"'}, "expected ')'"),
    ({"clause": "[Carrier] ~ 1"}, "unexpected character '~'"),
    ({"columns": "[Salesorder number],[Weight]"}, "Column 'Weight' is not a column of report 'Despatch summary'"),
    ({"order_by": "[Colour]"}, "Column 'Colour' is not a column"),
])
def test_bad_requests_answer_minus_one(pvx: Pvx, busy: PvxWorld, kwargs: dict[str, str], fragment: str) -> None:
    ok, total, _, detail = report(pvx, "Despatch summary", **kwargs)
    assert (ok, total) == (-1, 0)
    assert fragment in detail


def test_inventory_movements_goods_in_and_returns(pvx: Pvx, busy: PvxWorld) -> None:
    _, _, inventory, _ = report(pvx, "Item inventory summary")
    assert [(r["Item code"], r["Location"], r["On hand"], r["Allocated"], r["Available"]) for r in inventory] == [
        ("MUG-BLUE", "A-01-01", "1", "0", "1"), ("TSHIRT-RED-M", "A-01-01", "2", "0", "2"),
        ("TSHIRT-RED-M", "QUARANTINE", "1", "0", "0")]
    _, total, history, _ = report(pvx, "Item movement history", clause="[History Id] > 2",
                                  order_by="[History Id] DESC")
    assert [int(row["History Id"]) for row in history] == list(range(9, 2, -1)) and total == 7
    returned = history[0]
    assert (returned["From"], returned["To"], returned["Register Reason"], returned["Date timestamp"],
            returned["Location type to"]) == ("Customer", "QUARANTINE", "Torn", "'04/05/2024 16:00:00'", "Quarantine")
    _, _, so1, _ = report(pvx, "Item movement history", clause='[Sales order number].Equals("SO-1")')
    assert {row["Sales order number"] for row in so1} == {"SO-1"} and len(so1) == 5
    _, _, goods_in, _ = report(pvx, "Goods in summary", columns="Goods in reference number,Quantity,"
                                                               "Purchase order number,Purchase order supplier")
    assert [list(row.values()) for row in goods_in] == [["GI000001", "5", "PO-1", "Acme Textiles"],
                                                        ["GI000002", "2", "PO-2", ""]]
    _, _, returns, _ = report(pvx, "Return summary")
    line = returns[0]
    assert (line["Return code"], line["Quantity"], line["Return condition"], line["Is Reusable"],
            line["Days since despatch"], line["Return reason"], line["Despatch date"]) == (
        "RC-1", "1", "Damaged", "False", "2", "Torn", "'02/05/2024 10:30:00'")


def test_malformed_report_rows_fault(pvx: Pvx, busy: PvxWorld) -> None:
    busy.sim.state.faults.add_rule(FaultRule("malformed_report_rows", endpoint="Despatch summary", count=2))
    columns = "[Salesorder number],[Despatch date],[Carrier]"
    short_row = report(pvx, "Despatch summary", columns=columns)[3].split("\r\n")
    assert short_row[1] == "SO-1,'02/05/2024 10:30:00'"  # one cell missing
    bad_date = report(pvx, "Despatch summary", columns=columns)[3].split("\r\n")
    assert bad_date[2] == "SO-1,'31/02/2024 25:61:00',DPD"
    with pytest.raises(ValueError, match="is not a Peoplevox report date"):
        report_datetime(bad_date[2].split(",")[1])
    healthy = report(pvx, "Despatch summary", columns=columns)[3].split("\r\n")
    assert all(len(line.split(",")) == 3 for line in healthy)
    assert busy.sim.state.faults.count("malformed_report_rows") == 2


def client(world: PvxWorld, **kwargs: int) -> PeoplevoxClient:
    return PeoplevoxClient(world.sim.base_url, PVX_CLIENT, PVX_USER, PVX_PASSWORD,
                           retry=RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.002), **kwargs)


def test_client_get_report_pages_and_unquotes_dates(busy: PvxWorld) -> None:
    pvx_client = client(busy, page_size=2)
    rows = list(pvx_client.get_report("Item movement history", columns=("History Id", "[Date timestamp]"),
                                      search_clause="[History Id] <= 5", order_by="[History Id]"))
    assert [row["History Id"] for row in rows] == ["1", "2", "3", "4", "5"]
    assert rows[0] == {"History Id": "1", "Date timestamp": "01/05/2024 09:00:00"}
    assert report_datetime(rows[-1]["Date timestamp"]) == datetime(2024, 5, 2, 10, 30, 0)
    assert busy.sim.calls("GetReportData") == 3


def test_client_get_report_errors(busy: PvxWorld) -> None:
    pvx_client = client(busy)
    with pytest.raises(ApiRejected, match="GetReportData 'Despatch summary' refused: Search clause error"):
        list(pvx_client.get_report("Despatch summary", search_clause="[Carrier] ="))
    busy.sim.state.faults.add_rule(FaultRule("malformed_report_rows", endpoint="Despatch summary", count=1))
    with pytest.raises(ApiResponseInvalid, match="page 1 is malformed: row 1 has 1 values but the header has 2"):
        list(pvx_client.get_report("Despatch summary", columns=("Salesorder number", "Carrier")))
    assert len(list(pvx_client.get_report("Despatch summary", columns=("Salesorder number", "Carrier")))) == 3


def test_raw_soap_report_request(pvx: Pvx, busy: PvxWorld) -> None:
    header = (f'<UserSessionCredentials xmlns="http://www.peoplevox.net/"><UserId>0</UserId>'
              f"<ClientId>{PVX_CLIENT}</ClientId><SessionId>{pvx.session_id}</SessionId></UserSessionCredentials>")
    body = ('<GetReportData xmlns="http://www.peoplevox.net/"><getReportRequest>'
            "<TemplateName>Despatch summary</TemplateName><PageNo>1</PageNo><ItemsPerPage>1</ItemsPerPage>"
            "<SearchClause>([Despatch date] &gt;= DateTime(2024,05,02,00,00,00))</SearchClause>"
            "<OrderBy>[Despatch number] DESC</OrderBy><Columns>Salesorder number,Carrier,Tracking number</Columns>"
            "</getReportRequest></GetReportData>")
    result = result_of(raw_post(busy.sim.service_url(), envelope(body, header), "GetReportData"), "GetReportData")
    assert (result["ResponseId"], result["TotalCount"]) == ("0", "3")
    assert result["Detail"].split("\r\n") == ["Salesorder number,Carrier,Tracking number", "SO-2,DPD,TRK-SO-2"]
    broken = body.replace("DateTime(2024,05,02,00,00,00)", "DateTime(2024,05")
    refused = result_of(raw_post(busy.sim.service_url(), envelope(broken, header), "GetReportData"), "GetReportData")
    assert refused["ResponseId"] == "-1" and refused["Detail"].startswith("Search clause error at character")
