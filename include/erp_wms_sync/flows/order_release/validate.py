"""validate_orders: the Great Expectations suite on the order lines, then release, hold or wait per order.

Failures become one exception per kind (``unmapped_sku``, ``unmapped_location``, ``invalid_order``) carrying the
order and the failed checks; an order that now passes closes its exceptions by itself. An order whose only problem
is SKUs the ERP item master has but Peoplevox does not have yet waits for item master sync (at most
``orders.item_sync_wait_minutes``), and an order inside the hold window waits. Every ledger write is in bulk:
one query per batch of orders, never one per order.

Whether the ERP item master has a SKU comes from the ledger catalogue (every SKU item master sync has read) and,
for a SKU created in the ERP after the latest item sync, from the ERP itself (:func:`_ask_erp`, at most
``ERP_LOOKUP_LIMIT`` SKUs per run).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from erp_wms_sync.checks.suites import ORDER_LINE_COLUMNS, order_release_checks
from erp_wms_sync.connectors.protocols import ErpOrderSource, WmsClient
from erp_wms_sync.domain import orders as rules
from erp_wms_sync.domain.order_status import PENDING, ReleaseState
from erp_wms_sync.domain.orders import ErpOrder
from erp_wms_sync.domain.release_rules import CheckFailure, Hold, Judgement, Release, Wait, judge
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.order_release.rows import (
    ORDER,
    build_rows,
    item_code_for,
    override_item_codes,
    override_of,
    wms_item_codes,
)
from erp_wms_sync.flows.order_release.staging import (
    Row,
    Stage,
    Staged,
    StagedAmend,
    StagedDrop,
    StagedRelease,
    Verdict,
)
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.models import OrderRecord

log = logging.getLogger(__name__)

SUITE = "order_release"
HOLD_TYPES = ("unmapped_sku", "unmapped_location", "invalid_order")
WMS_REJECTED = "wms_write_rejected"
DEFAULT_ITEM_WAIT_MINUTES = 120
ITEM = "item"  # the entity type of item master sync's exceptions
ITEM_SYNC = "item_master_sync"  # the flow that creates ERP items in Peoplevox
#: SKUs asked of the ERP item master per run (one ERP call each, or one per style for BlueCherry); the SKUs of
#: the orders that have waited longest go first, and the rest are asked in the next runs.
ERP_LOOKUP_LIMIT = 50


@dataclass
class Candidate:
    row: Row
    order: ErpOrder
    header: dict[str, str]
    items: list[dict[str, str]]
    known: OrderRecord | None


@dataclass(frozen=True)
class Coming:
    """The ERP SKUs item master sync will create in Peoplevox: ``confirmed`` ones (the ledger catalogue or the ERP
    itself has them, active) make any new order wait; ``unasked`` ones (not asked of the ERP this run: over
    ``ERP_LOOKUP_LIMIT``, or the ERP did not answer) make only an order that may still wait do so, until a later
    run asks."""

    confirmed: set[str]
    unasked: set[str] = field(default_factory=set)


def check(ctx: RunContext, wms: WmsClient, erp: ErpOrderSource | None = None) -> dict[str, Any]:
    """The validate task: the suite against the ItemCodes Peoplevox has right now (only those the orders use);
    with ``erp``, SKUs neither Peoplevox nor the ledger catalogue knows are asked of the ERP item master."""
    stage = Stage(ctx.integration.name, ctx.flow, ctx.run_id)
    code_of = item_code_for(ctx.integration)
    with ctx.session() as session:
        orders = {row.erp_id: row.record.order for row in stage.rows(session, Verdict.PENDING)
                  if isinstance(row.record, StagedRelease | StagedAmend)}
        codes = {code_of(line.sku) for order in orders.values() for line in order.lines if line.sku}
        # ItemCodes a person set for one order (dashboard edit) are looked up too
        codes |= override_item_codes(repo.order_records(session, ctx.integration.name, orders).values())
    return validate(ctx, wms_item_codes(wms, codes), erp)


def validate(ctx: RunContext, wms_codes: set[str], erp: ErpOrderSource | None = None) -> dict[str, Any]:
    stage = Stage(ctx.integration.name, ctx.flow, ctx.run_id)
    counts = {"evaluated": 0, "held": 0, "new_holds": 0, "waiting": 0, "valid": 0, "resolved": 0, "dropped": 0}
    with ctx.session() as session:
        rows = stage.rows(session, Verdict.PENDING)
        _apply_drops(ctx, session, stage, [r for r in rows if isinstance(r.record, StagedDrop)], counts)
        candidates = _prepare(ctx, session, [r for r in rows if isinstance(r.record, StagedRelease | StagedAmend)])
        outcome, failures = _run_suite(ctx, candidates, wms_codes)
        unknown = {ctx.integration.sku_for(code) for f in failures.values() for code in f.unknown_skus}
        coming = _awaiting_item_sync(ctx, session, unknown, _ask_order(ctx, candidates, failures) if erp else [], erp)
        verdicts = _judge_all(ctx, session, stage, candidates, failures, coming, counts)
        for verdict, ids in verdicts.items():
            stage.set(session, ids, verdict)
        counts["evaluated"] = len(candidates)
        repo.record_check(session, integration=ctx.integration.name, flow=ctx.flow, suite=SUITE, run_id=ctx.run_id,
                          success=outcome.success, evaluated=len(candidates), failed_records=counts["held"],
                          summary={**outcome.summary, "orders_held": counts["held"], "new_holds": counts["new_holds"]})
    log.info("%s %s: data check %s", ctx.integration.name, ctx.flow, counts)
    return {**counts, "success": outcome.success, "failed_expectations": outcome.failed_expectations}


def _awaiting_item_sync(ctx: RunContext, session: Session, skus: set[str], ask: list[str],
                        erp: ErpOrderSource | None) -> Coming:
    """The ERP SKUs behind the unknown ItemCodes (``skus``, already through ``sku_for``) that the ERP item master
    has and item master sync has not refused (no open exception on the item): Peoplevox will have them after its
    next write, so their orders wait instead of alerting.

    The ERP has a SKU when item master sync has seen it (the ledger catalogue) or, for a SKU created after the
    latest item sync, when the ERP says so now (:func:`_ask_erp` with the SKUs of ``ask`` the catalogue lacks;
    only with ``erp`` and a wait above 0).

    Until item master sync has finished its first run for this integration (no watermark yet, e.g. right after
    start-up, when order release and item sync start together) the ledger cannot know the ERP item master, so
    every unknown code counts as awaiting it — bounded like any wait by ``orders.item_sync_wait_minutes``; a
    paused item master sync never ends that wait, so then only the SKUs it has seen count."""
    if _item_sync_pending(ctx, session):
        coming = Coming(set(skus))
    else:
        coming = Coming(repo.known_catalogue_skus(session, ctx.integration.name, skus))
        if erp is not None and _item_wait(ctx) > timedelta(0):
            known = coming.confirmed
            coming = _ask_erp(ctx, erp, [s for s in ask if s not in known], known)
            for sku in sorted(coming.confirmed - known):  # the catalogue now knows them: not asked again next run
                repo.upsert_catalogue_item(session, integration=ctx.integration.name, sku=sku, erp_status="active",
                                           erp_modified_at=None)
    refused = set(repo.open_exception_types(session, ctx.integration.name, ITEM, coming.confirmed | coming.unasked))
    return Coming(coming.confirmed - refused, coming.unasked - refused)


def _ask_erp(ctx: RunContext, erp: ErpOrderSource, skus: list[str], known: set[str]) -> Coming:
    """Ask the ERP item master about the first ``ERP_LOOKUP_LIMIT`` of these SKUs (none the catalogue knows).

    A SKU the ERP has (active) is confirmed; one it does not have is neither, so its order is held as
    ``unmapped_sku`` at once. The SKUs over the limit are asked in a later run and meanwhile count as unasked.
    A failed lookup never fails the task: the SKUs it asked about count as unasked too — the ERP's outage is
    no reason to alert about the order, and the wait stays bounded by ``orders.item_sync_wait_minutes``, after
    which the order is held as ``unmapped_sku`` whatever the ERP says."""
    asked, later = skus[:ERP_LOOKUP_LIMIT], set(skus[ERP_LOOKUP_LIMIT:])
    if not asked:
        return Coming(known, later)
    try:
        found = erp.existing_skus(asked)
    except Exception as exc:  # any failure of this lookup: the orders wait and the task goes on
        log.warning("%s %s: the ERP item master lookup of %d SKU(s) failed; their orders wait for a later run: %s",
                    ctx.integration.name, ctx.flow, len(asked), exc)
        return Coming(known, set(asked) | later)
    log.info("%s %s: asked the ERP item master about %d SKU(s) item master sync has not seen: %d exist",
             ctx.integration.name, ctx.flow, len(asked), len(found & set(asked)))
    return Coming(known | (found & set(asked)), later)


def _ask_order(ctx: RunContext, candidates: list[Candidate], failures: dict[int, CheckFailure]) -> list[str]:
    """The SKUs worth asking the ERP about, distinct, in the order to ask them: those behind the ItemCodes
    Peoplevox lacks on new orders that may still wait (:func:`_may_wait`), the longest waiting order first, so
    that every SKU is asked in turn. Held orders and amendments never wait, so their SKUs are not asked."""
    sku_for = ctx.integration.sku_for
    now, wait = _now(ctx), _item_wait(ctx)
    pairs: list[tuple[datetime, str]] = []
    for index, failure in failures.items():
        c = candidates[index]
        if failure.unknown_skus and _may_wait(c, now, wait):
            since = _aware((c.known.payload or {}).get("waiting_since")) if c.known is not None else None
            pairs.extend((since or now, sku_for(code)) for code in failure.unknown_skus)
    return list(dict.fromkeys(sku for _, sku in sorted(pairs)))


def _may_wait(c: Candidate, now: datetime, wait: timedelta) -> bool:
    """True for a new order (not an amendment) that is not held and whose wait for item sync has not run out."""
    if not isinstance(c.row.record, StagedRelease):
        return False
    if c.known is not None and ReleaseState(c.known.state) is ReleaseState.HELD:
        return False
    since = _aware((c.known.payload or {}).get("waiting_since")) if c.known is not None else None
    return since is None or now < since + wait


def _now(ctx: RunContext) -> datetime:
    return ctx.window.end if ctx.window.end.tzinfo else ctx.window.end.replace(tzinfo=UTC)


def _item_wait(ctx: RunContext) -> timedelta:
    return timedelta(minutes=getattr(ctx.integration.orders, "item_sync_wait_minutes", DEFAULT_ITEM_WAIT_MINUTES))


def _item_sync_pending(ctx: RunContext, session: Session) -> bool:
    """True while this integration's item master sync (not paused) has never finished a run."""
    if ITEM_SYNC in ctx.integration.paused_flows:
        return False
    return repo.get_cursor(session, ctx.integration.name, ITEM_SYNC) is None


