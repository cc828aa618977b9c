"""Ledger queries of reconciliation: runs, their variance history, the proposals and their approval.

Bulk inserts (``add_all`` of plain rows, flushed once), chunked look-ups, no flow logic. A retried run of the same
Airflow run id reuses its row and replaces its variances and pending proposals, so a retry never doubles history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from erp_wms_sync.ledger.models import ReconciliationProposal, ReconciliationRun, ReconciliationVariance, utcnow

STOCK = "stock"
PROPOSAL_STATES = ("pending", "approved", "applied", "failed", "rejected", "superseded")
#: Proposals an operator may still approve or reject.
OPEN_PROPOSAL_STATES = ("pending", "failed")
HISTORY_NIGHTS = 60


def start_run(session: Session, integration: str, run_id: str | None, business_date: str) -> ReconciliationRun:
    """The run row of ``run_id`` (a retry gets the same row back, its variances and pending proposals dropped), or
    a new one; ``run_id`` None (an on-demand audit) always makes a new row."""
    row = None
    if run_id is not None:
        row = session.scalar(select(ReconciliationRun).where(ReconciliationRun.integration == integration,
                                                             ReconciliationRun.run_id == run_id))
    if row is None:
        row = ReconciliationRun(integration=integration, run_id=run_id, business_date=business_date,
                                status="running", created_at=utcnow())
        session.add(row)
        session.flush()
        return row
    session.execute(delete(ReconciliationVariance).where(ReconciliationVariance.run_pk == row.id))
    session.execute(delete(ReconciliationProposal).where(ReconciliationProposal.run_pk == row.id,
                                                         ReconciliationProposal.state == "pending"))
    row.business_date, row.status, row.updated_at = business_date, "running", utcnow()
    session.flush()
    return row


def run_of(session: Session, integration: str, run_id: str) -> ReconciliationRun | None:
    return session.scalar(select(ReconciliationRun).where(ReconciliationRun.integration == integration,
                                                          ReconciliationRun.run_id == run_id)
                          .order_by(ReconciliationRun.id.desc()).limit(1))


def finish_run(session: Session, run_pk: int, *, status: str, summary: Mapping[str, Any],
               report_path: str | None) -> None:
    row = session.get(ReconciliationRun, run_pk)
    if row is None:
        raise KeyError(f"reconciliation run {run_pk} does not exist")
    row.status, row.summary, row.report_path, row.updated_at = status, dict(summary), report_path, utcnow()


def add_stock_variances(session: Session, run_pk: int, rows: Iterable[Mapping[str, Any]]) -> int:
    """Record the non-zero stock variances of a run (rows with ``sku``, ``location``, ``erp_on_hand``,
    ``expected_erp``, ``variance``, ``breach``, optional ``wms_on_hand`` and ``in_flight``)."""
    records = [ReconciliationVariance(
        run_pk=run_pk, kind=STOCK, key=f"{row['sku']}|{row['location']}"[:255], sku=str(row["sku"])[:128],
        location=str(row["location"])[:128], erp_value=float(row["erp_on_hand"]),
        wms_value=float(row.get("wms_on_hand", 0)), variance=int(row["variance"]), breach=bool(row["breach"]),
        applied=False, detail={"expected_erp": int(row["expected_erp"]), "in_flight": int(row.get("in_flight", 0))})
        for row in rows if int(row["variance"]) != 0]
    session.add_all(records)
    session.flush()
    return len(records)


def add_findings(session: Session, run_pk: int, rows: Iterable[Mapping[str, Any]]) -> int:
    """Record a run's findings (orders, returns, items): ``kind`` is the finding's section/kind."""
    records = [ReconciliationVariance(
        run_pk=run_pk, kind=f"{row.get('section', '')}:{row.get('kind', '')}"[:32], key=str(row.get("key", ""))[:255],
        erp_value=None, wms_value=None, applied=False, breach=False,
        detail={"section": str(row.get("section", ""))[:64], "kind": str(row.get("kind", ""))[:64],
                "erp": str(row.get("erp_value", ""))[:500], "wms": str(row.get("wms_value", ""))[:500],
                "summary": str(row.get("summary", ""))[:500]}) for row in rows]
    session.add_all(records)
    session.flush()
    return len(records)


def stock_history(session: Session, integration: str, *, since: str | None = None,
                  nights: int = HISTORY_NIGHTS) -> list[dict[str, Any]]:
    """Stock variances of the integration's compared runs, one row per run night × pair (``business_date``,
    ``sku``, ``location``, ``variance``), the latest run of each night only, the last ``nights`` nights (or
    from ``since``)."""
    latest = _latest_runs(session, integration, since=since, nights=nights)
    if not latest:
        return []
    out: list[dict[str, Any]] = []
    ids = list(latest)
    for start in range(0, len(ids), 500):
        rows = session.execute(select(ReconciliationVariance.run_pk, ReconciliationVariance.sku,
                                      ReconciliationVariance.location, ReconciliationVariance.variance)
                               .where(ReconciliationVariance.run_pk.in_(ids[start:start + 500]),
                                      ReconciliationVariance.kind == STOCK))
        out.extend({"business_date": latest[run_pk], "sku": sku, "location": location, "variance": int(variance or 0)}
                   for run_pk, sku, location, variance in rows)
    return out


def nightly_totals(session: Session, integration: str, *, nights: int = HISTORY_NIGHTS) -> list[dict[str, Any]]:
    """Per night (latest compared run): total absolute variance and breach count, oldest first (for the chart)."""
    latest = _latest_runs(session, integration, since=None, nights=nights)
    if not latest:
        return []
    totals = {run_pk: {"business_date": date, "abs_variance_units": 0, "breaches": 0, "pairs": 0}
              for run_pk, date in latest.items()}
    ids = list(latest)
    for start in range(0, len(ids), 500):
        units = func.sum(func.abs(ReconciliationVariance.variance))
        rows = session.execute(select(ReconciliationVariance.run_pk, units,
                                      func.sum(case((ReconciliationVariance.breach.is_(True), 1), else_=0)),
                                      func.count()).where(ReconciliationVariance.run_pk.in_(ids[start:start + 500]),
                                                          ReconciliationVariance.kind == STOCK)
                               .group_by(ReconciliationVariance.run_pk))
        for run_pk, units, breaches, pairs in rows:
            totals[run_pk].update(abs_variance_units=int(units or 0), breaches=int(breaches or 0), pairs=int(pairs))
    return sorted(totals.values(), key=lambda row: row["business_date"])


def _latest_runs(session: Session, integration: str, *, since: str | None, nights: int) -> dict[int, str]:
    """run pk → business date of the latest compared nightly run of each night."""
    query = select(ReconciliationRun.id, ReconciliationRun.business_date).where(
        ReconciliationRun.integration == integration, ReconciliationRun.status == "compared",
        ReconciliationRun.run_id.is_not(None))
    if since is not None:
        query = query.where(ReconciliationRun.business_date >= since)
    best: dict[str, int] = {}
    for run_pk, date in session.execute(query.order_by(ReconciliationRun.id)):
        best[date] = run_pk
    dates = sorted(best)[-nights:]
    return {best[date]: date for date in dates}


# --- proposals --------------------------------------------------------------------------------------------------
def add_proposals(session: Session, integration: str, run_pk: int, business_date: str,
                  rows: Iterable[Mapping[str, Any]]) -> list[ReconciliationProposal]:
    """Record a run's proposals (``sku``, ``location``, ``erp_on_hand``, ``set_to``, ``change``, ``variance``,
    ``breach``), pending; older pending or failed proposals of the same pairs are superseded. A pair the run already
    proposed (a retried task) keeps its proposal; the records returned are the run's proposals of ``rows``."""
    have = {(p.sku, p.location): p for p in proposals(session, integration, run_pk=run_pk)}
    rows = list(rows)
    kept = [have[(str(row["sku"]), str(row["location"]))] for row in rows
            if (str(row["sku"]), str(row["location"])) in have]
    rows = [row for row in rows if (str(row["sku"]), str(row["location"])) not in have]
    records = [ReconciliationProposal(
        integration=integration, run_pk=run_pk, business_date=business_date, sku=str(row["sku"]),
        location=str(row["location"]), erp_on_hand=int(row["erp_on_hand"]), set_to=int(row["set_to"]),
        change=int(row["change"]), variance=int(row["variance"]), breach=bool(row["breach"]), state="pending",
        attempts=0) for row in rows]
    pairs = {(r.sku, r.location) for r in records}
    skus = sorted({sku for sku, _ in pairs})
    for start in range(0, len(skus), 500):
        for old in session.scalars(select(ReconciliationProposal).where(
                ReconciliationProposal.integration == integration,
                ReconciliationProposal.state.in_(OPEN_PROPOSAL_STATES),
                ReconciliationProposal.run_pk != run_pk,
                ReconciliationProposal.sku.in_(skus[start:start + 500]))):
            if (old.sku, old.location) in pairs:
                old.state, old.updated_at = "superseded", utcnow()
    session.add_all(records)
    session.flush()
    return kept + records


