"""Flow builders: the tasks and their wiring for each flow.

Every task is the same thin shape — ``step(...)`` below: it calls a function of :mod:`erp_wms_sync.airflow.steps`
(which imports its flow module inside the task, never at parse time, and calls the flow step directly) with the
run context and the API client the step needs (``client="erp"``, ``"wms"`` or ``"orders"``; ``"wms+orders"`` gives
both, in that order). Tasks that talk to an API run in that API's pool (a task with both runs in the Peoplevox pool;
its ERP calls still spend the ERP key's shared budget); ``priority`` orders the ERP budget between tasks (status
write-back goes last).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Asset, AssetAny, AssetOrTimeSchedule, task

from erp_wms_sync.airflow import steps
from erp_wms_sync.airflow.factory import DISPATCH_POOL, WMS_POOL, erp_pool, new_dag, timetable
from erp_wms_sync.airflow.runtime import no_retry_on_bad_data
from erp_wms_sync.config import Integration
from erp_wms_sync.webhooks import despatch_asset_uri, orders_asset_uri, returns_asset_uri, stock_asset_uri


def step(integration: Integration, flow: str, task_id: str, target: Callable[..., Any], *,
         client: str | None = None, low_priority: bool = False, high_priority: bool = False,
         **task_options: Any) -> Callable[..., Any]:
    """A task calling ``target`` (a function of :mod:`erp_wms_sync.airflow.steps`) with the run context and, if
    named, an API client; ``low_priority`` lets every other task spend the ERP budget first, ``high_priority``
    goes before everyone (dispatch confirmations)."""
    if client is not None:
        task_options.setdefault("pool", erp_pool(integration) if client in ("erp", "orders") else WMS_POOL)

    @task(task_id=task_id, **task_options)
    @no_retry_on_bad_data
    def run(window: dict[str, Any], *upstream: Any, client: str | None = None, **context: Any) -> Any:
        from erp_wms_sync.airflow.runtime import run_step
        from erp_wms_sync.connectors.budget import Priority

        priority = Priority.HIGH if high_priority else Priority.LOW if low_priority else Priority.NORMAL
        return run_step(integration, flow, target, client, window, context, priority)

    def call(*args: Any) -> Any:  # the client kind is an explicit task argument: visible, and checked by tests
        return run(*args, client=client)

    return call


def items_synced(integration: Integration) -> Asset:
    """Emitted when item master sync wrote to Peoplevox: held orders waiting for an item are re-checked at once."""
    return Asset(name=f"{integration.name}_items_synced", uri=f"erp-wms://{integration.name}/items-synced")


def orders_authorised(integration: Integration) -> Asset:
    """Emitted by the webhook receiver on a Cin7 Core ``Sale/OrderAuthorised`` callback."""
    return Asset(name=f"{integration.name}_sale_order_authorised", uri=orders_asset_uri(integration.name))


def despatch_received(integration: Integration) -> Asset:
    """Emitted by the webhook receiver's background writer for stored Peoplevox despatch callbacks."""
    return Asset(name=f"{integration.name}_despatch_received", uri=despatch_asset_uri(integration.name))


def plan_window_task(integration: Integration, flow: str) -> Callable[..., Any]:
    @task(task_id="plan_window")
    @no_retry_on_bad_data
    def plan_window(**context: Any) -> dict[str, Any]:
        from erp_wms_sync.airflow.runtime import plan_window as plan

        return plan(integration, flow, context)

    return plan_window


