"""Despatches from Peoplevox callbacks and the Despatch summary report, what is still open on an order, and the
dispatch_confirmation data check (no API, no ledger)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import pytest

from erp_wms_simulators.peoplevox.entities import stamp
from erp_wms_simulators.peoplevox.report_specs import report_date
from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_sync.checks.runner import run_checks
from erp_wms_sync.checks.suites import dispatch_checks
from erp_wms_sync.domain.despatches import (
    CANCELLED_ORDER,
    MISMATCH,
    UNKNOWN_ORDER,
    WITHOUT_TRACKING,
    BadDespatch,
    Despatch,
    DespatchLine,
    UnknownTimezone,
    blocking,
    despatches_from_report,
    dispatch_frame_rows,
    notice_from_callback,
    remaining_quantities,
    report_clause,
    whole_order,
    wms_datetime,
)
from erp_wms_sync.domain.orders import ErpOrder, OrderLine, OrderState
from erp_wms_sync.webhooks import PACKAGE_DESPATCHED, PACKAGE_TRACKING_RECEIVED

LONDON = "Europe/London"


def callback(**fields: str | None) -> str:
    base: dict[str, str | None] = {"SalesOrderNumber": "SO-1", "DespatchNumber": "DES1", "PackageNumber": "PKG1",
            "TrackingNumber": "TRK1", "Carrier": "DPD", "Service": "NEXTDAY", "DespatchDate": "2026-07-01T10:15:00"}
    base.update(fields)
    return urlencode({k: v for k, v in base.items() if v is not None})


def row(number: str = "DES1", order: str = "SO-1", item: str = "A", quantity: str = "1",
        date: str = "'01/12/2026 09:30:00'", tracking: str = "TRK1", **extra: str) -> dict[str, str]:
    base = {"Despatch number": number, "Salesorder number": order, "Item code": item, "No of items": quantity,
            "Despatch date": date, "Carrier": "DPD", "Service": "NEXTDAY", "Tracking number": tracking,
            "Site reference": "PrimarySite"}
    base.update(extra)
    return base


def despatch(lines: tuple[tuple[str, int], ...] = (("A", 1),), tracking: tuple[str, ...] = ("TRK1",),
             number: str = "DES1") -> Despatch:
    return Despatch(number, "SO-1", datetime(2026, 12, 1, 9, 30), "DPD", "NEXTDAY", tracking,
                    tuple(DespatchLine(c, q) for c, q in lines))


def erp_order(*lines: tuple[str, float]) -> ErpOrder:
    return ErpOrder(erp_id="id-1", number="SO-1", state=OrderState.RELEASABLE, erp_status="ORDERED",
                    location="Main Warehouse", customer="Jane",
                    lines=tuple(OrderLine(sku, qty, 1.0, n) for n, (sku, qty) in enumerate(lines, 1)))


# --- dates and the report clause -------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    pytest.param("2026-07-01T10:15:00", datetime(2026, 7, 1, 9, 15), id="iso-summer-bst"),
    pytest.param("2026-12-01 10:15:00", datetime(2026, 12, 1, 10, 15), id="space-winter-gmt"),
    pytest.param("'01/07/2026 10:15:30'", datetime(2026, 7, 1, 9, 15, 30), id="report-quoted-summer"),
    pytest.param("01/12/2026 10:15", datetime(2026, 12, 1, 10, 15), id="report-minutes-winter"),
    pytest.param(" '29/03/2026 02:30:00' ", datetime(2026, 3, 29, 1, 30), id="spring-gap"),
    pytest.param("25/10/2026 01:30:00", datetime(2026, 10, 25, 0, 30), id="autumn-fold-first"),
])
def test_local_wms_times_become_naive_utc(text: str, expected: datetime) -> None:
    assert wms_datetime(text, LONDON) == expected


def test_dates_as_the_simulated_warehouse_writes_them() -> None:
    moment = datetime(2026, 1, 15, 8, 5, 9)
    callback_date = stamp(moment, PeoplevoxSettings())
    assert wms_datetime(callback_date, LONDON) == wms_datetime(report_date(moment), LONDON) == moment


@pytest.mark.parametrize("text", ["", "tomorrow", "31/02/2026 10:00:00", "2026-07-01", "01/07/2026",
                                  "'01/07/2026 10:00:00", "{DespatchDate}", "01/01/0001 00:00:00"])
def test_what_is_not_a_date_is_named(text: str) -> None:
    with pytest.raises(ValueError, match="not a Peoplevox date"):
        wms_datetime(text, "Asia/Tokyo")


def test_an_unknown_time_zone_is_a_settings_error_not_a_bad_despatch() -> None:
    with pytest.raises(UnknownTimezone, match="'Mars/Olympus' is not an IANA time zone"):
        wms_datetime("2026-07-01T10:15:00", "Mars/Olympus")
    with pytest.raises(UnknownTimezone):
        despatches_from_report([row()], "")
    assert not issubclass(UnknownTimezone, ValueError)


@pytest.mark.parametrize("since, expected", [
    (datetime(2026, 12, 3, 9, 15, tzinfo=UTC), "([Despatch date] >= DateTime(2026,12,03,09,15,00))"),
    (datetime(2026, 7, 3, 9, 15, 7, 999, tzinfo=UTC), "([Despatch date] >= DateTime(2026,07,03,10,15,07))"),
    (datetime(2026, 7, 3, 9, 15, tzinfo=timezone(timedelta(hours=-5))),
     "([Despatch date] >= DateTime(2026,07,03,15,15,00))"),
    (datetime(2026, 7, 3, 9, 15), "([Despatch date] >= DateTime(2026,07,03,10,15,00))"),
])
def test_report_clause_speaks_the_warehouse_local_time(since: datetime, expected: str) -> None:
    assert report_clause(since, LONDON) == expected


# --- callbacks -------------------------------------------------------------------------------------------------
def test_a_package_callback_becomes_a_notice_in_utc() -> None:
    notice = notice_from_callback(PACKAGE_DESPATCHED, callback(), LONDON)
    assert (notice.despatch_number, notice.order_number, notice.package, notice.tracking) == \
        ("DES1", "SO-1", "PKG1", "TRK1")
    assert (notice.carrier, notice.service, notice.event_type) == ("DPD", "NEXTDAY", PACKAGE_DESPATCHED)
    assert notice.despatched_at == datetime(2026, 7, 1, 9, 15)


def test_a_posted_form_with_spaces_and_quotes_reads_the_same() -> None:
    body = "SalesOrderNumber=SO-1&DespatchNumber=+DES1+&PackageNumber=PKG1&TrackingNumber=&Carrier=Royal+Mail" \
           "&Service=&DespatchDate=%2701%2F12%2F2026+10%3A15%27"
    notice = notice_from_callback(PACKAGE_DESPATCHED, body, LONDON)
    assert (notice.despatch_number, notice.tracking, notice.carrier) == ("DES1", "", "Royal Mail")
    assert notice.despatched_at == datetime(2026, 12, 1, 10, 15)


def test_optional_fields_peoplevox_left_as_placeholders_are_empty() -> None:
    body = callback(TrackingNumber="{TrackingNumber}", Carrier="{Carrier.Name}", DespatchDate="{DespatchDate}")
    notice = notice_from_callback(PACKAGE_DESPATCHED, body, LONDON)
    assert (notice.tracking, notice.carrier, notice.despatched_at) == ("", "", None)


@pytest.mark.parametrize("event, body, named", [
    pytest.param("SalesOrderStatusChanges", callback(), "SalesOrderStatusChanges", id="other-event"),
    pytest.param(PACKAGE_DESPATCHED, callback(DespatchNumber=None), "DespatchNumber", id="no-despatch"),
    pytest.param(PACKAGE_DESPATCHED, callback(SalesOrderNumber="  "), "SalesOrderNumber", id="blank-order"),
    pytest.param(PACKAGE_DESPATCHED, callback(PackageNumber="{PackageNumber}"), "PackageNumber", id="placeholder"),
    pytest.param(PACKAGE_DESPATCHED, callback() + "&DespatchNumber=DES2", "DespatchNumber", id="twice"),
    pytest.param(PACKAGE_DESPATCHED, callback(DespatchNumber="D" * 65), "longer than 64", id="long-number"),
    pytest.param(PACKAGE_DESPATCHED, callback(Carrier="C" * 129), "Carrier is longer", id="long-carrier"),
    pytest.param(PACKAGE_DESPATCHED, callback(DespatchDate="yesterday"), "DespatchDate", id="bad-date"),
    pytest.param(PACKAGE_TRACKING_RECEIVED, callback(TrackingNumber=""), "no TrackingNumber", id="no-tracking"),
    pytest.param(PACKAGE_DESPATCHED, "", "SalesOrderNumber", id="empty-body"),
])
def test_unreadable_callbacks_name_the_field(event: str, body: str, named: str) -> None:
    with pytest.raises(BadDespatch, match=named):
        notice_from_callback(event, body, LONDON)


def test_a_field_repeated_with_the_same_value_is_accepted() -> None:
    notice = notice_from_callback(PACKAGE_TRACKING_RECEIVED, callback() + "&DespatchNumber=DES1", LONDON)
    assert notice.despatch_number == "DES1"


# --- the Despatch summary report -------------------------------------------------------------------------------
def test_rows_are_grouped_per_despatch_and_summed_per_item() -> None:
    rows = [row(item="A", quantity="2", tracking="TRK1, TRK2"), row(number="DES2", order="SO-2", item="C"),
            row(item="B", quantity="1", tracking="TRK2,TRK3,"), row(item="A", quantity="3.0", tracking="TRK1")]
    found, problems = despatches_from_report(rows, LONDON)
    assert problems == []
    assert [d.number for d in found] == ["DES1", "DES2"]
    first = found[0]
    assert first.quantities() == {"A": 5, "B": 1}
    assert first.lines == (DespatchLine("A", 5), DespatchLine("B", 1))
    assert first.tracking == ("TRK1", "TRK2", "TRK3")
    assert (first.order_number, first.carrier, first.service, first.site) == ("SO-1", "DPD", "NEXTDAY", "PrimarySite")
    assert first.despatched_at == datetime(2026, 12, 1, 9, 30)
    assert found[1].order_number == "SO-2" and found[1].quantities() == {"C": 1}


def test_summer_report_dates_are_an_hour_ahead_of_utc_and_the_earliest_is_kept() -> None:
    rows = [row(date="'01/07/2026 10:00:00'"), row(item="B", date="01/07/2026 09:59")]
    [found], _ = despatches_from_report(rows, LONDON)
    assert found.despatched_at == datetime(2026, 7, 1, 8, 59)


def test_a_despatch_without_a_date_or_tracking_is_still_a_despatch() -> None:
    [found], problems = despatches_from_report([row(date="", tracking=" , ")], LONDON)
    assert problems == [] and found.despatched_at is None and found.tracking == ()


@pytest.mark.parametrize("bad, reason", [
    pytest.param(row(item=""), "row 2 has no Item code", id="no-item"),
    pytest.param(row(item="B", quantity=""), "row 2 has no No of items", id="no-quantity"),
    pytest.param(row(item="B", quantity="0"), "'0', not a positive whole number", id="zero"),
    pytest.param(row(item="B", quantity="-1"), "'-1', not a positive whole number", id="negative"),
    pytest.param(row(item="B", quantity="1.5"), "'1.5', not a positive whole number", id="fraction"),
    pytest.param(row(item="B", quantity="1,000"), "not a positive whole number", id="thousands"),
    pytest.param(row(item="B", quantity="1e3"), "not a positive whole number", id="exponent"),
    pytest.param(row(item="B", date="'31/11/2026 10:00:00'"), "row 2 has Despatch date", id="bad-date"),
    pytest.param(row(item="B", order=""), "row 2 has no Salesorder number", id="no-order"),
    pytest.param(row(item="B", order="SO-2"), "listed for more than one order (SO-1, SO-2)", id="two-orders"),
    pytest.param(row(item="B", Carrier="X" * 129), "Carrier longer than 128", id="long-carrier"),
])
def test_one_bad_row_makes_the_whole_despatch_a_problem(bad: dict[str, str], reason: str) -> None:
    rows = [row(item="A"), bad, row(number="DES2", order="SO-3")]
    found, problems = despatches_from_report(rows, LONDON)
    assert [d.number for d in found] == ["DES2"]
    [problem] = problems
    assert problem.despatch_number == "DES1"
    assert reason in problem.reason
    assert len(problem.rows) == 2 and problem.rows[0]["Item code"] == "A"


def test_a_duplicate_despatch_number_across_two_orders_names_neither_as_its_order() -> None:
    _, [problem] = despatches_from_report([row(order="SO-1"), row(order="SO-9", item="Z")], LONDON)
    assert problem.order_number == ""
    assert "DES1 is listed for more than one order (SO-1, SO-9)" in problem.reason


def test_hostile_rows_missing_columns_none_cells_and_extra_cells_are_judged_not_crashed() -> None:
    ragged = {"Despatch number": "DES1", "Salesorder number": "SO-1", "Item code": "A"}  # no quantity column
    short: dict[Any, Any] = {**row(number="DES2"), "No of items": None, None: ["spill", "over"]}
    padded = {**row(number="DES3", item=" 'B' ", quantity=" 2 "), "Tracking number": "'0042'"}
    found, problems = despatches_from_report([ragged, short, padded], LONDON)
    assert {p.despatch_number: p.reason for p in problems} == {"DES1": "row 1 has no No of items",
                                                               "DES2": "row 2 has no No of items"}
    assert all(None not in p.rows[0] for p in problems)
    [good] = found
    assert good.quantities() == {"B": 2} and good.tracking == ("0042",)


def test_rows_without_a_despatch_number_are_problems_per_order() -> None:
    rows = [row(number=""), row(number="  ", item="B"), row(number="", order="SO-2"), row(number="DES5")]
    found, problems = despatches_from_report(rows, LONDON)
    assert [d.number for d in found] == ["DES5"]
    assert [(p.despatch_number, p.order_number, len(p.rows)) for p in problems] == [("", "SO-1", 2), ("", "SO-2", 1)]
    assert problems[0].reason == "row 1 has no Despatch number; row 2 has no Despatch number"


def test_an_over_long_despatch_number_is_a_problem_not_a_failed_insert() -> None:
    _, [problem] = despatches_from_report([row(number="D" * 65)], LONDON)
    assert problem.reason.startswith("the despatch number is longer than 64 characters")


def test_many_bad_rows_are_summarised() -> None:
    _, [problem] = despatches_from_report([row(item="") for _ in range(15)], LONDON)
    assert problem.reason.endswith("; and 5 more") and len(problem.rows) == 15


def test_an_empty_report_has_nothing() -> None:
    assert despatches_from_report([], LONDON) == ([], [])


# --- what is still open, whole orders --------------------------------------------------------------------------
def test_remaining_maps_skus_sums_lines_and_subtracts_earlier_despatches() -> None:
    order = erp_order(("sku-a", 5), ("sku-b", 2), ("sku-a", 1), ("sku-c", 0), ("", 3))
    remaining = remaining_quantities(order, str.upper, [{"SKU-A": 2, "ZZZ": 9}, {"SKU-A": 1, "SKU-B": 5}])
    assert remaining == {"SKU-A": 3.0, "SKU-B": 0.0, "SKU-C": 0.0}


@pytest.mark.parametrize("lines, expected", [
    pytest.param((("A", 3), ("B", 1)), True, id="everything-open"),
    pytest.param((("B", 1), ("A", 2), ("A", 1)), True, id="split-lines-add-up"),
    pytest.param((("A", 3),), False, id="partial"),
    pytest.param((("A", 3), ("B", 1), ("X", 1)), False, id="something-else"),
    pytest.param((("A", 4), ("B", 1)), False, id="too-much"),
    pytest.param((("A", 3), ("B", 1), ("C", 1)), False, id="dropped-line-despatched"),
])
def test_whole_order_means_exactly_what_is_still_open(lines: tuple[tuple[str, int], ...], expected: bool) -> None:
    assert whole_order({"A": 3.0, "B": 1.0, "C": 0.0}, despatch(lines)) is expected


def test_nothing_open_is_never_taken_whole() -> None:
    assert whole_order({"A": 0.0}, despatch((("A", 1),))) is False
    assert whole_order({}, despatch(())) is False


# --- the data check --------------------------------------------------------------------------------------------
def test_frame_rows_one_per_item_with_flags() -> None:
    rows = dispatch_frame_rows(despatch((("A", 2), ("X", 1), ("A", 1)), tracking=()), order_known=True,
                               order_cancelled=True, remaining={"A": 4.0})
    assert rows == [
        {"despatch": "DES1", "order_known": 1, "order_cancelled": 1, "has_tracking": 0, "item_code": "A",
         "on_order": 1, "quantity": 3, "quantity_text": "3", "remaining": 4.0},
        {"despatch": "DES1", "order_known": 1, "order_cancelled": 1, "has_tracking": 0, "item_code": "X",
         "on_order": 0, "quantity": 1, "quantity_text": "1", "remaining": 0.0},
    ]


def categories_of(*despatches: tuple[Despatch, bool, bool, dict[str, float]]) -> dict[str, set[str]]:
    rows, owners = [], []
    for subject, known, cancelled, remaining in despatches:
        lines = dispatch_frame_rows(subject, order_known=known, order_cancelled=cancelled, remaining=remaining)
        rows.extend(lines)
        owners.extend([subject.number] * len(lines))
    outcome = run_checks("dispatch_confirmation", pd.DataFrame(rows), dispatch_checks())
    found: dict[str, set[str]] = {}
    for position, kinds in outcome.categories.items():
        found.setdefault(owners[position], set()).update(kinds)
    return found


def test_the_suite_reports_each_failing_despatch_with_its_category() -> None:
    open_ab = {"A": 3.0, "B": 1.0}
    found = categories_of(
        (despatch((("A", 3), ("B", 1)), number="OK"), True, False, open_ab),
        (despatch((("A", 1),), number="PARTIAL"), True, False, open_ab),
        (despatch((("A", 1),), number="UNKNOWN"), False, False, {}),
        (despatch((("A", 1),), number="CANCELLED"), True, True, open_ab),
        (despatch((("A", 1), ("Z", 1)), number="NOT-ON-ORDER"), True, False, open_ab),
        (despatch((("A", 4),), number="TOO-MANY"), True, False, open_ab),
        (despatch((("A", 0),), number="ZERO"), True, False, open_ab),
        (despatch((("A", -2),), number="NEGATIVE"), True, False, open_ab),
        (despatch((("A", 1.5),), number="FRACTION"), True, False, open_ab),  # type: ignore[arg-type]
        (despatch((), number="EMPTY"), True, False, open_ab),
        (despatch((("A", 1),), tracking=(), number="NO-TRACKING"), True, False, open_ab),
        (despatch((("A", 1),), tracking=(), number="CANCELLED-NO-TRACKING"), True, True, open_ab),
    )
    assert found == {
        "UNKNOWN": {UNKNOWN_ORDER},
        "CANCELLED": {CANCELLED_ORDER},
        "NOT-ON-ORDER": {MISMATCH},
        "TOO-MANY": {MISMATCH},
        "ZERO": {MISMATCH},
        "NEGATIVE": {MISMATCH},
        "FRACTION": {MISMATCH},
        "EMPTY": {MISMATCH},
        "NO-TRACKING": {WITHOUT_TRACKING},
        "CANCELLED-NO-TRACKING": {CANCELLED_ORDER, WITHOUT_TRACKING},
    }
    assert not blocking(found["NO-TRACKING"])
    assert all(blocking(kinds) for name, kinds in found.items() if name != "NO-TRACKING")


def test_the_suite_explains_failures_in_warehouse_words() -> None:
    rows = dispatch_frame_rows(despatch((("A", 4),)), order_known=True, order_cancelled=False,
                               remaining={"A": 3.0})
    outcome = run_checks("dispatch_confirmation", pd.DataFrame(rows), dispatch_checks())
    assert outcome.failures == {0: ["more of the item was despatched than is still open on the order"]}
    assert not outcome.success
    negative = dispatch_frame_rows(despatch((("A", -1),)), order_known=True, order_cancelled=False,
                                   remaining={"A": 3.0})
    outcome = run_checks("dispatch_confirmation", pd.DataFrame(negative), dispatch_checks())
    assert outcome.failures == {0: ["the despatched quantity is below 1"]}


@pytest.mark.parametrize("categories, expected", [
    pytest.param([], False, id="nothing"),
    pytest.param([WITHOUT_TRACKING, WITHOUT_TRACKING], False, id="tracking-only"),
    pytest.param([WITHOUT_TRACKING, MISMATCH], True, id="tracking-and-mismatch"),
    pytest.param([UNKNOWN_ORDER], True, id="unknown"),
    pytest.param([CANCELLED_ORDER], True, id="cancelled"),
    pytest.param([""], True, id="unnamed"),
])
def test_only_missing_tracking_lets_a_despatch_through(categories: list[str], expected: bool) -> None:
    assert blocking(categories) is expected
