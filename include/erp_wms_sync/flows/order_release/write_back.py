"""write_back_status: the release status goes back to the ERP (Cin7 Core additional attribute, BlueCherry order
WMS status) so CX can see held vs released.

``orders.write_back`` decides which orders cost an ERP call: ``all`` (every status), ``held`` (default: held
orders, and the release of an order whose held status was written before) or ``off``. The same text is never
written twice (the ledger keeps the last one written). Each order is committed on its own; an order the ERP
refuses (voided meanwhile: HTTP 400 "The sale is voided") or answers unreadably is a recorded skip, and the task
carries on — it raises only when the ERP itself is unreachable or refuses our credentials.
"""

from __future__ import annotations

import logging
from typing import Any

from erp_wms_sync.connectors.protocols import ErpOrderSource
from erp_wms_sync.domain.orders import ErpOrder, UnreadableOrder
from erp_wms_sync.errors import ApiAuthError, ApiRejected, ApiResponseInvalid
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.order_release.rows import ORDER
from erp_wms_sync.flows.order_release.staging import Row, Stage, StagedRelease, Verdict
from erp_wms_sync.ledger import repo

log = logging.getLogger(__name__)

TEXT = {Verdict.RELEASED: "Released to WMS as {number}", Verdict.INVALID: "Held: {reasons}",
        Verdict.REJECTED: "Held: rejected by the WMS", Verdict.INCOMPLETE: "Held: incomplete in the WMS",
        Verdict.WAITING: "Waiting: {why}"}
HELD = (Verdict.INVALID, Verdict.REJECTED, Verdict.INCOMPLETE)
DEFAULT_MODE = "held"


def write_back(ctx: RunContext, source: ErpOrderSource) -> dict[str, int]:
    counts = {"written": 0, "unchanged": 0, "not_needed": 0, "skipped": 0}
    mode = str(getattr(ctx.integration.orders, "write_back", DEFAULT_MODE))
    stage = Stage(ctx.integration.name, ctx.flow, ctx.run_id)
    with ctx.session() as session:
        todo = [r for r in stage.rows(session, *TEXT) if isinstance(r.record, StagedRelease)]
    if mode == "off":
        with ctx.session() as session:
            stage.set(session, [r.id for r in todo], Verdict.NOTED)
        counts["not_needed"] = len(todo)
        return counts
    for row in todo:
        _one(ctx, source, stage, row, mode, counts)
    log.info("%s %s: status written back to the ERP %s", ctx.integration.name, ctx.flow, counts)
    return counts


def _one(ctx: RunContext, source: ErpOrderSource, stage: Stage, row: Row, mode: str,
         counts: dict[str, int]) -> None:
    record = row.record
    assert isinstance(record, StagedRelease)
    order = record.order
    with ctx.session() as session:
        ledger = repo.order_records(session, ctx.integration.name, [order.erp_id]).get(order.erp_id)
        last = str((ledger.payload or {}).get("erp_note") or "") if ledger is not None else ""
        text = _text(ctx, session, row, ledger.payload if ledger is not None else None)
    if not _wanted(mode, row.verdict, last) or text == last:
        counts["unchanged" if text == last else "not_needed"] += 1
        with ctx.session() as session:
            stage.set(session, [row.id], Verdict.NOTED)
        return
    stamp, skipped = _write(ctx, source, order, text)
    with ctx.session() as session:
        found = repo.order_records(session, ctx.integration.name, [order.erp_id]).get(order.erp_id)
        if found is not None:
            if stamp:
                found.erp_updated = stamp  # our own write must not look like an ERP change next run
            note = {"erp_note": text} if not skipped else {"write_back_skipped": skipped}
            found.payload = {**(found.payload or {}), **note}
        stage.set(session, [row.id], Verdict.SKIPPED if skipped else Verdict.NOTED)
    counts["skipped" if skipped else "written"] += 1


def write_back_one(ctx: RunContext, source: ErpOrderSource, order: ErpOrder, number: str) -> str:
    """The "released" status of ONE order released outside a run (the dashboard's edit-and-retry) back to the ERP,
    by the task's rules: ``orders.write_back`` decides whether it costs a call (``held``: only over a held status
    written before), the same text is never written twice, the new ERP stamp is kept so our own write is not an
    ERP change next run, and a refusal is a recorded skip. Returns ``written``, ``unchanged``, ``not_needed`` or
    ``skipped``."""
    mode = str(getattr(ctx.integration.orders, "write_back", DEFAULT_MODE))
    text = TEXT[Verdict.RELEASED].format(number=number)[:256]
    with ctx.session() as session:
        ledger = repo.order_records(session, ctx.integration.name, [order.erp_id]).get(order.erp_id)
        last = str((ledger.payload or {}).get("erp_note") or "") if ledger is not None else ""
    if text == last:
        return "unchanged"
    if mode == "off" or not _wanted(mode, Verdict.RELEASED, last):
        return "not_needed"
    stamp, skipped = _write(ctx, source, order, text)
    with ctx.session() as session:
        found = repo.order_records(session, ctx.integration.name, [order.erp_id]).get(order.erp_id)
        if found is not None:
            if stamp:
                found.erp_updated = stamp
            note = {"erp_note": text} if not skipped else {"write_back_skipped": skipped}
            found.payload = {**(found.payload or {}), **note}
    return "skipped" if skipped else "written"


def _wanted(mode: str, verdict: Verdict, last: str) -> bool:
    """``held`` mode: held statuses, and a release that overwrites a held status written before."""
    if mode == "all":
        return True
    if verdict in HELD:
        return True
    return verdict is Verdict.RELEASED and last.startswith("Held")


def _text(ctx: RunContext, session: Any, row: Row, payload: dict[str, Any] | None) -> str:
    record = row.record
    assert isinstance(record, StagedRelease)
    reasons = ""
    if row.verdict is Verdict.INVALID:
        reasons = "; ".join(repo.open_exception_types(session, ctx.integration.name, ORDER,
                                                      [record.order.number]).get(record.order.number, []))
    number = (record.header or {}).get("SalesOrderNumber", "")
    why = str((payload or {}).get("waiting_for") or "hold window")
    return TEXT[row.verdict].format(number=number, reasons=reasons, why=why)[:256]


def _write(ctx: RunContext, source: ErpOrderSource, order: ErpOrder, text: str) -> tuple[str | None, str]:
    """(new stamp, "") when written; (None, why) when the ERP refused this one order."""
    try:
        return source.write_back(order, text), ""
    except ApiAuthError:
        raise
    except (ApiRejected, ApiResponseInvalid, UnreadableOrder) as exc:
        log.warning("%s %s: status of order %s not written back (skipped): %s", ctx.integration.name, ctx.flow,
                    order.number, exc)
        return None, str(exc)[:500]