ITEM_MASTER_DOC = """
### Item master sync — {label}

**What moves:** {erp} products → Peoplevox *Item types* (one way; the ERP is the item master).
**Schedule:** `{schedule}` ({tz}), data-interval windows; a backfill re-reads from its window's start.
**Exceptions:** invalid items → `{invalid_owner}`, Peoplevox items unknown to the ERP → `{unknown_owner}`.

`plan_window` → `fetch_erp_items` (pool `{erp_pool}`) → `validate_items` (Great Expectations suite `item_master`) →
`upsert_wms_items` (pool `peoplevox_api`, SaveData in batches, per-record statuses) → `flag_wms_items_not_in_erp` →
`advance_watermark`. `data_check` (after the flagging step) turns red and alerts the owners once when this run
raised a new problem (an invalid item, a Peoplevox item unknown to the ERP); items held again in later runs stay
open exceptions without a new alert. The valid items were still written, so the run itself stays green;
`summarise_run` logs what was held. A red run means the sync itself
broke (an API down, a rejected batch): see the failed task's log.

Runbook: `docs/runbook.md#item-master-sync`. Manual run options: `full`, or `window_start` / `window_end`.
"""


def build_item_master_sync(integration: Integration) -> DAG:
    flow = "item_master_sync"
    doc = ITEM_MASTER_DOC.format(
        label=integration.label, erp=integration.erp.kind.value, schedule=integration.schedule_for(flow),
        tz=integration.timezone, invalid_owner=integration.owner_of("invalid_item"),
        unknown_owner=integration.owner_of("wms_item_not_in_erp"), erp_pool=erp_pool(integration))
    with new_dag(integration, flow, doc) as dag:
        window = plan_window_task(integration, flow)()
        fetched = step(integration, flow, "fetch_erp_items", steps.fetch_erp_items, client="erp")(window)
        checked = step(integration, flow, "validate_items", steps.validate_items)(window, fetched)
        written = step(integration, flow, "upsert_wms_items", steps.upsert_wms_items, client="wms",
                       outlets=[items_synced(integration)])(window, checked)
        flagged = step(integration, flow, "flag_wms_items_not_in_erp", steps.flag_wms_items_not_in_erp,
                       client="wms")(window, written)
        step(integration, flow, "advance_watermark", steps.finish_items)(window, flagged)
        # After flag_wms_items_not_in_erp, so its new exceptions alert in this run (seen "again" later, never);
        # still when Peoplevox failed (the invalid items alert), not when the run never planned a window.
        verdict = step(integration, flow, "data_check", steps.items_data_check, retries=0,
                       trigger_rule="all_done_min_one_success")(window, checked, flagged)
        verdict >> step(integration, flow, "summarise_run", steps.summarise_items, trigger_rule="all_done")(
            window, checked)
    return dag


ORDER_RELEASE_DOC = """
### Order release — {label}

**What moves:** {erp} orders at status `{release_status}` → Peoplevox *Sales orders* + *Sales order items*, exactly
once; changes and cancellations reach Peoplevox only before `{cutoff}`.
**Schedule:** `{schedule}` ({tz}), data-interval windows{trigger}.
**Exceptions:** SKU mismatch `unmapped_sku` → `{sku_owner}`, `unmapped_location` → `{location_owner}`,
`invalid_order` → `{invalid_owner}`, order refused or incomplete in Peoplevox `wms_write_rejected` →
`{rejected_owner}`, order the ERP answers unreadably `erp_record_unreadable` → `{unreadable_owner}`,
`amendment_after_cutoff` → `{cutoff_owner}`, change Peoplevox did not take `amendment_held` → `{held_owner}`.
An order whose items item master sync has yet to create waits (no exception) for at most {item_wait} minutes.

`plan_window` → `fetch_orders` (pool `{erp_pool}`) → `validate_orders` (suite `order_release`; held orders are
re-validated every run and released once fixed) → `release_orders` (looks orders up in Peoplevox first, then
SaveData in batches, then a read-back: an order is released only when Peoplevox holds its header and every line)
→ `apply_amendments` → `write_back_status` (pool `{erp_pool}`, `orders.write_back`) → `advance_watermark`.
`data_check` fails the run — after the good orders went — when this run held an order for a new reason; an order
still held from an earlier run stays an open exception without another alert.

Runbook: `docs/runbook.md#order-release`.
"""


