"""The exceptions pages and API of the dashboard: the filtered list (counts, paging, CSV export, bulk actions) and
one exception's detail (payload, failed checks, history, actions: retry now, resolve with a note, edit and retry).

Pages: ``GET /`` and ``/exceptions`` (the list), ``GET /exceptions.csv`` (the filtered list, every matching row up
to :data:`CSV_LIMIT`, streamed), ``GET /exceptions/{id}``; forms ``POST /exceptions/bulk``,
``/exceptions/{id}/retry``, ``/resolve``, ``/edit`` (303 back to the page with the outcome; 400/409 re-render the
page with the error). API: ``GET /api/exceptions`` (``page``, ``page_size`` up to 500), ``/api/exceptions/counts``,
``/api/exceptions/{id}``; ``POST /api/exceptions/bulk`` (``{"action": "retry"|"resolve", "ids": [...], "note":
...}``), ``/api/exceptions/{id}/retry``, ``/resolve`` (``{"note": ...}``), ``/edit`` (``{"payload": {...}}``).

Retry now runs the exception's handler at once (:func:`erp_wms_sync.flows.exception_housekeeping.retry_now`, the
housekeeping DAG's own): ``closed`` — the cause is gone; ``failing`` — checked, still wrong, an attempt is counted;
``left`` — the flow that raised it re-runs the record itself at its next run. Every action is recorded
(:func:`erp_wms_sync.ledger.dashboard_repo.record_action`) with who did it.

The handlers do their ledger queries and vendor calls on FastAPI's thread pool, never on the event loop: the app
is mounted in Airflow's API server, whose loop also answers every running task's execution API calls and the
webhook receiver, so one slow retry (a vendor taking its time) must not hold up anything but itself.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from erp_wms_sync.dashboard import exception_queries as eq
from erp_wms_sync.dashboard.web import (
    Dashboard,
    Viewer,
    authenticated,
    check_csrf,
    csrf_input,
    esc,
    mask_secret_fields,
    page,
    url_for,
)
from erp_wms_sync.ledger import dashboard_repo
from erp_wms_sync.ledger.models import ExceptionAttempt, ExceptionRecord

__all__ = ["BULK_LIMIT", "CSV_LIMIT", "register"]

log = logging.getLogger(__name__)
BULK_LIMIT = 500
CSV_LIMIT = 100_000
CSV_CHUNK = 1000
MAX_NOTE = 2000
EXPLAIN = {
    "closed": "closed: the cause is gone",
    "failing": "still failing: an attempt is counted and housekeeping retries it on its schedule",
    "left": "left: the flow that raised it retries it at its next run",
}
CSV_COLUMNS = eq.EXPORT_COLUMNS
STATUS_LABELS = {"open": "open (parked included)", "parked": "parked", "resolved": "resolved", "all": "all"}
AGE_LABELS = {"any": "any age", "1h": "older than 1 hour", "24h": "older than 24 hours", "7d": "older than 7 days"}


# ---- outcomes of actions ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    """What an action did to one exception: ``outcome`` (closed | failing | left | resolved | unknown | not_open |
    error) and a sentence for the user."""

    id: int | str
    outcome: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "outcome": self.outcome, "message": self.message}


def _edits() -> ModuleType | None:
    """The edit-and-retry module, when installed (every type is not editable without it)."""
    try:
        return importlib.import_module("erp_wms_sync.dashboard.edits")
    except ModuleNotFoundError as exc:
        if exc.name == "erp_wms_sync.dashboard.edits":
            return None
        raise


def edit_spec(row: ExceptionRecord) -> Any | None:
    """The :class:`EditSpec` of this exception when it is open and its type can be edited, else None."""
    if row.status != "open":
        return None
    module = _edits()
    if module is None:
        return None
    try:
        return module.editable(row)
    except Exception as exc:  # a broken rule must not take the page down
        log.warning("editable() failed for exception %s: %s", row.id, type(exc).__name__)
        return None


def _clean_ids(raw: Any) -> tuple[list[int], list[Result]]:
    """Distinct integer ids in order, and a result for each value that is not one."""
    values = raw if isinstance(raw, list | tuple) else [raw]
    ids: list[int] = []
    bad: list[Result] = []
    for value in values:
        try:
            number = int(str(value).strip())
        except (TypeError, ValueError):
            bad.append(Result(str(value)[:40], "unknown", "not an exception id"))
            continue
        if number not in ids:
            ids.append(number)
    return ids, bad


def _load(dashboard: Dashboard, ids: list[int]) -> dict[int, tuple[str, str]]:
    """id → (integration, status) of the exceptions that exist."""
    if not ids:
        return {}
    with dashboard.session() as session:
        rows = session.execute(select(ExceptionRecord.id, ExceptionRecord.integration, ExceptionRecord.status)
                               .where(ExceptionRecord.id.in_(ids)))
        return {int(i): (str(integration), str(status)) for i, integration, status in rows}


def _authorise(dashboard: Dashboard, viewer: Viewer, integrations: set[str]) -> None:
    """403 unless the viewer may act on every integration concerned (on at least one, when none is)."""
    if integrations:
        for name in sorted(integrations):
            dashboard.require_actor(viewer, name)
        return
    names = sorted(dashboard.integrations())
    for name in names:
        try:
            dashboard.require_actor(viewer, name)
            return
        except HTTPException:
            continue
    raise HTTPException(403, f"{viewer.name} may look but not act")


def _needs_clients(types: set[str]) -> bool:
    from erp_wms_sync.flows.exception_housekeeping.retry import LEFT_TO_FLOW, RETRY_HANDLERS

    return any(t in RETRY_HANDLERS and t not in LEFT_TO_FLOW for t in types)


def _clients(dashboard: Dashboard, integration: Any) -> tuple[Any, Any, list[str]]:
    """The Peoplevox and ERP clients of an integration (None each when they cannot be built, with why)."""
    if dashboard.clients is None:
        return None, None, ["no vendor clients in this dashboard"]
    built: dict[str, Any] = {}
    notes: list[str] = []
    for kind in ("wms", "erp"):
        try:
            built[kind] = dashboard.clients(integration, kind)
        except Exception as exc:
            built[kind] = None
            notes.append(f"no {kind} client: {type(exc).__name__}: {exc}"[:300])
    return built["wms"], built["erp"], notes


def _retry_group(dashboard: Dashboard, name: str, ids: list[int], by: str) -> dict[int, Result]:
    """Retry the open exceptions ``ids`` of one integration now (those that close are closed by ``by``); a result
    for each."""
    from erp_wms_sync.domain.windows import Window
    from erp_wms_sync.flows.common import RunContext
    from erp_wms_sync.flows.exception_housekeeping import retry_now

    integration = dashboard.integrations().get(name)
    if integration is None:
        return {i: Result(i, "error", f"integration {name!r} is not configured here: nothing retried") for i in ids}
    now = datetime.now(UTC)
    run_id = f"manual__dashboard_{now:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"
    with dashboard.session() as session:
        info = {int(i): (str(t), str(f)) for i, t, f in session.execute(
            select(ExceptionRecord.id, ExceptionRecord.type, ExceptionRecord.flow)
            .where(ExceptionRecord.id.in_(ids)))}
    wms = erp = None
    notes: list[str] = []
    if _needs_clients({t for t, _ in info.values()}):
        wms, erp, notes = _clients(dashboard, integration)
    ctx = RunContext(integration, "exception_housekeeping", run_id, Window(None, now, "dashboard"),
                     dashboard.ledger_url())
    try:
        kinds = retry_now(ctx, ids, wms, erp, by=by)
    except Exception as exc:
        log.warning("retry of %s exceptions %s failed: %s", name, ids, type(exc).__name__)
        message = f"retry failed: {type(exc).__name__}: {exc}"[:500]
        return {i: Result(i, "error", message) for i in ids}
    with dashboard.session() as session:
        said: dict[int, str] = {}
        for attempt in session.scalars(select(ExceptionAttempt).where(
                ExceptionAttempt.exception_id.in_(ids), ExceptionAttempt.run_id == run_id)
                .order_by(ExceptionAttempt.id)):
            said[attempt.exception_id] = attempt.message or ""
    out: dict[int, Result] = {}
    for i in ids:
        kind = kinds.get(i)
        if kind is None:
            out[i] = Result(i, "not_open", "not open any more: nothing retried")
            continue
        flow = info.get(i, ("", "its flow"))[1]
        explain = EXPLAIN.get(kind, kind)
        if kind == "left":
            explain = f"left: {flow} retries it at its next run (nothing is counted here)"
        detail = said.get(i, "")
        extra = f" ({'; '.join(notes)})" if notes and kind != "closed" else ""
        out[i] = Result(i, kind, f"{explain}{' — ' + detail if detail else ''}{extra}"[:1000])
    return out


def retry(dashboard: Dashboard, viewer: Viewer, raw_ids: Any, *, bulk: bool = False) -> list[Result]:
    """Retry these exceptions now (403 before anything when the viewer may not act); one result per id given."""
    ids, bad = _clean_ids(raw_ids)
    known = _load(dashboard, ids)
    _authorise(dashboard, viewer, {known[i][0] for i in ids if i in known})
    results: dict[int, Result] = {}
    groups: dict[str, list[int]] = {}
    for i in ids:
        if i not in known:
            results[i] = Result(i, "unknown", "no exception with this id")
        elif known[i][1] != "open":
            results[i] = Result(i, "not_open", f"already {known[i][1]}: nothing retried")
        else:
            groups.setdefault(known[i][0], []).append(i)
    for name, group in groups.items():
        results.update(_retry_group(dashboard, name, group, viewer.name))
    with dashboard.session() as session:
        for i in ids:
            if i in known and known[i][1] == "open":
                r = results[i]
                dashboard_repo.record_action(session, user=viewer.name, integration=known[i][0], action="retry",
                                             target_type="exception", target_id=i,
                                             outcome=f"{r.outcome}: {r.message}",
                                             detail={"outcome": r.outcome, "bulk": bulk})
    return bad + [results[i] for i in ids]


def resolve(dashboard: Dashboard, viewer: Viewer, raw_ids: Any, note: str, *, bulk: bool = False) -> list[Result]:
    """Resolve these open exceptions with ``note`` (400 without one; 403 before anything when the viewer may not
    act), each recorded with who resolved it; one result per id given."""
    from erp_wms_sync.ledger import repo

    ids, bad = _clean_ids(raw_ids)
    known = _load(dashboard, ids)
    _authorise(dashboard, viewer, {known[i][0] for i in ids if i in known})
    note = (note or "").strip()[:MAX_NOTE]
    if not note:
        raise HTTPException(400, "a note is required to resolve: say what was done")
    results: list[Result] = []
    with dashboard.session() as session:
        for i in ids:
            if i not in known:
                results.append(Result(i, "unknown", "no exception with this id"))
                continue
            row = session.get(ExceptionRecord, i)
            if row is None:
                results.append(Result(i, "unknown", "no exception with this id"))
                continue
            if row.status != "open":
                results.append(Result(i, "not_open", f"already {row.status}: nothing changed"))
                continue
            repo.resolve_exception(session, i, by=viewer.name, note=note)
            dashboard_repo.record_action(session, user=viewer.name, integration=row.integration, action="resolve",
                                         target_type="exception", target_id=i, outcome="resolved",
                                         detail={"note": note, "bulk": bulk})
            results.append(Result(i, "resolved", f"resolved by {viewer.name}"))
    return bad + results


def bulk(dashboard: Dashboard, viewer: Viewer, action: str, raw_ids: Any, note: str) -> list[Result]:
    """Retry or resolve up to :data:`BULK_LIMIT` exceptions: one result per id (a bad id never stops the rest),
    and the bulk action itself recorded."""
    values = raw_ids if isinstance(raw_ids, list | tuple) else ([] if raw_ids in (None, "") else [raw_ids])
    if action not in ("retry", "resolve"):
        raise HTTPException(400, "action must be retry or resolve")
    if not values:
        raise HTTPException(400, "select at least one exception")
    if len(values) > BULK_LIMIT:
        raise HTTPException(400, f"at most {BULK_LIMIT} exceptions per bulk action ({len(values)} sent)")
    results = (retry(dashboard, viewer, list(values), bulk=True) if action == "retry"
               else resolve(dashboard, viewer, list(values), note, bulk=True))
    tally = _tally(results)
    with dashboard.session() as session:
        integrations = sorted({r.integration for r in session.scalars(select(ExceptionRecord).where(
            ExceptionRecord.id.in_([r.id for r in results if isinstance(r.id, int)])))})
        dashboard_repo.record_action(session, user=viewer.name, integration=",".join(integrations) or "-",
                                     action=f"bulk_{action}", target_type="exception",
                                     target_id=",".join(str(r.id) for r in results),
                                     outcome=", ".join(f"{n} {k}" for k, n in tally.items()),
                                     detail={"ids": [r.id for r in results], "outcomes": tally,
                                             **({"note": note.strip()[:MAX_NOTE]} if action == "resolve" else {})})
    return results


def _tally(results: list[Result]) -> dict[str, int]:
    tally: dict[str, int] = {}
    for r in results:
        tally[r.outcome] = tally.get(r.outcome, 0) + 1
    return tally


def _summary(action: str, results: list[Result]) -> tuple[str, str]:
    """A one-paragraph message for a redirect, and its kind (ok | err)."""
    tally = _tally(results)
    head = f"{'Retried' if action == 'retry' else 'Resolved'} {len(results)}: " + ", ".join(
        f"{n} {k.replace('_', ' ')}" for k, n in tally.items()) + "."
    if tally.get("left"):
        head += " Left = the flow that raised it retries it at its next run."
    shown = [f"#{r.id} {r.message}" for r in results[:20]]
    more = f" … and {len(results) - 20} more" if len(results) > 20 else ""
    ok = not (set(tally) - {"closed", "resolved", "left"})
    return (head + " " + " · ".join(shown) + more)[:1800], "ok" if ok else "err"


# ---- serialisation ------------------------------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def item(request: Request, row: ExceptionRecord) -> dict[str, Any]:
    """One exception of the list, as JSON."""
    return {"id": row.id, "integration": row.integration, "flow": row.flow, "type": row.type, "owner": row.owner,
            "status": eq.state(row), "entity_type": row.entity_type, "entity_key": row.entity_key,
            "summary": row.summary, "attempts": row.attempts, "first_seen": _iso(row.first_seen),
            "last_seen": _iso(row.last_seen), "next_retry_at": _iso(row.next_retry_at),
            "parked_at": _iso(row.parked_at), "resolved_at": _iso(row.resolved_at), "resolved_by": row.resolved_by,
            "run_id": row.run_id, "url": url_for(request, f"/exceptions/{row.id}")}


def run_link(dashboard: Dashboard, row: ExceptionRecord) -> str | None:
    """The Airflow UI page of the DAG run that raised (or last saw) the exception."""
    if not row.run_id:
        return None
    dag_id = f"{row.integration}__{row.flow}"
    return f"{dashboard.airflow_base.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(row.run_id, safe='')}"


def order_link(request: Request, row: ExceptionRecord) -> str | None:
    if row.entity_type != "order":
        return None
    return url_for(request, "/orders") + "?" + urlencode({"integration": row.integration, "q": row.entity_key})


def detail_json(request: Request, dashboard: Dashboard, found: eq.Detail) -> dict[str, Any]:
    row = found.row
    spec = edit_spec(row)
    return {**item(request, row), "payload": mask_secret_fields(row.payload), "detail": mask_secret_fields(row.detail),
            "resolution_note": row.resolution_note,
            "attempt_history": [{"at": _iso(a.at), "outcome": a.outcome, "message": a.message, "run_id": a.run_id}
                                for a in found.attempts],
            "failed_checks": [{"suite": c.suite, "run_id": c.run_id, "evaluated": c.evaluated,
                               "failed_records": c.failed_records, "summary": mask_secret_fields(c.summary),
                               "at": _iso(c.created_at)} for c in found.checks],
            "actions": [{"at": _iso(a.at), "user": a.user, "action": a.action, "outcome": a.outcome}
                        for a in found.actions],
            "links": {"run": run_link(dashboard, row), "order": order_link(request, row)},
            "editable": None if spec is None else {"fields": mask_secret_fields(spec.fields), "help": spec.help}}


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else (value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_rows(rows: list[Any]) -> str:
    """CSV lines of exported rows (:data:`~erp_wms_sync.dashboard.exception_queries.EXPORT_COLUMNS`), ``status``
    showing ``parked``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    status = CSV_COLUMNS.index("status")
    for row in rows:
        values = [_cell(value) for value in row]
        values[status] = eq.state(row)
        writer.writerow(values)
    return out.getvalue()


