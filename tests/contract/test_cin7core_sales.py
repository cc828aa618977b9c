"""Contract of the Cin7 Core simulator's sales over HTTP: sale header, quote, order and allocation, void and
undo, ``/saleList`` filters and paging, and malformed requests (always an error array, never a traceback).
"""

from __future__ import annotations

from typing import Any

import pytest

from erp_wms_simulators.cin7core.demo import opening_stock
from tests.contract.fixtures_cin7_sales import BASE, CUSTOMER, HEADERS, MAIN, RETURNS, Cin7Api, assert_error_array

SALE_LIST_COLUMNS = {
    "SaleID", "OrderNumber", "Status", "OrderDate", "InvoiceDate", "Customer", "CustomerID", "InvoiceNumber",
    "CustomerReference", "InvoiceAmount", "PaidAmount", "InvoiceDueDate", "ShipBy", "BaseCurrency",
    "CustomerCurrency", "CreditNoteNumber", "Updated", "QuoteStatus", "OrderStatus", "CombinedPickingStatus",
    "CombinedPackingStatus", "CombinedShippingStatus", "FulFilmentStatus", "CombinedInvoiceStatus",
    "CreditNoteStatus", "CombinedPaymentStatus", "Type", "CombinedTrackingNumbers", "SourceChannel", "ExternalID",
    "OrderLocationID", "RestockStatus",
}
TEE = "NWO-TEE-M"
BOOT = "NWO-BOOT-9"


def start(sku: str) -> float:
    return opening_stock()[sku][0]


def events(cin7: Cin7Api) -> list[str]:
    return [event_type for event_type, _payload in cin7.state.published]


# ---- sale header ----------------------------------------------------------------------------
def test_post_sale_answers_the_full_sale(cin7: Cin7Api) -> None:
    body = {"Customer": CUSTOMER, "Location": MAIN, "SkipQuote": True, "ExternalID": "shop-1001",
            "CustomerReference": "PO-77", "ShipBy": "2025-03-05T00:00:00", "SaleType": "Simple",
            "ShippingAddress": {"Line1": "9 Pine St", "City": "Bend", "Postcode": "97701", "Country": "US"},
            "AdditionalAttributes": {"AdditionalAttribute1": "pending"}, "TaxInclusive": False}
    sale = cin7.ok("POST", "/sale", body)
    assert (sale["Status"], sale["Type"], sale["Order"]["SaleOrderNumber"]) == ("ESTIMATED", "Simple Sale", "SO-00001")
    assert sale["Order"]["Status"] == "NOT AVAILABLE" and sale["Quote"]["Status"] == "NOT AVAILABLE"
    assert sale["CustomerID"] == cin7.state.add_customer(CUSTOMER)["ID"]
    assert (sale["Contact"], sale["Email"]) == ("Lee Okafor", "buying@summit-sports.example")
    assert sale["LastModifiedOn"] == "2025-03-01T12:00:00.000Z" and sale["ShipBy"] == "2025-03-05T00:00:00.000Z"
    assert sale["AdditionalAttributes"]["AdditionalAttribute1"] == "pending"
    assert sale["AdditionalAttributes"]["AdditionalAttribute10"] == ""
    assert sale["ShippingAddress"]["DisplayAddressLine2"] == "Bend, 97701, US"
    assert sale["CombinedShippingStatus"] == sale["FulFilmentStatus"] == "NOT AVAILABLE"
    assert sale["Location"] == MAIN and sale["ExternalID"] == "shop-1001" and sale["TaxCalculation"] == "Exclusive"


@pytest.mark.parametrize(("change", "fragment"), [
    ({"Customer": None}, "Customer or CustomerID"),
    ({"Location": None}, "Location is required"),
    ({"Location": "Nowhere"}, "Location 'Nowhere' not found"),
    ({"Customer": None, "CustomerID": "00000000-0000-0000-0000-000000000001"}, "Customer with ID"),
    ({"SaleType": "Weird"}, "SaleType"),
    ({"AdditionalAttributes": {"Colour": "red"}}, "'Colour'"),
    ({"ExternalID": "x" * 257}, "ExternalID"),
    ({"ShipBy": "soon"}, "ShipBy"),
    ({"AutoPickPackShipMode": "YES"}, "AutoPickPackShipMode"),
    ({"BillingAddress": "1 Main St"}, "BillingAddress"),
], ids=["no-customer", "no-location", "unknown-location", "unknown-customer-id", "sale-type", "attribute-name",
        "long-external-id", "bad-date", "auto-mode", "address-text"])
