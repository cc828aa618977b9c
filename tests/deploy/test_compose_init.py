"""The airflow-init job of docker-compose.yaml, run for real: its bash script, as the container receives it.

The script is taken from the compose file (interpolated with the demo defaults) and run with the project's
venv against a throw-away PostgreSQL server on 127.0.0.1 standing in for the ``postgres`` service (password
authentication on, so the ledger role's password is really checked) and a SQLite Airflow metadata DB (the image's
entrypoint migrates Airflow's DB before the script runs; here the test does). Skipped without PostgreSQL binaries
or the psycopg2 driver.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.compose_file import environment, init_script, load
from tests.postgres import throwaway_postgres

pytestmark = pytest.mark.postgres

ADMIN_USER, ADMIN_PASSWORD = "airflow", "demo-airflow-db"


@pytest.fixture(scope="module")
def postgres_port() -> Iterator[int]:
    """A PostgreSQL server on 127.0.0.1 whose superuser is the compose file's (scram password auth)."""
    with throwaway_postgres(ADMIN_USER, ADMIN_PASSWORD) as port:
        yield port


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite metadata DB of its own (what the entrypoint's `airflow db migrate` leaves behind)."""
    home = tmp_path_factory.mktemp("init-airflow-home")
    result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                            timeout=300, env=_base_env(home))
    assert result.returncode == 0, result.stderr[-3000:]
    return home


def _base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ERP_WMS_"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "TMPDIR": str(home),
    })
    return env


def run_init(home: Path, port: int, compose_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the init script with airflow-init's environment, re-pointed from `postgres` at the local server."""
    document = load(compose_env)
    env = {**environment(document["services"]["airflow-init"]), **_base_env(home)}
    env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"  # no Celery here; the script never runs tasks
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(home / "auth" / "passwords.json")
    ledger = json.loads(env["AIRFLOW_CONN_ERP_WMS_LEDGER"])
    assert ledger["host"] == "postgres"
    env["AIRFLOW_CONN_ERP_WMS_LEDGER"] = json.dumps({**ledger, "host": "127.0.0.1", "port": port})
    admin_url = env["ERP_WMS_POSTGRES_ADMIN_URL"]
    env["ERP_WMS_POSTGRES_ADMIN_URL"] = admin_url.replace("@postgres:5432", f"@127.0.0.1:{port}")
    (home / "auth").mkdir(exist_ok=True)
    return subprocess.run(["bash", "-c", init_script(document)], capture_output=True, text=True, timeout=240,
                          env=env, cwd=home)


def ledger_connect(port: int, password: str) -> Any:
    import psycopg2

    return psycopg2.connect(host="127.0.0.1", port=port, user="erp_wms", password=password, dbname="erp_wms_ledger")


def pools(home: Path) -> dict[str, int]:
    with sqlite3.connect(home / "airflow.db") as db:
        return dict(db.execute("SELECT pool, slots FROM slot_pool WHERE pool != 'default_pool'").fetchall())


def test_init_job_prepares_everything_and_can_run_again(airflow_home: Path, postgres_port: int) -> None:
    import psycopg2

    from erp_wms_sync.airflow.factory import POOLS
    from erp_wms_sync.ledger.db import head_revision

    first = run_init(airflow_home, postgres_port, {})
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "airflow-init done" in first.stdout

    passwords = airflow_home / "auth" / "passwords.json"
    assert json.loads(passwords.read_text()) == {"admin": "demo-admin"}
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600

    conn = ledger_connect(postgres_port, "demo-ledger-db")
    with conn, conn.cursor() as cur:
        cur.execute("SELECT version_num FROM alembic_version")
        assert cur.fetchone()[0] == head_revision()
        cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        assert cur.fetchone()[0] == "erp_wms"
        cur.execute("CREATE TABLE kept_between_runs (id int)")
    conn.close()
    assert pools(airflow_home) == {name: slots for name, (slots, _) in POOLS.items()}

    # An operator resized a pool in the UI and rotated the ledger password in .env; then `docker compose up` again.
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        db.execute("UPDATE slot_pool SET slots = 1 WHERE pool = 'cin7core_api'")
    second = run_init(airflow_home, postgres_port, {"ERP_WMS_LEDGER_PASSWORD": "rotated-ledger-password"})
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "pool cin7core_api exists: left as it is" in second.stdout
    assert pools(airflow_home)["cin7core_api"] == 1

    with pytest.raises(psycopg2.OperationalError):
        ledger_connect(postgres_port, "demo-ledger-db")
    conn = ledger_connect(postgres_port, "rotated-ledger-password")
    with conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('kept_between_runs') IS NOT NULL")
        assert cur.fetchone()[0] is True
    conn.close()
    for output in (first.stdout + first.stderr, second.stdout + second.stderr):
        assert "demo-ledger-db" not in output and "rotated-ledger-password" not in output
