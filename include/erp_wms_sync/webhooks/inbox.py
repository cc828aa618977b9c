"""What the receiver keeps: a callback read and checked (:class:`Callback`), stored in ``webhook_inbox`` before it
is answered, and the ``security_events`` of refused callbacks.

The parsing here is pure (no FastAPI, no database) so the rules can be read and tested on their own:

- Peoplevox (query string of a GET, form body of a POST): the event type must be one of
  ``PEOPLEVOX_ACCEPTED_EVENTS``. A despatch event (``PEOPLEVOX_EVENTS``) needs the fields ``PEOPLEVOX_REQUIRED``
  present, non-empty and substituted (not still ``{Placeholder}``); no field may be given twice; ``DespatchDate``,
  when given, must be a date Peoplevox writes. A stock or returns event (``PEOPLEVOX_STOCK_EVENTS``) must be
  readable by the parser its flow uses (:func:`~erp_wms_sync.domain.stock_movements.stock_notice_from_callback`,
  :func:`~erp_wms_sync.domain.pv_returns.return_notice_from_callback`), so the flow never meets a callback the
  receiver accepted and it cannot read; dates are checked for shape only (the flow reads them again in the
  warehouse's time zone).
- Cin7 Core (JSON): an object whose ``EventType`` is a string; ``Sale/OrderAuthorised`` needs a GUID ``SaleID``;
  other Cin7 Core types are acknowledged and not kept (a 4xx would make Cin7 retry, then deactivate the webhook).

The stored body is the payload as received with the ``token`` parameter (and any trace of the secret) removed.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from sqlalchemy import and_, func, not_, or_, select, update
from sqlalchemy.exc import IntegrityError

from erp_wms_sync.connectors.redaction import redact
from erp_wms_sync.domain.pv_returns import return_notice_from_callback
from erp_wms_sync.domain.stock_movements import stock_notice_from_callback
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import SecurityEvent, WebhookInbox
from erp_wms_sync.webhooks import (
    CIN7_EVENTS,
    CIN7CORE,
    INCREMENTAL_CHANGES,
    PEOPLEVOX,
    PEOPLEVOX_ACCEPTED_EVENTS,
    PEOPLEVOX_EVENTS,
    PEOPLEVOX_REQUIRED,
    PEOPLEVOX_STOCK_EVENTS,
    RETURNS,
    TOKEN_PARAM,
    asset_routes,
    asset_uri_for,
)

DESPATCH_DATE_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")
PEOPLEVOX_IDENTITY = ("DespatchNumber", "PackageNumber", "TrackingNumber")
ENTITY_KEY_MAX = 128  # webhook_inbox.entity_key
SHAPE_TIMEZONE = "UTC"  # stock and returns dates are checked for shape here; the flows read them in the WMS zone
NO_EVENT_NEEDED = -1  # asset_event_id of a row that wakes no DAG

# Cin7 Core webhook types (API spelling) that are acknowledged without being kept.
CIN7_KNOWN_TYPES: tuple[str, ...] = (
    "Sale/QuoteAuthorised", "Sale/OrderAuthorised", "Sale/Voided", "Sale/Backordered", "Sale/ShipmentAuthorised",
    "Sale/InvoiceAuthorised", "Sale/PickAuthorised", "Sale/PackAuthorised", "Sale/CreditNoteAuthorised",
    "Sale/Undo", "Sale/PartialPaymentReceived", "Sale/FullPaymentReceived", "Sale/ShipmentTrackingNumberChanged",
    "Sale/Created", "Sale/AttachmentAdded", "Sale/AdditionalAttributesChanged", "Purchase/OrderAuthorised",
    "Purchase/InvoiceAuthorised", "Purchase/StockReceivedAuthorised", "Purchase/CreditNoteAuthorised",
    "Purchase/Updated", "Customer/Updated", "Supplier/Updated", "Product/Updated", "Stock/AvailableStockLevelChanged",
    "Lead/Updated", "Lead/Converted", "Opportunity/Authorized", "Opportunity/AttachmentAdded", "Opportunity/Voided",
    "Opportunity/Converted", "Task/Overdue",
)
CIN7_STOCK_LEVELS = "Stock/AvailableStockLevelChanged"  # the one type posted as a bare JSON array


class Malformed(ValueError):
    """An authenticated callback that cannot be kept; ``status`` is the HTTP answer (400, 413, 415)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Callback:
    """A checked callback, ready to store."""

    integration: str
    source: str
    event_type: str
    body: str
    entity_key: str
    dedupe_key: str

    @property
    def asset_uri(self) -> str | None:
        return asset_uri_for(self.integration, self.source, self.event_type)


