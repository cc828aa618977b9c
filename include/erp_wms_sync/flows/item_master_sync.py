"""item_master_sync: ERP products → Peoplevox "Item types", one way, hourly.

Staged records are typed (:class:`StagedItem`), their verdicts an enum (:class:`ItemVerdict`); the ERP SKU becomes
the Peoplevox ItemCode through ``Integration.item_code_for`` (identity unless the integration has a
cross-reference table), and Peoplevox codes are mapped back with ``Integration.sku_for``.

Steps (one Airflow task each, see ``dags/``):

1. :func:`fetch` — read the ERP items changed in the run's window, remember every SKU the ERP knows, and stage
   the active items whose Peoplevox row differs from the one last written (content hash); unchanged items are
   skipped here, so a re-run writes nothing.
2. :func:`validate` — the Great Expectations suite on the staged rows; failing items become ``invalid_item``
   exceptions with their payload, the rest are marked valid. The result is stored for the dashboard.
3. :func:`upsert` — SaveData in batches; each record's status is read back: successes are recorded in the
   ledger (message + catalogue hash) and resolve earlier exceptions for that item, rejections become
   ``wms_write_rejected`` exceptions with the record and Peoplevox's reason.
4. :func:`flag_unknown` — every Peoplevox item the ERP does not know is a ``wms_item_not_in_erp`` exception
   (items created by hand in the WMS). Such an exception closes once its item is in the ERP catalogue, or once
   Peoplevox, asked for that ItemCode, answers that it is gone; a malformed or short catalogue read never closes
   one (a row without the ItemCode column is an error).
5. :func:`data_check` — red (one alert) when this run raised new item exceptions; items held in an earlier run
   stay open exceptions without turning every run red. :func:`summarise` runs after it whatever its state, so
   the run itself is green when every record that could go went, and red only when the sync itself broke.
6. :func:`finish` — advance the watermark and drop the run's staging rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from erp_wms_sync.checks.suites import item_master_checks
from erp_wms_sync.config import ErpKind
from erp_wms_sync.domain.items import (
    INACTIVE_STATUSES,
    ITEM_KEY,
    ITEM_TYPES_TEMPLATE,
    ErpItem,
    content_hash,
    item_from_bluecherry,
    item_from_cin7,
    item_payload,
    to_wms_row,
)
from erp_wms_sync.errors import ApiResponseInvalid
from erp_wms_sync.flows.common import (
    RunContext,
    advance_watermark,
    chunks,
    fail_on_new_problems,
    latest_check,
    set_verdict,
    stage,
    staged,
)
from erp_wms_sync.ledger import repo

if TYPE_CHECKING:
    from erp_wms_sync.connectors.peoplevox_soap import RecordOutcome

log = logging.getLogger(__name__)

FLOW = "item_master_sync"
SUITE = "item_master"
ITEM = "item"
INVALID_ITEM = "invalid_item"
WMS_REJECTED = "wms_write_rejected"
NOT_IN_ERP = "wms_item_not_in_erp"
ITEM_EXCEPTION_TYPES = (INVALID_ITEM, WMS_REJECTED)
LOOKUP_BATCH = 100


class ItemVerdict(StrEnum):
    """Where a staged item stands in this run (``staged_records.verdict``)."""

    PENDING = "pending"  # fetched, not checked yet
    VALID = "valid"  # passed the suite: to write
    INVALID = "invalid"  # held by the suite (invalid_item)
    WRITTEN = "written"  # SaveData answered for it (success or rejection, recorded per item)


@dataclass(frozen=True)
class StagedItem:
    """An item to write: the Peoplevox row (its ItemCode already mapped), its content hash, and the archived
    form of the ERP item (exception payloads)."""

    sku: str
    row: dict[str, str]
    hash: str
    item: dict[str, Any]

    def dump(self) -> dict[str, Any]:
        return {"sku": self.sku, "row": self.row, "hash": self.hash, "item": self.item}

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> StagedItem:
        return cls(str(data["sku"]), dict(data["row"]), str(data["hash"]), dict(data["item"]))


class ItemTypesClient(Protocol):
    """The Peoplevox calls item master sync makes."""

    def iter_item_types(self, search_clause: str = "") -> Iterator[dict[str, str]]: ...

    def save_item_types(self, rows: Sequence[Mapping[str, str]]) -> list[RecordOutcome]: ...


def _item_code(ctx: RunContext) -> Any:
    """``Integration.item_code_for`` (the SKU → ItemCode cross-reference; identity by default)."""
    return getattr(ctx.integration, "item_code_for", lambda sku: sku)


def _sku_for(ctx: RunContext) -> Any:
    return getattr(ctx.integration, "sku_for", lambda code: code)


def iter_erp_items(kind: ErpKind, client: Any, ctx: RunContext) -> Iterator[ErpItem]:
    """ERP items modified in the window (all of them for a full window)."""
    since = ctx.window.start
    if kind is ErpKind.CIN7CORE:
        items = (item_from_cin7(p) for p in client.iter_products(modified_since=since, include_deprecated=True))
    else:
        items = (item_from_bluecherry(s) for s in client.iter_skus(updated_since=since))
    for item in items:
        if ctx.window.is_full or item.modified_at is None or item.modified_at < ctx.window.end:
            yield item


def fetch(ctx: RunContext, erp_client: Any) -> dict[str, int]:
    integration = ctx.integration.name
    counts = {"fetched": 0, "inactive": 0, "unchanged": 0, "retried": 0, "staged": 0}
    to_stage: list[tuple[str, dict[str, Any]]] = []
    item_code = _item_code(ctx)
    fetched: set[str] = set()
    with ctx.session() as session:
        known = repo.catalogue(session, integration)
        for item in iter_erp_items(ctx.integration.erp.kind, erp_client, ctx):
            counts["fetched"] += 1
            fetched.add(item.sku)
            row = known.get(item.sku)
            known[item.sku] = repo.upsert_catalogue_item(
                session, integration=integration, sku=item.sku, erp_status=item.status,
                erp_modified_at=_naive(item.modified_at), existing=row)
            if not item.active:
                counts["inactive"] += 1
                continue
            wms_row = to_wms_row(item, item_code)
            digest = content_hash(wms_row)
            if row is not None and row.content_hash == digest:
                counts["unchanged"] += 1
                continue
            to_stage.append((item.sku, StagedItem(item.sku, wms_row, digest, item_payload(item)).dump()))
        retry = _rejected_to_retry(session, ctx, fetched, known)
        counts["retried"] = len(retry)
        counts["staged"] = stage(session, ctx, to_stage + retry)
    log.info("%s %s: window %s; %s", integration, FLOW, ctx.window.describe(), counts)
    return counts


def _rejected_to_retry(session: Any, ctx: RunContext, fetched: set[str],
                       known: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Items Peoplevox refused in an earlier run (``wms_write_rejected``, often "Temporary failure, retry") are
    sent again by every run until Peoplevox takes them, from the row the exception keeps — not only when the ERP
    changes them again. Items listed in this window are staged from the ERP's answer instead; an item the ERP no
    longer has active is left to its exception."""
    retry: list[tuple[str, dict[str, Any]]] = []
    for exc in repo.open_exceptions(session, ctx.integration.name, type_=WMS_REJECTED, entity_type=ITEM):
        detail = exc.detail or {}
        row, digest = detail.get("row"), detail.get("hash")
        catalogued = known.get(exc.entity_key)
        if exc.entity_key in fetched or not isinstance(row, dict) or not digest or catalogued is None \
                or str(getattr(catalogued, "erp_status", "") or "").lower() in INACTIVE_STATUSES:
            continue
        retry.append((exc.entity_key, StagedItem(exc.entity_key, {str(k): str(v) for k, v in row.items()},
                                                 str(digest), dict(exc.payload or {})).dump()))
    return retry


