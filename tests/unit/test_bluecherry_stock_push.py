"""BlueCherry availability push: what is published (available stock in counted locations, to the first warehouse
of a site), that only changes go, that a batch keeps its Reference so a retry is never applied twice, and that a
limited or refusing gateway leaves the rest for the next run. Peoplevox and BlueCherry are small in-memory fakes;
the ledger is a throw-away SQLite database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from erp_wms_sync.config import Integration, load_integration
from erp_wms_sync.config_sections import LocationMap
from erp_wms_sync.connectors.bluecherry_records import BlueCherryAdjustment, BlueCherryStockRow
from erp_wms_sync.domain.stock_levels import StockLevel
from erp_wms_sync.domain.stock_sequencing import LocationRules
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.errors import ApiRejected, ApiUnavailable
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.inventory_sync import bluecherry as push
from erp_wms_sync.flows.inventory_sync.bluecherry import PushLine
from erp_wms_sync.ledger import repo, stock_repo
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import StockAdjustmentRecord

BLUEBIRD = load_integration("include/integrations/bluebird.yaml")
NOW = datetime(2026, 3, 2, 15, tzinfo=UTC)
RULES = LocationRules(("*",), ("QUARANTINE*",))
TEE, HOODIE, CAP = "10001-BLK-M", "10002-NAV-L", "10006-KHK-OS"


def level(item: str, site: str, location: str, on_hand: int, allocated: int = 0,
          available: int | None = None) -> StockLevel:
    return StockLevel(item, site, location, on_hand, allocated, on_hand - allocated if available is None else available)


def row(item: str, site: str, location: str, on_hand: int, allocated: int = 0) -> dict[str, str]:
    """An "Item inventory summary" row as the simulator writes it (Available is 0 outside pick locations)."""
    available = 0 if location.upper().startswith("QUARANTINE") else on_hand - allocated
    return {"Item code": item, "Site reference": site, "Location": location, "On hand": str(on_hand),
            "Allocated": str(allocated), "Available": str(available)}


class FakePeoplevox:
    def __init__(self, rows: Sequence[Mapping[str, str]] = ()) -> None:
        self.rows = [dict(r) for r in rows]
        self.reads = 0

    def get_report(self, name: str, **_: Any) -> list[dict[str, str]]:
        assert name == "Item inventory summary"
        self.reads += 1
        return [dict(r) for r in self.rows]


class FakeBlueCherry:
    """On-hand per SKU × warehouse; adjustments idempotent on their Reference, as the simulator answers them."""

    def __init__(self) -> None:
        self.on_hand: dict[tuple[str, str], int] = {}
        self.by_reference: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, dict[str, int]]] = []
        self.applied = 0
        self.limited: set[str] = set()  # warehouses whose posts the gateway keeps refusing (429 until give-up)
        self.refused: set[str] = set()  # warehouses whose posts are refused (400)
        self.lose_answer = 0  # this many posts are applied, then their answer is lost on the way back
        self.committed: dict[tuple[str, str], int] = {}  # allocated + picked, BlueCherry's own
        self.inventory_reads = 0

    def iter_inventory(self, warehouse: str | None = None, division: str | None = None,
                       updated_since: datetime | None = None) -> list[BlueCherryStockRow]:
        self.inventory_reads += 1
        pairs = sorted({*self.on_hand, *self.committed})
        return [BlueCherryStockRow(sku, wh, self.on_hand.get((sku, wh), 0), self.committed.get((sku, wh), 0), 0,
                                   self.on_hand.get((sku, wh), 0) - self.committed.get((sku, wh), 0), 0, 0, None)
                for sku, wh in pairs if warehouse in (None, wh)]

    def post_inventory_adjustment(self, reference: str, warehouse: str, reason: str, lines: Mapping[str, int], *,
                                  absolute: bool = False, comment: str = "") -> BlueCherryAdjustment:
        assert absolute and reason == "RECONCILIATION"
        self.calls.append((reference, warehouse, dict(lines)))
        if warehouse in self.limited:
            raise ApiUnavailable("bluecherry", "POST refused by the rate limit for 600s", status=429)
        if warehouse in self.refused:
            raise ApiRejected("bluecherry", f"Unknown warehouse '{warehouse}'.", status=400)
        created = reference not in self.by_reference
        if created:
            changes = []
            for sku, qty in lines.items():
                before = self.on_hand.get((sku, warehouse), 0)
                self.on_hand[(sku, warehouse)] = qty
                changes.append({"sku": sku, "qty": qty, "before": before, "after": qty})
            self.applied += 1
            self.by_reference[reference] = {"adjustmentNumber": f"ADJ-{len(self.by_reference) + 1}",
                                            "reference": reference, "warehouse": warehouse, "reason": reason,
                                            "lines": changes}
        if self.lose_answer:
            self.lose_answer -= 1
            raise ApiUnavailable("bluecherry", "read timed out")
        return BlueCherryAdjustment.from_raw(self.by_reference[reference], "adjustment", created)


@pytest.fixture
def ctx(ledger_url: str) -> RunContext:
    with session_scope(ledger_url) as session:
        for sku in (TEE, HOODIE, CAP):
            repo.upsert_catalogue_item(session, integration="bluebird", sku=sku, erp_status="ACTIVE",
                                       erp_modified_at=None)
    return context(ledger_url)


def context(url: str, integration: Integration = BLUEBIRD, run: str = "run-1") -> RunContext:
    return RunContext(integration, "inventory_sync", run, Window(NOW - timedelta(minutes=15), NOW, "test"), url)


def with_batch_size(integration: Integration, size: int) -> Integration:
    stock = integration.stock.model_copy(update={"max_lines_per_adjustment": size})
    return integration.model_copy(update={"stock": stock})


def open_problems(url: str) -> dict[str, set[str]]:
    with session_scope(url) as session:
        found: dict[str, set[str]] = {}
        for e in repo.open_exceptions(session, "bluebird"):
            found.setdefault(e.type, set()).add(e.entity_key)
        return found


# --- the computation ----------------------------------------------------------------------------------------
def test_only_available_stock_in_counted_locations_is_published() -> None:
    levels = [level(TEE, "NJ01", "A-01", 10, allocated=3), level(TEE, "NJ01", "B-02", 4),
              level(TEE, "NJ01", "QUARANTINE", 5, available=0), level(HOODIE, "NJ01", "QUARANTINE", 2),
              level(CAP, "CA02", "A-01", 1, allocated=3)]
    figures = push.available_to_sell(levels, RULES)
    assert figures[(TEE, "NJ01")] == 11, "allocated units and quarantine are not available to sell"
    assert figures[(HOODIE, "NJ01")] == 0, "stock only in quarantine is published as none"
    assert figures[(CAP, "CA02")] == 0, "over-allocated stock is published as 0, never negative"


def test_a_site_shared_by_several_warehouses_publishes_to_the_first() -> None:
    locations = [LocationMap(erp="NJ01", wms_site="EAST"), LocationMap(erp="NJ02", wms_site="east"),
                 LocationMap(erp="CA02", wms_site="WEST")]
    assert push.warehouse_for(locations, "EAST") == "NJ01"
    assert push.warehouse_for(locations, "WEST") == "CA02"
    assert push.warehouse_for(locations, "NORTH") is None


def test_only_figures_bluecherry_does_not_hold_are_due() -> None:
    lines = [PushLine(TEE, "NJ01", TEE, "NJ01", 5), PushLine(HOODIE, "NJ01", HOODIE, "NJ01", 0),
             PushLine(CAP, "CA02", CAP, "CA02", 2)]
    held = {(TEE, "NJ01"): (7, 2), (HOODIE, "NJ01"): (7, 0)}  # (on-hand, allocated + picked) in BlueCherry
    due = push.due_against(lines, held)
    # TEE: 5 available + 2 committed = 7, held already; HOODIE went 7 -> 0; CAP never in BlueCherry
    assert [(line.sku, line.quantity) for line in due] == [(CAP, 2), (HOODIE, 0)]


def test_a_batch_keeps_its_reference_and_a_return_to_an_earlier_figure_gets_a_new_one() -> None:
    a, b = PushLine(TEE, "NJ01", TEE, "NJ01", 5), PushLine(HOODIE, "NJ01", HOODIE, "NJ01", 2)
    first = push.reference_for("bluebird", "NJ01", [a, b])
    assert first == push.reference_for("bluebird", "NJ01", [b, a]), "the order of the lines does not matter"
    assert len(first) <= 100 and first.startswith("ATS-bluebird-NJ01-")
    assert first != push.reference_for("bluebird", "CA02", [a, b])
    assert first != push.reference_for("bluebird", "NJ01", [a, PushLine(HOODIE, "NJ01", HOODIE, "NJ01", 3)])
    back_again = PushLine(TEE, "NJ01", TEE, "NJ01", 5, previous_ref="ATS-bluebird-NJ01-earlier")
    assert push.reference_for("bluebird", "NJ01", [a]) != push.reference_for("bluebird", "NJ01", [back_again])


def test_batches_hold_one_warehouse_and_at_most_the_configured_lines() -> None:
    lines = [PushLine(f"S{n}", "NJ01", f"S{n}", "NJ01", n) for n in range(5)] + [PushLine("X", "CA02", "X", "CA02", 1)]
    got = [(warehouse, [line.sku for line in batch]) for warehouse, batch in push.batches(lines, 2)]
    assert got == [("CA02", ["X"]), ("NJ01", ["S0", "S1"]), ("NJ01", ["S2", "S3"]), ("NJ01", ["S4"])]


# --- the flow -----------------------------------------------------------------------------------------------
def test_changes_are_pushed_once_per_warehouse_and_a_rerun_pushes_nothing(ctx: RunContext) -> None:
    wms = FakePeoplevox([row(TEE, "NJ01", "A-01", 12, allocated=2), row(TEE, "NJ01", "QUARANTINE", 3),
                         row(HOODIE, "NJ01", "A-02", 4), row(CAP, "CA02", "A-01", 6)])
    erp = FakeBlueCherry()
    first = push.push_availability(ctx, wms, erp)
    assert erp.on_hand == {(TEE, "NJ01"): 10, (HOODIE, "NJ01"): 4, (CAP, "CA02"): 6}
    assert [(warehouse, sorted(lines)) for _, warehouse, lines in erp.calls] == [("CA02", [CAP]),
                                                                                 ("NJ01", [TEE, HOODIE])]
    assert first["adjustments_posted"] == 2 and first["adjustment_lines"] == 3
    assert wms.reads == 1

    push.push_availability(context(ctx.ledger_url or "", run="run-2"), wms, erp)
    assert len(erp.calls) == 2, "nothing changed in Peoplevox: nothing is pushed"

    wms.rows[3] = row(CAP, "CA02", "A-01", 2)
    push.push_availability(context(ctx.ledger_url or "", run="run-3"), wms, erp)
    assert erp.calls[-1][1:] == ("CA02", {CAP: 2}) and len(erp.calls) == 3, "only the changed figure goes"
    with session_scope(ctx.ledger_url) as session:
        position = stock_repo.positions(session, "bluebird", [(CAP, "CA02")])[(CAP, "CA02")]
        assert (position.erp_quantity, position.wms_counted, position.erp_location) == (2, 2, "CA02")
        assert session.query(StockAdjustmentRecord).filter_by(state="posted").count() == 3


def test_bluecherry_available_equals_peoplevox_and_its_own_bookings_are_corrected(ctx: RunContext) -> None:
    """BlueCherry subtracts its own allocations: they are added back to the on-hand published, so its available is
    Peoplevox's; a shipment BlueCherry booked itself (on-hand down) is corrected by the next run."""
    wms, erp = FakePeoplevox([row(TEE, "NJ01", "A-01", 10)]), FakeBlueCherry()
    erp.committed[(TEE, "NJ01")] = 3  # BlueCherry holds 3 allocated for an open order
    push.push_availability(ctx, wms, erp)
    assert erp.on_hand[(TEE, "NJ01")] == 13  # BlueCherry's available: 13 - 3 = Peoplevox's 10
    push.push_availability(context(ctx.ledger_url or "", run="run-2"), wms, erp)
    assert erp.applied == 1, "BlueCherry already holds it: nothing pushed"
    erp.on_hand[(TEE, "NJ01")] -= 3  # BlueCherry ships the order itself: on-hand and allocation go down
    erp.committed[(TEE, "NJ01")] = 0
    push.push_availability(context(ctx.ledger_url or "", run="run-3"), wms, erp)
    assert erp.applied == 1 and erp.on_hand[(TEE, "NJ01")] == 10, "available 10 = Peoplevox's: nothing to fix"
    erp.on_hand[(TEE, "NJ01")] = 4  # someone booked stock in BlueCherry by hand
    push.push_availability(context(ctx.ledger_url or "", run="run-4"), wms, erp)
    assert erp.applied == 2 and erp.on_hand[(TEE, "NJ01")] == 10


