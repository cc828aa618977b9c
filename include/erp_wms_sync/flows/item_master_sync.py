"""item_master_sync: ERP products → Peoplevox "Item types", one way, hourly.

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
   (items created by hand in the WMS); such exceptions close themselves once the item is known or gone.
5. :func:`data_check` — fails (red task, alert) when this run's suite failed; :func:`summarise` runs after it
   whatever its state, so the run itself is green when every record that could go went, and red only when the
   sync itself broke.
6. :func:`finish` — advance the watermark and drop the run's staging rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from erp_wms_sync.checks.suites import item_master_checks
from erp_wms_sync.config import ErpKind
from erp_wms_sync.domain.items import (
    ITEM_KEY,
    ErpItem,
    content_hash,
    item_from_bluecherry,
    item_from_cin7,
    item_payload,
    to_wms_row,
)
from erp_wms_sync.flows.common import (
    RunContext,
    advance_watermark,
    chunks,
    fail_if_check_failed,
    latest_check,
    set_verdict,
    stage,
    staged,
)
from erp_wms_sync.ledger import repo

if TYPE_CHECKING:
    from erp_wms_sync.connectors.peoplevox import PeoplevoxClient

log = logging.getLogger(__name__)

FLOW = "item_master_sync"
SUITE = "item_master"
ITEM = "item"
ITEM_EXCEPTION_TYPES = ("invalid_item", "wms_write_rejected")


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
    counts = {"fetched": 0, "inactive": 0, "unchanged": 0, "staged": 0}
    to_stage: list[tuple[str, dict[str, Any]]] = []
    with ctx.session() as session:
        known = repo.catalogue(session, integration)
        for item in iter_erp_items(ctx.integration.erp.kind, erp_client, ctx):
            counts["fetched"] += 1
            row = known.get(item.sku)
            known[item.sku] = repo.upsert_catalogue_item(
                session, integration=integration, sku=item.sku, erp_status=item.status,
                erp_modified_at=_naive(item.modified_at), existing=row)
            if not item.active:
                counts["inactive"] += 1
                continue
            wms_row = to_wms_row(item)
            digest = content_hash(wms_row)
            if row is not None and row.content_hash == digest:
                counts["unchanged"] += 1
                continue
            to_stage.append((item.sku, {"row": wms_row, "hash": digest, "item": item_payload(item)}))
        counts["staged"] = stage(session, ctx, to_stage)
    log.info("%s %s: window %s; %s", integration, FLOW, ctx.window.describe(), counts)
    return counts


def validate(ctx: RunContext) -> dict[str, Any]:
    import pandas as pd

    from erp_wms_sync.checks.runner import run_checks

    with ctx.session() as session:
        records = list(staged(session, ctx, "pending"))
        frame = pd.DataFrame([_for_check(r.data["row"]) for r in records],
                             columns=["ItemCode", "Name", "Barcode"])
        outcome = run_checks(SUITE, frame, item_master_checks(ctx.integration.wms.item_code_max_length))
        held = 0
        for position, record in enumerate(records):
            reasons = outcome.failures.get(position)
            if reasons:
                held += ctx.hold(session, repo.NewException(
                    type="invalid_item", entity_type=ITEM, entity_key=record.entity_key[:128],
                    summary=f"item {record.entity_key!r} not sent to Peoplevox: {'; '.join(reasons)}",
                    detail={"reasons": reasons, "suite": SUITE}, payload=record.data["item"]))
        set_verdict(session, (r.id for p, r in enumerate(records) if p in outcome.failures), "invalid")
        set_verdict(session, (r.id for p, r in enumerate(records) if p not in outcome.failures), "valid")
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


def upsert(ctx: RunContext, wms_client: PeoplevoxClient) -> dict[str, int]:
    counts = {"written": 0, "rejected": 0, "resolved": 0}
    with ctx.session() as session:
        pending = [(r.id, r.entity_key, r.data) for r in staged(session, ctx, "valid")]
    for batch in chunks(pending, ctx.integration.wms.save_batch_size):
        outcomes = wms_client.save_item_types([data["row"] for _, _, data in batch])
        by_ref = {o.reference: o for o in outcomes}
        with ctx.session() as session:
            for (_record_id, sku, data), positional in zip(batch, outcomes, strict=False):
                outcome = by_ref.get(sku, positional)
                _record_write(ctx, session, sku, data, outcome.ok, outcome.message, counts)
            set_verdict(session, (rid for rid, _, _ in batch), "written")
    log.info("%s %s: Peoplevox Item types %s", ctx.integration.name, FLOW, counts)
    return counts


def _record_write(ctx: RunContext, session: Any, sku: str, data: dict[str, Any], ok: bool, message: str,
                  counts: dict[str, int]) -> None:
    integration = ctx.integration.name
    repo.record_message(session, integration=integration, flow=FLOW, direction="erp_to_wms", entity_type=ITEM,
                        entity_key=sku, idempotency_key=f"{integration}:item:{sku}:{data['hash']}",
                        content_hash=data["hash"], status="confirmed" if ok else "failed",
                        payload=data["row"], response={"ok": ok, "message": message}, target_ref=sku,
                        run_id=ctx.run_id)
    if ok:
        counts["written"] += 1
        repo.upsert_catalogue_item(session, integration=integration, sku=sku, erp_status="active",
                                   erp_modified_at=_naive_iso(data["item"].get("modified_at")),
                                   content_hash=data["hash"], synced=True)
        counts["resolved"] += repo.resolve_exceptions(
            session, integration=integration, entity_type=ITEM, entity_keys=[sku[:128]],
            types=ITEM_EXCEPTION_TYPES, by="item_master_sync", note="item written to Peoplevox",
            run_id=ctx.run_id)
        return
    counts["rejected"] += 1
    ctx.hold(session, repo.NewException(
        type="wms_write_rejected", entity_type=ITEM, entity_key=sku[:128],
        summary=f"Peoplevox rejected item {sku!r}: {message}",
        detail={"template": "Item types", "reason": message}, payload=data["item"]))


def flag_unknown(ctx: RunContext, wms_client: PeoplevoxClient) -> dict[str, int]:
    integration = ctx.integration.name
    wms_codes: dict[str, dict[str, str]] = {}
    for row in wms_client.iter_item_types():
        code = (row.get(ITEM_KEY) or "").strip()
        if code:
            wms_codes[code] = dict(row)
    with ctx.session() as session:
        known = set(repo.catalogue(session, integration))
        unknown = sorted(set(wms_codes) - known)
        raised = sum(ctx.hold(session, repo.NewException(
            type="wms_item_not_in_erp", entity_type=ITEM, entity_key=code[:128],
            summary=f"Peoplevox item {code!r} does not exist in the ERP (created by hand in the WMS?)",
            detail={"item_code": code}, payload=wms_codes[code])) for code in unknown)
        stale = [e.entity_key for e in repo.open_exceptions(session, integration, type_="wms_item_not_in_erp")
                 if e.entity_key not in unknown]
        resolved = repo.resolve_exceptions(session, integration=integration, entity_type=ITEM, entity_keys=stale,
                                           types=("wms_item_not_in_erp",), by=FLOW,
                                           note="item now known to the ERP or removed from Peoplevox",
                                           run_id=ctx.run_id)
    counts = {"wms_items": len(wms_codes), "unknown": len(unknown), "new_exceptions": raised,
              "resolved": resolved}
    log.info("%s %s: Peoplevox items not in the ERP %s", integration, FLOW, counts)
    return counts


def data_check(ctx: RunContext) -> dict[str, Any]:
    """Fail when this run's data check failed (the held items are already exceptions)."""
    return fail_if_check_failed(ctx, SUITE)


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
