"""Sale headers, quotes and orders of the Cin7 Core simulator (``/sale``, ``/sale/quote``, ``/sale/order``).

- ``POST /sale`` needs ``Customer`` or ``CustomerID`` and ``Location``; an unknown customer name is created
  when the setting ``auto_create_customers`` is on. ``SaleType`` picks a simple (default) or advanced sale.
  The response is the full sale; ``SaleOrderNumber`` (``SO-00001``) is given at creation.
- ``PUT /sale`` changes header fields by ``ID``; customer and location only until the order is authorised.
  ``AdditionalAttributes{AdditionalAttribute1..10}`` are merged key by key on both.
- ``POST /sale/quote`` / ``POST /sale/order`` replace the document's lines (``SKU`` or ``ProductID`` per line);
  ``Status`` is ``DRAFT`` or ``AUTHORISED``. Authorising the order allocates stock and raises
  ``Sale/OrderAuthorised`` (and ``Sale/Backordered`` when something is short); ``AutoPickPackShipMode``
  then picks, packs and ships a simple sale that has no backorder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from erp_wms_simulators.cin7core import events
from erp_wms_simulators.cin7core.allocation import allocate_order
from erp_wms_simulators.cin7core.lines import Lookup, number, object_list, priced_lines, raise_problems, reject
from erp_wms_simulators.cin7core.model import ADVANCED, AUTHORISED, DRAFT, SIMPLE, Fulfilment, Sale
from erp_wms_simulators.cin7core.products import is_guid
from erp_wms_simulators.cin7core.statuses import backordered
from erp_wms_simulators.cin7core.stock import MoveRef
from erp_wms_simulators.common import new_guid, parse_iso_datetime, stable_guid

if TYPE_CHECKING:
    from erp_wms_simulators.cin7core.state import Cin7CoreState

HEADER_TEXT = ("Contact", "Phone", "Email", "DefaultAccount", "ShippingNotes", "TaxRule", "Terms", "PriceTier",
               "Note", "CustomerReference", "SalesRepresentative", "Carrier", "ExternalID", "SourceChannel")
BILLING_FIELDS = ("Line1", "Line2", "City", "State", "Postcode", "Country")
SHIPPING_FIELDS = (*BILLING_FIELDS, "Company", "Contact", "ShipToOther")
ATTRIBUTES = tuple(f"AdditionalAttribute{i}" for i in range(1, 11))
AUTO_MODES = ("NOPICK", "AUTOPICK", "AUTOPICKPACK", "AUTOPICKPACKSHIP")
EXTERNAL_ID_MAX = 256
DOCUMENT_STATUSES = (DRAFT, AUTHORISED)


# ---- sale header ----------------------------------------------------------------------------
def create_sale(state: Cin7CoreState, body: Mapping[str, Any]) -> Sale:
    """A new sale from a ``POST /sale`` body (validated; every problem reported at once)."""
    problems: list[str] = []
    lookup = Lookup.of(state)
    customer = _customer(state, body, problems, required=True)
    location = lookup.location(body.get("LocationID"), body.get("Location"), "Sale", problems)
    header = _header(body, problems)
    sale_type = _sale_type(body.get("SaleType"), problems)
    auto_mode = _auto_mode(body.get("AutoPickPackShipMode"), problems)
    attributes = _attributes(body.get("AdditionalAttributes"), problems)
    _check_currency(state, customer, body, problems)
    raise_problems(problems)
    assert location is not None and customer is not None
    with state.lock:
        record = state.add_customer(customer["Name"]) if not customer.get("ID") else customer
        now = state.clock()
        header.update(_customer_header(record, header, state.currency))
        header["Location"] = location["Name"]
        header.setdefault("SaleOrderDate", now)
        sale = Sale(id=new_guid(), order_number=state.next_number("SO"), created=now, updated=now, header=header,
                    location_id=location["ID"], sale_type=sale_type, skip_quote=bool(body.get("SkipQuote")),
                    auto_mode=auto_mode, additional_attributes=attributes)
        state.sale_records[sale.id] = sale
        return sale


def update_sale(state: Cin7CoreState, body: Mapping[str, Any]) -> Sale:
    """Apply a ``PUT /sale`` body to the sale named by ``ID``."""
    with state.lock:
        sale = find_sale(state, body.get("ID"), "ID")
        if sale.voided:
            raise reject("The sale is voided and cannot be changed.")
        problems: list[str] = []
        changes = _header(body, problems)
        attributes = _attributes(body.get("AdditionalAttributes"), problems)
        location = _new_location(state, sale, body, problems)
        customer = _customer(state, body, problems, required=False)
        if customer is not None and sale.order.authorised:
            problems.append("The customer cannot be changed once the order is authorised.")
        _check_currency(state, customer, body, problems)
        raise_problems(problems)
        if customer is not None:
            record = state.add_customer(customer["Name"]) if not customer.get("ID") else customer
            changes.update(_customer_header(record, changes, state.currency))
        if location is not None:
            sale.location_id, changes["Location"] = location["ID"], location["Name"]
        if "SkipQuote" in body and sale.quote.status != AUTHORISED:
            sale.skip_quote = bool(body["SkipQuote"])
        sale.header.update(changes)
        sale.additional_attributes.update(attributes)
        state.touch(sale)
        return sale


def find_sale(state: Cin7CoreState, sale_id: Any, name: str = "SaleID", missing_status: int = 400) -> Sale:
    """The sale with ``sale_id`` (any case); a 400 naming the parameter, or ``missing_status`` when unknown."""
    if not isinstance(sale_id, str) or not sale_id.strip():
        raise reject(f"Required attribute {name} is not provided.")
    if not is_guid(sale_id.strip()):
        raise reject(f"{name} '{sale_id}' is not a valid GUID.")
    with state.lock:
        sale = state.sale_records.get(sale_id.strip().lower())
    if sale is None:
        raise reject(f"Sale with ID '{sale_id}' not found.", missing_status)
    return sale


# ---- quote and order ------------------------------------------------------------------------
def post_quote(state: Cin7CoreState, body: Mapping[str, Any]) -> Sale:
    with state.lock:
        sale = find_sale(state, body.get("SaleID"))
        problems = _open_sale_problems(sale)
        if sale.skip_quote:
            problems.append("The quote is skipped for this sale (SkipQuote is true).")
        elif not sale.quote.open:
            problems.append(f"The quote is {sale.quote.status} and cannot be changed; undo it first.")
        status = _document_status(body, problems)
        lines = priced_lines(Lookup.of(state), object_list(body, "Lines", problems), problems)
        raise_problems(problems)
        sale.quote.lines, sale.quote.status, sale.quote.memo = lines, status, str(body.get("Memo") or "")
        state.touch(sale)
        if status == AUTHORISED:
            state.publish(events.QUOTE_AUTHORISED, events.order_event(sale, events.QUOTE_AUTHORISED))
        return sale


def post_order(state: Cin7CoreState, body: Mapping[str, Any]) -> Sale:
    """``POST /sale/order``: replace the order lines; authorising allocates stock."""
    with state.transaction():
        sale = find_sale(state, body.get("SaleID"))
        problems = _order_problems(sale)
        status = _document_status(body, problems)
        raw = object_list(body, "Lines", problems) if "Lines" in body else None
        lines = priced_lines(Lookup.of(state), raw, problems) if raw is not None else sale.order.lines
        charges = charge_lines(object_list(body, "AdditionalCharges", problems), problems)
        auto_mode = _auto_mode(body.get("AutoPickPackShipMode"), problems) if "AutoPickPackShipMode" in body \
            else sale.auto_mode
        if status == AUTHORISED and not lines:
            problems.append("An order needs at least one line to be authorised.")
        raise_problems(problems)
        sale.order.lines, sale.order.status = lines, status
        sale.order.memo = str(body.get("Memo") or sale.order.memo)
        sale.order.additional_charges, sale.auto_mode = charges, auto_mode
        state.touch(sale)
        if status == AUTHORISED:
            authorise_order(state, sale)
        return sale


def authorise_order(state: Cin7CoreState, sale: Sale) -> None:
    """Allocate, open a simple sale's fulfilment task, raise the events, run the auto pick/pack/ship mode."""
    allocate_order(state, sale, sale_ref(state, sale, "Sale"))
    if sale.simple and not sale.fulfilments:
        add_task(state, sale)
    state.publish(events.ORDER_AUTHORISED, events.order_event(sale, events.ORDER_AUTHORISED))
    if backordered(sale):
        state.publish(events.BACKORDERED, events.order_event(sale, events.BACKORDERED))
    elif sale.simple and sale.auto_mode != "NOPICK":
        from erp_wms_simulators.cin7core.fulfilment import auto_fulfil

        auto_fulfil(state, sale, sale.auto_mode)


