"""What the systems themselves say after the day, read over their HTTP APIs (never from the ledger's records of
what the integration did), as plain lists of dicts the invariant functions take.

- Cin7 Core: ``saleList`` and ``sale`` (orders, fulfilments with their boxes = Peoplevox despatch numbers and the
  Sale inventory movements that booked them), ``saleCreditNoteList`` + the sale's credit notes (memo names the
  return), ``stockAdjustmentList`` + ``stockAdjustment`` (references and lines), ``ref/productavailability``.
- BlueCherry: ``orders``, ``shipments`` (reference = despatch number), ``inventory``, ``inventory/adjustments``,
  ``returns`` (each RA's receipts, reference = the Peoplevox return code: BlueCherry's side of "one credit per
  return" is one receipt per return; its credit memos are raised by BlueCherry's users).
- Peoplevox (each integration's tenant): GetData ``Sales orders``; reports ``Despatch summary``, ``Item inventory
  summary``, ``Return summary``.
- The ledger only for the open exceptions (which may excuse an order in invariant 1, and which invariant 5 checks).

:class:`Watcher` also takes small snapshots *during* the day (after each inventory sync and returns run of a Cin7
Core integration): the order in which returns, stock adjustments and credit notes first appear is what invariant 4
compares, because the product stamps adjustments with the wall clock and Cin7 stamps credit notes with the
simulated one.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

MAX_PAGES = 500
SNAPSHOT_TRIES = 5
PAGE = 100
REISSUE = re.compile(r"-R\d+$")
CIN7_CANCELLED = ("VOIDED",)
CIN7_NOT_RELEASED = ("DRAFT", "NOT AVAILABLE", "")
BLUECHERRY_NOT_RELEASED = ("ON_HOLD", "")
PEOPLEVOX_DATE = "%d/%m/%Y %H:%M:%S"


def pages(transport: Any, path: str, list_key: str, page_key: str, limit_key: str,
          extra: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every row of a paged list (bounded by :data:`MAX_PAGES`); stops at the first short page."""
    for page in range(1, MAX_PAGES + 1):
        body = transport.request("GET", path, params={**(extra or {}), page_key: page, limit_key: PAGE}).json()
        rows = list(body.get(list_key) or [])
        yield from rows
        if len(rows) < PAGE:
            return
    raise RuntimeError(f"GET {path}: more than {MAX_PAGES} pages")


def wms_base(number: str) -> str:
    """The ERP order number a Peoplevox order carries (a re-issue ``SO-1-R1`` belongs to ``SO-1``)."""
    return REISSUE.sub("", number)


def peoplevox_time(text: str) -> str | None:
    try:
        return datetime.strptime(text.strip(), PEOPLEVOX_DATE).replace(tzinfo=UTC).isoformat()
    except ValueError:
        return None


