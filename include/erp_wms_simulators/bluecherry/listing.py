"""Listing and write helpers shared by the BlueCherry API routes: one page of rows in the
``{"data": [...], "page", "pageSize", "total"}`` envelope, exact-match query filters, the filtered listing
of a kind of record (:func:`listed`, served by :class:`ListRoutes`), and the 201-or-200 answer of an
idempotent write (:func:`written`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from erp_wms_simulators.bluecherry.records import since_filter, status_filter
from erp_wms_simulators.bluecherry.settings import BlueCherrySettings
from erp_wms_simulators.bluecherry.state import BlueCherryState
from erp_wms_simulators.common import CaseInsensitiveQuery, SimError, json_response, page_of, parse_int


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


@dataclass(frozen=True)
class ListRoutes:
    """Adds ``GET`` routes to ``router`` that each answer :func:`listed` over one kind of record."""

    router: APIRouter
    state: BlueCherryState
    settings: BlueCherrySettings

    def add(self, path: str, records: Callable[[], Iterable[Mapping[str, Any]]], render_row: Callable[[Any], Any],
            *, exact: Sequence[str], statuses: Iterable[str] | None = None) -> None:
        def list_records(request: Request) -> dict[str, Any]:
            return listed(self.state, self.settings, request, records, render_row, exact=exact, statuses=statuses)

        self.router.add_api_route(path, list_records, methods=["GET"])


def listed(state: BlueCherryState, settings: BlueCherrySettings, request: Request,
           records: Callable[[], Iterable[Mapping[str, Any]]], render_row: Callable[[Any], Any], *,
           exact: Sequence[str], statuses: Iterable[str] | None = None) -> dict[str, Any]:
    """One page of ``records()`` filtered by the request's ``status`` (when ``statuses`` are given),
    ``updatedSince`` and ``exact`` fields; the records are read and rendered under the state's lock."""
    query = CaseInsensitiveQuery.of(request)
    checks = [] if statuses is None else [status_filter(query.get("status"), statuses)]
    checks += [since_filter(query.get("updatedSince")), exact_filter(query, exact)]
    with state.lock:
        rows = [record for record in records() if all(check(record) for check in checks)]
        return paged(query, settings, rows, render_row)


def written(state: BlueCherryState, outcome: tuple[Any, bool], render_record: Callable[[Any], Any]
            ) -> JSONResponse:
    """The answer to an idempotent write ``outcome`` = (record, created): 201 when it created the record,
    200 when it found an earlier one; the record is rendered under the state's lock."""
    record, created = outcome
    with state.lock:
        return json_response(render_record(record), 201 if created else 200)
