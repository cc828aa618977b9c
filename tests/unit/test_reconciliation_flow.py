"""Reconciliation against fakes: the stock snapshots (hostile answers), the ledger history, the report, the flow's
exceptions and proposals, and the approval path (idempotent, crash-safe)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from erp_wms_sync.config import load_integration
from erp_wms_sync.connectors.cin7core_stock import Cin7Availability, StockLine
from erp_wms_sync.domain.stock_levels import StockLevel
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.errors import ApiUnavailable, DataCheckFailed
from erp_wms_sync.flows import reconciliation as flow
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.reconciliation import compare, report, stock
from erp_wms_sync.flows.reconciliation.apply import apply_proposals, decide
from erp_wms_sync.ledger import reconciliation_repo as rrepo
from erp_wms_sync.ledger import repo, stock_repo
from erp_wms_sync.ledger.db import session_scope

NORTHWIND = load_integration("include/integrations/northwind.yaml")
NOW = datetime(2026, 12, 3, 2, 30, tzinfo=UTC)


def pv_row(item: str, site: str, location: str, on_hand: int) -> dict[str, str]:
    return {"Item code": item, "Site reference": site, "Location": location, "On hand": str(on_hand),
            "Allocated": "0", "Available": str(on_hand)}


class FakePeoplevox:
    """The "Item inventory summary", whole or by ``[Item code].Equals(...)`` clauses (recorded)."""

    def __init__(self, rows: list[dict[str, str]], items: set[str] | None = None) -> None:
        self.rows = rows
        self.clauses: list[str] = []
        self.items = items if items is not None else {r["Item code"] for r in rows}  # its Item types

    def iter_item_types(self, search_clause: str = "") -> Iterator[dict[str, str]]:
        wanted = {code.casefold() for code in re.findall(r'"([^"]*)"', search_clause)}
        yield from ({"ItemCode": code} for code in sorted(self.items) if code.casefold() in wanted)

    def get_report(self, name: str, search_clause: str = "", **_: Any) -> list[dict[str, str]]:
        assert name == "Item inventory summary"
        self.clauses.append(search_clause)
        wanted = set(re.findall(r'\[Item code\]\.Equals\("([^"]*)"\)', search_clause))
        return [dict(r) for r in self.rows if not search_clause or r["Item code"] in wanted]


@dataclass
class Posted:
    task_id: str
    reference: str
    status: str
    lines: tuple[Any, ...]


@dataclass
class FakeCin7:
    """Cin7 Core stock per (sku, location, bin); absolute adjustments, findable by Reference."""

    stock: dict[tuple[str, str, str], Decimal] = field(default_factory=dict)
    posts: list[Posted] = field(default_factory=list)
    fail_next_post: bool = False

    def iter_availability(self, *, location: str | None = None, sku: str | None = None) -> Iterator[Cin7Availability]:
        for (s, loc, bin_), quantity in sorted(self.stock.items()):
            if (sku is None or s == sku) and (location is None or loc == location):
                yield Cin7Availability("id-" + s, s, loc, bin_, "", quantity, Decimal(0), quantity, Decimal(0))

    def post_stock_adjustment(self, lines: list[StockLine], *, reference: str, effective_date: datetime) -> Posted:
        for line in lines:
            for key in [k for k in self.stock if k[0] == line.sku and k[1] == line.location]:
                del self.stock[key]
            self.stock[(line.sku, line.location, "")] = line.quantity
        answer = Posted(f"task-{len(self.posts) + 1}", reference, "COMPLETED",
                        tuple(_AnswerLine(line.sku, line.location) for line in lines))
        self.posts.append(answer)
        if self.fail_next_post:  # the post reached Cin7, the answer never came back
            self.fail_next_post = False
            raise ApiUnavailable("cin7core", "the connection dropped before the answer")
        return answer

    def find_stock_adjustments(self, reference: str) -> list[Posted]:
        return [p for p in self.posts if p.reference == reference]


@dataclass(frozen=True)
class _AnswerLine:
    sku: str
    location: str
    product_id: str = ""
    batch: str = ""


def context(url: str, run: str = "night-1", end: datetime = NOW) -> RunContext:
    return RunContext(NORTHWIND, "reconciliation", run, Window(end - timedelta(days=1), end, "test"), url)


@pytest.fixture(autouse=True)
def no_other_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Orders, returns and items are compared by their own module (tested on its own): nothing found here."""
    empty = pd.DataFrame(columns=["section", "kind", "key", "erp_value", "wms_value", "summary", "exception_type",
                                  "entity_type", "entity_key"])
    monkeypatch.setattr(compare, "_finder", lambda section: lambda *args: empty)


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ERP_WMS_REPORTS_DIR", str(tmp_path / "reports"))
    return tmp_path / "reports"


