"""Peoplevox event subscriptions: the placeholders each event offers, and publishing an event as callbacks.

- ``SubscribeEvent`` callbacks are HTTP GETs of the subscriber's URL with its ``{Placeholder}`` tokens
  replaced by the event's values (percent-encoded when the subscription asked for ``encodeParameterData``).
- ``SubscribePostEvent`` callbacks POST the ``postParams`` template (``a={X}&b={Y}``, ``&amp;`` accepted) as
  form fields. With ``encodeParameterData`` the values are form-encoded properly; without it the template
  is filled in verbatim and split on ``&`` and ``=`` as a receiver would, so a value holding ``&`` breaks
  the form exactly as it would in the real service.
- A dotted placeholder navigates the event entity (``Carrier.Name``); where the path crosses a collection
  (``Consignments.ConsignmentItemTypes.Quantity``) the values are joined with commas.
- A subscription's ``filter`` is a search clause over the placeholder names (``ItemCode.StartsWith("TS")``);
  an event is delivered only where it matches.

Which placeholders exist for the newer event types is undocumented; the catalogue below is our design [I].
Every published event is also kept in the tenant's event log for inspection.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from erp_wms_simulators.callbacks import PLACEHOLDER, Delivery, fill_placeholders, form_fields
from erp_wms_simulators.peoplevox.orders import SALES_ORDER_COLUMNS
from erp_wms_simulators.peoplevox.search import SearchClauseError, compile_clause, evaluate
from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_simulators.peoplevox.stock import EventRecord

if TYPE_CHECKING:
    from erp_wms_simulators.peoplevox.state import PeoplevoxState, Subscription, Tenant

log = logging.getLogger(__name__)

AVAILABILITY_CHANGES = "AvailabilityChanges"
SALES_ORDER_STATUS_CHANGES = "SalesOrderStatusChanges"
GOODS_RECEIVED = "GoodsReceived"
TRACKING_NUMBER_RECEIVED = "TrackingNumberReceived"
INCREMENTAL_CHANGES = "IncrementalChanges"
RETURNS = "Returns"
PACKAGE_TRACKING_NUMBER_RECEIVED = "DespatchPackageTrackingNumberReceived"
ON_DESPATCH_ORDER_RECEIVED = "OnDespatchOrderReceived"
PACKAGE_DESPATCHED = "DespatchPackageDespatched"

ORDER_FIELDS: tuple[str, ...] = SALES_ORDER_COLUMNS  # an order event carries every column of the order
ORDER_STATUS_FIELDS: tuple[str, ...] = (
    "LastModificationTime", "SalesOrderStatus.Name", "SalesOrderStatus.Id", "SalesOrderStatu.Name",
    "PreviousStatus",
)
PACKAGE_FIELDS: tuple[str, ...] = (
    "SalesOrderNumber", "DespatchNumber", "PackageNumber", "TrackingNumber", "Carrier.Name", "Carrier.Number",
    "ServiceType.Name", "ServiceType.Code", "DespatchDate",
)

PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    AVAILABILITY_CHANGES: ("ItemCode", "Available", "OnHand", "Allocated", "Site.Reference", "ItemType.Name",
                           "ItemType.ItemCode"),
    SALES_ORDER_STATUS_CHANGES: ORDER_FIELDS + ORDER_STATUS_FIELDS,
    GOODS_RECEIVED: ("GoodsInId", "Reference", "ReconciledDateTime", "Consignments.ConsignmentItemTypes.Quantity",
                     "Consignments.ConsignmentItemTypes.ItemType.Name",
                     "Consignments.ConsignmentItemTypes.ItemType.ItemCode", "PurchaseOrderNumber",
                     "Site.Reference", "ItemCode", "Quantity"),
    TRACKING_NUMBER_RECEIVED: ("DespatchNumber", "TrackingNumber", "Carrier.Number", "Carrier.Name",
                               "ServiceType.Name", "ServiceType.Code", "Picks.SalesOrder.SalesOrderNumber",
                               "Picks.SalesOrder.Email", "SalesOrderNumber", "PackageNumber", "DespatchDate"),
    INCREMENTAL_CHANGES: ("QuantityChanged", "UpdatedBy", "UpdateTimestamp", "Reason", "ItemType.Name",
                          "ItemType.ItemCode", "ItemCode", "Site.Reference", "HistoryId", "From", "To",
                          "SalesOrderNumber"),
    RETURNS: ("SalesOrderNumber", "ReturnCode", "ItemCode", "Quantity", "Reason", "Condition", "Site.Reference",
              "ReturnDate", "ItemType.Name", "ReturnAuthorisationNumber", "Comments"),
    PACKAGE_TRACKING_NUMBER_RECEIVED: PACKAGE_FIELDS,
    ON_DESPATCH_ORDER_RECEIVED: ORDER_FIELDS + ORDER_STATUS_FIELDS,
    PACKAGE_DESPATCHED: PACKAGE_FIELDS,
}


def placeholders(event_type: str) -> tuple[str, ...]:
    return PLACEHOLDERS.get(event_type, ())


def check_subscription(event_type: str, url: str, post_params: str | None, filter_clause: str,
                       settings: PeoplevoxSettings) -> str | None:
    """Why a subscription cannot be registered (unknown placeholder, bad filter), or ``None``."""
    known = {name.lower() for name in placeholders(event_type)}
    if settings.strict_placeholders:
        used = PLACEHOLDER.findall(url) + PLACEHOLDER.findall(post_params or "")
        unknown = [name for name in used if name.lower() not in known]
        if unknown:
            return (f"Unknown placeholder {{{unknown[0]}}} for event {event_type}. Placeholders: "
                    + ", ".join(f"{{{name}}}" for name in placeholders(event_type)))
    try:
        compile_clause(filter_clause, placeholders(event_type))
    except SearchClauseError as exc:
        return f"Invalid filter: {exc}"
    return None


def _matches(subscription: Subscription, values: Mapping[str, str]) -> bool:
    try:
        clause = compile_clause(subscription.filter, list(values))
    except SearchClauseError as exc:
        log.warning("peoplevox subscription %d has an unusable filter (%s); event not delivered",
                    subscription.subscription_id, exc)
        return False
    return evaluate(clause, values)


def _raw_form(template: str, values: Mapping[str, str]) -> dict[str, str]:
    """The post params filled in verbatim, then split the way a receiver splits an unencoded body."""
    text = fill_placeholders(template.replace("&amp;", "&"), values, encode=False)
    fields: dict[str, str] = {}
    for pair in text.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            fields[name] = value
    return fields


def build_delivery(subscription: Subscription, values: Mapping[str, str]) -> Delivery:
    """The callback request one subscription makes for an event with ``values``."""
    encode = subscription.encode_parameter_data
    event_type, subscription_id = subscription.event_type, str(subscription.subscription_id)
    if subscription.post_params is None:
        return Delivery(fill_placeholders(subscription.url, values, encode=encode), method="GET",
                        event_type=event_type, subscription_id=subscription_id)
    body = form_fields(subscription.post_params, values) if encode else _raw_form(subscription.post_params, values)
    return Delivery(fill_placeholders(subscription.url, values, encode=True), method="POST",
                    headers={"Content-Type": "application/x-www-form-urlencoded"}, form_body=body,
                    event_type=event_type, subscription_id=subscription_id)


def publish(state: PeoplevoxState, tenant: Tenant, event_type: str, values: Mapping[str, str],
            settings: PeoplevoxSettings) -> EventRecord:
    """Record the event and queue one callback per matching subscription of the tenant."""
    complete = {name: str(values.get(name, "") or "") for name in placeholders(event_type)}
    deliveries: list[int] = []
    for subscription in list(tenant.subscriptions.values()):
        if subscription.event_type == event_type and _matches(subscription, complete):
            deliveries.append(state.callbacks.enqueue(build_delivery(subscription, complete)))
    book = tenant.book
    record = EventRecord(book.next_number("event"), event_type, state.now(), complete, tuple(deliveries))
    book.events.append(record)
    if len(book.events) > settings.event_log_length:
        del book.events[: len(book.events) - settings.event_log_length]
    return record
