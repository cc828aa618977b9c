"""Collect: Peoplevox stock movements into the ledger's FIFO stock queue, keyed by Peoplevox's own History Id.

The stock callbacks (``IncrementalChanges``, ``AvailabilityChanges``) are wake-ups: they say *that* an item's stock
changed, not the locations it moved between, so they cannot be sequenced on their own. Every run therefore reads
the "Item movement history" report for its window (less the overlap) — one consistent read that lists every movement
of the window, in History Id order, whether its callback came, came twice, or never came. The callbacks are drained
from the inbox as processed; only the report's rows enter the queue.

Each movement is queued once (unique per integration × History Id; a backfill or an overlapping read re-reads and
adds nothing), with its ``counted_delta`` (the change of the stock the ERP counts, by the integration's
``stock:`` location rules) and its ``kind`` (``despatch`` movements are booked in Cin7 by dispatch confirmation).
A row that cannot be read is an ``invalid_stock_movement`` exception on its SKU × site, which holds that pair: it is
never advanced past a movement it could not read until someone resolves the exception.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from erp_wms_sync.domain import stock_movements as sm
from erp_wms_sync.domain import stock_sequencing as seq
from erp_wms_sync.domain.pv_reports import RowProblem
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.ledger import dispatch_repo, stock_repo
from erp_wms_sync.ledger.repo import NewException
from erp_wms_sync.webhooks import PEOPLEVOX

log = logging.getLogger(__name__)

INVALID = "invalid_stock_movement"
PAIR = "stock_pair"
INBOX_BATCH = 5000
WAKE_UP_EVENTS = (sm.INCREMENTAL_CHANGES, sm.AVAILABILITY_CHANGES)


def pair_key(item_code: str, site: str) -> str:
    return f"{item_code}|{site}"[:128]


def read_since(ctx: RunContext, now: datetime) -> datetime:
    """Where this run's report read starts (aware UTC): the window's start (the end on a first run) less the
    overlap. A first run needs no history: each position opens from a stock snapshot."""
    overlap = timedelta(minutes=ctx.integration.stock.report_overlap_minutes)
    start = ctx.window.start or ctx.window.end or now
    return (start if start.tzinfo else start.replace(tzinfo=UTC)) - overlap


def queue_rows(movements: list[sm.StockMovement], rules: seq.LocationRules) -> list[dict[str, Any]]:
    """The ``stock_queue`` values of report movements."""
    rows = []
    for m in movements:
        delta = seq.counted_delta(m.quantity, m.from_location, m.to_location, rules,
                                  type_from=m.location_type_from, type_to=m.location_type_to)
        rows.append({
            "history_id": m.history_id, "item_code": m.item_code, "site": m.site,
            "from_location": m.from_location, "to_location": m.to_location, "quantity": m.quantity,
            "counted_delta": delta,
            "kind": seq.movement_kind(delta, m.sales_order, m.reason, m.to_location, m.location_type_to),
            "sales_order": m.sales_order or None, "reason": m.reason[:128], "occurred_at": m.at,
            "payload": {"history_id": m.history_id, "item_code": m.item_code, "site": m.site,
                        "from": m.from_location, "to": m.to_location, "quantity": m.quantity,
                        "at": m.at.isoformat(), "sales_order": m.sales_order, "reason": m.reason,
                        "location_type_from": m.location_type_from, "location_type_to": m.location_type_to,
                        "user": m.user, "comments": m.comments}})
    return rows


def read_movements(ctx: RunContext, wms: Any, since: datetime) -> tuple[list[sm.StockMovement], list[RowProblem]]:
    tz = ctx.integration.wms.timezone
    rows = list(wms.get_report(sm.MOVEMENT_REPORT, columns=sm.MOVEMENT_COLUMNS,
                               search_clause=sm.movement_report_clause(since, tz), key=sm.COL_HISTORY_ID))
    return sm.movements_from_report(rows, tz)


def collect(ctx: RunContext, wms: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """Drain the stock wake-ups from the inbox, read the movement report, queue what is new."""
    now = now or datetime.now(UTC)
    with ctx.session() as session:
        inbox = dispatch_repo.pending_inbox(session, ctx.integration.name, PEOPLEVOX, INBOX_BATCH,
                                            event_types=WAKE_UP_EVENTS)
        dispatch_repo.mark_inbox(session, [row.id for row in inbox], "processed")
    since = read_since(ctx, now)
    movements, problems = read_movements(ctx, wms, since)
    queued = store(ctx, movements, problems)
    log.info("%s inventory sync: %d stock callbacks drained; Item movement history since %s: %d movements "
             "(%d new), %d unreadable rows", ctx.integration.name, len(inbox), since.isoformat(), len(movements),
             len(queued), len(problems))
    return {"callbacks": len(inbox), "movements_read": len(movements), "movements_queued": len(queued),
            "unreadable_rows": len(problems)}


def store(ctx: RunContext, movements: list[sm.StockMovement], problems: list[RowProblem]) -> list[int]:
    """Queue the movements (once each) and hold the pairs of unreadable rows; returns the new History Ids."""
    rules = seq.LocationRules.from_settings(ctx.integration.stock)
    with ctx.session() as session:
        for problem in problems:
            key = pair_key(problem.item_code, problem.site) if problem.item_code else f"row {problem.key}"[:128]
            ctx.hold(session, NewException(
                type=INVALID, entity_type=PAIR, entity_key=key,
                summary=(f"Unreadable Item movement history row (History Id {problem.key or '?'}, item "
                         f"{problem.item_code or '?'} at site {problem.site or '?'}): {problem.reason}. The SKU x "
                         f"site is not synced past it until this is resolved")[:500],
                detail={"reason": problem.reason, "history_id": problem.key, "position": problem.position},
                payload={"row": dict(problem.row)}))
        return stock_repo.insert_movements(session, ctx.integration.name, queue_rows(movements, rules))