# --- snapshots ----------------------------------------------------------------------------------------------------
def test_cin7_snapshot_sums_bins_keeps_mapped_locations_and_refuses_fractions() -> None:
    cin7 = FakeCin7({("A", "Main Warehouse", "B1"): Decimal(3), ("A", "Main Warehouse", "B2"): Decimal(4),
                     ("B", "Unmapped Store", ""): Decimal(9), ("C", "Main Warehouse", ""): Decimal("1.5")})
    problems: list[stock.Problem] = []
    frame = stock.erp_stock(NORTHWIND, cin7, problems=problems)
    assert frame.to_dict("records") == [{"sku": "A", "location": "Main Warehouse", "on_hand": 7}]
    assert [(p.sku, "whole number" in p.reason) for p in problems] == [("C", True)]


def test_wms_snapshot_counts_sellable_locations_and_lists_unreadable_rows() -> None:
    rows = [pv_row("A", "MAIN", "A-01", 5), pv_row("A", "MAIN", "QUARANTINE", 2), pv_row("A", "MAIN", "A-02", 1),
            pv_row("B", "MAIN", "A-01", 3), pv_row("B", "MAIN", "A-01", 4),  # the same bin twice, other figures
            pv_row("C", "NOWHERE", "A-01", 1), {**pv_row("D", "MAIN", "A-01", 1), "On hand": "lots"}]
    frame, problems = stock.wms_stock(NORTHWIND, FakePeoplevox(rows))
    assert frame.to_dict("records") == [{"sku": "A", "location": "Main Warehouse", "on_hand": 6}]
    reasons = " ".join(p.reason for p in problems)
    assert {p.sku for p in problems if p.sku} == {"B", "D"}
    assert "not mapped" in reasons and "NOWHERE" in {p.location for p in problems}


def test_a_pair_with_an_unreadable_row_is_compared_on_neither_side(ledger_url: str) -> None:
    rows = [pv_row("B", "MAIN", "A-01", 3), pv_row("B", "MAIN", "A-01", 4), pv_row("A", "MAIN", "A-01", 2)]
    cin7 = FakeCin7({("B", "Main Warehouse", ""): Decimal(1), ("A", "Main Warehouse", ""): Decimal(2)})
    snap = stock.read_once(context(ledger_url), FakePeoplevox(rows), cin7, NOW)
    assert set(snap.erp["sku"]) == {"A"} and set(snap.wms["sku"]) == {"A"}


def test_in_flight_is_the_queue_not_yet_in_the_erp(ledger_url: str) -> None:
    with session_scope(ledger_url) as session:
        stock_repo.insert_movements(session, "northwind", [
            {"history_id": 1, "item_code": "A", "site": "MAIN", "quantity": 5, "counted_delta": 5, "kind": "stock"},
            {"history_id": 2, "item_code": "A", "site": "MAIN", "quantity": 2, "counted_delta": -2, "kind": "stock"},
            {"history_id": 3, "item_code": "B", "site": "MAIN", "quantity": 4, "counted_delta": 4, "kind": "stock"}])
        stock_repo.set_movement_state(session, [r.id for r in stock_repo.movements_in_states(
            session, "northwind", ("queued",)) if r.history_id == 3], "applied")
        flying = stock.in_flight(session, NORTHWIND)
    assert flying.groupby(["sku", "location"])["quantity"].sum().to_dict() == {("A", "Main Warehouse"): 3}


