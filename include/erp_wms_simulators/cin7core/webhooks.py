"""Webhook subscriptions of the Cin7 Core simulator and how their callbacks are built.

- ``POST /webhooks`` validates the documented object: ``Type`` (one of the documented types), ``IsActive``,
  ``ExternalURL``, ``ExternalAuthorizationType`` (``noauth`` | ``basicauth`` with ``ExternalUserName`` and
  ``ExternalPassword`` | ``bearerauth`` with ``ExternalBearerToken``) and ``ExternalHeaders[]{Key,Value}``.
  At most ``webhook_max_per_type`` (5) webhooks may share a Type.
- ``PUT /webhooks`` changes a webhook by ``ID`` (setting ``IsActive`` true again re-enables one that was
  deactivated); ``DELETE /webhooks?ID=`` removes it and cancels its queued callbacks.
- A callback is a JSON POST with the webhook's credentials (HTTP Basic or ``Authorization: Bearer``) and its
  static ``ExternalHeaders``. The state's :class:`~erp_wms_simulators.callbacks.CallbackDispatcher` sends it
  on the documented schedule (1 min after the event, then +5/+10/+15/+20/+25 min); after the 6th failed try
  the webhook's ``IsActive`` becomes false.

Every documented type can be subscribed; the simulator raises the ones in
:data:`~erp_wms_simulators.cin7core.events.DELIVERED_TYPES`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from erp_wms_simulators.callbacks import Delivery

WEBHOOK_TYPES: dict[str, str] = {
    "Sale/QuoteAuthorised": "Sale quote has been authorised",
    "Sale/OrderAuthorised": "Sale order has been authorised",
    "Sale/Voided": "Sale has been voided",
    "Sale/Backordered": "Sale has been backordered",
    "Sale/ShipmentAuthorised": "Sale shipment has been authorised",
    "Sale/InvoiceAuthorised": "Sale invoice has been authorised",
    "Sale/PickAuthorised": "Sale pick has been authorised",
    "Sale/PackAuthorised": "Sale pack has been authorised",
    "Sale/CreditNoteAuthorised": "Sale credit note has been authorised",
    "Sale/Undo": "Sale stage has been undone",
    "Sale/PartialPaymentReceived": "Sale partial payment has been received",
    "Sale/FullPaymentReceived": "Sale full payment has been received",
    "Sale/ShipmentTrackingNumberChanged": "Sale shipment tracking number has been changed",
    "Sale/Created": "Sale has been created",
    "Sale/AttachmentAdded": "Sale attachment has been added",
    "Sale/AdditionalAttributesChanged": "Sale additional attributes have been changed",
    "Purchase/OrderAuthorised": "Purchase order has been authorised",
    "Purchase/InvoiceAuthorised": "Purchase invoice has been authorised",
    "Purchase/StockReceivedAuthorised": "Purchase stock received has been authorised",
    "Purchase/CreditNoteAuthorised": "Purchase credit note has been authorised",
    "Purchase/Updated": "Purchase has been updated",
    "Customer/Updated": "Customer has been updated",
    "Supplier/Updated": "Supplier has been updated",
    "Product/Updated": "Product has been updated",
    "Stock/AvailableStockLevelChanged": "Available stock level has been changed",
    "Lead/Updated": "Lead has been updated",
    "Lead/Converted": "Lead has been converted",
    "Opportunity/Authorized": "Opportunity has been authorised",
    "Opportunity/AttachmentAdded": "Opportunity attachment has been added",
    "Opportunity/Voided": "Opportunity has been voided",
    "Opportunity/Converted": "Opportunity has been converted",
    "Task/Overdue": "Task is overdue",
}
AUTH_TYPES = ("noauth", "basicauth", "bearerauth")
URL_MAX = 2048
EDITABLE = ("Type", "IsActive", "ExternalURL", "ExternalAuthorizationType", "ExternalUserName", "ExternalPassword",
            "ExternalBearerToken", "ExternalHeaders")


def canonical_type(value: Any) -> str | None:
    """The documented spelling of a webhook type (matched without regard to case)."""
    if not isinstance(value, str):
        return None
    wanted = value.strip().casefold()
    return next((name for name in WEBHOOK_TYPES if name.casefold() == wanted), None)


def build_webhook(body: Mapping[str, Any], webhook_id: str, problems: list[str]) -> dict[str, Any]:
    """A validated webhook record from a POST body (or a PUT body merged over the stored record)."""
    webhook_type = canonical_type(body.get("Type"))
    if body.get("Type") in (None, ""):
        problems.append("Required attribute Type is not provided.")
    elif webhook_type is None:
        problems.append(f"Type '{body.get('Type')}' is not a webhook type.")
    if not isinstance(body.get("IsActive"), bool):
        problems.append("Required attribute IsActive is not provided or is not true/false.")
    url = body.get("ExternalURL")
    if not isinstance(url, str) or not url.strip():
        problems.append("Required attribute ExternalURL is not provided.")
    elif not _http_url(url):
        problems.append(f"ExternalURL '{url[:80]}' is not an http(s) URL.")
    auth = str(body.get("ExternalAuthorizationType") or "").strip().lower()
    if not auth:
        problems.append("Required attribute ExternalAuthorizationType is not provided.")
    elif auth not in AUTH_TYPES:
        problems.append(f"ExternalAuthorizationType must be one of: {', '.join(AUTH_TYPES)}.")
    problems += _credential_problems(body, auth)
    headers = _headers(body.get("ExternalHeaders"), problems)
    return {
        "ID": webhook_id, "Type": webhook_type or "", "Name": WEBHOOK_TYPES.get(webhook_type or "", ""),
        "IsActive": bool(body.get("IsActive")), "ExternalURL": str(url or "").strip(),
        "ExternalAuthorizationType": auth, "ExternalUserName": _text(body.get("ExternalUserName")),
        "ExternalPassword": _text(body.get("ExternalPassword")),
        "ExternalBearerToken": _text(body.get("ExternalBearerToken")), "ExternalHeaders": headers,
    }


def merged(stored: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """A PUT body laid over the stored webhook (only the editable fields)."""
    return {**stored, **{name: body[name] for name in EDITABLE if name in body}}


def delivery(webhook: Mapping[str, Any], event_type: str, payload: Any) -> Delivery:
    """The callback request for one webhook and one event."""
    headers = {"Content-Type": "application/json"}
    auth = webhook["ExternalAuthorizationType"]
    if auth == "basicauth":
        pair = f"{webhook['ExternalUserName']}:{webhook['ExternalPassword']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    elif auth == "bearerauth":
        headers["Authorization"] = f"Bearer {webhook['ExternalBearerToken']}"
    for header in webhook["ExternalHeaders"]:
        headers[header["Key"]] = header["Value"]
    return Delivery(url=webhook["ExternalURL"], headers=headers, json_body=payload, event_type=event_type,
                    subscription_id=webhook["ID"])


def _credential_problems(body: Mapping[str, Any], auth: str) -> list[str]:
    if auth == "basicauth":
        return [f"{name} is required for basicauth." for name in ("ExternalUserName", "ExternalPassword")
                if not _text(body.get(name))]
    if auth == "bearerauth" and not _text(body.get("ExternalBearerToken")):
        return ["ExternalBearerToken is required for bearerauth."]
    return []


def _headers(value: Any, problems: list[str]) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append("ExternalHeaders must be a list of {Key, Value} objects.")
        return []
    headers: list[dict[str, str]] = []
    for index, item in enumerate(value, start=1):
        key = item.get("Key") if isinstance(item, dict) else None
        if not isinstance(key, str) or not key.strip() or any(c in key for c in ":\r\n "):
            problems.append(f"ExternalHeaders {index}: Key must be a header name.")
            continue
        header_value = _text(item.get("Value"))
        if "\r" in header_value or "\n" in header_value:
            problems.append(f"ExternalHeaders {index}: Value cannot contain line breaks.")
            continue
        headers.append({"Key": key.strip(), "Value": header_value})
    return headers


def _http_url(url: str) -> bool:
    if len(url) > URL_MAX:
        return False
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _text(value: Any) -> str:
    return "" if value is None else str(value)
