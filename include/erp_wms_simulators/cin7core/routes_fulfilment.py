"""Fulfilment resources of the Cin7 Core simulator: ``/sale/fulfilment`` and its ``pick``, ``pack`` and
``ship`` stages. GET takes ``SaleID`` (tasks) or ``TaskID`` (one stage); POST/PUT answer the stage document
``{TaskID, Status, Lines, …}`` after the change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from erp_wms_simulators.cin7core import fulfilment, shipping
from erp_wms_simulators.cin7core.model import Sale
from erp_wms_simulators.cin7core.render import SaleWriter
from erp_wms_simulators.cin7core.routing import DocumentRoutes, body_object, required
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.state import Cin7CoreState
from erp_wms_simulators.common import CaseInsensitiveQuery


def fulfilment_router(state: Cin7CoreState, settings: Cin7CoreSettings) -> APIRouter:
    router = APIRouter()
    writer = SaleWriter(settings)

    def stage_of(request: Request, stage: str) -> dict[str, Any]:
        task_id = required(CaseInsensitiveQuery.of(request), "TaskID")
        with state.lock:
            _sale, task = fulfilment.find_task(state, task_id)
            return writer.stage(task, stage)

    def tasks(sale: Sale) -> dict[str, Any]:
        return {"SaleID": sale.id, "Fulfilments": [writer.task(t) for t in sale.fulfilments]}

    routes = DocumentRoutes(router, state, settings)
    routes.read("/sale/fulfilment", tasks)
    routes.write("POST", "/sale/fulfilment", fulfilment.new_task, tasks)

    @router.get("/sale/fulfilment/pick")
    def get_pick(request: Request) -> dict[str, Any]:
        return stage_of(request, "pick")

    @router.get("/sale/fulfilment/pack")
    def get_pack(request: Request) -> dict[str, Any]:
        return stage_of(request, "pack")

    @router.get("/sale/fulfilment/ship")
    def get_ship(request: Request) -> dict[str, Any]:
        return stage_of(request, "ship")

    @router.api_route("/sale/fulfilment/pick", methods=["POST", "PUT"])
    async def write_pick(request: Request) -> dict[str, Any]:
        _sale, task = fulfilment.post_pick(state, await body_object(request, settings))
        with state.lock:
            return writer.stage(task, "pick")

    @router.api_route("/sale/fulfilment/pack", methods=["POST", "PUT"])
    async def write_pack(request: Request) -> dict[str, Any]:
        _sale, task = fulfilment.post_pack(state, await body_object(request, settings))
        with state.lock:
            return writer.stage(task, "pack")

    @router.api_route("/sale/fulfilment/ship", methods=["POST", "PUT"])
    async def write_ship(request: Request) -> dict[str, Any]:
        body = await body_object(request, settings)
        _sale, task = shipping.post_ship(state, body, replace=request.method == "PUT")
        with state.lock:
            return writer.stage(task, "ship")

    return router
