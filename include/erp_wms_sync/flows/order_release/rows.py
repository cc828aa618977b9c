"""The Peoplevox rows of an order (header + lines) and the lookups the order steps share.

Every search clause is a chunk of OR-ed ``Equals`` terms. Clients of the real service use 100 terms per call; the
service translates a clause into one SQL query, and SQL Server caps a query at 2,100 parameters, so
:data:`CLAUSE_TERMS` (500) stays well inside what a clause allows while cutting calls five-fold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from erp_wms_sync.connectors.protocols import WmsClient
from erp_wms_sync.domain import orders as rules
from erp_wms_sync.domain.orders import ErpOrder
from erp_wms_sync.flows.common import RunContext, chunks

ORDER = "order"
CLAUSE_TERMS = 500
SALES_ORDER_ITEMS = rules.SALES_ORDER_ITEMS
ORDER_KEY = rules.ORDER_KEY


def item_code_for(integration: Any) -> Callable[[str], str]:
    """The integration's ERP SKU → Peoplevox ItemCode mapping (identity when it has none)."""
    mapper = getattr(integration, "item_code_for", None)
    return mapper if callable(mapper) else (lambda sku: sku)


def build_rows(ctx: RunContext, order: ErpOrder, number: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The Peoplevox "Sales orders" header and "Sales order items" lines of an order under ``number``."""
    settings = ctx.integration.orders
    site = ctx.integration.site_for(order.location) or ""
    header = rules.wms_header(order, number=number, site=site,
                              service_type=settings.service_type_for(order.carrier) or "",
                              channel=settings.channel_name or ctx.integration.label)
    return header, rules.wms_items(order, number, item_code_for(ctx.integration))


def quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def clauses(field: str, values: Iterable[str], terms: int = CLAUSE_TERMS) -> Iterator[str]:
    """``field.Equals("v1") OR field.Equals("v2") …``, ``terms`` values per clause."""
    for batch in chunks(sorted({v for v in values if v}), terms):
        yield " OR ".join(f'{field}.Equals("{quote(v)}")' for v in batch)


def lookup_wms_orders(wms: WmsClient, numbers: Iterable[str]) -> dict[str, dict[str, str]]:
    """Peoplevox Sales order headers by SalesOrderNumber."""
    found: dict[str, dict[str, str]] = {}
    for clause in clauses(ORDER_KEY, numbers):
        for row in wms.iter_sales_orders(search_clause=clause):
            found[row.get(ORDER_KEY, "")] = dict(row)
    return found


def read_wms_lines(wms: WmsClient, numbers: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """What Peoplevox holds as "Sales order items" for these orders, by SalesOrderNumber (the read-back of a
    verified write)."""
    wanted = {n for n in numbers if n}
    found: dict[str, list[dict[str, str]]] = {n: [] for n in wanted}
    for clause in clauses(ORDER_KEY, wanted):
        for row in wms.get_data(SALES_ORDER_ITEMS, clause, key=ORDER_KEY):
            number = row.get(ORDER_KEY, "")
            if number in found:
                found[number].append(dict(row))
    return found


def wms_item_codes(wms: WmsClient, codes: Iterable[str]) -> set[str]:
    """Which of these ItemCodes exist in Peoplevox: only those the run's orders use, never the whole item master."""
    found: set[str] = set()
    for clause in clauses("ItemCode", codes):
        found.update((row.get("ItemCode") or "").strip() for row in wms.iter_item_types(search_clause=clause))
    return found - {""}
