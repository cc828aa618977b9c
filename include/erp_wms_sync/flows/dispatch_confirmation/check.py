"""Check: the Great Expectations suite ``dispatch_confirmation`` over every despatch not yet confirmed.

Each despatch line must belong to an order the ledger knows as released under that Peoplevox number, that the ERP
has not cancelled since; its item must be on the order and its quantity within what is still open (ordered less
what earlier despatches of the order took — partial despatches add up); and the despatch should carry tracking.
A despatch failing a blocking check is ``held`` with one exception per problem type (its full payload: the
despatch, the order as the ledger knows it); it is checked again every run and goes on by itself once the cause
is gone (e.g. the order was released after all). A despatch without tracking is still confirmed — the goods left —
and ``despatch_without_tracking`` stays open until the tracking number reaches the ERP.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from erp_wms_sync.checks.suites import dispatch_checks
from erp_wms_sync.domain import despatches as rules
from erp_wms_sync.domain.orders import ErpOrder, OrderState, order_from_dict
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.order_release.rows import order_item_code_for
from erp_wms_sync.ledger import dispatch_repo, repo
from erp_wms_sync.ledger.models import DespatchRecord, OrderRecord, utcnow
from erp_wms_sync.ledger.repo import NewException

log = logging.getLogger(__name__)

SUITE = "dispatch_confirmation"
DESPATCH = "despatch"
UNKNOWN = "despatch_for_unknown_order"
CANCELLED = "despatch_for_cancelled_order"
MISMATCH = "despatch_mismatch"
NO_TRACKING = "despatch_without_tracking"
BLOCKING_TYPES = (UNKNOWN, CANCELLED, MISMATCH)
KNOWN_STATES = ("released", "blocked", "cancelled")  # the WMS holds (or held) the order under this number
CANCELLED_ERP = ("VOIDED", "CANCELLED")
# what an order's ledger state says when Peoplevox despatched it before the integration confirmed its release
UNCONFIRMED = {"held": "its release is held by an open exception, e.g. a write Peoplevox did not complete",
               "sending": "a write to Peoplevox is in flight and not yet verified",
               "waiting": "inside its hold window or waiting for its items",
               "ignored": "cancelled in the ERP before release"}


@dataclass(frozen=True)
class Subject:
    """One despatch under check, with what the ledger knows of its order."""

    row: DespatchRecord
    despatch: rules.Despatch
    record: OrderRecord | None
    order: ErpOrder | None
    remaining: dict[str, float]
    ledger_state: str | None = None  # the ledger's state of an order under this number not (yet) released


def as_despatch(row: DespatchRecord) -> rules.Despatch:
    packages = row.packages or {}
    return rules.Despatch(
        number=row.despatch_number, order_number=row.wms_order_number, despatched_at=row.despatched_at,
        carrier=row.carrier or "", service=row.service or "",
        tracking=tuple(str(t) for t in packages.get("tracking") or []),
        lines=tuple(rules.DespatchLine(str(ln["item_code"]), int(ln["quantity"])) for ln in row.lines or []))


def stored_order(record: OrderRecord | None) -> ErpOrder | None:
    payload = (record.payload or {}) if record is not None else {}
    return order_from_dict(payload["order"]) if isinstance(payload.get("order"), dict) else None


def is_cancelled(record: OrderRecord | None, order: ErpOrder | None) -> bool:
    if record is None:
        return False
    return (str(record.erp_status or "").upper() in CANCELLED_ERP
            or (order is not None and order.state is OrderState.CANCELLED))


def check(ctx: RunContext) -> dict[str, int]:
    """Run the suite over ``new`` despatches, then ``held`` ones in turn (at most ``dispatch.max_despatches_per_run``
    in all, see :func:`~erp_wms_sync.ledger.dispatch_repo.despatches_to_check`); good ones become ``ready``."""
    counts = {"checked": 0, "ready": 0, "held": 0, "new_problems": 0}
    with ctx.session() as session:
        rows = dispatch_repo.despatches_to_check(session, ctx.integration.name,
                                                 ctx.integration.dispatch.max_despatches_per_run)
        if not rows:
            return counts
        subjects = _subjects(ctx, session, rows)
        frame_rows: list[dict[str, Any]] = []
        owners: list[int] = []
        for index, subject in enumerate(subjects):
            cancelled = is_cancelled(subject.record, subject.order)
            lines = rules.dispatch_frame_rows(subject.despatch, order_known=subject.order is not None,
                                              order_cancelled=cancelled, remaining=subject.remaining)
            frame_rows.extend(lines)
            owners.extend([index] * len(lines))
        outcome = _run_suite(frame_rows)
        categories: dict[int, dict[str, list[str]]] = {}
        for position, reasons in outcome.failures.items():
            kinds = outcome.categories.get(position, [])
            for reason, kind in zip(reasons, kinds, strict=False):
                categories.setdefault(owners[position], {}).setdefault(kind or MISMATCH, []).append(reason)
        repo.record_check(session, integration=ctx.integration.name, flow=ctx.flow, suite=SUITE, run_id=ctx.run_id,
                          success=outcome.success, evaluated=len(subjects),
                          failed_records=len({owners[p] for p in outcome.failures}), summary=outcome.summary)
        for index, subject in enumerate(subjects):
            found = categories.get(index, {})
            counts["checked"] += 1
            counts["new_problems"] += _settle(ctx, session, subject, found)
            counts["held" if rules.blocking(found) else "ready"] += 1
    log.info("%s dispatch check: %s", ctx.integration.name, counts)
    return counts


def problems_of(ctx: RunContext, session: Any, row: DespatchRecord) -> dict[str, list[str]]:
    """The suite on ONE despatch as it stands in ``row`` (e.g. lines a person edited before it is confirmed
    again): its failures by exception type, blocking or not (see :func:`erp_wms_sync.domain.despatches.blocking`);
    nothing is recorded."""
    subject = _subjects(ctx, session, [row])[0]
    lines = rules.dispatch_frame_rows(subject.despatch, order_known=subject.order is not None,
                                      order_cancelled=is_cancelled(subject.record, subject.order),
                                      remaining=subject.remaining)
    outcome = _run_suite(lines)
    found: dict[str, list[str]] = {}
    for position, reasons in outcome.failures.items():
        item = str(lines[position].get("item_code") or "")
        for reason, kind in zip(reasons, outcome.categories.get(position, []), strict=False):
            found.setdefault(kind or MISMATCH, []).append(f"{item}: {reason}" if item else reason)
    return found


def _subjects(ctx: RunContext, session: Any, rows: list[DespatchRecord]) -> list[Subject]:
    numbers = [row.wms_order_number for row in rows]
    records = dispatch_repo.orders_by_wms_number(session, ctx.integration.name, numbers)
    siblings = dispatch_repo.despatches_of_orders(session, ctx.integration.name, numbers)
    subjects: list[Subject] = []
    for row in rows:
        record = records.get(row.wms_order_number)
        unreleased = record.state if record is not None and record.state not in KNOWN_STATES else None
        if unreleased is not None:
            record = None
        order = stored_order(record)
        earlier = [_quantities(other) for other in siblings.get(row.wms_order_number, [])
                   if other.id != row.id and other.state in dispatch_repo.COUNTED_STATES]
        remaining = (rules.remaining_quantities(order, order_item_code_for(ctx.integration, record), earlier)
                     if order is not None else {})
        subjects.append(Subject(row, as_despatch(row), record, order, remaining, unreleased))
    return subjects


def _quantities(row: DespatchRecord) -> dict[str, int]:
    totals: dict[str, int] = {}
    for line in row.lines or []:
        totals[str(line["item_code"])] = totals.get(str(line["item_code"]), 0) + int(line["quantity"])
    return totals


def _run_suite(frame_rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    from erp_wms_sync.checks.runner import run_checks

    return run_checks(SUITE, pd.DataFrame(frame_rows), dispatch_checks())


def _settle(ctx: RunContext, session: Any, subject: Subject, found: dict[str, list[str]]) -> int:
    """Hold (with exceptions) or pass one despatch; returns how many of its exceptions are new."""
    row = subject.row
    payload = despatch_payload(subject)
    new = 0
    for kind, reasons in found.items():
        new += int(ctx.hold(session, NewException(
            type=kind, entity_type=DESPATCH, entity_key=row.despatch_number[:128],
            summary=_summary(kind, subject, reasons)[:500],
            detail={"order": row.wms_order_number, "reasons": sorted(set(reasons))[:20],
                    "erp_order": subject.record.erp_order_number if subject.record is not None else None},
            payload=payload)))
    gone = [t for t in BLOCKING_TYPES if t not in found]
    repo.resolve_exceptions(session, integration=ctx.integration.name, entity_type=DESPATCH,
                            entity_keys=[row.despatch_number[:128]], types=gone, by="dispatch_confirmation",
                            note="the despatch passed its checks", run_id=ctx.run_id)
    row.updated_at = utcnow()  # checked now: a row still held waits behind the others for its next look
    if rules.blocking(found):
        row.state = "held"
    else:
        row.state = "ready"
        if subject.record is not None:
            row.erp_order_id = subject.record.erp_order_id
            row.erp_order_number = subject.record.erp_order_number
    return new


def _summary(kind: str, subject: Subject, reasons: Iterable[str]) -> str:
    row = subject.row
    if kind == UNKNOWN and subject.ledger_state is not None:
        return (f"Peoplevox despatched {row.despatch_number} for order {row.wms_order_number}, whose release the "
                f"integration has not confirmed (ledger state '{subject.ledger_state}': "
                f"{UNCONFIRMED.get(subject.ledger_state, 'not released')}); the despatch waits until the "
                f"release is settled")
    if kind == UNKNOWN:
        return (f"Peoplevox despatched {row.despatch_number} for order {row.wms_order_number}, which the "
                f"integration never released")
    if kind == CANCELLED:
        erp = subject.record.erp_order_number if subject.record is not None else row.wms_order_number
        return (f"Peoplevox despatched {row.despatch_number} for order {erp}, cancelled in the ERP after the "
                f"warehouse cut-off: the goods left; stop or recover the parcel and settle the order by hand")
    if kind == NO_TRACKING:
        return f"Despatch {row.despatch_number} of order {row.wms_order_number} has no tracking number yet"
    return f"Despatch {row.despatch_number} of order {row.wms_order_number}: " + "; ".join(sorted(set(reasons)))


def despatch_payload(subject: Subject) -> dict[str, Any]:
    row = subject.row
    return {
        "despatch": {"number": row.despatch_number, "order": row.wms_order_number, "lines": row.lines,
                     "packages": row.packages, "carrier": row.carrier, "service": row.service,
                     "despatched_at": row.despatched_at.isoformat() if row.despatched_at else None},
        "order": (subject.record.payload or {}).get("order") if subject.record is not None else None,
        "remaining": subject.remaining,
    }
