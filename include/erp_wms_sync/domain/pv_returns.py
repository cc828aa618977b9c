"""What Peoplevox says about returned goods, read from the "Return summary" report (the safety net) and from its
``Returns`` callbacks, and whether the goods may be sold again.

- :class:`PeoplevoxReturn` / :class:`ReturnLine` / :func:`returns_from_report`: the report (one row per
  returned line) grouped by return code, each line judged sellable or not (:func:`is_sellable`, with
  :data:`DEFAULT_SELLABLE_CONDITIONS` unless the integration names its own); :func:`returns_report_clause`
  asks for the returns since a moment.
- :class:`ReturnNotice` / :func:`return_notice_from_callback`: one ``Returns`` callback (its subscription is
  among :data:`erp_wms_sync.domain.stock_movements.STOCK_EVENTS`); it names a line, not the whole return.

A return is never read from a partial view: when one of its rows cannot be read, every row of it is a
:class:`~erp_wms_sync.domain.pv_reports.RowProblem`, and the other returns are still returned. Every datetime
here is naive UTC. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from erp_wms_sync.domain.despatches import NUMBER_MAX, wms_datetime, wms_zone
from erp_wms_sync.domain.pv_reports import (
    COL_ITEM,
    COL_ORDER,
    COL_QUANTITY,
    COL_SITE,
    MAX_REASONS,
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
from erp_wms_sync.domain.stock_movements import RETURNS, STOCK_REQUIRED

RETURN_REPORT = "Return summary"
COL_RETURN_CODE = "Return code"
COL_RETURN_DATE = "Return date"
COL_RETURN_REASON = "Return reason"
COL_CONDITION = "Return condition"
COL_REUSABLE = "Is Reusable"
COL_RETURN_COMMENTS = "Return comments"
RETURN_COLUMNS: tuple[str, ...] = (
    COL_RETURN_CODE, COL_RETURN_DATE, COL_QUANTITY, COL_ITEM, COL_ORDER, COL_RETURN_REASON, COL_CONDITION,
    COL_REUSABLE, COL_SITE, COL_RETURN_COMMENTS)

#: Return conditions (compared case-insensitively, spaces collapsed) whose goods may be sold again.
DEFAULT_SELLABLE_CONDITIONS: frozenset[str] = frozenset({"sellable", "resellable", "resaleable", "good", "as new"})
TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "0"})


@dataclass(frozen=True)
class ReturnLine:
    """One returned line. ``reusable`` is "Is Reusable" read as a boolean (None when empty); ``sellable`` is the
    verdict of :func:`is_sellable`."""

    item_code: str
    quantity: int
    condition: str
    reusable: bool | None
    sellable: bool
    reason: str = ""
    comments: str = ""


@dataclass(frozen=True)
class PeoplevoxReturn:
    """One Peoplevox return (a return code) of one sales order at one site, with its lines in report order."""

    code: str
    sales_order: str  # "" when the return names no order
    returned_at: datetime  # naive UTC; the earliest Return date of its lines
    site: str
    lines: tuple[ReturnLine, ...]

    def quantities(self, *, sellable: bool | None = None) -> dict[str, int]:
        """ItemCode -> quantity returned (only sellable, or only unsellable, lines when ``sellable`` is given)."""
        totals: dict[str, int] = {}
        for line in self.lines:
            if sellable is None or line.sellable == sellable:
                totals[line.item_code] = totals.get(line.item_code, 0) + line.quantity
        return totals


@dataclass(frozen=True)
class ReturnNotice:
    """One ``Returns`` callback: a line of a return was received. The report is the whole truth."""

    return_code: str
    sales_order: str
    item_code: str
    quantity: int | None
    condition: str
    sellable: bool  # the condition alone judged by :func:`is_sellable`
    site: str
    reason: str
    returned_at: datetime | None  # naive UTC


def is_sellable(condition: str, reusable: bool | None,
                sellable_conditions: Collection[str] = DEFAULT_SELLABLE_CONDITIONS) -> bool:
    """Whether returned goods may be sold again. "Is Reusable" false always says no. Otherwise a condition in
    ``sellable_conditions`` (case-insensitive, spaces collapsed) says yes; an empty condition defers to "Is
    Reusable" being true; any other condition (``Damaged``, an unknown grade) says no. When in doubt, not
    sellable: goods wrongly kept out of stock are found on a count, goods wrongly sold are not."""
    if reusable is False:
        return False
    grade = _grade(condition)
    if grade:
        return grade in {_grade(name) for name in sellable_conditions}
    return reusable is True


# --- the Return summary report ---------------------------------------------------------------------------------
def returns_from_report(rows: Iterable[Mapping[str, Any]], wms_timezone: str,
                        sellable_conditions: Collection[str] = DEFAULT_SELLABLE_CONDITIONS,
                        ) -> tuple[list[PeoplevoxReturn], list[RowProblem]]:
    """The returns of "Return summary" rows (one row per returned line) grouped by Return code, in order of first
    appearance, and the rows that cannot be read.

    A row needs an Item code, a Quantity that is a positive whole number, a Return date that is a date, and an
    "Is Reusable" that is empty or a yes/no word. A return is never read from a partial view: when one of its
    rows is bad, every row of it is a problem (the good ones say which row held them back). So is a return
    listed for two orders or two sites, or with a code or order longer than the ledger keeps.
    :class:`~erp_wms_sync.domain.pv_reports.BadReport` when the report has no Return code column."""
    wms_zone(wms_timezone)
    groups: dict[str, list[tuple[int, dict[str, str], list[str]]]] = {}
    problems: list[RowProblem] = []
    for position, row in read_rows(rows, RETURN_REPORT, COL_RETURN_CODE):
        code = row.get(COL_RETURN_CODE, "")
        if not code:
            problems.append(row_problem(RETURN_REPORT, position, row, COL_RETURN_CODE,
                                        [f"has no {COL_RETURN_CODE}"]))
            continue
        groups.setdefault(code, []).append((position, row, _return_row_problems(row, wms_timezone)))
    found: list[PeoplevoxReturn] = []
    for code, members in groups.items():
        whole = _return_group_problems(code, [row for _, row, _ in members])
        bad = [position for position, _, reasons in members if reasons]
        if not whole and not bad:
            found.append(_return(code, [row for _, row, _ in members], wms_timezone, sellable_conditions))
            continue
        for position, row, reasons in members:
            held = (reasons or [f"is held back with return {code[:NUMBER_MAX]}: row(s) "
                                f"{', '.join(map(str, bad[:MAX_REASONS]))} of it cannot be read"]) if bad else []
            problems.append(row_problem(RETURN_REPORT, position, row, COL_RETURN_CODE, whole + held))
    problems.sort(key=lambda p: p.position)
    return found, problems


def returns_report_clause(since: datetime, wms_timezone: str) -> str:
    """The GetReportData search clause for returns at or after ``since`` (naive = UTC), in WMS local time."""
    return since_clause(COL_RETURN_DATE, since, wms_timezone)


def _grade(condition: str) -> str:
    return " ".join(condition.split()).casefold()


def _boolean(text: str) -> bool | None:
    """"Is Reusable" as a boolean; None when empty. ``ValueError`` for any other word."""
    word = text.strip().casefold()
    if not word:
        return None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(word)


def _return_row_problems(row: Mapping[str, str], wms_timezone: str) -> list[str]:
    reasons: list[str] = []
    required_cell(row, COL_ITEM, reasons)
    quantity = whole_cell(row, COL_QUANTITY, reasons)
    if quantity is not None and quantity <= 0:
        reasons.append(f"has {COL_QUANTITY} {quantity}, not a positive whole number")
    date_cell(row, COL_RETURN_DATE, wms_timezone, reasons, required=True)
    try:
        _boolean(row.get(COL_REUSABLE, ""))
    except ValueError:
        reasons.append(f"has {COL_REUSABLE} {row[COL_REUSABLE][:20]!r}, not True or False")
    return reasons


def _return_group_problems(code: str, rows: Sequence[Mapping[str, str]]) -> list[str]:
    """Why the rows of one return code cannot be one return, whatever each row says (phrased for each row)."""
    reasons: list[str] = []
    if len(code) > NUMBER_MAX:
        reasons.append(f"has a {COL_RETURN_CODE} longer than {NUMBER_MAX} characters")
    orders = _distinct(rows, COL_ORDER)
    if any(len(order) > NUMBER_MAX for order in orders):
        reasons.append(f"belongs to a return with a {COL_ORDER} longer than {NUMBER_MAX} characters")
    for column, what in ((COL_ORDER, "order"), (COL_SITE, "site")):
        values = _distinct(rows, column)
        if len(values) > 1:
            reasons.append(f"belongs to return {code[:NUMBER_MAX]}, listed for more than one {what} "
                           f"({', '.join(v[:NUMBER_MAX] for v in values[:5])})")
    return reasons


def _distinct(rows: Iterable[Mapping[str, str]], column: str) -> list[str]:
    return list(dict.fromkeys(row[column] for row in rows if row.get(column)))


def _return(code: str, rows: Sequence[Mapping[str, str]], wms_timezone: str,
            sellable_conditions: Collection[str]) -> PeoplevoxReturn:
    """A return from rows already known to be good."""
    lines: list[ReturnLine] = []
    for row in rows:
        condition, reusable = row.get(COL_CONDITION, ""), _boolean(row.get(COL_REUSABLE, ""))
        lines.append(ReturnLine(
            item_code=row[COL_ITEM], quantity=int(row[COL_QUANTITY].split(".")[0]), condition=condition,
            reusable=reusable, sellable=is_sellable(condition, reusable, sellable_conditions),
            reason=row.get(COL_RETURN_REASON, ""), comments=row.get(COL_RETURN_COMMENTS, "")))
    dates = [wms_datetime(row[COL_RETURN_DATE], wms_timezone) for row in rows]
    orders, sites = _distinct(rows, COL_ORDER), _distinct(rows, COL_SITE)
    return PeoplevoxReturn(code=code, sales_order=orders[0] if orders else "", returned_at=min(dates),
                           site=sites[0] if sites else "", lines=tuple(lines))


# --- the Returns callback --------------------------------------------------------------------------------------
def return_notice_from_callback(event_type: str, body: str, wms_timezone: str,
                                sellable_conditions: Collection[str] = DEFAULT_SELLABLE_CONDITIONS) -> ReturnNotice:
    """The notice a stored ``Returns`` callback carries (parameter names as in
    :data:`erp_wms_sync.domain.stock_movements.STOCK_FIELDS`).

    :class:`~erp_wms_sync.domain.pv_reports.BadStockEvent` names what is wrong: another event type, no ReturnCode
    (or its placeholder), a code or order longer than the ledger keeps, a Quantity that is not a positive whole
    number, a ReturnDate that is not a date."""
    if event_type != RETURNS:
        raise BadStockEvent(f"event type {event_type[:64]!r} is not the Peoplevox {RETURNS} event")
    fields = callback_fields(event_type, body, STOCK_REQUIRED[event_type])
    code = fields["ReturnCode"]
    for name in ("ReturnCode", "SalesOrderNumber"):
        if len(fields.get(name, "")) > NUMBER_MAX:
            raise BadStockEvent(f"{RETURNS} callback: {name} is longer than {NUMBER_MAX} characters")
    what = f"{RETURNS} callback for return {code}"
    quantity = callback_integer(fields, "Quantity", what)
    if quantity is not None and quantity <= 0:
        raise BadStockEvent(f"{what}: Quantity {quantity} is not a positive whole number")
    condition = fields.get("Condition", "")
    return ReturnNotice(
        return_code=code, sales_order=fields.get("SalesOrderNumber", ""), item_code=fields.get("ItemCode", ""),
        quantity=quantity, condition=condition, sellable=is_sellable(condition, None, sellable_conditions),
        site=fields.get("Site", ""), reason=fields.get("Reason", ""),
        returned_at=callback_date(fields, "ReturnDate", wms_timezone, what))
