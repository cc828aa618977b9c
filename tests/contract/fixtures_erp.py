"""Fixtures for the Cin7 Core and BlueCherry simulators: a hand-driven UTC clock, demo-seeded states,
and servers on free localhost ports (one per test, so every test starts from the demo data).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from erp_wms_simulators.bluecherry import BlueCherrySettings, BlueCherryState
from erp_wms_simulators.bluecherry import create_app as create_bluecherry_app
from erp_wms_simulators.bluecherry.demo import DEMO_SUBSCRIPTION_KEY
from erp_wms_simulators.bluecherry.demo import seed_demo as seed_bluecherry
from erp_wms_simulators.cin7core import Cin7CoreSettings, Cin7CoreState
from erp_wms_simulators.cin7core import create_app as create_cin7_app
from erp_wms_simulators.cin7core.demo import DEMO_ACCOUNT_ID, DEMO_APPLICATION_KEY
from erp_wms_simulators.cin7core.demo import seed_demo as seed_cin7
from erp_wms_simulators.server import ServerThread

CIN7_HEADERS = {"api-auth-accountid": DEMO_ACCOUNT_ID, "api-auth-applicationkey": DEMO_APPLICATION_KEY}
BLUECHERRY_HEADERS = {"Ocp-Apim-Subscription-Key": DEMO_SUBSCRIPTION_KEY}
START = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


class UtcClock:
    """An aware UTC clock the test moves by hand; ``sleep`` advances it (a fake ``time.sleep``)."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


@dataclass
class ErpSim:
    """One running ERP simulator with its state, settings and clock."""

    url: str  # the base URL a client is configured with
    root: str  # host root (for /_sim)
    app: FastAPI
    state: Any
    settings: Any
    clock: UtcClock


@pytest.fixture
def erp_clock() -> UtcClock:
    return UtcClock()


@pytest.fixture
def cin7_sim(erp_clock: UtcClock) -> Iterator[ErpSim]:
    state = Cin7CoreState(clock=erp_clock)
    seed_cin7(state)
    settings = Cin7CoreSettings()
    yield from _served(create_cin7_app(state, settings), "cin7core", "/ExternalApi/v2", state, settings, erp_clock)


@pytest.fixture
def bluecherry_sim(erp_clock: UtcClock) -> Iterator[ErpSim]:
    state = BlueCherryState(clock=erp_clock)
    seed_bluecherry(state)
    settings = BlueCherrySettings()
    yield from _served(create_bluecherry_app(state, settings), "bluecherry", "/api/v1", state, settings, erp_clock)


def _served(app: FastAPI, name: str, base_path: str, state: Any, settings: Any, clock: UtcClock) -> Iterator[ErpSim]:
    """``app`` running on a free localhost port for one test; clients use the URL ending in ``base_path``."""
    with ServerThread(app, name=f"{name}-test") as server:
        yield ErpSim(server.url + base_path, server.url, app, state, settings, clock)
