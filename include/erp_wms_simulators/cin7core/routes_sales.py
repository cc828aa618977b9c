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
from erp_wms_simulators.cin7core.routing import DocumentRoutes, body_object, flag, paged, required, sale_of
from erp_wms_simulators.cin7core.salelist import CREDIT_NOTE_FILTERS, STATUS_FILTERS, SaleQuery
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.state import Cin7CoreState
from erp_wms_simulators.common import CaseInsensitiveQuery, SimError


def sales_router(state: Cin7CoreState, settings: Cin7CoreSettings) -> APIRouter:
    router = APIRouter()
    writer = SaleWriter(settings)
    routes = DocumentRoutes(router, state, settings)

    def quote(sale: Sale) -> dict[str, Any]:
        return {"SaleID": sale.id, **writer.document(sale, sale.quote, quote=True)}

    def order(sale: Sale) -> dict[str, Any]:
        return {"SaleID": sale.id, **writer.document(sale, sale.order)}

    @router.get("/sale")
    def get_sale(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        hide = flag(query, "HideInventoryMovements")
        with state.lock:
            return writer.sale(sale_of(state, settings, request, "ID"), movements=not hide)

    routes.write("POST", "/sale", sales.create_sale, writer.sale)
    routes.write("PUT", "/sale", sales.update_sale, writer.sale)

    @router.delete("/sale")
    def delete_sale(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        sale_id = required(query, "ID")
        sale = lifecycle.void_sale(state, sale_id) if flag(query, "Void") else lifecycle.undo_sale(state, sale_id)
        with state.lock:
            return writer.sale(sale)

    routes.read("/sale/quote", quote)
    routes.write("POST", "/sale/quote", sales.post_quote, quote)
    routes.read("/sale/order", order)
    routes.write("POST", "/sale/order", sales.post_order, order)
    _billing_routes(routes, writer)
    _list_routes(router, state, settings, writer)
    return router


def _billing_routes(routes: DocumentRoutes, writer: SaleWriter) -> None:
    router, state = routes.router, routes.state

    def invoices(sale: Sale) -> dict[str, Any]:
        return {"SaleID": sale.id, "Invoices": [writer.invoice(sale, inv) for inv in sale.invoices]}

    def notes(sale: Sale) -> dict[str, Any]:
        return {"SaleID": sale.id, "CreditNotes": [writer.credit_note(sale, n) for n in sale.credit_notes]}

    def payments(sale: Sale) -> dict[str, Any]:
        return {"SaleID": sale.id, "Payments": [payment(p) for p in sale.payments]}

    routes.read("/sale/invoice", invoices)
    routes.write("POST", "/sale/invoice", billing.post_invoice, invoices)

    @router.put("/sale/invoice")
    async def put_invoice(request: Request) -> dict[str, Any]:
        body = await body_object(request, routes.settings)
        if not body.get("TaskID"):
            raise SimError(400, "Required attribute TaskID is not provided.")
        sale = billing.post_invoice(state, body)
        with state.lock:
            return invoices(sale)

    routes.read("/sale/payment", payments)
    routes.write("POST", "/sale/payment", billing.post_payment, payments)

    @router.delete("/sale/payment")
    def delete_payment(request: Request) -> dict[str, Any]:
        sale = billing.delete_payment(state, required(CaseInsensitiveQuery.of(request), "ID"))
        with state.lock:
            return payments(sale)

    routes.read("/sale/creditnote", notes)
    routes.write("POST", "/sale/creditnote", billing.post_credit_note, notes)


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
