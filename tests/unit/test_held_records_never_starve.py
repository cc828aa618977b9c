"""Records held on a person never keep new ones out of a run, and each held one is looked at again in turn.

A flow reads at most ``max_*_per_run`` records per run. Held despatches (an order the integration never released, a
cancelled order…) and held returns stay until someone acts; if they came first, a busy week of unresolved
exceptions would leave every new despatch unconfirmed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from erp_wms_sync.config import load_integration
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.dispatch_confirmation.check import check
from erp_wms_sync.ledger import repo, returns_repo
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import DespatchRecord, ReturnRecord

NORTHWIND = load_integration("include/integrations/northwind.yaml")
T0 = datetime(2026, 12, 1, 9, 0)


def limited(limit: int) -> RunContext:
    integration = NORTHWIND.model_copy(
        update={"dispatch": NORTHWIND.dispatch.model_copy(update={"max_despatches_per_run": limit})})
    end = datetime(2026, 12, 2, 12, 0)
    return RunContext(integration, "dispatch_confirmation", "scheduled__1", Window(end - timedelta(minutes=5), end,
                                                                                  "test"), "")


def despatch(number: str, state: str, hours: int) -> DespatchRecord:
    return DespatchRecord(integration="northwind", despatch_number=number, wms_order_number=f"HANDMADE-{number}",
                          state=state, despatched_at=T0 + timedelta(hours=hours), carrier="Royal Mail",
                          packages={"tracking": ["T1"]}, lines=[{"item_code": "NWO-BOOT-10", "quantity": 1}],
                          updated_at=T0 + timedelta(hours=hours))


def looked_at(url: str) -> set[str]:
    """Despatches the check has looked at: each one it checked has its open exception (the orders are unknown)."""
    with session_scope(url) as session:
        return {e.entity_key for e in repo.open_exceptions(session, "northwind", type_="despatch_for_unknown_order")}


def test_a_new_despatch_is_checked_before_held_ones_and_the_held_ones_take_turns(ledger_url: str) -> None:
    with session_scope(ledger_url) as session:  # five held, older than the new one, none looked at since
        session.add_all([despatch(f"D-HELD-{n}", "held", n) for n in range(5)] + [despatch("D-NEW", "new", 10)])
    run = limited(3)
    run = RunContext(run.integration, run.flow, run.run_id, run.window, ledger_url)

    first = check(run)
    assert first["checked"] == 3
    assert looked_at(ledger_url) == {"D-NEW", "D-HELD-0", "D-HELD-1"}, "the new one first, then the oldest held"

    check(RunContext(run.integration, run.flow, "scheduled__2", run.window, ledger_url))
    assert looked_at(ledger_url) == {"D-NEW", *(f"D-HELD-{n}" for n in range(5))}, \
        "the next run looks at the held ones not seen yet, not the same ones again"


def test_held_returns_come_after_every_other_open_return(ledger_url: str) -> None:
    with session_scope(ledger_url) as session:
        for n in range(4):
            session.add(ReturnRecord(integration="northwind", return_code=f"R-HELD-{n}", item_code="X", quantity=1,
                                     sellable=True, state="held", returned_at=T0 + timedelta(hours=n)))
        session.add(ReturnRecord(integration="northwind", return_code="R-NEW", item_code="X", quantity=1,
                                 sellable=True, state="new", returned_at=T0 + timedelta(hours=9)))
    with session_scope(ledger_url) as session:
        lines = returns_repo.lines_in_states(session, "northwind", returns_repo.OPEN_STATES, limit=2)
        assert [line.return_code for line in lines] == ["R-NEW", "R-HELD-0"]


def refused_then_fresh(url: str, waiting_state: str, fresh_state: str) -> None:
    """Three despatches Cin7 or BlueCherry refused a moment ago (each waits out its retry schedule), older than two
    that can go now (``D-FRESH-1``, ``D-FRESH-2``)."""
    waiting = [f"D-REFUSED-{n}" for n in range(3)]
    with session_scope(url) as session:
        session.add_all([despatch(n, waiting_state, i) for i, n in enumerate(waiting)]
                        + [despatch("D-FRESH-1", fresh_state, 8), despatch("D-FRESH-2", fresh_state, 9)])
        for number in waiting:
            repo.raise_exception(session, integration="northwind", flow="dispatch_confirmation", owner="ops",
                                 exc=repo.NewException("fulfilment_rejected", "despatch", number, "refused", {}, None),
                                 run_id="scheduled__0")


def at_limit(url: str, limit: int) -> RunContext:
    run = limited(limit)
    return RunContext(run.integration, run.flow, run.run_id, run.window, url)


def test_despatches_waiting_out_a_retry_never_take_a_ready_ones_place(ledger_url: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_wms_sync.flows.dispatch_confirmation import cin7

    refused_then_fresh(ledger_url, "confirming", "ready")
    sent: list[str] = []
    monkeypatch.setattr(cin7, "_confirm_one", lambda ctx, erp, number: sent.append(number) or "confirmed")
    monkeypatch.setattr(cin7, "update_tracking", lambda ctx, erp: 0)
    counts = cin7.confirm(at_limit(ledger_url, 2), erp=None)
    assert sent == ["D-FRESH-1", "D-FRESH-2"]
    assert counts["waiting_retry"] == 3


def test_a_bluecherry_batch_is_not_filled_with_despatches_waiting_out_a_retry(ledger_url: str,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_wms_sync.flows.dispatch_confirmation import bluecherry

    refused_then_fresh(ledger_url, "batched", "batched")
    sent: list[str] = []
    monkeypatch.setattr(bluecherry, "post_one", lambda ctx, erp, number: sent.append(number))
    counts = bluecherry.post_batch(at_limit(ledger_url, 2), erp=None, force=True)
    assert sent == ["D-FRESH-1", "D-FRESH-2"]
    assert counts["posted"] == 2 and counts["waiting_retry"] == 3


def test_new_stock_movements_are_checked_before_held_ones(ledger_url: str) -> None:
    """Movements of a pair held on a person (an unmapped SKU) never keep a new problem from being seen."""
    from erp_wms_sync.flows.inventory_sync.check import check as check_movements
    from erp_wms_sync.ledger.models import StockMovementRecord

    def movement(history_id: int, item: str, state: str) -> StockMovementRecord:
        return StockMovementRecord(integration="northwind", history_id=history_id, item_code=item, site="MAIN",
                                   from_location="", to_location="A1", quantity=1, counted_delta=1, kind="stock",
                                   state=state)

    with session_scope(ledger_url) as session:
        session.add_all([movement(n, "NWO-GHOST-OLD", "held") for n in range(1, 5)]
                        + [movement(10, "NWO-GHOST-NEW", "queued")])
    integration = NORTHWIND.model_copy(
        update={"stock": NORTHWIND.stock.model_copy(update={"max_movements_per_run": 2})})
    end = datetime(2026, 12, 2, 12, 0)
    counts = check_movements(RunContext(integration, "inventory_sync", "scheduled__1",
                                        Window(end - timedelta(minutes=5), end, "test"), ledger_url))
    assert counts["checked"] == 2
    with session_scope(ledger_url) as session:
        problems = {e.entity_key for e in repo.open_exceptions(session, "northwind")}
    assert any("NWO-GHOST-NEW" in key for key in problems), problems
