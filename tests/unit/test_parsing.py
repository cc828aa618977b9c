"""The shared JSON readers of the REST clients: field checks, .NET timestamps, page answers, the page walker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from erp_wms_sync.connectors.parsing import FieldReader, iter_pages
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


def test_pages_stop_at_the_total_or_a_short_page() -> None:
    pages = {1: [{"ID": 1}, {"ID": 2}], 2: [{"ID": 3}]}
    asked: list[int] = []

    def fetch(page: int) -> tuple[int, list[Any]]:
        asked.append(page)
        return 10, pages.get(page, [])

    rows = list(iter_pages(fetch, system="cin7core", what="GET product", page_size=2, max_pages=5,
                           total_key="Total", id_key="ID"))
    assert [row["ID"] for row in rows] == [1, 2, 3] and asked == [1, 2]


def test_a_server_ignoring_the_page_number_is_refused() -> None:
    def same_page(page: int) -> tuple[int, list[Any]]:
        return 100, [{"ID": 1}, {"ID": 2}]

    with pytest.raises(ApiResponseInvalid, match="page 2 repeats page 1"):
        list(iter_pages(same_page, system="cin7core", what="GET product", page_size=2, max_pages=50,
                        total_key="Total", id_key="ID"))
    with pytest.raises(ApiResponseInvalid, match=r"still full pages after 3 pages \(6 rows, total says 100\)"):
        list(iter_pages(same_page, system="bluecherry", what="GET skus", page_size=2, max_pages=3,
                        total_key="total"))