# ---- HTML ---------------------------------------------------------------------------------------------------------
def _options(values: list[str], chosen: str, labels: Mapping[str, str] | None = None, any_label: str = "") -> str:
    opts = [f'<option value="">{esc(any_label)}</option>'] if any_label else []
    if chosen and chosen not in values:
        values = [*values, chosen]
    for value in values:
        label = (labels or {}).get(value, value)
        opts.append(f'<option value="{esc(value)}"{" selected" if value == chosen else ""}>{esc(label)}</option>')
    return "".join(opts)


def _link(request: Request, path: str, params: Mapping[str, Any]) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return url_for(request, path) + (f"?{query}" if query else "")


def _badge(status: str) -> str:
    return f'<span class="badge {esc(status)}">{esc(status)}</span>'


def _counts_table(request: Request, table_id: str, heading: str, key: str, counts: list[tuple[str, int]],
                  filters: eq.Filters) -> str:
    rows = "".join(
        f'<tr><td><a href="{esc(_link(request, "/exceptions", {**filters.query_params(), key: value, "page": ""}))}">'
        f'{esc(value)}</a></td><td>{n:,}</td></tr>' for value, n in counts) or '<tr><td colspan="2">none</td></tr>'
    return (f'<table id="{table_id}" class="counts"><thead><tr><th>{esc(heading)}</th><th>open</th></tr></thead>'
            f'<tbody>{rows}</tbody></table>')


