"""Request helpers shared by the Cin7 Core simulator's resource routes: paging, flags, JSON bodies, the sale
a request names, and :class:`DocumentRoutes` for the two commonest kinds of route (read a sale's document,
write through an operation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Request

from erp_wms_simulators.cin7core import sales
from erp_wms_simulators.cin7core.model import Sale
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.state import Cin7CoreState
from erp_wms_simulators.common import CaseInsensitiveQuery, SimError, page_of, parse_bool, parse_int, read_json

T = TypeVar("T")


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


def sale_of(state: Cin7CoreState, settings: Cin7CoreSettings, request: Request, name: str = "SaleID") -> Sale:
    """The sale the query parameter ``name`` names (an unknown one answers ``unknown_sale_status``)."""
    return sales.find_sale(state, required(CaseInsensitiveQuery.of(request), name), name,
                           settings.unknown_sale_status)


@dataclass(frozen=True)
class DocumentRoutes:
    """Adds routes to ``router`` that read a sale's document, or write one through an operation."""

    router: APIRouter
    state: Cin7CoreState
    settings: Cin7CoreSettings

    def read(self, path: str, render: Callable[[Sale], dict[str, Any]]) -> None:
        """``GET path?SaleID=``: ``render`` of that sale, under the state's lock."""

        def read_sale(request: Request) -> dict[str, Any]:
            with self.state.lock:
                return render(sale_of(self.state, self.settings, request))

        self.router.add_api_route(path, read_sale, methods=["GET"])

    def write(self, method: str, path: str, operation: Callable[[Cin7CoreState, dict[str, Any]], T],
              render: Callable[[T], dict[str, Any]]) -> None:
        """``method path`` with a JSON object: ``operation`` on it, answered with ``render`` of its result."""

        async def write_body(request: Request) -> dict[str, Any]:
            result = operation(self.state, await body_object(request, self.settings))
            with self.state.lock:
                return render(result)

        self.router.add_api_route(path, write_body, methods=[method])
