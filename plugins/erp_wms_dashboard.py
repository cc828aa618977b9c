"""Airflow plugin: the ERP-WMS dashboard, mounted in the API server at ``/erp-wms-dashboard`` and linked from the
UI's navigation as "ERP-WMS" (shown in an iframe; the UI's session authenticates it).

Integrations come from ``$ERP_WMS_INTEGRATIONS_DIR`` (read again at most every minute), the ledger from the
``erp_wms_ledger`` connection or ``ERP_WMS_LEDGER_URL``, vendor clients (for retries and approvals) from the
integrations' connections. Nothing touches a database at import. Restart the API server after changing this file.
"""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin

from erp_wms_sync.dashboard.app import PREFIX, create_app
from erp_wms_sync.dashboard.web import Dashboard
from erp_wms_sync.webhooks.receiver import FolderIntegrations, LedgerGate
from erp_wms_sync.webhooks.secrets import ledger_url_from_airflow


def _clients(integration, kind):  # type: ignore[no-untyped-def]
    """A person waits for a dashboard action (approve, retry now, edit and retry): its ERP calls go first in the key's
    shared budget, as dispatch confirmations do, ahead of the flows' batch work."""
    from erp_wms_sync.airflow.runtime import make_client
    from erp_wms_sync.connectors.budget import Priority

    return make_client(integration, kind, Priority.HIGH)


app = create_app(Dashboard(
    ledger_url=LedgerGate(ledger_url_from_airflow),
    integrations=FolderIntegrations(os.environ.get("ERP_WMS_INTEGRATIONS_DIR"), ttl=60.0),
    clients=_clients,
))


class ErpWmsDashboardPlugin(AirflowPlugin):
    """The exceptions / orders / reconciliation dashboard in the Airflow UI."""

    name = "erp_wms_dashboard"
    fastapi_apps = [{"app": app, "url_prefix": PREFIX, "name": "ERP-WMS dashboard"}]
    external_views = [{"name": "ERP-WMS", "href": PREFIX.lstrip("/") + "/", "destination": "nav",
                       "url_route": "erp-wms"}]
