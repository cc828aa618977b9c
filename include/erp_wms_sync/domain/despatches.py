"""What Peoplevox despatched, read from its callbacks and from the "Despatch summary" report, and the rules that
decide whether a despatch may be confirmed in the ERP.

- :class:`Despatch` / :class:`DespatchLine`: one despatch (a despatch number of one Peoplevox order) with its
  lines summed per ItemCode and its packages' tracking numbers. :func:`despatches_from_report` builds them from
  the report rows (one row per despatched line) and never from a partial view: a despatch with one bad row is a
  :class:`DespatchProblem` as a whole.
- :class:`DespatchNotice`: one callback (``DespatchPackageDespatched`` / ``DespatchPackageTrackingNumberReceived``)
  says that a package left or got its tracking number, not what was in it; :func:`notice_from_callback` reads
  the stored query string / form text and raises :class:`BadDespatch` naming the field that is wrong.
- :func:`report_clause`: the GetReportData search clause for despatches since a moment.
- :func:`remaining_quantities`, :func:`whole_order`, :func:`dispatch_frame_rows`: what is still open on an
  order, whether a despatch takes all of it, and the rows the ``dispatch_confirmation`` data check validates
  (suite: :func:`erp_wms_sync.checks.suites.dispatch_checks`); :func:`blocking` says which failures hold it.

Peoplevox writes local times (of the warehouse's time zone, an IANA name from the integration settings); every
datetime here is naive UTC, the ledger's convention. Pure functions; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from erp_wms_sync.domain.orders import ErpOrder
from erp_wms_sync.webhooks import PACKAGE_TRACKING_RECEIVED, PEOPLEVOX_EVENTS, PEOPLEVOX_REQUIRED

# Exception types (categories of the dispatch_confirmation checks).
UNKNOWN_ORDER = "despatch_for_unknown_order"
CANCELLED_ORDER = "despatch_for_cancelled_order"
MISMATCH = "despatch_mismatch"
WITHOUT_TRACKING = "despatch_without_tracking"
NON_BLOCKING: frozenset[str] = frozenset({WITHOUT_TRACKING})  # the goods left; tracking may follow

# "Despatch summary" report columns the integration reads ("Salesorder" is one word in Peoplevox).
COL_DESPATCH = "Despatch number"
COL_ORDER = "Salesorder number"
COL_ITEM = "Item code"
COL_QUANTITY = "No of items"
COL_DATE = "Despatch date"
COL_CARRIER = "Carrier"
COL_SERVICE = "Service"
COL_TRACKING = "Tracking number"
COL_SITE = "Site reference"

DATE_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")
NUMBER_MAX = 64  # ledger column width of despatch and order numbers
TEXT_MAX = 128  # ledger column width of carrier and service
WHOLE_POSITIVE = re.compile(r"^[0-9]+(\.0+)?$")
MAX_REASONS = 10  # reasons named in one DespatchProblem


class BadDespatch(ValueError):
    """A Peoplevox callback that does not say which despatch of which order left: the message names the field."""


class UnknownTimezone(LookupError):
    """The configured WMS time zone is not an IANA name; a settings error, so not a :class:`ValueError` that
    would mark every callback unreadable."""


@dataclass(frozen=True)
class DespatchLine:
    item_code: str  # the Peoplevox ItemCode
    quantity: int


@dataclass(frozen=True)
class Despatch:
    """One Peoplevox despatch: lines per ItemCode, tracking numbers of its packages (in order, no duplicates)."""

    number: str
    order_number: str  # the Peoplevox SalesOrderNumber (possibly a re-issue, ``-R<n>``)
    despatched_at: datetime | None  # naive UTC
    carrier: str
    service: str
    tracking: tuple[str, ...]
    lines: tuple[DespatchLine, ...]
    site: str = ""

    def quantities(self) -> dict[str, int]:
        """ItemCode -> total quantity despatched (a code listed on several lines is summed)."""
        totals: dict[str, int] = {}
        for line in self.lines:
            totals[line.item_code] = totals.get(line.item_code, 0) + line.quantity
        return totals


@dataclass(frozen=True)
class DespatchNotice:
    """One Peoplevox despatch callback: a package of a despatch left, or its tracking number arrived."""

    event_type: str
    despatch_number: str
    order_number: str
    package: str
    tracking: str  # as Peoplevox sent it ("" when not known yet)
    carrier: str
    service: str
    despatched_at: datetime | None  # naive UTC


@dataclass(frozen=True)
class DespatchProblem:
    """A despatch the report lists but that cannot be read as a whole; ``rows`` are its report rows as given."""

    despatch_number: str
    order_number: str
    reason: str
    rows: tuple[dict[str, str], ...]


# --- time ------------------------------------------------------------------------------------------------------
def wms_zone(name: str) -> ZoneInfo:
    """The WMS time zone; :class:`UnknownTimezone` names a value that is not an IANA time zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimezone(f"the WMS time zone {name[:64]!r} is not an IANA time zone name "
                              "(such as 'Europe/London')") from None


