"""Listing helpers shared by the BlueCherry API routes: one page of rows in the
``{"data": [...], "page", "pageSize", "total"}`` envelope, and exact-match query filters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from erp_wms_simulators.bluecherry.settings import BlueCherrySettings
from erp_wms_simulators.common import CaseInsensitiveQuery, SimError, page_of, parse_int


def paged(query: CaseInsensitiveQuery, settings: BlueCherrySettings, rows: Sequence[Any],
          render_row: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """One page of ``rows`` (only that page is rendered, with ``render_row`` when given)."""
    try:
        page = parse_int("page", query.get("page"), 1, 1)
        size = parse_int("pageSize", query.get("pageSize"), settings.default_page_size, 1,
                         settings.max_page_size)
    except ValueError as exc:
        raise SimError(400, str(exc), "bad_request") from None
    data = page_of(rows, page, size)
    if render_row is not None:
        data = [render_row(row) for row in data]
    return {"data": data, "page": page, "pageSize": size, "total": len(rows)}


def exact_filter(query: CaseInsensitiveQuery, names: Sequence[str]) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate: each of ``names`` given in the query equals the record's field (ignoring case)."""
    wanted = {name: value.strip().upper() for name in names if (value := query.get(name))}
    return lambda record: all(str(record.get(name, "")).upper() == value for name, value in wanted.items())
