"""The figures ``make bench`` measures. Each function runs in a fresh process prepared by
:func:`benchmarks.harness.prepare_airflow` and returns rows (see :func:`row`).

- :func:`gx_validation`: Great Expectations time of the order-release suite over N order lines;
- :func:`dag_parse`: a DagBag parse of the DAG folder with N integration files;
- :func:`release_calls`: one order_release run with N new Cin7 orders and a raised limit: Cin7 calls per
  released order by endpoint, Peoplevox calls per 1,000 orders, and the ``validate_orders`` time;
- :func:`release_at_limit`: the same run at Cin7's real 60 calls per minute on a scaled clock, with item
  master sync running on the same key meanwhile: orders released per real minute and 429/503 answers;
- :func:`~benchmarks.dashboard_bench.dashboard_list`: the dashboard's exceptions list, counts and detail at N open
  exceptions (the worst median answer time).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.dashboard_bench import dashboard_list  # noqa: F401 - a figure (see its module)
from benchmarks.dispatch_latency import dispatch_latency  # noqa: F401 - a figure, run live (see its module)
from benchmarks.harness import ROOT, World, timed, write_integration

RAISED_SIM_RATE = 1_000_000  # the simulator effectively unlimited: the figure counts calls, not waits
RAISED_CLIENT_RATE = 6000  # the highest budget an integration file accepts
# ... per second, not per minute (the connection's ``rate_window_seconds``, as a scaled clock sets it): at 6,000 per
# minute a run of 10,000 orders would wait for the budget and its sliding log would hold 6,000 calls, so the figure
# would time the raised budget instead of counting calls
RAISED_WINDOW_SECONDS = 1.0
CIN7_PREFIX = "/externalapi/v2"
ITEM_SYNC_RUNS = 30  # at most this many item master sync runs while order release runs at the limit
CHILD_STOP_TIMEOUT = 300


def row(figure: str, size: int, value: float | None, unit: str, **detail: Any) -> dict[str, Any]:
    """One result: ``figure`` measured at ``size`` gave ``value`` ``unit``; ``detail`` explains it."""
    return {"figure": figure, "size": size, "value": None if value is None else round(value, 4), "unit": unit,
            "detail": detail}


# ---- Great Expectations -----------------------------------------------------------------------------
def gx_validation(lines: int, workdir: Path) -> list[dict[str, Any]]:
    """Seconds to validate ``lines`` valid order lines with the order-release suite."""
    import pandas as pd

    from erp_wms_sync.checks.runner import run_checks
    from erp_wms_sync.checks.suites import order_release_checks

    codes = [f"SKU-{i:04d}" for i in range(500)]
    checks = order_release_checks(codes, 30)
    frame = pd.DataFrame({column: _column(column, lines, codes) for column in _columns(checks)})
    with timed() as clock:
        outcome = run_checks("order_release", frame, checks)
    return [row("gx_validation_seconds", lines, clock["seconds"], "s", passed=bool(outcome.success),
                checks=len(checks))]


def _columns(checks: list[Any]) -> list[str]:
    names: dict[str, None] = {}
    for check in checks:
        if "column" in check.kwargs:
            names[str(check.kwargs["column"])] = None
    return list(names)


def _column(name: str, lines: int, codes: list[str]) -> list[Any]:
    """Valid values of an order-line column, three lines per order."""
    if name == "ItemCode":
        return [codes[i % len(codes)] for i in range(lines)]
    if name == "QuantityOrdered":
        return [1 + i % 3 for i in range(lines)]
    if name == "QuantityText":
        return [str(1 + i % 3) for i in range(lines)]
    if name == "NumberOwners":
        return [1] * lines
    if name == "SalesOrderNumber":
        return [f"SO-{i // 3:06d}" for i in range(lines)]
    return [f"{name}-value"] * lines


# ---- DAG parsing ------------------------------------------------------------------------------------
def dag_parse(integrations: int, workdir: Path) -> list[dict[str, Any]]:
    """Seconds of one DagBag parse of the DAG folder with ``integrations`` integration files."""
    folder = workdir / "integrations"
    for index in range(integrations):
        write_integration(folder, name=f"brand{index:03d}")
    os.environ["ERP_WMS_INTEGRATIONS_DIR"] = str(folder)
    from airflow.dag_processing.dagbag import DagBag

    with timed() as clock:
        bag = DagBag(dag_folder=str(ROOT / "dags"))
    return [row("dag_parse_seconds", integrations, clock["seconds"], "s", dags=len(bag.dags),
                import_errors=len(bag.import_errors))]


# ---- order release, calls counted at the simulators -------------------------------------------------
def release_calls(orders: int, workdir: Path) -> list[dict[str, Any]]:
    """One order_release run with ``orders`` new orders, the Cin7 limit out of the way."""
    with World(workdir, cin7_rate=RAISED_SIM_RATE, client_rate=RAISED_CLIENT_RATE,
               window_seconds=RAISED_WINDOW_SECONDS) as world:
        world.run_dag("item_master_sync")
        numbers = world.create_orders(orders)
        world.stack.reset_traffic()
        result = world.run_dag("order_release")
        released = world.released(numbers)
        traffic = world.stack.traffic()
    per_order = max(released, 1)
    cin7 = _by_endpoint(traffic["cin7core"], CIN7_PREFIX)
    peoplevox = _by_endpoint(traffic["peoplevox"], "")
    common = {"released": released, "run": result.state, "failed_tasks": result.failed_tasks}
    return [
        row("cin7_calls_per_released_order", orders, sum(cin7.values()) / per_order, "calls/order",
            by_endpoint={k: round(v / per_order, 4) for k, v in cin7.items()}, calls=cin7, **common),
        row("peoplevox_calls_per_1000_orders", orders, 1000 * sum(peoplevox.values()) / per_order,
            "calls/1000 orders", calls=peoplevox, **common),
        row("validate_orders_seconds", orders, result.tasks.get("validate_orders", {}).get("seconds"), "s",
            tasks=result.tasks, **common),
    ]


def _by_endpoint(snapshot: dict[str, Any], prefix: str) -> dict[str, int]:
    """Answered calls per endpoint, ``prefix`` cut from the path (``GET /salelist``)."""
    calls: dict[str, int] = {}
    for name, count in snapshot["endpoints"].items():
        method, _, path = name.partition(" ")
        label = f"{method} {path[len(prefix):]}" if path.startswith(prefix) and prefix else name
        calls[label] = calls.get(label, 0) + int(count["answered"])
    return calls


def release_at_limit(orders: int, workdir: Path, scale: float) -> list[dict[str, Any]]:
    """Order release at Cin7's real limit (60 calls per minute, Retry-After off) on a clock ``scale`` times
    faster for the simulator and the client alike, while item master sync runs on the same key."""
    window = 60.0 / scale
    with World(workdir, cin7_rate=60, client_rate=60, window_seconds=window) as world:
        world.run_dag("item_master_sync")
        numbers = world.create_orders(orders)
        world.stack.reset_traffic()
        stop = workdir / "stop-item-sync"
        child = _start_item_sync(workdir, stop)
        try:
            result = world.run_dag("order_release")
        finally:
            stop.touch()
            syncs = _finish(child)
        released = world.released(numbers)
        cin7 = world.stack.traffic()["cin7core"]
    real_minutes = result.seconds * scale / 60.0
    return [row("orders_released_per_minute_at_60_per_minute", orders,
                released / real_minutes if real_minutes > 0 else None, "orders/min",
                clock_scale=scale, window_seconds=window, wall_seconds=result.seconds,
                real_minutes=round(real_minutes, 3), released=released, run=result.state,
                failed_tasks=result.failed_tasks, cin7_answered=cin7["answered"],
                cin7_refused_429_503=cin7["refused"], item_master_sync_runs=syncs)]


def _start_item_sync(workdir: Path, stop: Path) -> subprocess.Popen[str]:
    """Item master sync in another process, run after run until ``stop`` exists (bounded)."""
    command = [sys.executable, "-m", "benchmarks.run", "--item-sync-loop", str(stop),
               "--workdir", str(workdir / "item-sync")]
    return subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(child: subprocess.Popen[str]) -> int:
    """Wait for the item sync loop; the number of runs it completed (its last output line)."""
    try:
        output, _ = child.communicate(timeout=CHILD_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        output, _ = child.communicate()
    lines = [line for line in (output or "").splitlines() if line.startswith("item-sync-runs=")]
    return int(lines[-1].split("=", 1)[1]) if lines else 0


def item_sync_loop(stop: Path, workdir: Path) -> int:
    """Run northwind's item master sync until ``stop`` exists or :data:`ITEM_SYNC_RUNS` runs are done."""
    from airflow.dag_processing.dagbag import DagBag

    workdir.mkdir(parents=True, exist_ok=True)
    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["northwind__item_master_sync"]
    for task in dag.tasks:
        task.retries = 0
    runs = 0
    while runs < ITEM_SYNC_RUNS and not stop.exists():
        dag.test()
        runs += 1
        print(f"item-sync-runs={runs}", flush=True)
        time.sleep(0.5)
    return runs
