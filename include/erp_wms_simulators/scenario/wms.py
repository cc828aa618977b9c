"""The Peoplevox side of a scenario: one brand's warehouse tenant, reached through a :class:`WarehousePort`
(:class:`LocalWarehouse` in process here, an HTTP port over the ``/_sim/`` admin API in :mod:`.remote`).

:class:`PeoplevoxSide` seeds the brand's sites (and, for warehouse-only drills, its Item types), loads
opening stock for every item that exists (the ERP's on-hand at the mapped location, once per item and site),
moves orders along (allocate → start picking → pick, sometimes short → pack → despatch, sometimes partial,
with the carrier's tracking numbers) and receives returns. :class:`LocalWarehouse` also offers the
SaveData-equivalent writes and the despatch / return records the drill bridge uses.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from erp_wms_simulators.peoplevox import reactions
from erp_wms_simulators.peoplevox.demo import DEMO_SITES, DEMO_USERS
from erp_wms_simulators.peoplevox.saving import SaveRejected, map_columns, upsert_record
from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_simulators.peoplevox.state import PeoplevoxState
from erp_wms_simulators.peoplevox.stock import Despatch, ReturnLine
from erp_wms_simulators.peoplevox.warehouse import Warehouse
from erp_wms_simulators.scenario.brands import Brand
from erp_wms_simulators.scenario.catalogue import Sku

OPENING_PO = "OPENING-STOCK"
SALES_ORDERS = "Sales orders"
ORDER_ITEMS = "Sales order items"
RETURN_AUTHORISATIONS = "Return authorisations"
DESPATCH_PACKAGES = "Despatch packages"
REISSUE = re.compile(r"^(?P<number>.+)-R(?P<n>\d+)$")
MOVING = ("New", "Allocated", "Picking", "Packing", "Partially despatched")


@dataclass(frozen=True)
class WarehouseRates:
    """How the simulated warehouse behaves in a scenario."""

    short_pick: float = 0.04  # share of picks that come up one unit short
    partial_despatch: float = 0.05  # share of despatches that leave one unit for a later parcel
    max_packages: int = 2


def tracking_number(carrier: str, rng: random.Random) -> str:
    """A tracking number shaped like the carrier's own."""
    digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    letters = lambda n: "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))  # noqa: E731
    shapes: dict[str, Callable[[], str]] = {
        "UPS": lambda: f"1Z{letters(3)}{digits(3)}03{digits(8)}", "FedEx": lambda: digits(12),
        "USPS": lambda: f"9400{digits(18)}", "Royal Mail": lambda: f"{letters(2)}{digits(9)}GB",
        "DPD": lambda: digits(14), "DHL": lambda: digits(10)}
    return shapes.get(carrier, lambda: digits(12))()


class WarehousePort(Protocol):
    """What the scenario needs from one Peoplevox tenant; refusals raise ``ValueError``."""

    def ensure_tenant(self, username: str, password: str) -> None: ...

    def seed(self, template: str, rows: Sequence[Mapping[str, str]]) -> int: ...

    def table(self, template: str) -> dict[str, dict[str, str]]: ...

    def opening_loaded(self) -> set[tuple[str, str]]: ...

    def receive_delivery(self, lines: Mapping[str, int], site: str) -> None: ...

    def allocate(self, number: str, partial: bool) -> None: ...

    def start_picking(self, number: str) -> None: ...

    def pick(self, number: str, short: Mapping[str, int] | None) -> None: ...

    def pack(self, number: str, packages: int) -> list[str]: ...

    def despatch(self, number: str, lines: Mapping[str, int], carrier: str, tracking: Sequence[str]) -> None: ...

    def order(self, number: str) -> dict[str, Any]: ...

    def receive_return(self, number: str, lines: Mapping[str, int], condition: str,
                       authorisation: str | None) -> None: ...

    def dump(self) -> dict[str, Any]: ...


