"""The dashboard's order look-up, reconciliation, data-check and activity pages (and their JSON twins under /api/).

- ``/orders`` answers customer service's question "where is this order?": the ERP order number, ERP id or Peoplevox
  number (``-R<n>`` re-issues included) gives each stage — released, held and why, despatched, confirmed in the
  ERP, returned — with its time, the order's exceptions (linked), despatches and returned lines. Read from the
  ledger only: no Peoplevox or ERP call.
- ``/reconciliation``: per integration the latest run and its report (HTML and CSVs, served redacted), the variance
  per night over the last 14 nights, the drift trends, and the pending proposals to approve (applied at once, as
  ``erp-wms-sync reconcile approve`` does) or reject. Every decision is recorded in ``dashboard_actions``.
- ``/checks``: stored data-check results, newest first; ``/activity``: what people did in the dashboard.

Every route needs Airflow authentication; the proposal decisions also need the right to act on the integration and
a CSRF token (cookie sessions). Every response goes through :class:`~erp_wms_sync.dashboard.web.Dashboard`'s
redacting responses and every value shown is escaped.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from erp_wms_sync.dashboard import view_queries as vq
from erp_wms_sync.dashboard.web import (
    Dashboard,
    Viewer,
    authenticated,
    check_csrf,
    csrf_input,
    esc,
    page,
    url_for,
)

__all__ = ["CSV_NAMES", "PAGE_SIZE", "decide_proposals", "register"]

log = logging.getLogger(__name__)
PAGE_SIZE = 50
#: The CSVs a report folder holds (the only names served: never a path from the request).
CSV_NAMES = ("stock", "findings", "proposals", "trends")
DECISIONS = {"approve": "approved", "reject": "rejected"}
STAGE_LABELS = {"released": "Released to Peoplevox", "held": "Held", "despatched": "Despatched",
                "confirmed": "Confirmed in the ERP", "returned": "Returned"}
MAX_MESSAGE = 1500
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"

ViewerDep = Annotated[Viewer, Depends(authenticated)]
#: State-changing routes: authentication first (401 before anything else), then the CSRF check.
ACTING = [Depends(authenticated), Depends(check_csrf)]


# --- small HTML helpers -----------------------------------------------------------------------------------------
def _table(table_attrs: str, headers: list[str], rows: list[str], empty: str) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(rows) or f'<tr class="empty"><td colspan="{len(headers)}">{esc(empty)}</td></tr>'
    return f"<table {table_attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _options(values: list[tuple[str, str]], selected: str) -> str:
    return "".join(f'<option value="{esc(v)}"{" selected" if v == selected else ""}>{esc(label)}</option>'
                   for v, label in values)


def _integration_options(dashboard: Dashboard, selected: str, *, any_label: str = "all integrations") -> str:
    names = sorted(dashboard.integrations().items())
    return _options([("", any_label)] + [(name, integration.label) for name, integration in names], selected)


def _link(request: Request, path: str, params: dict[str, Any] | None = None) -> str:
    query = urlencode({k: v for k, v in (params or {}).items() if v not in (None, "")})
    return url_for(request, path) + (f"?{query}" if query else "")


def _airflow_run(dashboard: Dashboard, integration: str, flow: str, run_id: str) -> str:
    return (f"{dashboard.airflow_base.rstrip('/')}/dags/{quote(f'{integration}__{flow}', safe='')}"
            f"/runs/{quote(run_id, safe='')}")


def _message(msg: str, kind: str) -> tuple[str, str]:
    return msg[:MAX_MESSAGE], (kind if kind in ("ok", "err") else "ok")


def _pager(request: Request, path: str, params: dict[str, Any], page_no: int, has_next: bool) -> str:
    parts = []
    if page_no > 1:
        parts.append(f'<a id="prev-page" href="{esc(_link(request, path, {**params, "page": page_no - 1}))}">'
                     "&larr; newer</a>")
    if has_next:
        parts.append(f'<a id="next-page" href="{esc(_link(request, path, {**params, "page": page_no + 1}))}">'
                     "older &rarr;</a>")
    return f'<nav class="pager">page {page_no} {" ".join(parts)}</nav>'


def _known_integration(dashboard: Dashboard, name: str) -> str:
    """``name`` when it is a known integration (or empty); 404 otherwise."""
    if name:
        dashboard.integration(name)
    return name


def _may_act(dashboard: Dashboard, viewer: Viewer, integration: str) -> bool:
    try:
        return bool(dashboard.can_act(viewer, integration))
    except Exception:
        return False


# --- orders -----------------------------------------------------------------------------------------------------
def order_lookup(dashboard: Dashboard, integration: str, q: str) -> dict[str, Any]:
    """The look-up of ``q`` in one integration (or all), as :func:`view_queries.look_up_order` returns it."""
    names = [integration] if integration else sorted(dashboard.integrations())
    with dashboard.session() as session:
        return vq.look_up_order(session, q[:200], names)


def _order_html(request: Request, dashboard: Dashboard, integration: str, q: str, found: dict[str, Any] | None) -> str:
    form = (f'<form id="order-lookup" class="filters" method="get" action="{esc(url_for(request, "/orders"))}">'
            f'<label>Integration<br><select id="order-integration" name="integration">'
            f'{_integration_options(dashboard, integration)}</select></label>'
            f'<label>Order<br><input id="order-query" name="q" value="{esc(q)}" size="32" required '
            f'placeholder="ERP order number, ERP id or Peoplevox number"></label>'
            f'<button id="order-search" type="submit">Look up</button></form>')
    if found is None:
        return form + ('<p class="hint">Type the ERP order number (e.g. SO-00012), the ERP id, or the number '
                       'Peoplevox shows (a re-issued order ends in -R1, -R2 …).</p>')
    if found["order"] is not None:
        return form + _order_view_html(request, found["order"])
    if found["matches"]:
        rows = []
        for m in found["matches"]:
            target = _link(request, "/orders", {"integration": m["integration"],
                                                "q": m["erp_order_id"] or m["wms_order_number"]})
            rows.append(f'<tr><td>{esc(m["integration"])}</td><td><a class="order-match" href="{esc(target)}">'
                        f'{esc(m["erp_order_number"] or m["wms_order_number"])}</a></td>'
                        f'<td>{esc(m["erp_order_id"])}</td><td>{esc(m["wms_order_number"])}</td>'
                        f'<td>{esc(m["state"])}</td></tr>')
        return form + (f'<p id="order-several">{len(found["matches"])} orders match {esc(found["query"])}: '
                       "choose one.</p>" + _table('id="order-matches"', ["Integration", "ERP order", "ERP id",
                                                                         "Peoplevox order", "State"], rows, ""))
    where = f"in {integration}" if integration else "in any integration"
    return form + (f'<p id="order-not-found" class="msg err">No order {esc(found["query"])} {esc(where)}: the '
                   "integration has no order, despatch, return or exception under that ERP number, ERP id or "
                   "Peoplevox number. Orders appear here once order release has read them from the ERP.</p>")


def _order_view_html(request: Request, view: dict[str, Any]) -> str:
    number = view["erp_order_number"] or view["wms_order_number"]
    facts = [("Integration", view["integration"]), ("ERP id", view["erp_order_id"]),
             ("Peoplevox order", view["wms_order_number"]),
             ("Earlier Peoplevox numbers", ", ".join(n for n in view["wms_numbers"]
                                                     if n != view["wms_order_number"])),
             ("Integration state", view["state"]), ("ERP status", view["erp_status"]),
             ("Peoplevox status", view["wms_status"]), ("First seen", view["first_seen"])]
    cards = "".join(f'<div class="card"><small>{esc(k)}</small><br><b>{esc(v)}</b></div>' for k, v in facts if v)
    stages = [f'<tr data-stage="{esc(s["stage"])}" data-status="{esc(s["status"])}">'
              f'<th>{esc(STAGE_LABELS.get(s["stage"], s["stage"]))}</th><td class="state">{esc(s["state"])}</td>'
              f'<td class="when">{esc(s["when"] or "")}</td><td class="detail">{esc(s["detail"])}</td></tr>'
              for s in view["stages"]]
    exceptions = [f'<tr data-exception-id="{e["id"]}"><td><a class="exception-link" '
                  f'href="{esc(url_for(request, "/exceptions/" + str(e["id"])))}">#{e["id"]}</a></td>'
                  f'<td><span class="badge {esc(e["status"])}">{esc(e["status"])}</span></td><td>{esc(e["type"])}</td>'
                  f'<td>{esc(e["owner"])}</td><td>{esc(e["entity_type"])} {esc(e["entity_key"])}</td>'
                  f'<td>{esc(e["summary"])}</td><td>{esc(e["first_seen"])}</td></tr>' for e in view["exceptions"]]
    despatches = [f'<tr data-despatch="{esc(d["despatch_number"])}"><td>{esc(d["despatch_number"])}</td>'
                  f'<td>{esc(d["wms_order_number"])}</td><td>{esc(d["carrier"])}'
                  f'{(" / " + esc(d["service"])) if d["service"] else ""}</td><td>{esc(", ".join(d["tracking"]))}</td>'
                  f'<td>{esc(d["despatched_at"] or d["seen_at"])}</td>'
                  f'<td class="confirmed">{"yes" if d["confirmed"] else "no"} ({esc(d["state"])})</td>'
                  f'<td>{esc(d["confirmed_at"])}</td><td>{esc(d["erp_ref"])}</td></tr>' for d in view["despatches"]]
    returns = [f'<tr data-return="{esc(r["return_code"])}"><td>{esc(r["return_code"])}</td>'
               f'<td>{esc(r["item_code"])}</td><td>{esc(r["quantity"])}</td><td>{esc(r["condition"])}'
               f'{" (sellable)" if r["sellable"] else " (not sellable)"}</td><td>{esc(r["reason"])}</td>'
               f'<td>{esc(r["state"])}</td><td>{esc(r["erp_ref"])}</td><td>{esc(r["returned_at"])}</td></tr>'
               for r in view["returns"]]
    ras = ""
    if view["return_authorisations"]:
        ras = "<h3>Return authorisations</h3>" + _table(
            'id="order-return-authorisations"', ["RA", "State", "Site", "Announced"],
            [f'<tr><td>{esc(a["ra_number"])}</td><td>{esc(a["state"])}</td><td>{esc(a["site"])}</td>'
             f'<td>{esc(a["announced_at"])}</td></tr>' for a in view["return_authorisations"]], "")
    unknown = ("" if view["known"] else '<p class="msg err">Order release never read an ERP order under this number; '
               "what the ledger holds about it is below.</p>")
    return (f'<section id="order-view" data-integration="{esc(view["integration"])}">'
            f'<h2>Order <span id="order-number">{esc(number)}</span></h2>{unknown}<div class="cards">{cards}</div>'
            + _table('id="order-stages"', ["Stage", "State", "When (UTC)", "Detail"], stages, "")
            + "<h3>Exceptions</h3>"
            + _table('id="order-exceptions"', ["Id", "Status", "Type", "Owner", "Entity", "Summary", "First seen"],
                     exceptions, "no exception about this order")
            + "<h3>Despatches</h3>"
            + _table('id="order-despatches"', ["Despatch", "Peoplevox order", "Carrier", "Tracking", "Despatched",
                                               "Confirmed in ERP", "Confirmed at", "ERP reference"],
                     despatches, "not despatched yet")
            + "<h3>Returns</h3>"
            + _table('id="order-returns"', ["Return", "Item", "Qty", "Condition", "Reason", "State",
                                            "ERP reference", "Returned"], returns, "no returns")
            + ras + "</section>")


# --- reconciliation -----------------------------------------------------------------------------------------------
def _recon_html(request: Request, dashboard: Dashboard, viewer: Viewer, name: str, label: str,
                data: dict[str, Any], bluecherry: bool) -> str:
    latest = data["latest"]
    base = f"/reconciliation/{quote(name, safe='')}"
    if latest is None:
        summary = '<p class="run-summary">No reconciliation run yet.</p>'
    else:
        totals = latest["totals"]
        shown = [("Night", latest["business_date"]), ("Status", latest["status"]),
                 *((k.replace("_", " "), totals.get(k)) for k in ("pairs", "matching", "within_tolerance",
                                                                    "breaches", "abs_variance_units",
                                                                    "in_flight_units") if k in totals)]
        sections = ", ".join(f"{k}: {v}" for k, v in latest["sections"].items())
        cards = "".join(f'<div class="card"><small>{esc(k)}</small><br><b>{esc(v)}</b></div>' for k, v in shown)
        links = ""
        if latest["has_report"]:
            report = f"{base}/runs/{quote(latest['ref'], safe='')}/report"
            links = (f'<p><a class="report-link" href="{esc(url_for(request, report))}">Open the report</a> · CSV: '
                     + " ".join(f'<a class="report-csv" data-csv="{n}" '
                                f'href="{esc(url_for(request, f"{report}/{n}.csv"))}">{n}</a>' for n in CSV_NAMES)
                     + "</p>")
        else:
            links = "<p>This run wrote no report (yet).</p>"
        summary = (f'<div class="run-summary"><div class="cards">{cards}</div><p>Sections: {esc(sections)}</p>'
                   f"{links}</div>")
    runs = []
    for r in data["runs"]:
        report = f"{base}/runs/{quote(r['ref'], safe='')}/report"
        link = f'<a href="{esc(url_for(request, report))}">report</a>' if r["has_report"] else ""
        runs.append(f'<tr><td>{esc(r["business_date"])}</td><td>{esc(r["run_id"] or "on-demand audit")}</td>'
                    f'<td>{esc(r["status"])}</td><td>{esc(r["totals"].get("breaches", ""))}</td>'
                    f'<td>{esc(r["created_at"])}</td><td>{link}</td></tr>')
    trend = [f'<tr data-night="{esc(t["business_date"])}"><td>{esc(t["business_date"])}</td>'
             f'<td>{esc(t["abs_variance_units"])}</td><td>{esc(t["pairs"])}</td><td>{esc(t["breaches"])}</td></tr>'
             for t in data["trend"]]
    drifts = [f'<tr><td>{esc(d["level"])}</td><td>{esc(d["key"])}</td><td>{esc(d["nights"])}</td>'
              f'<td>{"yes" if d["growing"] else "no"}</td><td>{esc(d["summary"])}</td>'
              f'<td><a class="exception-link" href="{esc(url_for(request, "/exceptions/" + str(d["exception_id"])))}">'
              f'#{d["exception_id"]}</a></td></tr>' for d in data["drift_trends"]]
    allowed = _may_act(dashboard, viewer, name)
    disabled = "" if allowed else " disabled"
    proposals = [f'<tr data-proposal-id="{p["id"]}" data-state="{esc(p["state"])}"><td><input type="checkbox" '
                 f'name="ids" value="{p["id"]}" aria-label="proposal {p["id"]}"{disabled}></td><td>{p["id"]}</td>'
                 f'<td>{esc(p["business_date"])}</td><td>{esc(p["sku"])}</td><td>{esc(p["location"])}</td>'
                 f'<td>{esc(p["erp_on_hand"])}</td><td>{esc(p["set_to"])}</td><td>{p["change"]:+d}</td>'
                 f'<td>{"yes" if p["breach"] else "no"}</td><td>{esc(p["state"])}</td><td>{esc(p["error"])}</td></tr>'
                 for p in data["open_proposals"]]
    more = ""
    if data["open_proposal_count"] > len(data["open_proposals"]):
        more = (f'<p>{len(data["open_proposals"])} of {data["open_proposal_count"]} open proposals shown (breaches '
                "first); use <code>erp-wms-sync reconcile</code> for the rest.</p>")
    empty = ("BlueCherry gets no proposals: the inventory push sets its availability from Peoplevox every run."
             if bluecherry else "no proposal waiting")
    note = "" if allowed else f'<p class="msg err">{esc(viewer.name)} may look but not approve or reject.</p>'
    form = (f'<form class="proposals" method="post" action="{esc(url_for(request, base + "/proposals"))}">'
            f"{csrf_input(request)}{more}"
            + _table('class="proposal-table"', ["", "Id", "Night", "SKU", "Location", "ERP holds", "Set to",
                                                "Change", "Breach", "State", "Last error"], proposals, empty)
            + f'<p class="filters"><label>Note<br><input name="note" size="48" maxlength="500"{disabled}></label>'
              f'<button class="approve" type="submit" name="decision" value="approve"{disabled}>Approve and apply'
              f'</button><button class="reject" type="submit" name="decision" value="reject"{disabled}>Reject</button>'
              f"</p>{note}</form>")
    decided = [f'<tr data-proposal-id="{p["id"]}"><td>{p["id"]}</td><td>{esc(p["sku"])}</td>'
               f'<td>{esc(p["location"])}</td><td>{p["change"]:+d}</td><td>{esc(p["state"])}</td>'
               f'<td>{esc(p["decided_by"])}</td><td>{esc(p["decided_at"])}</td><td>{esc(p["note"])}</td>'
               f'<td>{esc(p["adjustment_ref"])}</td></tr>' for p in data["decided_proposals"]]
    return (f'<section class="recon" id="recon-{esc(name)}" data-integration="{esc(name)}"><h2>{esc(label)}</h2>'
            f"<h3>Latest run</h3>{summary}"
            f"<h3>Variance per night (last {vq.TREND_NIGHTS})</h3>"
            + _table('class="trend"', ["Night", "Total absolute variance (units)", "Pairs differing", "Breaches"],
                     trend, "no compared night yet")
            + "<h3>Drift trends</h3>"
            + _table('class="drift-trends"', ["Level", "Key", "Nights off", "Growing", "Summary", "Exception"],
                     drifts, "no drift trend")
            + "<h3>Proposed stock adjustments</h3>" + form
            + "<h3>Recently decided</h3>"
            + _table('class="decided-proposals"', ["Id", "SKU", "Location", "Change", "State", "By", "When",
                                                   "Note", "Adjustment"], decided, "none yet")
            + "<h3>Recent runs</h3>"
            + _table('class="runs"', ["Night", "Run", "Status", "Breaches", "Started", ""], runs, "none")
            + "</section>")


def decide_proposals(dashboard: Dashboard, viewer: Viewer, integration: str, ids: list[int], decision: str,
                     note: str | None) -> dict[str, Any]:
    """Approve (and apply) or reject proposals as ``erp-wms-sync reconcile`` does, then record one dashboard action
    per proposal. Call :meth:`Dashboard.require_actor` first. Returns ``{"ok", "exit_code", "lines",
    "proposals"}``; ``lines`` are what the command printed."""
    from erp_wms_sync.ledger.dashboard_repo import record_action
    from erp_wms_sync.reconcile_cli import decide_and_apply

    found = dashboard.integration(integration)
    state = DECISIONS[decision]
    url = dashboard.ledger_url()
    with dashboard.session() as session:
        before = vq.proposal_states(session, integration, ids)
    out = io.StringIO()
    try:
        erp = None
        if state == "approved":
            if dashboard.clients is None:
                raise RuntimeError("no ERP client is configured for the dashboard")
            erp = dashboard.clients(found, "erp")
        code = decide_and_apply(found, url, erp, ids, state, by=viewer.name, note=note or None, out=out)
    except Exception as exc:  # the decision may be half done: what the ledger says is reported below
        log.warning("%s: %s of proposals %s by %s failed: %s", integration, decision, ids, viewer.name,
                    type(exc).__name__)
        print(f"{decision} failed: {type(exc).__name__}: {exc}", file=out)
        code = 1
    lines = [line.strip() for line in out.getvalue().splitlines() if line.strip()]
    with dashboard.session() as session:
        after = vq.proposal_states(session, integration, ids)
        for proposal_id in ids:
            now = after.get(proposal_id)
            was = before.get(proposal_id)
            if now is None:
                outcome = "unknown proposal"
            elif was is None or was["state"] not in ("pending", "failed"):
                outcome = f"not open ({was['state'] if was else now['state']}): left as it was"
            else:
                outcome = now["state"] + (f" as {now['adjustment_ref']}" if now["state"] == "applied" and
                                          now["adjustment_ref"] else "") + (f": {now['error']}" if now["error"] and
                                                                            now["state"] == "failed" else "")
            record_action(session, user=viewer.name, integration=integration, action=decision,
                          target_type="proposal", target_id=proposal_id, outcome=dashboard.redact(outcome),
                          detail={"note": note or None, "exit_code": code,
                                  **({k: now[k] for k in ("sku", "location", "set_to", "change")} if now else {})})
    return {"ok": code == 0, "exit_code": code, "lines": [dashboard.redact(line) for line in lines],
            "proposals": [after[i] for i in ids if i in after]}


def _parse_ids(values: list[Any]) -> list[int]:
    ids: list[int] = []
    for value in values:
        text = str(value).strip()
        if not text.isdigit() or len(text) > 18:
            raise ValueError(f"{text[:40]!r} is not a proposal id")
        ids.append(int(text))
    return list(dict.fromkeys(ids))


def _report_folder(dashboard: Dashboard, integration: str, ref: str) -> Path:
    dashboard.integration(integration)
    with dashboard.session() as session:
        run = vq.run_for_report(session, integration, ref)
        if run is None:
            raise HTTPException(404, f"no reconciliation run {ref} for {integration}")
        folder, status, date = run.report_path, run.status, run.business_date
    if not folder:
        raise HTTPException(404, f"the reconciliation run {ref} of {integration} ({date}, {status}) wrote no report")
    path = Path(folder)
    if not path.is_dir():
        raise HTTPException(404, f"the report folder of reconciliation run {ref} of {integration} ({date}) is "
                                 "missing on this server: it was deleted, or the reports directory "
                                 "(ERP_WMS_REPORTS_DIR) is not shared with the API server")
    return path


# --- data checks and activity -----------------------------------------------------------------------------------
def _checks_html(request: Request, dashboard: Dashboard, params: dict[str, Any], flows: list[str],
                 result: vq.CheckPage, page_no: int) -> str:
    form = (f'<form id="check-filters" class="filters" method="get" action="{esc(url_for(request, "/checks"))}">'
            f'<label>Integration<br><select name="integration">'
            f'{_integration_options(dashboard, params["integration"])}</select></label>'
            f'<label>Flow<br><select name="flow">'
            f'{_options([("", "all flows")] + [(f, f) for f in flows], params["flow"])}'
            f'</select></label><label><input type="checkbox" name="failed" value="1"'
            f'{" checked" if params["failed"] else ""}> failed only</label>'
            f'<button id="apply-filters" type="submit">Apply</button></form>')
    rows = []
    for r in result.rows:
        run = (f'<a class="run-link" href="{esc(_airflow_run(dashboard, r["integration"], r["flow"], r["run_id"]))}" '
               f'target="_top">{esc(r["run_id"])}</a>' if r["run_id"] else "")
        failed = "; ".join(
            f'{c["reason"]}{(" [" + str(c["column"]) + "]") if c["column"] else ""}: {c["unexpected_count"]} '
            f'unexpected{(" e.g. " + ", ".join(map(str, c["sample"]))) if c["sample"] else ""}'
            for c in r["failed_checks"])
        rows.append(f'<tr data-check-id="{r["id"]}" data-success="{"true" if r["success"] else "false"}">'
                    f'<td>{esc(r["integration"])}</td><td>{esc(r["flow"])}</td><td>{esc(r["suite"])}</td>'
                    f'<td>{run}</td><td><span class="badge {"resolved" if r["success"] else "open"}">'
                    f'{"passed" if r["success"] else "failed"}</span></td><td>{esc(r["evaluated"])}</td>'
                    f'<td>{esc(r["failed_records"])}</td><td>{esc(failed or "all checks passed")}</td>'
                    f'<td>{esc(r["created_at"])}</td></tr>')
    return (form + f'<p id="total">{result.total} results</p>'
            + _table('id="check-results"', ["Integration", "Flow", "Suite", "Run", "Success", "Evaluated",
                                            "Failed records", "Summary", "When (UTC)"], rows,
                     "no data-check result matches")
            + _pager(request, "/checks", params, page_no, result.has_next))


def _action(row: Any) -> dict[str, Any]:
    return {"id": row.id, "at": vq.iso(row.at), "user": row.user, "integration": row.integration,
            "action": row.action, "target_type": row.target_type, "target_id": row.target_id,
            "outcome": row.outcome, "detail": row.detail}


def _target_html(request: Request, a: dict[str, Any]) -> str:
    kind, key = a["target_type"], a["target_id"]
    if kind == "exception" and str(key).isdigit():
        return (f'<a class="exception-link" href="{esc(url_for(request, "/exceptions/" + str(key)))}">'
                f"exception #{esc(key)}</a>")
    if kind == "order":
        return (f'<a href="{esc(_link(request, "/orders", {"integration": a["integration"], "q": key}))}">'
                f"order {esc(key)}</a>")
    return f"{esc(kind)} {esc(key)}"


# --- routes -----------------------------------------------------------------------------------------------------
def register(app: FastAPI, dashboard: Dashboard) -> None:
    """Add the order, reconciliation, data-check and activity routes (pages and /api/ twins) to ``app``."""

    @app.get("/orders")
    def orders_page(request: Request, viewer: ViewerDep, integration: str = "", q: str = "") -> Response:
        integration = _known_integration(dashboard, integration)
        found = order_lookup(dashboard, integration, q) if q.strip() else None
        return dashboard.html(page(request, viewer, "Orders", _order_html(request, dashboard, integration, q, found)))

    @app.get("/api/orders")
    def orders_api(viewer: ViewerDep, integration: str = "", q: str = "") -> Response:
        integration = _known_integration(dashboard, integration)
        if not q.strip():
            raise HTTPException(400, "say which order: q= the ERP order number, ERP id or Peoplevox number")
        found = order_lookup(dashboard, integration, q)
        return dashboard.json({**found, "found": bool(found["matches"])})

    @app.get("/reconciliation")
    def reconciliation_page(request: Request, viewer: ViewerDep, msg: str = "", kind: str = "ok") -> Response:
        sections = []
        with dashboard.session() as session:
            for name, integration in sorted(dashboard.integrations().items()):
                data = vq.reconciliation_overview(session, name)
                sections.append(_recon_html(request, dashboard, viewer, name, integration.label, data,
                                            integration.erp.kind.value == "bluecherry"))
        message, message_kind = _message(msg, kind)
        body = "".join(sections) or "<p>No integration is configured.</p>"
        return dashboard.html(page(request, viewer, "Reconciliation", body, message=message,
                                   message_kind=message_kind))

    @app.get("/api/reconciliation")
    def reconciliation_api(viewer: ViewerDep, integration: str = "") -> Response:
        integration = _known_integration(dashboard, integration)
        names = [integration] if integration else sorted(dashboard.integrations())
        with dashboard.session() as session:
            return dashboard.json({name: vq.reconciliation_overview(session, name) for name in names})

    @app.post("/reconciliation/{integration}/proposals", dependencies=ACTING)
    async def proposals_form(request: Request, integration: str, viewer: ViewerDep) -> Response:
        dashboard.integration(integration)
        dashboard.require_actor(viewer, integration)
        form = await request.form()
        decision = str(form.get("decision") or "")
        note = str(form.get("note") or "").strip()[:500]
        back = url_for(request, "/reconciliation")
        try:
            ids = _parse_ids(list(form.getlist("ids")))
            if decision not in DECISIONS:
                raise ValueError("choose Approve or Reject")
            if not ids:
                raise ValueError("tick at least one proposal first")
        except ValueError as exc:
            return _redirect(dashboard, back, str(exc), "err", integration)
        result = await run_in_threadpool(decide_proposals, dashboard, viewer, integration, ids, decision, note)
        text = "; ".join(result["lines"]) or f"nothing was {DECISIONS[decision]}"
        return _redirect(dashboard, back, text, "ok" if result["ok"] else "err", integration)

    @app.post("/api/reconciliation/{integration}/proposals", dependencies=ACTING)
    async def proposals_api(request: Request, integration: str, viewer: ViewerDep) -> Response:
        dashboard.integration(integration)
        dashboard.require_actor(viewer, integration)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise HTTPException(400, "the body must be JSON: {\"ids\": [..], \"decision\": "
                                     "\"approve\"|\"reject\", \"note\": \"..\"}") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "the body must be a JSON object")
        decision = str(body.get("decision") or "")
        raw_ids = body.get("ids")
        note = body.get("note")
        if decision not in DECISIONS:
            raise HTTPException(400, "decision must be approve or reject")
        if not isinstance(raw_ids, list) or not raw_ids:
            raise HTTPException(400, "ids must be a non-empty list of proposal ids")
        if note is not None and not isinstance(note, str):
            raise HTTPException(400, "note must be text")
        try:
            ids = _parse_ids([i if not isinstance(i, bool) else "x" for i in raw_ids])
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        result = await run_in_threadpool(decide_proposals, dashboard, viewer, integration, ids, decision,
                                         (note or "").strip()[:500])
        return dashboard.json(result)

    @app.get("/reconciliation/{integration}/runs/{run_ref}/report")
    def report_html(integration: str, run_ref: str, viewer: ViewerDep) -> Response:
        path = _report_folder(dashboard, integration, run_ref) / "report.html"
        if not path.is_file():
            raise HTTPException(404, f"the report folder of run {run_ref} of {integration} has no report.html")
        response = dashboard.html(path.read_text(encoding="utf-8", errors="replace"))
        response.headers["Content-Security-Policy"] = REPORT_CSP
        return response

    @app.get("/reconciliation/{integration}/runs/{run_ref}/report/{name}.csv")
    def report_csv(integration: str, run_ref: str, name: str, viewer: ViewerDep) -> Response:
        if name not in CSV_NAMES:
            raise HTTPException(404, f"a report has no {name[:40]}.csv: one of {', '.join(CSV_NAMES)}")
        path = _report_folder(dashboard, integration, run_ref) / f"{name}.csv"
        if not path.is_file():
            raise HTTPException(404, f"the report folder of run {run_ref} of {integration} has no {name}.csv")
        return dashboard.csv(path.read_text(encoding="utf-8", errors="replace"),
                             f"{integration}-{run_ref}-{name}.csv".replace('"', "_"))

    def check_query(integration: str, flow: str, failed: str,
                    page_no: int) -> tuple[dict[str, Any], vq.CheckPage, list[str]]:
        integration = _known_integration(dashboard, integration)
        params = {"integration": integration, "flow": flow[:64],
                  "failed": "1" if failed in ("1", "true", "on") else ""}
        with dashboard.session() as session:
            result = vq.check_results(session, integration=integration or None, flow=params["flow"] or None,
                                      failed_only=bool(params["failed"]), page=page_no, page_size=PAGE_SIZE)
            flows = vq.check_flows(session, integration or None)
        return params, result, flows

    @app.get("/checks")
    def checks_page(request: Request, viewer: ViewerDep, integration: str = "", flow: str = "",
                    failed: str = "") -> Response:
        number = _page_param(request)
        params, result, flows = check_query(integration, flow, failed, number)
        return dashboard.html(page(request, viewer, "Data checks",
                                   _checks_html(request, dashboard, params, flows, result, number)))

    @app.get("/api/checks")
    def checks_api(request: Request, viewer: ViewerDep, integration: str = "", flow: str = "",
                   failed: str = "") -> Response:
        number = _page_param(request)
        params, result, _ = check_query(integration, flow, failed, number)
        return dashboard.json({**params, "page": number, "page_size": PAGE_SIZE, "total": result.total,
                               "has_next": result.has_next, "results": result.rows})

    def activity_query(integration: str, page_no: int) -> tuple[list[dict[str, Any]], bool]:
        from erp_wms_sync.ledger.dashboard_repo import actions

        with dashboard.session() as session:
            rows = actions(session, integration=integration or None, limit=PAGE_SIZE + 1,
                           offset=(page_no - 1) * PAGE_SIZE)
            found = [_action(r) for r in rows]
        return found[:PAGE_SIZE], len(found) > PAGE_SIZE

    @app.get("/activity")
    def activity_page(request: Request, viewer: ViewerDep, integration: str = "") -> Response:
        integration = _known_integration(dashboard, integration)
        number = _page_param(request)
        rows, has_next = activity_query(integration, number)
        form = (f'<form id="activity-filters" class="filters" method="get" '
                f'action="{esc(url_for(request, "/activity"))}"><label>Integration<br><select name="integration">'
                f'{_integration_options(dashboard, integration)}</select></label>'
                f'<button id="apply-filters" type="submit">Apply</button></form>')
        body = [f'<tr data-action-id="{a["id"]}"><td>{esc(a["at"])}</td><td>{esc(a["user"])}</td>'
                f'<td>{esc(a["integration"])}</td><td>{esc(a["action"])}</td><td>{_target_html(request, a)}</td>'
                f'<td>{esc(a["outcome"])}</td></tr>' for a in rows]
        html_body = (form + _table('id="activity"', ["When (UTC)", "Who", "Integration", "Action", "Target",
                                                     "Outcome"], body, "nobody has acted yet")
                     + _pager(request, "/activity", {"integration": integration}, number, has_next))
        return dashboard.html(page(request, viewer, "Activity", html_body))

    @app.get("/api/activity")
    def activity_api(request: Request, viewer: ViewerDep, integration: str = "") -> Response:
        integration = _known_integration(dashboard, integration)
        number = _page_param(request)
        rows, has_next = activity_query(integration, number)
        return dashboard.json({"integration": integration, "page": number, "page_size": PAGE_SIZE,
                               "has_next": has_next, "actions": rows})


def _page_param(request: Request) -> int:
    """The ``page`` query parameter (1 when absent or not a positive number)."""
    text = request.query_params.get("page", "1").strip()
    return max(int(text), 1) if text.isdigit() and len(text) < 7 else 1


def _redirect(dashboard: Dashboard, back: str, message: str, kind: str, integration: str) -> RedirectResponse:
    query = urlencode({"msg": dashboard.redact(message)[:MAX_MESSAGE], "kind": kind})
    return RedirectResponse(f"{back}?{query}#recon-{quote(integration, safe='')}", status_code=303)
