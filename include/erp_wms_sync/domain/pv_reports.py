"""The pieces every reader of Peoplevox stock and returns data shares: how a report row is cleaned, judged and
named when it cannot be read, and how a stock or returns callback's fields are read.

Readers built on them: :mod:`erp_wms_sync.domain.stock_movements` (movements and stock callbacks),
:mod:`erp_wms_sync.domain.pv_returns` (returns) and :mod:`erp_wms_sync.domain.stock_levels` (stock levels).

- :class:`RowProblem`: a report row that cannot be read, naming the row and why; :func:`held_pairs` names the
  SKU × site pairs such rows leave incomplete. :class:`BadReport`: a report without its key column.
- :func:`read_rows`, :func:`row_problem` and the cell readers (:func:`required_cell`, :func:`whole_cell`,
  :func:`date_cell`) let each reader be strict about shape without dropping a row in silence.
- :func:`since_clause`: a GetReportData search clause for rows at or after a moment, in WMS local time.
- :class:`BadStockEvent` and :func:`callback_fields` / :func:`callback_integer` / :func:`callback_date`: the
  reading of a stored ``IncrementalChanges``, ``AvailabilityChanges`` or ``Returns`` callback.

Peoplevox writes local times of the warehouse's time zone (an IANA name from the integration settings); every
datetime here is naive UTC. Time zone and date reading come from :mod:`erp_wms_sync.domain.despatches`, so
despatches, stock and returns read dates alike. Pure; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from erp_wms_sync.domain.despatches import _unquote, wms_datetime, wms_zone

# Columns several reports share.
COL_ITEM = "Item code"
COL_SITE = "Site reference"
COL_QUANTITY = "Quantity"
COL_ORDER = "Sales order number"

WHOLE = re.compile(r"^[+-]?[0-9]{1,12}(\.0+)?$")
MAX_REASONS = 10  # reasons named in one RowProblem


class BadReport(ValueError):
    """A report that lacks its key column: none of its rows can be named, so none is read."""


class BadStockEvent(ValueError):
    """A stock or returns callback that cannot be read; the message names the event and the field."""


@dataclass(frozen=True)
class RowProblem:
    """A report row that cannot be read. ``position`` counts data rows from 1; ``key`` is the row's key column
    as given ("" when empty); ``item_code`` / ``site`` say which SKU × site the row was about, when it says,
    so a consumer can hold that pair rather than act on a partial view."""

    report: str
    position: int
    key: str
    item_code: str
    site: str
    reason: str
    row: dict[str, str]


def held_pairs(problems: Iterable[RowProblem]) -> set[tuple[str, str]]:
    """The (ItemCode, site) pairs named by unreadable rows: a consumer that advances a watermark per pair must
    hold these, or a later good movement would carry the watermark past the one it could not read. A problem
    row without an Item code names no pair; whether to hold everything then is the consumer's call."""
    return {(problem.item_code, problem.site) for problem in problems if problem.item_code}


# --- report rows -----------------------------------------------------------------------------------------------
def read_rows(rows: Iterable[Mapping[str, Any]], report: str, key: str) -> list[tuple[int, dict[str, str]]]:
    """(position, cleaned row) for each row; :class:`BadReport` when the first row has no ``key`` column."""
    table = [(position, clean_row(raw)) for position, raw in enumerate(rows, start=1)]
    if table and key not in table[0][1]:
        columns = ", ".join(sorted(table[0][1])[:12])
        raise BadReport(f"the {report!r} report has no {key!r} column (columns: {columns or 'none'})")
    return table


def clean_row(raw: Mapping[Any, Any]) -> dict[str, str]:
    """A report row with text keys (``[Item code]`` read as ``Item code``) and text values (cells stripped, the
    single quotes Peoplevox puts around dates removed, non-text cells empty)."""
    row: dict[str, str] = {}
    for name, value in raw.items():
        if isinstance(name, str):
            text = value.strip() if isinstance(value, str) else ""
            row[name.strip().strip("[]")] = _unquote(text).strip()
    return row


