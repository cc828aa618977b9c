"""Apply: queued stock movements to Cin7 Core as absolute stock adjustments, per SKU × location, in History Id order.

One run is the only writer (the DAG allows one active run; pairs of an unfinished journal entry are left alone).
Order of work, each step committing as it goes:

1. **Journal first.** An adjustment is written to the ``stock_adjustments`` journal (state ``posting``) *before* it is
   posted, under a unique Reference. A ``posting`` entry left by a crash is looked up in Cin7 by that Reference:
   found completed with every line, it is adopted; otherwise it is closed as ``failed`` and its movements, still
   queued, are planned again (Cin7 quantities are absolute, so posting a newer quantity is always safe).
2. **Plan** every SKU × site with queued movements (:mod:`erp_wms_sync.domain.stock_sequencing`): positions open
   from a stock snapshot taken between two reads of the movement history; despatches wait for dispatch
   confirmation or are compensated; stale movements become ``stale_stock_event``.
3. **Post** the pairs whose Cin7 quantity must change, ``stock.max_lines_per_adjustment`` lines per call, at NORMAL
   priority in the shared Cin7 budget (below dispatch, above status write-back). A refused call is a
   ``failed_stock_increment`` exception per pair; the movements stay queued and are retried on the exception's
   schedule. Pairs whose movements Cin7 already holds (picks, shipped despatches) only move their position.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from erp_wms_sync.connectors.cin7core_stock import StockLine
from erp_wms_sync.domain import stock_levels as sl
from erp_wms_sync.domain import stock_sequencing as seq
from erp_wms_sync.domain.pv_reports import COL_ITEM
from erp_wms_sync.errors import ApiError, ApiRejected, ApiResponseInvalid
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.inventory_sync.collect import INVALID, PAIR, pair_key, read_movements, read_since, store
from erp_wms_sync.ledger import repo, stock_repo
from erp_wms_sync.ledger.models import (
    DespatchRecord,
    ExceptionRecord,
    StockAdjustmentRecord,
    StockMovementRecord,
    StockPosition,
    utcnow,
)
from erp_wms_sync.ledger.repo import NewException

log = logging.getLogger(__name__)

FAILED = "failed_stock_increment"
STALE = "stale_stock_event"
MOVEMENT = "stock_movement"
HELD_TYPES = (INVALID, "unmapped_sku", "unmapped_location")
#: Exceptions of dispatch confirmation saying Cin7 refused to ship a despatch (it keeps retrying it meanwhile).
CIN7_REFUSALS = ("fulfilment_rejected", "despatch_for_cancelled_order")
DESPATCH_ENTITY = "despatch"
Pair = tuple[str, str]


@dataclass
class Applied:
    """Counts of one apply pass, for the run log."""

    adopted: int = 0
    adjustments: int = 0
    lines: int = 0
    applied: int = 0
    moved_only: int = 0
    waiting: int = 0
    stale: int = 0
    opened: int = 0
    not_opened: int = 0
    failed_pairs: int = 0
    new_problems: int = 0
    skipped_pairs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"adjustments_adopted": self.adopted, "adjustments_posted": self.adjustments,
                "adjustment_lines": self.lines, "movements_applied": self.applied,
                "pairs_moved_without_adjustment": self.moved_only, "movements_waiting_for_dispatch": self.waiting,
                "stale_movements": self.stale, "positions_opened": self.opened,
                "positions_not_opened_yet": self.not_opened, "failed_pairs": self.failed_pairs}


def reference_for(integration: str, entry_id: int) -> str:
    """The Cin7 Reference of journal entry ``entry_id``: unique, and how the entry is found again after a crash."""
    return f"WMS-STOCK-{integration}-{entry_id}"[:100]


def apply(ctx: RunContext, wms: Any, erp: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """Settle the journal, plan every queued SKU × site, post the adjustments; returns the run's counts."""
    now = now or datetime.now(UTC)
    out = Applied()
    settle_journal(ctx, erp, out)
    plans, opening = plan_all(ctx, wms, now, out)
    post_plans(ctx, erp, plans, opening, now, out)
    log.info("%s inventory sync: %s", ctx.integration.name, out.as_dict())
    return out.as_dict()


