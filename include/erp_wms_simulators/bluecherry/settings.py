"""Behaviour switches of the BlueCherry simulator: the API Management style gateway, and each designed
choice of the order / shipment / return / stock contract (BlueCherry publishes no API, so every such
behaviour is a setting with the default documented here).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from erp_wms_simulators.bluecherry.demo import DEMO_SUBSCRIPTION_KEY


@dataclass
class BlueCherrySettings:
    """Mutable at run time through ``POST /_sim/settings`` or directly in tests."""

    subscription_keys: tuple[str, ...] = field(default_factory=lambda: (DEMO_SUBSCRIPTION_KEY,))
    rate_limit_per_minute: int = 100
    rate_limit_window_seconds: float = 60.0
    rate_limit_retry_after: bool = True
    default_page_size: int = 100
    max_page_size: int = 500
    # orders
    order_idempotency: bool = True  # POST /orders repeated with the same customerPo + division -> same order
    first_order_number: int = 100001
    auto_allocate: bool = False  # allocate free stock as soon as an order is created (else: allocate() runs)
    partial_allocation: bool = True  # keep partial allocations on an order that cannot be fully allocated
    auto_pick_ticket: bool = False  # print a pick ticket as soon as an order is fully allocated
    reject_inactive_skus: bool = True  # an order line for an INACTIVE SKU is refused (400)
    credit_hold_customers: tuple[str, ...] = ()  # new orders of these customers start ON_HOLD
    # shipments, invoices
    allow_negative_stock: bool = True  # a confirmed shipment / adjustment may take on-hand below zero
    auto_invoice: bool = False  # invoice an order as soon as it is fully shipped
    # returns, adjustments
    credit_memo_on_receive: bool = True  # receiving a return issues its credit memo at once
    return_reason_codes: tuple[str, ...] = ("DEFECTIVE", "WRONG_SIZE", "NOT_AS_DESCRIBED", "CHANGED_MIND",
                                            "DAMAGED_IN_TRANSIT", "OTHER")
    adjustment_reasons: tuple[str, ...] = ("CYCLE_COUNT", "RECONCILIATION", "DAMAGED", "FOUND", "LOST",
                                           "RETURN", "OTHER")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.rate_limit_per_minute < 1:
            raise ValueError("rate_limit_per_minute must be at least 1")
        if not 1 <= self.default_page_size <= self.max_page_size:
            raise ValueError("default_page_size must be between 1 and max_page_size")
        if self.first_order_number < 1:
            raise ValueError("first_order_number must be at least 1")
        for name in ("credit_hold_customers", "return_reason_codes", "adjustment_reasons"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name} must be a list of strings")
            setattr(self, name, tuple(value))

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` all at once, or none of them if a name is unknown or a value invalid."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        updated = replace(self, **changes)
        for name in known:
            setattr(self, name, getattr(updated, name))
