"""In-memory tenant of the BlueCherry simulator: styles, their SKUs, warehouses and counters, plus the
order-to-cash documents and stock in ``book`` (driven through the helpers of :class:`OrderHelpers`)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from erp_wms_simulators.bluecherry.catalog import StyleSpec, sku_records, style_record, upc_a
from erp_wms_simulators.bluecherry.helpers import OrderHelpers
from erp_wms_simulators.bluecherry.records import OrderBook
from erp_wms_simulators.bluecherry.settings import BlueCherrySettings
from erp_wms_simulators.callbacks import CallbackDispatcher
from erp_wms_simulators.common import Clock, SlidingWindowLimiter, utc_now
from erp_wms_simulators.faults import FaultPlan
from erp_wms_simulators.traffic import CallCounter

READ_ONLY_SKU_FIELDS = frozenset({"sku", "style", "color", "size", "updatedAt"})


class BlueCherryState(OrderHelpers):
    """One simulated BlueCherry company (``settings`` is shared with the app built on it)."""

    def __init__(self, clock: Clock = utc_now, company: str = "Demo Apparel",
                 settings: BlueCherrySettings | None = None) -> None:
        self.clock = clock
        self.settings = settings if settings is not None else BlueCherrySettings()
        self.book = OrderBook()
        self.company = company
        self.styles: dict[str, dict[str, Any]] = {}
        self.sku_rows: dict[str, dict[str, Any]] = {}
        self.warehouses: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self.throttled = 0
        self.traffic = CallCounter()  # per endpoint, counted by the served app (see traffic.py)
        self.limiter = SlidingWindowLimiter()
        self.lock = threading.RLock()
        self.faults = FaultPlan.none("bluecherry")
        self.callbacks = CallbackDispatcher("bluecherry", self.faults)
        self._upc_counter = 0

    # ---- styles and SKUs --------------------------------------------------------------------
    def add_style(self, style: str, style_name: str, colors: Sequence[tuple[str, str]] | Mapping[str, str],
                  sizes: Sequence[str], *, size_scale: str | None = None, division: str = "01",
                  season: str = "SP25", status: str = "ACTIVE", price: float = 0.0, weight: float = 0.0,
                  upcs: Mapping[str, str] | None = None, updated_at: datetime | None = None) -> dict[str, Any]:
        """Add a style and one SKU per colour × size; returns the style record.

        ``colors`` is ``[(code, name), …]`` or ``{code: name}``; ``upcs`` may fix the UPC of given SKUs
        (others get the next generated UPC).
        """
        pairs = list(colors.items()) if isinstance(colors, Mapping) else [(c[0], c[1]) for c in colors]
        spec = StyleSpec(style, style_name, pairs, list(sizes), size_scale or "-".join(sizes), division,
                         season, status, price, weight)
        spec.check()
        with self.lock:
            if style in self.styles:
                raise ValueError(f"style {style!r} already exists")
            record = style_record(spec, updated_at or self.clock())
            fixed = dict(upcs or {})
            generated = self._upcs(len(pairs) * len(spec.sizes))
            rows = sku_records(record, generated)
            for row in rows:
                row["upc"] = fixed.get(row["sku"], row["upc"])
                self.sku_rows[row["sku"]] = row
            self.styles[style] = record
            return record

    def update_style(self, style: str, **fields: Any) -> dict[str, Any]:
        """Change style fields (``status``, ``season``, ``price``…); its SKUs follow. Bumps ``updatedAt``."""
        with self.lock:
            record = self.styles.get(style)
            if record is None:
                raise KeyError(f"no style {style!r}")
            now = fields.pop("updatedAt", None) or self.clock()
            shared = {k: v for k, v in fields.items() if k in {"styleName", "division", "season", "status",
                                                                 "price", "weight"}}
            record.update({k: v for k, v in fields.items() if k in record and k not in {"style", "colors",
                                                                                          "sizes"}})
            record["updatedAt"] = now
            for row in self.style_skus(style):
                row.update(shared)
                row["updatedAt"] = now
            return record

    def update_sku(self, sku: str, **fields: Any) -> dict[str, Any]:
        """Change one SKU (``description``, ``upc``, ``status``, ``price``…); bumps its ``updatedAt``."""
        with self.lock:
            row = self.sku_rows.get(sku)
            if row is None:
                raise KeyError(f"no SKU {sku!r}")
            now = fields.pop("updatedAt", None) or self.clock()
            row.update({k: v for k, v in fields.items() if k in row and k not in READ_ONLY_SKU_FIELDS})
            row["updatedAt"] = now
            return row

    def skus(self) -> list[dict[str, Any]]:
        """Every SKU row, ordered by style, colour and size bucket."""
        with self.lock:
            return sorted(self.sku_rows.values(), key=lambda r: (r["style"], r["color"], r["sizeBucket"]))

    def style_skus(self, style: str) -> list[dict[str, Any]]:
        return [row for row in self.skus() if row["style"] == style]

    def _upcs(self, count: int) -> Iterable[str]:
        start = self._upc_counter
        self._upc_counter += count
        return [upc_a(n) for n in range(start + 1, start + count + 1)]

    # ---- warehouses -------------------------------------------------------------------------
    def add_warehouse(self, code: str, name: str, *, city: str = "", region: str = "", country: str = "US",
                      active: bool = True) -> dict[str, Any]:
        with self.lock:
            if code in self.warehouses:
                raise ValueError(f"warehouse {code!r} already exists")
            record = {"warehouse": code, "name": name, "city": city, "state": region, "country": country,
                      "active": active}
            self.warehouses[code] = record
            return record

    # ---- counters and snapshots -------------------------------------------------------------
    def count_call(self) -> None:
        with self.lock:
            self.calls += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"company": self.company, "calls": self.calls, "throttled": self.throttled,
                    "styles": len(self.styles), "skus": len(self.sku_rows),
                    "warehouses": sorted(self.warehouses), **self.book_counts()}

    def reset(self) -> None:
        with self.lock:
            self.styles.clear()
            self.sku_rows.clear()
            self.warehouses.clear()
            self.calls = 0
            self.throttled = 0
            self.traffic.reset()
            self._upc_counter = 0
            self.limiter.reset()
            self.book = OrderBook()
