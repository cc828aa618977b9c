"""Assemble the BlueCherry simulator: an API-Management style gate (subscription key, per-key rate
limit with ``Retry-After``), the resources under ``/api/v1``, the ``/_sim`` admin routes and error rendering.

Every error is ``{"error": {"code": "<code>", "message": "<text>"}}``, never a traceback.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from erp_wms_simulators.bluecherry.admin import admin_router
from erp_wms_simulators.bluecherry.records import Rejected
from erp_wms_simulators.bluecherry.routes import api_router
from erp_wms_simulators.bluecherry.settings import BlueCherrySettings
from erp_wms_simulators.bluecherry.state import BlueCherryState
from erp_wms_simulators.common import ErrorGuard, SimError, retry_after_header

API_PREFIX = "/api/v1"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 409: "conflict",
         429: "too_many_requests", 500: "internal_error"}


def error_response(status: int, message: str, code: str = "",
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code or CODES.get(status, "error"), "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def _render(status: int, message: str) -> Response:
    return error_response(status, message)


class ApiGate:
    """Checks the subscription key and the per-key rate limit of calls under ``/api/v1``."""

    def __init__(self, app: ASGIApp, state: BlueCherryState, settings: BlueCherrySettings) -> None:
        self.app = app
        self.state = state
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            refusal = self._refusal(Request(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        key = request.headers.get(KEY_HEADER, "").strip()
        if not key:
            return error_response(401, "Access denied due to missing subscription key. Include the "
                                       f"{KEY_HEADER} header when making requests to the API.")
        if key not in self.settings.subscription_keys:
            return error_response(401, "Access denied due to invalid subscription key. Provide a valid key "
                                       "for an active subscription.")
        self.state.limiter.window = self.settings.rate_limit_window_seconds
        wait = self.state.limiter.hit(key, self.state.clock(), self.settings.rate_limit_per_minute)
        if wait is not None:
            with self.state.lock:
                self.state.throttled += 1
            hint = retry_after_header(wait)
            headers = hint if self.settings.rate_limit_retry_after else None
            seconds = hint["Retry-After"]
            return error_response(429, f"Rate limit is exceeded. Try again in {seconds} seconds.",
                                  headers=headers)
        self.state.count_call()
        return None


def create_app(state: BlueCherryState | None = None, settings: BlueCherrySettings | None = None) -> FastAPI:
    """A BlueCherry simulator app serving ``/api/v1`` and the ``/_sim`` admin routes.

    The app and the state share one settings object: ``settings`` when given (it becomes
    ``state.settings``), else the state's own.
    """
    state = state if state is not None else BlueCherryState()
    if settings is not None:
        state.settings = settings
    settings = state.settings
    app = FastAPI(title="BlueCherry simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sim = state
    app.state.settings = settings
    app.include_router(api_router(state, settings), prefix=API_PREFIX)
    app.include_router(admin_router(state, settings), prefix="/_sim")
    _install_error_handlers(app)
    app.add_middleware(ApiGate, state=state, settings=settings)
    app.add_middleware(ErrorGuard, render=_render, system="bluecherry")
    return app


def _install_error_handlers(app: FastAPI) -> None:
    async def sim_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SimError)
        message = "; ".join(exc.details) if exc.details else exc.message
        return error_response(exc.status, message, exc.code, dict(exc.headers) or None)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            message = f"Resource '{request.url.path}' was not found."
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed on '{request.url.path}'."
        else:
            message = str(exc.detail)
        return error_response(exc.status_code, message, headers=dict(exc.headers or {}) or None)

    async def validation_error(request: Request, exc: Exception) -> Response:
        return error_response(400, f"The request is not valid: {exc}")

    async def rejected(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Rejected)
        return error_response(exc.status, exc.message, exc.code)

    app.add_exception_handler(SimError, sim_error)
    app.add_exception_handler(Rejected, rejected)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
