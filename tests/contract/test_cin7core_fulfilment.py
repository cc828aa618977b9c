"""Contract of the Cin7 Core simulator's fulfilment and billing over HTTP: tasks, pick, pack, ship (partial,
full, tracking changes), advanced sales, auto pick/pack/ship, invoices, payments and credit notes, with the
documented precondition errors.
"""

from __future__ import annotations

import pytest

from erp_wms_simulators.cin7core.demo import opening_stock
from erp_wms_simulators.common import SimError
from tests.contract.fixtures_cin7_sales import MAIN, RETURNS, Cin7Api

TEE = "NWO-TEE-M"
BOOT = "NWO-BOOT-9"
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"


def start(sku: str) -> float:
    return opening_stock()[sku][0]


def two_box_sale(cin7: Cin7Api) -> str:
    """A sale of 5 tees (Box 1) and 2 boots (Box 2), picked and packed."""
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 5}, {"SKU": BOOT, "Quantity": 2}])
    cin7.ok("POST", "/sale/fulfilment/pick", {"TaskID": sale_id, "Status": "AUTHORISED", "AutoPickMode": "AUTOPICK"})
    cin7.ok("POST", "/sale/fulfilment/pack", {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [
        {"SKU": TEE, "Quantity": 5, "Box": "Box 1"}, {"SKU": BOOT, "Quantity": 2, "Box": "Box 2"}]})
    return sale_id


def test_a_simple_sale_task_uses_the_sale_id_unless_configured(cin7: Cin7Api) -> None:
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    tasks = cin7.ok("GET", "/sale/fulfilment", SaleID=sale_id)
    assert tasks["SaleID"] == sale_id and [t["TaskID"] for t in tasks["Fulfilments"]] == [sale_id]
    task = tasks["Fulfilments"][0]
    assert (task["FulfillmentNumber"], task["FulFilmentStatus"], task["Pick"]["Status"]) == \
        (1, "NOT FULFILLED", "NOT AVAILABLE")
    cin7.settings.simple_sale_task_id_is_sale_id = False
    other = cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    task_id = cin7.sale(other)["Fulfilments"][0]["TaskID"]
    assert task_id != other and len(task_id) == 36
    cin7.error("GET", "/sale/fulfilment/pick", fragment="not found", TaskID=other)
    assert cin7.ok("GET", "/sale/fulfilment/pick", TaskID=task_id)["Status"] == "NOT AVAILABLE"


def test_pick_preconditions_and_limits(cin7: Cin7Api) -> None:
    draft = cin7.new_sale([{"SKU": TEE, "Quantity": 2}], authorise=False)
    cin7.error("POST", "/sale/fulfilment/pick", {"TaskID": draft, "Status": "AUTHORISED"}, "not found")
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 2}])
    pick = "/sale/fulfilment/pick"
    cin7.error("POST", pick, {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [{"SKU": BOOT, "Quantity": 1}]},
               f"'{BOOT}' is not on the sale order")
    cin7.error("POST", pick, {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [{"SKU": TEE, "Quantity": 3}]},
               "2 left to pick")
    cin7.error("POST", pick, {"TaskID": sale_id, "Status": "AUTHORISED",
                              "Lines": [{"SKU": TEE, "Quantity": 2, "Location": RETURNS}]}, "Not enough stock")
    cin7.error("POST", pick, {"TaskID": sale_id, "Status": "PICKED"}, "Status")
    voided = cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    cin7.ok("DELETE", "/sale", ID=voided, Void="true")
    cin7.error("POST", pick, {"TaskID": voided, "Status": "AUTHORISED", "AutoPickMode": "AUTOPICK"},
               "order must be authorised before picking")
    cin7.error("POST", pick, {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": []}, "at least one line")
    draft_pick = cin7.ok("POST", pick, {"TaskID": sale_id, "Status": "DRAFT", "Lines": [{"SKU": TEE, "Quantity": 1}]})
    assert draft_pick["Status"] == "DRAFT" and cin7.sale(sale_id)["Status"] == "PICKING"
    assert cin7.sale(sale_id)["CombinedPickingStatus"] == "PICKING"
    done = cin7.ok("PUT", pick, {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [{"SKU": TEE, "Quantity": 2}]})
    assert done["Status"] == "AUTHORISED" and cin7.sale(sale_id)["Status"] == "PICKED"
    cin7.error("POST", pick, {"TaskID": sale_id, "Status": "AUTHORISED"}, "undo it first")
    assert cin7.level(TEE) == (start(TEE), 2, start(TEE) - 2)


def test_pack_preconditions(cin7: Cin7Api) -> None:
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 3}])
    pack = "/sale/fulfilment/pack"
    cin7.error("POST", pack, {"TaskID": sale_id, "Status": "AUTHORISED"}, "pick must be authorised")
    cin7.ok("POST", "/sale/fulfilment/pick", {"TaskID": sale_id, "Status": "AUTHORISED", "AutoPickMode": "AUTOPICK"})
    cin7.error("POST", pack, {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [{"SKU": TEE, "Quantity": 2}]},
               "does not match the picked quantity (3)")
    cin7.error("POST", pack, {"TaskID": sale_id, "Status": "DRAFT", "Lines": [{"SKU": BOOT, "Quantity": 1}]},
               "was not picked")
    packed = cin7.ok("POST", pack, {"TaskID": sale_id, "Status": "AUTHORISED",
                                    "Lines": [{"SKU": TEE, "Quantity": 2, "Box": "A"}, {"SKU": TEE, "Quantity": 1}]})
    assert [(ln["Box"], ln["Quantity"], ln["Location"]) for ln in packed["Lines"]] == [("A", 2, MAIN),
                                                                                        ("Box 1", 1, MAIN)]
    assert cin7.sale(sale_id)["Status"] == "PACKED"
    cin7.error("POST", pack, {"TaskID": sale_id, "Status": "AUTHORISED"}, "undo it first")


