"""Flow builders: the tasks and their wiring for each flow. Task bodies are a few lines calling
``erp_wms_sync.flows``; every import of flow code happens inside a task."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.sdk import DAG, task

from erp_wms_sync.airflow.factory import WMS_POOL, erp_pool, new_dag
from erp_wms_sync.airflow.runtime import no_retry_on_bad_data
from erp_wms_sync.config import Integration

ITEM_MASTER_DOC = """
### Item master sync — {label}

**What moves:** {erp} products → Peoplevox *Item types* (one way; the ERP is the item master).
**Schedule:** `{schedule}` ({tz}), data-interval windows; a backfill replays exactly its window.
**Owner of exceptions:** invalid items → `{invalid_owner}`, Peoplevox items unknown to the ERP →
`{unknown_owner}`.

Tasks: `plan_window` → `fetch_erp_items` (pool `{erp_pool}`) → `validate_items` (Great Expectations suite
`item_master`) → `upsert_wms_items` (pool `peoplevox_api`, SaveData in batches, per-record statuses) →
`flag_wms_items_not_in_erp` → `advance_watermark`. `data_check` turns red (and alerts the owners) when the
suite failed — the valid items were still written, so the run itself stays green; `summarise_run` logs what
was held. A red run means the sync itself broke (an API down, a rejected batch): see the failed task's log.

Runbook: `docs/runbook.md#item-master-sync`. Manual run options: `full` (everything) or
`window_start` / `window_end`.
"""


def build_item_master_sync(integration: Integration) -> DAG:
    flow = "item_master_sync"
    doc = ITEM_MASTER_DOC.format(
        label=integration.label, erp=integration.erp.kind.value, schedule=integration.schedule_for(flow),
        tz=integration.timezone, invalid_owner=integration.owner_of("invalid_item"),
        unknown_owner=integration.owner_of("wms_item_not_in_erp"), erp_pool=erp_pool(integration))
    with new_dag(integration, flow, doc) as dag:

        @task(task_id="plan_window")
        @no_retry_on_bad_data
        def plan_window(**context: Any) -> dict[str, Any]:
            from erp_wms_sync.airflow.runtime import plan_window as plan

            return plan(integration, flow, context)

        @task(task_id="fetch_erp_items", pool=erp_pool(integration))
        @no_retry_on_bad_data
        def fetch_erp_items(window: dict[str, Any], **context: Any) -> dict[str, int]:
            from erp_wms_sync.airflow.runtime import erp_client, run_context
            from erp_wms_sync.flows import item_master_sync as steps

            return steps.fetch(run_context(integration, flow, window, context), erp_client(integration))

        @task(task_id="validate_items")
        @no_retry_on_bad_data
        def validate_items(window: dict[str, Any], fetched: dict[str, int], **context: Any) -> dict[str, Any]:
            from erp_wms_sync.airflow.runtime import run_context
            from erp_wms_sync.flows import item_master_sync as steps

            return steps.validate(run_context(integration, flow, window, context))

        @task(task_id="upsert_wms_items", pool=WMS_POOL)
        @no_retry_on_bad_data
        def upsert_wms_items(window: dict[str, Any], checked: dict[str, Any], **context: Any) -> dict[str, int]:
            from erp_wms_sync.airflow.runtime import run_context, wms_client
            from erp_wms_sync.flows import item_master_sync as steps

            return steps.upsert(run_context(integration, flow, window, context), wms_client(integration))

        @task(task_id="flag_wms_items_not_in_erp", pool=WMS_POOL)
        @no_retry_on_bad_data
        def flag_wms_items_not_in_erp(window: dict[str, Any], written: dict[str, int],
                                      **context: Any) -> dict[str, int]:
            from erp_wms_sync.airflow.runtime import run_context, wms_client
            from erp_wms_sync.flows import item_master_sync as steps

            return steps.flag_unknown(run_context(integration, flow, window, context), wms_client(integration))

        @task(task_id="data_check", retries=0)
        @no_retry_on_bad_data
        def data_check(window: dict[str, Any], checked: dict[str, Any], **context: Any) -> dict[str, Any]:
            from erp_wms_sync.airflow.runtime import run_context
            from erp_wms_sync.flows import item_master_sync as steps

            return steps.data_check(run_context(integration, flow, window, context))

        @task(task_id="summarise_run", trigger_rule="all_done")
        @no_retry_on_bad_data
        def summarise_run(window: dict[str, Any], checked: dict[str, Any], **context: Any) -> dict[str, Any]:
            from erp_wms_sync.airflow.runtime import run_context
            from erp_wms_sync.flows import item_master_sync as steps

            return steps.summarise(run_context(integration, flow, window, context))

        @task(task_id="advance_watermark")
        @no_retry_on_bad_data
        def advance_watermark(window: dict[str, Any], flagged: dict[str, int], **context: Any) -> dict[str, str]:
            from erp_wms_sync.airflow.runtime import run_context
            from erp_wms_sync.flows import item_master_sync as steps

            return steps.finish(run_context(integration, flow, window, context))

        window = plan_window()
        checked = validate_items(window, fetch_erp_items(window))
        data_check(window, checked) >> summarise_run(window, checked)
        advance_watermark(window, flag_wms_items_not_in_erp(window, upsert_wms_items(window, checked)))
    return dag


FLOW_BUILDERS: dict[str, Callable[[Integration], DAG]] = {
    "item_master_sync": build_item_master_sync,
}
