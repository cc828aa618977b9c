"""inventory_sync for BlueCherry: Peoplevox available-to-sell published to BlueCherry in batches.

For a BlueCherry integration Peoplevox is primary for available-to-sell; BlueCherry gets parallel updates and is
never the bottleneck. There is no movement queue: each run takes one consistent picture of Peoplevox and publishes
what changed since the last publish.

1. **Settle the journal.** An adjustment left ``posting`` by a crash (or by a gateway that stopped answering) is sent
   again under the same Reference: BlueCherry answers a repeated Reference with the first adjustment unchanged, so
   a post that did reach it is never applied twice, and one that did not is applied now.
2. **Read** Peoplevox's "Item inventory summary" (one paged report read) and compute per SKU × site the quantity to
   publish: the report's ``Available`` (on hand less what Peoplevox allocated to its orders; 0 outside pick
   locations) summed over the integration's counted locations (``stock:`` rules; quarantine never counts), never
   below 0. A pair published before that the report no longer lists (its last unit left) is published as 0.
   Unreadable rows hold their pairs (``invalid_stock_movement``): a pair is never published from a partial view.
3. **Map** each ItemCode to its ERP SKU (SKUs the ERP catalogue does not know are ``unmapped_sku``, not pushed) and
   each site to the BlueCherry warehouse of the *first* ``locations`` entry naming it (with ``location_mapping:
   rules`` several warehouses may share a site; the first one is where Peoplevox's stock is published).
4. **Push only changes.** BlueCherry computes its own available as on-hand − allocated − picked, so the on-hand
   to publish is Peoplevox's available-to-sell *plus* what BlueCherry itself holds allocated or on pick tickets
   (read from ``GET /inventory`` of the warehouses involved, each run): BlueCherry's available then equals
   Peoplevox's, instead of having its allocations taken off a figure they were already taken off in Peoplevox.
   A pair is due when BlueCherry's on-hand is not that figure — compared with what BlueCherry holds now, not with
   what was last pushed, so a shipment or an allocation BlueCherry booked itself is corrected by the next run. One
   ABSOLUTE ``POST /inventory/adjustments`` per warehouse per batch of at most ``stock.max_lines_per_adjustment`` lines,
   journalled in ``stock_adjustments`` before it is posted. Its Reference is derived from the integration, the
   warehouse and a hash of the lines (each with the Reference that last set it), so the same batch always has the
   same Reference and a later return to an earlier figure gets a new one.

BlueCherry's gateway limit never holds anything else back: this is the only task of the DAG that calls BlueCherry, it
runs in the BlueCherry pool at LOW priority in the key's shared budget (dispatch confirmations and order write-back
go first), and each batch commits on its own. A refused batch is a ``failed_stock_increment`` exception per pair
(closed when a later push of the pair succeeds) and the other warehouses' batches go on; a gateway that stays
limited (or unreachable) ends the push for this run and leaves the rest to the next one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from erp_wms_sync.domain import stock_levels as sl
from erp_wms_sync.domain.pv_reports import COL_ITEM, RowProblem
from erp_wms_sync.domain.stock_sequencing import LocationRules
from erp_wms_sync.errors import ApiRejected, ApiResponseInvalid, ApiUnavailable
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.inventory_sync.collect import INVALID, PAIR, pair_key
from erp_wms_sync.ledger import repo, stock_repo
from erp_wms_sync.ledger.models import StockPosition, utcnow
from erp_wms_sync.ledger.repo import NewException

log = logging.getLogger(__name__)

FAILED = "failed_stock_increment"
UNMAPPED_SKU = "unmapped_sku"
UNMAPPED_LOCATION = "unmapped_location"
REASON = "RECONCILIATION"  # a BlueCherry adjustment reason: the figure is set to what Peoplevox says
COMMENT = "Peoplevox available-to-sell"
Pair = tuple[str, str]


@dataclass(frozen=True)
class PushLine:
    """One SKU × warehouse figure to publish: the Peoplevox pair it comes from, and the Reference of the adjustment
    that last set it (None before the first publish)."""

    item_code: str
    site: str
    sku: str
    warehouse: str
    quantity: int
    previous_ref: str | None = None

    @property
    def pair(self) -> Pair:
        return self.item_code, self.site

    def as_journal(self) -> dict[str, Any]:
        return {"item_code": self.item_code, "site": self.site, "sku": self.sku, "location": self.warehouse,
                "quantity": self.quantity, "counted": self.quantity, "previous_ref": self.previous_ref}

    @classmethod
    def from_journal(cls, line: Mapping[str, Any]) -> PushLine:
        return cls(str(line["item_code"]), str(line["site"]), str(line["sku"]), str(line["location"]),
                   int(line["quantity"]), line.get("previous_ref"))


@dataclass
class Pushed:
    """Counts of one push, for the run log and the task's return value."""

    pairs_read: int = 0
    unchanged: int = 0
    held: int = 0
    unmapped: int = 0
    resent: int = 0
    adjustments: int = 0
    lines: int = 0
    failed_pairs: int = 0
    left_for_next_run: int = 0
    new_problems: int = 0
    stopped: str = ""
    refused: set[str] = field(default_factory=set)  # References BlueCherry refused this run: not sent again in it

    def as_dict(self) -> dict[str, Any]:
        return {"pairs_read": self.pairs_read, "pairs_unchanged": self.unchanged, "pairs_held": self.held,
                "pairs_unmapped": self.unmapped, "adjustments_resent": self.resent,
                "adjustments_posted": self.adjustments, "adjustment_lines": self.lines,
                "failed_pairs": self.failed_pairs, "lines_left_for_next_run": self.left_for_next_run,
                "new_problems": self.new_problems, "stopped": self.stopped}


