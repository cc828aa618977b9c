"""BlueCherry stock and return routes (designed contract):

- ``GET  /inventory?warehouse=&division=&sku=&style=&updatedSince=`` → rows ``{sku, style, color, size,
  division, warehouse, onHand, allocated, picked, available, onOrder, wip, quarantine, updatedAt}``;
- ``POST /inventory/adjustments`` (idempotent on ``reference``) → 201 / 200, and
  ``GET /inventory/adjustments?updatedSince=&reference=&warehouse=``;
- ``POST /returns`` (an RA) → 201 / 200, ``GET /returns?status=&updatedSince=&orderNumber=``,
  ``GET /returns/{raNumber}``, ``POST /returns/{raNumber}/receive`` → 201 (a repeated reference: 200);
- ``GET  /creditMemos?updatedSince=&raNumber=&orderNumber=``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from erp_wms_simulators.bluecherry.adjustments import post_adjustment
from erp_wms_simulators.bluecherry.listing import exact_filter, paged
from erp_wms_simulators.bluecherry.records import RETURN_STATUSES, since_filter, status_filter, to_json
from erp_wms_simulators.bluecherry.returns import authorise_return, find_return, receive_return
from erp_wms_simulators.bluecherry.settings import BlueCherrySettings
from erp_wms_simulators.bluecherry.state import BlueCherryState
from erp_wms_simulators.bluecherry.stock import render_row
from erp_wms_simulators.common import CaseInsensitiveQuery, json_response, read_json


def stock_router(state: BlueCherryState, settings: BlueCherrySettings) -> APIRouter:
    router = APIRouter()

    @router.get("/inventory")
    def list_inventory(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        checks = [since_filter(query.get("updatedSince")),
                  exact_filter(query, ("warehouse", "division", "sku", "style"))]
        with state.lock:
            rows = [row for row in state.book.stock.sorted_rows() if all(check(row) for check in checks)]
            return paged(query, settings, rows, render_row)

    @router.post("/inventory/adjustments")
    async def create_adjustment(request: Request) -> JSONResponse:
        adjustment, created = post_adjustment(state, await read_json(request))
        with state.lock:
            return json_response(to_json(adjustment), 201 if created else 200)

    @router.get("/inventory/adjustments")
    def list_adjustments(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        checks = [since_filter(query.get("updatedSince")), exact_filter(query, ("reference", "warehouse"))]
        with state.lock:
            rows = [a for a in state.book.adjustments.values() if all(check(a) for check in checks)]
            return paged(query, settings, rows, to_json)

    @router.post("/returns")
    async def create_return(request: Request) -> JSONResponse:
        ra, created = authorise_return(state, await read_json(request))
        with state.lock:
            return json_response(to_json(ra), 201 if created else 200)

    @router.get("/returns")
    def list_returns(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        checks = [status_filter(query.get("status"), RETURN_STATUSES), since_filter(query.get("updatedSince")),
                  exact_filter(query, ("orderNumber", "warehouse"))]
        with state.lock:
            rows = [ra for ra in state.book.returns.values() if all(check(ra) for check in checks)]
            return paged(query, settings, rows, to_json)

    @router.get("/returns/{ra_number}")
    def get_return(ra_number: str) -> Any:
        with state.lock:
            return to_json(find_return(state, ra_number))

    @router.post("/returns/{ra_number}/receive")
    async def receive(ra_number: str, request: Request) -> JSONResponse:
        body = await read_json(request) if (await request.body()).strip() else {}
        ra, created = receive_return(state, ra_number, body)
        with state.lock:
            return json_response(to_json(ra), 201 if created else 200)

    @router.get("/creditMemos")
    def list_credit_memos(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        checks = [since_filter(query.get("updatedSince")), exact_filter(query, ("raNumber", "orderNumber"))]
        with state.lock:
            rows = [memo for memo in state.book.credit_memos.values() if all(check(memo) for check in checks)]
            return paged(query, settings, rows, to_json)

    return router
