"""``/_sim`` admin routes of the BlueCherry simulator for driving it from another process (the scenario
driver): bulk seeding, stock, order actions, returns, a full dump and the simulated clock. No key, no rate
limit; refusals use the API's JSON error shape.

- ``POST /_sim/bulk``                       ``{"warehouses": [...], "styles": [...], "stock": [...]}`` (any part;
                                            warehouses and styles that exist already are left as they are)
- ``POST /_sim/warehouses``                 one warehouse ``{"warehouse", "name", "city", "state", "country"}``
- ``POST /_sim/stock``                      ``[{"sku", "warehouse", "onHand", "onOrder", "wip", "quarantine"}]``
- ``GET  /_sim/stock?sku=&warehouse=``      one SKU's buckets in one warehouse (without ``sku``: every row
                                            of the warehouse, ``{"rows": [...]}``)
- ``GET  /_sim/orders``, ``/_sim/orders/{n}`` every order (API shape, no paging, no rate limit), or one
- ``POST /_sim/orders``                     create an order (API body) → ``{"created", "order"}``
- ``POST /_sim/orders/{n}/{action}``        ``allocate``, ``pickTicket``, ``startPicking``, ``cancel``
                                            (``{"reason"}``), ``amend`` (``{"lines"}``), ``hold`` (``{"reason"}``),
                                            ``releaseHold``, ``ship`` (``{"lines": {sku: qty}, "carrier",
                                            "trackingNumbers", "reference"}``), ``invoice``, ``close``
- ``GET  /_sim/returns``                    every RA; ``POST /_sim/returns`` authorises one (API body);
                                            ``POST /_sim/returns/{ra}/receive``
- ``GET  /_sim/dump?catalogue=true``        everything, JSON in a stable order
- ``GET|POST /_sim/clock``                  ``{"now": "<ISO>"}`` pins the clock, ``{"advanceSeconds": n}`` moves a
                                            pinned clock, ``{"now": null}`` goes back to real time
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from erp_wms_simulators.bluecherry.helpers import PinnedClock
from erp_wms_simulators.bluecherry.orders import create_order, render_order
from erp_wms_simulators.bluecherry.records import Rejected, as_list, as_object, not_found, to_json
from erp_wms_simulators.bluecherry.returns import authorise_return, receive_return
from erp_wms_simulators.bluecherry.state import BlueCherryState
from erp_wms_simulators.bluecherry.stock import render_row
from erp_wms_simulators.common import (
    CaseInsensitiveQuery,
    format_timestamp,
    parse_bool,
    parse_iso_datetime,
    read_json,
    utc_now,
)

DOCUMENT_ACTIONS = frozenset({"pickTicket", "ship", "invoice"})  # answer the new document, not the order
STOCK_FIELDS = {"onHand": "on_hand", "onOrder": "on_order", "wip": "wip", "quarantine": "quarantine"}


def orders_admin_router(state: BlueCherryState) -> APIRouter:
    router = APIRouter()

    @router.post("/bulk")
    async def bulk(request: Request) -> dict[str, Any]:
        body = as_object(await read_json(request), "The body")
        for warehouse in as_list(body.get("warehouses"), "warehouses", required=False):
            if as_object(warehouse, "A warehouse").get("warehouse") not in state.warehouses:
                _add_warehouse(state, warehouse)
        for style in as_list(body.get("styles"), "styles", required=False):
            if as_object(style, "A style").get("style") not in state.styles:
                new_style(state, style)
        _set_stock(state, as_list(body.get("stock"), "stock", required=False))
        return state.snapshot()

    @router.post("/warehouses")
    async def add_warehouse(request: Request) -> dict[str, Any]:
        return _add_warehouse(state, as_object(await read_json(request), "The warehouse"))

    @router.post("/stock")
    async def set_stock(request: Request) -> dict[str, Any]:
        return {"rows": _set_stock(state, as_list(await read_json(request), "The body"))}

    @router.get("/stock")
    def get_stock(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        warehouse = query.get("warehouse") or ""
        sku = query.get("sku") or ""
        if sku:
            if sku not in state.sku_rows:
                raise not_found(f"SKU '{sku}' was not found.")
            return state.inventory(sku, warehouse)
        with state.lock:
            return {"rows": [render_row(row) for row in state.book.stock.sorted_rows()
                             if not warehouse or row["warehouse"] == warehouse]}

    @router.get("/orders")
    def list_orders() -> list[dict[str, Any]]:
        with state.lock:
            return [render_order(order) for order in state.book.orders.values()]

    @router.get("/orders/{number}")
    def get_order(number: str) -> dict[str, Any]:
        with state.lock:
            return render_order(state.order(number))

    @router.get("/returns")
    def list_returns() -> list[dict[str, Any]]:
        with state.lock:
            return [to_json(ra) for ra in state.book.returns.values()]

    @router.post("/orders")
    async def create(request: Request) -> dict[str, Any]:
        return _outcome(state, "order", create_order(state, await read_json(request)), render_order)

    @router.post("/orders/{number}/{action}")
    async def act(number: str, action: str, request: Request) -> dict[str, Any]:
        body = await read_json(request) if (await request.body()).strip() else {}
        handler = _actions(state).get(action)
        if handler is None:
            raise not_found(f"Unknown order action '{action}'; use one of {', '.join(_actions(state))}.")
        result = handler(number, as_object(body, "The body"))
        with state.lock:
            return to_json(result) if action in DOCUMENT_ACTIONS else render_order(result)

    @router.post("/returns")
    async def create_return(request: Request) -> dict[str, Any]:
        return _outcome(state, "return", authorise_return(state, await read_json(request)), to_json)

    @router.post("/returns/{ra_number}/receive")
    async def receive(ra_number: str, request: Request) -> dict[str, Any]:
        body = await read_json(request) if (await request.body()).strip() else {}
        return _outcome(state, "return", receive_return(state, ra_number, body), to_json)

    @router.get("/dump")
    def dump(request: Request) -> dict[str, Any]:
        try:
            catalogue = parse_bool(CaseInsensitiveQuery.of(request).get("catalogue"), True)
        except ValueError as exc:
            raise Rejected(str(exc)) from None
        return state.dump(catalogue=catalogue)

    @router.get("/clock")
    def get_clock() -> dict[str, Any]:
        return _clock_view(state)

    @router.post("/clock")
    async def set_clock(request: Request) -> dict[str, Any]:
        _move_clock(state, as_object(await read_json(request), "The body"))
        return _clock_view(state)

    return router


def _actions(state: BlueCherryState) -> dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]]:
    return {
        "allocate": lambda n, body: state.allocate(n),
        "pickTicket": lambda n, body: state.print_pick_ticket(n),
        "startPicking": lambda n, body: state.start_picking(n),
        "cancel": lambda n, body: state.cancel(n, str(body.get("reason") or "")),
        "amend": lambda n, body: state.amend_order(n, as_list(body.get("lines"), "lines")),
        "hold": lambda n, body: state.hold(n, str(body.get("reason") or "CREDIT_HOLD")),
        "releaseHold": lambda n, body: state.release_hold(n),
        "ship": lambda n, body: _ship(state, n, body),
        "invoice": lambda n, body: state.invoice(n),
        "close": lambda n, body: state.close(n),
    }


def _ship(state: BlueCherryState, number: str, body: dict[str, Any]) -> dict[str, Any]:
    lines = body.get("lines")
    if lines is not None and not (isinstance(lines, dict) and all(isinstance(q, int) for q in lines.values())):
        raise Rejected("lines must be an object of SKU to quantity.")
    tracking = body.get("trackingNumbers") or []
    if not isinstance(tracking, list):
        raise Rejected("trackingNumbers must be a list.")
    return state.ship(number, lines, carrier=str(body.get("carrier") or "UPS"),
                      tracking_numbers=[str(t) for t in tracking], reference=str(body.get("reference") or ""))


def _outcome(state: BlueCherryState, key: str, outcome: tuple[Any, bool], render: Callable[[Any], Any]
             ) -> dict[str, Any]:
    """``{"created": <bool>, key: <rendered record>}`` for a write's (record, created) ``outcome``."""
    record, created = outcome
    with state.lock:
        return {"created": created, key: render(record)}