# --- the flow -----------------------------------------------------------------------------------------------------
def night(url: str, wms: FakePeoplevox, cin7: FakeCin7, run: str, end: datetime = NOW) -> dict[str, Any]:
    ctx = context(url, run, end)
    compared = flow.snapshot_and_compare(ctx, wms, cin7, now=end)
    proposed = flow.propose_and_apply(ctx, cin7)
    try:
        flow.data_check(ctx)
        verdict = "green"
    except DataCheckFailed:
        verdict = "red"
    return {"compared": compared, "proposed": proposed, "verdict": verdict}


def test_a_breach_is_one_exception_one_alert_a_pending_proposal_and_a_report(ledger_url: str, reports: Path) -> None:
    wms = FakePeoplevox([pv_row("A", "MAIN", "A-01", 10), pv_row("B", "MAIN", "A-01", 4)])
    cin7 = FakeCin7({("A", "Main Warehouse", ""): Decimal(13), ("B", "Main Warehouse", ""): Decimal(4)})
    first = night(ledger_url, wms, cin7, "night-1")
    assert first["verdict"] == "red" and first["proposed"]["proposals"] == 1
    second = night(ledger_url, wms, cin7, "night-2", NOW + timedelta(days=1))
    assert second["verdict"] == "green"  # the same breach: still open, no second alert
    with session_scope(ledger_url) as session:
        open_ = repo.open_exceptions(session, "northwind", type_="stock_variance")
        pending = rrepo.proposals(session, "northwind", states=["pending"])
        superseded = rrepo.proposals(session, "northwind", states=["superseded"])
    assert [e.entity_key for e in open_] == ["A|Main Warehouse"]
    assert [(p.sku, p.erp_on_hand, p.set_to, p.change) for p in pending] == [("A", 13, 10, -3)]
    assert len(superseded) == 1
    folder = Path(second["proposed"]["report"])
    html = (folder / "report.html").read_text()
    assert "A" in html and "<svg" in html and "Main Warehouse" in html
    assert pd.read_csv(folder / "stock.csv")["variance"].tolist() == [3]

    ids = [p.id for p in pending]
    decide(NORTHWIND, lambda: session_scope(ledger_url), ids, "approved", by="finance lead", note=None)
    result = apply_proposals(NORTHWIND, lambda: session_scope(ledger_url), cin7, ids, by="finance lead")
    again = apply_proposals(NORTHWIND, lambda: session_scope(ledger_url), cin7, ids, by="finance lead")
    assert (result.applied, again.applied, len(cin7.posts)) == (1, 0, 1)  # approved twice: one adjustment
    third = night(ledger_url, wms, cin7, "night-3", NOW + timedelta(days=2))
    assert third["verdict"] == "green" and third["compared"]["breaches"] == 0
    with session_scope(ledger_url) as session:
        assert repo.open_exceptions(session, "northwind", type_="stock_variance") == []


