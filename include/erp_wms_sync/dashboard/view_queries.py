"""The ledger reads behind the dashboard's order look-up, reconciliation, data-check and activity pages.

Read-only, no vendor call: everything shown comes from what the flows recorded. Each function returns plain,
JSON-able dicts (timestamps as naive-UTC ISO strings) so the HTML pages and the JSON API show the same thing.

Order look-up (:func:`look_up_order`) answers "where does this order stand?" from one query string: the ERP order
number, the ERP id or the Peoplevox order number (a re-issued order's ``-R<n>`` numbers included), through the
indexed columns of ``order_records``, ``despatches``, ``returns`` and ``exceptions``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from erp_wms_sync.domain.order_status import ReleaseState
from erp_wms_sync.ledger import reconciliation_repo as rrepo
from erp_wms_sync.ledger.models import (
    CheckResult,
    DespatchRecord,
    ExceptionRecord,
    OrderRecord,
    ReconciliationProposal,
    ReconciliationRun,
    ReturnAuthorisationRecord,
    ReturnRecord,
)

__all__ = [
    "STAGES", "TREND_NIGHTS", "CheckPage", "check_flows", "check_results", "exception_status", "iso",
    "look_up_order", "proposal_states", "reconciliation_overview", "run_for_report", "run_ref", "wms_numbers",
]

#: The stages of an order, in the order they happen (``tr[data-stage=...]`` on the page).
STAGES = ("released", "held", "despatched", "confirmed", "returned")
#: Nights in the reconciliation trend table.
TREND_NIGHTS = 14
#: How many orders a look-up lists when the query matches several.
MAX_MATCHES = 20
MAX_ORDER_EXCEPTIONS = 200
MAX_OPEN_PROPOSALS = 500
DRIFT_TREND = "drift_trend"
REISSUE = re.compile(r"^(?P<base>.+)-R(?P<n>\d{1,4})$")
DESPATCH_DONE = ("confirmed", "ignored")
RETURN_DONE = ("credited", "received", "closed")


def iso(value: datetime | None) -> str | None:
    """A naive-UTC timestamp as ISO text (seconds), None kept."""
    return value.isoformat(sep=" ", timespec="seconds") if value is not None else None


def exception_status(row: ExceptionRecord) -> str:
    """``open``, ``parked`` (open, no longer retried), ``resolved`` or ``ignored``."""
    return "parked" if row.status == "open" and row.parked_at is not None else row.status


# --- order look-up --------------------------------------------------------------------------------------------
def look_up_order(session: Session, query: str, integrations: Sequence[str]) -> dict[str, Any]:
    """Find the order ``query`` names in ``integrations``.

    Returns ``{"query", "matches": [order summary, ...], "order": full view or None}``: ``order`` is set when
    exactly one order matches. An order the integration never released (a despatch or return Peoplevox reported
    for a number order release does not know) is still shown, from what the ledger holds about that number."""
    query = query.strip()
    out: dict[str, Any] = {"query": query, "matches": [], "order": None}
    if not query or not integrations:
        return out
    records = _find_records(session, query, integrations)
    if records:
        out["matches"] = [_summary(r) for r in records]
        if len(records) == 1:
            out["order"] = _order_view(session, records[0].integration, records[0], query)
        return out
    for integration in integrations:  # no order record: anything else the ledger knows under this number
        view = _order_view(session, integration, None, query)
        if view["despatches"] or view["returns"] or view["exceptions"] or view["return_authorisations"]:
            out["matches"].append({"integration": integration, "erp_order_number": None, "erp_order_id": None,
                                   "wms_order_number": query, "state": None})
            out["order"] = view if out["order"] is None else out["order"]
    if len(out["matches"]) > 1:
        out["order"] = None
    return out


def _find_records(session: Session, query: str, integrations: Sequence[str]) -> list[OrderRecord]:
    where = [OrderRecord.integration.in_(list(integrations))]
    found = list(session.scalars(select(OrderRecord).where(*where, or_(
        OrderRecord.erp_order_number == query, OrderRecord.erp_order_id == query,
        OrderRecord.wms_order_number == query)).order_by(OrderRecord.integration, OrderRecord.id).limit(MAX_MATCHES)))
    if found:
        return found
    reissue = REISSUE.match(query)
    if reissue is None:
        return []
    # an earlier (or later) Peoplevox number of a re-issued order: the ERP number without the suffix
    candidates = session.scalars(select(OrderRecord).where(*where, or_(
        OrderRecord.erp_order_number == reissue["base"], OrderRecord.wms_order_number.like(
            reissue["base"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "-R%", escape="\\")))
        .order_by(OrderRecord.integration, OrderRecord.id).limit(MAX_MATCHES))
    return [r for r in candidates if query in wms_numbers(r)]


def wms_numbers(record: OrderRecord) -> list[str]:
    """Every Peoplevox number the order has had: the ERP number, each ``-R<n>`` re-issue, the current one."""
    payload = record.payload or {}
    try:
        reissues = max(int(payload.get("reissues", 0) or 0), 0)
    except (TypeError, ValueError):
        reissues = 0
    current = record.wms_order_number or ""
    match = REISSUE.match(current)
    if match is not None and match["base"] == record.erp_order_number:
        reissues = max(reissues, int(match["n"]))
    numbers = [record.erp_order_number] + [f"{record.erp_order_number}-R{n}" for n in range(1, min(reissues, 50) + 1)]
    for extra in (current, str(payload.get("reissue_to") or "")):
        if extra and extra not in numbers:
            numbers.append(extra)
    return numbers


def _summary(record: OrderRecord) -> dict[str, Any]:
    return {"integration": record.integration, "erp_order_number": record.erp_order_number,
            "erp_order_id": record.erp_order_id, "wms_order_number": record.wms_order_number, "state": record.state}


def _order_view(session: Session, integration: str, record: OrderRecord | None, query: str) -> dict[str, Any]:
    numbers = wms_numbers(record) if record is not None else [query]
    erp_number = record.erp_order_number if record is not None else None
    erp_id = record.erp_order_id if record is not None else None
    despatches = _despatches(session, integration, numbers, erp_id, erp_number or query)
    returns = _returns(session, integration, numbers, erp_id)
    ras = list(session.scalars(select(ReturnAuthorisationRecord).where(
        ReturnAuthorisationRecord.integration == integration,
        or_(ReturnAuthorisationRecord.erp_order_number == (erp_number or query),
            ReturnAuthorisationRecord.wms_order_number.in_(numbers))).order_by(ReturnAuthorisationRecord.id)))
    exceptions = _exceptions(session, integration, numbers, despatches, returns, ras)
    payload = (record.payload or {}) if record is not None else {}
    view: dict[str, Any] = {
        "integration": integration, "known": record is not None,
        "erp_order_number": erp_number, "erp_order_id": erp_id,
        "wms_order_number": record.wms_order_number if record is not None else query,
        "wms_numbers": numbers if record is not None else [],
        "state": record.state if record is not None else None,
        "erp_status": record.erp_status if record is not None else None,
        "wms_status": record.wms_status if record is not None else None,
        "first_seen": iso(record.first_seen) if record is not None else None,
        "released_at": iso(record.released_at) if record is not None else None,
        "updated_at": iso(record.updated_at) if record is not None else None,
        "waiting_for": payload.get("waiting_for") if record is not None and record.state == "waiting" else None,
        "waiting_since": payload.get("waiting_since") if record is not None and record.state == "waiting" else None,
        "despatches": [_despatch(d) for d in despatches],
        "returns": [_return(r) for r in returns],
        "return_authorisations": [{"ra_number": ra.ra_number, "state": ra.state, "site": ra.site,
                                   "announced_at": iso(ra.announced_at), "lines": ra.lines or []} for ra in ras],
        "exceptions": [_exception(e) for e in exceptions],
    }
    view["stages"] = _stages(record, view, exceptions, despatches, returns)
    return view


def _despatches(session: Session, integration: str, numbers: list[str], erp_id: str | None,
                erp_number: str) -> list[DespatchRecord]:
    match: list[ColumnElement[bool]] = [DespatchRecord.wms_order_number.in_(numbers),
                                        DespatchRecord.erp_order_number == erp_number]
    if erp_id:
        match.append(DespatchRecord.erp_order_id == erp_id)
    when = func.coalesce(DespatchRecord.despatched_at, DespatchRecord.seen_at)
    return list(session.scalars(select(DespatchRecord).where(DespatchRecord.integration == integration, or_(*match))
                                .order_by(when, DespatchRecord.id).limit(200)))


def _returns(session: Session, integration: str, numbers: list[str], erp_id: str | None) -> list[ReturnRecord]:
    match: list[ColumnElement[bool]] = [ReturnRecord.sales_order.in_(numbers)]
    if erp_id:
        match.append(ReturnRecord.erp_order_id == erp_id)
    return list(session.scalars(select(ReturnRecord).where(ReturnRecord.integration == integration, or_(*match))
                                .order_by(ReturnRecord.return_code, ReturnRecord.item_code).limit(500)))


def _exceptions(session: Session, integration: str, numbers: list[str], despatches: list[DespatchRecord],
                returns: list[ReturnRecord], ras: list[ReturnAuthorisationRecord]) -> list[ExceptionRecord]:
    keyed = [("order", numbers), ("despatch", [d.despatch_number for d in despatches]),
             ("return", sorted({r.return_code for r in returns} | {f"{r.return_code}|{r.item_code}"[:128]
                                                                   for r in returns})),
             ("return_authorisation", [ra.ra_number for ra in ras])]
    match = [and_(ExceptionRecord.entity_type == kind, ExceptionRecord.entity_key.in_(keys))
             for kind, keys in keyed if keys]
    if not match:
        return []
    found = list(session.scalars(select(ExceptionRecord).where(ExceptionRecord.integration == integration,
                                                               or_(*match))
                                 .order_by(ExceptionRecord.id.desc()).limit(MAX_ORDER_EXCEPTIONS)))
    return sorted(found, key=lambda e: (e.status != "open", -e.id))  # open first, newest first


def _despatch(d: DespatchRecord) -> dict[str, Any]:
    tracking = sorted({str(t) for t in (d.packages or {}).values() if t} | {
        str(t) for t in ((d.erp_tracking or {}).values() if isinstance(d.erp_tracking, dict) else []) if t})
    return {"despatch_number": d.despatch_number, "wms_order_number": d.wms_order_number, "state": d.state,
            "carrier": d.carrier, "service": d.service, "tracking": tracking,
            "confirmed": d.state == "confirmed", "erp_ref": d.erp_ref,
            "despatched_at": iso(d.despatched_at), "seen_at": iso(d.seen_at), "confirmed_at": iso(d.confirmed_at),
            "lines": d.lines or []}


def _return(r: ReturnRecord) -> dict[str, Any]:
    return {"return_code": r.return_code, "item_code": r.item_code, "quantity": r.quantity,
            "condition": r.condition, "sellable": r.sellable, "reason": r.reason, "site": r.site, "state": r.state,
            "erp_ref": r.erp_ref, "ra_number": r.ra_number, "returned_at": iso(r.returned_at),
            "done_at": iso(r.done_at)}


def _exception(e: ExceptionRecord) -> dict[str, Any]:
    return {"id": e.id, "type": e.type, "owner": e.owner, "status": exception_status(e),
            "entity_type": e.entity_type, "entity_key": e.entity_key, "summary": e.summary,
            "first_seen": iso(e.first_seen), "last_seen": iso(e.last_seen), "resolved_at": iso(e.resolved_at),
            "resolution_note": e.resolution_note}


def _stage(stage: str, status: str, text: str, when: str | None, detail: str = "") -> dict[str, Any]:
    """One stage row: ``status`` is ``done``, ``pending``, ``problem`` or ``none`` (not reached / not applicable)."""
    return {"stage": stage, "status": status, "state": text, "when": when, "detail": detail}


def _stages(record: OrderRecord | None, view: dict[str, Any], exceptions: list[ExceptionRecord],
            despatches: list[DespatchRecord], returns: list[ReturnRecord]) -> list[dict[str, Any]]:
    return [_released(record, view), _held(record, exceptions), _despatched(despatches),
            _confirmed(despatches, exceptions), _returned(returns)]


def _released(record: OrderRecord | None, view: dict[str, Any]) -> dict[str, Any]:
    if record is None:
        return _stage("released", "problem", "not known to order release", None,
                      "Peoplevox reported this number, the integration never released an ERP order under it")
    try:
        state = ReleaseState(record.state)
    except ValueError:
        return _stage("released", "pending", record.state, iso(record.updated_at))
    number = record.wms_order_number or record.erp_order_number
    if state is ReleaseState.RELEASED:
        return _stage("released", "done", f"released to Peoplevox as {number}", iso(record.released_at))
    if state is ReleaseState.BLOCKED:
        return _stage("released", "done", f"released as {number}; a later ERP change arrived after the cut-off",
                      iso(record.released_at), "the change was not sent: the warehouse had started on it")
    if state is ReleaseState.CANCELLED:
        return _stage("released", "problem", f"released as {number}, then cancelled in Peoplevox",
                      iso(record.updated_at))
    if state is ReleaseState.WAITING:
        why = str(view.get("waiting_for") or "the hold window")
        return _stage("released", "pending", f"waiting: {why}", view.get("waiting_since") or iso(record.first_seen))
    if state is ReleaseState.SENDING:
        return _stage("released", "pending", "being sent to Peoplevox (verified on the next run)",
                      iso(record.updated_at))
    if state is ReleaseState.IGNORED:
        return _stage("released", "none", "not released: cancelled in the ERP before release", iso(record.updated_at))
    return _stage("released", "problem", "not released: held", iso(record.first_seen))


def _held(record: OrderRecord | None, exceptions: list[ExceptionRecord]) -> dict[str, Any]:
    holds = [e for e in exceptions if e.entity_type == "order"]
    open_holds = [e for e in holds if e.status == "open"]
    if open_holds:
        since = min(e.first_seen for e in open_holds)
        types = ", ".join(sorted({e.type for e in open_holds}))
        return _stage("held", "problem", f"held: {types}", iso(since), "; ".join(e.summary for e in open_holds[:5]))
    if record is not None and record.state == "held":
        return _stage("held", "problem", "held", iso(record.updated_at), "no open exception names it any more; "
                      "the next order release run looks at it again")
    done = [e for e in holds if e.resolved_at is not None]
    if done:
        last = max(e.resolved_at for e in done if e.resolved_at is not None)
        return _stage("held", "done", f"not held (was held {len(done)} time(s), resolved)", iso(last))
    return _stage("held", "none", "not held", None)


def _despatched(despatches: list[DespatchRecord]) -> dict[str, Any]:
    if not despatches:
        return _stage("despatched", "none", "not despatched", None)
    first = min((d.despatched_at or d.seen_at for d in despatches), default=None)
    carriers = ", ".join(sorted({d.carrier for d in despatches if d.carrier}))
    return _stage("despatched", "done", f"despatched: {len(despatches)} despatch(es)", iso(first),
                  f"carrier {carriers}" if carriers else "")


def _confirmed(despatches: list[DespatchRecord], exceptions: list[ExceptionRecord]) -> dict[str, Any]:
    if not despatches:
        return _stage("confirmed", "none", "nothing to confirm yet", None)
    confirmed = [d for d in despatches if d.state == "confirmed"]
    pending = [d for d in despatches if d.state not in DESPATCH_DONE]
    if not pending:
        last = max((d.confirmed_at for d in confirmed if d.confirmed_at is not None), default=None)
        return _stage("confirmed", "done", f"confirmed in the ERP ({len(confirmed)} of {len(despatches)})", iso(last))
    problem = any(d.state == "held" for d in pending) or any(
        e.entity_type == "despatch" and e.status == "open" for e in exceptions)
    states = ", ".join(f"{d.despatch_number}: {d.state}" for d in pending[:10])
    return _stage("confirmed", "problem" if problem else "pending",
                  f"not confirmed in the ERP: {len(pending)} of {len(despatches)} despatch(es)", None, states)


def _returned(returns: list[ReturnRecord]) -> dict[str, Any]:
    if not returns:
        return _stage("returned", "none", "no returns", None)
    units = sum(int(r.quantity or 0) for r in returns)
    first = min((r.returned_at or r.seen_at for r in returns), default=None)
    states: dict[str, int] = {}
    for r in returns:
        states[r.state] = states.get(r.state, 0) + 1
    open_lines = [r for r in returns if r.state not in RETURN_DONE]
    status = "problem" if any(r.state == "held" for r in returns) else ("pending" if open_lines else "done")
    return _stage("returned", status, f"returned: {len(returns)} line(s), {units} unit(s)", iso(first),
                  ", ".join(f"{n} {state}" for state, n in sorted(states.items())))


# --- reconciliation -------------------------------------------------------------------------------------------
def _run(run: ReconciliationRun) -> dict[str, Any]:
    summary = dict(run.summary or {})
    return {"pk": run.id, "run_id": run.run_id, "ref": run_ref(run), "business_date": run.business_date,
            "status": run.status, "has_report": bool(run.report_path),
            "sections": dict(summary.get("sections") or {}),
            "totals": {k: v for k, v in summary.items() if k not in ("sections", "problems")},
            "created_at": iso(run.created_at), "updated_at": iso(run.updated_at)}


def run_ref(run: ReconciliationRun) -> str:
    """The run's part of its report URL: the Airflow run id, or ``pk-<id>`` for an on-demand audit."""
    return run.run_id or f"pk-{run.id}"


