"""Inventory sync at Cin7 Core's real limit: stock movements applied per real minute and Cin7 calls per 1,000
movements, while order release and dispatch confirmation run on the same Cin7 key in another process.

The Peoplevox floor makes ``movements`` stock movements (goods in, stock counts, write-offs, damaged stock to
quarantine) over the benchmark's SKUs after a first run opened their positions, and despatches released orders
(their confirmations in Cin7 are what the other process does meanwhile: pick, pack and ship at HIGH priority); then
one inventory_sync run applies the movements. The Cin7 simulator enforces 60 calls per (scaled) minute with
Retry-After off, and the client keeps the same budget on the same scaled clock. After the other process stopped, a
last run applies what waited for dispatch confirmation and the figure says whether Cin7 then equals Peoplevox.
Counted at the simulators and in the ledger.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import GOOD_SKUS, INTEGRATION, ROOT, World

SITE = "MAIN"
LOOP_RUNS = 60  # at most this many dispatch / order release runs while inventory sync runs
SYNC_RUNS = 20  # at most this many inventory sync runs to apply every movement
CHILD_STOP_TIMEOUT = 300


def stock_at_limit(movements: int, workdir: Path, scale: float) -> list[dict[str, Any]]:
    from erp_wms_simulators.peoplevox import Warehouse
    from erp_wms_sync.ledger.db import session_scope
    from erp_wms_sync.ledger.models import StockMovementRecord

    window = 60.0 / scale
    with World(workdir, cin7_rate=60, client_rate=60, window_seconds=window) as world:
        world.run_dag("item_master_sync")
        floor = Warehouse(world.stack.peoplevox, INTEGRATION)
        for sku in GOOD_SKUS:
            floor.goods_in(sku, 10_000, SITE)
        opening = world.run_dag("inventory_sync")  # opens the positions: not measured
        first_new = max(m.history_id for m in floor.movements()) + 1
        shipped = world.create_orders(max(10, movements // 100))
        world.run_dag("order_release")
        for number in shipped:  # despatched now; dispatch confirmation ships them in Cin7 during the measured run
            floor.allocate(number)
            floor.start_picking(number)
            floor.pick(number)
            floor.despatch(number, carrier="Royal Mail", tracking=f"RM{number}")
        make_movements(floor, movements)
        world.create_orders(max(10, movements // 20))  # order release has new work on the shared key
        world.stack.reset_traffic()
        stop = workdir / "stop-release"
        child = start_release_loop(workdir, stop)
        started = time.perf_counter()
        runs: list[Any] = []
        waited = 0
        try:  # inventory sync runs until every movement is applied (the ones behind a despatch wait for its
            for _ in range(SYNC_RUNS):  # confirmation by the other process), at most SYNC_RUNS runs
                runs.append(world.run_dag("inventory_sync"))
                waiting = _count(world.ledger_url, "waiting") + _count(world.ledger_url, "queued")
                waited = max(waited, waiting)
                if not waiting:
                    break
        finally:
            stop.touch()
            releases = finish(child)
        seconds = time.perf_counter() - started
        cin7 = world.stack.traffic()["cin7core"]
        with session_scope(world.ledger_url) as session:
            applied = session.query(StockMovementRecord).filter(
                StockMovementRecord.history_id >= first_new, StockMovementRecord.state == "applied").count()
        left = _count(world.ledger_url, "waiting") + _count(world.ledger_url, "queued")
        world.run_dag("dispatch_confirmation")  # whatever the other process had not confirmed yet
        settled = world.run_dag("inventory_sync")  # then whatever still waited for it
        on_hand = {sku: float(world.stack.cin7core.availability(sku, "Main Warehouse")["OnHand"])
                   for sku in GOOD_SKUS}
        counted = {sku: sum(r["on_hand"] for r in floor.stock(sku, SITE) if r["location"] != "QUARANTINE")
                   for sku in GOOD_SKUS}
    adjustments = sum(c["answered"] for name, c in cin7["endpoints"].items()
                      if name.upper().startswith("POST") and name.lower().endswith("/stockadjustment"))
    stock_calls = sum(c["answered"] + c["refused"] for name, c in cin7["endpoints"].items()
                      if "stockadjustment" in name.lower())
    real_minutes = seconds * scale / 60.0
    common = {"clock_scale": scale, "window_seconds": window, "wall_seconds": round(seconds, 3),
              "real_minutes": round(real_minutes, 3), "applied": applied, "movements": movements,
              "inventory_runs": len(runs), "left_after_runs": left,
              "run": runs[-1].state if runs else "none",
              "failed_tasks": sorted({t for r in runs for t in r.failed_tasks}), "opening_run": opening.state,
              "cin7_answered": cin7["answered"], "cin7_refused_429_503": cin7["refused"],
              "loop_runs": releases, "cin7_equals_peoplevox": on_hand == counted,
              "waiting_for_dispatch": waited, "despatched_orders": len(shipped), "settling_run": settled.state,
              "by_endpoint": {k: v["answered"] for k, v in cin7["endpoints"].items() if v["answered"]}}
    return [
        row("stock_movements_applied_per_minute_at_60_per_minute", movements,
            applied / real_minutes if real_minutes > 0 else None, "movements/min", **common),
        row("cin7_calls_per_1000_movements", movements, 1000 * stock_calls / max(applied, 1),
            "calls/1000 movements", adjustments=adjustments, **common),
    ]


def _count(url: str, state: str) -> int:
    from erp_wms_sync.ledger.db import session_scope
    from erp_wms_sync.ledger.models import StockMovementRecord

    with session_scope(url) as session:
        return session.query(StockMovementRecord).filter(StockMovementRecord.state == state).count()


def row(figure: str, size: int, value: float | None, unit: str, **detail: Any) -> dict[str, Any]:
    return {"figure": figure, "size": size, "value": None if value is None else round(value, 4), "unit": unit,
            "detail": detail}


def make_movements(floor: Any, count: int) -> None:
    """``count`` movements over the benchmark's SKUs: goods in, counts, write-offs and quarantine in turn."""
    made = 0
    step = 0
    while made < count:
        sku = GOOD_SKUS[step % len(GOOD_SKUS)]
        kind = step % 4
        step += 1
        if kind == 0:
            floor.goods_in(sku, 3, SITE)
        elif kind == 1:
            held = sum(r["on_hand"] for r in floor.stock(sku, SITE) if r["location"] != "QUARANTINE")
            if floor.stock_count(sku, SITE, held - 1) is None:
                continue
        elif kind == 2:
            floor.adjust(sku, SITE, -1, reason="Damaged in store")
        else:
            floor.adjust(sku, SITE, 1, location="QUARANTINE")
        made += 1