def test_post_sale_validation_names_the_problem(cin7: Cin7Api, change: dict[str, Any], fragment: str) -> None:
    body = {k: v for k, v in {"Customer": CUSTOMER, "Location": MAIN, **change}.items() if v is not None}
    cin7.error("POST", "/sale", body, fragment)
    assert cin7.state.sale_records == {}


def test_unknown_customers_are_created_unless_the_setting_forbids_it(cin7: Cin7Api) -> None:
    sale = cin7.ok("POST", "/sale", {"Customer": "Brand New Outfitters", "Location": MAIN})
    assert sale["Customer"] == "Brand New Outfitters" and len(sale["CustomerID"]) == 36
    cin7.settings.auto_create_customers = False
    cin7.error("POST", "/sale", {"Customer": "Another Stranger", "Location": MAIN}, "Customer 'Another Stranger'")


def test_put_sale_merges_attributes_and_bumps_last_modified(cin7: Cin7Api) -> None:
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 1}], AdditionalAttributes={"AdditionalAttribute1": "new"})
    cin7.clock.advance(90)
    body = {"ID": sale_id, "Note": "rush", "AdditionalAttributes": {"additionalattribute2": "released"}}
    sale = cin7.ok("PUT", "/sale", body)
    assert sale["AdditionalAttributes"]["AdditionalAttribute1"] == "new"
    assert sale["AdditionalAttributes"]["AdditionalAttribute2"] == "released"
    assert sale["Note"] == "rush" and sale["LastModifiedOn"] == "2025-03-01T12:01:30.000Z"
    assert cin7.ok("GET", "/saleList", ExternalID="")["SaleList"][0]["Updated"] == "2025-03-01T12:01:30.000Z"
    cin7.error("PUT", "/sale", {"ID": sale_id, "Location": RETURNS}, "location cannot be changed")
    cin7.error("PUT", "/sale", {"ID": sale_id, "Customer": "Trailhead Outdoor Co"}, "customer cannot be changed")
    cin7.error("PUT", "/sale", {"Note": "x"}, "Required attribute ID")
    cin7.error("PUT", "/sale", {"ID": "00000000-0000-0000-0000-000000000009"}, "not found")


def test_a_get_of_an_unknown_sale_is_404_unless_configured(cin7: Cin7Api) -> None:
    unknown = "00000000-0000-0000-0000-000000000009"
    for path, name in (("/sale", "ID"), ("/sale/order", "SaleID"), ("/sale/fulfilment", "SaleID"),
                       ("/sale/invoice", "SaleID"), ("/sale/creditnote", "SaleID"), ("/sale/payment", "SaleID")):
        cin7.error("GET", path, fragment="not found", status=404, **{name: unknown})
    cin7.error("POST", "/sale/order", {"SaleID": unknown, "Status": "DRAFT"}, "not found")  # a write answers 400
    cin7.error("GET", "/sale", fragment="not a valid GUID", ID="SO-00001")
    cin7.settings.update({"unknown_sale_status": 400})
    cin7.error("GET", "/sale", fragment="not found", ID=unknown)


# ---- order and allocation -------------------------------------------------------------------
def test_unknown_skus_are_all_named_and_nothing_changes(cin7: Cin7Api) -> None:
    sale_id = cin7.ok("POST", "/sale", {"Customer": CUSTOMER, "Location": MAIN, "SkipQuote": True})["ID"]
    lines = [{"SKU": "NOPE-1", "Quantity": 1}, {"SKU": "NOPE-2", "Quantity": 2},
             {"ProductID": "00000000-0000-0000-0000-00000000000a", "Quantity": 1}, {"SKU": TEE, "Quantity": 0},
             {"SKU": TEE, "Quantity": 1, "Discount": 150}, {"Quantity": 1}]
    text = cin7.error("POST", "/sale/order", {"SaleID": sale_id, "Status": "AUTHORISED", "Lines": lines})
    for fragment in ("SKU 'NOPE-1'", "SKU 'NOPE-2'", "ID '00000000-0000-0000-0000-00000000000a'",
                     "Line 4: Quantity", "Line 5: Discount", "Line 6: ProductID or SKU"):
        assert fragment in text
    assert cin7.sale(sale_id)["Order"]["Status"] == "NOT AVAILABLE"
    cin7.error("POST", "/sale/order", {"SaleID": sale_id, "Status": "SHIPPED"}, "DRAFT or AUTHORISED")
    cin7.error("POST", "/sale/order", {"SaleID": sale_id, "Status": "AUTHORISED", "Lines": []}, "at least one line")