# --- the computation (pure) -------------------------------------------------------------------------------------
def available_to_sell(levels: Iterable[sl.StockLevel], rules: LocationRules) -> dict[Pair, int]:
    """(ItemCode, site) → Peoplevox ``Available`` summed over the counted locations, never below 0.

    Every pair the levels name is in the result (0 when none of its stock counts, e.g. all of it in quarantine),
    so stock that became unsellable is published as 0 rather than left as it was."""
    totals: dict[Pair, int] = {}
    for level in levels:
        pair = (level.item_code, level.site)
        totals[pair] = totals.get(pair, 0) + (level.available if rules.counts(level.location) else 0)
    return {pair: max(total, 0) for pair, total in totals.items()}


def warehouse_for(locations: Sequence[Any], site: str) -> str | None:
    """The BlueCherry warehouse Peoplevox site ``site`` publishes to: the first ``locations`` entry naming it
    (compared case-insensitively), None when no entry does."""
    wanted = site.casefold()
    return next((loc.erp for loc in locations if loc.wms_site.casefold() == wanted), None)


def erp_rows(erp: Any, warehouses: Iterable[str]) -> list[Any]:
    """BlueCherry's stock rows of ``warehouses`` (one paged read each)."""
    return [row for warehouse in sorted(set(warehouses)) for row in erp.iter_inventory(warehouse=warehouse)]


def erp_commitments(rows: Iterable[Any]) -> dict[tuple[str, str], tuple[int, int]]:
    """(SKU, warehouse) → (on-hand, allocated + picked) as BlueCherry holds them."""
    return {(row.sku, row.warehouse): (int(row.on_hand), int(row.allocated) + int(row.picked)) for row in rows}


def with_target(line: PushLine, held: Mapping[tuple[str, str], tuple[int, int]]) -> PushLine:
    """The line with the on-hand BlueCherry must hold so that its own available (on-hand − allocated − picked)
    equals Peoplevox's available-to-sell (``line.quantity``): BlueCherry subtracts its allocations and pick
    tickets itself, so they are added back rather than subtracted twice."""
    _, committed = held.get((line.sku, line.warehouse), (0, 0))
    return PushLine(line.item_code, line.site, line.sku, line.warehouse, line.quantity + committed,
                    line.previous_ref)