def _staged_items(session: Any, ctx: RunContext, verdict: ItemVerdict) -> list[tuple[int, StagedItem]]:
    return [(r.id, StagedItem.load(r.data)) for r in staged(session, ctx, verdict.value)]


def validate(ctx: RunContext) -> dict[str, Any]:
    """The suite on the staged rows: failing items are held (``invalid_item``), the rest are valid."""
    import pandas as pd

    from erp_wms_sync.checks.runner import run_checks

    with ctx.session() as session:
        records = _staged_items(session, ctx, ItemVerdict.PENDING)
        frame = pd.DataFrame([_for_check(item.row) for _, item in records], columns=["ItemCode", "Name", "Barcode"])
        outcome = run_checks(SUITE, frame, item_master_checks(ctx.integration.wms.item_code_max_length))
        held = 0
        for position, (_, item) in enumerate(records):
            reasons = outcome.failures.get(position)
            if reasons:
                held += ctx.hold(session, repo.NewException(
                    type=INVALID_ITEM, entity_type=ITEM, entity_key=item.sku[:128],
                    summary=f"item {item.sku!r} not sent to Peoplevox: {'; '.join(reasons)}",
                    detail={"reasons": reasons, "suite": SUITE}, payload=item.item))
        set_verdict(session, (rid for p, (rid, _) in enumerate(records) if p in outcome.failures),
                    ItemVerdict.INVALID.value)
        set_verdict(session, (rid for p, (rid, _) in enumerate(records) if p not in outcome.failures),
                    ItemVerdict.VALID.value)
        repo.record_check(session, integration=ctx.integration.name, flow=FLOW, suite=SUITE, run_id=ctx.run_id,
                          success=outcome.success, evaluated=outcome.evaluated,
                          failed_records=outcome.failed_records, summary=outcome.summary)
    result = {"evaluated": outcome.evaluated, "failed_records": outcome.failed_records,
              "new_exceptions": held, "success": outcome.success,
              "failed_expectations": outcome.failed_expectations}
    log.info("%s %s: data check %s", ctx.integration.name, FLOW, result)
    return result


