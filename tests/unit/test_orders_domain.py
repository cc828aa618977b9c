"""Order rules: Peoplevox rows, content hash, and the amendment plan around the cut-off."""

from __future__ import annotations

from datetime import datetime

import pytest

from erp_wms_sync.domain.amendments import Action, before_cutoff, plan_amendment
from erp_wms_sync.domain.orders import (
    Address,
    ErpOrder,
    OrderLine,
    OrderState,
    order_hash,
    order_payload,
    wms_header,
    wms_items,
    wms_number,
)


def order(*lines: tuple[str, float], **over) -> ErpOrder:
    base = dict(erp_id="id-1", number="SO-00042", state=OrderState.RELEASABLE, erp_status="ORDERED",
                location="Main Warehouse", customer="Jane Doe", email="jane@example.com",
                lines=tuple(OrderLine(sku, qty, 10.0, n) for n, (sku, qty) in enumerate(lines, 1)),
                ship_by=datetime(2026, 11, 23, 12), shipping=Address("1 High St", "", "Leeds", "", "LS1 1AA", "GB"))
    base.update(over)
    return ErpOrder(**base)  # type: ignore[arg-type]


def rows(o: ErpOrder, number: str | None = None) -> tuple[dict, list[dict]]:
    n = number or wms_number(o)
    return wms_header(o, number=n, site="MAIN", service_type="STANDARD", channel="Web"), wms_items(o, n)


def test_header_and_items_use_the_template_columns() -> None:
    header, items = rows(order(("A", 2), ("B", 1)))
    assert header["SalesOrderNumber"] == "SO-00042" and header["Site"] == "MAIN"
    assert header["RequestedDeliveryDate"] == "2026-11-23 12:00:00" and header["ShippingAddressPostcode"] == "LS1 1AA"
    assert header["ServiceType"] == "STANDARD" and header["ChannelName"] == "Web"
    assert [(i["ItemCode"], i["QuantityOrdered"], i["Line"]) for i in items] == [("A", "2", "1"), ("B", "1", "2")]


def test_hash_ignores_the_order_number_but_not_the_content() -> None:
    o = order(("A", 2))
    assert order_hash(*rows(o)) == order_hash(*rows(o, "SO-00042-R1"))
    assert order_hash(*rows(o)) != order_hash(*rows(order(("A", 3))))


@pytest.mark.parametrize("status, cutoff, before", [("New", "Picking", True), ("Allocated", "Picking", True),
                                                    ("Picking", "Picking", False), ("Despatched", "Picking", False),
                                                    ("Mystery", "Picking", False), ("new", "allocated", True)])
def test_cutoff(status: str, cutoff: str, before: bool) -> None:
    assert before_cutoff(status, cutoff) is before


def plan(old: ErpOrder, new: ErpOrder, *, status: str = "New", cancelled: bool = False, removal: str = "reissue"):
    return plan_amendment(order_payload(*rows(old)), *rows(new), cancelled=cancelled, wms_status=status,
                          cutoff="Picking", line_removal=removal)


def test_quantity_change_and_added_line_before_cutoff_are_updates_keeping_line_numbers() -> None:
    result = plan(order(("A", 2), ("B", 1)), order(("C", 5), ("A", 3), ("B", 1)))
    assert result.action is Action.UPDATE and result.header is None
    assert sorted((i["ItemCode"], i["QuantityOrdered"], i["Line"]) for i in result.items) == [("A", "3", "1"),
                                                                                             ("C", "5", "3")]


def test_header_change_sends_only_changed_fields() -> None:
    new = order(("A", 2), shipping=Address("2 Low Rd", "", "Leeds", "", "LS2 2BB", "GB"))
    result = plan(order(("A", 2)), new)
    assert result.action is Action.UPDATE and not result.items
    assert result.header == {"SalesOrderNumber": "SO-00042", "ShippingAddressLine1": "2 Low Rd",
                             "ShippingAddressPostcode": "LS2 2BB"}


def test_removed_line_reissues_or_holds() -> None:
    assert plan(order(("A", 2), ("B", 1)), order(("A", 2))).action is Action.REISSUE
    assert plan(order(("A", 2), ("B", 1)), order(("A", 2)), removal="hold").action is Action.HOLD


def test_cancel_before_and_after_cutoff() -> None:
    assert plan(order(("A", 1)), order(("A", 1)), cancelled=True, status="Allocated").action is Action.CANCEL
    blocked = plan(order(("A", 1)), order(("A", 1)), cancelled=True, status="Picking")
    assert blocked.action is Action.BLOCK and "cancelled" in blocked.reason and "Picking" in blocked.reason


def test_change_after_cutoff_is_blocked_and_no_change_is_nothing() -> None:
    assert plan(order(("A", 1)), order(("A", 2)), status="Packed").action is Action.BLOCK
    assert plan(order(("A", 1)), order(("A", 1))).action is Action.NOTHING
    assert plan(order(("A", 1)), order(("A", 2)), status="Cancelled").action is Action.NOTHING
