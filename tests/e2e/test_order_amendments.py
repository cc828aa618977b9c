"""Amendments end to end (Cin7 Core → Peoplevox): line identity, cleared fields, and a ledger that never claims
a change Peoplevox does not hold. Real DAGs under dag.test() against the simulators."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import Message, OrderRecord
from tests.e2e.conftest import task_states
from tests.e2e.orders_support import ADDRESS, cin7_reauthorise, cin7_sale, open_exceptions, wms_orders

pytestmark = pytest.mark.e2e
DAG = "northwind__order_release"
SKU = "NWO-BOOT-10"
OTHER = "NWO-BAG-REG"


@pytest.fixture
def catalogue(stack, run_dag) -> None:
    run_dag("northwind__item_master_sync")


def wms_lines_by_line(stack: Any, number: str) -> dict[str, tuple[str, str]]:
    rows = stack.peoplevox.records("northwind", "Sales order items").values()
    return {r["Line"]: (r["ItemCode"], r["QuantityOrdered"]) for r in rows if r["SalesOrderNumber"] == number}


def ledger_record(url: str, erp_id: str) -> OrderRecord:
    with session_scope(url) as s:
        return s.query(OrderRecord).filter_by(integration="northwind", erp_order_id=erp_id).one()


def applied_amendments(url: str, number: str) -> int:
    with session_scope(url) as s:
        return s.query(Message).filter_by(flow="order_amendments", entity_key=number, status="confirmed").count()


def cin7_put_sale(stack: Any, sale_id: str, **fields: Any) -> None:
    """A CX agent edits the sale header in Cin7 Core (over HTTP)."""
    creds = stack.describe()["cin7core"]["credentials"]
    headers = {"api-auth-accountid": creds["account_id"], "api-auth-applicationkey": creds["application_key"]}
    response = requests.put(f"{stack.urls['cin7core']}/sale", json={"ID": sale_id, **fields}, headers=headers,
                            timeout=10)
    assert response.status_code == 200, response.text


def test_the_same_sku_on_two_lines_stays_two_lines_with_their_own_quantities(stack, wired, run_dag,
                                                                             catalogue) -> None:
    sale = cin7_sale(stack, [(SKU, 1), (SKU, 4)])
    number = sale["Order"]["SaleOrderNumber"]
    run_dag(DAG)
    assert wms_lines_by_line(stack, number) == {"1": (SKU, "1"), "2": (SKU, "4")}

    cin7_reauthorise(stack, sale["ID"], [(SKU, 3), (SKU, 4)])
    run = run_dag(DAG)
    assert task_states(run)["apply_amendments"] == "success"
    assert wms_lines_by_line(stack, number) == {"1": (SKU, "3"), "2": (SKU, "4")}
    record = ledger_record(wired, sale["ID"])
    assert [(i["Line"], i["QuantityOrdered"]) for i in record.payload["items"]] == [("1", "3"), ("2", "4")]
    assert applied_amendments(wired, number) == 1

    cin7_reauthorise(stack, sale["ID"], [(SKU, 3), (SKU, 4), (OTHER, 2)])
    run_dag(DAG)
    assert wms_lines_by_line(stack, number) == {"1": (SKU, "3"), "2": (SKU, "4"), "3": (OTHER, "2")}
    assert not [k for k in open_exceptions(wired, "northwind") if k.endswith(number)]


def test_a_cleared_shipping_field_is_held_while_peoplevox_keeps_it_and_applied_once_it_clears(
        stack, wired, run_dag, catalogue) -> None:
    sale = cin7_sale(stack, [(SKU, 1)], ShippingAddress={**ADDRESS, "Line2": "Flat 2"})
    number = sale["Order"]["SaleOrderNumber"]
    run_dag(DAG)
    assert wms_orders(stack, "northwind")[number]["ShippingAddressLine2"] == "Flat 2"
    hash_before = ledger_record(wired, sale["ID"]).content_hash

    cin7_put_sale(stack, sale["ID"], ShippingAddress={**ADDRESS, "Line2": ""})
    run = run_dag(DAG)
    assert task_states(run)["apply_amendments"] == "success"
    assert wms_orders(stack, "northwind")[number]["ShippingAddressLine2"] == "Flat 2", "an empty cell clears nothing"
    held = open_exceptions(wired, "northwind")[f"amendment_held:{number}"]
    assert "ShippingAddressLine2" in held.summary and "Flat 2" in held.summary
    assert held.detail["cleared_in_erp"] == ["ShippingAddressLine2"]
    record = ledger_record(wired, sale["ID"])
    assert record.payload["header"]["ShippingAddressLine2"] == "Flat 2", "the ledger says what Peoplevox holds"
    assert record.content_hash == hash_before and applied_amendments(wired, number) == 0

    # The held amendment is tried again on the next run: seen again, not a new exception, still not applied.
    run_dag(DAG)
    again = open_exceptions(wired, "northwind")[f"amendment_held:{number}"]
    assert again.id == held.id and again.attempts == held.attempts + 1
    assert applied_amendments(wired, number) == 0

    # A warehouse that clears fields on an empty cell takes the change: applied, read back, exception closed.
    stack.peoplevox.settings.empty_cell_keeps_value = False
    run_dag(DAG)
    assert wms_orders(stack, "northwind")[number]["ShippingAddressLine2"] == ""
    assert f"amendment_held:{number}" not in open_exceptions(wired, "northwind")
    assert ledger_record(wired, sale["ID"]).payload["header"]["ShippingAddressLine2"] == ""
    assert applied_amendments(wired, number) == 1


def test_a_line_peoplevox_refuses_is_never_recorded_as_applied(stack, wired, run_dag, catalogue) -> None:
    sale = cin7_sale(stack, [(SKU, 1)])
    number = sale["Order"]["SaleOrderNumber"]
    run_dag(DAG)
    stack.peoplevox.settings.line_change_statuses = ()  # the warehouse locks the lines meanwhile
    cin7_reauthorise(stack, sale["ID"], [(SKU, 5)])
    run_dag(DAG)
    assert wms_lines_by_line(stack, number) == {"1": (SKU, "1")}
    held = open_exceptions(wired, "northwind")[f"amendment_held:{number}"]
    assert "line 1" in held.summary and "refused" in held.summary
    record = ledger_record(wired, sale["ID"])
    assert [i["QuantityOrdered"] for i in record.payload["items"]] == ["1"]
    assert applied_amendments(wired, number) == 0
