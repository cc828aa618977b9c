"""The flow step that keeps an integration's callback subscriptions in place (Peoplevox, and Cin7 Core webhooks).

The receiver's public address and the shared secret come from the integration's webhook connection
(``Integration.webhook_conn_id``, default ``<name>_webhooks``):

- ``host``: the public base URL of the receiver including the plugin prefix (``https://airflow.example.com/erp-wms``).
  A host without ``scheme://`` is completed the way the vendor hooks do: ``schema`` (``http``/``https``, default
  ``http``) + host + ``:port``, then the path from extra ``base_path`` (or from ``schema`` when it is not a
  scheme, as an ``http://user:pass@host:port/erp-wms`` URI leaves it).
- ``password``: the shared secret (Peoplevox callbacks carry it in the URL, Cin7 Core sends it as credentials).
- ``login`` (optional): when set, Cin7 Core authenticates with HTTP Basic (login + secret), else ``Bearer``.

Without the connection no callback can ever arrive, so a missing one fails the step loudly (:class:`ConfigError`).
"""

from __future__ import annotations

import logging
from typing import Any

from erp_wms_sync.config import Integration
from erp_wms_sync.errors import ConfigError
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.webhooks.subscriptions import sync_subscriptions

log = logging.getLogger(__name__)

SCHEMES = ("http", "https")


def webhook_settings(integration: Integration) -> tuple[str, str, str]:
    """``(base_url, secret, login)`` of the integration's webhook connection (``login`` may be empty).

    Raises :class:`ConfigError` naming the connection and what to set when it is missing or incomplete. The
    secret is registered with the log redaction (and Airflow's secrets masker) before it is returned.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from erp_wms_sync.airflow.hooks import register_secrets

    conn_id = integration.webhook_conn_id
    how = (f"define it with host = the public base URL of the receiver including the plugin prefix (e.g. "
           f"https://airflow.example.com/erp-wms) and password = the shared secret, e.g. "
           f"AIRFLOW_CONN_{conn_id.upper()}='{{\"conn_type\": \"http\", \"host\": \"https://airflow.example.com/"
           f"erp-wms\", \"password\": \"<secret>\"}}'")
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ConfigError(f"integration {integration.name}: the webhook connection {conn_id} is not defined; without "
                          f"it no vendor callback can reach the receiver: {how}") from None
    secret = conn.password or ""
    if secret:
        register_secrets(secret)
    missing = [what for what, value in (("host (the receiver's public base URL)", (conn.host or "").strip()),
                                        ("password (the shared secret)", secret)) if not value]
    if missing:
        raise ConfigError(f"integration {integration.name}: connection {conn_id} has no {' and no '.join(missing)}: "
                          f"{how}")
    return receiver_url(conn), secret, (conn.login or "").strip()


def receiver_url(conn: Any) -> str:
    """The receiver's base URL from a connection's host, schema, port and extra ``base_path`` (see module doc)."""
    host = (conn.host or "").strip().rstrip("/")
    schema = (conn.schema or "").strip()
    extra = conn.extra_dejson if isinstance(getattr(conn, "extra_dejson", None), dict) else {}
    path = str(extra.get("base_path") or (schema if schema and schema.lower() not in SCHEMES else "")).strip("/")
    if "://" in host:
        url = host
    else:
        scheme = schema.lower() if schema.lower() in SCHEMES else ("https" if conn.conn_type == "https" else "http")
        url = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    return url + (f"/{path}" if path else "")


def sync(ctx: RunContext, wms: Any, erp: Any, *, force: bool = False) -> dict[str, Any]:
    """Subscribe (or repair) the integration's callbacks; the report as a dict (ids and actions, no secrets).

    ``erp`` is the ERP client (Cin7 Core webhooks; a BlueCherry client is not used). The ledger keeps what was
    done even when some vendor call failed; the step then fails with
    :class:`~erp_wms_sync.webhooks.subscriptions.SubscriptionError` naming each failure.
    """
    base_url, secret, login = webhook_settings(ctx.integration)
    with ctx.session() as session:
        report = sync_subscriptions(ctx.integration, session=session, wms=wms, erp=erp, base_url=base_url,
                                    secret=secret, login=login, force=force)
    for line in report.lines():
        log.info("%s", line)
    report.raise_for_failures()
    return report.as_dict()
