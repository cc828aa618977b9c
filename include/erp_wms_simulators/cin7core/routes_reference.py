"""Reference lists of the Cin7 Core simulator: ``GET /customer`` and ``GET /ref/carrier``.

- ``GET /customer`` answers ``{"Total", "Page", "CustomerList": [...]}``. Filters: ``ID`` (one customer,
  deprecated or not), ``Name`` (starts with, any case), ``ModifiedSince`` (changed at or after),
  ``IncludeDeprecated`` (default false), ``ContactFilter`` (text in a contact's name or e-mail) and
  ``IncludeProductPrices`` (adds ``ProductPrices[]``, absent otherwise). Rows are ordered by name.
- ``GET /ref/carrier`` answers ``{"Total", "Page", "CarrierList": [{"CarrierID", "Description"}]}``;
  filters ``CarrierID`` (exact) and ``Description`` (starts with, any case). A sale's ``Carrier`` is one
  of these descriptions, which is what an integration maps to a WMS service type.

Both page with ``Page`` / ``Limit`` like every list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request

from erp_wms_simulators.cin7core.routing import flag, paged
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.state import Cin7CoreState
from erp_wms_simulators.common import CaseInsensitiveQuery, SimError, format_timestamp, parse_iso_datetime

CUSTOMER_DEFAULTS: dict[str, Any] = {
    "Status": "Active", "Currency": "USD", "PaymentTerm": "30 days", "AccountReceivable": "610",
    "RevenueAccount": "200", "TaxRule": "Tax on Sales", "PriceTier": "Tier 1", "Carrier": "",
    "SalesRepresentative": "", "Location": "", "Discount": 0.0, "Comments": "", "TaxNumber": "",
    "CreditLimit": 0.0, "Tags": "", "AttributeSet": "", "IsOnCreditHold": False,
    **{f"AdditionalAttribute{i}": "" for i in range(1, 11)},
}


def reference_router(state: Cin7CoreState, settings: Cin7CoreSettings) -> APIRouter:
    router = APIRouter()

    @router.get("/customer")
    def list_customers(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        prices = flag(query, "IncludeProductPrices")
        with state.lock:
            chosen = _select_customers(list(state.customers.values()), query)
            rows = [render_customer(c, settings.timestamps_with_z, prices) for c in chosen]
        return paged("CustomerList", rows, query, settings)

    @router.get("/ref/carrier")
    def list_carriers(request: Request) -> dict[str, Any]:
        query = CaseInsensitiveQuery.of(request)
        wanted_id = (query.get("CarrierID") or "").strip().lower()
        start = (query.get("Description") or "").casefold()
        with state.lock:
            rows = [dict(c) for c in state.carriers.values()]
        if wanted_id:
            rows = [c for c in rows if c["CarrierID"].lower() == wanted_id]
        rows = sorted((c for c in rows if c["Description"].casefold().startswith(start)),
                      key=lambda c: c["Description"].casefold())
        return paged("CarrierList", rows, query, settings)

    return router


def render_customer(record: Mapping[str, Any], zulu: bool, product_prices: bool) -> dict[str, Any]:
    """A customer as ``GET /customer`` returns it (contacts and addresses as lists)."""
    out: dict[str, Any] = {"ID": record["ID"], "Name": record["Name"]}
    out.update({name: record.get(name, default) for name, default in CUSTOMER_DEFAULTS.items()})
    modified = record.get("LastModifiedOn")
    out["LastModifiedOn"] = format_timestamp(modified, zulu=zulu) if modified is not None else None
    out["Contacts"] = [dict(c) for c in record.get("Contacts") or _default_contacts(record)]
    out["Addresses"] = [dict(a) for a in record.get("Addresses") or []]
    if product_prices:
        out["ProductPrices"] = [dict(p) for p in record.get("ProductPrices") or []]
    return out


def _default_contacts(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The one contact a customer created from a sale or the demo carries (its ``Contact`` / ``Email``)."""
    name, email = str(record.get("Contact") or ""), str(record.get("Email") or "")
    if not name and not email:
        return []
    return [{"ContactID": record["ID"], "Name": name, "Phone": "", "MobilePhone": "", "Fax": "", "Email": email,
             "Website": "", "Comment": "", "Default": True, "IncludeInEmail": True}]


def _select_customers(customers: list[dict[str, Any]], query: CaseInsensitiveQuery) -> list[dict[str, Any]]:
    wanted_id = (query.get("ID") or "").strip().lower()
    if wanted_id:
        return [c for c in customers if str(c["ID"]).lower() == wanted_id]
    include_deprecated = flag(query, "IncludeDeprecated")
    name = (query.get("Name") or "").casefold()
    contact = (query.get("ContactFilter") or "").casefold()
    since_text = query.get("ModifiedSince")
    try:
        since = parse_iso_datetime(since_text) if since_text else None
    except ValueError as exc:
        raise SimError(400, f"ModifiedSince: {exc}") from None
    chosen = [c for c in customers
              if (include_deprecated or c.get("Status", "Active") != "Deprecated")
              and str(c["Name"]).casefold().startswith(name)
              and (since is None or (c.get("LastModifiedOn") is not None and c["LastModifiedOn"] >= since))
              and (not contact or any(contact in f"{p['Name']} {p['Email']}".casefold()
                                      for p in c.get("Contacts") or _default_contacts(c)))]
    return sorted(chosen, key=lambda c: (str(c["Name"]).casefold(), str(c["ID"])))