def test_stock_that_leaves_the_report_is_published_as_zero(ctx: RunContext) -> None:
    wms, erp = FakePeoplevox([row(TEE, "NJ01", "A-01", 3)]), FakeBlueCherry()
    push.push_availability(ctx, wms, erp)
    wms.rows = []  # the last units left: Peoplevox lists the bin no more
    push.push_availability(context(ctx.ledger_url or "", run="run-2"), wms, erp)
    assert erp.on_hand[(TEE, "NJ01")] == 0


def test_going_back_to_an_earlier_figure_is_applied_again(ctx: RunContext) -> None:
    wms, erp = FakePeoplevox([row(TEE, "NJ01", "A-01", 5)]), FakeBlueCherry()
    for run, figure in enumerate((5, 3, 5)):
        wms.rows = [row(TEE, "NJ01", "A-01", figure)]
        push.push_availability(context(ctx.ledger_url or "", run=f"run-{run}"), wms, erp)
    assert erp.applied == 3 and erp.on_hand[(TEE, "NJ01")] == 5


def test_unreadable_rows_and_unknown_skus_hold_their_pairs(ctx: RunContext) -> None:
    bad = {**row(HOODIE, "NJ01", "A-02", 4), "Available": "four"}
    wms = FakePeoplevox([row(TEE, "NJ01", "A-01", 7), row(HOODIE, "NJ01", "A-01", 2), bad,
                         row("NOT-IN-ERP", "NJ01", "A-03", 9)])
    erp = FakeBlueCherry()
    out = push.push_availability(ctx, wms, erp)
    assert erp.on_hand == {(TEE, "NJ01"): 7}, "no partial figure for the hoodie, nothing for an unknown SKU"
    problems = open_problems(ctx.ledger_url or "")
    assert problems["invalid_stock_movement"] == {f"{HOODIE}|NJ01"}
    assert problems["unmapped_sku"] == {"NOT-IN-ERP|NJ01"}
    assert out["new_problems"] == 2

    wms.rows[2] = row(HOODIE, "NJ01", "A-02", 4)  # the row reads again
    push.push_availability(context(ctx.ledger_url or "", run="run-2"), wms, erp)
    assert erp.on_hand[(HOODIE, "NJ01")] == 6
    assert "invalid_stock_movement" not in open_problems(ctx.ledger_url or "")


