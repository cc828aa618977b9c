"""Reading and writing Cin7 Core stock through the client, against the simulator on a local server: stock levels
over several pages, absolute quantities set by one adjustment and read back, an adjustment found again by its
reference after a "crash", Cin7's refusal let through, and a credit note with restock created and found again
by its memo.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests

from erp_wms_simulators.cin7core.availability import all_rows
from erp_wms_simulators.cin7core.demo import (
    CUSTOMERS,
    DEMO_ACCOUNT_ID,
    DEMO_APPLICATION_KEY,
    MAIN_WAREHOUSE,
    RETURNS_BAY,
    opening_stock,
)
from erp_wms_sync.connectors.cin7core import Cin7CoreClient
from erp_wms_sync.connectors.cin7core_stock import CreditLine, RestockLine, StockLine
from erp_wms_sync.errors import ApiRejected
from tests.contract.fixtures_erp import CIN7_HEADERS, ErpSim

TEE = "NWO-TEE-M"
BOOT = "NWO-BOOT-9"
COUNTED_AT = datetime(2025, 3, 1, 13, 0, tzinfo=UTC)


def client_for(sim: ErpSim, page_limit: int = 1000) -> Cin7CoreClient:
    sim.settings.rate_limit_per_minute = 100_000  # the simulator's clock stands still: its window never slides
    return Cin7CoreClient(sim.url, DEMO_ACCOUNT_ID, DEMO_APPLICATION_KEY, rate_per_minute=6000, page_limit=page_limit)


def api(sim: ErpSim, method: str, path: str, body: Any = None, **params: Any) -> Any:
    """A direct call to the simulator (setting up what an ERP user would have done)."""
    response = requests.request(method, f"{sim.url}/{path}", headers=CIN7_HEADERS, json=body, params=params or None,
                                timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def on_hand(client: Cin7CoreClient, sku: str) -> dict[str, Decimal]:
    """Location -> on-hand quantity of one SKU, read through the client."""
    return {row.location: row.on_hand for row in client.iter_availability(sku=sku)}


def test_stock_levels_are_read_over_several_pages(cin7_sim: ErpSim) -> None:
    client = client_for(cin7_sim, page_limit=7)
    expected = len(all_rows(cin7_sim.state))
    calls = client.transport.calls

    rows = list(client.iter_availability())

    assert len(rows) == expected > 14
    assert client.transport.calls - calls == -(-expected // 7)  # one call per page of 7
    tee = next(row for row in rows if row.sku == TEE)
    assert (tee.location, tee.on_hand, tee.allocated, tee.available) == \
        (MAIN_WAREHOUSE, Decimal(str(opening_stock()[TEE][0])), 0, Decimal(str(opening_stock()[TEE][0])))
    assert len({(row.sku, row.location, row.batch) for row in rows}) == len(rows)


def test_the_sku_filter_keeps_that_sku_only(cin7_sim: ErpSim) -> None:
    cin7_sim.state.add_product(SKU=TEE + "X", Name="Trailhead Tee - MX", Category="Apparel", UOM="Item",
                               Type="Stock", Status="Active", CostingMethod="FIFO", DefaultLocation=MAIN_WAREHOUSE)
    client = client_for(cin7_sim)
    assert [row.sku for row in client.iter_availability(sku=TEE)] == [TEE]  # Cin7 answers both: "starts with"
    assert [row.sku for row in client.iter_availability(sku=TEE + "X")] == [TEE + "X"]
    assert list(client.iter_availability(location=RETURNS_BAY)) == []


def test_an_adjustment_sets_absolute_quantities(cin7_sim: ErpSim) -> None:
    client = client_for(cin7_sim)
    lines = [StockLine(Decimal(50), MAIN_WAREHOUSE, sku=TEE, comments="cycle count"),
             StockLine(Decimal("3.5"), RETURNS_BAY, sku=TEE), StockLine(Decimal(0), MAIN_WAREHOUSE, sku=BOOT)]

    adjustment = client.post_stock_adjustment(lines, reference="PVX-SYNC-0001", effective_date=COUNTED_AT)

    assert (adjustment.status, adjustment.reference, adjustment.number) == ("COMPLETED", "PVX-SYNC-0001", "ST-00001")
    assert [(line.sku, line.location, line.new, line.adjustment) for line in adjustment.lines] == [
        (TEE, MAIN_WAREHOUSE, False, Decimal(50) - Decimal(str(opening_stock()[TEE][0]))),
        (BOOT, MAIN_WAREHOUSE, False, -Decimal(str(opening_stock()[BOOT][0]))),
        (TEE, RETURNS_BAY, True, None)]  # a new stock line carries its quantity, not a change
    assert adjustment.lines[2].quantity == Decimal("3.5")
    assert on_hand(client, TEE) == {MAIN_WAREHOUSE: 50, RETURNS_BAY: Decimal("3.5")}
    assert on_hand(client, BOOT) == {MAIN_WAREHOUSE: 0}

    again = client.post_stock_adjustment(lines[:1], reference="PVX-SYNC-0002", effective_date=COUNTED_AT)
    assert again.lines[0].adjustment == 0 and on_hand(client, TEE)[MAIN_WAREHOUSE] == 50  # absolute, not a delta


def test_an_adjustment_is_found_again_by_its_reference(cin7_sim: ErpSim) -> None:
    client = client_for(cin7_sim, page_limit=2)
    for number in range(1, 4):
        client.post_stock_adjustment([StockLine(Decimal(10 + number), MAIN_WAREHOUSE, sku=TEE)],
                                     reference=f"PVX-SYNC-{number:04d}", effective_date=COUNTED_AT)
    written = client.post_stock_adjustment([StockLine(Decimal(7), RETURNS_BAY, sku=BOOT)],
                                           reference="PVX-SYNC-0042", effective_date=COUNTED_AT)

    found = client.find_stock_adjustments("PVX-SYNC-0042")

    assert [(a.task_id, a.number, a.reference, a.status) for a in found] == \
        [(written.task_id, "ST-00004", "PVX-SYNC-0042", "COMPLETED")]
    assert [(line.sku, line.location, line.quantity) for line in found[0].lines] == [(BOOT, RETURNS_BAY, 7)]
    assert client.find_stock_adjustments("PVX-SYNC-0099") == []
    assert client.find_stock_adjustments("PVX-SYNC-0042", status="VOIDED") == []
    api(cin7_sim, "DELETE", "stockadjustment", ID=written.task_id, Void="true")
    assert [a.status for a in client.find_stock_adjustments("PVX-SYNC-0042")] == ["VOIDED"]
    fetched = client.get_stock_adjustment(written.task_id.upper())
    assert fetched is not None and fetched.task_id == written.task_id and fetched.status == "VOIDED"


def test_cin7_refusals_come_through_as_rejections(cin7_sim: ErpSim) -> None:
    client = client_for(cin7_sim)
    with pytest.raises(ApiRejected, match="NWO-NOPE"):
        client.post_stock_adjustment([StockLine(Decimal(1), MAIN_WAREHOUSE, sku="NWO-NOPE")],
                                     reference="PVX-SYNC-0003", effective_date=COUNTED_AT)
    with pytest.raises(ApiRejected, match="not found"):
        client.get_stock_adjustment("5b0e7c6d-0000-4000-8000-00000000abcd")
    assert client.find_stock_adjustments("PVX-SYNC-0003") == []  # nothing was written


def test_a_credit_note_with_restock_is_created_and_found_again_by_its_memo(cin7_sim: ErpSim) -> None:
    client = client_for(cin7_sim)
    sale = api(cin7_sim, "POST", "sale", {"Customer": CUSTOMERS[0][0], "Location": MAIN_WAREHOUSE, "SkipQuote": True})
    sale_id = str(sale["ID"])
    api(cin7_sim, "POST", "sale/order", {"SaleID": sale_id, "Status": "AUTHORISED",
                                         "Lines": [{"SKU": TEE, "Quantity": 3, "Price": 24}]})
    cin7_sim.state.ship(sale_id, tracking="1Z-R")
    cin7_sim.state.invoice_sale(sale_id)
    assert client.find_credit_notes(sale_id, "RMA-1001") == []

    note = client.create_credit_note(
        sale_id, lines=[CreditLine(TEE, Decimal(2), Decimal(24))],
        restock=[RestockLine(TEE, Decimal(2), RETURNS_BAY)], memo="RMA-1001", invoice_number="INV-00001")

    assert (note.sale_id, note.number, note.status, note.memo, note.invoice_number) == \
        (sale_id, "CR-00001", "AUTHORISED", "RMA-1001", "INV-00001")
    assert note.raw["Total"] == 48 and note.skus == (TEE,) and note.restock_skus == (TEE,)
    assert on_hand(client, TEE)[RETURNS_BAY] == 2
    assert [(n.task_id, n.number) for n in client.find_credit_notes(sale_id, " rma-1001 ")] == \
        [(note.task_id, "CR-00001")]
    assert [n.number for n in client.credit_notes(sale_id)] == ["CR-00001"]
    with pytest.raises(ApiRejected, match="cannot be changed"):  # a retry that did not look first is refused
        client.create_credit_note(sale_id, lines=[CreditLine(TEE, Decimal(2), Decimal(24))], memo="RMA-1001",
                                  task_id=note.task_id)