def _prepare(ctx: RunContext, session: Session, rows: list[Row]) -> list[Candidate]:
    known = repo.order_records(session, ctx.integration.name, (r.erp_id for r in rows))
    out = []
    for row in rows:
        assert isinstance(row.record, StagedRelease | StagedAmend)
        order, record = row.record.order, known.get(row.erp_id)
        reissues = int((record.payload or {}).get("reissues", 0)) if record is not None else 0
        number = record.wms_order_number if record is not None and record.wms_order_number else \
            rules.wms_number(order, reissues)
        header, items = build_rows(ctx, order, number, override_of(record))
        out.append(Candidate(row, order, header, items, record))
    return out


def frame_rows(header: Mapping[str, str], items: list[dict[str, str]], owners: int) -> list[dict[str, Any]]:
    """The suite's rows of one order: one per line sent (an order with no line to send is one row without SKU)."""
    base: dict[str, Any] = {col: (str(header.get(col, "")).strip() or None) for col in ORDER_LINE_COLUMNS}
    base["NumberOwners"] = owners
    if not items:
        return [dict(base, ItemCode=None, QuantityOrdered=None, QuantityText=None)]
    return [dict(base, ItemCode=(i["ItemCode"] or None), QuantityOrdered=float(i["QuantityOrdered"] or 0),
                 QuantityText=str(i["QuantityOrdered"] or "")) for i in items]


