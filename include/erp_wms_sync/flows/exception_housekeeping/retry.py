"""retry_due: open exceptions whose ``next_retry_at`` has passed are re-checked, oldest first, on the backoff
schedule of :data:`erp_wms_sync.ledger.repo.RETRY_SCHEDULE`.

Each exception type has a handler in :data:`RETRY_HANDLERS` (the dashboard's "retry now" calls the same
registry). A handler takes the due exceptions of its type in one batch — so all the SKUs due in a run cost one
Peoplevox lookup, not one per order — and returns an :class:`Outcome` per exception:

- ``closed``: the cause is gone (the SKU exists in Peoplevox now, the API answers again); the exception is resolved
  and the owning flow's next run takes the held record (order release re-validates every held order each run,
  inventory sync every held movement);
- ``failing``: checked, still wrong; the attempt is recorded, ``attempts`` grows and ``next_retry_at`` follows the
  schedule; after the last step the exception is *parked* (still open, no longer retried, escalated once);
- ``left``: the flow that raised it re-runs the record itself (a fulfilment Cin7 refused, a stock increment, a credit
  note): housekeeping records that it left it to that flow, once per failure the flow reports, without counting
  an attempt or moving ``next_retry_at`` (the flow counts its own tries, and inventory sync waits for
  ``next_retry_at`` before posting again); once the flow's own tries have run through the schedule, it is parked.

Types whose cause only a person can remove (``amendment_after_cutoff``, ``return_damaged``, ``invalid_order``, …)
have no handler and are never retried. When a system does not answer a check, an ``api_unavailable`` exception
(entity ``system``) is raised for it; its own handler closes it once the system answers a probe again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from erp_wms_sync.errors import ApiAuthError, ApiError
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.ledger import housekeeping_repo as hk_repo
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.models import ExceptionRecord
from erp_wms_sync.ledger.repo import RETRY_SCHEDULE, NewException

log = logging.getLogger(__name__)

FLOW = "exception_housekeeping"
API_UNAVAILABLE = "api_unavailable"
SYSTEM = "system"  # entity type of api_unavailable
LEFT_MARK = "left_to_flow_at"  # detail key: housekeeping noted this failure; the flow's next report replaces detail
#: Types the flow that raised them (the exception's ``flow``) re-runs by itself, every run or when due.
LEFT_TO_FLOW = frozenset({
    "fulfilment_rejected", "despatch_for_unknown_order", "despatch_mismatch", "despatch_without_tracking",
    "failed_stock_increment", "credit_note_rejected", "return_awaiting_invoice", "return_not_restocked",
    "wms_write_rejected", "erp_record_unreadable", "amendment_held",
})
Kind = Literal["closed", "failing", "left"]


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    message: str


@dataclass
class RetryEnv:
    """What handlers may use: the run, the clients (either may be None) and what this run learnt of each system."""

    ctx: RunContext
    wms: Any
    erp: Any
    now: datetime
    down: dict[str, str] = field(default_factory=dict)  # system -> why it did not answer
    probed: set[str] = field(default_factory=set)  # systems whose api_unavailable exception was retried this run

    def failed(self, system: str, exc: Exception) -> str:
        self.down.setdefault(system, f"{type(exc).__name__}: {exc}"[:500])
        return f"{system} did not answer: {self.down[system]}"


Handler = Callable[[Sequence[ExceptionRecord], RetryEnv], dict[int, Outcome]]


# --- handlers -----------------------------------------------------------------------------------------------
def retry_unmapped_sku(rows: Sequence[ExceptionRecord], env: RetryEnv) -> dict[int, Outcome]:
    """Orders and items: do the ItemCodes exist in Peoplevox now (one batched GetData for every due SKU)? Stock pairs:
    does the ERP item master (the ledger catalogue item master sync keeps) have the SKU now? Returns: left to the
    returns flow, which looks its held lines up every run."""
    out: dict[int, Outcome] = {}
    in_wms = [r for r in rows if r.entity_type in ("order", "item")]
    if in_wms:
        out.update(_wms_sku_check(in_wms, env))
    pairs = [r for r in rows if r.entity_type == "stock_pair"]
    if pairs:
        out.update(_pairs_sku_check(pairs, env))
    for row in rows:
        out.setdefault(row.id, Outcome("left", f"re-checked by {row.flow} on its next run"))
    return out


def _unknown_codes(row: ExceptionRecord, env: RetryEnv) -> list[str]:
    """The Peoplevox ItemCodes whose absence the exception reports: an order's held codes, or an item's own."""
    if row.entity_type == "item":
        return [env.ctx.integration.item_code_for(row.entity_key)]
    codes = (row.detail or {}).get("unknown_skus") or []
    return sorted({str(c) for c in codes if str(c).strip()}) if isinstance(codes, list) else []


def _wms_sku_check(rows: Sequence[ExceptionRecord], env: RetryEnv) -> dict[int, Outcome]:
    from erp_wms_sync.flows.order_release.rows import wms_item_codes

    wanted = sorted({c for r in rows for c in _unknown_codes(r, env)})
    if env.wms is None or not wanted:
        return {r.id: Outcome("left", "no ItemCode recorded to look up: left to order_release") for r in rows}
    if "peoplevox" in env.down:
        return {r.id: Outcome("failing", f"peoplevox did not answer: {env.down['peoplevox']}") for r in rows}
    try:
        found = wms_item_codes(env.wms, wanted)
    except ApiAuthError:
        raise
    except ApiError as exc:
        message = env.failed("peoplevox", exc)
        return {r.id: Outcome("failing", message) for r in rows}
    out = {}
    for row in rows:
        codes = _unknown_codes(row, env)
        missing = [c for c in codes if c not in found]
        if not codes:
            out[row.id] = Outcome("left", "no ItemCode recorded to look up: left to order_release")
        elif missing:
            out[row.id] = Outcome("failing", f"checked Peoplevox for {', '.join(codes)}: still missing "
                                             f"{', '.join(missing)}")
        else:
            then = (f"; order_release's next run releases order {row.entity_key}" if row.entity_type == "order"
                    else "")
            out[row.id] = Outcome("closed", f"cause gone: Peoplevox has {', '.join(codes)} now{then}")
    return out


def _pairs_sku_check(rows: Sequence[ExceptionRecord], env: RetryEnv) -> dict[int, Outcome]:
    skus = {r.id: str((r.detail or {}).get("sku") or "") for r in rows}
    with env.ctx.session() as session:
        known = repo.known_catalogue_skus(session, env.ctx.integration.name, skus.values())
    out = {}
    for row in rows:
        sku = skus[row.id]
        if sku and sku in known:
            out[row.id] = Outcome("closed", f"cause gone: the ERP item master has {sku} now; inventory_sync's next "
                                            f"run applies the held movements in order")
        else:
            out[row.id] = Outcome("failing", f"checked the ERP item master (last item sync) for {sku or '?'}: "
                                             f"still unknown")
    return out


def retry_api_unavailable(rows: Sequence[ExceptionRecord], env: RetryEnv) -> dict[int, Outcome]:
    """Does the system answer now? One probe (``test_connection``) per system."""
    out = {}
    for row in rows:
        system = row.entity_key
        env.probed.add(system)
        client = env.wms if system == "peoplevox" else env.erp
        if client is None:
            out[row.id] = Outcome("left", f"no {system} client in this run")
            continue
        ok, message = client.test_connection()
        if ok:
            env.down.pop(system, None)
            out[row.id] = Outcome("closed", f"cause gone: {system} answers again ({message})")
        else:
            env.down.setdefault(system, message[:500])
            out[row.id] = Outcome("failing", f"probed {system}: {message}"[:2000])
    return out


def left_to_flow(rows: Sequence[ExceptionRecord], env: RetryEnv) -> dict[int, Outcome]:
    return {r.id: Outcome("left", f"re-run left to {r.flow}'s next run, which retries it by itself (last try "
                                  f"{r.last_seen:%Y-%m-%d %H:%M} UTC)") for r in rows}


#: exception type -> handler. Types absent here are never retried (a person removes their cause).
RETRY_HANDLERS: dict[str, Handler] = {
    "unmapped_sku": retry_unmapped_sku,
    API_UNAVAILABLE: retry_api_unavailable,
    **{type_: left_to_flow for type_ in LEFT_TO_FLOW},
}


# --- the task -----------------------------------------------------------------------------------------------
def run_now(ctx: RunContext) -> datetime:
    """The run's "now": the end of its window (naive UTC), so a run is judged as of its own data interval."""
    end = ctx.window.end
    return end.astimezone(UTC).replace(tzinfo=None) if end.tzinfo else end


