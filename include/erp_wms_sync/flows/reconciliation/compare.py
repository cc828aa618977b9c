"""The two working steps of reconciliation (see the package docstring): compare and record, then propose, trend
and report. Every section is guarded: an API failure in one makes it "not compared" and the others go on."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from erp_wms_sync.errors import ErpWmsSyncError
from erp_wms_sync.flows import reconciliation as flow
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.ledger import reconciliation_repo as rrepo
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.models import ReconciliationVariance
from erp_wms_sync.ledger.repo import NewException

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
MAX_EXCEPTIONS = 5000  # per section and run: a systemic cause is one report, not an unbounded exception flood
FINDING_SECTIONS = ("orders", "returns", "items")
ITEM_SYNC = "item_master_sync"
PROPOSAL_REPORT_COLUMNS = ("id", "sku", "location", "erp_on_hand", "set_to", "change", "variance", "breach", "state",
                           "adjustment_ref", "error")


def compare_all(ctx: RunContext, wms: Any, erp: Any, *, now: datetime) -> dict[str, Any]:
    name = ctx.integration.name
    date = flow.business_date(ctx)
    with ctx.session() as session:
        run_pk = rrepo.start_run(session, name, ctx.run_id, date).id
    sections: dict[str, str] = {}
    totals: dict[str, Any] = {"business_date": date, "read_at": now.isoformat(timespec="seconds")}
    problems: list[dict[str, str]] = []
    new_problems = 0
    try:
        from erp_wms_sync.flows.reconciliation.stock import snapshot

        snap = snapshot(ctx, wms, erp, flow.tolerance(ctx), now=now)
        new_problems += _stock(ctx, run_pk, snap, totals)
        problems = [p.as_dict() for p in snap.problems]
        sections["stock"] = "compared"
    except (ErpWmsSyncError, ValueError, OSError) as exc:
        sections["stock"] = f"not compared: {str(exc)[:300]}"
        log.exception("%s reconciliation: the stock section could not be compared", name)
    for section, found in _findings(ctx, wms, erp, now, sections).items():
        new_problems += _record_findings(ctx, run_pk, section, found)
    with ctx.session() as session:
        rrepo.finish_run(session, run_pk, status="compared" if sections.get("stock") == "compared" else "failed",
                         summary={**totals, "sections": sections, "problems": problems[:500],
                                  "problem_count": len(problems)}, report_path=None)
    log.info("%s reconciliation %s: %s", name, date, sections)
    return {"run_pk": run_pk, "business_date": date, "sections": sections, "new_problems": new_problems,
            **{k: v for k, v in totals.items() if isinstance(v, int)}}


# --- stock ------------------------------------------------------------------------------------------------------
def _stock(ctx: RunContext, run_pk: int, snap: Any, totals: dict[str, Any]) -> int:
    from erp_wms_sync.checks.runner import run_checks
    from erp_wms_sync.checks.suites import reconciliation_checks
    from erp_wms_sync.domain.reconciliation import compare_stock

    result = compare_stock(snap.erp, snap.wms, snap.in_flight, flow.tolerance(ctx))
    differences = result.differences
    totals.update(result.summary())
    totals.update(reread_pairs=snap.reread, agreed_on_second_read=snap.dropped_by_reread,
                  movements_caught_up=snap.movements_caught_up)
    outcome = run_checks(flow.SUITE, differences[["sku", "location", "abs_variance", "allowed"]].reset_index(drop=True),
                         reconciliation_checks())
    breaches = differences.loc[differences["breach"]]
    new = 0
    with ctx.session() as session:
        rrepo.add_stock_variances(session, run_pk, differences.to_dict("records"))
        found: set[str] = set()
        for row in breaches.head(MAX_EXCEPTIONS).itertuples(index=False):
            key = flow.pair_key(str(row.sku), str(row.location))
            found.add(key)
            new += int(flow.hold(session, ctx, NewException(
                type=flow.STOCK_VARIANCE, entity_type=flow.PAIR, entity_key=key,
                summary=(f"{row.sku} at {row.location}: the ERP holds {int(row.erp_on_hand)}, Peoplevox counts "
                         f"{int(row.wms_on_hand)} with {int(row.in_flight)} in flight, so the ERP should hold "
                         f"{int(row.expected_erp)} (off by {int(row.variance)}, tolerance {row.allowed})")[:500],
                detail={"sku": str(row.sku), "location": str(row.location), "erp_on_hand": int(row.erp_on_hand),
                        "wms_on_hand": int(row.wms_on_hand), "in_flight": int(row.in_flight),
                        "expected_erp": int(row.expected_erp), "variance": int(row.variance)},
                payload={"business_date": totals["business_date"], "side": str(row.side)})))
        if len(breaches) <= MAX_EXCEPTIONS:  # a pair left out (an unreadable row) was not seen to agree
            found |= {flow.pair_key(p.sku, p.location) for p in snap.problems if p.sku and p.location}
            flow.close_gone(session, ctx, (flow.STOCK_VARIANCE,), flow.PAIR, found)
        repo.record_check(session, integration=ctx.integration.name, flow=ctx.flow, suite=flow.SUITE,
                          run_id=ctx.run_id, success=outcome.success, evaluated=result.pairs,
                          failed_records=outcome.failed_records, summary=outcome.summary)
    return new


# --- orders, returns, items -------------------------------------------------------------------------------------
def _findings(ctx: RunContext, wms: Any, erp: Any, now: datetime,
              sections: dict[str, str]) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for section in FINDING_SECTIONS:
        try:
            found = _finder(section)(ctx, wms, erp, now)
        except (ErpWmsSyncError, ValueError, OSError, ImportError) as exc:
            sections[section] = f"not compared: {str(exc)[:300]}"
            log.exception("%s reconciliation: the %s section could not be compared", ctx.integration.name, section)
            continue
        sections[section] = "compared"
        out[section] = found
    return out


def _finder(section: str) -> Callable[..., pd.DataFrame]:
    from erp_wms_sync.flows.reconciliation import findings

    if section == "orders":
        return findings.orders_findings
    if section == "returns":
        return findings.returns_findings
    return _items


def _items(ctx: RunContext, wms: Any, erp: Any, now: datetime) -> pd.DataFrame:
    """The item section judges only the ERP items item master sync should already have written (its last finished
    window, from the ledger), or all of them while item master sync is paused: right after start-up, or for an
    item created in the ERP since the last item sync, a missing Item type is on its way, not a difference."""
    from erp_wms_sync.flows.reconciliation import findings

    with ctx.session() as session:
        cursor = repo.get_cursor(session, ctx.integration.name, ITEM_SYNC)
        synced_until = cursor.watermark if cursor is not None else None
    return findings.items_findings(ctx, wms, erp, all_due=ITEM_SYNC in ctx.integration.paused_flows,
                                   synced_until=synced_until)


def _record_findings(ctx: RunContext, run_pk: int, section: str, found: pd.DataFrame) -> int:
    """History rows, one exception per (type, entity) — deduped against open ones — and the section's open
    exceptions of the types it produces closed when no longer found."""
    rows = found.to_dict("records")
    new = 0
    with ctx.session() as session:
        rrepo.add_findings(session, run_pk, rows)
        seen: dict[str, set[str]] = {}
        for row in rows[:MAX_EXCEPTIONS]:
            kind, entity_type = str(row.get("exception_type") or ""), str(row.get("entity_type") or "")
            key = str(row.get("entity_key") or "")[:128]
            if not kind or not entity_type or not key:
                continue
            seen.setdefault(entity_type, set()).add(key)
            new += int(flow.hold(session, ctx, NewException(
                type=kind, entity_type=entity_type, entity_key=key, summary=str(row.get("summary") or "")[:500],
                detail={"section": section, "kind": str(row.get("kind") or ""), "key": str(row.get("key") or "")},
                payload={k: _json(v) for k, v in row.items()})))
        if len(rows) <= MAX_EXCEPTIONS:  # what this section raised before and did not find now: states agree again
            for exc in repo.open_exceptions(session, ctx.integration.name):
                if exc.flow == ctx.flow and (exc.detail or {}).get("section") == section \
                        and exc.entity_key not in seen.get(exc.entity_type, set()):
                    repo.resolve_exception(session, exc.id, by=ctx.flow, note="states agree again")
    return new


def _json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


# --- proposals, trends, report ----------------------------------------------------------------------------------
def stock_frame(session: Any, run_pk: int) -> pd.DataFrame:
    """The run's stock variances back from the ledger (largest first)."""
    import pandas as pd
    from sqlalchemy import select

    rows = session.scalars(select(ReconciliationVariance).where(ReconciliationVariance.run_pk == run_pk,
                                                                ReconciliationVariance.kind == rrepo.STOCK))
    columns: dict[str, list[Any]] = {c: [] for c in ("sku", "location", "erp_on_hand", "wms_on_hand", "in_flight",
                                                     "expected_erp", "variance", "breach")}
    for row in rows:
        detail = row.detail or {}
        values = (("sku", row.sku), ("location", row.location), ("erp_on_hand", int(row.erp_value or 0)),
                  ("wms_on_hand", int(row.wms_value or 0)), ("in_flight", int(detail.get("in_flight", 0))),
                  ("expected_erp", int(detail.get("expected_erp", 0))), ("variance", int(row.variance or 0)),
                  ("breach", bool(row.breach)))
        for column, value in values:
            columns[column].append(value)
    frame = pd.DataFrame(columns)
    if frame.empty:
        return frame
    frame["abs_variance"] = frame["variance"].abs()
    return frame.sort_values(["abs_variance", "sku", "location"], ascending=[False, True, True]).reset_index(drop=True)


