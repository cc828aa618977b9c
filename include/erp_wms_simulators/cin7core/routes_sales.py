"""Sale resources of the Cin7 Core simulator: ``/sale``, ``/sale/quote``, ``/sale/order``, ``/sale/invoice``,
``/sale/payment``, ``/sale/creditnote``, ``/saleList`` and ``/saleCreditNoteList``.

Write endpoints answer the document they changed (``/sale`` the full sale; ``/sale/order`` the order;
invoices, payments and credit notes the ``{SaleID, Invoices|Payments|CreditNotes:[…]}`` wrapper also used
by their GET). Every refused precondition is a 400 error array naming the problem; a GET of an unknown sale
answers ``unknown_sale_status`` (default 404).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from erp_wms_simulators.cin7core import billing, lifecycle, sales
from erp_wms_simulators.cin7core.model import Sale
from erp_wms_simulators.cin7core.render import SaleWriter, payment
from erp_wms_simulators.cin7core.routing import body_object, flag, paged, required
from erp_wms_simulators.cin7core.salelist import CREDIT_NOTE_FILTERS, STATUS_FILTERS, SaleQuery
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.state import Cin7CoreState
from erp_wms_simulators.common import CaseInsensitiveQuery, SimError


def sales_router(state: Cin7CoreState, settings: Cin7CoreSettings) -> APIRouter:
    router = APIRouter()
    writer = SaleWriter(settings)

    def sale_of(request: Request, name: str = "SaleID") -> Sale:
        return sales.find_sale(state, required(CaseInsensitiveQuery.of(request), name), name,
                               settings.unknown_sale_status)

    @router.get("/sale")
    def get_sale(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        hide = flag(query, "HideInventoryMovements")
        with state.lock:
            return writer.sale(sale_of(request, "ID"), movements=not hide)

    @router.post("/sale")
    async def post_sale(request: Request) -> dict[str, Any]:
        sale = sales.create_sale(state, await body_object(request, settings))
        with state.lock:
            return writer.sale(sale)

    @router.put("/sale")
    async def put_sale(request: Request) -> dict[str, Any]:
        sale = sales.update_sale(state, await body_object(request, settings))
        with state.lock:
            return writer.sale(sale)

    @router.delete("/sale")
    def delete_sale(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        sale_id = required(query, "ID")
        sale = lifecycle.void_sale(state, sale_id) if flag(query, "Void") else lifecycle.undo_sale(state, sale_id)
        with state.lock:
            return writer.sale(sale)

    @router.get("/sale/quote")
    def get_quote(request: Request) -> dict[str, Any]:
        with state.lock:
            sale = sale_of(request)
            return {"SaleID": sale.id, **writer.document(sale, sale.quote, quote=True)}

    @router.post("/sale/quote")
    async def post_quote(request: Request) -> dict[str, Any]:
        sale = sales.post_quote(state, await body_object(request, settings))
        with state.lock:
            return {"SaleID": sale.id, **writer.document(sale, sale.quote, quote=True)}

    @router.get("/sale/order")
    def get_order(request: Request) -> dict[str, Any]:
        with state.lock:
            sale = sale_of(request)
            return {"SaleID": sale.id, **writer.document(sale, sale.order)}

    @router.post("/sale/order")
    async def post_order(request: Request) -> dict[str, Any]:
        sale = sales.post_order(state, await body_object(request, settings))
        with state.lock:
            return {"SaleID": sale.id, **writer.document(sale, sale.order)}

    _billing_routes(router, state, settings, writer, sale_of)
    _list_routes(router, state, settings, writer)
    return router


def _billing_routes(router: APIRouter, state: Cin7CoreState, settings: Cin7CoreSettings, writer: SaleWriter,
                    sale_of: Any) -> None:
    def invoices(sale: Sale) -> dict[str, Any]:
        return {"SaleID": sale.id, "Invoices": [writer.invoice(sale, inv) for inv in sale.invoices]}

    def notes(sale: Sale) -> dict[str, Any]:
        return {"SaleID": sale.id, "CreditNotes": [writer.credit_note(sale, n) for n in sale.credit_notes]}

    def payments(sale: Sale) -> dict[str, Any]:
        return {"SaleID": sale.id, "Payments": [payment(p) for p in sale.payments]}

    @router.get("/sale/invoice")
    def get_invoices(request: Request) -> dict[str, Any]:
        with state.lock:
            return invoices(sale_of(request))

    @router.post("/sale/invoice")
    async def post_invoice(request: Request) -> dict[str, Any]:
        sale = billing.post_invoice(state, await body_object(request, settings))
        with state.lock:
            return invoices(sale)

    @router.put("/sale/invoice")
    async def put_invoice(request: Request) -> dict[str, Any]:
        body = await body_object(request, settings)
        if not body.get("TaskID"):
            raise SimError(400, "Required attribute TaskID is not provided.")
        sale = billing.post_invoice(state, body)
        with state.lock:
            return invoices(sale)

    @router.get("/sale/payment")
    def get_payments(request: Request) -> dict[str, Any]:
        with state.lock:
            return payments(sale_of(request))

    @router.post("/sale/payment")
    async def post_payment(request: Request) -> dict[str, Any]:
        sale = billing.post_payment(state, await body_object(request, settings))
        with state.lock:
            return payments(sale)

    @router.delete("/sale/payment")
    def delete_payment(request: Request) -> dict[str, Any]:
        sale = billing.delete_payment(state, required(CaseInsensitiveQuery.of(request), "ID"))
        with state.lock:
            return payments(sale)

    @router.get("/sale/creditnote")
    def get_credit_notes(request: Request) -> dict[str, Any]:
        with state.lock:
            return notes(sale_of(request))

    @router.post("/sale/creditnote")
    async def post_credit_note(request: Request) -> dict[str, Any]:
        sale = billing.post_credit_note(state, await body_object(request, settings))
        with state.lock:
            return notes(sale)


def _list_routes(router: APIRouter, state: Cin7CoreState, settings: Cin7CoreSettings, writer: SaleWriter) -> None:
    @router.get("/salelist")
    def sale_list(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        selection = _sale_query(query, STATUS_FILTERS)
        with state.lock:
            ordered = sorted(state.sale_records.values(), key=lambda s: (s.created, s.order_number))
            rows = [row for sale in ordered if selection.matches(sale, row := writer.list_row(sale))]
        return paged("SaleList", rows, query, settings)

    @router.get("/salecreditnotelist")
    def credit_note_list(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        selection = _sale_query(query, {name: (name,) for name in CREDIT_NOTE_FILTERS})
        with state.lock:
            ordered = sorted(state.sale_records.values(), key=lambda s: (s.created, s.order_number))
            rows = [row for sale in ordered for note in sale.credit_notes
                    if selection.matches(sale, row := writer.credit_note_row(sale, note))]
        return paged("SaleList", rows, query, settings)


def _sale_query(query: CaseInsensitiveQuery, filters: dict[str, tuple[str, ...]]) -> SaleQuery:
    try:
        return SaleQuery.parse(query, filters)
    except ValueError as exc:
        raise SimError(400, str(exc)) from None
