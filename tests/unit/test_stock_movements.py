"""Peoplevox stock movements from the "Item movement history" report and stock callbacks: strict about shape,
every bad row named, the good rows kept, and the same answer whatever order movements arrive in (no API, no
ledger)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pytest

from erp_wms_simulators.peoplevox import events as sim_events
from erp_wms_simulators.peoplevox import report_specs
from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_sync.domain.despatches import UnknownTimezone
from erp_wms_sync.domain.pv_reports import BadReport, BadStockEvent, RowProblem, held_pairs
from erp_wms_sync.domain.stock_movements import (
    AVAILABILITY_CHANGES,
    INCREMENTAL_CHANGES,
    MOVEMENT_COLUMNS,
    RETURNS,
    STOCK_EVENTS,
    STOCK_FIELDS,
    STOCK_REQUIRED,
    StockMovement,
    movement_report_clause,
    movements_from_report,
    order_movements,
    split_stale,
    stock_callback_query,
    stock_callback_url,
    stock_notice_from_callback,
)
from tests.unit.pv_stock_fakes import callback_body, published, stocked_tenant

LONDON = "Europe/London"


def movement_row(history_id: str = "101", **cells: str) -> dict[str, str]:
    row = {"History Id": history_id, "Item code": "MUG", "Site reference": "MAIN", "From": "Goods in",
           "To": "A-01-01", "Quantity": "5", "Date timestamp": "'01/07/2024 10:30:00'", "Sales order number": "",
           "Register Reason": "Goods in", "Location type from": "Goods in", "Location type to": "Pick",
           "User": "jo", "Comments": "PO-1"}
    row.update(cells)
    return row


def movement(history_id: int, item: str = "MUG", site: str = "MAIN", quantity: int = 1) -> StockMovement:
    at = datetime(2024, 7, 1, 9) + timedelta(minutes=history_id)
    return StockMovement(history_id=history_id, item_code=item, site=site, from_location="Goods in",
                         to_location="A-01-01", quantity=quantity, at=at)


# --- Item movement history -------------------------------------------------------------------------------------
def test_movement_rows_are_read_with_summer_time_dates_as_utc() -> None:
    rows = [movement_row("101"), movement_row("102", **{"Date timestamp": "01/07/2024 10:31", "Quantity": "-2.0",
                                                        "Site reference": ""})]
    found, problems = movements_from_report(rows, LONDON)
    assert problems == []
    assert found[0] == StockMovement(
        history_id=101, item_code="MUG", site="MAIN", from_location="Goods in", to_location="A-01-01", quantity=5,
        at=datetime(2024, 7, 1, 9, 30), sales_order="", reason="Goods in", location_type_from="Goods in",
        location_type_to="Pick", user="jo", comments="PO-1")
    assert (found[1].at, found[1].quantity, found[1].key) == (datetime(2024, 7, 1, 9, 31), -2, ("MUG", ""))


def test_winter_dates_equal_utc_and_a_utc_account_reads_them_unchanged() -> None:
    found, _ = movements_from_report([movement_row(**{"Date timestamp": "'15/01/2024 08:00:00'"})], LONDON)
    assert found[0].at == datetime(2024, 1, 15, 8, 0)
    found, _ = movements_from_report([movement_row(**{"Date timestamp": "'01/07/2024 10:30:00'"})], "UTC")
    assert found[0].at == datetime(2024, 7, 1, 10, 30)


@pytest.mark.parametrize(("cells", "reason"), [
    ({"History Id": "12a"}, "has History Id '12a', not a whole number"),
    ({"History Id": "12.0"}, "has History Id '12.0', not a whole number"),
    ({"History Id": "-3"}, "has History Id '-3', not a whole number"),
    ({"History Id": ""}, "has no History Id"),
    ({"Item code": "  "}, "has no Item code"),
    ({"Quantity": "2.5"}, "has Quantity '2.5', not a whole number"),
    ({"Quantity": "1,000"}, "has Quantity '1,000', not a whole number"),
    ({"Quantity": ""}, "has no Quantity"),
    ({"Date timestamp": "'31/02/2024 10:00'"}, "has Date timestamp '31/02/2024 10:00', not a date"),
    ({"Date timestamp": "2024/07/01"}, "has Date timestamp '2024/07/01', not a date"),
    ({"Date timestamp": ""}, "has no Date timestamp"),
], ids=["letters-id", "fraction-id", "negative-id", "no-id", "no-item", "fraction-qty", "thousands-qty", "no-qty",
        "31-february", "other-date-form", "no-date"])
def test_a_hostile_movement_row_is_a_named_problem_and_the_good_rows_stay(cells: dict[str, str],
                                                                           reason: str) -> None:
    rows = [movement_row("101"), movement_row("102", **cells), movement_row("103")]
    found, problems = movements_from_report(rows, LONDON)
    assert [m.history_id for m in found] == [101, 103]
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.report, problem.position, problem.item_code, problem.site) == (
        "Item movement history", 2, rows[1]["Item code"].strip(), "MAIN")
    assert problem.reason == f"row 2 {reason}"
    assert problem.row["History Id"] == cells.get("History Id", "102")


def test_every_reason_of_a_row_is_named_once() -> None:
    _, problems = movements_from_report([movement_row("x", **{"Quantity": "many", "Item code": ""})], LONDON)
    assert problems[0].reason == "row 1 has History Id 'x', not a whole number; has no Item code; " \
                                 "has Quantity 'many', not a whole number"


def test_a_report_without_history_id_raises_and_an_empty_report_is_empty() -> None:
    row = movement_row()
    del row["History Id"]
    with pytest.raises(BadReport, match="'Item movement history' report has no 'History Id' column"):
        movements_from_report([row], LONDON)
    assert movements_from_report([], LONDON) == ([], [])


def test_a_later_row_missing_the_key_cell_or_holding_non_text_is_a_problem_not_a_crash() -> None:
    odd: dict[Any, Any] = movement_row("102", Quantity=None)  # type: ignore[arg-type]
    odd[7] = "stray"
    short = movement_row("103")
    del short["History Id"]
    found, problems = movements_from_report([movement_row("101"), odd, short], LONDON)
    assert [m.history_id for m in found] == [101]
    assert [p.reason for p in problems] == ["row 2 has no Quantity", "row 3 has no History Id"]


def test_a_history_id_repeated_identically_is_one_movement_and_with_other_values_both_rows_are_problems() -> None:
    rows = [movement_row("101"), movement_row("101"), movement_row("102"), movement_row("102", Quantity="6"),
            movement_row("103")]
    found, problems = movements_from_report(rows, LONDON)
    assert [m.history_id for m in found] == [101, 103]
    assert [(p.position, p.key) for p in problems] == [(3, "102"), (4, "102")]
    assert problems[0].reason == "row 3 has History Id 102, listed again later with other values"
    assert problems[1].reason == "row 4 repeats History Id 102 of row 3 with other values"
    assert held_pairs(problems) == {("MUG", "MAIN")}


def test_an_unknown_time_zone_is_a_settings_error_before_any_row() -> None:
    with pytest.raises(UnknownTimezone, match="'Mars/Olympus' is not an IANA time zone"):
        movements_from_report([movement_row()], "Mars/Olympus")


def test_movement_clause_is_written_in_wms_local_time() -> None:
    assert movement_report_clause(datetime(2024, 7, 1, 9, 15), LONDON) == \
        "([Date timestamp] >= DateTime(2024,07,01,10,15,00))"
    aware = datetime(2024, 12, 3, 9, 15, 5, tzinfo=timezone(timedelta(hours=2)))
    assert movement_report_clause(aware, LONDON) == "([Date timestamp] >= DateTime(2024,12,03,07,15,05))"
    assert MOVEMENT_COLUMNS[0] == "History Id" and set(MOVEMENT_COLUMNS) <= set(
        report_specs.ITEM_MOVEMENT_HISTORY_COLUMNS)


# --- ordering and watermarks -----------------------------------------------------------------------------------
def test_order_movements_sorts_per_item_and_site_and_collapses_duplicates() -> None:
    given = [movement(7, "MUG"), movement(3, "CAP"), movement(5, "MUG", "EAST"), movement(2, "MUG"),
             movement(7, "MUG"), movement(3, "CAP")]
    assert [(m.item_code, m.site, m.history_id) for m in order_movements(given)] == [
        ("CAP", "MAIN", 3), ("MUG", "EAST", 5), ("MUG", "MAIN", 2), ("MUG", "MAIN", 7)]


def test_order_movements_gives_the_same_answer_however_the_input_is_shuffled() -> None:
    base = [movement(i, item, site, quantity=i % 4 + 1)
            for i, (item, site) in enumerate([("MUG", "MAIN"), ("CAP", "MAIN"), ("MUG", "EAST")] * 12, start=1)]
    conflicting = replace(base[4], quantity=99)  # same History Id, other values: a deterministic one must win
    pool = base + base[::3] + [conflicting]
    expected = order_movements(pool)
    assert len(expected) == len(base) and len({m.history_id for m in expected}) == len(base)
    assert expected[[m.history_id for m in expected].index(5)] == min(base[4], conflicting,
                                                                      key=lambda m: m.quantity)
    for seed in range(25):
        shuffled = list(pool)
        random.Random(seed).shuffle(shuffled)
        assert order_movements(shuffled) == expected, f"seed {seed}"


def test_split_stale_sets_aside_what_the_watermark_of_each_pair_already_covers() -> None:
    given = [movement(4), movement(5), movement(9), movement(2, "CAP"), movement(6, "MUG", "EAST")]
    due, stale = split_stale(given, {("MUG", "MAIN"): 5, ("CAP", "MAIN"): 1})
    assert [(m.item_code, m.site, m.history_id) for m in due] == [
        ("MUG", "MAIN", 9), ("CAP", "MAIN", 2), ("MUG", "EAST", 6)]
    assert [m.history_id for m in stale] == [4, 5]
    assert split_stale([], {}) == ([], [])


# --- stock callbacks -------------------------------------------------------------------------------------------
def test_incremental_change_callback_is_read() -> None:
    body = urlencode({"ItemCode": "MUG", "QuantityChanged": "-3", "UpdateTimestamp": "2024-07-01T10:30:00",
                      "UpdatedBy": "jo", "Reason": "Despatch", "Site": "MAIN", "HistoryId": "42"})
    notice = stock_notice_from_callback(INCREMENTAL_CHANGES, body, LONDON)
    assert (notice.item_code, notice.site, notice.quantity_changed, notice.history_id, notice.at) == (
        "MUG", "MAIN", -3, 42, datetime(2024, 7, 1, 9, 30))
    assert (notice.available, notice.reason, notice.user) == (None, "Despatch", "jo")


def test_availability_callback_with_unfilled_optional_placeholders_reads_them_as_empty() -> None:
    body = "ItemCode=MUG&Available=4&OnHand={OnHand}&Allocated=&Site=%7BSite.Reference%7D"
    notice = stock_notice_from_callback(AVAILABILITY_CHANGES, body, LONDON)
    assert (notice.item_code, notice.available, notice.on_hand, notice.allocated, notice.site) == (
        "MUG", 4, None, None, "")


@pytest.mark.parametrize(("event", "body", "message"), [
    (INCREMENTAL_CHANGES, "ItemCode={ItemType.ItemCode}&QuantityChanged=2",
     "required field ItemCode still holds the placeholder {ItemType.ItemCode}"),
    (INCREMENTAL_CHANGES, "QuantityChanged=2", "required field ItemCode is missing or empty"),
    (INCREMENTAL_CHANGES, "ItemCode=MUG&QuantityChanged=", "required field QuantityChanged is missing or empty"),
    (INCREMENTAL_CHANGES, "ItemCode=MUG&QuantityChanged=2.5", "item MUG: QuantityChanged '2.5' is not a whole"),
    (INCREMENTAL_CHANGES, "ItemCode=MUG&QuantityChanged=2&HistoryId=4e2", "HistoryId '4e2' is not a whole number"),
    (INCREMENTAL_CHANGES, "ItemCode=MUG&QuantityChanged=2&UpdateTimestamp=yesterday",
     "UpdateTimestamp 'yesterday' is not a Peoplevox date"),
    (INCREMENTAL_CHANGES, "ItemCode=MUG&ItemCode=CAP&QuantityChanged=1", "field ItemCode is given 2 times"),
    (AVAILABILITY_CHANGES, "ItemCode=MUG&Available=lots", "Available 'lots' is not a whole number"),
    (AVAILABILITY_CHANGES, "ItemCode=MUG&Available={Available}", "required field Available still holds"),
    ("DespatchPackageDespatched", "ItemCode=MUG&Available=1", "is not a Peoplevox stock event"),
], ids=["item-placeholder", "no-item", "empty-qty", "fraction-qty", "bad-history", "bad-date", "twice",
        "bad-available", "available-placeholder", "wrong-event"])
def test_a_bad_stock_callback_names_what_is_wrong(event: str, body: str, message: str) -> None:
    with pytest.raises(BadStockEvent, match=message.replace("{", r"\{").replace("}", r"\}").replace(".", r"\.")):
        stock_notice_from_callback(event, body, LONDON)


def test_callback_templates_use_the_required_fields_and_the_despatch_url_shape() -> None:
    assert STOCK_EVENTS == (INCREMENTAL_CHANGES, AVAILABILITY_CHANGES, RETURNS)
    for event in STOCK_EVENTS:
        assert set(STOCK_REQUIRED[event]) <= set(STOCK_FIELDS[event])
    url = stock_callback_url("https://air.example.com/erp-wms/", "acme", INCREMENTAL_CHANGES, "s3cret")
    assert url.startswith("https://air.example.com/erp-wms/hooks/peoplevox/acme/IncrementalChanges?token=s3cret&")
    assert "ItemCode={ItemType.ItemCode}&QuantityChanged={QuantityChanged}" in url
    assert stock_callback_query(AVAILABILITY_CHANGES).startswith("ItemCode={ItemCode}&Available={Available}")
    with pytest.raises(ValueError, match="'GoodsReceived' is not one of"):
        stock_callback_query("GoodsReceived")


# --- what the Peoplevox simulator emits ------------------------------------------------------------------------
def test_simulator_movement_report_reads_without_a_problem() -> None:
    moved, problems = movements_from_report(report_specs.item_movement_history(stocked_tenant()), "UTC")
    assert problems == [] and [m.history_id for m in moved] == list(range(1, 11))
    assert moved[6].comments == "RC-1" and moved[6].at == datetime(2024, 7, 1, 9, 30)


def test_simulator_stock_callbacks_fill_our_templates_and_read_back() -> None:
    settings = PeoplevoxSettings()
    for event in STOCK_EVENTS:
        url = stock_callback_url("https://air.example.com/erp-wms", "acme", event, "tok")
        assert sim_events.check_subscription(event, url, None, "", settings) is None, event
    tenant = stocked_tenant()
    incremental = [stock_notice_from_callback(INCREMENTAL_CHANGES, callback_body(INCREMENTAL_CHANGES, v), "UTC")
                   for v in published(tenant, INCREMENTAL_CHANGES)]
    assert [(n.item_code, n.quantity_changed, n.history_id) for n in incremental][-2:] == [
        ("CAP", 1, 9), ("CAP", 3, 10)]
    assert {n.site for n in incremental} == {"MAIN"}
    available = [stock_notice_from_callback(AVAILABILITY_CHANGES, callback_body(AVAILABILITY_CHANGES, v), "UTC")
                 for v in published(tenant, AVAILABILITY_CHANGES)]
    assert (available[-1].item_code, available[-1].available, available[-1].on_hand) == ("CAP", 4, 5)


def test_row_problem_keeps_the_row_as_given_for_the_exception_payload() -> None:
    _, problems = movements_from_report([movement_row("1", Quantity=" 'x' ")], LONDON)
    assert problems == [RowProblem("Item movement history", 1, "1", "MUG", "MAIN",
                                   "row 1 has Quantity 'x', not a whole number",
                                   {**movement_row("1", Quantity="x"), "Date timestamp": "01/07/2024 10:30:00"})]