# --- 1. the journal -----------------------------------------------------------------------------------------------
def settle_journal(ctx: RunContext, erp: Any, out: Applied) -> None:
    name = ctx.integration.name
    with ctx.session() as session:
        entries = [(e.reference, list(e.lines or [])) for e in stock_repo.open_journal(session, name)]
    for reference, lines in entries:
        found = [a for a in erp.find_stock_adjustments(reference) if a.status == "COMPLETED"]
        wanted = [_line(line) for line in lines]
        complete = next((a for a in found if all(any(w.matches(got) for got in a.lines) for w in wanted)), None)
        with ctx.session() as session:
            entry = stock_repo.journal_entry(session, name, reference)
            if entry is None or entry.state != "posting":
                continue
            if complete is not None:
                _finish(session, ctx, entry, complete.task_id)
                out.adopted += 1
                log.info("%s: adjustment %s (%s) was posted before a crash; adopted", name, reference,
                         complete.number)
            else:
                entry.state = "failed"
                entry.error = ("not found completed with every line in Cin7 after an interrupted post; its "
                               "movements are planned again")
                entry.updated_at = utcnow()


def _line(line: dict[str, Any]) -> StockLine:
    return StockLine(quantity=Decimal(int(line["quantity"])), location=str(line["location"]), sku=str(line["sku"]))


def _finish(session: Any, ctx: RunContext, entry: Any, task_id: str, *, by: str = "inventory_sync",
            note: str = "") -> None:
    """The journal entry is in Cin7: its movements are applied and its pairs' positions move forward."""
    name = ctx.integration.name
    entry.state, entry.erp_task_id, entry.posted_at, entry.updated_at = "posted", task_id, utcnow(), utcnow()
    entry.error = None
    ids: list[int] = []
    for line in entry.lines or []:
        stock_repo.upsert_position(
            session, name, line["item_code"], line["site"], last_history_id=int(line["through_history_id"]),
            wms_counted=int(line["counted"]), erp_sku=line["sku"], erp_location=line["location"],
            erp_quantity=int(line["quantity"]), adjustment_ref=entry.reference,
            opened_history_id=line.get("opened_history_id"), posted=True)
        ids.extend(int(i) for i in line.get("row_ids") or [])
    stock_repo.set_movement_state(session, ids, "applied", adjustment_ref=entry.reference, applied=True)
    repo.resolve_exceptions(session, integration=name, entity_type=PAIR,
                            entity_keys=[pair_key(line["item_code"], line["site"]) for line in entry.lines or []],
                            types=[FAILED], by=by, note=note or f"applied in {entry.reference}",
                            run_id=ctx.run_id)


# --- 2. planning ------------------------------------------------------------------------------------------------
def _move(row: StockMovementRecord) -> seq.Move:
    return seq.Move(row.id, int(row.history_id), row.item_code, row.site, int(row.counted_delta), row.kind,
                    row.sales_order or "", int(row.quantity))


def plan_all(ctx: RunContext, wms: Any, now: datetime,
             out: Applied) -> tuple[list[seq.PairPlan], dict[Pair, int]]:
    """Plans of every SKU × site with due movements; ``opening`` maps the pairs opened this run to their
    snapshot History Id."""
    name = ctx.integration.name
    limit = ctx.integration.stock.max_movements_per_run
    with ctx.session() as session:
        rows = stock_repo.movements_in_states(session, name, ("queued", "waiting"), limit=limit)
        busy = stock_repo.pairs_in_open_journal(session, name)
        held = {e.entity_key for e in repo.open_exceptions(session, name, entity_type=PAIR)
                if e.type in HELD_TYPES}
        not_due = _not_due(session, name, now)
        moves = [_move(r) for r in rows if (r.item_code, r.site) not in busy
                 and pair_key(r.item_code, r.site) not in held | not_due and _mapped(ctx, r.item_code, r.site)]
        groups = seq.pairs_of(moves)
        positions = stock_repo.positions(session, name, groups)
    unopened = [pair for pair in groups if pair not in positions]
    snapshot: dict[Pair, tuple[int, int]] = {}
    if unopened:
        snapshot = open_snapshot(ctx, wms, now, unopened)
        out.not_opened = len(unopened) - len(snapshot)
    all_moves = [m for group in groups.values() for m in group]
    with ctx.session() as session:
        held_orders = refused_orders(session, name)
        state_of = despatch_states(session, name, all_moves, positions, held_orders)
        refused = refused_earlier(session, name, list(groups), state_of, held_orders)
    plans: list[seq.PairPlan] = []
    opening: dict[Pair, int] = {}
    for pair, group in groups.items():
        position = positions.get(pair)
        if position is not None:
            start = seq.Position(int(position.last_history_id), int(position.wms_counted),
                                 int(position.opened_history_id or 0))
            plans.append(seq.plan_pair(start, group, state_of, refused_earlier=refused.get(pair, 0)))
        elif pair in snapshot:
            counted, opened_at = snapshot[pair]
            plan = seq.plan_opening(counted, opened_at, group, state_of)
            if plan is None:
                out.not_opened += 1
            else:
                plans.append(plan)
                opening[pair] = opened_at
    return plans, opening


