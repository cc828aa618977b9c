"""item_master_sync end to end: the real DAGs under dag.test() against the simulators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from erp_wms_simulators.bluecherry import demo as bc_demo
from erp_wms_simulators.cin7core import demo as c7_demo
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import CheckResult, Message

from .conftest import task_states

pytestmark = pytest.mark.e2e
HANDMADE = "PVX-HANDMADE-001"


def open_by_type(url: str, integration: str) -> dict[str, dict[str, Any]]:
    with session_scope(url) as s:
        return {f"{e.type}:{e.entity_key}": {"owner": e.owner, "payload": e.payload, "summary": e.summary}
                for e in repo.open_exceptions(s, integration)}


def window_until_now() -> dict[str, str]:
    now = datetime.now(UTC)
    return {"window_start": (now - timedelta(minutes=10)).isoformat(),
            "window_end": (now + timedelta(minutes=1)).isoformat()}


def test_cin7_items_reach_peoplevox_once_and_bad_items_become_exceptions(stack, wired, run_dag) -> None:
    products = stack.cin7core.products_by_sku()
    invalid = {c7_demo.LONG_SKU, c7_demo.BLANK_NAME_SKU, *c7_demo.DUPLICATE_BARCODE_SKUS}
    expected = {sku for sku, p in products.items() if p["Status"] == "Active"} - invalid

    first = run_dag("northwind__item_master_sync")
    states = task_states(first)
    assert states["upsert_wms_items"] == "success" and states["advance_watermark"] == "success"
    assert states["data_check"] == "failed" and states["summarise_run"] == "success"
    assert str(first.state) == "success", "good items went: the run is green, the data check red"

    in_wms = stack.peoplevox.records("northwind", "Item types")
    assert set(in_wms) == expected | {HANDMADE}
    sample = next(iter(expected))
    assert in_wms[sample]["Name"] == products[sample]["Name"]
    assert in_wms[sample]["Barcode"] == (products[sample].get("Barcode") or "")
    assert c7_demo.DEPRECATED_SKU not in in_wms

    exceptions = open_by_type(wired, "northwind")
    assert set(exceptions) == {f"invalid_item:{sku}" for sku in invalid} | {f"wms_item_not_in_erp:{HANDMADE}"}
    long_item = exceptions[f"invalid_item:{c7_demo.LONG_SKU}"]
    assert long_item["owner"] == "data" and long_item["payload"]["sku"] == c7_demo.LONG_SKU
    assert "ItemCode limit of 40" in long_item["summary"]
    assert exceptions[f"wms_item_not_in_erp:{HANDMADE}"]["payload"]["ItemCode"] == HANDMADE
    with session_scope(wired) as s:
        check = s.query(CheckResult).one()
        assert not check.success and check.failed_records == len(invalid)
        assert s.query(Message).filter_by(status="confirmed").count() == len(expected)

    saves = stack.peoplevox.calls[("northwind", "SaveData")]
    rerun = run_dag("northwind__item_master_sync")
    assert task_states(rerun)["data_check"] == "success" and str(rerun.state) == "success"
    assert stack.peoplevox.calls[("northwind", "SaveData")] == saves, "a re-run must write nothing"
    assert set(stack.peoplevox.records("northwind", "Item types")) == expected | {HANDMADE}
    assert set(open_by_type(wired, "northwind")) == set(exceptions)

    # The data team fixes the blank name in Cin7 Core: the next run sends exactly that item.
    stack.cin7core.update_product(c7_demo.BLANK_NAME_SKU, Name="Merino Neck Gaiter M")
    fixed = run_dag("northwind__item_master_sync", **window_until_now())
    assert str(fixed.state) == "success"
    assert stack.peoplevox.calls[("northwind", "SaveData")] == saves + 1
    assert stack.peoplevox.records("northwind", "Item types")[c7_demo.BLANK_NAME_SKU]["Name"] == \
        "Merino Neck Gaiter M"
    assert f"invalid_item:{c7_demo.BLANK_NAME_SKU}" not in open_by_type(wired, "northwind")


def test_bluecherry_skus_reach_peoplevox_and_bad_skus_are_held(stack, wired, run_dag) -> None:
    skus = {s["sku"]: s for s in stack.bluecherry.skus()}
    invalid = {bc_demo.EMPTY_DESCRIPTION_SKU, *bc_demo.SHARED_UPC_SKUS}
    expected = {sku for sku, s in skus.items() if s["status"] == "ACTIVE"} - invalid

    first = run_dag("bluebird__item_master_sync")
    assert task_states(first)["data_check"] == "failed"
    in_wms = stack.peoplevox.records("bluebird", "Item types")
    assert set(in_wms) == expected | {HANDMADE}
    assert all(row["Attribute3"] for code, row in in_wms.items() if code != HANDMADE), "colour is mapped"
    exceptions = open_by_type(wired, "bluebird")
    assert set(exceptions) == {f"invalid_item:{sku}" for sku in invalid} | {f"wms_item_not_in_erp:{HANDMADE}"}
    assert exceptions[f"wms_item_not_in_erp:{HANDMADE}"]["owner"] == "merchandising"
    assert stack.peoplevox.records("northwind", "Item types").keys() == {HANDMADE}, "tenants stay apart"


def test_a_peoplevox_rejection_is_held_with_its_reason_and_the_rest_go(stack, wired, run_dag) -> None:
    taken = next(p for p in stack.cin7core.products_by_sku().values() if p.get("Barcode"))
    stack.peoplevox.seed("northwind", "Item types", [{"ItemCode": "LEGACY-1", "Name": "Legacy",
                                                      "Barcode": "9990001112223"}])
    stack.cin7core.update_product(taken["SKU"], Barcode="9990001112223")
    run = run_dag("northwind__item_master_sync")
    assert task_states(run)["upsert_wms_items"] == "success"
    exceptions = open_by_type(wired, "northwind")
    rejected = exceptions[f"wms_write_rejected:{taken['SKU']}"]
    assert "Peoplevox rejected" in rejected["summary"] and "arcode" in rejected["summary"]
    assert rejected["payload"]["barcode"] == "9990001112223"
    assert taken["SKU"] not in stack.peoplevox.records("northwind", "Item types")
    assert len(stack.peoplevox.records("northwind", "Item types")) > 20

    # the warehouse frees the barcode; nothing changes in the ERP: the next run sends the refused item again
    stack.peoplevox.seed("northwind", "Item types", [{"ItemCode": "LEGACY-1", "Name": "Legacy",
                                                      "Barcode": "9990001112299"}])
    again = run_dag("northwind__item_master_sync")
    assert task_states(again)["upsert_wms_items"] == "success"
    assert stack.peoplevox.records("northwind", "Item types")[taken["SKU"]]["Barcode"] == "9990001112223"
    assert f"wms_write_rejected:{taken['SKU']}" not in open_by_type(wired, "northwind")
    saves = stack.peoplevox.calls[("northwind", "SaveData")]
    run_dag("northwind__item_master_sync")
    assert stack.peoplevox.calls[("northwind", "SaveData")] == saves, "once taken, it is not sent again"


def test_an_unreachable_wms_fails_the_task_readably_and_loses_nothing(stack, wired, run_dag, monkeypatch) -> None:
    import json

    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_NORTHWIND_PEOPLEVOX"])
    monkeypatch.setenv("AIRFLOW_CONN_NORTHWIND_PEOPLEVOX", json.dumps({**conn, "port": 1}))
    down = run_dag("northwind__item_master_sync")
    states = task_states(down)
    assert states["upsert_wms_items"] == "failed" and states["advance_watermark"] != "success"
    assert str(down.state) == "failed", "a broken sync is a red run"
    with session_scope(wired) as s:
        assert repo.get_cursor(s, "northwind", "item_master_sync") is None, "the window must be read again"
    monkeypatch.setenv("AIRFLOW_CONN_NORTHWIND_PEOPLEVOX", json.dumps(conn))
    again = run_dag("northwind__item_master_sync")
    assert task_states(again)["upsert_wms_items"] == "success"
    assert len(stack.peoplevox.records("northwind", "Item types")) > 20
