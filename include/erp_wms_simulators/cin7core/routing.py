"""Request helpers shared by the Cin7 Core simulator's resource routes: paging, flags and JSON bodies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request

from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.common import CaseInsensitiveQuery, SimError, page_of, parse_bool, parse_int, read_json


def paging(query: CaseInsensitiveQuery, settings: Cin7CoreSettings) -> tuple[int, int]:
    """``Page`` (1-based) and ``Limit`` (1 … ``max_limit``, default ``default_limit``), or a 400."""
    try:
        page = parse_int("Page", query.get("Page"), 1, 1)
        limit = parse_int("Limit", query.get("Limit"), settings.default_limit, 1, settings.max_limit)
    except ValueError as exc:
        raise SimError(400, str(exc)) from None
    return page, limit


def paged(list_key: str, rows: Sequence[Any], query: CaseInsensitiveQuery,
          settings: Cin7CoreSettings) -> dict[str, Any]:
    """``{"Total", "Page", <list_key>: [...]}`` for one page of ``rows``."""
    page, limit = paging(query, settings)
    return {"Total": len(rows), "Page": page, list_key: page_of(rows, page, limit)}


def flag(query: CaseInsensitiveQuery, name: str, default: bool = False) -> bool:
    try:
        return parse_bool(query.get(name), default)
    except ValueError as exc:
        raise SimError(400, f"{name}: {exc}") from None


def required(query: CaseInsensitiveQuery, name: str) -> str:
    value = (query.get(name) or "").strip()
    if not value:
        raise SimError(400, f"Required parameter {name} is not provided.")
    return value


async def body_object(request: Request, settings: Cin7CoreSettings) -> dict[str, Any]:
    """The JSON object of a write request (a malformed body answers ``malformed_body_status``)."""
    body = await read_json(request, settings.malformed_body_status)
    if not isinstance(body, dict):
        raise SimError(400, "The request body must be a JSON object.")
    return body
