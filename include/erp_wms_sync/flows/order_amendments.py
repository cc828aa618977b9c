"""order_amendments: changes and cancellations of orders already in the warehouse (runs inside order_release).

For each released order that changed in the ERP (its content hash differs) or was cancelled there (or lost its
last open line), the order's current Peoplevox status decides (rules: :mod:`erp_wms_sync.domain.amendments`):

- before the cut-off (``orders.cutoff_status``): the change is sent — changed header fields, changed or added
  lines, each line matched by its ERP line identity (the same SKU on two lines stays two lines); a cancellation
  sets ``Status=Cancelled``. Peoplevox cannot remove lines, so a change that removes lines follows
  ``orders.line_removal``: ``reissue`` (default) cancels the order and releases the new version under the suffixed
  number ``<number>-R<n>``; ``hold`` changes nothing and raises ``amendment_held``;
- at or after the cut-off nothing is changed automatically: an ``amendment_after_cutoff`` exception carries both
  versions (what the warehouse has, what the ERP now says) for CX and the warehouse. If the ERP goes back to the
  released version, the exception closes itself.

Nothing is recorded as applied on Peoplevox's word alone: after sending, the order header and lines are read back
(GetData, ``SalesOrderNumber.Equals``) and compared with what was meant. Whatever Peoplevox does not hold — a
refused record, a field the ERP cleared that Peoplevox keeps (an empty cell changes nothing there), a missing
line — holds the amendment as ``amendment_held`` naming it; the ledger keeps the version the warehouse has, and
the next run tries again. A re-issue writes its new number to the ledger before it cancels the old order, so a
crash between the two steps is completed by the next run instead of leaving the order cancelled.

Input: this run's typed staged records (:mod:`erp_wms_sync.flows.order_release.staging`) — each
:class:`StagedAmend` that passed the data check, with the Peoplevox rows it was checked on, and each
:class:`StagedCancel` — plus the amendments held in earlier runs (their open exceptions keep the ERP's version),
which are tried again. Each staged record ends the step ``done``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from erp_wms_sync.domain import amendments as rules
from erp_wms_sync.domain import orders
from erp_wms_sync.domain.amendments import Action, AmendmentPlan
from erp_wms_sync.domain.order_status import ReleaseState
from erp_wms_sync.domain.orders import ErpOrder
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.order_release import ORDER, build_rows, lookup_wms_orders, read_wms_lines, send_orders
from erp_wms_sync.flows.order_release.rows import override_of
from erp_wms_sync.flows.order_release.staging import Stage, StagedAmend, StagedCancel, Verdict
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.models import OrderRecord, utcnow

if TYPE_CHECKING:
    from erp_wms_sync.connectors.protocols import WmsClient

log = logging.getLogger(__name__)

FLOW = "order_amendments"
AMENDMENT_HELD = "amendment_held"
AFTER_CUTOFF = "amendment_after_cutoff"
AMENDMENT_TYPES = (AFTER_CUTOFF, AMENDMENT_HELD)
REISSUE_TO = "reissue_to"  # payload key: the number a re-issue in progress is releasing the order under
UNVERIFIED = "unverified"


@dataclass(frozen=True)
class Work:
    """One amendment to apply: a staged :class:`StagedAmend` / :class:`StagedCancel` (``row_id`` > 0), or an
    amendment held in an earlier run and tried again (``row_id`` 0).

    ``order`` is the ERP's version now (None for a cancellation); ``header`` and ``items`` are the Peoplevox rows
    the data check passed, when the staged record carries them."""

    row_id: int
    erp_id: str
    cancelled: bool
    order: ErpOrder | None
    header: dict[str, str] | None = None
    items: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    """The order as the ERP now has it: its ledger form (``data``), and its Peoplevox rows (ERP line identities in
    ``Line``). For a cancellation it is the version the warehouse has (``order`` None)."""

    data: dict[str, Any]
    header: dict[str, str]
    items: list[dict[str, str]]
    order: ErpOrder | None = None

    @property
    def updated(self) -> str | None:
        value = self.data.get("updated")
        return str(value) if value else None


def amend(ctx: RunContext, wms: WmsClient) -> dict[str, int]:
    """Apply the staged amendments and cancellations, one order at a time, each verified by a read-back."""
    counts = {action.value: 0 for action in Action} | {UNVERIFIED: 0}
    stage = Stage(ctx.integration.name, ctx.flow, ctx.run_id)
    with ctx.session() as session:
        work = staged_work(stage, session)
        work += _still_held(ctx, session, {w.erp_id for w in work})
        records = repo.order_records(session, ctx.integration.name, (w.erp_id for w in work))
        numbers = [records[w.erp_id].wms_order_number or "" for w in work if w.erp_id in records]
    statuses = {n: row.get("Status", "") for n, row in lookup_wms_orders(wms, numbers).items()}
    for item in work:
        with ctx.session() as session:
            record = repo.order_records(session, ctx.integration.name, [item.erp_id]).get(item.erp_id)
            if record is not None:
                outcome = _apply(ctx, session, wms, record, item, statuses.get(record.wms_order_number or "", ""))
                counts[outcome] = counts.get(outcome, 0) + 1
            if item.row_id:
                stage.set(session, [item.row_id], Verdict.DONE)
    log.info("%s %s: %s", ctx.integration.name, FLOW, counts)
    return counts


def staged_work(stage: Stage, session: Session) -> list[Work]:
    """This run's amendments: changes that passed the data check, and cancellations (which need no check)."""
    work = []
    for row in stage.rows(session, Verdict.VALID, Verdict.PENDING):
        record = row.record
        if isinstance(record, StagedAmend) and row.verdict is Verdict.VALID:
            work.append(Work(row.id, row.erp_id, False, record.order, record.header, list(record.items)))
        elif isinstance(record, StagedCancel):
            work.append(Work(row.id, row.erp_id, True, record.order))
    return work


