"""``erp-wms-sync simulate``: one trading day through the real DAGs, then the architecture's invariants checked at
the systems themselves.

Order of work (:func:`simulate`):

1. an isolated world in ``--workdir`` (or a temporary folder): Airflow home + migrated metadata DB, migrated SQLite
   ledger, the three simulators in process, the chosen sample integrations' connections pointed at them;
2. the scenario (seeded by ``--seed``): catalogue and opening stock in each ERP, sites in Peoplevox; then the fault
   profile (``--faults``) on every simulator;
3. the day (``--hours`` simulated hours): at each full hour the ERP's users invoice the fully shipped Cin7 Core
   sales, then every flow DAG of each integration runs once with ``dag.test()`` on the simulated clock (see
   :mod:`erp_wms_sync.simulate.dagruns`); a failed run is recorded and the day goes on;
4. faults off, the settle phase (the warehouse works on, every flow runs again, at most :data:`SETTLE_PASSES`
   passes, until a pass changes nothing), then each integration's nightly reconciliation (tried again, at most
   :data:`NIGHTLY_TRIES` times in all, when a task other than its data check failed);
5. the systems read over their APIs, every invariant checked, the summary printed and written.

While the world runs, everything the process writes to its stdout / stderr (Airflow's task logs under
``dag.test()`` included) goes to ``<workdir>/run.log`` — the captured log the secret invariant searches.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from erp_wms_sync.simulate.world import ERP_OF, World, day_start, migrate_airflow, prepare_airflow

log = logging.getLogger(__name__)

FAULT_PROFILES = ("none", "flaky", "hostile")
SETTLE_PASSES = 3
NIGHTLY_TRIES = 3
MAX_FAILED_LISTED = 50
MAX_ORDERS = 20000
MAX_HOURS = 24
MAX_SKUS = 5000


@dataclass(frozen=True)
class Options:
    """What one simulation runs: the scenario's seed and size, the fault profile and the integrations."""

    seed: int
    orders: int
    faults: str
    integrations: tuple[str, ...]
    hours: int = 8
    skus: int = 200
    out: Path | None = None
    workdir: Path | None = None
    keep: bool = False

    def problems(self) -> list[str]:
        """Every argument that is out of range or unknown (empty: the options are usable)."""
        found = []
        if self.faults not in FAULT_PROFILES:
            found.append(f"--faults must be one of {', '.join(FAULT_PROFILES)}, got {self.faults!r}")
        if not 0 < self.orders <= MAX_ORDERS:
            found.append(f"--orders must be between 1 and {MAX_ORDERS}, got {self.orders}")
        if not 1 <= self.hours <= MAX_HOURS:
            found.append(f"--hours must be between 1 and {MAX_HOURS}, got {self.hours}")
        if not 20 <= self.skus <= MAX_SKUS:
            found.append(f"--skus must be between 20 and {MAX_SKUS}, got {self.skus}")
        unknown = sorted(set(self.integrations) - set(ERP_OF))
        if unknown or not self.integrations:
            found.append(f"--integrations must name some of {', '.join(sorted(ERP_OF))}, got "
                         f"{', '.join(self.integrations) or 'none'}")
        if self.seed < 0:
            found.append(f"--seed must be 0 or more, got {self.seed}")
        return found