def retry_due(ctx: RunContext, wms: Any = None, erp: Any = None) -> dict[str, int]:
    """Retry the due exceptions of this integration (at most ``housekeeping.max_retries_per_run``)."""
    env = RetryEnv(ctx, wms, erp, run_now(ctx))
    limit = ctx.integration.housekeeping.max_retries_per_run
    with ctx.session() as session:
        due = hk_repo.due_exceptions(session, ctx.integration.name, RETRY_HANDLERS, env.now, limit)
        session.expunge_all()
    counts = {"due": len(due), "closed": 0, "failing": 0, "left": 0, "parked": 0, "api_unavailable": 0}
    outcomes: dict[int, Outcome] = {}
    for type_, rows in _by_type(due).items():
        outcomes.update(RETRY_HANDLERS[type_](rows, env))
    with ctx.session() as session:
        _record(ctx, session, due, outcomes, env.now, counts)
        counts["api_unavailable"] = sum(_raise_unavailable(ctx, session, system, why)
                                        for system, why in env.down.items() if system not in env.probed)
    log.info("%s %s: %s", ctx.integration.name, FLOW, counts)
    return counts


def retry_now(ctx: RunContext, exception_ids: Iterable[int], wms: Any = None, erp: Any = None, *,
              by: str | None = None) -> dict[int, str]:
    """Retry these exceptions at once, whatever their schedule (the dashboard's and the CLI's "retry now");
    returns each one's outcome. ``by`` (the person who asked) is recorded as who closed the ones that closed."""
    env = RetryEnv(ctx, wms, erp, run_now(ctx))
    with ctx.session() as session:
        rows = [row for i in exception_ids if (row := session.get(ExceptionRecord, int(i))) is not None
                and row.integration == ctx.integration.name and row.status == repo.OPEN]
        session.expunge_all()
    outcomes: dict[int, Outcome] = {}
    for type_, group in _by_type(rows).items():
        handler = RETRY_HANDLERS.get(type_)
        outcomes.update(handler(group, env) if handler else
                        {r.id: Outcome("left", "not retried automatically: a person removes its cause") for r in group})
    counts = {"closed": 0, "failing": 0, "left": 0, "parked": 0}
    with ctx.session() as session:
        _record(ctx, session, rows, outcomes, env.now, counts, manual=True, by=by)
    return {i: o.kind for i, o in outcomes.items()}


