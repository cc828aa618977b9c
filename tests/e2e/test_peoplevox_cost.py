"""What releasing orders costs at Peoplevox, counted at the simulator's side, with the default settings.

The promise: at most 25 Peoplevox calls per 1,000 released two-line orders. One order_release run with the sample
integration's settings (``wms.save_batch_size`` 250, ``orders.batch_size`` 100 headers per call, rounds of 500
orders, read-back clauses of up to 500 order numbers, pages of 1,000 rows) costs, for N new two-line orders:

- ``validate_orders``: 1 ``Authenticate`` + 1 ``GetData`` (the ItemCodes the orders use, up to 500 per clause);
- ``release_orders``: 1 ``Authenticate``; per round of up to 500 orders ⌈orders/100⌉ header ``SaveData`` +
  ⌈2·orders/250⌉ line ``SaveData`` + ⌈2·orders/1000⌉ read-back ``GetData`` pages;
- the WSDL: 0 (kept on disk by an earlier task; at most one download a day).

For 1,000 orders (two rounds of 500): 2 + 1 + 2 × (5 + 4 + 1) = 23 calls, inside 25. The test releases the full
1,000 (about 35 s) and checks the count per kind of call, so that a regression in any one of them (a batch
restarted, a second login, a WSDL download, a crash lookup for orders never sent) is caught.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import pytest

from erp_wms_sync.connectors.peoplevox_wsdl import SHARED
from tests.e2e.conftest import task_states
from tests.e2e.orders_support import cin7_sale, wms_lines, wms_orders

pytestmark = pytest.mark.e2e
DAG = "northwind__order_release"
GOOD = ("NWO-BOOT-10", "NWO-BOOT-11", "NWO-BAG-REG")
ORDERS = 1000
BUDGET = 25
LINES = 2
HEADER_BATCH, SAVE_BATCH, ROUND, PAGE = 100, 250, 500, 1000  # the sample integration's (default) settings
CIN7_CONN = "AIRFLOW_CONN_NORTHWIND_CIN7CORE"
FAST_WINDOW = 0.5  # Cin7's 60 calls per window, for simulator and client alike: not what this test measures


def expected_calls(orders: int, lines: int = LINES) -> dict[str, int]:
    """The arithmetic of the module docstring, per endpoint."""
    rounds = [min(ROUND, orders - start) for start in range(0, orders, ROUND)]
    saves = sum(math.ceil(n / HEADER_BATCH) + math.ceil(n * lines / SAVE_BATCH) for n in rounds)
    reads = sum(math.ceil(n * lines / PAGE) for n in rounds)
    return {"Authenticate": 2, "GetData": 1 + reads, "SaveData": saves}


@pytest.fixture
def fast_cin7(stack: Any, wired: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cin7's rate limit on a short window (simulator and client), so fetching the orders is quick."""
    stack.cin7core.settings.update({"rate_limit_window_seconds": FAST_WINDOW})
    conn = json.loads(os.environ[CIN7_CONN])
    conn.setdefault("extra", {})["rate_window_seconds"] = FAST_WINDOW
    monkeypatch.setenv(CIN7_CONN, json.dumps(conn))


def peoplevox_calls(stack: Any) -> dict[str, int]:
    endpoints = stack.traffic()["peoplevox"]["endpoints"]
    return {name: int(count["answered"]) for name, count in endpoints.items() if count["answered"]}


def test_releasing_orders_stays_within_the_peoplevox_call_budget(stack, wired, fast_cin7, run_dag) -> None:
    run_dag("northwind__item_master_sync")
    numbers = []
    for index in range(ORDERS):
        lines = [(GOOD[(index + k) % len(GOOD)], 1 + k) for k in range(LINES)]
        numbers.append(cin7_sale(stack, lines)["Order"]["SaleOrderNumber"])
    stack.reset_traffic()
    SHARED.clear()  # every task of a deployment is a new process: only the WSDL kept on disk remains

    dag_run = run_dag(DAG)

    assert str(dag_run.state) == "success", task_states(dag_run)
    held = wms_orders(stack, "northwind")
    assert set(numbers) <= set(held)
    assert wms_lines(stack, "northwind", numbers[-1]) == {GOOD[(ORDERS - 1) % 3]: "1", GOOD[ORDERS % 3]: "2"}
    calls = peoplevox_calls(stack)
    assert calls == expected_calls(ORDERS), calls
    assert sum(calls.values()) <= BUDGET


def test_a_later_run_with_nothing_new_costs_no_peoplevox_call(stack, wired, fast_cin7, run_dag) -> None:
    run_dag("northwind__item_master_sync")
    cin7_sale(stack, [(GOOD[0], 1), (GOOD[1], 2)])
    run_dag(DAG)
    stack.reset_traffic()
    SHARED.clear()
    assert str(run_dag(DAG).state) == "success"
    assert peoplevox_calls(stack) == {}