def _mapped(ctx: RunContext, item_code: str, site: str) -> bool:
    return bool(ctx.integration.sku_for(item_code)) and erp_location(ctx, site) is not None


def erp_location(ctx: RunContext, site: str) -> str | None:
    wanted = site.casefold()
    return next((loc.erp for loc in ctx.integration.locations if loc.wms_site.casefold() == wanted), None)


def _not_due(session: Any, integration: str, now: datetime) -> set[str]:
    """Pairs whose last adjustment Cin7 refused and whose retry is not due yet."""
    naive = now.astimezone(UTC).replace(tzinfo=None)
    return {e.entity_key for e in repo.open_exceptions(session, integration, type_=FAILED, entity_type=PAIR)
            if e.next_retry_at is not None and e.next_retry_at > naive}


def open_snapshot(ctx: RunContext, wms: Any, now: datetime, pairs: list[Pair]) -> dict[Pair, tuple[int, int]]:
    """(counted on-hand, History Id it holds) for the pairs that can be opened now.

    Every movement queued so far was read before the snapshot; the snapshot is then read, then the movement
    history again. A pair with a movement after the last queued one may or may not be in the snapshot, so it is
    opened on a later run; every other pair's snapshot holds exactly its movements up to that History Id."""
    name = ctx.integration.name
    with ctx.session() as session:
        before = stock_repo.max_history_id(session, name) or 0
    rules = seq.LocationRules.from_settings(ctx.integration.stock)
    rows = list(wms.get_report(sl.LEVEL_REPORT, columns=sl.LEVEL_COLUMNS, key=COL_ITEM))
    levels, problems = sl.levels_from_report(rows)
    later, later_problems = read_movements(ctx, wms, read_since(ctx, now))
    store(ctx, later, later_problems)
    moved_since = {(m.item_code, m.site) for m in later if m.history_id > before}
    unreadable = {(p.item_code, p.site) for p in problems + later_problems}
    counted: dict[Pair, int] = defaultdict(int)
    for level in levels:
        if rules.counts(level.location):
            counted[(level.item_code, level.site)] += level.on_hand
    return {pair: (counted.get(pair, 0), before) for pair in pairs
            if pair not in moved_since and pair not in unreadable}


def refused_despatches(session: Any, integration: str) -> set[str]:
    """Despatch numbers Cin7 refused to ship and dispatch confirmation retries (state ``confirming`` under an
    open ``fulfilment_rejected`` / ``despatch_for_cancelled_order``): Cin7 still holds their stock."""
    return set(session.scalars(select(ExceptionRecord.entity_key).where(
        ExceptionRecord.integration == integration, ExceptionRecord.status == repo.OPEN,
        ExceptionRecord.entity_type == DESPATCH_ENTITY, ExceptionRecord.type.in_(CIN7_REFUSALS))))


def refused_orders(session: Any, integration: str) -> list[str]:
    """Peoplevox orders with a despatch Cin7 refused (held against a known ERP order, or refused by Cin7 and
    waiting out its retry): a handful."""
    held = set(session.scalars(select(DespatchRecord.wms_order_number).where(
        DespatchRecord.integration == integration, DespatchRecord.state.in_(("held", "ignored")),
        DespatchRecord.erp_order_id.is_not(None))))
    numbers = sorted(refused_despatches(session, integration))
    for start in range(0, len(numbers), 500):
        held |= set(session.scalars(select(DespatchRecord.wms_order_number).where(
            DespatchRecord.integration == integration, DespatchRecord.state == "confirming",
            DespatchRecord.despatch_number.in_(numbers[start:start + 500]))))
    return sorted(held)


