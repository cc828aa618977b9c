"""Inventory sync's ledger: the stock queue by History Id, stock positions and the adjustment journal (SQLite)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from erp_wms_sync.ledger import db, stock_repo
from erp_wms_sync.ledger.models import Base, StockMovementRecord, StockPosition
from tests.postgres import throwaway_postgres

NEW_TABLES = {"stock_queue", "stock_positions", "stock_adjustments"}


def movement(history_id: int, item_code: str = "TSHIRT-RED-M", site: str = "Main", **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"history_id": history_id, "item_code": item_code, "site": site,
                           "from_location": "GOODS-IN", "to_location": "A-01-01", "quantity": 5,
                           "counted_delta": 5, "kind": "stock", "sales_order": None, "reason": "Goods in",
                           "occurred_at": datetime(2026, 12, 1, 9, 30), "payload": {"History Id": history_id}}
    row.update(extra)
    return row


def test_migrations_match_the_models(ledger_url: str) -> None:
    with db.get_engine(ledger_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_0004_downgrades_to_the_first_stock_queue_and_upgrades_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert db.upgrade(url) == db.head_revision()
    with db.session_scope(url) as s:
        stock_repo.insert_movements(s, "nw", [movement(1)])
    db.downgrade(url, "0003")
    assert db.current_revision(url) == "0003"
    inspector = inspect(db.get_engine(url))
    assert not {"stock_positions", "stock_adjustments"} & set(inspector.get_table_names())
    assert "wms_sequence" in {c["name"] for c in inspector.get_columns("stock_queue")}
    db.upgrade(url)
    inspector = inspect(db.get_engine(url))
    assert NEW_TABLES <= set(inspector.get_table_names())
    assert "history_id" in {c["name"] for c in inspector.get_columns("stock_queue")}
    db.ensure_migrated(url)


def test_insert_dedupes_and_never_changes_an_existing_row(ledger_url: str) -> None:
    with db.session_scope(ledger_url) as s:
        rows = [movement(30), movement(10), movement(20), movement(10, quantity=99)]
        assert stock_repo.insert_movements(s, "nw", rows) == [10, 20, 30]
    with db.session_scope(ledger_url) as s:
        first = s.scalar(select(StockMovementRecord).where(StockMovementRecord.history_id == 10))
        assert first is not None and first.quantity == 5  # the first row of a History Id wins
        stock_repo.set_movement_state(s, [first.id], "applied", adjustment_ref="PVX-1", applied=True)
    with db.session_scope(ledger_url) as s:
        again = [movement(10, quantity=7, counted_delta=-7), movement(20), movement(40, kind="despatch",
                                                                                      sales_order="SO-00012")]
        assert stock_repo.insert_movements(s, "nw", again) == [40]
        assert stock_repo.insert_movements(s, "nw", again) == []
        assert stock_repo.insert_movements(s, "other", [movement(10)]) == [10]  # another integration's queue
    with db.session_scope(ledger_url) as s:
        row = s.scalar(select(StockMovementRecord).where(StockMovementRecord.integration == "nw",
                                                         StockMovementRecord.history_id == 10))
        assert row is not None
        assert (row.quantity, row.counted_delta, row.state, row.adjustment_ref) == (5, 5, "applied", "PVX-1")
        assert row.payload == {"History Id": 10} and row.occurred_at == datetime(2026, 12, 1, 9, 30)
        assert stock_repo.known_history_ids(s, "nw", [10, 20, 40, 50, 10]) == {10, 20, 40}
        assert stock_repo.known_history_ids(s, "other", [10, 20]) == {10}


def test_insert_works_past_one_chunk(ledger_url: str) -> None:
    count = stock_repo.CHUNK * 2 + 17
    with db.session_scope(ledger_url) as s:
        assert stock_repo.insert_movements(s, "nw", (movement(n) for n in range(1, count + 1))) == list(
            range(1, count + 1))
    with db.session_scope(ledger_url) as s:
        assert stock_repo.insert_movements(s, "nw", [movement(n) for n in range(count - 5, count + 3)]) == [
            count + 1, count + 2]
        assert len(stock_repo.known_history_ids(s, "nw", range(1, count + 3))) == count + 2


def test_bad_movement_rows_are_refused_with_their_history_id(ledger_url: str) -> None:
    with db.session_scope(ledger_url) as s:
        with pytest.raises(ValueError, match="history_id '7'"):
            stock_repo.insert_movements(s, "nw", [movement(1), {**movement(2), "history_id": "7"}])
        with pytest.raises(ValueError, match="movement 3 of nw lacks site"):
            stock_repo.insert_movements(s, "nw", [{**movement(3), "site": None}])
        with pytest.raises(ValueError, match="unknown kind 'transfer'"):
            stock_repo.insert_movements(s, "nw", [movement(4, kind="transfer")])
        assert stock_repo.known_history_ids(s, "nw", [1, 2, 3, 4]) == set()


def test_movements_come_in_history_order_by_state_and_through(ledger_url: str) -> None:
    with db.session_scope(ledger_url) as s:
        stock_repo.insert_movements(s, "nw", [movement(n) for n in (50, 5, 40, 15, 30)])
        stock_repo.insert_movements(s, "other", [movement(1)])
        by_history = {m.history_id: m for m in stock_repo.movements_in_states(s, "nw", ["queued"])}
        stock_repo.set_movement_state(s, [by_history[40].id], "held")
        stock_repo.set_movement_state(s, [by_history[50].id], "waiting")
    with db.session_scope(ledger_url) as s:
        assert [m.history_id for m in stock_repo.movements_in_states(s, "nw", ["queued"])] == [5, 15, 30]
        assert [m.history_id for m in stock_repo.movements_in_states(s, "nw", ["queued", "held", "waiting"])] == [
            5, 15, 30, 40, 50]
        assert [m.history_id for m in stock_repo.movements_in_states(s, "nw", ["queued", "held"], through=30)] == [
            5, 15, 30]
        assert [m.history_id for m in stock_repo.movements_in_states(s, "nw", ["queued", "held"], limit=2)] == [5, 15]
        assert stock_repo.movements_in_states(s, "nw", ["applied"]) == []
        with pytest.raises(ValueError, match="unknown stock movement state 'done'"):
            stock_repo.movements_in_states(s, "nw", ["done"])


def test_state_changes_attempts_and_max_applied(ledger_url: str) -> None:
    with db.session_scope(ledger_url) as s:
        stock_repo.insert_movements(s, "nw", [movement(n) for n in (1, 2, 3, 4)])
        assert stock_repo.max_applied_history_id(s, "nw") is None
    with db.session_scope(ledger_url) as s:
        ids = {m.history_id: m.id for m in stock_repo.movements_in_states(s, "nw", ["queued"])}
        loaded = stock_repo.movements_in_states(s, "nw", ["queued"])
        stock_repo.set_movement_state(s, [ids[1], ids[2]], "applied", adjustment_ref="PVX-7", applied=True)
        stock_repo.set_movement_state(s, [ids[4]], "opening")
        stock_repo.bump_movement_attempts(s, [ids[3], ids[3], ids[2]])
        stock_repo.bump_movement_attempts(s, [ids[3]])
        assert loaded[0].state == "applied" and loaded[2].attempts == 2  # rows already loaded see the change
    with db.session_scope(ledger_url) as s:
        rows = {m.history_id: m for m in stock_repo.movements_in_states(s, "nw", stock_repo.MOVEMENT_STATES)}
        assert [(rows[n].state, rows[n].adjustment_ref, rows[n].attempts) for n in (1, 2, 3, 4)] == [
            ("applied", "PVX-7", 0), ("applied", "PVX-7", 1), ("queued", None, 2), ("opening", None, 0)]
        assert rows[1].applied_at is not None and rows[3].applied_at is None and rows[4].applied_at is None
        assert stock_repo.max_applied_history_id(s, "nw") == 2  # opening movements are not applied ones
        assert stock_repo.max_history_id(s, "nw") == 4 and stock_repo.max_history_id(s, "other") is None
        stock_repo.set_movement_state(s, [ids[1]], "held")
    with db.session_scope(ledger_url) as s:
        held = stock_repo.movements_in_states(s, "nw", ["held"])
        assert [(m.history_id, m.adjustment_ref) for m in held] == [(1, "PVX-7")]  # a None ref keeps the old one
        with pytest.raises(ValueError, match="unknown stock movement state 'done'"):
            stock_repo.set_movement_state(s, [ids[1]], "done")


def test_position_upsert_inserts_then_updates(ledger_url: str) -> None:
    with db.session_scope(ledger_url) as s:
        created = stock_repo.upsert_position(s, "nw", "TSHIRT-RED-M", "Main", last_history_id=10, wms_counted=40,
                                             erp_sku="TS-R-M", erp_location="Main Warehouse", erp_quantity=None,
                                             adjustment_ref=None)
        opened_at = created.opened_at
        stock_repo.upsert_position(s, "nw", "TSHIRT-RED-M", "Overflow", last_history_id=11, wms_counted=3,
                                   erp_sku="TS-R-M", erp_location="Overflow", erp_quantity=3, adjustment_ref="PVX-1")
    with db.session_scope(ledger_url) as s:
        updated = stock_repo.upsert_position(s, "nw", "TSHIRT-RED-M", "Main", last_history_id=25, wms_counted=35,
                                             erp_sku="TS-R-M", erp_location="Main Warehouse", erp_quantity=35,
                                             adjustment_ref="PVX-2")
        assert updated.id == created.id and updated.opened_at == opened_at
    with db.session_scope(ledger_url) as s:
        found = stock_repo.positions(s, "nw", [("TSHIRT-RED-M", "Main"), ("TSHIRT-RED-M", "Nowhere"),
                                               ("MUG-BLUE", "Main")])
        assert list(found) == [("TSHIRT-RED-M", "Main")]
        main = found[("TSHIRT-RED-M", "Main")]
        assert (main.last_history_id, main.wms_counted, main.erp_quantity, main.adjustment_ref) == (
            25, 35, 35, "PVX-2")
        assert [(p.item_code, p.site) for p in stock_repo.all_positions(s, "nw")] == [
            ("TSHIRT-RED-M", "Main"), ("TSHIRT-RED-M", "Overflow")]
        assert stock_repo.all_positions(s, "other") == []


def test_journal_add_open_pairs_and_duplicate_reference(ledger_url: str) -> None:
    def line(item_code: str, site: str, quantity: int) -> dict[str, Any]:
        return {"item_code": item_code, "site": site, "sku": item_code, "location": site, "quantity": quantity,
                "through_history_id": 9, "history_ids": [8, 9]}

    with db.session_scope(ledger_url) as s:
        stock_repo.add_journal(s, "nw", "PVX-1", [line("A", "Main", 4), line("B", "Main", 0)])
        stock_repo.add_journal(s, "nw", "PVX-2", [line("C", "Overflow", 1)])
        stock_repo.add_journal(s, "nw", "PVX-3", [line("D", "Main", 2)])
        stock_repo.add_journal(s, "other", "PVX-1", [line("Z", "Main", 2)])  # references are per integration
    with db.session_scope(ledger_url) as s:
        entry = stock_repo.journal_entry(s, "nw", "PVX-2")
        assert entry is not None and entry.state == "posting" and entry.lines == [line("C", "Overflow", 1)]
        entry.state, entry.erp_task_id, entry.posted_at = "posted", "task-1", datetime(2026, 12, 1, 10)
        failed = stock_repo.journal_entry(s, "nw", "PVX-3")
        assert failed is not None
        failed.state, failed.error = "failed", "Cin7 Core refused the adjustment: 400"
        assert stock_repo.journal_entry(s, "nw", "PVX-9") is None
    with db.session_scope(ledger_url) as s:
        # a failed entry is settled: its movements are still queued and planned again into a new entry
        assert [e.reference for e in stock_repo.open_journal(s, "nw")] == ["PVX-1"]
        assert stock_repo.pairs_in_open_journal(s, "nw") == {("A", "Main"), ("B", "Main")}
        assert stock_repo.pairs_in_open_journal(s, "other") == {("Z", "Main")}
    with pytest.raises(IntegrityError), db.session_scope(ledger_url) as s:
        stock_repo.add_journal(s, "nw", "PVX-2", [line("A", "Main", 1)])
    with pytest.raises(ValueError, match="line 2 of stock adjustment PVX-4"), db.session_scope(ledger_url) as s:
        stock_repo.add_journal(s, "nw", "PVX-4", [line("A", "Main", 1), {"item_code": "B", "quantity": 1}])


def test_unique_constraints_hold_below_the_repository(ledger_url: str) -> None:
    with db.session_scope(ledger_url) as s:
        stock_repo.insert_movements(s, "nw", [movement(1)])
    with pytest.raises(IntegrityError), db.session_scope(ledger_url) as s:
        s.add(StockMovementRecord(integration="nw", history_id=1, item_code="X", site="Main", from_location="",
                                  to_location="", quantity=1, counted_delta=1, kind="stock"))
        s.flush()
    with db.session_scope(ledger_url) as s:
        stock_repo.upsert_position(s, "nw", "A", "Main", last_history_id=1, wms_counted=1, erp_sku="A",
                                   erp_location="Main", erp_quantity=1, adjustment_ref=None)
    with pytest.raises(IntegrityError), db.session_scope(ledger_url) as s:
        s.add(StockPosition(integration="nw", item_code="A", site="Main", last_history_id=2, wms_counted=2,
                            erp_sku="A", erp_location="Main"))
        s.flush()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL server on 127.0.0.1 when its binaries and a driver are installed."""
    if os.environ.get("ERP_WMS_TEST_POSTGRES_URL"):
        yield os.environ["ERP_WMS_TEST_POSTGRES_URL"]
        return
    with throwaway_postgres("stock", skip_reason=": stock ledger checked on SQLite only") as port:
        yield f"postgresql+psycopg2://stock@127.0.0.1:{port}/postgres"


