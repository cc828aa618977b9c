"""The pure rules of the returns flow: ledger lines of a return, when a stock-in counts as confirmed, what is
credited at what price, and how receipts are booked against return authorisations."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from erp_wms_sync.domain.pv_returns import PeoplevoxReturn, ReturnLine
from erp_wms_sync.flows.returns import rules

AT = datetime(2026, 12, 1, 10, 0)


def _return(*lines: tuple[str, int, bool]) -> PeoplevoxReturn:
    return PeoplevoxReturn(code="RET1", sales_order="SO-1", returned_at=AT, site="MAIN", lines=tuple(
        ReturnLine(item, qty, "Sellable" if ok else "Damaged", ok, ok) for item, qty, ok in lines))


def test_one_ledger_line_per_item_and_any_damaged_row_makes_the_item_unsellable() -> None:
    lines = rules.ledger_lines(_return(("A", 1, True), ("A", 2, False), ("B", 3, True)), source="poll")
    by_item = {line["item_code"]: line for line in lines}
    assert by_item["A"]["quantity"] == 3 and by_item["A"]["sellable"] is False
    assert by_item["A"]["condition"] == "Damaged"
    assert by_item["B"]["quantity"] == 3 and by_item["B"]["sellable"] is True


def test_the_stock_in_is_confirmed_only_when_the_whole_quantity_is_applied() -> None:
    queued = [rules.Movement(10, 2, 2, "queued", "RET1")]
    assert not rules.stock_in("RET1", 2, queued).confirmed
    half = [rules.Movement(10, 1, 1, "applied", "RET1"), rules.Movement(11, 1, 1, "queued", "RET1")]
    verdict = rules.stock_in("RET1", 2, half)
    assert not verdict.confirmed and verdict.seen == 2 and verdict.applied == 1
    done = [rules.Movement(10, 2, 2, "applied", "RET1")]
    assert rules.stock_in("RET1", 2, done) == rules.StockIn(True, (10,), 2, 2)


def test_movements_of_another_return_or_into_quarantine_do_not_count() -> None:
    moves = [rules.Movement(10, 2, 2, "applied", "RET2"), rules.Movement(11, 2, 0, "applied", "RET1")]
    assert not rules.stock_in("RET1", 2, moves).confirmed
    assert rules.stock_in("RET1", 2, [rules.Movement(12, 2, 2, "opening", "")]).confirmed  # no comments: taken


def test_overdue_after_the_deadline_only() -> None:
    assert not rules.overdue(AT, AT + timedelta(hours=23), 24)
    assert rules.overdue(AT, AT + timedelta(hours=24), 24)
    assert not rules.overdue(None, AT, 24)


@pytest.mark.parametrize(("policy", "damaged_credited"), [("review", False), ("credit", True), ("none", False)])
def test_damaged_lines_are_credited_only_under_the_credit_policy(policy: str, damaged_credited: bool) -> None:
    assert rules.creditable(True, policy)
    assert rules.creditable(False, policy) is damaged_credited


def test_an_unknown_policy_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="damaged_credit"):
        rules.creditable(False, "maybe")


def test_the_credit_is_priced_from_the_order_lines_and_unknown_skus_are_named() -> None:
    order = [{"SKU": "BOOT", "Price": 80, "Discount": 10, "TaxRule": "VAT"}, {"SKU": "BAG", "Price": "oops"}]
    priced, missing = rules.priced_lines(order, {"boot": 2, "BAG": 1, "HAT": 1})
    assert priced == [rules.PricedLine("boot", 2, Decimal(80), Decimal(10), "VAT")]
    assert missing == ["BAG", "HAT"]


def test_only_an_authorised_or_paid_invoice_can_be_credited() -> None:
    assert rules.live_invoice({"Invoices": [{"InvoiceNumber": "INV-1", "Status": "DRAFT"}]}) is None
    assert rules.live_invoice({"Invoices": [{"InvoiceNumber": "INV-1", "Status": "VOIDED"},
                                            {"InvoiceNumber": "INV-2", "Status": "PAID"}]}) == "INV-2"


def test_a_hand_made_credit_is_one_with_another_memo_for_a_returned_sku() -> None:
    ours = SimpleNamespace(status="AUTHORISED", memo="WMS-RETURN RET1", skus=("BOOT",), number="CR-1")
    other = SimpleNamespace(status="AUTHORISED", memo="refund by phone", skus=("BOOT",), number="CR-2")
    draft = SimpleNamespace(status="DRAFT", memo="", skus=("BOOT",), number="CR-3")
    memo = rules.credit_memo("RET1")
    assert rules.hand_made_credit([ours, draft], memo, ["BOOT"]) is None
    assert rules.hand_made_credit([ours, other], memo, ["boot"]) is other
    assert rules.hand_made_credit([other], memo, ["BAG"]) is None


def test_receipts_fill_the_oldest_authorisation_first_and_name_what_none_covers() -> None:
    booked, uncovered = rules.allocate_to_authorisations(
        [("BOOT", 3), ("BAG", 1)], [("RA-1", {"BOOT": 2}), ("RA-2", {"BOOT": 2})])
    assert booked == {"RA-1": [("BOOT", 2)], "RA-2": [("BOOT", 1)]}
    assert uncovered == ["BAG x1"]


def test_keys_are_deterministic() -> None:
    assert rules.credit_memo("RET1") == "WMS-RETURN RET1"
    assert rules.receipt_reference("RET1") == "WMS-RETURN-RET1"
    assert rules.bluecherry_condition(True) == "SELLABLE" and rules.bluecherry_condition(False) == "DAMAGED"
