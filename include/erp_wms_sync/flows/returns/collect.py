"""Collect: what Peoplevox received back, from its ``Returns`` callbacks (wake-ups) and its "Return summary" report.

A callback names one line of a return; the report is the whole, consistent truth. Every run therefore reads the
Return summary for its window (less ``returns.report_overlap_minutes``, and early enough for every pending
callback's return) and records each returned line once in the ``returns`` ledger table (unique per integration ×
return code × item code). The callbacks are drained as processed: a dropped callback costs nothing (the next read
lists its return), a doubled one adds nothing. A return with an unreadable row is never read from a partial view:
it is an ``invalid_return`` exception holding its rows.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from erp_wms_sync.domain import pv_returns
from erp_wms_sync.domain.pv_reports import BadStockEvent
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.returns import rules
from erp_wms_sync.ledger import dispatch_repo, returns_repo
from erp_wms_sync.ledger.repo import NewException
from erp_wms_sync.webhooks import PEOPLEVOX, RETURNS

log = logging.getLogger(__name__)

INVALID = "invalid_return"
RETURN = "return"
INBOX_BATCH = 5000


def read_since(ctx: RunContext, notices: list[pv_returns.ReturnNotice], now: datetime) -> datetime:
    """Where this run's report read starts (aware UTC): the window's start (its end on a first run) less the
    overlap, and early enough for the return of every pending callback."""
    overlap = timedelta(minutes=ctx.integration.returns.report_overlap_minutes)
    start = ctx.window.start or ctx.window.end or now
    since = _aware(start) - overlap
    dated = [_aware(n.returned_at) for n in notices if n.returned_at is not None]
    return min([since, *(moment - timedelta(minutes=5) for moment in dated)])


def collect(ctx: RunContext, wms: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """Drain the Returns callbacks, read the Return summary, record the new returned lines."""
    now = now or datetime.now(UTC)
    tz = ctx.integration.wms.timezone
    conditions = ctx.integration.returns.sellable_conditions
    with ctx.session() as session:
        inbox = dispatch_repo.pending_inbox(session, ctx.integration.name, PEOPLEVOX, INBOX_BATCH,
                                            event_types=(RETURNS,))
        notices: list[pv_returns.ReturnNotice] = []
        for row in inbox:
            try:
                notices.append(pv_returns.return_notice_from_callback(row.event_type or "", row.body, tz, conditions))
            except BadStockEvent as exc:  # a wake-up only: the report read below is the truth
                log.warning("%s returns: callback #%d is unreadable (%s); the Return summary is read anyway",
                            ctx.integration.name, row.id, exc)
        dispatch_repo.mark_inbox(session, [row.id for row in inbox], "processed")
    since = read_since(ctx, notices, now)
    rows = list(wms.get_report(pv_returns.RETURN_REPORT, columns=pv_returns.RETURN_COLUMNS,
                               search_clause=pv_returns.returns_report_clause(since, tz),
                               key=pv_returns.COL_RETURN_CODE))
    found, problems = pv_returns.returns_from_report(rows, tz, conditions)
    called = {n.return_code for n in notices}
    with ctx.session() as session:
        new_problems = 0
        for problem in problems:
            code = problem.key[:128] or f"row {problem.position}"
            new_problems += int(ctx.hold(session, NewException(
                type=INVALID, entity_type=RETURN, entity_key=code,
                summary=(f"Return {code} (order {problem.row.get(pv_returns.COL_ORDER) or '?'}) is unreadable in "
                         f"the Return summary: {problem.reason}. It is not restocked or credited until this is "
                         f"fixed in Peoplevox")[:500],
                detail={"reason": problem.reason, "position": problem.position},
                payload={"row": dict(problem.row)})))
        lines = [line for ret in found
                 for line in rules.ledger_lines(ret, source="callback" if ret.code in called else "poll")]
        inserted = returns_repo.insert_lines(session, ctx.integration.name, lines)
    log.info("%s returns: %d callbacks drained; Return summary since %s: %d rows, %d returns, %d new lines, "
             "%d unreadable rows", ctx.integration.name, len(inbox), since.isoformat(), len(rows), len(found),
             len(inserted), len(problems))
    return {"callbacks": len(inbox), "returns_read": len(found), "lines_new": len(inserted),
            "unreadable_rows": len(problems), "new_problems": new_problems}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