def _still_held(ctx: RunContext, session: Session, staged_ids: set[str]) -> list[Work]:
    """Amendments held earlier and not staged again: each run tries them again (the warehouse may have moved,
    someone may have cleared the field by hand); an exception seen again is not a new alert. The exception keeps
    the ERP's version (``in_erp.order``, the ledger form of the order)."""
    found: dict[str, Work] = {}
    for exc in repo.open_exceptions(session, ctx.integration.name, entity_type=ORDER):
        if exc.type not in AMENDMENT_TYPES:
            continue
        data = dict(((exc.payload or {}).get("in_erp") or {}).get("order") or {})
        erp_id = str(data.get("erp_id") or "")
        if not erp_id or erp_id in staged_ids or erp_id in found:
            continue
        cancelled = bool((exc.detail or {}).get("erp_cancelled"))
        found[erp_id] = Work(0, erp_id, cancelled, None if cancelled else orders.order_from_dict(data))
    return list(found.values())


def _target(ctx: RunContext, record: OrderRecord, item: Work) -> Target:
    if item.cancelled or item.order is None:
        released = record.payload or {}
        return Target(dict(released.get("order") or {}), dict(released.get("header") or {}),
                      list(released.get("items") or []))
    if item.header is not None:
        header, items = dict(item.header), [dict(row) for row in item.items]
    else:
        header, items = build_rows(ctx, item.order, record.wms_order_number or orders.wms_number(item.order),
                                   override_of(record))
    return Target(orders.order_to_dict(item.order), header, items, item.order)


def _apply(ctx: RunContext, session: Session, wms: WmsClient, record: OrderRecord, item: Work,
           wms_status: str) -> str:
    released = dict(record.payload or {})
    target = _target(ctx, record, item)
    if not item.cancelled and not released.get(REISSUE_TO) and \
            orders.order_hash(target.header, target.items) == record.content_hash:
        record.erp_updated = target.updated or record.erp_updated
        _close(ctx, session, record, "the ERP order is back to the version the warehouse has")
        return Action.NOTHING.value
    wms_status = wms_status or ("New" if record.wms_status in (None, "", "New") else record.wms_status)
    record.wms_status = wms_status
    plan = _plan(ctx, released, target, item, wms_status)
    if plan.action is Action.NOTHING:
        if not item.cancelled:
            record.erp_updated = target.updated or record.erp_updated
        return plan.action.value
    if plan.action in (Action.BLOCK, Action.HOLD):
        _block(ctx, session, record, plan, target, cancelled=item.cancelled)
        return plan.action.value
    problems = _execute(ctx, session, wms, record, plan, target)
    if problems:
        held = AmendmentPlan(Action.HOLD, "Peoplevox does not hold the change: " + "; ".join(problems),
                             cleared=plan.cleared)
        _block(ctx, session, record, held, target, cancelled=item.cancelled)
        return UNVERIFIED
    _record_change(ctx, session, record, plan, target)
    return plan.action.value