def add_task(state: Cin7CoreState, sale: Sale) -> Fulfilment:
    """A new fulfilment task (the first of a simple sale may reuse the SaleID as TaskID)."""
    if sale.fulfilments and sale.simple:
        sale.sale_type = ADVANCED
    first = not sale.fulfilments and sale.simple and state.settings.simple_sale_task_id_is_sale_id
    task = Fulfilment(task_id=sale.id if first else new_guid(), number=len(sale.fulfilments) + 1)
    task.ship.shipping_address = dict(sale.header.get("ShippingAddress") or {})
    task.ship.shipping_notes = str(sale.header.get("ShippingNotes") or "")
    sale.fulfilments.append(task)
    state.task_index[task.task_id] = sale.id
    return task


def charge_lines(raw: list[Mapping[str, Any]], problems: list[str]) -> list[dict[str, Any]]:
    """``AdditionalCharges[]`` with computed ``Total``."""
    charges: list[dict[str, Any]] = []
    for index, line in enumerate(raw, start=1):
        where = f"Additional charge {index}"
        if not str(line.get("Description") or "").strip():
            problems.append(f"{where}: Description is required.")
        quantity = number(line, "Quantity", where, problems, default=1.0, low=0.0, above=True)
        price = number(line, "Price", where, problems, required=True, low=None)
        discount = number(line, "Discount", where, problems, high=100.0)
        tax = number(line, "Tax", where, problems)
        charges.append({"Description": str(line.get("Description") or ""), "Quantity": quantity, "Price": price,
                        "Discount": discount, "Tax": tax, "TaxRule": str(line.get("TaxRule") or ""),
                        "Account": str(line.get("Account") or ""),
                        "Total": round(quantity * price * (1 - discount / 100), 4)})
    return charges