def test_stock_of_an_item_peoplevox_does_not_have_is_an_item_gap_not_a_variance(ledger_url: str,
                                                                                reports: Path) -> None:
    """The ERP holds stock of NEW, which Peoplevox has no Item type for yet: no variance, no proposal to wipe it
    (the items section reports the gap); EMPTY is an Item type with no stock left in Peoplevox: a real variance."""
    wms = FakePeoplevox([pv_row("A", "MAIN", "A-01", 10)], items={"A", "EMPTY"})
    cin7 = FakeCin7({("A", "Main Warehouse", ""): Decimal(10), ("NEW", "Main Warehouse", ""): Decimal(25),
                     ("EMPTY", "Main Warehouse", ""): Decimal(2)})
    first = night(ledger_url, wms, cin7, "night-1")
    with session_scope(ledger_url) as session:
        variances = [e.entity_key for e in repo.open_exceptions(session, "northwind", type_="stock_variance")]
        pending = [(p.sku, p.set_to) for p in rrepo.proposals(session, "northwind", states=["pending"])]
    assert variances == ["EMPTY|Main Warehouse"] and pending == [("EMPTY", 0)]
    with session_scope(ledger_url) as session:
        summary = rrepo.run_of(session, "northwind", "night-1").summary
    problems = summary["problems"]
    assert [(p["sku"], p["location"]) for p in problems] == [("NEW", "Main Warehouse")]
    assert first["compared"]["sections"]["stock"] == "compared"
    assert "no Item type NEW" in problems[0]["reason"]


def test_auto_apply_corrects_the_erp_in_the_run(ledger_url: str, reports: Path) -> None:
    settings = NORTHWIND.reconciliation.model_copy(update={"auto_apply_adjustments": True})
    integration = NORTHWIND.model_copy(update={"reconciliation": settings})
    wms = FakePeoplevox([pv_row("A", "MAIN", "A-01", 10)])
    cin7 = FakeCin7({("A", "Main Warehouse", ""): Decimal(7)})
    ctx = RunContext(integration, "reconciliation", "night-1", Window(NOW - timedelta(days=1), NOW, "test"),
                     ledger_url)
    flow.snapshot_and_compare(ctx, wms, cin7, now=NOW)
    out = flow.propose_and_apply(ctx, cin7)
    assert out["applied"] == 1 and cin7.stock[("A", "Main Warehouse", "")] == 10


def test_a_crash_after_the_journal_is_found_by_reference_not_posted_twice(ledger_url: str, reports: Path) -> None:
    wms = FakePeoplevox([pv_row("A", "MAIN", "A-01", 10)])
    cin7 = FakeCin7({("A", "Main Warehouse", ""): Decimal(12)})
    night(ledger_url, wms, cin7, "night-1")
    sessions = lambda: session_scope(ledger_url)  # noqa: E731
    ids = decide(NORTHWIND, sessions, None, "approved", by="ops", note="count checked")
    cin7.fail_next_post = True
    crashed = apply_proposals(NORTHWIND, sessions, cin7, ids, by="ops")
    assert crashed.applied == 0 and "look it up by its Reference" in crashed.refused[0]
    with session_scope(ledger_url) as session:
        assert stock_repo.open_journal(session, "northwind")[0].reference.startswith("WMS-RECON-northwind-")
    result = apply_proposals(NORTHWIND, sessions, cin7, ids, by="ops")
    assert (result.applied, result.adopted, len(cin7.posts)) == (1, 1, 1)
    with session_scope(ledger_url) as session:
        assert rrepo.proposals(session, "northwind", ids=ids)[0].state == "applied"


def test_a_pair_that_moved_since_the_proposal_is_refused_with_why(ledger_url: str, reports: Path) -> None:
    wms = FakePeoplevox([pv_row("A", "MAIN", "A-01", 10)])
    cin7 = FakeCin7({("A", "Main Warehouse", ""): Decimal(12)})
    night(ledger_url, wms, cin7, "night-1")
    sessions = lambda: session_scope(ledger_url)  # noqa: E731
    ids = decide(NORTHWIND, sessions, None, "approved", by="ops", note=None)
    cin7.stock[("A", "Main Warehouse", "")] = Decimal(11)
    result = apply_proposals(NORTHWIND, sessions, cin7, ids, by="ops")
    assert result.applied == 0 and "is now 11, the proposal saw 12" in result.refused[0] and not cin7.posts


