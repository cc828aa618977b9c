"""The Peoplevox rows of an order (header + lines) and the lookups the order steps share.

Every search clause is a chunk of OR-ed ``Equals`` terms. Clients of the real service use 100 terms per call; the
service translates a clause into one SQL query, and SQL Server caps a query at 2,100 parameters, so
:data:`CLAUSE_TERMS` (500) stays well inside what a clause allows while cutting calls five-fold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from erp_wms_sync.connectors.protocols import WmsClient
from erp_wms_sync.domain import orders as rules
from erp_wms_sync.domain.orders import ErpOrder
from erp_wms_sync.flows.common import RunContext, chunks

ORDER = "order"
OVERRIDE = "override"  # order ledger payload key: corrections a person made to this one order
CLAUSE_TERMS = 500
SALES_ORDER_ITEMS = rules.SALES_ORDER_ITEMS
ORDER_KEY = rules.ORDER_KEY


def item_code_for(integration: Any) -> Callable[[str], str]:
    """The integration's ERP SKU → Peoplevox ItemCode mapping (identity when it has none)."""
    mapper = getattr(integration, "item_code_for", None)
    return mapper if callable(mapper) else (lambda sku: sku)


def build_rows(ctx: RunContext, order: ErpOrder, number: str, override: Mapping[str, Any] | None = None,
               ) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The Peoplevox "Sales orders" header and "Sales order items" lines of an order under ``number``, with the
    corrections a person made to this one order (``override``, see :func:`apply_override`) applied."""
    settings = ctx.integration.orders
    site = ctx.integration.site_for(order.location) or ""
    header = rules.wms_header(order, number=number, site=site,
                              service_type=settings.service_type_for(order.carrier) or "",
                              channel=settings.channel_name or ctx.integration.label)
    items = rules.wms_items(order, number, item_code_for(ctx.integration))
    return apply_override(order, header, items, override) if override else (header, items)


def override_of(record: Any) -> Mapping[str, Any] | None:
    """The corrections stored in an order's ledger payload (``payload["override"]``), or None."""
    payload = getattr(record, "payload", None) or {}
    found = payload.get(OVERRIDE) if isinstance(payload, Mapping) else None
    return found if isinstance(found, Mapping) and found else None


def override_item_codes(records: Iterable[Any]) -> set[str]:
    """The ItemCodes the stored corrections of these order records send (looked up in Peoplevox with the rest)."""
    codes: set[str] = set()
    for record in records:
        override = override_of(record) or {}
        for change in dict(override.get("items") or {}).values():
            if isinstance(change, Mapping) and change.get("to"):
                codes.add(str(change["to"]))
    return codes


def order_item_code_for(integration: Any, record: Any) -> Callable[[str], str]:
    """ERP SKU → Peoplevox ItemCode for ONE order: the ItemCodes a person set for its lines (``override``) first,
    then the integration's mapping — so a despatch of the item the order was released with matches the order."""
    mapping = {str(c.get("sku")): str(c.get("to")) for c in dict((override_of(record) or {}).get("items") or {})
               .values() if isinstance(c, Mapping) and c.get("sku") and c.get("to")}
    default = item_code_for(integration)
    return (lambda sku: mapping.get(sku) or default(sku)) if mapping else default


def order_sku_for(integration: Any, record: Any) -> Callable[[str], str]:
    """Peoplevox ItemCode → ERP SKU for ONE order (the reverse of :func:`order_item_code_for`): the ERP is told
    about its own SKU when the order went to the warehouse under another ItemCode."""
    mapping = {str(c.get("to")): str(c.get("sku")) for c in dict((override_of(record) or {}).get("items") or {})
               .values() if isinstance(c, Mapping) and c.get("sku") and c.get("to")}
    default = integration.sku_for
    return (lambda code: mapping.get(code) or default(code)) if mapping else default


def line_skus(order: ErpOrder) -> dict[str, str]:
    """ERP SKU of each line by its ``Line`` value in the Peoplevox rows (see :func:`erp_wms_sync.domain.orders.
    wms_items`)."""
    return {str(line.line_no or pos): line.sku for pos, line in enumerate(order.lines, start=1)}


def apply_override(order: ErpOrder, header: Mapping[str, str], items: Iterable[Mapping[str, str]],
                   override: Mapping[str, Any] | None) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The rows with a person's corrections of this one order (the dashboard's edit of a held order).

    ``override`` is ``{"header": {field: {"from": built, "to": value}}, "items": {Line: {"sku": erp_sku,
    "from": built_item_code, "to": item_code}}}``. Each correction applies only while the ERP still gives what it
    corrected: a header field while the built value is still ``from``; a line's ItemCode while that line still
    carries the same ERP SKU and maps to ``from``. Once the ERP changes that field or line, the ERP's value wins
    (and a released order gets the change as an amendment). The order number is never overridden."""
    head = dict(header)
    rows = [dict(item) for item in items]
    if not override:
        return head, rows
    for name, change in dict(override.get("header") or {}).items():
        if name != ORDER_KEY and name in head and isinstance(change, Mapping) \
                and head[name] == str(change.get("from") or ""):
            head[name] = str(change.get("to") or "")
    lines = dict(override.get("items") or {})
    if lines:
        skus = line_skus(order)
        for row in rows:
            change = lines.get(str(row.get("Line", "")))
            if isinstance(change, Mapping) and skus.get(str(row.get("Line", ""))) == change.get("sku") \
                    and row.get("ItemCode", "") == str(change.get("from") or ""):
                row["ItemCode"] = str(change.get("to") or "")
    return head, rows


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
