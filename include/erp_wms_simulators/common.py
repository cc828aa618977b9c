"""Pieces every simulator shares: clocks, timestamps, paging, a sliding-window rate limiter,
case-insensitive query parameters, a last-resort ASGI error guard, and the ``/_sim`` routes that drive
fault injection and callback delivery (:func:`faults_admin_router`).

Nothing here knows a vendor's error shape: each simulator passes a ``render`` function that turns a
status and a message into its own JSON body.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from erp_wms_simulators.faults import PROFILES, FaultRule, parse_knob

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]
Renderer = Callable[[int, str], Response]

SIM_NAMESPACE = uuid.UUID("6f2b7c1e-9a4d-4f3b-8e21-0c5d7a9b3e10")


def utc_now() -> datetime:
    """The real clock: an aware UTC datetime."""
    return datetime.now(UTC)


def stable_guid(*parts: str) -> str:
    """A GUID derived from ``parts`` (the same input always gives the same GUID)."""
    return str(uuid.uuid5(SIM_NAMESPACE, "/".join(parts)))


def new_guid() -> str:
    return str(uuid.uuid4())


def parse_iso_datetime(value: str) -> datetime:
    """Parse ``yyyy-MM-ddTHH:mm:ss(.fff)(Z|±hh:mm)``; a value without an offset is taken as UTC.

    Raises ``ValueError`` with a readable message when the text is not such a timestamp.
    """
    text = value.strip()
    if not text or not text[0].isdigit():
        raise ValueError(f"'{value}' is not an ISO 8601 date-time")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO 8601 date-time (expected yyyy-MM-ddTHH:mm:ss)") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def whole_hours_before(moment: datetime, hours: int) -> datetime:
    """``hours`` before ``moment``, down to the whole hour (a fixed, tidy change time for demo data)."""
    return (moment - timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)


def format_timestamp(moment: datetime, *, millis: bool = True, zulu: bool = True) -> str:
    """``2025-01-31T09:15:00.000Z`` style text for an aware (or UTC-naive) datetime."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if millis:
        text += f".{moment.microsecond // 1000:03d}"
    return text + ("Z" if zulu else "")


def parse_bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise ValueError(f"'{value}' is not a boolean (use true or false)")


def parse_int(name: str, value: str | None, default: int, low: int, high: int | None = None) -> int:
    """An integer query parameter within ``[low, high]``; ``ValueError`` names the parameter."""
    if value is None or value == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(f"{name} must be an integer, got '{value}'") from None
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bound}, got {number}")
    return number


def page_of(items: Sequence[T], page: int, size: int) -> list[T]:
    """The 1-based ``page`` of ``items`` with ``size`` rows per page (empty past the end)."""
    start = (page - 1) * size
    return list(items[start:start + size])


class CaseInsensitiveQuery:
    """Query parameters looked up without regard to the case of their names (``Page`` == ``page``)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, str] = {}
        for key, value in pairs:
            self._values.setdefault(key.lower(), value)

    @classmethod
    def of(cls, request: Request) -> CaseInsensitiveQuery:
        return cls(request.query_params.multi_items())

    def get(self, name: str) -> str | None:
        return self._values.get(name.lower())


@dataclass
class SimError(Exception):
    """An error a simulator answers deliberately, rendered in the vendor's own JSON shape."""

    status: int
    message: str
    code: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    details: tuple[str, ...] = ()  # several problems at once (a validation error per field)

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.message}"


@dataclass
class SlidingWindowLimiter:
    """At most ``limit`` calls per key in any ``window`` seconds; refused calls are not counted."""

    window: float = 60.0
    _hits: dict[str, deque[datetime]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, key: str, now: datetime, limit: int) -> float | None:
        """Record a call; ``None`` when allowed, else the seconds until a slot frees up."""
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            horizon = now - timedelta(seconds=self.window)
            while hits and hits[0] <= horizon:
                hits.popleft()
            if len(hits) >= limit:
                wait = (hits[0] - horizon).total_seconds()
                return max(wait, 0.001)
            hits.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class ErrorGuard:
    """Outermost ASGI layer: any exception that escapes the app becomes a rendered 500, never a traceback."""

    def __init__(self, app: ASGIApp, render: Renderer, system: str) -> None:
        self.app = app
        self.render = render
        self.system = system

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("%s simulator: unhandled error on %s %s", self.system, scope.get("method"),
                          scope.get("path"))
            if started:
                raise
            response = self.render(500, "An unexpected error occurred while processing the request.")
            await response(scope, receive, send)


