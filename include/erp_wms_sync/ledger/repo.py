"""Ledger operations used by the flows: exceptions, messages, catalogue, cursors and check results.

Every function takes an open SQLAlchemy session (see :func:`erp_wms_sync.ledger.db.session_scope`) so a flow
decides its own transaction boundaries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from erp_wms_sync.ledger.models import (
    CatalogueItem,
    CheckResult,
    Cursor,
    ExceptionAttempt,
    ExceptionRecord,
    Message,
    OrderRecord,
    StagedRecord,
    utcnow,
)

RETRY_SCHEDULE = (timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=45), timedelta(hours=2),
                  timedelta(hours=6))
OPEN = "open"
RESOLVED = "resolved"
IGNORED = "ignored"


def fingerprint(integration: str, type_: str, entity_type: str, entity_key: str) -> str:
    """Same problem (type) on the same record → same fingerprint → one exception row."""
    raw = "|".join((integration, type_, entity_type, entity_key))
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def next_retry(attempts: int, now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return now + RETRY_SCHEDULE[min(max(attempts, 1), len(RETRY_SCHEDULE)) - 1]


@dataclass(frozen=True)
class NewException:
    """What a flow knows about a record it cannot process."""

    type: str
    entity_type: str
    entity_key: str
    summary: str
    detail: Mapping[str, Any]
    payload: Mapping[str, Any] | None


def raise_exception(session: Session, *, integration: str, flow: str, owner: str, exc: NewException,
                    run_id: str | None) -> tuple[ExceptionRecord, bool]:
    """Open (or refresh) the exception for this problem; returns (row, created_or_reopened)."""
    fp = fingerprint(integration, exc.type, exc.entity_type, exc.entity_key)
    row = session.scalar(select(ExceptionRecord).where(ExceptionRecord.integration == integration,
                                                       ExceptionRecord.fingerprint == fp))
    now = utcnow()
    if row is None:
        row = ExceptionRecord(integration=integration, flow=flow, type=exc.type, owner=owner, status=OPEN,
                              fingerprint=fp, entity_type=exc.entity_type, entity_key=exc.entity_key,
                              summary=exc.summary[:500], detail=dict(exc.detail), payload=plain(exc.payload),
                              attempts=1, next_retry_at=next_retry(1, now), first_seen=now, last_seen=now,
                              run_id=run_id)
        row.history.append(ExceptionAttempt(at=now, outcome="raised", message=exc.summary[:2000], run_id=run_id))
        session.add(row)
        return row, True
    reopened = row.status != OPEN and row.status != IGNORED
    if row.status == IGNORED:
        row.last_seen = now
        return row, False
    row.status = OPEN
    row.attempts += 1
    row.summary = exc.summary[:500]
    row.detail = dict(exc.detail)
    row.payload = plain(exc.payload)
    row.last_seen = now
    row.next_retry_at = next_retry(row.attempts, now)
    row.run_id = run_id
    row.resolved_at = None
    if reopened:  # a new occurrence: retried on the schedule again, escalated again if it runs out
        row.parked_at = None
    row.history.append(ExceptionAttempt(at=now, outcome="reopened" if reopened else "seen_again",
                                        message=exc.summary[:2000], run_id=run_id))
    return row, reopened


def resolve_exceptions(session: Session, *, integration: str, entity_type: str, entity_keys: Iterable[str],
                       types: Iterable[str], by: str, note: str, run_id: str | None = None) -> int:
    """Close the open exceptions of these types for these records (their cause is gone); returns the count."""
    keys = list(entity_keys)
    if not keys:
        return 0
    count = 0
    for chunk_start in range(0, len(keys), 500):
        chunk = keys[chunk_start:chunk_start + 500]
        rows = session.scalars(select(ExceptionRecord).where(
            ExceptionRecord.integration == integration, ExceptionRecord.status == OPEN,
            ExceptionRecord.entity_type == entity_type, ExceptionRecord.type.in_(list(types)),
            ExceptionRecord.entity_key.in_(chunk)))
        for row in rows:
            close_row(row, by=by, note=note, run_id=run_id)
            count += 1
    return count


def resolve_exception(session: Session, exception_id: int, *, by: str, note: str) -> ExceptionRecord:
    row = session.get(ExceptionRecord, exception_id)
    if row is None:
        raise KeyError(f"exception {exception_id} does not exist")
    close_row(row, by=by, note=note, run_id=None)
    return row


def close_row(row: ExceptionRecord, *, by: str, note: str, run_id: str | None) -> None:
    """Resolve one loaded exception row; its history records who closed it and why."""
    now = utcnow()
    row.status = RESOLVED
    row.resolved_at = now
    row.resolved_by = by
    row.resolution_note = note
    row.next_retry_at = None
    row.history.append(ExceptionAttempt(at=now, outcome="resolved", message=note[:2000], run_id=run_id))


def open_exceptions(session: Session, integration: str, *, type_: str | None = None,
                    entity_type: str | None = None) -> list[ExceptionRecord]:
    query = select(ExceptionRecord).where(ExceptionRecord.integration == integration,
                                          ExceptionRecord.status == OPEN)
    if type_:
        query = query.where(ExceptionRecord.type == type_)
    if entity_type:
        query = query.where(ExceptionRecord.entity_type == entity_type)
    return list(session.scalars(query.order_by(ExceptionRecord.id)))


# --- messages (idempotent writes + payload archive) --------------------------------------------------------
def find_message(session: Session, idempotency_key: str) -> Message | None:
    return session.scalar(select(Message).where(Message.idempotency_key == idempotency_key))


def record_message(session: Session, *, integration: str, flow: str, direction: str, entity_type: str,
                   entity_key: str, idempotency_key: str, content_hash: str | None, status: str,
                   payload: Mapping[str, Any] | None, response: Mapping[str, Any] | None = None,
                   target_ref: str | None = None, run_id: str | None = None) -> Message:
    """Insert the message, or update the earlier row with the same idempotency key (a retry)."""
    row = find_message(session, idempotency_key)
    if row is None:
        row = Message(integration=integration, flow=flow, direction=direction, entity_type=entity_type,
                      entity_key=entity_key, idempotency_key=idempotency_key, attempts=1)
        session.add(row)
    else:
        row.attempts += 1
    row.content_hash = content_hash
    row.status = status
    row.payload = plain(payload)
    row.response = plain(response)
    row.target_ref = target_ref
    row.run_id = run_id
    return row


# --- catalogue ----------------------------------------------------------------------------------------------
def catalogue(session: Session, integration: str) -> dict[str, CatalogueItem]:
    rows = session.scalars(select(CatalogueItem).where(CatalogueItem.integration == integration))
    return {row.sku: row for row in rows}


def upsert_catalogue_item(session: Session, *, integration: str, sku: str, erp_status: str,
                          erp_modified_at: datetime | None, content_hash: str | None = None,
                          synced: bool = False, existing: CatalogueItem | None = None) -> CatalogueItem:
    row = existing or session.get(CatalogueItem, (integration, sku))
    now = utcnow()
    if row is None:
        row = CatalogueItem(integration=integration, sku=sku)
        session.add(row)
    row.erp_status = erp_status
    row.erp_modified_at = erp_modified_at
    row.seen_at = now
    if synced:
        row.content_hash = content_hash
        row.synced_at = now
    return row


# --- cursors ------------------------------------------------------------------------------------------------
def get_cursor(session: Session, integration: str, flow: str) -> Cursor | None:
    return session.get(Cursor, (integration, flow))


def advance_cursor(session: Session, integration: str, flow: str, watermark: datetime,
                   run_id: str | None) -> Cursor:
    """Move the watermark forward (never back: a backfill of an old window leaves it where it is)."""
    row = get_cursor(session, integration, flow)
    if row is None:
        row = Cursor(integration=integration, flow=flow, watermark=watermark, run_id=run_id)
        session.add(row)
    elif row.watermark is None or watermark > row.watermark:
        row.watermark = watermark
        row.run_id = run_id
    return row


# --- orders (bulk: one query per chunk of keys, never one per record) --------------------------------------
CHUNK = 500


def _chunked(keys: Iterable[Any]) -> Iterable[list[Any]]:
    items = list(keys)
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def order_records(session: Session, integration: str, erp_ids: Iterable[str]) -> dict[str, OrderRecord]:
    """The ledger rows of these ERP orders, by ERP id (unknown ids are absent)."""
    found: dict[str, OrderRecord] = {}
    for chunk in _chunked(sorted(set(erp_ids))):
        rows = session.scalars(select(OrderRecord).where(OrderRecord.integration == integration,
                                                         OrderRecord.erp_order_id.in_(chunk)))
        found.update({row.erp_order_id: row for row in rows})
    return found


def orders_in_states(session: Session, integration: str, states: Iterable[str]) -> list[OrderRecord]:
    """Every order of the integration in one of these states (e.g. held and waiting orders to re-validate)."""
    return list(session.scalars(select(OrderRecord).where(
        OrderRecord.integration == integration, OrderRecord.state.in_([str(s) for s in states]))
        .order_by(OrderRecord.id)))


@dataclass(frozen=True)
class OrderUpdate:
    """What a flow learnt about one order: its ERP identity and stamp, its new state, payload keys to merge."""

    erp_id: str
    number: str
    erp_status: str
    erp_updated: str
    state: str
    payload: Mapping[str, Any]


def upsert_orders(session: Session, integration: str, updates: Iterable[OrderUpdate],
                  known: Mapping[str, OrderRecord] | None = None) -> dict[str, OrderRecord]:
    """Create or update the ledger rows of these orders in bulk; ``known`` saves the lookup when the caller
    already holds the rows. An update without an ERP id is refused (``ValueError``): it would be a poison row."""
    todo = list(updates)
    if any(not u.erp_id for u in todo):
        raise ValueError("an order without an ERP id cannot be recorded")
    rows = dict(known) if known is not None else order_records(session, integration, (u.erp_id for u in todo))
    for change in todo:
        row = rows.get(change.erp_id)
        if row is None:
            row = OrderRecord(integration=integration, erp_order_id=change.erp_id, erp_order_number=change.number,
                              state=str(change.state), version=0, payload={})
            session.add(row)
            rows[change.erp_id] = row
        row.erp_order_number = change.number
        row.erp_status = change.erp_status
        row.erp_updated = change.erp_updated
        row.state = str(change.state)
        row.payload = {**(row.payload or {}), **(plain(change.payload) or {})}
    return rows


def open_exception_types(session: Session, integration: str, entity_type: str,
                         keys: Iterable[str]) -> dict[str, list[str]]:
    """The types of the open exceptions of these records, by entity key."""
    found: dict[str, list[str]] = {}
    for chunk in _chunked(sorted(set(keys))):
        rows = session.execute(select(ExceptionRecord.entity_key, ExceptionRecord.type).where(
            ExceptionRecord.integration == integration, ExceptionRecord.status == OPEN,
            ExceptionRecord.entity_type == entity_type, ExceptionRecord.entity_key.in_(chunk)))
        for key, type_ in rows:
            found.setdefault(key, []).append(type_)
    return {key: sorted(types) for key, types in found.items()}


def new_exceptions_in_run(session: Session, integration: str, run_id: str, flows: Iterable[str],
                          since: datetime | None = None) -> list[ExceptionRecord]:
    """The open exceptions raised for the first time or reopened (not those only seen again) by this run, or —
    with ``since`` — at or after that moment (so a run whose data check never ran hands its new problems to the
    next one): what a data check alerts about."""
    new_attempt = ExceptionAttempt.outcome.in_(("raised", "reopened"))
    when = ExceptionAttempt.run_id == run_id if since is None else or_(ExceptionAttempt.run_id == run_id,
                                                                       ExceptionAttempt.at >= since)
    query = (select(ExceptionRecord).join(ExceptionAttempt, ExceptionAttempt.exception_id == ExceptionRecord.id)
             .where(ExceptionRecord.integration == integration, ExceptionRecord.flow.in_(list(flows)),
                    ExceptionRecord.status == OPEN, new_attempt, when)
             .distinct().order_by(ExceptionRecord.id))
    return list(session.scalars(query))


def known_catalogue_skus(session: Session, integration: str, skus: Iterable[str]) -> set[str]:
    """Which of these SKUs the ERP item master has (item master sync records every ERP SKU it reads)."""
    found: set[str] = set()
    for chunk in _chunked(sorted({s for s in skus if s})):
        found.update(session.scalars(select(CatalogueItem.sku).where(CatalogueItem.integration == integration,
                                                                     CatalogueItem.sku.in_(chunk))))
    return found


# --- staging: records handed from one task of a run to the next -------------------------------------------
def stage_records(session: Session, *, integration: str, flow: str, run_key: str,
                  records: Iterable[tuple[str, Mapping[str, Any]]], verdict: str = "pending") -> int:
    """Add (entity_key, data) rows for this run."""
    count = 0
    for key, data in records:
        session.add(StagedRecord(integration=integration, flow=flow, run_key=run_key, entity_key=key,
                                 data=dict(data), verdict=str(verdict)))
        count += 1
    return count


def staged_records(session: Session, *, integration: str, flow: str, run_key: str,
                   verdicts: Iterable[str] | None = None) -> list[StagedRecord]:
    """This run's staged rows (only those with these verdicts when given), in staging order."""
    query = select(StagedRecord).where(StagedRecord.integration == integration, StagedRecord.flow == flow,
                                       StagedRecord.run_key == run_key)
    if verdicts is not None:
        query = query.where(StagedRecord.verdict.in_([str(v) for v in verdicts]))
    return list(session.scalars(query.order_by(StagedRecord.id)))


