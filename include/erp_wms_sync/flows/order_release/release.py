"""release_orders: send valid orders to Peoplevox and release each only when Peoplevox holds ALL of it.

Per round of up to :data:`ROUND` orders (committed together):

1. Orders sent before (the ledger recorded an intent, ``sent``) are read back first — header and lines — so a
   crashed or half-refused earlier attempt is completed, never adopted as released; orders never sent are not
   looked up.
2. The intent is recorded (state ``sending``) and committed before the first SaveData of the round.
3. The headers still missing are saved, then the lines still missing or wrong of every order whose header is in
   Peoplevox, in full SaveData batches across the round.
4. The lines are read back ("Sales order items", OR-ed SalesOrderNumber clauses) and compared per line (Line,
   ItemCode, QuantityOrdered). Complete → ``released``. A refused header → held ``wms_write_rejected``. A header
   whose lines are missing, wrong or refused → held ``wms_write_rejected`` (incomplete) and completed next run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from erp_wms_sync.connectors.protocols import WmsClient
from erp_wms_sync.domain import orders as rules
from erp_wms_sync.domain.order_status import ReleaseState
from erp_wms_sync.domain.release_rules import LineGaps, describe_gaps, line_gaps
from erp_wms_sync.flows.common import RunContext, chunks
from erp_wms_sync.flows.order_release.rows import ORDER, lookup_wms_orders, read_wms_lines
from erp_wms_sync.flows.order_release.staging import Row, Stage, StagedRelease, Verdict
from erp_wms_sync.flows.order_release.validate import HOLD_TYPES, WMS_REJECTED
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.models import OrderRecord, utcnow

log = logging.getLogger(__name__)

ROUND = 500


@dataclass
class Send:
    """One order of a round: what it should be, what Peoplevox had, what to send, what happened."""

    row: Row
    header: dict[str, str]
    items: list[dict[str, str]]
    prior: bool = False  # sent before: read back first
    header_in_wms: bool = False
    lines_to_send: list[dict[str, str]] = field(default_factory=list)
    refused: str = ""  # the header was refused
    line_refusals: list[str] = field(default_factory=list)
    gaps: LineGaps | None = None
    sent_anything: bool = False

    @property
    def number(self) -> str:
        return self.header[rules.ORDER_KEY]


def release(ctx: RunContext, wms: WmsClient) -> dict[str, int]:
    counts = {"released": 0, "adopted": 0, "completed": 0, "rejected": 0, "incomplete": 0, "new_holds": 0}
    stage = Stage(ctx.integration.name, ctx.flow, ctx.run_id)
    with ctx.session() as session:
        ready = [r for r in stage.rows(session, Verdict.VALID) if isinstance(r.record, StagedRelease)]
    for batch in chunks(ready, ROUND):
        release_round(ctx, wms, stage, batch, counts)
    log.info("%s %s: Peoplevox Sales orders %s", ctx.integration.name, ctx.flow, counts)
    return counts


def release_round(ctx: RunContext, wms: WmsClient, stage: Stage, rows: list[Row], counts: dict[str, int]) -> None:
    sends = [_send_of(r) for r in rows]
    with ctx.session() as session:
        known = repo.order_records(session, ctx.integration.name, (r.erp_id for r in rows))
    for s in sends:
        record = known.get(s.row.erp_id)
        s.prior = record is not None and (record.state == ReleaseState.SENDING
                                          or bool((record.payload or {}).get("sent")))
    _read_prior(wms, [s for s in sends if s.prior])
    _record_intent(ctx, [s for s in sends if s.header_in_wms is False or s.lines_to_send])
    write(wms, sends, ctx.integration.orders.batch_size)
    _verify(wms, sends)
    with ctx.session() as session:
        _record_outcomes(ctx, session, stage, sends, counts)


def _send_of(row: Row) -> Send:
    record = row.record
    assert isinstance(record, StagedRelease) and record.header is not None
    items = [dict(i) for i in record.items]
    return Send(row, dict(record.header), items, lines_to_send=[dict(i) for i in items])


def _read_prior(wms: WmsClient, prior: list[Send]) -> None:
    """The crash lookup, only for orders sent before: which headers and lines Peoplevox already holds."""
    if not prior:
        return
    headers = lookup_wms_orders(wms, (s.number for s in prior))
    lines = read_wms_lines(wms, (s.number for s in prior if s.number in headers))
    for s in prior:
        s.header_in_wms = s.number in headers
        if s.header_in_wms:
            s.gaps = line_gaps(s.items, lines.get(s.number, []))
            s.lines_to_send = [] if s.gaps.conflicts else s.gaps.to_send


def _record_intent(ctx: RunContext, sends: list[Send]) -> None:
    """Before the first SaveData: the ledger says which orders may now be (partly) in Peoplevox."""
    if not sends:
        return
    with ctx.session() as session:
        known = repo.order_records(session, ctx.integration.name, (s.row.erp_id for s in sends))
        updates = []
        for s in sends:
            record = s.row.record
            assert isinstance(record, StagedRelease)
            order = record.order
            updates.append(repo.OrderUpdate(order.erp_id, order.number, order.erp_status, order.updated,
                                            _intent_state(known.get(order.erp_id)),
                                            {"order": rules.order_to_dict(order), "header": s.header,
                                             "items": s.items, "sent": True}))
        rows = repo.upsert_orders(session, ctx.integration.name, updates, known=known)
        for s in sends:
            rows[s.row.erp_id].wms_order_number = s.number


def _intent_state(record: OrderRecord | None) -> ReleaseState:
    return ReleaseState(record.state) if record is not None and record.state == ReleaseState.HELD \
        else ReleaseState.SENDING


def write(wms: WmsClient, sends: Sequence[Send], header_batch: int) -> None:
    """Headers not in Peoplevox, then every line still to send of the orders whose header is there — the lines
    of the whole round in one call, so the client fills every SaveData batch."""
    fresh = [s for s in sends if not s.header_in_wms and not (s.gaps and s.gaps.conflicts)]
    for batch in chunks(fresh, header_batch):
        outcomes = {o.reference: o for o in wms.save_sales_orders([s.header for s in batch])}
        for s in batch:
            outcome = outcomes.get(s.number)
            s.sent_anything = True
            if outcome is not None and outcome.ok:
                s.header_in_wms = True
            else:
                s.refused = outcome.message if outcome is not None else "no status returned"
    lines = [(s, line) for s in sends if s.header_in_wms for line in s.lines_to_send]
    if not lines:
        return
    results = wms.save_sales_order_items([line for _, line in lines])
    for (s, line), outcome in zip(lines, results, strict=False):
        s.sent_anything = True
        if not outcome.ok:
            s.line_refusals.append(f"line {line.get('Line')} {line.get('ItemCode')} refused: {outcome.message}")


def _verify(wms: WmsClient, sends: Sequence[Send]) -> None:
    """Read back the lines of every order whose header is in Peoplevox and something was sent for."""
    check = [s for s in sends if s.header_in_wms and (s.sent_anything or s.gaps is None)]
    if not check:
        return
    found = read_wms_lines(wms, (s.number for s in check))
    for s in check:
        s.gaps = line_gaps(s.items, found.get(s.number, []))


def _record_outcomes(ctx: RunContext, session: Session, stage: Stage | None, sends: list[Send],
                     counts: dict[str, int], *, by: str = "", note: str = "order released to Peoplevox") -> None:
    known = repo.order_records(session, ctx.integration.name, (s.row.erp_id for s in sends))
    verdicts: dict[Verdict, list[int]] = {Verdict.RELEASED: [], Verdict.REJECTED: [], Verdict.INCOMPLETE: []}
    released: list[str] = []
    for s in sends:
        if s.refused:
            counts["rejected"] += 1
            counts["new_holds"] += _hold(ctx, session, s, known, f"order rejected: {s.refused}")
            verdicts[Verdict.REJECTED].append(s.row.id)
        elif s.gaps is None or not s.gaps.complete or not s.header_in_wms:
            counts["incomplete"] += 1
            reason = describe_gaps(s.gaps or LineGaps(s.items, []), s.line_refusals)
            counts["new_holds"] += _hold(ctx, session, s, known, f"order incomplete in Peoplevox: {reason}")
            verdicts[Verdict.INCOMPLETE].append(s.row.id)
        else:
            key = "adopted" if not s.sent_anything else "completed" if s.prior else "released"
            counts[key] += 1
            _mark_released(ctx, session, s, known, adopted=not s.sent_anything)
            released.append(s.row.record.order.number)  # type: ignore[union-attr]
            verdicts[Verdict.RELEASED].append(s.row.id)
    repo.resolve_exceptions(session, integration=ctx.integration.name, entity_type=ORDER, entity_keys=released,
                            types=(*HOLD_TYPES, WMS_REJECTED), by=by or ctx.flow, note=note, run_id=ctx.run_id)
    if stage is not None:
        for verdict, ids in verdicts.items():
            stage.set(session, ids, verdict)


def release_one(ctx: RunContext, wms: WmsClient, order: rules.ErpOrder, header: dict[str, str],
                items: list[dict[str, str]], *, by: str = "", note: str = "order released to Peoplevox",
                ) -> tuple[str, str]:
    """Release ONE order now, outside a run (the dashboard's edit-and-retry of a held order), through this
    module's own path and ledger bookkeeping.

    Unlike a run, Peoplevox is always read first (header, then lines): an order already there is adopted when it
    holds every line, completed when lines are missing, and held ``wms_write_rejected`` when its lines differ — a
    second Peoplevox order is never created. Otherwise the intent is recorded (``sent``) before the first
    SaveData, the header and lines are saved and the lines read back. The ledger is updated as a run would: the
    order ``released`` (version, content hash, message) with its hold exceptions closed as ``by`` with ``note``,
    or held ``wms_write_rejected``. ``header`` and ``items`` are the rows the order passed its data check with.

    Returns ``(outcome, message)``; ``outcome`` is ``released``, ``adopted``, ``completed``, ``rejected`` or
    ``incomplete``."""
    staged = StagedRelease(order, order.updated, dict(header), [dict(i) for i in items])
    send = _send_of(Row(0, order.erp_id, Verdict.VALID, staged))
    send.prior = True
    _read_prior(wms, [send])
    was_there = send.header_in_wms
    if send.header_in_wms is False or send.lines_to_send:
        _record_intent(ctx, [send])
    write(wms, [send], 1)
    _verify(wms, [send])
    counts = {"released": 0, "adopted": 0, "completed": 0, "rejected": 0, "incomplete": 0, "new_holds": 0}
    with ctx.session() as session:
        _record_outcomes(ctx, session, None, [send], counts, by=by, note=note)
    outcome = "rejected" if counts["rejected"] else "incomplete" if counts["incomplete"] else \
        "adopted" if not send.sent_anything else "completed" if was_there else "released"
    if outcome == "rejected":
        return outcome, f"Peoplevox refused order {send.number}: {send.refused}"
    if outcome == "incomplete":
        reason = describe_gaps(send.gaps or LineGaps(send.items, []), send.line_refusals)
        return outcome, f"Peoplevox does not hold all of order {send.number}: {reason}"
    verb = {"released": "released to", "adopted": "already in", "completed": "completed in"}[outcome]
    return outcome, f"order {order.number} {verb} Peoplevox as {send.number}"


def _payload(s: Send) -> dict[str, Any]:
    record = s.row.record
    assert isinstance(record, StagedRelease)
    return {"order": rules.order_to_dict(record.order), "header": s.header, "items": s.items}


def _mark_released(ctx: RunContext, session: Session, s: Send, known: dict[str, OrderRecord], *,
                   adopted: bool) -> None:
    record = s.row.record
    assert isinstance(record, StagedRelease)
    order = record.order
    digest = rules.order_hash(s.header, s.items)
    rows = repo.upsert_orders(session, ctx.integration.name, [repo.OrderUpdate(
        order.erp_id, order.number, order.erp_status, order.updated, ReleaseState.RELEASED,
        {**_payload(s), "sent": True, "waiting_since": None})], known=known)
    row = rows[order.erp_id]
    row.version = (row.version or 0) + 1
    row.content_hash = digest
    row.wms_order_number = s.number
    row.wms_status = row.wms_status or "New"
    row.released_at = utcnow()
    repo.record_message(session, integration=ctx.integration.name, flow=ctx.flow, direction="erp_to_wms",
                        entity_type=ORDER, entity_key=order.number,
                        idempotency_key=f"{ctx.integration.name}:order:{order.erp_id}:v{row.version}:{digest[:16]}",
                        content_hash=digest, status="adopted" if adopted else "confirmed",
                        payload={"header": s.header, "items": s.items}, target_ref=s.number, run_id=ctx.run_id)


def _hold(ctx: RunContext, session: Session, s: Send, known: dict[str, OrderRecord], message: str) -> int:
    record = s.row.record
    assert isinstance(record, StagedRelease)
    order = record.order
    rows = repo.upsert_orders(session, ctx.integration.name, [repo.OrderUpdate(
        order.erp_id, order.number, order.erp_status, order.updated, ReleaseState.HELD, _payload(s))], known=known)
    known[order.erp_id] = rows[order.erp_id]
    new = ctx.hold(session, repo.NewException(
        type=WMS_REJECTED, entity_type=ORDER, entity_key=order.number[:128],
        summary=f"Peoplevox does not hold all of order {order.number}: {message}"[:500],
        detail={"template": rules.SALES_ORDERS if s.refused else rules.SALES_ORDER_ITEMS, "reason": message[:2000],
                "header_in_wms": s.header_in_wms},
        payload=_payload(s)))
    return int(new)


def send_orders(wms: WmsClient, headers: list[dict[str, str]],
                items: list[list[dict[str, str]]]) -> list[tuple[bool, str]]:
    """Save headers, then lines, then read the lines back: (ok, reason) per order, in order. ``ok`` only when
    Peoplevox holds the header and every line with its quantity (used for re-issued orders)."""
    sends = [Send(Row(0, h[rules.ORDER_KEY], Verdict.VALID, StagedRelease(_placeholder(h))), dict(h),
                  [dict(i) for i in its], lines_to_send=[dict(i) for i in its]) for h, its in zip(headers, items,
                                                                                                 strict=True)]
    write(wms, sends, max(len(sends), 1))
    _verify(wms, sends)
    out = []
    for s in sends:
        if s.refused:
            out.append((False, f"order rejected: {s.refused}"))
        elif s.gaps is None or not s.gaps.complete:
            out.append((False, "lines incomplete: " + describe_gaps(s.gaps or LineGaps(s.items, []),
                                                                    s.line_refusals)))
        else:
            out.append((True, ""))
    return out


def _placeholder(header: dict[str, str]) -> rules.ErpOrder:
    number = header[rules.ORDER_KEY]
    return rules.ErpOrder(number, number, rules.OrderState.RELEASABLE, "", "", "", ())