def despatch_states(session: Any, integration: str, moves: list[seq.Move],
                    positions: dict[Pair, StockPosition], extra_orders: Sequence[str] = ()) -> Any:
    """What Cin7 holds of each despatch movement, from dispatch confirmation's ledger (see
    :func:`erp_wms_sync.domain.stock_sequencing.plan_pair`); ``extra_orders`` are read as well (for movements
    applied earlier)."""
    orders = sorted({m.sales_order for m in moves if m.kind == seq.DESPATCH and m.sales_order} | set(extra_orders))
    booked: dict[tuple[str, str], int] = defaultdict(int)
    booked_at: dict[tuple[str, str], datetime] = {}
    refused: dict[tuple[str, str], int] = defaultdict(int)
    unknown: dict[tuple[str, str], int] = defaultdict(int)
    earlier: dict[int, int] = {}  # row id -> despatched quantity of its (order, item) up to it
    running: dict[tuple[str, str], int] = defaultdict(int)
    rejected = refused_despatches(session, integration) if orders else set()
    for start in range(0, len(orders), 500):
        chunk = orders[start:start + 500]
        for row in session.scalars(select(DespatchRecord).where(DespatchRecord.integration == integration,
                                                                DespatchRecord.wms_order_number.in_(chunk))):
            for line in row.lines or []:
                key = (row.wms_order_number, str(line.get("item_code")))
                quantity = int(line.get("quantity") or 0)
                if row.state == "confirmed":
                    booked[key] += quantity
                    if row.confirmed_at is not None:
                        booked_at[key] = max(booked_at.get(key, row.confirmed_at), row.confirmed_at)
                elif (row.state in ("held", "ignored") and row.erp_order_id) or \
                        (row.state == "confirming" and row.despatch_number in rejected):
                    refused[key] += quantity
                elif row.state in ("held", "ignored"):
                    unknown[key] += quantity
        # cumulative despatched quantity of (order, item) up to each movement, over every queued row
        for row in session.scalars(select(StockMovementRecord).where(
                StockMovementRecord.integration == integration, StockMovementRecord.kind == seq.DESPATCH,
                StockMovementRecord.sales_order.in_(chunk)).order_by(StockMovementRecord.history_id)):
            key = (row.sales_order or "", row.item_code)
            running[key] += int(row.quantity)
            earlier[row.id] = running[key]

    def state(move: seq.Move) -> str:
        key = (move.sales_order, move.item_code)
        upto = earlier.get(move.row_id, move.quantity)
        if upto <= booked[key]:
            position = positions.get(move.pair)
            posted = getattr(position, "posted_at", None) if position is not None else None
            shipped = booked_at.get(key)
            if posted is not None and shipped is not None and shipped < posted \
                    and move.history_id > int(position.last_history_id):  # type: ignore[union-attr]
                return seq.OVERWRITTEN
            return seq.BOOKED
        if upto <= booked[key] + refused[key]:
            return seq.REFUSED
        if upto <= booked[key] + refused[key] + unknown[key]:
            return seq.NO_ERP_ORDER
        return seq.PENDING

    return state


def refused_earlier(session: Any, integration: str, pairs: list[Pair], state_of: Any,
                    orders: list[str]) -> dict[Pair, int]:
    """Per pair: the quantity of already-applied despatch movements Cin7 still refuses (it holds their stock).

    Only ``orders`` (:func:`refused_orders`) can have one, so the query starts from those, never from the whole
    movement history."""
    wanted = set(pairs)
    out: dict[Pair, int] = defaultdict(int)
    for start in range(0, len(orders), 500):
        for row in session.scalars(select(StockMovementRecord).where(
                StockMovementRecord.integration == integration, StockMovementRecord.kind == seq.DESPATCH,
                StockMovementRecord.state == "applied",
                StockMovementRecord.sales_order.in_(orders[start:start + 500]))):
            pair = (row.item_code, row.site)
            if pair in wanted and state_of(_move(row)) == seq.REFUSED:
                out[pair] += int(row.quantity)
    return out