def run_for_report(session: Session, integration: str, ref: str) -> ReconciliationRun | None:
    """The run a report URL names (see :func:`run_ref`)."""
    run = rrepo.run_of(session, integration, ref)
    if run is None and ref.startswith("pk-") and ref[3:].isdigit():
        found = session.get(ReconciliationRun, int(ref[3:]))
        run = found if found is not None and found.integration == integration and found.run_id is None else None
    return run


def _proposal(p: ReconciliationProposal) -> dict[str, Any]:
    return {"id": p.id, "business_date": p.business_date, "sku": p.sku, "location": p.location,
            "erp_on_hand": p.erp_on_hand, "set_to": p.set_to, "change": p.change, "variance": p.variance,
            "breach": p.breach, "state": p.state, "decided_by": p.decided_by, "decided_at": iso(p.decided_at),
            "note": p.note, "adjustment_ref": p.adjustment_ref, "error": p.error, "applied_at": iso(p.applied_at)}


def reconciliation_overview(session: Session, integration: str, *, nights: int = TREND_NIGHTS) -> dict[str, Any]:
    """One integration's reconciliation: latest run, recent runs, nightly trend, drift trends, open and recently
    decided proposals."""
    # latest = the newest business date (a backfilled old night does not hide last night's run), then the newest row
    runs = list(session.scalars(select(ReconciliationRun).where(ReconciliationRun.integration == integration)
                                .order_by(ReconciliationRun.business_date.desc(), ReconciliationRun.id.desc())
                                .limit(10)))
    open_query = select(ReconciliationProposal).where(
        ReconciliationProposal.integration == integration,
        ReconciliationProposal.state.in_(rrepo.OPEN_PROPOSAL_STATES))
    open_count = session.scalar(select(func.count()).select_from(open_query.subquery())) or 0
    open_rows = session.scalars(open_query.order_by(ReconciliationProposal.breach.desc(),
                                                    ReconciliationProposal.id).limit(MAX_OPEN_PROPOSALS))
    decided = session.scalars(select(ReconciliationProposal).where(
        ReconciliationProposal.integration == integration,
        ReconciliationProposal.state.in_(("approved", "applied", "rejected")))
        .order_by(ReconciliationProposal.updated_at.desc(), ReconciliationProposal.id.desc()).limit(20))
    drifts = session.scalars(select(ExceptionRecord).where(
        ExceptionRecord.integration == integration, ExceptionRecord.status == "open",
        ExceptionRecord.type == DRIFT_TREND).order_by(ExceptionRecord.id).limit(200))
    trends = []
    for row in drifts:
        detail = row.detail or {}
        trends.append({"exception_id": row.id, "level": detail.get("level"), "key": detail.get("key"),
                       "nights": detail.get("nights"), "growing": bool(detail.get("growing")),
                       "summary": row.summary, "first_seen": iso(row.first_seen), "last_seen": iso(row.last_seen)})
    trends.sort(key=lambda t: (-int(t["nights"] or 0), str(t["key"])))
    return {"integration": integration, "latest": _run(runs[0]) if runs else None, "runs": [_run(r) for r in runs],
            "trend": list(reversed(rrepo.nightly_totals(session, integration, nights=nights))),
            "drift_trends": trends, "open_proposals": [_proposal(p) for p in open_rows],
            "open_proposal_count": int(open_count), "decided_proposals": [_proposal(p) for p in decided]}


