"""The stock movement suite on hand-made batches: a good batch passes, and each bad movement fails exactly its
check, with its own exception type and row."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest

from erp_wms_sync.checks.runner import run_checks
from erp_wms_sync.checks.suites import (
    INVALID_STOCK_MOVEMENT,
    MOVEMENT_QUANTITY,
    STALE_STOCK_EVENT,
    STOCK_MOVEMENT_COLUMNS,
    UNMAPPED_LOCATION,
    UNMAPPED_SKU,
    stock_movement_checks,
)
from erp_wms_sync.domain.pv_reports import WHOLE

CATALOGUE = ["MUG-BLUE", "TEE-M"]
SITES = ["MAIN", "OUTLET"]


def movement(history_id: int | None, item: str | None = "MUG-BLUE", site: str | None = "MAIN",
             quantity: str | None = "2", previous: int | None = -1) -> dict[str, Any]:
    return {"HistoryId": history_id, "ItemCode": item, "Site": site, "Quantity": quantity,
            "PairKey": f"{item}|{site}", "PreviousHistoryId": previous}


def good_batch() -> list[dict[str, Any]]:
    """Two pairs: MUG-BLUE|MAIN continues from its applied watermark 90, TEE-M|OUTLET starts fresh."""
    return [movement(101, previous=90), movement(105, quantity="-3", previous=101),
            movement(102, "TEE-M", "OUTLET", "3.0", previous=-1)]


def check(rows: list[dict[str, Any]]) -> Any:
    frame = pd.DataFrame(rows, columns=list(STOCK_MOVEMENT_COLUMNS))
    return run_checks("stock_movements", frame, stock_movement_checks(CATALOGUE, SITES))


def test_a_good_batch_passes() -> None:
    outcome = check(good_batch())
    assert outcome.success and outcome.evaluated == 3
    assert outcome.failures == {} and outcome.failed_expectations == []


@pytest.mark.parametrize(("bad", "category", "reason"), [
    pytest.param(movement(120, item="GHOST"), UNMAPPED_SKU, "the item is not in the Peoplevox catalogue",
                 id="unknown-item"),
    pytest.param(movement(120, site="POPUP"), UNMAPPED_LOCATION,
                 "the Peoplevox site is not mapped to an ERP location", id="unmapped-site"),
    pytest.param(movement(120, quantity="1.5"), INVALID_STOCK_MOVEMENT, "the moved quantity is not a whole number",
                 id="fraction"),
    pytest.param(movement(120, quantity="two"), INVALID_STOCK_MOVEMENT, "the moved quantity is not a whole number",
                 id="words"),
    pytest.param(movement(120, previous=130), STALE_STOCK_EVENT,
                 "the History Id is not above the one before it for the same item and site (applied or in this "
                 "batch)", id="older-than-applied"),
    pytest.param(movement(130, previous=130), STALE_STOCK_EVENT,
                 "the History Id is not above the one before it for the same item and site (applied or in this "
                 "batch)", id="already-applied"),
    pytest.param(movement(None), INVALID_STOCK_MOVEMENT, "the movement has no History Id", id="no-history-id"),
])
def test_each_bad_movement_fails_its_own_check(bad: dict[str, Any], category: str, reason: str) -> None:
    outcome = check([*good_batch(), bad])
    assert not outcome.success
    assert outcome.failures == {3: [reason]}, "only the bad row fails, and only its own check"
    assert outcome.categories == {3: [category]}


def test_a_history_id_repeated_in_the_batch_fails_both_rows() -> None:
    rows = [*good_batch(), movement(102, "TEE-M", "MAIN", previous=-1)]
    outcome = check(rows)
    assert outcome.failures == {2: ["the History Id appears more than once in the batch"],
                                3: ["the History Id appears more than once in the batch"]}
    assert set(outcome.categories[2]) == set(outcome.categories[3]) == {INVALID_STOCK_MOVEMENT}


def test_several_problems_on_one_movement_are_all_named() -> None:
    outcome = check([movement(7, item="GHOST", site="POPUP", quantity="x", previous=9)])
    assert sorted(outcome.categories[0]) == sorted([UNMAPPED_SKU, UNMAPPED_LOCATION, INVALID_STOCK_MOVEMENT,
                                                    STALE_STOCK_EVENT])
    assert {r["expectation"] for r in outcome.summary["results"] if not r["success"]} == {
        "ExpectColumnValuesToBeInSet", "ExpectColumnValuesToMatchRegex", "ExpectColumnPairValuesAToBeGreaterThanB"}


@pytest.mark.parametrize("text", ["3", "-2", "+4", "3.0", "0", "1.5", "3.", "1e3", " 3", "", "1234567890123"])
def test_the_suite_and_the_report_reader_agree_on_whole_numbers(text: str) -> None:
    assert bool(re.match(MOVEMENT_QUANTITY, text)) is bool(WHOLE.match(text))