# --- 3. posting -------------------------------------------------------------------------------------------------
def post_plans(ctx: RunContext, erp: Any, plans: list[seq.PairPlan], opening: dict[Pair, int], now: datetime,
               out: Applied) -> None:
    name = ctx.integration.name
    with ctx.session() as session:
        for plan in plans:
            _bookkeep(session, ctx, plan, out)
            if not plan.needs_adjustment and plan.apply:
                stock_repo.upsert_position(
                    session, name, plan.item_code, plan.site, last_history_id=plan.through,
                    wms_counted=plan.counted, erp_sku=ctx.integration.sku_for(plan.item_code),
                    erp_location=erp_location(ctx, plan.site) or "", erp_quantity=None, adjustment_ref=None,
                    opened_history_id=opening.get((plan.item_code, plan.site)), posted=False)
                stock_repo.set_movement_state(session, [m.row_id for m in plan.apply], "applied", applied=True)
                out.moved_only += 1
                out.applied += len(plan.apply)
    size = ctx.integration.stock.max_lines_per_adjustment
    for batch in seq.batches(plans, size):
        good = [p for p in batch if p.target >= 0]
        with ctx.session() as session:
            for plan in batch:
                if plan.target < 0:
                    out.new_problems += int(_fail(session, ctx, plan, "the computed quantity is negative "
                                                  f"({plan.target}): Peoplevox counted {plan.counted}, "
                                                  f"compensation {plan.compensation}"))
            if not good:
                continue
            lines = [_journal_line(ctx, plan, opening) for plan in good]
            entry = stock_repo.add_journal(session, name, f"pending-{uuid.uuid4().hex}", lines)
            session.flush()
            entry.reference = reference_for(name, entry.id)
        try:
            answer = erp.post_stock_adjustment([_line(line) for line in lines], reference=entry.reference,
                                               effective_date=now)
        except (ApiRejected, ApiResponseInvalid) as exc:
            with ctx.session() as session:
                row = stock_repo.journal_entry(session, name, entry.reference)
                if row is not None:
                    row.state, row.error, row.attempts = "failed", str(exc)[:2000], (row.attempts or 0) + 1
                for plan in good:
                    out.new_problems += int(_fail(session, ctx, plan, str(exc)))
                    out.failed_pairs += 1
                    stock_repo.bump_movement_attempts(session, [m.row_id for m in plan.apply])
            continue
        with ctx.session() as session:
            row = stock_repo.journal_entry(session, name, entry.reference)
            if row is not None:
                _finish(session, ctx, row, answer.task_id)
        out.adjustments += 1
        out.lines += len(lines)
        out.applied += sum(len(p.apply) for p in good)
        out.opened += sum(1 for p in good if (p.item_code, p.site) in opening)


def _journal_line(ctx: RunContext, plan: seq.PairPlan, opening: dict[Pair, int]) -> dict[str, Any]:
    return {"item_code": plan.item_code, "site": plan.site, "sku": ctx.integration.sku_for(plan.item_code),
            "location": erp_location(ctx, plan.site) or "", "quantity": plan.target, "counted": plan.counted,
            "compensation": plan.compensation, "through_history_id": plan.through,
            "opened_history_id": opening.get((plan.item_code, plan.site)),
            "history_ids": [m.history_id for m in plan.apply], "row_ids": [m.row_id for m in plan.apply]
            + [m.row_id for m in plan.in_opening]}


def _bookkeep(session: Any, ctx: RunContext, plan: seq.PairPlan, out: Applied) -> None:
    """Waiting, stale and in-snapshot movements get their states (and stale ones their exception)."""
    if plan.waiting:
        stock_repo.set_movement_state(session, [m.row_id for m in plan.waiting], "waiting")
        out.waiting += len(plan.waiting)
    if plan.in_opening and not plan.needs_adjustment:
        stock_repo.set_movement_state(session, [m.row_id for m in plan.in_opening], "opening")
    for move in plan.stale:
        out.stale += 1
        out.new_problems += int(ctx.hold(session, NewException(
            type=STALE, entity_type=MOVEMENT, entity_key=str(move.history_id),
            summary=(f"Stock movement {move.history_id} of {move.item_code} at site {move.site} arrived after "
                     f"newer movements were applied to the ERP; not applied (reconciliation corrects the "
                     f"quantity)")[:500],
            detail={"item_code": move.item_code, "site": move.site, "history_id": move.history_id,
                    "counted_delta": move.delta},
            payload={"movement": {"history_id": move.history_id, "item_code": move.item_code, "site": move.site,
                                  "quantity": move.quantity, "kind": move.kind, "sales_order": move.sales_order}})))
    if plan.stale:
        stock_repo.set_movement_state(session, [m.row_id for m in plan.stale], "stale")


