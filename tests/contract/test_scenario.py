"""The scenario driver: reproducible dumps, the mix of a trading day, the warehouse moving in drill mode, the
hourly hook where an integration runs, a full day of 1,000 orders, and the command line (in process and
against simulators started with ``up``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from erp_wms_simulators.scenario import KINDS, Scenario
from erp_wms_simulators.scenario.driver import DEFAULT_START
from erp_wms_simulators.scenario.states import fresh_states

CLI_TIMEOUT = 120


def drill(seed: int, orders: int, skus: int = 300, **options: Any) -> Scenario:
    """A seeded drill: both brands, items pre-created, the driver bridging orders to the warehouse."""
    scenario = Scenario(fresh_states(DEFAULT_START), seed, skus=skus, bridge="direct", create_items=True, **options)
    scenario.seed_catalogue()
    scenario.day(orders)
    return scenario


@pytest.fixture(scope="module")
def day400() -> Scenario:
    return drill(11, 400, skus=400)


def test_same_seed_gives_an_identical_dump_and_another_seed_differs() -> None:
    first, again, other = drill(3, 120).dump_json(), drill(3, 120).dump_json(), drill(4, 120).dump_json()
    assert first == again
    assert first != other
    dump = json.loads(first)
    assert set(dump) == {"scenario", "cin7core", "bluecherry", "peoplevox"}
    assert "guid-00001" in first  # Cin7 Core's random sale ids are aliased in order of appearance


def test_the_day_holds_every_kind_of_event_in_the_planned_shares(day400: Scenario) -> None:
    report = day400.last_report
    assert report is not None and set(report.planned) == set(KINDS)
    planned = report.planned
    assert planned["order"] + planned["order_unknown_sku"] + planned["order_unmapped_location"] == 400
    assert (planned["order_unknown_sku"], planned["order_unmapped_location"], planned["amend"]) == (12, 12, 20)
    assert (planned["cancel_before_picking"], planned["cancel_after_picking"]) == (16, 8)
    assert planned["return_sellable"] + planned["return_damaged"] == 20 and planned["return_damaged"] == 6
    for kind in ("order", "order_unknown_sku", "order_unmapped_location"):
        assert report.done(kind) == planned[kind], kind
    assert report.done("amend") >= 15 and report.done("cancel_before_picking") >= 12
    assert 1 <= report.done("cancel_after_picking") <= 8
    assert report.done("return_sellable") + report.done("return_damaged") >= 10
    bridge = report.bridge
    assert 9 <= bridge["held_unmapped_location"] <= 12 and 6 <= bridge["held_unmapped_sku"] <= 12
    assert bridge["cancel_refused"] >= 1  # late cancellations meet the warehouse's cut-off


def test_orders_land_in_the_erps_with_their_deliberate_problems(day400: Scenario) -> None:
    dump = day400.dump()
    blue_orders = dump["bluecherry"]["orders"]
    cin7_sales = dump["cin7core"]["sales"]
    assert len(blue_orders) + len(cin7_sales) == 400
    assert sum(o["warehouse"] == "TX03" for o in blue_orders) + sum(
        s["Location"] == "Pop-up Store" for s in cin7_sales) == 12
    items = {code for tenant in dump["peoplevox"].values() for code in
             (row["ItemCode"] for row in tenant["tables"]["Item types"])}
    ordered = {line["sku"] for order in blue_orders for line in order["lines"]} | {
        line["SKU"] for sale in cin7_sales for line in sale["Order"]["Lines"]}
    launches = {sku.code for catalogue in day400.catalogues.values() for sku in catalogue.launch_skus}
    assert ordered - items == ordered & launches and ordered & launches  # only launches are unknown
    statuses = Counter(order["status"] for order in blue_orders)
    assert statuses["CANCELLED"] >= 5 and statuses["SHIPPED"] + statuses["PARTIALLY_SHIPPED"] >= 100


def test_the_warehouse_moves_orders_with_short_picks_partial_despatches_and_tracking(day400: Scenario) -> None:
    report = day400.last_report
    assert report is not None
    moved = report.warehouse
    assert moved["despatched"] >= 250 and moved["picked_short"] >= 3 and moved["despatched_partially"] >= 3
    bluebird = day400.dump()["peoplevox"]["bluebird"]
    carriers = {d["carrier"] for d in bluebird["despatches"]}
    assert carriers <= {"UPS", "FedEx", "USPS"} and len(carriers) == 3
    ups = [t for d in bluebird["despatches"] if d["carrier"] == "UPS" for t in d["tracking"]]
    assert ups and all(t.startswith("1Z") and len(t) == 18 for t in ups)
    returned = [line for tenant in day400.dump()["peoplevox"].values() for line in tenant["returns"]]
    assert returned and {line["condition"] for line in returned} <= {"Sellable", "Damaged"}
    assert report.bridge["despatch_confirmed"] >= 250 and report.returns_received >= 1
    late = [o for o in bluebird["orders"] if o["status"] in ("New", "Allocated", "Picking", "Packing")]
    before = len(late)
    day400.advance(minutes=120)
    after = day400.dump()["peoplevox"]["bluebird"]["orders"]
    assert sum(o["status"] in ("New", "Allocated", "Picking", "Packing") for o in after) < max(before, 1)
    assert day400.clock.now == DEFAULT_START + timedelta(days=1, hours=2)


def test_on_tick_runs_hourly_where_an_integration_creates_items_and_releases() -> None:
    states = fresh_states(DEFAULT_START)
    scenario = Scenario(states, 5, skus=120)
    scenario.seed_catalogue()
    ticks: list[datetime] = []

    def integration(moment: datetime) -> None:
        ticks.append(moment)
        if len(ticks) == 6:  # the item master sync runs for the first time at 06:00
            side = scenario.wms["bluecherry"]
            side.create_items(scenario.catalogues["bluecherry"].skus)

    report = scenario.day(60, on_tick=integration)
    # the simulated clock keeps the real time an on_tick hook takes, so allow a moment past the hour
    assert len(ticks) == 24 and timedelta(hours=1) <= ticks[0] - DEFAULT_START < timedelta(hours=1, seconds=5)
    assert all(b > a for a, b in zip(ticks, ticks[1:], strict=False))
    pvx = scenario.dump()["peoplevox"]
    assert pvx["bluebird"]["stock"] and not pvx["northwind"]["stock"]  # stock follows the items, per brand
    assert report.warehouse == Counter()  # nothing released: no integration copied an order
    assert not any(row["ItemCode"].startswith("NWS") for row in pvx["northwind"]["tables"]["Item types"])


def test_a_day_of_a_thousand_orders_completes() -> None:
    started = time.perf_counter()
    scenario = Scenario(fresh_states(DEFAULT_START), 2025, skus=2000, bridge="direct", create_items=True)
    scenario.seed_catalogue()
    report = scenario.day(1000)
    print(f"\n1,000-order simulated day: {report.seconds:.1f} s for the day, "
          f"{time.perf_counter() - started:.1f} s with seeding")
    assert sum(report.done(kind) for kind in ("order", "order_unknown_sku", "order_unmapped_location")) == 1000
    assert report.end == DEFAULT_START + timedelta(days=1) and report.ticks == 24


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "erp_wms_simulators", "scenario", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False)


def test_cli_in_process_day_prints_timing_and_dumps(tmp_path: Path) -> None:
    done = run_cli("day", "--orders", "40", "--skus", "80", "--seed", "9", "--bridge", "direct", "--create-items",
                   "--dump", "-", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "simulated day of 40 orders in" in done.stderr
    dump = json.loads(done.stdout)
    assert len(dump["bluecherry"]["orders"]) + len(dump["cin7core"]["sales"]) == 40
    report = json.loads(done.stderr[done.stderr.index("{"):])
    assert report["day"]["planned"]["order"] >= 36
    refused = run_cli("day", "--orders", "5", "--bridge", "direct", "--cin7core-url", "http://127.0.0.1:9",
                      cwd=tmp_path)
    assert refused.returncode == 1 and "error:" in refused.stderr and "Traceback" not in refused.stderr


@pytest.fixture
def running_stack(tmp_path: Path) -> Iterator[Path]:
    """``python -m erp_wms_simulators up`` on free ports; yields the JSON file it wrote."""
    target = tmp_path / "sims.json"
    command = [sys.executable, "-m", "erp_wms_simulators", "up", "--write-json", str(target),
               "--cin7core-port", "0", "--peoplevox-port", "0", "--bluecherry-port", "0"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not target.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert target.exists(), "the simulators did not start"
        yield target
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_cli_against_running_simulators(running_stack: Path, tmp_path: Path) -> None:
    sims = ["--simulators", str(running_stack)]
    seeded = run_cli("seed", *sims, "--skus", "60", "--seed", "2", "--create-items", cwd=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    assert json.loads(seeded.stdout)["seed"]["peoplevox/bluebird"]["opening_units"] > 0
    pvx = json.loads(running_stack.read_text())["peoplevox"]["url"]
    codes = requests.get(f"{pvx}/_sim/bluebird/records/Item types", timeout=10).json()
    sku = next(code for code in sorted(codes) if code.startswith("300"))  # a scenario style, with stock
    rows = [{"SalesOrderNumber": "DRILL-1", "Site": "NJ01", "ServiceType": "Standard", "ChannelName": "Drill"}]
    assert requests.post(f"{pvx}/_sim/bluebird/records/Sales orders", json=rows, timeout=10).ok
    items = [{"SalesOrderNumber": "DRILL-1", "ItemCode": sku, "QuantityOrdered": "1", "Line": "1"}]
    assert requests.post(f"{pvx}/_sim/bluebird/records/Sales order items", json=items, timeout=10).ok
    day = run_cli("day", *sims, "--orders", "30", cwd=tmp_path)
    assert day.returncode == 0, day.stderr
    assert "simulated day of 30 orders" in day.stdout
    assert requests.get(f"{pvx}/_sim/bluebird/warehouse/orders/DRILL-1", timeout=10).json()["status"] == "Despatched"
    assert run_cli("advance", *sims, "--steps", "2", cwd=tmp_path).returncode == 0
    state = json.loads((tmp_path / "scenario-state.json").read_text())
    assert (state["seed"], state["skus"], state["days"]) == (2, 60, 1)
    assert state["now"].startswith("2025-03-04T00:30")
    out = tmp_path / "dump"
    dumped = run_cli("dump", *sims, "--out", str(out), cwd=tmp_path)
    assert dumped.returncode == 0, dumped.stderr
    assert sorted(p.name for p in out.iterdir()) == ["bluecherry.json", "cin7core.json", "peoplevox.json",
                                                     "scenario.json"]
    blue = json.loads((out / "bluecherry.json").read_text())
    cin7 = json.loads((out / "cin7core.json").read_text())
    assert len(blue["orders"]) + sum(s["CustomerReference"].startswith("NOR-WEB-") for s in cin7["sales"]) == 30
