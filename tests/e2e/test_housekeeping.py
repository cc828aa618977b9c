"""exception_housekeeping end to end: real DAGs under dag.test() against the simulators.

An order held for an item Peoplevox lacks is closed by housekeeping once the item exists (and released by the next
order release run); a Peoplevox outage during housekeeping's check is an ``api_unavailable`` exception until
Peoplevox answers again; a released order not despatched within the deadline is one breach, closed once its
despatch is confirmed. Each run's "now" is its window end, so a run started with a later ``window_end`` stands for
a run that much later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from erp_wms_simulators.cin7core import demo as c7_demo
from erp_wms_simulators.faults import FaultRule
from erp_wms_simulators.peoplevox import Warehouse
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import ExceptionRecord
from tests.e2e.conftest import task_states
from tests.e2e.orders_support import cin7_sale, open_exceptions, wms_orders

pytestmark = pytest.mark.e2e
HOUSEKEEPING = "northwind__exception_housekeeping"
RELEASE = "northwind__order_release"
GOOD = ("NWO-BOOT-10", "NWO-BOOT-11")


def later(**delta: float) -> dict[str, str]:
    """Run conf for a housekeeping run that stands ``delta`` from now."""
    end = datetime.now(UTC) + timedelta(**delta)
    return {"window_start": (end - timedelta(minutes=5)).isoformat(), "window_end": end.isoformat()}


def exception_row(url: str, exception_id: int) -> ExceptionRecord:
    with session_scope(url) as s:
        row = s.get(ExceptionRecord, exception_id)
        assert row is not None
        _ = list(row.history)
        s.expunge_all()
        return row


@pytest.fixture
def catalogue(run_dag) -> None:
    run_dag("northwind__item_master_sync")


def test_a_held_order_and_an_outage_are_retried_and_closed_as_the_simulators_recover(stack, wired, run_dag,
                                                                                    catalogue) -> None:
    sale = cin7_sale(stack, [(GOOD[0], 1), (c7_demo.BLANK_NAME_SKU, 1)])
    number = sale["Order"]["SaleOrderNumber"]
    run_dag(RELEASE)
    hold = open_exceptions(wired, "northwind")[f"unmapped_sku:{number}"]
    codes = hold.detail["unknown_skus"]

    # Peoplevox is down when the hold is due: the check fails, recorded, and the outage is an exception
    stack.peoplevox.faults.add_rule(FaultRule("http_5xx", endpoint="*"))
    down = run_dag(HOUSEKEEPING, **later(minutes=6))
    assert task_states(down)["retry_due"] == "success" and task_states(down)["data_check"] == "failed"
    outage = open_exceptions(wired, "northwind")["api_unavailable:peoplevox"]
    assert outage.owner == "integration-engineer"
    retried = exception_row(wired, hold.id)
    assert retried.attempts == 2 and retried.history[-1].outcome == "retried"
    assert "peoplevox did not answer" in (retried.history[-1].message or "")

    # Peoplevox answers again and the data team created the item there by hand
    stack.peoplevox.faults.clear()
    stack.peoplevox.seed("northwind", "Item types", [{"ItemCode": code, "Name": "Merino Neck Gaiter M"}
                                                     for code in codes])
    back = run_dag(HOUSEKEEPING, **later(minutes=30))
    assert task_states(back)["data_check"] == "success", "nothing new: the outage already alerted once"
    still_open = open_exceptions(wired, "northwind")
    assert f"unmapped_sku:{number}" not in still_open and "api_unavailable:peoplevox" not in still_open
    closed = exception_row(wired, hold.id)
    assert closed.resolved_by == "exception_housekeeping" and "Peoplevox has" in (closed.resolution_note or "")
    assert exception_row(wired, outage.id).resolution_note.startswith("cause gone: peoplevox answers again")

    run_dag(RELEASE)
    assert number in wms_orders(stack, "northwind"), "the next order release run releases the order"


def test_a_missed_despatch_deadline_is_one_breach_closed_once_confirmed(stack, wired, run_dag, catalogue) -> None:
    sale = cin7_sale(stack, [(GOOD[0], 1), (GOOD[1], 1)])
    number = sale["Order"]["SaleOrderNumber"]
    assert task_states(run_dag(RELEASE))["release_orders"] == "success"

    first = run_dag(HOUSEKEEPING, **later(hours=49))
    assert task_states(first)["data_check"] == "failed", "a new breach alerts"
    breach = open_exceptions(wired, "northwind")[f"stage_deadline_breached:{number}"]
    assert breach.owner == "ops" and breach.detail["stage"] == "despatch" and "48 h" in breach.summary
    second = run_dag(HOUSEKEEPING, **later(hours=49, minutes=5))
    assert task_states(second)["data_check"] == "success", "the same breach never alerts twice"
    assert [h.outcome for h in exception_row(wired, breach.id).history] == ["raised"]

    warehouse = Warehouse(stack.peoplevox, "northwind")
    for sku in GOOD:
        warehouse.goods_in(sku, 5, "MAIN")
    warehouse.allocate(number)
    warehouse.start_picking(number)
    warehouse.pick(number)
    warehouse.despatch(number, carrier="Royal Mail", tracking="RM1")
    assert task_states(run_dag("northwind__dispatch_confirmation"))["confirm_despatches"] == "success"

    moved: Any = run_dag(HOUSEKEEPING, **later(hours=49, minutes=10))
    assert task_states(moved)["data_check"] == "success"
    row = exception_row(wired, breach.id)
    assert row.status == "resolved" and (row.resolution_note or "").startswith("cause gone: order")
    assert f"stage_deadline_breached:{number}" not in open_exceptions(wired, "northwind")
