"""Start-up of `make demo` (and of any new integration): order release and item master sync start together.

Before item master sync has finished its first run the ledger does not know the ERP item master, so an order whose
SKUs Peoplevox does not have yet must wait for it instead of raising an ``unmapped_sku`` exception (and an alert)
that closes itself minutes later. An order held for another reason must not carry such an ``unmapped_sku`` either.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from erp_wms_sync.config import Integration
from erp_wms_sync.errors import DataCheckFailed
from erp_wms_sync.flows import order_release as flow
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import ExceptionRecord
from tests.unit.order_fakes import NORTHWIND, NOW, FakeErp, FakeWms, context, ledger, order


def exceptions(url: str) -> dict[str, tuple[str, str]]:
    """``type:order`` -> (status, how it ended) of every order exception ever raised."""
    with session_scope(url) as s:
        found = {}
        for e in s.scalars(select(ExceptionRecord).where(ExceptionRecord.integration == "northwind")):
            found[f"{e.type}:{e.entity_key}"] = (e.status, e.history[-1].outcome)
        return found


def item_sync_finished(url: str, items: tuple[str, ...], wms: FakeWms) -> None:
    """What item master sync's first run leaves behind: the ERP items known, created in Peoplevox, a watermark."""
    with session_scope(url) as s:
        for sku in items:
            repo.upsert_catalogue_item(s, integration="northwind", sku=sku, erp_status="active",
                                       erp_modified_at=None)
        repo.advance_cursor(s, "northwind", "item_master_sync", NOW.replace(tzinfo=None), "items-1")
    wms.items.update(items)


def run(url: str, run_id: str, erp: FakeErp, wms: FakeWms, minutes: int = 0,
        integration: Integration = NORTHWIND) -> dict[str, object]:
    ctx = context(url, run_id, integration, end=NOW + timedelta(minutes=minutes))
    out: dict[str, object] = {"fetch": flow.fetch(ctx, erp), "check": flow.check(ctx, wms),
                              "release": flow.release(ctx, wms)}
    try:
        out["data_check"] = flow.data_check(ctx)
    except DataCheckFailed as exc:
        out["data_check"] = exc
    flow.finish(ctx)
    return out


def test_orders_arriving_before_the_first_item_sync_wait_for_it_instead_of_alerting(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    erp, wms = FakeErp([order("SO-1", (("NEW-1", 1), ("A", 2))), order("SO-2", (("A", 1),))]), FakeWms()
    first = run(url, "r1", erp, wms)
    assert first["check"]["waiting"] == 1, first["check"]  # type: ignore[index]
    assert exceptions(url) == {}, "no unmapped_sku while item master sync has never run"
    assert not isinstance(first["data_check"], DataCheckFailed), "nothing to alert about"
    assert set(wms.headers) == {"SO-2"}

    item_sync_finished(url, ("NEW-1", "A"), wms)
    run(url, "r2", erp, wms, minutes=5)
    assert set(wms.headers) == {"SO-1", "SO-2"} and exceptions(url) == {}


def test_an_order_held_for_its_location_carries_no_unmapped_sku_that_item_sync_will_fix(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    erp, wms = FakeErp([order("SO-1", (("NEW-1", 1),), location="Pop-up Store")]), FakeWms()
    first = run(url, "r1", erp, wms)
    assert isinstance(first["data_check"], DataCheckFailed), "an unmapped location is a real problem: one alert"
    assert first["data_check"].expectations == ["unmapped_location"]
    item_sync_finished(url, ("NEW-1",), wms)
    again = run(url, "r2", erp, wms, minutes=5)
    assert not isinstance(again["data_check"], DataCheckFailed), "still held, already alerted"
    assert exceptions(url) == {"unmapped_location:SO-1": ("open", "seen_again")}, \
        "no unmapped_sku raised at start-up and closed by itself after item sync"


def test_the_start_up_wait_is_bounded_and_a_sku_unknown_to_the_erp_is_held_after_the_first_sync(
        tmp_path: Path) -> None:
    url = ledger(tmp_path)
    erp, wms = FakeErp([order("SO-1", (("GHOST", 1),))]), FakeWms()
    assert run(url, "r1", erp, wms)["check"]["waiting"] == 1  # type: ignore[index]
    late = run(url, "r2", erp, wms, minutes=121)  # item master sync still has not run after 120 minutes
    assert isinstance(late["data_check"], DataCheckFailed) and late["data_check"].expectations == ["unmapped_sku"]

    url2 = ledger(tmp_path / "second")
    wms2 = FakeWms()
    item_sync_finished(url2, ("A",), wms2)
    held = run(url2, "r1", FakeErp([order("SO-1", (("GHOST", 1),))]), wms2)
    assert isinstance(held["data_check"], DataCheckFailed), "after the first item sync, GHOST is held at once"


def test_a_paused_item_master_sync_is_not_waited_for(tmp_path: Path) -> None:
    paused = NORTHWIND.model_copy(update={"paused_flows": ["item_master_sync"]})
    url = ledger(tmp_path)
    out = run(url, "r1", FakeErp([order("SO-1", (("GHOST", 1),))]), FakeWms(), integration=paused)
    assert isinstance(out["data_check"], DataCheckFailed) and out["data_check"].expectations == ["unmapped_sku"]