class LocalWarehouse:
    """The port over an in-process :class:`PeoplevoxState` (plus what the drill bridge needs)."""

    def __init__(self, state: PeoplevoxState, client_id: str, settings: PeoplevoxSettings | None = None) -> None:
        self.state = state
        self.client_id = client_id
        self.settings = settings or PeoplevoxSettings()
        self.house = Warehouse(state, client_id, self.settings)

    def ensure_tenant(self, username: str, password: str) -> None:
        if self.state.tenant(self.client_id) is None:
            self.state.add_tenant(self.client_id, username, password)

    def seed(self, template: str, rows: Sequence[Mapping[str, str]]) -> int:
        return self.state.seed(self.client_id, template, rows, self.settings)

    def table(self, template: str) -> dict[str, dict[str, str]]:
        return self.house.tenant.table(template)

    def opening_loaded(self) -> set[tuple[str, str]]:
        return {(item, record.site) for record in self.house.book.goods_in
                if record.purchase_order == OPENING_PO for item, _, _ in record.lines}

    def receive_delivery(self, lines: Mapping[str, int], site: str) -> None:
        self.house.receive_delivery(lines, site, OPENING_PO, supplier="Opening stock")

    def allocate(self, number: str, partial: bool) -> None:
        self.house.allocate(number, partial=partial)

    def start_picking(self, number: str) -> None:
        self.house.start_picking(number)

    def pick(self, number: str, short: Mapping[str, int] | None) -> None:
        self.house.pick(number, short=short)

    def pack(self, number: str, packages: int) -> list[str]:
        return self.house.pack(number, packages)

    def despatch(self, number: str, lines: Mapping[str, int], carrier: str, tracking: Sequence[str]) -> None:
        self.house.despatch(number, lines, carrier=carrier, tracking=list(tracking))

    def order(self, number: str) -> dict[str, Any]:
        return self.house.order(number)

    def receive_return(self, number: str, lines: Mapping[str, int], condition: str,
                       authorisation: str | None) -> None:
        self.house.receive_return(number, lines, condition, authorisation=authorisation)

    # ---- for the drill bridge ------------------------------------------------------------------
    def despatches(self) -> list[tuple[Despatch, list[str]]]:
        """Every despatch in the order it happened, with its tracking numbers."""
        packages = self.table(DESPATCH_PACKAGES)
        return [(record, [row.get("TrackingNumber", "") for _, row in sorted(packages.items())
                          if row.get("DespatchNumber") == record.number and row.get("TrackingNumber")])
                for record in self.house.book.despatches.values()]

    def returns(self) -> list[ReturnLine]:
        return list(self.house.book.returns)

    def save(self, template: str, rows: Sequence[Mapping[str, str]]) -> list[str]:
        """Upsert rows as SaveData does, then run the warehouse's reactions; returns the refusals."""
        with self.state.lock:
            tenant = self.house.tenant
            spec = self.state.template(template)
            if spec is None:
                return [f"Template '{template}' not found"]
            changes: list[Any] = []
            failures: list[str] = []
            for row in rows:
                try:
                    names = map_columns(spec, list(row), spec.importable)
                except SaveRejected as exc:
                    return [str(exc)]
                cells = {name: str(value) for name, value in zip(names, row.values(), strict=True)}
                problem = upsert_record(tenant, spec, cells, self.settings, changes)
                if problem:
                    failures.append(f"{spec.record_key(cells)}: {problem}")
            reactions.after_save(self.state, self.client_id, self.settings, changes)
            return failures

    def dump(self) -> dict[str, Any]:
        with self.state.lock:
            tenant = self.house.tenant
            book = tenant.book
            return {
                "tables": {name: [{column: value for column, value in rows[key].items() if value}
                                  for key in sorted(rows)] for name, rows in sorted(tenant.tables.items())},
                "orders": [self.house.order(number) for number in sorted(book.orders)],
                "stock": self.house.stock(),
                "despatches": [{"number": d.number, "sales_order": d.sales_order, "site": d.site,
                                "timestamp": d.timestamp, "carrier": d.carrier, "packages": list(d.packages),
                                "lines": [list(line) for line in d.lines], "tracking": tracking}
                               for d, tracking in self.despatches()],
                "returns": [vars(line) for line in book.returns],
                "goods_in": len(book.goods_in), "movements": len(book.movements), "events": len(book.events),
            }


