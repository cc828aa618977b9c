"""The webhook receiver: a FastAPI app the plugin mounts in the Airflow API server under ``/erp-wms``.

Routes (see :mod:`erp_wms_sync.webhooks` for the contract):

- ``GET|POST /hooks/peoplevox/{integration}/{event_type}?token=…`` — Peoplevox despatch callbacks (query string,
  or form body with the token still in the query);
- ``POST /hooks/cin7core/{integration}`` — Cin7 Core webhooks (JSON, ``Authorization: Bearer|Basic``);
- ``GET /health`` — stored callbacks still waiting for their asset event, per integration (no secret, no payload).

Every callback is checked in this order, and the first failure answers: an integration that does not exist or
whose systems do not match the path → 404; a missing or wrong secret → 401 (the body is not read); a body over
``MAX_BODY_BYTES`` → 413; anything malformed → 400/415 with ``{"error": …}`` naming what is wrong. Each refusal is
kept as a ``security_events`` row (path only, never the query string, headers or body). A valid callback is
committed to ``webhook_inbox`` before the answer (202, or 200 for a repeat); when the ledger cannot keep it the
answer is 503 so the sender retries. The background :class:`~erp_wms_sync.webhooks.outbox.Outbox` then emits the
Airflow asset events. Handlers are sync (run in the threadpool): an ``async`` handler calling back into the same
server would block its event loop.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from erp_wms_sync.config import ErpKind, Integration, scan_folder
from erp_wms_sync.connectors.redaction import redact_known
from erp_wms_sync.errors import LedgerError
from erp_wms_sync.ledger.db import ensure_migrated, resolve_url
from erp_wms_sync.webhooks import CIN7CORE, HOOKS_PREFIX, MAX_BODY_BYTES, PEOPLEVOX, TOKEN_PARAM, inbox
from erp_wms_sync.webhooks.outbox import AssetEmitter, Outbox
from erp_wms_sync.webhooks.secrets import SecretSource, SecretUnavailable, WebhookSecret

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"
STORE_FAILED = "could not store the callback; retry"
LEDGER_ERRORS = (SQLAlchemyError, OSError, LedgerError)
ACCESS_LOGGERS = ("uvicorn.access", "uvicorn.error", "gunicorn.access", "gunicorn.error")


# --- the access log must not show the Peoplevox token ---------------------------------------------------------
_TOKEN_VALUE = re.compile(r"(?i)((?:^|[?&;\s\"'(])" + TOKEN_PARAM + r"=)[^&\s\"';)]*")


def hide_tokens(text: str) -> str:
    """``text`` with the value of every ``token=`` query parameter replaced by ``***``."""
    return _TOKEN_VALUE.sub(r"\1***", text)


class TokenFilter(logging.Filter):
    """Rewrites log records so a callback URL's ``token=`` value never reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = hide_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(hide_tokens(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: hide_tokens(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


_TOKEN_FILTER = TokenFilter()

#: Refused requests from one address recorded one by one per minute; the rest are counted in one summary event.
SECURITY_EVENTS_PER_MINUTE = 30
RECORD, LAST, SUPPRESS = "record", "last", "suppress"


class SecurityFlood:
    """Counts refused requests per (integration, source, address) and minute, so a flood is bounded.

    :meth:`admit` says whether this refusal is recorded (``record``), is the last one recorded this minute
    (``last``) or only counted (``suppress``); when a new minute starts after a suppressed burst it also returns
    the summary to keep ("… N more refused requests …"). Thread-safe; memory bounded by :data:`MAX_KEYS`."""

    MAX_KEYS = 1000

    def __init__(self, limit: int = SECURITY_EVENTS_PER_MINUTE, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str | None, str, str | None], list[float]] = {}  # key -> [minute start, count]

    def admit(self, integration: str | None, source: str, remote: str | None) -> tuple[str, str | None]:
        key = (integration, source, remote)
        now = self.clock()
        summary: str | None = None
        with self._lock:
            entry = self._seen.get(key)
            if entry is None or now - entry[0] >= 60.0:
                if entry is not None and entry[1] > self.limit:
                    summary = (f"{int(entry[1] - self.limit)} more refused {source} requests from "
                               f"{remote or 'an unknown address'} in one minute, counted and not recorded one by one")
                if entry is None and len(self._seen) >= self.MAX_KEYS:
                    self._forget(now)
                entry = self._seen[key] = [now, 0.0]
            entry[1] += 1
            count = entry[1]
        if count < self.limit:
            return RECORD, summary
        return (LAST if count == self.limit else SUPPRESS), summary

    def _forget(self, now: float) -> None:
        """Drop finished minutes (their summaries are lost only when more than MAX_KEYS addresses knock at once)."""
        for key in [k for k, (start, _) in self._seen.items() if now - start >= 60.0]:
            del self._seen[key]
        while len(self._seen) >= self.MAX_KEYS:
            self._seen.pop(next(iter(self._seen)))


