"""Cin7 Core: a return's credit note, issued only after its stock-in is in Cin7 (ARCHITECTURE invariant 4).

Peoplevox's "goods received" of a return is the only trigger of the Cin7 stock-in, and inventory sync books it: a
sellable return put on a counted shelf is a stock movement like any other, and the absolute adjustment carrying it
*is* the stock-in. This flow never books stock. Per return code, once a run:

1. Its order must be one the integration released (ledger ``order_records`` by Peoplevox order number → the Cin7
   sale); else every line is ``return_without_authorisation``. Each item must map to a Cin7 SKU (``unmapped_sku``).
2. Damaged lines are never restocked (quarantine does not count for inventory sync): ``return_damaged`` asks finance
   to review; ``returns.damaged_credit`` says whether they are credited (``credit``) or not (``review``, ``none``).
3. A sellable line waits until its Peoplevox movements (from ``Customer``, its order and item, reason "Return …",
   comments = the return code) are ``applied`` by inventory sync. A line still waiting after
   ``returns.restock_deadline_hours`` is ``return_not_restocked``; a credit note found on the sale meanwhile that
   credits its SKU (made by hand) is ``credit_before_stock_in``.
4. When every creditable line is in stock: one credit note per return (Memo ``WMS-RETURN <code>``, lines priced as
   the sale's order lines, no restock lines). Before creating, the sale's credit notes are read: the return's own
   (a crash after the POST) or one made by hand for its SKUs is adopted, never doubled. Cin7 credits an invoice: a
   sale with no authorised invoice waits as ``return_awaiting_invoice`` (invoicing is the ERP users' business).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from erp_wms_sync.connectors.cin7core_stock import CreditLine
from erp_wms_sync.errors import ApiRejected, ApiResponseInvalid
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.returns import rules
from erp_wms_sync.ledger import dispatch_repo, repo, returns_repo
from erp_wms_sync.ledger.models import OrderRecord, ReturnRecord
from erp_wms_sync.ledger.repo import NewException

log = logging.getLogger(__name__)

RETURN = "return"
UNKNOWN = "return_without_authorisation"
UNMAPPED = "unmapped_sku"
DAMAGED = "return_damaged"
NOT_RESTOCKED = "return_not_restocked"
EARLY_CREDIT = "credit_before_stock_in"
NO_INVOICE = "return_awaiting_invoice"
REFUSED = "credit_note_rejected"
KNOWN_ORDER_STATES = ("released", "blocked", "cancelled")


def line_key(row: ReturnRecord) -> str:
    return f"{row.return_code}|{row.item_code}"[:128]


def return_payload(lines: Iterable[ReturnRecord], record: OrderRecord | None = None) -> dict[str, Any]:
    """The full payload of a return's exception: its lines as Peoplevox reported them and the order it names."""
    rows = list(lines)
    first = rows[0]
    return {"return": {"code": first.return_code, "sales_order": first.sales_order, "site": first.site,
                       "returned_at": first.returned_at.isoformat() if first.returned_at else None,
                       "lines": [{"item_code": r.item_code, "quantity": r.quantity, "condition": r.condition,
                                  "sellable": r.sellable, "reason": r.reason, "state": r.state} for r in rows]},
            "order": None if record is None else {"erp_order_id": record.erp_order_id,
                                                  "erp_order_number": record.erp_order_number,
                                                  "state": record.state}}


