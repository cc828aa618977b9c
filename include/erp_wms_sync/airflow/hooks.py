"""Airflow hooks: turn a connection into a client. No I/O in ``__init__``; ``test_connection()`` works in the UI.

They use the public hook API only (``BaseHook.get_connection``, a ``cached_property`` for the client,
``default_conn_name``, as the http provider's hook does) and build the base URL the way the http provider does:
a host holding ``scheme://`` is used as is, otherwise ``schema`` (default ``http``) + host, then ``:port`` when
set. The rest comes from the connection's login, password and extras. Connection shapes (also in ``.env.example``):

- Cin7 Core: ``conn_type=cin7core`` (``http`` works too), host + port + schema, ``login`` = Account ID,
  ``password`` = Application Key, extra ``{"base_path": "/ExternalApi/v2"}`` (the default).
- Peoplevox: ``conn_type=peoplevox``, host + port + schema, ``login`` = user name, ``password`` = password,
  extra ``{"client_id": "<tenant>"}``.
- BlueCherry: ``conn_type=bluecherry``, host + port + schema, ``password`` = APIM subscription key,
  extra ``{"base_path": "/api/v1"}`` (the default).
- Ledger: connection ``erp_wms_ledger`` (``postgres`` or ``sqlite``), or extra ``{"sqlalchemy_url": ...}``.

Every credential of a connection (Cin7 account id and application key, Peoplevox password, BlueCherry
subscription key; Peoplevox session ids as the client opens them) is registered, in every encoded form a server
may echo (:mod:`erp_wms_sync.connectors.redaction`), with Airflow's secrets masker, so task logs never show one;
``test_connection`` messages are redacted the same way.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from erp_wms_sync.connectors.redaction import on_new_secret, redact, redact_known, remember

log = logging.getLogger(__name__)

LEDGER_CONN_ID = "erp_wms_ledger"


class _ClientHook(BaseHook):
    """Shared part: resolve the connection once, lazily, and build the client from it."""

    default_base_path = ""
    default_conn_name = ""

    def __init__(self, conn_id: str | None = None, **client_options: Any) -> None:
        super().__init__()
        self.conn_id = conn_id or self.default_conn_name
        self.client_options = client_options

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {"hidden_fields": [], "relabeling": {"schema": "Scheme (http/https)"}}

    def _connection(self) -> Any:
        return self.get_connection(self.conn_id)

    def _root_url(self, connection: Any) -> str:
        host = (connection.host or "").strip()
        if not host:
            raise ValueError(f"connection {self.conn_id}: host is missing")
        url = host if "://" in host else f"{connection.schema or 'http'}://{host}"
        if connection.port:
            url += f":{connection.port}"
        base_path = str(connection.extra_dejson.get("base_path", self.default_base_path))
        return url.rstrip("/") + ("/" + base_path.strip("/") if base_path.strip("/") else "")

    def _build(self, connection: Any) -> Any:
        raise TypeError(f"{type(self).__name__} must define _build")

    def _credentials(self, connection: Any) -> tuple[str, ...]:
        """The connection's credentials (the password by default)."""
        return (connection.password or "",)

    @cached_property
    def client(self) -> Any:
        """The client of this connection, built on first use (no I/O before that)."""
        connection = self._connection()
        register_secrets(*self._credentials(connection))
        return self._build(connection)

    def get_conn(self) -> Any:
        return self.client

    def get_client(self) -> Any:
        return self.client

    def test_connection(self) -> tuple[bool, str]:
        secrets: tuple[str, ...] = ()
        try:
            secrets = self._credentials(self._connection())
            ok, message = self.get_client().test_connection()
        except Exception as exc:  # the UI shows the message; never a traceback with secrets
            ok, message = False, f"{type(exc).__name__}: {exc}"
        return bool(ok), redact_known(redact(str(message), secrets))


