"""Fixtures and helpers for the BlueCherry order, shipment, return and stock contract tests: a demo-seeded
state on the hand-driven test clock, its settings, and an in-process HTTP client of its app.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from erp_wms_simulators.bluecherry import BlueCherrySettings, BlueCherryState, create_app
from erp_wms_simulators.bluecherry.demo import DEMO_SUBSCRIPTION_KEY, seed_demo

with warnings.catch_warnings():  # starlette warns that its test client's httpx backend will change
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BC_HEADERS = {"Ocp-Apim-Subscription-Key": DEMO_SUBSCRIPTION_KEY}
BC_BASE = "/api/v1"


class BlueCherryApi:
    """Calls ``/api/v1`` of an in-process BlueCherry app with the demo key."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(BC_BASE + path, params=params, headers=BC_HEADERS)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(BC_BASE + path, json=body, headers=BC_HEADERS)

    def order(self, customer_po: str, lines: dict[str, int], warehouse: str = "NJ01", **extra: Any) -> Any:
        body = {"customerPo": customer_po, "division": "01", "customer": "SHOPIFY", "warehouse": warehouse,
                "lines": [{"sku": sku, "qty": qty} for sku, qty in lines.items()], **extra}
        return self.post("/orders", body)


def assert_bc_error(response: Any, status: int, code: str, *fragments: str) -> None:
    """A JSON error envelope with this status and code whose message contains every fragment."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    for fragment in fragments:
        assert fragment.lower() in body["error"]["message"].lower(), body
    assert "Traceback" not in response.text


@pytest.fixture
def bc_settings() -> BlueCherrySettings:
    return BlueCherrySettings()


@pytest.fixture
def bc_state(erp_clock: Any, bc_settings: BlueCherrySettings) -> BlueCherryState:
    state = BlueCherryState(clock=erp_clock, settings=bc_settings)
    seed_demo(state)
    return state


@pytest.fixture
def bc_api(bc_state: BlueCherryState) -> Iterator[BlueCherryApi]:
    with TestClient(create_app(bc_state)) as client:
        yield BlueCherryApi(client)
