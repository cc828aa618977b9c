"""Backfill on a running scheduler: order release paused while Cin7 Core keeps selling, then its missed windows
backfilled through Airflow's REST API, as the UI's Trigger → Backfill does (``POST /api/v2/backfills``).

What a user sees: every sale authorised while the integration was paused is in Peoplevox exactly once (one sales
order, its lines at the ordered quantities, one release message in the ledger), and backfilling the same windows
again ("All Runs": ``reprocess_behavior: completed``) re-runs them and changes nothing — no second Peoplevox order
or line, the ledger's order rows and messages untouched.

Airflow starts no backfill run of a paused DAG, so the DAG is unpaused for the backfill (the UI's "unpause on
trigger"); the scheduler then also starts the scheduled run of the latest window, which runs beside the backfill's
runs (Airflow counts backfill runs apart from the others). Whichever run reaches a sale first releases it, and it is
released once: that overlap is the exactly-once property under test. An order release window reads the orders
changed since its start, so each backfilled window reads every missed sale.

Airflow's metadata database is PostgreSQL here, as in production: Airflow refuses to create a backfill on SQLite
while its other components write (503). The ledger is the demo's SQLite file.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from benchmarks.live import SAMPLE_INTEGRATIONS, LiveStack

from tests.distributed.stack import PostgresLiveStack
from tests.e2e.dispatch_support import cin7_sale, wms_orders

pytestmark = pytest.mark.e2e

NORTHWIND = "northwind"
ORDER_RELEASE = f"{NORTHWIND}__order_release"
ITEM_SYNC = f"{NORTHWIND}__item_master_sync"
GOOD = ("NWO-BOOT-10", "NWO-BOOT-11", "NWO-BAG-REG")
WINDOW = timedelta(minutes=5)  # northwind's order release: "*/5 * * * *"
WINDOWS = 2
SALES = 3
WAIT = 300.0
BUSY_TRIES = 6  # a 503 (the metadata database busy) is asked again, as a user would press the button again


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _window_start(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveStack]:
    text = (SAMPLE_INTEGRATIONS / f"{NORTHWIND}.yaml").read_text(encoding="utf-8").rstrip("\n") + "\n"
    # only the two flows under test run: the others' first runs would crowd the machine at start-up
    text += ("paused_flows: [dispatch_confirmation, inventory_sync, returns, reconciliation, exception_housekeeping, "
             "webhook_subscriptions, exception_digest]\n")
    with PostgresLiveStack(integrations={NORTHWIND: text}, dags=[ITEM_SYNC, ORDER_RELEASE]) as stack:
        stack.sim("cin7core", "POST", "/_sim/settings", json={"rate_limit_per_minute": 100_000})
        yield stack


def backfill(live: LiveStack, windows: list[datetime]) -> dict[str, Any]:
    """``POST /api/v2/backfills`` over ``windows`` (logical dates), "All Runs", one run at a time."""
    for attempt in range(BUSY_TRIES):
        answer = live.api("POST", "/api/v2/backfills", json={
            "dag_id": ORDER_RELEASE, "from_date": windows[0].isoformat(), "to_date": windows[-1].isoformat(),
            "run_backwards": False, "dag_run_conf": {}, "reprocess_behavior": "completed", "max_active_runs": 1})
        if answer.status_code != 503:
            break
        time.sleep(2 + 3 * attempt)
    assert answer.status_code in (200, 201), answer.text[:500]
    return dict(answer.json())


def completed(live: LiveStack, backfill_id: int) -> dict[str, Any]:
    """The backfill once the scheduler marked it completed (every run ended)."""
    def done() -> dict[str, Any] | None:
        found = live.api("GET", f"/api/v2/backfills/{backfill_id}").json()
        return dict(found) if found.get("completed_at") else None
    return live.wait_for(done, WAIT, f"backfill {backfill_id} to complete")


def runs_of(live: LiveStack, windows: list[datetime]) -> dict[datetime, dict[str, Any]]:
    """The runs over the backfilled windows, by logical date."""
    found = {_when(r["logical_date"]): r for r in live.runs(ORDER_RELEASE)
             if r.get("logical_date") and _when(r["logical_date"]) in windows}
    assert sorted(found) == windows, f"runs for {windows}: {sorted(found)}"
    return found


def idle(live: LiveStack) -> bool:
    """No order release run queued or running, and every task of the ended ones ended too."""
    return not [r for r in live.runs(ORDER_RELEASE) if r["state"] in ("queued", "running")]


def ledger(live: LiveStack, numbers: list[str]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The ledger's order rows and release messages of these orders."""
    marks = ",".join("?" for _ in numbers)
    with closing(sqlite3.connect(f"file:{live.ledger_path}?mode=ro", uri=True, timeout=30)) as db:
        orders = db.execute(f"SELECT erp_order_number, state, wms_order_number, version, content_hash "
                            f"FROM order_records WHERE integration = ? AND erp_order_number IN ({marks}) "
                            "ORDER BY erp_order_number", (NORTHWIND, *numbers)).fetchall()
        messages = db.execute(f"SELECT entity_key, idempotency_key, status, content_hash, run_id FROM messages "
                              f"WHERE integration = ? AND entity_type = 'order' AND entity_key IN ({marks}) "
                              "ORDER BY id", (NORTHWIND, *numbers)).fetchall()
    return orders, messages


