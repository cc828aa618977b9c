"""The DAG factory: one DAG per integration × flow, id ``<integration>__<flow>``.

Built from the integration YAML files with no I/O beyond reading them (no network, no database, no pandas or
Great Expectations at parse time). Shared here, in one place: default_args (owner, retries with exponential
backoff, failure alerts), a pool per external API, ``max_active_runs=1`` (windows of one flow never overlap),
and data-interval timetables so a backfill replays exactly its window.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, Param

from erp_wms_sync.airflow.alerts import failure_callback
from erp_wms_sync.config import Integration, validate_files

log = logging.getLogger(__name__)

OWNER = "erp-wms-sync"
START_DATE = datetime(2026, 1, 1)
POOLS = {
    # pool name: (slots, description). Slots bound concurrency; the clients' token buckets bound the rate.
    "cin7core_api": (2, "Cin7 Core External API: 60 calls per rolling minute per application key"),
    "bluecherry_api": (2, "BlueCherry API gateway (APIM): 429 above its per-minute quota"),
    "peoplevox_api": (4, "Peoplevox IntegrationServiceV4 (SOAP)"),
}


def erp_pool(integration: Integration) -> str:
    return f"{integration.erp.kind.value}_api"


WMS_POOL = "peoplevox_api"


def default_args(integration: Integration) -> dict[str, Any]:
    alerts = integration.alerts
    return {
        "owner": OWNER,
        "retries": 3,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=20),
        "execution_timeout": timedelta(hours=1),
        "on_failure_callback": failure_callback(integration.name, alerts.emails, alerts.smtp_conn_id,
                                                alerts.slack_conn_id),
    }


def window_params() -> dict[str, Param]:
    return {
        "full": Param(False, type="boolean", description="Read everything, not just the window."),
        "window_start": Param(None, type=["null", "string"], format="date-time",
                              description="Explicit window start (ISO 8601, UTC if no offset)."),
        "window_end": Param(None, type=["null", "string"], format="date-time",
                            description="Explicit window end (ISO 8601)."),
    }


def timetable(integration: Integration, flow: str) -> CronDataIntervalTimetable:
    return CronDataIntervalTimetable(integration.schedule_for(flow), timezone=integration.timezone)


def new_dag(integration: Integration, flow: str, doc: str, schedule: Any = None) -> DAG:
    """A DAG with the project's conventions; the flow module adds its tasks."""
    return DAG(
        dag_id=f"{integration.name}__{flow}",
        description=f"{integration.label}: {flow.replace('_', ' ')}",
        doc_md=doc,
        schedule=schedule if schedule is not None else timetable(integration, flow),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=2),
        default_args=default_args(integration),
        on_failure_callback=failure_callback(integration.name, integration.alerts.emails,
                                             integration.alerts.smtp_conn_id, integration.alerts.slack_conn_id),
        params=window_params(),
        tags=["erp-wms-sync", integration.name, f"erp:{integration.erp.kind.value}", "wms:peoplevox", flow],
        is_paused_upon_creation=flow in integration.paused_flows,
    )


def build_dags(paths: list[Any]) -> dict[str, DAG]:
    """DAGs for every integration file given; raises ConfigError naming every problem."""
    from erp_wms_sync.airflow.dags import FLOW_BUILDERS

    dags: dict[str, DAG] = {}
    for integration in validate_files(paths):
        for builder in FLOW_BUILDERS.values():
            dag = builder(integration)
            dags[dag.dag_id] = dag
    return dags
