"""``/_sim`` admin routes of the BlueCherry simulator (no key, no rate limit, no API validation):

- ``GET  /_sim/state``              counts and current settings (keys left out)
- ``GET  /_sim/skus``               every SKU row
- ``POST /_sim/styles``             add a style ``{"style", "styleName", "colors": [{"color", "colorName"}],
                                    "sizes": [...], "division", "season", "status", "price", "weight"}``
- ``POST /_sim/styles/{style}``     change style fields (its SKUs follow); bumps updatedAt
- ``POST /_sim/skus/{sku}``         change one SKU (e.g. ``{"upc": "...", "description": ""}``)
- ``POST /_sim/settings``           change settings (e.g. ``{"rate_limit_per_minute": 5}``)
- ``POST /_sim/reset?seed=true``    empty the company, optionally re-seed the demo data
- orders, stock, returns, dump and clock: see :mod:`erp_wms_simulators.bluecherry.admin_orders`
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from erp_wms_simulators.bluecherry.admin_orders import new_style, orders_admin_router
from erp_wms_simulators.bluecherry.catalog import render
from erp_wms_simulators.bluecherry.demo import seed_demo
from erp_wms_simulators.bluecherry.settings import BlueCherrySettings
from erp_wms_simulators.bluecherry.state import BlueCherryState
from erp_wms_simulators.common import SimError, parse_iso_datetime, read_json
from erp_wms_simulators.jsonapi import settings_admin_router


def admin_router(state: BlueCherryState, settings: BlueCherrySettings) -> APIRouter:
    router = APIRouter()

    @router.get("/skus")
    def get_skus() -> list[dict[str, Any]]:
        return [render(row) for row in state.skus()]

    @router.post("/styles")
    async def add_style(request: Request) -> dict[str, Any]:
        return render(new_style(state, _object(await read_json(request))))

    @router.post("/styles/{style}")
    async def change_style(style: str, request: Request) -> dict[str, Any]:
        return await _change(request, state.update_style, style)

    @router.post("/skus/{sku}")
    async def change_sku(sku: str, request: Request) -> dict[str, Any]:
        return await _change(request, state.update_sku, sku)

    router.include_router(settings_admin_router(  # /state, /settings, /reset, /faults, /callbacks
        state, settings, secret="subscription_keys", secret_label="Subscription keys",
        not_object="The request body must be a JSON object.", seed=seed_demo))
    router.include_router(orders_admin_router(state))  # orders, stock, returns, dump, clock
    return router


async def _change(request: Request, update: Callable[..., dict[str, Any]], key: str) -> dict[str, Any]:
    """Apply the request's fields to the style or SKU ``key`` with ``update``; an unknown one is a 404."""
    body = _object(await read_json(request))
    try:
        return render(update(key, **_with_time(body)))
    except KeyError as exc:
        raise SimError(404, str(exc).strip("'\""), "not_found") from None


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SimError(400, "The request body must be a JSON object.", "bad_request")
    return body


def _with_time(body: dict[str, Any]) -> dict[str, Any]:
    """The body with ``updatedAt`` parsed (it sets the change time; absent = the clock)."""
    if body.get("updatedAt") is None:
        return {k: v for k, v in body.items() if k != "updatedAt"}
    try:
        return {**body, "updatedAt": parse_iso_datetime(str(body["updatedAt"]))}
    except ValueError as exc:
        raise SimError(400, f"updatedAt: {exc}", "bad_request") from None