def test_the_position_moves_with_the_correction(ledger_url: str, reports: Path) -> None:
    with session_scope(ledger_url) as session:
        stock_repo.upsert_position(session, "northwind", "A", "MAIN", last_history_id=40, wms_counted=12,
                                   erp_sku="A", erp_location="Main Warehouse", erp_quantity=12, adjustment_ref="x")
    wms = FakePeoplevox([pv_row("A", "MAIN", "A-01", 10)])  # two lost on the shelf, no movement ever came
    cin7 = FakeCin7({("A", "Main Warehouse", ""): Decimal(12)})
    night(ledger_url, wms, cin7, "night-1")
    sessions = lambda: session_scope(ledger_url)  # noqa: E731
    apply_proposals(NORTHWIND, sessions, cin7, decide(NORTHWIND, sessions, None, "approved", by="ops", note=None),
                    by="ops")
    with session_scope(ledger_url) as session:
        position = stock_repo.positions(session, "northwind", [("A", "MAIN")])[("A", "MAIN")]
        assert (position.wms_counted, position.erp_quantity, position.last_history_id) == (10, 10, 40)


# --- the report ---------------------------------------------------------------------------------------------------
def test_report_escapes_everything_and_writes_every_difference(tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script>"
    stock_frame = pd.DataFrame({"sku": [hostile, "B"], "location": ["Main", "Main"], "variance": [5, -1],
                                "breach": [True, False]})
    findings = pd.DataFrame({"section": ["orders"], "kind": ["orphaned_order"], "key": ["SO-1"],
                             "erp_value": ["released"], "wms_value": [""], "summary": [f"order {hostile}"]})
    folder = report.write_report("northwind", "2026-12-03/run<1>", tmp_path, title=f"t {hostile}",
                                 summary={"breaches": 1, "sections": {"orders": "compared"}}, stock=stock_frame,
                                 findings=findings, proposals=None, trends=None,
                                 history_totals=[{"business_date": "2026-12-02", "abs_variance_units": 2,
                                                  "breaches": 0},
                                                 {"business_date": "2026-12-03", "abs_variance_units": 6,
                                                  "breaches": 1}], problems=[{"reason": hostile}])
    html = (folder / "report.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<svg" in html and html.count("<rect") == 2 and "http" not in html.replace(
        "http://www.w3.org/2000/svg", "")
    assert len(pd.read_csv(folder / "stock.csv")) == 2 and len(pd.read_csv(folder / "findings.csv")) == 1
    assert {p.name for p in folder.iterdir()} == {"report.html", "stock.csv", "findings.csv", "proposals.csv",
                                                  "trends.csv"}
    assert folder.is_relative_to(tmp_path) and ".." not in folder.parts


def test_history_keeps_the_latest_run_of_each_night(ledger_url: str) -> None:
    with session_scope(ledger_url) as session:
        for run_id, date, variance in (("r1", "2026-12-01", 2), ("r2", "2026-12-02", 3), ("r3", "2026-12-02", 4)):
            run = rrepo.start_run(session, "northwind", run_id, date)
            rrepo.add_stock_variances(session, run.id, [{"sku": "A", "location": "Main", "erp_on_hand": 1,
                                                         "expected_erp": 1 - variance, "variance": variance,
                                                         "breach": variance > 3},
                                                        {"sku": "Z", "location": "Main", "erp_on_hand": 1,
                                                         "expected_erp": 1, "variance": 0, "breach": False}])
            rrepo.finish_run(session, run.id, status="compared", summary={}, report_path=None)
        history = rrepo.stock_history(session, "northwind")
        totals = rrepo.nightly_totals(session, "northwind")
    assert sorted((h["business_date"], h["variance"]) for h in history) == [("2026-12-01", 2), ("2026-12-02", 4)]
    assert [(t["business_date"], t["abs_variance_units"], t["breaches"]) for t in totals] == [
        ("2026-12-01", 2, 0), ("2026-12-02", 4, 1)]


# --- hostile answers, a section not compared, BlueCherry ----------------------------------------------------------
def test_hostile_cin7_pages_fail_the_stock_snapshot_naming_the_call() -> None:
    from erp_wms_sync.errors import ApiResponseInvalid
    from tests.unit.test_cin7core_stock_answers import client_with, page, stock_row

    short = page(5, stock_row("A"))
    client, _ = client_with(page(5, stock_row("A"), stock_row("B")), short, short)
    with pytest.raises(ApiResponseInvalid, match="ref/productavailability"):
        stock.erp_stock(NORTHWIND, client)
    repeated = page(2, stock_row("A"))
    client, _ = client_with(repeated, repeated)
    with pytest.raises(ApiResponseInvalid, match="ref/productavailability"):
        stock.erp_stock(NORTHWIND, client)


def test_an_unreadable_erp_leaves_stock_not_compared_and_the_run_red_after_the_report(
        ledger_url: str, reports: Path) -> None:
    from erp_wms_sync.errors import ApiResponseInvalid

    class BrokenCin7(FakeCin7):
        def iter_availability(self, **_: Any) -> Iterator[Cin7Availability]:
            raise ApiResponseInvalid("cin7core", "GET ref/productavailability: page 2 has 1 rows, Total says 5")

    out = night(ledger_url, FakePeoplevox([pv_row("A", "MAIN", "A-01", 1)]), BrokenCin7(), "night-1")
    assert out["compared"]["sections"]["stock"].startswith("not compared: ")
    assert out["verdict"] == "red" and out["proposed"]["proposals"] == 0
    assert "not compared" in (Path(out["proposed"]["report"]) / "report.html").read_text()


@dataclass(frozen=True)
class BcRow:
    sku: str
    warehouse: str
    on_hand: int
    allocated: int
    picked: int


class FakeBlueCherry:
    def __init__(self, rows: list[BcRow]) -> None:
        self.rows = rows

    def iter_inventory(self, warehouse: str | None = None) -> Iterator[BcRow]:
        yield from (row for row in self.rows if warehouse is None or row.warehouse == warehouse)


def test_bluecherry_is_compared_on_available_to_sell_as_the_push_publishes_it() -> None:
    bluebird = load_integration("include/integrations/bluebird.yaml")
    warehouse, site = bluebird.locations[0].erp, bluebird.locations[0].wms_site
    erp = stock.erp_stock(bluebird, FakeBlueCherry([BcRow("A", warehouse, 12, 2, 1)]))
    wms, problems = stock.wms_frame(bluebird, [StockLevel("A", site, "A-01", 11, 2, 9)], [])
    assert erp.to_dict("records") == [{"sku": "A", "location": warehouse, "on_hand": 9}]
    assert wms.to_dict("records") == [{"sku": "A", "location": warehouse, "on_hand": 9}] and problems == []
    assert stock.in_flight(None, bluebird).empty  # no movement queue: the push publishes Peoplevox's figure


# --- the command line ---------------------------------------------------------------------------------------------
def test_cli_lists_and_rejects_proposals_recording_who(ledger_url: str, reports: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from erp_wms_sync import cli

    night(ledger_url, FakePeoplevox([pv_row("A", "MAIN", "A-01", 10)]),
          FakeCin7({("A", "Main Warehouse", ""): Decimal(12)}), "night-1")
    assert cli.main(["reconcile", "proposals", "--integration", "northwind", "--ledger-url", ledger_url]) == 0
    listed = capsys.readouterr().out
    assert "A" in listed and "Main Warehouse" in listed and "-2" in listed and "pending" in listed
    with session_scope(ledger_url) as session:
        proposal_id = rrepo.proposals(session, "northwind")[0].id
    assert cli.main(["reconcile", "reject", "--integration", "northwind", "--ledger-url", ledger_url,
                     "--id", str(proposal_id), "--by", "Jo <finance>", "--note", "recount first"]) == 0
    with session_scope(ledger_url) as session:
        row = rrepo.proposals(session, "northwind")[0]
        assert (row.state, row.decided_by, row.note) == ("rejected", "Jo <finance>", "recount first")
    assert cli.main(["reconcile", "proposals", "--integration", "northwind", "--ledger-url", ledger_url]) == 0
    assert "no proposals waiting" in capsys.readouterr().out


def test_a_variance_three_nights_running_is_one_drift_trend_with_its_history(ledger_url: str, reports: Path) -> None:
    wms = FakePeoplevox([pv_row("A", "MAIN", "A-01", 10)])
    cin7 = FakeCin7({("A", "Main Warehouse", ""): Decimal(11)})
    for day in range(4):
        night(ledger_url, wms, cin7, f"night-{day}", NOW + timedelta(days=day))
        cin7.stock[("A", "Main Warehouse", "")] += 1  # one more unit off every night
    with session_scope(ledger_url) as session:
        trends = repo.open_exceptions(session, "northwind", type_="drift_trend")
        pair = next(e for e in trends if e.entity_key.startswith("pair:"))
        raised = [e for e in trends if e.entity_key == pair.entity_key]
    assert len(raised) == 1 and pair.owner == "finance+warehouse"
    assert pair.detail["growing"] is True and len(pair.detail["history"]) >= 3
    html = next(reports.rglob("night-3/report.html")).read_text()
    assert "drift" in html.lower() and "pair" in html


def test_the_second_read_asks_peoplevox_only_for_the_variant_items(ledger_url: str) -> None:
    rows = [pv_row(f"I{n:03d}", "MAIN", "A-01", 5) for n in range(150)]
    cin7 = FakeCin7({(f"I{n:03d}", "Main Warehouse", ""): Decimal(5 if n % 50 else 6) for n in range(150)})
    wms = FakePeoplevox(rows)
    snap = stock.snapshot(context(ledger_url), wms, cin7, flow.tolerance(context(ledger_url)), now=NOW)
    assert wms.clauses == ["", '([Item code].Equals("I000") OR [Item code].Equals("I050") OR '
                               '[Item code].Equals("I100"))']
    assert snap.reread == 3 and snap.dropped_by_reread == 0 and len(snap.erp) == len(snap.wms) == 150
    assert stock.item_clauses(['A"B', "C"], terms=1) == ['([Item code].Equals("A\\"B"))', '([Item code].Equals("C"))']


def test_a_movement_landing_between_the_two_reads_is_not_a_variance(ledger_url: str, reports: Path) -> None:
    class MovingPeoplevox(FakePeoplevox):
        def get_report(self, name: str, search_clause: str = "", **kwargs: Any) -> list[dict[str, str]]:
            answer = super().get_report(name, search_clause, **kwargs)
            self.rows = [pv_row("A", "MAIN", "A-01", 12)]  # two units received just after the first read...
            return answer

    cin7 = FakeCin7({("A", "Main Warehouse", ""): Decimal(12)})  # ...and already booked in the ERP when it is read
    out = night(ledger_url, MovingPeoplevox([pv_row("A", "MAIN", "A-01", 10)]), cin7, "night-1")
    assert (out["compared"]["breaches"], out["compared"]["reread_pairs"], out["compared"]["agreed_on_second_read"]) \
        == (0, 1, 1)
    assert out["proposed"]["proposals"] == 0 and out["verdict"] == "green"


def test_a_retried_run_replaces_its_history_and_keeps_one_proposal_per_pair(ledger_url: str, reports: Path) -> None:
    wms = FakePeoplevox([pv_row("A", "MAIN", "A-01", 10)])
    cin7 = FakeCin7({("A", "Main Warehouse", ""): Decimal(13)})
    ctx = context(ledger_url)
    for _ in range(2):  # both tasks retried
        flow.snapshot_and_compare(ctx, wms, cin7, now=NOW)
        flow.propose_and_apply(ctx, cin7)
    flow.propose_and_apply(ctx, cin7)  # and the proposing task once more on its own
    with session_scope(ledger_url) as session:
        assert len(rrepo.stock_history(session, "northwind")) == 1
        assert [(p.sku, p.state) for p in rrepo.proposals(session, "northwind")] == [("A", "pending")]
