"""Test-wide set-up: an isolated AIRFLOW_HOME (set before anything imports Airflow) and shared fixtures."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="erp-wms-airflow-"))
atexit.register(shutil.rmtree, _HOME, True)  # the session's Airflow home goes with the session

os.environ.update({
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    "ERP_WMS_LEDGER_URL": f"sqlite:///{_HOME / 'ledger-default.db'}",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
})


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB (needed by dag.test())."""
    result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                            timeout=300, env=os.environ.copy())
    assert result.returncode == 0, result.stderr[-3000:]
    return _HOME


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    """A fresh, migrated SQLite ledger for one test."""
    from erp_wms_sync.ledger.db import upgrade

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade(url)
    return url


@pytest.fixture(autouse=True)
def fresh_wsdl_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without a cached Peoplevox WSDL (simulators reuse URLs between tests)."""
    from erp_wms_sync.connectors.peoplevox_wsdl import SHARED

    monkeypatch.setenv("ERP_WMS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    SHARED.clear()


@pytest.fixture(autouse=True)
def fresh_secret_masks() -> None:
    """Every test starts with the secrets a fresh task process knows: none (see ``redaction.start_afresh``)."""
    from erp_wms_sync.connectors.redaction import start_afresh

    start_afresh()