def install_token_log_filter() -> None:
    """Add the :class:`TokenFilter` to the web servers' access/error loggers (once; later calls do nothing)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, TokenFilter) for existing in logger.filters):
            logger.addFilter(_TOKEN_FILTER)


# --- collaborators --------------------------------------------------------------------------------------------
class LedgerGate:
    """The ledger URL, resolved and checked (``ensure_migrated``) on first use, not at import.

    While the ledger is unusable every call raises :class:`LedgerError` (checked again at most every
    ``recheck_after`` seconds); once it was usable the URL is kept.
    """

    def __init__(self, url: str | Callable[[], str | None] | None, *, recheck_after: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._source = url
        self._recheck_after = recheck_after
        self._clock = clock
        self._ready: str | None = None
        self._error: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._ready is not None:
                return self._ready
            now = self._clock()
            if self._error is not None and now < self._error[1]:
                raise LedgerError(self._error[0])
            try:
                url = resolve_url(self._source() if callable(self._source) else self._source)
                ensure_migrated(url)
            except Exception as exc:
                message = f"the webhook ledger is not usable: {redact_known(str(exc))}"
                self._error = (message, now + self._recheck_after)
                raise LedgerError(message) from None
            self._ready, self._error = url, None
            return url


class FolderIntegrations:
    """The integrations of a folder of YAML files, read again at most every ``ttl`` seconds.

    A folder that cannot be read keeps the last good set (and logs why); files with problems are left out.
    """

    def __init__(self, folder: str | Path | None, ttl: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._folder = folder
        self._ttl = ttl
        self._clock = clock
        self._known: dict[str, Integration] = {}
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Mapping[str, Integration]:
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self._ttl:
                self._read_at = now
                try:
                    scan = scan_folder(self._folder)
                except Exception as exc:
                    log.error("could not read the integration files (%s); keeping %d known integrations",
                              exc, len(self._known))
                else:
                    if scan.problems:
                        log.warning("%d problem(s) in the integration files; those integrations refuse callbacks",
                                    len(scan.problems))
                    self._known = {integration.name: integration for integration in scan.integrations}
            return self._known


# --- requests -------------------------------------------------------------------------------------------------
class Refusal(Exception):
    """Answer ``status`` with ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Caller:
    """An authenticated callback's integration, credentials and source system."""

    integration: Integration
    credentials: WebhookSecret
    source: str


@dataclass(frozen=True)
class Received:
    caller: Caller
    body: bytes
    too_large: bool


async def _read_limited(request: Request) -> tuple[bytes, bool]:
    """The body, or ``(b"", True)`` as soon as it is known to exceed ``MAX_BODY_BYTES``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return b"", True
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"", True
        chunks.append(chunk)
    return b"".join(chunks), False


def _matches(integration: Integration, source: str) -> bool:
    if source == PEOPLEVOX:
        return integration.wms.kind == PEOPLEVOX
    return integration.erp.kind == ErpKind.CIN7CORE


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _bearer_or_basic(header: str, credentials: WebhookSecret) -> str | None:
    """Why the ``Authorization`` header does not carry the integration's credentials, or None when it does."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not header.strip():
        return "the Authorization header is missing"
    if scheme.lower() == "bearer":
        return None if _same(value, credentials.secret) else "the Bearer token is wrong"
    if scheme.lower() != "basic":
        return f"Authorization scheme {scheme[:20]!r} is not accepted (use Basic or Bearer)"
    if not credentials.login:
        return "Basic credentials were sent but the webhook connection has no login (use Bearer)"
    try:
        user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return "the Basic credentials are not readable"
    right_user, right_password = _same(user, credentials.login), _same(password, credentials.secret)
    return None if right_user and right_password else "the Basic credentials are wrong"


