"""Readers shared by the JSON clients (Cin7 Core, BlueCherry): response bodies, record fields and numbered pages.

A :class:`FieldReader` is bound to one system; every check it makes raises
:class:`~erp_wms_sync.errors.ApiResponseInvalid` naming that system, the record (``where``) and the field, so a
task log says which answer broke the contract. :func:`decode_json` reads a response body as JSON with the
same kind of error (redacted), and :func:`iter_pages` walks ``page`` 1, 2, … until the announced total is read,
refusing short pages, repeated pages, self-contradicting pages and endless listings (see :class:`Pager`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from erp_wms_sync.connectors.redaction import redact
from erp_wms_sync.connectors.transport import trim
from erp_wms_sync.errors import ApiResponseInvalid


def text(value: Any) -> str:
    """The value as text; ``None`` becomes ``""``."""
    return "" if value is None else str(value)


@dataclass(frozen=True)
class FieldReader:
    """Checked access to the fields of one system's JSON records.

    ``blank_is_missing``: a required text field holding ``""`` counts as missing (otherwise only an absent key
    or ``null`` does).
    """

    system: str
    blank_is_missing: bool = False

    def invalid(self, message: str) -> ApiResponseInvalid:
        return ApiResponseInvalid(self.system, message)

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.invalid(f"{where}: expected a JSON object, got {type(value).__name__}")
        return value

    def objects(self, values: Any, where: str, label: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(spot, object)`` for each entry of an optional list, ``spot`` being ``"{where} {label} {n}"``; a value
        that is neither absent nor a list is refused."""
        if values is not None and not isinstance(values, list):
            raise self.invalid(f"{where}: the {label}s are not a list (got {type(values).__name__})")
        for index, value in enumerate(values or [], start=1):
            spot = f"{where} {label} {index}"
            yield spot, self.obj(value, spot)

    def required_text(self, row: Mapping[str, Any], key: str, where: str) -> str:
        value = row.get(key)
        if value is None or (self.blank_is_missing and value == ""):
            raise self.invalid(f"{where}: '{key}' is missing")
        return text(value)

    def number(self, value: Any, key: str, where: str) -> float | None:
        """A finite JSON number as float; ``None`` when absent or empty (``NaN`` and infinities are refused)."""
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.invalid(f"{where}: '{key}' is not a number (got {trim(repr(value), 60)})")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            number = math.inf
        if not math.isfinite(number):
            raise self.invalid(f"{where}: '{key}' is not a finite number (got {trim(repr(value), 60)})")
        return number

    def count(self, row: Mapping[str, Any], key: str, where: str, *, default: int = 0, signed: bool = False) -> int:
        """A whole number (at least 0 unless ``signed``); ``default`` when absent or ``null``."""
        value = row.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or (value < 0 and not signed):
            raise self.invalid(f"{where}: '{key}' is not a whole number of at least 0 (got {trim(repr(value), 60)})")
        return value

    def timestamp(self, value: Any, where: str) -> datetime | None:
        """An aware UTC datetime from ISO 8601 text (``Z`` or offset optional, no offset meaning UTC; any
        number of fraction digits, .NET writes seven); ``None`` when absent or empty."""
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.invalid(f"{where}: expected a date-time string, got {type(value).__name__}")
        try:
            parsed = datetime.fromisoformat(value.strip())
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except ValueError:
            raise self.invalid(f"{where}: {trim(value, 60)!r} is not an ISO 8601 date-time") from None
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is a date before year 1 in UTC
            raise self.invalid(f"{where}: {trim(value, 60)!r} is out of the range of dates in UTC") from None

    def page(self, body: Any, where: str, *, list_key: str, total_key: str) -> tuple[int, list[Any]]:
        """``(total, rows)`` of one page answer holding its rows under ``list_key`` and the count under
        ``total_key``."""
        page = self.obj(body, where)
        rows, total = page.get(list_key), page.get(total_key)
        if rows is None:
            raise self.invalid(f"{where}: the answer has no '{list_key}' list "
                               f"(keys: {', '.join(sorted(page)) or 'none'})")
        if not isinstance(rows, list):
            raise self.invalid(f"{where}: '{list_key}' is not a list")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise self.invalid(f"{where}: '{total_key}' is missing or not a count (got {total!r})")
        return total, rows


def check_identity(reader: FieldReader, record: Mapping[str, Any], key: str, asked: str, where: str,
                   secrets: Iterable[str] = ()) -> None:
    """Refuse a record fetched by id whose ``key`` is blank or names another record than ``asked``.

    Ids compare without surrounding blanks and case (Cin7 GUIDs come back in either case). A server answering
    ``{}`` or a neighbour's record must fail the fetch, never become a row with an empty or wrong id. The
    message is redacted with ``secrets`` (a hostile server may put anything in the id).
    """
    got = text(record.get(key)).strip()
    if not got:
        problem = f"the answer has no '{key}' ({len(record)} fields); expected {asked!r}"
    elif got.casefold() != asked.strip().casefold():
        problem = f"the answer is {key} {trim(got, 80)!r}, not the {asked!r} asked for"
    else:
        return
    raise reader.invalid(redact(f"{where}: {problem}; nothing was taken from it", secrets))


