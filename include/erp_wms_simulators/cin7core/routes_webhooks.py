"""``/webhooks`` of the Cin7 Core simulator: list, create, change and delete subscriptions.

Answers wrap the objects as ``{"Webhooks": […]}``; DELETE answers ``{"Webhooks": []}``. See
:mod:`erp_wms_simulators.cin7core.webhooks` for validation and delivery.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from erp_wms_simulators.cin7core.lines import raise_problems
from erp_wms_simulators.cin7core.routing import body_object, required
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.state import Cin7CoreState
from erp_wms_simulators.cin7core.webhooks import build_webhook, merged
from erp_wms_simulators.common import CaseInsensitiveQuery, SimError, new_guid


def webhooks_router(state: Cin7CoreState, settings: Cin7CoreSettings) -> APIRouter:
    router = APIRouter()

    @router.get("/webhooks")
    def list_webhooks() -> dict[str, Any]:
        with state.lock:
            return {"Webhooks": [dict(w) for w in state.webhooks.values()]}

    @router.post("/webhooks")
    async def create_webhook(request: Request) -> dict[str, Any]:
        body = await body_object(request, settings)
        problems: list[str] = []
        webhook = build_webhook(body, new_guid(), problems)
        raise_problems(problems)
        with state.lock:
            _check_room(state, settings, webhook)
            state.webhooks[webhook["ID"]] = webhook
            return {"Webhooks": [dict(webhook)]}

    @router.put("/webhooks")
    async def change_webhook(request: Request) -> dict[str, Any]:
        body = await body_object(request, settings)
        with state.lock:
            stored = _find(state, body.get("ID"))
            problems: list[str] = []
            webhook = build_webhook(merged(stored, body), stored["ID"], problems)
            raise_problems(problems)
            _check_room(state, settings, webhook)
            stored.update(webhook)
            return {"Webhooks": [dict(stored)]}

    @router.delete("/webhooks")
    def delete_webhook(request: Request) -> dict[str, Any]:
        webhook_id = required(CaseInsensitiveQuery.of(request), "ID")
        with state.lock:
            stored = _find(state, webhook_id)
            del state.webhooks[stored["ID"]]
        state.callbacks.cancel(stored["ID"])
        return {"Webhooks": []}

    return router


def _find(state: Cin7CoreState, webhook_id: Any) -> dict[str, Any]:
    if not isinstance(webhook_id, str) or not webhook_id.strip():
        raise SimError(400, "Required attribute ID is not provided.")
    found = state.webhooks.get(webhook_id.strip().lower())
    if found is None:
        raise SimError(400, f"Webhook with ID '{webhook_id}' not found.")
    return found


def _check_room(state: Cin7CoreState, settings: Cin7CoreSettings, webhook: dict[str, Any]) -> None:
    others = [w for w in state.webhooks.values() if w["Type"] == webhook["Type"] and w["ID"] != webhook["ID"]]
    if len(others) >= settings.webhook_max_per_type:
        raise SimError(400, f"There can be at most {settings.webhook_max_per_type} webhooks of type "
                            f"{webhook['Type']}.")
