"""Assemble the Cin7 Core simulator: the API gate (case-insensitive paths, header auth, per-key rate
limit), the resources, the ``/_sim`` admin routes, and error rendering.

Every error is the vendor's array shape ``[{"ErrorCode": <status>, "Exception": "<message>"}]``, including
unknown resources (404), wrong methods (405) and unexpected failures (500, never a traceback).
"""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from erp_wms_simulators.cin7core.admin import admin_router
from erp_wms_simulators.cin7core.routes import api_router
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.state import Cin7CoreState
from erp_wms_simulators.common import SimError, retry_after_header
from erp_wms_simulators.jsonapi import ErrorEnvelope, json_simulator_app, rate_limited

API_PREFIX = "/externalapi/v2"
ACCOUNT_HEADER = "api-auth-accountid"
KEY_HEADER = "api-auth-applicationkey"


def error_response(status: int, message: str, headers: dict[str, str] | None = None,
                   details: tuple[str, ...] = ()) -> JSONResponse:
    messages = details or (message,)
    return JSONResponse([{"ErrorCode": status, "Exception": text} for text in messages], status_code=status,
                        headers=headers)


def _render(error: SimError) -> Response:
    return error_response(error.status, error.message, dict(error.headers) or None, error.details)


ENVELOPE = ErrorEnvelope(_render, not_found="The resource '{path}' was not found.",
                         not_allowed="The requested resource does not support http method '{method}'.")


def _refusal(state: Cin7CoreState, settings: Cin7CoreSettings, request: Request) -> Response | None:
    """The gate's answer to a call with missing or wrong credentials, or over the rate limit."""
    account = request.headers.get(ACCOUNT_HEADER, "").strip()
    key = request.headers.get(KEY_HEADER, "").strip()
    if not account or not key:
        return error_response(403, f"Missing authentication headers {ACCOUNT_HEADER} and {KEY_HEADER}.")
    expected = settings.account_for(key)
    if expected is None or expected.lower() != account.lower():
        return error_response(403, "Incorrect credentials! Check your Account ID and Application Key.")
    wait = rate_limited(state, settings, key.lower())
    if wait is None:
        return None
    headers = retry_after_header(wait) if settings.rate_limit_retry_after else None
    return error_response(settings.rate_limit_status, settings.rate_limit_message(), headers)


def create_app(state: Cin7CoreState | None = None, settings: Cin7CoreSettings | None = None) -> FastAPI:
    """A Cin7 Core simulator app serving ``/ExternalApi/v2`` (any case) and the ``/_sim`` admin routes.

    The gate lower-cases every request path, so resource names match in any case.
    """
    state = state if state is not None else Cin7CoreState()
    settings = settings if settings is not None else Cin7CoreSettings()
    return json_simulator_app(title="Cin7 Core simulator", system="cin7core", state=state, settings=settings,
                              api=api_router(state, settings), api_prefix=API_PREFIX,
                              admin=admin_router(state, settings), refuse=partial(_refusal, state, settings),
                              envelope=ENVELOPE, fold_case=True)
