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

from sqlalchemy import select
from sqlalchemy.orm import Session

from erp_wms_sync.ledger.models import (
    CatalogueItem,
    CheckResult,
    Cursor,
    ExceptionAttempt,
    ExceptionRecord,
    Message,
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
            _close(row, by=by, note=note, run_id=run_id)
            count += 1
    return count


def resolve_exception(session: Session, exception_id: int, *, by: str, note: str) -> ExceptionRecord:
    row = session.get(ExceptionRecord, exception_id)
    if row is None:
        raise KeyError(f"exception {exception_id} does not exist")
    _close(row, by=by, note=note, run_id=None)
    return row


def _close(row: ExceptionRecord, *, by: str, note: str, run_id: str | None) -> None:
    now = utcnow()
    row.status = RESOLVED
    row.resolved_at = now
    row.resolved_by = by
    row.resolution_note = note
    row.next_retry_at = None
    row.history.append(ExceptionAttempt(at=now, outcome="resolved", message=note, run_id=run_id))


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