def build_order_release(integration: Integration) -> DAG:
    flow = "order_release"
    orders = integration.orders
    events = [items_synced(integration)]
    trigger = f", at once after item master sync wrote items (asset `{events[0].uri}`)"
    if integration.erp.kind.value == "cin7core":
        events.append(orders_authorised(integration))
        trigger += f" and on a Cin7 `Sale/OrderAuthorised` webhook (asset `{events[1].uri}`)"
    schedule = AssetOrTimeSchedule(timetable=timetable(integration, flow), assets=AssetAny(*events))
    doc = ORDER_RELEASE_DOC.format(
        label=integration.label, erp=integration.erp.kind.value, release_status=orders.release_status,
        cutoff=orders.cutoff_status, schedule=integration.schedule_for(flow), tz=integration.timezone,
        trigger=trigger, sku_owner=integration.owner_of("unmapped_sku"),
        location_owner=integration.owner_of("unmapped_location"), invalid_owner=integration.owner_of("invalid_order"),
        rejected_owner=integration.owner_of("wms_write_rejected"),
        unreadable_owner=integration.owner_of("erp_record_unreadable"),
        cutoff_owner=integration.owner_of("amendment_after_cutoff"), held_owner=integration.owner_of("amendment_held"),
        item_wait=orders.item_sync_wait_minutes, erp_pool=erp_pool(integration))
    with new_dag(integration, flow, doc, schedule=schedule) as dag:
        window = plan_window_task(integration, flow)()
        fetched = step(integration, flow, "fetch_orders", steps.fetch_orders, client="orders")(window)
        checked = step(integration, flow, "validate_orders", steps.validate_orders,
                       client="wms+orders")(window, fetched)
        released = step(integration, flow, "release_orders", steps.release_orders, client="wms")(window, checked)
        amended = step(integration, flow, "apply_amendments", steps.apply_amendments, client="wms")(window, released)
        noted = step(integration, flow, "write_back_status", steps.write_back_status, client="orders",
                     low_priority=True)(window, amended)
        step(integration, flow, "advance_watermark", steps.finish_orders)(window, noted)
        step(integration, flow, "data_check", steps.orders_data_check, retries=0)(window, amended)
    return dag


DISPATCH_DOC = """
### Dispatch confirmation — {label}

**What moves:** Peoplevox despatches → {erp} {what}, exactly once per despatch number, partial despatches included.
**Triggers:** at once on a Peoplevox despatch callback (asset `{asset}`, emitted by the webhook receiver's
background writer), and every `{schedule}` ({tz}) as the polling safety net that reads the *Despatch summary*
report for the window, so a dropped callback never leaves an order open in the ERP.
**Exceptions:** `despatch_for_unknown_order` → `{unknown_owner}`, `despatch_for_cancelled_order` → `{cancelled_owner}`,
`despatch_mismatch` → `{mismatch_owner}`, `fulfilment_rejected` → `{rejected_owner}`, `despatch_without_tracking` →
`{tracking_owner}`.

`confirm_despatches` (one task, so a callback costs one task start): plans its window, drains the webhook inbox,
reads the Despatch summary, runs the suite `dispatch_confirmation`, then {confirm}.{batch}
`data_check` fails the run — after the good despatches went — when this run raised a new problem. Each run logs the
latency (despatch → ERP confirmed, p50/p95).

Runbook: `docs/runbook.md#dispatch-confirmation`.
"""


def confirm_task(integration: Integration, flow: str) -> Callable[..., Any]:
    """The callback path's only task: it plans its own window (no separate plan task to start) and returns it for
    the tasks after it."""

    @task(task_id="confirm_despatches", pool=DISPATCH_POOL, multiple_outputs=True, retry_delay=timedelta(seconds=30))
    @no_retry_on_bad_data
    def confirm_despatches(**context: Any) -> dict[str, Any]:
        from erp_wms_sync.airflow.runtime import plan_window, run_step
        from erp_wms_sync.connectors.budget import Priority

        window = plan_window(integration, flow, context)
        result = run_step(integration, flow, steps.confirm_despatches, "wms+erp", window, context, Priority.HIGH)
        return {"window": window, "result": result}

    return confirm_despatches