def _run_suite(ctx: RunContext, candidates: list[Candidate],
               wms_codes: set[str]) -> tuple[Any, dict[int, CheckFailure]]:
    import pandas as pd

    from erp_wms_sync.checks.runner import run_checks

    owners: dict[str, set[str]] = {}
    for c in candidates:
        owners.setdefault(c.header["SalesOrderNumber"], set()).add(c.order.erp_id)
    rows, positions = [], []
    for index, c in enumerate(candidates):
        for row in frame_rows(c.header, c.items, len(owners[c.header["SalesOrderNumber"]])):
            rows.append(row)
            positions.append(index)
    frame = pd.DataFrame(rows, columns=list(ORDER_LINE_COLUMNS))
    outcome = run_checks(SUITE, frame, order_release_checks(sorted(wms_codes), rules.WMS_ORDER_NUMBER_MAX))
    failures: dict[int, CheckFailure] = {}
    codes = frame["ItemCode"].tolist() if not frame.empty else []
    for row_no, reasons in outcome.failures.items():
        entry = failures.setdefault(positions[row_no], CheckFailure())
        categories = outcome.categories.get(row_no, [])
        for reason, category in zip(reasons, categories, strict=True):
            entry.reasons.setdefault(category or "invalid_order", set()).add(reason)
        if "unmapped_sku" in categories and codes[row_no]:
            entry.unknown_skus.add(str(codes[row_no]))
    return outcome, failures