def wms_datetime(value: str, wms_timezone: str) -> datetime:
    """A Peoplevox local date (any of :data:`DATE_FORMATS`, single quotes optional) as naive UTC.

    A local time that occurs twice (the hour clocks go back) is read as the first, summer-time occurrence.
    ``ValueError`` names a value that is not a date."""
    zone = wms_zone(wms_timezone)
    text = _unquote(value.strip())
    for fmt in DATE_FORMATS:
        try:
            local = datetime.strptime(text, fmt)
        except ValueError:
            continue
        try:
            return local.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            break
    raise ValueError(f"{value[:40]!r} is not a Peoplevox date (expected one of {', '.join(DATE_FORMATS)})")


def report_clause(since: datetime, wms_timezone: str) -> str:
    """The GetReportData search clause for despatches at or after ``since``, written in the WMS's local time
    (``([Despatch date] >= DateTime(2026,12,03,09,15,00))``). A naive ``since`` is read as UTC."""
    moment = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    local = moment.astimezone(wms_zone(wms_timezone))
    return f"([{COL_DATE}] >= DateTime({local:%Y,%m,%d,%H,%M,%S}))"


def _unquote(value: str) -> str:
    """Peoplevox wraps some report values (dates) in single quotes: ``'02/05/2024 10:00:00'``."""
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value


# --- callbacks -------------------------------------------------------------------------------------------------
def notice_from_callback(event_type: str, body: str, wms_timezone: str) -> DespatchNotice:
    """The notice a stored Peoplevox callback carries (its query string or form text, parameter names as in
    :data:`erp_wms_sync.webhooks.PEOPLEVOX_FIELDS`).

    :class:`BadDespatch` names what is wrong: an event type the integration does not subscribe to, a required
    field missing, empty, given twice with different values or still holding its ``{Placeholder}``, a number
    longer than the ledger keeps, a tracking callback without a tracking number, a date that is not a date. An
    optional field that Peoplevox left as its placeholder is read as empty."""
    if event_type not in PEOPLEVOX_EVENTS:
        raise BadDespatch(f"event type {event_type[:64]!r} is not a Peoplevox despatch event "
                          f"(expected one of {', '.join(PEOPLEVOX_EVENTS)})")
    fields = _callback_fields(body)
    for name in PEOPLEVOX_REQUIRED:
        if not fields.get(name):
            raise BadDespatch(f"{event_type} callback: required field {name} is missing, empty or never filled in "
                              "by Peoplevox")
    for name in ("DespatchNumber", "SalesOrderNumber"):
        if len(fields[name]) > NUMBER_MAX:
            raise BadDespatch(f"{event_type} callback: {name} is longer than {NUMBER_MAX} characters")
    for name in ("Carrier", "Service"):
        if len(fields.get(name, "")) > TEXT_MAX:
            raise BadDespatch(f"{event_type} callback: {name} is longer than {TEXT_MAX} characters")
    if event_type == PACKAGE_TRACKING_RECEIVED and not fields.get("TrackingNumber"):
        raise BadDespatch(f"{event_type} callback for despatch {fields['DespatchNumber']} has no TrackingNumber")
    despatched_at = None
    if fields.get("DespatchDate"):
        try:
            despatched_at = wms_datetime(fields["DespatchDate"], wms_timezone)
        except ValueError as exc:
            raise BadDespatch(f"{event_type} callback for despatch {fields['DespatchNumber']}: DespatchDate {exc}") \
                from None
    return DespatchNotice(
        event_type=event_type, despatch_number=fields["DespatchNumber"], order_number=fields["SalesOrderNumber"],
        package=fields["PackageNumber"], tracking=fields.get("TrackingNumber", ""),
        carrier=fields.get("Carrier", ""), service=fields.get("Service", ""), despatched_at=despatched_at)


def _callback_fields(body: str) -> dict[str, str]:
    """Parameter name -> value (stripped; an unfilled ``{Placeholder}`` is empty); a parameter given twice with
    different values is :class:`BadDespatch`."""
    fields: dict[str, str] = {}
    for name, values in parse_qs(body, keep_blank_values=True).items():
        distinct = {value.strip() for value in values}
        if len(distinct) > 1:
            raise BadDespatch(f"callback field {name[:64]} is given {len(values)} times with different values")
        value = distinct.pop()
        fields[name] = "" if value.startswith("{") and value.endswith("}") else value
    return fields