def sale_ref(state: Cin7CoreState, sale: Sale, kind: str, task_id: str | None = None,
             number_text: str | None = None) -> MoveRef:
    """The stock movement reference of a sale document."""
    return MoveRef(kind, task_id or sale.id, number_text or sale.order_number, state.clock(), sale.customer)


def _order_problems(sale: Sale) -> list[str]:
    problems = _open_sale_problems(sale)
    if not sale.order.open:
        problems.append(f"The sale order is {sale.order.status} and cannot be changed; undo it first.")
    elif not (sale.skip_quote or sale.quote.status == AUTHORISED):
        problems.append("The quote must be authorised (or skipped with SkipQuote) before the order.")
    return problems


def _open_sale_problems(sale: Sale) -> list[str]:
    return ["The sale is voided."] if sale.voided else []


def _document_status(body: Mapping[str, Any], problems: list[str]) -> str:
    status = str(body.get("Status") or DRAFT).strip().upper()
    if status not in DOCUMENT_STATUSES:
        problems.append(f"Status '{body.get('Status')}' must be DRAFT or AUTHORISED.")
    return status


# ---- header helpers -------------------------------------------------------------------------
def _customer(state: Cin7CoreState, body: Mapping[str, Any], problems: list[str],
              required: bool) -> dict[str, Any] | None:
    """The customer record named by ``CustomerID`` / ``Customer``; a new name gives ``{"Name": …}``."""
    customer_id, name = body.get("CustomerID"), body.get("Customer")
    if customer_id not in (None, ""):
        with state.lock:
            found = state.customers.get(str(customer_id).lower())
        if found is None:
            problems.append(f"Customer with ID '{customer_id}' not found.")
        return found
    if not isinstance(name, str) or not name.strip():
        if required or "Customer" in body:
            problems.append("Required attribute Customer or CustomerID is not provided.")
        return None
    with state.lock:
        found = next((c for c in state.customers.values() if c["Name"].casefold() == name.strip().casefold()), None)
    if found is None and not state.settings.auto_create_customers:
        problems.append(f"Customer '{name}' not found.")
    return found or {"Name": name.strip()}


