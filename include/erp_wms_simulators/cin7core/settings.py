"""Behaviour switches of the Cin7 Core simulator.

Defaults follow the documented API; the switches cover what public clients report differently
(429 vs 503 on the rate limit, a ``Retry-After`` header or not, timestamps with or without ``Z``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from erp_wms_simulators.cin7core.demo import DEMO_ACCOUNT_ID, DEMO_APPLICATION_KEY

RATE_LIMIT_STATUSES = (429, 503)


@dataclass
class Cin7CoreSettings:
    """Mutable at run time through ``POST /_sim/settings`` (fault drills) or directly in tests."""

    # application key -> account id; limits apply per application key, as in the real service
    applications: dict[str, str] = field(default_factory=lambda: {DEMO_APPLICATION_KEY: DEMO_ACCOUNT_ID})
    rate_limit_per_minute: int = 60
    rate_limit_window_seconds: float = 60.0
    rate_limit_status: int = 429
    rate_limit_retry_after: bool = False
    default_limit: int = 100
    max_limit: int = 1000
    malformed_body_status: int = 400
    timestamps_with_z: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.rate_limit_status not in RATE_LIMIT_STATUSES:
            raise ValueError(f"rate_limit_status must be one of {RATE_LIMIT_STATUSES}")
        if self.rate_limit_per_minute < 1:
            raise ValueError("rate_limit_per_minute must be at least 1")
        if self.malformed_body_status not in (400, 500):
            raise ValueError("malformed_body_status must be 400 or 500")
        if not 1 <= self.default_limit <= self.max_limit:
            raise ValueError("default_limit must be between 1 and max_limit")

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
