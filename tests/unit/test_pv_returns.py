"""Peoplevox returns from the "Return summary" report and the ``Returns`` callback: grouped per return code,
each line judged sellable or not, and a return never read from a partial view (no API, no ledger)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from erp_wms_simulators.peoplevox import report_specs
from erp_wms_sync.domain.pv_reports import BadReport, BadStockEvent
from erp_wms_sync.domain.pv_returns import (
    RETURN_COLUMNS,
    is_sellable,
    return_notice_from_callback,
    returns_from_report,
    returns_report_clause,
)
from erp_wms_sync.domain.stock_movements import INCREMENTAL_CHANGES, RETURNS
from tests.unit.pv_stock_fakes import callback_body, published, stocked_tenant

LONDON = "Europe/London"


def return_row(code: str = "RC-1", **cells: str) -> dict[str, str]:
    row = {"Return code": code, "Return date": "'02/07/2024 14:05'", "Quantity": "1", "Item code": "MUG",
           "Sales order number": "SO-1", "Return reason": "Too big", "Return condition": "Sellable",
           "Is Reusable": "True", "Site reference": "MAIN", "Return comments": ""}
    row.update(cells)
    return row


# --- Return summary --------------------------------------------------------------------------------------------
def test_returns_are_grouped_by_code_with_a_sellable_verdict_per_line() -> None:
    rows = [return_row("RC-1"), return_row("RC-2", **{"Return condition": "Damaged", "Is Reusable": "False"}),
            return_row("RC-1", **{"Item code": "CAP", "Quantity": "2.0", "Return date": "'02/07/2024 14:01:30'",
                                   "Return condition": "Damaged", "Is Reusable": "False"})]
    found, problems = returns_from_report(rows, LONDON)
    assert problems == []
    assert [r.code for r in found] == ["RC-1", "RC-2"]
    first = found[0]
    assert (first.sales_order, first.site, first.returned_at) == ("SO-1", "MAIN", datetime(2024, 7, 2, 13, 1, 30))
    assert [(line.item_code, line.quantity, line.sellable, line.reusable) for line in first.lines] == [
        ("MUG", 1, True, True), ("CAP", 2, False, False)]
    assert first.quantities() == {"MUG": 1, "CAP": 2}
    assert first.quantities(sellable=True) == {"MUG": 1} and first.quantities(sellable=False) == {"CAP": 2}


@pytest.mark.parametrize(("condition", "reusable", "sellable"), [
    ("Sellable", True, True), ("  as   NEW ", None, True), ("Sellable", False, False), ("Damaged", True, False),
    ("Grade B", None, False), ("", True, True), ("", None, False), ("", False, False),
], ids=["sellable", "spaces-and-case", "not-reusable-wins", "damaged", "unknown-grade", "reusable-only",
        "nothing-said", "not-reusable-only"])
def test_sellable_rule(condition: str, reusable: bool | None, sellable: bool) -> None:
    assert is_sellable(condition, reusable) is sellable


def test_the_sellable_conditions_are_a_setting() -> None:
    rows = [return_row(**{"Return condition": "Grade A", "Is Reusable": ""}),
            return_row(**{"Item code": "CAP", "Return condition": "Sellable", "Is Reusable": ""})]
    found, _ = returns_from_report(rows, LONDON, sellable_conditions={"grade a"})
    assert [line.sellable for line in found[0].lines] == [True, False]


def test_one_bad_row_holds_back_its_whole_return_and_names_itself() -> None:
    rows = [return_row("RC-1"), return_row("RC-1", Quantity="0"), return_row("RC-2"),
            return_row("RC-3", **{"Is Reusable": "perhaps"}), return_row("", Quantity="1")]
    found, problems = returns_from_report(rows, LONDON)
    assert [r.code for r in found] == ["RC-2"]
    assert [(p.position, p.key, p.reason) for p in problems] == [
        (1, "RC-1", "row 1 is held back with return RC-1: row(s) 2 of it cannot be read"),
        (2, "RC-1", "row 2 has Quantity 0, not a positive whole number"),
        (4, "RC-3", "row 4 has Is Reusable 'perhaps', not True or False"),
        (5, "", "row 5 has no Return code")]


@pytest.mark.parametrize(("cells", "reason"), [
    ({"Return date": "'2/7/24'"}, "has Return date '2/7/24', not a date"),
    ({"Return date": ""}, "has no Return date"),
    ({"Quantity": "-1"}, "has Quantity -1, not a positive whole number"),
    ({"Quantity": "one"}, "has Quantity 'one', not a whole number"),
    ({"Item code": ""}, "has no Item code"),
])
def test_hostile_return_rows(cells: dict[str, str], reason: str) -> None:
    found, problems = returns_from_report([return_row("RC-9", **cells)], LONDON)
    assert found == [] and [p.reason for p in problems] == [f"row 1 {reason}"]


def test_a_return_listed_for_two_orders_or_sites_or_with_overlong_codes_is_not_read() -> None:
    rows = [return_row("RC-1"), return_row("RC-1", **{"Sales order number": "SO-2", "Site reference": "EAST"}),
            return_row("R" * 65)]
    found, problems = returns_from_report(rows, LONDON)
    assert found == []
    assert problems[0].reason == ("row 1 belongs to return RC-1, listed for more than one order (SO-1, SO-2); "
                                  "belongs to return RC-1, listed for more than one site (MAIN, EAST)")
    assert problems[2].reason == "row 3 has a Return code longer than 64 characters"


def test_returns_report_needs_its_key_column_and_its_clause_is_local() -> None:
    row = return_row()
    del row["Return code"]
    with pytest.raises(BadReport, match="no 'Return code' column"):
        returns_from_report([row], LONDON)
    assert returns_report_clause(datetime(2024, 7, 2, 0, 0, tzinfo=UTC), LONDON) == \
        "([Return date] >= DateTime(2024,07,02,01,00,00))"
    assert set(RETURN_COLUMNS) <= set(report_specs.RETURN_SUMMARY_COLUMNS)


def test_return_callback_is_read_and_checked() -> None:
    body = urlencode({"ReturnCode": "RC-1", "SalesOrderNumber": "SO-1", "ItemCode": "MUG", "Quantity": "2",
                      "Condition": "Damaged", "Site": "MAIN", "ReturnDate": "02/07/2024 14:05", "Reason": "{Reason}"})
    notice = return_notice_from_callback(RETURNS, body, LONDON)
    assert (notice.return_code, notice.sales_order, notice.item_code, notice.quantity, notice.sellable,
            notice.reason, notice.returned_at) == ("RC-1", "SO-1", "MUG", 2, False, "", datetime(2024, 7, 2, 13, 5))
    for bad, message in [("ReturnCode={ReturnCode}", "ReturnCode still holds the placeholder"),
                         ("ReturnCode=RC-1&Quantity=0", "Quantity 0 is not a positive whole number"),
                         ("ReturnCode=RC-1&Quantity=1.5", "Quantity '1.5' is not a whole number"),
                         (urlencode({"ReturnCode": "R" * 65}), "ReturnCode is longer than 64 characters")]:
        with pytest.raises(BadStockEvent, match=message):
            return_notice_from_callback(RETURNS, bad, LONDON)
    with pytest.raises(BadStockEvent, match="is not the Peoplevox Returns event"):
        return_notice_from_callback(INCREMENTAL_CHANGES, body, LONDON)


# --- what the Peoplevox simulator emits ------------------------------------------------------------------------
def test_simulator_return_report_reads_without_a_problem() -> None:
    returns, problems = returns_from_report(report_specs.return_summary(stocked_tenant()), "UTC")
    assert problems == []
    assert [(r.code, r.quantities(sellable=True), r.quantities(sellable=False)) for r in returns] == [
        ("RC-1", {"MUG": 2}, {}), ("RC-2", {}, {"MUG": 1, "CAP": 1})]


def test_simulator_return_callbacks_fill_our_template_and_read_back() -> None:
    tenant = stocked_tenant()
    returned = [return_notice_from_callback(RETURNS, callback_body(RETURNS, v), "UTC")
                for v in published(tenant, RETURNS)]
    assert [(n.return_code, n.item_code, n.quantity, n.sellable) for n in returned] == [
        ("RC-1", "MUG", 2, True), ("RC-2", "MUG", 1, False), ("RC-2", "CAP", 1, False)]