def _for_check(row: dict[str, str]) -> dict[str, str | None]:
    """Blank values count as missing for the checks (an empty barcode is 'none', not a duplicate)."""
    return {col: (row.get(col) or "").strip() or None for col in ("ItemCode", "Name", "Barcode")}


def upsert(ctx: RunContext, wms_client: ItemTypesClient) -> dict[str, int]:
    """SaveData in batches; each item's own status decides: written (ledger + catalogue hash, earlier item
    exceptions closed) or rejected (``wms_write_rejected`` with Peoplevox's reason)."""
    counts = {"written": 0, "rejected": 0, "resolved": 0}
    with ctx.session() as session:
        pending = _staged_items(session, ctx, ItemVerdict.VALID)
    for batch in chunks(pending, ctx.integration.wms.save_batch_size):
        outcomes = wms_client.save_item_types([item.row for _, item in batch])
        by_ref = {o.reference: o for o in outcomes}
        with ctx.session() as session:
            for (_record_id, item), positional in zip(batch, outcomes, strict=False):
                outcome = by_ref.get(item.row[ITEM_KEY], positional)
                _record_write(ctx, session, item, outcome.ok, outcome.message, counts)
            set_verdict(session, (rid for rid, _ in batch), ItemVerdict.WRITTEN.value)
    log.info("%s %s: Peoplevox Item types %s", ctx.integration.name, FLOW, counts)
    return counts


def _record_write(ctx: RunContext, session: Any, item: StagedItem, ok: bool, message: str,
                  counts: dict[str, int]) -> None:
    integration, sku, code = ctx.integration.name, item.sku, item.row[ITEM_KEY]
    repo.record_message(session, integration=integration, flow=FLOW, direction="erp_to_wms", entity_type=ITEM,
                        entity_key=sku, idempotency_key=f"{integration}:item:{sku}:{item.hash}",
                        content_hash=item.hash, status="confirmed" if ok else "failed",
                        payload=item.row, response={"ok": ok, "message": message}, target_ref=code,
                        run_id=ctx.run_id)
    if ok:
        counts["written"] += 1
        repo.upsert_catalogue_item(session, integration=integration, sku=sku, erp_status="active",
                                   erp_modified_at=_naive_iso(item.item.get("modified_at")),
                                   content_hash=item.hash, synced=True)
        counts["resolved"] += repo.resolve_exceptions(
            session, integration=integration, entity_type=ITEM, entity_keys=[sku[:128]],
            types=ITEM_EXCEPTION_TYPES, by=FLOW, note="item written to Peoplevox", run_id=ctx.run_id)
        return
    counts["rejected"] += 1
    ctx.hold(session, repo.NewException(
        type=WMS_REJECTED, entity_type=ITEM, entity_key=sku[:128],
        summary=f"Peoplevox rejected item {sku!r}: {message}",
        detail={"template": ITEM_TYPES_TEMPLATE, "reason": message, "row": item.row, "hash": item.hash},
        payload=item.item))