def test_draft_orders_replace_lines_and_authorising_allocates(cin7: Cin7Api) -> None:
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 2}, {"SKU": BOOT, "Quantity": 1}], authorise=False)
    assert cin7.sale(sale_id)["Status"] == "ORDERING" and cin7.level(TEE) == (start(TEE), 0, start(TEE))
    boot_id = cin7.state.products_by_sku()[BOOT]["ID"]
    order = cin7.ok("POST", "/sale/order", {"SaleID": sale_id, "Status": "DRAFT",
                                            "Lines": [{"ProductID": boot_id, "Quantity": 3, "Price": 140}]})
    assert [(ln["SKU"], ln["Quantity"], ln["Total"]) for ln in order["Lines"]] == [(BOOT, 3, 420)]
    order = cin7.ok("POST", "/sale/order", {"SaleID": sale_id, "Status": "AUTHORISED"})
    assert order["Status"] == "AUTHORISED" and order["Total"] == 420
    assert cin7.sale(sale_id)["Status"] == "ORDERED"
    assert cin7.level(BOOT) == (start(BOOT), 3, start(BOOT) - 3) and cin7.level(TEE)[1] == 0
    assert events(cin7) == ["Sale/OrderAuthorised", "Stock/AvailableStockLevelChanged"]
    cin7.error("POST", "/sale/order", {"SaleID": sale_id, "Status": "AUTHORISED"}, "undo it first")
    assert cin7.ok("GET", "/sale/order", SaleID=sale_id)["SaleOrderNumber"] == "SO-00001"


def test_authorising_more_than_is_available_backorders(cin7: Cin7Api) -> None:
    wanted = start(TEE) + 3
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": wanted}])
    sale = cin7.sale(sale_id)
    assert sale["Status"] == "BACKORDERED" and sale["Order"]["Lines"][0]["BackorderQuantity"] == 3
    assert cin7.level(TEE) == (start(TEE), start(TEE), 0)
    assert "Sale/Backordered" in events(cin7)
    cin7.settings.allocate_backorders = True
    other = cin7.sale(cin7.new_sale([{"SKU": TEE, "Quantity": 2}]))
    assert other["Status"] == "BACKORDERED" and other["Order"]["Lines"][0]["BackorderQuantity"] == 2
    assert cin7.level(TEE) == (start(TEE), start(TEE) + 2, -2)


def test_the_quote_must_be_authorised_unless_skipped(cin7: Cin7Api) -> None:
    sale_id = cin7.ok("POST", "/sale", {"Customer": CUSTOMER, "Location": MAIN})["ID"]
    assert cin7.sale(sale_id)["Status"] == "DRAFT"
    cin7.error("POST", "/sale/order", {"SaleID": sale_id, "Lines": [{"SKU": TEE, "Quantity": 1}]}, "quote")
    cin7.ok("POST", "/sale/quote", {"SaleID": sale_id, "Status": "DRAFT", "Lines": [{"SKU": TEE, "Quantity": 1}]})
    assert cin7.sale(sale_id)["Status"] == "ESTIMATING"
    quote = cin7.ok("POST", "/sale/quote", {"SaleID": sale_id, "Status": "AUTHORISED",
                                            "Lines": [{"SKU": TEE, "Quantity": 1}]})
    assert quote["Status"] == "AUTHORISED" and cin7.sale(sale_id)["Status"] == "ESTIMATED"
    assert events(cin7) == ["Sale/QuoteAuthorised"]
    cin7.ok("POST", "/sale/order", {"SaleID": sale_id, "Status": "AUTHORISED", "Lines": [{"SKU": TEE, "Quantity": 1}]})
    skipped = cin7.ok("POST", "/sale", {"Customer": CUSTOMER, "Location": MAIN, "SkipQuote": True})["ID"]
    cin7.error("POST", "/sale/quote", {"SaleID": skipped, "Status": "AUTHORISED"}, "SkipQuote")


