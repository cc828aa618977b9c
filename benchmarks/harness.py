"""The bench's world: an isolated Airflow home, the simulators, the sample Cin7 Core integration with the
limits a figure wants, a migrated SQLite ledger, and real DAG runs under ``dag.test()``.

:func:`prepare_airflow` must run before anything imports Airflow (it sets the environment Airflow reads).
:class:`World` starts a :class:`~erp_wms_simulators.server.SimulatorStack` and points the connections of the
``northwind`` integration at it, the way the end-to-end tests do.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from erp_wms_sync.simulate import world

ROOT = Path(__file__).resolve().parents[1]
INTEGRATION = "northwind"
SAMPLE_YAML = ROOT / "include" / "integrations" / f"{INTEGRATION}.yaml"
GOOD_SKUS = ("NWO-BOOT-10", "NWO-BOOT-11", "NWO-BAG-REG", "NWO-TEE-M", "NWO-FLC-L", "NWO-PACK-28L")
ADDRESS = {"Line1": "1 High St", "City": "Leeds", "Postcode": "LS1 1AA", "Country": "GB"}


def prepare_airflow(home: Path) -> None:
    """Point Airflow at ``home`` (metadata DB, no examples, quiet logs); call before importing Airflow. The same
    set-up as ``erp-wms-sync simulate`` (:func:`erp_wms_sync.simulate.world.prepare_airflow`)."""
    world.prepare_airflow(home)


def migrate_airflow(home: Path) -> None:
    """Create the Airflow metadata DB in ``home`` (once per bench run; ``dag.test()`` needs it)."""
    world.prepare_airflow(home)
    world.migrate_airflow(home)


def write_integration(folder: Path, name: str = INTEGRATION, rate_per_minute: int = 60) -> Path:
    """A copy of the sample Cin7 Core integration in ``folder`` named ``name``, with the client's budget
    set to ``rate_per_minute`` calls per (possibly scaled) minute."""
    folder.mkdir(parents=True, exist_ok=True)
    text = SAMPLE_YAML.read_text(encoding="utf-8")
    text = re.sub(r"^name:.*$", f"name: {name}", text, count=1, flags=re.MULTILINE)
    text = re.sub(r"rate_per_minute:\s*\d+", f"rate_per_minute: {rate_per_minute}", text, count=1)
    target = folder / f"{name}.yaml"
    target.write_text(text, encoding="utf-8")
    return target


@dataclass
class World:
    """Simulators + connections + ledger for one figure.

    ``cin7_rate`` is the limit the Cin7 simulator enforces per ``window_seconds`` (the scaled minute), and
    ``client_rate`` the budget the integration's client keeps in the same window.
    """

    workdir: Path
    cin7_rate: int = 60
    client_rate: int = 60
    window_seconds: float = 60.0
    stack: Any = None
    ledger_url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    _bag: Any = None

    def __enter__(self) -> World:
        from erp_wms_simulators.server import SimulatorStack

        self.stack = SimulatorStack(names=("cin7core", "peoplevox")).start()
        self.stack.cin7core.settings.update({"rate_limit_per_minute": self.cin7_rate,
                                             "rate_limit_window_seconds": self.window_seconds,
                                             "rate_limit_retry_after": False})
        self.env = self._environment()
        os.environ.update(self.env)
        from erp_wms_sync.ledger.db import upgrade

        upgrade(self.ledger_url)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.stack is not None:
            self.stack.stop()

    def _environment(self) -> dict[str, str]:
        integrations = self.workdir / "integrations"
        write_integration(integrations, rate_per_minute=self.client_rate)
        self.ledger_url = f"sqlite:///{self.workdir / 'ledger.db'}"
        env = {"ERP_WMS_INTEGRATIONS_DIR": str(integrations), "ERP_WMS_LEDGER_URL": self.ledger_url}
        for name, value in connections(self.stack.describe(), self.window_seconds).items():
            env[name] = value
        return env

    # ---- data the ERP's users create -------------------------------------------------------
    def create_orders(self, count: int, lines_per_order: int = 2) -> list[str]:
        """``count`` authorised Cin7 sales with ``lines_per_order`` lines each; returns their order numbers."""
        numbers: list[str] = []
        for index in range(count):
            skus = [GOOD_SKUS[(index + k) % len(GOOD_SKUS)] for k in range(lines_per_order)]
            sale = self.stack.cin7core.create_sale("Jane Doe", "Main Warehouse",
                                                   [{"SKU": sku, "Quantity": 1 + k % 3} for k, sku in enumerate(skus)],
                                                   ShippingAddress=ADDRESS, Carrier="Royal Mail")
            numbers.append(sale["Order"]["SaleOrderNumber"])
        return numbers

    def released(self, numbers: list[str]) -> int:
        """How many of the order ``numbers`` Peoplevox holds."""
        held = self.stack.peoplevox.records(INTEGRATION, "Sales orders")
        return sum(1 for number in numbers if number in held)

    # ---- DAG runs ----------------------------------------------------------------------------
    def run_dag(self, flow: str) -> DagRunResult:
        """One run of ``northwind__<flow>`` under ``dag.test()`` (task retries off), timed."""
        if self._bag is None:
            from airflow.dag_processing.dagbag import DagBag

            self._bag = DagBag(dag_folder=str(ROOT / "dags"))
            if self._bag.import_errors:
                raise RuntimeError(f"DAG import errors: {self._bag.import_errors}")
        dag = self._bag.dags[f"{INTEGRATION}__{flow}"]
        for task in dag.tasks:
            task.retries = 0
        started = time.perf_counter()
        dag_run = dag.test()
        return DagRunResult.of(dag_run, time.perf_counter() - started)


def connections(described: Mapping[str, Any], window_seconds: float) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables of the sample integrations; the Cin7 connection carries the budget
    window (``rate_window_seconds``) so the client's minute is scaled like the simulator's."""
    from erp_wms_sync.demo import env_vars

    sims = {name: described[name] for name in ("cin7core", "peoplevox")}
    sims["bluecherry"] = {"url": "http://127.0.0.1:9/api/v1", "credentials": {"subscription_key": "unused"}}
    variables = env_vars(sims)
    name = f"AIRFLOW_CONN_{INTEGRATION.upper()}_CIN7CORE"
    conn = json.loads(variables[name])
    conn.setdefault("extra", {})["rate_window_seconds"] = window_seconds
    variables[name] = json.dumps(conn)
    return variables


@dataclass(frozen=True)
class DagRunResult:
    """A finished DAG run: its state, wall time, and each task's state and duration."""

    state: str
    seconds: float
    tasks: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, dag_run: Any, seconds: float) -> DagRunResult:
        tasks: dict[str, dict[str, Any]] = {}
        for ti in dag_run.get_task_instances():
            duration = ti.duration
            if duration is None and ti.start_date and ti.end_date:
                duration = (ti.end_date - ti.start_date).total_seconds()
            tasks[ti.task_id] = {"state": str(ti.state), "seconds": round(float(duration or 0.0), 3)}
        return cls(str(dag_run.state), round(seconds, 3), tasks)

    @property
    def failed_tasks(self) -> list[str]:
        return sorted(task for task, info in self.tasks.items() if info["state"] in ("failed", "upstream_failed"))


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """``with timed() as t: ...`` then ``t["seconds"]``."""
    box = {"seconds": 0.0}
    started = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - started