def settle(ctx: RunContext, erp: Any, *, now: datetime | None = None) -> dict[str, int]:
    """Look at every open returned line, return by return (each committed on its own)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    counts = {"returns": 0, "credited": 0, "adopted": 0, "waiting": 0, "held": 0, "closed": 0, "new_problems": 0}
    with ctx.session() as session:
        open_rows = returns_repo.lines_in_states(session, ctx.integration.name, returns_repo.OPEN_STATES,
                                                 limit=ctx.integration.returns.max_returns_per_run)
        codes = list(dict.fromkeys(row.return_code for row in open_rows))
    for code in codes:
        with ctx.session() as session:
            lines = returns_repo.lines_of_returns(session, ctx.integration.name, [code]).get(code, [])
            if lines:
                counts["returns"] += 1
                _settle_return(ctx, session, erp, lines, moment, counts)
    log.info("%s returns (Cin7 Core): %s", ctx.integration.name, counts)
    return counts


def _settle_return(ctx: RunContext, session: Any, erp: Any, lines: list[ReturnRecord], now: datetime,
                   counts: dict[str, int]) -> None:
    name, code, order = ctx.integration.name, lines[0].return_code, lines[0].sales_order
    record = dispatch_repo.orders_by_wms_number(session, name, [order]).get(order) if order else None
    if record is not None and (record.state not in KNOWN_ORDER_STATES or not record.erp_order_id):
        record = None
    open_lines = [row for row in lines if row.state in returns_repo.OPEN_STATES]
    if record is None:
        counts["new_problems"] += int(ctx.hold(session, NewException(
            type=UNKNOWN, entity_type=RETURN, entity_key=code[:128],
            summary=(f"Peoplevox received return {code} for order {order or '(none)'}, which the integration never "
                     f"released: nothing is credited; find the sale or resolve by hand")[:500],
            detail={"sales_order": order, "site": lines[0].site}, payload=return_payload(lines))))
        returns_repo.set_state(open_lines, "held")
        counts["held"] += 1
        return
    _resolve(ctx, session, [code], [UNKNOWN], "the return's order is known")
    sale_id = str(record.erp_order_id)
    for row in lines:
        row.erp_order_id = sale_id
    policy = ctx.integration.returns.damaged_credit
    unmapped = [row for row in open_lines if not ctx.integration.sku_for(row.item_code)]
    for row in unmapped:
        counts["new_problems"] += int(ctx.hold(session, NewException(
            type=UNMAPPED, entity_type=RETURN, entity_key=line_key(row),
            summary=(f"Return {code}: Peoplevox item {row.item_code} maps to no ERP SKU; the return is not "
                     f"credited until it does")[:500],
            detail={"item_code": row.item_code}, payload=return_payload(lines, record))))
    returns_repo.set_state(unmapped, "held")
    _resolve(ctx, session, [line_key(r) for r in open_lines if r not in unmapped], [UNMAPPED], "the item maps")
    mapped = [row for row in open_lines if row not in unmapped]
    for row in [r for r in mapped if not r.sellable and r.state in ("new", "held")]:
        counts["new_problems"] += int(ctx.hold(session, NewException(
            type=DAMAGED, entity_type=RETURN, entity_key=line_key(row),
            summary=(f"Return {code} of order {record.erp_order_number}: {row.quantity} x {row.item_code} came back "
                     f"{row.condition or 'not sellable'}; not restocked (quarantine). Credit policy: {policy}")[:500],
            detail={"item_code": row.item_code, "quantity": row.quantity, "condition": row.condition,
                    "policy": policy}, payload=return_payload(lines, record))))
        returns_repo.set_state([row], "ready" if rules.creditable(False, policy) else "closed")
        counts["closed"] += int(row.state == "closed")
    unconfirmed = [r for r in mapped if r.sellable and r.state not in ("restocked", "credited")]
    waiting = _confirm_stock_in(ctx, session, unconfirmed, now, lines, record, counts)
    creditable = [row for row in lines if rules.creditable(row.sellable, policy) and row.state != "closed"]
    if waiting or unmapped or any(row.state not in ("restocked", "ready", "credited") for row in creditable):
        if waiting:
            _early_credit(ctx, session, erp, sale_id, lines, waiting, record, counts)
        counts["waiting"] += 1
        return
    due = [row for row in creditable if row.state in ("restocked", "ready")]
    if due:
        _credit(ctx, session, erp, sale_id, lines, due, record, counts)


def _confirm_stock_in(ctx: RunContext, session: Any, sellable: list[ReturnRecord], now: datetime,
                      lines: list[ReturnRecord], record: OrderRecord, counts: dict[str, int]) -> list[ReturnRecord]:
    """Move sellable lines whose stock-in inventory sync applied to ``restocked``; returns those still waiting."""
    name = ctx.integration.name
    found = returns_repo.return_movements(session, name, [(row.sales_order, row.item_code) for row in sellable])
    waiting: list[ReturnRecord] = []
    for row in sellable:
        moves = [rules.Movement(m.history_id, m.quantity, m.counted_delta, m.state,
                                str((m.payload or {}).get("comments") or ""))
                 for m in found.get((row.sales_order, row.item_code), [])]
        verdict = rules.stock_in(row.return_code, row.quantity, moves)
        if verdict.confirmed:
            returns_repo.set_state([row], "restocked", history_ids=list(verdict.history_ids))
            _resolve(ctx, session, [line_key(row)], [NOT_RESTOCKED], "the stock-in is in Cin7 Core")
            continue
        waiting.append(row)
        returns_repo.set_state([row], "waiting", history_ids=list(verdict.history_ids) or None)
        hours = ctx.integration.returns.restock_deadline_hours
        if rules.overdue(row.returned_at, now, hours):
            counts["new_problems"] += int(ctx.hold(session, NewException(
                type=NOT_RESTOCKED, entity_type=RETURN, entity_key=line_key(row),
                summary=(f"Return {row.return_code} of order {record.erp_order_number}: {row.quantity} x "
                         f"{row.item_code} received sellable in Peoplevox but not in Cin7 stock after {hours} h "
                         f"({verdict.seen} moved onto counted shelves, {verdict.applied} applied by inventory "
                         f"sync); its credit note waits")[:500],
                detail={"item_code": row.item_code, "quantity": row.quantity, "moved": verdict.seen,
                        "applied": verdict.applied, "history_ids": list(verdict.history_ids)},
                payload=return_payload(lines, record))))
    return waiting


def _early_credit(ctx: RunContext, session: Any, erp: Any, sale_id: str, lines: list[ReturnRecord],
                  waiting: list[ReturnRecord], record: OrderRecord, counts: dict[str, int]) -> None:
    """A credit note on the sale for a SKU of a line whose stock-in is not confirmed: ``credit_before_stock_in``."""
    code = lines[0].return_code
    skus = [ctx.integration.sku_for(row.item_code) for row in waiting]
    session.commit()  # what this run learnt so far is kept, and no ledger write lock is held across a Cin7 call
    note = rules.hand_made_credit(erp.credit_notes(sale_id), rules.credit_memo(code), skus)
    if note is None:
        return
    counts["new_problems"] += int(ctx.hold(session, NewException(
        type=EARLY_CREDIT, entity_type=RETURN, entity_key=code[:128],
        summary=(f"Cin7 credit note {note.number} on order {record.erp_order_number} credits return {code} before "
                 f"its stock-in is confirmed (Peoplevox received it; inventory sync has not booked it yet)")[:500],
        detail={"credit_note": note.number, "skus": skus}, payload=return_payload(lines, record))))


def _credit(ctx: RunContext, session: Any, erp: Any, sale_id: str, lines: list[ReturnRecord],
            due: list[ReturnRecord], record: OrderRecord, counts: dict[str, int]) -> None:
    """One credit note for the return's creditable lines, or the one Cin7 already holds for it."""
    code = lines[0].return_code
    memo = rules.credit_memo(code)
    quantities: dict[str, int] = {}
    for row in due:
        sku = ctx.integration.sku_for(row.item_code)
        quantities[sku] = quantities.get(sku, 0) + row.quantity
    session.commit()  # no ledger write lock across the Cin7 calls (the shared API budget lives in the ledger)
    notes = erp.credit_notes(sale_id)
    own = [n for n in notes if " ".join(n.memo.split()).casefold() == memo.casefold()]
    adopted = own[-1] if own else rules.hand_made_credit(notes, memo, quantities)
    if adopted is not None:
        _credited(ctx, session, due, adopted.number, code)
        counts["adopted"] += 1
        log.info("%s returns: return %s is credited by Cin7 credit note %s already there", ctx.integration.name,
                 code, adopted.number)
        return
    sale = erp.get_sale(sale_id)
    invoice = rules.live_invoice(sale) if sale is not None else None
    if sale is None or invoice is None:
        what = "is gone from Cin7 Core" if sale is None else "has no AUTHORISED or PAID invoice to credit"
        counts["new_problems"] += int(ctx.hold(session, NewException(
            type=NO_INVOICE if sale is not None else UNKNOWN, entity_type=RETURN, entity_key=code[:128],
            summary=(f"Return {code} is in Cin7 stock, but order {record.erp_order_number} {what}: its credit note "
                     f"waits and is made by the next run once the sale is invoiced")[:500],
            detail={"sale_id": sale_id, "quantities": quantities}, payload=return_payload(lines, record))))
        counts["waiting"] += 1
        return
    priced, missing = rules.priced_lines((sale.get("Order") or {}).get("Lines") or [], quantities)
    if missing:
        counts["new_problems"] += int(ctx.hold(session, NewException(
            type=UNKNOWN, entity_type=RETURN, entity_key=code[:128],
            summary=(f"Return {code} of order {record.erp_order_number} returns {', '.join(missing)}, not on the "
                     f"Cin7 order: nothing is credited")[:500],
            detail={"sale_id": sale_id, "missing": missing}, payload=return_payload(lines, record))))
        counts["held"] += 1
        return
    try:
        note = erp.create_credit_note(
            sale_id, memo=memo, invoice_number=invoice, restock=[],
            lines=[CreditLine(sku=p.sku, quantity=Decimal(p.quantity), price=p.price, discount=p.discount,
                              tax_rule=p.tax_rule) for p in priced])
    except (ApiRejected, ApiResponseInvalid) as exc:  # one return's refusal never stops the others
        counts["new_problems"] += int(ctx.hold(session, NewException(
            type=REFUSED, entity_type=RETURN, entity_key=code[:128],
            summary=(f"Cin7 Core did not take the credit note of return {code} (order {record.erp_order_number}): "
                     f"{exc}. Tried again every run; a credit note Cin7 did make is found by its memo {memo!r} "
                     f"and never made twice")[:500],
            detail={"sale_id": sale_id, "quantities": quantities, "reason": str(exc)[:2000]},
            payload=return_payload(lines, record))))
        counts["held"] += 1
        return
    _credited(ctx, session, due, note.number, code)
    counts["credited"] += 1
    log.info("%s returns: return %s credited in Cin7 Core as %s", ctx.integration.name, code, note.number)


def _credited(ctx: RunContext, session: Any, due: list[ReturnRecord], number: str, code: str) -> None:
    returns_repo.set_state(due, "credited", erp_ref=number[:128])
    _resolve(ctx, session, [code], [NO_INVOICE, EARLY_CREDIT, UNKNOWN, REFUSED], f"credited as {number}")


def _resolve(ctx: RunContext, session: Any, keys: list[str], types: list[str], note: str) -> None:
    repo.resolve_exceptions(session, integration=ctx.integration.name, entity_type=RETURN,
                            entity_keys=[key[:128] for key in keys], types=types, by="returns", note=note,
                            run_id=ctx.run_id)