def due_against(lines: Iterable[PushLine], held: Mapping[tuple[str, str], tuple[int, int]]) -> list[PushLine]:
    """The lines (their on-hand set by :func:`with_target`) whose figure BlueCherry does not hold now, by warehouse
    then SKU: compared with BlueCherry itself, so its own shipments and hand bookings are corrected."""
    targets = [with_target(line, held) for line in lines]
    return sorted((t for t in targets if held.get((t.sku, t.warehouse), (None, 0))[0] != t.quantity),
                  key=lambda line: (line.warehouse, line.sku, line.site))


def batches(lines: Sequence[PushLine], size: int) -> list[tuple[str, list[PushLine]]]:
    """``(warehouse, lines)`` batches of at most ``size`` lines, one warehouse each, in a stable order."""
    if size < 1:
        raise ValueError(f"a batch holds at least one line, not {size}")
    by_warehouse: dict[str, list[PushLine]] = defaultdict(list)
    for line in sorted(lines, key=lambda line: (line.warehouse, line.sku, line.site)):
        by_warehouse[line.warehouse].append(line)
    return [(warehouse, group[start:start + size]) for warehouse, group in sorted(by_warehouse.items())
            for start in range(0, len(group), size)]


def reference_for(integration: str, warehouse: str, lines: Iterable[PushLine]) -> str:
    """The BlueCherry Reference of a batch: the same for the same integration, warehouse and lines (whatever their
    order), so a batch sent again after a crash is answered unchanged. Each line's previous Reference is part of the
    hash: returning to an earlier figure is a new adjustment, not a repeat BlueCherry would answer with the old one."""
    material = json.dumps({"integration": integration, "warehouse": warehouse,
                           "lines": sorted([line.sku, line.quantity, line.previous_ref or ""] for line in lines)},
                          separators=(",", ":"))
    digest = hashlib.sha256(material.encode()).hexdigest()[:20]
    return f"ATS-{integration[:40]}-{warehouse[:30]}-{digest}"


def answer_problem(answer: Any, reference: str, warehouse: str, lines: Sequence[PushLine]) -> str | None:
    """Why BlueCherry's answer is not the adjustment that was sent (None when it is): another Reference or
    warehouse, or not exactly these SKUs at these quantities."""
    if answer.reference != reference or answer.warehouse != warehouse:
        return (f"BlueCherry answered adjustment {answer.adjustment_number} ({answer.reference or 'no reference'}, "
                f"warehouse {answer.warehouse or '?'}) for {reference} in {warehouse}")
    got = {sku: after for sku, _before, after in answer.changes}
    wanted = {line.sku: line.quantity for line in lines}
    if got != wanted or len(answer.changes) != len(wanted):
        return (f"BlueCherry holds adjustment {answer.adjustment_number} ({reference}) with on-hand {got}, "
                f"not {wanted}")
    return None


# --- the flow step ----------------------------------------------------------------------------------------------
def push_availability(ctx: RunContext, wms: Any, erp: Any) -> dict[str, Any]:
    """Settle the journal, read Peoplevox, push what changed; returns the run's counts."""
    out = Pushed()
    if settle_journal(ctx, erp, out):
        lines = plan_lines(ctx, wms, out, erp)
        post_lines(ctx, erp, lines, out)
    _advance_cursor(ctx)
    log.info("%s availability push to BlueCherry: %s", ctx.integration.name, out.as_dict())
    return out.as_dict()


def settle_journal(ctx: RunContext, erp: Any, out: Pushed) -> bool:
    """Send every ``posting`` entry again under its Reference; False when the gateway stopped answering (nothing
    else is pushed this run)."""
    name = ctx.integration.name
    with ctx.session() as session:
        entries = [(e.reference, [PushLine.from_journal(line) for line in e.lines or []])
                   for e in stock_repo.open_journal(session, name)]
    for reference, lines in entries:
        if not lines:
            continue
        if not _post(ctx, erp, reference, lines[0].warehouse, lines, out, resend=True):
            return False
    return True