@dataclass
class Watcher:
    """Snapshots taken during the day; ``seen[kind][key]`` is the index of the first snapshot that showed it."""

    clients: dict[str, tuple[Any, Any, Any]] = field(default_factory=dict)  # integration -> (config, erp, wms)
    index: int = 0
    seen: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    missed: int = 0  # snapshot reads that failed every try

    def after_run(self, integration: str, flow: str) -> None:
        """Snapshot after a Cin7 integration's inventory sync (returns + adjustments) or returns (credit notes)."""
        if integration not in self.clients or flow not in ("inventory_sync", "returns"):
            return
        config, erp, wms = self.clients[integration]
        self.index += 1
        reads = ([lambda: self._returns(integration, config, wms), lambda: self._adjustments(integration, erp)]
                 if flow == "inventory_sync" else [lambda: self._credits(integration, erp)])
        for read in reads:
            self._read(read)

    def _read(self, read: Callable[[], None]) -> None:
        """One snapshot read, asked again (at most :data:`SNAPSHOT_TRIES` times) when the faults of the day break
        it: a snapshot lost to a fault would let a record be first seen one snapshot late, and invariant 4 would
        read a wrong order into it. Each read marks only what it saw, so a repeat marks nothing twice."""
        for attempt in range(1, SNAPSHOT_TRIES + 1):
            try:
                read()
                return
            except Exception as exc:
                self.missed += attempt == SNAPSHOT_TRIES
                log.info("snapshot %d: read failed (%s), try %d of %d", self.index, type(exc).__name__, attempt,
                         SNAPSHOT_TRIES)

    def _mark(self, kind: str, key: str) -> None:
        self.seen[kind].setdefault(key, self.index)

    def _returns(self, integration: str, config: Any, wms: Any) -> None:
        for row in wms.get_report("Return summary"):
            key = f"{integration}|{row.get('Return code', '')}|{row.get('Item code', '')}"
            self._mark("return", key)
            self.details.setdefault(key, {"site": row.get("Site reference", ""),
                                          "condition": row.get("Return condition", "")})

    def _adjustments(self, integration: str, erp: Any) -> None:
        for row in pages(erp.transport, "stockadjustmentlist", "StockAdjustmentList", "Page", "Limit"):
            key = f"{integration}|{row.get('TaskID', '')}"
            if key in self.seen["adjustment"] or str(row.get("Status", "")).upper() != "COMPLETED":
                continue
            detail = erp.get_stock_adjustment(str(row["TaskID"]))  # before the mark: a failed read marks nothing
            lines = [] if detail is None else [{"sku": line.sku, "location": line.location} for line in detail.lines]
            self.details[key] = {"reference": row.get("Reference", ""), "lines": lines}
            self._mark("adjustment", key)

    def _credits(self, integration: str, erp: Any) -> None:
        for row in pages(erp.transport, "saleCreditNoteList", "SaleList", "Page", "Limit"):
            key = f"{integration}|{row.get('CreditNoteTaskID', '')}"
            if key not in self.seen["credit"]:
                self._mark("credit", key)


def integration_clients(names: tuple[str, ...]) -> dict[str, tuple[Any, Any, Any]]:
    """integration -> (its configuration, ERP client, Peoplevox client), built from the AIRFLOW_CONN_* variables."""
    import os

    from erp_wms_sync.airflow.runtime import erp_client, wms_client
    from erp_wms_sync.config import load_all

    found = {i.name: i for i in load_all(os.environ.get("ERP_WMS_INTEGRATIONS_DIR") or None)}
    return {name: (found[name], erp_client(found[name]), wms_client(found[name])) for name in names}


def observe(world: Any, integrations: tuple[str, ...], watcher: Watcher | None = None) -> dict[str, Any]:
    """Every system's view, per integration, plus the open exceptions and the during-day snapshots."""
    clients = integration_clients(integrations)
    out: dict[str, Any] = {"integrations": {}}
    for name, (config, erp, wms) in clients.items():
        view = cin7_view(config, erp) if config.erp.kind.value == "cin7core" else bluecherry_view(config, erp)
        view.update(peoplevox_view(config, wms))
        out["integrations"][name] = view
    out["exceptions"] = ledger_exceptions(world.ledger_url)
    out["watched"] = watched(watcher) if watcher is not None else {"returns": [], "adjustments": [], "credits": []}
    return out


