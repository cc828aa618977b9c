"""The distributed topology on one machine: Airflow's CeleryExecutor with every component its own process.

:class:`DistributedStack` is a :class:`~benchmarks.live.LiveStack` whose Airflow is not ``airflow standalone`` but
what ``docker-compose.yaml`` runs: ``api-server``, ``scheduler``, ``dag-processor``, ``triggerer`` and a
``celery worker``, each started on its own, with Airflow's metadata database and the integration's ledger on a
throw-away PostgreSQL server (two databases) and a throw-away Redis server as the Celery broker. Everything binds to
127.0.0.1 on free ports and is gone when the stack stops. The components share what they must share in production:
the JWT secret that signs the task tokens, the API secret key, the database and the broker.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

from benchmarks.live import BIN, LOCALHOST, LiveStack, LiveStackError, free_ports, listening

from tests.postgres import throwaway_postgres

REDIS_SERVER = "/usr/bin/redis-server"
SUPERUSER = "postgres"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "worker")
WORKER_CONCURRENCY = 4


class PostgresLiveStack(LiveStack):
    """The standalone stack with Airflow's metadata database on a throw-away PostgreSQL server, as production runs
    it. What needs it: a backfill, which Airflow refuses to create on SQLite while other components write (503,
    "Backfill creation is not supported on SQLite under concurrent access"). The ledger stays SQLite unless a
    subclass adds ``ledger`` to :attr:`DATABASES`."""

    DATABASES: tuple[str, ...] = ("airflow",)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._servers = ExitStack()
        self.pg_port = 0

    def start(self) -> None:
        """PostgreSQL first (one database per name in :attr:`DATABASES`), then what a LiveStack starts."""
        if not self.pg_port:
            self.pg_port = self._servers.enter_context(throwaway_postgres(SUPERUSER))
            self._create_databases(*self.DATABASES)
        super().start()

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self._servers.close()

    def _create_databases(self, *names: str) -> None:
        import psycopg2

        with closing(psycopg2.connect(host=LOCALHOST, port=self.pg_port, user=SUPERUSER, dbname="postgres")) as db:
            db.autocommit = True
            with db.cursor() as cursor:
                for name in names:
                    cursor.execute(f'CREATE DATABASE "{name}"')

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg2://{SUPERUSER}@{LOCALHOST}:{self.pg_port}/{name}"

    def _environment(self, integrations: Path) -> dict[str, str]:
        env = super()._environment(integrations)
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.database_url("airflow")
        for sqlite_only in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS",
                            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC"):
            env.pop(sqlite_only)  # SQLite's busy timeout: psycopg2 has no such argument
        return env

    def _after_migrate(self) -> None:
        """Nothing: PostgreSQL needs no journal switch."""


class DistributedStack(PostgresLiveStack):
    """The simulators + Airflow with the CeleryExecutor (one process per component), PostgreSQL and Redis."""

    DATABASES = ("airflow", "ledger")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.redis_port = 0
        self._scratch_servers = ""

    # ---- life cycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        """PostgreSQL (databases ``airflow`` and ``ledger``) and Redis first, then what a LiveStack starts."""
        if not Path(REDIS_SERVER).exists():
            raise LiveStackError(f"{REDIS_SERVER} is missing: `make setup` installs Debian's redis-server")
        self.pg_port = self._servers.enter_context(throwaway_postgres(SUPERUSER))
        self._create_databases(*self.DATABASES)
        self._scratch_servers = self._servers.enter_context(tempfile.TemporaryDirectory(prefix="erp-wms-redis-"))
        (self.redis_port,) = free_ports(1)
        self._spawn("redis", [REDIS_SERVER, "--bind", LOCALHOST, "--port", str(self.redis_port), "--save", "",
                              "--appendonly", "no", "--dir", self._scratch_servers, "--protected-mode", "yes"],
                    Path(self._scratch_servers) / "redis.log")
        deadline = time.monotonic() + 30
        while not listening(self.redis_port):
            if time.monotonic() > deadline:
                raise LiveStackError("the Redis server did not listen within 30 s")
            time.sleep(0.2)
        super().start()

    # ---- what differs from the standalone stack -----------------------------------------------------------------
    def _environment(self, integrations: Path) -> dict[str, str]:
        env = super()._environment(integrations)
        env.update({
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{LOCALHOST}:{self.redis_port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{SUPERUSER}@{LOCALHOST}:{self.pg_port}/airflow",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            # one secret for every component: the scheduler signs the task tokens the API server checks
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API_AUTH__JWT_ISSUER": "erp-wms-sync",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            "ERP_WMS_LEDGER_URL": self.database_url("ledger"),
        })
        return env

    def _start_airflow(self) -> None:
        """Each component on its own, as the compose file runs them."""
        airflow = str(BIN / "airflow")
        commands = {
            "api-server": [airflow, "api-server"],  # host and port from AIRFLOW__API__HOST / _PORT
            "scheduler": [airflow, "scheduler"],
            "dag-processor": [airflow, "dag-processor"],
            "triggerer": [airflow, "triggerer"],
            "worker": [airflow, "celery", "worker", "--concurrency", str(WORKER_CONCURRENCY)],
        }
        for name in COMPONENTS:
            self._spawn(name, commands[name], self.home / f"{name}.log")

    @property
    def main_log(self) -> Path:
        return self.home / "worker.log"

    def logs(self) -> Iterator[tuple[str, Path]]:
        for name in COMPONENTS:
            yield name, self.home / f"{name}.log"

    def ledger_rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query on the ledger's PostgreSQL database (``%s`` placeholders)."""
        import psycopg2

        with closing(psycopg2.connect(host=LOCALHOST, port=self.pg_port, user=SUPERUSER, dbname="ledger")) as db:
            with db.cursor() as cursor:
                cursor.execute(query, params)
                return list(cursor.fetchall())

    def processes(self) -> dict[str, int | None]:
        """Each component's exit code (None while it runs)."""
        return {name: process.poll() for name, process in self._processes.items()}

