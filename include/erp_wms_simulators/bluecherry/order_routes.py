"""BlueCherry order routes (designed contract):

- ``POST /orders`` → 201 with the order, or 200 with the existing one for a known customerPo + division;
- ``GET  /orders?status=&updatedSince=&customerPo=&division=&customer=&warehouse=`` and
  ``GET /orders/{orderNumber}``;
- ``POST /orders/{orderNumber}/cancel`` (body ``{"reason"}`` optional) → 200, or 409 once shipped;
- ``POST /orders/{orderNumber}/wmsStatus`` (body ``{"wmsStatus": "<text>"}``) → 200 with the order;
- ``GET  /pickTickets?orderNumber=&status=&updatedSince=``;
- ``GET  /shipments?updatedSince=&orderNumber=``, ``GET /shipments/{shipmentNumber}``, and
  ``POST /shipments`` (a despatch confirmed from the WMS; idempotent on ``reference``) → 201 / 200.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from erp_wms_simulators.bluecherry.fulfilment import find_shipment, post_shipment
from erp_wms_simulators.bluecherry.lifecycle import find_order
from erp_wms_simulators.bluecherry.listing import ListRoutes, written
from erp_wms_simulators.bluecherry.orders import cancel_order, create_order, render_order, set_wms_status
from erp_wms_simulators.bluecherry.records import ORDER_STATUSES, Rejected, to_json
from erp_wms_simulators.bluecherry.settings import BlueCherrySettings
from erp_wms_simulators.bluecherry.state import BlueCherryState
from erp_wms_simulators.common import read_json

TICKET_STATUSES = ("PRINTED", "PICKING", "PARTIALLY_SHIPPED", "SHIPPED", "CANCELLED")


def order_router(state: BlueCherryState, settings: BlueCherrySettings) -> APIRouter:
    router = APIRouter()
    lists = ListRoutes(router, state, settings)

    @router.post("/orders")
    async def post_order(request: Request) -> JSONResponse:
        return written(state, create_order(state, await read_json(request)), render_order)

    lists.add("/orders", lambda: state.book.orders.values(), render_order,
              exact=("customerPo", "division", "customer", "warehouse"), statuses=ORDER_STATUSES)

    @router.get("/orders/{number}")
    def get_order(number: str) -> dict[str, Any]:
        with state.lock:
            return render_order(find_order(state, number))

    @router.post("/orders/{number}/cancel")
    async def cancel(number: str, request: Request) -> dict[str, Any]:
        body = await read_json(request) if (await request.body()).strip() else {}
        reason = str(body.get("reason") or "") if isinstance(body, dict) else ""
        order = cancel_order(state, number, reason)
        with state.lock:
            return render_order(order)

    @router.post("/orders/{number}/wmsStatus")
    async def wms_status(number: str, request: Request) -> dict[str, Any]:
        body = await read_json(request)
        text = body.get("wmsStatus") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise Rejected("The body must be {\"wmsStatus\": \"<text>\"}.")
        order = set_wms_status(state, number, text)
        with state.lock:
            return render_order(order)

    lists.add("/pickTickets", lambda: state.book.pick_tickets.values(), _render_ticket,
              exact=("orderNumber", "warehouse"), statuses=TICKET_STATUSES)
    lists.add("/shipments", lambda: state.book.shipments.values(), to_json, exact=("orderNumber", "warehouse"))

    @router.get("/shipments/{number}")
    def get_shipment(number: str) -> Any:
        with state.lock:
            return to_json(find_shipment(state, number))

    @router.post("/shipments")
    async def create_shipment(request: Request) -> JSONResponse:
        return written(state, post_shipment(state, await read_json(request)), to_json)

    return router


def _render_ticket(ticket: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = to_json(ticket)
    del out["picking"]
    return out