def test_ship_preconditions(cin7: Cin7Api) -> None:
    ship = "/sale/fulfilment/ship"
    early = cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    cin7.error("POST", ship, {"TaskID": early, "Status": "AUTHORISED", "Lines": [{"Box": "Box 1"}]},
               "pack must be authorised")
    sale_id = two_box_sale(cin7)
    cin7.error("POST", ship, {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [{"Box": "Box 9"}]}, "'Box 9'")
    cin7.error("POST", ship, {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [{}]}, "Box is required")
    cin7.error("POST", ship, {"TaskID": sale_id, "Status": "AUTHORISED",
                              "Lines": [{"Box": "Box 1"}, {"Box": "Box 1"}]}, "more than once")
    cin7.error("POST", ship, {"TaskID": sale_id, "Status": "AUTHORISED",
                              "Lines": [{"Box": "Box 1", "IsShipped": False}]}, "Nothing to ship")
    cin7.error("POST", ship, {"TaskID": sale_id, "Status": "SHIPPED"}, "Status")
    cin7.error("PUT", ship, {"TaskID": sale_id, "AddTrackingNumbers": True, "Lines": [{"Box": "Box 1"}]},
               "authorised shipment")
    cin7.error("PUT", ship, {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [{"Box": "Box 1"}]},
               "missing: Box 2")
    cin7.ok("POST", ship, {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [{"Box": "Box 1"}]})
    cin7.error("POST", ship, {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [{"Box": "Box 2"}]}, "already")
    cin7.error("PUT", ship, {"TaskID": sale_id, "Status": "AUTHORISED",
                             "Lines": [{"Box": "Box 1", "IsShipped": False}, {"Box": "Box 2"}]}, "already shipped")
    cin7.ok("PUT", ship, {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [{"Box": "Box 1"}, {"Box": "Box 2"}]})
    cin7.error("PUT", ship, {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [{"Box": "Box 1"}]},
               "only a PUT with AddTrackingNumbers")
    cin7.error("PUT", ship, {"TaskID": sale_id, "AddTrackingNumbers": True, "Lines": [{"Box": "Box 7"}]}, "Box 7")


