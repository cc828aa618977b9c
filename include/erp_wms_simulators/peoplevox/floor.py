"""Primitives of the simulated warehouse: lookups, stock movements, order status changes and events.

:class:`Floor` is the base of :class:`~erp_wms_simulators.peoplevox.warehouse.Warehouse`. Every stock
movement goes through :meth:`Floor.move`, which gives it the next History Id and the state's clock
time, updates the bins and publishes ``IncrementalChanges`` when the site's on-hand stock changed.
:meth:`Floor.watching` publishes ``AvailabilityChanges`` for each item whose available quantity an
operation changed; :meth:`Floor.set_status` publishes ``SalesOrderStatusChanges``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from erp_wms_simulators.peoplevox import entities, events
from erp_wms_simulators.peoplevox.orders import SALES_ORDER_ITEMS, SALES_ORDERS, SITES, cell, whole_number
from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_simulators.peoplevox.state import PeoplevoxState, Tenant
from erp_wms_simulators.peoplevox.stock import Bin, LineProgress, Movement, OrderProgress, StockBook

GOODS_IN = "Goods in"
CUSTOMER = "Customer"
DESPATCHED_OUT = "Despatched"
ADJUSTMENT = "Adjustment"
STOCK_COUNT = "Stock count"
SHORT_PICK = "Short pick"
#: Pseudo-locations outside the warehouse: stock moving from or to them changes the on-hand quantity.
OUTSIDE: tuple[str, ...] = (GOODS_IN, CUSTOMER, DESPATCHED_OUT, ADJUSTMENT, STOCK_COUNT, SHORT_PICK)


class WarehouseError(ValueError):
    """An operation the warehouse cannot do (unknown order, not enough stock, wrong status...)."""


class Floor:
    """One tenant's warehouse as seen by the scenario driver; every public call takes the state lock.

    ``settings`` default to those of the app serving ``state`` (or the defaults when it is not served).
    """

    def __init__(self, state: PeoplevoxState, client_id: str, settings: PeoplevoxSettings | None = None) -> None:
        self.state = state
        self.client_id = client_id
        self.settings = settings or state.settings or PeoplevoxSettings()

    # -- lookups -----------------------------------------------------------------------------------
    @property
    def tenant(self) -> Tenant:
        tenant = self.state.tenant(self.client_id)
        if tenant is None:
            raise WarehouseError(f"unknown Peoplevox client id {self.client_id!r}")
        return tenant

    @property
    def book(self) -> StockBook:
        return self.tenant.book

    def item_name(self, code: str) -> str:
        return cell(self.tenant.table("Item types").get(code, {}), "Name")

    def require_item(self, code: str) -> str:
        if code not in self.tenant.table("Item types"):
            raise WarehouseError(f"ItemCode '{code}' not found in Item types")
        return code

    def require_site(self, reference: str) -> str:
        sites = self.tenant.table(SITES)
        found = next((ref for ref in sites if ref.lower() == reference.strip().lower()), None)
        if found is None:
            raise WarehouseError(f"Site '{reference}' not found")
        return found

    def default_site(self) -> str:
        if self.settings.default_site:
            return self.require_site(self.settings.default_site)
        sites = self.tenant.table(SITES)
        if not sites:
            raise WarehouseError("the tenant has no Sites; seed one first")
        return next(iter(sites))

    def order_row(self, number: str) -> dict[str, str]:
        row = self.tenant.table(SALES_ORDERS).get(number.strip())
        if row is None:
            raise WarehouseError(f"Sales order '{number}' not found")
        return row

    def quantity_ordered(self, order: str, line: str) -> int:
        row = self.tenant.table(SALES_ORDER_ITEMS).get(f"{order}/{line}", {})
        return whole_number(cell(row, "QuantityOrdered")) or 0

    def progress(self, number: str) -> OrderProgress:
        """The order's progress, with a line for every stored order line (new lines are picked up)."""
        row = self.order_row(number)
        progress = self.book.orders.get(row["SalesOrderNumber"])
        site = self.require_site(cell(row, "Site")) if cell(row, "Site") else self.default_site()
        if progress is None:
            progress = OrderProgress(row["SalesOrderNumber"], site)
            self.book.orders[progress.number] = progress
        elif not any(line.allocated or line.picked or line.despatched for line in progress.lines.values()):
            progress.site = site
        for item in self.tenant.table(SALES_ORDER_ITEMS).values():
            if cell(item, "SalesOrderNumber") == progress.number and cell(item, "Line") not in progress.lines:
                progress.lines[cell(item, "Line")] = LineProgress(cell(item, "Line"), cell(item, "ItemCode"))
        return progress

    def resolve_line(self, progress: OrderProgress, key: str) -> LineProgress:
        """A line named by its number or by its ItemCode (the first such line)."""
        text = str(key).strip()
        if text in progress.lines:
            return progress.lines[text]
        for line in sorted(progress.lines.values(), key=lambda ln: whole_number(ln.line) or 0):
            if line.item_code.lower() == text.lower():
                return line
        raise WarehouseError(f"order {progress.number} has no line or ItemCode '{text}'")

    # -- locations and stock -------------------------------------------------------------------------
    def location_type(self, location: str) -> str:
        if location in OUTSIDE:
            return location
        if location == self.settings.despatch_location:
            return "Despatch"
        if location == self.settings.quarantine_location:
            return "Quarantine"
        return "Pick"

    def pickable(self, location: str) -> bool:
        return self.location_type(location) == "Pick"

    def figures(self, item: str, site: str | None = None) -> tuple[int, int, int]:
        """(available, on hand, allocated) of an item at one site or across all sites."""
        book = self.book
        on_hand = allocated = available = 0
        for bin_ in book.item_bins(item, site):
            on_hand += book.on_hand(bin_)
            reserved = book.allocated.get(bin_, 0)
            allocated += reserved
            if self.pickable(bin_[2]):
                available += book.on_hand(bin_) - reserved
        return available, on_hand, allocated

    def move(self, item: str, site: str, quantity: int, *, source: str, target: str, reason: str,
             order: str = "", comments: str = "") -> Movement:
        """Move stock (between bins, or in / out of the warehouse) and record it in the history."""
        for location, delta in ((source, -quantity), (target, quantity)):
            if location not in OUTSIDE:
                self.book.change((item, site, location), delta)
                self.book.location_types[location] = self.location_type(location)
        changed = (quantity if source in OUTSIDE else 0) - (quantity if target in OUTSIDE else 0)
        movement = Movement(
            self.book.next_number("history", self.settings.first_history_id), self.state.now(), item, site,
            source, target, self.location_type(source), self.location_type(target), quantity, changed, reason,
            self.settings.warehouse_user, order, comments)
        self.book.movements.append(movement)
        if changed:
            self.publish(events.INCREMENTAL_CHANGES,
                         entities.incremental_values(movement, self.item_name(item), self.settings))
        return movement

    @contextmanager
    def watching(self, items: Iterable[str]) -> Iterator[None]:
        """Publish ``AvailabilityChanges`` for every item in ``items`` whose availability changed."""
        codes = sorted(set(items))
        before = {key: self.figures(key[0], key[1] or None) for key in self._watch_keys(codes)}
        yield
        for code, site in self._watch_keys(codes):
            after = self.figures(code, site or None)
            if before.get((code, site), (0, 0, 0))[0] != after[0]:
                self.publish(events.AVAILABILITY_CHANGES,
                             entities.availability_values(code, self.item_name(code), site, after))

    def _watch_keys(self, codes: list[str]) -> list[tuple[str, str]]:
        """(item, site) pairs to compare; the site is "" when availability is reported per item."""
        if not self.settings.availability_per_site:
            return [(code, "") for code in codes]
        return sorted({bin_[:2] for code in codes for bin_ in self.book.item_bins(code)})

    # -- orders and events ---------------------------------------------------------------------------
    def set_status(self, progress: OrderProgress, status: str) -> None:
        row = self.order_row(progress.number)
        previous = cell(row, "Status")
        if previous == status:
            return
        row["Status"] = status
        progress.status_changed = self.state.now()
        self.publish(events.SALES_ORDER_STATUS_CHANGES,
                     entities.order_values(row, self.settings, progress.status_changed, previous))

    def publish(self, event_type: str, values: dict[str, str]) -> None:
        events.publish(self.state, self.tenant, event_type, values, self.settings)

    def release(self, line: LineProgress, site: str, quantity: int | None = None) -> int:
        """Give back up to ``quantity`` (default all) of a line's allocation; returns how much was released."""
        left = line.allocated_total if quantity is None else min(quantity, line.allocated_total)
        released = 0
        for location in sorted(line.allocated, reverse=True):
            take = min(left - released, line.allocated[location])
            if take <= 0:
                break
            line.allocated[location] -= take
            if not line.allocated[location]:
                del line.allocated[location]
            self.book.reserve((line.item_code, site, location), -take)
            released += take
        return released

    def free_bins(self, item: str, site: str) -> list[tuple[Bin, int]]:
        """Pickable bins of an item at a site with what is still free there, in location order."""
        book = self.book
        bins = [b for b in book.item_bins(item, site) if self.pickable(b[2])]
        return [(b, book.on_hand(b) - book.allocated.get(b, 0)) for b in bins
                if book.on_hand(b) - book.allocated.get(b, 0) > 0]