class PeoplevoxSide:
    """The warehouse of one brand, driven through a port."""

    def __init__(self, port: WarehousePort, brand: Brand, rng: random.Random,
                 rates: WarehouseRates = WarehouseRates()) -> None:
        self.port = port
        self.brand = brand
        self.rng = rng
        self.rates = rates
        self.loaded: set[tuple[str, str]] | None = None  # (item, site) with opening stock received

    @property
    def local(self) -> LocalWarehouse | None:
        return self.port if isinstance(self.port, LocalWarehouse) else None

    # ---- seeding -----------------------------------------------------------------------------------
    def seed_sites(self) -> int:
        """The tenant (demo credentials) and a Site for every mapped location of the brand."""
        username, password = DEMO_USERS.get(self.brand.client_id, ("integration", "scenario-pass"))
        self.port.ensure_tenant(username, password)
        known = {row.get("Reference"): row for row in DEMO_SITES.get(self.brand.client_id, [])}
        rows = [known.get(loc.site) or {"Reference": str(loc.site), "Name": f"{self.brand.key} {loc.site}",
                                        "Country": self.brand.country} for loc in self.brand.mapped]
        return self.port.seed("Sites", rows)

    def create_items(self, skus: Iterable[Sku]) -> int:
        """Item types for ``skus`` (only for warehouse-only drills: normally the item master sync does it)."""
        rows = [{"ItemCode": sku.code, "Name": sku.name, "Barcode": sku.barcode, "RetailPrice": f"{sku.price:.2f}",
                 "Weight": f"{sku.weight:g}", "Description": sku.name, "ItemGroup": sku.category} for sku in skus]
        return self.port.seed("Item types", rows)

    def items(self) -> set[str]:
        return set(self.port.table("Item types"))

    def load_opening_stock(self, codes: Sequence[str], levels: Callable[[Sequence[str], str], dict[str, int]]
                           ) -> int:
        """Receive the ERP's on-hand (``levels(codes, erp_location)``) of every item that now exists, once per
        item and mapped site."""
        if self.loaded is None:
            self.loaded = self.port.opening_loaded()
        items = self.items()
        received = 0
        for location in self.brand.mapped:
            site = str(location.site)
            due = [code for code in codes if code in items and (code, site) not in self.loaded]
            if not due:
                continue
            self.loaded.update((code, site) for code in due)
            lines = {code: quantity for code, quantity in levels(due, location.erp).items() if quantity > 0}
            if lines:
                self.port.receive_delivery(lines, site)
                received += sum(lines.values())
        return received

    # ---- orders ------------------------------------------------------------------------------------
    def orders_table(self) -> dict[str, dict[str, str]]:
        return self.port.table(SALES_ORDERS)

    def wms_numbers(self, table: Mapping[str, Any] | None = None) -> dict[str, str]:
        """ERP order number -> the warehouse order that carries it (the newest re-issue)."""
        found: dict[str, tuple[int, str]] = {}
        for number in table if table is not None else self.orders_table():
            match = REISSUE.match(number)
            base, issue = (match["number"], int(match["n"])) if match else (number, 0)
            if base not in found or issue > found[base][0]:
                found[base] = (issue, number)
        return {base: number for base, (_, number) in found.items()}

    def step(self) -> dict[str, int]:
        """Move every open order one step; returns how many orders took each step."""
        moved: dict[str, int] = {}
        for number, row in sorted(self.orders_table().items()):
            status = row.get("Status", "")
            if status not in MOVING:
                continue
            try:
                action = self._step(number, status)
            except ValueError:
                action = ""
            if action:
                moved[action] = moved.get(action, 0) + 1
        return moved

    def _step(self, number: str, status: str) -> str:
        if status == "New":
            return self._allocate(number)
        if status == "Allocated":
            self.port.start_picking(number)
            return "picking_started"
        if status == "Picking":
            return self._pick(number)
        if status == "Packing" or any(line["picked"] for line in self.port.order(number)["lines"]):
            return self._despatch(number)
        return self._allocate(number)

    def _allocate(self, number: str) -> str:
        try:
            self.port.allocate(number, False)
            return "allocated"
        except ValueError:
            self.port.allocate(number, True)  # raises again when nothing at all is free
            return "allocated_partially"

    def _pick(self, number: str) -> str:
        allocated = [line for line in self.port.order(number)["lines"] if line["allocated"]]
        if allocated and self.rng.random() < self.rates.short_pick:
            line = self.rng.choice(allocated)
            self.port.pick(number, {str(line["line"]): 1})
            return "picked_short"
        self.port.pick(number, None)
        return "picked"

    def _despatch(self, number: str) -> str:
        picked = {str(line["line"]): int(line["picked"]) for line in self.port.order(number)["lines"]
                  if line["picked"]}
        packages = self.port.pack(number, self.rng.randint(1, self.rates.max_packages))
        carrier = self.rng.choice(self.brand.carriers)
        tracking = [tracking_number(carrier, self.rng) for _ in packages]
        partial = sum(picked.values()) > 1 and self.rng.random() < self.rates.partial_despatch
        if partial:
            first = sorted(picked)[0]
            picked[first] -= 1
            picked = {line: qty for line, qty in picked.items() if qty}
        self.port.despatch(number, picked, carrier, tracking)
        return "despatched_partially" if partial else "despatched"

    def receive_return(self, wms_number: str, item: str, qty: int, condition: str,
                       authorisation: str | None = None) -> None:
        self.port.receive_return(wms_number, {item: qty}, condition.lower(), authorisation)

    def despatched_lines(self, wms_number: str) -> dict[str, int]:
        """ItemCode -> despatched and not yet returned, for one warehouse order."""
        try:
            lines = self.port.order(wms_number)["lines"]
        except ValueError:
            return {}
        left: dict[str, int] = {}
        for line in lines:
            rest = int(line["despatched"]) - int(line["returned"])
            if rest > 0:
                left[line["item_code"]] = left.get(line["item_code"], 0) + rest
        return left

    def dump(self) -> dict[str, Any]:
        return self.port.dump()