def build_dispatch_confirmation(integration: Integration) -> DAG:
    flow = "dispatch_confirmation"
    cin7 = integration.erp.kind.value == "cin7core"
    asset = despatch_received(integration)
    schedule = AssetOrTimeSchedule(timetable=timetable(integration, flow), assets=AssetAny(asset))
    doc = DISPATCH_DOC.format(
        label=integration.label, erp=integration.erp.kind.value,
        what="fulfilments (pick, pack, ship with carrier and tracking)" if cin7 else "shipment confirmations",
        asset=asset.uri, schedule=integration.schedule_for(flow), tz=integration.timezone,
        unknown_owner=integration.owner_of("despatch_for_unknown_order"),
        cancelled_owner=integration.owner_of("despatch_for_cancelled_order"),
        mismatch_owner=integration.owner_of("despatch_mismatch"),
        rejected_owner=integration.owner_of("fulfilment_rejected"),
        tracking_owner=integration.owner_of("despatch_without_tracking"),
        confirm="picks, packs and ships each despatch in Cin7 Core (three calls, HIGH priority in the shared budget)"
        if cin7 else "queues each checked despatch for the next BlueCherry batch",
        batch="" if cin7 else (f" `post_shipments` (pool `{erp_pool(integration)}`) posts the batch at most every "
                               f"{integration.dispatch.erp_batch_minutes} minutes (a manual run always posts)."))
    with new_dag(integration, flow, doc, schedule=schedule) as dag:
        confirmed = confirm_task(integration, flow)()
        window = confirmed["window"]
        last = confirmed
        if not cin7:
            last = step(integration, flow, "post_shipments", steps.post_shipments, client="erp")(window, confirmed)
        step(integration, flow, "data_check", steps.dispatch_data_check, retries=0,
             trigger_rule="all_done_min_one_success")(window, last)
    return dag


INVENTORY_DOC = """
### Inventory sync — {label}

**What moves:** Peoplevox stock movements → Cin7 Core stock adjustments (absolute quantities), per SKU × location,
strictly in Peoplevox History Id order; one run writes at a time.
**Triggers:** every `{schedule}` ({tz}), and at once on a Peoplevox stock callback (asset `{asset}`); each run reads
the *Item movement history* for its window (a backfill re-reads from its window's start and re-applies nothing).
**Counted locations:** {sellable} except {non_sellable} (quarantine is not sellable stock).
**Exceptions:** `unmapped_sku` → `{sku_owner}`, `unmapped_location` → `{location_owner}`, `failed_stock_increment` →
`{failed_owner}`, `stale_stock_event` → `{stale_owner}`, `invalid_stock_movement` → `{invalid_owner}`.

`collect_movements` → `check_movements` (suite `inventory_sync`) → `apply_movements` (pool `{erp_pool}`, NORMAL
priority: dispatch confirmations go first) → `data_check`. Despatches are booked by dispatch confirmation, returns
put back on sellable shelves by this flow (the Cin7 stock-in).

Runbook: `docs/runbook.md#inventory-sync`.
"""


def stock_changed(integration: Integration) -> Asset:
    """Emitted by the webhook receiver's background writer for stored Peoplevox stock callbacks."""
    return Asset(name=f"{integration.name}_stock_changed", uri=stock_asset_uri(integration.name))


