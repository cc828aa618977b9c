"""Contract of the Cin7 Core simulator's stock over HTTP: ``/ref/productavailability`` (paging, filters, zero
rows, batches), ``/stockadjustment`` (absolute quantities, UpdateOnHand, drafts, void) and its list, product
``Movements[]``, and the ``/_sim`` stock and sales admin routes.
"""

from __future__ import annotations

from typing import Any

from erp_wms_simulators.cin7core.demo import opening_stock
from tests.contract.fixtures_cin7_sales import CUSTOMER, MAIN, RETURNS, Cin7Api

TEE = "NWO-TEE-M"
BOOT = "NWO-BOOT-9"
AVAILABILITY_FIELDS = {"ID", "SKU", "Name", "Barcode", "Location", "Bin", "Batch", "ExpiryDate", "Category", "OnHand",
                       "Allocated", "Available", "OnOrder", "StockOnHand", "InTransit"}
MEAL = {"SKU": "NWO-MEAL-1", "Name": "Trail Meal", "Category": "Camping", "Type": "Stock", "UOM": "Item",
        "CostingMethod": "FEFO - Batch"}


def start(sku: str) -> float:
    return opening_stock()[sku][0]


def adjust(cin7: Cin7Api, lines: list[dict[str, Any]], status: str = "COMPLETED", **extra: Any) -> Any:
    body = {"EffectiveDate": "2025-03-01T00:00:00", "Status": status, "Account": "5000", "Reference": "count",
            "Lines": lines, **extra}
    return cin7.ok("POST", "/stockadjustment", body)


# ---- availability ---------------------------------------------------------------------------
def test_availability_rows_page_and_filter(cin7: Cin7Api) -> None:
    first = cin7.ok("GET", "/ref/productavailability", Page=1, Limit=15)
    assert (first["Total"], first["Page"], len(first["ProductAvailabilityList"])) == (39, 1, 15)
    pages = [cin7.ok("GET", "/ref/productavailability", Page=p, Limit=15)["ProductAvailabilityList"] for p in (1, 2, 3)]
    assert [len(p) for p in pages] == [15, 15, 9]
    skus = [row["SKU"] for page in pages for row in page]
    assert skus == sorted(skus, key=str.casefold) and len(set(skus)) == 39
    assert cin7.ok("GET", "/ref/productavailability", Page=4, Limit=15)["ProductAvailabilityList"] == []
    row = cin7.ok("GET", "/ref/productavailability", Sku="nwo-tee-m")["ProductAvailabilityList"][0]
    assert set(row) == AVAILABILITY_FIELDS
    unit_cost = opening_stock()[TEE][1]
    assert (row["OnHand"], row["Available"]) == (start(TEE), start(TEE))
    assert row["StockOnHand"] == round(start(TEE) * unit_cost, 4)
    product_id = cin7.state.products_by_sku()[TEE]["ID"]
    assert [r["SKU"] for r in cin7.ok("GET", "/ref/productavailability", ID=product_id)["ProductAvailabilityList"]] \
        == [TEE]
    assert cin7.ok("GET", "/ref/productavailability", Name="summit hiking")["Total"] == 5
    assert cin7.ok("GET", "/ref/productavailability", Category="footwear")["Total"] == 8
    assert cin7.ok("GET", "/ref/productavailability", Location=RETURNS)["Total"] == 0
    assert cin7.ok("GET", "/ref/productavailability", Location="main warehouse")["Total"] == 39
    cin7.error("GET", "/ref/productavailability", fragment="GUID", ID="nope")
    cin7.error("GET", "/ref/productavailability", fragment="Limit", Limit=0)


def test_a_product_without_stock_shows_a_zero_row_unless_configured(cin7: Cin7Api) -> None:
    new = cin7.ok("POST", "/product", {**MEAL, "CostingMethod": "FIFO"})["Products"][0]
    row = cin7.ok("GET", "/ref/productavailability", ID=new["ID"])["ProductAvailabilityList"]
    assert [(r["Location"], r["OnHand"], r["Allocated"], r["Available"]) for r in row] == [(MAIN, 0, 0, 0)]
    cin7.settings.availability_zero_rows = False
    assert cin7.ok("GET", "/ref/productavailability", ID=new["ID"])["Total"] == 0


def test_available_is_on_hand_less_allocated(cin7: Cin7Api) -> None:
    cin7.new_sale([{"SKU": TEE, "Quantity": 4}])
    row = cin7.ok("GET", "/ref/productavailability", Sku=TEE)["ProductAvailabilityList"][0]
    assert (row["OnHand"], row["Allocated"], row["Available"]) == (start(TEE), 4, start(TEE) - 4)