def proposals(session: Session, integration: str, *, run_pk: int | None = None,
              states: Sequence[str] | None = None, ids: Sequence[int] | None = None) -> list[ReconciliationProposal]:
    """Proposals of the integration (of one run, in some states, or these ids), by id."""
    query = select(ReconciliationProposal).where(ReconciliationProposal.integration == integration)
    if run_pk is not None:
        query = query.where(ReconciliationProposal.run_pk == run_pk)
    if states is not None:
        for state in states:
            if state not in PROPOSAL_STATES:
                raise ValueError(f"unknown proposal state {state!r}: expected one of {', '.join(PROPOSAL_STATES)}")
        query = query.where(ReconciliationProposal.state.in_(list(states)))
    if ids is not None:
        query = query.where(ReconciliationProposal.id.in_(list(ids)))
    return list(session.scalars(query.order_by(ReconciliationProposal.id)))


def decide(session: Session, proposal: ReconciliationProposal, state: str, *, by: str, note: str | None) -> None:
    """Record who approved or rejected ``proposal`` and when."""
    if state not in ("approved", "rejected"):
        raise ValueError(f"a proposal is approved or rejected, not {state!r}")
    if not by.strip():
        raise ValueError("say who decides (--by)")
    proposal.state, proposal.decided_by, proposal.decided_at = state, by.strip()[:128], utcnow()
    proposal.note = note
    proposal.updated_at = utcnow()


def mark(session: Session, proposal_id: int, state: str, *, error: str | None = None,
         adjustment_ref: str | None = None, applied_at: datetime | None = None) -> None:
    if state not in PROPOSAL_STATES:
        raise ValueError(f"unknown proposal state {state!r}")
    values: dict[str, Any] = {"state": state, "updated_at": utcnow(), "error": error}
    if adjustment_ref is not None:
        values["adjustment_ref"] = adjustment_ref
    if applied_at is not None:
        values["applied_at"] = applied_at
    session.execute(update(ReconciliationProposal).where(ReconciliationProposal.id == proposal_id).values(**values))