BLUECHERRY_INVENTORY_DOC = """
### Inventory sync — {label}

**What moves:** Peoplevox available-to-sell → BlueCherry on-hand per SKU × warehouse (ABSOLUTE inventory
adjustments). Peoplevox is primary for available-to-sell; BlueCherry gets parallel updates and is never the
bottleneck.
**Triggers:** every `{schedule}` ({tz}), and on a Peoplevox stock callback (asset `{asset}`, at most one wake-up
per half minute); each run reads the *Item inventory summary* once and publishes only the figures that changed since
the last publish (a re-run publishes nothing).
**Counted locations:** {sellable} except {non_sellable} (quarantine is never published); a site publishes to the
first BlueCherry warehouse `locations` maps to it.
**Exceptions:** `unmapped_sku` → `{sku_owner}`, `unmapped_location` → `{location_owner}`, `failed_stock_increment` →
`{failed_owner}`, `invalid_stock_movement` (an unreadable report row holds its SKU × site) → `{invalid_owner}`.

`plan_window` → `push_availability` (pool `{erp_pool}`, LOW priority in the BlueCherry key's budget: shipments and
status write-back go first; one adjustment per warehouse per {max_lines} lines, journalled before it is posted under
a Reference derived from its lines, so a retry is answered unchanged and never applied twice; a limited gateway
leaves the rest to the next run) → `data_check` (red once per new problem, after the good figures went).

Runbook: `docs/runbook.md#inventory-sync`.
"""


def build_bluecherry_inventory_sync(integration: Integration) -> DAG:
    """BlueCherry's inventory sync: Peoplevox available-to-sell pushed in batches on the integration's schedule and
    soon after stock moves (the stock callbacks' asset)."""
    flow = "inventory_sync"
    stock = integration.stock
    asset = stock_changed(integration)
    schedule = AssetOrTimeSchedule(timetable=timetable(integration, flow), assets=AssetAny(asset))
    doc = BLUECHERRY_INVENTORY_DOC.format(
        label=integration.label, schedule=integration.schedule_for(flow), tz=integration.timezone, asset=asset.uri,
        sellable=", ".join(stock.sellable_locations), non_sellable=", ".join(stock.non_sellable_locations) or "none",
        sku_owner=integration.owner_of("unmapped_sku"), location_owner=integration.owner_of("unmapped_location"),
        failed_owner=integration.owner_of("failed_stock_increment"),
        invalid_owner=integration.owner_of("invalid_stock_movement"), erp_pool=erp_pool(integration),
        max_lines=stock.max_lines_per_adjustment)
    with new_dag(integration, flow, doc, schedule=schedule) as dag:
        window = plan_window_task(integration, flow)()
        pushed = step(integration, flow, "push_availability", steps.push_stock_availability, client="wms+erp",
                      low_priority=True, pool=erp_pool(integration))(window)
        step(integration, flow, "data_check", steps.stock_data_check, retries=0)(window, pushed)
    return dag


def build_inventory_sync(integration: Integration) -> DAG:
    if integration.erp.kind.value == "bluecherry":
        return build_bluecherry_inventory_sync(integration)
    flow = "inventory_sync"
    asset = stock_changed(integration)
    schedule = AssetOrTimeSchedule(timetable=timetable(integration, flow), assets=AssetAny(asset))
    stock = integration.stock
    doc = INVENTORY_DOC.format(
        label=integration.label, schedule=integration.schedule_for(flow), tz=integration.timezone, asset=asset.uri,
        sellable=", ".join(stock.sellable_locations), non_sellable=", ".join(stock.non_sellable_locations) or "none",
        sku_owner=integration.owner_of("unmapped_sku"), location_owner=integration.owner_of("unmapped_location"),
        failed_owner=integration.owner_of("failed_stock_increment"),
        stale_owner=integration.owner_of("stale_stock_event"),
        invalid_owner=integration.owner_of("invalid_stock_movement"), erp_pool=erp_pool(integration))
    with new_dag(integration, flow, doc, schedule=schedule) as dag:
        window = plan_window_task(integration, flow)()
        collected = step(integration, flow, "collect_movements", steps.collect_stock_movements, client="wms")(window)
        checked = step(integration, flow, "check_movements", steps.check_stock_movements)(window, collected)
        applied = step(integration, flow, "apply_movements", steps.apply_stock_movements,
                       client="wms+erp")(window, checked)
        step(integration, flow, "data_check", steps.stock_data_check, retries=0)(window, applied)
    return dag


