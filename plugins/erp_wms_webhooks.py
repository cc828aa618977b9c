"""Airflow plugin: the ERP-WMS webhook receiver, mounted in the API server at ``/erp-wms``.

Peoplevox and Cin7 Core call ``/erp-wms/hooks/…``; each callback is stored in the ledger before it is answered,
and a background thread in the API server turns stored callbacks into asset events that wake the integration's
DAGs (see :mod:`erp_wms_sync.webhooks.receiver`). Integrations come from ``$ERP_WMS_INTEGRATIONS_DIR`` (read
again at most every minute), secrets from each integration's webhook connection, the ledger from the
``erp_wms_ledger`` connection or ``ERP_WMS_LEDGER_URL``. Nothing touches a database at import: the ledger is
resolved and checked on the first request. Plugins load once: restart the API server after changing this file.
"""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin

from erp_wms_sync.webhooks.outbox import RestAssetEmitter
from erp_wms_sync.webhooks.receiver import FolderIntegrations, create_app
from erp_wms_sync.webhooks.secrets import ConnectionSecretSource, ledger_url_from_airflow

app = create_app(
    integrations=FolderIntegrations(os.environ.get("ERP_WMS_INTEGRATIONS_DIR"), ttl=60.0),
    secrets=ConnectionSecretSource(ttl=60.0),
    ledger_url=ledger_url_from_airflow,
    emitter=RestAssetEmitter(),
)


class ErpWmsWebhooksPlugin(AirflowPlugin):
    """Mounts the webhook receiver in the Airflow API server."""

    name = "erp_wms_webhooks"
    fastapi_apps = [{"app": app, "url_prefix": "/erp-wms", "name": "ERP-WMS webhooks"}]
