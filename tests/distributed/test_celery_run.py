"""One trading hour of the ``northwind`` integration on the distributed topology (CeleryExecutor).

Airflow runs as ``docker-compose.yaml`` runs it — api-server, scheduler, dag-processor, triggerer and a Celery
worker as separate processes, Airflow's metadata and the ledger on PostgreSQL, Redis as the broker — and the DAGs
are the same files as everywhere else. The hour: items synced, sales authorised in Cin7 Core (its webhook wakes
order release), the warehouse receives, picks and despatches them (Peoplevox's callbacks wake dispatch
confirmation). Then the invariants, read from the simulators' own APIs: every sale is in Peoplevox exactly once,
every despatch is shipped in Cin7 exactly once, the ledger on PostgreSQL agrees and holds no exception for them,
every component is still up, and no secret is in any component's log.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from benchmarks.live import SAMPLE_INTEGRATIONS

from tests.distributed.stack import COMPONENTS, DistributedStack
from tests.e2e.dispatch_support import cin7_sale, despatch, goods_in, pick, shipped, wms_orders

pytestmark = pytest.mark.distributed

NORTHWIND = "northwind"
FLOWS = ("item_master_sync", "order_release", "dispatch_confirmation")
GOOD = ("NWO-BOOT-10", "NWO-BOOT-11", "NWO-BAG-REG")
SALES = 6
WAIT = 300.0  # seconds for the scheduler, the worker and the webhooks to move every sale one step


@pytest.fixture(scope="module")
def stack() -> Iterator[DistributedStack]:
    integrations = {NORTHWIND: (SAMPLE_INTEGRATIONS / f"{NORTHWIND}.yaml").read_text(encoding="utf-8")}
    with DistributedStack(integrations=integrations, dags=[f"{NORTHWIND}__{flow}" for flow in FLOWS],
                          start_timeout=420) as running:
        # the test's own reads of Cin7 sales must not take the integration's calls (its client keeps 60/min)
        running.sim("cin7core", "POST", "/_sim/settings", json={"rate_limit_per_minute": 100_000})
        yield running


def cin7_webhooks(stack: DistributedStack) -> int:
    """How many of Cin7's sale-authorised webhooks the receiver stored in the ledger."""
    rows = stack.ledger_rows("SELECT count(*) FROM webhook_inbox WHERE integration = %s AND source = 'cin7core' "
                             "AND event_type = 'Sale/OrderAuthorised'", NORTHWIND)
    return int(rows[0][0])


@pytest.fixture(scope="module")
def hour(stack: DistributedStack) -> dict[str, Any]:
    """The trading hour, run once: what was sold and despatched."""
    report = stack.subscribe(check=False)
    stack.require_despatch_callbacks(report)
    assert "Sale/OrderAuthorised" in report.stdout + report.stderr, report.stdout[-2000:]

    run_id = stack.trigger(f"{NORTHWIND}__item_master_sync")
    stack.wait_run(f"{NORTHWIND}__item_master_sync", run_id, timeout=WAIT)
    tasks = stack.task_states(f"{NORTHWIND}__item_master_sync", run_id)
    assert tasks.get("upsert_wms_items") == "success", tasks  # its data check may alert: the sample has bad items
    for flow in FLOWS[1:]:
        stack.unpause(f"{NORTHWIND}__{flow}")

    sales = [cin7_sale(stack, [(GOOD[i % 3], 1 + i % 2), (GOOD[(i + 1) % 3], 1)]) for i in range(SALES)]
    numbers = [str(sale["Order"]["SaleOrderNumber"]) for sale in sales]
    stack.wait_for(lambda: set(numbers) <= set(wms_orders(stack, NORTHWIND)), WAIT,
                   "every authorised sale in Peoplevox (the Cin7 webhook wakes order release)")

    goods_in(stack, NORTHWIND, "MAIN", dict.fromkeys(GOOD, 100))
    for number in numbers:
        pick(stack, NORTHWIND, number)
    despatched = {number: despatch(stack, NORTHWIND, number, tracking=[f"RM{i:04d}GB"])
                  for i, number in enumerate(numbers)}
    ids = {str(sale["Order"]["SaleOrderNumber"]): str(sale["ID"]) for sale in sales}
    stack.wait_for(lambda: all(shipped(stack, ids[n]) for n in numbers), WAIT,
                   "every despatch shipped in Cin7 (Peoplevox's callbacks wake dispatch confirmation)")
    # Cin7 Core sends a webhook about a minute after the event: by now the sales were released by order release's
    # schedule or the item-sync asset; its authorisation webhooks arrive and wake order release again
    stack.wait_for(lambda: cin7_webhooks(stack) >= SALES, WAIT, "Cin7's Sale/OrderAuthorised webhooks stored")
    time.sleep(5)  # anything still in flight (a poll, a duplicate callback) has its chance to double something
    for flow in FLOWS[1:]:
        stack.wait_for(lambda flow=flow: not [r for r in stack.runs(f"{NORTHWIND}__{flow}")
                                              if r["state"] in ("queued", "running")],
                       WAIT, f"{NORTHWIND}__{flow} to have no run in progress")
    return {"numbers": numbers, "ids": ids, "despatched": despatched}


