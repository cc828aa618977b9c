"""Ledger queries of exception housekeeping: set-based, one statement per question, never one query per record.

- :func:`due_exceptions`: open, not parked exceptions of the given types whose ``next_retry_at`` has passed;
- :func:`record_retry` / :func:`park`: an attempt in an exception's history, and giving up on it;
- :func:`gone_order_holds`, :func:`gone_despatch_problems`, :func:`gone_pair_holds`, :func:`gone_return_problems`:
  the open exceptions whose cause the ledger says is gone;
- :func:`despatch_breaches` / :func:`confirm_breaches`: the orders past a stage deadline right now;
- :func:`purge_staged`: staging rows of abandoned runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.models import (
    DespatchRecord,
    ExceptionAttempt,
    ExceptionRecord,
    OrderRecord,
    ReturnRecord,
    StagedRecord,
    StockMovementRecord,
    utcnow,
)
from erp_wms_sync.ledger.repo import OPEN, next_retry

#: Despatch states that need nothing more from the ERP.
DESPATCH_DONE = ("confirmed", "ignored")
#: Return line states with nothing left to do in the ERP.
RETURN_DONE = ("credited", "received", "closed")
#: Order states in which an order is no longer held for release.
ORDER_MOVED_ON = ("released", "ignored", "cancelled")


def due_exceptions(session: Session, integration: str, types: Iterable[str], now: datetime,
                   limit: int) -> list[ExceptionRecord]:
    """Open, not parked exceptions of these types due for a retry, the longest due first, at most ``limit``."""
    query = (select(ExceptionRecord)
             .where(ExceptionRecord.integration == integration, ExceptionRecord.status == OPEN,
                    ExceptionRecord.parked_at.is_(None), ExceptionRecord.type.in_(list(types)),
                    ExceptionRecord.next_retry_at.is_not(None), ExceptionRecord.next_retry_at <= now)
             .order_by(ExceptionRecord.next_retry_at, ExceptionRecord.id).limit(limit))
    return list(session.scalars(query))


def record_retry(row: ExceptionRecord, *, message: str, now: datetime, run_id: str | None,
                 count: bool = True) -> None:
    """One retry in the history (stamped with the wall clock); ``count`` adds it to ``attempts`` and schedules the
    next step from ``now``, the run's moment."""
    if count:
        row.attempts += 1
        row.next_retry_at = next_retry(row.attempts, now)
    row.history.append(ExceptionAttempt(at=utcnow(), outcome="retried", message=message[:2000], run_id=run_id))


def park(row: ExceptionRecord, *, message: str, run_id: str | None) -> None:
    """Stop retrying: the exception stays open (it still holds its record) and is escalated once. ``parked_at``
    is the wall-clock moment (what the escalation cursor compares with), whatever the run's window.
    ``next_retry_at`` is left alone: a flow that retries by itself (inventory sync) keeps its own backoff."""
    now = utcnow()
    row.parked_at = now
    row.history.append(ExceptionAttempt(at=now, outcome="parked", message=message[:2000], run_id=run_id))


def close(row: ExceptionRecord, *, by: str, note: str, run_id: str | None) -> None:
    """Resolve one exception whose cause is gone (the history says why)."""
    repo.close_row(row, by=by, note=note, run_id=run_id)


def newly_parked(session: Session, integration: str, since: datetime) -> list[ExceptionRecord]:
    """Open exceptions parked at or after ``since`` (what one escalation reports)."""
    return list(session.scalars(select(ExceptionRecord).where(
        ExceptionRecord.integration == integration, ExceptionRecord.status == OPEN,
        ExceptionRecord.parked_at.is_not(None), ExceptionRecord.parked_at >= since).order_by(ExceptionRecord.id)))


def _open(integration: str, entity_type: str, types: Iterable[str]) -> list:
    return [ExceptionRecord.integration == integration, ExceptionRecord.status == OPEN,
            ExceptionRecord.entity_type == entity_type, ExceptionRecord.type.in_(list(types))]


def gone_order_holds(session: Session, integration: str, types: Iterable[str]) -> list[ExceptionRecord]:
    """Order holds whose order went on without them: released after the hold was last seen (a hold seen after the
    release is about an amendment and stays), dropped or cancelled."""
    order = OrderRecord
    moved_on = and_(order.integration == integration, order.erp_order_number == ExceptionRecord.entity_key,
                    or_(and_(order.state == "released", order.released_at.is_not(None),
                             order.released_at > ExceptionRecord.last_seen),
                        order.state.in_(("ignored", "cancelled"))))
    return list(session.scalars(select(ExceptionRecord).where(*_open(integration, "order", types),
                                                             exists().where(moved_on))))


