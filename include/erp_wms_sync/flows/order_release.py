"""order_release: authorised ERP orders → Peoplevox "Sales orders" + "Sales order items", exactly once.

Steps (one Airflow task each):

1. :func:`fetch` — list the orders changed in the window (pages of up to 1000), fetch the full order only when the
   ledger cannot prove it unchanged, and stage: new orders to release, released orders that changed or were
   cancelled (for :mod:`erp_wms_sync.flows.order_amendments`), and — from the ledger, without any API call — every
   order still held or waiting, so it is re-validated each run.
2. :func:`validate` — the Great Expectations suite on the order lines: SKUs that are not Peoplevox ItemCodes
   (``unmapped_sku``), locations without a site (``unmapped_location``), anything else (``invalid_order``). A
   failing order is held with one exception per kind, carrying the order and the failed checks; an order that now
   passes closes its exceptions by itself. Orders inside the hold window wait.
3. :func:`release` — orders the ledger does not know as released are first looked up in Peoplevox by
   SalesOrderNumber (a crash after SaveData must not duplicate them), then sent in batches: the header, then the
   lines of the headers that were accepted; per-record statuses decide what is released and what is held.
4. :func:`write_back` — the release status goes back to the ERP (Cin7 Core additional attribute, BlueCherry order
   WMS status) so CX can see held vs released.
5. ``data_check`` (see :func:`erp_wms_sync.flows.common.fail_if_check_failed`) fails the run after all this when
   any order was held.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from erp_wms_sync.checks.suites import ORDER_LINE_COLUMNS, order_release_checks
from erp_wms_sync.domain import orders as rules
from erp_wms_sync.domain.orders import ErpOrder, OrderState
from erp_wms_sync.flows.common import (
    RunContext,
    advance_watermark,
    chunks,
    fail_if_check_failed,
    set_verdict,
    stage,
    staged,
)
from erp_wms_sync.flows.order_sources import OrderSource, OrderStamp
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.models import OrderRecord, utcnow

if TYPE_CHECKING:
    from erp_wms_sync.connectors.peoplevox import PeoplevoxClient

log = logging.getLogger(__name__)

FLOW = "order_release"
SUITE = "order_release"
ORDER = "order"
HOLD_TYPES = ("unmapped_sku", "unmapped_location", "invalid_order")
WMS_REJECTED = "wms_write_rejected"
LOOKUP_BATCH = 100
KNOWN = ("released", "blocked", "cancelled")


def records_for(session: Session, integration: str, erp_ids: Iterable[str]) -> dict[str, OrderRecord]:
    found: dict[str, OrderRecord] = {}
    for chunk in chunks(sorted(set(erp_ids)), 500):
        rows = session.scalars(select(OrderRecord).where(OrderRecord.integration == integration,
                                                         OrderRecord.erp_order_id.in_(chunk)))
        found.update({r.erp_order_id: r for r in rows})
    return found


def _since(ctx: RunContext) -> datetime:
    if ctx.window.start is not None:
        return ctx.window.start
    return ctx.window.end - timedelta(days=ctx.integration.orders.lookback_days)


def fetch(ctx: RunContext, source: OrderSource) -> dict[str, int]:
    counts = {"listed": 0, "detail_calls": 0, "unchanged": 0, "to_release": 0, "to_amend": 0, "to_cancel": 0,
              "dropped": 0, "revalidated": 0}
    stamps = [s for s in source.changed(_since(ctx)) if s.erp_id]
    counts["listed"] = len(stamps)
    to_stage: list[tuple[str, dict[str, Any]]] = []
    with ctx.session() as session:
        records = records_for(session, ctx.integration.name, (s.erp_id for s in stamps))
        for stamp in stamps:
            entry = _decide(ctx, source, stamp, records.get(stamp.erp_id), counts)
            if entry is not None:
                to_stage.append((stamp.erp_id, entry))
        staged_ids = {key for key, _ in to_stage}
        for record in session.scalars(select(OrderRecord).where(
                OrderRecord.integration == ctx.integration.name, OrderRecord.state.in_(("held", "waiting")))):
            if record.erp_order_id not in staged_ids and record.payload and "order" in record.payload:
                to_stage.append((record.erp_order_id, {"kind": "release", "order": record.payload["order"]}))
                counts["revalidated"] += 1
        stage(session, ctx, to_stage)
    log.info("%s %s: window %s; %s", ctx.integration.name, FLOW, ctx.window.describe(), counts)
    return counts


def _decide(ctx: RunContext, source: OrderSource, stamp: OrderStamp, record: OrderRecord | None,
            counts: dict[str, int]) -> dict[str, Any] | None:
    known = record is not None and record.state in KNOWN
    if stamp.state is OrderState.CANCELLED:
        if known and record is not None and record.state != "cancelled":
            counts["to_cancel"] += 1
            return {"kind": "cancel", "number": stamp.number}
        if record is not None and record.state in ("held", "waiting"):
            counts["dropped"] += 1
            return {"kind": "drop", "number": stamp.number, "reason": "cancelled in the ERP before release"}
        return None
    if stamp.state is not OrderState.RELEASABLE:
        if record is not None and record.state in ("held", "waiting"):
            counts["dropped"] += 1
            return {"kind": "drop", "number": stamp.number, "reason": f"no longer releasable ({stamp.erp_status})"}
        return None
    if stamp.order is not None and known and record is not None:
        # the list carried the whole order: compare content, not stamps (a stamp may have a one-second grain)
        header, items = build_rows(ctx, stamp.order, record.wms_order_number or rules.wms_number(stamp.order))
        if rules.order_hash(header, items) == record.content_hash:
            counts["unchanged"] += 1
            return None
    elif record is not None and rules.same_stamp(record.erp_updated, stamp.updated):
        counts["unchanged"] += 1  # held / waiting orders are re-checked from the ledger's copy below
        return None
    if stamp.order is None:
        counts["detail_calls"] += 1
    order = source.fetch(stamp)
    kind = "amend" if known else "release"
    counts["to_amend" if known else "to_release"] += 1
    return {"kind": kind, "order": rules.order_to_dict(order)}


# --- validation -------------------------------------------------------------------------------------------------
def build_rows(ctx: RunContext, order: ErpOrder, number: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    settings = ctx.integration.orders
    site = ctx.integration.site_for(order.location) or ""
    header = rules.wms_header(order, number=number, site=site,
                              service_type=settings.service_type_for(order.carrier) or "",
                              channel=settings.channel_name or ctx.integration.label)
    return header, rules.wms_items(order, number)


def _frame_rows(header: Mapping[str, str], items: list[dict[str, str]], owners: int) -> list[dict[str, Any]]:
    base: dict[str, Any] = {col: (str(header.get(col, "")).strip() or None) for col in ORDER_LINE_COLUMNS}
    base["NumberOwners"] = owners
    if not items:
        return [dict(base, ItemCode=None, QuantityOrdered=None)]
    return [dict(base, ItemCode=(i["ItemCode"] or None), QuantityOrdered=float(i["QuantityOrdered"] or 0))
            for i in items]


def validate(ctx: RunContext, wms_item_codes: Iterable[str]) -> dict[str, Any]:
    import pandas as pd

    from erp_wms_sync.checks.runner import run_checks

    counts = {"evaluated": 0, "held": 0, "waiting": 0, "valid": 0, "resolved": 0, "dropped": 0}
    with ctx.session() as session:
        records = list(staged(session, ctx, "pending"))
        _apply_drops(ctx, session, [r for r in records if r.data["kind"] == "drop"], counts)
        candidates = [r for r in records if r.data["kind"] in ("release", "amend")]
        known = records_for(session, ctx.integration.name, (r.entity_key for r in candidates))
        prepared = [_prepare(ctx, r, known.get(r.entity_key)) for r in candidates]
        owners: dict[str, set[str]] = {}
        for _, order, header, _ in prepared:
            owners.setdefault(header["SalesOrderNumber"], set()).add(order.erp_id)
        rows, positions = [], []
        for index, (_, _, header, items) in enumerate(prepared):
            for row in _frame_rows(header, items, len(owners[header["SalesOrderNumber"]])):
                rows.append(row)
                positions.append(index)
        frame = pd.DataFrame(rows, columns=list(ORDER_LINE_COLUMNS))
        outcome = run_checks(SUITE, frame, order_release_checks(sorted(set(wms_item_codes)),
                                                                rules.WMS_ORDER_NUMBER_MAX))
        failures = _per_order(outcome, positions, frame)
        for index, (record, order, header, items) in enumerate(prepared):
            _judge(ctx, session, record, order, header, items, failures.get(index), known, counts)
        counts["evaluated"] = len(prepared)
        repo.record_check(session, integration=ctx.integration.name, flow=FLOW, suite=SUITE, run_id=ctx.run_id,
                          success=outcome.success, evaluated=len(prepared), failed_records=counts["held"],
                          summary={**outcome.summary, "orders_held": counts["held"]})
    log.info("%s %s: data check %s", ctx.integration.name, FLOW, counts)
    return {**counts, "success": outcome.success, "failed_expectations": outcome.failed_expectations}


def _prepare(ctx: RunContext, record: Any, known: OrderRecord | None) -> tuple[Any, ErpOrder, dict, list]:
    order = rules.order_from_dict(record.data["order"])
    reissues = int((known.payload or {}).get("reissues", 0)) if known is not None else 0
    number = known.wms_order_number if known is not None and known.wms_order_number else \
        rules.wms_number(order, reissues)
    header, items = build_rows(ctx, order, number)
    return record, order, header, items


def _per_order(outcome: Any, positions: list[int], frame: Any) -> dict[int, dict[str, Any]]:
    result: dict[int, dict[str, Any]] = {}
    for row, reasons in outcome.failures.items():
        entry = result.setdefault(positions[row], {"reasons": {}, "skus": set()})
        for reason, category in zip(reasons, outcome.categories.get(row, []), strict=True):
            entry["reasons"].setdefault(category or "invalid_order", set()).add(reason)
        if "unmapped_sku" in outcome.categories.get(row, []) and frame.iloc[row]["ItemCode"]:
            entry["skus"].add(str(frame.iloc[row]["ItemCode"]))
    return result


def _judge(ctx: RunContext, session: Session, record: Any, order: ErpOrder, header: dict, items: list,
           failure: dict[str, Any] | None, known: Mapping[str, OrderRecord], counts: dict[str, int]) -> None:
    integration = ctx.integration.name
    payload = {"order": rules.order_to_dict(order), "header": header, "items": items}
    ledger_row = known.get(order.erp_id)
    failed_types = set(failure["reasons"]) if failure else set()
    counts["resolved"] += repo.resolve_exceptions(
        session, integration=integration, entity_type=ORDER, entity_keys=[order.number],
        types=[t for t in HOLD_TYPES if t not in failed_types], by=FLOW, note="order passes the data check now",
        run_id=ctx.run_id)
    record.data = {**record.data, "header": header, "items": items}
    if failure:
        counts["held"] += 1
        for type_, reasons in failure["reasons"].items():
            detail = {"reasons": sorted(reasons), "suite": SUITE}
            if type_ == "unmapped_sku":
                detail["unknown_skus"] = sorted(failure["skus"])
            ctx.hold(session, repo.NewException(
                type=type_, entity_type=ORDER, entity_key=order.number[:128],
                summary=f"order {order.number} held: {'; '.join(sorted(reasons))}"
                        + (f" ({', '.join(sorted(failure['skus']))})" if type_ == "unmapped_sku" else ""),
                detail=detail, payload=payload))
        if ledger_row is None or ledger_row.state in ("held", "waiting"):
            _upsert_record(session, integration, order, state="held", payload=payload, existing=ledger_row)
        set_verdict(session, [record.id], "invalid")
        return
    if record.data["kind"] == "release" and _in_hold_window(ctx, order):
        counts["waiting"] += 1
        _upsert_record(session, integration, order, state="waiting", payload=payload, existing=ledger_row)
        set_verdict(session, [record.id], "waiting")
        return
    counts["valid"] += 1
    set_verdict(session, [record.id], "valid")


def _in_hold_window(ctx: RunContext, order: ErpOrder) -> bool:
    minutes = ctx.integration.orders.hold_window_minutes
    if not minutes:
        return False
    try:
        updated = datetime.fromisoformat(order.updated.replace("Z", "+00:00"))
    except ValueError:
        return False
    updated = updated if updated.tzinfo else updated.replace(tzinfo=UTC)
    return updated + timedelta(minutes=minutes) > ctx.window.end


def _apply_drops(ctx: RunContext, session: Session, drops: list[Any], counts: dict[str, int]) -> None:
    known = records_for(session, ctx.integration.name, (r.entity_key for r in drops))
    for record in drops:
        row = known.get(record.entity_key)
        if row is not None:
            row.state = "ignored"
        counts["dropped"] += 1
        repo.resolve_exceptions(session, integration=ctx.integration.name, entity_type=ORDER,
                                entity_keys=[record.data["number"]], types=(*HOLD_TYPES, WMS_REJECTED), by=FLOW,
                                note=record.data["reason"], run_id=ctx.run_id)
        set_verdict(session, [record.id], "done")


def _upsert_record(session: Session, integration: str, order: ErpOrder, *, state: str, payload: dict[str, Any],
                   existing: OrderRecord | None) -> OrderRecord:
    row = existing
    if row is None:
        row = OrderRecord(integration=integration, erp_order_id=order.erp_id, erp_order_number=order.number,
                          state=state, version=0)
        session.add(row)
    row.erp_order_number = order.number
    row.erp_status = order.erp_status
    row.erp_updated = order.updated
    row.state = state
    row.payload = {**(row.payload or {}), **(repo.plain(payload) or {})}
    return row


# --- release ----------------------------------------------------------------------------------------------------
def lookup_wms_orders(wms: PeoplevoxClient, numbers: Iterable[str]) -> dict[str, dict[str, str]]:
    """Peoplevox Sales orders by SalesOrderNumber, 100 OR-ed Equals terms per call."""
    found: dict[str, dict[str, str]] = {}
    for batch in chunks(sorted(set(numbers)), LOOKUP_BATCH):
        clause = " OR ".join(f'SalesOrderNumber.Equals("{_quote(n)}")' for n in batch)
        for row in wms.iter_sales_orders(search_clause=clause):
            found[row.get("SalesOrderNumber", "")] = dict(row)
    return found


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def release(ctx: RunContext, wms: PeoplevoxClient) -> dict[str, int]:
    counts = {"released": 0, "adopted": 0, "rejected": 0}
    with ctx.session() as session:
        ready = [(r.id, r.entity_key, r.data) for r in staged(session, ctx, "valid") if r.data["kind"] == "release"]
    in_wms = lookup_wms_orders(wms, (d["header"]["SalesOrderNumber"] for _, _, d in ready))
    to_send = []
    with ctx.session() as session:
        for record_id, erp_id, data in ready:
            found = in_wms.get(data["header"]["SalesOrderNumber"])
            if found is None:
                to_send.append((record_id, erp_id, data))
                continue
            _mark_released(ctx, session, data, wms_status=found.get("Status", ""), adopted=True)
            set_verdict(session, [record_id], "released")
            counts["adopted"] += 1
    for batch in chunks(to_send, ctx.integration.orders.batch_size):
        outcomes = send_orders(wms, [d["header"] for _, _, d in batch], [d["items"] for _, _, d in batch])
        with ctx.session() as session:
            for (record_id, _erp_id, data), (ok, message) in zip(batch, outcomes, strict=True):
                if ok:
                    _mark_released(ctx, session, data, wms_status="New", adopted=False)
                    set_verdict(session, [record_id], "released")
                    counts["released"] += 1
                else:
                    _reject(ctx, session, data, message)
                    set_verdict(session, [record_id], "rejected")
                    counts["rejected"] += 1
    log.info("%s %s: Peoplevox Sales orders %s", ctx.integration.name, FLOW, counts)
    return counts


def send_orders(wms: PeoplevoxClient, headers: list[dict[str, str]],
                items: list[list[dict[str, str]]]) -> list[tuple[bool, str]]:
    """Save headers, then the lines of the accepted headers; (ok, reason) per order, in order."""
    header_out = {o.reference: o for o in wms.save_sales_orders(headers)}
    accepted = [h["SalesOrderNumber"] for h in headers if _ok(header_out.get(h["SalesOrderNumber"]))]
    lines = [line for h, its in zip(headers, items, strict=True) if h["SalesOrderNumber"] in accepted for line in its]
    line_errors: dict[str, list[str]] = {}
    if lines:
        for line, line_outcome in zip(lines, wms.save_sales_order_items(lines), strict=False):
            if not line_outcome.ok:
                line_errors.setdefault(line["SalesOrderNumber"], []).append(
                    f"line {line.get('Line')} {line['ItemCode']}: {line_outcome.message}")
    results = []
    for header in headers:
        number = header["SalesOrderNumber"]
        outcome = header_out.get(number)
        if not _ok(outcome):
            results.append((False, f"order rejected: {outcome.message if outcome else 'no status returned'}"))
        elif number in line_errors:
            results.append((False, "lines rejected: " + "; ".join(line_errors[number])))
        else:
            results.append((True, ""))
    return results


def _ok(outcome: Any) -> bool:
    return bool(outcome is not None and outcome.ok)


def _mark_released(ctx: RunContext, session: Session, data: Mapping[str, Any], *, wms_status: str,
                   adopted: bool) -> None:
    order = rules.order_from_dict(data["order"])
    header, items = data["header"], data["items"]
    digest = rules.order_hash(header, items)
    existing = records_for(session, ctx.integration.name, [order.erp_id]).get(order.erp_id)
    row = _upsert_record(session, ctx.integration.name, order, state="released",
                         payload={"order": data["order"], "header": header, "items": items}, existing=existing)
    row.version = (row.version or 0) + 1
    row.content_hash = digest
    row.wms_order_number = header["SalesOrderNumber"]
    row.wms_status = wms_status
    row.released_at = utcnow()
    repo.record_message(session, integration=ctx.integration.name, flow=FLOW, direction="erp_to_wms",
                        entity_type=ORDER, entity_key=order.number,
                        idempotency_key=f"{ctx.integration.name}:order:{order.erp_id}:v{row.version}:{digest[:16]}",
                        content_hash=digest, status="adopted" if adopted else "confirmed",
                        payload={"header": header, "items": items}, target_ref=header["SalesOrderNumber"],
                        run_id=ctx.run_id)
    repo.resolve_exceptions(session, integration=ctx.integration.name, entity_type=ORDER, entity_keys=[order.number],
                            types=(*HOLD_TYPES, WMS_REJECTED), by=FLOW, note="order released to Peoplevox",
                            run_id=ctx.run_id)


def _reject(ctx: RunContext, session: Session, data: Mapping[str, Any], message: str) -> None:
    order = rules.order_from_dict(data["order"])
    existing = records_for(session, ctx.integration.name, [order.erp_id]).get(order.erp_id)
    _upsert_record(session, ctx.integration.name, order, state="held",
                   payload={"order": data["order"], "header": data["header"], "items": data["items"]},
                   existing=existing)
    ctx.hold(session, repo.NewException(
        type=WMS_REJECTED, entity_type=ORDER, entity_key=order.number[:128],
        summary=f"Peoplevox rejected order {order.number}: {message}"[:500],
        detail={"template": rules.SALES_ORDERS, "reason": message},
        payload={"order": data["order"], "header": data["header"], "items": data["items"]}))


# --- write-back -------------------------------------------------------------------------------------------------
WRITE_BACK_TEXT = {"released": "Released to WMS as {number}", "invalid": "Held: {reasons}",
                   "rejected": "Held: rejected by the WMS", "waiting": "Waiting: hold window"}


def write_back(ctx: RunContext, source: OrderSource) -> dict[str, int]:
    counts = {"written": 0}
    with ctx.session() as session:
        todo = [(r.id, r.verdict, r.data) for verdict in WRITE_BACK_TEXT for r in staged(session, ctx, verdict)]
    for record_id, verdict, data in todo:
        order = rules.order_from_dict(data["order"])
        reasons = _open_reasons(ctx, order.number) if verdict == "invalid" else ""
        text = WRITE_BACK_TEXT[verdict].format(number=data.get("header", {}).get("SalesOrderNumber", ""),
                                               reasons=reasons)
        stamp = source.write_back(order, text)
        with ctx.session() as session:
            row = records_for(session, ctx.integration.name, [order.erp_id]).get(order.erp_id)
            if row is not None and stamp:
                row.erp_updated = stamp  # our own write must not look like an ERP change next run
            set_verdict(session, [record_id], f"{verdict}:noted")
        counts["written"] += 1
    log.info("%s %s: status written back to the ERP for %d orders", ctx.integration.name, FLOW, counts["written"])
    return counts


def _open_reasons(ctx: RunContext, number: str) -> str:
    with ctx.session() as session:
        return "; ".join(sorted(e.type for e in repo.open_exceptions(session, ctx.integration.name, entity_type=ORDER)
                                if e.entity_key == number))


def wms_item_codes(wms: PeoplevoxClient, skus: Iterable[str]) -> set[str]:
    """Which of these SKUs exist as Peoplevox ItemCodes: 100 OR-ed Equals terms per call, only for the SKUs the
    run's orders use (not the whole item master)."""
    found: set[str] = set()
    for batch in chunks(sorted({s for s in skus if s}), LOOKUP_BATCH):
        clause = " OR ".join(f'ItemCode.Equals("{_quote(sku)}")' for sku in batch)
        found.update((row.get("ItemCode") or "").strip() for row in wms.iter_item_types(search_clause=clause))
    return found - {""}



def check(ctx: RunContext, wms: PeoplevoxClient) -> dict[str, Any]:
    """The validate task: the suite against the ItemCodes Peoplevox has right now."""
    with ctx.session() as session:
        skus = {line["sku"] for record in staged(session, ctx, "pending") if record.data["kind"] in ("release", "amend")
                for line in record.data["order"].get("lines", [])}
    return validate(ctx, wms_item_codes(wms, skus))


def data_check(ctx: RunContext) -> dict[str, Any]:
    return fail_if_check_failed(ctx, SUITE)


def finish(ctx: RunContext) -> dict[str, str]:
    return advance_watermark(ctx)
