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
from erp_wms_simulators.bluecherry.listing import ListRoutes, written
from erp_wms_simulators.bluecherry.records import RETURN_STATUSES, to_json
from erp_wms_simulators.bluecherry.returns import authorise_return, find_return, receive_return
from erp_wms_simulators.bluecherry.settings import BlueCherrySettings
from erp_wms_simulators.bluecherry.state import BlueCherryState
from erp_wms_simulators.bluecherry.stock import render_row
from erp_wms_simulators.common import read_json


def stock_router(state: BlueCherryState, settings: BlueCherrySettings) -> APIRouter:
    router = APIRouter()
    lists = ListRoutes(router, state, settings)
    lists.add("/inventory", lambda: state.book.stock.sorted_rows(), render_row,
              exact=("warehouse", "division", "sku", "style"))

    @router.post("/inventory/adjustments")
    async def create_adjustment(request: Request) -> JSONResponse:
        return written(state, post_adjustment(state, await read_json(request)), to_json)

    lists.add("/inventory/adjustments", lambda: state.book.adjustments.values(), to_json,
              exact=("reference", "warehouse"))

    @router.post("/returns")
    async def create_return(request: Request) -> JSONResponse:
        return written(state, authorise_return(state, await read_json(request)), to_json)

    lists.add("/returns", lambda: state.book.returns.values(), to_json, exact=("orderNumber", "warehouse"),
              statuses=RETURN_STATUSES)

    @router.get("/returns/{ra_number}")
    def get_return(ra_number: str) -> Any:
        with state.lock:
            return to_json(find_return(state, ra_number))

    @router.post("/returns/{ra_number}/receive")
    async def receive(ra_number: str, request: Request) -> JSONResponse:
        body = await read_json(request) if (await request.body()).strip() else {}
        return written(state, receive_return(state, ra_number, body), to_json)

    lists.add("/creditMemos", lambda: state.book.credit_memos.values(), to_json, exact=("raNumber", "orderNumber"))
    return router
