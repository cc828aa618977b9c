"""CSV reading and writing in the shape Peoplevox uses inside ``Detail`` and ``CsvData``.

Output: a header line, then one line per row, CRLF between lines and no trailing line break, standard
quoting (fields holding a comma, quote or line break are quoted). Input is read leniently: leading blank
lines, blank lines between rows, LF or CRLF line ends and a UTF-8 byte-order mark are all accepted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

LINE_END = "\r\n"


@dataclass(frozen=True)
class CsvTable:
    """A parsed CSV document: the header cells and each non-blank data row with its 1-based line number."""

    header: list[str]
    rows: list[tuple[int, list[str]]]


def write_csv(columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> str:
    """Render ``rows`` (column -> value) under ``columns``; missing values become empty cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=LINE_END)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(column, "") or "" for column in columns])
    return buffer.getvalue().removesuffix(LINE_END)


def write_cells(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Like :func:`write_csv` for rows already laid out as lists of cells (which may be ragged)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=LINE_END)
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue().removesuffix(LINE_END)


def read_csv(text: str) -> CsvTable:
    """Parse CSV text; the first non-blank line is the header. An empty document has an empty header."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        if not header:
            header = [cell.strip() for cell in cells]
            continue
        rows.append((reader.line_num, cells))
    return CsvTable(header, rows)
