"""The values of each event's placeholders, built from the warehouse's records.

Each builder returns placeholder name -> text for one event entity (see ``events.PLACEHOLDERS``);
collections reached through a dotted path are joined with commas, in line order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from erp_wms_simulators.peoplevox.events import ORDER_FIELDS
from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_simulators.peoplevox.statuses import status_id
from erp_wms_simulators.peoplevox.stock import Despatch, GoodsIn, Movement, ReturnLine

Values = dict[str, str]


def stamp(moment: datetime | None, settings: PeoplevoxSettings) -> str:
    return "" if moment is None else moment.strftime(settings.event_datetime_format)


def joined(values: Sequence[object]) -> str:
    return ",".join(str(value) for value in values)


def availability_values(item_code: str, name: str, site: str, figures: tuple[int, int, int]) -> Values:
    """``figures`` = (available, on hand, allocated)."""
    available, on_hand, allocated = figures
    return {"ItemCode": item_code, "Available": str(available), "OnHand": str(on_hand),
            "Allocated": str(allocated), "Site.Reference": site, "ItemType.Name": name,
            "ItemType.ItemCode": item_code}


def order_values(row: Mapping[str, str], settings: PeoplevoxSettings, last_modified: datetime | None,
                 previous: str = "") -> Values:
    status = row.get("Status") or ""
    values = {column: row.get(column) or "" for column in ORDER_FIELDS}
    values.update({
        "LastModificationTime": stamp(last_modified, settings),
        "SalesOrderStatus.Name": status,
        "SalesOrderStatu.Name": status,  # the misspelt path one public client uses
        "SalesOrderStatus.Id": status_id(status, settings.order_status_ids),
        "PreviousStatus": previous,
    })
    return values


def goods_in_values(record: GoodsIn, names: Mapping[str, str], settings: PeoplevoxSettings) -> Values:
    codes = [code for code, _, _ in record.lines]
    quantities = [quantity for _, quantity, _ in record.lines]
    return {
        "GoodsInId": str(record.goods_in_id), "Reference": record.reference,
        "ReconciledDateTime": stamp(record.timestamp, settings),
        "Consignments.ConsignmentItemTypes.Quantity": joined(quantities),
        "Consignments.ConsignmentItemTypes.ItemType.Name": joined([names.get(code, "") for code in codes]),
        "Consignments.ConsignmentItemTypes.ItemType.ItemCode": joined(codes),
        "PurchaseOrderNumber": record.purchase_order, "Site.Reference": record.site,
        "ItemCode": joined(codes), "Quantity": joined(quantities),
    }


def incremental_values(movement: Movement, name: str, settings: PeoplevoxSettings) -> Values:
    return {
        "QuantityChanged": str(movement.quantity_changed), "UpdatedBy": movement.user,
        "UpdateTimestamp": stamp(movement.timestamp, settings), "Reason": movement.reason,
        "ItemType.Name": name, "ItemType.ItemCode": movement.item_code, "ItemCode": movement.item_code,
        "Site.Reference": movement.site, "HistoryId": str(movement.history_id), "From": movement.from_location,
        "To": movement.to_location, "SalesOrderNumber": movement.sales_order,
    }


def return_values(line: ReturnLine, name: str, settings: PeoplevoxSettings) -> Values:
    return {
        "SalesOrderNumber": line.sales_order, "ReturnCode": line.return_code, "ItemCode": line.item_code,
        "Quantity": str(line.quantity), "Reason": line.reason, "Condition": line.condition,
        "Site.Reference": line.site, "ReturnDate": stamp(line.timestamp, settings), "ItemType.Name": name,
        "ReturnAuthorisationNumber": line.authorisation, "Comments": line.comments,
    }


def package_values(despatch: Despatch, package: str, tracking: str, settings: PeoplevoxSettings) -> Values:
    return {
        "SalesOrderNumber": despatch.sales_order, "DespatchNumber": despatch.number, "PackageNumber": package,
        "TrackingNumber": tracking, "Carrier.Name": despatch.carrier, "Carrier.Number": despatch.carrier,
        "ServiceType.Name": despatch.service, "ServiceType.Code": despatch.service,
        "DespatchDate": stamp(despatch.timestamp, settings),
    }


def tracking_values(despatch: Despatch, trackings: Sequence[str], email: str,
                    settings: PeoplevoxSettings) -> Values:
    """A despatch with its packages' tracking numbers (comma-joined) and the order it picked."""
    return {
        "DespatchNumber": despatch.number, "TrackingNumber": joined([t for t in trackings if t]),
        "Carrier.Number": despatch.carrier, "Carrier.Name": despatch.carrier,
        "ServiceType.Name": despatch.service, "ServiceType.Code": despatch.service,
        "Picks.SalesOrder.SalesOrderNumber": despatch.sales_order, "Picks.SalesOrder.Email": email,
        "SalesOrderNumber": despatch.sales_order, "PackageNumber": joined(despatch.packages),
        "DespatchDate": stamp(despatch.timestamp, settings),
    }