# --- the Despatch summary report -------------------------------------------------------------------------------
@dataclass
class _Group:
    """The rows of one despatch number while the report is read."""

    number: str
    rows: list[dict[str, str]]
    reasons: list[str]
    orders: list[str]


def despatches_from_report(rows: Iterable[Mapping[str, str]],
                           wms_timezone: str) -> tuple[list[Despatch], list[DespatchProblem]]:
    """The despatches of "Despatch summary" rows (one row per despatched line), in order of first appearance.

    Rows are grouped by despatch number and quantities summed per ItemCode. A despatch with any bad row (no item
    code, ``No of items`` missing or not a positive whole number, a date that is not a date, no order number or a
    second one, a number or carrier longer than the ledger keeps) is one :class:`DespatchProblem` and not a
    despatch: a partial view is never confirmed. Rows without a despatch number are problems too (one per order
    number they name, despatch number ``""``). An empty despatch date is allowed (``despatched_at`` None);
    differing dates on one despatch keep the earliest. Tracking numbers are split on commas, in order, once."""
    zone = wms_timezone
    wms_zone(zone)  # a settings error stops the read before any row is judged
    groups: dict[str, _Group] = {}
    orphans: dict[str, _Group] = {}
    for position, raw in enumerate(rows, start=1):
        row = _clean_row(raw)
        number = row.get(COL_DESPATCH, "")
        if not number:
            group = orphans.setdefault(row.get(COL_ORDER, ""), _Group("", [], [], []))
            group.rows.append(row)
            group.reasons.append(f"row {position} has no {COL_DESPATCH}")
            _note_order(group, row)
            continue
        group = groups.setdefault(number, _Group(number, [], [], []))
        group.rows.append(row)
        group.reasons.extend(f"row {position} {why}" for why in _row_problems(row, zone))
        _note_order(group, row)
    despatches: list[Despatch] = []
    problems: list[DespatchProblem] = []
    for group in groups.values():
        if len(group.orders) > 1:
            group.reasons.insert(0, f"despatch {group.number[:NUMBER_MAX]} is listed for more than one order "
                                    f"({', '.join(o[:NUMBER_MAX] for o in group.orders[:5])})")
        if len(group.number) > NUMBER_MAX:
            group.reasons.insert(0, f"the despatch number is longer than {NUMBER_MAX} characters")
        if group.reasons:
            problems.append(_problem(group))
        else:
            despatches.append(_despatch(group, zone))
    problems.extend(_problem(group) for group in orphans.values())
    return despatches, problems


def _clean_row(raw: Mapping[Any, Any]) -> dict[str, str]:
    """A report row with text keys and values (cells stripped, single quotes removed, missing cells empty)."""
    row: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(key, str):
            row[key.strip()] = _unquote(value.strip()) if isinstance(value, str) else ""
    return row


def _note_order(group: _Group, row: Mapping[str, str]) -> None:
    order = row.get(COL_ORDER, "")
    if order and order not in group.orders:
        group.orders.append(order)


def _row_problems(row: Mapping[str, str], zone: str) -> list[str]:
    """Why one row of a despatch cannot be read (empty when it can)."""
    problems: list[str] = []
    order = row.get(COL_ORDER, "")
    if not order:
        problems.append(f"has no {COL_ORDER}")
    elif len(order) > NUMBER_MAX:
        problems.append(f"has a {COL_ORDER} longer than {NUMBER_MAX} characters")
    if not row.get(COL_ITEM, ""):
        problems.append(f"has no {COL_ITEM}")
    quantity = row.get(COL_QUANTITY, "")
    if not quantity:
        problems.append(f"has no {COL_QUANTITY}")
    elif _whole(quantity) is None:
        problems.append(f"has {COL_QUANTITY} {quantity[:20]!r}, not a positive whole number")
    if row.get(COL_DATE):
        try:
            wms_datetime(row[COL_DATE], zone)
        except ValueError:
            problems.append(f"has {COL_DATE} {row[COL_DATE][:40]!r}, not a date")
    for column in (COL_CARRIER, COL_SERVICE):
        if len(row.get(column, "")) > TEXT_MAX:
            problems.append(f"has a {column} longer than {TEXT_MAX} characters")
    return problems


def _whole(text: str) -> int | None:
    """A positive whole number written as Peoplevox writes quantities (``3``, ``3.0``), else None."""
    if not WHOLE_POSITIVE.match(text):
        return None
    value = int(text.split(".")[0])
    return value if value > 0 else None


