"""Cin7 Core (formerly DEAR Inventory) External API v2 client: products, locations, account check.

One method per business noun, yielding typed records. Every call goes through the project transport
(timeouts, retry of 429/503/5xx with backoff, redaction) and a token bucket shared by every client of
the same application key in this process (Cin7 allows 60 calls per rolling minute per key).

Paging follows the documented contract: ``Page`` (1-based) and ``Limit`` (at most 1000), with ``Total``
beside the list; the client stops at ``Total`` or at a short page, and refuses to loop for ever when a
server keeps answering full pages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from erp_wms_sync.connectors.transport import HttpTransport, RetryPolicy, redact, shared_bucket, trim
from erp_wms_sync.errors import ApiError, ApiResponseInvalid

SYSTEM = "cin7core"
MAX_LIMIT = 1000
MAX_PAGES = 10_000
# 429s mean another process shares the key's 60-per-minute window: back off long enough to see it slide.
DEFAULT_RETRY = RetryPolicy(max_attempts=6, backoff_base=2.0, backoff_max=60.0)


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
        row = _require_object(raw, where)
        return cls(
            id=_required_text(row, "ID", where), sku=_required_text(row, "SKU", where),
            name=_required_text(row, "Name", where), barcode=_text(row.get("Barcode")),
            category=_text(row.get("Category")), brand=_text(row.get("Brand")), uom=_text(row.get("UOM")),
            status=_text(row.get("Status")), description=_text(row.get("Description")),
            short_description=_text(row.get("ShortDescription")),
            weight=_number(row.get("Weight"), "Weight", where), price=_number(row.get("PriceTier1"),
                                                                              "PriceTier1", where),
            last_modified=parse_cin7_datetime(row.get("LastModifiedOn"), f"{where} LastModifiedOn"), raw=row,
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
        row = _require_object(raw, where)
        bins = row.get("Bins") or []
        if not isinstance(bins, list):
            raise ApiResponseInvalid(SYSTEM, f"{where}: 'Bins' is not a list")
        return cls(id=_required_text(row, "ID", where), name=_required_text(row, "Name", where),
                   is_default=bool(row.get("IsDefault")),
                   is_deprecated=bool(row.get("IsDeprecated", row.get("Deprecated", False))),
                   bins=tuple(_text(b.get("Name")) for b in bins if isinstance(b, dict)), raw=row)


class Cin7CoreClient:
    """Client of one Cin7 Core account (an API application: account id + application key)."""

    def __init__(self, base_url: str, account_id: str, application_key: str, *, rate_per_minute: float = 60,
                 page_limit: int = MAX_LIMIT, timeout: tuple[float, float] = (5, 60),
                 retry: RetryPolicy | None = None, max_pages: int = MAX_PAGES,
                 sleep: Callable[[float], None] = time.sleep) -> None:
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
            bucket=shared_bucket(SYSTEM, application_key, rate_per_minute), sleep=sleep,
        )

    # ---- business nouns ---------------------------------------------------------------------
    def iter_products(self, modified_since: datetime | None = None,
                      include_deprecated: bool = True) -> Iterator[Cin7Product]:
        """Products (all, or modified at or after ``modified_since``), page by page."""
        params: dict[str, Any] = {"IncludeDeprecated": "true" if include_deprecated else "false"}
        if modified_since is not None:
            params["ModifiedSince"] = format_cin7_datetime(modified_since)
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
            row = _require_object(raw, f"saleList row #{index + 1}")
            _required_text(row, "SaleID", f"saleList row #{index + 1}")
            yield row

    def get_sale(self, sale_id: str) -> dict[str, Any] | None:
        """The full sale (header, ``Order`` with lines, fulfilments…); None when Cin7 Core does not know it."""
        response = self.transport.request("GET", "sale", params={"ID": sale_id}, ok_statuses=(404,))
        if response.status_code == 404:
            return None
        return _require_object(self._decode(response, "GET sale"), f"GET sale {sale_id}")

    def update_sale(self, sale_id: str, **fields: Any) -> dict[str, Any]:
        """PUT /sale with the given header fields (e.g. ``AdditionalAttributes``); returns the updated sale."""
        response = self.transport.request("PUT", "sale", json={"ID": sale_id, **fields})
        return _require_object(self._decode(response, "PUT sale"), f"PUT sale {sale_id}")

    def me(self) -> dict[str, Any]:
        """The account summary (``Company``, ``Currency``…): the cheapest authenticated call."""
        return _require_object(self._get_json("me", {}), "GET me")

    def test_connection(self) -> tuple[bool, str]:
        try:
            company = _text(self.me().get("Company")) or "an unnamed company"
        except ApiError as exc:
            return False, str(exc)
        return True, f"Connected to Cin7 Core as {company}"

    # ---- paging and decoding ----------------------------------------------------------------
    def _paged(self, path: str, list_key: str, params: Mapping[str, Any], id_key: str = "ID") -> Iterator[Any]:
        seen = 0
        previous_ids: list[Any] | None = None
        for page in range(1, self.max_pages + 1):
            body = self._get_json(path, {**params, "Page": page, "Limit": self.page_limit})
            total, rows = _page_parts(body, list_key, f"GET {path} page {page}")
            ids = [row.get(id_key) if isinstance(row, dict) else None for row in rows]
            if rows and ids == previous_ids:
                raise ApiResponseInvalid(SYSTEM, f"GET {path}: page {page} repeats page {page - 1}; "
                                                 "the server ignores paging")
            previous_ids = ids
            yield from rows
            seen += len(rows)
            if seen >= total or len(rows) < self.page_limit:
                return
        raise ApiResponseInvalid(SYSTEM, f"GET {path}: still full pages after {self.max_pages} pages "
                                         f"({seen} rows, Total says {total}); stopped to avoid an endless loop")

    def _get_json(self, path: str, params: Mapping[str, Any]) -> Any:
        return self._decode(self.transport.request("GET", path, params=params), f"GET {path}")

    def _decode(self, response: Any, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            excerpt = trim(redact(response.text or "", self._secrets))
            raise ApiResponseInvalid(SYSTEM, f"{what} did not answer JSON", status=response.status_code,
                                     body=excerpt, url=redact(response.url, self._secrets)) from None


def format_cin7_datetime(moment: datetime) -> str:
    """The API's date-time text (``yyyy-MM-ddTHH:mm:ss``, UTC) for an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("modified_since must be timezone-aware (UTC is what Cin7 Core expects)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_cin7_datetime(value: Any, where: str) -> datetime | None:
    """An aware UTC datetime from the API's text (``Z`` optional, fraction of any length); None if empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiResponseInvalid(SYSTEM, f"{where}: expected a date-time string, got {type(value).__name__}")
    text = value.strip()
    if "." in text:  # .NET writes up to 7 fraction digits; Python reads at most 6
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits):]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ApiResponseInvalid(SYSTEM, f"{where}: '{value}' is not an ISO 8601 date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _page_parts(body: Any, list_key: str, where: str) -> tuple[int, list[Any]]:
    page = _require_object(body, where)
    if list_key not in page:
        raise ApiResponseInvalid(SYSTEM, f"{where}: the answer has no '{list_key}' list "
                                         f"(keys: {', '.join(sorted(page)) or 'none'})")
    rows, total = page[list_key], page.get("Total")
    if not isinstance(rows, list):
        raise ApiResponseInvalid(SYSTEM, f"{where}: '{list_key}' is not a list")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ApiResponseInvalid(SYSTEM, f"{where}: 'Total' is missing or not a count (got {total!r})")
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