def plan_lines(ctx: RunContext, wms: Any, out: Pushed, erp: Any) -> list[PushLine]:
    """The lines to push this run: Peoplevox's figures, held and unmapped pairs left out, unchanged ones too."""
    integration = ctx.integration
    name = integration.name
    rules = LocationRules.from_settings(integration.stock)
    rows = list(wms.get_report(sl.LEVEL_REPORT, columns=sl.LEVEL_COLUMNS, key=COL_ITEM))
    levels, problems = sl.levels_from_report(rows)
    figures = available_to_sell(levels, rules)
    with ctx.session() as session:
        positions = {(p.item_code, p.site): p for p in stock_repo.all_positions(session, name)}
        for pair in positions:
            figures.setdefault(pair, 0)  # listed no more: its last unit left
        held = _hold_unreadable(ctx, session, problems, set(figures), out)
        busy = stock_repo.pairs_in_open_journal(session, name)
        readable = [pair for pair in figures if pair not in held]
        repo.resolve_exceptions(session, integration=name, entity_type=PAIR,
                                entity_keys=[pair_key(*pair) for pair in readable], types=[INVALID],
                                by="inventory_sync", note="read again without a problem", run_id=ctx.run_id)
        known = repo.known_catalogue_skus(session, name, {integration.sku_for(item) for item, _ in readable})
        lines: list[PushLine] = []
        mapped: list[Pair] = []
        for pair in sorted(readable):
            if pair in busy:
                continue
            line = _line(ctx, session, pair, figures[pair], positions.get(pair), known, out)
            if line is not None:
                lines.append(line)
                mapped.append(pair)
        for kind in (UNMAPPED_SKU, UNMAPPED_LOCATION):
            repo.resolve_exceptions(session, integration=name, entity_type=PAIR,
                                    entity_keys=[pair_key(*pair) for pair in mapped], types=[kind],
                                    by="inventory_sync", note="mapping found; published", run_id=ctx.run_id)
    out.pairs_read = len(figures)
    due = due_against(lines, erp_commitments(erp_rows(erp, {line.warehouse for line in lines})))
    out.unchanged = len(lines) - len(due)
    return due


def _hold_unreadable(ctx: RunContext, session: Any, problems: list[RowProblem], pairs: set[Pair],
                     out: Pushed) -> set[Pair]:
    """Raise ``invalid_stock_movement`` per unreadable row and return the pairs it holds: the row's pair, or every
    pair of its site when it names no item (every pair when it names neither)."""
    held: set[Pair] = set()
    for problem in problems:
        if problem.item_code:
            held.add((problem.item_code, problem.site))
            key = pair_key(problem.item_code, problem.site)
        else:
            held.update(p for p in pairs if not problem.site or p[1].casefold() == problem.site.casefold())
            key = f"row {problem.position} {problem.site}".strip()[:128]
        out.new_problems += int(ctx.hold(session, NewException(
            type=INVALID, entity_type=PAIR, entity_key=key,
            summary=(f"Unreadable Item inventory summary row (item {problem.item_code or '?'} at site "
                     f"{problem.site or '?'}): {problem.reason}. Its available-to-sell is not published to "
                     f"BlueCherry until the row reads")[:500],
            detail={"reason": problem.reason, "position": problem.position, "item_code": problem.item_code,
                    "site": problem.site},
            payload={"row": dict(problem.row)})))
    out.held = len(held)
    return held


def _line(ctx: RunContext, session: Any, pair: Pair, quantity: int, position: StockPosition | None,
          known: set[str], out: Pushed) -> PushLine | None:
    """The line of a readable pair, or None (with its exception) when its SKU or site has no BlueCherry side."""
    item, site = pair
    sku = ctx.integration.sku_for(item)
    warehouse = warehouse_for(ctx.integration.locations, site)
    if sku in known and warehouse is not None:
        return PushLine(item, site, sku, warehouse, quantity, position.adjustment_ref if position else None)
    out.unmapped += 1
    kind, why = ((UNMAPPED_SKU, f"BlueCherry SKU {sku!r} is not in the ERP catalogue") if sku not in known else
                 (UNMAPPED_LOCATION, f"no BlueCherry warehouse is mapped to Peoplevox site {site!r}"))
    out.new_problems += int(ctx.hold(session, NewException(
        type=kind, entity_type=PAIR, entity_key=pair_key(item, site),
        summary=(f"Available-to-sell of Peoplevox item {item} at site {site} ({quantity}) is not published to "
                 f"BlueCherry: {why}")[:500],
        detail={"item_code": item, "site": site, "sku": sku, "quantity": quantity, "reason": why},
        payload={"item_code": item, "site": site, "sku": sku, "available": quantity,
                 "warehouse": warehouse, "reason": why})))
    return None