@dataclass(frozen=True)
class Ignored:
    """An authenticated Cin7 Core callback of a type the integration does not act on (answered 200)."""

    event_type: str


@dataclass(frozen=True)
class Stored:
    inbox_id: int
    duplicate: bool


def _digest(*parts: str) -> str:
    # surrogatepass: JSON may escape a lone UTF-16 surrogate ("\\ud800"), which plain UTF-8 cannot encode
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()


def without_token(raw: str) -> str:
    """A query string / form body without its ``token`` parameter(s), the other pairs kept verbatim."""
    pairs = (pair for pair in raw.split("&") if pair)
    return "&".join(pair for pair in pairs if unquote_plus(pair.partition("=")[0]).casefold() != TOKEN_PARAM)


def _scrub(text: str, secret: str) -> str:
    return redact(text, [secret]) if secret else text


# --- Peoplevox ------------------------------------------------------------------------------------------------
def _fields(raw: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        if name.casefold() == TOKEN_PARAM:
            continue
        if name in fields:
            raise Malformed(f"field {name} is given more than once")
        fields[name] = value.strip()
    return fields


def _check_despatch_date(value: str) -> None:
    for fmt in DESPATCH_DATE_FORMATS:
        try:
            datetime.strptime(value, fmt)
            return
        except ValueError:
            continue
    raise Malformed(f"DespatchDate {value[:40]!r} is not a date (expected one of "
                    + ", ".join(DESPATCH_DATE_FORMATS) + ")")


def peoplevox_callback(integration: str, event_type: str, raw: str, secret: str) -> Callback:
    """A Peoplevox callback from its query string (GET) or form body (POST), checked; raises :class:`Malformed`."""
    pairs = parse_qsl(raw, keep_blank_values=True)
    if "\x00" in raw or any("\x00" in name or "\x00" in value for name, value in pairs):
        raise Malformed("the callback holds a NUL character, which no Peoplevox field contains (and a ledger on "
                        "PostgreSQL cannot store)")
    if event_type in PEOPLEVOX_STOCK_EVENTS:
        return _stock_callback(integration, event_type, raw, secret)
    if event_type not in PEOPLEVOX_EVENTS:
        raise Malformed(f"unknown Peoplevox event type {event_type[:64]!r} (expected one of "
                        + ", ".join(PEOPLEVOX_ACCEPTED_EVENTS) + ")")
    fields = _fields(raw)
    for name in PEOPLEVOX_REQUIRED:
        value = fields.get(name, "")
        if not value:
            raise Malformed(f"required field {name} is missing or empty")
        if value.startswith("{") and value.endswith("}"):
            raise Malformed(f"field {name} still holds the placeholder {value[:40]} (Peoplevox did not fill it in)")
    if len(fields["DespatchNumber"]) > ENTITY_KEY_MAX:
        raise Malformed(f"DespatchNumber is longer than {ENTITY_KEY_MAX} characters")
    if fields.get("DespatchDate"):
        _check_despatch_date(fields["DespatchDate"])
    identity = [fields.get(name, "") for name in PEOPLEVOX_IDENTITY]
    return Callback(integration, PEOPLEVOX, event_type, _scrub(without_token(raw), secret),
                    fields["DespatchNumber"], _digest(PEOPLEVOX, event_type, *identity))


def _stock_callback(integration: str, event_type: str, raw: str, secret: str) -> Callback:
    """A stock (``IncrementalChanges``, ``AvailabilityChanges``) or ``Returns`` callback, read by its flow's parser.

    The entity is the item (stock) or the return code (returns). The dedupe key is what identifies the event: the
    movement's HistoryId when Peoplevox gives one, else the change itself (item, quantity, time, reason); the
    figures of an availability change (item, available, on hand, site); the returned line (return, item,
    quantity, condition). A repeat of the same figures is answered as a duplicate and wakes nothing: the flows
    read the whole truth from the reports anyway, and a movement still arrives as its own ``IncrementalChanges``."""
    body = _scrub(without_token(raw), secret)
    try:
        if event_type == RETURNS:
            line = return_notice_from_callback(event_type, body, SHAPE_TIMEZONE)
            return Callback(integration, PEOPLEVOX, event_type, body, line.return_code[:ENTITY_KEY_MAX],
                            _digest(PEOPLEVOX, event_type, line.return_code, line.item_code,
                                    _text(line.quantity), line.condition))
        notice = stock_notice_from_callback(event_type, body, SHAPE_TIMEZONE)
    except ValueError as exc:  # BadStockEvent, or a date the zone cannot hold
        raise Malformed(str(exc)) from None
    if event_type == INCREMENTAL_CHANGES and notice.history_id is not None:
        identity = ["HistoryId", str(notice.history_id)]
    elif event_type == INCREMENTAL_CHANGES:
        identity = [notice.item_code, _text(notice.quantity_changed),
                    notice.at.isoformat() if notice.at is not None else "", notice.reason]
    else:  # AvailabilityChanges
        identity = [notice.item_code, _text(notice.available), _text(notice.on_hand), notice.site]
    return Callback(integration, PEOPLEVOX, event_type, body, notice.item_code[:ENTITY_KEY_MAX],
                    _digest(PEOPLEVOX, event_type, *identity))


def _text(number: int | None) -> str:
    return "" if number is None else str(number)


# --- Cin7 Core ------------------------------------------------------------------------------------------------
def _known_cin7_type(value: str) -> str | None:
    """The API spelling of a Cin7 Core type (case and the help centre's "Authorized" spelling forgiven)."""
    wanted = value.strip().casefold().replace("authorized", "authorised")
    return next((name for name in CIN7_KNOWN_TYPES
                 if name.casefold().replace("authorized", "authorised") == wanted), None)


def _sale_id(payload: Mapping[str, Any]) -> str:
    value = payload.get("SaleID")
    if not isinstance(value, str) or not value.strip():
        raise Malformed("SaleID is missing or not a string")
    try:
        uuid.UUID(value.strip())
    except ValueError:
        raise Malformed(f"SaleID {value[:40]!r} is not a GUID") from None
    return value.strip()


def cin7_callback(integration: str, raw: bytes, secret: str) -> Callback | Ignored:
    """A Cin7 Core webhook from its JSON body, checked; raises :class:`Malformed`."""
    try:
        text = raw.decode("utf-8")
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"the body is not valid JSON ({str(exc)[:120]})") from None
    except RecursionError:
        raise Malformed("the body is not usable JSON (arrays or objects nested too deeply)") from None
    if isinstance(payload, list):  # Stock/AvailableStockLevelChanged posts a bare array of stock rows
        return Ignored(CIN7_STOCK_LEVELS)
    if not isinstance(payload, dict):
        raise Malformed(f"the body must be a JSON object, got {type(payload).__name__}")
    event_type = payload.get("EventType")
    if not isinstance(event_type, str) or not event_type.strip():
        raise Malformed("EventType is missing or not a string")
    known = _known_cin7_type(event_type)
    if known is None:
        raise Malformed(f"unknown Cin7 Core event type {event_type[:64]!r}")
    if known not in CIN7_EVENTS:
        return Ignored(known)
    sale_id = _sale_id(payload)
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Callback(integration, CIN7CORE, known, _scrub(text, secret), sale_id,
                    _digest(CIN7CORE, known, sale_id, canonical))


