"""Dispatch confirmation through the callback path, live: the simulators call the webhook receiver inside a running
``airflow standalone``, the receiver's asset events start ``<integration>__dispatch_confirmation`` and the despatch
reaches the ERP — sooner than any poll could have, since the DAG's own schedule is set to once an hour here.

One :class:`~benchmarks.live.LiveStack` serves the whole module: the sample integrations are subscribed, their items
synced and a set of orders released to Peoplevox once; each test then moves its own orders through the simulated
warehouse. Checked from what the ERP simulators hold (shipped boxes per Cin7 sale, BlueCherry shipments) and from
the ledger (``despatches``, ``webhook_inbox``, ``security_events``).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
import requests
from benchmarks.live import ROOT, SAMPLE_INTEGRATIONS, LiveStack, LiveStackError

from tests.e2e.dispatch_support import cin7_sale, despatch, goods_in, pick, shipped, wms_orders

pytestmark = pytest.mark.e2e

NORTHWIND, BLUEBIRD = "northwind", "bluebird"
DISPATCH = f"{NORTHWIND}__dispatch_confirmation"
BB_DISPATCH = f"{BLUEBIRD}__dispatch_confirmation"
GOOD = ("NWO-BOOT-10", "NWO-BOOT-11", "NWO-BAG-REG")
PLUGIN = ROOT / "plugins" / "erp_wms_webhooks.py"
HOOK = "/erp-wms/hooks/peoplevox/{integration}/DespatchPackageDespatched"
CALLBACK_SLA = 90.0  # seconds from a despatch to the ERP holding it, when only a callback can explain it
BATCH_WHOLE, BATCH_SPLIT = 4, 3  # fault test: orders despatched at once / in two parts
# the flows this module does not exercise start paused: their first runs (a nightly reconciliation's full snapshots
# among them) would otherwise all start with the stack and crowd the two cores the runs under test need
UNUSED_PAUSED = ("paused_flows: [reconciliation, exception_housekeeping, exception_digest, returns, "
                 "webhook_subscriptions]\n")


def far_minute() -> int:
    """A cron minute half an hour away: the hourly poll cannot fire while this module runs."""
    return (datetime.now(UTC).minute + 30) % 60


def hourly_dispatch(text: str, extra: str = "") -> str:
    """An integration file whose dispatch_confirmation polls once an hour (so only a callback confirms fast)."""
    poll = f'  dispatch_confirmation: "{far_minute()} * * * *"\n'
    if re.search(r"^schedules:\s*$", text, flags=re.MULTILINE):
        text = re.sub(r"^schedules:\s*\n", lambda m: m.group(0) + poll, text, count=1, flags=re.MULTILINE)
    else:
        text += f"\nschedules:\n{poll}"
    return text.rstrip("\n") + "\n" + extra


@pytest.fixture(scope="module")
def live() -> Iterator[LiveStack]:
    if not PLUGIN.exists():
        pytest.skip(f"the webhook receiver plugin {PLUGIN.relative_to(ROOT)} is not in the tree yet")
    integrations = {
        NORTHWIND: hourly_dispatch((SAMPLE_INTEGRATIONS / f"{NORTHWIND}.yaml").read_text(encoding="utf-8"),
                                   UNUSED_PAUSED),
        BLUEBIRD: hourly_dispatch((SAMPLE_INTEGRATIONS / f"{BLUEBIRD}.yaml").read_text(encoding="utf-8"),
                                  "dispatch:\n  erp_batch_minutes: 0\n" + UNUSED_PAUSED),
    }
    dags = [f"{name}__{flow}" for name in integrations for flow in ("item_master_sync", "order_release")]
    with LiveStack(integrations=integrations, dags=dags) as stack, ThreadPoolExecutor(1) as background:
        # the test's own reads of Cin7 sales must not take the integration's calls (its client keeps 60/min)
        stack.sim("cin7core", "POST", "/_sim/settings", json={"rate_limit_per_minute": 100_000})
        stack.subscribing = background.submit(stack.subscribe, check=False)  # type: ignore[attr-defined]
        yield stack


@pytest.fixture(scope="module")
def dispatch_dags(live: LiveStack) -> LiveStack:
    """Both dispatch DAGs parsed, unpaused, and any run their unpausing started finished; subscriptions made."""
    missing = [dag for dag in (DISPATCH, BB_DISPATCH) if dag not in live.dag_ids()]
    if missing:
        pytest.skip(f"no {', '.join(missing)} DAG yet")
    # started with the stack (it takes a while); Cin7's order webhook is not needed here
    live.require_despatch_callbacks(live.subscribing.result(timeout=300))  # type: ignore[attr-defined]
    for dag_id in (DISPATCH, BB_DISPATCH):
        live.unpause(dag_id)
    time.sleep(3)
    for dag_id in (DISPATCH, BB_DISPATCH):
        settled(live, dag_id)
    return live


@pytest.fixture(scope="module")
def released(live: LiveStack) -> dict[str, list[dict[str, Any]]]:
    """Released orders for every test: Cin7 sales (name -> sales) and one BlueCherry order, picked in Peoplevox."""
    finished(live, [live.trigger(f"{name}__item_master_sync") for name in (NORTHWIND, BLUEBIRD)],
             ["item_master_sync"] * 2, [NORTHWIND, BLUEBIRD])
    sales = {
        "callback": [cin7_sale(live, [(GOOD[0], 2), (GOOD[1], 1)])],
        "faults": [cin7_sale(live, [(GOOD[i % 3], 1 + i % 2)]) for i in range(BATCH_WHOLE)]
        + [cin7_sale(live, [(GOOD[i % 3], 1), (GOOD[(i + 1) % 3], 2)]) for i in range(BATCH_SPLIT)],
        "outage": [cin7_sale(live, [(GOOD[2], 1)])],
    }
    bb_sku = bluebird_sku(live)
    order = live.sim("bluecherry", "POST", "/_sim/orders", json={
        "customerPo": "WEB-LIVE-1", "division": "01", "customer": "WEB", "warehouse": "NJ01", "carrier": "UPS Ground",
        "shipTo": {"name": "Sam", "address1": "5 Main St", "city": "Newark", "state": "NJ", "zip": "07102",
                   "country": "US"}, "lines": [{"sku": bb_sku, "qty": 2}]})["order"]
    finished(live, [live.trigger(f"{name}__order_release") for name in (NORTHWIND, BLUEBIRD)],
             ["order_release"] * 2, [NORTHWIND, BLUEBIRD])
    numbers = [sale["Order"]["SaleOrderNumber"] for group in sales.values() for sale in group]
    live.wait_for(lambda: set(numbers) <= set(wms_orders(live, NORTHWIND)), 60, "the Cin7 orders in Peoplevox")
    live.wait_for(lambda: order["orderNumber"] in wms_orders(live, BLUEBIRD), 60, "the BlueCherry order in Peoplevox")
    goods_in(live, NORTHWIND, "MAIN", dict.fromkeys(GOOD, 500))
    goods_in(live, BLUEBIRD, "NJ01", {bb_sku: 50})
    for number in numbers:
        pick(live, NORTHWIND, number)
    pick(live, BLUEBIRD, order["orderNumber"])
    return {**sales, "bluecherry": [{**order, "sku": bb_sku}]}


# ---- the tests --------------------------------------------------------------------------------------------------
def test_a_despatch_reaches_cin7_through_its_callback(dispatch_dags: LiveStack, released: dict[str, Any]) -> None:
    live = dispatch_dags
    [sale] = released["callback"]
    number = sale["Order"]["SaleOrderNumber"]
    before = {run["dag_run_id"] for run in live.runs(DISPATCH)}
    record = despatch(live, NORTHWIND, number, carrier="Royal Mail", tracking=["RM123456789GB"])
    started = time.monotonic()

    boxes = live.wait_for(lambda: shipped(live, sale["ID"]), CALLBACK_SLA, f"despatch {record['number']} in Cin7")
    took = time.monotonic() - started
    print(f"despatch -> Cin7 shipped through the callback path in {took:.1f} s")
    assert boxes == [{"box": record["number"], "tracking": "RM123456789GB", "carrier": "Royal Mail",
                      "skus": {GOOD[0]: 2, GOOD[1]: 1}}]
    new_runs = [run for run in live.runs(DISPATCH) if run["dag_run_id"] not in before]
    assert new_runs and {run["run_type"] for run in new_runs} == {"asset_triggered"}, (
        f"confirmed in {took:.0f} s by runs {[(r['dag_run_id'], r['run_type']) for r in new_runs]}: only the "
        "callback's asset event should have started one (the poll runs once an hour)")
    row = despatch_row(live, record["number"])
    assert row["state"] == "confirmed" and row["source"] == "callback"
    assert row["callback_at"] and row["confirmed_at"] and row["despatched_at"]
    assert row["callback_at"] <= row["confirmed_at"]


def test_a_bluecherry_despatch_is_posted_in_its_batch(dispatch_dags: LiveStack, released: dict[str, Any]) -> None:
    live = dispatch_dags
    [order] = released["bluecherry"]
    number = order["orderNumber"]
    record = despatch(live, BLUEBIRD, number, carrier="UPS Ground", tracking=["1Z999AA10123456784"])

    found = live.wait_for(lambda: bluecherry_shipments(live, number), CALLBACK_SLA,
                          f"despatch {record['number']} as a BlueCherry shipment")
    assert [s.get("reference") for s in found] == [record["number"]]
    assert list(found[0]["trackingNumbers"]) == ["1Z999AA10123456784"]
    row = live.wait_for(lambda: (r := despatch_row(live, record["number"], BLUEBIRD)) and r["confirmed_at"] and r,
                        30, "the BlueCherry despatch confirmed in the ledger")
    assert row["state"] == "confirmed" and row["callback_at"]
    assert row["erp_ref"] in {str(value) for value in found[0].values()}, "the ledger names another shipment"
    assert all(run["run_type"] == "asset_triggered" for run in live.runs(BB_DISPATCH)[1:])


def test_dropped_duplicated_and_reordered_callbacks_still_ship_each_despatch_exactly_once(
        dispatch_dags: LiveStack, released: dict[str, Any]) -> None:
    live = dispatch_dags
    sales = released["faults"]
    live.sim("peoplevox", "POST", "/_sim/faults", json={"seed": 11, "rules": [
        {"kind": "drop_callback", "probability": 0.3}, {"kind": "duplicate_callback", "probability": 0.1},
        {"kind": "reorder_callback", "probability": 1.0}]})
    made: Counter[str] = Counter()
    wanted: dict[str, Counter[str]] = {}
    try:
        split = sales[BATCH_WHOLE:]
        for sale in sales:
            number = sale["Order"]["SaleOrderNumber"]
            lines = {line["SKU"]: int(line["Quantity"]) for line in sale["Order"]["Lines"]}
            wanted[sale["ID"]] = Counter(lines)
            first = dict([next(iter(lines.items()))]) if sale in split else None
            despatch(live, NORTHWIND, number, lines=first, tracking=[f"TRK-{number}-1"])
            made[sale["ID"]] += 1
        time.sleep(2)
        for sale in split:  # the rest of each split order, later
            despatch(live, NORTHWIND, sale["Order"]["SaleOrderNumber"],
                     tracking=[f"TRK-{sale['Order']['SaleOrderNumber']}-2"])
            made[sale["ID"]] += 1
        live.wait_for(lambda: live.sim("peoplevox", "GET", "/_sim/callbacks").get("pending", 0) == 0, 30,
                      "Peoplevox to send (or drop) every callback")
        fired = live.sim("peoplevox", "GET", "/_sim/faults")
    finally:
        live.sim("peoplevox", "DELETE", "/_sim/faults")
    assert fired["fired"].get("drop_callback", 0) > 0, f"the fault plan dropped nothing: {fired}"
    settled(live, DISPATCH)
    poll = live.trigger(DISPATCH)  # the safety net picks up what the dropped callbacks did not announce
    live.wait_run(DISPATCH, poll)
    live.wait_for(lambda: all(len(shipped(live, sale["ID"])) >= made[sale["ID"]] for sale in sales), 90,
                  "every despatch of the batch in Cin7")
    settled(live, DISPATCH)
    for sale in sales:
        boxes = shipped(live, sale["ID"])
        assert len(boxes) == made[sale["ID"]], f"sale {sale['ID']}: {len(boxes)} shipped boxes for " \
                                               f"{made[sale['ID']]} despatches: {boxes}"
        assert len({b["box"] for b in boxes}) == len(boxes), f"a despatch shipped twice: {boxes}"
        total: Counter[str] = Counter()
        for box in boxes:
            total.update(box["skus"])
        assert total == wanted[sale["ID"]], f"sale {sale['ID']}: shipped {dict(total)}, ordered {wanted[sale['ID']]}"


def test_unauthenticated_and_malformed_callbacks_are_refused(live: LiveStack) -> None:
    token = str(live.connection(f"{NORTHWIND}_webhooks")["password"])
    path = HOOK.format(integration=NORTHWIND)
    fields = "SalesOrderNumber=SO-1&DespatchNumber=DES-LIVE-1&PackageNumber=PKG-1"
    inbox, security = table_count(live, "webhook_inbox"), table_count(live, "security_events")

    missing = requests.get(f"{live.base_url}{path}?{fields}", timeout=30)
    wrong = requests.get(f"{live.base_url}{path}?token=not-the-secret-{len(token)}&{fields}", timeout=30)
    assert (missing.status_code, wrong.status_code) == (401, 401), (missing.text, wrong.text)
    assert token not in wrong.text
    assert table_count(live, "webhook_inbox") == inbox, "a refused callback must not be stored"
    with closing(live.ledger()) as db:
        events = db.execute("SELECT integration, source, status_code, method, path FROM security_events "
                            "ORDER BY id DESC LIMIT 2").fetchall()
    assert table_count(live, "security_events") == security + 2
    assert {tuple(e) for e in events} == {(NORTHWIND, "peoplevox", 401, "GET", path)}, events

    malformed = requests.get(f"{live.base_url}{path}?token={quote(token)}&DespatchNumber=DES-LIVE-2", timeout=30)
    assert malformed.status_code == 400, malformed.text
    assert "PackageNumber" in malformed.text or "SalesOrderNumber" in malformed.text, malformed.text
    assert token not in malformed.text
    assert table_count(live, "webhook_inbox") == inbox, "a malformed callback must not be stored"


def test_a_callback_during_a_ledger_outage_gets_5xx_and_still_ships_once(
        dispatch_dags: LiveStack, released: dict[str, Any]) -> None:
    live = dispatch_dags
    [sale] = released["outage"]
    number = sale["Order"]["SaleOrderNumber"]
    token = str(live.connection(f"{NORTHWIND}_webhooks")["password"])
    settled(live, DISPATCH)
    # Peoplevox's own retry (the simulator tries once unless told otherwise): a few seconds apart
    live.sim("peoplevox", "POST", "/_sim/callbacks", json={"retry_schedule": [5, 10, 20, 30]})
    lock = sqlite3.connect(live.ledger_path, timeout=30, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # nobody else can write the ledger: the receiver cannot store anything
        record = despatch(live, NORTHWIND, number, tracking=["RM-OUTAGE-1"])
        query = (f"token={quote(token)}&SalesOrderNumber={quote(number)}&DespatchNumber={quote(record['number'])}"
                 f"&PackageNumber={quote(record['packages'][0])}&TrackingNumber=RM-OUTAGE-1")
        during = requests.get(f"{live.base_url}{HOOK.format(integration=NORTHWIND)}?{query}", timeout=120)
        assert during.status_code >= 500, f"a callback the ledger cannot store must not be acknowledged: " \
                                          f"{during.status_code} {during.text[:300]}"
        assert token not in during.text
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not shipped(live, sale["ID"]):
        time.sleep(1)  # the sender's retry brings it in
    if not shipped(live, sale["ID"]):
        live.wait_run(DISPATCH, live.trigger(DISPATCH))  # else the poll does
    boxes = live.wait_for(lambda: shipped(live, sale["ID"]), 60, f"despatch {record['number']} in Cin7")
    settled(live, DISPATCH)
    assert [b["box"] for b in shipped(live, sale["ID"])] == [record["number"]], boxes
    assert despatch_row(live, record["number"])["state"] == "confirmed"


# ---- helpers ------------------------------------------------------------------------------------------------------
def finished(live: LiveStack, run_ids: list[str], flows: list[str], names: list[str]) -> None:
    """Wait for each run (``names[i]__flows[i]``) to end; the release must succeed, item sync may alert."""
    for run_id, flow, name in zip(run_ids, flows, names, strict=True):
        state = live.wait_run(f"{name}__{flow}", run_id, timeout=180)
        if flow == "order_release":
            tasks = live.task_states(f"{name}__{flow}", run_id)
            assert tasks.get("release_orders") == "success", f"{name}__{flow} {run_id}: {state} {tasks}"


def settled(live: LiveStack, dag_id: str, timeout: float = 240) -> None:
    """Wait until the DAG has no queued or running run. A run the busy start-up left hanging (the tests need none
    in progress, not that one) is marked failed through the API and the wait goes on once: a scheduler that no
    longer runs anything still fails the wait, with what its components reported."""
    def in_progress() -> list[dict[str, Any]]:
        return [r for r in live.runs(dag_id) if r["state"] in ("queued", "running")]

    try:
        live.wait_for(lambda: not in_progress(), timeout, f"{dag_id} to have no run in progress")
    except LiveStackError:
        for run in in_progress():
            print(f"{dag_id}: run {run['dag_run_id']} still {run['state']} after {timeout:.0f} s; marked failed")
            live.api("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run['dag_run_id'], safe='')}",
                     json={"state": "failed"})
        live.wait_for(lambda: not in_progress(), 60, f"{dag_id} to have no run in progress")


def bluebird_sku(live: LiveStack) -> str:
    in_wms = live.sim("peoplevox", "GET", f"/_sim/{BLUEBIRD}/records/{quote('Item types')}")
    skus = sorted(s["sku"] for s in live.sim("bluecherry", "GET", "/_sim/skus") if s["sku"] in in_wms)
    assert skus, "item master sync put no BlueCherry SKU into Peoplevox"
    return str(skus[0])


def bluecherry_shipments(live: LiveStack, order_number: str) -> list[dict[str, Any]]:
    key = live.sim_info["bluecherry"]["credentials"]["subscription_key"]
    answer = requests.get(f"{live.sims['bluecherry']}/shipments", params={"orderNumber": order_number}, timeout=30,
                          headers={"Ocp-Apim-Subscription-Key": key})
    answer.raise_for_status()
    rows: list[dict[str, Any]] = answer.json()["data"]
    assert all(row.get("orderNumber") == order_number for row in rows), rows
    return rows


def despatch_row(live: LiveStack, number: str, integration: str = NORTHWIND) -> dict[str, Any]:
    """The ledger row of a despatch; Peoplevox numbers despatches per client, so two integrations can share one."""
    with closing(live.ledger()) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM despatches WHERE integration = ? AND despatch_number = ?",
                         (integration, number)).fetchone()
    return dict(row) if row is not None else {}


def table_count(live: LiveStack, table: str) -> int:
    with closing(live.ledger()) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


# ---- stock callbacks wake inventory sync ------------------------------------------------------------------------
STOCK_SKU = "NWO-TEE-M"  # no order of this module uses it: no despatch of it is in flight
STOCK_SLA = 180.0  # one wake-up per half minute at most, then a four-task run


def test_a_stock_callback_wakes_inventory_sync_and_cin7_follows(dispatch_dags: LiveStack,
                                                                 released: dict[str, Any]) -> None:
    """Goods received in Peoplevox: its IncrementalChanges callback wakes northwind__inventory_sync through the
    receiver's asset event (its own schedule is every 15 minutes) and Cin7 Core ends with what Peoplevox counts."""
    live = dispatch_dags
    inventory = f"{NORTHWIND}__inventory_sync"
    live.unpause(inventory)
    time.sleep(3)
    settled(live, inventory, timeout=240)  # the run of the latest interval that unpausing starts
    before = {run["dag_run_id"] for run in live.runs(inventory)}

    goods_in(live, NORTHWIND, "MAIN", {STOCK_SKU: 9})
    counted = sum(row["on_hand"] for row in live.sim("peoplevox", "GET", f"/_sim/{NORTHWIND}/warehouse/stock",
                                                     params={"item": STOCK_SKU, "site": "MAIN"})
                  if row["location"].upper() != "QUARANTINE")

    def cin7_on_hand() -> float:
        row = live.sim("cin7core", "GET", "/_sim/availability", params={"sku": STOCK_SKU, "location": "Main Warehouse"})
        return float(row["OnHand"])

    live.wait_for(lambda: cin7_on_hand() == counted, STOCK_SLA, f"Cin7 to hold the {counted} {STOCK_SKU} counted")

    def woken() -> list[dict[str, Any]]:
        return [run for run in live.runs(inventory) if run["dag_run_id"] not in before]

    # the callback's asset event starts a run of its own; when the quarter-hour schedule happened to start one at the
    # same moment (which may have applied the movement first), the event's run is queued behind it: wait for it
    live.wait_for(lambda: any(run["run_type"] == "asset_triggered" for run in woken()), 120,
                  f"an asset-triggered run of {inventory} after the callback")
