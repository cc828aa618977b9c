"""One writer per flow and integration: the ledger's flow lease (taken, waited for, renewed, lapsed, given back)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import inspect

from erp_wms_sync.ledger import db
from erp_wms_sync.ledger.leases import FlowBusy, exclusive, release, renew, try_acquire
from erp_wms_sync.ledger.models import FlowLease, utcnow

FLOW = ("northwind", "order_release")


def holder_of(url: str) -> str | None:
    with db.session_scope(url) as session:
        row = session.get(FlowLease, FLOW)
        return row.holder if row is not None else None


def test_the_migration_creates_the_lease_table(ledger_url: str) -> None:
    assert "flow_leases" in inspect(db.get_engine(ledger_url)).get_table_names()


def test_a_lease_has_one_holder_until_it_is_given_back(ledger_url: str) -> None:
    now = utcnow()
    with db.session_scope(ledger_url) as session:
        assert try_acquire(session, *FLOW, "scheduled/release_orders", now) is None
    with db.session_scope(ledger_url) as session:
        assert try_acquire(session, *FLOW, "backfill/release_orders", now) == "scheduled/release_orders"
        assert try_acquire(session, *FLOW, "scheduled/release_orders", now) is None  # already ours: kept
        assert try_acquire(session, "bluebird", "order_release", "backfill/release_orders", now) is None
        assert try_acquire(session, "northwind", "returns", "backfill/x", now) is None  # another flow: its own
    with db.session_scope(ledger_url) as session:
        release(session, *FLOW, "someone else")  # not the holder: nothing happens
    assert holder_of(ledger_url) == "scheduled/release_orders"
    with db.session_scope(ledger_url) as session:
        release(session, *FLOW, "scheduled/release_orders")
    with db.session_scope(ledger_url) as session:
        assert try_acquire(session, *FLOW, "backfill/release_orders", now) is None
    assert holder_of(ledger_url) == "backfill/release_orders"


def test_a_crashed_holders_lease_lapses_and_it_cannot_renew_it_afterwards(ledger_url: str) -> None:
    start = utcnow()
    with db.session_scope(ledger_url) as session:
        assert try_acquire(session, *FLOW, "crashed", start, ttl=60) is None
    later = start + timedelta(seconds=59)
    with db.session_scope(ledger_url) as session:
        assert try_acquire(session, *FLOW, "next", later, ttl=60) == "crashed"
        assert renew(session, *FLOW, "crashed", later, ttl=60)  # a live holder keeps it
    lapsed = later + timedelta(seconds=61)
    with db.session_scope(ledger_url) as session:
        assert try_acquire(session, *FLOW, "next", lapsed, ttl=60) is None
        assert not renew(session, *FLOW, "crashed", lapsed)  # it lost it


def test_a_second_writer_waits_for_the_first_then_writes(ledger_url: str) -> None:
    with db.session_scope(ledger_url) as session:
        assert try_acquire(session, *FLOW, "first", utcnow()) is None
    looks: list[float] = []

    def sleep(seconds: float) -> None:  # the first writer finishes while the second waits
        looks.append(seconds)
        if len(looks) == 2:
            with db.session_scope(ledger_url) as session:
                release(session, *FLOW, "first")

    with exclusive(ledger_url, *FLOW, "second", sleep=sleep):
        assert holder_of(ledger_url) == "second"
    assert len(looks) == 2
    assert holder_of(ledger_url) is None  # given back at the end


def test_a_writer_that_waits_too_long_fails_naming_the_holder(ledger_url: str) -> None:
    with db.session_scope(ledger_url) as session:
        assert try_acquire(session, *FLOW, "manual__stuck/release_orders", utcnow()) is None
    ticks = iter(range(100))
    with pytest.raises(FlowBusy, match=r"manual__stuck/release_orders kept writing for over 10 s"):
        with exclusive(ledger_url, *FLOW, "second", wait=10, clock=lambda: float(next(ticks) * 5),
                       sleep=lambda _: None):
            pytest.fail("the block ran without the lease")
    assert holder_of(ledger_url) == "manual__stuck/release_orders"


def test_the_lease_is_given_back_when_the_step_fails(ledger_url: str) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with exclusive(ledger_url, *FLOW, "failing"):
            raise RuntimeError("boom")
    assert holder_of(ledger_url) is None


def test_a_long_step_keeps_its_lease_alive(ledger_url: str) -> None:
    with exclusive(ledger_url, *FLOW, "long", ttl=0.6, renew_every=0.1):
        time.sleep(1.5)  # far past the TTL: only the heartbeat keeps it
        with db.session_scope(ledger_url) as session:
            assert try_acquire(session, *FLOW, "intruder", utcnow(), ttl=0.6) == "long"
    assert holder_of(ledger_url) is None


def test_concurrent_writers_of_one_flow_send_each_order_once(ledger_url: str) -> None:
    """Four writers (a scheduled run, backfill runs, a dashboard edit) look an order up, then send it if it is not
    there: without the lease they interleave and send it several times; with it, once."""
    sent: list[str] = []
    target: set[str] = set()
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            with exclusive(ledger_url, *FLOW, name, poll=0.01):
                for order in ("SO-1", "SO-2", "SO-3"):
                    if order not in target:  # the look-up
                        time.sleep(0.02)  # the SaveData round trip
                        target.add(order)
                        sent.append(order)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"writer-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(sent) == ["SO-1", "SO-2", "SO-3"]