async def read_json(request: Request, bad_status: int = 400) -> Any:
    """The request body as JSON; a missing or malformed body is a :class:`SimError`."""
    raw = await request.body()
    if not raw.strip():
        raise SimError(bad_status, "The request body is empty; a JSON document was expected.", "bad_request")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SimError(bad_status, f"The request body could not be parsed as JSON: {exc}", "bad_request"
                       ) from None


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def faults_admin_router(resolve: Callable[[Request], Any]) -> APIRouter:
    """Admin routes over the ``faults`` plan and ``callbacks`` dispatcher of the state ``resolve`` returns.

    Include it in a simulator's ``/_sim`` router: ``router.include_router(faults_admin_router(lambda r: state))``.

    - ``GET    /faults``             the plan: profile, seed, rules, fired counts
    - ``POST   /faults``             ``{"profile": "flaky", "seed": 7}`` replaces the rules by a profile;
      ``{"seed": 7}`` alone restarts the random streams; ``{"rules": [{"kind": "slow", ...}]}`` and
      ``{"knobs": ["http_5xx@SaveData=0.5"]}`` add rules (after the profile, if one is given too).
      Everything is checked before anything changes.
    - ``DELETE /faults``             no faults any more
    - ``GET    /callbacks``          queue and delivery counts, latest deliveries, retry settings
    - ``POST   /callbacks``          change retry settings, e.g. ``{"retry_schedule": [5, 30], "time_scale": 60}``
    - ``POST   /callbacks/pump``     send what is due now (``?force=true``: everything queued)
    """
    router = APIRouter()

    @router.get("/faults")
    def get_faults(request: Request) -> dict[str, Any]:
        return dict(resolve(request).faults.to_dict())

    @router.post("/faults")
    async def change_faults(request: Request) -> dict[str, Any]:
        body = await _admin_object(request)
        plan = resolve(request).faults
        profile, seed, rules = _fault_changes(body)
        if profile is not None:
            plan.set_profile(profile, seed)
        elif seed is not None:
            plan.reseed(seed)
        for rule in rules:
            plan.add_rule(rule)
        return dict(plan.to_dict())

    @router.delete("/faults")
    def clear_faults(request: Request) -> dict[str, Any]:
        plan = resolve(request).faults
        plan.clear()
        return dict(plan.to_dict())

    @router.get("/callbacks")
    def get_callbacks(request: Request) -> dict[str, Any]:
        return dict(resolve(request).callbacks.to_dict())

    @router.post("/callbacks")
    async def configure_callbacks(request: Request) -> dict[str, Any]:
        dispatcher = resolve(request).callbacks
        try:
            dispatcher.configure(await _admin_object(request))
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return dict(dispatcher.to_dict())

    @router.post("/callbacks/pump")
    def pump_callbacks(request: Request) -> dict[str, Any]:
        try:
            force = parse_bool(CaseInsensitiveQuery.of(request).get("force"))
        except ValueError as exc:
            raise HTTPException(400, f"force: {exc}") from None
        dispatcher = resolve(request).callbacks
        sent = dispatcher.pump(force=force)
        return {"sent": sent, **dispatcher.to_dict()}

    return router


async def _admin_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, f"The request body could not be parsed as JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "The request body must be a JSON object.")
    return body


def _fault_changes(body: Mapping[str, Any]) -> tuple[str | None, int | None, list[FaultRule]]:
    """Validate a ``POST /_sim/faults`` body; ``HTTPException(400)`` names what is wrong."""
    unknown = sorted(set(body) - {"profile", "seed", "rules", "knobs"})
    if unknown:
        raise HTTPException(400, f"unknown field(s) {', '.join(unknown)}; use profile, seed, rules, knobs")
    profile = body.get("profile")
    if profile is not None and profile not in PROFILES:
        raise HTTPException(400, f"unknown fault profile {profile!r}; choose from {', '.join(PROFILES)}")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise HTTPException(400, f"seed must be an integer, got {seed!r}")
    rules_in, knobs_in = body.get("rules") or [], body.get("knobs") or []
    if not isinstance(rules_in, list) or not isinstance(knobs_in, list):
        raise HTTPException(400, "rules and knobs must be lists")
    try:
        rules = [FaultRule.from_dict(item) for item in rules_in]
        rules += [parse_knob(str(knob)) for knob in knobs_in]
    except (TypeError, ValueError) as exc:
        raise HTTPException(400, str(exc)) from None
    return profile, seed, rules