def gone_despatch_problems(session: Session, integration: str, types: Iterable[str]) -> list[ExceptionRecord]:
    """Despatch exceptions whose despatch is confirmed in the ERP (or resolved by hand) now."""
    done = and_(DespatchRecord.integration == integration,
                DespatchRecord.despatch_number == ExceptionRecord.entity_key,
                DespatchRecord.state.in_(DESPATCH_DONE))
    return list(session.scalars(select(ExceptionRecord).where(*_open(integration, "despatch", types),
                                                             exists().where(done))))


def gone_pair_holds(session: Session, integration: str, types: Iterable[str]) -> list[ExceptionRecord]:
    """Stock pair holds (Cin7 movement queue) whose movements were all applied since: the pair has movements in
    the queue and none of them is held or still queued."""
    move = StockMovementRecord
    key = move.item_code + "|" + move.site
    of_pair = and_(move.integration == integration, key == ExceptionRecord.entity_key)
    pending = and_(of_pair, move.state.in_(("held", "queued")))
    applied = and_(of_pair, move.state == "applied")
    return list(session.scalars(select(ExceptionRecord).where(
        *_open(integration, "stock_pair", types), exists().where(applied), ~exists().where(pending))))


def gone_return_problems(session: Session, integration: str, types: Iterable[str]) -> list[ExceptionRecord]:
    """Return exceptions (of a whole return, keyed by its code, or of one line, ``code|item``) whose every line is
    credited, received or closed now."""
    line_key = ReturnRecord.return_code + "|" + ReturnRecord.item_code
    lines = and_(ReturnRecord.integration == integration,
                 or_(ReturnRecord.return_code == ExceptionRecord.entity_key, line_key == ExceptionRecord.entity_key))
    return list(session.scalars(select(ExceptionRecord).where(
        *_open(integration, "return", types), exists().where(lines),
        ~exists().where(and_(lines, ReturnRecord.state.not_in(RETURN_DONE))))))


def despatch_breaches(session: Session, integration: str, released_before: datetime) -> dict[str, datetime]:
    """Orders released before ``released_before`` with no despatch in the ledger: {order number: released at}."""
    despatched = and_(DespatchRecord.integration == integration,
                      DespatchRecord.wms_order_number == OrderRecord.wms_order_number)
    rows = session.execute(select(OrderRecord.erp_order_number, OrderRecord.released_at).where(
        OrderRecord.integration == integration, OrderRecord.state == "released",
        OrderRecord.released_at.is_not(None), OrderRecord.released_at <= released_before,
        ~exists().where(despatched)).order_by(OrderRecord.released_at))
    return {number: at for number, at in rows if at is not None}


def confirm_breaches(session: Session, integration: str, despatched_before: datetime) -> dict[str, datetime]:
    """Orders with a despatch not confirmed in the ERP that happened before ``despatched_before``: {order number:
    earliest such despatch}. Despatches of orders the ERP does not know are ``despatch_for_unknown_order``."""
    when = func.coalesce(DespatchRecord.despatched_at, DespatchRecord.seen_at)
    rows = session.execute(select(DespatchRecord.erp_order_number, func.min(when)).where(
        DespatchRecord.integration == integration, DespatchRecord.erp_order_number.is_not(None),
        DespatchRecord.state.not_in(DESPATCH_DONE), when <= despatched_before)
        .group_by(DespatchRecord.erp_order_number).order_by(func.min(when)))
    return {number: at for number, at in rows if number}


def open_of_type(session: Session, integration: str, type_: str) -> list[ExceptionRecord]:
    return list(session.scalars(select(ExceptionRecord).where(
        ExceptionRecord.integration == integration, ExceptionRecord.status == OPEN, ExceptionRecord.type == type_)))


def purge_staged(session: Session, integration: str, older_than: datetime) -> int:
    """Delete this integration's staging rows created before ``older_than`` (runs that never finished); returns
    the count."""
    result = session.execute(delete(StagedRecord).where(StagedRecord.integration == integration,
                                                        StagedRecord.created_at < older_than),
                             execution_options={"synchronize_session": False})
    return int(getattr(result, "rowcount", 0) or 0)