class Cin7CoreHook(_ClientHook):
    conn_type = "cin7core"
    conn_name_attr = "cin7core_conn_id"
    hook_name = "Cin7 Core (erp-wms-sync)"
    default_conn_name = "cin7core_default"
    default_base_path = "/ExternalApi/v2"

    def _credentials(self, connection: Any) -> tuple[str, ...]:
        return (self._account_id(connection), connection.password or "")

    @staticmethod
    def _account_id(connection: Any) -> str:
        return str(connection.login or connection.extra_dejson.get("account_id", ""))

    def _build(self, connection: Any) -> Any:
        from erp_wms_sync.connectors.cin7core import Cin7CoreClient

        extra = connection.extra_dejson
        account_id = connection.login or extra.get("account_id", "")
        # extra rate_window_seconds: the window of the key's limit (60; a simulator on a scaled clock uses less)
        options = {"rate_window_seconds": float(extra.get("rate_window_seconds", 60)), **self.client_options}
        return Cin7CoreClient(self._root_url(connection), account_id, connection.password or "", **options)


class PeoplevoxHook(_ClientHook):
    conn_type = "peoplevox"
    conn_name_attr = "peoplevox_conn_id"
    hook_name = "Peoplevox (erp-wms-sync)"
    default_conn_name = "peoplevox_default"

    def _build(self, connection: Any) -> Any:
        from erp_wms_sync.connectors.peoplevox import PeoplevoxClient

        client_id = connection.extra_dejson.get("client_id")
        if not client_id:
            raise ValueError(f"connection {self.conn_id}: extra 'client_id' (the Peoplevox tenant) is missing")
        return PeoplevoxClient(self._root_url(connection), str(client_id), connection.login or "",
                               connection.password or "", **self.client_options)


class BlueCherryHook(_ClientHook):
    conn_type = "bluecherry"
    conn_name_attr = "bluecherry_conn_id"
    hook_name = "BlueCherry (erp-wms-sync)"
    default_conn_name = "bluecherry_default"
    default_base_path = "/api/v1"

    def _build(self, connection: Any) -> Any:
        from erp_wms_sync.connectors.bluecherry import BlueCherryClient

        # extra rate_window_seconds: the window of the subscription's quota (60; a simulator on a scaled clock uses
        # less), as for Cin7 Core
        extra = connection.extra_dejson
        options = {"rate_window_seconds": float(extra.get("rate_window_seconds", 60)), **self.client_options}
        return BlueCherryClient(self._root_url(connection), connection.password or "", **options)


def register_secrets(*secrets: str) -> None:
    """Redact ``secrets`` and all their encodings from this process's logs: remembered for
    :func:`~erp_wms_sync.connectors.redaction.redact_known`, and handed to Airflow's secrets masker (which the
    task runner applies to every log line, in the task and in its supervisor)."""
    on_new_secret(_mask_in_airflow_logs)
    remember(*secrets)


def _mask_in_airflow_logs(form: str) -> None:
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(form)
    except Exception as exc:  # masking is a safety net; the clients redact their own messages anyway
        log.warning("could not register a secret with the Airflow masker: %s", type(exc).__name__)


def erp_hook(kind: str, conn_id: str, **options: Any) -> _ClientHook:
    return Cin7CoreHook(conn_id, **options) if kind == "cin7core" else BlueCherryHook(conn_id, **options)


def ledger_url() -> str | None:
    """The ledger URL from the ``erp_wms_ledger`` connection, or None (then env / SQLite default apply)."""
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(LEDGER_CONN_ID)
    except Exception:  # not defined: the documented fallbacks apply
        return None
    extra = conn.extra_dejson
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    driver = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2"}.get(conn.conn_type or "")
    if driver is None:
        raise ValueError(f"connection {LEDGER_CONN_ID}: conn_type {conn.conn_type!r} is not supported "
                         "(use postgres or sqlite, or set extra sqlalchemy_url)")
    from sqlalchemy.engine import URL

    return URL.create(driver, username=conn.login or None, password=conn.password or None, host=conn.host,
                      port=conn.port, database=conn.schema or None).render_as_string(hide_password=False)