def _customer_header(customer: Mapping[str, Any], given: Mapping[str, Any], base: str) -> dict[str, Any]:
    return {"Customer": customer["Name"], "CustomerID": customer["ID"],
            "Contact": given.get("Contact") or customer.get("Contact", ""),
            "Email": given.get("Email") or customer.get("Email", ""),
            "BaseCurrency": base, "CustomerCurrency": customer.get("Currency") or base}


def _check_currency(state: Cin7CoreState, customer: Mapping[str, Any] | None, body: Mapping[str, Any],
                    problems: list[str]) -> None:
    currency = (customer or {}).get("Currency") or state.currency
    if currency != state.currency and not isinstance(body.get("CurrencyRate"), int | float):
        problems.append(f"CurrencyRate is required: the customer pays in {currency}, the base is {state.currency}.")


def _header(body: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    header: dict[str, Any] = {}
    for name in HEADER_TEXT:
        if name in body and body[name] is not None:
            if isinstance(body[name], str):
                header[name] = body[name]
            else:
                problems.append(f"{name} must be text.")
    if len(str(header.get("ExternalID") or "")) > EXTERNAL_ID_MAX:
        problems.append(f"ExternalID is longer than {EXTERNAL_ID_MAX} characters.")
    for name in ("ShipBy", "SaleOrderDate"):
        if body.get(name):
            try:
                header[name] = parse_iso_datetime(str(body[name]))
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
    if "TaxInclusive" in body:
        header["TaxCalculation"] = "Inclusive" if body["TaxInclusive"] is True else "Exclusive"
    if isinstance(body.get("CurrencyRate"), int | float) and not isinstance(body["CurrencyRate"], bool):
        header["CurrencyRate"] = float(body["CurrencyRate"])
    for name, allowed in (("BillingAddress", BILLING_FIELDS), ("ShippingAddress", SHIPPING_FIELDS)):
        if body.get(name) is not None:
            if isinstance(body[name], dict):
                header[name] = {key: body[name].get(key) for key in allowed}
            else:
                problems.append(f"{name} must be an object.")
    return header


def _new_location(state: Cin7CoreState, sale: Sale, body: Mapping[str, Any],
                  problems: list[str]) -> dict[str, Any] | None:
    if body.get("LocationID") in (None, "") and body.get("Location") in (None, ""):
        return None
    location = Lookup.of(state).location(body.get("LocationID"), body.get("Location"), "Sale", problems)
    if location is not None and location["ID"] != sale.location_id and sale.order.authorised:
        problems.append("The location cannot be changed once the order is authorised.")
    return location


def _sale_type(value: Any, problems: list[str]) -> str:
    text = str(value or "Simple").strip().casefold()
    if text in ("simple", "simple sale"):
        return SIMPLE
    if text in ("advanced", "advanced sale"):
        return ADVANCED
    problems.append(f"SaleType '{value}' must be Simple or Advanced.")
    return SIMPLE


def _auto_mode(value: Any, problems: list[str]) -> str:
    mode = str(value or "NOPICK").strip().upper()
    if mode not in AUTO_MODES:
        problems.append(f"AutoPickPackShipMode must be one of: {', '.join(AUTO_MODES)}.")
        return "NOPICK"
    return mode


def _attributes(value: Any, problems: list[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append("AdditionalAttributes must be an object.")
        return {}
    names = {name.casefold(): name for name in ATTRIBUTES}
    found: dict[str, str] = {}
    for key, item in value.items():
        name = names.get(str(key).casefold())
        if name is None:
            problems.append(f"AdditionalAttributes: '{key}' is not one of AdditionalAttribute1..10.")
        elif item is not None and not isinstance(item, str | int | float):
            problems.append(f"AdditionalAttributes: {name} must be text.")
        else:
            found[name] = "" if item is None else str(item)
    return found


def customer_record(name: str, currency: str, **fields: Any) -> dict[str, Any]:
    """A customer as the simulator keeps it (stable ID derived from the name)."""
    return {"ID": stable_guid("cin7core", "customer", name.casefold()), "Name": name, "Currency": currency,
            "Contact": "", "Email": "", **fields}