def _judge_all(ctx: RunContext, session: Session, stage: Stage, candidates: list[Candidate],
               failures: dict[int, CheckFailure], coming: Coming, counts: dict[str, int]) -> dict[Verdict, list]:
    now, wait = _now(ctx), _item_wait(ctx)
    verdicts: dict[Verdict, list[int]] = {Verdict.VALID: [], Verdict.INVALID: [], Verdict.WAITING: []}
    passing: list[str] = []
    updates: list[repo.OrderUpdate] = []
    contents: dict[int, Staged] = {}
    for index, c in enumerate(candidates):
        since = _aware((c.known.payload or {}).get("waiting_since")) if c.known is not None else None
        release = isinstance(c.row.record, StagedRelease)  # a change to a released order never waits
        erp_skus = coming.confirmed | coming.unasked if _may_wait(c, now, wait) else coming.confirmed
        verdict = judge(failures.get(index), erp_skus=erp_skus, sku_for=ctx.integration.sku_for, now=now,
                        item_wait=wait if release else timedelta(0), waiting_since=since,
                        hold_until=hold_until(ctx, c.order) if release else None)
        cls = StagedRelease if release else StagedAmend
        contents[c.row.id] = cls(c.order, c.row.record.stamp, c.header, c.items)
        verdicts[_apply(ctx, session, c, verdict, now, counts, updates, passing)].append(c.row.id)
    stage.replace(session, contents)
    counts["resolved"] += repo.resolve_exceptions(
        session, integration=ctx.integration.name, entity_type=ORDER, entity_keys=passing, types=HOLD_TYPES,
        by=ctx.flow, note="order passes the data check now", run_id=ctx.run_id)
    repo.upsert_orders(session, ctx.integration.name, updates,
                       known={c.order.erp_id: c.known for c in candidates if c.known is not None})
    return verdicts