# --- the ledger -----------------------------------------------------------------------------------------------
def _existing(url: str | None, integration: str, dedupe_key: str) -> int | None:
    with session_scope(url) as session:
        return session.scalar(select(WebhookInbox.id).where(WebhookInbox.integration == integration,
                                                            WebhookInbox.dedupe_key == dedupe_key))


def store(url: str | None, callback: Callback) -> Stored:
    """Keep ``callback`` (committed on return) unless the same event is already kept.

    Raises the database's error when the ledger cannot store it: the caller answers 503 so the sender retries.
    """
    known = _existing(url, callback.integration, callback.dedupe_key)
    if known is not None:
        return Stored(known, duplicate=True)
    row = WebhookInbox(integration=callback.integration, source=callback.source, event_type=callback.event_type,
                       body=callback.body, dedupe_key=callback.dedupe_key, entity_key=callback.entity_key,
                       status="received", asset_event_id=None if callback.asset_uri else NO_EVENT_NEEDED)
    try:
        with session_scope(url) as session:
            session.add(row)
            session.flush()
            inbox_id = int(row.id)
    except IntegrityError:  # the same event arrived twice at once: the other request stored it
        known = _existing(url, callback.integration, callback.dedupe_key)
        if known is None:
            raise
        return Stored(known, duplicate=True)
    return Stored(inbox_id, duplicate=False)


