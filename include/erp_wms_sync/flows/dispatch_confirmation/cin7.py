"""Confirm despatches in Cin7 Core: pick → pack → ship on one fulfilment task, with carrier and tracking.

Three calls per despatch. The first despatch of an order uses the sale's own fulfilment task, kept in the ledger
when the order was released (no GET), and picks with ``AUTOPICK`` when it takes the whole order; a partial despatch
picks its own lines; every later despatch of the order first adds a fulfilment task (a fourth call: Cin7 cannot
re-open an authorised pick). The box is named after the Peoplevox despatch number, so a shipment is traceable to
its despatch, and carries the despatch's tracking numbers.

Exactly once, whatever crashes: the ledger row records each step before its call (``adding_task``, ``picking``,
``packing``, ``shipping``) and after it (``task``, ``picked``, ``packed``). A row found in a ``…ing`` step was
interrupted: one GET of the sale's fulfilments tells which stages Cin7 already holds, and the despatch carries on
from there. Each answer is checked (the stage authorised, holding exactly our quantities / our box and tracking)
before the step counts as done.

Tracking that arrives after the shipment is added with one PUT (``AddTrackingNumbers``). A despatch Cin7 refuses
becomes ``fulfilment_rejected`` (``despatch_for_cancelled_order`` when the sale was voided) with Cin7's message and
the full payload; it is retried on the exception's schedule, never every run, so one poison despatch neither keeps
the flow red nor spends the shared budget.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC
from typing import Any

from erp_wms_sync.domain import cin7_fulfilment as c7
from erp_wms_sync.domain import despatches as rules
from erp_wms_sync.errors import ApiRejected, ApiResponseInvalid
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.dispatch_confirmation.check import (
    CANCELLED,
    DESPATCH,
    NO_TRACKING,
    as_despatch,
    stored_order,
)
from erp_wms_sync.flows.order_release.rows import order_item_code_for, order_sku_for
from erp_wms_sync.ledger import dispatch_repo, repo
from erp_wms_sync.ledger.models import DespatchRecord, OrderRecord, utcnow
from erp_wms_sync.ledger.repo import NewException

log = logging.getLogger(__name__)

REJECTED = "fulfilment_rejected"
STEPS = ("task", "picked", "packed", "shipped")
IN_FLIGHT = {"adding_task": None, "picking": "task", "packing": "picked", "shipping": "packed"}
OPEN_STAGES = ("", "DRAFT", "NOT AVAILABLE")


class Rejected(Exception):
    """Cin7 refused a stage of this despatch (``answered``: nothing was written), or answered something that is not
    the stage we wrote (the write may have happened: the next attempt reads the fulfilments first)."""

    def __init__(self, stage: str, message: str, *, answered: bool = True) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage
        self.message = message
        self.answered = answered


def confirm(ctx: RunContext, erp: Any) -> dict[str, int]:
    """Confirm every ``ready`` / interrupted despatch, then push tracking that arrived after a shipment."""
    counts = {"confirmed": 0, "rejected": 0, "tracking_updated": 0, "waiting_retry": 0}
    with ctx.session() as session:
        todo = [row.despatch_number for row in dispatch_repo.despatches_in_states(
            session, ctx.integration.name, ("ready", "confirming"))]
        due = _due(ctx, session, todo)  # those waiting out a retry never take a new despatch's place
    counts["waiting_retry"] = len(todo) - len(due)
    due = due[:ctx.integration.dispatch.max_despatches_per_run]
    for number in due:
        outcome = _confirm_one(ctx, erp, number)
        counts[outcome] += 1
    counts["tracking_updated"] = update_tracking(ctx, erp)
    log.info("%s dispatch → Cin7 Core: %s", ctx.integration.name, counts)
    return counts


def _due(ctx: RunContext, session: Any, numbers: list[str]) -> list[str]:
    """Despatches not waiting out a retry schedule after Cin7 refused them."""
    refused = {e.entity_key: e for kind in (REJECTED, CANCELLED)
               for e in repo.open_exceptions(session, ctx.integration.name, type_=kind) if e.entity_type == DESPATCH}
    now = utcnow()
    return [n for n in numbers if n not in refused or (refused[n].next_retry_at or now) <= now]


def confirm_one(ctx: RunContext, erp: Any, number: str) -> str:
    """Confirm ONE despatch now, whatever its retry schedule (the dashboard's edit-and-retry of a
    ``fulfilment_rejected``), through the same steps as a run: an interrupted step is recovered from Cin7's
    fulfilments first, each step's intent is committed before its call, so Cin7 holds one fulfilment per despatch.
    Returns ``confirmed`` or ``rejected`` (the exception refreshed with Cin7's message)."""
    return _confirm_one(ctx, erp, number)


def _confirm_one(ctx: RunContext, erp: Any, number: str) -> str:
    try:
        _advance(ctx, erp, number)
    except Rejected as exc:
        _reject(ctx, number, exc)
        return "rejected"
    return "confirmed"


def _advance(ctx: RunContext, erp: Any, number: str) -> None:
    with ctx.session() as session:
        row, record = _load(ctx, session, number)
        if row.step in IN_FLIGHT:
            _recover(ctx, erp, session, row, record)
        row.state = "confirming"
        row.attempts = (row.attempts or 0) + 1
    while True:
        with ctx.session() as session:
            row, record = _load(ctx, session, number)
            if row.step == "shipped":
                _done(ctx, session, row, record)
                return
            _next_step(ctx, erp, session, row, record)


def _load(ctx: RunContext, session: Any, number: str) -> tuple[DespatchRecord, OrderRecord]:
    row = dispatch_repo.despatch_records(session, ctx.integration.name, [number])[number]
    record = dispatch_repo.orders_by_wms_number(session, ctx.integration.name, [row.wms_order_number]).get(
        row.wms_order_number)
    if record is None:
        raise Rejected("order", f"the ledger no longer knows order {row.wms_order_number}")
    return row, record


def _next_step(ctx: RunContext, erp: Any, session: Any, row: DespatchRecord, record: OrderRecord) -> None:
    """Do the one step after ``row.step``: the intent is committed before the call, the result after it."""
    despatch = as_despatch(row)
    order = stored_order(record)
    location = order.location if order is not None else ""
    skus = _sku_quantities(ctx, despatch, record)
    box = row.despatch_number
    if not row.step:
        _choose_task(ctx, erp, session, row, record)
        return
    task = row.erp_ref or ""
    if row.step == "task":
        _intent(session, row, "picking")
        autopick = _is_whole_first(ctx, session, row, record, despatch)
        body = c7.pick_body(task, skus, location, autopick=autopick)
        answer = _call(erp, "pick", body)
        _verify("pick", c7.check_stage("pick", answer, task, skus))
        row.step = "picked"
    elif row.step == "picked":
        _intent(session, row, "packing")
        answer = _call(erp, "pack", c7.pack_body(task, skus, location, box))
        _verify("pack", c7.check_stage("pack", answer, task, skus, box=box))
        row.step = "packed"
    elif row.step == "packed":
        _intent(session, row, "shipping")
        tracking = list(despatch.tracking)
        shipped_at = despatch.despatched_at.replace(tzinfo=UTC) if despatch.despatched_at else None
        answer = _call(erp, "ship", c7.ship_body(task, box, despatch.carrier or row.carrier or "", tracking,
                                                 shipped_at))
        _verify("ship", c7.check_stage("ship", answer, task, None, box=box, tracking=tracking))
        row.erp_tracking = {"tracking": tracking}
        row.step = "shipped"


def _intent(session: Any, row: DespatchRecord, step: str) -> None:
    row.step = step
    session.commit()


def _choose_task(ctx: RunContext, erp: Any, session: Any, row: DespatchRecord, record: OrderRecord) -> None:
    """The sale's own task for its first despatch; a new task for every later one."""
    order = stored_order(record)
    used = _used_tasks(ctx, session, row)
    own = order.fulfilment_task if order is not None else ""
    if own and own not in used:
        row.erp_ref, row.step = own, "task"
        return
    if not own and not used:  # an order released before its task was kept: one GET finds the sale's open task
        tasks = _call_tasks(erp.fulfilment_tasks, record.erp_order_id)
        open_tasks = [t for t in c7.task_ids(tasks) if c7.stage_status(tasks, t, "pick") in OPEN_STAGES]
        if open_tasks:
            row.erp_ref, row.step = open_tasks[0], "task"
            return
    _intent(session, row, "adding_task")
    before = sorted(used | ({own} if own else set()))
    tasks = _call_tasks(erp.add_fulfilment_task, record.erp_order_id)
    known = set(c7.task_ids(tasks))
    try:
        task = c7.new_task_id(sorted(known & set(before)) or before, tasks)
    except ValueError as exc:
        raise Rejected("fulfilment", str(exc)) from exc
    row.erp_ref, row.step = task, "task"


def _used_tasks(ctx: RunContext, session: Any, row: DespatchRecord) -> set[str]:
    siblings = dispatch_repo.despatches_of_orders(session, ctx.integration.name, [row.wms_order_number])
    return {other.erp_ref for other in siblings.get(row.wms_order_number, [])
            if other.id != row.id and other.erp_ref}


def _is_whole_first(ctx: RunContext, session: Any, row: DespatchRecord, record: OrderRecord,
                    despatch: rules.Despatch) -> bool:
    """AUTOPICK only for the first despatch of an order that takes all of it, on the sale's own task."""
    order = stored_order(record)
    if order is None or row.erp_ref != order.fulfilment_task or _used_tasks(ctx, session, row):
        return False
    remaining = rules.remaining_quantities(order, order_item_code_for(ctx.integration, record), [])
    return rules.whole_order(remaining, despatch)


def _recover(ctx: RunContext, erp: Any, session: Any, row: DespatchRecord, record: OrderRecord) -> None:
    """An interrupted step: read the sale's fulfilments once and resume from what Cin7 holds."""
    tasks = _call_tasks(erp.fulfilment_tasks, record.erp_order_id)
    step = row.step or ""
    if step == "adding_task":
        used = _used_tasks(ctx, session, row)
        order = stored_order(record)
        open_tasks = [t for t in c7.task_ids(tasks) if t not in used and t != (order.fulfilment_task if order else "")
                      and c7.stage_status(tasks, t, "pick") in OPEN_STAGES]
        row.erp_ref, row.step = (open_tasks[0], "task") if open_tasks else (None, None)
        log.warning("%s despatch %s: resumed after an interrupted task creation (%s)", ctx.integration.name,
                    row.despatch_number, row.erp_ref or "no new task found; adding one")
        return
    task = row.erp_ref or ""
    if c7.box_shipped(tasks, task, row.despatch_number):
        row.step = "shipped"
    elif c7.stage_status(tasks, task, "pack") == "AUTHORISED":
        row.step = "packed"
    elif c7.stage_status(tasks, task, "pick") == "AUTHORISED":
        row.step = "picked"
    else:
        row.step = IN_FLIGHT[step]
    log.warning("%s despatch %s: interrupted while %s; Cin7 Core holds it up to '%s'", ctx.integration.name,
                row.despatch_number, step, row.step)


def _done(ctx: RunContext, session: Any, row: DespatchRecord, record: OrderRecord) -> None:
    row.state = "confirmed"
    row.confirmed_at = row.confirmed_at or utcnow()
    name = ctx.integration.name
    repo.record_message(session, integration=name, flow=ctx.flow, direction="wms_to_erp", entity_type=DESPATCH,
                        entity_key=row.despatch_number, idempotency_key=f"{name}:despatch:{row.despatch_number}",
                        content_hash=None, status="confirmed",
                        payload={"lines": row.lines, "tracking": (row.erp_tracking or {}).get("tracking"),
                                 "sale": record.erp_order_id, "task": row.erp_ref},
                        target_ref=row.erp_ref, run_id=ctx.run_id)
    repo.resolve_exceptions(session, integration=name, entity_type=DESPATCH, entity_keys=[row.despatch_number[:128]],
                            types=[REJECTED, CANCELLED], by="dispatch_confirmation",
                            note="Cin7 Core holds the shipment",
                            run_id=ctx.run_id)
    if (row.erp_tracking or {}).get("tracking"):
        repo.resolve_exceptions(session, integration=name, entity_type=DESPATCH,
                                entity_keys=[row.despatch_number[:128]], types=[NO_TRACKING],
                                by="dispatch_confirmation", note="tracking reached Cin7 Core", run_id=ctx.run_id)


def update_tracking(ctx: RunContext, erp: Any, numbers: Iterable[str] | None = None) -> int:
    """Confirmed despatches whose tracking numbers grew since the shipment (only ``numbers`` when given): one PUT
    each."""
    updated = 0
    with ctx.session() as session:
        wanted = set(numbers) if numbers is not None else None
        rows = [r.despatch_number for r in dispatch_repo.despatches_in_states(session, ctx.integration.name,
                                                                             ("confirmed",))
                if _new_tracking(r) and (wanted is None or r.despatch_number in wanted)]
    for number in rows:
        with ctx.session() as session:
            row = dispatch_repo.despatch_records(session, ctx.integration.name, [number])[number]
            tracking = list((row.packages or {}).get("tracking") or [])
            body = c7.tracking_body(row.erp_ref or "", row.despatch_number, row.carrier or "", tracking)
            try:
                answer = _call(erp, "ship", body, method="PUT")
                _verify("tracking", c7.check_stage("ship", answer, row.erp_ref or "", None, box=row.despatch_number,
                                                   tracking=tracking))
            except Rejected as exc:
                session.rollback()
                _reject(ctx, number, exc, shipped=True)
                continue
            row.erp_tracking = {"tracking": tracking}
            repo.resolve_exceptions(session, integration=ctx.integration.name, entity_type=DESPATCH,
                                    entity_keys=[number[:128]], types=[NO_TRACKING], by="dispatch_confirmation",
                                    note="tracking reached Cin7 Core", run_id=ctx.run_id)
            updated += 1
    return updated


def _new_tracking(row: DespatchRecord) -> bool:
    have = set((row.erp_tracking or {}).get("tracking") or [])
    return bool(set((row.packages or {}).get("tracking") or []) - have)


def _reject(ctx: RunContext, number: str, exc: Rejected, *, shipped: bool = False) -> None:
    """Record Cin7's refusal; ``shipped``: a tracking update of a confirmed despatch (its state stays)."""
    with ctx.session() as session:
        row = dispatch_repo.despatch_records(session, ctx.integration.name, [number])[number]
        record = dispatch_repo.orders_by_wms_number(session, ctx.integration.name,
                                                    [row.wms_order_number]).get(row.wms_order_number)
        voided = "voided" in exc.message.lower()
        kind = CANCELLED if voided else REJECTED
        if row.step in IN_FLIGHT and exc.answered:
            row.step = IN_FLIGHT[row.step]  # Cin7 refused the call: nothing is in flight any more
        if not shipped:
            row.state = "confirming"  # retried on the exception's schedule (see _due)
        summary = (f"Cin7 Core refused the {exc.stage} of despatch {number} (order "
                   f"{record.erp_order_number if record else row.wms_order_number}): {exc.message}")
        if voided:
            summary = (f"Peoplevox despatched {number} but Cin7 Core sale "
                       f"{record.erp_order_number if record else row.wms_order_number} is voided: the goods left; "
                       f"settle the order by hand ({exc.message})")
        ctx.hold(session, NewException(
            type=kind, entity_type=DESPATCH, entity_key=number[:128], summary=summary[:500],
            detail={"stage": exc.stage, "message": exc.message[:2000], "task": row.erp_ref, "step": row.step},
            payload={"despatch": {"number": number, "order": row.wms_order_number, "lines": row.lines,
                                  "packages": row.packages, "carrier": row.carrier},
                     "sale": record.erp_order_id if record else None}))
    log.warning("%s despatch %s: %s", ctx.integration.name, number, exc)


def _call(erp: Any, stage: str, body: dict[str, Any], *, method: str = "POST") -> dict[str, Any]:
    try:
        return dict(erp.write_fulfilment_stage(stage, body, method=method))
    except ApiRejected as exc:
        raise Rejected(stage, str(exc)) from exc
    except ApiResponseInvalid as exc:
        raise Rejected(stage, f"Cin7 Core answered something that is not the {stage}: {exc}",
                       answered=False) from exc


def _call_tasks(call: Any, sale_id: str) -> list[dict[str, Any]]:
    try:
        return list(call(sale_id))
    except ApiRejected as exc:
        raise Rejected("fulfilment", str(exc)) from exc
    except ApiResponseInvalid as exc:
        raise Rejected("fulfilment", f"Cin7 Core answered unreadable fulfilments: {exc}", answered=False) from exc


def _verify(stage: str, problem: str | None) -> None:
    if problem:
        raise Rejected(stage, f"Cin7 Core does not hold what was written: {problem}", answered=False)


def _sku_quantities(ctx: RunContext, despatch: rules.Despatch,
                    record: OrderRecord | None = None) -> dict[str, float]:
    sku_for = order_sku_for(ctx.integration, record)
    totals: dict[str, float] = {}
    for item_code, quantity in despatch.quantities().items():
        sku = sku_for(item_code)
        totals[sku] = totals.get(sku, 0.0) + float(quantity)
    return totals

