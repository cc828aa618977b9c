"""The reports GetReportData serves, derived from the simulated warehouse of a tenant.

Column names are the display names the real reports use (note ``Salesorder number`` in one word in the
Despatch summary). Dates come back as ``'dd/MM/yyyy HH:mm:ss'`` *with* the single quotes, as the real
service renders them; clients strip the quotes before parsing.

- ``Despatch summary``: one row per despatched order line (tracking numbers of the despatch's packages
  joined with commas);
- ``Return summary``: one row per returned line;
- ``Goods in summary``: one row per received line;
- ``Item inventory summary``: one row per bin (item, site, location) holding or reserving stock;
- ``Item movement history``: one row per stock movement, with its increasing ``History Id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from erp_wms_simulators.peoplevox.logistics import DESPATCH_PACKAGES
from erp_wms_simulators.peoplevox.orders import DATE_FORMAT, ITEM_TYPES, SALES_ORDER_ITEMS, SALES_ORDERS, cell
from erp_wms_simulators.peoplevox.stock import Despatch
from erp_wms_simulators.peoplevox.templates import ReportSpec, Row

if TYPE_CHECKING:
    from erp_wms_simulators.peoplevox.state import Tenant

REPORT_DATE_FORMAT = "'%d/%m/%Y %H:%M:%S'"

DESPATCH_SUMMARY_COLUMNS: tuple[str, ...] = (
    "Salesorder number", "Requested delivery date", "Despatch number", "Carrier", "Service", "Despatch date",
    "Tracking number", "Item name", "No of items", "Destination country", "Site reference", "Parent", "Item code",
    "Username", "Carrier reference", "Service type code", "Customer order reference", "Shipping cost", "Email",
    "Contact name", "Total sale", "Discount", "Tax paid", "Channel name",
    *(f"Sales order attribute {n}" for n in range(1, 6)),
    "Item barcode", "Item description", "Item retail price", "Item weight", "Item height", "Item width",
    "Item depth", *(f"Item attribute {n}" for n in range(1, 16)),
)
RETURN_SUMMARY_COLUMNS: tuple[str, ...] = (
    "Return code", "Return date", "Quantity", "Item name", "Sales order number", "Despatch date", "Return reason",
    "Return condition", "Return comments", "Days since despatch", "Item barcode", "Sales order contact name",
    "Customer phone number", "Item sale price", "Sales order email", "Customer purchase order reference number",
    "Channel name", "Payment type", *(f"Attribute{n}" for n in range(1, 16)), "Site reference", "Is Reusable",
    "Item code",
)
GOODS_IN_SUMMARY_COLUMNS: tuple[str, ...] = (
    "Goods in reference number", "Delivery date", "Reconciled date", "Carrier name", "User name", "Item code",
    "Item name", "Item barcode", "Quantity", "Purchase order number", "Delivery note number", "Site reference",
    "Purchase order supplier",
)
ITEM_INVENTORY_SUMMARY_COLUMNS: tuple[str, ...] = (
    "Item code", "Name", "Site reference", "Location", "On hand", "Allocated", "Available",
)
ITEM_MOVEMENT_HISTORY_COLUMNS: tuple[str, ...] = (
    "Item code", "Date timestamp", "User", "From", "To", "Quantity", "Comments", "Sales order number", "History Id",
    "Site reference", "Location type from", "Location type to", "Register Reason",
)


def report_date(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime(REPORT_DATE_FORMAT)


def template_date(value: str) -> str:
    """A template date (``yyyy-MM-dd HH:mm:ss``) in report form; other text is passed through."""
    try:
        return report_date(datetime.strptime(value.strip(), DATE_FORMAT))
    except ValueError:
        return value


def _item(tenant: Tenant, code: str) -> Mapping[str, str]:
    return tenant.table(ITEM_TYPES).get(code, {})


def _item_columns(item: Mapping[str, str]) -> dict[str, str]:
    values = {"Item barcode": cell(item, "Barcode"), "Item description": cell(item, "Description"),
              "Item retail price": cell(item, "RetailPrice"), "Item weight": cell(item, "Weight"),
              "Item height": cell(item, "Height"), "Item width": cell(item, "Width"), "Item depth": cell(item, "Depth")}
    values.update({f"Item attribute {n}": cell(item, f"Attribute{n}") for n in range(1, 16)})
    return values


def _tracking(tenant: Tenant, despatch: Despatch) -> str:
    packages = tenant.table(DESPATCH_PACKAGES)
    numbers = [cell(packages.get(f"{despatch.number}/{package}", {}), "TrackingNumber")
               for package in despatch.packages]
    return ",".join(number for number in numbers if number)


def despatch_summary(tenant: Tenant) -> Iterable[Row]:
    for despatch in tenant.book.despatches.values():
        order = tenant.table(SALES_ORDERS).get(despatch.sales_order, {})
        tracking = _tracking(tenant, despatch)
        for _line, code, quantity in despatch.lines:
            item = _item(tenant, code)
            row = {
                "Salesorder number": despatch.sales_order,
                "Requested delivery date": template_date(cell(order, "RequestedDeliveryDate")),
                "Despatch number": despatch.number, "Carrier": despatch.carrier, "Service": despatch.service,
                "Despatch date": report_date(despatch.timestamp), "Tracking number": tracking,
                "Item name": cell(item, "Name"), "No of items": str(quantity),
                "Destination country": cell(order, "ShippingAddressCountry"), "Site reference": despatch.site,
                "Parent": "", "Item code": code, "Username": despatch.user, "Carrier reference": despatch.carrier,
                "Service type code": despatch.service,
                "Customer order reference": cell(order, "CustomerPurchaseOrderReferenceNumber"),
                "Shipping cost": cell(order, "ShippingCost"), "Email": cell(order, "Email"),
                "Contact name": cell(order, "ContactName"), "Total sale": cell(order, "TotalSale"),
                "Discount": cell(order, "Discount"), "Tax paid": cell(order, "TaxPaid"),
                "Channel name": cell(order, "ChannelName"),
            }
            row.update({f"Sales order attribute {n}": cell(order, f"Attribute{n}") for n in range(1, 6)})
            row.update(_item_columns(item))
            yield row


def _sale_price(tenant: Tenant, order: str, code: str) -> str:
    for row in tenant.table(SALES_ORDER_ITEMS).values():
        if cell(row, "SalesOrderNumber") == order and cell(row, "ItemCode") == code:
            return cell(row, "SalePrice")
    return ""


def return_summary(tenant: Tenant) -> Iterable[Row]:
    for line in tenant.book.returns:
        order = tenant.table(SALES_ORDERS).get(line.sales_order, {})
        item = _item(tenant, line.item_code)
        days = "" if line.despatch_date is None else str((line.timestamp - line.despatch_date).days)
        row = {
            "Return code": line.return_code, "Return date": report_date(line.timestamp),
            "Quantity": str(line.quantity), "Item name": cell(item, "Name"), "Sales order number": line.sales_order,
            "Despatch date": report_date(line.despatch_date), "Return reason": line.reason,
            "Return condition": line.condition, "Return comments": line.comments, "Days since despatch": days,
            "Item barcode": cell(item, "Barcode"), "Sales order contact name": cell(order, "ContactName"),
            "Customer phone number": "", "Item sale price": _sale_price(tenant, line.sales_order, line.item_code),
            "Sales order email": cell(order, "Email"),
            "Customer purchase order reference number": cell(order, "CustomerPurchaseOrderReferenceNumber"),
            "Channel name": cell(order, "ChannelName"), "Payment type": cell(order, "PaymentMethod"),
            "Site reference": line.site, "Is Reusable": "True" if line.condition == "Sellable" else "False",
            "Item code": line.item_code,
        }
        row.update({f"Attribute{n}": cell(item, f"Attribute{n}") for n in range(1, 16)})
        yield row


def goods_in_summary(tenant: Tenant) -> Iterable[Row]:
    for record in tenant.book.goods_in:
        for code, quantity, _location in record.lines:
            item = _item(tenant, code)
            yield {
                "Goods in reference number": record.reference, "Delivery date": report_date(record.timestamp),
                "Reconciled date": report_date(record.timestamp), "Carrier name": record.carrier,
                "User name": record.user, "Item code": code, "Item name": cell(item, "Name"),
                "Item barcode": cell(item, "Barcode"), "Quantity": str(quantity),
                "Purchase order number": record.purchase_order, "Delivery note number": record.delivery_note,
                "Site reference": record.site, "Purchase order supplier": record.supplier,
            }


def item_inventory_summary(tenant: Tenant) -> Iterable[Row]:
    book = tenant.book
    for bin_ in sorted(book.bins):
        code, site, location = bin_
        on_hand, allocated = book.on_hand(bin_), book.allocated.get(bin_, 0)
        if not on_hand and not allocated:
            continue
        pickable = book.location_types.get(location, "Pick") == "Pick"
        yield {"Item code": code, "Name": cell(_item(tenant, code), "Name"), "Site reference": site,
               "Location": location, "On hand": str(on_hand), "Allocated": str(allocated),
               "Available": str(on_hand - allocated if pickable else 0)}


def item_movement_history(tenant: Tenant) -> Iterable[Row]:
    for movement in tenant.book.movements:
        yield {
            "Item code": movement.item_code, "Date timestamp": report_date(movement.timestamp),
            "User": movement.user, "From": movement.from_location, "To": movement.to_location,
            "Quantity": str(movement.quantity), "Comments": movement.comments,
            "Sales order number": movement.sales_order, "History Id": str(movement.history_id),
            "Site reference": movement.site, "Location type from": movement.from_type,
            "Location type to": movement.to_type, "Register Reason": movement.reason,
        }


DESPATCH_SUMMARY = ReportSpec("Despatch summary", DESPATCH_SUMMARY_COLUMNS, despatch_summary)
RETURN_SUMMARY = ReportSpec("Return summary", RETURN_SUMMARY_COLUMNS, return_summary)
GOODS_IN_SUMMARY = ReportSpec("Goods in summary", GOODS_IN_SUMMARY_COLUMNS, goods_in_summary)
ITEM_INVENTORY_SUMMARY = ReportSpec("Item inventory summary", ITEM_INVENTORY_SUMMARY_COLUMNS, item_inventory_summary)
ITEM_MOVEMENT_HISTORY = ReportSpec("Item movement history", ITEM_MOVEMENT_HISTORY_COLUMNS, item_movement_history)

WAREHOUSE_REPORTS: tuple[ReportSpec, ...] = (
    DESPATCH_SUMMARY, RETURN_SUMMARY, GOODS_IN_SUMMARY, ITEM_INVENTORY_SUMMARY, ITEM_MOVEMENT_HISTORY,
)