RETURNS_DOC = """
### Returns — {label}

**What moves:** {what}
**Triggers:** every `{schedule}` ({tz}), and at once on a Peoplevox `Returns` callback (asset `{asset}`); each run
reads the *Return summary* for its window, so a dropped callback loses nothing.
**Exceptions:** `return_without_authorisation` → `{unknown_owner}`, `return_damaged` → `{damaged_owner}`,
`return_not_restocked` → `{late_owner}`, `credit_before_stock_in` → `{early_owner}`, `return_awaiting_invoice` →
`{invoice_owner}`, `unmapped_sku` → `{sku_owner}`, `invalid_return` → `{invalid_owner}`.

`plan_window` → `collect_returns` (pool `peoplevox_api`) → `settle_returns` (pool `peoplevox_api`) → `data_check`.

Runbook: `docs/runbook.md#returns`.
"""

CIN7_RETURNS = ("Peoplevox returns → Cin7 Core credit notes, one per return, each only after inventory sync booked "
                "its stock-in (this flow never books stock). Damaged goods stay in quarantine; their credit follows "
                "`returns.damaged_credit` (`{policy}`).")
BLUECHERRY_RETURNS = ("BlueCherry return authorisations → Peoplevox expected returns (*Return authorisations*); "
                      "what Peoplevox receives and inspects → the RA's receipt in BlueCherry (sellable to stock, "
                      "damaged to quarantine).")


def returns_received(integration: Integration) -> Asset:
    """Emitted by the webhook receiver's background writer for stored Peoplevox ``Returns`` callbacks."""
    return Asset(name=f"{integration.name}_returns_received", uri=returns_asset_uri(integration.name))


def build_returns(integration: Integration) -> DAG:
    flow = "returns"
    asset = returns_received(integration)
    schedule = AssetOrTimeSchedule(timetable=timetable(integration, flow), assets=AssetAny(asset))
    cin7 = integration.erp.kind.value == "cin7core"
    doc = RETURNS_DOC.format(
        label=integration.label, schedule=integration.schedule_for(flow), tz=integration.timezone, asset=asset.uri,
        what=CIN7_RETURNS.format(policy=integration.returns.damaged_credit) if cin7 else BLUECHERRY_RETURNS,
        unknown_owner=integration.owner_of("return_without_authorisation"),
        damaged_owner=integration.owner_of("return_damaged"), late_owner=integration.owner_of("return_not_restocked"),
        early_owner=integration.owner_of("credit_before_stock_in"),
        invoice_owner=integration.owner_of("return_awaiting_invoice"), sku_owner=integration.owner_of("unmapped_sku"),
        invalid_owner=integration.owner_of("invalid_return"))
    with new_dag(integration, flow, doc, schedule=schedule) as dag:
        window = plan_window_task(integration, flow)()
        collected = step(integration, flow, "collect_returns", steps.collect_returns, client="wms")(window)
        settled = step(integration, flow, "settle_returns", steps.settle_returns, client="wms+erp")(window, collected)
        step(integration, flow, "data_check", steps.returns_data_check, retries=0)(window, settled)
    return dag


RECONCILIATION_DOC = """
### Reconciliation — {label}

**What is compared:** {erp} against Peoplevox, every night: stock per SKU × location ({figure}; what is still in
flight in the ledger compensated, variant pairs read twice), orders, returns and the item master.
**Schedule:** `{schedule}` ({tz}), data-interval windows: the business date is the interval's end in {tz}, so a
missed night is backfilled as its own date.
**Exceptions:** `stock_variance` (beyond `reconciliation.tolerance_units` {units} / `tolerance_pct` {pct}) →
`{variance_owner}`, `drift_trend` → `{trend_owner}`, and the findings of the other sections.
**Proposals:** {proposals}

`plan_window` → `snapshot_and_compare` (pool `peoplevox_api`; its ERP calls spend the ERP key's shared budget) →
`propose_and_apply` (pool `{erp_pool}`) → `data_check` (red once per new problem, or when a section could not be
compared — after the report is written). Report: a folder per run under `ERP_WMS_REPORTS_DIR`.

Runbook: `docs/runbook.md#reconciliation`.
"""


