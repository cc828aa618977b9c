"""How much stock Peoplevox holds, read from the "Item inventory summary" report (one row per bin), and how much
of it may be sold.

- :class:`StockLevel` / :func:`levels_from_report`: the report's bins (item, site, location) with their on-hand,
  allocated and available figures.
- :func:`sellable_on_hand`: on-hand stock summed per SKU × site over the locations the integration names as
  sellable (quarantine, despatch and returns areas left out by not naming them).

The reader is strict about shape and never sums from a guess: a row it cannot read, or a bin listed twice with
other figures, is a :class:`~erp_wms_sync.domain.pv_reports.RowProblem` naming the row and why
(:func:`~erp_wms_sync.domain.pv_reports.held_pairs` names the SKU × site pairs to hold), and the good rows are
still returned. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from erp_wms_sync.domain.pv_reports import (
    COL_ITEM,
    COL_SITE,
    RowProblem,
    read_rows,
    required_cell,
    row_problem,
    whole_cell,
)

LEVEL_REPORT = "Item inventory summary"
COL_LOCATION = "Location"
COL_ON_HAND = "On hand"
COL_ALLOCATED = "Allocated"
COL_AVAILABLE = "Available"
LEVEL_COLUMNS: tuple[str, ...] = (COL_ITEM, COL_SITE, COL_LOCATION, COL_ON_HAND, COL_ALLOCATED, COL_AVAILABLE)


@dataclass(frozen=True)
class StockLevel:
    """One bin of "Item inventory summary": an item at a site and location."""

    item_code: str
    site: str
    location: str  # "" when the report gives stock per item and site only
    on_hand: int
    allocated: int
    available: int

    @property
    def bin(self) -> tuple[str, str, str]:
        return self.item_code, self.site, self.location


def levels_from_report(rows: Iterable[Mapping[str, Any]]) -> tuple[list[StockLevel], list[RowProblem]]:
    """The bins of "Item inventory summary" rows, in report order, and the rows that cannot be read.

    A row needs an Item code and On hand, Allocated and Available that are whole numbers (a negative figure is
    kept as written). A bin (item, site, location) listed twice with the same figures is one bin; with
    different figures both rows are problems, so a SKU × site is never summed from a guess.
    :class:`~erp_wms_sync.domain.pv_reports.BadReport` when the report has no Item code column."""
    read: dict[tuple[str, str, str], tuple[int, StockLevel, dict[str, str]]] = {}
    conflicts: set[tuple[str, str, str]] = set()
    problems: list[RowProblem] = []
    for position, row in read_rows(rows, LEVEL_REPORT, COL_ITEM):
        reasons: list[str] = []
        item = required_cell(row, COL_ITEM, reasons)
        figures = [whole_cell(row, column, reasons) for column in (COL_ON_HAND, COL_ALLOCATED, COL_AVAILABLE)]
        on_hand, allocated, available = figures
        if reasons or on_hand is None or allocated is None or available is None:
            problems.append(row_problem(LEVEL_REPORT, position, row, COL_ITEM, reasons))
            continue
        level = StockLevel(item, row.get(COL_SITE, ""), row.get(COL_LOCATION, ""), on_hand, allocated, available)
        earlier = read.get(level.bin)
        if earlier is None:
            read[level.bin] = (position, level, row)
        elif earlier[1] != level:
            conflicts.add(level.bin)
            problems.append(row_problem(LEVEL_REPORT, position, row, COL_ITEM,
                                        [f"repeats the bin of row {earlier[0]} with other figures"]))
    good: list[StockLevel] = []
    for bin_, (position, level, row) in read.items():
        if bin_ in conflicts:
            problems.append(row_problem(LEVEL_REPORT, position, row, COL_ITEM,
                                        ["lists a bin that a later row repeats with other figures"]))
        else:
            good.append(level)
    problems.sort(key=lambda p: p.position)
    return good, problems


def sellable_on_hand(levels: Iterable[StockLevel], sellable_locations: Collection[str]) -> dict[tuple[str, str], int]:
    """(ItemCode, site) -> on-hand stock summed over the locations that count as sellable; every pair the levels
    name is in the result, 0 when none of its stock is sellable (so a sold-out item is published as 0).

    Each entry of ``sellable_locations`` is an exact location name (``A-01-01``), or a prefix when it ends in
    ``*`` (``A-*`` takes ``A-01-01`` and ``A-02-03``; ``*`` alone takes every location); names compare
    case-insensitively. Quarantine, despatch and returns areas are left out simply by not naming them. An empty
    setting is a ``ValueError``: it would publish every item as out of stock."""
    names, prefixes = _location_rules(sellable_locations)
    totals: dict[tuple[str, str], int] = {}
    for level in levels:
        key = (level.item_code, level.site)
        location = level.location.strip().casefold()
        counts = location in names or any(location.startswith(prefix) for prefix in prefixes)
        totals[key] = totals.get(key, 0) + (level.on_hand if counts else 0)
    return totals


def _location_rules(entries: Collection[str]) -> tuple[set[str], tuple[str, ...]]:
    if isinstance(entries, str):
        raise TypeError("sellable_locations is a collection of location names or prefixes, not one string")
    cleaned = [entry.strip().casefold() for entry in entries if entry.strip()]
    if not cleaned:
        raise ValueError("no sellable locations are configured: name the locations (or 'PREFIX*') whose stock "
                         "may be sold")
    names = {entry for entry in cleaned if not entry.endswith("*")}
    prefixes = tuple(entry[:-1] for entry in cleaned if entry.endswith("*"))
    return names, prefixes
