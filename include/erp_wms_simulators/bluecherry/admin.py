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

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from erp_wms_simulators.bluecherry.admin_orders import orders_admin_router
from erp_wms_simulators.bluecherry.catalog import render
from erp_wms_simulators.bluecherry.settings import BlueCherrySettings
from erp_wms_simulators.bluecherry.state import BlueCherryState
from erp_wms_simulators.common import (
    CaseInsensitiveQuery,
    SimError,
    faults_admin_router,
    parse_bool,
    parse_iso_datetime,
    read_json,
)


def admin_router(state: BlueCherryState, settings: BlueCherrySettings) -> APIRouter:
    router = APIRouter()

    @router.get("/state")
    def get_state() -> dict[str, Any]:
        return {**state.snapshot(), "settings": _public_settings(settings)}

    @router.get("/skus")
    def get_skus() -> list[dict[str, Any]]:
        return [render(row) for row in state.skus()]

    @router.post("/styles")
    async def add_style(request: Request) -> dict[str, Any]:
        body = _object(await read_json(request))
        try:
            colors = [(str(c["color"]), str(c.get("colorName", c["color"]))) for c in body.get("colors", [])]
            record = state.add_style(
                str(body["style"]), str(body.get("styleName", body["style"])), colors,
                [str(s) for s in body.get("sizes", [])], size_scale=body.get("sizeScale"),
                division=str(body.get("division", "01")), season=str(body.get("season", "SP25")),
                status=str(body.get("status", "ACTIVE")), price=float(body.get("price", 0.0)),
                weight=float(body.get("weight", 0.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise SimError(400, f"Invalid style: {exc}", "bad_request") from None
        return render(record)

    @router.post("/styles/{style}")
    async def change_style(style: str, request: Request) -> dict[str, Any]:
        body = _object(await read_json(request))
        try:
            return render(state.update_style(style, **_with_time(body)))
        except KeyError as exc:
            raise SimError(404, str(exc).strip("'\""), "not_found") from None

    @router.post("/skus/{sku}")
    async def change_sku(sku: str, request: Request) -> dict[str, Any]:
        body = _object(await read_json(request))
        try:
            return render(state.update_sku(sku, **_with_time(body)))
        except KeyError as exc:
            raise SimError(404, str(exc).strip("'\""), "not_found") from None

    @router.post("/settings")
    async def change_settings(request: Request) -> dict[str, Any]:
        body = _object(await read_json(request))
        if "subscription_keys" in body:
            raise SimError(400, "Subscription keys cannot be changed through /_sim/settings.", "bad_request")
        try:
            settings.update(body)
        except (TypeError, ValueError) as exc:
            raise SimError(400, str(exc), "bad_request") from None
        return _public_settings(settings)

    @router.post("/reset")
    def reset(request: Request) -> dict[str, Any]:
        try:
            seed = parse_bool(CaseInsensitiveQuery.of(request).get("seed"))
        except ValueError as exc:
            raise SimError(400, str(exc), "bad_request") from None
        state.reset()
        if seed:
            from erp_wms_simulators.bluecherry.demo import seed_demo

            seed_demo(state)
        return state.snapshot()

    router.include_router(faults_admin_router(lambda request: state))  # /faults, /callbacks
    router.include_router(orders_admin_router(state))  # orders, stock, returns, dump, clock
    return router


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


def _public_settings(settings: BlueCherrySettings) -> dict[str, Any]:
    return {k: v for k, v in asdict(settings).items() if k != "subscription_keys"}
