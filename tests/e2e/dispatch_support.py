"""Shared by the live dispatch tests (a LiveStack with ``airflow standalone``, or the distributed stack): what a
Cin7 Core sale shows as shipped (read from Cin7's own answer), and the simulated warehouse floor's steps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests
from benchmarks.live import LiveStack

ADDRESS = {"Line1": "1 High St", "City": "Leeds", "Postcode": "LS1 1AA", "Country": "GB"}


def shipped_boxes(sale: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every shipped box of a ``GET /sale`` answer: {task, box, tracking, carrier, skus (packed in its task)}."""
    out = []
    for task in sale.get("Fulfilments") or []:
        packed: Counter[str] = Counter()
        for line in (task.get("Pack") or {}).get("Lines") or []:
            packed[line["SKU"]] += int(line["Quantity"])
        for line in (task.get("Ship") or {}).get("Lines") or []:
            if line.get("IsShipped"):
                out.append({"task": task["TaskID"], "box": line.get("Boxes") or line.get("Box"),
                            "tracking": line.get("TrackingNumber"), "carrier": line.get("Carrier"),
                            "skus": dict(packed)})
    return out


def cin7_sale(live: LiveStack, lines: list[tuple[str, int]]) -> dict[str, Any]:
    sale: dict[str, Any] = live.sim("cin7core", "POST", "/_sim/sales", json={
        "Customer": "Jane Doe", "Location": "Main Warehouse", "ShippingAddress": ADDRESS, "Carrier": "Royal Mail",
        "Lines": [{"SKU": sku, "Quantity": qty} for sku, qty in lines]})
    return sale


def wms_orders(live: LiveStack, tenant: str) -> dict[str, Any]:
    orders: dict[str, Any] = live.sim("peoplevox", "GET", f"/_sim/{tenant}/records/{quote('Sales orders')}")
    return orders


def goods_in(live: LiveStack, tenant: str, site: str, lines: dict[str, int]) -> None:
    live.sim("peoplevox", "POST", f"/_sim/{tenant}/warehouse/goods-in", json={"site": site, "lines": lines})


def pick(live: LiveStack, tenant: str, number: str) -> None:
    order = f"/_sim/{tenant}/warehouse/orders/{quote(number, safe='')}"
    live.sim("peoplevox", "POST", f"{order}/allocate", json={"partial": False})
    live.sim("peoplevox", "POST", f"{order}/start-picking", json={})
    live.sim("peoplevox", "POST", f"{order}/pick", json={})


def despatch(live: LiveStack, tenant: str, number: str, *, lines: dict[str, int] | None = None,
             carrier: str = "Royal Mail", tracking: list[str] | None = None) -> dict[str, Any]:
    """A despatch on the simulated warehouse floor (all that is picked, or ``lines``); the despatch record."""
    record: dict[str, Any] = live.sim("peoplevox", "POST",
                                      f"/_sim/{tenant}/warehouse/orders/{quote(number, safe='')}/despatch",
                                      json={"lines": lines, "carrier": carrier, "tracking": tracking or []})
    return record


def shipped(live: LiveStack, sale_id: str) -> list[dict[str, Any]]:
    """Every shipped box of a Cin7 sale, read through Cin7's own ``GET /sale``: {box, tracking, carrier, skus}."""
    creds = live.sim_info["cin7core"]["credentials"]
    answer = requests.get(f"{live.sims['cin7core']}/sale", params={"ID": sale_id}, timeout=30, headers={
        "api-auth-accountid": creds["account_id"], "api-auth-applicationkey": creds["application_key"]})
    answer.raise_for_status()
    sale = answer.json()
    assert sale.get("ID") == sale_id, f"asked Cin7 for sale {sale_id}, got {sale.get('ID')}"
    return [{key: value for key, value in box.items() if key != "task"} for box in shipped_boxes(sale)]