def wms_lines(live: LiveStack, numbers: list[str]) -> dict[str, Counter[str]]:
    """Peoplevox's lines of these orders: order number -> item code -> quantity ordered."""
    found: dict[str, Counter[str]] = {}
    rows = live.sim("peoplevox", "GET", f"/_sim/{NORTHWIND}/records/{quote('Sales order items')}")
    for row in rows.values():
        if row.get("SalesOrderNumber") in numbers:
            found.setdefault(str(row["SalesOrderNumber"]), Counter())[str(row["ItemCode"])] += int(
                float(row.get("QuantityOrdered") or 0))
    return found


def paused_between_runs(live: LiveStack) -> bool:
    """Pause order release while no run of it is queued or running (True); if one slipped in between the look and
    the pause, unpause so it can finish (Airflow schedules no further task of a paused DAG) and look again."""
    if not idle(live):
        return False
    live.pause(ORDER_RELEASE)
    if not idle(live):
        live.unpause(ORDER_RELEASE)
        return False
    return True


@pytest.fixture(scope="module")
def missed(live: LiveStack) -> dict[str, Any]:
    """Items synced; order release paused (between two of its runs) while three sales are authorised; then the
    last two ended windows backfilled, the DAG unpaused for it."""
    live.wait_run(ITEM_SYNC, live.trigger(ITEM_SYNC), timeout=WAIT)
    live.wait_for(lambda: paused_between_runs(live), WAIT, f"a moment to pause {ORDER_RELEASE} between runs")
    sales = [cin7_sale(live, [(GOOD[i % 3], i + 1), (GOOD[(i + 1) % 3], 2)]) for i in range(SALES)]
    numbers = [str(s["Order"]["SaleOrderNumber"]) for s in sales]
    expected = {}
    for i, number in enumerate(numbers):
        expected[number] = Counter({GOOD[i % 3]: i + 1}) + Counter({GOOD[(i + 1) % 3]: 2})
    assert not set(numbers) & set(wms_orders(live, NORTHWIND)), "released while paused"

    now = datetime.now(UTC)
    if now - _window_start(now) < timedelta(seconds=5):  # Airflow backfills only windows that have ended
        time.sleep(6)
    last = _window_start(datetime.now(UTC)) - WINDOW
    windows = [last - WINDOW * k for k in reversed(range(WINDOWS))]
    first = backfill(live, windows)
    live.unpause(ORDER_RELEASE)  # the UI's "unpause on trigger": no backfill run starts while the DAG is paused
    completed(live, int(first["id"]))
    live.wait_for(lambda: idle(live), WAIT, f"{ORDER_RELEASE} to have no run in progress")
    live.pause(ORDER_RELEASE)  # nothing but the backfills from here on
    return {"numbers": numbers, "lines": expected, "windows": windows, "first": first,
            "first_runs": runs_of(live, windows)}


def assert_synced(live: LiveStack, runs: dict[datetime, dict[str, Any]]) -> None:
    """Every run is a backfill run over its own window, and each of its sync steps succeeded (its data check may
    alert: the simulator's sample sales include some held on purpose, and the first run to hold one alerts)."""
    assert {w: r["run_type"] for w, r in runs.items()} == dict.fromkeys(runs, "backfill"), runs
    assert [(_when(r["data_interval_start"]), _when(r["data_interval_end"])) for r in runs.values()] == [
        (w, w + WINDOW) for w in runs]
    for run in runs.values():
        tasks = live.task_states(ORDER_RELEASE, str(run["dag_run_id"]))
        tasks.pop("data_check", None)
        assert tasks and set(tasks.values()) == {"success"}, (run["dag_run_id"], tasks)


def test_a_backfill_releases_every_order_missed_while_paused_exactly_once(live: LiveStack,
                                                                           missed: dict[str, Any]) -> None:
    numbers = missed["numbers"]
    assert_synced(live, missed["first_runs"])
    in_wms = wms_orders(live, NORTHWIND)
    assert not [k for k in in_wms if any(k.startswith(f"{n}-R") for n in numbers)], "re-issued orders"
    assert set(numbers) <= set(in_wms)
    assert wms_lines(live, numbers) == missed["lines"]
    orders, messages = ledger(live, numbers)
    assert [(o[0], o[1], o[2]) for o in orders] == [(n, "released", n) for n in sorted(numbers)], orders
    assert Counter(m[0] for m in messages) == dict.fromkeys(numbers, 1), messages  # one release each


def test_backfilling_the_same_windows_again_changes_nothing(live: LiveStack, missed: dict[str, Any]) -> None:
    numbers, windows = missed["numbers"], missed["windows"]
    before = (ledger(live, numbers), wms_orders(live, NORTHWIND), wms_lines(live, numbers))
    time.sleep(5)  # the first backfill's task processes have reported their last state
    again = backfill(live, windows)
    assert again["id"] != missed["first"]["id"]
    live.unpause(ORDER_RELEASE)
    completed(live, int(again["id"]))
    live.wait_for(lambda: idle(live), WAIT, f"{ORDER_RELEASE} to have no run in progress")
    runs = runs_of(live, windows)
    assert_synced(live, runs)
    for window, run in runs.items():  # the same runs, cleared and run again
        assert _when(run["end_date"]) > _when(missed["first_runs"][window]["end_date"]), run
    assert (ledger(live, numbers), wms_orders(live, NORTHWIND), wms_lines(live, numbers)) == before
