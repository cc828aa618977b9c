"""Ledger connection, sessions and migrations.

The URL comes from (first wins): an explicit argument, the Airflow connection ``erp_wms_ledger`` (resolved by
:mod:`erp_wms_sync.airflow.hooks`, which passes it here), the ``ERP_WMS_LEDGER_URL`` environment variable, and
finally a SQLite file ``erp_wms_ledger.db`` in ``$AIRFLOW_HOME`` (or the working directory).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from erp_wms_sync.errors import LedgerError

ENV_URL = "ERP_WMS_LEDGER_URL"
MIGRATIONS = Path(__file__).with_name("migrations")

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def default_url() -> str:
    home = os.environ.get("AIRFLOW_HOME") or os.getcwd()
    return f"sqlite:///{Path(home).resolve() / 'erp_wms_ledger.db'}"


def resolve_url(url: str | None = None) -> str:
    return url or os.environ.get(ENV_URL) or default_url()


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported as such, never echoed with its secret
        return "<unparsable database URL>"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process (connection pooling; SQLite in WAL mode with a busy timeout)."""
    url = resolve_url(url)
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            try:
                engine = create_engine(url, future=True, pool_pre_ping=True)
            except Exception as exc:
                raise LedgerError(f"ledger URL {safe_url(url)} is not usable: {exc}") from None
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            _ENGINES[url] = engine
        return engine


def dispose_engines() -> None:
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A transaction: committed when the block ends normally, rolled back on error."""
    factory = sessionmaker(bind=get_engine(url), expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        raise LedgerError(f"ledger {safe_url(resolve_url(url))} failed: {exc.orig}") from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:
        raise LedgerError("no ledger migrations found in the installed package")
    return head


def current_revision(url: str | None = None) -> str | None:
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise LedgerError(f"cannot reach the ledger at {safe_url(resolve_url(url))}: {exc.orig}") from None


def upgrade(url: str | None = None, revision: str = "head") -> str:
    """Migrate the ledger to ``revision``; returns the revision it is at afterwards."""
    url = resolve_url(url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = get_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise LedgerError(f"cannot migrate the ledger at {safe_url(url)}: {exc.orig}") from None
    return current_revision(url) or ""


def downgrade(url: str | None = None, revision: str = "base") -> None:
    url = resolve_url(url)
    with get_engine(url).begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def ensure_migrated(url: str | None = None) -> None:
    """Fail with a clear message when the ledger is behind the installed code."""
    current = current_revision(url)
    head = head_revision()
    if current != head:
        raise LedgerError(
            f"the ledger at {safe_url(resolve_url(url))} is at revision {current or 'none'}, the code needs "
            f"{head}: run `erp-wms-sync ledger upgrade`"
        )
