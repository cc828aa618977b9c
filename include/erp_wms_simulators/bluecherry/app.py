"""Assemble the BlueCherry simulator: an API-Management style gate (subscription key, per-key rate
limit with ``Retry-After``), the resources under ``/api/v1``, the ``/_sim`` admin routes and error rendering.

Every error is ``{"error": {"code": "<code>", "message": "<text>"}}``, never a traceback.
"""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from erp_wms_simulators.bluecherry.admin import admin_router
from erp_wms_simulators.bluecherry.records import Rejected
from erp_wms_simulators.bluecherry.routes import api_router
from erp_wms_simulators.bluecherry.settings import BlueCherrySettings
from erp_wms_simulators.bluecherry.state import BlueCherryState
from erp_wms_simulators.common import SimError, retry_after_header
from erp_wms_simulators.jsonapi import ErrorEnvelope, json_simulator_app, rate_limited

API_PREFIX = "/api/v1"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 409: "conflict",
         429: "too_many_requests", 500: "internal_error"}


def error_response(status: int, message: str, code: str = "",
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code or CODES.get(status, "error"), "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def _render(error: SimError) -> Response:
    message = "; ".join(error.details) if error.details else error.message
    return error_response(error.status, message, error.code, dict(error.headers) or None)


ENVELOPE = ErrorEnvelope(_render, not_found="Resource '{path}' was not found.",
                         not_allowed="Method {method} is not allowed on '{path}'.")


def _refusal(state: BlueCherryState, settings: BlueCherrySettings, request: Request) -> Response | None:
    """The gate's answer to a call without a valid subscription key or over the rate limit."""
    key = request.headers.get(KEY_HEADER, "").strip()
    if not key:
        return error_response(401, "Access denied due to missing subscription key. Include the "
                                   f"{KEY_HEADER} header when making requests to the API.")
    if key not in settings.subscription_keys:
        return error_response(401, "Access denied due to invalid subscription key. Provide a valid key "
                                   "for an active subscription.")
    wait = rate_limited(state, settings, key)
    if wait is None:
        return None
    hint = retry_after_header(wait)
    headers = hint if settings.rate_limit_retry_after else None
    seconds = hint["Retry-After"]
    return error_response(429, f"Rate limit is exceeded. Try again in {seconds} seconds.", headers=headers)


async def _rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Rejected)
    return error_response(exc.status, exc.message, exc.code)


def create_app(state: BlueCherryState | None = None, settings: BlueCherrySettings | None = None) -> FastAPI:
    """A BlueCherry simulator app serving ``/api/v1`` and the ``/_sim`` admin routes.

    The app and the state share one settings object: ``settings`` when given (it becomes
    ``state.settings``), else the state's own.
    """
    state = state if state is not None else BlueCherryState()
    if settings is not None:
        state.settings = settings
    settings = state.settings
    app = json_simulator_app(title="BlueCherry simulator", system="bluecherry", state=state, settings=settings,
                             api=api_router(state, settings), api_prefix=API_PREFIX,
                             admin=admin_router(state, settings), refuse=partial(_refusal, state, settings),
                             envelope=ENVELOPE)
    app.add_exception_handler(Rejected, _rejected)
    return app
