"""One writer per flow and integration: a lease in the ledger, held by each step of a flow while it runs.

Airflow runs one run of a DAG at a time (``max_active_runs=1``), but it counts a backfill's runs apart from the
others, so a backfill run can run beside a scheduled run of the same flow; and a person's edit-and-retry in the
dashboard writes outside any run. Two writers of one flow could both find an order unsent and both send it. Each
step therefore takes the flow's lease (a row of ``flow_leases``) before it starts and gives it back when it ends:
a second writer waits for its turn, then re-reads the ledger and the target, finds the first writer's work and
sends nothing twice.

- **Taking it** is one conditional ``UPDATE`` (free, expired, or already ours), or the row's first ``INSERT``: atomic
  on SQLite and PostgreSQL alike. A step waits (``POLL`` seconds between looks, at most ``WAIT``) while another
  holder lives, and then fails with :class:`FlowBusy` (the task retries): a long wait finishes late, not wrong.
- **Keeping it**: a heartbeat thread pushes ``expires_at`` forward every ``RENEW_EVERY`` seconds; a holder that
  crashed stops renewing, and its lease lapses after ``TTL`` seconds without anyone's help.
- **Giving it back** clears the holder at the end of the step, whatever its outcome.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from erp_wms_sync.errors import ErpWmsSyncError
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import FlowLease, utcnow

log = logging.getLogger(__name__)

TTL = 120.0  # seconds a lease lives without a renewal
RENEW_EVERY = 30.0
WAIT = 3600.0  # longest wait for another holder before the step fails (and its task retries)
POLL = 2.0


class FlowBusy(ErpWmsSyncError):
    """Another writer kept the flow's lease for longer than a step may wait."""


def try_acquire(session: Session, integration: str, flow: str, holder: str, now: datetime,
                ttl: float = TTL) -> str | None:
    """Take the lease for ``holder`` (None), or name who holds it (their holder string). Commits nothing itself:
    the caller's transaction decides."""
    expires = now + timedelta(seconds=ttl)
    taken = session.execute(
        update(FlowLease)
        .where(FlowLease.integration == integration, FlowLease.flow == flow,
               or_(FlowLease.holder.is_(None), FlowLease.holder == holder, FlowLease.expires_at.is_(None),
                   FlowLease.expires_at < now))
        .values(holder=holder, acquired_at=now, expires_at=expires)
        .execution_options(synchronize_session=False))
    if getattr(taken, "rowcount", 0) == 1:
        return None
    row = session.get(FlowLease, (integration, flow))
    if row is None:
        try:
            with session.begin_nested():
                session.add(FlowLease(integration=integration, flow=flow, holder=holder, acquired_at=now,
                                      expires_at=expires))
            return None
        except IntegrityError:  # another writer inserted the row first
            row = session.get(FlowLease, (integration, flow), populate_existing=True)
    return row.holder if row is not None and row.holder else "another writer"


def renew(session: Session, integration: str, flow: str, holder: str, now: datetime, ttl: float = TTL) -> bool:
    """Push the lease's expiry forward; False when ``holder`` no longer holds it."""
    done = session.execute(
        update(FlowLease)
        .where(FlowLease.integration == integration, FlowLease.flow == flow, FlowLease.holder == holder)
        .values(expires_at=now + timedelta(seconds=ttl))
        .execution_options(synchronize_session=False))
    return getattr(done, "rowcount", 0) == 1


def release(session: Session, integration: str, flow: str, holder: str) -> None:
    """Give the lease back (nothing when ``holder`` no longer holds it)."""
    session.execute(
        update(FlowLease)
        .where(FlowLease.integration == integration, FlowLease.flow == flow, FlowLease.holder == holder)
        .values(holder=None, expires_at=None)
        .execution_options(synchronize_session=False))


@contextmanager
def exclusive(url: str | None, integration: str, flow: str, holder: str, *, ttl: float = TTL,
              wait: float = WAIT, poll: float = POLL, renew_every: float = RENEW_EVERY,
              clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:
    """Hold the flow's lease for the block (waiting for another holder, bounded by ``wait``)."""
    deadline = clock() + wait
    waiting_for: str | None = None
    while True:
        with session_scope(url) as session:
            other = try_acquire(session, integration, flow, holder, utcnow(), ttl)
        if other is None:
            break
        if other != waiting_for:
            log.info("%s %s: waiting for %s to finish writing", integration, flow, other)
            waiting_for = other
        if clock() >= deadline:
            raise FlowBusy(f"{integration} {flow}: {other} kept writing for over {wait:.0f} s; this step will "
                           "be retried (look for a stuck run of this flow)")
        sleep(poll)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(url, integration, flow, holder, ttl, renew_every, stop),
                            name=f"lease-{integration}-{flow}", daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join(timeout=10)
        try:
            with session_scope(url) as session:
                release(session, integration, flow, holder)
        except ErpWmsSyncError as exc:  # the ledger is down: the lease lapses after its TTL instead
            log.warning("%s %s: could not give the lease back (%s); it lapses in %.0f s", integration, flow, exc,
                        ttl)


def _heartbeat(url: str | None, integration: str, flow: str, holder: str, ttl: float, every: float,
               stop: threading.Event) -> None:
    while not stop.wait(every):
        try:
            with session_scope(url) as session:
                kept = renew(session, integration, flow, holder, utcnow(), ttl)
        except ErpWmsSyncError as exc:
            log.warning("%s %s: could not renew the lease (%s); trying again in %.0f s", integration, flow, exc,
                        every)
            continue
        if not kept:
            log.error("%s %s: %s lost the lease (it lapsed: the ledger was out of reach for over %.0f s); another "
                      "writer may now run beside this step", integration, flow, holder, ttl)
            return
