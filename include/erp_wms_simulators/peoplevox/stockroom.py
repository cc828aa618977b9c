"""Stock operations of the simulated warehouse that involve no sales order: goods in, stock counts and
adjustments, plus read-only views of bins, movements and published events.

Goods in publishes ``GoodsReceived`` (one event per delivery, its lines joined with commas) after one
``IncrementalChanges`` per line; counts and adjustments publish ``IncrementalChanges``; each publishes
``AvailabilityChanges`` for the items whose available quantity changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from erp_wms_simulators.peoplevox import entities, events
from erp_wms_simulators.peoplevox.floor import ADJUSTMENT, GOODS_IN, STOCK_COUNT, Floor, WarehouseError
from erp_wms_simulators.peoplevox.stock import EventRecord, GoodsIn, Movement


def _quantity(value: int, what: str, *, allow_zero: bool = False) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if allow_zero else 1):
        bound = "0 or more" if allow_zero else "a positive whole number"
        raise WarehouseError(f"{what} must be {bound}, got {value!r}")
    return value


class Stockroom(Floor):
    """Stock in, stock counted, stock adjusted."""

    def goods_in(self, item: str, quantity: int, site: str, po: str | None = None, *, location: str | None = None,
                 reference: str | None = None, supplier: str = "", carrier: str = "",
                 delivery_note: str = "") -> GoodsIn:
        """Receive ``quantity`` of one item at ``site`` (into the pick location unless ``location``)."""
        return self.receive_delivery({item: quantity}, site, po, location=location, reference=reference,
                                     supplier=supplier, carrier=carrier, delivery_note=delivery_note)

    def receive_delivery(self, lines: Mapping[str, int], site: str, po: str | None = None, *,
                         location: str | None = None, reference: str | None = None, supplier: str = "",
                         carrier: str = "", delivery_note: str = "") -> GoodsIn:
        """Receive a delivery of several items (one ``GoodsReceived`` event for all of them)."""
        with self.state.lock:
            site = self.require_site(site)
            target = self._bin_location(location)
            if not lines:
                raise WarehouseError("a delivery needs at least one item")
            checked = {self.require_item(item): _quantity(qty, f"quantity of {item}") for item, qty in lines.items()}
            goods_in_id = self.book.next_number("goods_in")
            with self.watching(checked):
                for item, quantity in checked.items():
                    self.move(item, site, quantity, source=GOODS_IN, target=target, reason="Goods in",
                              comments=po or "")
                record = GoodsIn(goods_in_id, reference or f"GI{goods_in_id:06d}", self.state.now(), site, po or "",
                                 supplier, carrier, delivery_note, self.settings.warehouse_user,
                                 tuple((item, quantity, target) for item, quantity in checked.items()))
                self.book.goods_in.append(record)
                names = {item: self.item_name(item) for item in checked}
                self.publish(events.GOODS_RECEIVED, entities.goods_in_values(record, names, self.settings))
            return record

    def stock_count(self, item: str, site: str, counted: int, *, location: str | None = None) -> Movement | None:
        """Record a physical count of one bin; the difference becomes a ``Stock count`` movement."""
        with self.state.lock:
            site, location = self.require_site(site), self._bin_location(location)
            self.require_item(item)
            delta = _quantity(counted, "the counted quantity", allow_zero=True) - self.book.on_hand(
                (item, site, location))
            if not delta:
                return None
            with self.watching([item]):
                return self._book_difference(item, site, location, delta, STOCK_COUNT, "Stock count")

    def adjust(self, item: str, site: str, delta: int, *, reason: str = "Adjustment",
               location: str | None = None) -> Movement:
        """Add (positive ``delta``) or write off (negative) stock in one bin."""
        with self.state.lock:
            site, location = self.require_site(site), self._bin_location(location)
            self.require_item(item)
            if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
                raise WarehouseError(f"an adjustment needs a non-zero whole number, got {delta!r}")
            held = self.book.on_hand((item, site, location))
            if held + delta < 0:
                raise WarehouseError(f"bin {location} at {site} holds {held} of {item}; cannot remove {-delta}")
            with self.watching([item]):
                return self._book_difference(item, site, location, delta, ADJUSTMENT, reason or "Adjustment")

    def _book_difference(self, item: str, site: str, location: str, delta: int, place: str,
                         reason: str) -> Movement:
        if delta > 0:
            return self.move(item, site, delta, source=place, target=location, reason=reason)
        return self.move(item, site, -delta, source=location, target=place, reason=reason)

    def _bin_location(self, location: str | None) -> str:
        name = (location or self.settings.pick_location).strip()
        if not name or self.location_type(name) not in ("Pick", "Quarantine"):
            raise WarehouseError(f"'{name}' is not a stock location (use a pick location or "
                                 f"{self.settings.quarantine_location})")
        return name

    # -- views ---------------------------------------------------------------------------------------
    def available(self, item: str, site: str | None = None) -> int:
        with self.state.lock:
            return self.figures(item, self.require_site(site) if site else None)[0]

    def stock(self, item: str | None = None, site: str | None = None) -> list[dict[str, Any]]:
        """Every bin holding or reserving stock (optionally of one item / site), with on hand, allocated
        and available quantities."""
        with self.state.lock:
            rows = []
            for bin_ in sorted(self.book.bins):
                code, where, location = bin_
                on_hand, allocated = self.book.on_hand(bin_), self.book.allocated.get(bin_, 0)
                if (item and code != item) or (site and where.lower() != site.lower()) or not (on_hand or allocated):
                    continue
                rows.append({"item_code": code, "site": where, "location": location, "on_hand": on_hand,
                             "allocated": allocated,
                             "available": on_hand - allocated if self.pickable(location) else 0})
            return rows

    def movements(self, after_history_id: int = 0) -> list[Movement]:
        with self.state.lock:
            return [m for m in self.book.movements if m.history_id > after_history_id]

    def events(self, event_type: str | None = None) -> list[EventRecord]:
        with self.state.lock:
            return [e for e in self.book.events if event_type is None or e.event_type == event_type]
