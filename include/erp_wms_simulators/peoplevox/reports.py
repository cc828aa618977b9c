"""GetReportData helpers: column selection, filtering and ordering of a report's rows.

Report requests name columns by their display names, with or without brackets
(``[Salesorder number],[Despatch date]`` or ``Salesorder number,Carrier``); no ``Columns`` means every
column. ``SearchClause`` and ``FilterClause`` are both search clauses and must both match.
``OrderBy`` is a comma-separated list of columns, each optionally followed by ``ASC`` or ``DESC``.
:func:`render_page` writes a page and, for a ``malformed_report_rows`` fault, corrupts one of its rows:
alternately a row with one cell too few, and a row whose first date cannot be parsed.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from erp_wms_simulators.peoplevox.csvdata import write_cells
from erp_wms_simulators.peoplevox.search import DATE_FORMATS, compile_clause, evaluate
from erp_wms_simulators.peoplevox.templates import ReportSpec, Row

MALFORMED_DATE = "'31/02/2024 25:61:00'"

if TYPE_CHECKING:
    from erp_wms_simulators.peoplevox.state import Tenant


class ReportRequestError(ValueError):
    """Columns or OrderBy name something the report does not have."""


def _names(spec: str | None, *, brackets: bool = False) -> list[str]:
    """Comma-separated names; brackets around each are removed unless ``brackets`` is set."""
    if not spec or not spec.strip():
        return []
    cells = [cell.strip() for cell in next(csv.reader(io.StringIO(spec)), []) if cell.strip()]
    return cells if brackets else [cell.strip("[]").strip() for cell in cells]


def _canonical(report: ReportSpec, name: str) -> str:
    by_lower = {column.lower(): column for column in report.columns}
    column = by_lower.get(name.lower())
    if column is None:
        raise ReportRequestError(f"Column '{name}' is not a column of report '{report.name}'")
    return column


def select_columns(report: ReportSpec, columns: str | None) -> tuple[str, ...]:
    names = _names(columns)
    return tuple(_canonical(report, name) for name in names) if names else report.columns


def _sort_value(raw: str) -> tuple[int, object]:
    text = raw.strip().strip("'")
    try:
        return (0, Decimal(text))
    except InvalidOperation:
        pass
    for fmt in DATE_FORMATS:
        try:
            return (1, datetime.strptime(text, fmt))
        except ValueError:
            continue
    return (2, text.casefold())


def _order(report: ReportSpec, rows: list[Row], order_by: str | None) -> list[Row]:
    for term in reversed(_names(order_by, brackets=True)):
        direction = "ASC"
        if term.upper().endswith((" ASC", " DESC")):
            term, direction = term.rsplit(" ", 1)
        column = _canonical(report, term.strip().strip("[]").strip())
        rows = sorted(rows, key=lambda row: _sort_value(row.get(column, "")),
                      reverse=direction.upper() == "DESC")
    return rows


def matching_rows(report: ReportSpec, tenant: Tenant, search_clause: str | None,
                  filter_clause: str | None, order_by: str | None) -> list[Row]:
    """Every report row matching both clauses, in the requested order."""
    search = compile_clause(search_clause, report.columns)
    filters = compile_clause(filter_clause, report.columns)
    rows = [row for row in report.rows(tenant) if evaluate(search, row) and evaluate(filters, row)]
    return _order(report, rows, order_by)


def _is_date(value: str) -> bool:
    return value.startswith("'") and value.endswith("'") and _sort_value(value)[0] == 1


def _corrupt(cells: list[str], variant: int) -> list[str]:
    """Odd variants drop the last cell (or add one to a one-column row); even ones garble a date."""
    if variant % 2 == 0:
        for index, value in enumerate(cells):
            if _is_date(value):
                return cells[:index] + [MALFORMED_DATE] + cells[index + 1:]
    return cells[:-1] if len(cells) > 1 else cells + ["unexpected"]


def render_page(columns: tuple[str, ...], page: list[Row], corruption: int = 0) -> str:
    """The CSV of one page; ``corruption`` > 0 damages row ``(corruption - 1) % len(page)``."""
    rows = [[row.get(column, "") or "" for column in columns] for row in page]
    if corruption > 0 and rows:
        index = (corruption - 1) % len(rows)
        rows[index] = _corrupt(rows[index], corruption)
    return write_cells(columns, rows)