# ---- stock adjustments ----------------------------------------------------------------------
def test_completed_adjustments_set_absolute_quantities(cin7: Cin7Api) -> None:
    answer = adjust(cin7, [{"SKU": TEE, "Quantity": 50, "Location": MAIN},
                           {"SKU": "NWO-TEE-L", "Quantity": 3, "Location": RETURNS, "UnitCost": 10}], UpdateOnHand=True)
    assert (answer["StocktakeNumber"], answer["Status"]) == ("ST-00001", "COMPLETED")
    existing, = answer["ExistingStockLines"]
    assert (existing["SKU"], existing["QuantityOnHand"], existing["Available"], existing["Adjustment"]) == \
        (TEE, 50, 50, 50 - start(TEE))
    new, = answer["NewStockLines"]
    assert (new["SKU"], new["Quantity"], new["UnitCost"], new["Location"]) == ("NWO-TEE-L", 3, 10, RETURNS)
    assert cin7.level(TEE) == (50, 0, 50) and cin7.level("NWO-TEE-L", RETURNS) == (3, 0, 3)
    assert cin7.state.availability("NWO-TEE-L", RETURNS)["StockOnHand"] == 30
    assert len(answer["Transactions"]) == 2 and answer["Transactions"][1]["Debit"] == 30
    again = adjust(cin7, [{"SKU": TEE, "Quantity": 50, "Location": MAIN}], UpdateOnHand=True)
    assert again["StocktakeNumber"] == "ST-00002" and again["ExistingStockLines"][0]["Adjustment"] == 0
    assert cin7.ok("GET", "/stockadjustment", TaskID=answer["TaskID"])["StocktakeNumber"] == "ST-00001"
    stock_events = [p for t, p in cin7.state.published if t == "Stock/AvailableStockLevelChanged"]
    assert len(stock_events) == 1 and {r["SKU"] for r in stock_events[0]} == {TEE, "NWO-TEE-L"}


def test_without_update_on_hand_the_quantity_is_the_new_available(cin7: Cin7Api) -> None:
    cin7.new_sale([{"SKU": BOOT, "Quantity": 4}])
    adjust(cin7, [{"SKU": BOOT, "Quantity": 10, "Location": MAIN}])
    assert cin7.level(BOOT) == (14, 4, 10)


def test_drafts_change_nothing_until_completed(cin7: Cin7Api) -> None:
    draft = adjust(cin7, [{"SKU": TEE, "Quantity": 5, "Location": MAIN}], status="DRAFT", UpdateOnHand=True)
    assert draft["Status"] == "DRAFT" and draft["ExistingStockLines"][0]["Adjustment"] == 5 - start(TEE)
    assert cin7.level(TEE) == (start(TEE), 0, start(TEE))
    done = cin7.ok("PUT", "/stockadjustment", {"TaskID": draft["TaskID"], "Status": "COMPLETED",
                                               "Lines": [{"SKU": TEE, "Quantity": 7, "Location": MAIN}]})
    assert done["Status"] == "COMPLETED" and done["StocktakeNumber"] == draft["StocktakeNumber"]
    assert cin7.level(TEE) == (7, 0, 7)
    cin7.error("PUT", "/stockadjustment", {"TaskID": draft["TaskID"], "Status": "COMPLETED"}, "is COMPLETED")
    cin7.error("PUT", "/stockadjustment", {"TaskID": "00000000-0000-0000-0000-000000000001"}, "not found")


def test_adjustment_validation(cin7: Cin7Api) -> None:
    cin7.ok("POST", "/product", MEAL)
    good = {"SKU": TEE, "Quantity": 1, "Location": MAIN}
    cases = [
        ({"Status": "COMPLETED", "Lines": [good]}, "EffectiveDate is not provided"),
        ({"EffectiveDate": "tomorrow", "Status": "COMPLETED", "Lines": [good]}, "EffectiveDate"),
        ({"EffectiveDate": "2025-03-01", "Status": "DONE", "Lines": [good]}, "DRAFT, COMPLETED"),
        ({"EffectiveDate": "2025-03-01", "Status": "COMPLETED"}, "Lines is not provided"),
        ({"EffectiveDate": "2025-03-01", "Status": "COMPLETED", "Lines": [{**good, "SKU": "NOPE"}]}, "'NOPE'"),
        ({"EffectiveDate": "2025-03-01", "Status": "COMPLETED", "Lines": [{**good, "Location": "Attic"}]}, "Attic"),
        ({"EffectiveDate": "2025-03-01", "Status": "COMPLETED", "Lines": [{**good, "Quantity": -1}]}, "Quantity"),
        ({"EffectiveDate": "2025-03-01", "Status": "COMPLETED", "Lines": [good, good]}, "adjusted twice"),
        ({"EffectiveDate": "2025-03-01", "Status": "COMPLETED", "Lines": [{**good, "SKU": MEAL["SKU"]}]}, "BatchSN"),
        ({"EffectiveDate": "2025-03-01", "Status": "COMPLETED", "UpdateOnHand": "yes", "Lines": [good]},
         "UpdateOnHand"),
    ]
    for body, fragment in cases:
        cin7.error("POST", "/stockadjustment", body, fragment)
    assert cin7.state.adjustments == {} and cin7.level(TEE) == (start(TEE), 0, start(TEE))


