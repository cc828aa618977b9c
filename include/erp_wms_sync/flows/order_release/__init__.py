"""order_release: authorised ERP orders → Peoplevox "Sales orders" + "Sales order items", exactly once, verified.

One module per step (one Airflow task each):

1. :mod:`.fetch` (``fetch_orders``) — list the orders changed in the window, fetch the full order only when the
   ledger cannot prove it unchanged, and stage typed records (:mod:`.staging`) as it goes.
2. :mod:`.validate` (``validate_orders``) — the Great Expectations suite, then release, hold or wait per order.
3. :mod:`.release` (``release_orders``) — verified writes: an order is released only when a read-back shows
   Peoplevox holds its header and every line.
4. :mod:`erp_wms_sync.flows.order_amendments` (``apply_amendments``) — changes to released orders.
5. :mod:`.write_back` (``write_back_status``) — the status back to the ERP (``orders.write_back``).
6. :func:`finish` (``advance_watermark``) and :func:`data_check` — red only when this run raised new exceptions.
"""

from __future__ import annotations

from typing import Any

from erp_wms_sync.flows.common import RunContext, advance_watermark, fail_on_new_problems
from erp_wms_sync.flows.order_release.fetch import fetch
from erp_wms_sync.flows.order_release.release import release, send_orders
from erp_wms_sync.flows.order_release.rows import (
    ORDER,
    build_rows,
    lookup_wms_orders,
    read_wms_lines,
    wms_item_codes,
)
from erp_wms_sync.flows.order_release.staging import Verdict
from erp_wms_sync.flows.order_release.validate import (
    HOLD_TYPES,
    SUITE,
    WMS_REJECTED,
    check,
    frame_rows,
    in_hold_window,
    validate,
)
from erp_wms_sync.flows.order_release.write_back import write_back

__all__ = ["FLOW", "HOLD_TYPES", "ORDER", "SUITE", "WMS_REJECTED", "Verdict", "build_rows", "check", "data_check",
           "fetch", "finish", "frame_rows", "in_hold_window", "lookup_wms_orders", "read_wms_lines",
           "release", "send_orders", "validate", "wms_item_codes", "write_back"]

FLOW = "order_release"
#: The flows whose exceptions a run of order_release raises (amendments run inside it).
ALERTING_FLOWS = (FLOW, "order_amendments")


def data_check(ctx: RunContext) -> dict[str, Any]:
    """Red when this run held an order for a new reason (data check, Peoplevox refusal, incomplete write,
    amendment after the cut-off); re-validated holds stay open exceptions without another alert."""
    return fail_on_new_problems(ctx, SUITE, ALERTING_FLOWS)


def finish(ctx: RunContext) -> dict[str, str]:
    return advance_watermark(ctx)
