"""The flow step behind each task. Each function imports its flow module when the task runs (never at DAG parse
time) and calls the step directly — no ``"module:function"`` string is resolved at run time, so a renamed step is
an import error in the tests, not a failed task in production."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from erp_wms_sync.connectors.protocols import ErpOrderSource, WmsClient
    from erp_wms_sync.flows.common import RunContext


# --- item master sync -------------------------------------------------------------------------------------
def fetch_erp_items(ctx: RunContext, client: Any) -> Any:
    from erp_wms_sync.flows import item_master_sync

    return item_master_sync.fetch(ctx, client)


def validate_items(ctx: RunContext) -> Any:
    from erp_wms_sync.flows import item_master_sync

    return item_master_sync.validate(ctx)


def upsert_wms_items(ctx: RunContext, client: Any) -> Any:
    from erp_wms_sync.flows import item_master_sync

    return item_master_sync.upsert(ctx, client)


def flag_wms_items_not_in_erp(ctx: RunContext, client: Any) -> Any:
    from erp_wms_sync.flows import item_master_sync

    return item_master_sync.flag_unknown(ctx, client)


def items_data_check(ctx: RunContext) -> Any:
    from erp_wms_sync.flows import item_master_sync

    return item_master_sync.data_check(ctx)


def summarise_items(ctx: RunContext) -> Any:
    from erp_wms_sync.flows import item_master_sync

    return item_master_sync.summarise(ctx)


def finish_items(ctx: RunContext) -> Any:
    from erp_wms_sync.flows import item_master_sync

    return item_master_sync.finish(ctx)


# --- order release --------------------------------------------------------------------------------------
def fetch_orders(ctx: RunContext, source: ErpOrderSource) -> Any:
    from erp_wms_sync.flows.order_release import fetch

    return fetch(ctx, source)


def validate_orders(ctx: RunContext, wms: WmsClient, source: ErpOrderSource) -> Any:
    """Peoplevox for the ItemCodes it has; the ERP order source for SKUs created after the latest item sync."""
    from erp_wms_sync.flows.order_release import check

    return check(ctx, wms, source)


def release_orders(ctx: RunContext, wms: WmsClient) -> Any:
    from erp_wms_sync.flows.order_release import release

    return release(ctx, wms)


def apply_amendments(ctx: RunContext, wms: WmsClient) -> Any:
    from erp_wms_sync.flows.order_amendments import amend

    return amend(ctx, wms)


def write_back_status(ctx: RunContext, source: ErpOrderSource) -> Any:
    from erp_wms_sync.flows.order_release import write_back

    return write_back(ctx, source)


def orders_data_check(ctx: RunContext) -> Any:
    from erp_wms_sync.flows.order_release import data_check

    return data_check(ctx)


def finish_orders(ctx: RunContext) -> Any:
    from erp_wms_sync.flows.order_release import finish

    return finish(ctx)


# --- dispatch confirmation ------------------------------------------------------------------------------
def confirm_despatches(ctx: RunContext, wms: WmsClient, erp: Any) -> Any:
    from erp_wms_sync.flows.dispatch_confirmation import confirm_despatches as confirm

    return confirm(ctx, wms, erp)


def post_shipments(ctx: RunContext, erp: Any) -> Any:
    from erp_wms_sync.flows.dispatch_confirmation import post_shipments as post

    return post(ctx, erp)


def dispatch_data_check(ctx: RunContext) -> Any:
    from erp_wms_sync.flows.dispatch_confirmation import data_check

    return data_check(ctx)


# --- inventory sync ---------------------------------------------------------------------------------------
def collect_stock_movements(ctx: RunContext, wms: WmsClient) -> Any:
    from erp_wms_sync.flows.inventory_sync import collect_movements

    return collect_movements(ctx, wms)


def check_stock_movements(ctx: RunContext) -> Any:
    from erp_wms_sync.flows.inventory_sync import check_movements

    return check_movements(ctx)


def apply_stock_movements(ctx: RunContext, wms: WmsClient, erp: Any) -> Any:
    from erp_wms_sync.flows.inventory_sync import apply_movements

    return apply_movements(ctx, wms, erp)


def stock_data_check(ctx: RunContext) -> Any:
    from erp_wms_sync.flows.inventory_sync import data_check

    return data_check(ctx)


def push_stock_availability(ctx: RunContext, wms: WmsClient, erp: Any) -> Any:
    """BlueCherry: Peoplevox available-to-sell published in batches (the Cin7 Core steps above sequence movements)."""
    from erp_wms_sync.flows.inventory_sync.bluecherry import push_availability

    return push_availability(ctx, wms, erp)


# --- returns ------------------------------------------------------------------------------------------------
def collect_returns(ctx: RunContext, wms: WmsClient) -> Any:
    from erp_wms_sync.flows.returns import collect_returns as collect

    return collect(ctx, wms)


def settle_returns(ctx: RunContext, wms: WmsClient, erp: Any) -> Any:
    from erp_wms_sync.flows.returns import settle_returns as settle

    return settle(ctx, wms, erp)


def returns_data_check(ctx: RunContext) -> Any:
    from erp_wms_sync.flows.returns import data_check

    return data_check(ctx)


# --- reconciliation ------------------------------------------------------------------------------------------
def reconcile_snapshots(ctx: RunContext, wms: WmsClient, erp: Any) -> Any:
    from erp_wms_sync.flows.reconciliation import snapshot_and_compare

    return snapshot_and_compare(ctx, wms, erp)


def reconcile_proposals(ctx: RunContext, erp: Any) -> Any:
    from erp_wms_sync.flows.reconciliation import propose_and_apply

    return propose_and_apply(ctx, erp)


def reconciliation_data_check(ctx: RunContext) -> Any:
    from erp_wms_sync.flows.reconciliation import data_check

    return data_check(ctx)


# --- webhook subscriptions --------------------------------------------------------------------------------
def sync_subscriptions(ctx: RunContext, wms: WmsClient, erp: Any) -> Any:
    from erp_wms_sync.flows.webhook_subscriptions import sync

    return sync(ctx, wms, erp)


# --- exception housekeeping -------------------------------------------------------------------------------
def retry_due_exceptions(ctx: RunContext, wms: WmsClient, erp: Any) -> Any:
    from erp_wms_sync.flows.exception_housekeeping import retry_due

    return retry_due(ctx, wms, erp)


def tidy_exceptions(ctx: RunContext) -> Any:
    from erp_wms_sync.flows.exception_housekeeping import tidy

    return tidy(ctx)


def housekeeping_data_check(ctx: RunContext) -> Any:
    from erp_wms_sync.flows.exception_housekeeping import data_check

    return data_check(ctx)
