"""The ``Sales orders`` and ``Sales order items`` integration templates.

Sales orders (upsert key ``SalesOrderNumber``, at most 30 characters):

- ``Status`` can only be imported as ``Cancelled``; any other value is refused (the warehouse sets every
  other status). Cancelling is accepted while the order is in one of ``cancellable_statuses``
  (New / Allocated by default), else the record fails with ``cannot cancel: order is <status>``.
- ``Site`` must name a known Site reference; ``ServiceType`` and ``ChannelName`` are required (a setting);
  dates are ``yyyy-MM-dd HH:mm:ss``; ``IsPartialShipment`` is true/false and ``PaymentMethod`` an integer.
- The export adds ``Site``, ``OnHold`` and ``Attribute1..5``. A search may compare ``Status`` with the
  status name or its numeric id (``Status.Equals(5)``).
- Orders are never deleted (Action 2): cancel them instead.

Sales order items (key ``SalesOrderNumber`` + ``Line``; without a ``Line`` the line holding that ``ItemCode``
is updated, or a new line number is given): the order and the Item type must exist, lines cannot be
removed, and lines may be added or re-quantified only while the order is in ``line_change_statuses``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation

from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_simulators.peoplevox.statuses import CANCELLED, NEW, status_id
from erp_wms_simulators.peoplevox.templates import Row, SaveContext, Table, TemplateSpec, booleans, numbers

SALES_ORDERS = "Sales orders"
SALES_ORDER_ITEMS = "Sales order items"
ITEM_TYPES = "Item types"
SITES = "Sites"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

SALES_ORDER_SAVE_COLUMNS: tuple[str, ...] = (
    "SalesOrderNumber", "Customer", "CustomerPurchaseOrderReferenceNumber", "ShippingAddressLine1",
    "ShippingAddressLine2", "ShippingAddressCity", "ShippingAddressRegion", "ShippingAddressPostcode",
    "ShippingAddressCountry", "ShippingAddressReference", "InvoiceAddressLine1", "InvoiceAddressLine2",
    "InvoiceAddressCity", "InvoiceAddressRegion", "InvoiceAddressPostcode", "InvoiceAddressCountry",
    "InvoiceAddressReference", "IsPartialShipment", "Status", "RequestedDeliveryDate", "ShippingCost", "Email",
    "ContactName", "TotalSale", "Discount", "TaxPaid", "CreatedDate", "PaymentMethod", "ServiceType",
    "ChannelName",
)
ORDER_ATTRIBUTES: tuple[str, ...] = tuple(f"Attribute{n}" for n in range(1, 6))
SALES_ORDER_COLUMNS: tuple[str, ...] = SALES_ORDER_SAVE_COLUMNS + ("Site", "OnHold") + ORDER_ATTRIBUTES
SALES_ORDER_IMPORTABLE: tuple[str, ...] = SALES_ORDER_SAVE_COLUMNS + ("Site",) + ORDER_ATTRIBUTES

SALES_ORDER_ITEM_SAVE_COLUMNS: tuple[str, ...] = (
    "SalesOrderNumber", "ItemCode", "QuantityOrdered", "RequestedDeliveryDate", "Line", "Sequence", "SalePrice",
)
SALES_ORDER_ITEM_COLUMNS: tuple[str, ...] = SALES_ORDER_ITEM_SAVE_COLUMNS + tuple(
    f"Attribute{n}" for n in range(1, 4))

_ORDER_NUMBERS = numbers(("ShippingCost", "TotalSale", "Discount", "TaxPaid"))
_ORDER_BOOLEANS = booleans(("IsPartialShipment",))
_ITEM_NUMBERS = numbers(("SalePrice",))


def cell(row: Row, column: str) -> str:
    return (row.get(column) or "").strip()


def check_date(row: Row, column: str) -> str | None:
    value = cell(row, column)
    if not value:
        return None
    try:
        datetime.strptime(value, DATE_FORMAT)
    except ValueError:
        return f"{column} must be a date as yyyy-MM-dd HH:mm:ss, got {value!r}"
    return None


def check_whole(row: Row, column: str, *, minimum: int = 0) -> str | None:
    value = cell(row, column)
    if not value:
        return None
    number = whole_number(value)
    if number is None or number < minimum:
        bound = "a positive" if minimum > 0 else "a"
        return f"{column} must be {bound} whole number, got {value!r}"
    return None


def whole_number(value: str) -> int | None:
    """``"3"`` / ``"3.0"`` as 3; ``None`` when the text is not a whole number."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


def known_site(row: Row, tables: Mapping[str, Table]) -> str | None:
    site = cell(row, "Site")
    sites = tables.get(SITES, {})
    if site and not any(reference.lower() == site.lower() for reference in sites):
        return f"Site '{site}' not found"
    return None


# -- Sales orders ------------------------------------------------------------------------------------
def prepare_sales_order(cells: dict[str, str], table: Table, tables: Mapping[str, Table]) -> str | None:
    """An empty Status never clears the stored one; ``cancelled`` is spelled ``Cancelled``."""
    status = cell(cells, "Status")
    if not status:
        cells.pop("Status", None)
    elif status.lower() == CANCELLED.lower():
        cells["Status"] = CANCELLED
    return None