def post_lines(ctx: RunContext, erp: Any, lines: list[PushLine], out: Pushed) -> None:
    """One journalled ABSOLUTE adjustment per batch; stops when the gateway stops answering."""
    planned = batches(lines, ctx.integration.stock.max_lines_per_adjustment)
    for index, (warehouse, batch) in enumerate(planned):
        reference = reference_for(ctx.integration.name, warehouse, batch)
        if reference in out.refused:  # refused when the journal was settled a moment ago: next run
            out.left_for_next_run += len(batch)
            continue
        _journal(ctx, reference, batch)
        if not _post(ctx, erp, reference, warehouse, batch, out):
            out.left_for_next_run += sum(len(rest) for _, rest in planned[index + 1:])
            return


def _journal(ctx: RunContext, reference: str, batch: list[PushLine]) -> None:
    """Write the batch as ``posting`` before it is posted (a refused batch sent again reuses its entry)."""
    name = ctx.integration.name
    with ctx.session() as session:
        entry = stock_repo.journal_entry(session, name, reference)
        if entry is None:
            stock_repo.add_journal(session, name, reference, [line.as_journal() for line in batch])
        else:
            entry.state, entry.error, entry.updated_at = "posting", None, utcnow()
            entry.lines = [line.as_journal() for line in batch]


def _post(ctx: RunContext, erp: Any, reference: str, warehouse: str, batch: list[PushLine], out: Pushed, *,
          resend: bool = False) -> bool:
    """Post one journalled batch and record its outcome; False when the gateway stopped answering."""
    name = ctx.integration.name
    try:
        answer = erp.post_inventory_adjustment(reference, warehouse, REASON,
                                               {line.sku: line.quantity for line in batch}, absolute=True,
                                               comment=COMMENT)
        problem = answer_problem(answer, reference, warehouse, batch)
    except ApiUnavailable as exc:  # limited or unreachable: the entry stays ``posting`` and is sent again
        _failed(ctx, reference, batch, f"BlueCherry did not answer: {exc}", out, close=False)
        out.stopped = f"BlueCherry did not answer at {reference}"
        return False
    except ApiRejected as exc:
        _failed(ctx, reference, batch, str(exc), out, close=True)
        return True
    except ApiResponseInvalid as exc:  # it may have been applied: sent again next run, answered unchanged
        _failed(ctx, reference, batch, f"BlueCherry answered something that is not the adjustment: {exc}", out,
                close=False)
        return True
    if problem is not None:
        _failed(ctx, reference, batch, problem, out, close=True)
        return True
    with ctx.session() as session:
        entry = stock_repo.journal_entry(session, name, reference)
        if entry is not None:
            entry.state, entry.erp_task_id, entry.error = "posted", answer.adjustment_number, None
            entry.posted_at = entry.updated_at = utcnow()
        for line in batch:
            stock_repo.upsert_position(session, name, line.item_code, line.site, last_history_id=0,
                                       wms_counted=line.quantity, erp_sku=line.sku, erp_location=line.warehouse,
                                       erp_quantity=line.quantity, adjustment_ref=reference, posted=True)
        repo.resolve_exceptions(session, integration=name, entity_type=PAIR,
                                entity_keys=[pair_key(*line.pair) for line in batch], types=[FAILED],
                                by="inventory_sync", note=f"published in {reference}", run_id=ctx.run_id)
    if resend:
        out.resent += 1
    else:
        out.adjustments += 1
    out.lines += len(batch)
    return True


