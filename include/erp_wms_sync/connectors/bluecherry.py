"""CGS BlueCherry client (REST behind an API-Management gateway): SKUs, styles, warehouses, and the
order-to-cash side: orders, shipments (despatch confirmations), returns, stock rows and adjustments
(typed records in :mod:`erp_wms_sync.connectors.bluecherry_records`).

BlueCherry publishes no API reference; this client speaks the contract the project's simulator defines
(``Ocp-Apim-Subscription-Key`` header, ``page`` / ``pageSize`` paging answering
``{"data": [...], "page", "pageSize", "total"}``, 429 with ``Retry-After``), which is the contract to confirm
with each customer. Calls go through the project transport and a shared per-key token bucket.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from erp_wms_sync.connectors.bluecherry_records import (
    BlueCherryAdjustment,
    BlueCherryOrder,
    BlueCherryReturn,
    BlueCherryShipment,
    BlueCherryStockRow,
    ShipmentCarton,
)
from erp_wms_sync.connectors.transport import HttpTransport, RetryPolicy, redact, shared_bucket, trim
from erp_wms_sync.errors import ApiError, ApiResponseInvalid

SYSTEM = "bluecherry"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
MAX_PAGE_SIZE = 500
MAX_PAGES = 10_000


@dataclass(frozen=True)
class BlueCherrySku:
    """One sellable SKU (``style-color-size``)."""

    sku: str
    style: str
    color: str
    color_name: str
    size: str
    upc: str
    description: str
    division: str
    season: str
    status: str
    price: float | None
    weight: float | None
    updated_at: datetime | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def active(self) -> bool:
        return self.status.upper() == "ACTIVE"

    @classmethod
    def from_raw(cls, raw: Any, where: str) -> BlueCherrySku:
        row = _require_object(raw, where)
        return cls(
            sku=_required_text(row, "sku", where), style=_required_text(row, "style", where),
            color=_text(row.get("color")), color_name=_text(row.get("colorName")), size=_text(row.get("size")),
            upc=_text(row.get("upc")), description=_text(row.get("description")),
            division=_text(row.get("division")), season=_text(row.get("season")),
            status=_text(row.get("status")), price=_number(row.get("price"), "price", where),
            weight=_number(row.get("weight"), "weight", where),
            updated_at=parse_timestamp(row.get("updatedAt"), f"{where} updatedAt"), raw=row,
        )


@dataclass(frozen=True)
class BlueCherryStyle:
    """A style with its colour codes and size scale."""

    style: str
    style_name: str
    division: str
    season: str
    status: str
    size_scale: str
    sizes: tuple[str, ...]
    colors: tuple[str, ...]
    updated_at: datetime | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_raw(cls, raw: Any, where: str) -> BlueCherryStyle:
        row = _require_object(raw, where)
        colors = row.get("colors") or []
        if not isinstance(colors, list) or not isinstance(row.get("sizes") or [], list):
            raise ApiResponseInvalid(SYSTEM, f"{where}: 'colors' and 'sizes' must be lists")
        return cls(
            style=_required_text(row, "style", where), style_name=_text(row.get("styleName")),
            division=_text(row.get("division")), season=_text(row.get("season")),
            status=_text(row.get("status")), size_scale=_text(row.get("sizeScale")),
            sizes=tuple(_text(s) for s in row.get("sizes") or []),
            colors=tuple(_text(c.get("color")) if isinstance(c, dict) else _text(c) for c in colors),
            updated_at=parse_timestamp(row.get("updatedAt"), f"{where} updatedAt"), raw=row,
        )


@dataclass(frozen=True)
class BlueCherryWarehouse:
    code: str
    name: str
    active: bool
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_raw(cls, raw: Any, where: str) -> BlueCherryWarehouse:
        row = _require_object(raw, where)
        return cls(code=_required_text(row, "warehouse", where), name=_text(row.get("name")),
                   active=bool(row.get("active", True)), raw=row)


class BlueCherryClient:
    """Client of one BlueCherry API subscription."""

    def __init__(self, base_url: str, subscription_key: str, *, rate_per_minute: float = 100,
                 page_size: int = MAX_PAGE_SIZE, timeout: tuple[float, float] = (5, 60),
                 retry: RetryPolicy | None = None, max_pages: int = MAX_PAGES,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        self.page_size = page_size
        self.max_pages = max_pages
        self._secrets = (subscription_key,)
        self.transport = HttpTransport(
            system=SYSTEM, base_url=base_url, headers={KEY_HEADER: subscription_key, "Accept": "application/json"},
            secrets=self._secrets, timeout=timeout, retry=retry or RetryPolicy(),
            bucket=shared_bucket(SYSTEM, subscription_key, rate_per_minute), sleep=sleep,
        )

    def iter_skus(self, updated_since: datetime | None = None) -> Iterator[BlueCherrySku]:
        """SKUs (all, or updated at or after ``updated_since``), page by page."""
        params = {"updatedSince": format_timestamp(updated_since)} if updated_since is not None else {}
        for index, raw in enumerate(self._paged("skus", params)):
            yield BlueCherrySku.from_raw(raw, f"sku #{index + 1}")

    def iter_styles(self) -> Iterator[BlueCherryStyle]:
        for index, raw in enumerate(self._paged("styles", {})):
            yield BlueCherryStyle.from_raw(raw, f"style #{index + 1}")

    def iter_warehouses(self) -> Iterator[BlueCherryWarehouse]:
        for index, raw in enumerate(self._paged("warehouses", {})):
            yield BlueCherryWarehouse.from_raw(raw, f"warehouse #{index + 1}")

    # ---- orders, shipments, returns, stock ----------------------------------------------------------
    def iter_orders(self, status: str | Sequence[str] | None = None, updated_since: datetime | None = None
                    ) -> Iterator[BlueCherryOrder]:
        """Orders (optionally of the given status(es), updated at or after ``updated_since``), page by page."""
        params: dict[str, Any] = _since(updated_since)
        if status:
            params["status"] = status if isinstance(status, str) else ",".join(status)
        for index, raw in enumerate(self._paged("orders", params)):
            yield BlueCherryOrder.from_raw(raw, f"order #{index + 1}")

    def get_order(self, number: str) -> BlueCherryOrder | None:
        """One order by ``orderNumber``; None when BlueCherry does not know it (404)."""
        path = f"orders/{quote(number, safe='')}"
        response = self.transport.request("GET", path, ok_statuses=(404,))
        if response.status_code == 404:
            return None
        return BlueCherryOrder.from_raw(self._decode(response, f"GET {path}"), f"order {number}")

    def set_order_wms_status(self, number: str, text: str) -> dict[str, Any]:
        """Write the integration's warehouse status note onto the order (``wmsStatus``, ≤ 256 characters);
        returns the order as answered (its ``updatedAt`` moved).
        """
        raw, _ = self._post_json(f"orders/{quote(number, safe='')}/wmsStatus", {"wmsStatus": text})
        return _require_object(raw, f"POST orders/{number}/wmsStatus")

    def post_shipment(self, order_number: str, *, reference: str, cartons: Sequence[ShipmentCarton],
                      carrier: str = "", tracking_numbers: Sequence[str] = (),
                      ship_date: datetime | None = None) -> BlueCherryShipment:
        """Confirm a despatch; a repeat with the same ``reference`` answers the first shipment (``created`` False)."""
        body: dict[str, Any] = {"orderNumber": order_number, "reference": reference, "carrier": carrier,
                                "trackingNumbers": list(tracking_numbers),
                                "cartons": [carton.to_json() for carton in cartons]}
        if ship_date is not None:
            body["shipDate"] = format_timestamp(ship_date)
        raw, created = self._post_json("shipments", body)
        return BlueCherryShipment.from_raw(raw, f"shipment for order {order_number}", created)

    def iter_shipments(self, updated_since: datetime | None = None, order_number: str | None = None
                       ) -> Iterator[BlueCherryShipment]:
        params = _since(updated_since)
        if order_number:
            params["orderNumber"] = order_number
        for index, raw in enumerate(self._paged("shipments", params)):
            yield BlueCherryShipment.from_raw(raw, f"shipment #{index + 1}")

    def iter_returns(self, status: str | Sequence[str] | None = None, updated_since: datetime | None = None
                     ) -> Iterator[BlueCherryReturn]:
        """Return authorisations (RAs), optionally by status and ``updated_since``."""
        params: dict[str, Any] = _since(updated_since)
        if status:
            params["status"] = status if isinstance(status, str) else ",".join(status)
        for index, raw in enumerate(self._paged("returns", params)):
            yield BlueCherryReturn.from_raw(raw, f"return #{index + 1}")

    def receive_return(self, ra_number: str, *, reference: str,
                       lines: Sequence[tuple[str, int, str]] | None = None) -> BlueCherryReturn:
        """Book what the warehouse received against an RA: ``lines`` = ``(sku, qty, condition)``; none = all.

        Idempotent on ``reference`` (a repeat answers the RA unchanged, ``created`` False).
        """
        body: dict[str, Any] = {"reference": reference}
        if lines is not None:
            body["lines"] = [{"sku": sku, "qty": qty, "condition": condition} for sku, qty, condition in lines]
        raw, created = self._post_json(f"returns/{quote(ra_number, safe='')}/receive", body)
        return BlueCherryReturn.from_raw(raw, f"return {ra_number}", created)

    def post_inventory_adjustment(self, reference: str, warehouse: str, reason: str, lines: Mapping[str, int], *,
                                  absolute: bool = False, comment: str = "") -> BlueCherryAdjustment:
        """Change on-hand by (or, with ``absolute``, to) ``lines[sku]``; idempotent on ``reference``."""
        body = {"reference": reference, "warehouse": warehouse, "reason": reason, "comment": comment,
                "type": "ABSOLUTE" if absolute else "DELTA",
                "lines": [{"sku": sku, "qty": qty} for sku, qty in lines.items()]}
        raw, created = self._post_json("inventory/adjustments", body)
        return BlueCherryAdjustment.from_raw(raw, f"adjustment {reference}", created)

    def iter_inventory(self, warehouse: str | None = None, division: str | None = None,
                       updated_since: datetime | None = None) -> Iterator[BlueCherryStockRow]:
        """Stock rows per SKU × warehouse (optionally of one warehouse / division, or changed since)."""
        params = _since(updated_since)
        params.update({k: v for k, v in (("warehouse", warehouse), ("division", division)) if v})
        for index, raw in enumerate(self._paged("inventory", params)):
            yield BlueCherryStockRow.from_raw(raw, f"stock row #{index + 1}")

    def _post_json(self, path: str, body: Mapping[str, Any]) -> tuple[Any, bool]:
        """POST ``body``; returns the JSON answer and whether it was created now (201) or matched (200)."""
        response = self.transport.request("POST", path, json=body)
        return self._decode(response, f"POST {path}"), response.status_code == 201

    def _decode(self, response: Any, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            excerpt = trim(redact(response.text or "", self._secrets))
            raise ApiResponseInvalid(SYSTEM, f"{what} did not answer JSON", status=response.status_code,
                                     body=excerpt, url=redact(response.url, self._secrets)) from None

    def test_connection(self) -> tuple[bool, str]:
        try:
            warehouses = list(self.iter_warehouses())
        except ApiError as exc:
            return False, str(exc)
        return True, f"Connected to BlueCherry ({len(warehouses)} warehouses visible)"

    def _paged(self, path: str, params: Mapping[str, Any]) -> Iterator[Any]:
        seen = 0
        for page in range(1, self.max_pages + 1):
            body = self._get_json(path, {**params, "page": page, "pageSize": self.page_size})
            total, rows = _page_parts(body, f"GET {path} page {page}")
            yield from rows
            seen += len(rows)
            if seen >= total or len(rows) < self.page_size:
                return
        raise ApiResponseInvalid(SYSTEM, f"GET {path}: still full pages after {self.max_pages} pages "
                                         f"({seen} rows, total says {total}); stopped to avoid an endless loop")

    def _get_json(self, path: str, params: Mapping[str, Any]) -> Any:
        response = self.transport.request("GET", path, params=params)
        try:
            return response.json()
        except ValueError:
            excerpt = trim(redact(response.text or "", self._secrets))
            raise ApiResponseInvalid(SYSTEM, f"GET {path} did not answer JSON", status=response.status_code,
                                     body=excerpt, url=redact(response.url, self._secrets)) from None


def _since(updated_since: datetime | None) -> dict[str, Any]:
    return {"updatedSince": format_timestamp(updated_since)} if updated_since is not None else {}


def format_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("updated_since must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: Any, where: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiResponseInvalid(SYSTEM, f"{where}: expected a date-time string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ApiResponseInvalid(SYSTEM, f"{where}: '{value}' is not an ISO 8601 date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _page_parts(body: Any, where: str) -> tuple[int, list[Any]]:
    page = _require_object(body, where)
    rows, total = page.get("data"), page.get("total")
    if not isinstance(rows, list):
        raise ApiResponseInvalid(SYSTEM, f"{where}: the answer has no 'data' list "
                                         f"(keys: {', '.join(sorted(page)) or 'none'})")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ApiResponseInvalid(SYSTEM, f"{where}: 'total' is missing or not a count (got {total!r})")
    return total, rows


def _require_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiResponseInvalid(SYSTEM, f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def _required_text(row: Mapping[str, Any], key: str, where: str) -> str:
    if key not in row or row[key] is None:
        raise ApiResponseInvalid(SYSTEM, f"{where}: '{key}' is missing")
    return _text(row[key])


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _number(value: Any, key: str, where: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiResponseInvalid(SYSTEM, f"{where}: '{key}' is not a number (got {value!r})")
    return float(value)
