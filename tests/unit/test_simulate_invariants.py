"""Each invariant of ``erp-wms-sync simulate`` passes on clean data read from the systems and fails, naming the
record, on a crafted breach: a duplicate WMS order, a second fulfilment, a credit note before its stock-in, stock
that differs, a secret in a payload..."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import pytest

from erp_wms_sync.simulate import invariants as inv

ERP = [{"number": "SO-1", "id": "g-1", "released": True, "cancelled": False},
       {"number": "SO-2", "id": "g-2", "released": True, "cancelled": False},
       {"number": "SO-3", "id": "g-3", "released": True, "cancelled": True},
       {"number": "SO-4", "id": "g-4", "released": False, "cancelled": False}]
WMS = [{"number": "SO-1", "status": "Despatched"}, {"number": "SO-2", "status": "Cancelled"},
       {"number": "SO-2-R1", "status": "New"}, {"number": "SO-3", "status": "Cancelled"}]


def exception(key: str, kind: str = "unmapped_sku", status: str = "open", **extra: Any) -> dict[str, Any]:
    return {"id": 1, "integration": "northwind", "type": kind, "owner": "ops", "status": status, "entity_key": key,
            "summary": f"held {key}", "payload": {"key": key}, "runs": [], **extra}


def test_released_orders_each_live_once_pass_including_a_reissue() -> None:
    verdict = inv.released_once(ERP, WMS, [])
    assert verdict.ok, verdict.breaches
    assert verdict.evidence["released_in_erp"] == 2 and verdict.evidence["in_wms_once"] == 2


def test_a_released_order_missing_from_the_wms_breaks_invariant_1_unless_an_open_exception_names_it() -> None:
    wms = [row for row in WMS if row["number"] != "SO-1"]
    verdict = inv.released_once(ERP, wms, [])
    assert not verdict.ok and verdict.breaches == [
        "SO-1: released in the ERP, not in the WMS and no open exception says why"]
    assert inv.released_once(ERP, wms, [exception("SO-1", "unmapped_location")]).ok
    assert not inv.released_once(ERP, wms, [exception("SO-1", status="resolved")]).ok
    assert not inv.released_once(ERP, wms, [exception("SO-10")]).ok  # SO-10 does not name SO-1


def test_an_order_cancelled_in_the_erp_but_live_in_the_wms_breaks_invariant_1() -> None:
    wms = [*WMS[:3], {"number": "SO-3", "status": "Picking"}]
    verdict = inv.released_once(ERP, wms, [])
    assert not verdict.ok and "SO-3: cancelled in the ERP, still live in the WMS as SO-3" in verdict.breaches
    assert inv.released_once(ERP, wms, [exception("SO-3", "amendment_after_cutoff")]).ok


def test_a_second_live_wms_order_breaks_invariants_1_and_2_naming_the_order() -> None:
    wms = [*WMS, {"number": "SO-1", "status": "New"}]
    assert "SO-1: 2 live WMS orders (SO-1, SO-1)" in inv.released_once(ERP, wms, []).breaches
    verdict = inv.no_duplicate_effects(wms, [], [], [])
    assert verdict.breaches == ["ERP order SO-1: 2 live WMS orders (SO-1, SO-1)"]


FULFILMENTS = [{"despatches": ["DES1"], "ref": "T1"}, {"despatches": ["DES2", "DES3"], "ref": "T2"}]
ADJUSTMENTS = [{"reference": "NW-STOCK-1", "ref": "A1"}, {"reference": "NW-STOCK-2", "ref": "A2"}]
CREDITS = [{"return_code": "RET-1", "ref": "C1"}, {"return_code": "", "ref": "C-hand-made"},
           {"return_code": "", "ref": "C-hand-made-2"}]


def test_distinct_effects_pass_invariant_2() -> None:
    verdict = inv.no_duplicate_effects(WMS, FULFILMENTS, ADJUSTMENTS, CREDITS)
    assert verdict.ok, verdict.breaches
    assert verdict.evidence == {"erp_orders_in_wms": 2, "despatches_fulfilled": 3, "adjustment_references": 2,
                                "returns_credited": 1}


@pytest.mark.parametrize(("fulfilments", "adjustments", "credits", "breach"), [
    ([*FULFILMENTS, {"despatches": ["DES3"], "ref": "T9"}], ADJUSTMENTS, CREDITS,
     "despatch DES3: 2 ERP fulfilments (T2, T9)"),
    (FULFILMENTS, [*ADJUSTMENTS, {"reference": "NW-STOCK-2", "ref": "A9"}], CREDITS,
     "stock adjustment reference NW-STOCK-2: posted 2 times"),
    (FULFILMENTS, ADJUSTMENTS, [*CREDITS, {"return_code": "RET-1", "ref": "C9"}], "return RET-1: 2 credits"),
], ids=["second-fulfilment", "adjustment-twice", "second-credit-note"])
def test_a_duplicated_effect_breaks_invariant_2_naming_it(fulfilments: list[dict[str, Any]],
                                                          adjustments: list[dict[str, Any]],
                                                          credits: list[dict[str, Any]], breach: str) -> None:
    verdict = inv.no_duplicate_effects(WMS, fulfilments, adjustments, credits)
    assert not verdict.ok and verdict.breaches == [breach]


ERP_STOCK = [{"sku": "A", "location": "Main", "qty": 5}, {"sku": "B", "location": "Main", "qty": 0}]


def test_equal_stock_passes_and_a_difference_breaks_invariant_3_unless_an_open_exception_names_the_sku() -> None:
    assert inv.stock_agrees(ERP_STOCK, [{"sku": "A", "location": "Main", "qty": 5}], []).ok  # missing = 0
    wms = [{"sku": "A", "location": "Main", "qty": 4}, {"sku": "C", "location": "Main", "qty": 2}]
    verdict = inv.stock_agrees(ERP_STOCK, wms, [])
    assert verdict.breaches == ["A @ Main: ERP 5, WMS 4", "C @ Main: ERP 0, WMS 2"]
    excused = inv.stock_agrees(ERP_STOCK, wms, [exception("A|MAIN", "stock_variance"), exception("C")])
    assert excused.ok and excused.evidence["excused"] == 2
    refused = exception("DES1", "despatch_for_cancelled_order", payload={"lines": [{"item_code": "A"}]})
    assert inv.stock_agrees(ERP_STOCK, wms[:1], [refused]).ok  # the refused despatch's payload names the SKU
    assert not inv.stock_agrees(ERP_STOCK, wms[:1], [{**refused, "payload": {"lines": [{"item_code": "AB"}]}}]).ok


RETURNS = [{"return_code": "RET-1", "sku": "A", "site": "MAIN", "seen": 3}]
SITES = {"main": "Main Warehouse"}


def test_a_credit_note_after_its_stock_in_passes_invariant_4() -> None:
    adjustments = [{"lines": [{"sku": "A", "location": "Main Warehouse"}], "seen": 3}]
    verdict = inv.credit_after_stock_in(RETURNS, adjustments, [{"return_code": "RET-1", "ref": "C1", "seen": 4}],
                                        SITES)
    assert verdict.ok, verdict.breaches


@pytest.mark.parametrize("adjustments", [
    [],  # no stock-in at all
    [{"lines": [{"sku": "A", "location": "Main Warehouse"}], "seen": 4}],  # same snapshot as the credit note
    [{"lines": [{"sku": "A", "location": "Main Warehouse"}], "seen": 2}],  # before the return arrived
    [{"lines": [{"sku": "B", "location": "Main Warehouse"}], "seen": 3}],  # another SKU
], ids=["none", "same-snapshot", "before-return", "other-sku"])
def test_a_credit_note_before_its_stock_in_breaks_invariant_4(adjustments: list[dict[str, Any]]) -> None:
    verdict = inv.credit_after_stock_in(RETURNS, adjustments, [{"return_code": "RET-1", "ref": "C1", "seen": 4}],
                                        SITES)
    assert verdict.breaches == ["return RET-1: credit note C1 (snapshot 4) before any stock-in of A at "
                                "Main Warehouse"]


RUNS = [{"dag_id": "nw__order_release", "run_id": "r1", "state": "failed", "failed_tasks": ["release_orders"]},
        {"dag_id": "nw__order_release", "run_id": "r2", "state": "success"},
        {"dag_id": "nw__returns", "run_id": "r3", "state": "failed", "failed_tasks": ["data_check"]}]


def test_failures_that_raised_an_exception_or_were_completed_later_pass_invariant_5() -> None:
    verdict = inv.failures_visible([exception("RET-9", runs=["r3"])], RUNS)
    assert verdict.ok, verdict.breaches
    assert verdict.evidence["failed_runs_with_exception"] == 1 and verdict.evidence["failed_runs_completed_later"] == 1


def test_a_silent_failed_run_or_an_exception_without_payload_or_owner_breaks_invariant_5() -> None:
    verdict = inv.failures_visible([exception("X", payload=None), exception("Y", owner=" ")], RUNS)
    assert verdict.breaches == [
        "exception #1 (unmapped_sku X): no payload", "exception #1 (unmapped_sku Y): no owner",
        "run nw__returns r3 failed (data_check): no exception and no later run completed its work"]


def test_a_later_run_that_failed_only_its_data_check_completes_a_failed_run_but_not_a_broken_one() -> None:
    """A run whose vendor call broke is made good by the next run whose sync steps all ran (its data check held
    records as exceptions); a next run that broke in a sync step too does not make it good."""
    runs = [{"dag_id": "nw__dispatch", "run_id": "d1", "state": "failed", "failed_tasks": ["confirm", "data_check"]},
            {"dag_id": "nw__dispatch", "run_id": "d2", "state": "failed", "failed_tasks": ["data_check"]},
            {"dag_id": "nw__returns", "run_id": "t1", "state": "failed", "failed_tasks": ["credit"]},
            {"dag_id": "nw__returns", "run_id": "t2", "state": "failed", "failed_tasks": ["credit", "data_check"]}]
    verdict = inv.failures_visible([exception("DES-1", runs=["d2"])], runs)
    assert verdict.breaches == [
        "run nw__returns t1 failed (credit): no exception and no later run completed its work",
        "run nw__returns t2 failed (credit, data_check): no exception and no later run completed its work"]
    assert verdict.evidence["failed_runs_completed_later"] == 1


SECRET = "s3cr3t/pa ss+word"


@pytest.mark.parametrize(("form", "text"), [
    ("plain", f"password={SECRET}"), ("base64", base64.b64encode(SECRET.encode()).decode()),
    ("url", f"?key={quote(SECRET, safe='')}"),
], ids=["plain", "base64", "url-encoded"])
def test_a_secret_in_any_form_in_any_text_breaks_invariant_6(form: str, text: str) -> None:
    verdict = inv.secrets_hidden([SECRET], {"run log": "nothing here", "exception payloads": text})
    assert not verdict.ok
    assert verdict.breaches[0] == f"exception payloads: a secret (s…, 17 chars) appears {form}"
    assert SECRET not in " ".join(verdict.breaches)


def test_clean_texts_pass_invariant_6() -> None:
    verdict = inv.secrets_hidden([SECRET], {"run log": "password=***", "summary": "{}"})
    assert verdict.ok and verdict.evidence["secrets"] == 1


def test_merge_names_the_integration_of_each_breach() -> None:
    broken = inv.no_duplicate_effects([*WMS, {"number": "SO-1", "status": "New"}], [], [], [])
    merged = inv.merge("no_duplicate_effect", {"northwind": inv.no_duplicate_effects(WMS, [], [], []),
                                               "bluebird": broken})
    assert not merged.ok and merged.breaches == ["bluebird: ERP order SO-1: 2 live WMS orders (SO-1, SO-1)"]
    assert set(merged.evidence) == {"northwind", "bluebird"}
