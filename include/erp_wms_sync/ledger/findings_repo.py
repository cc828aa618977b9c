"""Ledger queries of reconciliation's order, return and item findings: what the integration released, is
confirming and received, read as plain rows (column tuples, no ORM objects) in bulk, chunked queries.

Each query is bounded: the orders Peoplevox must hold (released, blocked) or that are pending, plus those the
ledger touched since a moment; the order numbers asked for; the return lines still owed something, plus those
seen since a moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from erp_wms_sync.ledger.models import DespatchRecord, OrderRecord, ReturnRecord

CHUNK = 500
ORDER_FIELDS = ("erp_id", "number", "state", "wms_number", "erp_status")
RETURN_FIELDS = ("return_code", "item_code", "sales_order", "quantity", "sellable", "state", "returned_at",
                 "ra_number", "erp_ref", "erp_order_id")
#: Despatch states of a confirmation under way (see DespatchRecord).
CONFIRMING = ("new", "confirming", "batched")
#: Ledger states of an order Peoplevox should hold, or that the integration is still working on.
WATCHED_ORDER_STATES = ("released", "blocked", "waiting", "held", "sending")
_ORDER_COLUMNS = (OrderRecord.erp_order_id, OrderRecord.erp_order_number, OrderRecord.state,
                  OrderRecord.wms_order_number, OrderRecord.erp_status)


def _chunks(items: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield list(items[start:start + CHUNK])


def order_rows(session: Session, integration: str, *, since: datetime) -> list[dict[str, Any]]:
    """Orders the ledger watches (:data:`WATCHED_ORDER_STATES`) and every order it changed at or after ``since``."""
    query = select(*_ORDER_COLUMNS).where(
        OrderRecord.integration == integration,
        or_(OrderRecord.state.in_(WATCHED_ORDER_STATES), OrderRecord.updated_at >= since))
    return [dict(zip(ORDER_FIELDS, row, strict=True)) for row in session.execute(query)]


def orders_named(session: Session, integration: str, numbers: Iterable[str]) -> list[dict[str, Any]]:
    """Orders whose ERP number or Peoplevox number is one of ``numbers`` (exact spelling)."""
    wanted = sorted({n for n in numbers if n})
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(wanted):
        query = select(*_ORDER_COLUMNS).where(
            OrderRecord.integration == integration,
            or_(OrderRecord.erp_order_number.in_(chunk), OrderRecord.wms_order_number.in_(chunk)))
        for row in session.execute(query):
            found[row[0]] = dict(zip(ORDER_FIELDS, row, strict=True))
    return list(found.values())


def despatches_in_progress(session: Session, integration: str, *, since: datetime) -> set[str]:
    """Peoplevox order numbers of despatches whose ERP confirmation is under way and was first seen at or after
    ``since`` (a confirmation older than that is late, not under way)."""
    query = select(DespatchRecord.wms_order_number).where(
        DespatchRecord.integration == integration, DespatchRecord.state.in_(CONFIRMING),
        DespatchRecord.seen_at >= since)
    return {row[0] for row in session.execute(query) if row[0]}


def return_rows(session: Session, integration: str, *, owed_states: Sequence[str],
                since: datetime) -> list[dict[str, Any]]:
    """Returned lines still in one of ``owed_states``, plus every line first seen at or after ``since``."""
    columns = (ReturnRecord.return_code, ReturnRecord.item_code, ReturnRecord.sales_order, ReturnRecord.quantity,
               ReturnRecord.sellable, ReturnRecord.state, ReturnRecord.returned_at, ReturnRecord.ra_number,
               ReturnRecord.erp_ref, ReturnRecord.erp_order_id)
    query = select(*columns).where(ReturnRecord.integration == integration,
                                   or_(ReturnRecord.state.in_(owed_states), ReturnRecord.seen_at >= since))
    return [dict(zip(RETURN_FIELDS, row, strict=True)) for row in session.execute(query)]
