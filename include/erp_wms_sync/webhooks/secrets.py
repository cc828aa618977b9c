"""Where the receiver finds each integration's callback secret, and (in the API server) the ledger URL.

An integration's callback credentials live in its webhook connection (``Integration.webhook_conn_id``): the
password is the secret Peoplevox repeats in the callback URL and Cin7 Core sends as a Bearer token or a Basic
password; the login, when set, is the Basic user Cin7 Core is registered with. A missing connection or an empty
password means the integration refuses every callback.

Every secret found is remembered by :mod:`erp_wms_sync.connectors.redaction` (and, in Airflow, handed to its
secrets masker) so no log line of this process can show it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from erp_wms_sync.config import Integration
from erp_wms_sync.connectors.redaction import on_new_secret, remember
from erp_wms_sync.errors import ErpWmsSyncError
from erp_wms_sync.ledger.db import resolve_url

log = logging.getLogger(__name__)

LEDGER_CONN_ID = "erp_wms_ledger"
CACHE_SECONDS = 60.0


class SecretUnavailable(ErpWmsSyncError):
    """The secret store could not be read (not "no secret"): the caller should be asked to retry."""


@dataclass(frozen=True)
class WebhookSecret:
    """An integration's callback credentials; ``secret`` never appears in ``repr``."""

    secret: str = field(repr=False)
    login: str | None = None


class SecretSource(Protocol):
    """Gives an integration's callback credentials, or ``None`` when it has none (every callback refused)."""

    def secret_for(self, integration: Integration) -> WebhookSecret | None: ...


def _credentials(password: str | None, login: str | None) -> WebhookSecret | None:
    if not password:
        return None
    remember(password)
    return WebhookSecret(password, login or None)


class StaticSecretSource:
    """Secrets from a mapping ``conn_id -> secret`` or ``conn_id -> (secret, login)`` (tests, local runs)."""

    def __init__(self, secrets: Mapping[str, str | tuple[str, str | None]]) -> None:
        self._secrets = dict(secrets)

    def secret_for(self, integration: Integration) -> WebhookSecret | None:
        value = self._secrets.get(integration.webhook_conn_id)
        if value is None:
            return None
        secret, login = (value, None) if isinstance(value, str) else value
        return _credentials(secret, login)


def _mask_in_airflow_logs(form: str) -> None:
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(form)
    except Exception as exc:  # masking is a safety net; the receiver never logs a secret itself
        log.warning("could not register a webhook secret with the Airflow masker: %s", type(exc).__name__)


def _airflow_connection(conn_id: str) -> Any | None:
    """The Airflow connection ``conn_id`` from the server's secrets backends and metadata DB, or None."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        return Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None


class ConnectionSecretSource:
    """Secrets from Airflow connections (API server side), each kept for ``ttl`` seconds.

    A connection that does not exist is cached like one that does (the integration refuses callbacks until it is
    created, at most ``ttl`` seconds later); a secret store that cannot be read raises :class:`SecretUnavailable`
    and is asked again on the next callback.
    """

    def __init__(self, ttl: float = CACHE_SECONDS, *, lookup: Callable[[str], Any | None] = _airflow_connection,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._lookup = lookup
        self._clock = clock
        self._cache: dict[str, tuple[float, WebhookSecret | None]] = {}
        self._lock = threading.Lock()
        on_new_secret(_mask_in_airflow_logs)

    def secret_for(self, integration: Integration) -> WebhookSecret | None:
        conn_id = integration.webhook_conn_id
        now = self._clock()
        with self._lock:
            cached = self._cache.get(conn_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            connection = self._lookup(conn_id)
        except Exception as exc:
            raise SecretUnavailable(f"connection {conn_id} could not be read ({type(exc).__name__})") from None
        found = None if connection is None else _credentials(connection.password, connection.login)
        with self._lock:
            self._cache[conn_id] = (now + self._ttl, found)
        return found


def ledger_url_from_airflow() -> str:
    """The ledger URL from the Airflow connection ``erp_wms_ledger`` when defined, else ``resolve_url()``.

    The connection's extra ``sqlalchemy_url`` wins; otherwise ``sqlite`` (host = file path) and ``postgres``
    connections are turned into a SQLAlchemy URL (same shapes as the task-side ledger hook).
    """
    try:
        connection = _airflow_connection(LEDGER_CONN_ID)
    except Exception as exc:  # the metadata DB is not reachable: the documented fallbacks apply
        log.warning("connection %s could not be read (%s); using the ledger URL from the environment",
                    LEDGER_CONN_ID, type(exc).__name__)
        connection = None
    if connection is None:
        return resolve_url()
    extra = connection.extra_dejson
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    if connection.conn_type == "sqlite":
        return f"sqlite:///{connection.host}"
    if connection.conn_type not in ("postgres", "postgresql"):
        raise ValueError(f"connection {LEDGER_CONN_ID}: conn_type {connection.conn_type!r} is not supported "
                         "(use postgres or sqlite, or set extra sqlalchemy_url)")
    from sqlalchemy.engine import URL

    if connection.password:
        remember(connection.password)
    return URL.create("postgresql+psycopg2", username=connection.login or None, password=connection.password or None,
                      host=connection.host, port=connection.port,
                      database=connection.schema or None).render_as_string(hide_password=False)
