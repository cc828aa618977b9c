"""Admin endpoints that drive the simulated warehouse from outside the process (the scenario driver, the demo).

All under ``/_sim/{clientId}/warehouse/``: ``POST goods-in``, ``stock-count``, ``adjust``, ``tick`` and, per
order, ``POST orders/{order}/allocate | start-picking | pick | pack | despatch | return | hold``; ``GET stock``,
``movements``, ``events`` and ``orders/{order}``. A refused operation answers HTTP 409 with the reason; an
unknown client id answers 404. Not part of Peoplevox.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from erp_wms_simulators.peoplevox.state import PeoplevoxState
from erp_wms_simulators.peoplevox.warehouse import Warehouse, WarehouseError

router = APIRouter(prefix="/_sim/{client_id}/warehouse", tags=["simulated warehouse"])


class GoodsInBody(BaseModel):
    site: str
    lines: dict[str, int] = Field(default_factory=dict, description="ItemCode -> quantity")
    item: str | None = None
    quantity: int | None = None
    po: str | None = None
    location: str | None = None
    reference: str | None = None
    supplier: str = ""
    carrier: str = ""
    delivery_note: str = ""


class CountBody(BaseModel):
    item: str
    site: str
    counted: int
    location: str | None = None


class AdjustBody(BaseModel):
    item: str
    site: str
    delta: int
    reason: str = "Adjustment"
    location: str | None = None


class AllocateBody(BaseModel):
    partial: bool = False


class PickBody(BaseModel):
    lines: dict[str, int] | None = None
    short: dict[str, int] = Field(default_factory=dict)


class PackBody(BaseModel):
    packages: int = 1


class DespatchBody(BaseModel):
    lines: dict[str, int] | None = None
    carrier: str | None = None
    service: str | None = None
    tracking: str | list[str] | None = None


class ReturnBody(BaseModel):
    lines: dict[str, int]
    condition: str = "sellable"
    return_code: str | None = None
    reason: str = ""
    comments: str = ""
    authorisation: str | None = None
    location: str | None = None


class HoldBody(BaseModel):
    on: bool = True


def _warehouse(request: Request, client_id: str) -> Warehouse:
    state: PeoplevoxState = request.app.state.peoplevox
    if state.tenant(client_id) is None:
        raise HTTPException(404, f"unknown Peoplevox client id {client_id!r}")
    return Warehouse(state, client_id, request.app.state.peoplevox_settings)


@contextmanager
def _refusals() -> Iterator[None]:
    """A :class:`WarehouseError` raised in the block answers HTTP 409 with its reason."""
    try:
        yield
    except WarehouseError as exc:
        raise HTTPException(409, str(exc)) from None


def _plain(value: Any) -> Any:
    return asdict(value) if value is not None else None


@router.post("/goods-in")
def goods_in(client_id: str, body: GoodsInBody, request: Request) -> dict[str, Any]:
    lines = dict(body.lines)
    if body.item:
        lines[body.item] = lines.get(body.item, 0) + (body.quantity or 0)
    with _refusals():
        record = _warehouse(request, client_id).receive_delivery(
            lines, body.site, body.po, location=body.location, reference=body.reference, supplier=body.supplier,
            carrier=body.carrier, delivery_note=body.delivery_note)
    return asdict(record)


@router.post("/stock-count")
def stock_count(client_id: str, body: CountBody, request: Request) -> dict[str, Any]:
    with _refusals():
        movement = _warehouse(request, client_id).stock_count(body.item, body.site, body.counted,
                                                              location=body.location)
    return {"movement": _plain(movement)}


@router.post("/adjust")
def adjust(client_id: str, body: AdjustBody, request: Request) -> dict[str, Any]:
    with _refusals():
        movement = _warehouse(request, client_id).adjust(body.item, body.site, body.delta, reason=body.reason,
                                                         location=body.location)
    return {"movement": asdict(movement)}


@router.post("/tick")
def tick(client_id: str, request: Request) -> dict[str, str]:
    return _warehouse(request, client_id).tick()


@router.post("/orders/{order}/allocate")
def allocate(client_id: str, order: str, body: AllocateBody, request: Request) -> dict[str, Any]:
    warehouse = _warehouse(request, client_id)
    with _refusals():
        allocated = warehouse.allocate(order, partial=body.partial)
    return {"allocated": allocated, "order": warehouse.order(order)}


@router.post("/orders/{order}/start-picking")
def start_picking(client_id: str, order: str, request: Request) -> dict[str, Any]:
    warehouse = _warehouse(request, client_id)
    with _refusals():
        warehouse.start_picking(order)
    return warehouse.order(order)


@router.post("/orders/{order}/pick")
def pick(client_id: str, order: str, body: PickBody, request: Request) -> dict[str, Any]:
    warehouse = _warehouse(request, client_id)
    with _refusals():
        picked = warehouse.pick(order, body.lines, body.short)
    return {"picked": picked, "order": warehouse.order(order)}


@router.post("/orders/{order}/pack")
def pack(client_id: str, order: str, body: PackBody, request: Request) -> dict[str, Any]:
    with _refusals():
        packages = _warehouse(request, client_id).pack(order, body.packages)
    return {"packages": packages}


@router.post("/orders/{order}/despatch")
def despatch(client_id: str, order: str, body: DespatchBody, request: Request) -> dict[str, Any]:
    with _refusals():
        record = _warehouse(request, client_id).despatch(order, body.lines, carrier=body.carrier,
                                                         service=body.service, tracking=body.tracking)
    return asdict(record)


@router.post("/orders/{order}/return")
def receive_return(client_id: str, order: str, body: ReturnBody, request: Request) -> list[dict[str, Any]]:
    with _refusals():
        lines = _warehouse(request, client_id).receive_return(
            order, body.lines, body.condition, body.return_code, reason=body.reason, comments=body.comments,
            authorisation=body.authorisation, location=body.location)
    return [asdict(line) for line in lines]


@router.post("/orders/{order}/hold")
def hold(client_id: str, order: str, body: HoldBody, request: Request) -> dict[str, str]:
    with _refusals():
        status = _warehouse(request, client_id).hold(order, body.on)
    return {"status": status}


@router.get("/orders/{order}")
def order_progress(client_id: str, order: str, request: Request) -> dict[str, Any]:
    try:
        return _warehouse(request, client_id).order(order)
    except WarehouseError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/stock")
def stock(client_id: str, request: Request, item: str | None = None, site: str | None = None) -> list[dict[str, Any]]:
    return _warehouse(request, client_id).stock(item, site)


@router.get("/movements")
def movements(client_id: str, request: Request, after: int = 0) -> list[dict[str, Any]]:
    return [asdict(movement) for movement in _warehouse(request, client_id).movements(after)]


@router.get("/events")
def published_events(client_id: str, request: Request, event_type: str | None = None) -> list[dict[str, Any]]:
    return [asdict(event) for event in _warehouse(request, client_id).events(event_type)]
