"""Ledger queries of inventory sync: the stock movement queue, the stock positions and the adjustment journal.

Bulk, chunked queries only (a busy day has tens of thousands of movements); no flow logic and no SQL in the flow
modules. Works the same on SQLite and Postgres: no dialect-specific upserts, inserts are "select the known keys in
chunks, then add the rest". Two runs of one integration inserting at once would meet the unique constraints
(an IntegrityError), never a duplicate row; the inventory sync DAG runs one at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from erp_wms_sync.ledger.models import StockAdjustmentRecord, StockMovementRecord, StockPosition, utcnow

CHUNK = 500

T = TypeVar("T")

MOVEMENT_KINDS = ("stock", "despatch")
MOVEMENT_STATES = ("queued", "waiting", "applied", "opening", "stale", "held")
JOURNAL_STATES = ("posting", "posted", "failed")
# Journal entries whose outcome in the ERP is not settled: their pairs must not be adjusted again meanwhile. A
# ``failed`` entry is settled (the ERP refused it, or it was not found after a crash): its movements are still queued
# and are planned again into a new entry.
OPEN_JOURNAL_STATES = ("posting",)

_REQUIRED = ("history_id", "item_code", "site", "quantity", "counted_delta", "kind")
_OPTIONAL: dict[str, Any] = {"from_location": "", "to_location": "", "sales_order": None, "reason": "",
                             "occurred_at": None, "payload": None}


def _chunks(items: Sequence[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), CHUNK):
        yield list(items[start:start + CHUNK])


def _check_state(state: str, allowed: Sequence[str], what: str) -> None:
    if state not in allowed:
        raise ValueError(f"unknown {what} state {state!r}: expected one of {', '.join(allowed)}")


def known_history_ids(session: Session, integration: str, ids: Iterable[int]) -> set[int]:
    """The History Ids among ``ids`` already in the stock queue of ``integration`` (whatever their state)."""
    wanted = list(dict.fromkeys(ids))
    found: set[int] = set()
    for chunk in _chunks(wanted):
        found.update(session.scalars(select(StockMovementRecord.history_id).where(
            StockMovementRecord.integration == integration, StockMovementRecord.history_id.in_(chunk))))
    return found


def _movement(integration: str, row: Mapping[str, Any]) -> StockMovementRecord:
    missing = [key for key in _REQUIRED if row.get(key) is None]
    if missing:
        raise ValueError(f"stock movement {row.get('history_id')!r} of {integration} lacks {', '.join(missing)}")
    if row["kind"] not in MOVEMENT_KINDS:
        raise ValueError(f"stock movement {row['history_id']} of {integration} has unknown kind {row['kind']!r}: "
                         f"expected one of {', '.join(MOVEMENT_KINDS)}")
    values = {key: row[key] for key in _REQUIRED}
    values.update({key: row.get(key, default) for key, default in _OPTIONAL.items()})
    if values["reason"] is None:
        values["reason"] = ""
    return StockMovementRecord(integration=integration, state="queued", attempts=0, **values)


def insert_movements(session: Session, integration: str, rows: Iterable[Mapping[str, Any]]) -> list[int]:
    """Queue the movements not queued yet; returns their History Ids, ascending.

    A History Id already in the queue is skipped and its row left exactly as it is; within ``rows`` the first
    row of a History Id wins. Rows carry the column values of :class:`StockMovementRecord`: ``history_id``,
    ``item_code``, ``site``, ``quantity``, ``counted_delta`` and ``kind`` are required; ``from_location``,
    ``to_location``, ``reason`` default to ``""`` and ``sales_order``, ``occurred_at``, ``payload`` to ``None``.
    New rows are ``queued``.
    """
    fresh: dict[int, Mapping[str, Any]] = {}
    for row in rows:
        history_id = row.get("history_id")
        if not isinstance(history_id, int) or isinstance(history_id, bool):
            raise ValueError(f"stock movement of {integration} has history_id {history_id!r}: expected an integer")
        fresh.setdefault(history_id, row)
    for history_id in known_history_ids(session, integration, fresh):
        del fresh[history_id]
    inserted = sorted(fresh)
    records = [_movement(integration, fresh[history_id]) for history_id in inserted]
    session.add_all(records)
    session.flush()
    return inserted


def movements_in_states(session: Session, integration: str, states: Sequence[str], *, through: int | None = None,
                        limit: int = 50_000) -> list[StockMovementRecord]:
    """Movements in ``states``, History Id ascending (the order they must be applied in), at most ``limit``.

    ``through`` keeps only History Ids up to and including it.
    """
    for state in states:
        _check_state(state, MOVEMENT_STATES, "stock movement")
    query = select(StockMovementRecord).where(StockMovementRecord.integration == integration,
                                              StockMovementRecord.state.in_(list(states)))
    if through is not None:
        query = query.where(StockMovementRecord.history_id <= through)
    return list(session.scalars(query.order_by(StockMovementRecord.history_id).limit(limit)))


def set_movement_state(session: Session, ids: Sequence[int], state: str, *, adjustment_ref: str | None = None,
                       applied: bool = False) -> None:
    """Move the movements with row ids ``ids`` (not History Ids) to ``state``.

    ``adjustment_ref`` is recorded when given (``None`` leaves it as it is); ``applied`` stamps ``applied_at``.
    Movements already loaded in ``session`` see the change.
    """
    _check_state(state, MOVEMENT_STATES, "stock movement")
    now = utcnow()
    values: dict[str, Any] = {"state": state, "updated_at": now}
    if adjustment_ref is not None:
        values["adjustment_ref"] = adjustment_ref
    if applied:
        values["applied_at"] = now
    for chunk in _chunks(list(dict.fromkeys(ids))):
        session.execute(update(StockMovementRecord).where(StockMovementRecord.id.in_(chunk)).values(**values))


def bump_movement_attempts(session: Session, ids: Sequence[int]) -> None:
    """Count one more attempt on the movements with row ids ``ids`` (each id once, however often listed)."""
    for chunk in _chunks(list(dict.fromkeys(ids))):
        session.execute(update(StockMovementRecord).where(StockMovementRecord.id.in_(chunk))
                        .values(attempts=StockMovementRecord.attempts + 1, updated_at=utcnow()))


def max_history_id(session: Session, integration: str) -> int | None:
    """The newest History Id queued for ``integration`` in any state, ``None`` when the queue is empty."""
    found = session.scalar(select(func.max(StockMovementRecord.history_id)).where(
        StockMovementRecord.integration == integration))
    return None if found is None else int(found)


def max_applied_history_id(session: Session, integration: str) -> int | None:
    """The newest History Id in state ``applied`` (``opening`` ones do not count), ``None`` when there is none."""
    found = session.scalar(select(func.max(StockMovementRecord.history_id)).where(
        StockMovementRecord.integration == integration, StockMovementRecord.state == "applied"))
    return None if found is None else int(found)


def positions(session: Session, integration: str,
              pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], StockPosition]:
    """The positions of the ``(item_code, site)`` pairs that have one; pairs without a position are absent."""
    wanted = set(pairs)
    found: dict[tuple[str, str], StockPosition] = {}
    item_codes = sorted({item_code for item_code, _ in wanted})
    for chunk in _chunks(item_codes):
        for row in session.scalars(select(StockPosition).where(StockPosition.integration == integration,
                                                               StockPosition.item_code.in_(chunk))):
            if (row.item_code, row.site) in wanted:
                found[(row.item_code, row.site)] = row
    return found


def all_positions(session: Session, integration: str) -> list[StockPosition]:
    """Every position of ``integration``, by item code then site."""
    return list(session.scalars(select(StockPosition).where(StockPosition.integration == integration)
                                .order_by(StockPosition.item_code, StockPosition.site)))


def upsert_position(session: Session, integration: str, item_code: str, site: str, *, last_history_id: int,
                    wms_counted: int, erp_sku: str, erp_location: str, erp_quantity: int | None,
                    adjustment_ref: str | None, opened_history_id: int | None = None,
                    posted: bool = True) -> StockPosition:
    """Create the position of ``item_code`` × ``site`` (``opened_at`` now) or move it forward.

    ``posted`` False: the ERP quantity was not set this time (the movements were ones the ERP already holds), so
    ``erp_quantity``, ``adjustment_ref`` and ``posted_at`` keep their values. ``opened_history_id`` is kept once
    set (the History Id of the snapshot the position was opened from)."""
    row = session.scalar(select(StockPosition).where(StockPosition.integration == integration,
                                                     StockPosition.item_code == item_code,
                                                     StockPosition.site == site))
    if row is None:
        row = StockPosition(integration=integration, item_code=item_code, site=site, opened_at=utcnow())
        session.add(row)
    row.last_history_id = last_history_id
    row.wms_counted = wms_counted
    row.erp_sku = erp_sku
    row.erp_location = erp_location
    if posted:
        row.erp_quantity = erp_quantity
        row.adjustment_ref = adjustment_ref
        row.posted_at = utcnow()
    if opened_history_id is not None and row.opened_history_id is None:
        row.opened_history_id = opened_history_id
    row.updated_at = utcnow()
    session.flush()
    return row


def open_journal(session: Session, integration: str) -> list[StockAdjustmentRecord]:
    """Adjustments whose outcome is not settled (``posting`` or ``failed``), oldest first."""
    return list(session.scalars(select(StockAdjustmentRecord).where(
        StockAdjustmentRecord.integration == integration,
        StockAdjustmentRecord.state.in_(OPEN_JOURNAL_STATES)).order_by(StockAdjustmentRecord.created_at,
                                                                       StockAdjustmentRecord.id)))


def journal_entry(session: Session, integration: str, reference: str) -> StockAdjustmentRecord | None:
    return session.scalar(select(StockAdjustmentRecord).where(StockAdjustmentRecord.integration == integration,
                                                              StockAdjustmentRecord.reference == reference))


def add_journal(session: Session, integration: str, reference: str,
                lines: list[dict[str, Any]]) -> StockAdjustmentRecord:
    """Journal an adjustment in state ``posting`` before it is posted; written at once (flushed).

    A reference already journalled for ``integration`` raises :class:`sqlalchemy.exc.IntegrityError`.
    """
    for number, line in enumerate(lines, start=1):
        missing = [key for key in ("item_code", "site") if not line.get(key)]
        if missing:
            raise ValueError(f"line {number} of stock adjustment {reference} lacks {', '.join(missing)}")
    row = StockAdjustmentRecord(integration=integration, reference=reference, state="posting", attempts=0,
                                lines=[dict(line) for line in lines])
    session.add(row)
    session.flush()
    return row


def pairs_in_open_journal(session: Session, integration: str) -> set[tuple[str, str]]:
    """The ``(item_code, site)`` pairs of the lines of every ``posting`` or ``failed`` adjustment."""
    pairs: set[tuple[str, str]] = set()
    for entry in open_journal(session, integration):
        for line in entry.lines:
            pairs.add((str(line["item_code"]), str(line["site"])))
    return pairs
