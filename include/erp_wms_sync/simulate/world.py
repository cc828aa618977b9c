"""The isolated world of a simulated trading day: an Airflow home with a migrated metadata DB, a migrated SQLite
ledger, the three simulators in process, the sample integrations' connections pointed at them, and a trading day
driven by the scenario package on a simulated clock.

:func:`prepare_airflow` must run before anything in the process imports Airflow: Airflow reads its home, metadata
DB and DAG folder from the environment once, at import. :func:`migrate_airflow` creates the metadata DB in a child
process (``airflow db migrate``), as the bench harness does.

The simulated clock starts ``hours`` before the current full hour, so the day ends at about the wall clock: the
flows read their windows from the simulated clock (``run_after``), while a few things in the product use the wall
clock (a return's restock deadline, housekeeping's stage deadlines, the effective date of stock adjustments) and
must not see records months old. The day is compressed, so those wall-clock deadlines see it as minutes: the
simulation does not exercise them.

The plan of the day (orders, amendments, cancellations, returns — the scenario's own for the seed) is the
scenario's 24-hour plan with every event's time scaled into the first ``hours`` hours.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
DAGS_FOLDER = ROOT / "dags"
INTEGRATIONS_FOLDER = ROOT / "include" / "integrations"
MIGRATE_TIMEOUT = 600
STEPS_PER_HOUR = 4  # warehouse steps per simulated hour (the scenario's default)
# The ERPs' limits (Cin7 Core: 60 calls per key; BlueCherry: the subscription's quota) are kept, over a window of
# this many seconds instead of a minute, on both sides (simulator and client budget): a day's despatches would
# otherwise wait on the wall-clock minute.
RATE_WINDOW_SECONDS = 6.0
SCALED_WINDOW_SYSTEMS = ("cin7core", "bluecherry")
INVOICED_OR_LATER = ("INVOICING", "INVOICED", "CREDITED", "COMPLETED", "VOIDED")
ERP_OF = {"northwind": "cin7core", "bluebird": "bluecherry"}  # sample integration -> the scenario brand's ERP


def prepare_airflow(home: Path) -> None:
    """Point Airflow at ``home`` (metadata DB, this project's DAGs and plugins, no examples, quiet logs)."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })


def migrate_airflow(home: Path) -> None:
    """Create the metadata DB in ``home`` with ``airflow db migrate`` in a child process."""
    result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                            timeout=MIGRATE_TIMEOUT, env=os.environ.copy(), check=False)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed: {result.stderr[-2000:]}")


def copy_integrations(names: Iterable[str], folder: Path) -> Path:
    """The chosen sample integrations' YAML files (and nothing else) in ``folder``: only their DAGs are built."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(INTEGRATIONS_FOLDER / f"{name}.yaml", folder / f"{name}.yaml")
    return folder


@dataclass
class World:
    """Simulators, connections, ledger and scenario for one simulated day (enter it after :func:`prepare_airflow`).

    ``secrets`` collects every credential the connections carry, for the secret-leak invariant.
    """

    workdir: Path
    integrations: tuple[str, ...]
    seed: int
    skus: int
    hours: int
    stack: Any = None
    scenario: Any = None
    ledger_url: str = ""
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __enter__(self) -> World:
        from erp_wms_simulators.server import SimulatorStack
        from erp_wms_sync.demo import env_vars
        from erp_wms_sync.ledger.db import upgrade

        self.stack = SimulatorStack(fault_seed=self.seed).start()
        try:
            for system in SCALED_WINDOW_SYSTEMS:
                self.stack.states[system].settings.update({"rate_limit_window_seconds": RATE_WINDOW_SECONDS})
            variables = scaled_rate_window(env_vars(self.stack.describe()))
            self.ledger_url = f"sqlite:///{self.workdir / 'ledger.db'}"
            os.environ.update(variables)
            os.environ.update({
                "ERP_WMS_LEDGER_URL": self.ledger_url,
                "ERP_WMS_INTEGRATIONS_DIR": str(copy_integrations(self.integrations, self.workdir / "integrations")),
                "ERP_WMS_REPORTS_DIR": str(self.workdir / "reports"),
                "ERP_WMS_CACHE_DIR": str(self.workdir / "cache"),
            })
            self.connections = {name: json.loads(value) for name, value in variables.items()}
            upgrade(self.ledger_url)
        except BaseException:
            self.stack.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.stack is not None:
            self.stack.stop()

    def secrets(self) -> list[str]:
        """Every password, key and token of the connections this world defined (non-empty, unique)."""
        found: list[str] = []
        for conn in self.connections.values():
            value = conn.get("password")
            if isinstance(value, str) and value:
                found.append(value)
            extra = conn.get("extra") or {}
            for key, value in extra.items():
                if isinstance(value, str) and value and any(w in key.lower() for w in ("key", "token", "secret")):
                    found.append(value)
        return sorted(set(found))

    def make_scenario(self, start: datetime) -> Any:
        """The scenario over the chosen integrations' ERPs and Peoplevox (the integration carries the orders)."""
        from erp_wms_simulators.scenario import Scenario

        states = {ERP_OF[name]: self.stack.states[ERP_OF[name]] for name in self.integrations}
        states["peoplevox"] = self.stack.states["peoplevox"]
        self.scenario = Scenario(states, seed=self.seed, skus=self.skus, start=start, bridge="integration")
        return self.scenario

    def set_faults(self, profile: str) -> None:
        """Install ``profile`` (seeded with the run's seed) on every simulator, or clear all faults (``none``)."""
        for state in self.stack.states.values():
            if profile == "none":
                state.faults.clear()
            else:
                state.faults.set_profile(profile, self.seed)


