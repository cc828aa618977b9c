"""Fakes for the order flow's unit tests: an ERP order source and a Peoplevox client held in memory, plus a run
context on a throw-away SQLite ledger. They satisfy the Protocols in erp_wms_sync.connectors.protocols."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from erp_wms_sync.config import Integration, load_integration
from erp_wms_sync.connectors.peoplevox_soap import RecordOutcome
from erp_wms_sync.domain.orders import Address, ErpOrder, OrderLine, OrderStamp, OrderState
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope, upgrade

NORTHWIND = load_integration("include/integrations/northwind.yaml")
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
ADDRESS = Address("1 High St", "", "Leeds", "", "LS1 1AA", "GB")
NUMBER = re.compile(r'SalesOrderNumber\.Equals\("((?:[^"\\]|\\.)*)"\)')
CODE = re.compile(r'ItemCode\.Equals\("((?:[^"\\]|\\.)*)"\)')


def order(number: str, lines: Sequence[tuple[str, float]] = (("A", 1),), *, updated: str = "", **over: Any) -> ErpOrder:
    base: dict[str, Any] = dict(erp_id=f"id-{number}", number=number, state=OrderState.RELEASABLE,
                                erp_status="ORDERED", location="Main Warehouse", customer="Jane",
                                lines=tuple(OrderLine(s, q, 1.0, n) for n, (s, q) in enumerate(lines, 1)),
                                shipping=ADDRESS, updated=updated or (NOW - timedelta(hours=1)).isoformat())
    base.update(over)
    return ErpOrder(**base)


class FakeErp:
    """Orders by ERP id; ``unreadable`` ids answer another record; ``refuse_write`` ids answer a 400."""

    def __init__(self, orders: Sequence[ErpOrder] = ()) -> None:
        self.orders = {o.erp_id: o for o in orders}
        self.unreadable: set[str] = set()
        self.refuse_write: set[str] = set()
        self.fail_fetch_after: int | None = None
        self.fetched: list[str] = []
        self.notes: dict[str, str] = {}
        self.writes = 0
        self.products: set[str] = set()  # the active SKUs of the ERP item master
        self.sku_lookups: list[str] = []  # every SKU asked through existing_skus, in order
        self.fail_sku_lookup = False

    def existing_skus(self, skus: Sequence[str]) -> set[str]:
        from erp_wms_sync.errors import ApiUnavailable

        if self.fail_sku_lookup:
            raise ApiUnavailable("cin7core", "rolling limit reached", status=429)
        self.sku_lookups.extend(skus)
        return {s for s in skus if s in self.products}

    def changed(self, since: datetime) -> Iterator[OrderStamp]:
        for o in self.orders.values():
            yield OrderStamp(o.erp_id, o.number, o.updated, o.state, o.erp_status)

    def fetch(self, stamp: OrderStamp) -> ErpOrder:
        from erp_wms_sync.domain.orders import UnreadableOrder
        from erp_wms_sync.errors import ApiUnavailable

        if self.fail_fetch_after is not None and len(self.fetched) >= self.fail_fetch_after:
            raise ApiUnavailable("cin7core", "rolling limit reached", status=429)
        self.fetched.append(stamp.erp_id)
        if stamp.erp_id in self.unreadable:
            raise UnreadableOrder(f"Cin7 Core answered sale (no id) when sale {stamp.erp_id} was asked for")
        return self.orders[stamp.erp_id]

    def fetch_by_id(self, erp_id: str) -> ErpOrder | None:
        return self.fetch(OrderStamp(erp_id, "", "", OrderState.RELEASABLE, ""))

    def write_back(self, order: ErpOrder, text: str) -> str | None:
        from erp_wms_sync.errors import ApiRejected

        self.writes += 1
        if order.erp_id in self.refuse_write:
            raise ApiRejected("cin7core", "PUT sale refused: The sale is voided", status=400)
        self.notes[order.erp_id] = text
        return None


class Crash(RuntimeError):
    """The worker died (kill -9) between two SaveData calls."""


class FakeWms:
    """Peoplevox in memory. ``calls`` counts the SOAP calls the real client would make (SaveData batches of
    ``batch`` rows, GetData pages of 1000 rows)."""

    def __init__(self, item_codes: Sequence[str] = ("A", "B", "C"), batch: int = 100) -> None:
        self.items = set(item_codes)
        self.headers: dict[str, dict[str, str]] = {}
        self.lines: dict[tuple[str, str], dict[str, str]] = {}
        self.refuse_lines: set[tuple[str, str]] = set()  # (order number, Line) refused once each
        self.crash_before_lines = False
        self.batch = batch
        self.calls: Counter[str] = Counter()

    def _pages(self, rows: int) -> None:
        self.calls["GetData"] += max(1, math.ceil(rows / 1000))

    def get_data(self, template: str, search_clause: str = "", *, key: str,
                 unique: bool = False) -> Iterator[dict[str, str]]:
        assert template == "Sales order items" and key == "SalesOrderNumber"
        numbers = {n.lower() for n in NUMBER.findall(search_clause)}
        rows = [dict(r) for (n, _), r in sorted(self.lines.items()) if n.lower() in numbers]
        self._pages(len(rows))
        return iter(rows)

    def iter_item_types(self, search_clause: str = "") -> Iterator[dict[str, str]]:
        rows = [{"ItemCode": c} for c in CODE.findall(search_clause) if c in self.items]
        self._pages(len(rows))
        return iter(rows)

    def iter_sales_orders(self, search_clause: str = "") -> Iterator[dict[str, str]]:
        numbers = set(NUMBER.findall(search_clause))
        rows = [dict(h) for n, h in self.headers.items() if n in numbers]
        self._pages(len(rows))
        return iter(rows)

    def save_sales_orders(self, rows: Sequence[Mapping[str, str]]) -> list[RecordOutcome]:
        self.calls["SaveData"] += math.ceil(len(rows) / self.batch)
        self.calls["SaveData:Sales orders"] += math.ceil(len(rows) / self.batch)
        for row in rows:
            self.headers[row["SalesOrderNumber"]] = {**self.headers.get(row["SalesOrderNumber"], {}), **row,
                                                     "Status": "New"}
        return [RecordOutcome(r["SalesOrderNumber"], True) for r in rows]

    def save_sales_order_items(self, rows: Sequence[Mapping[str, str]]) -> list[RecordOutcome]:
        if self.crash_before_lines:
            raise Crash("worker lost between the header and the lines SaveData")
        self.calls["SaveData"] += math.ceil(len(rows) / self.batch)
        out = []
        for row in rows:
            key = (row["SalesOrderNumber"], row["Line"])
            if key in self.refuse_lines:
                self.refuse_lines.discard(key)
                out.append(RecordOutcome(key[0], False, "System : Temporary failure, retry"))
                continue
            self.lines[key] = dict(row)
            out.append(RecordOutcome(key[0], True))
        return out


def ledger(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade(url)
    return url


def context(url: str, run: str, integration: Integration = NORTHWIND, end: datetime = NOW) -> RunContext:
    return RunContext(integration=integration, flow="order_release", run_id=run,
                      window=Window(end - timedelta(minutes=5), end, "test"), ledger_url=url)


def open_types(url: str) -> dict[str, list[str]]:
    """The open exception types of northwind, per entity key."""
    with session_scope(url) as s:
        found: dict[str, list[str]] = {}
        for e in repo.open_exceptions(s, "northwind"):
            found.setdefault(e.entity_key, []).append(e.type)
        return found