# ---- void and undo --------------------------------------------------------------------------
def test_void_releases_the_allocation(cin7: Cin7Api) -> None:
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 4}])
    assert cin7.level(TEE)[1] == 4
    sale = cin7.ok("DELETE", "/sale", ID=sale_id, Void="true")
    assert sale["Status"] == "VOIDED" and sale["Order"]["Status"] == "VOIDED"
    assert sale["CombinedPickingStatus"] == sale["FulFilmentStatus"] == "VOIDED"
    assert cin7.level(TEE) == (start(TEE), 0, start(TEE))
    assert events(cin7)[-2:] == ["Sale/Voided", "Stock/AvailableStockLevelChanged"]
    cin7.error("DELETE", "/sale", fragment="already voided", ID=sale_id, Void="true")
    cin7.error("DELETE", "/sale", fragment="voided sale cannot be undone", ID=sale_id)
    cin7.error("POST", "/sale/order", {"SaleID": sale_id, "Status": "DRAFT"}, "voided")


def test_void_after_shipping_is_refused_unless_allowed(cin7: Cin7Api) -> None:
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 2}, {"SKU": BOOT, "Quantity": 1}])
    cin7.state.ship(sale_id, [{"SKU": TEE, "Quantity": 2}], tracking="1Z-9")
    cin7.error("DELETE", "/sale", fragment="undo the shipment first", ID=sale_id, Void="true")
    cin7.settings.allow_void_after_shipment = True
    assert cin7.ok("DELETE", "/sale", ID=sale_id, Void="true")["Status"] == "VOIDED"
    assert cin7.level(TEE) == (start(TEE) - 2, 0, start(TEE) - 2)  # shipped goods stay gone
    assert cin7.level(BOOT) == (start(BOOT), 0, start(BOOT))  # the unshipped box is released


def test_undo_reverts_the_last_authorised_stage_each_time(cin7: Cin7Api) -> None:
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 3}])
    cin7.state.ship(sale_id, tracking="1Z-1")
    assert cin7.level(TEE) == (start(TEE) - 3, 0, start(TEE) - 3)
    steps = []
    for _ in range(4):
        sale = cin7.ok("DELETE", "/sale", ID=sale_id)
        steps.append((sale["Status"], cin7.level(TEE)))
    assert steps == [
        ("SHIPPING", (start(TEE), 3, start(TEE) - 3)),  # the shipment is a draft again, stock back and allocated
        ("PACKING", (start(TEE), 3, start(TEE) - 3)),
        ("PICKING", (start(TEE), 3, start(TEE) - 3)),
        ("ORDERING", (start(TEE), 0, start(TEE))),
    ]
    assert cin7.sale(sale_id)["Fulfilments"] == []
    assert events(cin7).count("Sale/Undo") == 4
    cin7.error("DELETE", "/sale", fragment="nothing to undo", ID=sale_id, Void="false")
    cin7.ok("POST", "/sale/order", {"SaleID": sale_id, "Status": "AUTHORISED"})
    assert cin7.sale(sale_id)["Fulfilments"][0]["TaskID"] == sale_id


# ---- lists ----------------------------------------------------------------------------------
def test_sale_list_filters(cin7: Cin7Api) -> None:
    ordered = cin7.new_sale([{"SKU": TEE, "Quantity": 1}], ExternalID="web-1", CustomerReference="PO-1")
    cin7.clock.advance(60)
    draft = cin7.new_sale([{"SKU": TEE, "Quantity": 1}], authorise=False, Customer="Trailhead Outdoor Co")
    cin7.clock.advance(60)
    shipped = cin7.new_sale([{"SKU": BOOT, "Quantity": 1}], AutoPickPackShipMode="AUTOPICKPACKSHIP")
    packed = cin7.new_sale([{"SKU": BOOT, "Quantity": 1}], AutoPickPackShipMode="AUTOPICKPACK")

    def ids(**params: Any) -> list[str]:
        return [row["SaleID"] for row in cin7.ok("GET", "/saleList", **params)["SaleList"]]

    assert ids() == [ordered, draft, shipped, packed]
    assert ids(Status="ORDERED") == [ordered] and ids(OrderStatus="draft") == [draft]
    assert ids(CombinedShippingStatus="SHIPPED") == [shipped] == ids(ShipStatus="shipped")
    assert ids(CombinedPackStatus="PACKED") == [shipped, packed] == ids(PackStatus="PACKED")
    assert ids(CombinedPickStatus="NOT PICKED") == [ordered]
    assert ids(ExternalID="web-1") == [ordered] and ids(ExternalID="web-2") == []
    assert ids(Search="po-1") == [ordered] and ids(Search="trailhead") == [draft]
    assert ids(Search="SO-00003") == [shipped]
    assert ids(UpdatedSince="2025-03-01T12:01:00") == [draft, shipped, packed]
    assert ids(CreatedSince="2025-03-01T12:02:00Z") == [shipped, packed]
    assert ids(ReadyForShipping="true") == [packed]
    main_id = cin7.state.locations_by_name()[MAIN]["ID"]
    assert len(ids(OrderLocationID=main_id.upper())) == 4 and ids(OrderLocationID="x") == []
    row = cin7.ok("GET", "/saleList", ExternalID="web-1")["SaleList"][0]
    assert set(row) == SALE_LIST_COLUMNS and row["OrderNumber"] == "SO-00001"
    cin7.error("GET", "/saleList", fragment="UpdatedSince", UpdatedSince="yesterday")
    cin7.error("GET", "/saleList", fragment="ReadyForShipping", ReadyForShipping="perhaps")


