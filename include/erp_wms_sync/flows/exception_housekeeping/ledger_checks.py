"""close_gone, deadlines and purge_staged: what exception housekeeping learns from the ledger alone (no API call).

- :func:`close_gone` closes open exceptions whose cause the ledger says is gone — an order hold whose order was
  released (or dropped) after the hold was last seen, a despatch problem whose despatch is confirmed, a stock pair
  whose held movements were all applied, a return problem whose lines are all credited or received — each with the
  note ``cause gone: …``.
- :func:`deadlines` raises ``stage_deadline_breached`` (entity = the order) for orders released but not despatched
  within ``deadlines.despatch_hours`` and despatched but not confirmed in the ERP within
  ``deadlines.confirm_minutes``, once per order and stage, and closes it when the order moves on. The orders in
  breach come from two set-based queries, never one query per order.
- :func:`purge_staged` deletes staging rows of runs abandoned for longer than ``housekeeping.staged_retention_hours``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.exception_housekeeping.retry import FLOW, run_now
from erp_wms_sync.ledger import housekeeping_repo as hk_repo
from erp_wms_sync.ledger.models import ExceptionRecord
from erp_wms_sync.ledger.repo import NewException

log = logging.getLogger(__name__)

BREACH = "stage_deadline_breached"
DESPATCH_STAGE = "despatch"  # released, not despatched
CONFIRM_STAGE = "confirm"  # despatched, not confirmed in the ERP
#: Raised per run at most (the rest the next run); closing is never capped.
MAX_NEW_BREACHES_PER_RUN = 2000

ORDER_HOLDS = ("unmapped_sku", "unmapped_location", "invalid_order", "erp_record_unreadable", "wms_write_rejected")
DESPATCH_PROBLEMS = ("despatch_for_unknown_order", "despatch_mismatch", "fulfilment_rejected",
                     "despatch_for_cancelled_order")
PAIR_HOLDS = ("unmapped_sku", "unmapped_location", "failed_stock_increment", "invalid_stock_movement")
RETURN_PROBLEMS = ("return_not_restocked", "credit_before_stock_in", "return_awaiting_invoice",
                   "credit_note_rejected", "unmapped_sku", "return_without_authorisation")

Finder = Callable[[Session, str, tuple[str, ...]], list[ExceptionRecord]]
GONE: tuple[tuple[Finder, tuple[str, ...], str], ...] = (
    (hk_repo.gone_order_holds, ORDER_HOLDS, "the order was released or dropped after it was held"),
    (hk_repo.gone_despatch_problems, DESPATCH_PROBLEMS, "the despatch is confirmed in the ERP"),
    (hk_repo.gone_pair_holds, PAIR_HOLDS, "every held movement of the pair is applied"),
    (hk_repo.gone_return_problems, RETURN_PROBLEMS, "every line of the return is credited or received"),
)


def close_gone(ctx: RunContext) -> dict[str, int]:
    """Close the open exceptions whose cause is gone according to the ledger; counts by entity kind."""
    counts: dict[str, int] = {}
    with ctx.session() as session:
        for finder, types, why in GONE:
            rows = finder(session, ctx.integration.name, types)
            for row in rows:
                _close(ctx, row, f"cause gone: {why}")
            counts[finder.__name__.removeprefix("gone_")] = len(rows)
    log.info("%s %s: closed %s", ctx.integration.name, FLOW, counts)
    return counts


def _close(ctx: RunContext, row: ExceptionRecord, note: str) -> None:
    hk_repo.close(row, by=FLOW, note=note, run_id=ctx.run_id)


def deadlines(ctx: RunContext) -> dict[str, int]:
    """Raise the stage deadline breaches of this moment once per order and stage; close those that moved on."""
    now = run_now(ctx)
    settings = ctx.integration.deadlines
    name = ctx.integration.name
    counts = {"despatch_breaches": 0, "confirm_breaches": 0, "new": 0, "closed": 0}
    with ctx.session() as session:
        current: dict[str, tuple[str, datetime]] = {
            number: (DESPATCH_STAGE, at) for number, at in
            hk_repo.despatch_breaches(session, name, now - timedelta(hours=settings.despatch_hours)).items()}
        confirm = hk_repo.confirm_breaches(session, name, now - timedelta(minutes=settings.confirm_minutes))
        current.update({number: (CONFIRM_STAGE, at) for number, at in confirm.items()})
        counts["despatch_breaches"] = len(current) - len(confirm)
        counts["confirm_breaches"] = len(confirm)
        open_rows = {row.entity_key: row for row in hk_repo.open_of_type(session, name, BREACH)}
        for key, row in open_rows.items():
            stage = (row.detail or {}).get("stage")
            if key not in current or current[key][0] != stage:
                moved = "despatched" if stage == DESPATCH_STAGE else "confirmed in the ERP"
                _close(ctx, row, f"cause gone: order {key} is {moved} (or no longer waiting for it)")
                counts["closed"] += 1
        todo = [(key, stage, at) for key, (stage, at) in current.items()
                if key not in open_rows or (open_rows[key].detail or {}).get("stage") != stage]
        for key, stage, at in todo[:MAX_NEW_BREACHES_PER_RUN]:
            counts["new"] += int(ctx.hold(session, _breach(ctx, key, stage, at, now)))
    log.info("%s %s: deadlines %s", name, FLOW, counts)
    return counts


def _breach(ctx: RunContext, number: str, stage: str, since: datetime, now: datetime) -> NewException:
    settings = ctx.integration.deadlines
    hours = round((now - since).total_seconds() / 3600, 1)
    if stage == DESPATCH_STAGE:
        summary = (f"order {number} was released to Peoplevox {hours} h ago and is not despatched "
                   f"(deadline {settings.despatch_hours} h)")
        limit: dict[str, Any] = {"despatch_hours": settings.despatch_hours}
    else:
        summary = (f"order {number} was despatched {hours} h ago and is not confirmed in the ERP "
                   f"(deadline {settings.confirm_minutes} min)")
        limit = {"confirm_minutes": settings.confirm_minutes}
    return NewException(type=BREACH, entity_type="order", entity_key=number[:128], summary=summary,
                        detail={"stage": stage, "since": since.isoformat(), **limit},
                        payload={"order": number, "stage": stage, "since": since.isoformat(),
                                 "checked_at": now.isoformat(), **limit})


def purge_staged(ctx: RunContext) -> dict[str, int]:
    """Delete staging rows of runs that never finished, older than ``housekeeping.staged_retention_hours``."""
    older_than = run_now(ctx) - timedelta(hours=ctx.integration.housekeeping.staged_retention_hours)
    with ctx.session() as session:
        purged = hk_repo.purge_staged(session, ctx.integration.name, older_than)
    log.info("%s %s: purged %d staging rows older than %s", ctx.integration.name, FLOW, purged, older_than)
    return {"purged": purged}


def tidy(ctx: RunContext) -> dict[str, Any]:
    """The ledger-only task: close what is gone, then the deadlines (so a breach closed as the order moved on can
    be raised at its next stage in the same run), then the purge."""
    return {"closed": close_gone(ctx), "deadlines": deadlines(ctx), **purge_staged(ctx)}
