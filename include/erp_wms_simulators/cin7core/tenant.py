"""Sales, stock and webhook state of the Cin7 Core simulator, mixed into
:class:`~erp_wms_simulators.cin7core.state.Cin7CoreState`, with helpers for scenario drivers and tests.

Helpers (each takes the state's lock, validates like the API, raises
:class:`~erp_wms_simulators.common.SimError` with the API's message on a refused step, and returns what
the API would answer):

- ``create_sale(customer, location, lines, external_id=None, authorise=True, **header) -> dict`` — a sale
  with ``SkipQuote``; ``lines`` are ``[{"SKU": …, "Quantity": …, "Price"?: …}]``; returns the full sale;
- ``ship(sale_id, lines=None, tracking="", carrier="") -> dict`` — pick, pack and ship (``lines`` for a
  partial shipment, see :func:`~erp_wms_simulators.cin7core.shipping.ship_goods`);
- ``invoice_sale(sale_id, pay=False) -> dict`` — authorise the invoice (and pay it in full);
- ``credit_sale(sale_id, restock, location=None) -> dict`` — authorised credit note restocking ``restock``;
- ``void_sale(sale_id)`` / ``undo_sale(sale_id)`` — as ``DELETE /sale`` with and without ``Void``;
- ``set_stock(sku, location, on_hand, unit_cost=None) -> dict`` — set on-hand directly (movement
  ``Stocktake``), returns the availability row; ``availability(sku, location) -> dict`` — the summed row;
- ``sales() -> list[dict]`` — every ``/saleList`` row; ``sale(sale_id) -> dict`` — the full sale;
- ``stock_history(sku, location=None) -> list[dict]`` — every recorded change, allocations included;
- ``published`` — the last events raised (type, payload), whether or not a webhook listens.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from erp_wms_simulators.callbacks import CallbackDispatcher
from erp_wms_simulators.cin7core import billing, events, lifecycle, sales, shipping
from erp_wms_simulators.cin7core.availability import render_row, rows_for
from erp_wms_simulators.cin7core.demo import DEMO_ACCOUNT_ID
from erp_wms_simulators.cin7core.lines import Lookup, raise_problems
from erp_wms_simulators.cin7core.model import Sale
from erp_wms_simulators.cin7core.render import SaleWriter
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.stock import MoveRef, StockBook, StockRow
from erp_wms_simulators.cin7core.webhooks import delivery
from erp_wms_simulators.common import Clock, format_timestamp

if TYPE_CHECKING:
    from erp_wms_simulators.cin7core.state import Cin7CoreState

PUBLISHED_LIMIT = 10_000


class SalesTenant:
    """The sales side of one simulated account (needs the attributes declared below from its host)."""

    lock: threading.RLock
    clock: Clock
    currency: str
    products: dict[str, dict[str, Any]]
    locations: dict[str, dict[str, Any]]
    callbacks: CallbackDispatcher

    @property
    def _state(self) -> Cin7CoreState:
        return cast("Cin7CoreState", self)

    def _init_sales(self) -> None:
        self.settings = Cin7CoreSettings()  # create_app binds the app's settings here
        self.tenant_id = DEMO_ACCOUNT_ID
        self.stock = StockBook()
        self.sale_records: dict[str, Sale] = {}
        self.task_index: dict[str, str] = {}  # fulfilment TaskID -> SaleID
        self.customers: dict[str, dict[str, Any]] = {}
        self.adjustments: dict[str, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.numbers: Counter[str] = Counter()
        self.published: list[tuple[str, Any]] = []
        self._depth = 0
        self.callbacks.on_deactivate = self.deactivate_webhook

    # ---- plumbing used by the operations ----------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock; when the outermost transaction ends, report changed stock levels by webhook."""
        with self.lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._flush_stock_events()

    def touch(self, sale: Sale) -> None:
        sale.updated = self.clock()

    def next_number(self, prefix: str) -> str:
        with self.lock:
            self.numbers[prefix] += 1
            return f"{prefix}-{self.numbers[prefix]:05d}"

    def publish(self, event_type: str, payload: Any) -> int:
        """Queue ``payload`` for every active webhook of ``event_type``; returns how many were queued."""
        with self.lock:
            self.published.append((event_type, payload))
            del self.published[:-PUBLISHED_LIMIT]
            hooks = [w for w in self.webhooks.values() if w["Type"] == event_type and w["IsActive"]]
            for hook in hooks:
                self.callbacks.enqueue(delivery(hook, event_type, payload))
            return len(hooks)

    def deactivate_webhook(self, webhook_id: str) -> None:
        """Called by the dispatcher after the 6th failed try: the webhook's ``IsActive`` becomes false."""
        with self.lock:
            hook = self.webhooks.get(webhook_id.lower())
            if hook is not None:
                hook["IsActive"] = False

    def add_customer(self, name: str, **fields: Any) -> dict[str, Any]:
        """The customer called ``name`` (created with a stable ID if new)."""
        with self.lock:
            found = next((c for c in self.customers.values() if c["Name"].casefold() == name.casefold()), None)
            if found is not None:
                return found
            record = sales.customer_record(name, fields.pop("Currency", self.currency), **fields)
            record.setdefault("LastModifiedOn", self.clock())
            self.customers[record["ID"].lower()] = record
            return record

    def writer(self) -> SaleWriter:
        return SaleWriter(self.settings)

    def _flush_stock_events(self) -> None:
        changed = self.stock.take_changed()
        if changed:
            rows = rows_for(self._state, changed)
            if rows:
                self.publish(events.STOCK_CHANGED, events.stock_event(rows))

    def _reset_sales(self) -> None:
        self.stock.clear()
        for table in (self.sale_records, self.task_index, self.customers, self.adjustments, self.webhooks):
            table.clear()
        self.numbers.clear()
        self.published.clear()
        self.callbacks.clear()

    def _sales_snapshot(self) -> dict[str, Any]:
        return {"sales": len(self.sale_records), "customers": len(self.customers),
                "stock_rows": len(self.stock.rows), "stock_adjustments": len(self.adjustments),
                "webhooks": len(self.webhooks), "events_published": len(self.published)}

    # ---- helpers for scenario drivers and tests ---------------------------------------------
    def create_sale(self, customer: str, location: str, lines: Sequence[Mapping[str, Any]],
                    external_id: str | None = None, authorise: bool = True, **header: Any) -> dict[str, Any]:
        body: dict[str, Any] = {**header, "Customer": customer, "Location": location, "SkipQuote": True}
        if external_id is not None:
            body["ExternalID"] = external_id
        with self.transaction():
            sale = sales.create_sale(self._state, body)
            try:
                sales.post_order(self._state, {"SaleID": sale.id, "Lines": list(lines),
                                        "Status": "AUTHORISED" if authorise else "DRAFT"})
            except Exception:
                del self.sale_records[sale.id]
                raise
            return self.sale(sale.id)

    def ship(self, sale_id: str, lines: Sequence[Mapping[str, Any]] | None = None, tracking: str = "",
             carrier: str = "") -> dict[str, Any]:
        sale = shipping.ship_goods(self._state, sale_id, lines, tracking, carrier)
        return self.sale(sale.id)

    def invoice_sale(self, sale_id: str, pay: bool = False) -> dict[str, Any]:
        with self.transaction():
            sale = billing.post_invoice(self._state, {"SaleID": sale_id, "Status": "AUTHORISED"})
            if pay:
                invoice = sale.invoices[-1]
                billing.post_payment(self._state, {"SaleID": sale.id, "Type": "PAYMENT",
                                            "TaskID": invoice.task_id, "Amount": invoice.total})
            return self.sale(sale.id)

    def credit_sale(self, sale_id: str, restock: Sequence[Mapping[str, Any]],
                    location: str | None = None) -> dict[str, Any]:
        lines = [{**line, "RestockLocation": location} if location else dict(line) for line in restock]
        sale = billing.post_credit_note(self._state, {"SaleID": sale_id, "Status": "AUTHORISED",
                                               "Restock": lines})
        return self.sale(sale.id)

    def void_sale(self, sale_id: str) -> dict[str, Any]:
        return self.sale(lifecycle.void_sale(self._state, sale_id).id)

    def undo_sale(self, sale_id: str) -> dict[str, Any]:
        return self.sale(lifecycle.undo_sale(self._state, sale_id).id)

    def sale(self, sale_id: str) -> dict[str, Any]:
        with self.lock:
            return self.writer().sale(sales.find_sale(self._state, sale_id, "ID"))

    def sales(self) -> list[dict[str, Any]]:
        with self.lock:
            writer = self.writer()
            return [writer.list_row(sale) for sale in self.sale_records.values()]

    def set_stock(self, sku: str, location: str, on_hand: float,
                  unit_cost: float | None = None) -> dict[str, Any]:
        with self.transaction():
            product, place = self._product_and_location(sku, location)
            ref = MoveRef("Stocktake", "", "", self.clock(), "")
            self.stock.set_quantity(product["ID"], place["ID"], float(on_hand), ref, unit_cost=unit_cost)
            return self.availability(sku, location)

    def availability(self, sku: str, location: str) -> dict[str, Any]:
        """The availability of ``sku`` at ``location`` summed over batches (zeros if it never had stock)."""
        with self.lock:
            product, place = self._product_and_location(sku, location)
            rows = self.stock.rows_of(product["ID"], place["ID"])
            total = StockRow(product["ID"], place["ID"], on_hand=sum(r.on_hand for r in rows),
                             allocated=sum(r.allocated for r in rows), on_order=sum(r.on_order for r in rows),
                             in_transit=sum(r.in_transit for r in rows))
            row = render_row(total, product, place)
            row["StockOnHand"] = round(sum(r.value for r in rows), 4)
            return row

    def stock_history(self, sku: str, location: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            product, place = self._product_and_location(sku, location)
            zulu = self.settings.timestamps_with_z
            return [{"Type": c.ref.kind, "TaskID": c.ref.task_id, "Number": c.ref.number,
                     "Date": format_timestamp(c.ref.at, zulu=zulu), "Location": self.locations[c.location_id]["Name"],
                     "Batch": c.batch or None, "OnHandChange": c.on_hand_delta, "AllocatedChange": c.allocated_delta}
                    for c in self.stock.history if c.product_id == product["ID"] and
                    (place is None or c.location_id == place["ID"])]

    def _product_and_location(self, sku: str, location: str | None) -> tuple[dict[str, Any], Any]:
        problems: list[str] = []
        lookup = Lookup.of(self._state)
        product = lookup.product({"SKU": sku}, "Stock", problems)
        place = lookup.location(None, location, "Stock", problems) if location is not None else None
        raise_problems(problems)
        assert product is not None
        return product, place
