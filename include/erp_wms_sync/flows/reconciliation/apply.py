"""Applying approved reconciliation proposals to Cin7 Core through inventory sync's idempotent path.

Per proposal, each step committing as it goes:

1. **Settle an earlier attempt.** A proposal carrying an ``adjustment_ref`` whose journal entry is still
   ``posting`` (a crash between journal and answer) is looked up in Cin7 by that Reference: found completed, it is
   adopted (nothing posted again); otherwise the entry is closed ``failed`` and the proposal is posted anew under
   the next Reference.
2. **Check the pair has not moved.** The ERP figure is read again (one ``productavailability`` call for the SKU
   at the location); when it is no longer what the proposal saw, nothing is posted and the proposal fails with a
   message saying so — the next reconciliation proposes from fresh reads of both sides.
3. **Journal, then post** one absolute ``COMPLETED`` stock adjustment (``stock_adjustments``, Reference
   ``WMS-RECON-<integration>-<proposal>-<attempt>``) in the key's shared budget. The journal line has inventory
   sync's shape, so inventory sync's own journal settling adopts it too, and inventory sync leaves the pair alone
   while it is ``posting``.
4. **Move the stock position**: ``erp_quantity`` is the new figure and ``wms_counted`` moves by the same change, so
   inventory sync continues from the corrected figure and never undoes it. The pair's ``stock_variance`` closes.

BlueCherry gets no proposals: its inventory push sets BlueCherry's availability from Peoplevox every run (see
docs/design-notes.md, "Reconciliation"), so a correction there would be overwritten by, or duplicate, the push.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from erp_wms_sync.config import Integration
from erp_wms_sync.connectors.cin7core_stock import StockLine
from erp_wms_sync.errors import ApiRejected, ApiResponseInvalid, ApiUnavailable
from erp_wms_sync.ledger import reconciliation_repo as rrepo
from erp_wms_sync.ledger import repo, stock_repo
from erp_wms_sync.ledger.models import ReconciliationProposal, utcnow

log = logging.getLogger(__name__)
STOCK_VARIANCE = "stock_variance"
PAIR = "sku_location"


@dataclass
class ApplyResult:
    applied: int = 0
    adopted: int = 0
    refused: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "adopted": self.adopted, "refused": self.refused, "skipped": self.skipped}


def reference_for(integration: str, proposal_id: int, attempt: int) -> str:
    return f"WMS-RECON-{integration}-{proposal_id}-{attempt}"[:100]


def decide(integration: Integration, sessions: Callable[[], Any], ids: Sequence[int] | None, state: str, *,
           by: str, note: str | None) -> list[int]:
    """Approve or reject the open proposals ``ids`` (None: every open one); returns the ids decided. A proposal
    that is not open (applied, rejected, superseded) is left as it is."""
    with sessions() as session:
        rows = rrepo.proposals(session, integration.name, states=rrepo.OPEN_PROPOSAL_STATES,
                               ids=list(ids) if ids is not None else None)
        for row in rows:
            rrepo.decide(session, row, state, by=by, note=note)
        return [row.id for row in rows]


def apply_proposals(integration: Integration, sessions: Callable[[], Any], erp: Any, ids: Sequence[int], *,
                    by: str, auto: bool = False, run_id: str | None = None,
                    now: datetime | None = None) -> ApplyResult:
    """Apply the proposals ``ids`` that are approved (``auto``: pending ones too, approved by ``by``)."""
    out = ApplyResult()
    if integration.erp.kind.value != "cin7core":
        out.skipped = [f"{i}: BlueCherry availability is corrected by the inventory push" for i in ids]
        return out
    for proposal_id in ids:
        with sessions() as session:
            rows = rrepo.proposals(session, integration.name, ids=[proposal_id])
            if not rows:
                out.skipped.append(f"{proposal_id}: no such proposal for {integration.name}")
                continue
            row = rows[0]
            if auto and row.state == "pending":
                rrepo.decide(session, row, "approved", by=by, note="applied by the run")
            if row.state != "approved":
                out.skipped.append(f"{proposal_id}: {row.state}, not approved")
                continue
            snapshot = _Proposal.of(row)
        try:
            _apply_one(integration, sessions, erp, snapshot, out, run_id, now or datetime.now(UTC))
        except ApiUnavailable as exc:  # the journal entry stays "posting": the next approval looks it up first
            why = (f"Cin7 Core did not answer ({str(exc)[:300]}); the adjustment may have reached it: approve again "
                   "to look it up by its Reference before anything is posted")
            with sessions() as session:
                rows = rrepo.proposals(session, integration.name, ids=[proposal_id])
                if rows:
                    rows[0].error = why
            out.refused.append(f"{proposal_id}: {why}")
            break
    return out


@dataclass(frozen=True)
class _Proposal:
    id: int
    sku: str
    location: str
    erp_on_hand: int
    set_to: int
    change: int
    attempts: int
    adjustment_ref: str | None

    @classmethod
    def of(cls, row: ReconciliationProposal) -> _Proposal:
        return cls(row.id, row.sku, row.location, int(row.erp_on_hand), int(row.set_to), int(row.change),
                   int(row.attempts or 0), row.adjustment_ref)


def _apply_one(integration: Integration, sessions: Callable[[], Any], erp: Any, p: _Proposal, out: ApplyResult,
               run_id: str | None, now: datetime) -> None:
    name = integration.name
    if p.adjustment_ref and _settle(integration, sessions, erp, p):
        out.adopted += 1
        out.applied += 1
        return
    item_code, site = integration.item_code_for(p.sku), integration.site_for(p.location) or ""
    with sessions() as session:
        busy = (item_code, site) in stock_repo.pairs_in_open_journal(session, name)
    if busy:
        why = (f"an adjustment of {p.sku} at {p.location} is being posted by inventory sync; approve again after "
               "its next run")
        with sessions() as session:
            rrepo.mark(session, p.id, "failed", error=why)
        out.refused.append(f"{p.id}: {why}")
        return
    current = _erp_figure(erp, p.sku, p.location)
    if current != p.erp_on_hand:
        why = (f"the ERP figure of {p.sku} at {p.location} is now {current}, the proposal saw {p.erp_on_hand}: "
               f"not applied blindly; the next reconciliation proposes from fresh reads of both sides")
        with sessions() as session:
            rrepo.mark(session, p.id, "failed", error=why)
        out.refused.append(f"{p.id}: {why}")
        return
    reference = reference_for(name, p.id, p.attempts + 1)
    with sessions() as session:
        position = stock_repo.positions(session, name, [(item_code, site)]).get((item_code, site))
        counted = int(position.wms_counted) + p.change if position is not None else p.set_to
        line = {"item_code": item_code, "site": site, "sku": p.sku, "location": p.location, "quantity": p.set_to,
                "counted": counted, "compensation": 0,
                "through_history_id": int(position.last_history_id) if position is not None else 0,
                "opened_history_id": None, "history_ids": [], "row_ids": [], "proposal_id": p.id}
        stock_repo.add_journal(session, name, reference, [line])
        row = session.get(ReconciliationProposal, p.id)
        row.adjustment_ref, row.attempts, row.updated_at = reference, p.attempts + 1, utcnow()
    try:
        answer = erp.post_stock_adjustment([StockLine(quantity=Decimal(p.set_to), location=p.location, sku=p.sku)],
                                           reference=reference, effective_date=now)
    except (ApiRejected, ApiResponseInvalid) as exc:
        with sessions() as session:
            entry = stock_repo.journal_entry(session, name, reference)
            if entry is not None:
                entry.state, entry.error = "failed", str(exc)[:2000]
            rrepo.mark(session, p.id, "failed", error=f"Cin7 Core refused the adjustment: {str(exc)[:1500]}")
        out.refused.append(f"{p.id}: {exc}")
        return
    with sessions() as session:
        _finish(session, integration, reference, answer.task_id, p.id, run_id)
    out.applied += 1


def _settle(integration: Integration, sessions: Callable[[], Any], erp: Any, p: _Proposal) -> bool:
    """True when the proposal's earlier post is in Cin7 (adopted now) or was already finished."""
    name = integration.name
    reference = p.adjustment_ref or ""
    with sessions() as session:
        entry = stock_repo.journal_entry(session, name, reference)
        state = entry.state if entry is not None else None
    if state == "posted":
        with sessions() as session:
            rrepo.mark(session, p.id, "applied", applied_at=utcnow())
        return True
    if state != "posting":
        return False
    wanted = StockLine(quantity=Decimal(p.set_to), location=p.location, sku=p.sku)
    found = next((a for a in erp.find_stock_adjustments(reference)
                  if a.status == "COMPLETED" and any(wanted.matches(line) for line in a.lines)), None)
    with sessions() as session:
        entry = stock_repo.journal_entry(session, name, reference)
        if entry is None or entry.state != "posting":
            return entry is not None and entry.state == "posted"
        if found is None:
            entry.state = "failed"
            entry.error = "not found completed in Cin7 after an interrupted post; posted again under a new Reference"
            return False
        _finish(session, integration, reference, found.task_id, p.id, None)
    log.info("%s: reconciliation adjustment %s was posted before a crash; adopted", name, reference)
    return True


