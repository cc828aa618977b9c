"""Small cleaners shared by the ERP order mappings (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from erp_wms_sync.domain.orders import Address


def text(value: Any) -> str:
    """A single-spaced string ("" for None)."""
    return " ".join(str(value).split()) if value is not None else ""


def number(value: Any) -> float | None:
    """A float, or None when empty or not a number."""
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def when(value: Any) -> datetime | None:
    """An ISO 8601 moment, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def address(raw: Mapping[str, Any] | None, keys: Sequence[str]) -> Address:
    """An :class:`Address` from the six keys an ERP uses (line1, line2, city, region, postcode, country)."""
    raw = raw or {}
    return Address(*(text(raw.get(k)) for k in keys))
