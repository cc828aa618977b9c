"""Check: the Great Expectations suite ``inventory_sync`` over every queued stock movement.

Each movement's SKU must be one the ERP knows (item master sync keeps the ledger's catalogue) and its Peoplevox site
must be mapped to an ERP location; its History Id must be newer than the one before it for the same SKU × site (in
the batch, or the pair's applied watermark); quantities are whole numbers (the report reader already refuses any
other). A failing movement is ``held`` with an exception on its SKU × site (``unmapped_sku``, ``unmapped_location``)
carrying the movement, which holds the pair: no later movement of it is applied out of order. Held movements are
checked again every run and go on by themselves once the mapping exists. Stale movements are reported here and
handled by the apply step (``stale_stock_event``).
"""

from __future__ import annotations

import logging
from typing import Any

from erp_wms_sync.checks.suites import stock_movement_checks
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.inventory_sync.collect import PAIR, pair_key
from erp_wms_sync.ledger import repo, stock_repo
from erp_wms_sync.ledger.models import StockMovementRecord
from erp_wms_sync.ledger.repo import NewException

log = logging.getLogger(__name__)

SUITE = "inventory_sync"
HOLDING = ("unmapped_sku", "unmapped_location")


def frame_rows(rows: list[StockMovementRecord], watermarks: dict[tuple[str, str], int],
               skus: dict[str, str], sites: dict[str, str]) -> list[dict[str, Any]]:
    """One frame row per movement, in History Id order; ``PreviousHistoryId`` is the pair's previous movement in
    the batch, or its applied watermark (-1 when none)."""
    previous = dict(watermarks)
    out = []
    for row in sorted(rows, key=lambda r: r.history_id):
        pair = (row.item_code, row.site)
        out.append({"HistoryId": int(row.history_id), "ItemCode": skus.get(row.item_code),
                     "Site": sites.get(row.site), "Quantity": str(row.quantity), "PairKey": pair_key(*pair),
                     "PreviousHistoryId": previous.get(pair, -1)})
        previous[pair] = max(previous.get(pair, -1), int(row.history_id))
    return out


def check(ctx: RunContext) -> dict[str, int]:
    """Run the suite over queued, waiting and held movements; hold the failing pairs, release the fixed ones."""
    import pandas as pd

    from erp_wms_sync.checks.runner import run_checks

    name = ctx.integration.name
    counts = {"checked": 0, "held": 0, "released": 0, "new_problems": 0}
    with ctx.session() as session:
        limit = ctx.integration.stock.max_movements_per_run
        # new movements first: held ones (a pair waiting on a person) never keep a new problem from being seen
        rows = stock_repo.movements_in_states(session, name, ("queued", "waiting"), limit=limit)
        if len(rows) < limit:
            rows += stock_repo.movements_in_states(session, name, ("held",), limit=limit - len(rows))
            rows.sort(key=lambda row: int(row.history_id))
        if not rows:
            return counts
        pairs = {(r.item_code, r.site) for r in rows}
        watermarks = {pair: int(p.last_history_id) for pair, p in stock_repo.positions(session, name, pairs).items()}
        known = repo.known_catalogue_skus(session, name, {ctx.integration.sku_for(r.item_code) for r in rows})
        skus = {r.item_code: r.item_code for r in rows if ctx.integration.sku_for(r.item_code) in known}
        mapped_sites = {loc.wms_site: loc.wms_site for loc in ctx.integration.locations}
        sites = {r.site: r.site for r in rows if r.site in mapped_sites}
        table = frame_rows(rows, watermarks, skus, sites)
        # the suite names a value the check does not know as missing: unknown SKUs and sites are blanked here and
        # checked as "in the set of known ones" by the suite, so its failures name them
        outcome = run_checks(SUITE, pd.DataFrame([{**r, "ItemCode": r["ItemCode"] or "",
                                                   "Site": r["Site"] or ""} for r in table]),
                             stock_movement_checks(sorted(skus), sorted(mapped_sites)))
        by_history = {int(r.history_id): r for r in rows}
        bad_pairs: dict[tuple[str, str], dict[str, list[str]]] = {}
        for position, reasons in outcome.failures.items():
            row = by_history[int(table[position]["HistoryId"])]
            kinds = outcome.categories.get(position, [])
            for reason, kind in zip(reasons, kinds, strict=False):
                if kind in HOLDING:
                    bad_pairs.setdefault((row.item_code, row.site), {}).setdefault(kind, []).append(reason)
        for (item, site), problems in bad_pairs.items():
            held_rows = [r for r in rows if (r.item_code, r.site) == (item, site)]
            stock_repo.set_movement_state(session, [r.id for r in held_rows], "held")
            counts["held"] += len(held_rows)
            for kind, reasons in problems.items():
                counts["new_problems"] += int(ctx.hold(session, NewException(
                    type=kind, entity_type=PAIR, entity_key=pair_key(item, site),
                    summary=(f"Stock movements of Peoplevox item {item} at site {site} cannot reach the ERP: "
                             f"{sorted(set(reasons))[0]} ({len(held_rows)} movements held, applied in order once "
                             f"fixed)")[:500],
                    detail={"item_code": item, "site": site, "reasons": sorted(set(reasons)),
                            "sku": ctx.integration.sku_for(item)},
                    payload={"movements": [dict(r.payload or {}) for r in held_rows][:200]})))
        fixed = [r for r in rows if r.state == "held" and (r.item_code, r.site) not in bad_pairs]
        if fixed:
            stock_repo.set_movement_state(session, [r.id for r in fixed], "queued")
            repo.resolve_exceptions(session, integration=name, entity_type=PAIR,
                                    entity_keys={pair_key(r.item_code, r.site) for r in fixed}, types=HOLDING,
                                    by="inventory_sync", note="mapping found; movements applied in order",
                                    run_id=ctx.run_id)
            counts["released"] = len(fixed)
        counts["checked"] = len(rows)
        repo.record_check(session, integration=name, flow=ctx.flow, suite=SUITE, run_id=ctx.run_id,
                          success=outcome.success, evaluated=len(rows), failed_records=len(outcome.failures),
                          summary=outcome.summary)
    log.info("%s inventory sync check: %s", name, counts)
    return counts
