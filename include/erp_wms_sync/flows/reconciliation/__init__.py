"""reconciliation: every night, both systems compared per SKU × location (and orders, returns, items), with a report,
variance history, exceptions, drift trends and proposed stock adjustments.

Tasks (plain functions, testable without Airflow):

1. :func:`snapshot_and_compare`: read Peoplevox, then the ERP, then what the ledger holds in flight, read the variant
   pairs once more (:mod:`.stock`), compare (:func:`erp_wms_sync.domain.reconciliation.compare_stock`), run the
   suite ``reconciliation`` (variance within the YAML tolerance), keep the non-zero variances as history, raise
   ``stock_variance`` per breaching pair (closed when it agrees again) and the other sections' findings
   (:mod:`.findings`); a section whose API failed is "not compared" (nothing closed for it) and fails the run at the
   end;
2. :func:`propose_and_apply`: one proposal per variant SKU × location setting the ERP to the Peoplevox count less
   what is in flight; applied at once with ``reconciliation.auto_apply_adjustments``, else pending approval
   (``erp-wms-sync reconcile approve``); drift trends; the report (:mod:`.report`);
3. :func:`data_check`: red once per new problem (a new breach, trend or finding), and red when a section was not
   compared — after the report is written.

Why proposals set the ERP to the physical count, and how in-flight stock is compensated: docs/design-notes.md,
"Reconciliation".
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from erp_wms_sync.errors import DataCheckFailed
from erp_wms_sync.flows.common import RunContext, fail_on_new_problems
from erp_wms_sync.ledger import reconciliation_repo as rrepo
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.repo import NewException

log = logging.getLogger(__name__)

SUITE = "reconciliation"
FLOWS = ("reconciliation",)
STOCK_VARIANCE = "stock_variance"
DRIFT_TREND = "drift_trend"
PAIR = "sku_location"
TREND = "drift"
SECTIONS = ("stock", "orders", "returns", "items")


def business_date(ctx: RunContext) -> str:
    """The data interval's end as a date in the integration's time zone (a manual run: its window end, now)."""
    end = ctx.window.end or datetime.now(UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    return end.astimezone(ZoneInfo(ctx.integration.timezone)).date().isoformat()


def tolerance(ctx: RunContext) -> Any:
    from erp_wms_sync.domain.reconciliation import Tolerance

    settings = ctx.integration.reconciliation
    return Tolerance(units=int(settings.tolerance_units), pct=float(settings.tolerance_pct))


def pair_key(sku: str, location: str) -> str:
    return f"{sku}|{location}"[:128]


def snapshot_and_compare(ctx: RunContext, wms: Any, erp: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """Compare every section, record history and exceptions; returns the run's totals."""
    from erp_wms_sync.flows.reconciliation.compare import compare_all

    return compare_all(ctx, wms, erp, now=now or datetime.now(UTC))


def propose_and_apply(ctx: RunContext, erp: Any) -> dict[str, Any]:
    """Proposals (applied with ``auto_apply_adjustments``), drift trends, then the report."""
    from erp_wms_sync.flows.reconciliation.compare import propose_and_report

    return propose_and_report(ctx, erp)


def data_check(ctx: RunContext) -> dict[str, Any]:
    """Red once per new problem; red when a section could not be compared (the report says which)."""
    with ctx.session() as session:
        run = rrepo.run_of(session, ctx.integration.name, ctx.run_id)
        sections = dict((run.summary or {}).get("sections") or {}) if run is not None else {}
    failed = sorted(name for name, status in sections.items() if str(status).startswith("not compared"))
    out = fail_on_new_problems(ctx, SUITE, FLOWS)
    if run is None:
        raise DataCheckFailed(SUITE, 1, 1, ["the comparison did not run: see snapshot_and_compare's log"])
    if failed:
        raise DataCheckFailed(SUITE, len(failed), len(sections),
                              [f"{name} {sections[name]}" for name in failed])
    return out


def close_gone(session: Any, ctx: RunContext, types: tuple[str, ...], entity_type: str, found: set[str]) -> int:
    """Close the open exceptions of ``types`` whose record was not found this run (the states agree again)."""
    gone = [e.entity_key for e in repo.open_exceptions(session, ctx.integration.name, entity_type=entity_type)
            if e.type in types and e.entity_key not in found]
    return repo.resolve_exceptions(session, integration=ctx.integration.name, entity_type=entity_type,
                                   entity_keys=gone, types=list(types), by=ctx.flow,
                                   note="states agree again", run_id=ctx.run_id)


def hold(session: Any, ctx: RunContext, exc: NewException) -> bool:
    return ctx.hold(session, exc)


__all__ = ["data_check", "propose_and_apply", "snapshot_and_compare"]
