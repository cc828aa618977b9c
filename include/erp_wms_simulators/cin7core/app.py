"""Assemble the Cin7 Core simulator: the API gate (case-insensitive paths, header auth, per-key rate
limit), the resources, the ``/_sim`` admin routes, and error rendering.

Every error is the vendor's array shape ``[{"ErrorCode": <status>, "Exception": "<message>"}]``, including
unknown resources (404), wrong methods (405) and unexpected failures (500, never a traceback).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from erp_wms_simulators.cin7core.admin import admin_router
from erp_wms_simulators.cin7core.routes import api_router
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.state import Cin7CoreState
from erp_wms_simulators.common import ErrorGuard, SimError, retry_after_header

log = logging.getLogger(__name__)

API_PREFIX = "/externalapi/v2"
ACCOUNT_HEADER = "api-auth-accountid"
KEY_HEADER = "api-auth-applicationkey"


def error_response(status: int, message: str, headers: dict[str, str] | None = None,
                   details: tuple[str, ...] = ()) -> JSONResponse:
    messages = details or (message,)
    return JSONResponse([{"ErrorCode": status, "Exception": text} for text in messages], status_code=status,
                        headers=headers)


def _render(status: int, message: str) -> Response:
    return error_response(status, message)


class ApiGate:
    """Lower-cases the path, then checks credentials and the rate limit of External API calls."""

    def __init__(self, app: ASGIApp, state: Cin7CoreState, settings: Cin7CoreSettings) -> None:
        self.app = app
        self.state = state
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"].lower()
        scope = {**scope, "path": path, "raw_path": path.encode()}
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            refusal = self._refusal(Request(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        account = request.headers.get(ACCOUNT_HEADER, "").strip()
        key = request.headers.get(KEY_HEADER, "").strip()
        if not account or not key:
            return error_response(403, f"Missing authentication headers {ACCOUNT_HEADER} and {KEY_HEADER}.")
        expected = self.settings.account_for(key)
        if expected is None or expected.lower() != account.lower():
            return error_response(403, "Incorrect credentials! Check your Account ID and Application Key.")
        self.state.limiter.window = self.settings.rate_limit_window_seconds
        wait = self.state.limiter.hit(key.lower(), self.state.clock(), self.settings.rate_limit_per_minute)
        if wait is not None:
            with self.state.lock:
                self.state.throttled += 1
            headers = retry_after_header(wait) if self.settings.rate_limit_retry_after else None
            status = self.settings.rate_limit_status
            return error_response(status, self.settings.rate_limit_message(), headers)
        self.state.count_call()
        return None


def create_app(state: Cin7CoreState | None = None, settings: Cin7CoreSettings | None = None) -> FastAPI:
    """A Cin7 Core simulator app serving ``/ExternalApi/v2`` (any case) and the ``/_sim`` admin routes."""
    state = state if state is not None else Cin7CoreState()
    settings = settings if settings is not None else Cin7CoreSettings()
    app = FastAPI(title="Cin7 Core simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sim = state
    app.state.settings = settings
    app.include_router(api_router(state, settings), prefix=API_PREFIX)
    app.include_router(admin_router(state, settings), prefix="/_sim")
    _install_error_handlers(app)
    app.add_middleware(ApiGate, state=state, settings=settings)
    app.add_middleware(ErrorGuard, render=_render, system="cin7core")
    return app


def _install_error_handlers(app: FastAPI) -> None:
    async def sim_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SimError)
        return error_response(exc.status, exc.message, dict(exc.headers) or None, exc.details)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            message = f"The resource '{request.url.path}' was not found."
        elif exc.status_code == 405:
            message = f"The requested resource does not support http method '{request.method}'."
        else:
            message = str(exc.detail)
        return error_response(exc.status_code, message, dict(exc.headers or {}) or None)

    async def validation_error(request: Request, exc: Exception) -> Response:
        return error_response(400, f"The request is not valid: {exc}")

    app.add_exception_handler(SimError, sim_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
