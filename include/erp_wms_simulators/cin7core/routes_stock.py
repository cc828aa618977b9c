"""Stock resources of the Cin7 Core simulator: ``/ref/productavailability``, ``/stockadjustment`` and
``/stockadjustmentList``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from erp_wms_simulators.cin7core import adjustments
from erp_wms_simulators.cin7core.availability import AvailabilityQuery, all_rows
from erp_wms_simulators.cin7core.products import is_guid
from erp_wms_simulators.cin7core.routing import DocumentRoutes, flag, paged, required
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.state import Cin7CoreState
from erp_wms_simulators.common import CaseInsensitiveQuery, SimError

ADJUSTMENT_STATUSES = ("DRAFT", "COMPLETED", "VOIDED")


def stock_router(state: Cin7CoreState, settings: Cin7CoreSettings) -> APIRouter:
    router = APIRouter()

    @router.get("/ref/productavailability")
    def availability(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        product_id = (query.get("ID") or "").strip()
        if product_id and not is_guid(product_id):
            raise SimError(400, f"ID '{product_id}' is not a valid GUID.")
        selection = AvailabilityQuery(product_id=product_id, name=query.get("Name") or "",
                                      sku=query.get("Sku") or "", location=query.get("Location") or "",
                                      batch=query.get("Batch") or "", category=query.get("Category") or "")
        return paged("ProductAvailabilityList", selection.select(all_rows(state)), query, settings)

    @router.get("/stockadjustmentlist")
    def adjustment_list(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        status = (query.get("Status") or "").strip().upper()
        if status and status not in ADJUSTMENT_STATUSES:
            raise SimError(400, f"Status must be one of: {', '.join(ADJUSTMENT_STATUSES)}.")
        with state.lock:
            records = sorted(state.adjustments.values(), key=lambda r: r["StocktakeNumber"])
            rows = [adjustments.list_row(r) for r in records if not status or r["Status"] == status]
        return paged("StockAdjustmentList", rows, query, settings)

    @router.get("/stockadjustment")
    def get_adjustment(request: Request) -> dict[str, Any]:
        task_id = required(CaseInsensitiveQuery.of(request), "TaskID")
        with state.lock:
            return adjustments.render(adjustments.find_adjustment(state, task_id))

    routes = DocumentRoutes(router, state, settings)
    routes.write("POST", "/stockadjustment", adjustments.post_adjustment, adjustments.render)
    routes.write("PUT", "/stockadjustment", adjustments.put_adjustment, adjustments.render)

    @router.delete("/stockadjustment")
    def delete_adjustment(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        record = adjustments.void_adjustment(state, required(query, "ID"), flag(query, "Void"))
        with state.lock:
            return adjustments.render(record)

    return router
