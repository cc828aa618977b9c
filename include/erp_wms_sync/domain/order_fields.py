"""Small cleaners shared by the ERP order mappings (pure). The checked readers (:func:`mapping`, :func:`rows`,
:func:`quantity`) raise :class:`~erp_wms_sync.domain.orders.UnreadableOrder` naming the order and the field when an
answer has the wrong shape, so a hostile record becomes that order's exception instead of a crash of the run."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from erp_wms_sync.domain.orders import Address, UnreadableOrder


def text(value: Any) -> str:
    """A single-spaced string ("" for None)."""
    return " ".join(str(value).split()) if value is not None else ""


def number(value: Any) -> float | None:
    """A finite float, or None when empty or not a number (``NaN`` and infinities are not numbers here)."""
    try:
        parsed = float(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None
    return parsed if parsed is not None and math.isfinite(parsed) else None


def quantity(value: Any, what: str) -> float | None:
    """A line quantity: None when absent or empty, else a finite number. Anything else (text, ``NaN``, a list…) is
    :class:`UnreadableOrder` naming ``what``: a quantity that cannot be read must not count as 0, which would drop
    the line (and cancel an order whose every line it hit)."""
    if value is None or value == "":
        return None
    parsed = None if isinstance(value, bool) else number(value)
    if parsed is None:
        raise UnreadableOrder(f"{what} is not a number (got {str(value)[:40]!r})")
    return parsed


def mapping(value: Any, what: str) -> Mapping[str, Any]:
    """An optional JSON object (``{}`` when absent or empty); :class:`UnreadableOrder` naming ``what`` otherwise."""
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise UnreadableOrder(f"{what} is not an object (got {type(value).__name__})")
    return value


def rows(value: Any, what: str) -> list[Mapping[str, Any]]:
    """An optional JSON list of objects (``[]`` when absent); :class:`UnreadableOrder` naming ``what`` (and the
    entry) when it is not a list or an entry is not an object."""
    if not value:
        return []
    if not isinstance(value, list):
        raise UnreadableOrder(f"{what} is not a list (got {type(value).__name__})")
    for position, entry in enumerate(value, start=1):
        if not isinstance(entry, Mapping):
            raise UnreadableOrder(f"{what} entry {position} is not an object (got {type(entry).__name__})")
    return value


def when(value: Any) -> datetime | None:
    """An ISO 8601 moment, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def address(raw: Any, keys: Sequence[str], what: str = "the address") -> Address:
    """An :class:`Address` from the six keys an ERP uses (line1, line2, city, region, postcode, country);
    :class:`UnreadableOrder` naming ``what`` when ``raw`` is present but not an object."""
    found = mapping(raw, what)
    return Address(*(text(found.get(k)) for k in keys))