def create_app(*, integrations: Callable[[], Mapping[str, Integration]], secrets: SecretSource,
               ledger_url: str | Callable[[], str | None] | None, emitter: AssetEmitter | None,
               start_outbox: bool = True) -> FastAPI:
    """The receiver app. ``ledger_url`` may be a callable (resolved on the first request); without an ``emitter``
    callbacks are stored but no asset event is emitted; ``start_outbox=False`` leaves the outbox thread to the
    caller (``app.state.outbox``)."""
    install_token_log_filter()
    ledger = LedgerGate(ledger_url)
    outbox = Outbox(ledger, emitter) if emitter is not None else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if outbox is not None and start_outbox:
            outbox.start()
        try:
            yield
        finally:
            if outbox is not None:
                await run_in_threadpool(outbox.stop)

    app = FastAPI(title="ERP-WMS webhooks", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.outbox = outbox
    app.state.ledger = ledger

    flood = SecurityFlood()

    def refuse(request: Request, source: str, integration: str | None, status: int, reason: str) -> Refusal:
        """Keep a security event for the refused request (path only) and build the answer.

        A flood from one address is recorded one by one only up to :data:`SECURITY_EVENTS_PER_MINUTE` a minute;
        the rest of that minute is counted and kept as one summary event, so nobody can fill the ledger (or the
        log) by knocking."""
        method, path = request.method, request.url.path
        remote = request.client.host if request.client else None
        verdict, summary = flood.admit(integration, source, remote)
        events = [(reason, status, method, path)] if verdict != SUPPRESS else []
        if summary:
            events.append((summary, 429, "-", "(many refused requests)"))
        for why, code, verb, where in events:
            try:
                inbox.record_security_event(ledger(), integration=integration, source=source, reason=why,
                                            status_code=code, method=verb, path=where, remote_addr=remote)
            except Exception as exc:  # the refusal stands even when it cannot be recorded
                log.error("could not record a security event: %s", redact_known(str(exc)))
        if verdict == RECORD:
            log.warning("refused %s callback %s %r from %s: %s (HTTP %d)", source, method, path, remote, reason,
                        status)
        elif verdict == LAST:
            log.warning("refused %s callback %s %r from %s: %s (HTTP %d); more refusals from %s this minute are "
                        "counted, not logged one by one", source, method, path, remote, reason, status, remote)
        return Refusal(status, reason)

    def authenticate(request: Request, source: str, name: str) -> tuple[Integration, WebhookSecret]:
        found = integrations().get(name)
        if found is None or not _matches(found, source):
            raise refuse(request, source, found.name if found else None, 404,
                         f"no integration {name[:64]!r} receives {source} callbacks here")
        try:
            credentials = secrets.secret_for(found)
        except SecretUnavailable as exc:
            log.error("cannot check a %s callback for %s: %s", source, found.name, exc)
            raise Refusal(503, "could not check the callback's credentials; retry") from None
        if credentials is None:
            raise refuse(request, source, found.name, 401, "no webhook secret configured")
        return found, credentials

    def peoplevox_caller(request: Request, integration: str) -> Caller:
        found, credentials = authenticate(request, PEOPLEVOX, integration)
        tokens = request.query_params.getlist(TOKEN_PARAM)
        if len(tokens) != 1:
            why = "the token query parameter is missing" if not tokens else "the token is given more than once"
            raise refuse(request, PEOPLEVOX, found.name, 401, why)
        if not _same(tokens[0], credentials.secret):
            raise refuse(request, PEOPLEVOX, found.name, 401, "the token is wrong")
        return Caller(found, credentials, PEOPLEVOX)

    def cin7_caller(request: Request, integration: str) -> Caller:
        found, credentials = authenticate(request, CIN7CORE, integration)
        why = _bearer_or_basic(request.headers.get("authorization", ""), credentials)
        if why is not None:
            raise refuse(request, CIN7CORE, found.name, 401, why)
        return Caller(found, credentials, CIN7CORE)

    async def peoplevox_received(request: Request, caller: Caller = Depends(peoplevox_caller)) -> Received:
        return Received(caller, *await _read_limited(request))

    async def cin7_received(request: Request, caller: Caller = Depends(cin7_caller)) -> Received:
        return Received(caller, *await _read_limited(request))

    def keep(request: Request, caller: Caller, parse: Callable[[], inbox.Callback | inbox.Ignored]) -> JSONResponse:
        name = caller.integration.name
        try:
            parsed = parse()
        except inbox.Malformed as exc:
            raise refuse(request, caller.source, name, exc.status, str(exc)) from None
        if isinstance(parsed, inbox.Ignored):
            return JSONResponse({"ignored": parsed.event_type}, status_code=200)
        try:
            stored = inbox.store(ledger(), parsed)
        except LEDGER_ERRORS as exc:
            log.error("could not store a %s %s callback for %s: %s", caller.source, parsed.event_type, name,
                      redact_known(str(exc)))
            return JSONResponse({"error": STORE_FAILED}, status_code=503)
        if stored.duplicate:
            return JSONResponse({"duplicate": True, "inbox_id": stored.inbox_id}, status_code=200)
        if outbox is not None:
            outbox.wake()
        return JSONResponse({"inbox_id": stored.inbox_id}, status_code=202)

    def text_of(request: Request, caller: Caller, data: bytes, what: str) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise refuse(request, caller.source, caller.integration.name, 400, f"the {what} is not UTF-8") from None

    def too_large(request: Request, caller: Caller, what: str) -> Refusal:
        return refuse(request, caller.source, caller.integration.name, 413,
                      f"the {what} is larger than {MAX_BODY_BYTES} bytes")

    @app.exception_handler(Refusal)
    async def refused(_request: Request, exc: Refusal) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.get(HOOKS_PREFIX + "/" + PEOPLEVOX + "/{integration}/{event_type}")
    def peoplevox_get(request: Request, event_type: str, caller: Caller = Depends(peoplevox_caller)) -> JSONResponse:
        query: bytes = request.scope.get("query_string", b"")
        if len(query) > MAX_BODY_BYTES:
            raise too_large(request, caller, "query string")
        raw = text_of(request, caller, query, "query string")
        return keep(request, caller, lambda: inbox.peoplevox_callback(caller.integration.name, event_type, raw,
                                                                      caller.credentials.secret))

    @app.post(HOOKS_PREFIX + "/" + PEOPLEVOX + "/{integration}/{event_type}")
    def peoplevox_post(request: Request, event_type: str,
                       received: Received = Depends(peoplevox_received)) -> JSONResponse:
        caller = received.caller
        if received.too_large:
            raise too_large(request, caller, "body")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != FORM:
            raise refuse(request, PEOPLEVOX, caller.integration.name, 415,
                         f"the body must be {FORM}, not {content_type[:60] or 'without a Content-Type'}")
        raw = text_of(request, caller, received.body, "body")
        return keep(request, caller, lambda: inbox.peoplevox_callback(caller.integration.name, event_type, raw,
                                                                      caller.credentials.secret))

    @app.post(HOOKS_PREFIX + "/" + CIN7CORE + "/{integration}")
    def cin7_post(request: Request, received: Received = Depends(cin7_received)) -> JSONResponse:
        caller = received.caller
        if received.too_large:
            raise too_large(request, caller, "body")
        return keep(request, caller, lambda: inbox.cin7_callback(caller.integration.name, received.body,
                                                                 caller.credentials.secret))

    @app.get("/health")
    def health() -> JSONResponse:
        try:
            counts = inbox.pending_counts(ledger())
        except LEDGER_ERRORS as exc:
            log.error("webhook health check: %s", redact_known(str(exc)))
            return JSONResponse({"status": "ledger unavailable"}, status_code=503)
        state = "disabled" if outbox is None else ("running" if outbox.running else "stopped")
        body: dict[str, Any] = {"status": "ok", "outbox": state, "pending_events": counts,
                                "pending_total": sum(counts.values())}
        return JSONResponse(body)

    return app