def _failed(ctx: RunContext, reference: str, batch: list[PushLine], why: str, out: Pushed, *, close: bool) -> None:
    """A batch BlueCherry did not take: ``failed_stock_increment`` per pair; the journal entry is closed as
    ``failed`` (refused: its pairs are planned again next run) or left ``posting`` (sent again as it is)."""
    with ctx.session() as session:
        entry = stock_repo.journal_entry(session, ctx.integration.name, reference)
        if entry is not None:
            entry.attempts = (entry.attempts or 0) + 1
            entry.error, entry.updated_at = why[:2000], utcnow()
            if close:
                entry.state = "failed"
        if close:
            out.refused.add(reference)
        for line in batch:
            out.failed_pairs += 1
            out.new_problems += int(ctx.hold(session, NewException(
                type=FAILED, entity_type=PAIR, entity_key=pair_key(*line.pair),
                summary=(f"BlueCherry did not take the available-to-sell of {line.sku} in {line.warehouse} "
                         f"({line.quantity}, adjustment {reference}): {why}")[:500],
                detail={"item_code": line.item_code, "site": line.site, "sku": line.sku,
                        "warehouse": line.warehouse, "quantity": line.quantity, "reference": reference,
                        "reason": why[:2000]},
                payload={"adjustment": {"reference": reference, "warehouse": line.warehouse,
                                        "lines": [{"sku": b.sku, "qty": b.quantity} for b in batch][:200]}})))


def push_one(ctx: RunContext, erp: Any, item_code: str, site: str, *, sku: str, warehouse: str,
             quantity: int) -> tuple[str, str]:
    """Publish ONE pair's on-hand now (the dashboard's edit-and-retry of a ``failed_stock_increment``), through
    the push's own journal and post: the line is journalled ``posting`` under its :func:`reference_for` before it
    is posted, so the same figure sent again is answered by BlueCherry with the first adjustment (never applied
    twice); the answer is checked, the position moved and the exception closed — or the exception refreshed.

    Returns ``(outcome, message)``: ``posted``, ``refused``, ``pending`` (BlueCherry did not answer: the entry
    stays ``posting`` and the next run sends it again) or ``busy`` (another entry of the pair is being posted)."""
    name = ctx.integration.name
    with ctx.session() as session:
        position = stock_repo.positions(session, name, [(item_code, site)]).get((item_code, site))
        line = PushLine(item_code, site, sku, warehouse, int(quantity), position.adjustment_ref if position else None)
        reference = reference_for(name, warehouse, [line])
        open_refs = {e.reference for e in stock_repo.open_journal(session, name)
                     if any((str(x["item_code"]), str(x["site"])) == (item_code, site) for x in e.lines or [])}
    if open_refs - {reference}:
        return "busy", f"an adjustment of {item_code} at {site} is being posted ({', '.join(sorted(open_refs))})"
    out = Pushed()
    _journal(ctx, reference, [line])
    answered = _post(ctx, erp, reference, warehouse, [line], out)
    what = f"on-hand {quantity} of {sku} in {warehouse}"
    if out.failed_pairs == 0:
        return "posted", f"BlueCherry holds {what} (adjustment {reference})"
    with ctx.session() as session:
        entry = stock_repo.journal_entry(session, name, reference)
        why = (entry.error if entry is not None else "") or "refused"
        state = entry.state if entry is not None else ""
    if not answered or state == "posting":
        return "pending", f"BlueCherry did not settle {what} ({reference}): {why}; the next run sends it again"
    return "refused", f"BlueCherry refused {what} ({reference}): {why}"


def _advance_cursor(ctx: RunContext) -> None:
    end = ctx.window.end
    if end is None:
        return
    with ctx.session() as session:
        naive = end.astimezone(UTC).replace(tzinfo=None) if end.tzinfo else end
        repo.advance_cursor(session, ctx.integration.name, ctx.flow, naive, ctx.run_id)


__all__ = ["PushLine", "Pushed", "answer_problem", "available_to_sell", "batches", "due_against", "push_availability",
           "push_one", "reference_for", "warehouse_for"]