def _finish(session: Any, integration: Integration, reference: str, task_id: str, proposal_id: int,
            run_id: str | None) -> None:
    name = integration.name
    entry = stock_repo.journal_entry(session, name, reference)
    if entry is not None:
        entry.state, entry.erp_task_id, entry.posted_at, entry.error = "posted", task_id, utcnow(), None
        for line in entry.lines or []:
            position = stock_repo.positions(session, name, [(line["item_code"], line["site"])]).get(
                (line["item_code"], line["site"]))
            if position is not None:
                stock_repo.upsert_position(session, name, line["item_code"], line["site"],
                                           last_history_id=int(position.last_history_id),
                                           wms_counted=int(line["counted"]), erp_sku=line["sku"],
                                           erp_location=line["location"], erp_quantity=int(line["quantity"]),
                                           adjustment_ref=reference)
    row = session.get(ReconciliationProposal, proposal_id)
    if row is not None:
        rrepo.mark(session, proposal_id, "applied", adjustment_ref=reference, applied_at=utcnow())
        repo.resolve_exceptions(session, integration=name, entity_type=PAIR,
                                entity_keys=[f"{row.sku}|{row.location}"[:128]], types=[STOCK_VARIANCE],
                                by="reconciliation", note=f"adjustment {reference} applied", run_id=run_id)


def _erp_figure(erp: Any, sku: str, location: str) -> int:
    total = sum((Decimal(row.on_hand) for row in erp.iter_availability(location=location, sku=sku)), Decimal(0))
    return int(total)
