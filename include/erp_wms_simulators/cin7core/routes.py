"""The Cin7 Core External API v2 resources served by the simulator: ``me``, ``product``, ``ref/location``.

Routes are declared in lower case; the gate in :mod:`erp_wms_simulators.cin7core.app` lower-cases
every request path, so resource names match case-insensitively as in the real service. Query
parameter names are case-insensitive too (``Page`` and ``page`` both work).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from erp_wms_simulators.cin7core.products import ProductQuery, is_guid, render, validate_post, validate_put
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.state import Cin7CoreState
from erp_wms_simulators.common import (
    CaseInsensitiveQuery,
    SimError,
    page_of,
    parse_bool,
    parse_int,
    parse_iso_datetime,
    read_json,
)


def api_router(state: Cin7CoreState, settings: Cin7CoreSettings) -> APIRouter:
    router = APIRouter()

    @router.get("/me")
    def me() -> dict[str, Any]:
        return {"Company": state.company, "Currency": state.currency, "DefaultWeightUnits": "kg",
                "DefaultDimensionsUnits": "cm", "LockedStockDate": None, "TimeZone": "UTC"}

    @router.get("/product")
    def list_products(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        page, limit = _paging(query, settings)
        selection = _product_query(query)
        with state.lock:
            matches = selection.select(state.products.values())
            rows = [render(p, settings.timestamps_with_z) for p in page_of(matches, page, limit)]
        return {"Total": len(matches), "Page": page, "Products": rows}

    @router.post("/product")
    async def create_product(request: Request) -> dict[str, Any]:
        body = _object(await read_json(request, settings.malformed_body_status))
        with state.lock:
            _raise_problems(validate_post(body, state.catalogue()))
            product = state.create_product(body)
            return _one(render(product, settings.timestamps_with_z))

    @router.put("/product")
    async def update_product(request: Request) -> dict[str, Any]:
        body = _object(await read_json(request, settings.malformed_body_status))
        product_id = body.get("ID")
        if not isinstance(product_id, str) or not is_guid(product_id):
            raise SimError(400, "Required attribute ID is not provided or is not a valid GUID.")
        with state.lock:
            stored = next((pid for pid in state.products if pid.lower() == product_id.lower()), None)
            if stored is None:
                raise SimError(400, f"Product with ID '{product_id}' not found.")
            _raise_problems(validate_put(body, state.catalogue(), stored))
            product = state.apply_update(stored, {k: v for k, v in body.items() if k != "LastModifiedOn"})
            return _one(render(product, settings.timestamps_with_z))

    @router.get("/ref/location")
    def list_locations(request: Request) -> JSONResponse:
        query = CaseInsensitiveQuery.of(request)
        page, limit = _paging(query, settings)
        rows = _select_locations(state, query)
        return JSONResponse({"Total": len(rows), "Page": page, "LocationList": page_of(rows, page, limit)})

    return router


def _paging(query: CaseInsensitiveQuery, settings: Cin7CoreSettings) -> tuple[int, int]:
    try:
        page = parse_int("Page", query.get("Page"), 1, 1)
        limit = parse_int("Limit", query.get("Limit"), settings.default_limit, 1, settings.max_limit)
    except ValueError as exc:
        raise SimError(400, str(exc)) from None
    return page, limit


def _product_query(query: CaseInsensitiveQuery) -> ProductQuery:
    product_id = query.get("ID") or None
    if product_id is not None and not is_guid(product_id):
        raise SimError(400, f"ID '{product_id}' is not a valid GUID.")
    try:
        since_text = query.get("ModifiedSince")
        since = parse_iso_datetime(since_text) if since_text else None
        include_deprecated = parse_bool(query.get("IncludeDeprecated"))
    except ValueError as exc:
        raise SimError(400, str(exc)) from None
    return ProductQuery(product_id=product_id, name=query.get("Name"), sku=query.get("Sku"),
                        modified_since=since, include_deprecated=include_deprecated)


def _select_locations(state: Cin7CoreState, query: CaseInsensitiveQuery) -> list[dict[str, Any]]:
    try:
        include_deprecated = parse_bool(query.get("Deprecated"))
    except ValueError as exc:
        raise SimError(400, str(exc)) from None
    wanted_id, name = (query.get("ID") or "").lower(), (query.get("Name") or "").casefold()
    with state.lock:
        rows = [dict(loc) for loc in state.locations.values()]
    if wanted_id:
        return [loc for loc in rows if loc["ID"].lower() == wanted_id]
    rows = [loc for loc in rows if (include_deprecated or not loc["IsDeprecated"])
            and loc["Name"].casefold().startswith(name)]
    return sorted(rows, key=lambda loc: loc["Name"].casefold())


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SimError(400, "The request body must be a JSON object describing one product.")
    return body


def _raise_problems(problems: list[str]) -> None:
    if problems:
        raise SimError(400, problems[0], details=tuple(problems))


def _one(product: Mapping[str, Any]) -> dict[str, Any]:
    return {"Total": 1, "Page": 1, "Products": [dict(product)]}
