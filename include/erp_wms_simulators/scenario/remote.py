"""Scenario ports over HTTP, for simulators running in another process (``python -m erp_wms_simulators up``).

- :class:`Http`: a small JSON client; a refusal (4xx) raises :class:`RemoteRefused` (a ``ValueError``) with the
  simulator's message, an unreachable simulator :class:`RemoteUnavailable`.
- :class:`RemoteWarehouse`: the Peoplevox tenant through ``/_sim/tenants``, ``/_sim/{client}/records/...`` and
  ``/_sim/{client}/warehouse/...``.
- :class:`RemoteBlueCherry`: the BlueCherry company through its ``/_sim/`` admin routes.

Cin7 Core is in :mod:`.remote_cin7`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from erp_wms_simulators.scenario.brands import Brand
from erp_wms_simulators.scenario.catalogue import Catalogue, Sku, Style
from erp_wms_simulators.scenario.erps import BLUECHERRY_SHIPPED, LAUNCH_STOCK, ErpOrder
from erp_wms_simulators.scenario.plan import OrderSpec
from erp_wms_simulators.scenario.wms import OPENING_PO

TIMEOUT = (5.0, 120.0)
TEMPLATES = ("Sites", "Item types", "Sales orders", "Sales order items", "Return authorisations",
             "Despatch packages")


class RemoteRefused(ValueError):
    """The simulator refused the call (HTTP 4xx)."""


class RemoteUnavailable(RuntimeError):
    """The simulator could not be reached or failed (connection error, 5xx)."""


class Http:
    def __init__(self, base: str, headers: Mapping[str, str] | None = None) -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", **(headers or {})})

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        url = self.base + path
        try:
            response = self.session.request(method, url, json=body, params=params or None, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise RemoteUnavailable(f"{method} {url}: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise RemoteUnavailable(f"{method} {url}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise RemoteRefused(f"{method} {path}: {_message(response)}")
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, **params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.call("POST", path, {} if body is None else body, **params)


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code} {response.text[:200]}"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message"))
        for key in ("detail", "Exception", "message"):
            if key in body:
                return json.dumps(body[key]) if not isinstance(body[key], str) else body[key]
    if isinstance(body, list) and body and isinstance(body[0], dict) and "Exception" in body[0]:
        return str(body[0]["Exception"])
    return f"HTTP {response.status_code} {json.dumps(body)[:200]}"


def path_part(text: str) -> str:
    return quote(text, safe="")


class RemoteWarehouse:
    """One Peoplevox tenant of a running Peoplevox simulator (``root`` = its base URL)."""

    def __init__(self, root: str, client_id: str) -> None:
        self.http = Http(root)
        self.client_id = client_id
        self.house = f"/_sim/{path_part(client_id)}/warehouse"

    def ensure_tenant(self, username: str, password: str) -> None:
        self.http.post("/_sim/tenants", {"client_id": self.client_id, "username": username, "password": password})

    def seed(self, template: str, rows: Sequence[Mapping[str, str]]) -> int:
        answer = self.http.post(f"/_sim/{path_part(self.client_id)}/records/{path_part(template)}", list(rows))
        return int((answer or {}).get("seeded", len(rows)))

    def table(self, template: str) -> dict[str, dict[str, str]]:
        answer: dict[str, dict[str, str]] = self.http.get(
            f"/_sim/{path_part(self.client_id)}/records/{path_part(template)}")
        return answer

    def opening_loaded(self) -> set[tuple[str, str]]:
        return {(m["item_code"], m["site"]) for m in self.http.get(f"{self.house}/movements")
                if m.get("reason") == "Goods in" and m.get("comments") == OPENING_PO}

    def receive_delivery(self, lines: Mapping[str, int], site: str) -> None:
        self.http.post(f"{self.house}/goods-in", {"site": site, "lines": dict(lines), "po": OPENING_PO,
                                                  "supplier": "Opening stock"})

    def _order_call(self, number: str, action: str, body: Mapping[str, Any] | None = None) -> Any:
        return self.http.post(f"{self.house}/orders/{path_part(number)}/{action}", dict(body or {}))

    def allocate(self, number: str, partial: bool) -> None:
        self._order_call(number, "allocate", {"partial": partial})

    def start_picking(self, number: str) -> None:
        self._order_call(number, "start-picking")

    def pick(self, number: str, short: Mapping[str, int] | None) -> None:
        self._order_call(number, "pick", {"short": dict(short or {})})

    def pack(self, number: str, packages: int) -> list[str]:
        return list(self._order_call(number, "pack", {"packages": packages})["packages"])

    def despatch(self, number: str, lines: Mapping[str, int], carrier: str, tracking: Sequence[str]) -> None:
        self._order_call(number, "despatch", {"lines": dict(lines), "carrier": carrier, "tracking": list(tracking)})

    def order(self, number: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.http.get(f"{self.house}/orders/{path_part(number)}")
        return answer

    def receive_return(self, number: str, lines: Mapping[str, int], condition: str,
                       authorisation: str | None) -> None:
        self._order_call(number, "return", {"lines": dict(lines), "condition": condition,
                                            "authorisation": authorisation})

    def dump(self) -> dict[str, Any]:
        tables = {name: [{k: v for k, v in row.items() if v} for _, row in sorted(self.table(name).items())]
                  for name in TEMPLATES}
        return {"tables": tables, "stock": self.http.get(f"{self.house}/stock")}


class RemoteBlueCherry:
    """A running BlueCherry simulator's company, driven through ``/_sim/`` (``root`` = its host root)."""

    def __init__(self, root: str, brand: Brand, release_status: str = "OPEN") -> None:
        self.http = Http(root)
        self.brand = brand
        self.release_status = release_status

    def seed(self, catalogue: Catalogue) -> dict[str, int]:
        known = set(self.http.get("/_sim/state")["warehouses"])
        warehouses = [{"warehouse": loc.erp, "name": f"{loc.erp} distribution centre", "country": self.brand.country}
                      for loc in self.brand.locations if loc.erp not in known]
        stock = [{"sku": code, "warehouse": place, "onHand": qty} for (code, place), qty in catalogue.stock.items()]
        self.http.post("/_sim/bulk", {"warehouses": warehouses, "styles": [_style(s) for s in catalogue.styles],
                                      "stock": stock})
        return {"styles": len(catalogue.styles), "skus": len(catalogue.skus), "stock_rows": len(stock)}

    def launch(self, style: Style, skus: Sequence[Sku]) -> bool:
        if self._exists(skus[0].code if skus else ""):
            return False  # launched earlier
        stock = [{"sku": sku.code, "warehouse": loc.erp, "onHand": LAUNCH_STOCK} for sku in skus
                 for loc in self.brand.mapped]
        self.http.post("/_sim/bulk", {"styles": [_style(style)], "stock": stock})
        return True

    def _exists(self, sku: str) -> bool:
        try:
            self.http.get("/_sim/stock", sku=sku, warehouse=self.brand.mapped[0].erp)
        except RemoteRefused:
            return False
        return True

    def create_order(self, spec: OrderSpec, at: datetime) -> str:
        body = {"customerPo": spec.reference, "division": "01", "customer": spec.customer,
                "warehouse": spec.location, "shipTo": spec.address(), "orderDate": at.isoformat(),
                "lines": [{"sku": sku, "qty": qty} for sku, qty in spec.lines]}
        return str(self.http.post("/_sim/orders", body)["order"]["orderNumber"])

    def orders(self) -> list[ErpOrder]:
        return [self._view(order) for order in self.http.get("/_sim/orders")]

    def order(self, key: str) -> ErpOrder:
        return self._view(self.http.get(f"/_sim/orders/{path_part(key)}"))

    def _view(self, order: Mapping[str, Any]) -> ErpOrder:
        status = str(order["status"])
        ship_state = ("full" if status in BLUECHERRY_SHIPPED[1:] else "partial" if status == BLUECHERRY_SHIPPED[0]
                      else "")
        return ErpOrder(order["orderNumber"], order["orderNumber"], status, status == self.release_status,
                        status == "CANCELLED", ship_state, order["warehouse"],
                        {line["sku"]: int(line["qty"]) for line in order["lines"] if line["qty"]},
                        {line["sku"]: int(line["shipped"]) for line in order["lines"] if line["shipped"]},
                        {"updated": order["updatedAt"]})

    def amend(self, key: str, lines: Mapping[str, int]) -> None:
        self.http.post(f"/_sim/orders/{path_part(key)}/amend",
                       {"lines": [{"sku": sku, "qty": qty} for sku, qty in lines.items()]})

    def cancel(self, key: str) -> None:
        self.http.post(f"/_sim/orders/{path_part(key)}/cancel", {"reason": "customer request"})

    def authorise_return(self, key: str, sku: str, qty: int, condition: str) -> str | None:
        reason = "DEFECTIVE" if condition == "DAMAGED" else "WRONG_SIZE"
        body = {"orderNumber": key, "lines": [{"sku": sku, "qty": qty, "reasonCode": reason, "condition": condition}]}
        return str(self.http.post("/_sim/returns", body)["return"]["raNumber"])

    def authorised_returns(self) -> list[tuple[str, str, list[tuple[str, int, str]]]]:
        return [(ra["raNumber"], ra["orderNumber"], [(line["sku"], int(line["qty"]), line["reasonCode"])
                                                     for line in ra["lines"]])
                for ra in self.http.get("/_sim/returns")]

    def confirm_despatch(self, number: str, lines: Mapping[str, int], carrier: str, tracking: Sequence[str],
                         reference: str) -> None:
        self.http.post(f"/_sim/orders/{path_part(number)}/ship", {"lines": dict(lines), "carrier": carrier,
                                                                  "trackingNumbers": list(tracking),
                                                                  "reference": reference})

    def receive_return(self, ra_number: str, lines: Sequence[tuple[str, int, str]], reference: str) -> None:
        self.http.post(f"/_sim/returns/{path_part(ra_number)}/receive", {
            "reference": reference, "lines": [{"sku": s, "qty": q, "condition": c} for s, q, c in lines]})

    def stock_levels(self, codes: Sequence[str], location: str) -> dict[str, int]:
        rows = {row["sku"]: int(row["onHand"]) for row in self.http.get("/_sim/stock", warehouse=location)["rows"]}
        return {code: rows.get(code, 0) for code in codes}

    def dump(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.http.get("/_sim/dump")
        return answer


def _style(style: Style) -> dict[str, Any]:
    return {"style": style.code, "styleName": style.name, "sizes": list(style.sizes), "division": "01",
            "season": "SP26", "price": style.price, "weight": style.weight,
            "colors": [{"color": code, "colorName": name} for code, name in style.colors]}