def _add_warehouse(state: BlueCherryState, body: dict[str, Any]) -> dict[str, Any]:
    try:
        return state.add_warehouse(str(body["warehouse"]), str(body.get("name", body["warehouse"])),
                                   city=str(body.get("city", "")), region=str(body.get("state", "")),
                                   country=str(body.get("country", "US")), active=bool(body.get("active", True)))
    except (KeyError, ValueError) as exc:
        raise Rejected(f"Invalid warehouse: {exc}") from None


def new_style(state: BlueCherryState, body: dict[str, Any]) -> dict[str, Any]:
    """Add the style ``body`` describes (``{"style", "styleName", "colors", "sizes", ...}``); a 400 if it cannot."""
    try:
        colors = [(str(c["color"]), str(c.get("colorName", c["color"]))) for c in body.get("colors", [])]
        return state.add_style(
            str(body["style"]), str(body.get("styleName", body["style"])), colors,
            [str(s) for s in body.get("sizes", [])], size_scale=body.get("sizeScale"),
            division=str(body.get("division", "01")), season=str(body.get("season", "SP25")),
            status=str(body.get("status", "ACTIVE")), price=float(body.get("price", 0.0)),
            weight=float(body.get("weight", 0.0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise Rejected(f"Invalid style: {exc}") from None


def _set_stock(state: BlueCherryState, rows: list[Any]) -> int:
    for raw in rows:
        row = as_object(raw, "A stock row")
        levels = {arg: row[name] for name, arg in STOCK_FIELDS.items() if row.get(name) is not None}
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in levels.values()):
            raise Rejected(f"Stock levels must be whole numbers: {row!r}")
        state.set_stock(str(row.get("sku", "")), str(row.get("warehouse", "")), **levels)
    return len(rows)


def _clock_view(state: BlueCherryState) -> dict[str, Any]:
    return {"now": format_timestamp(state.clock()), "pinned": isinstance(state.clock, PinnedClock)}


def _move_clock(state: BlueCherryState, body: dict[str, Any]) -> None:
    if "now" in body:
        if body["now"] is None:
            state.clock = utc_now
        else:
            try:
                state.clock = PinnedClock(parse_iso_datetime(str(body["now"])))
            except ValueError as exc:
                raise Rejected(f"now: {exc}") from None
    seconds = body.get("advanceSeconds")
    if seconds is not None:
        if not isinstance(state.clock, PinnedClock):
            raise Rejected("Pin the clock with {\"now\": ...} before advancing it.", 409, "conflict")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise Rejected("advanceSeconds must be a number of at least 0.")
        state.clock.advance(float(seconds))
