"""BlueCherry simulator returns contract: return authorisations against shipped units, receipt that puts
sellable stock back and damaged stock in quarantine, credit memos, idempotency, filters, and the client
methods iter_returns / receive_return.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from erp_wms_simulators.bluecherry import BlueCherrySettings, BlueCherryState
from erp_wms_simulators.bluecherry.demo import DEMO_SUBSCRIPTION_KEY
from erp_wms_sync.connectors.bluecherry import BlueCherryClient
from erp_wms_sync.errors import ApiRejected
from tests.contract.fixtures_bluecherry_orders import BlueCherryApi, assert_bc_error

TEE, POLO = "10001-BLK-M", "10005-NAV-M"


def shipped_order(state: BlueCherryState, customer_po: str = "SHOP-R1", tee: int = 3, polo: int = 2) -> str:
    state.set_stock(TEE, "NJ01", on_hand=10)
    state.set_stock(POLO, "NJ01", on_hand=10)
    number = str(state.create_order(customer_po, {TEE: tee, POLO: polo}, warehouse="NJ01")["orderNumber"])
    state.ship(number, reference=f"D-{customer_po}")
    return number


def ra_body(number: str, *lines: tuple[str, int, str, str], **extra: Any) -> dict[str, Any]:
    rows = [{"sku": sku, "qty": qty, "reasonCode": reason, "condition": condition}
            for sku, qty, reason, condition in lines]
    return {"orderNumber": number, **extra, "lines": rows}


def test_return_authorisation_is_checked_against_what_shipped(bc_api: BlueCherryApi,
                                                              bc_state: BlueCherryState) -> None:
    number = shipped_order(bc_state)
    created = bc_api.post("/returns", ra_body(number, (TEE, 2, "WRONG_SIZE", "SELLABLE")))
    assert created.status_code == 201
    assert (created.json()["raNumber"], created.json()["status"]) == ("RA-000001", "AUTHORISED")
    assert_bc_error(bc_api.post("/returns", ra_body(number, (TEE, 2, "DEFECTIVE", "DAMAGED"))), 400, "bad_request",
                    f"SKU '{TEE}': 2 to return but only 1")
    assert_bc_error(bc_api.post("/returns", ra_body(number, ("10002-NAV-L", 1, "OTHER", "SELLABLE"))), 400,
                    "bad_request", "'10002-NAV-L' is not on order")
    assert_bc_error(bc_api.post("/returns", ra_body(number, (POLO, 1, "BORED", "USED"))), 400, "bad_request",
                    "reasonCode", "WRONG_SIZE", "condition", "SELLABLE, DAMAGED")
    unshipped = bc_state.create_order("SHOP-R2", {TEE: 1}, warehouse="NJ01")["orderNumber"]
    assert_bc_error(bc_api.post("/returns", ra_body(unshipped, (TEE, 1, "OTHER", "SELLABLE"))), 409, "conflict",
                    "has not shipped")
    assert_bc_error(bc_api.post("/returns", ra_body("404040", (TEE, 1, "OTHER", "SELLABLE"))), 404, "not_found")
    chosen = ra_body(number, (POLO, 1, "DEFECTIVE", "DAMAGED"), raNumber="RMA-77")
    assert bc_api.post("/returns", chosen).status_code == 201
    assert bc_api.post("/returns", chosen).status_code == 200  # idempotent on the caller's RA number
    assert [ra["raNumber"] for ra in bc_api.get("/returns", orderNumber=number).json()["data"]] == \
        ["RA-000001", "RMA-77"]


def test_receipt_restocks_sellable_quarantines_damaged_and_credits(bc_api: BlueCherryApi,
                                                                   bc_state: BlueCherryState,
                                                                   erp_clock: Any) -> None:
    number = shipped_order(bc_state)
    assert bc_state.inventory(TEE, "NJ01")["onHand"] == 7
    ra = bc_state.authorise_return(number, [
        {"sku": TEE, "qty": 2, "reasonCode": "WRONG_SIZE", "condition": "SELLABLE"},
        {"sku": POLO, "qty": 1, "reasonCode": "DEFECTIVE", "condition": "DAMAGED"}])["raNumber"]
    erp_clock.advance(3600)
    received = bc_api.post(f"/returns/{ra}/receive", {"reference": "PVX-RET-1"})
    assert received.status_code == 201 and received.json()["status"] == "CREDITED"
    assert bc_state.inventory(TEE, "NJ01")["onHand"] == 9 and bc_state.inventory(TEE, "NJ01")["quarantine"] == 0
    assert bc_state.inventory(POLO, "NJ01")["onHand"] == 8 and bc_state.inventory(POLO, "NJ01")["quarantine"] == 1
    assert [line["returned"] for line in bc_state.order(number)["lines"]] == [2, 1]
    memos = bc_api.get("/creditMemos", updatedSince="2025-03-01T13:00:00Z").json()["data"]
    assert len(memos) == 1 and memos[0]["raNumber"] == ra
    assert [(line["sku"], line["qty"], line["amount"]) for line in memos[0]["lines"]] == \
        [(TEE, 2, 56.0), (POLO, 1, 48.0)]
    assert memos[0]["total"] == 104.0
    assert bc_api.post(f"/returns/{ra}/receive", {"reference": "PVX-RET-1"}).status_code == 200
    assert bc_state.inventory(TEE, "NJ01")["onHand"] == 9  # the repeat moved nothing
    assert_bc_error(bc_api.post(f"/returns/{ra}/receive", {"reference": "PVX-RET-2"}), 409, "conflict",
                    "already been received")
    assert bc_api.get("/creditMemos", updatedSince="2025-03-01T13:00:01Z").json()["total"] == 0


def test_inspection_can_override_condition_and_receipts_may_be_partial(bc_api: BlueCherryApi,
                                                                       bc_settings: BlueCherrySettings,
                                                                       bc_state: BlueCherryState) -> None:
    bc_settings.credit_memo_on_receive = False
    number = shipped_order(bc_state)
    ra = bc_api.post("/returns", ra_body(number, (TEE, 3, "CHANGED_MIND", "SELLABLE"))).json()["raNumber"]
    part = bc_api.post(f"/returns/{ra}/receive", {"reference": "R-1", "lines": [
        {"sku": TEE, "qty": 1, "condition": "DAMAGED"}]})
    assert part.json()["status"] == "PARTIALLY_RECEIVED" and part.json()["creditMemos"] == []
    assert bc_state.inventory(TEE, "NJ01")["quarantine"] == 1
    assert_bc_error(bc_api.post(f"/returns/{ra}/receive", {"lines": [{"sku": TEE, "qty": 5}]}), 400, "bad_request",
                    "5 received but only 2 outstanding")
    rest = bc_api.post(f"/returns/{ra}/receive", {"reference": "R-2"}).json()
    assert rest["status"] == "RECEIVED" and rest["lines"][0]["receivedSellable"] == 2
    assert bc_api.get("/returns", status="RECEIVED").json()["total"] == 1
    assert bc_api.get("/returns", status="AUTHORISED").json()["total"] == 0
    assert_bc_error(bc_api.get("/returns", status="LOST"), 400, "bad_request", "LOST")
    assert_bc_error(bc_api.post("/returns/RA-404/receive", {}), 404, "not_found", "RA-404")


def test_client_lists_returns_and_books_receipts(bluecherry_sim: Any) -> None:
    state: BlueCherryState = bluecherry_sim.state
    number = shipped_order(state)
    ra = state.authorise_return(number, [{"sku": TEE, "qty": 1, "reasonCode": "DEFECTIVE",
                                          "condition": "DAMAGED"}])["raNumber"]
    client = BlueCherryClient(bluecherry_sim.url, DEMO_SUBSCRIPTION_KEY, rate_per_minute=6000)
    pending = list(client.iter_returns(status="AUTHORISED"))
    assert [(r.ra_number, r.order_number, r.lines[0].condition) for r in pending] == [(ra, number, "DAMAGED")]
    bluecherry_sim.clock.advance(60)
    booked = client.receive_return(ra, reference="PVX-R-1", lines=[(TEE, 1, "SELLABLE")])
    assert booked.created and booked.status == "CREDITED" and booked.lines[0].received_sellable == 1
    assert len(booked.credit_memos) == 1
    assert not client.receive_return(ra, reference="PVX-R-1").created
    assert [r.status for r in client.iter_returns(updated_since=datetime(2025, 3, 1, 12, 1, tzinfo=UTC))] == \
        ["CREDITED"]
    with pytest.raises(ApiRejected) as refused:
        client.receive_return(ra, reference="PVX-R-2")
    assert refused.value.status == 409 and DEMO_SUBSCRIPTION_KEY not in str(refused.value)
