"""item_master_sync steps with fake ERP / Peoplevox clients and a SQLite ledger (no simulator, no Airflow)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from erp_wms_sync.config import load_integration
from erp_wms_sync.connectors.cin7core import Cin7Product
from erp_wms_sync.connectors.peoplevox_soap import RecordOutcome
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.errors import ApiResponseInvalid, DataCheckFailed
from erp_wms_sync.flows import item_master_sync as flow
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope

NORTHWIND = load_integration("include/integrations/northwind.yaml")
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
HANDMADE = "PVX-HANDMADE-1"


def product(sku: str, name: str = "Tee", barcode: str = "", status: str = "Active") -> Cin7Product:
    return Cin7Product(id=f"id-{sku}", sku=sku, name=name, barcode=barcode, category="Tops", brand="NW",
                       uom="Item", status=status, description="", short_description="", weight=None, price=10.0,
                       last_modified=NOW)


class FakeErp:
    def __init__(self, *products: Cin7Product) -> None:
        self.products = list(products)

    def iter_products(self, modified_since: datetime | None = None,
                      include_deprecated: bool = True) -> Iterator[Cin7Product]:
        return iter(self.products)


class FakeWms:
    """Item types by ItemCode; ``catalogue_read`` overrides what a whole-catalogue read answers (a short or
    malformed read), while searches for given codes still answer from ``items``."""

    def __init__(self, *codes: str) -> None:
        self.items: dict[str, dict[str, str]] = {c: {"ItemCode": c, "Name": c} for c in codes}
        self.catalogue_read: list[dict[str, str]] | None = None
        self.saved: list[dict[str, str]] = []

    def iter_item_types(self, search_clause: str = "") -> Iterator[dict[str, str]]:
        if not search_clause:
            return iter(self.catalogue_read if self.catalogue_read is not None else list(self.items.values()))
        wanted = re.findall(r'ItemCode\.Equals\("([^"]*)"\)', search_clause)
        return iter([self.items[c] for c in wanted if c in self.items])

    def save_item_types(self, rows: Sequence[Mapping[str, str]]) -> list[RecordOutcome]:
        out = []
        for row in rows:
            self.saved.append(dict(row))
            self.items[row["ItemCode"]] = dict(row)
            out.append(RecordOutcome(row["ItemCode"], True))
        return out


class Mapped:
    """The integration with an ItemCode cross-reference (SKU 'TEE-M' is 'PV-TEE-M' in the warehouse)."""

    def __init__(self, base: Any, table: dict[str, str]) -> None:
        self._base, self._to, self._back = base, table, {v: k for k, v in table.items()}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def item_code_for(self, sku: str) -> str:
        return self._to.get(sku, sku)

    def sku_for(self, code: str) -> str:
        return self._back.get(code, code)


def context(url: str, run: str, integration: Any = NORTHWIND) -> RunContext:
    return RunContext(integration, flow.FLOW, run, Window(None, NOW, "full"), url)


def sync(url: str, run: str, erp: FakeErp, wms: FakeWms, integration: Any = NORTHWIND) -> dict[str, Any]:
    ctx = context(url, run, integration)
    out = {"fetch": flow.fetch(ctx, erp), "validate": flow.validate(ctx), "upsert": flow.upsert(ctx, wms),
           "flag": flow.flag_unknown(ctx, wms)}
    flow.finish(ctx)
    return out


def open_keys(url: str) -> set[str]:
    with session_scope(url) as s:
        return {f"{e.type}:{e.entity_key}" for e in repo.open_exceptions(s, "northwind")}


def test_valid_items_are_written_once_and_invalid_ones_held(ledger_url: str) -> None:
    erp = FakeErp(product("TEE-M"), product("TEE-L", name=""), product("OLD", status="Deprecated"))
    wms = FakeWms()
    first = sync(ledger_url, "run-1", erp, wms)
    assert first["upsert"]["written"] == 1 and [r["ItemCode"] for r in wms.saved] == ["TEE-M"]
    assert open_keys(ledger_url) == {"invalid_item:TEE-L"}
    with pytest.raises(DataCheckFailed):
        flow.data_check(context(ledger_url, "run-1"))
    again = sync(ledger_url, "run-2", erp, wms)
    assert again["upsert"]["written"] == 0 and len(wms.saved) == 1, "a re-run writes nothing"


def test_an_item_held_again_does_not_turn_the_next_run_red(ledger_url: str) -> None:
    erp, wms = FakeErp(product("TEE-M", name="")), FakeWms()
    sync(ledger_url, "run-1", erp, wms)
    with pytest.raises(DataCheckFailed):
        flow.data_check(context(ledger_url, "run-1"))
    sync(ledger_url, "run-2", erp, wms)  # the same invalid item, re-checked: still an open exception
    assert open_keys(ledger_url) == {"invalid_item:TEE-M"}
    assert flow.data_check(context(ledger_url, "run-2"))["new_problems"] == 0


def test_skus_go_to_peoplevox_under_their_mapped_itemcode(ledger_url: str) -> None:
    mapped = Mapped(NORTHWIND, {"TEE-M": "PV-TEE-M"})
    wms = FakeWms()
    sync(ledger_url, "run-1", FakeErp(product("TEE-M")), wms, mapped)
    assert [r["ItemCode"] for r in wms.saved] == ["PV-TEE-M"]
    assert open_keys(ledger_url) == set(), "the mapped code is known to the ERP through its SKU"


def test_handmade_items_are_flagged_and_close_only_when_confirmed(ledger_url: str) -> None:
    erp, wms = FakeErp(product("TEE-M")), FakeWms(HANDMADE)
    sync(ledger_url, "run-1", erp, wms)
    assert open_keys(ledger_url) == {f"wms_item_not_in_erp:{HANDMADE}"}

    wms.catalogue_read = []  # a short (empty) catalogue read: the item is still there when asked for
    flagged = flow.flag_unknown(context(ledger_url, "run-2"), wms)
    assert flagged["resolved"] == 0 and flagged["unconfirmed"] == 1
    assert open_keys(ledger_url) == {f"wms_item_not_in_erp:{HANDMADE}"}

    del wms.items[HANDMADE]  # removed from Peoplevox: confirmed by asking for it
    assert flow.flag_unknown(context(ledger_url, "run-3"), wms)["resolved"] == 1
    assert open_keys(ledger_url) == set()


def test_a_catalogue_read_without_its_key_column_closes_nothing(ledger_url: str) -> None:
    erp, wms = FakeErp(product("TEE-M")), FakeWms(HANDMADE)
    sync(ledger_url, "run-1", erp, wms)
    wms.catalogue_read = [{"Name": "Tee"}, {"Name": HANDMADE}]
    with pytest.raises(ApiResponseInvalid, match="no ItemCode column"):
        flow.flag_unknown(context(ledger_url, "run-2"), wms)
    assert open_keys(ledger_url) == {f"wms_item_not_in_erp:{HANDMADE}"}


def test_a_handmade_item_later_created_in_the_erp_closes_its_exception(ledger_url: str) -> None:
    wms = FakeWms(HANDMADE)
    sync(ledger_url, "run-1", FakeErp(product("TEE-M")), wms)
    sync(ledger_url, "run-2", FakeErp(product("TEE-M"), product(HANDMADE)), wms)
    assert open_keys(ledger_url) == set()