def _despatch(group: _Group, zone: str) -> Despatch:
    """A despatch from rows already known to be good."""
    totals: dict[str, int] = {}
    tracking: list[str] = []
    dates: list[datetime] = []
    for row in group.rows:
        code = row[COL_ITEM]
        totals[code] = totals.get(code, 0) + (_whole(row[COL_QUANTITY]) or 0)
        tracking.extend(split_tracking(row.get(COL_TRACKING, "")))
        if row.get(COL_DATE):
            dates.append(wms_datetime(row[COL_DATE], zone))
    return Despatch(
        number=group.number, order_number=group.orders[0], despatched_at=min(dates) if dates else None,
        carrier=_first(group.rows, COL_CARRIER), service=_first(group.rows, COL_SERVICE),
        tracking=tuple(dict.fromkeys(tracking)), lines=tuple(DespatchLine(c, q) for c, q in totals.items()),
        site=_first(group.rows, COL_SITE))


def _problem(group: _Group) -> DespatchProblem:
    reasons = list(dict.fromkeys(group.reasons))
    reason = "; ".join(reasons[:MAX_REASONS])
    if len(reasons) > MAX_REASONS:
        reason += f"; and {len(reasons) - MAX_REASONS} more"
    order = group.orders[0] if len(group.orders) == 1 else ""
    return DespatchProblem(group.number, order, reason, tuple(group.rows))


def _first(rows: Iterable[Mapping[str, str]], column: str) -> str:
    return next((row[column] for row in rows if row.get(column)), "")


def split_tracking(text: str) -> list[str]:
    """The tracking numbers of a comma-joined cell: stripped, empties dropped, in order, each once."""
    return list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


# --- what is still open, and the data check --------------------------------------------------------------------
def remaining_quantities(order: ErpOrder, item_code_for: Callable[[str], str],
                         earlier: Iterable[Mapping[str, int]]) -> dict[str, float]:
    """Per Peoplevox ItemCode of the order: its open quantity (ERP SKUs mapped by ``item_code_for``; lines of the
    same code summed) less what the order's earlier confirmed despatches took (``earlier``: ItemCode ->
    quantity each), never below zero. A line dropped in the ERP is on the order with nothing open; a line
    without a SKU cannot be despatched and is left out."""
    remaining: dict[str, float] = {}
    for line in order.lines:
        if line.sku:
            code = item_code_for(line.sku)
            remaining[code] = remaining.get(code, 0.0) + float(line.quantity)
    for taken in earlier:
        for code, quantity in taken.items():
            if code in remaining:
                remaining[code] -= float(quantity)
    return {code: max(quantity, 0.0) for code, quantity in remaining.items()}


def whole_order(remaining: Mapping[str, float], despatch: Despatch) -> bool:
    """The despatch takes exactly everything still open: every ItemCode with a positive remaining quantity, each
    in full, and nothing else. An order with nothing open is never taken whole."""
    still_open = {code: quantity for code, quantity in remaining.items() if quantity > 0}
    taken = {code: quantity for code, quantity in despatch.quantities().items() if quantity != 0}
    return bool(still_open) and taken.keys() == still_open.keys() and all(
        float(taken[code]) == float(quantity) for code, quantity in still_open.items())


def dispatch_frame_rows(despatch: Despatch, *, order_known: bool, order_cancelled: bool,
                        remaining: Mapping[str, float]) -> list[dict[str, Any]]:
    """The rows of the ``dispatch_confirmation`` check for one despatch: one per ItemCode it despatched.

    Columns: ``despatch``, ``item_code``, ``order_known`` / ``order_cancelled`` / ``on_order`` /
    ``has_tracking`` (1 or 0), ``quantity``, ``quantity_text`` (the quantity written out, so a fraction
    shows), ``remaining`` (still open on the order, 0 when the item is not on it). When the order is not
    known there is nothing to compare the lines with: they pass the line checks, so the despatch is held for the
    one reason that matters. A despatch without lines is one row that fails the line checks (nothing to
    confirm is not a despatch)."""
    flags = {"despatch": despatch.number, "order_known": int(order_known), "order_cancelled": int(order_cancelled),
             "has_tracking": int(any(t.strip() for t in despatch.tracking))}
    totals: dict[str, Any] = dict(despatch.quantities()) or {"": 0}
    rows: list[dict[str, Any]] = []
    for code, quantity in totals.items():
        if order_known:
            on_order = bool(code) and code in remaining
            left = float(remaining.get(code, 0.0)) if on_order else 0.0
        else:
            on_order, left = True, float(quantity)
        rows.append({**flags, "item_code": code, "on_order": int(on_order), "quantity": quantity,
                     "quantity_text": _quantity_text(quantity), "remaining": left})
    return rows


def _quantity_text(quantity: float) -> str:
    if isinstance(quantity, float) and quantity.is_integer():
        return str(int(quantity))
    return str(quantity)


def blocking(categories: Iterable[str]) -> bool:
    """Whether failures of these categories hold the confirmation: every category does except
    ``despatch_without_tracking`` (the goods left; tracking may follow). An unnamed category blocks."""
    return any(category not in NON_BLOCKING for category in categories)