def record_security_event(url: str | None, *, integration: str | None, source: str, reason: str, status_code: int,
                          method: str, path: str, remote_addr: str | None) -> None:
    """Keep a refused callback's who/where/why (path only: the query string may hold the token)."""
    with session_scope(url) as session:
        session.add(SecurityEvent(integration=integration, source=source, reason=reason[:500],
                                  status_code=status_code, method=method[:8], path=path[:500],
                                  remote_addr=remote_addr[:64] if remote_addr else None))


def pending_counts(url: str | None) -> dict[str, int]:
    """Stored callbacks whose asset event is not emitted yet, per integration."""
    with session_scope(url) as session:
        rows = session.execute(select(WebhookInbox.integration, func.count())
                               .where(WebhookInbox.asset_event_id.is_(None))
                               .group_by(WebhookInbox.integration)).all()
    return {str(name): int(count) for name, count in rows}


@dataclass(frozen=True)
class PendingRow:
    inbox_id: int
    integration: str
    source: str
    event_type: str | None


def pending_rows(url: str | None, limit: int, skip: Sequence[tuple[str, str]] = ()) -> list[PendingRow]:
    """The oldest rows not yet emitted, leaving out the rows that wake the (integration, asset URI) pairs in
    ``skip`` (assets backing off). Per asset, not per source: stock callbacks waiting for an asset Airflow does not
    know yet must not hold back the same integration's despatch callbacks."""
    query = (select(WebhookInbox.id, WebhookInbox.integration, WebhookInbox.source, WebhookInbox.event_type)
             .where(WebhookInbox.asset_event_id.is_(None)))
    excluded = []
    for name, uri in sorted(set(skip)):
        route = asset_routes(name).get(uri)
        if route is not None:
            source, event_types = route
            excluded.append(and_(WebhookInbox.integration == name, WebhookInbox.source == source,
                                 WebhookInbox.event_type.in_(event_types)))
    if excluded:
        query = query.where(not_(or_(*excluded)))
    with session_scope(url) as session:
        rows = session.execute(query.order_by(WebhookInbox.id).limit(limit)).all()
    return [PendingRow(int(i), str(name), str(source), event) for i, name, source, event in rows]


def group_by_asset(rows: Sequence[PendingRow]) -> tuple[dict[str, list[PendingRow]], list[int]]:
    """Rows per asset URI, and the ids of rows that wake no asset."""
    groups: dict[str, list[PendingRow]] = defaultdict(list)
    none: list[int] = []
    for row in rows:
        uri = asset_uri_for(row.integration, row.source, row.event_type)
        if uri is None:
            none.append(row.inbox_id)
        else:
            groups[uri].append(row)
    return dict(groups), none


def mark_emitted(url: str | None, inbox_ids: Sequence[int], event_id: int) -> None:
    with session_scope(url) as session:
        session.execute(update(WebhookInbox).where(WebhookInbox.id.in_(list(inbox_ids)))
                        .values(asset_event_id=event_id))


def mark_failed(url: str | None, inbox_ids: Sequence[int]) -> None:
    with session_scope(url) as session:
        session.execute(update(WebhookInbox).where(WebhookInbox.id.in_(list(inbox_ids)))
                        .values(emit_attempts=WebhookInbox.emit_attempts + 1))
