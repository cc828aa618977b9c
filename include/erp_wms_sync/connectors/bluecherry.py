"""CGS BlueCherry client (REST behind an API-Management gateway): SKUs, styles, warehouses, and the
order-to-cash side: orders, shipments (despatch confirmations), returns, stock rows and adjustments
(typed records in :mod:`erp_wms_sync.connectors.bluecherry_records`).

BlueCherry publishes no API reference; this client speaks the contract the project's simulator defines
(``Ocp-Apim-Subscription-Key`` header, ``page`` / ``pageSize`` paging answering
``{"data": [...], "page", "pageSize", "total"}``, 429 with ``Retry-After``), which is the contract to confirm
with each customer. Calls go through the project transport and the subscription key's shared API budget. Pages are
checked as the Cin7 pager checks them (a short page before ``total`` is read again, then refused; repeated
pages, rows without their key and keys listed twice are refused), and ``GET orders/{n}`` must answer order n.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from erp_wms_sync.connectors.bluecherry_records import (
    BlueCherryAdjustment,
    BlueCherryOrder,
    BlueCherryReturn,
    BlueCherryShipment,
    BlueCherryStockRow,
    ShipmentCarton,
)
from erp_wms_sync.connectors.budget import BudgetRule, Priority, make_budget
from erp_wms_sync.connectors.parsing import (
    FieldReader,
    Pager,
    check_identity,
    decode_json,
    iter_pages,
    key_of,
    text,
)
from erp_wms_sync.connectors.redaction import redact
from erp_wms_sync.connectors.transport import HttpTransport, RetryPolicy
from erp_wms_sync.errors import ApiError

SYSTEM = "bluecherry"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
MAX_PAGE_SIZE = 500
MAX_PAGES = 10_000
# The identity of a row of each listing: a page must not list one twice, nor a row without it.
ROW_KEYS: dict[str, tuple[str, ...]] = {
    "skus": ("sku",), "styles": ("style",), "warehouses": ("warehouse",), "orders": ("orderNumber",),
    "shipments": ("shipmentNumber",), "returns": ("raNumber",), "inventory": ("sku", "warehouse"),
}
_read = FieldReader(SYSTEM)


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
        row = _read.obj(raw, where)
        return cls(
            sku=_read.required_text(row, "sku", where), style=_read.required_text(row, "style", where),
            color=text(row.get("color")), color_name=text(row.get("colorName")), size=text(row.get("size")),
            upc=text(row.get("upc")), description=text(row.get("description")),
            division=text(row.get("division")), season=text(row.get("season")),
            status=text(row.get("status")), price=_read.number(row.get("price"), "price", where),
            weight=_read.number(row.get("weight"), "weight", where),
            updated_at=_read.timestamp(row.get("updatedAt"), f"{where} updatedAt"), raw=row,
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
        row = _read.obj(raw, where)
        colors = row.get("colors") or []
        if not isinstance(colors, list) or not isinstance(row.get("sizes") or [], list):
            raise _read.invalid(f"{where}: 'colors' and 'sizes' must be lists")
        return cls(
            style=_read.required_text(row, "style", where), style_name=text(row.get("styleName")),
            division=text(row.get("division")), season=text(row.get("season")),
            status=text(row.get("status")), size_scale=text(row.get("sizeScale")),
            sizes=tuple(text(s) for s in row.get("sizes") or []),
            colors=tuple(text(c.get("color")) if isinstance(c, dict) else text(c) for c in colors),
            updated_at=_read.timestamp(row.get("updatedAt"), f"{where} updatedAt"), raw=row,
        )


@dataclass(frozen=True)
class BlueCherryWarehouse:
    code: str
    name: str
    active: bool
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_raw(cls, raw: Any, where: str) -> BlueCherryWarehouse:
        row = _read.obj(raw, where)
        return cls(code=_read.required_text(row, "warehouse", where), name=text(row.get("name")),
                   active=bool(row.get("active", True)), raw=row)


class BlueCherryClient:
    """Client of one BlueCherry API subscription."""

    def __init__(self, base_url: str, subscription_key: str, *, rate_per_minute: float = 100,
                 rate_window_seconds: float = 60.0, budget_url: str | None = None,
                 priority: Priority = Priority.NORMAL,
                 page_size: int = MAX_PAGE_SIZE, timeout: tuple[float, float] = (5, 60),
                 retry: RetryPolicy | None = None, max_pages: int = MAX_PAGES,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """``rate_per_minute`` calls per ``rate_window_seconds`` is the subscription's quota; with ``budget_url``
        (a ledger URL) the budget is shared with every process using that ledger, else it paces this client
        only. ``priority`` is this client's place when callers wait for the budget."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        self.page_size = page_size
        self.max_pages = max_pages
        self._secrets = (subscription_key,)
        self.transport = HttpTransport(
            system=SYSTEM, base_url=base_url, headers={KEY_HEADER: subscription_key, "Accept": "application/json"},
            secrets=self._secrets, timeout=timeout, retry=retry or RetryPolicy(),
            budget=make_budget(SYSTEM, subscription_key,
                               BudgetRule(max(1, int(rate_per_minute)), rate_window_seconds), ledger_url=budget_url),
            priority=priority, sleep=sleep,
        )

    def iter_skus(self, updated_since: datetime | None = None) -> Iterator[BlueCherrySku]:
        """SKUs (all, or updated at or after ``updated_since``), page by page."""
        for index, raw in enumerate(self._paged("skus", _since(updated_since))):
            yield BlueCherrySku.from_raw(raw, f"sku #{index + 1}")

    def get_style_skus(self, style: str) -> list[BlueCherrySku] | None:
        """The SKUs of one style (``GET /styles/{style}``, one call); None when BlueCherry does not know the style.

        An answer naming another style raises :class:`ApiResponseInvalid`."""
        path = f"styles/{quote(style, safe='')}"
        raw = self._get_one(path, "style", style)
        if raw is None:
            return None
        skus = raw.get("skus") or []
        if not isinstance(skus, list):
            raise _read.invalid(f"GET {path}: 'skus' is not a list")
        return [BlueCherrySku.from_raw(row, f"style {style} sku #{i + 1}") for i, row in enumerate(skus)]

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
        """One order by ``orderNumber``; None when BlueCherry does not know it (404).

        An answer without an ``orderNumber`` or naming another order raises :class:`ApiResponseInvalid`.
        """
        raw = self._get_one(f"orders/{quote(number, safe='')}", "orderNumber", number)
        return None if raw is None else BlueCherryOrder.from_raw(raw, f"order {number}")

    def _get_one(self, path: str, id_key: str, expected: str) -> dict[str, Any] | None:
        """``GET path``: the record, None on 404; an answer whose ``id_key`` is not ``expected`` is refused."""
        response = self.transport.request("GET", path, ok_statuses=(404,))
        if response.status_code == 404:
            return None
        raw = _read.obj(self._decode(response, f"GET {path}"), f"GET {path}")
        check_identity(_read, raw, id_key, expected, f"GET {path}", self._secrets)
        return raw

    def set_order_wms_status(self, number: str, text: str) -> dict[str, Any]:
        """Write the integration's warehouse status note onto the order (``wmsStatus``, ≤ 256 characters);
        returns the order as answered (its ``updatedAt`` moved).
        """
        raw, _ = self._post_json(f"orders/{quote(number, safe='')}/wmsStatus", {"wmsStatus": text})
        return _read.obj(raw, f"POST orders/{number}/wmsStatus")

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

    def _decode(self, response: requests.Response, what: str) -> Any:
        return decode_json(SYSTEM, response, what, self._secrets)

    def test_connection(self) -> tuple[bool, str]:
        try:
            warehouses = list(self.iter_warehouses())
        except ApiError as exc:
            return False, redact(str(exc), self._secrets)
        return True, f"Connected to BlueCherry ({len(warehouses)} warehouses visible)"

    def _paged(self, path: str, params: Mapping[str, Any]) -> Iterator[Any]:
        def fetch(page: int) -> tuple[int, list[Any]]:
            body = self._get_json(path, {**params, "page": page, "pageSize": self.page_size})
            return _read.page(body, f"GET {path} page {page}", list_key="data", total_key="total")

        fields = ROW_KEYS[path]
        pager = Pager(SYSTEM, f"GET {path}", self.page_size, self.max_pages, "total", key_of(*fields),
                      " + ".join(fields), self._secrets)
        return iter_pages(fetch, pager)

    def _get_json(self, path: str, params: Mapping[str, Any]) -> Any:
        return self._decode(self.transport.request("GET", path, params=params), f"GET {path}")


def _since(updated_since: datetime | None) -> dict[str, Any]:
    return {"updatedSince": format_timestamp(updated_since)} if updated_since is not None else {}


def format_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("updated_since must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
