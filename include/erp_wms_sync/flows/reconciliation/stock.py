"""The stock section of reconciliation: both snapshots as DataFrames, what is in flight between them, and the
second read that keeps only variances seen twice.

- :func:`erp_stock`: the ERP's figure per SKU × ERP location. Cin7 Core: ``OnHand`` of ``productavailability``
  summed over bins and batches, mapped locations only. BlueCherry: available-to-sell (on-hand − allocated −
  picked) per SKU × warehouse — what the BlueCherry inventory push keeps equal to Peoplevox's available, so the two
  are compared like for like (see docs/design-notes.md, "Reconciliation").
- :func:`wms_stock`: Peoplevox's "Item inventory summary": on-hand in the locations the ERP counts (Cin7 Core), or
  available-to-sell (BlueCherry), item code → ERP SKU, site → ERP location. Unreadable rows are problems, and
  their pairs are left out of both sides (never compared from a partial view).
- :func:`in_flight`: from the ledger, the changes Peoplevox made that the ERP has not booked yet.
- :func:`snapshot`: the order of reads (Peoplevox first, then the ERP) and the second read of the variant pairs.

Columns are built as lists per column (not a dict per row) and turned into one DataFrame at the end.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from erp_wms_sync.config import Integration
from erp_wms_sync.domain import stock_levels as sl
from erp_wms_sync.domain import stock_sequencing as seq
from erp_wms_sync.domain.pv_reports import COL_ITEM, RowProblem
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.ledger import repo, stock_repo
from erp_wms_sync.ledger.models import StockMovementRecord

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

IN_FLIGHT_STATES = ("queued", "waiting", "held")
MAX_REREAD_PAIRS = 500
CLAUSE_TERMS = 100  # OR-ed Equals terms per Peoplevox report call (what Peoplevox's own clients batch)
Pair = tuple[str, str]


def is_bluecherry(integration: Integration) -> bool:
    return integration.erp.kind.value == "bluecherry"


def _location_names(integration: Integration) -> dict[str, str]:
    """casefolded ERP location name → the name as the YAML spells it."""
    return {loc.erp.casefold(): loc.erp for loc in integration.locations}


def _site_locations(integration: Integration) -> dict[str, str]:
    """casefolded Peoplevox site → ERP location (the first ``locations`` entry naming the site)."""
    out: dict[str, str] = {}
    for loc in integration.locations:
        out.setdefault(loc.wms_site.casefold(), loc.erp)
    return out


def _frame(skus: list[str], locations: list[str], quantities: list[int], column: str = "on_hand") -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({"sku": pd.Series(skus, dtype=object), "location": pd.Series(locations, dtype=object),
                          column: pd.Series(quantities, dtype="int64")})
    return frame.groupby(["sku", "location"], as_index=False, sort=True)[column].sum()


@dataclass(frozen=True)
class Problem:
    """A row of a snapshot that cannot be compared (listed in the report)."""

    source: str
    where: str
    sku: str
    location: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "where": self.where, "sku": self.sku, "location": self.location,
                "reason": self.reason}


# --- the ERP side -------------------------------------------------------------------------------------------------
def erp_stock(integration: Integration, erp: Any, *, locations: Iterable[str] | None = None,
              problems: list[Problem] | None = None) -> pd.DataFrame:
    """The ERP's figure per (sku, location) of the mapped locations (or only ``locations``). A Cin7 quantity that
    is not a whole number is a problem (in ``problems`` when given), its pair left out."""
    names = _location_names(integration)
    wanted = {name.casefold() for name in locations} if locations is not None else set(names)
    skus: list[str] = []
    places: list[str] = []
    quantities: list[int] = []
    bad: list[Problem] = problems if problems is not None else []
    if is_bluecherry(integration):
        for warehouse in sorted({names[w] for w in wanted if w in names}):
            for row in erp.iter_inventory(warehouse=warehouse):
                if row.warehouse.casefold() != warehouse.casefold():
                    raise ValueError(f"BlueCherry GET inventory for warehouse {warehouse!r} answered a row of "
                                     f"{row.warehouse!r} (SKU {row.sku!r})")
                skus.append(row.sku)
                places.append(warehouse)
                quantities.append(int(row.on_hand) - int(row.allocated) - int(row.picked))
        return _frame(skus, places, quantities)
    rows = erp.iter_availability() if locations is None or len(wanted) > 3 else (
        row for name in sorted(wanted) if name in names for row in erp.iter_availability(location=names[name]))
    broken: set[Pair] = set()
    for row in rows:
        place = names.get(row.location.strip().casefold())
        if place is None or place.casefold() not in wanted:
            continue
        on_hand = Decimal(row.on_hand)
        if on_hand != on_hand.to_integral_value():
            broken.add((row.sku, place))
            bad.append(Problem("Cin7 Core productavailability", f"bin {row.bin or '-'} batch {row.batch or '-'}",
                               row.sku, place, f"on-hand {on_hand} is not a whole number"))
            continue
        skus.append(row.sku)
        places.append(place)
        quantities.append(int(on_hand))
    frame = _frame(skus, places, quantities)
    if broken:
        frame = drop_pairs(frame, broken)
    return frame


# --- the Peoplevox side -------------------------------------------------------------------------------------------
def wms_stock(integration: Integration, wms: Any, *,
              item_codes: Iterable[str] | None = None) -> tuple[pd.DataFrame, list[Problem]]:
    """Peoplevox's figure per (sku, location) and the rows that cannot be compared: the whole report, or only the
    rows of ``item_codes`` (``[Item code].Equals(…)`` clauses of :data:`CLAUSE_TERMS` codes per call)."""
    if item_codes is None:
        rows: Iterable[Any] = wms.get_report(sl.LEVEL_REPORT, columns=sl.LEVEL_COLUMNS, key=COL_ITEM)
    else:
        rows = (row for clause in item_clauses(item_codes)
                for row in wms.get_report(sl.LEVEL_REPORT, columns=sl.LEVEL_COLUMNS, search_clause=clause,
                                          key=COL_ITEM))
    levels, row_problems = sl.levels_from_report(rows)
    return wms_frame(integration, levels, row_problems)


def item_clauses(item_codes: Iterable[str], terms: int = 0) -> list[str]:
    """Report search clauses naming these item codes, ``terms`` (default :data:`CLAUSE_TERMS`) per clause."""
    size = terms or CLAUSE_TERMS
    codes = sorted({code for code in item_codes if code})
    quoted = [code.replace("\\", "\\\\").replace('"', '\\"') for code in codes]
    return ["(" + " OR ".join(f'[{COL_ITEM}].Equals("{code}")' for code in quoted[start:start + size]) + ")"
            for start in range(0, len(quoted), size)]


def wms_frame(integration: Integration, levels: Sequence[sl.StockLevel],
              row_problems: Sequence[RowProblem]) -> tuple[pd.DataFrame, list[Problem]]:
    rules = seq.LocationRules.from_settings(integration.stock)
    sites = _site_locations(integration)
    bluecherry = is_bluecherry(integration)
    totals: dict[Pair, int] = defaultdict(int)
    unmapped: dict[str, int] = defaultdict(int)
    for level in levels:
        place = sites.get(level.site.strip().casefold())
        if place is None:
            unmapped[level.site] += 1
            continue
        counts = rules.counts(level.location)
        figure = (level.available if bluecherry else level.on_hand) if counts else 0
        totals[(integration.sku_for(level.item_code), place)] += figure
    problems = [Problem("Peoplevox Item inventory summary", f"row {p.position}", integration.sku_for(p.item_code)
                        if p.item_code else "", sites.get(p.site.strip().casefold(), p.site), p.reason)
                for p in row_problems]
    problems += [Problem("Peoplevox Item inventory summary", f"{count} rows", "", site,
                         "the site is not mapped to an ERP location (integration YAML 'locations')")
                 for site, count in sorted(unmapped.items())]
    items = sorted(totals.items())
    frame = _frame([sku for (sku, _), _ in items], [place for (_, place), _ in items],
                   [max(q, 0) if bluecherry else q for _, q in items])
    return frame, problems


# --- in flight ----------------------------------------------------------------------------------------------------
def in_flight(session: Any, integration: Integration) -> pd.DataFrame:
    """Signed changes Peoplevox made that the ERP has not booked yet, per (sku, location): columns sku, location,
    quantity (several rows per pair allowed; they are summed by the comparison).

    - Movements queued, waiting (a despatch Cin7 has not shipped yet) or held (an exception): their counted change,
      except a despatch dispatch confirmation already shipped in Cin7 (the ERP has it).
    - Despatches already applied by inventory sync that Cin7 refused (an open ``fulfilment_rejected``): Cin7 still
      holds that stock, so their quantity is in flight too.

    BlueCherry has no movement queue (the push publishes Peoplevox's figure every run): nothing is in flight."""
    import pandas as pd

    columns: dict[str, list[Any]] = {"sku": [], "location": [], "quantity": []}
    if is_bluecherry(integration):
        return pd.DataFrame(columns, dtype=object).astype({"quantity": "int64"})
    from erp_wms_sync.flows.inventory_sync.apply import despatch_states, refused_orders

    name = integration.name
    sites = _site_locations(integration)
    rows = stock_repo.movements_in_states(session, name, IN_FLIGHT_STATES, limit=1_000_000)
    moves = [seq.Move(r.id, int(r.history_id), r.item_code, r.site, int(r.counted_delta), r.kind,
                      r.sales_order or "", int(r.quantity)) for r in rows]
    orders = refused_orders(session, name)
    positions = stock_repo.positions(session, name, {m.pair for m in moves})
    state_of = despatch_states(session, name, moves, positions, orders)
    flying: list[seq.Move] = [m for m in moves if m.delta and (m.kind != seq.DESPATCH or state_of(m) != seq.BOOKED)]
    for start in range(0, len(orders), 500):
        for row in session.scalars(select(StockMovementRecord).where(
                StockMovementRecord.integration == name, StockMovementRecord.kind == seq.DESPATCH,
                StockMovementRecord.state == "applied",
                StockMovementRecord.sales_order.in_(orders[start:start + 500]))):
            move = seq.Move(row.id, int(row.history_id), row.item_code, row.site, int(row.counted_delta), row.kind,
                            row.sales_order or "", int(row.quantity))
            if state_of(move) == seq.REFUSED:
                flying.append(move)
    for move in flying:
        place = sites.get(move.site.casefold())
        if place is None:
            continue
        columns["sku"].append(integration.sku_for(move.item_code))
        columns["location"].append(place)
        columns["quantity"].append(move.delta)
    return pd.DataFrame(columns).astype({"sku": object, "location": object, "quantity": "int64"})


def drop_pairs(frame: pd.DataFrame, pairs: Iterable[Pair]) -> pd.DataFrame:
    """``frame`` without the rows of ``pairs`` ((sku, location))."""
    import pandas as pd

    wanted = list(pairs)
    if not wanted or frame.empty:
        return frame
    index = pd.MultiIndex.from_tuples(wanted, names=["sku", "location"])
    keys = pd.MultiIndex.from_frame(frame[["sku", "location"]])
    return frame.loc[~keys.isin(index)].reset_index(drop=True)


def only_pairs(frame: pd.DataFrame, pairs: Iterable[Pair]) -> pd.DataFrame:
    import pandas as pd

    wanted = list(pairs)
    if frame.empty:
        return frame
    index = pd.MultiIndex.from_tuples(wanted, names=["sku", "location"]) if wanted else None
    keys = pd.MultiIndex.from_frame(frame[["sku", "location"]])
    if index is None:
        return frame.iloc[0:0]
    return frame.loc[keys.isin(index)].reset_index(drop=True)


# --- the two reads ------------------------------------------------------------------------------------------------
@dataclass
class Snapshot:
    """Both sides and what is in flight, as compared; ``reread`` pairs were read twice."""

    erp: pd.DataFrame
    wms: pd.DataFrame
    in_flight: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    reread: int = 0
    dropped_by_reread: int = 0
    movements_caught_up: int = 0


def catch_up_movements(ctx: RunContext, wms: Any, now: datetime) -> int:
    """Queue the Peoplevox movements inventory sync has not read yet (Cin7 Core), so that they count as in flight
    instead of as variances. Reads the movement history from inventory sync's watermark less its overlap; nothing
    to do before inventory sync's first run (its positions then open from a snapshot anyway)."""
    if is_bluecherry(ctx.integration):
        return 0
    from erp_wms_sync.flows.inventory_sync.collect import read_movements, store

    with ctx.session() as session:
        cursor = repo.get_cursor(session, ctx.integration.name, "inventory_sync")
        watermark = cursor.watermark if cursor is not None else None
    if watermark is None:
        return 0
    since = watermark.replace(tzinfo=UTC) - timedelta(minutes=ctx.integration.stock.report_overlap_minutes)
    movements, problems = read_movements(ctx, wms, min(since, now))
    try:
        return len(store(ctx, movements, problems))
    except IntegrityError:  # inventory sync queued some of them at the same moment: the rest are queued now
        return len(store(ctx, movements, problems))


def read_once(ctx: RunContext, wms: Any, erp: Any, now: datetime, *,
              pairs: Sequence[Pair] | None = None) -> Snapshot:
    """Peoplevox's movements, then its stock, then the ERP's stock, then what the ledger holds in flight (all of
    it, or only what the ``pairs`` need: their item codes in Peoplevox, their locations in the ERP)."""
    caught_up = catch_up_movements(ctx, wms, now)
    codes = None if pairs is None else {ctx.integration.item_code_for(sku) for sku, _ in pairs}
    locations = None if pairs is None else {place for _, place in pairs}
    wms_frame_, problems = wms_stock(ctx.integration, wms, item_codes=codes)
    erp_frame = erp_stock(ctx.integration, erp, locations=locations, problems=problems)
    with ctx.session() as session:
        flying = in_flight(session, ctx.integration)
    held = {(p.sku, p.location) for p in problems if p.sku and p.location}
    return Snapshot(drop_pairs(erp_frame, held), drop_pairs(wms_frame_, held), drop_pairs(flying, held), problems,
                    movements_caught_up=caught_up)


def snapshot(ctx: RunContext, wms: Any, erp: Any, tolerance: Any, *, now: datetime | None = None) -> Snapshot:
    """Read both sides, compare, re-read only the variant pairs (at most :data:`MAX_REREAD_PAIRS`, largest first)
    and keep their second figures: a variance is reported only when the second read still shows one, so a
    movement landing between the two snapshots is not a variance."""
    import pandas as pd

    from erp_wms_sync.domain.reconciliation import compare_stock

    now = now or datetime.now(UTC)
    first = read_once(ctx, wms, erp, now)
    differences = compare_stock(first.erp, first.wms, first.in_flight, tolerance).differences
    lacking = items_peoplevox_lacks(ctx, wms, differences)
    if lacking:
        first = _without_items(ctx, first, differences, lacking)
        differences = differences[~differences["sku"].isin(lacking)]
    if differences.empty:
        return first
    variant = list(zip(differences["sku"].head(MAX_REREAD_PAIRS), differences["location"].head(MAX_REREAD_PAIRS),
                       strict=True))
    second = read_once(ctx, wms, erp, now, pairs=variant)
    again = compare_stock(only_pairs(second.erp, variant), only_pairs(second.wms, variant),
                          only_pairs(second.in_flight, variant), tolerance).differences
    merged = Snapshot(
        erp=pd.concat([drop_pairs(first.erp, variant), only_pairs(second.erp, variant)], ignore_index=True),
        wms=pd.concat([drop_pairs(first.wms, variant), only_pairs(second.wms, variant)], ignore_index=True),
        in_flight=pd.concat([drop_pairs(first.in_flight, variant), only_pairs(second.in_flight, variant)],
                            ignore_index=True),
        problems=_unique(first.problems + second.problems), reread=len(variant),
        dropped_by_reread=len(variant) - len(again),
        movements_caught_up=first.movements_caught_up + second.movements_caught_up)
    log.info("%s reconciliation: %d variant pairs read again, %d of them agree now", ctx.integration.name,
             merged.reread, merged.dropped_by_reread)
    return merged


def items_peoplevox_lacks(ctx: RunContext, wms: Any, differences: pd.DataFrame) -> set[str]:
    """The ERP SKUs of the ERP-only differences whose Item type Peoplevox does not have (asked by ItemCode, in
    batches). Their stock is an item master gap — reported by the items section as ``unmapped_sku`` — not a stock
    variance: proposing to set the ERP to Peoplevox's zero would wipe stock the warehouse has simply not been
    told about yet (an item item master sync has yet to create, or could not)."""
    from erp_wms_sync.domain.reconciliation import ERP_ONLY
    from erp_wms_sync.flows.order_release.rows import wms_item_codes

    lone = differences.loc[differences["side"] == ERP_ONLY, "sku"]
    if lone.empty:
        return set()
    codes = {str(sku): ctx.integration.item_code_for(str(sku)) for sku in dict.fromkeys(lone)}
    known = {code.casefold() for code in wms_item_codes(wms, codes.values())}
    return {sku for sku, code in codes.items() if code.casefold() not in known}


def _without_items(ctx: RunContext, snap: Snapshot, differences: pd.DataFrame, lacking: set[str]) -> Snapshot:
    """``snap`` without the pairs of SKUs Peoplevox has no Item type for, each listed as a problem instead."""
    gap = differences[differences["sku"].isin(lacking)]
    pairs = list(zip(gap["sku"], gap["location"], strict=True))
    code_of = ctx.integration.item_code_for
    problems = [Problem("Peoplevox Item types", "", str(sku), str(location),
                        f"Peoplevox has no Item type {code_of(str(sku))}: an item master gap (see the items "
                        "section), not compared as stock") for sku, location in pairs]
    log.info("%s reconciliation: %d pair(s) of %d SKU(s) Peoplevox has no Item type for, left to the items section",
             ctx.integration.name, len(pairs), len(lacking))
    return Snapshot(drop_pairs(snap.erp, pairs), drop_pairs(snap.wms, pairs), drop_pairs(snap.in_flight, pairs),
                    _unique(snap.problems + problems), snap.reread, snap.dropped_by_reread, snap.movements_caught_up)


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
