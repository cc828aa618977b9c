"""Helpers for the order end-to-end tests: the ERP's users act on the simulators' state directly."""

from __future__ import annotations

from typing import Any

import requests

from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope

ADDRESS = {"Line1": "1 High St", "City": "Leeds", "Postcode": "LS1 1AA", "Country": "GB"}


def open_exceptions(url: str, integration: str) -> dict[str, Any]:
    with session_scope(url) as s:
        return {f"{e.type}:{e.entity_key}": e for e in repo.open_exceptions(s, integration)}


def cin7_sale(stack: Any, lines: list[tuple[str, int]], location: str = "Main Warehouse", **header: Any) -> dict:
    header.setdefault("ShippingAddress", ADDRESS)
    return stack.cin7core.create_sale("Jane Doe", location, [{"SKU": s, "Quantity": q} for s, q in lines], **header)


def cin7_reauthorise(stack: Any, sale_id: str, lines: list[tuple[str, int]]) -> None:
    """What a CX agent does to change an authorised order: undo, change the lines, authorise again (over HTTP)."""
    creds = stack.describe()["cin7core"]["credentials"]
    headers = {"api-auth-accountid": creds["account_id"], "api-auth-applicationkey": creds["application_key"]}
    stack.cin7core.undo_sale(sale_id)
    body = {"SaleID": sale_id, "Status": "AUTHORISED", "Lines": [{"SKU": s, "Quantity": q} for s, q in lines]}
    response = requests.post(f"{stack.urls['cin7core']}/sale/order", json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text


def wms_orders(stack: Any, tenant: str) -> dict[str, dict[str, str]]:
    return stack.peoplevox.records(tenant, "Sales orders")


def wms_lines(stack: Any, tenant: str, number: str) -> dict[str, str]:
    return {r["ItemCode"]: r["QuantityOrdered"] for r in stack.peoplevox.records(tenant, "Sales order items").values()
            if r["SalesOrderNumber"] == number}