@pytest.mark.postgres
def test_stock_ledger_on_postgres(postgres_url: str) -> None:
    db.upgrade(postgres_url)
    try:
        with db.get_engine(postgres_url).connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                    Base.metadata) == []
        big = 2**40  # History Ids are BIGINT
        with db.session_scope(postgres_url) as s:
            assert stock_repo.insert_movements(s, "nw", [movement(big + 2), movement(big + 1), movement(big + 1)]) == [
                big + 1, big + 2]
        with db.session_scope(postgres_url) as s:
            assert stock_repo.insert_movements(s, "nw", [movement(big + 1), movement(big + 3)]) == [big + 3]
            ids = [m.id for m in stock_repo.movements_in_states(s, "nw", ["queued"], through=big + 2)]
            stock_repo.set_movement_state(s, ids, "applied", adjustment_ref="PVX-1", applied=True)
            stock_repo.add_journal(s, "nw", "PVX-1", [{"item_code": "TSHIRT-RED-M", "site": "Main", "quantity": 3}])
        with db.session_scope(postgres_url) as s:
            assert stock_repo.max_applied_history_id(s, "nw") == big + 2
            assert stock_repo.pairs_in_open_journal(s, "nw") == {("TSHIRT-RED-M", "Main")}
        with pytest.raises(IntegrityError), db.session_scope(postgres_url) as s:
            stock_repo.add_journal(s, "nw", "PVX-1", [{"item_code": "A", "site": "Main"}])
    finally:
        db.downgrade(postgres_url)
    assert db.current_revision(postgres_url) is None
