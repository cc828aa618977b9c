"""The ledger: migrations on SQLite (and Postgres when one is available), exceptions, messages, cursors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect

from erp_wms_sync.ledger import db, repo
from erp_wms_sync.ledger.models import ExceptionRecord
from tests.postgres import throwaway_postgres

TABLES = {"cursors", "messages", "catalogue_items", "order_records", "stock_queue", "webhook_inbox", "exceptions",
          "exception_attempts", "check_results", "reconciliation_runs", "reconciliation_variances",
          "staged_records"}


def exc(key: str = "SKU-1", type_: str = "invalid_item") -> repo.NewException:
    return repo.NewException(type=type_, entity_type="item", entity_key=key, summary=f"{key} is bad",
                             detail={"reasons": ["name missing"]}, payload={"sku": key, "name": ""})


def test_migrations_create_every_table_and_downgrade_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    assert db.upgrade(url) == db.head_revision()
    assert TABLES <= set(inspect(db.get_engine(url)).get_table_names())
    db.ensure_migrated(url)
    db.downgrade(url)
    assert db.current_revision(url) is None
    assert not TABLES & set(inspect(db.get_engine(url)).get_table_names())


def test_unmigrated_ledger_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(Exception, match="erp-wms-sync ledger upgrade"):
        db.ensure_migrated(url)


def test_same_problem_is_one_row_with_history_and_reopens(ledger_url: str) -> None:
    with db.session_scope(ledger_url) as s:
        _, created = repo.raise_exception(s, integration="nw", flow="f", owner="data", exc=exc(), run_id="r1")
        assert created
    with db.session_scope(ledger_url) as s:
        row, created = repo.raise_exception(s, integration="nw", flow="f", owner="data", exc=exc(), run_id="r2")
        assert not created and row.attempts == 2 and row.next_retry_at is not None
        assert row.payload == {"sku": "SKU-1", "name": ""}
    with db.session_scope(ledger_url) as s:
        assert repo.resolve_exceptions(s, integration="nw", entity_type="item", entity_keys=["SKU-1"],
                                       types=["invalid_item"], by="t", note="fixed") == 1
    with db.session_scope(ledger_url) as s:
        row, reopened = repo.raise_exception(s, integration="nw", flow="f", owner="data", exc=exc(), run_id="r3")
        assert reopened and row.status == "open"
        assert [h.outcome for h in row.history] == ["raised", "seen_again", "resolved", "reopened"]
        assert s.query(ExceptionRecord).count() == 1


def test_retry_schedule_backs_off_and_is_capped() -> None:
    now = datetime(2026, 1, 1)
    delays = [repo.next_retry(n, now) - now for n in range(1, 9)]
    assert delays == sorted(delays) and delays[-1] == delays[-2] == repo.RETRY_SCHEDULE[-1]


def test_message_idempotency_key_updates_the_same_row(ledger_url: str) -> None:
    for status in ("failed", "confirmed"):
        with db.session_scope(ledger_url) as s:
            repo.record_message(s, integration="nw", flow="f", direction="erp_to_wms", entity_type="item",
                                entity_key="A", idempotency_key="nw:item:A:h1", content_hash="h1", status=status,
                                payload={"ItemCode": "A"})
    with db.session_scope(ledger_url) as s:
        row = repo.find_message(s, "nw:item:A:h1")
        assert row is not None and row.status == "confirmed" and row.attempts == 2


def test_watermark_never_moves_back(ledger_url: str) -> None:
    with db.session_scope(ledger_url) as s:
        repo.advance_cursor(s, "nw", "f", datetime(2026, 11, 22, 10), "r1")
    with db.session_scope(ledger_url) as s:
        repo.advance_cursor(s, "nw", "f", datetime(2026, 11, 20, 10), "backfill")
    with db.session_scope(ledger_url) as s:
        cursor = repo.get_cursor(s, "nw", "f")
        assert cursor is not None and cursor.watermark == datetime(2026, 11, 22, 10) and cursor.run_id == "r1"


def test_database_password_is_masked() -> None:
    assert "s3cret" not in db.safe_url("postgresql+psycopg2://u:s3cret@h/db")


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL server on 127.0.0.1 when its binaries and a driver are installed."""
    if os.environ.get("ERP_WMS_TEST_POSTGRES_URL"):
        yield os.environ["ERP_WMS_TEST_POSTGRES_URL"]
        return
    with throwaway_postgres("ledger", skip_reason=": migrations checked on SQLite only") as port:
        yield f"postgresql+psycopg2://ledger@127.0.0.1:{port}/postgres"


@pytest.mark.postgres
def test_migrations_on_postgres(postgres_url: str) -> None:
    assert db.upgrade(postgres_url) == db.head_revision()
    assert TABLES <= set(inspect(db.get_engine(postgres_url)).get_table_names())
    with db.session_scope(postgres_url) as s:
        repo.raise_exception(s, integration="nw", flow="f", owner="data", exc=exc("PG-1"), run_id="r")
    with db.session_scope(postgres_url) as s:
        assert len(repo.open_exceptions(s, "nw")) == 1
    db.downgrade(postgres_url)
    assert db.current_revision(postgres_url) is None
