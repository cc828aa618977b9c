"""The scenario driver: :class:`Scenario` seeds a catalogue, runs a simulated trading day, advances the
warehouse and dumps every system. It works on in-process simulator states (a :class:`SimulatorStack`, or a
mapping ``{"cin7core": state, "bluecherry": state, "peoplevox": state}``; any may be missing) or on running
simulators (the mapping ``up --write-json`` writes: name -> ``{"url", "credentials"}``).

Time is simulated: in process, the ERP states' clocks and Peoplevox's warehouse clock follow
:attr:`Scenario.clock`. The day is cut into warehouse steps (``steps_per_hour``); events happen at their planned
minute, the warehouse moves every order one step at the end of each slot, and at each full hour the drill
bridge runs (``bridge="direct"``, in process only) and then ``on_tick(simulated_time)``, where tests run the
integration. During ``on_tick`` the clock runs at real speed, so rate limits and retries behave. Against
running simulators ``pace`` spreads the day over real time (seconds per simulated hour).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from erp_wms_simulators.scenario.actions import World, receive_due_returns, run_event
from erp_wms_simulators.scenario.brands import BLUECHERRY, BRANDS, CIN7CORE
from erp_wms_simulators.scenario.bridge import DirectBridge
from erp_wms_simulators.scenario.catalogue import Catalogue, build_catalogue
from erp_wms_simulators.scenario.clock import SimClock
from erp_wms_simulators.scenario.erps import BlueCherryErp, Cin7Erp, ErpSide
from erp_wms_simulators.scenario.plan import DayMix, plan_day
from erp_wms_simulators.scenario.remote import RemoteBlueCherry, RemoteWarehouse
from erp_wms_simulators.scenario.remote_cin7 import RemoteCin7
from erp_wms_simulators.scenario.report import DayReport, stable_json
from erp_wms_simulators.scenario.wms import LocalWarehouse, PeoplevoxSide, WarehousePort, WarehouseRates

DEFAULT_START = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
BRIDGES = ("integration", "direct")
SUFFIXES = {CIN7CORE: "/ExternalApi/v2", BLUECHERRY: "/api/v1", "peoplevox": ""}
Hook = Callable[[datetime], None]


def is_description(target: Any) -> bool:
    """True for the ``up --write-json`` mapping (name -> ``{"url": ...}``) rather than states."""
    return isinstance(target, Mapping) and bool(target) and all(
        isinstance(value, Mapping) and "url" in value for value in target.values())


class Scenario:
    """A reproducible trading scenario over simulator states, or over running simulators."""

    def __init__(self, stack_or_states: Any, seed: int = 0, *, skus: int = 2000, start: datetime = DEFAULT_START,
                 bridge: str = "integration", create_items: bool = False, mix: DayMix = DayMix(),
                 rates: WarehouseRates = WarehouseRates(), steps_per_hour: int = 4, pin_clocks: bool = True,
                 peoplevox_settings: Any = None) -> None:
        if bridge not in BRIDGES:
            raise ValueError(f"bridge must be one of {', '.join(BRIDGES)}, got {bridge!r}")
        if not 1 <= steps_per_hour <= 60 or 60 % steps_per_hour:
            raise ValueError("steps_per_hour must divide 60")
        self.seed = seed
        self.skus = skus
        self.bridge_mode = bridge
        self.create_items = create_items
        self.mix = mix
        self.steps_per_hour = steps_per_hour
        self.clock = SimClock(start)
        self.erps: dict[str, ErpSide] = {}
        self.wms: dict[str, PeoplevoxSide] = {}
        self.catalogues: dict[str, Catalogue] = {}
        if is_description(stack_or_states):
            ports = self._attach_remote(stack_or_states)
        else:
            ports = self._attach(getattr(stack_or_states, "states", stack_or_states), peoplevox_settings, pin_clocks)
        for erp, port in ports.items():
            self.wms[erp] = PeoplevoxSide(port, BRANDS[erp], random.Random(f"warehouse/{seed}/{erp}"), rates)
        self.world = World(seed, self.erps, self.wms, self.catalogues)
        self.bridges: dict[str, DirectBridge] = {}
        if bridge == "direct":
            for erp, side in self.wms.items():
                local, host = side.local, self.erps[erp]
                if local is None or not isinstance(host, BlueCherryErp | Cin7Erp):
                    raise ValueError("the direct bridge works on in-process simulator states only")
                self.bridges[erp] = DirectBridge(host, side, local)
        self.days = 0
        self.last_report: DayReport | None = None

    def _add_erp(self, erp: str, side: ErpSide) -> None:
        self.erps[erp] = side
        self.catalogues[erp] = build_catalogue(BRANDS[erp], self.skus, random.Random(f"catalogue/{self.seed}/{erp}"))

    def _attach(self, states: Mapping[str, Any], settings: Any, pin: bool) -> dict[str, WarehousePort]:
        builders: dict[str, Callable[[Any], ErpSide]] = {
            CIN7CORE: lambda state: Cin7Erp(state, BRANDS[CIN7CORE]),
            BLUECHERRY: lambda state: BlueCherryErp(state, BRANDS[BLUECHERRY])}
        for erp in (BLUECHERRY, CIN7CORE):
            state = states.get(erp)
            if state is not None:
                if pin:
                    state.clock = self.clock
                self._add_erp(erp, builders[erp](state))
        warehouse = states.get("peoplevox")
        if warehouse is None:
            return {}
        if pin:
            warehouse.now = self.clock.naive
        return {erp: LocalWarehouse(warehouse, BRANDS[erp].client_id, settings) for erp in self.erps}

    def _attach_remote(self, description: Mapping[str, Any]) -> dict[str, WarehousePort]:
        roots = {name: str(info["url"])[: len(str(info["url"])) - len(SUFFIXES.get(name, ""))] or str(info["url"])
                 for name, info in description.items()}
        if BLUECHERRY in roots:
            self._add_erp(BLUECHERRY, RemoteBlueCherry(roots[BLUECHERRY], BRANDS[BLUECHERRY]))
        if CIN7CORE in roots:
            credentials = description[CIN7CORE].get("credentials") or {}
            self._add_erp(CIN7CORE, RemoteCin7(roots[CIN7CORE], BRANDS[CIN7CORE], credentials))
        if "peoplevox" not in roots:
            return {}
        return {erp: RemoteWarehouse(roots["peoplevox"], BRANDS[erp].client_id) for erp in self.erps}

    def resume(self, days: int, now: datetime) -> None:
        """Continue a scenario an earlier process ran (the command line keeps these in its state file)."""
        self.days = days
        self.clock.move_to(now)

    # ---- seed ----------------------------------------------------------------------------------------
    def seed_catalogue(self) -> dict[str, Any]:
        """Catalogue, locations and stock in each ERP; sites (and with ``create_items`` items and stock) in
        Peoplevox. Without ``create_items`` the warehouse gets its opening stock item by item, as soon as the
        integration's item master sync has created each Item type."""
        summary: dict[str, Any] = {}
        for erp, side in self.erps.items():
            summary[erp] = side.seed(self.catalogues[erp])
            wms = self.wms.get(erp)
            if wms is not None:
                wms.seed_sites()
                if self.create_items:
                    wms.create_items(self.catalogues[erp].skus)
                summary[f"peoplevox/{wms.brand.client_id}"] = {"opening_units": self._load_stock(erp)}
        return summary

    def _load_stock(self, erp: str) -> int:
        catalogue = self.catalogues[erp]
        codes = [sku.code for sku in catalogue.skus + catalogue.launch_skus]
        return self.wms[erp].load_opening_stock(codes, self.erps[erp].stock_levels)

    # ---- the day -------------------------------------------------------------------------------------
    def day(self, orders: int = 1000, on_tick: Hook | None = None, pace: float = 0.0) -> DayReport:
        """One simulated day from the next midnight (or the start time) with ``orders`` new orders; ``pace``
        real seconds per simulated hour (0: as fast as possible)."""
        started = time.perf_counter()
        midnight = self.clock.now.replace(hour=0, minute=0, second=0, microsecond=0)
        day_start = midnight if self.clock.now == midnight else midnight + timedelta(days=1)
        self.clock.move_to(day_start)
        events = plan_day(day_start, orders, {erp: (BRANDS[erp], c) for erp, c in self.catalogues.items()},
                          random.Random(f"day/{self.seed}/{self.days}"), self.mix)
        report = DayReport(day_start)
        report.planned.update(event.kind for event in events)
        slot = timedelta(minutes=60 // self.steps_per_hour)
        pending = iter(events)
        upcoming = next(pending, None)
        for index in range(1, 24 * self.steps_per_hour + 1):
            slot_end = day_start + index * slot
            while upcoming is not None and upcoming.at < slot_end:
                self.clock.move_to(upcoming.at)
                report.outcome(upcoming.kind, run_event(self.world, upcoming)[0])
                upcoming = next(pending, None)
            self._slot_end(slot_end, index % self.steps_per_hour == 0, on_tick, report)
            if pace > 0:
                time.sleep(pace / self.steps_per_hour)
        report.end = self.clock.now
        report.seconds = time.perf_counter() - started
        self.days += 1
        self.last_report = report
        return report

    def advance(self, minutes: int = 0, steps: int = 0, on_tick: Hook | None = None) -> DayReport:
        """Move the warehouse on by ``steps`` steps, or by the steps that fit into ``minutes``."""
        started = time.perf_counter()
        slot = timedelta(minutes=60 // self.steps_per_hour)
        count = steps or -(-minutes // (60 // self.steps_per_hour))
        report = DayReport(self.clock.now)
        for _ in range(max(0, count)):
            slot_end = self.clock.now + slot
            boundary = slot_end.minute == 0 and slot_end.second == 0
            self._slot_end(slot_end, boundary, on_tick, report)
        report.end = self.clock.now
        report.seconds = time.perf_counter() - started
        return report

    def _slot_end(self, moment: datetime, hour: bool, on_tick: Hook | None, report: DayReport) -> None:
        self.clock.move_to(moment)
        if hour:
            for bridge in self.bridges.values():
                report.bridge.update(bridge.run())
            if on_tick is not None:
                with self.clock.running():
                    on_tick(moment)
            report.ticks += 1
        for erp, side in self.wms.items():
            self._load_stock(erp)
            report.warehouse.update(side.step())
        report.returns_received += receive_due_returns(self.world, self.clock.now)

    # ---- dump ----------------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """Every system's state plus the scenario's own (JSON-ready through :func:`stable_json`)."""
        out: dict[str, Any] = {"scenario": {
            "seed": self.seed, "skus": self.skus, "bridge": self.bridge_mode, "now": self.clock.now,
            "days": self.days, "last_day": self.last_report.to_dict(timing=False) if self.last_report else None,
            "pending_returns": [vars(p) for p in self.world.pending]}}
        for erp, side in self.erps.items():
            out[erp] = side.dump()
        if self.wms:
            out["peoplevox"] = {side.brand.client_id: side.dump() for side in self.wms.values()}
        return out

    def dump_json(self) -> str:
        return stable_json(self.dump())
