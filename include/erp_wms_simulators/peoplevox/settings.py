"""Tunable behaviour of the Peoplevox simulator.

Values marked [I] in the module's docs are our own design choices where the real service's behaviour
is undocumented; they are settings so a test (or a user comparing with a real tenant) can change them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from erp_wms_simulators.peoplevox.statuses import ALLOCATED, DEFAULT_STATUS_IDS, NEW


@dataclass
class PeoplevoxSettings:
    """Knobs of one simulator instance (mutable: tests and the admin API adjust them at run time)."""

    #: Idle lifetime of a session in seconds; a call after that answers "Session Expired" [I].
    session_idle_seconds: float = 20 * 60
    #: Longest accepted ``ItemCode`` of an Item type [I].
    item_code_max_length: int = 40
    #: Page size used when GetData omits ``ItemsPerPage`` (or sends zero / a negative number) [I].
    default_items_per_page: int = 100
    #: Larger page sizes are clamped to this value.
    max_items_per_page: int = 1000
    #: On an update, an empty CSV cell leaves the stored value unchanged (instead of clearing it) [I].
    empty_cell_keeps_value: bool = True
    #: First id handed out by SubscribeEvent / SubscribePostEvent; later ids count up from it [I].
    first_subscription_id: int = 1000
    #: Answer this many of the next service requests with HTTP 503 (simple fault injection).
    fail_next: int = 0

    # -- sales orders ------------------------------------------------------------------------------
    #: Longest accepted ``SalesOrderNumber`` (string(30) in the documented template).
    sales_order_number_max_length: int = 30
    #: ``ServiceType`` and ``ChannelName`` must be given on a new sales order (marked required in the docs).
    sales_order_requires_service_and_channel: bool = True
    #: Statuses in which importing ``Status=Cancelled`` is still accepted [I].
    cancellable_statuses: tuple[str, ...] = (NEW, ALLOCATED)
    #: Statuses in which order lines may be added or their quantity changed ("before picking") [I].
    line_change_statuses: tuple[str, ...] = (NEW, ALLOCATED)
    #: Numeric id of each sales order status, used by ``Status.Equals(5)`` searches and events [I].
    order_status_ids: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_STATUS_IDS))

    # -- the warehouse -----------------------------------------------------------------------------
    #: Site of an order without a ``Site`` value; empty means the tenant's first Site [I].
    default_site: str = ""
    #: Pickable bin used when goods in, returns and counts name no location [I].
    pick_location: str = "A-01-01"
    #: Where picked stock waits for despatch (on hand, not available) [I].
    despatch_location: str = "DESPATCH"
    #: Where damaged returns go (on hand, never available) [I].
    quarantine_location: str = "QUARANTINE"
    #: User name recorded on movements, despatches and goods in [I].
    warehouse_user: str = "warehouse.operator"
    #: Carrier of a despatch that names none [I].
    default_carrier: str = "DPD"
    #: Invent a tracking number for each package despatched without one [I].
    generate_tracking_numbers: bool = True
    #: A short pick writes the missing quantity off the bin (a "Short pick" movement) [I].
    short_pick_adjusts_stock: bool = True
    #: First History Id of the item movement history [I].
    first_history_id: int = 1
    #: First number of a despatch (``DES`` + number) [I].
    first_despatch_number: int = 1000001

    # -- events ------------------------------------------------------------------------------------
    #: AvailabilityChanges fires per item and site (``Available`` of that site) instead of per item [I].
    availability_per_site: bool = False
    #: SubscribeEvent refuses ``{Placeholders}`` the event does not offer (else they become empty) [I].
    strict_placeholders: bool = True
    #: Format of date-time values substituted into callbacks [I].
    event_datetime_format: str = "%Y-%m-%dT%H:%M:%S"
    #: How many published events each tenant keeps for inspection (``/_sim/{clientId}/warehouse/events``).
    event_log_length: int = 5000
