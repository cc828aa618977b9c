"""``/_sim`` admin routes for sales, stock and webhook events of the Cin7 Core simulator (no credentials,
no rate limit), so a scenario driver in another process can do what the state helpers do:

- ``GET  /_sim/sales``                  every ``/saleList`` row
- ``POST /_sim/sales``                  ``{"Customer", "Location", "Lines": [{SKU, Quantity}], "ExternalID"?,
  "Authorise"?: true, …header}`` → the full sale
- ``POST /_sim/sales/{id}/ship``        ``{"Lines"?: [{SKU, Quantity}], "TrackingNumber"?, "Carrier"?}``
- ``POST /_sim/sales/{id}/invoice``     ``{"Pay"?: false}``
- ``POST /_sim/sales/{id}/credit``      ``{"Restock": [{SKU, Quantity}], "Location"?}``
- ``POST /_sim/sales/{id}/void`` and ``POST /_sim/sales/{id}/undo``
- ``GET  /_sim/availability?sku=&location=``  one summed availability row (all rows without ``sku``)
- ``POST /_sim/stock``                  ``{"SKU", "Location", "OnHand", "UnitCost"?}`` sets on-hand directly
- ``GET  /_sim/stock/history?sku=&location=`` every recorded stock change of a product
- ``GET  /_sim/events?type=&limit=``    the latest events raised (whether or not a webhook listens)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from erp_wms_simulators.cin7core.availability import all_rows
from erp_wms_simulators.cin7core.state import Cin7CoreState
from erp_wms_simulators.common import CaseInsensitiveQuery, SimError, parse_int, read_json

EVENTS_DEFAULT = 100


def admin_sales_router(state: Cin7CoreState) -> APIRouter:
    router = APIRouter()

    @router.get("/sales")
    def list_sales() -> list[dict[str, Any]]:
        return state.sales()

    @router.post("/sales")
    async def create_sale(request: Request) -> dict[str, Any]:
        body = await _object(request)
        lines = body.pop("Lines", None)
        if not isinstance(lines, list):
            raise SimError(400, "Lines must be a list of {SKU, Quantity} objects.")
        header = {k: v for k, v in body.items() if k not in {"Customer", "Location", "ExternalID", "Authorise"}}
        return state.create_sale(str(body.get("Customer") or ""), str(body.get("Location") or ""), lines,
                                 body.get("ExternalID"), authorise=body.get("Authorise", True) is not False, **header)

    @router.post("/sales/{sale_id}/ship")
    async def ship(sale_id: str, request: Request) -> dict[str, Any]:
        body = await _object(request, optional=True)
        lines = body.get("Lines")
        if lines is not None and not isinstance(lines, list):
            raise SimError(400, "Lines must be a list of {SKU, Quantity} objects.")
        return state.ship(sale_id, lines, str(body.get("TrackingNumber") or ""), str(body.get("Carrier") or ""))

    @router.post("/sales/{sale_id}/invoice")
    async def invoice(sale_id: str, request: Request) -> dict[str, Any]:
        body = await _object(request, optional=True)
        return state.invoice_sale(sale_id, pay=body.get("Pay") is True)

    @router.post("/sales/{sale_id}/credit")
    async def credit(sale_id: str, request: Request) -> dict[str, Any]:
        body = await _object(request)
        restock = body.get("Restock")
        if not isinstance(restock, list):
            raise SimError(400, "Restock must be a list of {SKU, Quantity} objects.")
        return state.credit_sale(sale_id, restock, body.get("Location"))

    @router.post("/sales/{sale_id}/void")
    def void(sale_id: str) -> dict[str, Any]:
        return state.void_sale(sale_id)

    @router.post("/sales/{sale_id}/undo")
    def undo(sale_id: str) -> dict[str, Any]:
        return state.undo_sale(sale_id)

    _stock_routes(router, state)
    return router


def _stock_routes(router: APIRouter, state: Cin7CoreState) -> None:
    @router.get("/availability")
    def availability(request: Request) -> Any:
        query = CaseInsensitiveQuery.of(request)
        sku, location = query.get("sku"), query.get("location")
        if not sku:
            return all_rows(state)
        if not location:
            raise SimError(400, "location is required with sku.")
        return state.availability(sku, location)

    @router.post("/stock")
    async def set_stock(request: Request) -> dict[str, Any]:
        body = await _object(request)
        on_hand, cost = body.get("OnHand"), body.get("UnitCost")
        if isinstance(on_hand, bool) or not isinstance(on_hand, int | float):
            raise SimError(400, "OnHand must be a number.")
        if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int | float)):
            raise SimError(400, "UnitCost must be a number.")
        return state.set_stock(str(body.get("SKU") or ""), str(body.get("Location") or ""), float(on_hand),
                               None if cost is None else float(cost))

    @router.get("/stock/history")
    def history(request: Request) -> list[dict[str, Any]]:
        query = CaseInsensitiveQuery.of(request)
        return state.stock_history(query.get("sku") or "", query.get("location") or None)

    @router.get("/events")
    def published(request: Request) -> list[dict[str, Any]]:
        query = CaseInsensitiveQuery.of(request)
        try:
            limit = parse_int("limit", query.get("limit"), EVENTS_DEFAULT, 1, 10_000)
        except ValueError as exc:
            raise SimError(400, str(exc)) from None
        wanted = (query.get("type") or "").casefold()
        with state.lock:
            chosen = [(t, p) for t, p in state.published if not wanted or t.casefold() == wanted]
        return [{"EventType": t, "Payload": p} for t, p in chosen[-limit:]]


async def _object(request: Request, optional: bool = False) -> dict[str, Any]:
    if optional and not (await request.body()).strip():
        return {}
    body = await read_json(request)
    if not isinstance(body, dict):
        raise SimError(400, "The request body must be a JSON object.")
    return body
