"""Amendment rules: line identity, removed and dropped lines, cleared fields and the read-back comparison."""

from __future__ import annotations

from typing import Any

import pytest

from erp_wms_sync.domain.amendments import (
    Action,
    before_cutoff,
    differences,
    match_lines,
    plan_amendment,
    same_value,
)

NUMBER = "SO-1"


def lines(*spec: tuple[str, str, str]) -> list[dict[str, str]]:
    """(Line, ItemCode, QuantityOrdered) → Sales order items rows."""
    return [{"SalesOrderNumber": NUMBER, "ItemCode": code, "QuantityOrdered": qty, "Line": line, "Sequence": line,
             "SalePrice": "10"} for line, code, qty in spec]


def header(**over: str) -> dict[str, str]:
    return {"SalesOrderNumber": NUMBER, "Customer": "Jane", "ShippingAddressLine1": "1 High St",
            "ShippingAddressLine2": "Flat 2", "ShippingAddressPostcode": "LS1 1AA", **over}


def released(items: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {"header": header(), "items": items, **extra}


def plan(old: list[dict[str, str]], new: list[dict[str, str]], *, new_header: dict[str, str] | None = None,
         status: str = "New", cancelled: bool = False, removal: str = "reissue", **extra: Any) -> Any:
    return plan_amendment(released(old, **extra), new_header or header(), new, cancelled=cancelled,
                          wms_status=status, cutoff="Picking", line_removal=removal)


@pytest.mark.parametrize("status, cutoff, before", [
    ("New", "Picking", True), ("Allocated", "Picking", True), ("Picking", "Picking", False),
    ("Packed", "Picking", False), ("Mystery", "Picking", False), ("new", "picking", True),
])
def test_cutoff_is_a_position_in_the_warehouse_lifecycle(status: str, cutoff: str, before: bool) -> None:
    assert before_cutoff(status, cutoff) is before


def test_the_same_sku_on_two_lines_keeps_two_lines_with_their_own_quantities() -> None:
    result = plan(lines(("1", "A", "1"), ("2", "A", "4")), lines(("1", "A", "3"), ("2", "A", "4")))
    assert result.action is Action.UPDATE and result.header is None
    assert [(r["Line"], r["ItemCode"], r["QuantityOrdered"]) for r in result.items] == [("1", "A", "3")]
    assert [(r["Line"], r["QuantityOrdered"]) for r in result.expected_items] == [("1", "3"), ("2", "4")]


def test_the_second_of_two_same_sku_lines_changes_alone() -> None:
    result = plan(lines(("1", "A", "1"), ("2", "A", "4")), lines(("1", "A", "1"), ("2", "A", "6")))
    assert [(r["Line"], r["QuantityOrdered"]) for r in result.items] == [("2", "6")]


@pytest.mark.parametrize("old, new, action, sent", [
    # quantity change and an added line: the added line is numbered after the last warehouse line
    ([("1", "A", "2"), ("2", "B", "1")], [("1", "A", "3"), ("2", "B", "1"), ("3", "C", "2")], Action.UPDATE,
     [("1", "A", "3"), ("3", "C", "2")]),
    # an ERP line number already used by another warehouse line is a new line, not an overwrite
    ([("1", "A", "2"), ("5", "B", "1")], [("1", "A", "2"), ("5", "B", "1"), ("2", "C", "1")], Action.UPDATE,
     [("6", "C", "1")]),
    # a line inserted above the others (an ERP numbering lines by position): the others keep their lines
    ([("1", "A", "2"), ("2", "B", "1")], [("1", "C", "5"), ("2", "A", "3"), ("3", "B", "1")], Action.UPDATE,
     [("1", "A", "3"), ("3", "C", "5")]),
    # ... but a SKU on several lines is never paired by its code alone
    ([("1", "A", "1"), ("2", "A", "4")], [("1", "C", "1"), ("2", "D", "1"), ("3", "A", "1"), ("4", "A", "4")],
     Action.REISSUE, []),
    # nothing the warehouse would see
    ([("1", "A", "2")], [("1", "A", "2")], Action.NOTHING, []),
    # a removed line is a re-issue (Peoplevox cannot remove lines)
    ([("1", "A", "2"), ("2", "B", "1")], [("1", "A", "2")], Action.REISSUE, []),
    # a line whose open quantity became 0 is a removed line
    ([("1", "A", "2"), ("2", "B", "1")], [("1", "A", "2"), ("2", "B", "0")], Action.REISSUE, []),
    # the ERP put another SKU on a line: the old line is removed (a line's ItemCode cannot change)
    ([("1", "A", "2")], [("1", "B", "2")], Action.REISSUE, []),
    # removing one of two same-SKU lines is a removal too
    ([("1", "A", "1"), ("2", "A", "4")], [("1", "A", "1")], Action.REISSUE, []),
])
def test_lines_are_matched_by_their_identity(old: list, new: list, action: Action, sent: list) -> None:
    result = plan(lines(*old), lines(*new))
    assert result.action is action
    assert [(r["Line"], r["ItemCode"], r["QuantityOrdered"]) for r in result.items] == sent


def test_removed_lines_hold_when_the_integration_says_hold() -> None:
    result = plan(lines(("1", "A", "1"), ("2", "B", "1")), lines(("1", "A", "1")), removal="hold")
    assert result.action is Action.HOLD and "line 2 (B)" in result.reason


def test_a_reissue_expects_only_the_open_lines() -> None:
    result = plan(lines(("1", "A", "1"), ("2", "B", "1")), lines(("1", "A", "3"), ("2", "B", "0")))
    assert result.action is Action.REISSUE and "line 2 (B)" in result.reason
    assert [(r["Line"], r["QuantityOrdered"]) for r in result.expected_items] == [("1", "3")]


@pytest.mark.parametrize("new, status, action", [
    ([("1", "A", "0"), ("2", "B", "0")], "New", Action.CANCEL),
    ([], "Allocated", Action.CANCEL),
    ([("1", "A", "0")], "Picking", Action.BLOCK),
])
def test_an_order_left_with_no_open_line_is_a_cancellation(new: list, status: str, action: Action) -> None:
    result = plan(lines(("1", "A", "1"), ("2", "B", "1")), lines(*new), status=status)
    assert result.action is action
    assert "cancel" in result.reason


def test_cutoff_and_cancellation() -> None:
    one = lines(("1", "A", "1"))
    assert plan(one, one, cancelled=True, status="Allocated").action is Action.CANCEL
    blocked = plan(one, one, cancelled=True, status="Picking")
    assert blocked.action is Action.BLOCK and "cancelled" in blocked.reason and "Picking" in blocked.reason
    assert plan(one, lines(("1", "A", "2")), status="Packed").action is Action.BLOCK
    assert plan(one, lines(("1", "A", "2")), status="Cancelled").action is Action.NOTHING


def test_lines_added_by_an_earlier_amendment_are_found_through_the_line_map() -> None:
    # the ERP's line 2 went to warehouse line 6 earlier (5 was taken); changing it updates line 6
    old = lines(("1", "A", "1"), ("5", "B", "1"), ("6", "C", "1"))
    new = lines(("1", "A", "1"), ("5", "B", "1"), ("2", "C", "4"))
    result = plan(old, new, line_map={"1": "1", "5": "5", "2": "6"})
    assert result.action is Action.UPDATE
    assert [(r["Line"], r["ItemCode"], r["QuantityOrdered"]) for r in result.items] == [("6", "C", "4")]
    assert result.line_map == {"1": "1", "5": "5", "2": "6"}


def test_match_lines_reports_kept_added_removed() -> None:
    match = match_lines(lines(("1", "A", "1"), ("2", "B", "1")), lines(("1", "A", "2"), ("3", "D", "1")))
    assert [(o["Line"], n["QuantityOrdered"]) for o, n in match.kept] == [("1", "2")]
    assert [r["Line"] for r in match.added] == ["3"] and [r["ItemCode"] for r in match.removed] == ["B"]


def test_a_cleared_header_field_is_sent_and_named() -> None:
    one = lines(("1", "A", "1"))
    result = plan(one, one, new_header=header(ShippingAddressLine2=""))
    assert result.action is Action.UPDATE
    assert result.header == {"SalesOrderNumber": NUMBER, "ShippingAddressLine2": ""}
    assert result.cleared == ("ShippingAddressLine2",)


def test_a_changed_line_price_is_sent_and_a_cleared_one_named() -> None:
    old = lines(("1", "A", "1"))
    new = [dict(old[0], SalePrice="")]
    result = plan(old, new)
    assert result.action is Action.UPDATE and result.cleared == ("line 1 SalePrice",)


@pytest.mark.parametrize("sent, held, same", [
    ("3", "3", True), ("3", "3.00", True), ("3", "4", False), ("Leeds", " leeds ", True),
    ("2026-05-01 08:00:00", "'01/05/2026 08:00:00'", True), ("2026-05-01 08:00:00", "2026-05-02 08:00:00", False),
    ("", "", True), ("", "Flat 2", False), ("NaN", "NaN", True), ("x", "", False),
])
def test_read_back_values_compare_as_peoplevox_formats_them(sent: str, held: str, same: bool) -> None:
    assert same_value(sent, held) is same


def test_differences_name_what_peoplevox_does_not_hold() -> None:
    expected = lines(("1", "A", "3"), ("2", "A", "4"))
    held_lines = lines(("1", "A", "1"), ("2", "A", "4"), ("3", "Z", "1"))
    found = differences({"SalesOrderNumber": NUMBER, "ShippingAddressLine2": "", "Email": "new@x"},
                        header(Email="new@x"), expected, held_lines, [expected[0]])
    assert any("ShippingAddressLine2 was cleared in the ERP but Peoplevox keeps 'Flat 2'" in d for d in found)
    assert any(d.startswith("line 1 QuantityOrdered: sent '3'") for d in found)
    assert any("line 3 (Z) is in Peoplevox but not in the ERP order" in d for d in found)
    assert not any("Email" in d or d.startswith("line 2") for d in found)
    assert differences(None, None, expected, []) == ["the order is not in Peoplevox"]
    assert differences({"ShippingAddressLine2": ""}, header(ShippingAddressLine2=""), expected,
                       lines(("1", "A", "3"), ("2", "A", "4"))) == []
    assert "line 2 (A) is missing in Peoplevox" in differences(None, header(), expected, expected[:1])