def row_problem(report: str, position: int, row: dict[str, str], key: str, reasons: list[str]) -> RowProblem:
    """The problem of one row: its reasons once each, at most :data:`MAX_REASONS` named."""
    unique = list(dict.fromkeys(reasons))
    reason = "; ".join(unique[:MAX_REASONS])
    if len(unique) > MAX_REASONS:
        reason += f"; and {len(unique) - MAX_REASONS} more"
    return RowProblem(report, position, row.get(key, ""), row.get(COL_ITEM, ""), row.get(COL_SITE, ""),
                      f"row {position} {reason}", row)


def required_cell(row: Mapping[str, str], column: str, reasons: list[str]) -> str:
    """The cell of ``column``; a reason when it is empty or missing."""
    value = row.get(column, "")
    if not value:
        reasons.append(f"has no {column}")
    return value


def whole_cell(row: Mapping[str, str], column: str, reasons: list[str]) -> int | None:
    """A whole number as Peoplevox writes them (``3``, ``-2``, ``3.0``); a reason when missing or another form."""
    text = row.get(column, "")
    if not text:
        reasons.append(f"has no {column}")
        return None
    if not WHOLE.match(text):
        reasons.append(f"has {column} {text[:20]!r}, not a whole number")
        return None
    return int(text.split(".")[0])


def date_cell(row: Mapping[str, str], column: str, wms_timezone: str, reasons: list[str], *,
              required: bool) -> datetime | None:
    """The cell of ``column`` as naive UTC; a reason when it is not a date (or empty and ``required``)."""
    text = row.get(column, "")
    if not text:
        if required:
            reasons.append(f"has no {column}")
        return None
    try:
        return wms_datetime(text, wms_timezone)
    except ValueError:
        reasons.append(f"has {column} {text[:40]!r}, not a date")
        return None


def since_clause(column: str, since: datetime, wms_timezone: str) -> str:
    """The GetReportData search clause for rows whose ``column`` is at or after ``since`` (naive = UTC), in WMS
    local time: ``([Date timestamp] >= DateTime(2026,12,03,09,15,00))``."""
    moment = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    local = moment.astimezone(wms_zone(wms_timezone))
    return f"([{column}] >= DateTime({local:%Y,%m,%d,%H,%M,%S}))"


# --- callbacks -------------------------------------------------------------------------------------------------
def callback_fields(event_type: str, body: str, required: Collection[str]) -> dict[str, str]:
    """Parameter name -> value of a stored callback (stripped; an unfilled optional ``{Placeholder}`` is empty).

    :class:`BadStockEvent` when a parameter is given twice with different values, or a ``required`` one is
    missing, empty or still holds its placeholder."""
    fields: dict[str, str] = {}
    for name, values in parse_qs(body, keep_blank_values=True).items():
        distinct = {value.strip() for value in values}
        if len(distinct) > 1:
            raise BadStockEvent(f"{event_type} callback: field {name[:64]} is given {len(values)} times with "
                                "different values")
        fields[name] = distinct.pop()
    for name in required:
        value = fields.get(name, "")
        if _placeholder(value):
            raise BadStockEvent(f"{event_type} callback: required field {name} still holds the placeholder "
                                f"{value[:40]} (Peoplevox did not fill it in)")
        if not value:
            raise BadStockEvent(f"{event_type} callback: required field {name} is missing or empty")
    return {name: "" if _placeholder(value) else value for name, value in fields.items()}


def _placeholder(value: str) -> bool:
    return len(value) >= 2 and value.startswith("{") and value.endswith("}")


def callback_integer(fields: Mapping[str, str], name: str, what: str) -> int | None:
    """Field ``name`` as a whole number, None when empty; :class:`BadStockEvent` (naming ``what``) otherwise."""
    text = fields.get(name, "")
    if not text:
        return None
    if not WHOLE.match(text):
        raise BadStockEvent(f"{what}: {name} {text[:20]!r} is not a whole number")
    return int(text.split(".")[0])


def callback_date(fields: Mapping[str, str], name: str, wms_timezone: str, what: str) -> datetime | None:
    """Field ``name`` as naive UTC, None when empty; :class:`BadStockEvent` (naming ``what``) when not a date."""
    text = fields.get(name, "")
    if not text:
        return None
    try:
        return wms_datetime(text, wms_timezone)
    except ValueError as exc:
        raise BadStockEvent(f"{what}: {name} {exc}") from None
