"""The real DAGs of the chosen integrations, run with ``dag.test()`` on the scenario's simulated clock.

Windows: a manual run under ``dag.test()`` gets, by default, the wall clock as its logical date and a data interval
inferred from the cron timetable, so its window would end at the wall clock while every record the simulators hold
carries simulated time. Each run here is therefore started with ``logical_date=None`` and ``run_after`` = the
simulated clock: with no data interval, :func:`erp_wms_sync.domain.windows.resolve_window` reads from the flow's
watermark (less the look-back) to ``run_after`` — exactly the simulated time since the last completed window, so a
failed run's window is read again by the next tick.

Task retries: every task's ``retries`` is set to 0 for the simulation (Airflow's retry delay is a real minute or
more, and ``dag.test()`` would wait for it). A run that fails is recorded and the next tick's run picks the work up
from the unchanged watermark; the transport's own retries (5xx, timeouts, 429 with ``Retry-After``) still apply
inside each call.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from erp_wms_sync.connectors.redaction import start_afresh
from erp_wms_sync.simulate.world import DAGS_FOLDER

log = logging.getLogger(__name__)

#: Flows run at every tick, in this order (those an integration has no DAG for are skipped).
TICK_FLOWS = ("item_master_sync", "order_release", "dispatch_confirmation", "inventory_sync", "returns",
              "exception_housekeeping")
NIGHTLY_FLOW = "reconciliation"
FAILED_STATES = ("failed", "upstream_failed")


@dataclass(frozen=True)
class RunRecord:
    """One DAG run: which, when (simulated), in which phase, its state, failed tasks and wall seconds."""

    dag_id: str
    integration: str
    flow: str
    phase: str
    run_id: str
    simulated_at: str
    state: str
    failed_tasks: tuple[str, ...]
    seconds: float

    @property
    def failed(self) -> bool:
        return self.state != "success"

    def to_dict(self) -> dict[str, Any]:
        return {"dag_id": self.dag_id, "phase": self.phase, "run_id": self.run_id, "at": self.simulated_at,
                "state": self.state, "failed_tasks": list(self.failed_tasks), "seconds": self.seconds}


@contextlib.contextmanager
def bundle_synced_once() -> Iterator[None]:
    """``dag.test()`` re-parses the DAG folder and re-serialises every DAG of the bundle into the metadata DB on
    every call (so sibling DAGs exist, apache/airflow#64884); the simulation's DAG files never change while it
    runs, so inside this block the bundle is parsed and synced on the first call only (about half of each
    ``dag.test()`` otherwise). The DAG object each run executes is the one :class:`DagRunner` loaded."""
    from airflow.dag_processing import dagbag as module

    real_bag, real_sync = module.BundleDagBag, module.sync_bag_to_db
    bags: dict[tuple[str, str], Any] = {}
    synced: set[tuple[str, str | None]] = set()

    def cached_bag(*args: Any, **kwargs: Any) -> Any:
        key = (str(kwargs.get("dag_folder")), str(kwargs.get("bundle_name")))
        if key not in bags:
            bags[key] = real_bag(*args, **kwargs)
        return bags[key]

    def sync_once(dagbag: Any, bundle_name: str, bundle_version: str | None, *args: Any, **kwargs: Any) -> Any:
        if (bundle_name, bundle_version) in synced:
            return None
        synced.add((bundle_name, bundle_version))
        return real_sync(dagbag, bundle_name, bundle_version, *args, **kwargs)

    module.BundleDagBag, module.sync_bag_to_db = cached_bag, sync_once  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        module.BundleDagBag, module.sync_bag_to_db = real_bag, real_sync  # type: ignore[misc]


@dataclass
class DagRunner:
    """Loads the DagBag once; runs one integration flow at a time with ``dag.test()`` and records every run."""

    integrations: tuple[str, ...]
    after_run: Callable[[str, str], None] | None = None  # called with (integration, flow) after every run
    dags: dict[str, Any] = field(default_factory=dict)
    runs: list[RunRecord] = field(default_factory=list)

    def load(self) -> DagRunner:
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(DAGS_FOLDER))
        if bag.import_errors:
            raise RuntimeError(f"DAG import errors: {sorted(bag.import_errors)}")
        for name in self.integrations:
            for flow in (*TICK_FLOWS, NIGHTLY_FLOW):
                dag = bag.dags.get(f"{name}__{flow}")
                if dag is None:
                    continue
                for task in dag.tasks:
                    task.retries = 0
                self.dags[dag.dag_id] = dag
        return self

    def flows(self, integration: str, names: Iterable[str]) -> list[str]:
        """The DAG ids of ``integration`` for the flows ``names`` that exist, in that order."""
        return [f"{integration}__{flow}" for flow in names if f"{integration}__{flow}" in self.dags]

    def run(self, dag_id: str, clock: Callable[[], datetime], phase: str) -> RunRecord:
        """One run of ``dag_id`` ending its window at the simulated ``clock()``; never raises for a failed run."""
        integration, _, flow = dag_id.partition("__")
        moment = clock()
        started = time.perf_counter()
        start_afresh()  # as each task of a deployment starts in a process of its own
        try:
            dag_run = self.dags[dag_id].test(run_after=moment, logical_date=None)
            states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
            state, run_id = str(dag_run.state), str(dag_run.run_id)
        except Exception as exc:
            log.warning("%s: dag.test() raised %s", dag_id, type(exc).__name__)
            states, state, run_id = {"dag.test": "failed"}, "failed", f"not-started@{moment.isoformat()}"
        failed = tuple(sorted(task for task, s in states.items() if s in FAILED_STATES))
        record = RunRecord(dag_id, integration, flow, phase, run_id, moment.isoformat(), state, failed,
                           round(time.perf_counter() - started, 3))
        self.runs.append(record)
        if self.after_run is not None:
            self.after_run(integration, flow)
        return record

    def tick(self, clock: Callable[[], datetime], phase: str, flows: Iterable[str] = TICK_FLOWS) -> list[RunRecord]:
        """Every chosen flow of every integration once, in flow order, integrations interleaved per flow."""
        wanted = tuple(flows)
        done = []
        for flow in wanted:
            for name in self.integrations:
                for dag_id in self.flows(name, (flow,)):
                    done.append(self.run(dag_id, clock, phase))
        return done
