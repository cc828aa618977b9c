"""ERP → domain order mapping: one status table per ERP, one definition of open quantity, hostile answers."""

from __future__ import annotations

import pytest

from erp_wms_sync.domain.bluecherry_orders import order_from_bluecherry
from erp_wms_sync.domain.cin7_orders import cin7_state, order_from_cin7, stamp_from_sale_list
from erp_wms_sync.domain.orders import OrderState, UnreadableOrder, effective_state, open_quantity, wms_items


@pytest.mark.parametrize("answer", [{}, {"ID": ""}, {"ID": "other-sale", "Order": {"Lines": []}}],
                         ids=["empty", "blank-id", "another-id"])
def test_a_cin7_answer_that_is_not_the_sale_asked_for_is_refused(answer: dict) -> None:
    with pytest.raises(UnreadableOrder):
        order_from_cin7(answer, "AUTHORISED", expected_id="sale-1")


@pytest.mark.parametrize("status, order_status, state", [
    ("ORDERED", "AUTHORISED", OrderState.RELEASABLE), ("VOIDED", "AUTHORISED", OrderState.CANCELLED),
    ("COMPLETED", "AUTHORISED", OrderState.DONE), ("DRAFT", "AUTHORISED", OrderState.NOT_YET),
    ("ORDERED", "DRAFT", OrderState.NOT_YET)])
def test_cin7_status_table(status: str, order_status: str, state: OrderState) -> None:
    assert cin7_state(status, order_status, "AUTHORISED") is state


def test_open_quantity_is_ordered_minus_cancelled() -> None:
    assert open_quantity(5, 2) == 3 and open_quantity(2, 2) == 0 and open_quantity(3, None) == 3
    assert open_quantity(-1, None) == -1, "a negative quantity is kept so the data check holds it"


def test_a_bluecherry_line_amended_to_zero_is_dropped_and_an_order_with_none_left_counts_as_cancelled() -> None:
    raw = {"orderNumber": "100001", "status": "OPEN", "warehouse": "NJ01",
           "lines": [{"lineNo": 1, "sku": "A", "qty": 2, "cancelled": 0}, {"lineNo": 2, "sku": "B", "qty": 1,
                                                                           "cancelled": 1}]}
    order = order_from_bluecherry(raw, "OPEN")
    assert [(i["ItemCode"], i["Line"], i["QuantityOrdered"]) for i in wms_items(order, "100001")] == [("A", "1", "2")]
    assert effective_state(order) is OrderState.RELEASABLE
    raw["lines"][0]["cancelled"] = 2
    assert effective_state(order_from_bluecherry(raw, "OPEN")) is OrderState.CANCELLED


def test_a_cin7_sale_shipped_in_full_is_done_whatever_its_sale_status_says() -> None:
    """Cin7's sale Status has no shipped value: a shipped, uninvoiced simple sale stays PACKED; its combined shipping
    and fulfilment statuses say it is done (reconciliation must not call it dispatched-but-open)."""
    assert cin7_state("PACKED", "AUTHORISED", "AUTHORISED") is OrderState.RELEASABLE
    assert cin7_state("PACKED", "AUTHORISED", "AUTHORISED", shipping="SHIPPED") is OrderState.DONE
    assert cin7_state("SHIPPING", "AUTHORISED", "AUTHORISED", fulfilment="FULFILLED") is OrderState.DONE
    assert cin7_state("PACKED", "AUTHORISED", "AUTHORISED", shipping="PARTIALLY SHIPPED") is OrderState.RELEASABLE
    assert cin7_state("VOIDED", "AUTHORISED", "AUTHORISED", shipping="SHIPPED") is OrderState.CANCELLED
    row = {"SaleID": "s-1", "OrderNumber": "SO-1", "Status": "PACKED", "OrderStatus": "AUTHORISED",
           "CombinedShippingStatus": "SHIPPED", "FulFilmentStatus": "FULFILLED", "Updated": "2026-12-04T10:00:00Z"}
    assert stamp_from_sale_list(row, "AUTHORISED").state is OrderState.DONE