@contextlib.contextmanager
def captured_output(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2, so child processes and C-level writes
    too) to ``path`` for the duration of the block."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab") as target:
        os.dup2(target.fileno(), 1)
        os.dup2(target.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


@contextlib.contextmanager
def workdir_for(options: Options) -> Iterator[Path]:
    """``--workdir`` (created, kept), the supervisor's temporary folder (it removes it), or a temporary folder
    (removed afterwards unless ``keep``)."""
    if options.workdir is not None:
        options.workdir.mkdir(parents=True, exist_ok=True)
        yield options.workdir.resolve()
        return
    scratch = os.environ.get("ERP_WMS_SIMULATE_SCRATCH")
    if scratch and Path(scratch).is_dir():
        yield Path(scratch)
        return
    folder = Path(tempfile.mkdtemp(prefix="erp-wms-simulate-"))
    try:
        yield folder
    finally:
        if not options.keep:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


Tamper = Callable[[World], None]


def simulate(options: Options, tamper: Tamper | None = None) -> dict[str, Any]:
    """Run the whole simulation; returns the summary (``summary["ok"]``: every invariant held).

    ``tamper`` is called with the world after the day (simulators still running), before the systems are read:
    a test breaks an invariant on purpose through it."""
    started = time.perf_counter()
    with workdir_for(options) as folder:
        prepare_airflow(folder / "airflow")
        migrate_airflow(folder / "airflow")
        logfile = folder / "run.log"
        with World(folder, options.integrations, options.seed, options.skus, options.hours) as world:
            with captured_output(logfile):
                result = _run_day(world, options)
                if tamper is not None:
                    tamper(world)
                from erp_wms_sync.simulate.observe import observe

                with world.scenario.clock.running():  # the simulators' rate limits count on the simulated clock
                    observation = observe(world, options.integrations, result.watcher)
            summary = summarise(options, world, result, observation, logfile, folder)
        summary["wall_seconds"] = round(time.perf_counter() - started, 1)
        summary["workdir"] = str(folder) if (options.workdir is not None or options.keep) else None
        if options.out is not None:
            write_summary(summary, options.out)
    return summary


def write_summary(summary: Mapping[str, Any], path: Path) -> None:
    """The summary as indented JSON in ``path`` (its folder created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")


@dataclass
class DayResult:
    """What the day did: the scenario's log, every DAG run, the settle passes taken, the faults that fired, the
    snapshots taken during the day, and the simulators' call counts at the end of the day (before the systems are
    read for the invariants; the during-day snapshots of invariant 4 are a few list calls to Cin7 Core per tick)."""

    day: Any
    runner: Any
    settle_passes: int
    faults_fired: dict[str, dict[str, int]]
    watcher: Any
    traffic: dict[str, Any]


def summarise(options: Options, world: World, result: DayResult, observation: Mapping[str, Any], logfile: Path,
              folder: Path) -> dict[str, Any]:
    """The summary (see :mod:`erp_wms_sync.simulate.summary`), invariants included; the secret invariant also
    searches the summary itself."""
    from erp_wms_sync.simulate import summary as sm

    runs = [run.to_dict() for run in result.runner.runs]
    summary: dict[str, Any] = {
        "seed": options.seed, "orders": options.orders, "faults": options.faults,
        "integrations": list(options.integrations), "hours": options.hours, "skus": options.skus,
        "scenario": {**result.day.to_dict(), "settle_passes": result.settle_passes},
        "flows": sm.flow_counts(runs, world.ledger_url),
        "exceptions": sm.exception_counts(observation["exceptions"]),
        "api_calls": sm.api_calls(result.traffic), "faults_fired": result.faults_fired,
        "despatch_latency_minutes": sm.despatch_latency(observation["integrations"]),
        "failed_runs": [run for run in runs if run["state"] != "success"][:MAX_FAILED_LISTED],
    }
    texts = sm.texts_to_search(logfile, folder, observation["exceptions"])
    texts["summary"] = json.dumps(summary, default=str)
    verdicts = sm.check_invariants(observation, runs, world.secrets(), texts)
    summary["invariants"] = [verdict.to_dict() for verdict in verdicts]
    summary["ok"] = all(verdict.ok for verdict in verdicts)
    return summary


def _run_day(world: World, options: Options) -> DayResult:
    from erp_wms_sync.simulate.dagruns import bundle_synced_once

    with bundle_synced_once():
        return _day_and_settle(world, options)


def _day_and_settle(world: World, options: Options) -> DayResult:
    from erp_wms_sync.simulate.dagruns import NIGHTLY_FLOW, DagRunner
    from erp_wms_sync.simulate.observe import Watcher, integration_clients
    from erp_wms_sync.simulate.world import DayLog, invoice_shipped, trading_day, warehouse_hour

    watcher = Watcher(integration_clients(tuple(n for n in options.integrations if ERP_OF[n] == "cin7core")))
    runner = DagRunner(options.integrations, watcher.after_run).load()
    scenario = world.make_scenario(day_start(options.hours))
    scenario.seed_catalogue()
    world.set_faults(options.faults)

    invoiced = 0

    def tick(_moment: datetime) -> None:
        nonlocal invoiced
        invoiced += invoice_shipped(scenario)
        runner.tick(scenario.clock, "day")

    day = trading_day(scenario, options.orders, options.hours, tick)
    fired = {name: dict(state.faults.to_dict().get("fired", {})) for name, state in world.stack.states.items()}
    world.set_faults("none")
    passes = 0
    settle_log = DayLog()
    for passes in range(1, SETTLE_PASSES + 1):
        before = _progress(world)
        warehouse_hour(scenario, settle_log)
        invoiced += invoice_shipped(scenario)
        with scenario.clock.running():
            runs = runner.tick(scenario.clock, f"settle-{passes}")
        if not any(run.failed for run in runs) and _progress(world) == before:
            break
    day.warehouse.update(settle_log.warehouse)
    day.returns_received += settle_log.returns_received
    day.invoiced = invoiced
    nightly = [dag_id for name in options.integrations for dag_id in runner.flows(name, (NIGHTLY_FLOW,))]
    for _ in range(NIGHTLY_TRIES):  # a try that broke (not just its data check) is tried again, as its retries would
        with scenario.clock.running():
            done = [runner.run(dag_id, scenario.clock, "nightly") for dag_id in nightly]
        nightly = [run.dag_id for run in done if set(run.failed_tasks) - {"data_check"}]
        if not nightly:
            break
    return DayResult(day, runner, passes, fired, watcher, world.stack.traffic())


def _progress(world: World) -> tuple[Any, ...]:
    """A fingerprint of what the integration moved (ledger states) and where the warehouse's orders are; the same
    before and after a settle pass means nothing was left to do."""
    from sqlalchemy import text

    from erp_wms_sync.ledger.db import session_scope

    with session_scope(world.ledger_url) as session:
        rows: list[tuple[Any, ...]] = []
        for table in ("order_records", "despatches", "stock_queue", "returns", "exceptions"):
            column = "status" if table == "exceptions" else "state"
            rows += [(table, *row) for row in session.execute(
                text(f"SELECT {column}, COUNT(*) FROM {table} GROUP BY {column} ORDER BY {column}"))]
    for erp, side in sorted(world.scenario.wms.items()):
        statuses = Counter(str(row.get("Status", "")) for row in side.orders_table().values())
        rows.append((erp, *sorted(statuses.items())))
    return tuple(rows)
