"""The order sources' ``existing_skus`` against the ERP simulators on a real local server: whether the ERP item
master has a SKU item master sync has not seen yet (the order then waits for item sync instead of being held)."""

from __future__ import annotations

from typing import Any

from erp_wms_simulators.bluecherry.demo import DEMO_SUBSCRIPTION_KEY, EMPTY_DESCRIPTION_SKU, INACTIVE_STYLE
from erp_wms_simulators.cin7core.demo import DEMO_ACCOUNT_ID, DEMO_APPLICATION_KEY, DEPRECATED_SKU, LONG_SKU
from erp_wms_sync.connectors.bluecherry import BlueCherryClient
from erp_wms_sync.connectors.cin7core import Cin7CoreClient
from erp_wms_sync.flows.order_sources import BlueCherryOrders, Cin7Orders, style_candidates
from tests.unit.order_fakes import NORTHWIND

FAST = 6000  # calls per minute: keeps the client's own pacing out of these tests


def test_cin7_knows_an_active_product_by_its_exact_sku(cin7_sim: Any) -> None:
    source = Cin7Orders(Cin7CoreClient(cin7_sim.url, DEMO_ACCOUNT_ID, DEMO_APPLICATION_KEY,
                                       rate_per_minute=FAST), NORTHWIND)
    prefix = LONG_SKU[:10]  # the Sku filter matches a prefix: a prefix alone is no product
    found = source.existing_skus([LONG_SKU, LONG_SKU.lower(), prefix, DEPRECATED_SKU, "GHOST-1"])
    assert found == {LONG_SKU, LONG_SKU.lower()}


def test_bluecherry_knows_an_active_sku_through_its_style(bluecherry_sim: Any) -> None:
    source = BlueCherryOrders(BlueCherryClient(bluecherry_sim.url, DEMO_SUBSCRIPTION_KEY, rate_per_minute=FAST),
                              NORTHWIND)
    inactive = next(row["sku"] for row in bluecherry_sim.state.skus() if row["style"] == INACTIVE_STYLE)
    unknown_style = "99999-RED-L"
    found = source.existing_skus([EMPTY_DESCRIPTION_SKU, inactive, unknown_style, "10005-RED-XXXL", "NOSTYLE"])
    assert found == {EMPTY_DESCRIPTION_SKU}


def test_bluecherry_style_candidates() -> None:
    assert style_candidates("10005-RED-L") == ["10005"]
    assert style_candidates("AB-10-RED-L") == ["AB", "AB-10"]
    assert style_candidates("NOSTYLE") == []