def _by_type(rows: Iterable[ExceptionRecord]) -> dict[str, list[ExceptionRecord]]:
    """Due exceptions grouped by type, ``api_unavailable`` first: a system its probe finds down is not asked
    anything else in the run."""
    groups: dict[str, list[ExceptionRecord]] = {API_UNAVAILABLE: []}
    for row in rows:
        groups.setdefault(row.type, []).append(row)
    return {type_: group for type_, group in groups.items() if group}


def _record(ctx: RunContext, session: Any, rows: Sequence[ExceptionRecord], outcomes: Mapping[int, Outcome],
            now: datetime, counts: dict[str, int], manual: bool = False, by: str | None = None) -> None:
    """Write every outcome: close, count a failed retry (parking after the last step) or note a hand-over."""
    last_step = len(RETRY_SCHEDULE)
    for detached in rows:
        outcome = outcomes.get(detached.id)
        row = session.get(ExceptionRecord, detached.id)
        if outcome is None or row is None or row.status != repo.OPEN:
            continue
        counts[outcome.kind] += 1
        if outcome.kind == "closed":
            hk_repo.close(row, by=by or FLOW, note=outcome.message, run_id=ctx.run_id)
        elif outcome.kind == "failing":
            hk_repo.record_retry(row, message=outcome.message, now=now, run_id=ctx.run_id)
            if row.attempts > last_step and not manual:
                _park(ctx, row, counts)
        elif row.attempts > last_step and not manual:
            _park(ctx, row, counts)
        elif not (row.detail or {}).get(LEFT_MARK):
            hk_repo.record_retry(row, message=outcome.message, now=now, run_id=ctx.run_id, count=False)
            row.detail = {**(row.detail or {}), LEFT_MARK: now.isoformat()}


def _park(ctx: RunContext, row: ExceptionRecord, counts: dict[str, int]) -> None:
    hk_repo.park(row, run_id=ctx.run_id,
                 message=f"parked after {row.attempts} attempts (the last step of the retry schedule): escalated to "
                         f"{row.owner}")
    counts["parked"] += 1


def _raise_unavailable(ctx: RunContext, session: Any, system: str, why: str) -> int:
    return int(ctx.hold(session, NewException(
        type=API_UNAVAILABLE, entity_type=SYSTEM, entity_key=system,
        summary=f"{system} did not answer exception housekeeping's checks: {why}"[:500],
        detail={"system": system, "error": why},
        payload={"system": system, "error": why, "checked_by": "exception_housekeeping", "run_id": ctx.run_id})))