def test_sale_list_paging_edges(cin7: Cin7Api) -> None:
    for _ in range(5):
        cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    pages = [cin7.ok("GET", "/saleList", Page=page, Limit=2) for page in (1, 2, 3, 4)]
    assert [len(p["SaleList"]) for p in pages] == [2, 2, 1, 0] and {p["Total"] for p in pages} == {5}
    numbers = [row["OrderNumber"] for p in pages for row in p["SaleList"]]
    assert numbers == [f"SO-0000{i}" for i in range(1, 6)]
    assert cin7.ok("GET", "/saleList", Limit=1000)["Total"] == 5
    cin7.error("GET", "/saleList", fragment="Limit", Limit=1001)
    cin7.error("GET", "/saleList", fragment="Page", Page=0)


# ---- malformed requests ---------------------------------------------------------------------
MALFORMED: list[tuple[str, str, Any]] = [
    ("POST", "/sale", b"{oops"),
    ("POST", "/sale", []),
    ("POST", "/sale", {"Customer": {"Name": "x"}, "Location": ["Main"]}),
    ("PUT", "/sale", {"ID": "{sale}", "BillingAddress": "x", "Note": 5}),
    ("POST", "/sale/order", {"SaleID": 5}),
    ("POST", "/sale/order", {"SaleID": "{sale}", "Lines": "all"}),
    ("POST", "/sale/order", {"SaleID": "{sale}", "Lines": [1, 2]}),
    ("POST", "/sale/order", {"SaleID": "{sale}", "Lines": [{"SKU": TEE, "Quantity": "5", "Price": True}]}),
    ("POST", "/sale/fulfilment/pick", {"TaskID": ["x"]}),
    ("POST", "/sale/fulfilment/pack", {"TaskID": "{sale}", "Lines": [{"SKU": None, "Box": 7}]}),
    ("PUT", "/sale/fulfilment/ship", {"TaskID": "{sale}", "Lines": {"Box": 1}}),
    ("POST", "/sale/invoice", {"SaleID": "{sale}", "TaskID": 12, "Lines": [{"SKU": 3}]}),
    ("POST", "/sale/payment", {"SaleID": "{sale}", "Type": "PAYMENT", "Amount": "lots"}),
    ("POST", "/sale/creditnote", {"SaleID": "{sale}", "Restock": [{"SKU": 1}]}),
    ("POST", "/stockadjustment", {"EffectiveDate": 5, "Status": 7, "Lines": [{"Quantity": None}]}),
    ("PUT", "/stockadjustment", {"TaskID": None}),
    ("POST", "/webhooks", {"Type": 5, "IsActive": "yes", "ExternalHeaders": [1]}),
    ("GET", "/sale", None),
    ("GET", "/sale?ID=not-a-guid", None),
    ("GET", "/saleList?UpdatedSince=x&Page=-1", None),
    ("DELETE", "/sale?ID={sale}&Void=maybe", None),
    ("GET", "/sale/fulfilment/ship?TaskID=", None),
    ("GET", "/ref/productavailability?ID=nope", None),
]


@pytest.mark.parametrize(("method", "path", "body"), MALFORMED, ids=[f"{m} {p}" for m, p, _ in MALFORMED])
def test_malformed_requests_answer_an_error_array_never_a_traceback(cin7: Cin7Api, method: str, path: str,
                                                                    body: Any) -> None:
    sale_id = cin7.new_sale([{"SKU": TEE, "Quantity": 1}])
    if isinstance(body, dict):
        body = {k: (v.replace("{sale}", sale_id) if isinstance(v, str) else v) for k, v in body.items()}
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    headers = {**HEADERS, "Content-Type": "application/json"}
    response = cin7.client.request(method, BASE + path.replace("{sale}", sale_id), headers=headers, **kwargs)
    assert_error_array(response, 400)
