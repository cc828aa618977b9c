"""`erp-wms-sync audit` against the simulators seeded as the demo is, before any sync has run: the demo's deliberate
gaps — a location without a Peoplevox site, ERP SKUs Peoplevox does not know, an Item type created by hand in
Peoplevox — are each named, exactly, and the report is written. A system that cannot be read exits 1, naming it."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from erp_wms_simulators.peoplevox.demo import HANDMADE_ITEM_CODE
from erp_wms_simulators.scenario import Scenario
from erp_wms_simulators.server import SimulatorStack
from erp_wms_sync.cli import main
from erp_wms_sync.demo import env_vars

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo(stack: SimulatorStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SimulatorStack:
    """The demo's simulators and catalogue (items created in Peoplevox for the scenario's SKUs, not the ERP demo's
    own products), and connections to them from AIRFLOW_CONN_*; no ledger."""
    for name, value in env_vars(stack.describe()).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ERP_WMS_LEDGER_URL", f"sqlite:///{tmp_path / 'never-migrated.db'}")
    Scenario(stack, seed=7, skus=30, create_items=True, pin_clocks=False).seed_catalogue()
    return stack


def audit(capsys: pytest.CaptureFixture[str], name: str, out: Path) -> tuple[int, dict[str, Any]]:
    code = main(["audit", name, "--json", "--out", str(out)])
    return code, json.loads(capsys.readouterr().out)


def named(report: Path, kind: str) -> set[str]:
    with (report / "findings.csv").open(encoding="utf-8") as handle:
        return {row["key"] for row in csv.DictReader(handle) if row["kind"] == kind}


def wms_items(stack: SimulatorStack, client: str) -> set[str]:
    return {code.casefold() for code in stack.peoplevox.records(client, "Item types")}


def test_the_audit_names_the_demo_gaps_of_the_cin7_brand(demo, capsys, tmp_path) -> None:
    code, summary = audit(capsys, "northwind", tmp_path / "reports")
    assert code == 0, summary["failures"]
    assert set(summary["sections"].values()) == {"compared"}
    report = Path(summary["report"])
    assert (report / "report.html").is_file()
    assert named(report, "unmapped_location") == {"Pop-up Store"}
    assert named(report, "wms_only") == {HANDMADE_ITEM_CODE}
    products = demo.cin7core.products_by_sku()
    active = {sku for sku, product in products.items() if str(product.get("Status")).casefold() == "active"}
    unknown = {sku for sku in active if sku.casefold() not in wms_items(demo, "northwind")}
    assert unknown and named(report, "erp_only") == unknown  # the ERP demo's own products were never created
    assert summary["findings"]["erp_only"]["count"] == len(unknown)
    assert summary["stock"]["pairs"] > 0


def test_the_audit_names_the_demo_gaps_of_the_bluecherry_brand(demo, capsys, tmp_path) -> None:
    code, summary = audit(capsys, "bluebird", tmp_path / "reports")
    assert code == 0, summary["failures"]
    report = Path(summary["report"])
    assert named(report, "unmapped_location") == {"TX03"}
    assert named(report, "wms_only") == {HANDMADE_ITEM_CODE}
    skus = {row["sku"] for row in demo.bluecherry.skus() if str(row.get("status", "ACTIVE")).upper() == "ACTIVE"}
    assert named(report, "erp_only") == {sku for sku in skus if sku.casefold() not in wms_items(demo, "bluebird")}
    assert "limbo" not in summary["findings"]


def test_a_system_that_cannot_be_read_exits_1_naming_it(demo, capsys, tmp_path) -> None:
    demo.peoplevox.expire_sessions()
    demo.peoplevox.tenant("northwind").users.clear()  # every Authenticate is refused from now on
    code = main(["audit", "northwind", "--out", str(tmp_path / "reports")])
    captured = capsys.readouterr()
    assert code == 1
    assert "could not read peoplevox" in captured.err
    assert "Pop-up Store" not in captured.out  # the mapping section needs Peoplevox's sites: not guessed


def test_an_unknown_integration_or_a_missing_connection_is_a_configuration_problem(capsys, monkeypatch) -> None:
    assert main(["audit", "nowhere"]) == 2
    assert "no integration named nowhere" in capsys.readouterr().err
    monkeypatch.delenv("AIRFLOW_CONN_NORTHWIND_PEOPLEVOX", raising=False)
    assert main(["audit", "northwind"]) == 2
    assert "AIRFLOW_CONN_NORTHWIND_PEOPLEVOX" in capsys.readouterr().err
