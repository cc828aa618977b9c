"""inventory_sync: Peoplevox stock movements reach Cin7 Core in Peoplevox's own order, without a stock fight.

Tasks (each a plain function of this package, testable without Airflow):

1. :func:`collect_movements` (:mod:`.collect`): drain the stock callbacks (wake-ups) and queue the window's
   "Item movement history" once per History Id;
2. :func:`check_movements` (:mod:`.check`): the Great Expectations suite ``inventory_sync`` — SKU and site mapped,
   History Ids increasing per SKU × site, whole quantities; failing pairs are held as exceptions with their movements;
3. :func:`apply_movements` (:mod:`.apply`): journal, plan and post absolute Cin7 stock adjustments, many SKU × location
   lines per call, at NORMAL priority in the shared Cin7 budget (dispatch goes first, status write-back after);
4. :func:`data_check`: the run goes red once per new problem, after the good movements went.

The rules (positions, despatches booked by dispatch confirmation, returns booked here, stale movements) are in
:mod:`erp_wms_sync.domain.stock_sequencing`. How this flow and order release share Cin7 (physical adjustments
before the next allocation) is in docs/design-notes.md, "Inventory sync".
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from erp_wms_sync.flows.common import RunContext, fail_on_new_problems
from erp_wms_sync.ledger import repo

SUITE = "inventory_sync"
STOCK_FLOWS = ("inventory_sync",)


def collect_movements(ctx: RunContext, wms: Any) -> dict[str, Any]:
    from erp_wms_sync.flows.inventory_sync.collect import collect as run

    return run(ctx, wms)


def check_movements(ctx: RunContext) -> dict[str, Any]:
    from erp_wms_sync.flows.inventory_sync.check import check as run

    return dict(run(ctx))


def apply_movements(ctx: RunContext, wms: Any, erp: Any) -> dict[str, Any]:
    """Post what is due; then the flow's cursor moves to the window's end."""
    from erp_wms_sync.flows.inventory_sync.apply import apply as run

    out = run(ctx, wms, erp)
    end = ctx.window.end
    if end is not None:
        with ctx.session() as session:
            naive = end.astimezone(UTC).replace(tzinfo=None) if end.tzinfo else end
            repo.advance_cursor(session, ctx.integration.name, ctx.flow, naive, ctx.run_id)
    return out


def data_check(ctx: RunContext) -> dict[str, Any]:
    return fail_on_new_problems(ctx, SUITE, STOCK_FLOWS)


__all__ = ["apply_movements", "check_movements", "collect_movements", "data_check"]
