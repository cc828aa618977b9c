"""The shared JSON readers of the REST clients: field checks, .NET timestamps, page answers, the page walker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from erp_wms_sync.connectors.parsing import FieldReader, Pager, check_identity, iter_pages, key_of
from erp_wms_sync.errors import ApiResponseInvalid

READ = FieldReader("cin7core")


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-05-02T10:00:00.1234567", datetime(2024, 5, 2, 10, 0, 0, 123456, tzinfo=UTC)),  # .NET, no zone: UTC
    ("2024-05-02T10:00:00.1234567-05:00", datetime(2024, 5, 2, 15, 0, 0, 123456, tzinfo=UTC)),
    ("2024-05-02T10:00:00Z", datetime(2024, 5, 2, 10, tzinfo=UTC)),
    ("", None),
    (None, None),
], ids=["seven-digit-fraction", "offset-after-fraction", "zulu", "empty", "null"])
def test_timestamps_come_back_in_utc(value: Any, expected: datetime | None) -> None:
    assert READ.timestamp(value, "product #1 LastModifiedOn") == expected


@pytest.mark.parametrize(("call", "message"), [
    (lambda: READ.timestamp("yesterday", "sale #1 Updated"), "sale #1 Updated: 'yesterday' is not an ISO 8601"),
    (lambda: READ.obj([], "GET me"), "GET me: expected a JSON object, got list"),
    (lambda: READ.required_text({"SKU": None}, "SKU", "product #2"), "product #2: 'SKU' is missing"),
    (lambda: READ.number(True, "Weight", "product #3"), "product #3: 'Weight' is not a number (got True)"),
    (lambda: READ.count({"qty": -1}, "qty", "line 1"), "line 1: 'qty' is not a whole number of at least 0"),
    (lambda: READ.page({"Total": 1}, "GET product page 1", list_key="Products", total_key="Total"),
     "GET product page 1: the answer has no 'Products' list (keys: Total)"),
    (lambda: READ.page({"Products": {}, "Total": 1}, "p", list_key="Products", total_key="Total"),
     "p: 'Products' is not a list"),
    (lambda: READ.page({"Products": [], "Total": -1}, "p", list_key="Products", total_key="Total"),
     "p: 'Total' is missing or not a count (got -1)"),
], ids=["bad-date", "not-object", "missing-text", "bool-number", "negative-count", "no-list", "not-list",
        "bad-total"])
def test_broken_answers_name_the_system_record_and_field(call: Any, message: str) -> None:
    with pytest.raises(ApiResponseInvalid, match="^cin7core: ") as caught:
        call()
    assert message in str(caught.value)


def test_blank_required_text_counts_as_missing_only_when_asked() -> None:
    assert READ.required_text({"sku": ""}, "sku", "row") == ""
    with pytest.raises(ApiResponseInvalid, match="'sku' is missing"):
        FieldReader("bluecherry", blank_is_missing=True).required_text({"sku": ""}, "sku", "row")


def pager(page_size: int = 2, max_pages: int = 5, key: str | None = "ID", system: str = "cin7core",
          total_key: str = "Total") -> Pager:
    return Pager(system, "GET product", page_size, max_pages, total_key, key_of(key) if key else None, key or "id")


def serve(pages: dict[int, list[Any]], total: int, asked: list[int]) -> Any:
    def fetch(page: int) -> tuple[int, list[Any]]:
        asked.append(page)
        return total, pages.get(page, [])
    return fetch


def test_pages_stop_at_the_total() -> None:
    asked: list[int] = []
    rows = list(iter_pages(serve({1: [{"ID": 1}, {"ID": 2}], 2: [{"ID": 3}]}, 3, asked), pager()))
    assert [row["ID"] for row in rows] == [1, 2, 3] and asked == [1, 2]


def test_a_short_page_before_the_total_is_read_again_then_refused() -> None:
    """Total 10 but page 2 holds one row: taking it as the last page would lose seven orders."""
    asked: list[int] = []
    pages = {1: [{"ID": 1}, {"ID": 2}], 2: [{"ID": 3}]}
    with pytest.raises(ApiResponseInvalid, match=r"^cin7core: GET product: page 2 has 1 rows of the 2 asked for, "
                                                 r"yet Total says 10 and only 3 were read") as caught:
        list(iter_pages(serve(pages, 10, asked), pager()))
    assert asked == [1, 2, 2] and "refusing to take it as the last page" in str(caught.value)


def test_a_short_page_that_comes_back_whole_on_the_second_read_is_used() -> None:
    answers = iter([[{"ID": 3}], [{"ID": 3}, {"ID": 4}], [{"ID": 5}]])
    first = [{"ID": 1}, {"ID": 2}]

    def flaky(page: int) -> tuple[int, list[Any]]:
        return 5, first if page == 1 else next(answers)

    assert [row["ID"] for row in iter_pages(flaky, pager())] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(("rows", "total", "message"), [
    ([{"ID": 1}, {"ID": 2}, {"ID": 3}], 9, "page 1 has 3 rows, more than the 2 asked for"),
    ([{"ID": 1}, {"ID": 2}], 1, "page 1 has 2 rows but Total says 1"),
    ([{"ID": 1}, {"ID": ""}], 9, "page 1 row 2 has no ID"),
    ([{"ID": 1}, "not a row"], 9, "page 1 row 2 has no ID"),
    ([{"ID": 7}, {"ID": 7}], 9, "page 1 lists ID 7 more than once"),
], ids=["more-rows-than-asked", "more-rows-than-total", "blank-id", "not-an-object", "duplicate-id"])
def test_a_page_contradicting_itself_is_refused(rows: list[Any], total: int, message: str) -> None:
    with pytest.raises(ApiResponseInvalid, match="^cin7core: GET product: ") as caught:
        list(iter_pages(lambda page: (total, rows), pager()))
    assert message in str(caught.value)


def test_a_server_ignoring_the_page_number_is_refused() -> None:
    def same_page(page: int) -> tuple[int, list[Any]]:
        return 100, [{"ID": 1}, {"ID": 2}]

    with pytest.raises(ApiResponseInvalid, match="page 2 repeats page 1"):
        list(iter_pages(same_page, pager(max_pages=50)))
    with pytest.raises(ApiResponseInvalid, match="page 2 repeats page 1"):  # without ids, whole rows compare
        list(iter_pages(same_page, pager(max_pages=50, key=None)))


def test_an_endless_listing_stops_at_the_page_cap() -> None:
    def fresh(page: int) -> tuple[int, list[Any]]:
        return 100, [{"ID": f"{page}-a"}, {"ID": f"{page}-b"}]

    with pytest.raises(ApiResponseInvalid, match=r"still more rows after 3 pages \(6 rows, total says 100\)"):
        list(iter_pages(fresh, pager(max_pages=3, system="bluecherry", total_key="total")))


def test_page_errors_are_redacted() -> None:
    secret = "app-key-5f4e3d2c"
    leaky = Pager("cin7core", "GET product", 2, 5, "Total", key_of("ID"), "ID", (secret,))
    with pytest.raises(ApiResponseInvalid) as caught:
        list(iter_pages(lambda page: (9, [{"ID": secret}, {"ID": secret}]), leaky))
    assert "more than once" in str(caught.value) and secret not in str(caught.value)


@pytest.mark.parametrize(("record", "message"), [
    ({}, "GET sale abc-1: the answer has no 'ID' (0 fields); expected 'abc-1'; nothing was taken from it"),
    ({"ID": "  "}, "the answer has no 'ID'"),
    ({"ID": "abc-2"}, "GET sale abc-1: the answer is ID 'abc-2', not the 'abc-1' asked for"),
], ids=["empty-object", "blank-id", "another-record"])
def test_a_record_that_is_not_the_one_asked_for_is_refused(record: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiResponseInvalid, match="^cin7core: ") as caught:
        check_identity(READ, record, "ID", "abc-1", "GET sale abc-1")
    assert message in str(caught.value)


def test_identity_ignores_case_and_blanks() -> None:
    check_identity(READ, {"ID": " ABC-1 "}, "ID", "abc-1", "GET sale abc-1")