def test_void_reverts_and_drafts_can_be_deleted(cin7: Cin7Api) -> None:
    done = adjust(cin7, [{"SKU": TEE, "Quantity": 40, "Location": MAIN}], UpdateOnHand=True)
    cin7.error("DELETE", "/stockadjustment", fragment="Void=true", ID=done["TaskID"])
    voided = cin7.ok("DELETE", "/stockadjustment", ID=done["TaskID"], Void="true")
    assert voided["Status"] == "VOIDED" and cin7.level(TEE) == (start(TEE), 0, start(TEE))
    cin7.error("DELETE", "/stockadjustment", fragment="already voided", ID=done["TaskID"], Void="true")
    draft = adjust(cin7, [{"SKU": TEE, "Quantity": 1, "Location": MAIN}], status="DRAFT")
    assert cin7.ok("DELETE", "/stockadjustment", ID=draft["TaskID"])["Status"] == "DELETED"
    cin7.error("GET", "/stockadjustment", fragment="not found", TaskID=draft["TaskID"])


def test_adjustment_list_pages_and_filters_by_status(cin7: Cin7Api) -> None:
    for status in ("COMPLETED", "DRAFT", "COMPLETED"):
        adjust(cin7, [{"SKU": TEE, "Quantity": 30, "Location": MAIN}], status=status)
    listed = cin7.ok("GET", "/stockadjustmentList", Limit=2)
    assert listed["Total"] == 3 and [r["StocktakeNumber"] for r in listed["StockAdjustmentList"]] == \
        ["ST-00001", "ST-00002"]
    assert set(listed["StockAdjustmentList"][0]) == {"TaskID", "StocktakeNumber", "EffectiveDate", "Status", "Account",
                                                     "Reference"}
    assert cin7.ok("GET", "/stockadjustmentList", Page=2, Limit=2)["StockAdjustmentList"][0]["StocktakeNumber"] == \
        "ST-00003"
    assert cin7.ok("GET", "/stockadjustmentList", Status="draft")["Total"] == 1
    cin7.error("GET", "/stockadjustmentList", fragment="Status", Status="LOST")


# ---- batches and movements ------------------------------------------------------------------
def test_batches_are_rows_and_allocation_takes_the_earliest_expiry_first(cin7: Cin7Api) -> None:
    cin7.ok("POST", "/product", MEAL)
    adjust(cin7, [{"SKU": MEAL["SKU"], "Quantity": 5, "Location": MAIN, "BatchSN": "B-LATE",
                   "ExpiryDate": "2025-09-01T00:00:00"},
                  {"SKU": MEAL["SKU"], "Quantity": 2, "Location": MAIN, "BatchSN": "B-EARLY",
                   "ExpiryDate": "2025-06-01T00:00:00"}], UpdateOnHand=True)
    cin7.new_sale([{"SKU": MEAL["SKU"], "Quantity": 3}])
    rows = cin7.ok("GET", "/ref/productavailability", Sku=MEAL["SKU"])["ProductAvailabilityList"]
    assert [(r["Batch"], r["OnHand"], r["Allocated"], r["Available"]) for r in rows] == \
        [("B-EARLY", 2, 2, 0), ("B-LATE", 5, 1, 4)]
    assert cin7.ok("GET", "/ref/productavailability", Sku=MEAL["SKU"], Batch="B-LATE")["Total"] == 1


