"""The Cin7 Core fulfilment bodies and answer checks the dispatch flow uses (pure, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from erp_wms_sync.domain import cin7_fulfilment as c7

TASK = "7d3c1f0a-0000-4000-8000-000000000001"
OTHER = "7d3c1f0a-0000-4000-8000-000000000002"


# ---- bodies -----------------------------------------------------------------------------------
def test_an_autopick_needs_no_lines() -> None:
    assert c7.pick_body(TASK, {"TEE": 2}, "Main", autopick=True) == \
        {"TaskID": TASK, "Status": "AUTHORISED", "AutoPickMode": "AUTOPICK"}


def test_a_partial_pick_lists_each_sku_at_the_location() -> None:
    assert c7.pick_body(TASK, {"TEE": 2, "BOOT": 1.5}, "Main", autopick=False) == {
        "TaskID": TASK, "Status": "AUTHORISED",
        "Lines": [{"SKU": "BOOT", "Quantity": 1.5, "Location": "Main"}, {"SKU": "TEE", "Quantity": 2.0,
                                                                        "Location": "Main"}]}


def test_a_blank_location_leaves_it_to_the_sale() -> None:
    assert c7.pick_body(TASK, {"TEE": 1}, "", autopick=False)["Lines"] == [{"SKU": "TEE", "Quantity": 1.0}]


@pytest.mark.parametrize("lines", [{}, {"TEE": 0}, {"TEE": -1}, {"": 1}], ids=["none", "zero", "negative", "no-sku"])
def test_a_pick_of_nothing_is_refused(lines: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="SKU"):
        c7.pick_body(TASK, lines, "Main", autopick=False)


def test_every_packed_line_goes_into_the_despatch_box() -> None:
    body = c7.pack_body(TASK, {"TEE": 2, "BOOT": 1}, "Main", "DSP-42")
    assert body["Status"] == "AUTHORISED" and body["TaskID"] == TASK
    assert [(line["SKU"], line["Quantity"], line["Box"]) for line in body["Lines"]] == \
        [("BOOT", 1.0, "DSP-42"), ("TEE", 2.0, "DSP-42")]


def test_the_ship_line_carries_the_box_date_carrier_and_every_tracking_number() -> None:
    shipped = datetime(2025, 3, 1, 16, 5, 9, tzinfo=timezone(timedelta(hours=2)))
    assert c7.ship_body(TASK, "DSP-42", "DHL", ["1Z1", "1Z2", "1Z1", " "], shipped) == {
        "TaskID": TASK, "Status": "AUTHORISED",
        "Lines": [{"Box": "DSP-42", "ShipmentDate": "2025-03-01T14:05:09", "Carrier": "DHL",
                   "TrackingNumber": "1Z1, 1Z2", "IsShipped": True}]}


def test_a_shipment_without_a_date_is_dated_by_cin7() -> None:
    assert "ShipmentDate" not in c7.ship_body(TASK, "DSP-42", "DHL", [], None)["Lines"][0]


def test_a_shipment_date_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        c7.ship_body(TASK, "DSP-42", "DHL", [], datetime(2025, 3, 1, 12, 0))


def test_tracking_is_changed_with_add_tracking_numbers() -> None:
    assert c7.tracking_body(TASK, "DSP-42", "UPS", ["1Z9"]) == {
        "TaskID": TASK, "Status": "AUTHORISED", "AddTrackingNumbers": True,
        "Lines": [{"Box": "DSP-42", "Carrier": "UPS", "TrackingNumber": "1Z9"}]}


# ---- answer checks ----------------------------------------------------------------------------
def stage(status: str = "AUTHORISED", task: str = TASK, **quantities: float) -> dict[str, Any]:
    return {"TaskID": task, "Status": status,
            "Lines": [{"SKU": sku, "Quantity": qty, "Box": "DSP-42"} for sku, qty in quantities.items()]}


def ship(status: str = "AUTHORISED", *boxes: tuple[str, bool, str]) -> dict[str, Any]:
    return {"TaskID": TASK, "Status": status,
            "Lines": [{"Boxes": box, "IsShipped": shipped, "TrackingNumber": tracking}
                      for box, shipped, tracking in boxes]}


@pytest.mark.parametrize(("answer", "problem"), [
    (stage(TEE=2, BOOT=1), None),
    (stage(TEE=2.0000000001, BOOT=1), None),
    (stage(task=TASK.upper(), TEE=2, BOOT=1), None),
    (stage("DRAFT", TEE=2, BOOT=1), "the pick of task " + TASK + " is DRAFT, not AUTHORISED"),
    ({"TaskID": TASK, "Lines": []}, "is without a status"),
    (stage(task=OTHER, TEE=2, BOOT=1), f"the pick answer is for task '{OTHER}'"),
    (stage(TEE=2), "BOOT 0 instead of 1"),
    (stage(TEE=3, BOOT=1), "TEE 3 instead of 2"),
    (stage(TEE=2, BOOT=1, CAP=1), "CAP 1 instead of 0"),
], ids=["exact", "rounding", "task-case", "draft", "no-status", "other-task", "missing-sku", "more", "extra-sku"])
def test_a_pick_answer_must_hold_exactly_our_quantities(answer: dict[str, Any], problem: str | None) -> None:
    found = c7.check_stage("pick", answer, TASK, {"TEE": 2, "BOOT": 1})
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_a_pack_answer_must_keep_every_line_in_our_box() -> None:
    answer = stage(TEE=2)
    assert c7.check_stage("pack", answer, TASK, {"TEE": 2}, box="DSP-42") is None
    answer["Lines"].append({"SKU": "TEE", "Quantity": 0, "Box": "Box 1"})
    assert c7.check_stage("pack", answer, TASK, {"TEE": 2}, box="DSP-42") == \
        f"the pack of task {TASK} has lines in box Box 1, not only in 'DSP-42'"


@pytest.mark.parametrize(("answer", "problem"), [
    (ship("AUTHORISED", ("DSP-42", True, "1Z1, 1Z2")), None),
    (ship("AUTHORISED", ("DSP-42", True, "1Z2,1Z1")), None),
    (ship("PARTIALLY AUTHORISED", ("DSP-41", True, "1Z0"), ("DSP-42", True, "1Z1, 1Z2")), None),
    (ship("PARTIALLY AUTHORISED", ("DSP-41", True, "1Z0"), ("DSP-42", False, "1Z1, 1Z2")),
     "box 'DSP-42' is on the shipment but not shipped (the shipment is PARTIALLY AUTHORISED)"),
    (ship("PARTIALLY AUTHORISED", ("DSP-41", True, "1Z1, 1Z2")), "the shipment has no box 'DSP-42' (boxes: DSP-41)"),
    (ship("DRAFT", ("DSP-42", False, "1Z1, 1Z2")), "the shipment is DRAFT, not AUTHORISED"),
    (ship("AUTHORISED", ("DSP-42", True, "1Z1")), "box 'DSP-42' carries tracking 1Z1, not 1Z1, 1Z2"),
], ids=["ours", "tracking-order", "later-box-partial", "ours-not-shipped", "another-box", "draft", "tracking"])
def test_a_ship_answer_must_show_our_box_shipped_with_our_tracking(answer: dict[str, Any],
                                                                  problem: str | None) -> None:
    assert c7.check_stage("ship", answer, TASK, None, box="DSP-42", tracking=["1Z1", "1Z2"]) == problem


def test_an_unknown_stage_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown fulfilment stage 'invoice'"):
        c7.check_stage("invoice", stage(), TASK, None)


# ---- the fulfilment listing -------------------------------------------------------------------
TASKS: list[dict[str, Any]] = [
    {"TaskID": TASK, "Pick": {"Status": "AUTHORISED"}, "Pack": {"Status": "AUTHORISED"},
     "Ship": {"Status": "AUTHORISED", "Lines": [{"Boxes": "DSP-41", "IsShipped": True}]}},
    {"TaskID": OTHER, "Pick": {"Status": "AUTHORISED"}, "Pack": {"Status": "DRAFT"},
     "Ship": {"Status": "NOT AVAILABLE", "Lines": [{"Box": "DSP-42", "IsShipped": False}]}},
]


def test_the_listing_tells_which_stages_are_done() -> None:
    assert c7.task_ids(TASKS) == [TASK, OTHER]
    assert [c7.stage_status(TASKS, OTHER, s) for s in c7.STAGES] == ["AUTHORISED", "DRAFT", "NOT AVAILABLE"]
    assert c7.stage_status(TASKS, OTHER.upper(), "pick") == "AUTHORISED"
    assert c7.stage_status(TASKS, "no-such-task", "pick") == "" and c7.stage_status([{"TaskID": TASK}], TASK,
                                                                                     "ship") == ""


def test_a_box_has_shipped_only_on_its_own_task_once_marked_shipped() -> None:
    assert c7.box_shipped(TASKS, TASK, "DSP-41")
    assert not c7.box_shipped(TASKS, OTHER, "DSP-41")
    assert not c7.box_shipped(TASKS, OTHER, "DSP-42")
    assert not c7.box_shipped(TASKS, "no-such-task", "DSP-41")


def test_the_new_task_is_the_one_id_not_there_before() -> None:
    assert c7.new_task_id([TASK.upper()], TASKS) == OTHER


@pytest.mark.parametrize(("before", "message"), [
    ([TASK, OTHER], "created no new task"),
    ([], "shows 2 new tasks"),
], ids=["none", "two"])
def test_no_new_task_or_several_cannot_be_told_apart(before: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        c7.new_task_id(before, TASKS)


def test_the_shipment_date_is_utc_text() -> None:
    assert c7.format_shipment_date(datetime(2025, 12, 31, 23, 59, 59, 900000, tzinfo=UTC)) == "2025-12-31T23:59:59"
