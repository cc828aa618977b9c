"""The documented end-to-end Cin7 Core flow in one run, over HTTP, with a webhook receiver listening to every
event the simulator raises: new product → stock adjustment → sale → order → pick → pack → ship (+ tracking
change) → invoice and payment → credit note with restock → undo and void. Stock levels are checked after
each step.
"""

from __future__ import annotations

from typing import Any

from erp_wms_simulators.cin7core.events import DELIVERED_TYPES
from tests.contract.fixtures_cin7_sales import CUSTOMER, MAIN, Cin7Api, Receiver

MUG = {"SKU": "NWO-MUG", "Name": "Enamel Camp Mug", "Category": "Camping", "Type": "Stock", "UOM": "Item",
       "PriceTier1": 14.0}
STOCK = "Stock/AvailableStockLevelChanged"


def step_events(cin7: Cin7Api, receiver: Receiver) -> list[str]:
    """Deliver what is due (a minute later) and return the event types that arrived in this step."""
    seen = len(receiver.delivered())
    cin7.monotonic.advance(61)
    cin7.state.callbacks.pump()
    return receiver.event_types()[seen:]


def availability(cin7: Cin7Api) -> tuple[float, float, float]:
    row = cin7.ok("GET", "/ref/productavailability", Sku=MUG["SKU"], Location=MAIN)["ProductAvailabilityList"][0]
    return row["OnHand"], row["Allocated"], row["Available"]


def status(cin7: Cin7Api, sale_id: str) -> dict[str, Any]:
    row: dict[str, Any] = cin7.ok("GET", "/saleList", Search=cin7.sale(sale_id)["Order"]["SaleOrderNumber"])[
        "SaleList"][0]
    return row