def test_an_answer_lost_after_bluecherry_applied_it_is_settled_by_the_same_reference(ctx: RunContext) -> None:
    wms, erp = FakePeoplevox([row(TEE, "NJ01", "A-01", 8)]), FakeBlueCherry()
    erp.lose_answer = 1
    push.push_availability(ctx, wms, erp)
    with session_scope(ctx.ledger_url) as session:
        (entry,) = stock_repo.open_journal(session, "bluebird")
        reference = entry.reference
    assert open_problems(ctx.ledger_url or "")["failed_stock_increment"] == {f"{TEE}|NJ01"}

    out = push.push_availability(context(ctx.ledger_url or "", run="run-2"), wms, erp)
    assert [call[0] for call in erp.calls] == [reference, reference], "sent again under the same Reference"
    assert erp.applied == 1, "BlueCherry answered the repeat unchanged: applied once"
    assert out["adjustments_resent"] == 1 and out["adjustments_posted"] == 0
    assert "failed_stock_increment" not in open_problems(ctx.ledger_url or "")
    with session_scope(ctx.ledger_url) as session:
        assert stock_repo.open_journal(session, "bluebird") == []


def test_a_limited_gateway_leaves_the_rest_for_the_next_run(ctx: RunContext) -> None:
    wms = FakePeoplevox([row(CAP, "CA02", "A-01", 6), row(TEE, "NJ01", "A-01", 1), row(HOODIE, "NJ01", "A-01", 2)])
    erp = FakeBlueCherry()
    erp.limited = {"CA02"}
    out = push.push_availability(context(ctx.ledger_url or "", with_batch_size(BLUEBIRD, 1)), wms, erp)
    assert len(erp.calls) == 1 and erp.on_hand == {}, "the first batch was limited: nothing else was tried"
    assert out["lines_left_for_next_run"] == 2 and out["failed_pairs"] == 1
    assert open_problems(ctx.ledger_url or "")["failed_stock_increment"] == {f"{CAP}|CA02"}

    erp.limited = set()
    push.push_availability(context(ctx.ledger_url or "", with_batch_size(BLUEBIRD, 1), run="run-2"), wms, erp)
    assert erp.on_hand == {(CAP, "CA02"): 6, (TEE, "NJ01"): 1, (HOODIE, "NJ01"): 2}
    assert "failed_stock_increment" not in open_problems(ctx.ledger_url or "")


def test_a_refused_warehouse_never_holds_back_another(ctx: RunContext) -> None:
    wms = FakePeoplevox([row(CAP, "CA02", "A-01", 6), row(TEE, "NJ01", "A-01", 1)])
    erp = FakeBlueCherry()
    erp.refused = {"CA02"}
    push.push_availability(ctx, wms, erp)
    assert erp.on_hand == {(TEE, "NJ01"): 1}
    assert open_problems(ctx.ledger_url or "")["failed_stock_increment"] == {f"{CAP}|CA02"}
    assert len(erp.calls) == 2, "the refused batch is not sent twice in one run"

    erp.refused = set()
    push.push_availability(context(ctx.ledger_url or "", run="run-2"), wms, erp)
    assert erp.on_hand[(CAP, "CA02")] == 6
    assert "failed_stock_increment" not in open_problems(ctx.ledger_url or "")