# --- one pair now (the dashboard's edit-and-retry) ----------------------------------------------------------------
def retry_pair(ctx: RunContext, erp: Any, item_code: str, site: str, *, sku: str | None = None,
               location: str | None = None, quantity: int | None = None, by: str = "inventory_sync",
               now: datetime | None = None) -> tuple[str, str]:
    """Post the adjustment of ONE SKU × site whose post failed (an open ``failed_stock_increment``) now, through the
    journal — the dashboard's edit-and-retry. ``sku``, ``location`` and ``quantity`` (absolute) replace what the
    failed line carried (None: keep it).

    The line is the pair's latest failed journal line for the movements the exception covers (or, when the
    quantity was refused before posting, rebuilt from the exception); it covers every queued movement of the pair
    up to the exception's History Id. First, the failed entry's Reference is looked up in Cin7: an entry Cin7
    holds completed after all is adopted (as after a crash). Then — unless that already set the edited figure —
    a new journal entry is written ``posting`` under :func:`reference_for` *before* the post, so a crash is settled
    by the next run's journal step; a success applies the movements, moves the position and closes the exception
    (as ``by``), a refusal refreshes the exception and closes the entry ``failed``.

    Returns ``(outcome, message)``; outcome ``posted``, ``adopted``, ``refused``, ``pending`` (Cin7 did not answer:
    the next run settles the entry), ``busy`` (an entry of the pair is being posted) or ``gone`` (no open
    failure for the pair)."""
    now = now or datetime.now(UTC)
    name = ctx.integration.name
    key = pair_key(item_code, site)
    with ctx.session() as session:
        failure = next((e for e in repo.open_exceptions(session, name, type_=FAILED, entity_type=PAIR)
                        if e.entity_key == key), None)
        if failure is None:
            return "gone", f"no open failed_stock_increment for {key}: a run applied it meanwhile"
        if (item_code, site) in stock_repo.pairs_in_open_journal(session, name):
            return "busy", f"an adjustment of {key} is being posted; try again once the next run has settled it"
        detail, payload = dict(failure.detail or {}), dict(failure.payload or {})
        through = int(detail.get("through_history_id") or 0)
        earlier = failed_line(session, name, item_code, site, through)
        queued = [r.id for r in stock_repo.movements_in_states(session, name, ("queued",), through=through)
                  if (r.item_code, r.site) == (item_code, site)]
    line: dict[str, Any] = dict(earlier[1]) if earlier is not None else {
        "item_code": item_code, "site": site, "sku": ctx.integration.sku_for(item_code),
        "location": erp_location(ctx, site) or "", "quantity": int(detail.get("quantity") or 0),
        "counted": int(payload.get("counted") or 0), "compensation": payload.get("compensation"),
        "through_history_id": through, "opened_history_id": None,
        "history_ids": list(payload.get("movements") or [])}
    line["row_ids"] = list(dict.fromkeys([*(line.get("row_ids") or []), *queued]))
    asked = {"sku": line["sku"] if sku is None else sku, "location": line["location"] if location is None else location,
             "quantity": int(line["quantity"]) if quantity is None else int(quantity)}
    if earlier is not None:
        adopted = _adopt_failed(ctx, erp, earlier[0], by=by)
        if adopted and all(str(line[k]) == str(v) for k, v in asked.items()):
            return "adopted", f"Cin7 Core holds adjustment {earlier[0]} after all: adopted, nothing posted again"
    line.update(asked)
    with ctx.session() as session:
        entry = stock_repo.add_journal(session, name, f"pending-{uuid.uuid4().hex}", [line])
        session.flush()
        entry.reference = reference = reference_for(name, entry.id)
    what = f"{line['quantity']} of {line['sku']} at {line['location']}"
    try:
        answer = erp.post_stock_adjustment([_line(line)], reference=reference, effective_date=now)
    except (ApiRejected, ApiResponseInvalid) as exc:
        with ctx.session() as session:
            row = stock_repo.journal_entry(session, name, reference)
            if row is not None:
                row.state, row.error, row.attempts = "failed", str(exc)[:2000], (row.attempts or 0) + 1
            _fail_line(session, ctx, line, str(exc))
            stock_repo.bump_movement_attempts(session, line["row_ids"])
        return "refused", f"Cin7 Core refused {what} ({reference}): {exc}"
    except ApiError as exc:  # no answer: the entry stays ``posting``; the next run looks it up by its Reference
        return "pending", (f"Cin7 Core did not answer for {what} ({reference}): {exc}; the next inventory sync "
                           f"run looks the adjustment up by its Reference")
    with ctx.session() as session:
        row = stock_repo.journal_entry(session, name, reference)
        if row is not None:
            _finish(session, ctx, row, answer.task_id, by=by, note=f"{what} applied in {reference}")
    return "posted", f"Cin7 Core holds {what} (adjustment {reference})"


