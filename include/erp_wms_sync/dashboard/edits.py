"""Edit the payload of a failed record and retry it through the same idempotent path a run uses (issue 11).

Three kinds of exception can be edited (:func:`editable` says which, and what the form shows); everything else is
retried or resolved, never edited. :func:`edit_and_retry` first asks :meth:`Dashboard.require_actor` (403), then
validates the edit (400 naming the field, the exception stays open with the refused attempt in its history), then
hands the one record to the owning flow's own function, and records the action (``edit_retry``, detail: each
changed field ``{"old": …, "new": …}``) with its outcome.

**Held orders** (``unmapped_sku`` / ``unmapped_location`` / ``invalid_order`` on an ``order``). The form shows the
Peoplevox rows the release would send: ``header`` ("Sales orders" fields) and ``items`` (one row per line sent, with
the line's ERP SKU as ``erp_sku`` for reference). A person may change, for this one order and without touching the
ERP, any header value but ``SalesOrderNumber`` (e.g. a missing address line, postcode or e-mail; ``Site``, which
must be one of the integration's Peoplevox sites) and each line's ``ItemCode`` (the Peoplevox item sent for that
ERP SKU). Line identity, quantities and prices come from the ERP: changing them is refused. The edited rows must
pass the flow's own ``order_release`` suite (:func:`~erp_wms_sync.checks.suites.order_release_checks`, the
ItemCodes looked up in Peoplevox now). The correction is then stored in the order's ledger payload
(``payload["override"]``, see :func:`erp_wms_sync.flows.order_release.rows.apply_override`) and the order is
released by :func:`erp_wms_sync.flows.order_release.release.release_one`: Peoplevox is looked up first (an order
already there is adopted or completed, never created twice), the intent is recorded before SaveData, the lines
are read back; on success the order is ``released`` exactly as a run records it and its hold exceptions close as
the editing user with a note naming what was changed. Every later build of the order (the next run's fetch,
validate and amendments) applies the override while the ERP still gives what it corrected, so the next run
neither holds nor resends the order; once the ERP changes a corrected field or line, the ERP's value wins and a
released order gets the change as an ordinary amendment. Dispatch confirmation maps the order's corrected ItemCodes
back to the ERP's own SKUs (:func:`~erp_wms_sync.flows.order_release.rows.order_sku_for`), so the despatch of the
item the warehouse was given passes its check and is confirmed against the sale's lines. The correction is for one
order only: stock of the corrected ItemCode keeps following the integration's mapping — an item whose codes differ
for good belongs in the integration's ``item_codes`` cross-reference.

**Failed stock increments** (``failed_stock_increment`` on a ``stock_pair``). Editable: the adjustment as the flow
posts it — ``sku``, ``location`` (ERP location / BlueCherry warehouse, one of the integration's) and the absolute
``quantity`` (≥ 0). Cin7 Core: :func:`erp_wms_sync.flows.inventory_sync.apply.retry_pair` (the failed entry's
Reference looked up first and adopted when Cin7 holds it; then a new journal entry written before the post).
BlueCherry: :func:`erp_wms_sync.flows.inventory_sync.bluecherry.push_one` (the Reference derived from the line, so
a repeat is answered with the first adjustment). The figure is absolute: the pair's next movement posts
Peoplevox's count again.

**Fulfilment rejections** (``fulfilment_rejected`` on a ``despatch``). Editable: ``lines`` (``item_code`` and
whole ``quantity``, at least 1), ``tracking`` (list) and ``carrier``. The edited despatch must pass the flow's
``dispatch_confirmation`` suite (items on the order, within what is open). Lines cannot change once Cin7 Core
holds the pick of the despatch (only tracking and carrier then). Cin7 Core:
:func:`erp_wms_sync.flows.dispatch_confirmation.cin7.confirm_one` (or the tracking PUT of a confirmed despatch);
BlueCherry: :func:`erp_wms_sync.flows.dispatch_confirmation.bluecherry.post_one` — one ERP fulfilment per
despatch either way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException

from erp_wms_sync.config import Integration
from erp_wms_sync.dashboard.web import Dashboard, Viewer
from erp_wms_sync.errors import ApiError
from erp_wms_sync.ledger import dashboard_repo
from erp_wms_sync.ledger.leases import FlowBusy, exclusive
from erp_wms_sync.ledger.models import ExceptionAttempt, ExceptionRecord, utcnow

__all__ = ["ACTION", "EDITABLE_TYPES", "EditOutcome", "EditSpec", "edit_and_retry", "editable"]

log = logging.getLogger(__name__)

ACTION = "edit_retry"
ORDER_HOLDS = ("unmapped_sku", "unmapped_location", "invalid_order")
STOCK_FAILED = "failed_stock_increment"
FULFILMENT_REJECTED = "fulfilment_rejected"
EDITABLE_TYPES = (*ORDER_HOLDS, STOCK_FAILED, FULFILMENT_REJECTED)
ORDER_KEY = "SalesOrderNumber"
ITEM_EDITABLE = ("ItemCode",)
ERP_SKU = "erp_sku"  # shown with each item for reference; not sent
OK_OUTCOMES = ("released", "adopted", "completed", "posted", "confirmed")
# the flow whose path an edit goes through: it holds that flow's lease (one writer per flow) while it writes
FLOW_OF = {"order": "order_release", "stock": "inventory_sync", "fulfilment": "dispatch_confirmation"}
EDIT_WAIT = 20.0  # seconds an edit waits for a run of the flow to finish writing before answering 409


@dataclass(frozen=True)
class EditSpec:
    """The editable part of a record (shown as JSON in ``textarea#edit-payload``) and what editing does."""

    fields: dict[str, Any]
    help: str


@dataclass(frozen=True)
class EditOutcome:
    """What happened, in a sentence for the user (``ok`` False: the system refused or did not answer)."""

    ok: bool
    message: str


class Invalid(ValueError):
    """An edit that cannot be sent: the message names the field(s)."""


# --- what can be edited ------------------------------------------------------------------------------------------
def kind_of(row: ExceptionRecord) -> str | None:
    """``order``, ``stock`` or ``fulfilment`` for an editable exception, else None."""
    if row.type in ORDER_HOLDS and row.entity_type == "order":
        return "order"
    if row.type == STOCK_FAILED and row.entity_type == "stock_pair":
        return "stock"
    if row.type == FULFILMENT_REJECTED and row.entity_type == "despatch":
        return "fulfilment"
    return None


def editable(row: ExceptionRecord, integration: Integration | None = None) -> EditSpec | None:
    """The edit form of an open exception of an editable type (None: it cannot be edited, or is not open).

    ``integration`` (optional) fills a stock adjustment's SKU and location from the mapping when the exception
    does not carry them."""
    kind = kind_of(row)
    if kind is None or row.status != "open":
        return None
    payload, detail = dict(row.payload or {}), dict(row.detail or {})
    if kind == "order":
        order = dict(payload.get("order") or {})
        if not order.get("erp_id"):
            return None
        skus = _line_skus(order)
        header = {k: str(v or "") for k, v in dict(payload.get("header") or {}).items()}
        items = [{**{k: str(v or "") for k, v in dict(i).items() if k != ORDER_KEY},
                  ERP_SKU: skus.get(str(dict(i).get("Line", "")), "")} for i in payload.get("items") or []]
        return EditSpec({"header": header, "items": items},
                        "Change this order's Peoplevox rows (header values, each line's ItemCode) without touching "
                        "the ERP; the order is checked again and released to Peoplevox at once.")
    if kind == "stock":
        item_code, site = str(detail.get("item_code") or ""), str(detail.get("site") or "")
        # empty: as the integration maps the pair (older exceptions do not carry the mapped SKU and location)
        sku = str(detail.get("sku") or (integration.sku_for(item_code) if integration is not None else ""))
        location = str(detail.get("location") or detail.get("warehouse") or _erp_location(integration, site) or "")
        return EditSpec({"item_code": item_code, "site": site, "sku": sku, "location": location,
                         "quantity": int(detail.get("quantity") or 0)},
                        "Change the adjustment (ERP SKU, ERP location — empty: as mapped — and the absolute "
                        "quantity) and post it to the ERP now through the stock journal.")
    despatch = dict(payload.get("despatch") or {})
    return EditSpec({"lines": [{"item_code": str(ln.get("item_code") or ""), "quantity": ln.get("quantity")}
                               for ln in despatch.get("lines") or []],
                     "tracking": list(dict(despatch.get("packages") or {}).get("tracking") or []),
                     "carrier": str(despatch.get("carrier") or "")},
                    "Change the fulfilment lines, tracking numbers or carrier and confirm the despatch in the ERP "
                    "now (one fulfilment per despatch).")


# --- edit and retry ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """The exception being edited, read once (plain values, no session)."""

    id: int
    integration: str
    type: str
    kind: str
    entity_key: str
    detail: dict[str, Any]
    payload: dict[str, Any]


def edit_and_retry(dashboard: Dashboard, viewer: Viewer, exception_id: int,
                   edited: Mapping[str, Any]) -> EditOutcome:
    """Apply ``edited`` (the JSON of the edit form) to the record behind exception ``exception_id`` and send it
    through its flow's own path now. 404 unknown id; 403 the user may not act on the integration (checked before
    anything else happens); 409 not open or not editable; 400 an invalid edit (the message names the field; the
    refusal is recorded on the exception and as an action). Records the ``edit_retry`` action with the changed
    fields and the outcome."""
    with dashboard.session() as session:
        row = session.get(ExceptionRecord, exception_id)
        if row is None:
            raise HTTPException(404, f"exception {exception_id} does not exist")
        integration_name, status, kind = row.integration, row.status, kind_of(row)
        target = Target(row.id, row.integration, row.type, kind or "", row.entity_key, dict(row.detail or {}),
                        dict(row.payload or {}))
    dashboard.require_actor(viewer, integration_name)
    if status != "open":
        raise HTTPException(409, f"exception {exception_id} is {status}, not open: nothing to retry")
    if kind is None:
        raise HTTPException(409, f"a {target.type} exception cannot be edited; retry or resolve it instead")
    if not isinstance(edited, Mapping):
        raise HTTPException(400, "the edit must be a JSON object")
    integration = dashboard.integration(integration_name)
    handler = {"order": _order, "stock": _stock, "fulfilment": _fulfilment}[kind]
    flow = FLOW_OF[kind]
    try:
        with exclusive(dashboard.ledger_url(), integration_name, flow, f"dashboard:{viewer.name}:{exception_id}",
                       wait=EDIT_WAIT):
            changes, outcome, message = handler(dashboard, viewer, integration, target, edited)
    except FlowBusy:
        raise HTTPException(409, f"a run of {flow} is writing for {integration_name} right now; nothing was "
                                 "changed: try again in a minute") from None
    except Invalid as exc:
        _refused(dashboard, viewer, target, str(exc))
        raise HTTPException(400, str(exc)) from None
    except ApiError as exc:  # a system stopped answering mid-way: each path recorded its intent before calling
        changes, outcome = {}, "unavailable"
        message = (f"{type(exc).__name__}: {exc} — nothing is sent twice: retry the edit later, or the flow's "
                   f"next run completes whatever was started")
    ok = outcome in OK_OUTCOMES
    with dashboard.session() as session:
        dashboard_repo.record_action(session, user=viewer.name, integration=integration_name, action=ACTION,
                                     target_type="exception", target_id=exception_id,
                                     outcome=f"{outcome}: {message}", detail=changes)
    log.info("%s: %s edited exception %s (%s): %s", integration_name, viewer.name, exception_id, target.type,
             outcome)
    return EditOutcome(ok, message)


def _refused(dashboard: Dashboard, viewer: Viewer, target: Target, why: str) -> None:
    """A refused edit: on the exception's history (it stays open) and in the record of actions."""
    with dashboard.session() as session:
        row = session.get(ExceptionRecord, target.id)
        if row is not None:
            row.history.append(ExceptionAttempt(at=utcnow(), outcome="edit_refused",
                                                message=f"edit by {viewer.name} refused: {why}"[:2000]))
        dashboard_repo.record_action(session, user=viewer.name, integration=target.integration, action=ACTION,
                                     target_type="exception", target_id=target.id, outcome=f"refused: {why}",
                                     detail=None)


def _note_edit(dashboard: Dashboard, viewer: Viewer, target: Target, changes: Mapping[str, Any]) -> None:
    """The edit on the exception's history, before the retry (which may close it)."""
    with dashboard.session() as session:
        row = session.get(ExceptionRecord, target.id)
        if row is not None:
            row.history.append(ExceptionAttempt(at=utcnow(), outcome="edited",
                                                message=f"{viewer.name} edited {describe(changes)}"[:2000]))


def describe(changes: Mapping[str, Any]) -> str:
    """``field: old → new; …`` (or ``nothing`` when no field changed)."""
    if not changes:
        return "nothing (retried as it was)"
    return "; ".join(f"{name}: {_show(c.get('old'))} → {_show(c.get('new'))}" for name, c in changes.items())


def _show(value: Any) -> str:
    if value in (None, ""):
        return "(empty)"
    return value if isinstance(value, str) else json.dumps(value)


def _context(dashboard: Dashboard, integration: Integration, flow: str, target: Target) -> Any:
    from erp_wms_sync.domain.windows import Window
    from erp_wms_sync.flows.common import RunContext

    now = datetime.now(UTC)
    return RunContext(integration=integration, flow=flow,
                      run_id=f"dashboard__edit_{target.id}_{now.strftime('%Y%m%dT%H%M%S%f')}",
                      window=Window(None, now, "dashboard edit-and-retry"), ledger_url=dashboard.ledger_url())


def _client(dashboard: Dashboard, integration: Integration, kind: str) -> Any:
    if dashboard.clients is not None:
        return dashboard.clients(integration, kind)
    from erp_wms_sync.airflow.runtime import make_client

    return make_client(integration, kind)


def _erp_location(integration: Integration | None, site: str) -> str | None:
    if integration is None:
        return None
    wanted = site.casefold()
    return next((loc.erp for loc in integration.locations if loc.wms_site.casefold() == wanted), None)


def _only(edited: Mapping[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(edited) - set(allowed))
    if unknown:
        raise Invalid(f"{', '.join(unknown)}: not an editable field (editable: {', '.join(allowed)})")


# --- held orders -------------------------------------------------------------------------------------------------
Result = tuple[dict[str, Any], str, str]


def _line_skus(order: Mapping[str, Any]) -> dict[str, str]:
    return {str(ln.get("line_no") or pos): str(ln.get("sku") or "")
            for pos, ln in enumerate(order.get("lines") or [], start=1)}


def _order(dashboard: Dashboard, viewer: Viewer, integration: Integration, target: Target,
           edited: Mapping[str, Any]) -> Result:
    from erp_wms_sync.domain import orders as rules
    from erp_wms_sync.domain.order_status import PENDING, ReleaseState
    from erp_wms_sync.flows.order_release.release import release_one
    from erp_wms_sync.flows.order_release.rows import OVERRIDE, apply_override, build_rows, line_skus, override_of
    from erp_wms_sync.ledger import repo

    _only(edited, ("header", "items"))
    ctx = _context(dashboard, integration, "order_release", target)
    erp_id = str(dict(target.payload.get("order") or {}).get("erp_id") or "")
    with dashboard.session() as session:
        record = repo.order_records(session, integration.name, [erp_id]).get(erp_id) if erp_id else None
        if record is None or not isinstance((record.payload or {}).get("order"), dict):
            raise HTTPException(409, f"the ledger has no held order behind exception {target.id}")
        if ReleaseState(record.state) not in PENDING:
            raise HTTPException(409, f"order {record.erp_order_number} is {record.state} now: nothing to release")
        order = rules.order_from_dict(dict(record.payload or {})["order"])
        reissues = int((record.payload or {}).get("reissues", 0))
        number = record.wms_order_number or rules.wms_number(order, reissues)
        stored = dict(override_of(record) or {})
        owners = 1 + sum(1 for other in _orders_numbered(session, integration.name, number)
                         if other.erp_order_id != erp_id)
    base_header, base_items = build_rows(ctx, order, number)
    header, items = apply_override(order, base_header, base_items, stored)
    new_header, new_items, changes = _edited_rows(integration, header, items, line_skus(order), edited)
    override = _override(base_header, base_items, new_header, new_items, line_skus(order))
    final_header, final_items = apply_override(order, base_header, base_items, override)
    wms = _client(dashboard, integration, "wms")
    problems = _check_order(wms, final_header, final_items, owners)
    if problems:
        raise Invalid("; ".join(problems))
    _note_edit(dashboard, viewer, target, changes)
    with dashboard.session() as session:
        record = repo.order_records(session, integration.name, [erp_id])[erp_id]
        record.payload = repo.plain({**(record.payload or {}), OVERRIDE: override,
                                     "header": final_header, "items": final_items})
    note = f"{viewer.name} edited {describe(changes)} in the dashboard; order released to Peoplevox"
    outcome, message = release_one(ctx, wms, order, final_header, final_items, by=viewer.name, note=note)
    if outcome in OK_OUTCOMES:
        message += _write_back(dashboard, integration, ctx, order, final_header[ORDER_KEY])
    return changes, outcome, message


def _write_back(dashboard: Dashboard, integration: Integration, ctx: Any, order: Any, number: str) -> str:
    """The release status back to the ERP as the run's write-back step would (its failure does not undo the
    release: the order is in Peoplevox); returns a note for the message when it did not happen."""
    from erp_wms_sync.flows.order_release.write_back import write_back_one

    try:
        done = write_back_one(ctx, _client(dashboard, integration, "orders"), order, number)
    except Exception as exc:  # the ERP unreachable: the status is simply not written
        log.warning("%s: release status of %s not written back to the ERP: %s", integration.name, number,
                    type(exc).__name__)
        return f" (its status could not be written back to the ERP: {type(exc).__name__})"
    return " (the ERP refused its status write-back)" if done == "skipped" else ""


def _orders_numbered(session: Any, integration: str, number: str) -> list[Any]:
    from sqlalchemy import or_, select

    from erp_wms_sync.ledger.models import OrderRecord

    return list(session.scalars(select(OrderRecord).where(
        OrderRecord.integration == integration,
        or_(OrderRecord.wms_order_number == number, OrderRecord.erp_order_number == number))))


def _edited_rows(integration: Integration, header: dict[str, str], items: list[dict[str, str]],
                 skus: Mapping[str, str], edited: Mapping[str, Any],
                 ) -> tuple[dict[str, str], list[dict[str, str]], dict[str, Any]]:
    """The rows with the edit applied, and the changed fields (old → new); :class:`Invalid` for a field that may
    not change or a value of the wrong shape."""
    changes: dict[str, Any] = {}
    new_header = dict(header)
    raw_header = edited.get("header", {})
    if not isinstance(raw_header, Mapping):
        raise Invalid("header: must be an object of Peoplevox \"Sales orders\" fields")
    for name, value in raw_header.items():
        if name not in header:
            raise Invalid(f"header.{name}: not a Peoplevox \"Sales orders\" field of this order")
        if value is not None and not isinstance(value, str | int | float):
            raise Invalid(f"header.{name}: must be text")
        text = "" if value is None else str(value).strip()
        if text == header[name]:
            continue
        if name == ORDER_KEY:
            raise Invalid(f"header.{ORDER_KEY}: the order number cannot be changed (it is how Peoplevox knows the "
                          f"order)")
        if name == "Site" and text and text.casefold() not in {loc.wms_site.casefold() for loc in
                                                                integration.locations}:
            sites = ", ".join(sorted({loc.wms_site for loc in integration.locations}))
            raise Invalid(f"header.Site: {text!r} is not a Peoplevox site of this integration ({sites})")
        changes[f"header.{name}"] = {"old": header[name], "new": text}
        new_header[name] = text
    new_items = [dict(i) for i in items]
    by_line = {str(i.get("Line", "")): i for i in new_items}
    raw_items = edited.get("items", [])
    if not isinstance(raw_items, list):
        raise Invalid("items: must be a list of the order's lines")
    for position, raw in enumerate(raw_items, start=1):
        if not isinstance(raw, Mapping):
            raise Invalid(f"items[{position}]: must be an object")
        line = str(raw.get("Line", "")).strip()
        if line not in by_line:
            raise Invalid(f"items[{position}].Line: {line or '(none)'} is not a line of this order sent to "
                          f"Peoplevox")
        current = by_line[line]
        for name, value in raw.items():
            if name in ("Line", ORDER_KEY, ERP_SKU) and (name != ERP_SKU or str(value) == skus.get(line, "")):
                continue
            text = "" if value is None else str(value).strip()
            if name not in current and name != ERP_SKU:
                raise Invalid(f"items[Line {line}].{name}: not a Peoplevox \"Sales order items\" field")
            if text == current.get(name, ""):
                continue
            if name not in ITEM_EDITABLE:
                raise Invalid(f"items[Line {line}].{name}: comes from the ERP order and cannot be changed here "
                              f"(only ItemCode can); change it in the ERP")
            changes[f"items[Line {line}].{name}"] = {"old": current.get(name, ""), "new": text}
            current[name] = text
    return new_header, new_items, changes


def _override(base_header: Mapping[str, str], base_items: Sequence[Mapping[str, str]],
              header: Mapping[str, str], items: Sequence[Mapping[str, str]], skus: Mapping[str, str]) -> dict:
    """The corrections relative to what the ERP gives (see :func:`~erp_wms_sync.flows.order_release.rows.
    apply_override`): only fields that differ from the built rows."""
    head = {name: {"from": base_header.get(name, ""), "to": value} for name, value in header.items()
            if name != ORDER_KEY and value != base_header.get(name, "")}
    built = {str(i.get("Line", "")): i for i in base_items}
    lines = {line: {"sku": skus.get(line, ""), "from": built[line].get("ItemCode", ""), "to": item["ItemCode"]}
             for item in items for line in [str(item.get("Line", ""))]
             if line in built and item.get("ItemCode", "") != built[line].get("ItemCode", "")}
    return {key: value for key, value in (("header", head), ("items", lines)) if value}


def _check_order(wms: Any, header: Mapping[str, str], items: list[dict[str, str]], owners: int) -> list[str]:
    """The ``order_release`` suite on these rows (the ItemCodes they use looked up in Peoplevox now): one
    ``field: reason`` per failure, the field named as in the edit form."""
    import pandas as pd

    from erp_wms_sync.checks.runner import run_checks
    from erp_wms_sync.checks.suites import ORDER_LINE_COLUMNS, order_release_checks
    from erp_wms_sync.domain import orders as rules
    from erp_wms_sync.flows.order_release.rows import wms_item_codes
    from erp_wms_sync.flows.order_release.validate import SUITE, frame_rows

    codes = wms_item_codes(wms, {i.get("ItemCode", "") for i in items if i.get("ItemCode")})
    checks = order_release_checks(sorted(codes), rules.WMS_ORDER_NUMBER_MAX)
    column_of = {c.reason: str(c.kwargs.get("column") or "") for c in checks}
    rows = frame_rows(header, items, owners)
    outcome = run_checks(SUITE, pd.DataFrame(rows, columns=list(ORDER_LINE_COLUMNS)), checks)
    problems: list[str] = []
    for position, reasons in sorted(outcome.failures.items()):
        for reason in reasons:
            column = column_of.get(reason, "")
            if column in ("ItemCode", "QuantityOrdered", "QuantityText") and items:
                line = items[position]
                name = "QuantityOrdered" if column == "QuantityText" else column
                text = f"items[Line {line.get('Line')}].{name}: {reason}"
                if column == "ItemCode" and line.get("ItemCode"):
                    text += f" ({line['ItemCode']})"
            elif column == "NumberOwners":
                text = f"header.{ORDER_KEY}: {reason}"
            else:
                text = f"header.{column or 'order'}: {reason}"
            if text not in problems:
                problems.append(text)
    return problems


# --- failed stock increments -------------------------------------------------------------------------------------
def _stock(dashboard: Dashboard, viewer: Viewer, integration: Integration, target: Target,
           edited: Mapping[str, Any]) -> Result:
    _only(edited, ("item_code", "site", "sku", "location", "quantity"))
    item_code, site = str(target.detail.get("item_code") or ""), str(target.detail.get("site") or "")
    if not item_code or not site:
        raise HTTPException(409, f"exception {target.id} does not name its SKU and site")
    for name, fixed in (("item_code", item_code), ("site", site)):
        if name in edited and str(edited[name]).strip() != fixed:
            raise Invalid(f"{name}: identifies the Peoplevox pair and cannot be changed ({fixed})")
    spec = editable_fields(target, integration)
    sku = str(edited.get("sku") or "").strip() or spec["sku"]  # empty: as the integration maps it
    location = str(edited.get("location") or "").strip() or spec["location"]
    quantity = edited.get("quantity", spec["quantity"])
    if not sku:
        raise Invalid("sku: the ERP SKU is required")
    known = {loc.erp.casefold(): loc.erp for loc in integration.locations}
    if location.casefold() not in known:
        raise Invalid(f"location: {location or '(empty)'} is not an ERP location of this integration "
                      f"({', '.join(sorted(known.values()))})")
    location = known[location.casefold()]
    if isinstance(quantity, bool) or not isinstance(quantity, int | float | str):
        raise Invalid("quantity: must be a whole number of at least 0")
    try:
        amount = float(str(quantity).strip())
    except ValueError:
        raise Invalid(f"quantity: {quantity!r} is not a number") from None
    if amount != int(amount) or amount < 0:
        raise Invalid(f"quantity: {quantity!r} must be a whole number of at least 0 (the absolute figure)")
    wanted = {"sku": sku, "location": location, "quantity": int(amount)}
    changes = {name: {"old": spec[name], "new": value} for name, value in wanted.items() if spec[name] != value}
    _note_edit(dashboard, viewer, target, changes)
    erp = _client(dashboard, integration, "erp")
    if integration.erp.kind.value == "cin7core":
        from erp_wms_sync.flows.inventory_sync.apply import retry_pair

        ctx = _context(dashboard, integration, "inventory_sync", target)
        outcome, message = retry_pair(ctx, erp, item_code, site, sku=sku, location=location,
                                      quantity=int(amount), by=viewer.name)
    else:
        from erp_wms_sync.flows.inventory_sync.bluecherry import push_one

        ctx = _context(dashboard, integration, "inventory_sync", target)
        outcome, message = push_one(ctx, erp, item_code, site, sku=sku, warehouse=location, quantity=int(amount))
    if outcome in ("busy", "gone"):
        raise HTTPException(409, message)
    return changes, outcome, message


def editable_fields(target: Target, integration: Integration) -> dict[str, Any]:
    """The stock adjustment as the exception reports it (SKU and location from the mapping when it has none)."""
    detail = target.detail
    item_code, site = str(detail.get("item_code") or ""), str(detail.get("site") or "")
    return {"sku": str(detail.get("sku") or integration.sku_for(item_code)),
            "location": str(detail.get("location") or detail.get("warehouse") or _erp_location(integration, site)
                            or ""),
            "quantity": int(detail.get("quantity") or 0)}


# --- fulfilment rejections ---------------------------------------------------------------------------------------
def _fulfilment(dashboard: Dashboard, viewer: Viewer, integration: Integration, target: Target,
                edited: Mapping[str, Any]) -> Result:
    from erp_wms_sync.flows.dispatch_confirmation.check import NO_TRACKING, problems_of
    from erp_wms_sync.flows.dispatch_confirmation.collect import REMOVED_TRACKING
    from erp_wms_sync.ledger import dispatch_repo

    _only(edited, ("lines", "tracking", "carrier"))
    number = target.entity_key
    ctx = _context(dashboard, integration, "dispatch_confirmation", target)
    cin7 = integration.erp.kind.value == "cin7core"
    with dashboard.session() as session:
        row = dispatch_repo.despatch_records(session, integration.name, [number]).get(number)
        if row is None:
            raise HTTPException(409, f"the ledger has no despatch {number}")
        confirmed = row.state == "confirmed"
        if row.state in ("ignored", "new", "held"):
            raise HTTPException(409, f"despatch {number} is {row.state}: the dispatch check decides it first")
        old_lines = [{"item_code": str(ln.get("item_code") or ""), "quantity": int(ln.get("quantity") or 0)}
                     for ln in row.lines or []]
        packages = dict(row.packages or {})
        old_tracking = [str(t) for t in packages.get("tracking") or []]
        old_carrier = row.carrier or ""
        lines = _despatch_lines(edited["lines"]) if "lines" in edited else old_lines
        tracking = _tracking(edited["tracking"]) if "tracking" in edited else old_tracking
        carrier = str(edited.get("carrier", old_carrier) or "").strip()
        changes: dict[str, Any] = {}
        for name, old, new in (("lines", old_lines, lines), ("tracking", old_tracking, tracking),
                               ("carrier", old_carrier, carrier)):
            if _canonical(old) != _canonical(new):
                changes[name] = {"old": old, "new": new}
        if "lines" in changes and (confirmed or (cin7 and row.step not in (None, "", "task"))):
            raise Invalid("lines: the ERP already holds the "
                          f"{'shipment' if confirmed else 'pick'} of despatch {number}; only tracking and carrier "
                          f"can change")
        if confirmed and not cin7:
            raise HTTPException(409, f"BlueCherry holds the shipment of despatch {number}")
        row.lines = lines
        removed = sorted(set(packages.get(REMOVED_TRACKING) or []) | (set(old_tracking) - set(tracking)))
        row.packages = {**packages, "tracking": tracking, REMOVED_TRACKING: sorted(set(removed) - set(tracking))}
        row.carrier = carrier or None
        found = problems_of(ctx, session, row)
        blocking = {kind: reasons for kind, reasons in found.items() if kind != NO_TRACKING}
        if blocking:
            session.rollback()
            raise Invalid("lines: " + "; ".join(sorted({r for reasons in blocking.values() for r in reasons})))
    _note_edit(dashboard, viewer, target, changes)
    erp = _client(dashboard, integration, "erp")
    if cin7:
        from erp_wms_sync.flows.dispatch_confirmation import cin7 as c7

        if confirmed:
            c7.update_tracking(ctx, erp, [number])
        else:
            c7.confirm_one(ctx, erp, number)
    else:
        from erp_wms_sync.flows.dispatch_confirmation import bluecherry

        bluecherry.post_one(ctx, erp, number)
    with dashboard.session() as session:
        row = dispatch_repo.despatch_records(session, integration.name, [number])[number]
        if confirmed and set(tracking) <= set((row.erp_tracking or {}).get("tracking") or []):
            # the tracking PUT went through: the flow closes only the missing-tracking exception by itself
            from erp_wms_sync.ledger import repo

            repo.resolve_exceptions(session, integration=integration.name, entity_type="despatch",
                                    entity_keys=[number[:128]], types=[FULFILMENT_REJECTED], by=viewer.name,
                                    note=f"{viewer.name} edited {describe(changes)}; Cin7 Core holds the tracking",
                                    run_id=ctx.run_id)
        still = session.get(ExceptionRecord, target.id)
        open_now = still is not None and still.status == "open"
        why = str(dict(still.detail or {}).get("message") or still.summary) if still is not None else ""
        done = row.state == "confirmed" and not open_now
        ref = row.erp_ref or ""
    if done:
        return changes, "confirmed", f"despatch {number} confirmed in the ERP ({ref})"
    return changes, "rejected", f"the ERP refused despatch {number} again: {why}"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _despatch_lines(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise Invalid("lines: must be a non-empty list of {item_code, quantity}")
    out: list[dict[str, Any]] = []
    for position, line in enumerate(raw, start=1):
        if not isinstance(line, Mapping):
            raise Invalid(f"lines[{position}]: must be an object with item_code and quantity")
        unknown = sorted(set(line) - {"item_code", "quantity", "sku"})
        if unknown:
            raise Invalid(f"lines[{position}].{unknown[0]}: not a field of a despatch line")
        code = str(line.get("item_code") or "").strip()
        if not code:
            raise Invalid(f"lines[{position}].item_code: required")
        quantity = line.get("quantity")
        try:
            amount = float(str(quantity).strip())
        except ValueError:
            raise Invalid(f"lines[{position}].quantity: {quantity!r} is not a number") from None
        if isinstance(quantity, bool) or amount != int(amount) or amount < 1:
            raise Invalid(f"lines[{position}].quantity: {quantity!r} must be a whole number of at least 1")
        out.append({"item_code": code, "quantity": int(amount)})
    return out


def _tracking(raw: Any) -> list[str]:
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not all(isinstance(v, str | int) for v in values):
        raise Invalid("tracking: must be a list of tracking numbers")
    return list(dict.fromkeys(str(v).strip() for v in values if str(v).strip()))