def test_product_movements_record_every_on_hand_change(cin7: Cin7Api) -> None:
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 2}])
    cin7.state.ship(sale_id, tracking="1Z-M")
    adjust(cin7, [{"SKU": TEE, "Quantity": 30, "Location": MAIN}], UpdateOnHand=True)
    plain = cin7.ok("GET", "/product", Sku=TEE)["Products"][0]
    assert "Movements" not in plain
    product = cin7.ok("GET", "/product", Sku=TEE, IncludeMovements="true")["Products"][0]
    moves = [(m["Type"], m["Quantity"], m["Number"], m["Location"]) for m in product["Movements"]]
    assert moves == [("Stocktake", start(TEE), "OPENING", MAIN), ("Sale", -2, "SO-00001", MAIN),
                     ("Adjustment", 30 - (start(TEE) - 2), "ST-00001", MAIN)]
    assert product["Movements"][1]["FromTo"] == CUSTOMER and product["Movements"][1]["TaskID"] == sale_id
    history = cin7.state.stock_history(TEE, MAIN)
    assert [h["Type"] for h in history] == ["Stocktake", "Allocation", "Sale", "Deallocation", "Adjustment"]


# ---- admin routes ---------------------------------------------------------------------------
def test_admin_routes_drive_sales_and_stock_out_of_process(cin7: Cin7Api) -> None:
    client = cin7.client
    assert client.post("/_sim/stock", json={"SKU": TEE, "Location": RETURNS, "OnHand": 6, "UnitCost": 5}).json()[
        "OnHand"] == 6
    sale = client.post("/_sim/sales", json={"Customer": CUSTOMER, "Location": MAIN, "ExternalID": "drv-1",
                                            "Lines": [{"SKU": TEE, "Quantity": 3}, {"SKU": BOOT, "Quantity": 1}]})
    assert sale.status_code == 200 and sale.json()["Status"] == "ORDERED"
    sale_id = sale.json()["ID"]
    row = client.get("/_sim/availability", params={"sku": TEE, "location": MAIN}).json()
    assert (row["OnHand"], row["Allocated"], row["Available"]) == (start(TEE), 3, start(TEE) - 3)
    shipped = client.post(f"/_sim/sales/{sale_id}/ship", json={"Lines": [{"SKU": TEE, "Quantity": 3}],
                                                              "TrackingNumber": "1Z-D", "Carrier": "UPS"}).json()
    assert shipped["CombinedShippingStatus"] == "PARTIALLY SHIPPED" and shipped["CombinedTrackingNumbers"] == "1Z-D"
    assert client.post(f"/_sim/sales/{sale_id}/ship", json={"TrackingNumber": "1Z-E"}).json()[
        "CombinedShippingStatus"] == "SHIPPED"
    invoiced = client.post(f"/_sim/sales/{sale_id}/invoice", json={"Pay": True}).json()
    assert invoiced["Status"] == "COMPLETED"
    credited = client.post(f"/_sim/sales/{sale_id}/credit", json={"Restock": [{"SKU": TEE, "Quantity": 1}],
                                                                  "Location": RETURNS}).json()
    assert credited["Status"] == "CREDITED"
    assert client.get("/_sim/availability", params={"sku": TEE, "location": RETURNS}).json()["OnHand"] == 7
    other = client.post("/_sim/sales", json={"Customer": CUSTOMER, "Location": MAIN,
                                             "Lines": [{"SKU": BOOT, "Quantity": 1}]}).json()["ID"]
    assert client.post(f"/_sim/sales/{other}/undo").json()["Status"] == "ORDERING"
    assert client.post(f"/_sim/sales/{other}/void").json()["Status"] == "VOIDED"
    assert [r["ExternalID"] for r in client.get("/_sim/sales").json()] == ["drv-1", ""]
    assert len(client.get("/_sim/availability").json()) == 40
    assert client.get("/_sim/stock/history", params={"sku": TEE}).json()[-1]["Type"] == "Restock"
    voided = client.get("/_sim/events", params={"type": "sale/voided"}).json()
    assert [e["Payload"]["SaleID"] for e in voided] == [other]
    refused = client.post("/_sim/sales", json={"Customer": CUSTOMER, "Location": MAIN,
                                               "Lines": [{"SKU": "NOPE", "Quantity": 1}]})
    assert refused.status_code == 400 and "NOPE" in refused.text
    assert len(client.get("/_sim/sales").json()) == 2  # a refused sale leaves nothing behind
    assert client.post("/_sim/stock", json={"SKU": TEE, "Location": MAIN, "OnHand": "x"}).status_code == 400
    assert client.get("/_sim/availability", params={"sku": TEE}).status_code == 400
    snapshot = client.get("/_sim/state").json()
    assert (snapshot["sales"], snapshot["customers"]) == (2, 3)