def proposal_states(session: Session, integration: str, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The proposals ``ids`` of ``integration`` as they stand now (unknown ids absent)."""
    return {p.id: _proposal(p) for p in rrepo.proposals(session, integration, ids=list(ids))}


# --- data checks ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckPage:
    rows: list[dict[str, Any]]
    total: int
    has_next: bool


def check_results(session: Session, *, integration: str | None, flow: str | None, failed_only: bool,
                  page: int, page_size: int = 50) -> CheckPage:
    """Stored data-check results, newest first, filtered, one page (``page`` from 1)."""
    query = select(CheckResult)
    if integration:
        query = query.where(CheckResult.integration == integration)
    if flow:
        query = query.where(CheckResult.flow == flow)
    if failed_only:
        query = query.where(CheckResult.success.is_(False))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(CheckResult.created_at.desc(), CheckResult.id.desc())
                                .offset((max(page, 1) - 1) * page_size).limit(page_size + 1)))
    return CheckPage([_check(r) for r in rows[:page_size]], int(total), len(rows) > page_size)


def check_flows(session: Session, integration: str | None) -> list[str]:
    """The flows that have stored results (for the filter)."""
    query = select(CheckResult.flow).distinct()
    if integration:
        query = query.where(CheckResult.integration == integration)
    return sorted(str(f) for f in session.scalars(query))


def _check(r: CheckResult) -> dict[str, Any]:
    results = (r.summary or {}).get("results") or []
    failed = [x for x in results if isinstance(x, dict) and not x.get("success", True)]
    return {"id": r.id, "integration": r.integration, "flow": r.flow, "suite": r.suite, "run_id": r.run_id,
            "success": r.success, "evaluated": r.evaluated, "failed_records": r.failed_records,
            "created_at": iso(r.created_at),
            "failed_checks": [{"reason": x.get("reason") or x.get("expectation"), "column": x.get("column"),
                               "unexpected_count": x.get("unexpected_count"), "sample": (x.get("sample") or [])[:5]}
                              for x in failed[:20]]}