def test_the_documented_flow_end_to_end(cin7: Cin7Api, receiver: Receiver) -> None:
    for webhook_type in DELIVERED_TYPES:
        cin7.ok("POST", "/webhooks", {"Type": webhook_type, "IsActive": True, "ExternalURL": receiver.url,
                                      "ExternalAuthorizationType": "bearerauth", "ExternalBearerToken": "flow"})

    # 1. a new product has no stock; a completed adjustment puts 20 on hand
    cin7.ok("POST", "/product", MUG)
    assert availability(cin7) == (0, 0, 0)
    cin7.ok("POST", "/stockadjustment", {"EffectiveDate": "2025-03-01T12:00:00", "Status": "COMPLETED",
                                         "UpdateOnHand": True, "Lines": [{"SKU": MUG["SKU"], "Quantity": 20,
                                                                          "Location": MAIN, "UnitCost": 5}]})
    assert availability(cin7) == (20, 0, 20)
    assert step_events(cin7, receiver) == [STOCK]
    assert receiver.bodies()[-1][0]["Available"] == 20

    # 2. the sale header
    sale = cin7.ok("POST", "/sale", {"Customer": CUSTOMER, "Location": MAIN, "SkipQuote": True,
                                     "ExternalID": "web-9001"})
    sale_id = sale["ID"]
    assert sale["Status"] == "ESTIMATED" and step_events(cin7, receiver) == []

    # 3. the authorised order allocates
    cin7.ok("POST", "/sale/order", {"SaleID": sale_id, "Status": "AUTHORISED",
                                    "Lines": [{"SKU": MUG["SKU"], "Quantity": 5, "Price": 14, "Tax": 0}]})
    assert status(cin7, sale_id)["Status"] == "ORDERED" and availability(cin7) == (20, 5, 15)
    assert step_events(cin7, receiver) == ["Sale/OrderAuthorised", STOCK]

    # 4. pick
    cin7.ok("POST", "/sale/fulfilment/pick", {"TaskID": sale_id, "Status": "AUTHORISED",
                                              "Lines": [{"SKU": MUG["SKU"], "Quantity": 5, "Location": MAIN}]})
    assert status(cin7, sale_id)["Status"] == "PICKED" and availability(cin7) == (20, 5, 15)
    assert step_events(cin7, receiver) == ["Sale/PickAuthorised"]

    # 5. pack
    cin7.ok("POST", "/sale/fulfilment/pack", {"TaskID": sale_id, "Status": "AUTHORISED",
                                              "Lines": [{"SKU": MUG["SKU"], "Quantity": 5, "Box": "Box 1"}]})
    assert status(cin7, sale_id)["Status"] == "PACKED"
    assert step_events(cin7, receiver) == ["Sale/PackAuthorised"]

    # 6. ship with tracking: on hand goes down; a tracking change raises its own event
    cin7.ok("POST", "/sale/fulfilment/ship", {"TaskID": sale_id, "Status": "AUTHORISED", "Lines": [
        {"Box": "Box 1", "Carrier": "UPS", "TrackingNumber": "1Z999", "ShipmentDate": "2025-03-01T15:00:00"}]})
    row = status(cin7, sale_id)
    assert (row["CombinedShippingStatus"], row["FulFilmentStatus"], row["CombinedTrackingNumbers"]) == \
        ("SHIPPED", "FULFILLED", "1Z999")
    assert availability(cin7) == (15, 0, 15)
    assert step_events(cin7, receiver) == ["Sale/ShipmentAuthorised"]  # available did not change: no stock event
    cin7.ok("PUT", "/sale/fulfilment/ship", {"TaskID": sale_id, "AddTrackingNumbers": True,
                                             "Lines": [{"Box": "Box 1", "TrackingNumber": "1Z998"}]})
    assert status(cin7, sale_id)["CombinedTrackingNumbers"] == "1Z998"
    assert step_events(cin7, receiver) == ["Sale/ShipmentTrackingNumberChanged"]

    # 7. invoice, then payment in full
    cin7.ok("POST", "/sale/invoice", {"SaleID": sale_id, "TaskID": sale_id, "Status": "AUTHORISED",
                                      "InvoiceDate": "2025-03-01T16:00:00"})
    assert (status(cin7, sale_id)["Status"], status(cin7, sale_id)["InvoiceAmount"]) == ("INVOICED", 70)
    assert step_events(cin7, receiver) == ["Sale/InvoiceAuthorised"]
    cin7.ok("POST", "/sale/payment", {"SaleID": sale_id, "Type": "PAYMENT", "Amount": 70,
                                      "DatePaid": "2025-03-01T17:00:00"})
    row = status(cin7, sale_id)
    assert (row["Status"], row["CombinedInvoiceStatus"], row["CombinedPaymentStatus"]) == \
        ("COMPLETED", "PAID", "PAID")
    assert step_events(cin7, receiver) == ["Sale/FullPaymentReceived"]

    # 8. a credit note with restock puts 2 back
    cin7.ok("POST", "/sale/creditnote", {"SaleID": sale_id, "Status": "AUTHORISED", "CreditNoteInvoiceNumber":
                                         "INV-00001", "Lines": [{"SKU": MUG["SKU"], "Quantity": 2, "Price": 14}],
                                         "Restock": [{"SKU": MUG["SKU"], "Quantity": 2, "RestockLocation": MAIN}]})
    assert status(cin7, sale_id)["Status"] == "CREDITED" and availability(cin7) == (17, 0, 17)
    assert step_events(cin7, receiver) == ["Sale/CreditNoteAuthorised", STOCK]

    # 9. a shipped sale cannot be voided; a second sale is undone (allocation released), then voided
    cin7.error("DELETE", "/sale", fragment="undo the shipment first", ID=sale_id, Void="true")
    second = cin7.new_sale([{"SKU": MUG["SKU"], "Quantity": 4}])
    assert availability(cin7) == (17, 4, 13)
    assert step_events(cin7, receiver) == ["Sale/OrderAuthorised", STOCK]
    assert cin7.ok("DELETE", "/sale", ID=second)["Status"] == "ORDERING" and availability(cin7) == (17, 0, 17)
    assert step_events(cin7, receiver) == ["Sale/Undo", STOCK]
    assert cin7.ok("DELETE", "/sale", ID=second, Void="true")["Status"] == "VOIDED"
    assert availability(cin7) == (17, 0, 17)
    assert step_events(cin7, receiver) == ["Sale/Voided"]
    assert {r.headers["Authorization"] for r in receiver.delivered()} == {"Bearer flow"}
    product = cin7.ok("GET", "/product", Sku=MUG["SKU"], IncludeMovements="true")["Products"][0]
    assert [(m["Type"], m["Quantity"]) for m in product["Movements"]] == [("Adjustment", 20), ("Sale", -5),
                                                                          ("Restock", 2)]
