"""What Peoplevox says about stock movements, read from the "Item movement history" report (the safety net) and
from its stock callbacks, as dispatch confirmation reads despatches (:mod:`erp_wms_sync.domain.despatches`).

- :class:`StockMovement` / :func:`movements_from_report`: the report, one row per movement with an increasing
  ``History Id``; :func:`order_movements` and :func:`split_stale` put them in order per ItemCode × site and set
  aside those already applied (a per SKU × site History Id watermark);
  :func:`~erp_wms_sync.domain.pv_reports.held_pairs` names the pairs an unreadable row leaves incomplete.
- :class:`StockNotice` / :func:`stock_notice_from_callback`: one ``IncrementalChanges`` or
  ``AvailabilityChanges`` callback; it says which item changed, not the whole truth.
- :data:`STOCK_EVENTS` / :data:`STOCK_FIELDS` / :func:`stock_callback_url`: the subscriptions the stock and
  returns callbacks come from (query parameter name -> Peoplevox placeholder, per event); the ``Returns``
  callback itself is read by :func:`erp_wms_sync.domain.pv_returns.return_notice_from_callback`.

The report reader is strict about shape and never drops a row in silence: a row it cannot read (no key, a
History Id that is not an integer, a quantity that is not a whole number, a date that is not a date...) is a
:class:`~erp_wms_sync.domain.pv_reports.RowProblem` naming the row and why, and the good rows are still returned.
Only a report without its History Id column raises (:class:`~erp_wms_sync.domain.pv_reports.BadReport`). Every
datetime here is naive UTC. Pure; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from erp_wms_sync.domain.despatches import wms_zone
from erp_wms_sync.domain.pv_reports import (
    COL_ITEM,
    COL_ORDER,
    COL_QUANTITY,
    COL_SITE,
    BadStockEvent,
    RowProblem,
    callback_date,
    callback_fields,
    callback_integer,
    date_cell,
    read_rows,
    required_cell,
    row_problem,
    since_clause,
    whole_cell,
)
from erp_wms_sync.webhooks import (
    AVAILABILITY_CHANGES,
    HOOKS_PREFIX,
    INCREMENTAL_CHANGES,
    PEOPLEVOX,
    RETURNS,
    TOKEN_PARAM,
)

# --- the Item movement history report --------------------------------------------------------------------------
MOVEMENT_REPORT = "Item movement history"
COL_HISTORY_ID = "History Id"
COL_FROM = "From"
COL_TO = "To"
COL_TIMESTAMP = "Date timestamp"
COL_REASON = "Register Reason"
COL_TYPE_FROM = "Location type from"
COL_TYPE_TO = "Location type to"
COL_USER = "User"
COL_COMMENTS = "Comments"
MOVEMENT_COLUMNS: tuple[str, ...] = (
    COL_HISTORY_ID, COL_ITEM, COL_SITE, COL_FROM, COL_TO, COL_QUANTITY, COL_TIMESTAMP, COL_ORDER, COL_REASON,
    COL_TYPE_FROM, COL_TYPE_TO, COL_USER, COL_COMMENTS)

HISTORY_ID = re.compile(r"^[0-9]{1,18}$")

# --- event subscriptions ---------------------------------------------------------------------------------------
STOCK_EVENTS: tuple[str, ...] = (INCREMENTAL_CHANGES, AVAILABILITY_CHANGES, RETURNS)
#: Per event: query parameter name -> Peoplevox placeholder. ``ItemType.ItemCode``, ``QuantityChanged``,
#: ``UpdateTimestamp``, ``UpdatedBy``, ``Reason``, ``ItemCode`` and ``Available`` are placeholders seen in use;
#: the others are not documented, so each is optional and read as empty when Peoplevox leaves it unfilled.
STOCK_FIELDS: dict[str, dict[str, str]] = {
    INCREMENTAL_CHANGES: {
        "ItemCode": "ItemType.ItemCode", "QuantityChanged": "QuantityChanged", "UpdateTimestamp": "UpdateTimestamp",
        "UpdatedBy": "UpdatedBy", "Reason": "Reason", "Site": "Site.Reference", "HistoryId": "HistoryId",
    },
    AVAILABILITY_CHANGES: {
        "ItemCode": "ItemCode", "Available": "Available", "OnHand": "OnHand", "Allocated": "Allocated",
        "Site": "Site.Reference",
    },
    RETURNS: {
        "ReturnCode": "ReturnCode", "SalesOrderNumber": "SalesOrderNumber", "ItemCode": "ItemCode",
        "Quantity": "Quantity", "Reason": "Reason", "Condition": "Condition", "Site": "Site.Reference",
        "ReturnDate": "ReturnDate",
    },
}
STOCK_REQUIRED: dict[str, tuple[str, ...]] = {
    INCREMENTAL_CHANGES: ("ItemCode", "QuantityChanged"),
    AVAILABILITY_CHANGES: ("ItemCode", "Available"),
    RETURNS: ("ReturnCode",),
}


# --- movements -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StockMovement:
    """One row of "Item movement history". ``quantity`` is the report's Quantity as written (the simulator
    writes the amount moved, positive; the direction is in ``from_location`` / ``to_location``)."""

    history_id: int
    item_code: str
    site: str  # "" when the account does not fill Site reference
    from_location: str
    to_location: str
    quantity: int
    at: datetime  # naive UTC
    sales_order: str = ""
    reason: str = ""
    location_type_from: str = ""
    location_type_to: str = ""
    user: str = ""
    comments: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """(ItemCode, site): the pair a History Id watermark is kept for."""
        return self.item_code, self.site


def movements_from_report(rows: Iterable[Mapping[str, Any]],
                          wms_timezone: str) -> tuple[list[StockMovement], list[RowProblem]]:
    """The movements of "Item movement history" rows, in report order, and the rows that cannot be read.

    A row needs a History Id (a whole number written without a fraction), an Item code, a Quantity that is a
    whole number (``3``, ``-2``, ``3.0``) and a Date timestamp that is a date. A History Id listed twice with the
    same values is one movement; listed twice with different values both rows are problems (which one is true
    cannot be told). :class:`~erp_wms_sync.domain.pv_reports.BadReport` when the report has no History Id
    column."""
    wms_zone(wms_timezone)  # a settings error stops the read before any row is judged
    table = read_rows(rows, MOVEMENT_REPORT, COL_HISTORY_ID)
    read: dict[int, tuple[int, StockMovement, dict[str, str]]] = {}
    conflicts: set[int] = set()
    problems: list[RowProblem] = []
    for position, row in table:
        reasons: list[str] = []
        history_id = _history_id(row.get(COL_HISTORY_ID, ""), reasons)
        item = required_cell(row, COL_ITEM, reasons)
        quantity = whole_cell(row, COL_QUANTITY, reasons)
        at = date_cell(row, COL_TIMESTAMP, wms_timezone, reasons, required=True)
        if reasons or history_id is None or quantity is None or at is None:
            problems.append(row_problem(MOVEMENT_REPORT, position, row, COL_HISTORY_ID, reasons))
            continue
        movement = StockMovement(
            history_id=history_id, item_code=item, site=row.get(COL_SITE, ""), from_location=row.get(COL_FROM, ""),
            to_location=row.get(COL_TO, ""), quantity=quantity, at=at, sales_order=row.get(COL_ORDER, ""),
            reason=row.get(COL_REASON, ""), location_type_from=row.get(COL_TYPE_FROM, ""),
            location_type_to=row.get(COL_TYPE_TO, ""), user=row.get(COL_USER, ""),
            comments=row.get(COL_COMMENTS, ""))
        earlier = read.get(history_id)
        if earlier is None:
            read[history_id] = (position, movement, row)
        elif earlier[1] != movement:
            conflicts.add(history_id)
            problems.append(row_problem(MOVEMENT_REPORT, position, row, COL_HISTORY_ID,
                                        [f"repeats History Id {history_id} of row {earlier[0]} with other values"]))
    good: list[StockMovement] = []
    for history_id, (position, movement, row) in read.items():
        if history_id in conflicts:
            problems.append(row_problem(MOVEMENT_REPORT, position, row, COL_HISTORY_ID,
                                        [f"has History Id {history_id}, listed again later with other values"]))
        else:
            good.append(movement)
    problems.sort(key=lambda p: p.position)
    return good, problems


def movement_report_clause(since: datetime, wms_timezone: str) -> str:
    """The GetReportData search clause for movements at or after ``since`` (naive = UTC), in WMS local time:
    ``([Date timestamp] >= DateTime(2026,12,03,09,15,00))``."""
    return since_clause(COL_TIMESTAMP, since, wms_timezone)


def order_movements(movements: Iterable[StockMovement]) -> list[StockMovement]:
    """Movements sorted by (ItemCode, site, History Id), each History Id once.

    The result depends only on the set of movements given, never on their order: when one History Id comes
    with different values (which :func:`movements_from_report` reports as a problem instead), the one with the
    smallest values is kept."""
    chosen: dict[int, StockMovement] = {}
    for movement in movements:
        kept = chosen.get(movement.history_id)
        if kept is None or _full_key(movement) < _full_key(kept):
            chosen[movement.history_id] = movement
    return sorted(chosen.values(), key=lambda m: (m.item_code, m.site, m.history_id))


def split_stale(movements: Iterable[StockMovement],
                applied: Mapping[tuple[str, str], int]) -> tuple[list[StockMovement], list[StockMovement]]:
    """(due, stale), each in the order given: stale are movements whose History Id is at or below the watermark
    ``applied`` keeps for their (ItemCode, site); a pair without a watermark has nothing stale."""
    due: list[StockMovement] = []
    stale: list[StockMovement] = []
    for movement in movements:
        mark = applied.get(movement.key)
        (stale if mark is not None and movement.history_id <= mark else due).append(movement)
    return due, stale


def _full_key(movement: StockMovement) -> tuple[Any, ...]:
    m = movement
    return (m.history_id, m.item_code, m.site, m.at, m.quantity, m.from_location, m.to_location, m.sales_order,
            m.reason, m.location_type_from, m.location_type_to, m.user, m.comments)


def _history_id(text: str, reasons: list[str]) -> int | None:
    if not text:
        reasons.append(f"has no {COL_HISTORY_ID}")
        return None
    if not HISTORY_ID.match(text):
        reasons.append(f"has {COL_HISTORY_ID} {text[:20]!r}, not a whole number")
        return None
    return int(text)


# --- stock callbacks -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StockNotice:
    """One ``IncrementalChanges`` (a movement changed an item's on-hand stock) or ``AvailabilityChanges`` (an
    item's available quantity changed) callback. Figures an event does not carry are None."""

    event_type: str
    item_code: str
    site: str  # "" when Peoplevox did not fill it (availability across sites)
    quantity_changed: int | None = None  # IncrementalChanges: signed change of on-hand stock
    available: int | None = None  # AvailabilityChanges
    on_hand: int | None = None
    allocated: int | None = None
    history_id: int | None = None
    at: datetime | None = None  # naive UTC
    reason: str = ""
    user: str = ""


def stock_notice_from_callback(event_type: str, body: str, wms_timezone: str) -> StockNotice:
    """The notice a stored ``IncrementalChanges`` / ``AvailabilityChanges`` callback carries (its query string or
    form text, parameter names as in :data:`STOCK_FIELDS`).

    :class:`~erp_wms_sync.domain.pv_reports.BadStockEvent` names what is wrong: another event type, a required
    field (:data:`STOCK_REQUIRED`) missing, empty or still holding its ``{Placeholder}``, a field given twice
    with different values, a quantity or History Id that is not a whole number, a date that is not a date. An
    optional field left as its placeholder is read as empty."""
    if event_type not in (INCREMENTAL_CHANGES, AVAILABILITY_CHANGES):
        raise BadStockEvent(f"event type {event_type[:64]!r} is not a Peoplevox stock event "
                            f"(expected {INCREMENTAL_CHANGES} or {AVAILABILITY_CHANGES})")
    fields = callback_fields(event_type, body, STOCK_REQUIRED[event_type])
    what = f"{event_type} callback for item {fields['ItemCode'][:64]}"
    history = fields.get("HistoryId", "")
    if history and not HISTORY_ID.match(history):
        raise BadStockEvent(f"{what}: HistoryId {history[:20]!r} is not a whole number")
    return StockNotice(
        event_type=event_type, item_code=fields["ItemCode"], site=fields.get("Site", ""),
        quantity_changed=callback_integer(fields, "QuantityChanged", what),
        available=callback_integer(fields, "Available", what), on_hand=callback_integer(fields, "OnHand", what),
        allocated=callback_integer(fields, "Allocated", what), history_id=int(history) if history else None,
        at=callback_date(fields, "UpdateTimestamp", wms_timezone, what), reason=fields.get("Reason", ""),
        user=fields.get("UpdatedBy", ""))


def stock_callback_query(event_type: str) -> str:
    """The ``name={Placeholder}&…`` template of one event (also the ``postParams`` of ``SubscribePostEvent``)."""
    fields = STOCK_FIELDS.get(event_type)
    if fields is None:
        raise ValueError(f"{event_type[:64]!r} is not one of {', '.join(STOCK_EVENTS)}")
    return "&".join(f"{name}={{{placeholder}}}" for name, placeholder in fields.items())


def stock_callback_url(base_url: str, integration: str, event_type: str, token: str) -> str:
    """The URL to register with Peoplevox ``SubscribeEvent`` for one of :data:`STOCK_EVENTS`, shaped like the
    despatch callbacks' (``…/hooks/peoplevox/<integration>/<event>?token=…&ItemCode={ItemType.ItemCode}…``)."""
    query = stock_callback_query(event_type)
    return (f"{base_url.rstrip('/')}{HOOKS_PREFIX}/{PEOPLEVOX}/{integration}/{event_type}"
            f"?{TOKEN_PARAM}={token}&{query}")
