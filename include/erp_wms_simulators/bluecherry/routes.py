"""BlueCherry API resources served by the simulator (designed contract, see the package docstring):
``/styles``, ``/styles/{style}``, ``/skus``, ``/warehouses`` here; orders, pick tickets and shipments in
:mod:`~erp_wms_simulators.bluecherry.order_routes`; inventory, adjustments, returns and credit memos in
:mod:`~erp_wms_simulators.bluecherry.stock_routes`. Lists are paged with ``page`` / ``pageSize`` and answer
``{"data": [...], "page": p, "pageSize": n, "total": N}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request

from erp_wms_simulators.bluecherry.catalog import STATUSES, render, style_summary
from erp_wms_simulators.bluecherry.listing import paged
from erp_wms_simulators.bluecherry.order_routes import order_router
from erp_wms_simulators.bluecherry.settings import BlueCherrySettings
from erp_wms_simulators.bluecherry.state import BlueCherryState
from erp_wms_simulators.bluecherry.stock_routes import stock_router
from erp_wms_simulators.common import CaseInsensitiveQuery, SimError, parse_iso_datetime


def api_router(state: BlueCherryState, settings: BlueCherrySettings) -> APIRouter:
    router = APIRouter()

    @router.get("/styles")
    def list_styles(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        keep = _filters(query, ("division", "season", "status"))
        with state.lock:
            rows = [style_summary(s) for _, s in sorted(state.styles.items()) if keep(s)]
        return paged(query, settings, rows)

    @router.get("/styles/{style}")
    def get_style(style: str) -> dict[str, Any]:
        with state.lock:
            record = state.styles.get(style)
            if record is None:
                raise SimError(404, f"Style '{style}' was not found.", "not_found")
            return {**style_summary(record), "skus": [render(row) for row in state.style_skus(style)]}

    @router.get("/skus")
    def list_skus(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        keep = _filters(query, ("style", "division", "season", "status", "upc"))
        rows = [render(row) for row in state.skus() if keep(row)]
        return paged(query, settings, rows)

    @router.get("/warehouses")
    def list_warehouses(request: Request) -> dict[str, Any]:
        with state.lock:
            rows = [dict(w) for _, w in sorted(state.warehouses.items())]
        return paged(CaseInsensitiveQuery.of(request), settings, rows)

    router.include_router(order_router(state, settings))
    router.include_router(stock_router(state, settings))
    return router


def _filters(query: CaseInsensitiveQuery, exact: Sequence[str]) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate for ``updatedSince`` (updatedAt >= value) and exact-match fields given in the query."""
    since_text = query.get("updatedSince")
    try:
        since: datetime | None = parse_iso_datetime(since_text) if since_text else None
    except ValueError as exc:
        raise SimError(400, f"updatedSince: {exc}", "bad_request") from None
    wanted = {name: value for name in exact if (value := query.get(name))}
    status = wanted.get("status")
    if status is not None and status.upper() not in STATUSES:
        raise SimError(400, f"status must be one of {', '.join(STATUSES)}.", "bad_request")

    def keep(record: Mapping[str, Any]) -> bool:
        if since is not None and record["updatedAt"] < since:
            return False
        return all(str(record.get(name, "")).upper() == value.upper() for name, value in wanted.items())

    return keep
