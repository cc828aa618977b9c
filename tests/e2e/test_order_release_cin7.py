"""order_release end to end for Cin7 Core: real DAGs under dag.test() against the simulators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from erp_wms_simulators.cin7core import demo as c7_demo
from erp_wms_simulators.faults import FaultRule
from erp_wms_simulators.peoplevox import Warehouse
from tests.e2e.conftest import task_states
from tests.e2e.orders_support import cin7_reauthorise, cin7_sale, open_exceptions, wms_lines, wms_orders

pytestmark = pytest.mark.e2e
DAG = "northwind__order_release"
GOOD = ("NWO-BOOT-10", "NWO-BOOT-11", "NWO-BAG-REG")


@pytest.fixture
def catalogue(stack, run_dag) -> None:
    """Item master first, as in production: Peoplevox learns the valid items (and not the invalid ones)."""
    run_dag("northwind__item_master_sync")
    stack.cin7core.add_location("Pop-up Store")


def saves(stack) -> int:
    return stack.peoplevox.calls[("northwind", "SaveData")]


def test_valid_orders_go_once_held_ones_wait_for_the_fix(stack, wired, run_dag, catalogue) -> None:
    good = [cin7_sale(stack, [(GOOD[0], 2), (GOOD[1], 1)]), cin7_sale(stack, [(GOOD[2], 1)])]
    unknown_sku = cin7_sale(stack, [(GOOD[0], 1), (c7_demo.BLANK_NAME_SKU, 1)])  # held by item master
    unmapped = cin7_sale(stack, [(GOOD[0], 1)], location="Pop-up Store")

    first = run_dag(DAG)
    states = task_states(first)
    assert states["release_orders"] == "success" and states["data_check"] == "failed"
    assert str(first.state) == "failed", "a held order makes the run red"
    numbers = {s["Order"]["SaleOrderNumber"] for s in good}
    assert set(wms_orders(stack, "northwind")) == numbers
    assert wms_lines(stack, "northwind", good[0]["Order"]["SaleOrderNumber"]) == {GOOD[0]: "2", GOOD[1]: "1"}
    held = open_exceptions(wired, "northwind")
    sku_hold = held[f"unmapped_sku:{unknown_sku['Order']['SaleOrderNumber']}"]
    assert sku_hold.owner == "ecommerce" and c7_demo.BLANK_NAME_SKU in sku_hold.summary
    assert sku_hold.payload["order"]["erp_id"] == unknown_sku["ID"] and sku_hold.detail["unknown_skus"]
    assert f"unmapped_location:{unmapped['Order']['SaleOrderNumber']}" in held
    attrs = stack.cin7core.sale(good[0]["ID"])["AdditionalAttributes"] or {}
    assert not attrs.get("AdditionalAttribute1"), "write_back 'held' (default): a plain release costs no Cin7 call"
    assert "unmapped_sku" in stack.cin7core.sale(unknown_sku["ID"])["AdditionalAttributes"]["AdditionalAttribute1"]

    before = saves(stack)
    rerun = run_dag(DAG)
    assert task_states(rerun)["release_orders"] == "success"
    assert saves(stack) == before, "a re-run sends nothing"
    fetched = rerun.get_task_instance("fetch_orders").xcom_pull(task_ids="fetch_orders")
    assert fetched["detail_calls"] == 0 and fetched["revalidated"] == 2, "unchanged orders are not fetched again"
    window = {"window_start": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
              "window_end": (datetime.now(UTC) + timedelta(minutes=1)).isoformat()}
    run_dag(DAG, **window)
    assert saves(stack) == before, "replaying the window sends nothing"
    assert set(wms_orders(stack, "northwind")) == numbers

    # The data team fixes the item; item master sends it; the held order goes by itself on the next run.
    stack.cin7core.update_product(c7_demo.BLANK_NAME_SKU, Name="Merino Neck Gaiter M")
    run_dag("northwind__item_master_sync", **window)
    fixed = run_dag(DAG)
    assert unknown_sku["Order"]["SaleOrderNumber"] in wms_orders(stack, "northwind")
    assert f"unmapped_sku:{unknown_sku['Order']['SaleOrderNumber']}" not in open_exceptions(wired, "northwind")
    released = stack.cin7core.sale(unknown_sku["ID"])["AdditionalAttributes"]["AdditionalAttribute1"]
    assert released.startswith("Released to WMS as"), "the release of a held order overwrites its held status"
    assert f"unmapped_location:{unmapped['Order']['SaleOrderNumber']}" in open_exceptions(wired, "northwind")
    assert task_states(fixed)["data_check"] == "success", "still held, but not a new problem: it alerted once"


def test_amendments_and_cancellations_respect_the_cutoff(stack, wired, run_dag, catalogue) -> None:
    change_me, cancel_me, too_late, late_cancel, shrink = (cin7_sale(stack, [(GOOD[0], 1), (GOOD[1], 1)])
                                                            for _ in range(5))
    run_dag(DAG)
    number = {s["ID"]: s["Order"]["SaleOrderNumber"] for s in (change_me, cancel_me, too_late, late_cancel, shrink)}
    warehouse = Warehouse(stack.peoplevox, "northwind")
    for sku in GOOD[:2]:
        warehouse.goods_in(sku, 50, "MAIN")
    for sale in (too_late, late_cancel):
        warehouse.allocate(number[sale["ID"]])
        warehouse.start_picking(number[sale["ID"]])

    cin7_reauthorise(stack, change_me["ID"], [(GOOD[0], 3), (GOOD[1], 1), (GOOD[2], 2)])
    cin7_reauthorise(stack, too_late["ID"], [(GOOD[0], 5), (GOOD[1], 1)])
    cin7_reauthorise(stack, shrink["ID"], [(GOOD[0], 1)])
    stack.cin7core.void_sale(cancel_me["ID"])
    stack.cin7core.void_sale(late_cancel["ID"])
    run = run_dag(DAG)
    assert task_states(run)["apply_amendments"] == "success"

    orders = wms_orders(stack, "northwind")
    assert wms_lines(stack, "northwind", number[change_me["ID"]]) == {GOOD[0]: "3", GOOD[1]: "1", GOOD[2]: "2"}
    assert orders[number[cancel_me["ID"]]]["Status"] == "Cancelled"
    assert orders[number[shrink["ID"]]]["Status"] == "Cancelled"
    reissued = number[shrink["ID"]] + "-R1"
    assert wms_lines(stack, "northwind", reissued) == {GOOD[0]: "1"}
    assert orders[number[too_late["ID"]]]["Status"] == "Picking"
    assert wms_lines(stack, "northwind", number[too_late["ID"]]) == {GOOD[0]: "1", GOOD[1]: "1"}, "untouched"
    assert orders[number[late_cancel["ID"]]]["Status"] == "Picking"
    held = open_exceptions(wired, "northwind")
    late = held[f"amendment_after_cutoff:{number[too_late['ID']]}"]
    assert late.owner == "cx+warehouse" and "Picking" in late.summary
    assert {i["ItemCode"]: i["QuantityOrdered"] for i in late.payload["in_warehouse"]["items"]}[GOOD[0]] == "1"
    assert {i["ItemCode"]: i["QuantityOrdered"] for i in late.payload["in_erp"]["items"]}[GOOD[0]] == "5"
    assert f"amendment_after_cutoff:{number[late_cancel['ID']]}" in held


def test_a_crash_between_header_and_lines_is_completed_not_adopted(stack, wired, run_dag, catalogue,
                                                                   monkeypatch) -> None:
    from erp_wms_sync.connectors.peoplevox import PeoplevoxClient

    sales = [cin7_sale(stack, [(GOOD[0], 1), (GOOD[1], 2)]) for _ in range(3)]
    real = PeoplevoxClient.save_sales_order_items

    def killed(self, rows):
        raise SystemExit("worker killed between the header and the lines SaveData")

    monkeypatch.setattr(PeoplevoxClient, "save_sales_order_items", killed)
    crashed = run_dag(DAG)
    assert task_states(crashed)["release_orders"] == "failed"
    numbers = {s["Order"]["SaleOrderNumber"] for s in sales}
    assert set(wms_orders(stack, "northwind")) == numbers and not any(wms_lines(stack, "northwind", n)
                                                                      for n in numbers)
    monkeypatch.setattr(PeoplevoxClient, "save_sales_order_items", real)
    recovered = run_dag(DAG)
    assert task_states(recovered)["release_orders"] == "success"
    assert set(wms_orders(stack, "northwind")) == numbers, "exactly one Peoplevox order each"
    assert all(wms_lines(stack, "northwind", n) == {GOOD[0]: "1", GOOD[1]: "2"} for n in numbers)
    fetched = recovered.get_task_instance("release_orders").xcom_pull(task_ids="release_orders")
    assert fetched["completed"] == 3 and fetched["released"] == 0


def test_a_refused_line_holds_the_order_and_the_next_run_completes_it(stack, wired, run_dag, catalogue) -> None:
    sale = cin7_sale(stack, [(GOOD[0], 1), (GOOD[1], 2)])
    number = sale["Order"]["SaleOrderNumber"]
    stack.peoplevox.faults.add_rule(FaultRule("partial_save_failure", endpoint="Sales order items", count=1))
    first = run_dag(DAG)
    assert task_states(first)["data_check"] == "failed", "a Peoplevox refusal is a new problem: the run is red"
    assert f"wms_write_rejected:{number}" in open_exceptions(wired, "northwind")
    note = stack.cin7core.sale(sale["ID"])["AdditionalAttributes"]["AdditionalAttribute1"]
    assert note.startswith("Held") and "Released" not in note
    second = run_dag(DAG)
    assert str(second.state) == "success"
    assert wms_lines(stack, "northwind", number) == {GOOD[0]: "1", GOOD[1]: "2"}
    assert f"wms_write_rejected:{number}" not in open_exceptions(wired, "northwind")
    assert stack.cin7core.sale(sale["ID"])["AdditionalAttributes"]["AdditionalAttribute1"].startswith("Released")


def test_an_order_voided_before_write_back_does_not_fail_the_task(stack, wired, run_dag, catalogue,
                                                                  monkeypatch) -> None:
    from erp_wms_sync.flows import order_release

    held = cin7_sale(stack, [(GOOD[0], 1)], location="Pop-up Store")
    other = cin7_sale(stack, [(GOOD[0], 1)], location="Pop-up Store")
    real = order_release.write_back

    def void_first(ctx, source):
        stack.cin7core.void_sale(held["ID"])  # a CX agent voids it while the run is in flight
        return real(ctx, source)

    monkeypatch.setattr(order_release, "write_back", void_first)
    run = run_dag(DAG)
    assert task_states(run)["write_back_status"] == "success" and task_states(run)["advance_watermark"] == "success"
    counts = run.get_task_instance("write_back_status").xcom_pull(task_ids="write_back_status")
    assert counts["skipped"] == 1 and counts["written"] == 1
    assert "unmapped_location" in stack.cin7core.sale(other["ID"])["AdditionalAttributes"]["AdditionalAttribute1"]


@pytest.mark.parametrize("status", [429, 503])
def test_a_rate_limited_cin7_slows_the_flow_but_loses_nothing(stack, wired, run_dag, catalogue, status) -> None:
    sales = [cin7_sale(stack, [(GOOD[0], 1)]) for _ in range(4)]
    stack.cin7core.faults.add_rule(FaultRule("rate_limit_burst" if status == 429 else "http_5xx", status=status,
                                             endpoint="GET /externalapi/v2/sale*", burst=2, count=2,
                                             retry_after=1 if status == 429 else None))
    run = run_dag(DAG)
    assert task_states(run)["fetch_orders"] == "success" and str(run.state) == "success"
    assert stack.cin7core.faults.count("rate_limit_burst" if status == 429 else "http_5xx") >= 1
    assert set(wms_orders(stack, "northwind")) == {s["Order"]["SaleOrderNumber"] for s in sales}


def test_a_record_peoplevox_rejects_is_held_and_sent_again(stack, wired, run_dag, catalogue) -> None:
    sales = [cin7_sale(stack, [(GOOD[0], 1)]) for _ in range(3)]
    stack.peoplevox.faults.add_rule(FaultRule("partial_save_failure", endpoint="Sales orders", count=1))
    first = run_dag(DAG)
    assert task_states(first)["release_orders"] == "success"
    rejected = [k for k in open_exceptions(wired, "northwind") if k.startswith("wms_write_rejected:")]
    assert len(rejected) == 1 and len(wms_orders(stack, "northwind")) == 2
    assert "Temporary failure" in open_exceptions(wired, "northwind")[rejected[0]].summary
    run_dag(DAG)
    assert set(wms_orders(stack, "northwind")) == {s["Order"]["SaleOrderNumber"] for s in sales}
    assert not [k for k in open_exceptions(wired, "northwind") if k.startswith("wms_write_rejected:")]


def test_order_checks_look_up_only_the_skus_the_orders_use(stack, wired, run_dag, catalogue) -> None:
    stack.peoplevox.seed("northwind", "Item types", [{"ItemCode": f"BULK-{n:05d}", "Name": f"Bulk {n}"}
                                                     for n in range(2500)])  # a full listing would take 3 pages
    cin7_sale(stack, [(GOOD[0], 1), (GOOD[1], 2)])
    before = stack.peoplevox.calls[("northwind", "GetData")]
    run_dag(DAG)
    lookups = stack.peoplevox.calls[("northwind", "GetData")] - before
    assert lookups <= 2, f"{lookups} GetData calls: one ItemCode lookup and one order lookup were expected"
