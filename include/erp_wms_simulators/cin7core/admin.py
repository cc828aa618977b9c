"""``/_sim`` admin routes of the Cin7 Core simulator, for scenario drivers and demos running in another
process. They need no credentials, are not rate limited, and skip the API's validation (so a demo can
plant bad data the way imports do in real tenants).

- ``GET  /_sim/state``            counts, reference lists and current settings
- ``GET  /_sim/products``         every product (deprecated included)
- ``POST /_sim/products``         add or update products by SKU (object or list); bumps LastModifiedOn
- ``POST /_sim/locations``        add a location ``{"Name", "IsDefault", "IsDeprecated", "Bins": [names]}``
- ``POST /_sim/carriers``         add a carrier ``{"Description", "CarrierID"?}``
- ``POST /_sim/customers``        add a customer ``{"Name", ...fields}`` (an existing name is returned as is)
- ``GET  /_sim/traffic``          calls per endpoint: answered, refused (429/503), per status; ``DELETE`` clears
- ``POST /_sim/settings``         change settings (e.g. ``{"rate_limit_status": 503}``)
- ``POST /_sim/reset?seed=true``  empty the tenant, optionally re-seed the demo data
- sales, stock and events: see :mod:`erp_wms_simulators.cin7core.admin_sales`
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from erp_wms_simulators.cin7core.admin_sales import admin_sales_router
from erp_wms_simulators.cin7core.demo import seed_demo
from erp_wms_simulators.cin7core.products import render
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.state import Cin7CoreState
from erp_wms_simulators.common import SimError, parse_iso_datetime, read_json
from erp_wms_simulators.jsonapi import settings_admin_router


def admin_router(state: Cin7CoreState, settings: Cin7CoreSettings) -> APIRouter:
    router = APIRouter()

    @router.get("/products")
    def get_products() -> list[dict[str, Any]]:
        with state.lock:
            return [render(p, settings.timestamps_with_z) for p in state.products.values()]

    @router.post("/products")
    async def upsert_products(request: Request) -> dict[str, Any]:
        body = await read_json(request)
        items = body if isinstance(body, list) else [body]
        created: list[str] = []
        updated: list[str] = []
        for item in items:
            fields = _product_fields(item)
            with state.lock:
                exists = fields["SKU"] in state.products_by_sku()
                try:
                    if exists:
                        state.update_product(fields["SKU"], **fields)
                    else:
                        state.add_product(**fields)
                except ValueError as exc:
                    raise SimError(400, str(exc)) from None
            (updated if exists else created).append(fields["SKU"])
        return {"created": created, "updated": updated}

    @router.post("/locations")
    async def add_location(request: Request) -> dict[str, Any]:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("Name"), str) or not body["Name"].strip():
            raise SimError(400, "A location needs a Name.")
        extra = {k: v for k, v in body.items() if k not in {"Name", "IsDefault", "IsDeprecated", "Bins", "ID"}}
        try:
            return state.add_location(body["Name"], is_default=bool(body.get("IsDefault")),
                                      deprecated=bool(body.get("IsDeprecated")),
                                      bins=[str(b) for b in body.get("Bins") or []],
                                      location_id=body.get("ID"), **extra)
        except ValueError as exc:
            raise SimError(400, str(exc)) from None

    @router.post("/carriers")
    async def add_carrier(request: Request) -> dict[str, Any]:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("Description"), str):
            raise SimError(400, "A carrier needs a Description.")
        try:
            return state.add_carrier(body["Description"], body.get("CarrierID"))
        except ValueError as exc:
            raise SimError(400, str(exc)) from None

    @router.post("/customers")
    async def add_customer(request: Request) -> dict[str, Any]:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("Name"), str) or not body["Name"].strip():
            raise SimError(400, "A customer needs a Name.")
        fields = {k: v for k, v in body.items() if k not in {"Name", "ID", "LastModifiedOn"}}
        return dict(state.add_customer(body["Name"], **fields))

    router.include_router(settings_admin_router(  # /state, /settings, /reset, /faults, /callbacks
        state, settings, secret="applications", secret_label="Credentials",
        not_object="Settings must be a JSON object.", seed=seed_demo))
    router.include_router(admin_sales_router(state))  # /sales, /availability, /stock, /events
    return router


def _product_fields(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("SKU"), str) or not item["SKU"]:
        raise SimError(400, "Each product needs a SKU.")
    fields = dict(item)
    modified = fields.pop("LastModifiedOn", None)
    if modified is not None:
        try:
            fields["LastModifiedOn"] = parse_iso_datetime(str(modified))
        except ValueError as exc:
            raise SimError(400, str(exc)) from None
    return fields
