"""Sales order statuses of the simulated warehouse.

The official list with its numeric ids was not available, so this enum is our own design [I]; the
ids are a setting (``order_status_ids``) and drive ``Status.Equals(5)`` searches. Only ``Cancelled``
may be imported; every other status is set by the warehouse as the order moves.
"""

from __future__ import annotations

from collections.abc import Mapping

NEW = "New"
ALLOCATED = "Allocated"
PICKING = "Picking"
PACKING = "Packing"
DESPATCHED = "Despatched"
PARTIALLY_DESPATCHED = "Partially despatched"
CANCELLED = "Cancelled"
ON_HOLD = "On hold"
RETURNED = "Returned"

ORDER_STATUSES: tuple[str, ...] = (NEW, ALLOCATED, PICKING, PACKING, DESPATCHED, PARTIALLY_DESPATCHED,
                                   CANCELLED, ON_HOLD, RETURNED)
DEFAULT_STATUS_IDS: dict[str, int] = {name: number for number, name in enumerate(ORDER_STATUSES, start=1)}
#: Statuses an order never leaves.
FINAL_STATUSES: tuple[str, ...] = (CANCELLED, DESPATCHED, RETURNED)


def status_id(name: str, ids: Mapping[str, int]) -> str:
    """The numeric id (as text) of a status name; empty for an unknown name."""
    for status, number in ids.items():
        if status.lower() == name.strip().lower():
            return str(number)
    return ""


def canonical_status(name: str) -> str | None:
    """The status spelled as the warehouse spells it, or ``None`` when ``name`` is not a status."""
    lowered = name.strip().lower()
    return next((status for status in ORDER_STATUSES if status.lower() == lowered), None)