def _plan(ctx: RunContext, released: Mapping[str, Any], target: Target, item: Work, wms_status: str) -> AmendmentPlan:
    settings = ctx.integration.orders
    if released.get(REISSUE_TO):  # a re-issue was started and not finished: finish it (or cancel both)
        if item.cancelled:
            return AmendmentPlan(Action.CANCEL, "cancelled in the ERP while a re-issue was in progress")
        return AmendmentPlan(Action.REISSUE, "completing the re-issue started earlier",
                             expected_items=rules.open_lines(target.items))
    return rules.plan_amendment(released, target.header, target.items, cancelled=item.cancelled,
                                wms_status=wms_status, cutoff=settings.cutoff_status,
                                line_removal=settings.line_removal)


# --- sending and reading back ---------------------------------------------------------------------------------
def _execute(ctx: RunContext, session: Session, wms: WmsClient, record: OrderRecord, plan: AmendmentPlan,
             target: Target) -> list[str]:
    """Send the plan and read it back; the list of what Peoplevox does not hold (empty: verified)."""
    number = record.wms_order_number or target.header.get(rules.ORDER_KEY, "")
    if plan.action is Action.CANCEL:
        extra = str((record.payload or {}).get(REISSUE_TO) or "")
        return [p for n in (number, extra) if n for p in _cancel(wms, n, must_exist=n == number)]
    if plan.action is Action.REISSUE:
        return _reissue(ctx, session, wms, record, plan, target, number)
    refused = _save(wms, plan.header, plan.items)
    if refused:
        return refused
    header, lines = read_back(wms, number)
    return rules.differences(plan.header, header, plan.expected_items, lines, plan.items)


def _save(wms: WmsClient, header: dict[str, str] | None, items: list[dict[str, str]]) -> list[str]:
    if header:
        outcome = wms.save_sales_orders([header])
        if not outcome or not outcome[0].ok:
            return [f"order refused: {outcome[0].message if outcome else 'no status returned'}"]
    return [f"line {row.get(rules.LINE_KEY)} ({row.get(rules.ITEM_CODE)}) refused: {o.message}"
            for row, o in zip(items, wms.save_sales_order_items(items) if items else [], strict=False) if not o.ok]


def read_back(wms: WmsClient, number: str) -> tuple[dict[str, str] | None, list[dict[str, str]]]:
    """The order header and lines Peoplevox holds for ``number`` (header None when it has no such order)."""
    return lookup_wms_orders(wms, [number]).get(number), read_wms_lines(wms, [number]).get(number, [])


def _cancel(wms: WmsClient, number: str, *, must_exist: bool = True) -> list[str]:
    before = lookup_wms_orders(wms, [number]).get(number)
    if before is None:
        return [f"order {number} is not in Peoplevox"] if must_exist else []
    if before.get("Status", "").casefold() != rules.CANCELLED.casefold():
        outcome = wms.save_sales_orders([{rules.ORDER_KEY: number, "Status": rules.CANCELLED}])
        if not outcome or not outcome[0].ok:
            return [f"cancelling {number} refused: {outcome[0].message if outcome else 'no status returned'}"]
    after = lookup_wms_orders(wms, [number]).get(number) or {}
    if after.get("Status", "").casefold() != rules.CANCELLED.casefold():
        return [f"order {number} is still {after.get('Status') or 'missing'} in Peoplevox after cancelling"]
    return []


def _reissue(ctx: RunContext, session: Session, wms: WmsClient, record: OrderRecord, plan: AmendmentPlan,
             target: Target, number: str) -> list[str]:
    payload = dict(record.payload or {})
    new_number = str(payload.get(REISSUE_TO) or "")
    if not new_number:
        reissues = int(payload.get("reissues", 0)) + 1
        order = target.order or orders.order_from_dict(_order_of(record))
        new_number = orders.wms_number(order, reissues)
        record.payload = repo.plain({**payload, REISSUE_TO: new_number})
        session.commit()  # the intent is durable before the old order is cancelled
    problems = _cancel(wms, number)
    if problems:
        return problems
    header = {**target.header, rules.ORDER_KEY: new_number}
    items = [{**row, rules.ORDER_KEY: new_number} for row in plan.expected_items]
    ok, message = send_orders(wms, [header], [items])[0]
    if not ok:
        return [f"re-issue {new_number}: {message}"]
    held_header, lines = read_back(wms, new_number)
    return rules.differences({k: v for k, v in header.items() if v.strip()}, held_header, items, lines, items)


