"""The dashboard's web plumbing: who is asking, who may act, CSRF, the page layout, and redaction of every response.

Authentication is Airflow's own: a request carries the UI's ``_token`` cookie (the dashboard runs in an iframe of the
Airflow UI, same origin) or an ``Authorization: Bearer`` JWT from ``POST /auth/token``; anything else gets
``401``. Acting (retry, resolve, edit, approve) needs more than reading: the user must be allowed to change the
DAG runs of the integration concerned (``PUT`` on its DAG runs, as the auth manager decides — SimpleAuthManager's
``viewer`` may look, ``user``/``op``/``admin`` may act); otherwise ``403``. Forms posted with the cookie carry a
CSRF field derived from the cookie (a page on another site cannot read it); API calls with a Bearer token need none.

Every response body — pages, JSON, CSV exports — goes through :meth:`Dashboard.redact`: each form of every
credential of every integration's connections (URL-, base64-, JSON-, HTML-encoded; see
:mod:`erp_wms_sync.connectors.redaction`) becomes ``***``, and payload values under secret-looking keys are masked
before they are rendered (:func:`mask_secret_fields`).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from erp_wms_sync.config import Integration
from erp_wms_sync.connectors.redaction import REDACTED, redact, redact_known

__all__ = ["COOKIE", "Dashboard", "Viewer", "csrf_token", "esc", "mask_secret_fields", "page", "url_for"]

log = logging.getLogger(__name__)
COOKIE = "_token"  # Airflow's UI session cookie (a JWT)
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|api[-_]?key|application[-_]?key|authori[sz]ation|"
                        r"credential|private[-_]?key|session[-_]?id|signature", re.IGNORECASE)
NAV = (("Exceptions", "/"), ("Orders", "/orders"), ("Reconciliation", "/reconciliation"),
       ("Data checks", "/checks"), ("Activity", "/activity"))


@dataclass(frozen=True)
class Viewer:
    """The authenticated user: ``name`` for the record of actions, ``user`` the auth manager's object."""

    name: str
    user: Any = None


def _connection_secrets(conn_id: str) -> list[str]:
    """The password, login-free secrets and secret-looking extras of one Airflow connection (none if unknown)."""
    from erp_wms_sync.webhooks.secrets import _airflow_connection

    try:
        connection = _airflow_connection(conn_id)
    except Exception:  # the metadata DB unreadable: fall back on what this process already knows
        return []
    if connection is None:
        return []
    found = [str(connection.password or "")]
    try:
        extra = connection.extra_dejson or {}
    except Exception:
        extra = {}
    found += [str(value) for key, value in _walk(extra) if SECRET_KEY.search(key) and value]
    return [s for s in found if s]


def integration_conn_ids(integration: Integration) -> list[str]:
    """Every connection an integration uses: ERP, Peoplevox, webhooks, alert channels."""
    ids = [integration.erp.conn_id, integration.wms.conn_id, integration.webhook_conn_id]
    alerts = getattr(integration, "alerts", None)
    for name in ("smtp_conn_id", "slack_conn_id"):
        value = getattr(alerts, name, None) if alerts is not None else None
        if value:
            ids.append(value)
    return ids


def airflow_secrets(integrations: Iterable[Integration]) -> tuple[str, ...]:
    found: list[str] = []
    for integration in integrations:
        for conn_id in integration_conn_ids(integration):
            found += _connection_secrets(conn_id)
    return tuple(dict.fromkeys(found))


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _walk(v, str(k))
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _walk(v, key)
    else:
        yield key, value


