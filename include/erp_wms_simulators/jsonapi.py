"""Scaffolding the two JSON simulators (Cin7 Core and BlueCherry) share, so that both behave the same way
and differ only in their wording and error shape:

- :func:`json_simulator_app` assembles the FastAPI app: the API router under its prefix, the ``/_sim``
  admin router, error handlers, an :class:`ApiGate` in front of the API and the last-resort
  :class:`~erp_wms_simulators.common.ErrorGuard`;
- :class:`ErrorEnvelope` is how one simulator renders a :class:`~erp_wms_simulators.common.SimError` and
  words the 404 of an unknown path and the 405 of a wrong method;
- :func:`rate_limited` counts one call of an API key against the per-key rate limit;
- :func:`settings_admin_router` serves ``/_sim/state``, ``/_sim/settings`` and ``/_sim/reset`` (plus the
  fault and callback routes of :func:`~erp_wms_simulators.common.faults_admin_router`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from erp_wms_simulators.common import (
    CaseInsensitiveQuery,
    Clock,
    ErrorGuard,
    SimError,
    SlidingWindowLimiter,
    faults_admin_router,
    parse_bool,
    read_json,
)
from erp_wms_simulators.traffic import traffic_admin_router

Refusal = Callable[[Request], Response | None]


class GatedState(Protocol):
    """What the gate and the admin routes use of a JSON simulator's state."""

    limiter: SlidingWindowLimiter
    throttled: int

    @property
    def clock(self) -> Clock: ...

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    def count_call(self) -> None: ...

    def snapshot(self) -> dict[str, Any]: ...

    def reset(self) -> None: ...


class GatedSettings(Protocol):
    """What the gate and the admin routes use of a JSON simulator's settings (a dataclass)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def rate_limit_per_minute(self) -> int: ...

    @property
    def rate_limit_window_seconds(self) -> float: ...

    def update(self, changes: dict[str, Any]) -> None: ...


S = TypeVar("S", bound=GatedState)


@dataclass(frozen=True)
class ErrorEnvelope:
    """A simulator's error shape (``render``) and its wording of unknown paths and wrong methods."""

    render: Callable[[SimError], Response]
    not_found: str  # ``{path}`` is filled in
    not_allowed: str  # ``{method}`` and ``{path}`` are filled in

    def status(self, status: int, message: str) -> Response:
        """``message`` with ``status`` in the simulator's shape."""
        return self.render(SimError(status, message))


class ApiGate:
    """ASGI layer in front of the API under ``prefix``: ``refuse`` answers the calls it turns away
    (credentials, rate limit); other calls, and every path outside ``prefix``, go on to the app.

    With ``fold_case`` the path is lower-cased first, for an API whose resource names match in any case.
    """

    def __init__(self, app: ASGIApp, prefix: str, refuse: Refusal, fold_case: bool = False) -> None:
        self.app = app
        self.prefix = prefix
        self.refuse = refuse
        self.fold_case = fold_case

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.fold_case:
                lowered = scope["path"].lower()
                scope = {**scope, "path": lowered, "raw_path": lowered.encode()}
            path = scope.get("path", "")
            if path == self.prefix or path.startswith(self.prefix + "/"):
                refusal = self.refuse(Request(scope))
                if refusal is not None:
                    await refusal(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def rate_limited(state: GatedState, settings: GatedSettings, key: str) -> float | None:
    """Count a call of ``key``: ``None`` when the rate limit allows it (a served call), else the seconds
    until a slot frees up (a throttled call)."""
    state.limiter.window = settings.rate_limit_window_seconds
    wait = state.limiter.hit(key, state.clock(), settings.rate_limit_per_minute)
    if wait is None:
        state.count_call()
        return None
    with state.lock:
        state.throttled += 1
    return wait


def json_simulator_app(*, title: str, system: str, state: GatedState, settings: GatedSettings,
                       api: APIRouter, api_prefix: str, admin: APIRouter, refuse: Refusal,
                       envelope: ErrorEnvelope, fold_case: bool = False) -> FastAPI:
    """A simulator app serving ``api`` under ``api_prefix`` (behind an :class:`ApiGate` calling ``refuse``)
    and ``admin`` under ``/_sim``; every error, down to an unexpected one, is rendered by ``envelope``."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sim = state
    app.state.settings = settings
    app.include_router(api, prefix=api_prefix)
    app.include_router(admin, prefix="/_sim")
    _install_error_handlers(app, envelope)
    app.add_middleware(ApiGate, prefix=api_prefix, refuse=refuse, fold_case=fold_case)
    app.add_middleware(ErrorGuard, render=envelope.status, system=system)
    return app


def _install_error_handlers(app: FastAPI, envelope: ErrorEnvelope) -> None:
    async def sim_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SimError)
        return envelope.render(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        wording = {404: envelope.not_found, 405: envelope.not_allowed}.get(exc.status_code)
        message = wording.format(path=request.url.path, method=request.method) if wording else str(exc.detail)
        return envelope.render(SimError(exc.status_code, message, headers=dict(exc.headers or {})))

    async def validation_error(request: Request, exc: Exception) -> Response:
        return envelope.status(400, f"The request is not valid: {exc}")

    app.add_exception_handler(SimError, sim_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def settings_admin_router(state: S, settings: GatedSettings, *, secret: str, secret_label: str,
                          not_object: str, seed: Callable[[S], None]) -> APIRouter:
    """``/state``, ``/settings`` and ``/reset?seed=true`` (plus faults and callbacks) of one simulator.

    The settings field ``secret`` holds the credentials: never shown, and not changed through
    ``/settings`` (``"<secret_label> cannot be changed ..."``); a body that is no JSON object is refused
    with ``not_object``; ``seed`` fills a state emptied by ``/reset`` with the demo data.
    """
    router = APIRouter()

    @router.get("/state")
    def get_state() -> dict[str, Any]:
        return {**state.snapshot(), "settings": _public_settings(settings, secret)}

    @router.post("/settings")
    async def change_settings(request: Request) -> dict[str, Any]:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise SimError(400, not_object)
        if secret in body:
            raise SimError(400, f"{secret_label} cannot be changed through /_sim/settings.")
        try:
            settings.update(body)
        except (TypeError, ValueError) as exc:
            raise SimError(400, str(exc)) from None
        return _public_settings(settings, secret)

    @router.post("/reset")
    def reset(request: Request) -> dict[str, Any]:
        try:
            with_demo = parse_bool(CaseInsensitiveQuery.of(request).get("seed"))
        except ValueError as exc:
            raise SimError(400, str(exc)) from None
        state.reset()
        if with_demo:
            seed(state)
        return state.snapshot()

    router.include_router(faults_admin_router(lambda request: state))  # /faults, /callbacks
    router.include_router(traffic_admin_router(lambda request: state))  # /traffic
    return router


def _public_settings(settings: GatedSettings, secret: str) -> dict[str, Any]:
    """Settings without the credentials."""
    return {k: v for k, v in asdict(settings).items() if k != secret}
