"""Callbacks from the vendor systems: the receiver (a FastAPI app mounted in the Airflow API server by the plugin
in ``plugins/``), the background writer that turns stored callbacks into Airflow asset events, and the
subscriptions that make the vendors call us.

This module holds what the receiver, the subscriptions and the DAGs must agree on: the paths, the callback
fields and the asset URIs. No Airflow or FastAPI import here.

Paths (under the plugin's ``/erp-wms`` prefix):

- ``/hooks/peoplevox/{integration}/{event_type}?token=<secret>&<field>=<value>…`` — Peoplevox ``SubscribeEvent``
  (GET, placeholders substituted in the query) and ``SubscribePostEvent`` (POST form fields, token still in the
  query). Peoplevox signs nothing, so the secret travels in the URL the integration registered. The despatch
  events wake dispatch_confirmation, the stock events inventory_sync, ``Returns`` the returns flow.
- ``/hooks/cin7core/{integration}`` — Cin7 Core webhooks (POST JSON) with ``Authorization: Basic`` (login of the
  webhook connection + its secret) or ``Bearer <secret>``.
"""

from __future__ import annotations

HOOKS_PREFIX = "/hooks"
PEOPLEVOX = "peoplevox"
CIN7CORE = "cin7core"

# Peoplevox despatch events the integration subscribes to, and the fields each callback carries: query/form
# parameter name -> Peoplevox placeholder. DespatchPackageDespatched fires once per package when it leaves;
# DespatchPackageTrackingNumberReceived when a package's tracking number arrives later.
PACKAGE_DESPATCHED = "DespatchPackageDespatched"
PACKAGE_TRACKING_RECEIVED = "DespatchPackageTrackingNumberReceived"
PEOPLEVOX_EVENTS: tuple[str, ...] = (PACKAGE_DESPATCHED, PACKAGE_TRACKING_RECEIVED)
PEOPLEVOX_FIELDS: dict[str, str] = {
    "SalesOrderNumber": "SalesOrderNumber",
    "DespatchNumber": "DespatchNumber",
    "PackageNumber": "PackageNumber",
    "TrackingNumber": "TrackingNumber",
    "Carrier": "Carrier.Name",
    "Service": "ServiceType.Code",
    "DespatchDate": "DespatchDate",
}
PEOPLEVOX_REQUIRED: tuple[str, ...] = ("SalesOrderNumber", "DespatchNumber", "PackageNumber")

# Peoplevox stock and returns events. Their fields and parsers live in erp_wms_sync.domain.stock_movements and
# erp_wms_sync.domain.pv_returns, which import these names from here (this module imports nothing of the product).
# IncrementalChanges fires when a movement changes an item's on-hand stock, AvailabilityChanges when its available
# quantity changes (allocations too): both wake inventory sync, but only IncrementalChanges is subscribed. Returns
# fires per returned line and wakes the returns flow.
INCREMENTAL_CHANGES = "IncrementalChanges"
AVAILABILITY_CHANGES = "AvailabilityChanges"
RETURNS = "Returns"
PEOPLEVOX_STOCK_CHANGE_EVENTS: tuple[str, ...] = (INCREMENTAL_CHANGES, AVAILABILITY_CHANGES)
PEOPLEVOX_STOCK_EVENTS: tuple[str, ...] = (*PEOPLEVOX_STOCK_CHANGE_EVENTS, RETURNS)
#: Every Peoplevox event the receiver accepts (``PEOPLEVOX_EVENTS`` are the despatch events only: dispatch
#: confirmation drains those).
PEOPLEVOX_ACCEPTED_EVENTS: tuple[str, ...] = (*PEOPLEVOX_EVENTS, *PEOPLEVOX_STOCK_EVENTS)
#: The Peoplevox events the subscriptions register. AvailabilityChanges is accepted (an account may already send it)
#: but not subscribed: it fires on every allocation as well, which moves no stock, and inventory sync reads the
#: movement history anyway; IncrementalChanges is the wake-up for every on-hand change. Half the callbacks of a
#: busy warehouse (an opening-stock delivery of 500 items is 500 callbacks, not 1,000).
PEOPLEVOX_SUBSCRIBED_EVENTS: tuple[str, ...] = (*PEOPLEVOX_EVENTS, INCREMENTAL_CHANGES, RETURNS)

