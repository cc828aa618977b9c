"""The Cin7 Core stock and credit-note calls against hostile answers (a fake transport, no server): every answer
that is not what was asked for is refused with an error naming the call, and nothing is taken from it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, cast

import pytest
import requests

from erp_wms_sync.connectors.cin7core import Cin7CoreClient
from erp_wms_sync.connectors.cin7core_stock import CreditLine, RestockLine, StockLine
from erp_wms_sync.connectors.transport import HttpTransport
from erp_wms_sync.errors import ApiResponseInvalid

ACCOUNT = "0d6f1c2e-1111-4aaa-8bbb-0123456789ab"
KEY = "9e8d7c6b-2222-4ccc-9ddd-ba9876543210"
TASK = "5b0e7c6d-0000-4000-8000-000000000001"
OTHER_TASK = "5b0e7c6d-0000-4000-8000-000000000002"
SALE = "a1b2c3d4-0000-4000-8000-000000000010"
MAIN = "Main Warehouse"
AT = datetime(2025, 3, 1, 13, 0, tzinfo=UTC)


class FakeTransport:
    """Answers each request with the next ``(status, body)`` (``None``: an empty body) and records the requests."""

    def __init__(self, *answers: tuple[int, Any]) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str, dict[str, Any], Any]] = []
        self.calls = 0

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                ok_statuses: Iterable[int] = (), **_: Any) -> requests.Response:
        self.calls += 1
        self.sent.append((method, path, dict(params or {}), json))
        assert self.answers, f"unexpected call {method} {path}"
        status, body = self.answers.pop(0)
        response = requests.Response()
        response.status_code, response.url = status, f"https://cin7.invalid/ExternalApi/v2/{path}"
        response._content = b"" if body is None else _dumps(body)
        return response


def _dumps(body: Any) -> bytes:
    return json.dumps(body).encode()


def client_with(*answers: tuple[int, Any], page_limit: int = 2) -> tuple[Cin7CoreClient, FakeTransport]:
    client = Cin7CoreClient("https://cin7.invalid/ExternalApi/v2", ACCOUNT, KEY, page_limit=page_limit)
    fake = FakeTransport(*answers)
    client.transport = cast(HttpTransport, fake)
    return client, fake


def stock_row(sku: str, location: str = MAIN, on_hand: Any = 5, **extra: Any) -> dict[str, Any]:
    return {"ID": f"id-{sku}", "SKU": sku, "Location": location, "Bin": None, "Batch": None, "OnHand": on_hand,
            "Allocated": 1, "Available": 4, "OnOrder": 0, **extra}


def page(total: int, *rows: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"Total": total, "Page": 1, "ProductAvailabilityList": list(rows)}


def adjustment(reference: str = "PVX-1", task_id: str = TASK, **changes: Any) -> dict[str, Any]:
    answer = {"TaskID": task_id, "StocktakeNumber": "ST-00007", "Status": "COMPLETED", "Reference": reference,
              "EffectiveDate": "2025-03-01T13:00:00", "Account": "",
              "ExistingStockLines": [{"ProductID": "p1", "SKU": "TEE", "Location": MAIN, "QuantityOnHand": 9,
                                      "Adjustment": 4, "BatchSN": None}],
              "NewStockLines": [{"ProductID": "p2", "SKU": "BOOT", "Location": "Returns Bay", "Quantity": 2,
                                 "BatchSN": None}]}
    return answer | changes


LINES = [StockLine(Decimal(9), MAIN, sku="TEE"), StockLine(Decimal(2), "Returns Bay", sku="BOOT")]


def adjust(*answers: tuple[int, Any]) -> Any:
    client, _ = client_with(*answers)
    return client.post_stock_adjustment(LINES, reference="PVX-1", effective_date=AT)


# ---- stock levels ---------------------------------------------------------------------------------------------
def test_availability_reads_every_page_as_decimals() -> None:
    client, fake = client_with(page(3, stock_row("A", on_hand=5.25), stock_row("B")), page(3, stock_row("C")))
    rows = list(client.iter_availability(location=MAIN))
    assert [(row.sku, row.on_hand, row.available) for row in rows] == \
        [("A", Decimal("5.25"), 4), ("B", 5, 4), ("C", 5, 4)]
    assert [sent[2] for sent in fake.sent] == [{"Location": MAIN, "Page": 1, "Limit": 2},
                                               {"Location": MAIN, "Page": 2, "Limit": 2}]


def test_a_page_shorter_than_its_total_is_refused() -> None:
    short = page(5, stock_row("A"))
    client, fake = client_with(page(5, stock_row("A"), stock_row("B")), short, short)
    with pytest.raises(ApiResponseInvalid, match=r"GET ref/productavailability: page 2 has 1 rows .* Total says 5"):
        list(client.iter_availability())
    assert fake.calls == 3  # the short page was read twice before being refused


@pytest.mark.parametrize(("row", "message"), [
    (stock_row("A", on_hand="12"), r"row 1: 'OnHand' is not a number \(got '12'\)"),
    (stock_row("A", on_hand=True), "'OnHand' is not a number"),
    (stock_row("A", Available=None), "'Available' is missing"),
    (stock_row("A", location=""), "row 1 has no SKU × Location"),
    (stock_row("", location=MAIN), "row 1 has no SKU × Location"),
], ids=["text-quantity", "bool-quantity", "no-available", "no-location", "no-sku"])
def test_a_malformed_stock_row_is_refused(row: dict[str, Any], message: str) -> None:
    client, _ = client_with(page(1, row))
    with pytest.raises(ApiResponseInvalid, match=rf"cin7core: GET ref/productavailability.*{message}"):
        list(client.iter_availability())


# ---- stock adjustments ----------------------------------------------------------------------------------------
def test_an_adjustment_posts_absolute_quantities_and_keeps_the_answer() -> None:
    client, fake = client_with((200, adjustment()))
    lines = [StockLine(Decimal(9), MAIN, sku="TEE", comments="count"),
             StockLine(Decimal("2.5"), "Returns Bay", product_id="p2", batch="B-7")]
    with pytest.raises(ApiResponseInvalid, match="does not show the line"):  # p2 in batch B-7 is not answered
        client.post_stock_adjustment(lines, reference="PVX-1", account="Inventory",
                                     effective_date=AT.astimezone(timezone(timedelta(hours=2))))
    assert fake.sent[0][3] == {
        "EffectiveDate": "2025-03-01T13:00:00", "Status": "COMPLETED", "Reference": "PVX-1", "UpdateOnHand": True,
        "Account": "Inventory",
        "Lines": [{"Quantity": 9, "Location": MAIN, "SKU": "TEE", "Comments": "count"},
                  {"Quantity": 2.5, "Location": "Returns Bay", "ProductID": "p2", "BatchSN": "B-7"}]}
    done = adjust((200, adjustment()))
    assert (done.task_id, done.number, [line.new for line in done.lines]) == (TASK, "ST-00007", [False, True])


@pytest.mark.parametrize(("answer", "message"), [
    (adjustment(TaskID=None), "'TaskID' is missing"),
    (adjustment(StocktakeNumber=""), "'StocktakeNumber' is missing"),
    (adjustment(Status="DRAFT"), "is 'DRAFT', not COMPLETED"),
    (adjustment(reference="PVX-2"), "the answer is Reference 'PVX-2', not the 'PVX-1' asked for"),
    (adjustment(reference=""), "the answer has no 'Reference'"),
    (adjustment(NewStockLines=[]), "does not show the line.* of 'BOOT' at 'Returns Bay'"),
    (adjustment(ExistingStockLines=[{"SKU": "TEE", "Location": "Elsewhere"}]), "'TEE' at 'Main Warehouse'"),
    (adjustment(ExistingStockLines={"SKU": "TEE"}), "'ExistingStockLines' is not a list"),
    (adjustment(ExistingStockLines=[{"SKU": "TEE", "Location": MAIN, "Adjustment": "4"}]),
     "'Adjustment' is not a number"),
    ([adjustment()], "expected a JSON object, got list"),
], ids=["no-task", "no-number", "draft", "other-reference", "no-reference", "line-missing", "other-location",
        "lines-not-list", "text-adjustment", "a-list"])
def test_a_hostile_adjustment_answer_is_refused(answer: Any, message: str) -> None:
    with pytest.raises(ApiResponseInvalid, match=rf"cin7core: POST stockadjustment \(Reference 'PVX-1'\).*{message}"):
        adjust((200, answer))


def test_a_secret_echoed_in_an_answer_never_reaches_the_error() -> None:
    with pytest.raises(ApiResponseInvalid) as caught:
        adjust((200, adjustment(reference=f"stolen {KEY}")))
    assert KEY not in str(caught.value) and "'stolen ***'" in str(caught.value)


@pytest.mark.parametrize(("lines", "message"), [
    ([], "at least one line"),
    ([StockLine(Decimal(1), MAIN, sku="TEE"), StockLine(Decimal(2), " main warehouse ", sku="tee")], "more than once"),
], ids=["none", "twice"])
def test_an_adjustment_that_cannot_be_right_is_not_sent(lines: list[StockLine], message: str) -> None:
    client, fake = client_with()
    with pytest.raises(ValueError, match=message):
        client.post_stock_adjustment(lines, reference="PVX-1", effective_date=AT)
    with pytest.raises(ValueError, match="timezone-aware"):
        client.post_stock_adjustment(LINES, reference="PVX-1", effective_date=datetime(2025, 3, 1))
    with pytest.raises(ValueError, match="Reference"):
        client.post_stock_adjustment(LINES, reference=" ", effective_date=AT)
    assert fake.calls == 0


@pytest.mark.parametrize(("quantity", "location", "sku"), [(Decimal(-1), MAIN, "TEE"), (Decimal("NaN"), MAIN, "TEE"),
                                                           (Decimal(1), " ", "TEE"), (Decimal(1), MAIN, "")],
                         ids=["negative", "nan", "no-location", "no-product"])
def test_a_stock_line_is_checked_when_made(quantity: Decimal, location: str, sku: str) -> None:
    with pytest.raises(ValueError):
        StockLine(quantity, location, sku=sku)


def test_get_adjustment_answers_none_for_404_or_nothing_and_refuses_another() -> None:
    client, _ = client_with((404, [{"ErrorCode": 404, "Exception": "Not found"}]), (200, None),
                            (200, adjustment(task_id=OTHER_TASK)), (200, {}))
    assert client.get_stock_adjustment(TASK) is None
    assert client.get_stock_adjustment(TASK) is None
    with pytest.raises(ApiResponseInvalid, match=rf"GET stockadjustment {TASK}: the answer is TaskID '{OTHER_TASK}'"):
        client.get_stock_adjustment(TASK)
    with pytest.raises(ApiResponseInvalid, match="the answer has no 'TaskID'"):
        client.get_stock_adjustment(TASK)


def list_page(total: int, *rows: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"Total": total, "Page": 1, "StockAdjustmentList": list(rows)}


def list_row(reference: str, task_id: str) -> dict[str, Any]:
    return {key: value for key, value in adjustment(reference, task_id).items() if not key.endswith("Lines")}


def test_find_reads_each_adjustment_carrying_the_reference() -> None:
    client, fake = client_with(list_page(3, list_row("PVX-0", OTHER_TASK), list_row("pvx-1", TASK)),
                               list_page(3, list_row("PVX-11", "t-3")), (200, adjustment(task_id=TASK)))
    [found] = client.find_stock_adjustments("PVX-1")
    assert (found.task_id, len(found.lines)) == (TASK, 2)
    assert [(sent[1], sent[2].get("TaskID")) for sent in fake.sent] == \
        [("stockadjustmentList", None), ("stockadjustmentList", None), ("stockadjustment", TASK)]


def test_find_refuses_a_read_that_answers_another_reference() -> None:
    client, _ = client_with(list_page(1, list_row("PVX-1", TASK)), (200, adjustment("PVX-9", task_id=TASK)))
    with pytest.raises(ApiResponseInvalid, match=f"GET stockadjustment {TASK}: the answer is Reference 'PVX-9'"):
        client.find_stock_adjustments("PVX-1")


def test_find_refuses_a_listed_adjustment_that_cannot_be_read() -> None:
    client, _ = client_with(list_page(1, list_row("PVX-1", TASK)), (404, None))
    with pytest.raises(ApiResponseInvalid, match="listed but GET stockadjustment does not know it"):
        client.find_stock_adjustments("PVX-1")


# ---- credit notes ---------------------------------------------------------------------------------------------
def credit_notes(sale_id: str = SALE, **changes: Any) -> dict[str, Any]:
    note = {"TaskID": TASK, "CreditNoteNumber": "CR-00003", "Status": "AUTHORISED", "Memo": "RMA-7",
            "CreditNoteInvoiceNumber": "INV-00002", "Lines": [{"SKU": "TEE", "Quantity": 1}],
            "Restock": [{"SKU": "TEE", "Quantity": 1, "RestockLocation": "Returns Bay"}]}
    return {"SaleID": sale_id, "CreditNotes": [note | changes]}


def credit(*answers: tuple[int, Any]) -> Any:
    client, _ = client_with(*answers)
    return client.create_credit_note(SALE, lines=[CreditLine("TEE", Decimal(1), Decimal("24.5"), Decimal(10))],
                                     restock=[RestockLine("TEE", Decimal(1), "Returns Bay")], memo="RMA-7")


def test_a_credit_note_body_follows_the_documented_model() -> None:
    client, fake = client_with((200, credit_notes()))
    note = client.create_credit_note(SALE, lines=[CreditLine("TEE", Decimal(1), Decimal("24.5"), Decimal(10))],
                                     restock=[RestockLine("TEE", Decimal(1), "Returns Bay")], memo=" RMA-7 ",
                                     invoice_number="INV-00002", credit_note_date=AT)
    assert (note.task_id, note.number, note.status) == (TASK, "CR-00003", "AUTHORISED")
    assert fake.sent[0][:2] == ("POST", "sale/creditnote") and fake.sent[0][3] == {
        "SaleID": SALE, "Memo": "RMA-7", "Status": "AUTHORISED", "CreditNoteInvoiceNumber": "INV-00002",
        "CreditNoteDate": "2025-03-01T13:00:00",
        "Lines": [{"SKU": "TEE", "Quantity": 1, "Price": 24.5, "Discount": 10, "Tax": 0, "Total": 22.05}],
        "Restock": [{"SKU": "TEE", "Quantity": 1, "RestockLocation": "Returns Bay"}]}


@pytest.mark.parametrize(("answer", "message"), [
    (credit_notes(OTHER_TASK), f"the answer is SaleID '{OTHER_TASK}'"),
    ({"SaleID": SALE}, "'CreditNotes' is missing or not a list"),
    (credit_notes(TaskID=""), "note 1: 'TaskID' is missing"),
    (credit_notes(CreditNoteNumber=""), "'CreditNoteNumber' is missing"),
    (credit_notes(Status="DRAFT"), "is 'DRAFT', not AUTHORISED"),
    (credit_notes(Memo="RMA-8"), "none of the 1 credit notes answered has the Memo written"),
    (credit_notes(Restock=[]), r"does not show TEE \(restock\)"),
    (credit_notes(Lines=[{"SKU": "BOOT"}]), "does not show TEE"),
], ids=["other-sale", "no-list", "no-task", "no-number", "draft", "other-memo", "no-restock", "other-line"])
def test_a_hostile_credit_note_answer_is_refused(answer: Any, message: str) -> None:
    with pytest.raises(ApiResponseInvalid, match=rf"cin7core: POST sale/creditnote for sale {SALE}.*{message}"):
        credit((200, answer))


def test_credit_notes_are_found_by_memo_and_a_listing_for_another_sale_is_refused() -> None:
    placeholder = {"TaskID": SALE, "Status": "NOT AVAILABLE"}  # a simple sale's credit note before one is made
    listing = {"SaleID": SALE, "CreditNotes": [placeholder, credit_notes()["CreditNotes"][0]]}
    client, fake = client_with((200, listing), (200, credit_notes(OTHER_TASK)))
    assert [note.number for note in client.find_credit_notes(SALE, "rma-7")] == ["CR-00003"]
    assert fake.sent[0][2] == {"SaleID": SALE}
    with pytest.raises(ApiResponseInvalid, match=f"GET sale/creditnote for sale {SALE}: the answer is SaleID"):
        client.credit_notes(SALE)


def test_a_credit_note_that_cannot_be_found_again_is_not_sent() -> None:
    client, fake = client_with()
    with pytest.raises(ValueError, match="Memo"):
        client.create_credit_note(SALE, lines=[CreditLine("TEE", Decimal(1), Decimal(1))], memo=" ")
    with pytest.raises(ValueError, match="DRAFT or AUTHORISED"):
        client.create_credit_note(SALE, lines=[CreditLine("TEE", Decimal(1), Decimal(1))], memo="M", status="PAID")
    with pytest.raises(ValueError, match="above 0"):
        client.create_credit_note(SALE, lines=[CreditLine("TEE", Decimal(0), Decimal(1))], memo="M")
    assert fake.calls == 0