def list_body(request: Request, dashboard: Dashboard, filters: eq.Filters, page_no: int) -> str:
    """The exceptions list: filters, open counts, the page of rows with bulk actions, paging and export."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with dashboard.session() as session:
        found = eq.list_page(session, filters, page_no, eq.PAGE_SIZE, now)
        counts = eq.open_counts(session, filters.integration)
        values = eq.filter_values(session, list(dashboard.integrations()))
    params = filters.query_params()
    form = (f'<form id="filters" class="filters" method="get" action="{esc(url_for(request, "/exceptions"))}">'
            f'<label>Integration<br><select name="integration">'
            f'{_options(values.integrations, filters.integration, any_label="all integrations")}</select></label>'
            f'<label>Type<br><select name="type">{_options(values.types, filters.type, any_label="all types")}'
            f'</select></label>'
            f'<label>Owner<br><select name="owner">{_options(values.owners, filters.owner, any_label="all owners")}'
            f'</select></label>'
            f'<label>Status<br><select name="status">{_options(list(eq.STATUSES), filters.status, STATUS_LABELS)}'
            f'</select></label>'
            f'<label>Age<br><select name="age">{_options(list(eq.AGES), filters.age, AGE_LABELS)}</select></label>'
            f'<label>Text<br><input type="search" name="q" value="{esc(filters.q)}" maxlength="{eq.MAX_QUERY}" '
            f'placeholder="summary, entity, type"></label>'
            f'<button id="apply-filters" type="submit">Apply</button>'
            f'<a href="{esc(url_for(request, "/exceptions"))}">clear</a></form>')
    scope = f" of {filters.integration}" if filters.integration else ""
    by_owner = _counts_table(request, "counts-by-owner", "Owner", "owner", counts.by_owner, filters)
    by_type = _counts_table(request, "counts-by-type", "Type", "type", counts.by_type, filters)
    counts_html = (f'<section id="counts"><h2>Open exceptions{esc(scope)}: {counts.total:,}</h2><div class="cards">'
                   f'<div class="card">{by_owner}</div><div class="card">{by_type}</div></div></section>')
    rows = []
    for row in found.rows:
        detail_url = url_for(request, f"/exceptions/{row.id}")
        rows.append(
            f'<tr data-exception-id="{row.id}"><td><input type="checkbox" name="ids" value="{row.id}" '
            f'aria-label="select exception {row.id}"> <a class="exception-link" href="{esc(detail_url)}">#{row.id}</a>'
            f'</td><td>{esc(row.integration)}</td><td>{esc(row.type)}</td><td>{esc(row.owner)}</td>'
            f'<td>{esc(row.entity_type)} {esc(row.entity_key)}</td><td>{esc(row.summary)}</td>'
            f'<td title="first seen {esc(_iso(row.first_seen))} UTC">{esc(eq.age_text(row.first_seen, now))}</td>'
            f'<td>{row.attempts}</td><td>{_badge(eq.state(row))}</td></tr>')
    body_rows = "".join(rows) or '<tr><td colspan="9" id="no-exceptions">No exception matches these filters.</td></tr>'
    back = urlencode({**params, "page": found.page})
    table = (f'<form id="bulk" method="post" action="{esc(url_for(request, "/exceptions/bulk"))}">'
             f'{csrf_input(request)}<input type="hidden" name="back" value="{esc(back)}">'
             f'<table id="exceptions"><thead><tr><th><input type="checkbox" id="select-all" aria-label="select all" '
             f'onclick="for(const b of document.querySelectorAll(\'input[name=ids]\'))b.checked=this.checked"> id</th>'
             f'<th>integration</th><th>type</th><th>owner</th><th>entity</th><th>summary</th><th>age</th>'
             f'<th>attempts</th><th>status</th></tr></thead><tbody>{body_rows}</tbody></table>'
             f'<p class="filters"><label>Note (required to resolve)<br><input id="bulk-note" name="note" size="50" '
             f'maxlength="{MAX_NOTE}"></label>'
             f'<button id="bulk-retry" name="action" value="retry" type="submit">Retry selected now</button>'
             f'<button id="bulk-resolve" name="action" value="resolve" type="submit">Resolve selected</button>'
             f'<span>at most {BULK_LIMIT} at a time</span></p></form>')
    prev = (f'<a id="prev-page" href="{esc(_link(request, "/exceptions", {**params, "page": found.page - 1}))}">'
            f'← previous</a>' if found.page > 1 else '<a id="prev-page" aria-disabled="true">← previous</a>')
    nxt = (f'<a id="next-page" href="{esc(_link(request, "/exceptions", {**params, "page": found.page + 1}))}">'
           f'next →</a>' if found.page < found.pages else '<a id="next-page" aria-disabled="true">next →</a>')
    paging = (f'<p class="paging">{prev} <span id="page-info">page {found.page:,} of {found.pages:,}</span> {nxt} · '
              f'<a id="export-csv" href="{esc(_link(request, "/exceptions.csv", params))}">export CSV</a> '
              f'(all matching rows, up to {CSV_LIMIT:,})</p>')
    total = f'<p><strong id="total">{found.total:,} exceptions</strong></p>'
    return form + counts_html + total + table + paging


def _table(table_id: str, headings: tuple[str, ...], rows: list[str], empty: str) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headings)
    body = "".join(rows) or f'<tr><td colspan="{len(headings)}">{esc(empty)}</td></tr>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _pretty(value: Any) -> str:
    return json.dumps(mask_secret_fields(value), indent=2, ensure_ascii=False, default=str, sort_keys=True)


def detail_body(request: Request, dashboard: Dashboard, found: eq.Detail, edit_text: str | None = None) -> str:
    """One exception: summary, status, facts, links, payload, failed checks, history, actions and the forms."""
    row = found.row
    status = eq.state(row)
    facts = [("Integration", row.integration), ("Flow", row.flow), ("Type", row.type), ("Owner", row.owner),
             ("Entity", f"{row.entity_type} {row.entity_key}"), ("Attempts", row.attempts),
             ("First seen (UTC)", _iso(row.first_seen)), ("Last seen (UTC)", _iso(row.last_seen)),
             ("Next retry (UTC)", _iso(row.next_retry_at) if row.status == "open" else None),
             ("Parked (UTC)", _iso(row.parked_at)), ("Resolved (UTC)", _iso(row.resolved_at)),
             ("Resolved by", row.resolved_by), ("Resolution note", row.resolution_note), ("Run", row.run_id)]
    facts_html = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts if v not in (None, ""))
    links = []
    run = run_link(dashboard, row)
    if run:
        links.append(f'<a id="run-link" href="{esc(run)}" target="_top">Airflow run of {esc(row.integration)}__'
                     f'{esc(row.flow)} ({esc(row.run_id)}) and its task logs</a>')
    order = order_link(request, row)
    if order:
        links.append(f'<a id="order-link" href="{esc(order)}">where order {esc(row.entity_key)} stands</a>')
    checks = [f"<tr><td>{esc(c.suite)}</td><td>{esc(_iso(c.created_at))}</td><td>{c.evaluated:,}</td>"
              f"<td>{c.failed_records:,}</td><td><pre>{esc(_pretty(c.summary))}</pre></td></tr>" for c in found.checks]
    attempts = [f"<tr><td>{esc(_iso(a.at))}</td><td>{esc(a.outcome)}</td><td>{esc(a.message)}</td>"
                f"<td>{esc(a.run_id)}</td></tr>" for a in found.attempts]
    actions = [f"<tr><td>{esc(_iso(a.at))}</td><td>{esc(a.user)}</td><td>{esc(a.action)}</td>"
               f"<td>{esc(a.outcome)}</td></tr>" for a in found.actions]
    forms = ""
    if row.status == "open":
        base = f"/exceptions/{row.id}"
        forms = (f'<section id="exception-actions"><h2>Act</h2>'
                 f'<form id="retry-form" method="post" action="{esc(url_for(request, base + "/retry"))}">'
                 f'{csrf_input(request)}<button id="retry" type="submit">Retry now</button> '
                 f'<small>runs its check at once: closed (cause gone), still failing (an attempt counted), or left '
                 f'(the flow that raised it retries it at its next run)</small></form>'
                 f'<form id="resolve-form" method="post" action="{esc(url_for(request, base + "/resolve"))}">'
                 f'{csrf_input(request)}<label>Note (required: what was done)<br><textarea id="resolve-note" '
                 f'name="note" rows="2" cols="70" maxlength="{MAX_NOTE}" required></textarea></label><br>'
                 f'<button id="resolve" type="submit">Resolve</button></form>')
        spec = edit_spec(row)
        if spec is not None:
            text = edit_text if edit_text is not None else _pretty(spec.fields)
            forms += (f'<form id="edit-form" method="post" action="{esc(url_for(request, base + "/edit"))}">'
                      f'{csrf_input(request)}<h3>Edit and retry</h3><p>{esc(spec.help)}</p>'
                      f'<textarea id="edit-payload" name="payload" rows="12" cols="90">{esc(text)}</textarea><br>'
                      f'<button id="edit-retry" type="submit">Save and retry</button></form>')
        forms += "</section>"
    return (f'<p><a href="{esc(url_for(request, "/exceptions"))}">← all exceptions</a></p>'
            f'<h2 id="exception-summary">{esc(row.summary)}</h2>'
            f'<p>Status: <span id="exception-status" class="badge {esc(status)}">{esc(status)}</span></p>'
            f'<table id="exception-facts" style="width:auto">{facts_html}</table><p>{" · ".join(links)}</p>{forms}'
            f'<h2>Payload</h2><pre id="payload">{esc(_pretty(row.payload))}</pre>'
            f'<h2>Detail</h2><pre id="detail">{esc(_pretty(row.detail))}</pre>'
            f'<h2>Failed data checks of its run</h2>'
            f'{_table("checks", ("suite", "at (UTC)", "evaluated", "failed", "summary"), checks, "none")}'
            f'<h2>History</h2>{_table("attempts", ("at (UTC)", "outcome", "message", "run"), attempts, "none")}'
            f'<h2>Dashboard actions</h2>{_table("actions", ("at (UTC)", "who", "action", "outcome"), actions, "none")}')


# ---- routes -------------------------------------------------------------------------------------------------------
def _page_number(value: Any) -> int:
    try:
        return max(1, int(str(value)))
    except (TypeError, ValueError):
        return 1


def _redirect(request: Request, dashboard: Dashboard, path: str, message: str, kind: str,
              params: Mapping[str, Any] | None = None) -> RedirectResponse:
    query = {**(params or {}), "msg": dashboard.redact(message)[:1800], "kind": kind}
    return RedirectResponse(_link(request, path, query), status_code=303)


def _back_params(raw: Any) -> dict[str, Any]:
    """The list's filters and page from the bulk form's ``back`` field (unknown keys and bad values dropped)."""
    pairs = dict(parse_qsl(str(raw or ""))[:20])
    try:
        filters = eq.parse_filters(pairs)
    except HTTPException:
        filters = eq.Filters()
    return {**filters.query_params(), "page": _page_number(pairs.get("page"))}


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return body


def _message(request: Request) -> tuple[str, str]:
    kind = request.query_params.get("kind", "ok")
    return request.query_params.get("msg", "")[:2000], kind if kind in ("ok", "err") else "ok"


def _detail_or_404(dashboard: Dashboard, exception_id: int) -> eq.Detail:
    with dashboard.session() as session:
        found = eq.detail(session, exception_id)
        if found is None:
            raise HTTPException(404, f"no exception with id {exception_id}")
        session.expunge_all()
    return found


def _open_row(dashboard: Dashboard, exception_id: int) -> tuple[str, str]:
    """(integration, status) of an exception; 404 when there is none."""
    known = _load(dashboard, [exception_id]).get(exception_id)
    if known is None:
        raise HTTPException(404, f"no exception with id {exception_id}")
    return known


def _edit(dashboard: Dashboard, viewer: Viewer, exception_id: int, edited: Any) -> Any:
    """Edit and retry through :func:`erp_wms_sync.dashboard.edits.edit_and_retry` (403/404/409/400 as it says)."""
    integration, status = _open_row(dashboard, exception_id)
    dashboard.require_actor(viewer, integration)
    if not isinstance(edited, dict):
        raise HTTPException(400, "the edited record must be a JSON object")
    module = _edits()
    if module is None:
        raise HTTPException(409, "this exception type cannot be edited")
    if status != "open":
        raise HTTPException(409, f"exception {exception_id} is {status}: nothing to edit")
    return module.edit_and_retry(dashboard, viewer, exception_id, edited)


def register(app: FastAPI, dashboard: Dashboard) -> None:
    """Add the exceptions pages and API to the dashboard's app."""
    auth = Depends(authenticated)
    csrf = Depends(check_csrf)

    def list_page(request: Request, viewer: Viewer = auth) -> Response:
        filters = eq.parse_filters(request.query_params)
        message, kind = _message(request)
        body = list_body(request, dashboard, filters, _page_number(request.query_params.get("page")))
        return dashboard.html(page(request, viewer, "Exceptions", body, message=message, message_kind=kind))

    app.add_api_route("/", list_page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/exceptions", list_page, methods=["GET"], include_in_schema=False)

    @app.get("/exceptions.csv")
    def export_csv(request: Request, viewer: Viewer = auth) -> Response:
        filters = eq.parse_filters(request.query_params)
        with dashboard.session() as session:
            total = eq.count(session, filters)
        now = datetime.now(UTC).replace(tzinfo=None)

        def chunks() -> Iterator[str]:
            head = io.StringIO()
            csv.writer(head, lineterminator="\r\n").writerow(CSV_COLUMNS)
            yield head.getvalue()
            for rows in eq.iter_rows(dashboard.session, filters, CSV_LIMIT, CSV_CHUNK, now):
                yield dashboard.redact(_csv_rows(rows))

        name = f"exceptions-{filters.integration or 'all'}-{filters.status}-{now:%Y%m%d-%H%M}.csv"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return StreamingResponse(chunks(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{safe}"', "X-Total-Count": str(total),
            "X-Export-Truncated": "true" if total > CSV_LIMIT else "false"})

    @app.get("/exceptions/{exception_id}")
    def detail_page(request: Request, exception_id: int, viewer: Viewer = auth) -> Response:
        found = _detail_or_404(dashboard, exception_id)
        message, kind = _message(request)
        title = f"Exception #{found.row.id}"
        return dashboard.html(page(request, viewer, title, detail_body(request, dashboard, found), message=message,
                                   message_kind=kind))

    def _rerender(request: Request, viewer: Viewer, exception_id: int, error: HTTPException,
                  edit_text: str | None = None) -> Response:
        found = _detail_or_404(dashboard, exception_id)
        body = detail_body(request, dashboard, found, edit_text)
        return dashboard.html(page(request, viewer, f"Exception #{exception_id}", body, message=str(error.detail),
                                   message_kind="err"), status=error.status_code)

    @app.post("/exceptions/bulk")
    async def bulk_form(request: Request, viewer: Viewer = auth, _: None = csrf) -> Response:
        form = await request.form()
        return await run_in_threadpool(_bulk_form, request, viewer, form)

    def _bulk_form(request: Request, viewer: Viewer, form: Any) -> Response:
        params = _back_params(form.get("back"))
        action = str(form.get("action") or "")
        try:
            results = bulk(dashboard, viewer, action, list(form.getlist("ids")), str(form.get("note") or ""))
        except HTTPException as exc:
            if exc.status_code != 400:
                raise
            filters = eq.parse_filters(params)
            body = list_body(request, dashboard, filters, int(params["page"]))
            return dashboard.html(page(request, viewer, "Exceptions", body, message=str(exc.detail),
                                       message_kind="err"), status=400)
        message, kind = _summary(action, results)
        return _redirect(request, dashboard, "/exceptions", message, kind, params)

    @app.post("/exceptions/{exception_id}/retry")
    def retry_form(request: Request, exception_id: int, viewer: Viewer = auth, _: None = csrf) -> Response:
        _open_row(dashboard, exception_id)
        result = retry(dashboard, viewer, [exception_id])[0]
        kind = "err" if result.outcome in ("error", "not_open", "unknown") else "ok"
        return _redirect(request, dashboard, f"/exceptions/{exception_id}", f"#{exception_id} {result.message}", kind)

    @app.post("/exceptions/{exception_id}/resolve")
    async def resolve_form(request: Request, exception_id: int, viewer: Viewer = auth, _: None = csrf) -> Response:
        form = await request.form()
        return await run_in_threadpool(_resolve_form, request, exception_id, viewer, form)

    def _resolve_form(request: Request, exception_id: int, viewer: Viewer, form: Any) -> Response:
        integration, status = _open_row(dashboard, exception_id)
        dashboard.require_actor(viewer, integration)
        if status != "open":
            return _rerender(request, viewer, exception_id, HTTPException(409, f"already {status}: nothing changed"))
        try:
            result = resolve(dashboard, viewer, [exception_id], str(form.get("note") or ""))[0]
        except HTTPException as exc:
            if exc.status_code != 400:
                raise
            return _rerender(request, viewer, exception_id, exc)
        return _redirect(request, dashboard, f"/exceptions/{exception_id}", f"#{exception_id} {result.message}",
                         "ok" if result.outcome == "resolved" else "err")

    @app.post("/exceptions/{exception_id}/edit")
    async def edit_form(request: Request, exception_id: int, viewer: Viewer = auth, _: None = csrf) -> Response:
        form = await request.form()
        return await run_in_threadpool(_edit_form, request, exception_id, viewer, str(form.get("payload") or ""))

    def _edit_form(request: Request, exception_id: int, viewer: Viewer, text: str) -> Response:
        integration, _status = _open_row(dashboard, exception_id)
        dashboard.require_actor(viewer, integration)
        try:
            try:
                edited = json.loads(text)
            except ValueError as exc:
                raise HTTPException(400, f"the edited record is not valid JSON: {exc}") from None
            outcome = _edit(dashboard, viewer, exception_id, edited)
        except HTTPException as exc:
            if exc.status_code not in (400, 409):
                raise
            return _rerender(request, viewer, exception_id, exc, text)
        return _redirect(request, dashboard, f"/exceptions/{exception_id}", str(outcome.message),
                         "ok" if outcome.ok else "err")

    # ---- JSON API ----
    @app.get("/api/exceptions")
    def api_list(request: Request, viewer: Viewer = auth) -> Response:
        filters = eq.parse_filters(request.query_params)
        size = eq.PAGE_SIZE
        if "page_size" in request.query_params:
            try:
                size = int(request.query_params["page_size"])
            except ValueError:
                raise HTTPException(400, "page_size must be a number") from None
            if not 1 <= size <= eq.MAX_PAGE_SIZE:
                raise HTTPException(400, f"page_size must be between 1 and {eq.MAX_PAGE_SIZE}")
        with dashboard.session() as session:
            found = eq.list_page(session, filters, _page_number(request.query_params.get("page")), size)
            items = [item(request, r) for r in found.rows]
        return dashboard.json({"total": found.total, "page": found.page, "page_size": found.page_size,
                               "pages": found.pages, "filters": asdict(filters),
                               "items": items})

    @app.get("/api/exceptions/counts")
    def api_counts(request: Request, viewer: Viewer = auth) -> Response:
        integration = str(request.query_params.get("integration") or "")[:64]
        with dashboard.session() as session:
            counts = eq.open_counts(session, integration)
            values = eq.filter_values(session, list(dashboard.integrations()))
        return dashboard.json({"integration": integration or None, "open": counts.total,
                               "by_owner": dict(counts.by_owner), "by_type": dict(counts.by_type),
                               "filters": {"integrations": values.integrations, "types": values.types,
                                           "owners": values.owners, "statuses": list(eq.STATUSES),
                                           "ages": list(eq.AGES)}})

    @app.get("/api/exceptions/{exception_id}")
    def api_detail(request: Request, exception_id: int, viewer: Viewer = auth) -> Response:
        found = _detail_or_404(dashboard, exception_id)
        return dashboard.json(detail_json(request, dashboard, found))

    @app.post("/api/exceptions/bulk")
    async def api_bulk(request: Request, viewer: Viewer = auth, _: None = csrf) -> Response:
        return await run_in_threadpool(_api_bulk, viewer, await _json_body(request))

    def _api_bulk(viewer: Viewer, body: dict[str, Any]) -> Response:
        ids = body.get("ids")
        if not isinstance(ids, list):
            raise HTTPException(400, "ids must be a list of exception ids")
        action = str(body.get("action") or "")
        results = bulk(dashboard, viewer, action, ids, str(body.get("note") or ""))
        return dashboard.json({"action": action, "outcomes": _tally(results),
                               "results": [r.as_dict() for r in results]})

    @app.post("/api/exceptions/{exception_id}/retry")
    def api_retry(request: Request, exception_id: int, viewer: Viewer = auth, _: None = csrf) -> Response:
        integration, status = _open_row(dashboard, exception_id)
        dashboard.require_actor(viewer, integration)
        if status != "open":
            raise HTTPException(409, f"exception {exception_id} is {status}: nothing retried")
        result = retry(dashboard, viewer, [exception_id])[0]
        return dashboard.json(result.as_dict())

    @app.post("/api/exceptions/{exception_id}/resolve")
    async def api_resolve(request: Request, exception_id: int, viewer: Viewer = auth, _: None = csrf) -> Response:
        return await run_in_threadpool(_api_resolve, exception_id, viewer, await _json_body(request))

    def _api_resolve(exception_id: int, viewer: Viewer, body: dict[str, Any]) -> Response:
        integration, status = _open_row(dashboard, exception_id)
        dashboard.require_actor(viewer, integration)
        if status != "open":
            raise HTTPException(409, f"exception {exception_id} is {status}: nothing changed")
        result = resolve(dashboard, viewer, [exception_id], str(body.get("note") or ""))[0]
        return dashboard.json(result.as_dict())

    @app.post("/api/exceptions/{exception_id}/edit")
    async def api_edit(request: Request, exception_id: int, viewer: Viewer = auth, _: None = csrf) -> Response:
        return await run_in_threadpool(_api_edit, exception_id, viewer, await _json_body(request))

    def _api_edit(exception_id: int, viewer: Viewer, body: dict[str, Any]) -> Response:
        outcome = _edit(dashboard, viewer, exception_id, body.get("payload"))
        return dashboard.json({"id": exception_id, "ok": bool(outcome.ok), "message": str(outcome.message)},
                              status=200 if outcome.ok else 422)
