"""The Great Expectations suites of each flow, built in code.

Each function returns the checks of one suite; column names are those of the WMS rows the flow sends, so the
check validates exactly what Peoplevox will receive.
"""

from __future__ import annotations

from erp_wms_sync.checks.runner import Check
from erp_wms_sync.domain import despatches as kinds


def item_master_checks(item_code_max_length: int) -> list[Check]:
    """Item types bound for Peoplevox: SKU present and unique, ItemCode within the WMS limit, barcode unique
    where present, name present."""
    return [
        Check("ExpectColumnValuesToNotBeNull", {"column": "ItemCode"}, "SKU is missing"),
        Check("ExpectColumnValuesToBeUnique", {"column": "ItemCode"}, "SKU appears more than once"),
        Check("ExpectColumnValueLengthsToBeBetween",
              {"column": "ItemCode", "min_value": 1, "max_value": item_code_max_length},
              f"SKU is longer than Peoplevox's ItemCode limit of {item_code_max_length} characters"),
        Check("ExpectColumnValuesToBeUnique", {"column": "Barcode"},
              "barcode is shared with another item"),
        Check("ExpectColumnValuesToNotBeNull", {"column": "Name"}, "item name is missing"),
    ]


ORDER_LINE_COLUMNS = ("SalesOrderNumber", "ItemCode", "QuantityOrdered", "QuantityText", "Site", "Customer",
                      "ShippingAddressLine1", "ShippingAddressPostcode", "ShippingAddressCountry", "ServiceType",
                      "NumberOwners")
WHOLE_NUMBER = r"^[0-9]+$"


def order_release_checks(wms_item_codes: list[str], number_max_length: int) -> list[Check]:
    """Order lines bound for Peoplevox (one row per line sent; an order without lines is one row with no SKU).

    ``QuantityText`` is the quantity exactly as it will be sent: Peoplevox takes whole units only, so 1.5 is
    ``invalid_order`` (a line dropped in the ERP, open quantity 0, is not sent and not checked).

    Each check names the exception type its failures raise: ``unmapped_sku``, ``unmapped_location`` or
    ``invalid_order``.
    """
    return [
        Check("ExpectColumnValuesToBeInSet", {"column": "ItemCode", "value_set": wms_item_codes},
              "SKU is not an active Peoplevox ItemCode", "unmapped_sku"),
        Check("ExpectColumnValuesToNotBeNull", {"column": "ItemCode"}, "order line without a SKU", "invalid_order"),
        Check("ExpectColumnValuesToNotBeNull", {"column": "Site"},
              "order location is not mapped to a Peoplevox site", "unmapped_location"),
        Check("ExpectColumnValuesToBeBetween", {"column": "QuantityOrdered", "min_value": 1},
              "quantity is below 1", "invalid_order"),
        Check("ExpectColumnValuesToNotBeNull", {"column": "QuantityOrdered"}, "quantity is missing", "invalid_order"),
        Check("ExpectColumnValuesToMatchRegex", {"column": "QuantityText", "regex": WHOLE_NUMBER},
              "quantity is not a whole number", "invalid_order"),
        Check("ExpectColumnValuesToNotBeNull", {"column": "SalesOrderNumber"}, "order number is missing",
              "invalid_order"),
        Check("ExpectColumnValueLengthsToBeBetween",
              {"column": "SalesOrderNumber", "min_value": 1, "max_value": number_max_length},
              f"order number is longer than Peoplevox's {number_max_length} characters", "invalid_order"),
        Check("ExpectColumnValuesToBeBetween", {"column": "NumberOwners", "min_value": 1, "max_value": 1},
              "order number is used by more than one ERP order", "invalid_order"),
        Check("ExpectColumnValuesToNotBeNull", {"column": "Customer"}, "customer name is missing", "invalid_order"),
        Check("ExpectColumnValuesToNotBeNull", {"column": "ShippingAddressLine1"}, "shipping address is missing",
              "invalid_order"),
        Check("ExpectColumnValuesToNotBeNull", {"column": "ShippingAddressPostcode"}, "shipping postcode is missing",
              "invalid_order"),
        Check("ExpectColumnValuesToNotBeNull", {"column": "ShippingAddressCountry"}, "shipping country is missing",
              "invalid_order"),
        Check("ExpectColumnValuesToNotBeNull", {"column": "ServiceType"},
              "carrier is not mapped to a Peoplevox service type", "invalid_order"),
    ]


SIGNED_WHOLE_NUMBER = r"^-?[0-9]+$"  # a negative quantity is "below 1", not also "not whole"