def scaled_rate_window(variables: dict[str, str]) -> dict[str, str]:
    """The ``AIRFLOW_CONN_*`` variables with every ERP connection's budget window (extra ``rate_window_seconds``)
    set to :data:`RATE_WINDOW_SECONDS`, like the simulator's own window."""
    out = dict(variables)
    for name, value in variables.items():
        conn = json.loads(value)
        if conn.get("conn_type") in SCALED_WINDOW_SYSTEMS:
            conn.setdefault("extra", {})["rate_window_seconds"] = RATE_WINDOW_SECONDS
            out[name] = json.dumps(conn)
    return out


def day_start(hours: int, now: datetime | None = None) -> datetime:
    """Where the simulated day starts: ``hours`` before the current full hour, so the day ends at about the wall
    clock (the settle phase runs on into the next hours)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment - timedelta(hours=hours)


@dataclass
class DayLog:
    """What the scenario did: events per kind and outcome, warehouse steps, returns received, ticks."""

    planned: Counter[str] = field(default_factory=Counter)
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    warehouse: Counter[str] = field(default_factory=Counter)
    returns_received: int = 0
    invoiced: int = 0
    ticks: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"planned": dict(sorted(self.planned.items())),
                "outcomes": {kind: dict(sorted(c.items())) for kind, c in sorted(self.outcomes.items())},
                "warehouse": dict(sorted(self.warehouse.items())), "returns_received": self.returns_received,
                "invoiced": self.invoiced, "ticks": self.ticks}


Tick = Callable[[datetime], None]


def trading_day(scenario: Any, orders: int, hours: int, on_tick: Tick) -> DayLog:
    """The scenario's plan of a day for ``orders`` orders, compressed into ``hours`` simulated hours: events at
    their (scaled) minute, the warehouse one step every quarter hour, ``on_tick`` at every full hour (with the
    clock running at real speed meanwhile, so rate limits and retries see time pass)."""
    from erp_wms_simulators.scenario.actions import run_event
    from erp_wms_simulators.scenario.brands import BRANDS
    from erp_wms_simulators.scenario.plan import plan_day

    start = scenario.clock.now
    catalogues = {erp: (BRANDS[erp], catalogue) for erp, catalogue in scenario.catalogues.items()}
    planned = plan_day(start, orders, catalogues, random.Random(f"day/{scenario.seed}/0"), scenario.mix)
    scale = hours / 24
    events = [replace(event, at=start + (event.at - start) * scale) for event in planned]
    log = DayLog(planned=Counter(event.kind for event in events))
    slot = timedelta(minutes=60 // STEPS_PER_HOUR)
    pending = iter(events)
    upcoming = next(pending, None)
    for index in range(1, hours * STEPS_PER_HOUR + 1):
        slot_end = start + index * slot
        while upcoming is not None and upcoming.at < slot_end:
            scenario.clock.move_to(upcoming.at)
            log.outcomes.setdefault(upcoming.kind, Counter())[run_event(scenario.world, upcoming)[0]] += 1
            upcoming = next(pending, None)
        warehouse_slot(scenario, slot_end, index % STEPS_PER_HOUR == 0, on_tick, log)
    return log


def warehouse_slot(scenario: Any, moment: datetime, hour: bool, on_tick: Tick | None, log: DayLog) -> None:
    """One quarter hour at its end: the integration's tick (full hours), then opening stock for items the item
    master sync created, every open order one step on, and the returns that arrived received."""
    from erp_wms_simulators.scenario.actions import receive_due_returns

    scenario.clock.move_to(moment)
    if hour and on_tick is not None:
        with scenario.clock.running():
            on_tick(moment)
        log.ticks += 1
    for erp, side in scenario.wms.items():
        catalogue = scenario.catalogues[erp]
        codes = [sku.code for sku in catalogue.skus + catalogue.launch_skus]
        side.load_opening_stock(codes, scenario.erps[erp].stock_levels)
        log.warehouse.update(side.step())
    log.returns_received += receive_due_returns(scenario.world, scenario.clock.now)


def invoice_shipped(scenario: Any) -> int:
    """The ERP's users invoice every Cin7 Core sale of the scenario that is fully shipped (Cin7 credits a return
    against an invoice; the integration never invoices). Returns how many were invoiced now."""
    from erp_wms_simulators.common import SimError

    side = scenario.erps.get("cin7core")
    if side is None:
        return 0
    invoiced = 0
    for order in side.orders():
        if order.ship_state != "full" or order.cancelled or order.status in INVOICED_OR_LATER:
            continue
        try:
            side.state.invoice_sale(order.key)
        except (ValueError, SimError):  # refused by the ERP's own rules: left as it is
            continue
        invoiced += 1
    return invoiced


def warehouse_hour(scenario: Any, log: DayLog) -> None:
    """The warehouse works one more simulated hour (no integration tick): the settle phase between passes."""
    slot = timedelta(minutes=60 // STEPS_PER_HOUR)
    for _ in range(STEPS_PER_HOUR):
        warehouse_slot(scenario, scenario.clock.now + slot, False, None, log)