def failed_line(session: Any, integration: str, item_code: str, site: str,
                through: int) -> tuple[str, dict[str, Any]] | None:
    """(Reference, line) of the newest ``failed`` journal entry with this pair's line up to ``through``."""
    entries = session.scalars(select(StockAdjustmentRecord).where(
        StockAdjustmentRecord.integration == integration, StockAdjustmentRecord.state == "failed")
        .order_by(StockAdjustmentRecord.id.desc()).limit(200))
    for entry in entries:
        for line in entry.lines or []:
            if (str(line.get("item_code")), str(line.get("site"))) == (item_code, site) \
                    and int(line.get("through_history_id") or 0) == through:
                return entry.reference, dict(line)
    return None


def _adopt_failed(ctx: RunContext, erp: Any, reference: str, *, by: str) -> bool:
    """A ``failed`` entry that Cin7 holds completed with every line after all (an answer that was lost) is
    finished as posted; True when it was."""
    name = ctx.integration.name
    with ctx.session() as session:
        entry = stock_repo.journal_entry(session, name, reference)
        lines = [_line(line) for line in (entry.lines or [])] if entry is not None else []
    found = [a for a in erp.find_stock_adjustments(reference) if a.status == "COMPLETED"]
    complete = next((a for a in found if lines and all(any(w.matches(got) for got in a.lines) for w in lines)), None)
    if complete is None:
        return False
    with ctx.session() as session:
        entry = stock_repo.journal_entry(session, name, reference)
        if entry is None or entry.state != "failed":
            return False
        _finish(session, ctx, entry, complete.task_id, by=by, note=f"Cin7 Core holds {reference}: adopted")
    return True


def _fail_line(session: Any, ctx: RunContext, line: dict[str, Any], why: str) -> bool:
    return ctx.hold(session, NewException(
        type=FAILED, entity_type=PAIR, entity_key=pair_key(line["item_code"], line["site"]),
        summary=(f"Cin7 Core did not take the stock of {line['item_code']} at site {line['site']} "
                 f"({line['quantity']} units): {why}")[:500],
        detail={"item_code": line["item_code"], "site": line["site"], "sku": line["sku"],
                "location": line["location"], "quantity": line["quantity"],
                "through_history_id": line["through_history_id"], "reason": why[:2000]},
        payload={"movements": list(line.get("history_ids") or []), "counted": line.get("counted"),
                 "compensation": line.get("compensation")}))


def _fail(session: Any, ctx: RunContext, plan: seq.PairPlan, why: str) -> bool:
    return ctx.hold(session, NewException(
        type=FAILED, entity_type=PAIR, entity_key=pair_key(plan.item_code, plan.site),
        summary=(f"Cin7 Core did not take the stock of {plan.item_code} at site {plan.site} "
                 f"({plan.target} units): {why}")[:500],
        detail={"item_code": plan.item_code, "site": plan.site, "sku": ctx.integration.sku_for(plan.item_code),
                "location": erp_location(ctx, plan.site) or "", "quantity": plan.target,
                "through_history_id": plan.through, "reason": why[:2000]},
        payload={"movements": [m.history_id for m in plan.apply], "counted": plan.counted,
                 "compensation": plan.compensation}))
