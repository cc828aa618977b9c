"""Stock of the BlueCherry simulator, per SKU × warehouse, in buckets that really move:

- ``onHand``: physically in the warehouse (includes what is allocated or on a pick ticket);
- ``allocated``: reserved for an order line, not yet on a pick ticket;
- ``picked``: on a printed pick ticket, waiting to ship;
- ``available`` = onHand − allocated − picked (computed, never stored);
- ``onOrder`` (open purchase orders) and ``wip`` (in production): informational;
- ``quarantine``: damaged returns, kept out of onHand.

Each change bumps the row's ``updatedAt``, which ``GET /inventory?updatedSince=`` reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from erp_wms_simulators.common import format_timestamp

BUCKETS = ("onHand", "allocated", "picked", "onOrder", "wip", "quarantine")
IDENTITY = ("sku", "style", "color", "size", "division")


def available(row: Mapping[str, Any]) -> int:
    return int(row["onHand"]) - int(row["allocated"]) - int(row["picked"])


@dataclass
class StockLedger:
    """Stock rows keyed by ``(sku, warehouse)``; a row appears the first time the pair is touched."""

    rows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def get(self, sku: str, warehouse: str) -> dict[str, Any] | None:
        return self.rows.get((sku, warehouse))

    def row(self, sku_row: Mapping[str, Any], warehouse: str, now: datetime) -> dict[str, Any]:
        """The row of a SKU (given as its catalogue row) in ``warehouse``, created at zero if new."""
        key = (str(sku_row["sku"]), warehouse)
        found = self.rows.get(key)
        if found is None:
            found = {name: sku_row.get(name, "") for name in IDENTITY}
            found.update({"warehouse": warehouse, "updatedAt": now})
            found.update(dict.fromkeys(BUCKETS, 0))
            self.rows[key] = found
        return found

    def free(self, sku: str, warehouse: str) -> int:
        row = self.rows.get((sku, warehouse))
        return 0 if row is None else max(available(row), 0)

    def move(self, row: dict[str, Any], now: datetime, **deltas: int) -> dict[str, Any]:
        """Add ``deltas`` (e.g. ``onHand=-2, picked=-2``) to the row's buckets and bump ``updatedAt``."""
        unknown = sorted(set(deltas) - set(BUCKETS))
        if unknown:
            raise ValueError(f"unknown stock bucket(s): {', '.join(unknown)}")
        for name, delta in deltas.items():
            row[name] = int(row[name]) + int(delta)
        row["updatedAt"] = now
        return row

    def set_levels(self, row: dict[str, Any], now: datetime, **levels: int) -> dict[str, Any]:
        """Set buckets to absolute values (seeding, absolute adjustments)."""
        current = {name: int(row[name]) for name in levels}
        return self.move(row, now, **{name: int(value) - current[name] for name, value in levels.items()})

    def sorted_rows(self) -> Iterator[dict[str, Any]]:
        for key in sorted(self.rows):
            yield self.rows[key]


def render_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stock row as ``GET /inventory`` returns it."""
    out: dict[str, Any] = {name: row[name] for name in ("sku", "style", "color", "size", "division",
                                                          "warehouse")}
    out.update({"onHand": row["onHand"], "allocated": row["allocated"], "picked": row["picked"],
                "available": available(row), "onOrder": row["onOrder"], "wip": row["wip"],
                "quarantine": row["quarantine"], "updatedAt": format_timestamp(row["updatedAt"], millis=False)})
    return out
