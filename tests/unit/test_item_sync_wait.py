"""The "wait for item sync" rule with an ERP SKU → Peoplevox ItemCode cross-reference: an order whose SKUs are in
the ERP item master but whose ItemCodes are not in Peoplevox yet waits (no exception, no alert) instead of being
held as ``unmapped_sku`` at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from erp_wms_sync.config import Integration, load_integration
from erp_wms_sync.domain.release_rules import CheckFailure, Hold, Wait, judge
from erp_wms_sync.flows import order_release as flow
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope
from tests.unit.order_fakes import FakeErp, FakeWms, context, ledger, open_types, order

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
CODES = {"NEW-1": "PVX-NEW-1", "A": "PVX-A"}


def _codes(value: str) -> str:
    return {code: sku for sku, code in CODES.items()}.get(value, value)


def unmapped(*codes: str) -> CheckFailure:
    return CheckFailure({"unmapped_sku": {"ItemCode is not in Peoplevox"}}, set(codes))


def test_a_code_of_a_catalogue_sku_waits() -> None:
    verdict = judge(unmapped("PVX-NEW-1"), erp_skus={"NEW-1"}, sku_for=_codes, now=NOW,
                    item_wait=timedelta(minutes=120), waiting_since=None, hold_until=None)
    assert isinstance(verdict, Wait) and verdict.until == NOW + timedelta(minutes=120)


def test_a_code_whose_sku_the_erp_does_not_have_is_held() -> None:
    verdict = judge(unmapped("PVX-NEW-1", "PVX-GHOST"), erp_skus={"NEW-1"}, sku_for=_codes, now=NOW,
                    item_wait=timedelta(minutes=120), waiting_since=None, hold_until=None)
    assert isinstance(verdict, Hold) and verdict.unknown_skus == {"PVX-NEW-1", "PVX-GHOST"}


def test_the_wait_ends_after_item_wait() -> None:
    verdict = judge(unmapped("PVX-NEW-1"), erp_skus={"NEW-1"}, sku_for=_codes, now=NOW,
                    item_wait=timedelta(minutes=120), waiting_since=NOW - timedelta(minutes=121), hold_until=None)
    assert isinstance(verdict, Hold)


def with_cross_reference(tmp_path: Path) -> Integration:
    data = yaml.safe_load(Path("include/integrations/northwind.yaml").read_text())
    data["item_codes"] = {"map": CODES}
    path = tmp_path / "northwind.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_integration(path)


def test_an_order_waits_for_item_sync_through_the_cross_reference(tmp_path: Path) -> None:
    integration = with_cross_reference(tmp_path)
    url = ledger(tmp_path)
    with session_scope(url) as s:
        repo.upsert_catalogue_item(s, integration="northwind", sku="NEW-1", erp_status="active", erp_modified_at=None)
    erp, wms = FakeErp([order("SO-1", (("NEW-1", 2), ("A", 1)))]), FakeWms(item_codes=("PVX-A",))

    first = context(url, "r1", integration)
    flow.fetch(first, erp)
    checked = flow.check(first, wms)
    assert checked["waiting"] == 1 and checked["held"] == 0
    assert open_types(url) == {}, "no unmapped_sku while item master sync has not run"
    assert flow.data_check(first)["new_problems"] == 0, "nothing to alert about"

    wms.items.add("PVX-NEW-1")  # item master sync created the item under its Peoplevox code
    second = context(url, "r2", integration, end=NOW + timedelta(minutes=5))
    flow.fetch(second, erp)
    assert flow.check(second, wms)["valid"] == 1
    flow.release(second, wms)
    assert {k[1]: v["ItemCode"] for k, v in wms.lines.items() if k[0] == "SO-1"} == {"1": "PVX-NEW-1", "2": "PVX-A"}


def test_with_a_cross_reference_an_unknown_sku_is_still_held_at_once(tmp_path: Path) -> None:
    integration = with_cross_reference(tmp_path)
    url = ledger(tmp_path)
    with session_scope(url) as s:  # item master sync has run, and the ERP has no GHOST
        repo.advance_cursor(s, "northwind", "item_master_sync", NOW.replace(tzinfo=None), "items-1")
    erp, wms = FakeErp([order("SO-1", (("GHOST", 1),))]), FakeWms(item_codes=("PVX-A",))
    ctx = context(url, "r1", integration)
    flow.fetch(ctx, erp)
    assert flow.check(ctx, wms)["held"] == 1
    assert open_types(url) == {"SO-1": ["unmapped_sku"]}