def build_reconciliation(integration: Integration) -> DAG:
    flow = "reconciliation"
    cin7 = integration.erp.kind.value == "cin7core"
    settings = integration.reconciliation
    doc = RECONCILIATION_DOC.format(
        label=integration.label, erp=integration.erp.kind.value, schedule=integration.schedule_for(flow),
        tz=integration.timezone, units=settings.tolerance_units, pct=settings.tolerance_pct,
        figure="on-hand in counted locations" if cin7 else "available-to-sell, as the inventory push publishes it",
        variance_owner=integration.owner_of("stock_variance"), trend_owner=integration.owner_of("drift_trend"),
        erp_pool=erp_pool(integration),
        proposals=("one stock adjustment per variant pair setting Cin7 to the Peoplevox count; "
                   + ("applied by the run (`auto_apply_adjustments`)." if settings.auto_apply_adjustments
                      else "waiting for `erp-wms-sync reconcile approve`.")) if cin7
        else "none: the BlueCherry inventory push corrects availability every run.")
    with new_dag(integration, flow, doc) as dag:
        window = plan_window_task(integration, flow)()
        compared = step(integration, flow, "snapshot_and_compare", steps.reconcile_snapshots,
                        client="wms+erp")(window)
        proposed = step(integration, flow, "propose_and_apply", steps.reconcile_proposals, client="erp")(
            window, compared)
        step(integration, flow, "data_check", steps.reconciliation_data_check, retries=0)(window, proposed)
    return dag


SUBSCRIPTIONS_DOC = """
### Webhook subscriptions — {label}

Makes sure Peoplevox (despatch callbacks) {cin7}call this deployment's webhook receiver: subscribes what is
missing, re-activates a Cin7 webhook that Cin7 deactivated after failed deliveries, and keeps the subscription ids
in the ledger (Peoplevox cannot list them). Connection `{conn}`: host = public receiver URL, password = secret.
Schedule: `{schedule}` ({tz}). Same as `erp-wms-sync subscriptions sync --integration {name}`.

Runbook: `docs/runbook.md#callbacks`.
"""


def build_webhook_subscriptions(integration: Integration) -> DAG:
    flow = "webhook_subscriptions"
    doc = SUBSCRIPTIONS_DOC.format(
        label=integration.label, name=integration.name, conn=integration.webhook_conn_id,
        cin7="and Cin7 Core (Sale/OrderAuthorised) " if integration.erp.kind.value == "cin7core" else "",
        schedule=integration.schedule_for(flow), tz=integration.timezone)
    with new_dag(integration, flow, doc) as dag:
        window = plan_window_task(integration, flow)()
        step(integration, flow, "sync_subscriptions", steps.sync_subscriptions, client="wms+erp")(window)
    return dag


HOUSEKEEPING_DOC = """
### Exception housekeeping — {label}

**What it does:** retries the due exceptions of this integration on their backoff schedule (5 min, 15 min, 45 min,
2 h, 6 h; at most {max_retries} per run, oldest first), closes the exceptions whose cause is gone, raises
`stage_deadline_breached` → `{breach_owner}` for orders released but not despatched within {despatch_hours} h and
despatched but not confirmed in the ERP within {confirm_minutes} min (closed when the order moves on), and purges
staging rows of runs abandoned for more than {retention} h.
**Schedule:** `{schedule}` ({tz}).

`plan_window` → `retry_due` (pool `peoplevox_api`; one Peoplevox lookup for every due SKU, a probe per system for
`api_unavailable` → `{api_owner}`) → `tidy_ledger` (ledger only: cause gone, deadlines, purge) → `data_check`: red
once per new breach, new `api_unavailable`, or batch of exceptions newly *parked* after their last retry — one
message listing them per owner team, never again for the same one.

Runbook: `docs/runbook.md#exception-housekeeping`.
"""