def findings_frame(session: Any, run_pk: int) -> pd.DataFrame:
    import pandas as pd
    from sqlalchemy import select

    rows = session.scalars(select(ReconciliationVariance).where(ReconciliationVariance.run_pk == run_pk,
                                                                ReconciliationVariance.kind != rrepo.STOCK))
    records = []
    for row in rows:
        detail = row.detail or {}
        records.append({"section": detail.get("section") or row.kind.split(":", 1)[0],
                        "kind": detail.get("kind") or row.kind.split(":", 1)[-1], "key": row.key,
                        "erp_value": detail.get("erp", ""), "wms_value": detail.get("wms", ""),
                        "summary": detail.get("summary", "")})
    return pd.DataFrame(records, columns=["section", "kind", "key", "erp_value", "wms_value", "summary"])


def propose_and_report(ctx: RunContext, erp: Any) -> dict[str, Any]:
    import pandas as pd

    from erp_wms_sync.domain.reconciliation import propose_adjustments
    from erp_wms_sync.flows.reconciliation.apply import apply_proposals
    from erp_wms_sync.flows.reconciliation.report import write_report
    from erp_wms_sync.flows.reconciliation.stock import is_bluecherry

    name = ctx.integration.name
    with ctx.session() as session:
        run = rrepo.run_of(session, name, ctx.run_id)
        if run is None:
            raise ValueError(f"{name}: no reconciliation run {ctx.run_id} to propose for (snapshot_and_compare "
                             "did not record one)")
        run_pk, date, summary = run.id, run.business_date, dict(run.summary or {})
        stock = stock_frame(session, run_pk)
        findings = findings_frame(session, run_pk)
    compared = (summary.get("sections") or {}).get("stock") == "compared"
    out: dict[str, Any] = {"proposals": 0, "applied": 0, "trends": 0}
    if compared and not stock.empty and not is_bluecherry(ctx.integration):
        proposed = propose_adjustments(stock)
        with ctx.session() as session:
            made = rrepo.add_proposals(session, name, run_pk, date, proposed.to_dict("records"))
            ids = [p.id for p in made]
        out["proposals"] = len(ids)
        if ids and ctx.integration.reconciliation.auto_apply_adjustments:
            result = apply_proposals(ctx.integration, ctx.session, erp, ids, by="auto_apply_adjustments",
                                     auto=True, run_id=ctx.run_id)
            out["applied"] = result.applied
    trends, new_trends = _trends(ctx, date)
    out["trends"] = len(trends)
    out["new_problems"] = new_trends
    with ctx.session() as session:
        history = rrepo.nightly_totals(session, name)
        listed = rrepo.proposals(session, name, run_pk=run_pk)
        proposals = pd.DataFrame([{"id": p.id, "sku": p.sku, "location": p.location, "erp_on_hand": p.erp_on_hand,
                                   "set_to": p.set_to, "change": p.change, "variance": p.variance,
                                   "breach": p.breach, "state": p.state, "adjustment_ref": p.adjustment_ref or "",
                                   "error": p.error or ""} for p in listed], columns=PROPOSAL_REPORT_COLUMNS)
    sections = summary.get("sections") or {}
    shown = {key: value for key, value in summary.items() if key not in ("problems", "sections")}
    shown.update(proposals=len(listed), applied=out["applied"], drift_trends=len(trends))
    folder = write_report(name, f"{date}/{ctx.run_id}", None,
                          title=f"Reconciliation {ctx.integration.label} — {date}",
                          summary={**shown, "sections": sections}, stock=stock, findings=findings,
                          proposals=proposals, trends=trends, history_totals=history,
                          problems=list(summary.get("problems") or []))
    with ctx.session() as session:
        run = rrepo.run_of(session, name, ctx.run_id)
        if run is not None:
            run.report_path = str(folder)
    log.info("%s reconciliation %s: report %s, %s", name, date, folder, out)
    return {**out, "report": str(folder)}


