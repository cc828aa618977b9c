"""order_release end to end for BlueCherry: real DAGs under dag.test() against the simulators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from erp_wms_simulators.bluecherry import demo as bc_demo
from erp_wms_simulators.peoplevox import Warehouse
from tests.e2e.conftest import task_states
from tests.e2e.orders_support import open_exceptions, wms_lines, wms_orders

pytestmark = pytest.mark.e2e
DAG = "bluebird__order_release"
SHIP_TO = {"name": "Sam Shopper", "address1": "5 Main St", "city": "Newark", "state": "NJ", "zip": "07102",
           "country": "US"}


@pytest.fixture
def good_skus(stack, run_dag) -> list[str]:
    run_dag("bluebird__item_master_sync")
    stack.bluecherry.add_warehouse("TX03", "Dallas overflow")
    in_wms = stack.peoplevox.records("bluebird", "Item types")
    return sorted(s["sku"] for s in stack.bluecherry.skus() if s["sku"] in in_wms)[:3]


def order(stack, po: str, lines: list[tuple[str, int]], warehouse: str = "NJ01") -> dict:
    return stack.bluecherry.create_order(po, [{"sku": s, "qty": q} for s, q in lines], warehouse=warehouse,
                                         customer="WEB", shipTo=SHIP_TO, carrier="UPS Ground")


def test_bluecherry_orders_go_once_and_bad_ones_are_held_until_fixed(stack, wired, run_dag, good_skus) -> None:
    a, b, c = good_skus
    good = [order(stack, "WEB-1", [(a, 2), (b, 1)]), order(stack, "WEB-2", [(c, 1)])]
    unknown = order(stack, "WEB-3", [(a, 1), (bc_demo.EMPTY_DESCRIPTION_SKU, 1)])
    unmapped = order(stack, "WEB-4", [(a, 1)], warehouse="TX03")

    first = run_dag(DAG)
    assert task_states(first)["data_check"] == "failed" and str(first.state) == "failed"
    assert set(wms_orders(stack, "bluebird")) == {o["orderNumber"] for o in good}
    header = wms_orders(stack, "bluebird")[good[0]["orderNumber"]]
    assert (header["Site"], header["ServiceType"], header["ShippingAddressPostcode"]) == ("NJ01", "UPSGND", "07102")
    assert wms_lines(stack, "bluebird", good[0]["orderNumber"]) == {a: "2", b: "1"}
    held = open_exceptions(wired, "bluebird")
    assert f"unmapped_sku:{unknown['orderNumber']}" in held
    assert f"unmapped_location:{unmapped['orderNumber']}" in held
    assert not stack.bluecherry.order(good[0]["orderNumber"])["wmsStatus"], "write_back 'held': no call for it"
    assert "unmapped_location" in stack.bluecherry.order(unmapped["orderNumber"])["wmsStatus"]

    saves = stack.peoplevox.calls[("bluebird", "SaveData")]
    run_dag(DAG)
    assert stack.peoplevox.calls[("bluebird", "SaveData")] == saves, "a re-run sends nothing"

    stack.bluecherry.update_sku(bc_demo.EMPTY_DESCRIPTION_SKU, description="Harbor Tee Red L")
    now = datetime.now(UTC)  # the hourly item sync would see the fix at its next window; read up to now instead
    run_dag("bluebird__item_master_sync", window_start=(now - timedelta(hours=1)).isoformat(),
            window_end=(now + timedelta(minutes=1)).isoformat())
    fixed = run_dag(DAG)
    assert unknown["orderNumber"] in wms_orders(stack, "bluebird")
    assert f"unmapped_sku:{unknown['orderNumber']}" not in open_exceptions(wired, "bluebird")
    assert stack.bluecherry.order(unknown["orderNumber"])["wmsStatus"].startswith("Released to WMS as")
    assert task_states(fixed)["data_check"] == "success", "the unmapped location alerted once, in the first run"


def test_bluecherry_amendments_and_cancellations(stack, wired, run_dag, good_skus) -> None:
    a, b, _ = good_skus
    change, cancel, late = (order(stack, f"WEB-{n}", [(a, 1), (b, 1)]) for n in (11, 12, 13))
    run_dag(DAG)
    warehouse = Warehouse(stack.peoplevox, "bluebird")
    for sku in (a, b):
        warehouse.goods_in(sku, 20, "NJ01")
    warehouse.allocate(late["orderNumber"])
    warehouse.start_picking(late["orderNumber"])

    stack.bluecherry.amend_order(change["orderNumber"], [{"sku": a, "qty": 4}])
    stack.bluecherry.cancel(cancel["orderNumber"], "customer asked")
    stack.bluecherry.cancel(late["orderNumber"], "customer asked")
    run_dag(DAG)

    orders = wms_orders(stack, "bluebird")
    assert wms_lines(stack, "bluebird", change["orderNumber"]) == {a: "4", b: "1"}
    assert orders[cancel["orderNumber"]]["Status"] == "Cancelled"
    assert orders[late["orderNumber"]]["Status"] == "Picking"
    blocked = open_exceptions(wired, "bluebird")[f"amendment_after_cutoff:{late['orderNumber']}"]
    assert blocked.detail["erp_cancelled"] is True and blocked.payload["in_warehouse"]["items"]


def test_a_line_dropped_before_release_is_not_sent_and_the_order_is_not_held(stack, wired, run_dag,
                                                                            good_skus) -> None:
    a, b, _ = good_skus
    dropped = order(stack, "WEB-21", [(a, 2), (b, 1)])
    emptied = order(stack, "WEB-22", [(a, 1)])
    stack.bluecherry.amend_order(dropped["orderNumber"], [{"sku": b, "qty": 0}])  # the customer dropped an item
    stack.bluecherry.amend_order(emptied["orderNumber"], [{"sku": a, "qty": 0}])  # ... or every item
    run = run_dag(DAG)
    assert str(run.state) == "success"
    assert wms_lines(stack, "bluebird", dropped["orderNumber"]) == {a: "2"}
    assert emptied["orderNumber"] not in wms_orders(stack, "bluebird"), "no open line: treated as cancelled"
    assert not [k for k in open_exceptions(wired, "bluebird") if k.startswith("invalid_order:")]


def test_an_unreadable_order_in_the_listing_is_held_and_the_others_still_go(stack, wired, run_dag,
                                                                             good_skus) -> None:
    a, b, _ = good_skus
    good = order(stack, "WEB-OK", [(a, 1)])
    broken = order(stack, "WEB-BAD", [(b, 2)])
    with stack.bluecherry.lock:  # BlueCherry lists it with a ship-to that is not an address
        stack.bluecherry.book.orders[broken["orderNumber"]]["shipTo"] = "leave at the back door"

    run = run_dag(DAG)
    states = task_states(run)
    assert states["fetch_orders"] == states["release_orders"] == "success", states
    assert good["orderNumber"] in wms_orders(stack, "bluebird")
    assert broken["orderNumber"] not in wms_orders(stack, "bluebird")
    held = open_exceptions(wired, "bluebird")[f"erp_record_unreadable:{broken['orderNumber']}"]
    assert "'shipTo' is not an object" in held.summary, held.summary

    with stack.bluecherry.lock:  # fixed in BlueCherry: the next run reads it, releases it and closes the exception
        stack.bluecherry.book.orders[broken["orderNumber"]]["shipTo"] = dict(SHIP_TO)
    run_dag(DAG)
    assert wms_lines(stack, "bluebird", broken["orderNumber"]) == {b: "2"}
    assert f"erp_record_unreadable:{broken['orderNumber']}" not in open_exceptions(wired, "bluebird")