def start_release_loop(workdir: Path, stop: Path) -> subprocess.Popen[str]:
    """Order release in another process, started and running its first run before this returns (the child
    prints a line when it begins; a child that exits or stays silent for a long time is waited for no more)."""
    command = [sys.executable, "-m", "benchmarks.stock_sync", str(stop), str(workdir / "release-loop")]
    child = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    assert child.stdout is not None
    for _ in range(10_000):  # bounded: the child's start-up log lines, then its ready line
        line = child.stdout.readline()
        if not line or line.startswith("release-loop-ready"):
            break
    time.sleep(2.0)  # its first run is under way
    return child


def finish(child: subprocess.Popen[str]) -> int:
    try:
        output, _ = child.communicate(timeout=CHILD_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        output, _ = child.communicate()
    lines = [line for line in (output or "").splitlines() if line.startswith("release-runs=")]
    return int(lines[-1].split("=", 1)[1]) if lines else 0


def release_loop(stop: Path, workdir: Path) -> int:
    """Run the benchmark integration's dispatch confirmation and order release in turn until ``stop`` exists or
    :data:`LOOP_RUNS` runs are done."""
    from airflow.dag_processing.dagbag import DagBag

    workdir.mkdir(parents=True, exist_ok=True)
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    dags = [bag.dags[f"{INTEGRATION}__{flow}"] for flow in ("dispatch_confirmation", "order_release")]
    for dag in dags:
        for task in dag.tasks:
            task.retries = 0
    runs = 0
    print("release-loop-ready", flush=True)
    while runs < LOOP_RUNS and not stop.exists():
        dags[runs % 2].test()
        runs += 1
        print(f"release-runs={runs}", flush=True)
        time.sleep(0.5)
    return runs


if __name__ == "__main__":
    release_loop(Path(sys.argv[1]), Path(sys.argv[2]))
