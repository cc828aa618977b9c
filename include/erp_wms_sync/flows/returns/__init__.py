"""returns: both patterns of ARCHITECTURE §2, with sellable and damaged conditions.

Tasks (plain functions, testable without Airflow):

1. :func:`collect_returns` (:mod:`.collect`): drain the Peoplevox ``Returns`` callbacks (wake-ups) and record every
   returned line of the window's "Return summary" once;
2. :func:`settle_returns`: Cin7 Core (:mod:`.cin7`) — the credit note of each return, only after inventory sync
   applied its stock-in (this flow never books stock); BlueCherry (:mod:`.bluecherry`) — announce new RAs to
   Peoplevox, then book each Peoplevox receipt against its RA;
3. :func:`data_check`: the run goes red once per new problem, after the good returns went.

The pure rules are in :mod:`.rules`; why the credit waits for inventory sync is in docs/design-notes.md, "Returns".
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from erp_wms_sync.flows.common import RunContext, fail_on_new_problems
from erp_wms_sync.ledger import repo

SUITE = "returns"
RETURN_FLOWS = ("returns",)


def collect_returns(ctx: RunContext, wms: Any) -> dict[str, Any]:
    from erp_wms_sync.flows.returns.collect import collect

    return collect(ctx, wms)


def settle_returns(ctx: RunContext, wms: Any, erp: Any) -> dict[str, Any]:
    """Cin7 Core: credit what is in stock. BlueCherry: announce RAs, then book receipts. Then the cursor moves."""
    if ctx.integration.erp.kind.value == "cin7core":
        from erp_wms_sync.flows.returns import cin7

        out: dict[str, Any] = dict(cin7.settle(ctx, erp))
    else:
        from erp_wms_sync.flows.returns import bluecherry

        announced = bluecherry.announce(ctx, wms, erp)
        received = bluecherry.receive(ctx, erp)
        out = {**{f"ra_{k}": v for k, v in announced.items()}, **{f"receipt_{k}": v for k, v in received.items()}}
    with ctx.session() as session:
        problems = int(out.get("new_problems", 0)) + int(out.get("ra_new_problems", 0)) + \
            int(out.get("receipt_new_problems", 0))
        repo.record_check(session, integration=ctx.integration.name, flow=ctx.flow, suite=SUITE, run_id=ctx.run_id,
                          success=problems == 0, evaluated=int(out.get("returns", 0)) + int(out.get(
                              "receipt_returns", 0)), failed_records=problems, summary=out)
        end = ctx.window.end
        if end is not None:
            naive = end.astimezone(UTC).replace(tzinfo=None) if end.tzinfo else end
            repo.advance_cursor(session, ctx.integration.name, ctx.flow, naive, ctx.run_id)
    return out


def data_check(ctx: RunContext) -> dict[str, Any]:
    return fail_on_new_problems(ctx, SUITE, RETURN_FLOWS)


__all__ = ["collect_returns", "data_check", "settle_returns"]
