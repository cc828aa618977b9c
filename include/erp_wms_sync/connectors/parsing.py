"""Readers shared by the JSON clients (Cin7 Core, BlueCherry): response bodies, record fields and numbered pages.

A :class:`FieldReader` is bound to one system; every check it makes raises
:class:`~erp_wms_sync.errors.ApiResponseInvalid` naming that system, the record (``where``) and the field, so a
task log says which answer broke the contract. :func:`decode_json` reads a response body as JSON with the
same kind of error (redacted), and :func:`iter_pages` walks ``page`` 1, 2, … until the announced total is read,
refusing to loop for ever when a server keeps answering full pages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from erp_wms_sync.connectors.transport import redact, trim
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
        """``(spot, object)`` for each entry of an optional list, ``spot`` being ``"{where} {label} {n}"``."""
        for index, value in enumerate(values or [], start=1):
            spot = f"{where} {label} {index}"
            yield spot, self.obj(value, spot)

    def required_text(self, row: Mapping[str, Any], key: str, where: str) -> str:
        value = row.get(key)
        if value is None or (self.blank_is_missing and value == ""):
            raise self.invalid(f"{where}: '{key}' is missing")
        return text(value)

    def number(self, value: Any, key: str, where: str) -> float | None:
        """A JSON number as float; ``None`` when absent or empty."""
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.invalid(f"{where}: '{key}' is not a number (got {value!r})")
        return float(value)

    def count(self, row: Mapping[str, Any], key: str, where: str, *, default: int = 0, signed: bool = False) -> int:
        """A whole number (at least 0 unless ``signed``); ``default`` when absent or ``null``."""
        value = row.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or (value < 0 and not signed):
            raise self.invalid(f"{where}: '{key}' is not a whole number of at least 0 (got {value!r})")
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
        except ValueError:
            raise self.invalid(f"{where}: '{value}' is not an ISO 8601 date-time") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

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


def decode_json(system: str, response: requests.Response, what: str, secrets: Iterable[str]) -> Any:
    """The response body as JSON; :class:`ApiResponseInvalid` (with a redacted excerpt) when it is not."""
    try:
        return response.json()
    except ValueError:
        excerpt = trim(redact(response.text or "", secrets))
        raise ApiResponseInvalid(system, f"{what} did not answer JSON", status=response.status_code,
                                 body=excerpt, url=redact(response.url, secrets)) from None


def iter_pages(fetch: Callable[[int], tuple[int, list[Any]]], *, system: str, what: str, page_size: int,
               max_pages: int, total_key: str, id_key: str | None = None) -> Iterator[Any]:
    """The rows of pages 1, 2, … (``fetch(page)`` answers ``(total, rows)``) until ``total`` rows were read or
    a page comes back short.

    With ``id_key``, a page whose row ids equal the previous page's (a server ignoring the page number) raises
    at once; in any case more than ``max_pages`` full pages raise instead of looping for ever.
    """
    seen, total = 0, 0
    previous_ids: list[Any] | None = None
    for page in range(1, max_pages + 1):
        total, rows = fetch(page)
        if id_key is not None:
            ids = [row.get(id_key) if isinstance(row, dict) else None for row in rows]
            if rows and ids == previous_ids:
                raise ApiResponseInvalid(system, f"{what}: page {page} repeats page {page - 1}; "
                                                 "the server ignores paging")
            previous_ids = ids
        yield from rows
        seen += len(rows)
        if seen >= total or len(rows) < page_size:
            return
    raise ApiResponseInvalid(system, f"{what}: still full pages after {max_pages} pages "
                                     f"({seen} rows, {total_key} says {total}); stopped to avoid an endless loop")
