"""A SKU created in the ERP after the latest item master sync: the order waits for the next item sync instead of
being held as ``unmapped_sku`` at once (an alert about a problem that fixes itself within the hour). Whether the
ERP has the SKU is asked of the ERP itself, for SKUs neither Peoplevox nor the ledger catalogue knows, at most
``ERP_LOOKUP_LIMIT`` per run; a SKU the ERP does not have is still held at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from erp_wms_sync.config import Integration
from erp_wms_sync.errors import DataCheckFailed
from erp_wms_sync.flows import order_release as flow
from erp_wms_sync.flows.order_release.validate import ERP_LOOKUP_LIMIT
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope
from tests.unit.order_fakes import NORTHWIND, NOW, FakeErp, FakeWms, context, ledger, open_types, order


def item_sync_ran(url: str, skus: tuple[str, ...] = ("A",)) -> None:
    """Item master sync finished a run an hour ago and saw these SKUs."""
    with session_scope(url) as s:
        for sku in skus:
            repo.upsert_catalogue_item(s, integration="northwind", sku=sku, erp_status="active", erp_modified_at=None)
        repo.advance_cursor(s, "northwind", "item_master_sync", (NOW - timedelta(hours=1)).replace(tzinfo=None),
                            "items-1")


def check(url: str, run_id: str, erp: FakeErp, wms: FakeWms, minutes: int = 0,
          integration: Integration = NORTHWIND) -> dict[str, object]:
    ctx = context(url, run_id, integration, end=NOW + timedelta(minutes=minutes))
    flow.fetch(ctx, erp)
    out = flow.check(ctx, wms, erp)
    try:
        out["new_problems"] = flow.data_check(ctx)["new_problems"]
    except DataCheckFailed:
        out["new_problems"] = "alert"
    flow.finish(ctx)
    return out


def test_an_order_for_a_sku_created_after_item_sync_waits_without_an_alert(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    item_sync_ran(url)
    erp, wms = FakeErp([order("SO-1", (("NEW-1", 2), ("A", 1)))]), FakeWms(item_codes=("A",))
    erp.products = {"A", "NEW-1"}
    first = check(url, "r1", erp, wms)
    assert first["waiting"] == 1 and first["held"] == 0, first
    assert first["new_problems"] == 0 and open_types(url) == {}, "nothing to alert about"
    assert erp.sku_lookups == ["NEW-1"], "only the SKU neither Peoplevox nor the catalogue knows is asked"

    wms.items.add("NEW-1")  # the next item master sync created it
    second = check(url, "r2", erp, wms, minutes=5)
    assert second["valid"] == 1
    assert erp.sku_lookups == ["NEW-1"], "a SKU Peoplevox has is never asked"


def test_a_sku_the_erp_confirmed_is_not_asked_again_while_the_order_waits(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    item_sync_ran(url)
    erp, wms = FakeErp([order("SO-1", (("NEW-1", 2),))]), FakeWms(item_codes=("A",))
    erp.products = {"A", "NEW-1"}
    check(url, "r1", erp, wms)
    again = check(url, "r2", erp, wms, minutes=5)  # item sync has not run yet: still waiting
    assert again["waiting"] == 1 and again["held"] == 0
    assert erp.sku_lookups == ["NEW-1"], "the ledger remembers what the ERP confirmed"


def test_an_order_for_a_sku_the_erp_does_not_have_is_held_at_once(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    item_sync_ran(url)
    erp, wms = FakeErp([order("SO-1", (("GHOST", 1), ("A", 1))), order("SO-2", (("NEW-1", 1),))]), FakeWms(("A",))
    erp.products = {"A", "NEW-1"}
    out = check(url, "r1", erp, wms)
    assert out["held"] == 1 and out["waiting"] == 1
    assert out["new_problems"] == "alert" and open_types(url) == {"SO-1": ["unmapped_sku"]}


def test_the_erp_is_not_asked_about_held_orders_or_catalogue_skus(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    item_sync_ran(url, ("A", "OLD-1"))
    erp, wms = FakeErp([order("SO-1", (("GHOST", 1),)), order("SO-2", (("OLD-1", 1),))]), FakeWms(("A",))
    check(url, "r1", erp, wms)
    assert erp.sku_lookups == ["GHOST"], "OLD-1 is in the catalogue: item sync will create it, no call needed"
    check(url, "r2", erp, wms, minutes=5)
    assert erp.sku_lookups == ["GHOST"], "SO-1 is held already: its SKU is not asked again every run"


def test_the_lookup_is_bounded_per_run_and_the_rest_wait_for_the_next_run(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    item_sync_ran(url)
    count = ERP_LOOKUP_LIMIT + 10
    erp = FakeErp([order(f"SO-{n:03}", ((f"GHOST-{n:03}", 1),)) for n in range(count)])
    wms = FakeWms(("A",))
    first = check(url, "r1", erp, wms)
    assert len(erp.sku_lookups) == ERP_LOOKUP_LIMIT
    assert first["held"] == ERP_LOOKUP_LIMIT and first["waiting"] == 10, "the SKUs not asked yet are not judged"
    second = check(url, "r2", erp, wms, minutes=5)
    assert len(erp.sku_lookups) == count and len(set(erp.sku_lookups)) == count, "the next run asks the rest"
    assert second["held"] == count and len(open_types(url)) == count


def test_a_failed_lookup_never_fails_the_task_and_the_order_waits(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    item_sync_ran(url)
    erp, wms = FakeErp([order("SO-1", (("NEW-1", 1),))]), FakeWms(("A",))
    erp.fail_sku_lookup = True
    out = check(url, "r1", erp, wms)
    assert out["waiting"] == 1 and out["new_problems"] == 0 and open_types(url) == {}
    erp.fail_sku_lookup = False  # the ERP answers again: it has no NEW-1
    assert check(url, "r2", erp, wms, minutes=5)["held"] == 1
    assert open_types(url) == {"SO-1": ["unmapped_sku"]}


def test_with_no_item_sync_wait_nothing_is_asked_and_the_order_is_held(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    item_sync_ran(url)
    integration = NORTHWIND.model_copy(update={"orders": NORTHWIND.orders.model_copy(
        update={"item_sync_wait_minutes": 0})})
    erp, wms = FakeErp([order("SO-1", (("NEW-1", 1),))]), FakeWms(("A",))
    erp.products = {"NEW-1"}
    assert check(url, "r1", erp, wms, integration=integration)["held"] == 1
    assert erp.sku_lookups == []