# Cin7 Core webhook types the integration subscribes to (thin payloads; the flows read the details).
CIN7_ORDER_AUTHORISED = "Sale/OrderAuthorised"
CIN7_EVENTS: tuple[str, ...] = (CIN7_ORDER_AUTHORISED,)

TOKEN_PARAM = "token"
MAX_BODY_BYTES = 64 * 1024


def despatch_asset_uri(integration: str) -> str:
    """Emitted for stored Peoplevox despatch callbacks: wakes the integration's dispatch_confirmation DAG."""
    return f"erp-wms://{integration}/despatch-received"


def orders_asset_uri(integration: str) -> str:
    """Emitted for a stored Cin7 Core ``Sale/OrderAuthorised`` webhook: wakes the order_release DAG."""
    return f"erp-wms://{integration}/sale-order-authorised"


def stock_asset_uri(integration: str) -> str:
    """Emitted for stored Peoplevox ``IncrementalChanges`` / ``AvailabilityChanges`` callbacks: wakes the
    integration's inventory_sync DAG."""
    return f"erp-wms://{integration}/stock-changed"


def returns_asset_uri(integration: str) -> str:
    """Emitted for stored Peoplevox ``Returns`` callbacks: wakes the integration's returns DAG."""
    return f"erp-wms://{integration}/return-received"


#: Seconds between two wake-ups of a batch flow (inventory sync, returns): a warehouse's opening stock or a big
#: delivery is hundreds of callbacks in seconds, and a run reads the whole window anyway, so one event per half
#: minute wakes the DAG as well as hundreds would — without hundreds of writes to Airflow's metadata DB. Dispatch
#: confirmation is not throttled (seconds count there).
BATCH_WAKE_UP_SECONDS = 30.0


def min_emit_interval(uri: str) -> float:
    """How long the background writer waits after an event for ``uri`` before it emits the next one."""
    return BATCH_WAKE_UP_SECONDS if uri.endswith(("/stock-changed", "/return-received")) else 0.0


def asset_routes(integration: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every asset a stored callback of ``integration`` can wake -> (source, the event types that wake it)."""
    return {
        despatch_asset_uri(integration): (PEOPLEVOX, PEOPLEVOX_EVENTS),
        stock_asset_uri(integration): (PEOPLEVOX, PEOPLEVOX_STOCK_CHANGE_EVENTS),
        returns_asset_uri(integration): (PEOPLEVOX, (RETURNS,)),
        orders_asset_uri(integration): (CIN7CORE, (CIN7_ORDER_AUTHORISED,)),
    }


def asset_uri_for(integration: str, source: str, event_type: str | None) -> str | None:
    """The asset a stored callback wakes, or None when it needs no DAG run."""
    for uri, (wakes_source, event_types) in asset_routes(integration).items():
        if source == wakes_source and event_type in event_types:
            return uri
    return None


def peoplevox_callback_url(base_url: str, integration: str, event_type: str, token: str) -> str:
    """The URL registered with Peoplevox ``SubscribeEvent``: placeholders in the query, substituted at event time.

    ``base_url`` is the public address of the plugin (``https://airflow.example.com/erp-wms``)."""
    fields = "&".join(f"{name}={{{placeholder}}}" for name, placeholder in PEOPLEVOX_FIELDS.items())
    return f"{base_url.rstrip('/')}{HOOKS_PREFIX}/{PEOPLEVOX}/{integration}/{event_type}?{TOKEN_PARAM}={token}&{fields}"


def cin7_callback_url(base_url: str, integration: str) -> str:
    return f"{base_url.rstrip('/')}{HOOKS_PREFIX}/{CIN7CORE}/{integration}"
