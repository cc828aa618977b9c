"""Ledger queries of dispatch confirmation: the webhook inbox drained by state, and the despatches table.

Bulk, chunked queries only (a busy day has thousands of despatches); no SQL in the flow modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from erp_wms_sync.ledger.models import DespatchRecord, OrderRecord, WebhookInbox, utcnow

CHUNK = 500

# A despatch whose ERP confirmation has started or is done: its quantities are no longer open on the order.
COUNTED_STATES = ("confirming", "confirmed", "batched", "ready")


def _chunked(keys: Iterable[str]) -> Iterable[list[str]]:
    items = list(dict.fromkeys(keys))
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def pending_inbox(session: Session, integration: str, source: str, limit: int, *,
                  event_types: Sequence[str] | None = None) -> list[WebhookInbox]:
    """Callbacks not processed yet (``received``, or ``waiting`` for the WMS report to list them), oldest first;
    only those of ``event_types`` when given (one source carries the events of several flows)."""
    query = select(WebhookInbox).where(WebhookInbox.integration == integration, WebhookInbox.source == source,
                                       WebhookInbox.status.in_(("received", "waiting")))
    if event_types is not None:
        query = query.where(WebhookInbox.event_type.in_(list(event_types)))
    return list(session.scalars(query.order_by(WebhookInbox.id).limit(limit)))


def mark_inbox(session: Session, ids: Sequence[int], status: str, error: str | None = None) -> None:
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start:start + CHUNK])
        values: dict[str, object] = {"status": status, "error": error}
        if status in ("processed", "failed"):
            values["processed_at"] = utcnow()
        session.execute(update(WebhookInbox).where(WebhookInbox.id.in_(chunk)).values(**values)
                        .execution_options(synchronize_session=False))


def bump_inbox_attempts(session: Session, ids: Sequence[int]) -> None:
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start:start + CHUNK])
        session.execute(update(WebhookInbox).where(WebhookInbox.id.in_(chunk))
                        .values(attempts=WebhookInbox.attempts + 1, status="waiting")
                        .execution_options(synchronize_session=False))


def despatch_records(session: Session, integration: str, numbers: Iterable[str]) -> dict[str, DespatchRecord]:
    found: dict[str, DespatchRecord] = {}
    for chunk in _chunked(numbers):
        for row in session.scalars(select(DespatchRecord).where(DespatchRecord.integration == integration,
                                                                DespatchRecord.despatch_number.in_(chunk))):
            found[row.despatch_number] = row
    return found


def despatches_in_states(session: Session, integration: str, states: Iterable[str],
                         limit: int | None = None) -> list[DespatchRecord]:
    query = (select(DespatchRecord).where(DespatchRecord.integration == integration,
                                          DespatchRecord.state.in_(list(states)))
             .order_by(DespatchRecord.despatched_at, DespatchRecord.id))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def despatches_to_check(session: Session, integration: str, limit: int) -> list[DespatchRecord]:
    """At most ``limit`` despatches for the dispatch check: every ``new`` one first (oldest first), then ``held``
    ones in the room left, the least recently checked first (the check stamps ``updated_at``). However many are
    held, a new despatch is never kept waiting behind them, and every held one is looked at again in turn."""
    rows = despatches_in_states(session, integration, ("new",), limit=limit)
    room = limit - len(rows)
    if room > 0:
        rows += list(session.scalars(select(DespatchRecord).where(DespatchRecord.integration == integration,
                                                                  DespatchRecord.state == "held")
                                     .order_by(DespatchRecord.updated_at, DespatchRecord.id).limit(room)))
    return rows


def despatches_of_orders(session: Session, integration: str,
                         wms_numbers: Iterable[str]) -> dict[str, list[DespatchRecord]]:
    found: dict[str, list[DespatchRecord]] = {}
    for chunk in _chunked(wms_numbers):
        for row in session.scalars(select(DespatchRecord).where(DespatchRecord.integration == integration,
                                                                DespatchRecord.wms_order_number.in_(chunk))
                                   .order_by(DespatchRecord.id)):
            found.setdefault(row.wms_order_number, []).append(row)
    return found


def orders_by_wms_number(session: Session, integration: str, wms_numbers: Iterable[str]) -> dict[str, OrderRecord]:
    """Ledger orders by the number Peoplevox knows them under (a re-issued order has its suffixed number)."""
    found: dict[str, OrderRecord] = {}
    for chunk in _chunked(wms_numbers):
        for row in session.scalars(select(OrderRecord).where(OrderRecord.integration == integration,
                                                             OrderRecord.wms_order_number.in_(chunk))):
            found[row.wms_order_number or ""] = row
    return found


def confirmed_between(session: Session, integration: str, since: datetime) -> list[DespatchRecord]:
    """Despatches confirmed at or after ``since`` (naive UTC): the latency figures of a run."""
    return list(session.scalars(select(DespatchRecord).where(DespatchRecord.integration == integration,
                                                             DespatchRecord.confirmed_at >= since)))