def set_verdicts(session: Session, ids: Iterable[int], verdict: str) -> None:
    """One UPDATE per 500 staged rows."""
    for chunk in _chunked(ids):
        session.execute(update(StagedRecord).where(StagedRecord.id.in_(chunk)).values(verdict=str(verdict)),
                        execution_options={"synchronize_session": False})


def update_staged_data(session: Session, data_by_id: Mapping[int, Mapping[str, Any]]) -> None:
    """Replace the data of these staged rows: one executemany, not one UPDATE per row."""
    if data_by_id:
        session.execute(update(StagedRecord), [{"id": key, "data": dict(value)} for key, value in data_by_id.items()])


def clear_staged(session: Session, *, integration: str, flow: str, run_key: str) -> None:
    session.execute(delete(StagedRecord).where(StagedRecord.integration == integration, StagedRecord.flow == flow,
                                               StagedRecord.run_key == run_key))


def latest_check(session: Session, *, integration: str, flow: str, run_id: str) -> CheckResult | None:
    return session.scalar(select(CheckResult).where(
        CheckResult.integration == integration, CheckResult.flow == flow,
        CheckResult.run_id == run_id).order_by(CheckResult.id.desc()).limit(1))


# --- data-check results -------------------------------------------------------------------------------------
def record_check(session: Session, *, integration: str, flow: str, suite: str, run_id: str | None,
                 success: bool, evaluated: int, failed_records: int, summary: Mapping[str, Any]) -> CheckResult:
    row = CheckResult(integration=integration, flow=flow, suite=suite, run_id=run_id, success=success,
                      evaluated=evaluated, failed_records=failed_records, summary=plain(summary))
    session.add(row)
    return row


def plain(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A JSON-safe copy (datetimes as ISO strings)."""
    if value is None:
        return None
    import json

    return dict(json.loads(json.dumps(dict(value), default=str)))