def test_partial_then_full_shipment_moves_stock_and_statuses(cin7: Cin7Api) -> None:
    sale_id = two_box_sale(cin7)
    ship = "/sale/fulfilment/ship"
    first = cin7.ok("POST", ship, {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [
        {"Box": "Box 1", "Carrier": "UPS", "TrackingNumber": "1Z-A", "ShipmentDate": "2025-03-01T13:00:00"}]})
    assert first["Status"] == "PARTIALLY AUTHORISED" and first["Lines"][0]["Boxes"] == "Box 1"
    sale = cin7.sale(sale_id)
    assert (sale["Status"], sale["CombinedShippingStatus"], sale["FulFilmentStatus"]) == \
        ("SHIPPING", "PARTIALLY SHIPPED", "PARTIALLY FULFILLED")
    assert cin7.level(TEE) == (start(TEE) - 5, 0, start(TEE) - 5)
    assert cin7.level(BOOT) == (start(BOOT), 2, start(BOOT) - 2)
    full = cin7.ok("PUT", ship, {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [
        {"Box": "Box 1", "Carrier": "UPS", "TrackingNumber": "1Z-A"},
        {"Box": "Box 2", "Carrier": "UPS", "TrackingNumber": "1Z-B"}]})
    assert full["Status"] == "AUTHORISED"
    sale = cin7.sale(sale_id)
    assert (sale["Status"], sale["CombinedShippingStatus"], sale["FulFilmentStatus"], sale["Order"]["Status"]) == \
        ("PACKED", "SHIPPED", "FULFILLED", "FULFILLED")
    assert sale["CombinedTrackingNumbers"] == "1Z-A, 1Z-B"
    assert cin7.level(BOOT) == (start(BOOT) - 2, 0, start(BOOT) - 2)
    assert [m["SKU"] for m in sale["InventoryMovements"]] == [TEE, BOOT] and sale["COGSAmount"] > 0
    tracked = cin7.ok("PUT", ship, {"TaskID": sale_id, "AddTrackingNumbers": True,
                                    "Lines": [{"Box": "Box 2", "TrackingNumber": "1Z-C", "Carrier": "FedEx"}]})
    assert [(ln["Boxes"], ln["TrackingNumber"], ln["Carrier"]) for ln in tracked["Lines"]] == \
        [("Box 1", "1Z-A", "UPS"), ("Box 2", "1Z-C", "FedEx")]
    assert cin7.ok("GET", "/saleList")["SaleList"][0]["CombinedTrackingNumbers"] == "1Z-A, 1Z-C"
    changed = [p for t, p in cin7.state.published if t == "Sale/ShipmentTrackingNumberChanged"]
    assert [s["TrackingNumber"] for s in changed[0]["Shipments"]] == ["1Z-A", "1Z-C"]


def test_the_shipped_sale_status_is_a_setting(cin7: Cin7Api) -> None:
    cin7.settings.update({"shipped_sale_status": "SHIPPED"})
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    cin7.state.ship(sale_id, tracking="1Z-S")
    assert cin7.sale(sale_id)["Status"] == "SHIPPED"


def test_advanced_sales_have_many_tasks(cin7: Cin7Api) -> None:
    sale_id = cin7.ok("POST", "/sale", {"Customer": "Summit Sports", "Location": MAIN, "SkipQuote": True,
                                        "SaleType": "Advanced"})["ID"]
    cin7.error("POST", "/sale/fulfilment", {"SaleID": sale_id}, "order must be authorised")
    cin7.ok("POST", "/sale/order", {"SaleID": sale_id, "Status": "AUTHORISED", "Lines": [{"SKU": TEE, "Quantity": 6}]})
    assert cin7.ok("GET", "/sale/fulfilment", SaleID=sale_id)["Fulfilments"] == []
    first = cin7.ok("POST", "/sale/fulfilment", {"SaleID": sale_id})["Fulfilments"][0]["TaskID"]
    assert first != sale_id
    cin7.ok("POST", "/sale/fulfilment/pick", {"TaskID": first, "Status": "AUTHORISED",
                                              "Lines": [{"SKU": TEE, "Quantity": 4}]})
    assert cin7.sale(sale_id)["CombinedPickingStatus"] == "PARTIALLY PICKED"
    cin7.ok("POST", "/sale/fulfilment/pack", {"TaskID": first, "Status": "AUTHORISED"})
    cin7.ok("POST", "/sale/fulfilment/ship", {"TaskID": first, "Status": "AUTHORISED", "Lines": [{"Box": "Box 1"}]})
    second = cin7.ok("POST", "/sale/fulfilment", {"SaleID": sale_id})["Fulfilments"][1]
    assert second["FulfillmentNumber"] == 2
    cin7.error("POST", "/sale/fulfilment/pick", {"TaskID": second["TaskID"], "Status": "AUTHORISED",
                                                 "Lines": [{"SKU": TEE, "Quantity": 3}]}, "2 left to pick")
    cin7.pick_pack(second["TaskID"])
    cin7.ok("POST", "/sale/fulfilment/ship", {"TaskID": second["TaskID"], "Status": "AUTHORISED",
                                              "Lines": [{"Box": "Box 1"}]})
    sale = cin7.sale(sale_id)
    assert (sale["Type"], sale["Status"], sale["CombinedShippingStatus"]) == ("Advanced Sale", "ORDERED", "SHIPPED")
    assert cin7.level(TEE) == (start(TEE) - 6, 0, start(TEE) - 6)
    simple = cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    cin7.ok("POST", "/sale/fulfilment", {"SaleID": simple})
    assert cin7.sale(simple)["Type"] == "Advanced Sale"  # a second task converts a simple sale