def _status_problem(ctx: SaveContext) -> str | None:
    sent = cell(ctx.incoming, "Status")
    if not sent:
        return None
    if sent != CANCELLED:
        return (f"Status '{sent}' cannot be imported: only Cancelled may be set (every other status is set "
                f"by the warehouse)")
    current = cell(ctx.existing or {}, "Status") or NEW
    if current != CANCELLED and current not in ctx.settings.cancellable_statuses:
        return f"cannot cancel: order is {current}"
    return None


def validate_sales_order(row: Row, ctx: SaveContext) -> str | None:
    number = cell(row, "SalesOrderNumber")
    limit = ctx.settings.sales_order_number_max_length
    if len(number) > limit:
        return f"SalesOrderNumber is longer than {limit} characters ({len(number)})"
    problem = _status_problem(ctx) or known_site(row, ctx.tables)
    if problem:
        return problem
    if ctx.settings.sales_order_requires_service_and_channel:
        for column in ("ServiceType", "ChannelName"):
            if not cell(row, column):
                return f"{column} is required"
    for column in ("RequestedDeliveryDate", "CreatedDate"):
        problem = check_date(row, column)
        if problem:
            return problem
    return _ORDER_NUMBERS(row) or _ORDER_BOOLEANS(row) or check_whole(row, "PaymentMethod")


def refuse_order_delete(row: Row, ctx: SaveContext) -> str | None:
    return "Sales orders cannot be deleted; import Status Cancelled instead"


def order_search_view(row: Row, settings: PeoplevoxSettings) -> Row:
    """The order row plus the hidden ``StatusId`` a numeric ``Status`` search compares with."""
    return {**row, "StatusId": status_id(row.get("Status") or "", settings.order_status_ids)}


SALES_ORDERS_SPEC = TemplateSpec(
    SALES_ORDERS, SALES_ORDER_COLUMNS, ("SalesOrderNumber",), validate_sales_order,
    save_columns=SALES_ORDER_IMPORTABLE, defaults={"Status": NEW, "OnHold": "false"},
    prepare=prepare_sales_order, delete_rule=refuse_order_delete, search_view=order_search_view,
    numeric_aliases={"Status": "StatusId"},
)


# -- Sales order items -------------------------------------------------------------------------------
def order_lines(table: Table, order: str) -> list[Row]:
    """The stored lines of one order, in line order."""
    lines = [row for row in table.values() if cell(row, "SalesOrderNumber") == order]
    return sorted(lines, key=lambda row: whole_number(cell(row, "Line")) or 0)


def prepare_order_item(cells: dict[str, str], table: Table, tables: Mapping[str, Table]) -> str | None:
    """Fill ``Line`` from the order's line holding the same ItemCode, or the next free line number."""
    order = cell(cells, "SalesOrderNumber")
    line = cell(cells, "Line")
    if line:
        number = whole_number(line)
        if number is None or number < 1:
            return f"Line must be a whole number from 1, got {line!r}"
        cells["Line"] = str(number)
        return None
    code = cell(cells, "ItemCode")
    if not order or not code:
        return None if not order else "Line or ItemCode is required"
    lines = order_lines(table, order)
    same = next((row for row in lines if cell(row, "ItemCode").lower() == code.lower()), None)
    cells["Line"] = cell(same, "Line") if same else str(max((whole_number(cell(r, "Line")) or 0
                                                             for r in lines), default=0) + 1)
    return None


def _line_change_problem(row: Row, ctx: SaveContext, status: str) -> str | None:
    if status in ctx.settings.line_change_statuses:
        return None
    if ctx.is_new:
        return f"cannot add lines: order is {status}"
    before = whole_number(cell(ctx.existing or {}, "QuantityOrdered"))
    if before != whole_number(cell(row, "QuantityOrdered")):
        return f"cannot change quantity: order is {status}"
    return None


def validate_order_item(row: Row, ctx: SaveContext) -> str | None:
    order = cell(row, "SalesOrderNumber")
    header = ctx.tables.get(SALES_ORDERS, {}).get(order)
    if header is None:
        return f"Sales order '{order}' not found"
    code = cell(row, "ItemCode")
    if not code:
        return "ItemCode is required"
    if code not in ctx.tables.get(ITEM_TYPES, {}):
        return f"ItemCode '{code}' not found in Item types"
    previous = cell(ctx.existing or {}, "ItemCode")
    if previous and previous != code:
        return (f"line {cell(row, 'Line')} of {order} is ItemCode '{previous}'; the ItemCode of a line cannot "
                f"be changed")
    quantity = whole_number(cell(row, "QuantityOrdered"))
    if quantity is None or quantity < 1:
        return f"QuantityOrdered must be a positive whole number, got {cell(row, 'QuantityOrdered')!r}"
    problem = _line_change_problem(row, ctx, cell(header, "Status") or NEW)
    return (problem or check_whole(row, "Sequence") or check_date(row, "RequestedDeliveryDate")
            or _ITEM_NUMBERS(row))


def refuse_line_delete(row: Row, ctx: SaveContext) -> str | None:
    return "Sales order lines cannot be removed"


SALES_ORDER_ITEMS_SPEC = TemplateSpec(
    SALES_ORDER_ITEMS, SALES_ORDER_ITEM_COLUMNS, ("SalesOrderNumber", "Line"), validate_order_item,
    save_columns=SALES_ORDER_ITEM_SAVE_COLUMNS, reference=("SalesOrderNumber",),
    header_keys=(("SalesOrderNumber",), ("Line", "ItemCode")), prepare=prepare_order_item,
    delete_rule=refuse_line_delete,
)