def decode_json(system: str, response: requests.Response, what: str, secrets: Iterable[str]) -> Any:
    """The response body as JSON; :class:`ApiResponseInvalid` (with a redacted excerpt) when it is not."""
    try:
        return response.json()
    except (ValueError, RecursionError):  # RecursionError: arrays or objects nested thousands deep
        excerpt = trim(redact(response.text or "", secrets))
        raise ApiResponseInvalid(system, f"{what} did not answer JSON", status=response.status_code,
                                 body=excerpt, url=redact(response.url, secrets)) from None


RowKey = Callable[[Any], Hashable]


def key_of(*fields: str) -> RowKey:
    """The identity of a JSON row: the value of one field, or the tuple of several (``None`` when a value is
    absent or empty, or the row is not an object)."""
    def key(row: Any) -> Hashable:
        if not isinstance(row, dict):
            return None
        values = tuple(row.get(name) for name in fields)
        if any(value is None or value == "" for value in values):
            return None
        return values[0] if len(values) == 1 else values

    return key


@dataclass(frozen=True)
class Pager:
    """How one listing is paged: who answers (``system``, ``what``), the page size asked for, the cap on pages,
    the name of the announced total (for messages), optionally the identity of a row (``row_key``, named
    ``key_name``), and the credentials to redact from error messages."""

    system: str
    what: str
    page_size: int
    max_pages: int
    total_key: str
    row_key: RowKey | None = None
    key_name: str = "id"
    secrets: tuple[str, ...] = ()

    def invalid(self, message: str) -> ApiResponseInvalid:
        """An error naming the listing and the page, redacted (a hostile server may echo anything in a key)."""
        return ApiResponseInvalid(self.system, redact(f"{self.what}: {message}", self.secrets))

    def check(self, page: int, total: int, rows: list[Any]) -> list[Any]:
        """The identities of ``rows`` (the rows themselves without ``row_key``), after refusing a page that
        contradicts itself: more rows than asked for or than the total, a row without its key, a key twice."""
        if len(rows) > self.page_size:
            raise self.invalid(f"page {page} has {len(rows)} rows, more than the {self.page_size} asked for")
        if len(rows) > total:
            raise self.invalid(f"page {page} has {len(rows)} rows but {self.total_key} says {total}")
        if self.row_key is None:
            return rows
        keys = [self.row_key(row) for row in rows]
        for index, key in enumerate(keys, start=1):
            if key is None:
                raise self.invalid(f"page {page} row {index} has no {self.key_name}")
        if len(set(keys)) != len(keys):
            twice = next(key for index, key in enumerate(keys) if key in keys[:index])
            raise self.invalid(f"page {page} lists {self.key_name} {twice!r} more than once")
        return keys

    def is_short(self, seen: int, total: int, rows: list[Any]) -> bool:
        """A page with fewer rows than asked for that does not reach the total: rows went missing."""
        return len(rows) < self.page_size and seen + len(rows) < total


def iter_pages(fetch: Callable[[int], tuple[int, list[Any]]], pager: Pager) -> Iterator[Any]:
    """The rows of pages 1, 2, … (``fetch(page)`` answers ``(total, rows)``) until the announced total is read.

    Hostile answers are errors, never data: a page shorter than asked for that does not reach the total is
    read once more and then refused (taking it as the last page would silently lose every row after it); a
    page repeating the previous one (a server ignoring the page number), a page with more rows than asked for
    or than its own total, a row without its key or a key listed twice raise
    :class:`~erp_wms_sync.errors.ApiResponseInvalid` naming the page; more than ``max_pages`` pages raise
    instead of looping for ever.
    """
    seen, total = 0, 0
    previous: list[Any] | None = None
    for page in range(1, pager.max_pages + 1):
        total, rows, keys = _read_page(fetch, pager, page, seen)
        if rows and keys == previous:
            raise pager.invalid(f"page {page} repeats page {page - 1}; the server ignores paging")
        previous = keys
        yield from rows
        seen += len(rows)
        if seen >= total:
            return
    raise pager.invalid(f"still more rows after {pager.max_pages} pages ({seen} rows, {pager.total_key} says "
                        f"{total}); stopped to avoid an endless loop")


def _read_page(fetch: Callable[[int], tuple[int, list[Any]]], pager: Pager, page: int,
               seen: int) -> tuple[int, list[Any], list[Any]]:
    """``(total, rows, keys)`` of one page, read a second time when it came back short."""
    total, rows = fetch(page)
    keys = pager.check(page, total, rows)
    if not pager.is_short(seen, total, rows):
        return total, rows, keys
    total, rows = fetch(page)
    keys = pager.check(page, total, rows)
    if pager.is_short(seen, total, rows):
        raise pager.invalid(
            f"page {page} has {len(rows)} rows of the {pager.page_size} asked for, yet {pager.total_key} says "
            f"{total} and only {seen + len(rows)} were read (read twice, same answer); refusing to take it as "
            "the last page, which would lose the rest")
    return total, rows, keys