def test_auto_pick_pack_ship_runs_at_authorisation(cin7: Cin7Api) -> None:
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 2}], AutoPickPackShipMode="AUTOPICKPACKSHIP")
    sale = cin7.sale(sale_id)
    assert (sale["CombinedShippingStatus"], sale["Fulfilments"][0]["Ship"]["Status"]) == ("SHIPPED", "AUTHORISED")
    assert cin7.level(TEE) == (start(TEE) - 2, 0, start(TEE) - 2)
    short = cin7.new_sale([{"SKU": TEE, "Quantity": 500}], AutoPickPackShipMode="AUTOPICKPACKSHIP")
    assert cin7.sale(short)["Status"] == "BACKORDERED"  # no auto stages with a backorder


def test_picking_at_another_location_moves_the_allocation(cin7: Cin7Api) -> None:
    cin7.state.set_stock(TEE, RETURNS, 10)
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 3}])
    assert cin7.level(TEE) == (start(TEE), 3, start(TEE) - 3)
    cin7.ok("POST", "/sale/fulfilment/pick", {"TaskID": sale_id, "Status": "AUTHORISED",
                                              "Lines": [{"SKU": TEE, "Quantity": 3, "Location": RETURNS}]})
    assert cin7.level(TEE) == (start(TEE), 0, start(TEE)) and cin7.level(TEE, RETURNS) == (10, 3, 7)
    cin7.ok("POST", "/sale/fulfilment/pack", {"TaskID": sale_id, "Status": "AUTHORISED"})
    cin7.ok("POST", "/sale/fulfilment/ship", {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [{"Box": "Box 1"}]})
    assert cin7.level(TEE, RETURNS) == (7, 0, 7) and cin7.level(TEE) == (start(TEE), 0, start(TEE))


def test_invoices_and_payments(cin7: Cin7Api) -> None:
    draft = cin7.new_sale([{"SKU": TEE, "Quantity": 2, "Price": 24}], authorise=False)
    cin7.error("POST", "/sale/invoice", {"SaleID": draft, "Status": "AUTHORISED"}, "order must be authorised")
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 2, "Price": 24}])
    cin7.error("POST", "/sale/payment", {"SaleID": sale_id, "Type": "PAYMENT", "Amount": 10}, "authorised, unpaid")
    draft_invoice = cin7.ok("POST", "/sale/invoice", {"SaleID": sale_id, "Status": "DRAFT",
                                                      "InvoiceDate": "2025-03-02T00:00:00"})["Invoices"][0]
    assert (draft_invoice["TaskID"], draft_invoice["InvoiceNumber"], draft_invoice["Total"]) == \
        (sale_id, "INV-00001", 48)
    assert cin7.sale(sale_id)["Status"] == "INVOICING"
    cin7.error("POST", "/sale/invoice", {"SaleID": sale_id, "TaskID": EMPTY_GUID, "Status": "DRAFT"},
               "simple sale has one invoice")
    cin7.error("PUT", "/sale/invoice", {"SaleID": sale_id, "Status": "AUTHORISED"}, "TaskID")
    invoice = cin7.ok("PUT", "/sale/invoice", {"SaleID": sale_id, "TaskID": sale_id, "Status": "AUTHORISED"})
    assert invoice["Invoices"][0]["Status"] == "AUTHORISED" and cin7.sale(sale_id)["Status"] == "INVOICED"
    cin7.error("POST", "/sale/invoice", {"SaleID": sale_id, "TaskID": sale_id, "Status": "DRAFT"}, "undo")
    cin7.error("POST", "/sale/payment", {"SaleID": sale_id, "Type": "PAYMENT", "Amount": 100}, "more than")
    cin7.error("POST", "/sale/payment", {"SaleID": sale_id, "Type": "GIFT", "Amount": 1}, "Type")
    cin7.ok("POST", "/sale/payment", {"SaleID": sale_id, "Type": "PAYMENT", "Amount": 20})
    row = cin7.ok("GET", "/saleList")["SaleList"][-1]
    assert (row["CombinedPaymentStatus"], row["PaidAmount"], row["InvoiceAmount"]) == ("PARTIALLY PAID", 20, 48)
    paid = cin7.ok("POST", "/sale/payment", {"SaleID": sale_id, "Type": "PAYMENT", "Amount": 28})
    assert len(paid["Payments"]) == 2 and cin7.sale(sale_id)["CombinedInvoiceStatus"] == "PAID"
    types = [t for t, _p in cin7.state.published if "Payment" in t]
    assert types == ["Sale/PartialPaymentReceived", "Sale/FullPaymentReceived"]
    cin7.error("DELETE", "/sale", fragment="has payments", ID=sale_id)
    for payment in paid["Payments"]:
        cin7.ok("DELETE", "/sale/payment", ID=payment["ID"])
    assert cin7.ok("DELETE", "/sale", ID=sale_id)["Status"] == "INVOICING"


