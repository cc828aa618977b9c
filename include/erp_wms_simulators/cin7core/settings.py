"""Behaviour switches of the Cin7 Core simulator.

Defaults follow the documented API; the switches cover what public clients report differently
(429 vs 503 on the rate limit, a ``Retry-After`` header or not, timestamps with or without ``Z``) and the
sales and stock behaviours the API reference leaves open (each commented where it is declared).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from erp_wms_simulators.cin7core.demo import DEMO_ACCOUNT_ID, DEMO_APPLICATION_KEY

RATE_LIMIT_STATUSES = (429, 503)
SHIPPED_SALE_STATUSES = ("PACKED", "SHIPPING", "SHIPPED")


@dataclass
class Cin7CoreSettings:
    """Mutable at run time through ``POST /_sim/settings`` (fault drills) or directly in tests."""

    # application key -> account id; limits apply per application key, as in the real service
    applications: dict[str, str] = field(default_factory=lambda: {DEMO_APPLICATION_KEY: DEMO_ACCOUNT_ID})
    # at most rate_limit_per_minute calls per key in any rolling window of rate_limit_window_seconds; a
    # shorter window runs a scaled clock (a benchmark's 6 s window is the real limit 10 times faster)
    rate_limit_per_minute: int = 60
    rate_limit_window_seconds: float = 60.0
    # a refused call answers this status (429, or 503 as the older documentation says) ...
    rate_limit_status: int = 429
    # ... with a Retry-After header (whole seconds until a slot frees up) only when this is on, for either
    # status; off by default, as reported for the real service, so a client must not depend on it
    rate_limit_retry_after: bool = False
    default_limit: int = 100
    max_limit: int = 1000
    malformed_body_status: int = 400
    timestamps_with_z: bool = True
    # ---- sales, stock and webhooks (documented where the API reference is firm, our design otherwise)
    # the first fulfilment / invoice / credit note task of a simple sale uses the SaleID as its TaskID
    simple_sale_task_id_is_sale_id: bool = True
    # Sale.Status once every box is shipped but nothing is invoiced yet (no SHIPPED value is documented)
    shipped_sale_status: str = "PACKED"
    # authorising an order allocates only what is available; True also allocates the backordered rest
    allocate_backorders: bool = False
    # Order.Status becomes FULFILLED once every ordered unit has shipped (list rows show it)
    order_status_fulfilled: bool = True
    # voiding a sale with shipped boxes is refused (undo the shipment first) unless this is True
    allow_void_after_shipment: bool = False
    # POST /sale with an unknown Customer name creates the customer (False: 400 "not found")
    auto_create_customers: bool = True
    # GET /ref/productavailability lists a zero row for a stock product that never had stock
    availability_zero_rows: bool = True
    # pack lines without a Box go into this box
    default_box: str = "Box 1"
    # tracking numbers are joined with this text in CombinedTrackingNumbers
    tracking_separator: str = ", "
    webhook_max_per_type: int = 5
    # GET of a sale document by an unknown (well-formed) SaleID/ID; writes naming an unknown sale answer 400
    unknown_sale_status: int = 404

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.rate_limit_status not in RATE_LIMIT_STATUSES:
            raise ValueError(f"rate_limit_status must be one of {RATE_LIMIT_STATUSES}")
        if not self.rate_limit_window_seconds > 0:
            raise ValueError("rate_limit_window_seconds must be positive")
        if self.rate_limit_per_minute < 1:
            raise ValueError("rate_limit_per_minute must be at least 1")
        if self.malformed_body_status not in (400, 500):
            raise ValueError("malformed_body_status must be 400 or 500")
        if not 1 <= self.default_limit <= self.max_limit:
            raise ValueError("default_limit must be between 1 and max_limit")
        if self.shipped_sale_status not in SHIPPED_SALE_STATUSES:
            raise ValueError(f"shipped_sale_status must be one of {SHIPPED_SALE_STATUSES}")
        if self.webhook_max_per_type < 1:
            raise ValueError("webhook_max_per_type must be at least 1")
        if self.unknown_sale_status not in (400, 404):
            raise ValueError("unknown_sale_status must be 400 or 404")
        if not self.default_box.strip():
            raise ValueError("default_box cannot be blank")

    def account_for(self, application_key: str) -> str | None:
        """The account id of an application key (GUIDs compare without regard to case)."""
        wanted = application_key.lower()
        return next((account for key, account in self.applications.items() if key.lower() == wanted), None)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` all at once, or none of them if a name is unknown or a value invalid."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        updated = replace(self, **changes)  # runs validate() on the copy
        for name in known:
            setattr(self, name, getattr(updated, name))

    def rate_limit_message(self) -> str:
        return f"You reached {self.rate_limit_per_minute} calls per minute API limit"