def _order_of(record: OrderRecord) -> dict[str, Any]:
    order = dict((record.payload or {}).get("order") or {})
    order.setdefault("number", record.erp_order_number)
    return order


# --- the ledger -----------------------------------------------------------------------------------------------
def _record_change(ctx: RunContext, session: Session, record: OrderRecord, plan: AmendmentPlan,
                   target: Target) -> None:
    """Peoplevox holds the change (read back): the ledger now says so."""
    payload = dict(record.payload or {})
    reissue_to = str(payload.pop(REISSUE_TO, "") or "")
    if plan.action is Action.CANCEL:
        record.state, record.wms_status = ReleaseState.CANCELLED, rules.CANCELLED
        sent: dict[str, Any] = {"cancelled": [n for n in (record.wms_order_number, reissue_to) if n]}
    else:
        header, items = dict(target.header), plan.expected_items
        if plan.action is Action.REISSUE:
            payload["reissues"] = int(payload.get("reissues", 0)) + 1
            payload.setdefault("previous_numbers", []).append(record.wms_order_number)
            record.wms_order_number, record.wms_status = reissue_to, "New"
            header[rules.ORDER_KEY] = reissue_to
            items = [{**row, rules.ORDER_KEY: reissue_to} for row in items]
        record.state = ReleaseState.RELEASED
        payload.update({"order": dict(target.data), "header": header, "items": items,
                        "line_map": {} if plan.action is Action.REISSUE else plan.line_map})
        record.content_hash = orders.order_hash(target.header, target.items)
        sent = {"header": plan.header or header, "items": plan.items or items}
    record.version = (record.version or 0) + 1
    record.erp_updated = target.updated or record.erp_updated
    record.payload = repo.plain(payload)
    record.updated_at = utcnow()
    repo.record_message(
        session, integration=ctx.integration.name, flow=FLOW, direction="erp_to_wms", entity_type=ORDER,
        entity_key=record.erp_order_number,
        idempotency_key=f"{ctx.integration.name}:order:{record.erp_order_id}:v{record.version}:{plan.action.value}",
        content_hash=record.content_hash, status="confirmed",
        payload={"action": plan.action.value, "reason": plan.reason, **sent}, target_ref=record.wms_order_number,
        run_id=ctx.run_id)
    _close(ctx, session, record, f"change applied in Peoplevox and read back ({plan.action.value})")


def _block(ctx: RunContext, session: Session, record: OrderRecord, plan: AmendmentPlan, target: Target, *,
           cancelled: bool) -> None:
    """Nothing (more) is changed: an exception says why, with what the warehouse has and what the ERP says."""
    type_ = AMENDMENT_HELD if plan.action is Action.HOLD else AFTER_CUTOFF
    if type_ == AFTER_CUTOFF and record.state != ReleaseState.CANCELLED:
        record.state = ReleaseState.BLOCKED
    released = record.payload or {}
    ctx_hold = RunContext(ctx.integration, FLOW, ctx.run_id, ctx.window, ctx.ledger_url)
    ctx_hold.hold(session, repo.NewException(
        type=type_, entity_type=ORDER, entity_key=record.erp_order_number[:128],
        summary=f"order {record.erp_order_number} ({record.wms_order_number}): {plan.reason}",
        detail={"wms_status": record.wms_status, "cutoff": ctx.integration.orders.cutoff_status,
                "erp_cancelled": cancelled, "reason": plan.reason, "cleared_in_erp": list(plan.cleared)},
        payload={"in_warehouse": {k: released.get(k) for k in ("order", "header", "items")},
                 "in_erp": {"order": target.data, "header": target.header, "items": target.items}}))


def _close(ctx: RunContext, session: Session, record: OrderRecord, note: str) -> None:
    if record.state == ReleaseState.BLOCKED:
        record.state = ReleaseState.RELEASED
    repo.resolve_exceptions(session, integration=ctx.integration.name, entity_type=ORDER,
                            entity_keys=[record.erp_order_number], types=AMENDMENT_TYPES, by=FLOW, note=note,
                            run_id=ctx.run_id)