def cin7_view(config: Any, erp: Any) -> dict[str, Any]:
    """Orders, fulfilments (one per box set), credit notes, adjustments and on-hand of a Cin7 Core tenant."""
    orders, fulfilments, credits = [], [], []
    counted = {loc.erp.casefold(): loc.erp for loc in config.locations}
    for row in erp.iter_sale_list():
        status, order_status = str(row.get("Status") or ""), str(row.get("OrderStatus") or "")
        orders.append({"number": row.get("OrderNumber", ""), "id": row.get("SaleID", ""), "status": status,
                       "cancelled": status in CIN7_CANCELLED, "released": order_status not in CIN7_NOT_RELEASED})
        sale = erp.get_sale(str(row["SaleID"])) or {}
        moved = _sale_movements(sale)
        for fulfilment in sale.get("Fulfilments") or []:
            boxes = _boxes(fulfilment)
            if not boxes:
                continue
            fulfilments.append({"despatches": sorted(boxes), "order": row.get("OrderNumber", ""),
                                "ref": fulfilment.get("TaskID", ""), "at": moved.get(str(fulfilment.get("TaskID")))})
        for note in sale.get("CreditNotes") or []:
            if str(note.get("Status", "")).upper() == "VOIDED":
                continue
            memo = " ".join(str(note.get("Memo") or "").split())
            credits.append({"return_code": memo.removeprefix("WMS-RETURN ").strip() if memo.startswith("WMS-RETURN")
                            else "", "memo": memo, "order": row.get("OrderNumber", ""),
                            "ref": note.get("TaskID", ""), "at": note.get("CreditNoteDate")})
    adjustments = [{"reference": row.get("Reference", ""), "ref": row.get("TaskID", ""), "status": row.get("Status")}
                   for row in pages(erp.transport, "stockadjustmentlist", "StockAdjustmentList", "Page", "Limit")
                   if str(row.get("Status", "")).upper() == "COMPLETED"]
    stock: dict[tuple[str, str], int] = defaultdict(int)
    for level in erp.iter_availability():
        location = counted.get(level.location.casefold())
        if location is not None:
            stock[(level.sku, location)] += int(level.on_hand)
    return {"erp": "cin7core", "erp_orders": orders, "fulfilments": fulfilments, "credits": credits,
            "adjustments": adjustments, "erp_stock": _stock_rows(stock)}


def _boxes(fulfilment: Mapping[str, Any]) -> set[str]:
    """The Peoplevox despatch numbers a Cin7 fulfilment shipped (its Ship lines' ``Boxes``)."""
    boxes: set[str] = set()
    for line in (fulfilment.get("Ship") or {}).get("Lines") or []:
        if line.get("IsShipped"):
            boxes.update(b.strip() for b in str(line.get("Boxes") or "").split(",") if b.strip())
    return boxes


def _sale_movements(sale: Mapping[str, Any]) -> dict[str, str]:
    """fulfilment TaskID -> when Cin7 booked its stock out (the latest Sale movement of that task)."""
    out: dict[str, str] = {}
    for move in sale.get("InventoryMovements") or []:
        task, when = str(move.get("TaskID") or ""), str(move.get("Date") or "")
        if task and when and (task not in out or when > out[task]):
            out[task] = when
    return out


def bluecherry_view(config: Any, erp: Any) -> dict[str, Any]:
    """Orders, shipments, return receipts, inventory adjustments and available-to-sell of a BlueCherry tenant."""
    counted = {loc.erp.casefold(): loc.erp for loc in config.locations}
    orders = [{"number": o.order_number, "id": o.order_number, "status": o.status, "cancelled": o.status == "CANCELLED",
               "released": o.status not in BLUECHERRY_NOT_RELEASED} for o in erp.iter_orders()]
    fulfilments = [{"despatches": [s.reference] if s.reference else [], "order": s.order_number,
                    "ref": s.shipment_number, "at": s.updated_at.isoformat() if s.updated_at else None}
                   for s in erp.iter_shipments()]
    credits = [{"return_code": str(receipt.get("reference") or ""), "memo": str(receipt.get("creditMemo") or ""),
                "order": str(ra.get("orderNumber") or ""), "ref": str(ra.get("raNumber") or ""),
                "at": receipt.get("receivedAt")}
               for ra in pages(erp.transport, "returns", "data", "page", "pageSize")
               for receipt in ra.get("receipts") or []]
    adjustments = [{"reference": str(row.get("reference") or ""), "ref": str(row.get("adjustmentNumber") or ""),
                    "status": row.get("status")}
                   for row in pages(erp.transport, "inventory/adjustments", "data", "page", "pageSize")]
    stock: dict[tuple[str, str], int] = defaultdict(int)
    for row in erp.iter_inventory():
        location = counted.get(row.warehouse.casefold())
        if location is not None:
            stock[(row.sku, location)] += int(row.available)
    return {"erp": "bluecherry", "erp_orders": orders, "fulfilments": fulfilments, "credits": credits,
            "adjustments": adjustments, "erp_stock": _stock_rows(stock)}