def mask_secret_fields(value: Any) -> Any:
    """A copy of a JSON-like payload with the values under secret-looking keys (password, token, api key,
    authorization …) replaced by ``***``."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if SECRET_KEY.search(str(k)) and v not in (None, "") and not isinstance(v, Mapping | list)
                    else mask_secret_fields(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_secret_fields(v) for v in value]
    return value


def default_can_act(viewer: Viewer, integration: str) -> bool:
    """May this user change the DAG runs of the integration's DAGs (the auth manager's own rule)?"""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    return bool(get_auth_manager().is_authorized_dag(
        method="PUT", access_entity=DagAccessEntity.RUN, details=DagDetails(id=f"{integration}__order_release"),
        user=viewer.user))


@dataclass
class Dashboard:
    """What the dashboard's routes need, injectable so tests run it without an API server.

    ``ledger_url`` gives the (migrated) ledger URL; ``integrations`` the loaded integrations by name; ``secrets``
    every credential to redact (by default read from the integrations' Airflow connections, cached
    ``secrets_ttl`` seconds); ``can_act`` decides who may act; ``clients(integration, "erp"|"wms")`` builds the
    vendor clients an action needs; ``airflow_base`` prefixes links to the Airflow UI (task runs, logs)."""

    ledger_url: Callable[[], str]
    integrations: Callable[[], Mapping[str, Integration]]
    secrets: Callable[[Iterable[Integration]], tuple[str, ...]] = airflow_secrets
    can_act: Callable[[Viewer, str], bool] = default_can_act
    clients: Callable[[Integration, str], Any] | None = None
    airflow_base: str = ""
    secrets_ttl: float = 60.0
    _cache: tuple[float, tuple[str, ...]] = field(default=(0.0, ()), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def session(self) -> Iterator[Any]:
        from erp_wms_sync.ledger.db import session_scope

        with session_scope(self.ledger_url()) as session:
            yield session

    def integration(self, name: str) -> Integration:
        found = self.integrations().get(name)
        if found is None:
            raise HTTPException(404, f"unknown integration {name!r}")
        return found

    def known_secrets(self) -> tuple[str, ...]:
        with self._lock:
            expires, secrets = self._cache
            if time.monotonic() >= expires:
                try:
                    secrets = tuple(self.secrets(self.integrations().values()))
                except Exception as exc:
                    log.warning("could not read the connections' secrets for redaction: %s", type(exc).__name__)
                    secrets = self._cache[1]
                self._cache = (time.monotonic() + self.secrets_ttl, secrets)
            return secrets

    def redact(self, text: str) -> str:
        """``text`` with every form of every known credential replaced by ``***``."""
        return redact_known(redact(text, self.known_secrets()))

    def require_actor(self, viewer: Viewer, integration: str) -> None:
        """403 unless this user may act on this integration."""
        try:
            allowed = self.can_act(viewer, integration)
        except Exception as exc:
            log.warning("authorisation check failed for %s on %s: %s", viewer.name, integration, exc)
            allowed = False
        if not allowed:
            raise HTTPException(403, f"{viewer.name} may look but not act on {integration}")

    # -- responses, all redacted ----------------------------------------------------------------------------------
    def html(self, body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(self.redact(body), status_code=status)

    def json(self, data: Any, status: int = 200) -> Response:
        text = json.dumps(data, default=str, ensure_ascii=False)
        return Response(self.redact(text), status_code=status, media_type="application/json")

    def csv(self, text: str, filename: str) -> Response:
        return Response(self.redact(text), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    def error(self, status: int, message: str) -> JSONResponse:
        return JSONResponse({"detail": self.redact(message)}, status_code=status)


# -- authentication ---------------------------------------------------------------------------------------------------
def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def authenticated(request: Request) -> Viewer:
    """The Airflow user behind the request's Bearer token or UI cookie; 401 without either (403 for a forged one)."""
    token = _bearer(request) or request.cookies.get(COOKIE)
    if not token:
        raise HTTPException(401, "Not authenticated")
    try:
        from airflow.api_fastapi.core_api.security import resolve_user_from_token
    except ImportError:  # pragma: no cover - only outside an Airflow install
        raise HTTPException(401, "Not authenticated") from None
    user = await resolve_user_from_token(token)
    name = getattr(user, "get_name", lambda: "")() or getattr(user, "username", "") or "unknown"
    return Viewer(str(name), user)


def csrf_token(request: Request) -> str:
    """The CSRF value of this session: derived from the session cookie, which another site cannot read."""
    cookie = request.cookies.get(COOKIE, "")
    return hashlib.sha256(b"erp-wms-dashboard\x00" + cookie.encode()).hexdigest()[:40]


async def check_csrf(request: Request) -> None:
    """A state-changing request with the cookie must carry the CSRF field or header; a Bearer request need not."""
    if _bearer(request):
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, csrf_token(request)):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


# -- pages ------------------------------------------------------------------------------------------------------------
def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def url_for(request: Request, path: str) -> str:
    """An absolute path inside the dashboard (its mount prefix included)."""
    return (request.scope.get("root_path", "") or "").rstrip("/") + path


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2933;background:#f7f9fb}
header{background:#0b3d5c;color:#fff;padding:10px 20px;display:flex;gap:18px;align-items:center;flex-wrap:wrap}
header a{color:#e6f1f8;text-decoration:none;font-weight:500}header a.on{color:#fff;border-bottom:2px solid #7cc4ef}
header .who{margin-left:auto;font-size:12px;opacity:.85}main{padding:16px 20px}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid #e1e7ec;padding:5px 8px;
text-align:left;vertical-align:top}th{background:#eef3f7;font-weight:600}tr:hover td{background:#f3f8fc}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;background:#e1e7ec}
.open{background:#fde2e1}.resolved{background:#dff3e4}.parked{background:#fff1c2}
form.inline{display:inline}input,select,textarea,button{font:inherit}button{cursor:pointer}
.filters{display:flex;gap:8px;flex-wrap:wrap;margin-bottom:10px;align-items:end}.filters label{font-size:12px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:8px 0 14px}.card{background:#fff;border:1px solid #e1e7ec;
border-radius:6px;padding:8px 12px}.msg{padding:8px 12px;border-radius:6px;margin-bottom:10px}
.ok{background:#dff3e4}.err{background:#fde2e1}pre{background:#fff;border:1px solid #e1e7ec;padding:8px;overflow:auto}
"""


def page(request: Request, viewer: Viewer, title: str, body: str, *, message: str = "",
         message_kind: str = "ok") -> str:
    """A full dashboard page: navigation, the signed-in user, an optional message, then ``body`` (trusted HTML)."""
    here = request.url.path[len((request.scope.get("root_path", "") or "").rstrip("/")):] or "/"
    links = []
    for label, path in NAV:
        on = (here == path) or (path != "/" and here.startswith(path)) or (path == "/" and here.startswith(
            "/exceptions"))
        links.append(f'<a href="{esc(url_for(request, path))}" class="{"on" if on else ""}">{esc(label)}</a>')
    note = f'<div class="msg {esc(message_kind)}" role="status">{esc(message)}</div>' if message else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)} · ERP-WMS</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style></head><body>'
            f'<header><strong id="erp-wms-title">ERP-WMS</strong>{"".join(links)}'
            f'<span class="who" id="viewer">signed in as {esc(viewer.name)}</span></header>'
            f'<main><h1>{esc(title)}</h1>{note}{body}</main></body></html>')


def csrf_input(request: Request) -> str:
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(csrf_token(request))}">'
