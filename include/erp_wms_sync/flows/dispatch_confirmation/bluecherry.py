"""Confirm despatches in BlueCherry: shipment confirmations collected and posted in batches.

BlueCherry's gateway is not to be called per event (integrators batch dispatch confirmations back, and the seeds
describe batched financial postings), so a checked despatch waits as ``batched`` and the integration posts the
batch at most every ``dispatch.erp_batch_minutes`` (0: every run). Each shipment is one ``POST /shipments`` with the
despatch number as its ``reference``: BlueCherry answers a repeat with the first shipment, so a crash between the
post and the ledger commit is harmless. The answer is checked (same order, exactly the despatch's SKU quantities)
before the despatch counts as confirmed. A refused shipment is ``fulfilment_rejected`` with BlueCherry's message and
the full payload, retried on the exception's schedule; the rest of the batch goes on.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from typing import Any

from erp_wms_sync.errors import ApiRejected, ApiResponseInvalid
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.dispatch_confirmation.check import DESPATCH, NO_TRACKING, as_despatch
from erp_wms_sync.flows.order_release.rows import order_sku_for
from erp_wms_sync.ledger import dispatch_repo, repo
from erp_wms_sync.ledger.models import DespatchRecord, utcnow
from erp_wms_sync.ledger.repo import NewException

log = logging.getLogger(__name__)

REJECTED = "fulfilment_rejected"
BATCH_CURSOR = "dispatch_confirmation.batch"


def queue(ctx: RunContext) -> int:
    """Checked despatches join the next batch."""
    with ctx.session() as session:
        rows = dispatch_repo.despatches_in_states(session, ctx.integration.name, ("ready",))
        for row in rows:
            row.state = "batched"
        return len(rows)


def batch_due(ctx: RunContext, *, force: bool = False) -> bool:
    minutes = ctx.integration.dispatch.erp_batch_minutes
    if force or minutes == 0:
        return True
    with ctx.session() as session:
        cursor = repo.get_cursor(session, ctx.integration.name, BATCH_CURSOR)
    last = cursor.watermark if cursor is not None else None
    return last is None or utcnow() - last >= timedelta(minutes=minutes)


def post_batch(ctx: RunContext, erp: Any, *, force: bool = False) -> dict[str, int]:
    """Post every batched shipment when the batch is due; a despatch refused before waits for its retry time."""
    counts = {"posted": 0, "rejected": 0, "waiting_batch": 0, "waiting_retry": 0}
    with ctx.session() as session:
        batched = [r.despatch_number for r in dispatch_repo.despatches_in_states(
            session, ctx.integration.name, ("batched",))]
        refused = {e.entity_key: e for e in repo.open_exceptions(session, ctx.integration.name, type_=REJECTED)
                   if e.entity_type == DESPATCH}
    if not batched:
        return counts
    if not batch_due(ctx, force=force):
        counts["waiting_batch"] = len(batched)
        return counts
    now = utcnow()
    # a despatch waiting out its retry never takes the place of one that can go now
    numbers = [n for n in batched if n not in refused or (refused[n].next_retry_at or now) <= now]
    counts["waiting_retry"] = len(batched) - len(numbers)
    for number in numbers[:ctx.integration.dispatch.max_despatches_per_run]:
        if post_one(ctx, erp, number) is None:
            counts["posted"] += 1
        else:
            counts["rejected"] += 1
    with ctx.session() as session:
        repo.advance_cursor(session, ctx.integration.name, BATCH_CURSOR, utcnow(), ctx.run_id)
    log.info("%s dispatch → BlueCherry batch: %s", ctx.integration.name, counts)
    return counts


def post_one(ctx: RunContext, erp: Any, number: str) -> str | None:
    """Post ONE despatch's shipment now (a batch does this for each of its despatches; the dashboard's
    edit-and-retry of a ``fulfilment_rejected`` too): the despatch number is the shipment's reference, so BlueCherry
    answers a repeat with the first shipment and holds one per despatch. None when BlueCherry holds exactly this
    shipment; otherwise why not (the ``fulfilment_rejected`` exception is raised or refreshed)."""
    from erp_wms_sync.connectors.bluecherry_records import ShipmentCarton

    with ctx.session() as session:
        row = dispatch_repo.despatch_records(session, ctx.integration.name, [number])[number]
        problem = _post_one(ctx, session, erp, row, ShipmentCarton)
        if problem is not None:
            ctx.hold(session, NewException(
                type=REJECTED, entity_type=DESPATCH, entity_key=number[:128],
                summary=f"BlueCherry refused the shipment of despatch {number} (order "
                        f"{row.erp_order_number or row.wms_order_number}): {problem}"[:500],
                detail={"message": problem[:2000]},
                payload={"despatch": {"number": number, "order": row.wms_order_number, "lines": row.lines,
                                      "packages": row.packages, "carrier": row.carrier}}))
        return problem


def _post_one(ctx: RunContext, session: Any, erp: Any, row: DespatchRecord, carton_type: Any) -> str | None:
    despatch = as_despatch(row)
    record = dispatch_repo.orders_by_wms_number(session, ctx.integration.name, [row.wms_order_number]).get(
        row.wms_order_number)
    sku_for = order_sku_for(ctx.integration, record)
    lines = tuple(sorted((sku_for(code), qty) for code, qty in despatch.quantities().items()))
    try:
        shipment = erp.post_shipment(row.erp_order_number or row.wms_order_number, reference=row.despatch_number,
                                     cartons=[carton_type(row.despatch_number, lines)], carrier=row.carrier or "",
                                     tracking_numbers=list(despatch.tracking), ship_date=_aware(row.despatched_at))
    except ApiRejected as exc:
        return str(exc)
    except ApiResponseInvalid as exc:
        return f"BlueCherry answered something that is not the shipment: {exc}"
    expected = dict(lines)
    if shipment.order_number != (row.erp_order_number or row.wms_order_number) or shipment.quantities != expected:
        return (f"BlueCherry holds shipment {shipment.shipment_number} for order {shipment.order_number} with "
                f"{shipment.quantities}, not {expected}")
    row.state = "confirmed"
    row.erp_ref = shipment.shipment_number
    row.erp_tracking = {"tracking": list(shipment.tracking_numbers)}
    row.confirmed_at = row.confirmed_at or utcnow()
    name = ctx.integration.name
    repo.record_message(
        session, integration=name, flow=ctx.flow, direction="wms_to_erp", entity_type=DESPATCH,
        entity_key=row.despatch_number, idempotency_key=f"{name}:despatch:{row.despatch_number}", content_hash=None,
        status="confirmed" if shipment.created else "adopted",
        payload={"lines": row.lines, "order": shipment.order_number},
        target_ref=shipment.shipment_number, run_id=ctx.run_id)
    keys = [row.despatch_number[:128]]
    repo.resolve_exceptions(session, integration=name, entity_type=DESPATCH, entity_keys=keys,
                            types=[REJECTED] + ([NO_TRACKING] if shipment.tracking_numbers else []),
                            by="dispatch_confirmation", note="BlueCherry holds the shipment", run_id=ctx.run_id)
    return None


def _aware(moment: Any) -> Any:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment
