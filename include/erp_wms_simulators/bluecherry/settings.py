"""Behaviour switches of the BlueCherry simulator (an Azure API Management style gateway)."""

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

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.rate_limit_per_minute < 1:
            raise ValueError("rate_limit_per_minute must be at least 1")
        if not 1 <= self.default_page_size <= self.max_page_size:
            raise ValueError("default_page_size must be between 1 and max_page_size")

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` all at once, or none of them if a name is unknown or a value invalid."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        updated = replace(self, **changes)
        for name in known:
            setattr(self, name, getattr(updated, name))
