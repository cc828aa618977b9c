"""order_amendments with fake clients and a SQLite ledger: the staged amendments and cancellations of a run reach
Peoplevox line by line, and an amendment Peoplevox did not take is tried again from its exception."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from erp_wms_sync.connectors.peoplevox_soap import RecordOutcome
from erp_wms_sync.flows import order_amendments
from erp_wms_sync.flows import order_release as flow
from erp_wms_sync.flows.order_release.staging import Stage, Verdict
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope
from tests.unit.order_fakes import FakeErp, FakeWms, context, ledger, open_types, order


class StatusWms(FakeWms):
    """A fake Peoplevox that, like the real one, keeps the Status a SaveData sets (the plain fake resets it)."""

    def save_sales_orders(self, rows: Sequence[Mapping[str, str]]) -> list[RecordOutcome]:
        outcome = super().save_sales_orders(rows)
        for row in rows:
            self.headers[row["SalesOrderNumber"]]["Status"] = row.get("Status") or "New"
        return outcome


def run(url: str, run_id: str, erp: FakeErp, wms: FakeWms) -> dict[str, Any]:
    ctx = context(url, run_id)
    flow.fetch(ctx, erp)
    flow.check(ctx, wms)
    flow.release(ctx, wms)
    return order_amendments.amend(ctx, wms)


def quantities(wms: FakeWms, number: str) -> dict[str, tuple[str, str]]:
    return {line: (row["ItemCode"], row["QuantityOrdered"]) for (n, line), row in wms.lines.items() if n == number}


def test_the_same_sku_on_two_lines_keeps_both_quantities(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    erp, wms = FakeErp([order("SO-1", (("A", 1), ("A", 4)), updated="2026-11-22T10:00:00+00:00")]), FakeWms()
    run(url, "r1", erp, wms)
    assert quantities(wms, "SO-1") == {"1": ("A", "1"), "2": ("A", "4")}

    erp.orders["id-SO-1"] = order("SO-1", (("A", 3), ("A", 4)), updated="2026-11-22T11:00:00+00:00")
    counts = run(url, "r2", erp, wms)
    assert counts["update"] == 1 and counts[order_amendments.UNVERIFIED] == 0
    assert quantities(wms, "SO-1") == {"1": ("A", "3"), "2": ("A", "4")}
    with session_scope(url) as s:
        record = repo.order_records(s, "northwind", ["id-SO-1"])["id-SO-1"]
        assert [i["QuantityOrdered"] for i in (record.payload or {})["items"]] == ["3", "4"]
        rows = Stage("northwind", "order_release", "r2").rows(s)
        assert [r.verdict for r in rows] == [Verdict.DONE], "the staged amendment is marked done"


def test_a_cancellation_in_the_erp_cancels_the_order_in_peoplevox(tmp_path: Path) -> None:
    from erp_wms_sync.domain.orders import OrderState

    url = ledger(tmp_path)
    erp, wms = FakeErp([order("SO-1", updated="2026-11-22T10:00:00+00:00")]), StatusWms()
    run(url, "r1", erp, wms)
    erp.orders["id-SO-1"] = order("SO-1", updated="2026-11-22T11:00:00+00:00", state=OrderState.CANCELLED,
                                  erp_status="VOIDED")
    counts = run(url, "r2", erp, wms)
    assert counts["cancel"] == 1 and wms.headers["SO-1"]["Status"] == "Cancelled"
    with session_scope(url) as s:
        assert repo.order_records(s, "northwind", ["id-SO-1"])["id-SO-1"].state == "cancelled"


def test_an_amendment_peoplevox_did_not_take_is_held_and_tried_again(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    erp, wms = FakeErp([order("SO-1", (("A", 1), ("B", 2)), updated="2026-11-22T10:00:00+00:00")]), FakeWms()
    run(url, "r1", erp, wms)
    erp.orders["id-SO-1"] = order("SO-1", (("A", 5), ("B", 2)), updated="2026-11-22T11:00:00+00:00")
    wms.refuse_lines.add(("SO-1", "1"))
    counts = run(url, "r2", erp, wms)
    assert counts[order_amendments.UNVERIFIED] == 1
    assert open_types(url) == {"SO-1": ["amendment_held"]}
    assert quantities(wms, "SO-1")["1"] == ("A", "1"), "Peoplevox still has the old quantity"
    with session_scope(url) as s:
        record = repo.order_records(s, "northwind", ["id-SO-1"])["id-SO-1"]
        assert [i["QuantityOrdered"] for i in (record.payload or {})["items"]] == ["1", "2"], "not recorded as applied"

    listed = erp.orders.pop("id-SO-1")  # the ERP no longer lists it in the window: only the exception remains
    counts = run(url, "r3", erp, wms)
    assert counts["update"] == 1 and open_types(url) == {}
    assert quantities(wms, "SO-1")["1"] == ("A", "5")
    with session_scope(url) as s:
        record = repo.order_records(s, "northwind", ["id-SO-1"])["id-SO-1"]
        assert [i["QuantityOrdered"] for i in (record.payload or {})["items"]] == ["5", "2"]
        assert record.erp_updated == listed.updated