def build_exception_housekeeping(integration: Integration) -> DAG:
    flow = "exception_housekeeping"
    settings = integration.deadlines
    doc = HOUSEKEEPING_DOC.format(
        label=integration.label, max_retries=integration.housekeeping.max_retries_per_run,
        breach_owner=integration.owner_of("stage_deadline_breached"), despatch_hours=settings.despatch_hours,
        confirm_minutes=settings.confirm_minutes, retention=integration.housekeeping.staged_retention_hours,
        schedule=integration.schedule_for(flow), tz=integration.timezone,
        api_owner=integration.owner_of("api_unavailable"))
    with new_dag(integration, flow, doc) as dag:
        window = plan_window_task(integration, flow)()
        retried = step(integration, flow, "retry_due", steps.retry_due_exceptions, client="wms+erp",
                       low_priority=True)(window)
        tidied = step(integration, flow, "tidy_ledger", steps.tidy_exceptions, trigger_rule="all_done")(window, retried)
        step(integration, flow, "data_check", steps.housekeeping_data_check, retries=0,
             trigger_rule="all_done_min_one_success")(window, tidied)
    return dag


DIGEST_DOC = """
### Exception digests — {label}

**What it does:** sends each owner team its new exceptions (raised or reopened since its last digest, still open),
grouped by type: one line per type with the count, the first {examples} examples and a link to the dashboard's list
filtered to the team and type. By e-mail (`alerts.smtp_conn_id`) and Slack (the team's `slack_conn_id`, else
`alerts.slack_conn_id`). Teams: {teams}.
**Schedule:** `{schedule}` ({tz}), `digests.schedule`.

`plan_window` → `send_digests` (ledger + mail/Slack only; a cursor per team × channel moves only when that channel
took the message, so a failed channel is sent the missed period next run and the other channel nothing twice;
channels without configuration send nothing and are logged).

Runbook: `docs/runbook.md#exception-digests`.
"""


def digest_task(integration: Integration, flow: str) -> Callable[..., Any]:
    @task(task_id="send_digests")
    @no_retry_on_bad_data
    def send_digests(window: dict[str, Any], **context: Any) -> dict[str, Any]:
        from erp_wms_sync.airflow.digest_channels import NotifierChannels
        from erp_wms_sync.airflow.runtime import run_context
        from erp_wms_sync.flows.exception_digest import send_digests as send

        return send(run_context(integration, flow, window, context), NotifierChannels(context))

    return send_digests


def build_exception_digest(integration: Integration) -> DAG:
    flow = "exception_digest"
    settings = integration.digests
    doc = DIGEST_DOC.format(label=integration.label, examples=settings.examples,
                            teams=", ".join(f"`{t}`" for t in sorted(settings.teams)) or "none configured yet "
                            "(`digests.teams`)", schedule=integration.schedule_for(flow), tz=integration.timezone)
    with new_dag(integration, flow, doc) as dag:
        window = plan_window_task(integration, flow)()
        digest_task(integration, flow)(window)
    return dag


FLOW_BUILDERS: dict[str, Callable[[Integration], DAG]] = {
    "item_master_sync": build_item_master_sync,
    "order_release": build_order_release,
    "dispatch_confirmation": build_dispatch_confirmation,
    "webhook_subscriptions": build_webhook_subscriptions,
}
#: Flows built only for some ERPs (the others get no DAG until their pattern lands).
FLOW_ERPS: dict[str, tuple[str, ...]] = {}
FLOW_BUILDERS["inventory_sync"] = build_inventory_sync
FLOW_BUILDERS["returns"] = build_returns
FLOW_BUILDERS["reconciliation"] = build_reconciliation
FLOW_BUILDERS["exception_housekeeping"] = build_exception_housekeeping
FLOW_BUILDERS["exception_digest"] = build_exception_digest