def item_codes(rows: Iterable[Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Peoplevox Item types by ItemCode; a row without the ItemCode column is a malformed answer, never an item
    that is not there."""
    found: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows, start=1):
        if ITEM_KEY not in row:
            raise ApiResponseInvalid("peoplevox", f"{ITEM_TYPES_TEMPLATE} row {number} has no {ITEM_KEY} column "
                                                  f"(columns: {', '.join(sorted(row)) or 'none'})")
        code = (row.get(ITEM_KEY) or "").strip()
        if code:
            found[code] = dict(row)
    return found


def confirmed_absent(wms_client: ItemTypesClient, codes: Iterable[str]) -> set[str]:
    """Which of these ItemCodes Peoplevox says it does not have, asked one by one (100 OR-ed Equals terms per
    call) — never concluded from the absence of a code in a whole-catalogue read, which may be short."""
    absent: set[str] = set()
    for batch in chunks(sorted(set(codes)), LOOKUP_BATCH):
        clause = " OR ".join(f'ItemCode.Equals("{_quote(code)}")' for code in batch)
        present = item_codes(wms_client.iter_item_types(search_clause=clause))
        absent.update(code for code in batch if code not in present)
    return absent


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def flag_unknown(ctx: RunContext, wms_client: ItemTypesClient) -> dict[str, int]:
    """Every Peoplevox item the ERP does not know is a ``wms_item_not_in_erp`` exception. Such an exception
    closes when its item is now in the ERP catalogue, or when Peoplevox, asked for that very ItemCode, says it
    is gone; an empty or short catalogue read closes nothing."""
    integration = ctx.integration.name
    wms_items = item_codes(wms_client.iter_item_types())
    sku_for = _sku_for(ctx)
    with ctx.session() as session:
        known = set(repo.catalogue(session, integration))
        unknown = sorted(code for code in wms_items if sku_for(code) not in known)
        raised = sum(ctx.hold(session, repo.NewException(
            type=NOT_IN_ERP, entity_type=ITEM, entity_key=code[:128],
            summary=f"Peoplevox item {code!r} does not exist in the ERP (created by hand in the WMS?)",
            detail={"item_code": code}, payload=wms_items[code])) for code in unknown)
        stale = {e.entity_key for e in repo.open_exceptions(session, integration, type_=NOT_IN_ERP)} - set(unknown)
    now_known = {code for code in stale if sku_for(code) in known}
    gone = confirmed_absent(wms_client, stale - now_known)
    with ctx.session() as session:
        resolved = repo.resolve_exceptions(session, integration=integration, entity_type=ITEM,
                                           entity_keys=sorted(now_known), types=(NOT_IN_ERP,), by=FLOW,
                                           note="item now known to the ERP", run_id=ctx.run_id)
        resolved += repo.resolve_exceptions(session, integration=integration, entity_type=ITEM,
                                            entity_keys=sorted(gone), types=(NOT_IN_ERP,), by=FLOW,
                                            note="item removed from Peoplevox", run_id=ctx.run_id)
    counts = {"wms_items": len(wms_items), "unknown": len(unknown), "new_exceptions": raised,
              "resolved": resolved, "unconfirmed": len(stale - now_known - gone)}
    log.info("%s %s: Peoplevox items not in the ERP %s", integration, FLOW, counts)
    return counts


def data_check(ctx: RunContext) -> dict[str, Any]:
    """Red (one alert) only when this run raised new item exceptions or reopened closed ones; items held in
    an earlier run and seen again stay open exceptions without turning every run red."""
    return fail_on_new_problems(ctx, SUITE, [FLOW])


def summarise(ctx: RunContext) -> dict[str, Any]:
    """What this run left for people to act on: the data check and the open exceptions by type."""
    with ctx.session() as session:
        check = latest_check(session, ctx)
        by_type: dict[str, int] = {}
        for exc in repo.open_exceptions(session, ctx.integration.name, entity_type=ITEM):
            by_type[exc.type] = by_type.get(exc.type, 0) + 1
    summary = {"window": ctx.window.describe(),
               "data_check": "passed" if check is None or check.success else "failed",
               "held_this_run": check.failed_records if check else 0, "open_item_exceptions": by_type}
    log.info("%s %s summary: %s", ctx.integration.name, FLOW, summary)
    return summary


def finish(ctx: RunContext) -> dict[str, str]:
    return advance_watermark(ctx)


def _naive(value: Any) -> Any:
    if value is None or value.tzinfo is None:
        return value
    from datetime import UTC

    return value.astimezone(UTC).replace(tzinfo=None)


def _naive_iso(value: str | None) -> Any:
    if not value:
        return None
    from datetime import datetime

    return _naive(datetime.fromisoformat(value))