def assert_synced(stack: DistributedStack, flow: str) -> None:
    """Runs of ``flow`` were woken by webhooks, and every step of each but its data check succeeded (a data check
    alerts once about the simulator's sample sales held on purpose)."""
    woken = [r for r in stack.runs(f"{NORTHWIND}__{flow}") if r["run_type"] == "asset_triggered"
             and r["state"] not in ("queued", "running")]  # a late webhook may wake one more: judged when ended
    assert woken, f"no run of {flow} was woken by a webhook"
    for run in woken:
        tasks = stack.task_states(f"{NORTHWIND}__{flow}", str(run["dag_run_id"]))
        tasks.pop("data_check", None)
        assert tasks and set(tasks.values()) == {"success"}, (run["dag_run_id"], tasks)


def test_every_sale_is_in_the_warehouse_once_and_shipped_in_cin7_once(stack: DistributedStack,
                                                                      hour: dict[str, Any]) -> None:
    numbers, ids = hour["numbers"], hour["ids"]
    in_wms = wms_orders(stack, NORTHWIND)
    assert not [key for key in in_wms if any(key.startswith(f"{n}-R") for n in numbers)], "re-issued orders"
    lines = stack.sim("peoplevox", "GET", f"/_sim/{NORTHWIND}/records/{quote('Sales order items')}")
    per_order = Counter(str(row["SalesOrderNumber"]) for row in lines.values()
                        if row.get("SalesOrderNumber") in numbers)
    assert per_order == dict.fromkeys(numbers, 2), per_order  # both lines of every order, none twice
    boxes = {n: shipped(stack, ids[n]) for n in numbers}
    assert {n: len(b) for n, b in boxes.items()} == dict.fromkeys(numbers, 1), boxes
    assert {n: b[0]["tracking"] for n, b in boxes.items()} == {n: f"RM{i:04d}GB" for i, n in enumerate(numbers)}


def test_the_ledger_on_postgresql_agrees_and_holds_no_exception_for_them(stack: DistributedStack,
                                                                        hour: dict[str, Any]) -> None:
    numbers = hour["numbers"]
    orders = stack.ledger_rows("SELECT erp_order_number, wms_order_number FROM order_records "
                               "WHERE integration = %s AND erp_order_number = ANY(%s)", NORTHWIND, numbers)
    assert sorted(orders) == sorted((n, n) for n in numbers)
    despatches = stack.ledger_rows("SELECT wms_order_number, count(*), min(state) FROM despatches WHERE "
                                   "integration = %s AND wms_order_number = ANY(%s) GROUP BY wms_order_number",
                                   NORTHWIND, numbers)
    assert {n: (count, state) for n, count, state in despatches} == dict.fromkeys(numbers, (1, "confirmed"))
    hooks = stack.ledger_rows("SELECT source, count(*) FROM webhook_inbox WHERE integration = %s GROUP BY source",
                              NORTHWIND)
    assert {source for source, _ in hooks} >= {"cin7core", "peoplevox"}, hooks  # both webhooks went through
    assert_synced(stack, "order_release")  # and the runs they woke went through, sending nothing twice
    open_for_them = stack.ledger_rows("SELECT type, entity_key FROM exceptions WHERE integration = %s AND "
                                      "status = 'open' AND entity_key = ANY(%s)", NORTHWIND, numbers)
    assert open_for_them == []
    assert not stack.ledger_path.exists(), "something wrote a SQLite ledger beside PostgreSQL"
    assert not (stack.home / "airflow.db").exists(), "something used a SQLite metadata database"


def test_the_celery_worker_ran_the_tasks_and_every_component_is_up(stack: DistributedStack,
                                                                   hour: dict[str, Any]) -> None:
    assert stack.processes() == dict.fromkeys(["redis", "simulators", *COMPONENTS], None), stack.processes()
    worker = (stack.home / "worker.log").read_text(errors="replace")
    assert worker.count("succeeded in") >= 3 * len(FLOWS), worker[-3000:]  # Celery's own line per task it ran
    assert_synced(stack, "dispatch_confirmation")


def test_no_secret_is_in_any_component_log(stack: DistributedStack, hour: dict[str, Any]) -> None:
    cin7 = stack.sim_info["cin7core"]["credentials"]
    secrets = {str(cin7["application_key"]), stack.env["AIRFLOW__API_AUTH__JWT_SECRET"]}
    forms = {form for secret in secrets for form in (secret, base64.b64encode(secret.encode()).decode())}
    for name, log in stack.logs():
        text = log.read_text(errors="replace")
        assert not [form for form in forms if form in text], f"a secret is in {name}.log"