def test_credit_notes_restock_at_the_restock_location(cin7: Cin7Api) -> None:
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 3, "Price": 24}])
    cin7.error("POST", "/sale/creditnote", {"SaleID": sale_id, "Status": "AUTHORISED"}, "AUTHORISED or PAID")
    cin7.state.ship(sale_id, tracking="1Z-R")
    cin7.state.invoice_sale(sale_id)
    too_many = {"SaleID": sale_id, "Status": "AUTHORISED", "Restock": [{"SKU": TEE, "Quantity": 4}]}
    cin7.error("POST", "/sale/creditnote", too_many, "3 shipped and not restocked")
    body = {"SaleID": sale_id, "Status": "AUTHORISED", "CreditNoteDate": "2025-03-04T00:00:00",
            "Lines": [{"SKU": TEE, "Quantity": 2, "Price": 24}],
            "Restock": [{"SKU": TEE, "Quantity": 2, "RestockLocation": RETURNS}]}
    note = cin7.ok("POST", "/sale/creditnote", body)["CreditNotes"][0]
    assert (note["CreditNoteNumber"], note["Status"], note["Total"], note["CreditNoteInvoiceNumber"]) == \
        ("CR-00001", "AUTHORISED", 48, "INV-00001")
    assert cin7.level(TEE, RETURNS) == (2, 0, 2) and cin7.level(TEE) == (start(TEE) - 3, 0, start(TEE) - 3)
    sale = cin7.sale(sale_id)
    assert (sale["Status"], sale["CombinedInvoiceStatus"], sale["CombinedPaymentStatus"]) == \
        ("CREDITED", "INVOICED / CREDITED", "NOT REFUNDED")
    cin7.error("POST", "/sale/creditnote", {**body, "TaskID": sale_id}, "cannot be changed")
    listed = cin7.ok("GET", "/saleCreditNoteList", CreditNoteStatus="AUTHORISED")
    assert listed["Total"] == 1 and listed["SaleList"][0]["CreditNoteNumber"] == "CR-00001"
    assert cin7.ok("GET", "/saleCreditNoteList", Status="VOIDED")["Total"] == 0
    cin7.ok("POST", "/sale/payment", {"SaleID": sale_id, "Type": "REFUND", "Amount": 48})
    assert cin7.sale(sale_id)["CreditNotes"][0]["Refunds"][0]["Amount"] == 48
    cin7.error("DELETE", "/sale", fragment="has refunds", ID=sale_id)


def test_the_ship_helper_refuses_more_than_is_left_before_picking(cin7: Cin7Api) -> None:
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 2}])
    with pytest.raises(SimError, match="Cannot ship 3 of 'NWO-TEE-M': 2 left"):
        cin7.state.ship(sale_id, [{"SKU": TEE, "Quantity": 3}])
    with pytest.raises(SimError, match="not found"):
        cin7.state.ship(sale_id, [{"SKU": "NOPE", "Quantity": 1}])
    assert cin7.sale(sale_id)["Fulfilments"][0]["Pick"]["Status"] == "NOT AVAILABLE"
    cin7.state.ship(sale_id, [{"SKU": TEE, "Quantity": 1}], tracking="1Z-P")
    assert cin7.sale(sale_id)["CombinedShippingStatus"] == "PARTIALLY SHIPPED"
