"""Call counting at the simulator side: how many calls each endpoint answered, and how many it refused
because of a rate limit, as the vendor would bill or throttle them.

:class:`CallCounter` keeps, per endpoint, the calls answered and the calls refused with 429 or 503 (the
statuses Cin7 Core, BlueCherry and Peoplevox use to turn a caller away), plus a count per HTTP status.
:class:`TrafficMiddleware` feeds it; :func:`~erp_wms_simulators.server.build_app` installs it as the
outermost layer of every served simulator, so fault-injected answers are counted too.

Endpoints are named as the fault knobs name them (:func:`~erp_wms_simulators.faultmw.endpoint_name`):
``"GET /externalapi/v2/salelist"`` (method and lower-cased path), the SOAP operation (``"SaveData"``) for
a POST carrying a ``SOAPAction`` header, and ``"WSDL"`` for a service-description download. The ``/_sim``
admin routes are never counted.

Read the counts with ``state.traffic.snapshot()`` (or ``GET /_sim/traffic``) and clear them with
``state.traffic.reset()`` (or ``DELETE /_sim/traffic``).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from erp_wms_simulators.faultmw import endpoint_name

REFUSAL_STATUSES = frozenset({429, 503})


@dataclass
class EndpointCount:
    """What one endpoint answered: ``answered`` calls, ``refused`` calls (429/503), and per status."""

    answered: int = 0
    refused: int = 0
    statuses: Counter[int] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"answered": self.answered, "refused": self.refused,
                "statuses": {str(status): n for status, n in sorted(self.statuses.items())}}


class CallCounter:
    """Thread-safe per-endpoint call counts of one simulator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, EndpointCount] = {}

    def record(self, endpoint: str, status: int) -> None:
        """Count one finished call of ``endpoint`` that was answered with ``status``."""
        with self._lock:
            count = self._counts.setdefault(endpoint, EndpointCount())
            count.statuses[status] += 1
            if status in REFUSAL_STATUSES:
                count.refused += 1
            else:
                count.answered += 1

    def answered(self, endpoint: str | None = None) -> int:
        """Calls answered (not refused) by ``endpoint``, or by every endpoint when ``None``."""
        with self._lock:
            return sum(c.answered for name, c in self._counts.items() if endpoint in (None, name))

    def refused(self, endpoint: str | None = None) -> int:
        """Calls refused with 429/503 by ``endpoint``, or by every endpoint when ``None``."""
        with self._lock:
            return sum(c.refused for name, c in self._counts.items() if endpoint in (None, name))

    def snapshot(self) -> dict[str, Any]:
        """``{"answered": n, "refused": n, "endpoints": {name: {"answered", "refused", "statuses"}}}``."""
        with self._lock:
            endpoints = {name: count.to_dict() for name, count in sorted(self._counts.items())}
        return {"answered": sum(e["answered"] for e in endpoints.values()),
                "refused": sum(e["refused"] for e in endpoints.values()), "endpoints": endpoints}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


def traffic_endpoint(scope: Scope) -> str | None:
    """The counted name of a request, or ``None`` for the ``/_sim`` admin routes."""
    path = str(scope.get("path", "")).lower()
    if path == "/_sim" or path.startswith("/_sim/"):
        return None
    if scope.get("method") == "GET":
        query = scope.get("query_string", b"").decode("latin-1")
        if any(key.lower() == "wsdl" for key, _ in parse_qsl(query, keep_blank_values=True)):
            return "WSDL"
    return endpoint_name(scope)


class TrafficMiddleware:
    """Counts every HTTP call that passes through it in ``counter``, by the status it was answered with."""

    def __init__(self, app: ASGIApp, counter: CallCounter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = traffic_endpoint(scope) if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        status = 0

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            if status:  # a call the client hung up on before any answer is not counted
                self.counter.record(endpoint, status)


def traffic_admin_router(resolve: Any) -> APIRouter:
    """``GET /traffic`` (the counts) and ``DELETE /traffic`` (clear them) over ``resolve(request).traffic``."""
    router = APIRouter()

    @router.get("/traffic")
    def get_traffic(request: Request) -> dict[str, Any]:
        counter: CallCounter = resolve(request).traffic
        return counter.snapshot()

    @router.delete("/traffic")
    def clear_traffic(request: Request) -> dict[str, Any]:
        counter: CallCounter = resolve(request).traffic
        counter.reset()
        return counter.snapshot()

    return router