def dispatch_checks() -> list[Check]:
    """Despatch lines before their confirmation reaches the ERP (one row per ItemCode of a despatch, built by
    :func:`erp_wms_sync.domain.despatches.dispatch_frame_rows`).

    Each check names the exception type its failures raise: ``despatch_for_unknown_order``,
    ``despatch_for_cancelled_order``, ``despatch_mismatch`` (item not on the order, more than is open, a quantity
    that is not a whole number of at least 1) or ``despatch_without_tracking`` (which does not hold the despatch:
    see :func:`erp_wms_sync.domain.despatches.blocking`).
    """
    return [
        Check("ExpectColumnValuesToBeInSet", {"column": "order_known", "value_set": [1]},
              "Peoplevox despatched an order the integration never released to the warehouse under this number",
              kinds.UNKNOWN_ORDER),
        Check("ExpectColumnValuesToBeInSet", {"column": "order_cancelled", "value_set": [0]},
              "the order was cancelled in the ERP after it was released to the warehouse", kinds.CANCELLED_ORDER),
        Check("ExpectColumnValuesToBeInSet", {"column": "on_order", "value_set": [1]},
              "the despatched item is not on the order", kinds.MISMATCH),
        Check("ExpectColumnPairValuesAToBeGreaterThanB",
              {"column_A": "remaining", "column_B": "quantity", "or_equal": True},
              "more of the item was despatched than is still open on the order", kinds.MISMATCH),
        Check("ExpectColumnValuesToBeBetween", {"column": "quantity", "min_value": 1},
              "the despatched quantity is below 1", kinds.MISMATCH),
        Check("ExpectColumnValuesToMatchRegex", {"column": "quantity_text", "regex": SIGNED_WHOLE_NUMBER},
              "the despatched quantity is not a whole number", kinds.MISMATCH),
        Check("ExpectColumnValuesToBeInSet", {"column": "has_tracking", "value_set": [1]},
              "the despatch has no tracking number yet", kinds.WITHOUT_TRACKING),
    ]


STOCK_MOVEMENT_COLUMNS = ("HistoryId", "ItemCode", "Site", "Quantity", "PairKey", "PreviousHistoryId")
UNMAPPED_SKU = "unmapped_sku"
UNMAPPED_LOCATION = "unmapped_location"
INVALID_STOCK_MOVEMENT = "invalid_stock_movement"
STALE_STOCK_EVENT = "stale_stock_event"
#: What the movement report reader takes as a whole number (3, -2, +4, 3.0): the numbers of
#: :data:`erp_wms_sync.domain.pv_reports.WHOLE`, written without a capture group (pandas warns about those).
MOVEMENT_QUANTITY = r"^[+-]?[0-9]{1,12}(?:\.0+)?$"


def stock_movement_checks(wms_item_codes: list[str], mapped_sites: list[str]) -> list[Check]:
    """Peoplevox stock movements before they move an ERP stock figure (one row per movement, columns
    :data:`STOCK_MOVEMENT_COLUMNS`).

    ``Quantity`` is the report's text as written; ``PairKey`` is ``ItemCode|Site``; ``PreviousHistoryId`` is the
    History Id before this one of the same pair: the previous row of the pair in the batch, else the pair's
    applied watermark, else -1. A movement at or below it arrived out of order (``stale_stock_event``): the
    absolute quantity already set for the pair cannot include it safely.

    Each check names the exception type its failures raise: ``unmapped_sku`` (an ItemCode Peoplevox does not
    list), ``unmapped_location`` (a site no ERP location maps to), ``invalid_stock_movement`` (no item, no or a
    repeated History Id, a quantity that is not a whole number) or ``stale_stock_event``.
    """
    return [
        Check("ExpectColumnValuesToBeInSet", {"column": "ItemCode", "value_set": wms_item_codes},
              "the item is not in the Peoplevox catalogue", UNMAPPED_SKU),
        Check("ExpectColumnValuesToNotBeNull", {"column": "ItemCode"}, "the movement names no item",
              INVALID_STOCK_MOVEMENT),
        Check("ExpectColumnValuesToBeInSet", {"column": "Site", "value_set": mapped_sites},
              "the Peoplevox site is not mapped to an ERP location", UNMAPPED_LOCATION),
        Check("ExpectColumnValuesToNotBeNull", {"column": "Site"}, "the movement names no site", UNMAPPED_LOCATION),
        Check("ExpectColumnValuesToNotBeNull", {"column": "Quantity"}, "the movement has no quantity",
              INVALID_STOCK_MOVEMENT),
        Check("ExpectColumnValuesToMatchRegex", {"column": "Quantity", "regex": MOVEMENT_QUANTITY},
              "the moved quantity is not a whole number", INVALID_STOCK_MOVEMENT),
        Check("ExpectColumnValuesToNotBeNull", {"column": "HistoryId"}, "the movement has no History Id",
              INVALID_STOCK_MOVEMENT),
        Check("ExpectColumnValuesToBeUnique", {"column": "HistoryId"},
              "the History Id appears more than once in the batch", INVALID_STOCK_MOVEMENT),
        # A missing History Id is invalid (above), not stale: rows missing either side are not compared here.
        Check("ExpectColumnPairValuesAToBeGreaterThanB",
              {"column_A": "HistoryId", "column_B": "PreviousHistoryId", "or_equal": False,
               "ignore_row_if": "either_value_is_missing"},
              "the History Id is not above the one before it for the same item and site (applied or in this batch)",
              STALE_STOCK_EVENT),
    ]


STOCK_VARIANCE = "stock_variance"


def reconciliation_checks() -> list[Check]:
    """The night's stock differences (one row per SKU × location with a variance: ``sku``, ``location``,
    ``abs_variance``, ``allowed``): each variance within the YAML tolerance (``reconciliation.tolerance_units`` /
    ``tolerance_pct``, already turned into ``allowed`` per pair). A failure is a ``stock_variance``."""
    return [
        Check("ExpectColumnPairValuesAToBeGreaterThanB",
              {"column_A": "allowed", "column_B": "abs_variance", "or_equal": True},
              "the stock variance is beyond the tolerance", STOCK_VARIANCE),
        Check("ExpectColumnValuesToNotBeNull", {"column": "sku"}, "the difference names no SKU", STOCK_VARIANCE),
    ]
