"""A small JSON admin API under ``/_sim/`` for the demo and out-of-process tests.

Not part of Peoplevox: it seeds and inspects the simulator's state (tenants, template records,
subscriptions, call counters), expires sessions, and arms the simple ``fail_next`` fault. ``/_sim/calls``
counts operations per client id; ``/_sim/traffic`` (GET, DELETE) counts calls per operation as served,
answered and refused (429/503) apart (see :mod:`erp_wms_simulators.traffic`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from erp_wms_simulators.common import faults_admin_router
from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_simulators.peoplevox.state import PeoplevoxState
from erp_wms_simulators.traffic import traffic_admin_router

router = APIRouter(prefix="/_sim", tags=["simulator admin"])
router.include_router(faults_admin_router(lambda request: request.app.state.peoplevox))  # /faults, /callbacks
router.include_router(traffic_admin_router(lambda request: request.app.state.peoplevox))  # /traffic


class TenantIn(BaseModel):
    client_id: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: str = Field(min_length=1)


class FailNextIn(BaseModel):
    count: int = Field(ge=0, le=1000)


def _state(request: Request) -> PeoplevoxState:
    state: PeoplevoxState = request.app.state.peoplevox
    return state


def _settings(request: Request) -> PeoplevoxSettings:
    settings: PeoplevoxSettings = request.app.state.peoplevox_settings
    return settings


def _known_tenant(state: PeoplevoxState, client_id: str) -> None:
    if state.tenant(client_id) is None:
        raise HTTPException(404, f"unknown Peoplevox client id {client_id!r}")


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "service": "peoplevox"}


@router.post("/tenants")
def add_tenant(body: TenantIn, request: Request) -> dict[str, str]:
    _state(request).add_tenant(body.client_id, body.username, body.password)
    return {"client_id": body.client_id, "username": body.username}


@router.get("/{client_id}/records/{template}")
def get_records(client_id: str, template: str, request: Request) -> dict[str, dict[str, str]]:
    state = _state(request)
    _known_tenant(state, client_id)
    if state.template(template) is None:
        raise HTTPException(404, f"Template '{template}' not found")
    return state.records(client_id, template)


@router.post("/{client_id}/records/{template}")
def seed_records(client_id: str, template: str, rows: list[dict[str, Any]],
                 request: Request) -> dict[str, int]:
    state = _state(request)
    _known_tenant(state, client_id)
    try:
        seeded = state.seed(client_id, template, rows, _settings(request))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"seeded": seeded}


@router.get("/{client_id}/subscriptions")
def list_subscriptions(client_id: str, request: Request) -> list[dict[str, Any]]:
    state = _state(request)
    _known_tenant(state, client_id)
    return [vars(subscription) for subscription in state.subscriptions(client_id)]


@router.post("/expire-sessions")
def expire_sessions(request: Request, client_id: str | None = None) -> dict[str, int]:
    return {"expired": _state(request).expire_sessions(client_id)}


@router.get("/calls")
def calls(request: Request) -> list[dict[str, Any]]:
    state = _state(request)
    with state.lock:
        items = sorted(state.calls.items())
    return [{"client_id": client, "operation": op, "count": count} for (client, op), count in items]


@router.post("/fail-next")
def fail_next(body: FailNextIn, request: Request) -> dict[str, int]:
    settings = _settings(request)
    settings.fail_next = body.count
    return {"fail_next": settings.fail_next}
