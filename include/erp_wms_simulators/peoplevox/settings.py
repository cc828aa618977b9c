"""Tunable behaviour of the Peoplevox simulator.

Values marked [I] in the module's docs are our own design choices where the real service's behaviour
is undocumented; they are settings so a test (or a user comparing with a real tenant) can change them.
"""

from __future__ import annotations

from dataclasses import dataclass


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
