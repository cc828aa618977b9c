"""Cin7 Core (formerly DEAR Inventory) External API v2 client: products, locations, sales, account check
(fulfilment and webhooks in :mod:`erp_wms_sync.connectors.cin7core_fulfilment`).

One method per business noun, yielding typed records. Every call goes through the project transport
(timeouts, retry of 429/503/5xx with backoff, redaction) and the API budget of the application key, shared
by every process using the key (Cin7 allows 60 calls per rolling minute per key).

Paging follows the documented contract: ``Page`` (1-based) and ``Limit`` (at most 1000), with ``Total``
beside the list; the client reads until ``Total``. A short page that does not reach ``Total`` is read again
and then refused, as are repeated pages, pages contradicting their own ``Total``, a row without its id or an
id listed twice, and a ``GET sale`` answering another sale (or none): hostile answers are errors, not data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from erp_wms_sync.connectors.budget import BudgetRule, Priority, make_budget
from erp_wms_sync.connectors.cin7core_fulfilment import Cin7FulfilmentCalls
from erp_wms_sync.connectors.cin7core_stock import Cin7StockCalls
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

SYSTEM = "cin7core"
MAX_LIMIT = 1000
MAX_PAGES = 10_000
# for 5xx and timeouts; rate-limit refusals (429 / 503 "calls per minute API limit") are waited out by time
DEFAULT_RETRY = RetryPolicy(max_attempts=6, backoff_base=2.0, backoff_max=60.0)
_read = FieldReader(SYSTEM)


@dataclass(frozen=True)
class Cin7Product:
    """One Cin7 Core product (item master row)."""

    id: str
    sku: str
    name: str
    barcode: str
    category: str
    brand: str
    uom: str
    status: str
    description: str
    short_description: str
    weight: float | None
    price: float | None  # PriceTier1
    last_modified: datetime | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def deprecated(self) -> bool:
        return self.status.casefold() == "deprecated"

    @classmethod
    def from_raw(cls, raw: Any, where: str) -> Cin7Product:
        row = _read.obj(raw, where)
        return cls(
            id=_read.required_text(row, "ID", where), sku=_read.required_text(row, "SKU", where),
            name=_read.required_text(row, "Name", where), barcode=text(row.get("Barcode")),
            category=text(row.get("Category")), brand=text(row.get("Brand")), uom=text(row.get("UOM")),
            status=text(row.get("Status")), description=text(row.get("Description")),
            short_description=text(row.get("ShortDescription")),
            weight=_read.number(row.get("Weight"), "Weight", where),
            price=_read.number(row.get("PriceTier1"), "PriceTier1", where),
            last_modified=_read.timestamp(row.get("LastModifiedOn"), f"{where} LastModifiedOn"), raw=row,
        )


@dataclass(frozen=True)
class Cin7Location:
    """One Cin7 Core location (warehouse) with its bin names."""

    id: str
    name: str
    is_default: bool
    is_deprecated: bool
    bins: tuple[str, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_raw(cls, raw: Any, where: str) -> Cin7Location:
        row = _read.obj(raw, where)
        bins = row.get("Bins") or []
        if not isinstance(bins, list):
            raise _read.invalid(f"{where}: 'Bins' is not a list")
        return cls(id=_read.required_text(row, "ID", where), name=_read.required_text(row, "Name", where),
                   is_default=bool(row.get("IsDefault")),
                   is_deprecated=bool(row.get("IsDeprecated", row.get("Deprecated", False))),
                   bins=tuple(text(b.get("Name")) for b in bins if isinstance(b, dict)), raw=row)


class Cin7CoreClient(Cin7FulfilmentCalls, Cin7StockCalls):
    """Client of one Cin7 Core account (an API application: account id + application key).

    The fulfilment (pick, pack, ship) and webhook calls come from :class:`Cin7FulfilmentCalls`; stock levels,
    stock adjustments and credit notes from :class:`Cin7StockCalls`."""

    def __init__(self, base_url: str, account_id: str, application_key: str, *, rate_per_minute: float = 60,
                 rate_window_seconds: float = 60.0, budget_url: str | None = None,
                 priority: Priority = Priority.NORMAL,
                 page_limit: int = MAX_LIMIT, timeout: tuple[float, float] = (5, 60),
                 retry: RetryPolicy | None = None, max_pages: int = MAX_PAGES,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """``rate_per_minute`` calls per ``rate_window_seconds`` (Cin7: 60 per rolling 60 s) is the key's limit;
        with ``budget_url`` (a ledger URL) the budget is shared with every process using that ledger, else
        it paces this client only. ``priority`` is this client's place when callers wait for the budget."""
        if not 1 <= page_limit <= MAX_LIMIT:
            raise ValueError(f"page_limit must be between 1 and {MAX_LIMIT}")
        self.page_limit = page_limit
        self.max_pages = max_pages
        self._secrets = (account_id, application_key)
        self.transport = HttpTransport(
            system=SYSTEM, base_url=base_url,
            headers={"api-auth-accountid": account_id, "api-auth-applicationkey": application_key,
                     "Accept": "application/json"},
            secrets=self._secrets, timeout=timeout, retry=retry or DEFAULT_RETRY,
            budget=make_budget(SYSTEM, application_key, BudgetRule(max(1, int(rate_per_minute)), rate_window_seconds),
                               ledger_url=budget_url),
            priority=priority, sleep=sleep,
        )

    # ---- business nouns ---------------------------------------------------------------------
    def iter_products(self, modified_since: datetime | None = None, include_deprecated: bool = True,
                      sku: str | None = None) -> Iterator[Cin7Product]:
        """Products (all, or modified at or after ``modified_since``), page by page.

        ``sku`` is the API's ``Sku`` filter: it matches SKUs *starting with* the text (the OAS says "contains"),
        so a caller looking for one SKU compares each row's ``sku`` itself."""
        params: dict[str, Any] = {"IncludeDeprecated": "true" if include_deprecated else "false"}
        if modified_since is not None:
            params["ModifiedSince"] = format_cin7_datetime(modified_since)
        if sku:
            params["Sku"] = sku
        for index, raw in enumerate(self._paged("product", "Products", params)):
            yield Cin7Product.from_raw(raw, f"product #{index + 1}")

    def iter_locations(self, include_deprecated: bool = True) -> Iterator[Cin7Location]:
        params = {"Deprecated": "true"} if include_deprecated else {}
        for index, raw in enumerate(self._paged("ref/location", "LocationList", params)):
            yield Cin7Location.from_raw(raw, f"location #{index + 1}")

    def iter_sale_list(self, updated_since: datetime | None = None, **filters: str) -> Iterator[dict[str, Any]]:
        """``saleList`` rows (SaleID, OrderNumber, Status, OrderStatus, Updated, …), optionally filtered with the
        documented parameters (``OrderStatus="AUTHORISED"``, ``Status="VOIDED"``, ``ExternalID=…``)."""
        params: dict[str, Any] = dict(filters)
        if updated_since is not None:
            params["UpdatedSince"] = format_cin7_datetime(updated_since)
        for index, raw in enumerate(self._paged("saleList", "SaleList", params, id_key="SaleID")):
            row = _read.obj(raw, f"saleList row #{index + 1}")
            _read.required_text(row, "SaleID", f"saleList row #{index + 1}")
            yield row

    def get_sale(self, sale_id: str) -> dict[str, Any] | None:
        """The full sale (header, ``Order`` with lines, fulfilments…); None when Cin7 Core does not know it.

        An answer that is not the sale asked for (``{}``, a blank ``ID`` or another sale's) raises
        :class:`ApiResponseInvalid`: it must never be taken for an order.
        """
        response = self.transport.request("GET", "sale", params={"ID": sale_id}, ok_statuses=(404,))
        if response.status_code == 404:
            return None
        sale = _read.obj(self._decode(response, "GET sale"), f"GET sale {sale_id}")
        check_identity(_read, sale, "ID", sale_id, f"GET sale {sale_id}", self._secrets)
        return sale

    def update_sale(self, sale_id: str, **fields: Any) -> dict[str, Any]:
        """PUT /sale with the given header fields (e.g. ``AdditionalAttributes``); returns the updated sale."""
        response = self.transport.request("PUT", "sale", json={"ID": sale_id, **fields})
        return _read.obj(self._decode(response, "PUT sale"), f"PUT sale {sale_id}")

    def me(self) -> dict[str, Any]:
        """The account summary (``Company``, ``Currency``…): the cheapest authenticated call."""
        return _read.obj(self._get_json("me", {}), "GET me")

    def test_connection(self) -> tuple[bool, str]:
        try:
            company = text(self.me().get("Company")) or "an unnamed company"
        except ApiError as exc:
            return False, redact(str(exc), self._secrets)
        return True, f"Connected to Cin7 Core as {company}"

    # ---- paging and decoding ----------------------------------------------------------------
    def _paged(self, path: str, list_key: str, params: Mapping[str, Any], id_key: str = "ID") -> Iterator[Any]:
        def fetch(page: int) -> tuple[int, list[Any]]:
            body = self._get_json(path, {**params, "Page": page, "Limit": self.page_limit})
            return _read.page(body, f"GET {path} page {page}", list_key=list_key, total_key="Total")

        pager = Pager(SYSTEM, f"GET {path}", self.page_limit, self.max_pages, "Total", key_of(id_key), id_key,
                      self._secrets)
        return iter_pages(fetch, pager)

    def _get_json(self, path: str, params: Mapping[str, Any]) -> Any:
        return self._decode(self.transport.request("GET", path, params=params), f"GET {path}")

    def _decode(self, response: requests.Response, what: str) -> Any:
        return decode_json(SYSTEM, response, what, self._secrets)


def format_cin7_datetime(moment: datetime) -> str:
    """The API's date-time text (``yyyy-MM-ddTHH:mm:ss``, UTC) for an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("modified_since must be timezone-aware (UTC is what Cin7 Core expects)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
