"""fetch_orders: list the orders changed in the window and stage what the next steps must do with each.

A full order is fetched only when the ledger cannot prove it unchanged, and it is staged (committed) at once, so a
retried task resumes: an order already staged in this run with the same stamp is not fetched again. An order the
ERP answers unreadably (an empty record, another id, a 4xx for that one order) becomes that order's
``erp_record_unreadable`` exception and is tried again on the next runs; the rest go on. Held, waiting and
incomplete orders are re-staged from the ledger's copy (no ERP call) so they are re-validated every run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from erp_wms_sync.connectors.protocols import ErpOrderSource
from erp_wms_sync.domain import orders as rules
from erp_wms_sync.domain.order_status import KNOWN_TO_WMS, PENDING, ReleaseState
from erp_wms_sync.domain.orders import ErpOrder, OrderStamp, OrderState, UnreadableOrder
from erp_wms_sync.errors import ApiAuthError, ApiRejected, ApiResponseInvalid
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.order_release.rows import ORDER, build_rows, override_of
from erp_wms_sync.flows.order_release.staging import (
    Stage,
    Staged,
    StagedAmend,
    StagedCancel,
    StagedDrop,
    StagedRelease,
)
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.models import OrderRecord

log = logging.getLogger(__name__)

UNREADABLE = "erp_record_unreadable"
RECORD_ERRORS = (UnreadableOrder, ApiResponseInvalid, ApiRejected, LookupError)
FETCH = object()  # marker: the order needs a detail call


@dataclass
class FetchCounts:
    listed: int = 0
    detail_calls: int = 0
    unchanged: int = 0
    already_staged: int = 0
    to_release: int = 0
    to_amend: int = 0
    to_cancel: int = 0
    dropped: int = 0
    revalidated: int = 0
    unreadable: int = 0
    recovered: int = 0
    failed_ids: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if k != "failed_ids"}


def since(ctx: RunContext) -> datetime:
    if ctx.window.start is not None:
        return ctx.window.start
    return ctx.window.end - timedelta(days=ctx.integration.orders.lookback_days)


def fetch(ctx: RunContext, source: ErpOrderSource) -> dict[str, int]:
    counts = FetchCounts()
    stage = Stage(ctx.integration.name, ctx.flow, ctx.run_id)
    stamps = [s for s in source.changed(since(ctx)) if s.erp_id]
    counts.listed = len(stamps)
    with ctx.session() as session:
        done = stage.stamps(session)
        records = repo.order_records(session, ctx.integration.name, (s.erp_id for s in stamps))
    for stamp in stamps:
        if stamp.erp_id in done and (done[stamp.erp_id] == stamp.updated
                                     or rules.same_stamp(done[stamp.erp_id], stamp.updated)):
            counts.already_staged += 1
            continue
        if _one(ctx, source, stage, stamp, records.get(stamp.erp_id), counts):
            done[stamp.erp_id] = stamp.updated
    _retry_unreadable(ctx, source, stage, done, counts)
    _restage_pending(ctx, stage, done, counts)
    log.info("%s %s: window %s; %s", ctx.integration.name, ctx.flow, ctx.window.describe(), counts.as_dict())
    return counts.as_dict()


def _one(ctx: RunContext, source: ErpOrderSource, stage: Stage, stamp: OrderStamp, record: OrderRecord | None,
         counts: FetchCounts) -> bool:
    """Decide, fetch if needed, stage and commit one order (True when staged); an unreadable answer becomes its
    exception."""
    decision = decide(ctx, stamp, stamp.order, record, counts)
    if decision is FETCH:
        counts.detail_calls += 1
        try:
            order = source.fetch(stamp)
        except ApiAuthError:
            raise
        except RECORD_ERRORS as exc:
            _unreadable(ctx, stamp.erp_id, stamp.number, exc, counts)
            return True  # handled: not re-staged from the ledger's copy in this run
        decision = decide(ctx, stamp, order, record, counts, fetched=True)
    if isinstance(decision, StagedRelease | StagedAmend | StagedCancel | StagedDrop):
        with ctx.session() as session:
            stage.add(session, [(stamp.erp_id, decision)])
        return True
    return False


def decide(ctx: RunContext, stamp: OrderStamp, order: ErpOrder | None, record: OrderRecord | None,
           counts: FetchCounts, *, fetched: bool = False) -> Staged | object | None:
    """What to stage for one listed order (``FETCH`` when its content is needed first, None for nothing)."""
    state = rules.effective_state(order) if order is not None else stamp.state
    ledger = ReleaseState(record.state) if record is not None else None
    sent = record is not None and (ledger in KNOWN_TO_WMS or bool((record.payload or {}).get("sent")))
    if state is OrderState.CANCELLED:
        return _cancelled(stamp, order, record, ledger, sent, counts)
    if state is not OrderState.RELEASABLE:
        if ledger in PENDING:
            counts.dropped += 1
            return StagedDrop(stamp.number, f"no longer releasable ({stamp.erp_status})", stamp.updated)
        return None
    known = ledger in KNOWN_TO_WMS
    if not fetched:
        if order is not None and known and record is not None:
            header, items = build_rows(ctx, order, record.wms_order_number or rules.wms_number(order),
                                       override_of(record))
            if rules.order_hash(header, items) == record.content_hash:
                counts.unchanged += 1
                return None
        elif record is not None and rules.same_stamp(record.erp_updated, stamp.updated):
            counts.unchanged += 1  # held / waiting orders are re-checked from the ledger's copy
            return None
        if order is None:
            return FETCH
    assert order is not None
    if known:
        counts.to_amend += 1
        return StagedAmend(order, stamp.updated)
    counts.to_release += 1
    return StagedRelease(order, stamp.updated)


def _cancelled(stamp: OrderStamp, order: ErpOrder | None, record: OrderRecord | None, ledger: ReleaseState | None,
               sent: bool, counts: FetchCounts) -> Staged | None:
    why = "no open line left in the ERP" if order is not None and rules.all_lines_dropped(order) else \
        "cancelled in the ERP before release"
    if record is not None and sent and ledger is not ReleaseState.CANCELLED:
        counts.to_cancel += 1
        return StagedCancel(stamp.number, stamp.updated, order)
    if ledger in PENDING:
        counts.dropped += 1
        return StagedDrop(stamp.number, why, stamp.updated)
    return None


def _unreadable(ctx: RunContext, erp_id: str, number: str, exc: Exception, counts: FetchCounts) -> None:
    counts.unreadable += 1
    counts.failed_ids.add(erp_id)
    key = (number or erp_id)[:128]
    log.warning("%s %s: order %s could not be read: %s", ctx.integration.name, ctx.flow, key, exc)
    with ctx.session() as session:
        ctx.hold(session, repo.NewException(
            type=UNREADABLE, entity_type=ORDER, entity_key=key,
            summary=f"the ERP answered order {key} with something that is not that order: {exc}"[:500],
            detail={"erp_id": erp_id, "number": number, "error": str(exc)[:1000]},
            payload={"erp_id": erp_id, "number": number}))


def _retry_unreadable(ctx: RunContext, source: ErpOrderSource, stage: Stage, done: dict[str, str],
                      counts: FetchCounts) -> None:
    """Orders that could not be read in an earlier run are read again (one call each); a readable answer closes
    their exception and stages them like any other."""
    with ctx.session() as session:
        todo = [(e.entity_key, dict(e.payload or {})) for e in
                repo.open_exceptions(session, ctx.integration.name, type_=UNREADABLE, entity_type=ORDER)]
    for key, payload in todo:
        erp_id = str(payload.get("erp_id") or "")
        if not erp_id or erp_id in counts.failed_ids:
            continue
        if erp_id in done:  # listed and read in this run
            _close_unreadable(ctx, key)
            continue
        try:
            order = source.fetch_by_id(erp_id)
        except ApiAuthError:
            raise
        except RECORD_ERRORS:
            continue
        _close_unreadable(ctx, key)
        counts.recovered += 1
        if order is None:
            continue
        stamp = OrderStamp(order.erp_id, order.number, order.updated, order.state, order.erp_status, order)
        with ctx.session() as session:
            record = repo.order_records(session, ctx.integration.name, [erp_id]).get(erp_id)
        decision = decide(ctx, stamp, order, record, counts, fetched=True)
        if isinstance(decision, StagedRelease | StagedAmend | StagedCancel | StagedDrop):
            with ctx.session() as session:
                stage.add(session, [(erp_id, decision)])
        done[erp_id] = order.updated


def _close_unreadable(ctx: RunContext, key: str) -> None:
    with ctx.session() as session:
        repo.resolve_exceptions(session, integration=ctx.integration.name, entity_type=ORDER, entity_keys=[key],
                                types=[UNREADABLE], by=ctx.flow, note="the ERP answers the order again",
                                run_id=ctx.run_id)


def _restage_pending(ctx: RunContext, stage: Stage, done: dict[str, str], counts: FetchCounts) -> None:
    with ctx.session() as session:
        pending = [r for r in repo.orders_in_states(session, ctx.integration.name, PENDING)
                   if r.erp_order_id not in done and r.payload and "order" in r.payload]
        stage.add(session, [(r.erp_order_id, StagedRelease(rules.order_from_dict((r.payload or {})["order"]),
                                                           r.erp_updated or "")) for r in pending])
        counts.revalidated += len(pending)
