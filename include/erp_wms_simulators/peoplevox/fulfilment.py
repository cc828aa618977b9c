"""Order fulfilment in the simulated warehouse: allocation, picking (short picks too), packing and full or
partial despatch.

Order lines are named by line number or ItemCode (``{"1": 2}`` or ``{"TSHIRT-RED-M": 2}``). The flow of an
order: New -> Allocated -> Picking -> Packing -> Despatched, or Partially despatched, after which the rest
can be allocated and picked again. Each call either completes or raises :class:`WarehouseError` having
changed nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from erp_wms_simulators.peoplevox import entities, events
from erp_wms_simulators.peoplevox.floor import DESPATCHED_OUT, SHORT_PICK, WarehouseError
from erp_wms_simulators.peoplevox.logistics import DESPATCH_PACKAGES
from erp_wms_simulators.peoplevox.orders import cell
from erp_wms_simulators.peoplevox.statuses import (
    ALLOCATED,
    DESPATCHED,
    NEW,
    PACKING,
    PARTIALLY_DESPATCHED,
    PICKING,
)
from erp_wms_simulators.peoplevox.stock import Despatch, LineProgress, OrderProgress
from erp_wms_simulators.peoplevox.stockroom import Stockroom

ALLOCATABLE = (NEW, ALLOCATED, PARTIALLY_DESPATCHED)
DESPATCHABLE = (PACKING, PARTIALLY_DESPATCHED)  # picking finished (what is picked waits in the despatch area)
MAX_PACKAGES = 100
Quantities = Mapping[str, int]


def positive(quantity: int, what: str) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        raise WarehouseError(f"{what} must be a positive whole number, got {quantity!r}")
    return quantity


class Fulfilment(Stockroom):
    """Stock operations plus the outbound flow of sales orders."""

    # -- allocation and picking ----------------------------------------------------------------------
    def allocate(self, order: str, *, partial: bool = False) -> dict[str, int]:
        """Reserve pickable stock for what is still outstanding; refuses a shortage unless ``partial``."""
        with self.state.lock:
            progress = self.in_status(order, ALLOCATABLE, "allocate")
            plan, shortages = self._allocation_plan(progress)
            if shortages and not partial:
                raise WarehouseError(f"insufficient stock to allocate {progress.number}: " + "; ".join(shortages))
            if not plan:
                raise WarehouseError(f"nothing to allocate on order {progress.number}"
                                     + (": " + "; ".join(shortages) if shortages else ""))
            allocated: dict[str, int] = {}
            with self.watching({line.item_code for line, _, _ in plan}):
                for line, location, quantity in plan:
                    line.allocated[location] = line.allocated.get(location, 0) + quantity
                    self.book.reserve((line.item_code, progress.site, location), quantity)
                    allocated[line.line] = allocated.get(line.line, 0) + quantity
                self.set_status(progress, ALLOCATED)
            return allocated

    def _allocation_plan(self, progress: OrderProgress) -> tuple[list[tuple[LineProgress, str, int]], list[str]]:
        plan: list[tuple[LineProgress, str, int]] = []
        shortages: list[str] = []
        taken: dict[tuple[str, str], int] = {}
        for line in self._lines(progress):
            need = self.outstanding(progress, line)
            for (item, _, location), free in self.free_bins(line.item_code, progress.site):
                free -= taken.get((item, location), 0)
                take = min(need, free)
                if take > 0:
                    plan.append((line, location, take))
                    taken[(item, location)] = taken.get((item, location), 0) + take
                    need -= take
            if need > 0:
                shortages.append(f"{line.item_code} needs {self.outstanding(progress, line)}, "
                                 f"{self.outstanding(progress, line) - need} available")
        return plan, shortages

    def outstanding(self, progress: OrderProgress, line: LineProgress) -> int:
        """Ordered but not yet allocated, picked or despatched."""
        ordered = self.quantity_ordered(progress.number, line.line)
        return max(0, ordered - line.despatched - line.picked - line.allocated_total)

    def start_picking(self, order: str) -> None:
        with self.state.lock:
            progress = self.in_status(order, (ALLOCATED,), "start picking")
            self.set_status(progress, PICKING)

    def pick(self, order: str, lines: Quantities | None = None, short: Quantities | None = None) -> dict[str, int]:
        """Pick allocated stock into the despatch area; ``short`` names quantities not found in the bin.

        ``lines`` limits what is picked (default: everything allocated). A short quantity gives back its
        allocation and, with ``short_pick_adjusts_stock``, is written off the bin. Returns picked per line.
        """
        with self.state.lock:
            progress = self.in_status(order, (PICKING,), "pick")
            wanted = self.quantities(progress, lines) if lines is not None else {
                line.line: line.allocated_total for line in progress.lines.values() if line.allocated_total}
            shorts = self.quantities(progress, short or {})
            steps = self._pick_steps(progress, wanted, shorts)
            picked: dict[str, int] = {}
            with self.watching({progress.lines[name].item_code for name in wanted}):
                for line, location, take, missing in steps:
                    self._pick_one(progress, line, location, take, missing)
                    picked[line.line] = picked.get(line.line, 0) + take
                self.set_status(progress, self._after_pick(progress))
            return picked

    def _pick_steps(self, progress: OrderProgress, wanted: dict[str, int],
                    shorts: dict[str, int]) -> list[tuple[LineProgress, str, int, int]]:
        steps: list[tuple[LineProgress, str, int, int]] = []
        for name, quantity in wanted.items():
            line = progress.lines[name]
            if quantity > line.allocated_total:
                raise WarehouseError(f"line {name} of {progress.number} has {line.allocated_total} allocated; "
                                     f"cannot pick {quantity}")
            missing = shorts.get(name, 0)
            if missing > quantity:
                raise WarehouseError(f"line {name} of {progress.number}: short {missing} is more than the "
                                     f"{quantity} being picked")
            for location in sorted(line.allocated):
                take = min(quantity, line.allocated[location])
                if take <= 0:
                    break
                short_here = min(missing, take)
                self._check_bin(line.item_code, progress.site, location, take - short_here)
                steps.append((line, location, take - short_here, short_here))
                quantity -= take
                missing -= short_here
        unknown = set(shorts) - set(wanted)
        if unknown:
            raise WarehouseError(f"short quantities given for lines not being picked: {', '.join(sorted(unknown))}")
        return steps

    def _check_bin(self, item: str, site: str, location: str, quantity: int) -> None:
        held = self.book.on_hand((item, site, location))
        if quantity > held:
            raise WarehouseError(f"bin {location} at {site} holds {held} of {item}; pick at most {held} and "
                                 f"report the rest short")

    def _pick_one(self, progress: OrderProgress, line: LineProgress, location: str, take: int,
                  missing: int) -> None:
        line.allocated[location] -= take + missing
        if not line.allocated[location]:
            del line.allocated[location]
        bin_ = (line.item_code, progress.site, location)
        self.book.reserve(bin_, -(take + missing))
        if take:
            self.move(line.item_code, progress.site, take, source=location, target=self.settings.despatch_location,
                      reason="Pick", order=progress.number)
            line.picked += take
        if missing:
            line.shorted += missing
            written_off = min(missing, self.book.on_hand(bin_))
            if self.settings.short_pick_adjusts_stock and written_off:
                self.move(line.item_code, progress.site, written_off, source=location, target=SHORT_PICK,
                          reason="Short pick", order=progress.number)

    def _after_pick(self, progress: OrderProgress) -> str:
        lines = progress.lines.values()
        if any(line.allocated_total for line in lines):
            return PICKING
        if any(line.picked for line in lines):
            return PACKING
        return PARTIALLY_DESPATCHED if any(line.despatched for line in lines) else NEW

    def pack(self, order: str, packages: int = 1) -> list[str]:
        """Pack what is picked into ``packages`` parcels; returns their package numbers."""
        with self.state.lock:
            progress = self.progress(order)
            if not any(line.picked for line in progress.lines.values()):
                raise WarehouseError(f"nothing picked to pack on order {progress.number}")
            if not 1 <= packages <= MAX_PACKAGES:
                raise WarehouseError(f"packages must be between 1 and {MAX_PACKAGES}, got {packages}")
            progress.packages = [self._package_number() for _ in range(packages)]
            return list(progress.packages)

    def _package_number(self) -> str:
        return f"PKG{self.book.next_number('package'):07d}"

    # -- despatch ------------------------------------------------------------------------------------
    def despatch(self, order: str, lines: Quantities | None = None, *, carrier: str | None = None,
                 service: str | None = None, tracking: str | Sequence[str] | None = None) -> Despatch:
        """Despatch picked stock (all of it, or ``lines``); returns the despatch with its ``DES`` number.

        ``tracking``: one number or one per package; ``None`` invents them (``generate_tracking_numbers``),
        ``""`` despatches without (a tracking number can be imported later via Despatch packages).
        """
        with self.state.lock:
            progress = self.progress(order)
            row = self.order_row(order)
            wanted = self.quantities(progress, lines) if lines is not None else {
                line.line: line.picked for line in progress.lines.values() if line.picked}
            if not wanted:
                raise WarehouseError(f"nothing picked to despatch on order {progress.number}")
            self.in_status(order, DESPATCHABLE, "despatch")
            for name, quantity in wanted.items():
                if quantity > progress.lines[name].picked:
                    raise WarehouseError(f"line {name} of {progress.number} has {progress.lines[name].picked} "
                                         f"picked; cannot despatch {quantity}")
            packages = progress.packages or [self._package_number()]
            trackings = self._trackings(tracking, packages)
            progress.packages = []
            number = f"DES{self.book.next_number('despatch', self.settings.first_despatch_number)}"
            record = Despatch(number, progress.number, progress.site, self.state.now(),
                              carrier or self.settings.default_carrier, service or cell(row, "ServiceType"),
                              self.settings.warehouse_user, packages, [])
            with self.watching({progress.lines[name].item_code for name in wanted}):
                for name, quantity in wanted.items():
                    self._despatch_line(progress, progress.lines[name], quantity, record)
                self.book.despatches[number] = record
                self._announce_despatch(record, trackings, cell(row, "Email"))
                done = all(line.despatched >= self.quantity_ordered(progress.number, line.line)
                           for line in progress.lines.values())
                self.set_status(progress, DESPATCHED if done else PARTIALLY_DESPATCHED)
            return record

    def _trackings(self, tracking: str | Sequence[str] | None, packages: list[str]) -> list[str]:
        if tracking is None:
            if not self.settings.generate_tracking_numbers:
                return [""] * len(packages)
            return [f"TRK{self.book.next_number('tracking'):010d}" for _ in packages]
        given = [tracking] if isinstance(tracking, str) else list(tracking)
        if len(given) > len(packages):
            raise WarehouseError(f"{len(given)} tracking numbers for {len(packages)} package(s)")
        return given + [""] * (len(packages) - len(given))

    def _despatch_line(self, progress: OrderProgress, line: LineProgress, quantity: int, record: Despatch) -> None:
        self.move(line.item_code, progress.site, quantity, source=self.settings.despatch_location,
                  target=DESPATCHED_OUT, reason="Despatch", order=progress.number, comments=record.number)
        line.picked -= quantity
        line.despatched += quantity
        record.lines.append((line.line, line.item_code, quantity))

    def _announce_despatch(self, record: Despatch, trackings: list[str], email: str) -> None:
        table = self.tenant.table(DESPATCH_PACKAGES)
        for package, tracking in zip(record.packages, trackings, strict=True):
            table[f"{record.number}/{package}"] = {
                "DespatchNumber": record.number, "PackageNumber": package, "TrackingNumber": tracking,
                "Carrier": record.carrier, "ServiceType": record.service, "SalesOrderNumber": record.sales_order,
                "DespatchDate": record.timestamp.strftime("%Y-%m-%d %H:%M:%S")}
            values = entities.package_values(record, package, tracking, self.settings)
            self.publish(events.PACKAGE_DESPATCHED, values)
            if tracking:
                self.publish(events.PACKAGE_TRACKING_NUMBER_RECEIVED, values)
        if any(trackings):
            self.publish(events.TRACKING_NUMBER_RECEIVED,
                         entities.tracking_values(record, trackings, email, self.settings))

    # -- helpers -------------------------------------------------------------------------------------
    def in_status(self, order: str, allowed: tuple[str, ...], action: str) -> OrderProgress:
        progress = self.progress(order)
        status = cell(self.order_row(order), "Status")
        if status not in allowed:
            raise WarehouseError(f"cannot {action}: order {progress.number} is {status}")
        return progress

    def _lines(self, progress: OrderProgress) -> list[LineProgress]:
        return sorted(progress.lines.values(), key=lambda line: int(line.line) if line.line.isdigit() else 0)

    def quantities(self, progress: OrderProgress, quantities: Quantities) -> dict[str, int]:
        resolved: dict[str, int] = {}
        for key, quantity in quantities.items():
            line = self.resolve_line(progress, key)
            resolved[line.line] = resolved.get(line.line, 0) + positive(quantity, f"quantity of {key}")
        return resolved