def _trends(ctx: RunContext, date: str) -> tuple[pd.DataFrame, int]:
    """Drift trends over the compared nights, one ``drift_trend`` exception per flagged entity (closed when no
    longer flagged)."""
    import pandas as pd

    from erp_wms_sync.domain.reconciliation import drift_trends

    with ctx.session() as session:
        history = pd.DataFrame(rrepo.stock_history(session, ctx.integration.name),
                               columns=["business_date", "sku", "location", "variance"])
    trends = drift_trends(history)
    new = 0
    with ctx.session() as session:
        found: set[str] = set()
        for row in trends.head(MAX_EXCEPTIONS).to_dict("records"):
            key = f"{row['level']}:{row['key']}"[:128]
            found.add(key)
            new += int(flow.hold(session, ctx, NewException(
                type=flow.DRIFT_TREND, entity_type=flow.TREND, entity_key=key,
                summary=(f"Stock drift at {row['level']} {row['key']}: off on {row['nights']} of the last nights"
                         f"{', growing' if row.get('growing') else ''} (latest {row['latest_variance']})")[:500],
                detail={"level": str(row["level"]), "key": str(row["key"]), "nights": int(row["nights"]),
                        "growing": bool(row.get("growing")), "history": _json_history(row.get("history"))},
                payload={"business_date": date})))
        if len(trends) <= MAX_EXCEPTIONS:
            flow.close_gone(session, ctx, (flow.DRIFT_TREND,), flow.TREND, found)
    return trends, new


def _json_history(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_json_history(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_history(v) for k, v in value.items()}
    return _json(value.item() if hasattr(value, "item") else value)