def _apply(ctx: RunContext, session: Session, c: Candidate, verdict: Judgement, now: datetime,
           counts: dict[str, int], updates: list[repo.OrderUpdate], passing: list[str]) -> Verdict:
    pending = c.known is None or ReleaseState(c.known.state) in PENDING
    payload: dict[str, Any] = {"order": rules.order_to_dict(c.order), "header": c.header, "items": c.items}
    if isinstance(verdict, Hold):
        counts["held"] += 1
        counts["new_holds"] += _hold(ctx, session, c, verdict, payload)
        if pending:
            updates.append(_update(c, ReleaseState.HELD, payload))
        return Verdict.INVALID
    passing.append(c.order.number)
    if isinstance(verdict, Wait) and pending:
        counts["waiting"] += 1
        since = (c.known.payload or {}).get("waiting_since") if c.known is not None else None
        updates.append(_update(c, ReleaseState.WAITING, {**payload, "waiting_since": since or now.isoformat(),
                                                          "waiting_for": verdict.why}))
        return Verdict.WAITING
    assert isinstance(verdict, Release | Wait)
    counts["valid"] += 1
    return Verdict.VALID


def _update(c: Candidate, state: ReleaseState, payload: dict[str, Any]) -> repo.OrderUpdate:
    return repo.OrderUpdate(c.order.erp_id, c.order.number, c.order.erp_status, c.order.updated, state, payload)


def _hold(ctx: RunContext, session: Session, c: Candidate, hold: Hold, payload: dict[str, Any]) -> int:
    """One exception per failing kind; closes the kinds that pass now; returns how many are new."""
    repo.resolve_exceptions(session, integration=ctx.integration.name, entity_type=ORDER,
                            entity_keys=[c.order.number], types=[t for t in HOLD_TYPES if t not in hold.reasons],
                            by=ctx.flow, note="order passes this part of the data check now", run_id=ctx.run_id)
    new = 0
    for type_, reasons in hold.reasons.items():
        detail: dict[str, Any] = {"reasons": sorted(reasons), "suite": SUITE}
        skus = f" ({', '.join(sorted(hold.unknown_skus))})" if type_ == "unmapped_sku" else ""
        if type_ == "unmapped_sku":
            detail["unknown_skus"] = sorted(hold.unknown_skus)
        new += ctx.hold(session, repo.NewException(
            type=type_, entity_type=ORDER, entity_key=c.order.number[:128],
            summary=f"order {c.order.number} held: {'; '.join(sorted(reasons))}{skus}", detail=detail,
            payload=payload))
    return new


def hold_until(ctx: RunContext, order: ErpOrder) -> datetime | None:
    """When the hold window of an order ends (None without a window or a readable stamp)."""
    minutes = ctx.integration.orders.hold_window_minutes
    if not minutes:
        return None
    updated = _aware(order.updated)
    return updated + timedelta(minutes=minutes) if updated is not None else None


def in_hold_window(ctx: RunContext, order: ErpOrder) -> bool:
    end = ctx.window.end if ctx.window.end.tzinfo else ctx.window.end.replace(tzinfo=UTC)
    until = hold_until(ctx, order)
    return until is not None and until > end


def _aware(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _apply_drops(ctx: RunContext, session: Session, stage: Stage, drops: list[Row], counts: dict[str, int]) -> None:
    """Orders that no longer need releasing: ledger state ``ignored``, their holds closed — in bulk."""
    known = repo.order_records(session, ctx.integration.name, (r.erp_id for r in drops))
    for row in drops:
        if row.erp_id in known:
            known[row.erp_id].state = ReleaseState.IGNORED
    by_reason: dict[str, list[str]] = {}
    for row in drops:
        assert isinstance(row.record, StagedDrop)
        by_reason.setdefault(row.record.reason, []).append(row.record.number)
    for reason, numbers in by_reason.items():
        repo.resolve_exceptions(session, integration=ctx.integration.name, entity_type=ORDER, entity_keys=numbers,
                                types=(*HOLD_TYPES, WMS_REJECTED), by=ctx.flow, note=reason, run_id=ctx.run_id)
    stage.set(session, [r.id for r in drops], Verdict.DONE)
    counts["dropped"] += len(drops)
