"""ASGI middleware that injects a :class:`~erp_wms_simulators.faults.FaultPlan`'s HTTP faults.

Wrap a simulator app with :func:`install_faults`. Per request (``/_sim/`` admin paths and ``GET …?wsdl`` are
never touched) it asks the plan, in this order:

- ``rate_limit_burst``: answer the rule's status (default 429, plus ``Retry-After`` when the rule sets one) for
  ``burst`` consecutive calls;
- ``http_5xx``: answer the rule's status (default 503) in the simulator's own error envelope;
- ``timeout``: hold the request for ``delay_seconds`` (ended early when the client hangs up), then answer the
  rule's status (default 504), which a client with a shorter read timeout never sees;
- ``slow``: wait ``delay_seconds``, then serve the request normally.

The endpoint name is ``"<METHOD> <path lowercased>"``; a POST carrying a ``SOAPAction`` header is named by the
SOAP operation instead (``"SaveData"``), so ``http_5xx@SaveData`` targets one Peoplevox operation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from erp_wms_simulators.faults import FaultPlan, FaultRule

ErrorBody = Callable[[int, str], tuple[bytes, str]]
PlanSource = FaultPlan | Callable[[], FaultPlan]

MESSAGES = {
    "http_5xx": "The service is temporarily unavailable (simulated fault).",
    "rate_limit_burst": "Too many requests: the rate limit is exceeded (simulated fault).",
    "timeout": "The server did not answer in time (simulated timeout).",
}


def cin7core_error_body(status: int, message: str) -> tuple[bytes, str]:
    """Cin7 Core's error array ``[{"ErrorCode": status, "Exception": message}]``."""
    return json.dumps([{"ErrorCode": status, "Exception": message}]).encode(), "application/json"


def bluecherry_error_body(status: int, message: str) -> tuple[bytes, str]:
    """BlueCherry's gateway shape ``{"error": {"code": ..., "message": ...}}``."""
    from erp_wms_simulators.bluecherry.app import CODES

    code = CODES.get(status, "service_unavailable" if status == 503 else "error")
    return json.dumps({"error": {"code": code, "message": message}}).encode(), "application/json"


def peoplevox_error_body(status: int, message: str) -> tuple[bytes, str]:
    """A SOAP 1.1 ``soap:Fault`` (``soap:Server``), as IntegrationServiceV4 answers failures."""
    from erp_wms_simulators.peoplevox.soap import CONTENT_TYPE, fault_envelope

    return fault_envelope(message, "Server"), CONTENT_TYPE


def plain_error_body(status: int, message: str) -> tuple[bytes, str]:
    return message.encode(), "text/plain; charset=utf-8"


ERROR_BODIES: dict[str, ErrorBody] = {
    "cin7core": cin7core_error_body,
    "bluecherry": bluecherry_error_body,
    "peoplevox": peoplevox_error_body,
}


def install_faults(app: ASGIApp, plan: PlanSource, error_body: ErrorBody | None = None) -> ASGIApp:
    """``app`` wrapped by :class:`FaultMiddleware`.

    ``plan`` is the plan itself (changed in place at run time) or a function returning the current one;
    ``error_body`` renders a status and message in the vendor's shape (default: by the plan's simulator name).
    """
    return FaultMiddleware(app, plan, error_body)


class FaultMiddleware:
    """Applies ``http_5xx``, ``rate_limit_burst``, ``timeout`` and ``slow`` faults before the app sees a call."""

    def __init__(self, app: ASGIApp, plan: PlanSource, error_body: ErrorBody | None = None) -> None:
        self.app = app
        self._plan = plan
        self._error_body = error_body

    @property
    def plan(self) -> FaultPlan:
        return self._plan if isinstance(self._plan, FaultPlan) else self._plan()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plan = self.plan if scope["type"] == "http" else None
        if plan is None or not plan.active or exempt(scope):
            await self.app(scope, receive, send)
            return
        endpoint = endpoint_name(scope)
        rule = plan.fires("rate_limit_burst", endpoint)
        if rule is not None:
            await self._answer(send, plan, rule, "rate_limit_burst")
            return
        rule = plan.fires("http_5xx", endpoint)
        if rule is not None:
            await self._answer(send, plan, rule, "http_5xx")
            return
        rule = plan.fires("timeout", endpoint)
        if rule is not None:
            if await _hang(receive, rule.delay_seconds):
                await self._answer(send, plan, rule, "timeout")
            return
        rule = plan.fires("slow", endpoint)
        if rule is not None:
            await asyncio.sleep(rule.delay_seconds)
        await self.app(scope, receive, send)

    async def _answer(self, send: Send, plan: FaultPlan, rule: FaultRule, kind: str) -> None:
        render = self._error_body or ERROR_BODIES.get(plan.simulator, plain_error_body)
        body, content_type = render(rule.status, MESSAGES[kind])
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        if kind == "rate_limit_burst" and rule.retry_after is not None:
            headers.append((b"retry-after", str(rule.retry_after).encode()))
        await send({"type": "http.response.start", "status": rule.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def exempt(scope: Scope) -> bool:
    """Admin paths and WSDL downloads are never faulted (a drill must stay controllable)."""
    path = str(scope.get("path", "")).lower()
    if path == "/_sim" or path.startswith("/_sim/"):
        return True
    if scope.get("method") == "GET":
        query = scope.get("query_string", b"").decode("latin-1")
        return any(key.lower() == "wsdl" for key, _ in parse_qsl(query, keep_blank_values=True))
    return False


def endpoint_name(scope: Scope) -> str:
    """``"GET /externalapi/v2/product"``, or the SOAP operation of a POST with a ``SOAPAction`` header."""
    method = str(scope.get("method", "GET")).upper()
    if method == "POST":
        for name, value in scope.get("headers", []):
            if name.lower() == b"soapaction":
                action = value.decode("latin-1").strip().strip('"').rstrip("/")
                operation = action.rsplit("/", 1)[-1].strip()
                if operation:
                    return operation
    return f"{method} {str(scope.get('path', '')).lower()}"


async def _hang(receive: Receive, seconds: float) -> bool:
    """Wait ``seconds`` or until the client disconnects; ``True`` when the client is still there."""

    async def until_disconnect() -> None:
        for _ in range(100_000):  # request body chunks, then the disconnect
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    try:
        await asyncio.wait_for(until_disconnect(), timeout=seconds)
    except TimeoutError:
        return True
    return False
