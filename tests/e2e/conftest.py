"""End-to-end fixtures: the three simulators on 127.0.0.1, Airflow connections pointing at them, a fresh ledger,
and a helper that runs a real DAG with dag.test()."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from erp_wms_simulators.server import SimulatorStack
from erp_wms_sync.demo import env_vars
from erp_wms_sync.ledger.db import upgrade

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stack() -> Iterator[SimulatorStack]:
    with SimulatorStack() as running:
        yield running


@pytest.fixture
def wired(stack: SimulatorStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> str:
    """Connections for the sample integrations + a migrated ledger; returns the ledger URL."""
    for name, value in env_vars(stack.describe()).items():
        monkeypatch.setenv(name, value)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("ERP_WMS_LEDGER_URL", url)
    upgrade(url)
    return url


@pytest.fixture
def run_dag(wired: str) -> Callable[..., Any]:
    """Run a DAG of this project with dag.test(); task retries are switched off to keep failures fast."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}

    def run(dag_id: str, **conf: Any) -> Any:
        dag = bag.dags[dag_id]
        for task in dag.tasks:
            task.retries = 0
        return dag.test(run_conf=conf or None)

    return run


def task_states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
