"""A simulated Peoplevox warehouse with some stock history, shared by the stock movement, returns and stock level
tests: they read what the simulator's reports and callbacks say about it."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_simulators.peoplevox.state import PeoplevoxState, Tenant
from erp_wms_simulators.peoplevox.warehouse import Warehouse
from erp_wms_simulators.placeholders import fill_placeholders
from erp_wms_sync.domain.stock_movements import stock_callback_url


def stocked_tenant() -> Tenant:
    """A simulated warehouse after goods in, a despatch, a sellable and a damaged return, and an adjustment; the
    simulator's clock is UTC, so its report dates read back unchanged in a UTC account."""
    state = PeoplevoxState(now=lambda: datetime(2024, 7, 1, 9, 30, 0))
    settings = PeoplevoxSettings()
    state.add_tenant("t1", "user", "pw")
    state.seed("t1", "Sites", [{"Reference": "MAIN", "Name": "Main"}], settings)
    state.seed("t1", "Item types", [{"ItemCode": "MUG", "Name": "Mug", "Barcode": "1"},
                                    {"ItemCode": "CAP", "Name": "Cap", "Barcode": "2"}], settings)
    warehouse = Warehouse(state, "t1", settings)
    warehouse.goods_in("MUG", 5, "MAIN", "PO-1")
    warehouse.goods_in("CAP", 2, "MAIN")
    state.seed("t1", "Sales orders", [{"SalesOrderNumber": "SO-1", "ServiceType": "NEXTDAY", "ChannelName": "Web",
                                       "Site": "MAIN"}], settings)
    state.seed("t1", "Sales order items", [{"SalesOrderNumber": "SO-1", "ItemCode": "MUG", "QuantityOrdered": "3"},
                                           {"SalesOrderNumber": "SO-1", "ItemCode": "CAP", "QuantityOrdered": "1"}],
               settings)
    warehouse.allocate("SO-1")
    warehouse.start_picking("SO-1")
    warehouse.pick("SO-1")
    warehouse.despatch("SO-1", carrier="DPD", tracking="T1")
    warehouse.receive_return("SO-1", {"MUG": 2}, "sellable", "RC-1", reason="Too big")
    warehouse.receive_return("SO-1", {"MUG": 1, "CAP": 1}, "damaged", "RC-2")
    warehouse.adjust("CAP", "MAIN", 3)
    tenant = state.tenant("t1")
    assert tenant is not None
    return tenant


def published(tenant: Tenant, event_type: str) -> list[dict[str, str]]:
    """The placeholder values of every callback of ``event_type`` the simulator published, in order."""
    return [record.values for record in tenant.book.events if record.event_type == event_type]


def callback_body(event_type: str, values: dict[str, str]) -> str:
    """The query string the simulator would call our subscription URL with."""
    url = stock_callback_url("https://air.example.com/erp-wms", "acme", event_type, "tok")
    return urlsplit(fill_placeholders(url, values, encode=True)).query