def peoplevox_view(config: Any, wms: Any) -> dict[str, Any]:
    """The tenant's sales orders, despatches (one per despatch number), returns and counted stock per ERP location
    (on-hand for Cin7 Core, available for BlueCherry; quarantine and other non-sellable locations left out)."""
    orders = [{"number": row.get("SalesOrderNumber", ""), "status": row.get("Status", "")}
              for row in wms.iter_sales_orders()]
    despatches: dict[str, dict[str, Any]] = {}
    for row in wms.get_report("Despatch summary"):
        number = str(row.get("Despatch number") or "")
        entry = despatches.setdefault(number, {"despatch": number, "order": row.get("Salesorder number", ""),
                                               "at": peoplevox_time(str(row.get("Despatch date") or ""))})
        entry.setdefault("lines", {})[row.get("Item code", "")] = int(row.get("No of items") or 0)
    returns = [{"return_code": row.get("Return code", ""), "order": row.get("Sales order number", ""),
                "sku": row.get("Item code", ""), "site": row.get("Site reference", ""),
                "condition": row.get("Return condition", "")} for row in wms.get_report("Return summary")]
    sites = {loc.wms_site.casefold(): loc.erp for loc in reversed(config.locations)}
    skip = {name.casefold() for name in config.stock.non_sellable_locations}
    figure = "Available" if config.erp.kind.value == "bluecherry" else "On hand"
    stock: dict[tuple[str, str], int] = defaultdict(int)
    for row in wms.get_report("Item inventory summary"):
        location = sites.get(str(row.get("Site reference") or "").casefold())
        if location is None or str(row.get("Location") or "").casefold() in skip:
            continue
        stock[(config.sku_for(str(row.get("Item code") or "")), location)] += int(row.get(figure) or 0)
    return {"wms_orders": orders, "despatches": list(despatches.values()), "returns": returns,
            "wms_stock": _stock_rows(stock), "sites": sites}


def _stock_rows(stock: Mapping[tuple[str, str], int]) -> list[dict[str, Any]]:
    return [{"sku": sku, "location": location, "qty": qty} for (sku, location), qty in sorted(stock.items())]


def ledger_exceptions(url: str) -> list[dict[str, Any]]:
    """Every exception the ledger holds (open or not), with its payload, owner and the run that raised it."""
    from sqlalchemy import select

    from erp_wms_sync.ledger.db import session_scope
    from erp_wms_sync.ledger.models import ExceptionAttempt, ExceptionRecord

    with session_scope(url) as session:
        runs: dict[int, set[str]] = defaultdict(set)
        for exception_id, run_id in session.execute(select(ExceptionAttempt.exception_id, ExceptionAttempt.run_id)):
            if run_id:
                runs[exception_id].add(run_id)
        return [{"id": r.id, "integration": r.integration, "flow": r.flow, "type": r.type, "owner": r.owner,
                 "status": r.status, "entity_type": r.entity_type, "entity_key": r.entity_key, "summary": r.summary,
                 "detail": r.detail, "payload": r.payload,
                 "runs": sorted(runs[r.id] | ({r.run_id} if r.run_id else set()))}
                for r in session.scalars(select(ExceptionRecord).order_by(ExceptionRecord.id))]


def watched(watcher: Watcher) -> dict[str, Any]:
    """The during-day snapshots as plain rows: each return line, adjustment and credit note with ``seen``; and
    ``missed_reads``, the snapshot reads that failed every try."""
    out: dict[str, Any] = {"returns": [], "adjustments": [], "credits": [], "missed_reads": watcher.missed}
    for key, index in watcher.seen["return"].items():
        integration, code, sku = key.split("|", 2)
        out["returns"].append({"integration": integration, "return_code": code, "sku": sku, "seen": index,
                               **watcher.details.get(key, {})})
    for key, index in watcher.seen["adjustment"].items():
        integration, ref = key.split("|", 1)
        out["adjustments"].append({"integration": integration, "ref": ref, "seen": index,
                                   **watcher.details.get(key, {})})
    for key, index in watcher.seen["credit"].items():
        integration, ref = key.split("|", 1)
        out["credits"].append({"integration": integration, "ref": ref, "seen": index})
    return out
