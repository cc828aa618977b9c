"""Property: whatever order Peoplevox's stock news arrives in, Cin7 Core ends holding what Peoplevox counts.

Hypothesis draws a trading day on the simulated Peoplevox floor — goods in, counts, write-offs, damaged stock to
quarantine, on several SKUs — interleaved with inventory sync runs. Each run sees the stock callbacks shuffled, some
duplicated and some dropped (they are only wake-ups), and the Item movement history with its rows shuffled and
repeated, through windows that overlap and are backfilled out of order. History Ids have gaps (another item's
movements interleave). At the end Cin7 Core's own on-hand equals Peoplevox's counted stock for every SKU, and no
movement was applied twice (each History Id in at most one posted adjustment line).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erp_wms_simulators.peoplevox import Warehouse
from erp_wms_simulators.server import SimulatorStack
from erp_wms_sync.airflow.runtime import erp_client, wms_client
from erp_wms_sync.config import load_integration
from erp_wms_sync.demo import env_vars
from erp_wms_sync.domain import stock_movements as sm
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.inventory_sync import apply, collect
from erp_wms_sync.ledger.db import session_scope, upgrade
from erp_wms_sync.ledger.models import StockAdjustmentRecord, StockMovementRecord, WebhookInbox
from erp_wms_sync.webhooks import PEOPLEVOX
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e
SKUS = ("NWO-BOOT-10", "NWO-BOOT-11", "NWO-BAG-REG")
GAP_ITEM = "NWO-TEE-M"  # moves at the unmapped site: its History Ids are gaps in the mapped pairs' sequence
SITE, OTHER_SITE, CIN7_LOCATION = "MAIN", "RETURNS", "Main Warehouse"

operation = st.one_of(
    st.tuples(st.just("goods_in"), st.sampled_from(SKUS), st.integers(1, 30)),
    st.tuples(st.just("count"), st.sampled_from(SKUS), st.integers(0, 40)),
    st.tuples(st.just("write_off"), st.sampled_from(SKUS), st.integers(1, 5)),
    st.tuples(st.just("quarantine"), st.sampled_from(SKUS), st.integers(1, 5)),
    st.tuples(st.just("gap"), st.just(GAP_ITEM), st.integers(1, 3)),
    st.tuples(st.just("run"), st.just(""), st.integers(0, 2)),  # 0 now, 1 a backfill, 2 a repeated window
)


class Shuffled:
    """Peoplevox as a run sees it: the movement report's rows shuffled and some repeated; the rest unchanged."""

    def __init__(self, real: Any, rng: random.Random) -> None:
        self.real, self.rng = real, rng

    def get_report(self, report: str, *args: Any, **kwargs: Any) -> list[dict[str, str]]:
        rows = list(self.real.get_report(report, *args, **kwargs))
        if report == sm.MOVEMENT_REPORT:
            rows += [dict(r) for r in rows if self.rng.random() < 0.2]
            self.rng.shuffle(rows)
        return rows


def act(warehouse: Warehouse, kind: str, sku: str, n: int) -> None:
    held = sum(r["on_hand"] for r in warehouse.stock(sku, SITE) if r["location"] != "QUARANTINE")
    if kind == "goods_in":
        warehouse.goods_in(sku, n, SITE)
    elif kind == "count":
        warehouse.stock_count(sku, SITE, n)
    elif kind == "write_off" and held >= n:
        warehouse.adjust(sku, SITE, -n, reason="Damaged in store")
    elif kind == "quarantine":
        warehouse.adjust(sku, SITE, n, location="QUARANTINE")
    elif kind == "gap":
        warehouse.goods_in(sku, n, OTHER_SITE)


def seed_of(rng: random.Random) -> int:
    return rng.randrange(2**32)


def callbacks(url: str, stack: SimulatorStack, rng: random.Random) -> None:
    """The stock callbacks Peoplevox made, as the receiver would store them: shuffled, 10% twice, 30% dropped."""
    made = Warehouse(stack.peoplevox, "northwind").events(sm.INCREMENTAL_CHANGES)
    rows = [e for e in made if rng.random() >= 0.3]
    rows += [e for e in rows if rng.random() < 0.1]
    rng.shuffle(rows)
    with session_scope(url) as session:
        for n, event in enumerate(rows):
            body = "&".join(f"{key}={value}" for key, value in event.values.items())
            session.add(WebhookInbox(integration="northwind", source=PEOPLEVOX, event_type=sm.INCREMENTAL_CHANGES,
                                     body=body, dedupe_key=f"{seed_of(rng)}-{n}", entity_key="stock",
                                     status="received"))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(day=st.lists(operation, min_size=4, max_size=14), seed=st.integers(0, 2**16))
def test_cin7_ends_with_what_peoplevox_counts_whatever_the_arrival_order(day, seed, tmp_path_factory,
                                                                         monkeypatch) -> None:
    rng = random.Random(seed)
    integration = load_integration(ROOT / "include" / "integrations" / "northwind.yaml")
    with SimulatorStack() as stack:
        for name, value in env_vars(stack.describe()).items():
            monkeypatch.setenv(name, value)
        url = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}"
        monkeypatch.setenv("ERP_WMS_LEDGER_URL", url)
        upgrade(url)
        for sku in SKUS:  # both books agree before the day starts (go-live reconciles them first)
            stack.cin7core.set_stock(sku, CIN7_LOCATION, 0)
        warehouse = Warehouse(stack.peoplevox, "northwind")
        for code in (*SKUS, GAP_ITEM):
            stack.peoplevox.seed("northwind", "Item types", [{"ItemCode": code, "Name": code}])
        wms, erp = Shuffled(wms_client(integration), rng), erp_client(integration)
        start = datetime.now(UTC) - timedelta(minutes=5)

        def run(kind: int) -> None:
            now = datetime.now(UTC)
            window = {0: Window(start, now, "full"), 1: Window(start - timedelta(hours=1), start, "full"),
                      2: Window(start, now, "full")}[kind]
            ctx = RunContext(integration, "inventory_sync", f"manual__{now.isoformat()}", window, url)
            callbacks(url, stack, rng)
            collect.collect(ctx, wms)
            apply.apply(ctx, wms, erp)

        for kind, sku, n in day:
            if kind == "run":
                run(n)
            else:
                act(warehouse, kind, sku, n)
        run(0)

        for sku in SKUS:
            counted = sum(r["on_hand"] for r in warehouse.stock(sku, SITE) if r["location"] != "QUARANTINE")
            assert float(stack.cin7core.availability(sku, CIN7_LOCATION)["OnHand"]) == counted, (sku, day)
        with session_scope(url) as session:
            applied: list[int] = []
            for entry in session.query(StockAdjustmentRecord).filter_by(state="posted"):
                for line in entry.lines:
                    applied.extend(line["history_ids"])
            assert len(applied) == len(set(applied)), "a movement was applied twice"
            stale = session.query(StockMovementRecord).filter_by(state="stale").count()
        assert stale == 0
