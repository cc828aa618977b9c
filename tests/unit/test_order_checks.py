"""The order_release suite and the hold window, on hand-made orders (no API)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pandas as pd
import pytest

from erp_wms_sync.checks.runner import run_checks
from erp_wms_sync.checks.suites import ORDER_LINE_COLUMNS, order_release_checks
from erp_wms_sync.config import load_integration
from erp_wms_sync.domain.orders import Address, ErpOrder, OrderLine, OrderState
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.flows.order_release import build_rows, frame_rows, in_hold_window

NORTHWIND = load_integration("include/integrations/northwind.yaml")
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def order(number: str = "SO-1", location: str = "Main Warehouse", lines=(("A", 1),), carrier: str = "",
          **over) -> ErpOrder:
    base = dict(erp_id=f"id-{number}", number=number, state=OrderState.RELEASABLE, erp_status="ORDERED",
                location=location, customer="Jane", carrier=carrier,
                lines=tuple(OrderLine(s, q, 1.0, n) for n, (s, q) in enumerate(lines, 1)),
                shipping=Address("1 High St", "", "Leeds", "", "LS1 1AA", "GB"), updated=NOW.isoformat())
    base.update(over)
    return ErpOrder(**base)  # type: ignore[arg-type]


def ctx(integration=NORTHWIND):
    return SimpleNamespace(integration=integration, window=Window(NOW - timedelta(minutes=5), NOW, "test"))


def check(*orders: ErpOrder, codes=("A", "B")) -> dict[str, set[str]]:
    rows, owners, numbers = [], {}, []
    built = [build_rows(ctx(), o, o.number) for o in orders]
    for o, (header, _) in zip(orders, built, strict=True):
        owners.setdefault(header["SalesOrderNumber"], set()).add(o.erp_id)
    for o, (header, items) in zip(orders, built, strict=True):
        for row in frame_rows(header, items, len(owners[header["SalesOrderNumber"]])):
            rows.append(row)
            numbers.append(o.erp_id)
    outcome = run_checks("order_release", pd.DataFrame(rows, columns=list(ORDER_LINE_COLUMNS)),
                         order_release_checks(list(codes), 30))
    found: dict[str, set[str]] = {}
    for row, categories in outcome.categories.items():
        found.setdefault(numbers[row], set()).update(categories)
    return found


def test_clean_orders_pass() -> None:
    assert check(order("SO-1"), order("SO-2", lines=(("A", 2), ("B", 1)))) == {}


@pytest.mark.parametrize("bad, kind", [
    (order("SO-9", lines=(("ZZZ", 1),)), "unmapped_sku"),
    (order("SO-9", location="Pop-up Store"), "unmapped_location"),
    (order("SO-9", lines=(("A", -1),)), "invalid_order"),
    (order("SO-9", lines=(("A", 1.5),)), "invalid_order"),
    (order("SO-9", lines=()), "invalid_order"),
    (order("SO-9" + "X" * 30), "invalid_order"),
    (order("SO-9", shipping=Address("", "", "Leeds", "", "", "GB")), "invalid_order"),
], ids=["sku", "location", "quantity", "fraction", "no-lines", "number-length", "address"])
def test_each_problem_holds_the_order_under_its_type(bad: ErpOrder, kind: str) -> None:
    found = check(order("SO-1"), bad)
    assert set(found) == {bad.erp_id} and kind in found[bad.erp_id]


def test_an_order_number_used_by_two_erp_orders_holds_both() -> None:
    found = check(order("SO-7", erp_id="x"), order("SO-7", erp_id="y"))
    assert set(found) == {"x", "y"}


def test_an_unmapped_carrier_without_default_holds_the_order() -> None:
    strict = NORTHWIND.model_copy(update={"orders": NORTHWIND.orders.model_copy(
        update={"default_service_type": None})})
    header, _ = build_rows(ctx(strict), order(carrier="Pigeon Post"), "SO-1")
    assert header["ServiceType"] == ""
    header, _ = build_rows(ctx(strict), order(carrier="royal mail"), "SO-1")
    assert header["ServiceType"] == "RM48"


def test_hold_window() -> None:
    held = NORTHWIND.model_copy(update={"orders": NORTHWIND.orders.model_copy(update={"hold_window_minutes": 15})})
    assert in_hold_window(ctx(held), order(updated=(NOW - timedelta(minutes=5)).isoformat()))
    assert not in_hold_window(ctx(held), order(updated=(NOW - timedelta(minutes=20)).isoformat()))
    assert not in_hold_window(ctx(), order(updated=NOW.isoformat())), "no window configured"


def test_a_line_dropped_in_the_erp_is_neither_sent_nor_checked() -> None:
    header, items = build_rows(ctx(), order(lines=(("A", 0), ("B", 2))), "SO-1")
    assert [(i["ItemCode"], i["Line"]) for i in items] == [("B", "2")]
    assert check(order("SO-1", lines=(("A", 0), ("B", 2)))) == {}
