"""dispatch_confirmation: Peoplevox despatches reach the ERP in seconds, exactly once.

The latency-critical path is ONE task (:func:`confirm_despatches`): every task start under LocalExecutor costs
seconds, so the run does in one process what a chain of tasks would do in many — plan its window, drain the
webhook inbox, read the "Despatch summary" for the window (the polling safety net), run the Great Expectations
suite, and write to the ERP:

- Cin7 Core: pick → pack → ship with carrier and tracking at once (:mod:`.cin7`), at HIGH priority in the shared
  API budget (status write-backs wait);
- BlueCherry: checked despatches join the next batch; :func:`post_shipments` (its own task) posts the batch on the
  integration's batch interval (:mod:`.bluecherry`).

Steps, each committing as it goes (a crash mid-run loses nothing and duplicates nothing): :mod:`.collect` →
:mod:`.check` → :mod:`.cin7` / :mod:`.bluecherry`. The ledger keeps, per despatch, the Peoplevox despatch time,
the first callback's receipt and the ERP confirmation; each run logs p50/p95 of what it confirmed.
:func:`data_check` turns the run red once per new problem (a despatch for an unknown or cancelled order, a
mismatch, a refusal), after the good despatches went.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from erp_wms_sync.flows.common import RunContext, fail_on_new_problems
from erp_wms_sync.ledger import dispatch_repo, repo
from erp_wms_sync.ledger.models import DespatchRecord, utcnow

log = logging.getLogger(__name__)

SUITE = "dispatch_confirmation"
DISPATCH_FLOWS = ("dispatch_confirmation",)


def preload_checks() -> threading.Thread:
    """Import Great Expectations in the background while the run talks to Peoplevox (it takes seconds)."""

    def load() -> None:
        try:
            import great_expectations  # noqa: F401
            import pandas  # noqa: F401
        except Exception:  # the check step imports it again and reports the real error
            log.debug("background import of great_expectations failed", exc_info=True)

    thread = threading.Thread(target=load, name="preload-gx", daemon=True)
    thread.start()
    return thread


def confirm_despatches(ctx: RunContext, wms: Any, erp: Any) -> dict[str, Any]:
    """The one task of the callback path: collect, check, confirm (Cin7) or queue (BlueCherry)."""
    from erp_wms_sync.flows.dispatch_confirmation import bluecherry, check, cin7, collect

    started = utcnow()
    preload_checks()
    collected = collect.collect(ctx, wms)
    checked = check.check(ctx)
    if ctx.integration.erp.kind.value == "cin7core":
        written: dict[str, Any] = cin7.confirm(ctx, erp)
    else:
        written = {"queued_for_batch": bluecherry.queue(ctx)}
    latency = log_latency(ctx, started)
    with ctx.session() as session:
        end = ctx.window.end
        naive = end.astimezone(UTC).replace(tzinfo=None) if end.tzinfo else end
        repo.advance_cursor(session, ctx.integration.name, ctx.flow, naive, ctx.run_id)
    return {**collected.as_dict(), **{f"check_{k}": v for k, v in checked.items()}, **written, **latency}


def post_shipments(ctx: RunContext, erp: Any) -> dict[str, Any]:
    """BlueCherry: post the collected shipment confirmations when the batch is due (a manual run always posts)."""
    from erp_wms_sync.flows.dispatch_confirmation import bluecherry

    started = utcnow()
    force = ctx.run_id.startswith("manual__")
    counts: dict[str, Any] = bluecherry.post_batch(ctx, erp, force=force)
    return {**counts, **log_latency(ctx, started)}


def data_check(ctx: RunContext) -> dict[str, Any]:
    return fail_on_new_problems(ctx, SUITE, DISPATCH_FLOWS)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of ``values`` (0 < share <= 1); 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-share * len(ordered) // 1))))
    return ordered[rank - 1]


def latencies(rows: list[DespatchRecord]) -> dict[str, list[float]]:
    """Seconds from the Peoplevox despatch (and from the callback's receipt) to the ERP confirmation."""
    from_despatch = [(r.confirmed_at - r.despatched_at).total_seconds() for r in rows
                     if r.confirmed_at is not None and r.despatched_at is not None]
    from_callback = [(r.confirmed_at - r.callback_at).total_seconds() for r in rows
                     if r.confirmed_at is not None and r.callback_at is not None]
    return {"despatch": from_despatch, "callback": from_callback}


def log_latency(ctx: RunContext, since: datetime) -> dict[str, Any]:
    with ctx.session() as session:
        rows = dispatch_repo.confirmed_between(session, ctx.integration.name, since)
        values = latencies(rows)
    out = {"confirmed_this_run": len(rows),
           "latency_p50_s": round(percentile(values["despatch"], 0.5), 1),
           "latency_p95_s": round(percentile(values["despatch"], 0.95), 1),
           "callback_to_erp_p50_s": round(percentile(values["callback"], 0.5), 1),
           "callback_to_erp_p95_s": round(percentile(values["callback"], 0.95), 1)}
    if rows:
        log.info("%s dispatch latency (despatch → ERP confirmed) over %d despatches: p50 %.1f s, p95 %.1f s; "
                 "callback → ERP p50 %.1f s, p95 %.1f s", ctx.integration.name, len(rows), out["latency_p50_s"],
                 out["latency_p95_s"], out["callback_to_erp_p50_s"], out["callback_to_erp_p95_s"])
    return out


__all__ = ["confirm_despatches", "data_check", "latencies", "percentile", "post_shipments", "preload_checks"]

