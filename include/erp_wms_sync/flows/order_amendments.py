"""order_amendments: changes and cancellations of orders already in the warehouse (runs inside order_release).

For each released order that changed in the ERP (its content hash differs) or was cancelled there, the order's
current Peoplevox status decides (see :func:`erp_wms_sync.domain.orders.plan_amendment`):

- before the cut-off (``orders.cutoff_status``): the change is sent — changed header fields, changed or added lines;
  a cancellation sets ``Status=Cancelled``. Peoplevox cannot remove lines, so a change that removes lines follows
  ``orders.line_removal``: ``reissue`` (default) cancels the order and releases the new version under the suffixed
  number ``<number>-R<n>``; ``hold`` changes nothing and raises ``amendment_held``;
- at or after the cut-off nothing is changed automatically: an ``amendment_after_cutoff`` exception carries both
  versions (what the warehouse has, what the ERP now says) for CX and the warehouse. If the ERP goes back to the
  released version, the exception closes itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from erp_wms_sync.domain import orders as rules
from erp_wms_sync.domain.orders import Action
from erp_wms_sync.flows.common import RunContext, set_verdict, staged
from erp_wms_sync.flows.order_release import (
    ORDER,
    build_rows,
    lookup_wms_orders,
    records_for,
    send_orders,
)
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.models import OrderRecord, utcnow

if TYPE_CHECKING:
    from erp_wms_sync.connectors.peoplevox import PeoplevoxClient

log = logging.getLogger(__name__)

FLOW = "order_amendments"
AMENDMENT_TYPES = ("amendment_after_cutoff", "amendment_held")


def amend(ctx: RunContext, wms: PeoplevoxClient) -> dict[str, int]:
    counts = {action.value: 0 for action in Action}
    counts["failed"] = 0
    with ctx.session() as session:
        work = [(r.id, r.entity_key, r.data) for verdict in ("valid", "pending") for r in staged(session, ctx, verdict)
                if r.data["kind"] in ("amend", "cancel")]
        records = records_for(session, ctx.integration.name, (erp_id for _, erp_id, _ in work))
        numbers = {erp_id: records[erp_id].wms_order_number or "" for _, erp_id, _ in work if erp_id in records}
    statuses = {n: row.get("Status", "") for n, row in lookup_wms_orders(wms, numbers.values()).items()}
    for record_id, erp_id, data in work:
        with ctx.session() as session:
            record = records_for(session, ctx.integration.name, [erp_id]).get(erp_id)
            if record is None:
                set_verdict(session, [record_id], "done")
                continue
            action = _apply(ctx, session, wms, record, data, statuses.get(record.wms_order_number or "", ""))
            counts[action] = counts.get(action, 0) + 1
            set_verdict(session, [record_id], "done")
    log.info("%s %s: %s", ctx.integration.name, FLOW, counts)
    return counts


def _apply(ctx: RunContext, session: Session, wms: PeoplevoxClient, record: OrderRecord, data: Mapping[str, Any],
           wms_status: str) -> str:
    old = dict(record.payload or {})
    cancelled = data["kind"] == "cancel"
    if cancelled:
        header, items = old.get("header", {}), old.get("items", [])
        order_data = old.get("order", {})
    else:
        order = rules.order_from_dict(data["order"])
        header, items = build_rows(ctx, order, record.wms_order_number or rules.wms_number(order))
        order_data = data["order"]
        if rules.order_hash(header, items) == record.content_hash:
            record.erp_updated = order.updated
            _close(ctx, session, record, "the ERP order is back to the version the warehouse has")
            return Action.NOTHING.value
    if not wms_status:
        wms_status = "New" if record.wms_status in (None, "", "New") else record.wms_status
    plan = rules.plan_amendment(old, header, items, cancelled=cancelled, wms_status=wms_status,
                                cutoff=ctx.integration.orders.cutoff_status,
                                line_removal=ctx.integration.orders.line_removal)
    record.wms_status = wms_status
    if plan.action is Action.NOTHING:
        if not cancelled:
            record.erp_updated = order_data.get("updated")
        return plan.action.value
    if plan.action in (Action.BLOCK, Action.HOLD):
        _block(ctx, session, record, plan, old, {"order": order_data, "header": header, "items": items},
               cancelled=cancelled)
        return plan.action.value
    ok, message = _execute(ctx, wms, record, plan, header, items)
    if not ok:
        _block(ctx, session, record, rules.AmendmentPlan(Action.BLOCK, f"Peoplevox refused the change: {message}"),
               old, {"order": order_data, "header": header, "items": items}, cancelled=cancelled)
        return "failed"
    _record_change(ctx, session, record, plan, order_data, header, items)
    return plan.action.value


def _execute(ctx: RunContext, wms: PeoplevoxClient, record: OrderRecord, plan: rules.AmendmentPlan,
             header: dict[str, str], items: list[dict[str, str]]) -> tuple[bool, str]:
    number = record.wms_order_number or header.get(rules.ORDER_KEY, "")
    if plan.action is Action.CANCEL:
        return _cancel(wms, number)
    if plan.action is Action.REISSUE:
        ok, message = _cancel(wms, number)
        if not ok:
            return ok, message
        reissues = int((record.payload or {}).get("reissues", 0)) + 1
        new_number = rules.wms_number(rules.order_from_dict(_order_of(record, header)), reissues)
        header[rules.ORDER_KEY] = new_number
        for item in items:
            item[rules.ORDER_KEY] = new_number
        return send_orders(wms, [header], [items])[0]
    sent_ok, reason = True, ""
    if plan.header:
        outcome = wms.save_sales_orders([plan.header])
        sent_ok, reason = bool(outcome and outcome[0].ok), outcome[0].message if outcome else "no status"
    if sent_ok and plan.items:
        failures = [o.message for o in wms.save_sales_order_items(plan.items) if not o.ok]
        sent_ok, reason = not failures, "; ".join(failures)
    return sent_ok, reason


def _order_of(record: OrderRecord, header: Mapping[str, str]) -> dict[str, Any]:
    order = dict((record.payload or {}).get("order") or {})
    order.setdefault("number", record.erp_order_number)
    return order


def _cancel(wms: PeoplevoxClient, number: str) -> tuple[bool, str]:
    outcome = wms.save_sales_orders([{rules.ORDER_KEY: number, "Status": "Cancelled"}])
    return (bool(outcome and outcome[0].ok), outcome[0].message if outcome else "no status returned")


def _record_change(ctx: RunContext, session: Session, record: OrderRecord, plan: rules.AmendmentPlan,
                   order_data: Mapping[str, Any], header: dict[str, str], items: list[dict[str, str]]) -> None:
    payload = dict(record.payload or {})
    if plan.action is Action.CANCEL:
        record.state, record.wms_status = "cancelled", "Cancelled"
    else:
        if plan.action is Action.REISSUE:
            payload["reissues"] = int(payload.get("reissues", 0)) + 1
            payload.setdefault("previous_numbers", []).append(record.wms_order_number)
            record.wms_order_number, record.wms_status = header[rules.ORDER_KEY], "New"
        record.state = "released"
        payload.update({"order": dict(order_data), "header": header, "items": items})
        record.content_hash = rules.order_hash(header, items)
    record.version = (record.version or 0) + 1
    record.erp_updated = order_data.get("updated", record.erp_updated)
    record.payload = repo.plain(payload)
    record.updated_at = utcnow()
    repo.record_message(
        session, integration=ctx.integration.name, flow=FLOW, direction="erp_to_wms", entity_type=ORDER,
        entity_key=record.erp_order_number,
        idempotency_key=f"{ctx.integration.name}:order:{record.erp_order_id}:v{record.version}:{plan.action.value}",
        content_hash=record.content_hash, status="confirmed",
        payload={"action": plan.action.value, "reason": plan.reason, "header": plan.header or header,
                 "items": plan.items or items}, target_ref=record.wms_order_number, run_id=ctx.run_id)
    _close(ctx, session, record, f"change applied in Peoplevox ({plan.action.value})")


def _block(ctx: RunContext, session: Session, record: OrderRecord, plan: rules.AmendmentPlan,
           in_wms: Mapping[str, Any], in_erp: Mapping[str, Any], *, cancelled: bool) -> None:
    type_ = "amendment_held" if plan.action is Action.HOLD else "amendment_after_cutoff"
    if record.state != "cancelled":
        record.state = "blocked" if type_ == "amendment_after_cutoff" else record.state
    ctx_hold = RunContext(ctx.integration, FLOW, ctx.run_id, ctx.window, ctx.ledger_url)
    ctx_hold.hold(session, repo.NewException(
        type=type_, entity_type=ORDER, entity_key=record.erp_order_number[:128],
        summary=f"order {record.erp_order_number} ({record.wms_order_number}): {plan.reason}",
        detail={"wms_status": record.wms_status, "cutoff": ctx.integration.orders.cutoff_status,
                "erp_cancelled": cancelled, "reason": plan.reason},
        payload={"in_warehouse": dict(in_wms), "in_erp": dict(in_erp)}))


def _close(ctx: RunContext, session: Session, record: OrderRecord, note: str) -> None:
    if record.state == "blocked":
        record.state = "released"
    repo.resolve_exceptions(session, integration=ctx.integration.name, entity_type=ORDER,
                            entity_keys=[record.erp_order_number], types=AMENDMENT_TYPES, by=FLOW, note=note,
                            run_id=ctx.run_id)
