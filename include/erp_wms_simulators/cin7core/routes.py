"""The Cin7 Core External API v2 resources served by the simulator: ``me``, ``product`` (with the arrays its
``Include…`` flags ask for: ``Suppliers``, ``ReorderLevels``, BOM, ``Attachments``, ``CustomPrices``,
``Movements``), ``ref/location``, ``customer`` and ``ref/carrier`` (see :mod:`.routes_reference`), plus the
sales, fulfilment, stock and webhook routers.

Routes are declared in lower case; the gate in :mod:`erp_wms_simulators.cin7core.app` lower-cases
every request path, so resource names match case-insensitively as in the real service. Query
parameter names are case-insensitive too (``Page`` and ``page`` both work).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from erp_wms_simulators.cin7core.products import (
    INCLUDES,
    ProductQuery,
    is_guid,
    render,
    validate_post,
    validate_put,
    writable,
)
from erp_wms_simulators.cin7core.routes_fulfilment import fulfilment_router
from erp_wms_simulators.cin7core.routes_reference import reference_router
from erp_wms_simulators.cin7core.routes_sales import sales_router
from erp_wms_simulators.cin7core.routes_stock import stock_router
from erp_wms_simulators.cin7core.routes_webhooks import webhooks_router
from erp_wms_simulators.cin7core.routing import flag, paging
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.state import Cin7CoreState
from erp_wms_simulators.common import (
    CaseInsensitiveQuery,
    SimError,
    format_timestamp,
    page_of,
    parse_bool,
    parse_iso_datetime,
    read_json,
)


def api_router(state: Cin7CoreState, settings: Cin7CoreSettings) -> APIRouter:
    state.settings = settings  # the sales, stock and webhook operations read the app's settings
    router = APIRouter()

    @router.get("/me")
    def me() -> dict[str, Any]:
        return {"Company": state.company, "Currency": state.currency, "DefaultWeightUnits": "kg",
                "DefaultDimensionsUnits": "cm", "LockedStockDate": None, "TimeZone": "UTC"}

    @router.get("/product")
    def list_products(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        page, limit = paging(query, settings)
        selection = _product_query(query)
        include = [name for option, names in INCLUDES.items() if flag(query, option) for name in names]
        with state.lock:
            matches = selection.select(state.products.values())
            rows = [render(p, settings.timestamps_with_z, include) for p in page_of(matches, page, limit)]
            if "Movements" in include:
                for row in rows:
                    row["Movements"] = product_movements(state, row["ID"])
        return {"Total": len(matches), "Page": page, "Products": rows}

    @router.post("/product")
    async def create_product(request: Request) -> dict[str, Any]:
        body = _object(await read_json(request, settings.malformed_body_status))
        with state.lock:
            _raise_problems(validate_post(body, state.catalogue()))
            product = state.create_product(writable(body))
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
            product = state.apply_update(stored, writable(body))
            return _one(render(product, settings.timestamps_with_z))

    @router.get("/ref/location")
    def list_locations(request: Request) -> JSONResponse:
        query = CaseInsensitiveQuery.of(request)
        page, limit = paging(query, settings)
        rows = _select_locations(state, query)
        return JSONResponse({"Total": len(rows), "Page": page, "LocationList": page_of(rows, page, limit)})

    for extra in (sales_router, fulfilment_router, stock_router, webhooks_router, reference_router):
        router.include_router(extra(state, settings))
    return router


def product_movements(state: Cin7CoreState, product_id: str) -> list[dict[str, Any]]:
    """``Movements[]`` of a product: every on-hand change, oldest first."""
    zulu = state.settings.timestamps_with_z
    return [{"TaskID": c.ref.task_id or None, "Type": c.ref.kind, "Date": format_timestamp(c.ref.at, zulu=zulu),
             "Number": c.ref.number, "Status": "COMPLETED", "Quantity": c.on_hand_delta, "Amount": c.amount,
             "Location": state.locations[c.location_id]["Name"] if c.location_id in state.locations else "",
             "BatchSN": c.batch or None, "ExpiryDate": None, "FromTo": c.ref.from_to}
            for c in state.stock.movements(product_id)]


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
