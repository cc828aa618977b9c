"""Edit-and-retry without the simulators: what a person's correction of one order does to its Peoplevox rows, and
what edit_and_retry refuses before anything is sent (the sending itself is covered end to end in
tests/e2e/test_dashboard_edits.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import HTTPException

from erp_wms_sync.config import load_integration
from erp_wms_sync.dashboard.edits import edit_and_retry, editable
from erp_wms_sync.dashboard.web import Dashboard, Viewer
from erp_wms_sync.domain.order_status import ReleaseState
from erp_wms_sync.domain.orders import Address, ErpOrder, OrderLine, OrderState, order_to_dict
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.order_release.rows import apply_override, build_rows
from erp_wms_sync.ledger import dashboard_repo, repo
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import ExceptionRecord

NORTHWIND = load_integration("include/integrations/northwind.yaml")
ALICE, BOB = Viewer("alice"), Viewer("bob")


def order(*, postcode: str = "", second_sku: str = "ODD-SKU") -> ErpOrder:
    return ErpOrder("erp-1", "SO-1", OrderState.RELEASABLE, "AUTHORISED", "Main Warehouse", "Jane Doe",
                    (OrderLine("NWO-BOOT-10", 1.0, 10.0, 1), OrderLine(second_sku, 2.0, 5.0, 2)),
                    updated="2026-12-01T10:00:00Z",
                    shipping=Address("1 High St", "", "Leeds", "", postcode, "GB"))


def ctx(url: str = "") -> RunContext:
    return RunContext(NORTHWIND, "order_release", "test", Window(None, datetime.now(UTC), "test"), url or None)


OVERRIDE = {"header": {"ShippingAddressPostcode": {"from": "", "to": "LS1 1AA"}},
            "items": {"2": {"sku": "ODD-SKU", "from": "ODD-SKU", "to": "NWO-BAG-REG"}}}


def test_the_correction_applies_while_the_erp_still_gives_what_it_corrected() -> None:
    header, items = build_rows(ctx(), order(), "SO-1", OVERRIDE)
    assert header["ShippingAddressPostcode"] == "LS1 1AA"
    assert [i["ItemCode"] for i in items] == ["NWO-BOOT-10", "NWO-BAG-REG"]
    assert header["SalesOrderNumber"] == "SO-1" and items[1]["QuantityOrdered"] == "2"


def test_an_erp_change_to_a_corrected_field_or_line_wins() -> None:
    header, items = build_rows(ctx(), order(postcode="LS2 2BB", second_sku="NWO-BOOT-11"), "SO-1", OVERRIDE)
    assert header["ShippingAddressPostcode"] == "LS2 2BB"
    assert [i["ItemCode"] for i in items] == ["NWO-BOOT-10", "NWO-BOOT-11"]


def test_the_order_number_is_never_overridden() -> None:
    base = build_rows(ctx(), order(), "SO-1")
    header, _ = apply_override(order(), base[0], base[1], {"header": {"SalesOrderNumber": {"from": "SO-1",
                                                                                           "to": "X"}}})
    assert header["SalesOrderNumber"] == "SO-1"


# --- edit_and_retry's refusals ---------------------------------------------------------------------------------
def board(url: str) -> Dashboard:
    def no_client(*_: Any) -> Any:
        raise AssertionError("nothing may be sent")

    return Dashboard(ledger_url=lambda: url, integrations=lambda: {"northwind": NORTHWIND}, secrets=lambda _: (),
                     can_act=lambda viewer, _: viewer.name == "alice", clients=no_client)


def held_order(url: str, type_: str = "invalid_order") -> int:
    """An order held by the data check, as validate_orders leaves it in the ledger."""
    erp = order()
    header, items = build_rows(ctx(url), erp, "SO-1")
    payload = {"order": order_to_dict(erp), "header": header, "items": items}
    with session_scope(url) as s:
        repo.upsert_orders(s, "northwind", [repo.OrderUpdate("erp-1", "SO-1", "AUTHORISED", erp.updated,
                                                             ReleaseState.HELD, payload)])
        row, _ = repo.raise_exception(s, integration="northwind", flow="order_release", owner="cx",
                                      exc=repo.NewException(type_, "order", "SO-1", "order SO-1 held", {}, payload),
                                      run_id="manual__1")
        s.flush()
        return row.id


def load(url: str, exception_id: int) -> ExceptionRecord:
    with session_scope(url) as s:
        row = s.get(ExceptionRecord, exception_id)
        assert row is not None
        _ = list(row.history)
        s.expunge(row)
        return row


def status(call: Any) -> tuple[int, str]:
    with pytest.raises(HTTPException) as caught:
        call()
    return caught.value.status_code, str(caught.value.detail)


def test_the_form_shows_the_rows_the_release_would_send(ledger_url: str) -> None:
    spec = editable(load(ledger_url, held_order(ledger_url)))
    assert spec is not None
    assert spec.fields["header"]["SalesOrderNumber"] == "SO-1" and spec.fields["header"]["Site"] == "MAIN"
    assert [(i["Line"], i["erp_sku"], i["ItemCode"]) for i in spec.fields["items"]] == [
        ("1", "NWO-BOOT-10", "NWO-BOOT-10"), ("2", "ODD-SKU", "ODD-SKU")]


def test_only_open_exceptions_of_the_editable_types_have_a_form(ledger_url: str) -> None:
    exception_id = held_order(ledger_url, "amendment_after_cutoff")
    assert editable(load(ledger_url, exception_id)) is None
    assert status(lambda: edit_and_retry(board(ledger_url), ALICE, exception_id, {}))[0] == 409
    held = held_order(ledger_url)
    with session_scope(ledger_url) as s:
        repo.resolve_exception(s, held, by="alice", note="done")
    assert editable(load(ledger_url, held)) is None
    assert status(lambda: edit_and_retry(board(ledger_url), ALICE, held, {}))[0] == 409
    assert status(lambda: edit_and_retry(board(ledger_url), ALICE, 999_999, {}))[0] == 404


def test_a_viewer_who_may_not_act_changes_nothing(ledger_url: str) -> None:
    exception_id = held_order(ledger_url)
    before = len(load(ledger_url, exception_id).history)
    code, _ = status(lambda: edit_and_retry(board(ledger_url), BOB, exception_id,
                                            {"header": {"ShippingAddressPostcode": "LS1 1AA"}}))
    assert code == 403
    assert len(load(ledger_url, exception_id).history) == before
    with session_scope(ledger_url) as s:
        assert dashboard_repo.actions(s) == []
        record = repo.order_records(s, "northwind", ["erp-1"])["erp-1"]
        assert "override" not in (record.payload or {})


@pytest.mark.parametrize(("edit", "field"), [
    ({"header": {"SalesOrderNumber": "SO-2"}}, "header.SalesOrderNumber"),
    ({"header": {"NoSuchField": "x"}}, "header.NoSuchField"),
    ({"header": {"Site": "ELSEWHERE"}}, "header.Site"),
    ({"items": [{"Line": "2", "QuantityOrdered": "5"}]}, "items[Line 2].QuantityOrdered"),
    ({"items": [{"Line": "9", "ItemCode": "X"}]}, "items[1].Line"),
    ({"items": "everything"}, "items"),
    ({"status": "released"}, "status"),
])
def test_an_edit_that_cannot_be_sent_is_refused_naming_the_field(ledger_url: str, edit: dict, field: str) -> None:
    exception_id = held_order(ledger_url)
    code, detail = status(lambda: edit_and_retry(board(ledger_url), ALICE, exception_id, edit))
    assert code == 400 and field in detail
    row = load(ledger_url, exception_id)
    assert row.status == "open" and row.history[-1].outcome == "edit_refused" and field in row.history[-1].message
    with session_scope(ledger_url) as s:
        [action] = dashboard_repo.actions(s, target_type="exception", target_id=exception_id)
        assert action.action == "edit_retry" and action.user == "alice" and action.outcome.startswith("refused")


def failed_increment(url: str, detail: dict[str, Any]) -> int:
    with session_scope(url) as s:
        row, _ = repo.raise_exception(
            s, integration="northwind", flow="inventory_sync", owner="ops",
            exc=repo.NewException("failed_stock_increment", "stock_pair", "NWO-BOOT-10|MAIN", "refused",
                                  {"item_code": "NWO-BOOT-10", "site": "MAIN", "quantity": 12,
                                   "through_history_id": 7, **detail}, {"movements": [7], "counted": 12}),
            run_id="manual__1")
        s.flush()
        return row.id


def test_a_stock_adjustment_form_falls_back_on_the_mapping(ledger_url: str) -> None:
    older = failed_increment(ledger_url, {})
    assert editable(load(ledger_url, older)).fields == {  # type: ignore[union-attr]
        "item_code": "NWO-BOOT-10", "site": "MAIN", "sku": "", "location": "", "quantity": 12}
    assert editable(load(ledger_url, older), NORTHWIND).fields["location"] == "Main Warehouse"  # type: ignore[union-attr]


@pytest.mark.parametrize(("edit", "field"), [
    ({"quantity": -3}, "quantity"), ({"quantity": "1.5"}, "quantity"), ({"quantity": "many"}, "quantity"),
    ({"location": "Mars"}, "location"), ({"site": "OTHER"}, "site"), ({"bin": "A1"}, "bin"),
])
def test_a_stock_edit_that_cannot_be_posted_is_refused(ledger_url: str, edit: dict, field: str) -> None:
    exception_id = failed_increment(ledger_url, {"sku": "NWO-BOOT-10", "location": "Main Warehouse"})
    code, detail = status(lambda: edit_and_retry(board(ledger_url), ALICE, exception_id, edit))
    assert code == 400 and detail.startswith(field)
    assert load(ledger_url, exception_id).status == "open"


def test_a_corrected_order_maps_its_item_both_ways_for_dispatch() -> None:
    from erp_wms_sync.flows.order_release.rows import order_item_code_for, order_sku_for

    class Record:
        payload = {"override": OVERRIDE}

    assert order_item_code_for(NORTHWIND, Record())("ODD-SKU") == "NWO-BAG-REG"
    assert order_item_code_for(NORTHWIND, Record())("NWO-BOOT-10") == "NWO-BOOT-10"
    assert order_sku_for(NORTHWIND, Record())("NWO-BAG-REG") == "ODD-SKU"
    assert order_sku_for(NORTHWIND, None)("NWO-BAG-REG") == "NWO-BAG-REG", "other orders keep the mapping"


def test_peoplevox_not_answering_is_an_outcome_on_record_not_a_crash(ledger_url: str) -> None:
    from erp_wms_sync.errors import ApiUnavailable

    class Down:
        def iter_item_types(self, **_: Any) -> Any:
            raise ApiUnavailable("peoplevox", "timed out", status=504)

    dashboard = Dashboard(ledger_url=lambda: ledger_url, integrations=lambda: {"northwind": NORTHWIND},
                          secrets=lambda _: (), can_act=lambda viewer, _: True, clients=lambda *_: Down())
    exception_id = held_order(ledger_url)
    outcome = edit_and_retry(dashboard, ALICE, exception_id, {"header": {"ShippingAddressPostcode": "LS1 1AA"}})
    assert not outcome.ok and "peoplevox" in outcome.message and "HTTP 504" in outcome.message
    assert load(ledger_url, exception_id).status == "open"
    with session_scope(ledger_url) as s:
        [action] = dashboard_repo.actions(s, target_type="exception", target_id=exception_id)
        assert action.outcome.startswith("unavailable")
