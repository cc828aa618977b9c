"""The order, return and item-master sections of reconciliation (and the audit's mapping section): the reads.

Each function reads both systems in pages (list calls only, never a call per order or item), builds DataFrames and
hands them to the pure comparisons of :mod:`erp_wms_sync.domain.reconciliation_findings`, which return one row per
finding (:data:`FINDING_COLUMNS`). The caller raises and closes the exceptions the rows name; ``SECTION_TYPES``
says which exception types each section raises, so an open one no longer found can be closed.

What is read:

- **orders**: the ERP's orders changed within ``orders.lookback_days`` (Cin7 Core ``saleList``, BlueCherry
  ``orders``, every status), the ledger's orders it watches (released, blocked, pending) and those it touched within
  the look-back, and Peoplevox *Sales orders* by ``SalesOrderNumber`` clauses (500 numbers per call) for the
  orders that matter (open or cancelled in the ERP, released per the ledger) plus every order Peoplevox holds live
  (a ``Status`` clause), which is how an order unknown to the ERP is found. An order the ledger watches that did
  not change in the ERP within the look-back keeps the ERP status the ledger last saw (unchanged, or it would have
  been listed). Works with an empty ledger (the audit).
- **returns**: the ledger's returned lines still owed something (and those seen within the look-back); Cin7 Core:
  the sales with an authorised credit note (``saleList`` filtered by ``CreditNoteStatus``, one listing), less the
  credit notes the integration made itself; BlueCherry: the RAs changed within the look-back (``returns``).
- **items**: every ERP product/SKU as item master sync would write it to Peoplevox (the same mapping, item codes
  through the integration's cross-reference) and every Peoplevox *Item type*.
- **mapping** (audit): ERP locations / warehouses, the YAML's ``locations`` and Peoplevox *Sites*.

A malformed answer (a Peoplevox row without its key, a frame without a column) raises
:class:`~erp_wms_sync.domain.reconciliation_findings.FindingsInputError`; a system that cannot be read raises the
client's :class:`~erp_wms_sync.errors.ApiError`. Either way the section reports nothing rather than a partial view.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from erp_wms_sync.config import Integration
from erp_wms_sync.domain import reconciliation_findings as rules
from erp_wms_sync.domain.bluecherry_orders import bluecherry_state
from erp_wms_sync.domain.cin7_orders import cin7_state
from erp_wms_sync.domain.items import item_from_bluecherry, item_from_cin7, to_wms_row
from erp_wms_sync.domain.orders import ORDER_KEY
from erp_wms_sync.domain.reconciliation_findings import FINDING_COLUMNS, KINDS, SECTION_KINDS, FindingsInputError
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.order_release.rows import clauses, quote
from erp_wms_sync.ledger import findings_repo, returns_repo

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FINDING_COLUMNS", "SECTION_TYPES", "FindingsInputError", "items_findings", "mapping_findings",
           "orders_findings", "returns_findings"]

log = logging.getLogger(__name__)

#: section -> the exception types its findings raise (an open one of these no longer found can be closed).
SECTION_TYPES: dict[str, tuple[str, ...]] = {
    section: tuple(dict.fromkeys(t for kind in kinds if (t := KINDS[kind][0]) is not None))
    for section, kinds in SECTION_KINDS.items()}
SITES_TEMPLATE, SITE_KEY = "Sites", "Reference"
CREDITED = "AUTHORISED"


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _bluecherry(integration: Integration) -> bool:
    return integration.erp.kind.value == "bluecherry"


# --- orders --------------------------------------------------------------------------------------------------------
def orders_findings(ctx: RunContext, wms: Any, erp: Any, now: datetime) -> pd.DataFrame:
    """Orphaned, despatched-but-open, cancelled-but-live, unknown-to-the-ERP and limbo orders (see the module
    docstring for what is read)."""
    import pandas as pd

    integration, now = ctx.integration, _aware(now)
    settings = integration.reconciliation
    since = now - timedelta(days=integration.orders.lookback_days)
    erp_frame = erp_orders(integration, erp, since)
    with ctx.session() as session:
        watched = findings_repo.order_rows(session, integration.name, since=_naive(since))
        confirming = findings_repo.despatches_in_progress(
            session, integration.name, since=_naive(now - timedelta(minutes=settings.settle_minutes)))
    ledger = _ledger_frame(watched)
    erp_frame = pd.concat([erp_frame, _unlisted(integration, ledger, erp_frame, since)], ignore_index=True)
    wanted = set(erp_frame.loc[erp_frame["state"].isin((rules.RELEASABLE, rules.CANCELLED)), "number"])
    wanted |= set(ledger.loc[ledger["state"].isin(rules.IN_WMS_PER_LEDGER), "wms_number"])
    wms_frame = wms_orders(wms, wanted)
    unknown = sorted(set(wms_frame[ORDER_KEY]) - set(erp_frame["number"]) - set(ledger["wms_number"])
                     - set(ledger["number"]))
    if unknown:  # the ledger's memory of these exact numbers (bounded: only numbers Peoplevox shows us)
        candidates = unknown + sorted(set(rules.base_number(pd.Series(unknown, dtype=object))))
        with ctx.session() as session:
            named = findings_repo.orders_named(session, integration.name, candidates)
        ledger = pd.concat([ledger, _ledger_frame(named)], ignore_index=True).drop_duplicates("erp_id", keep="last")
    found = rules.compare_orders(erp_frame, ledger, wms_frame, now=now, limbo_hours=settings.limbo_hours,
                                 settle_minutes=settings.settle_minutes, despatch_in_progress=confirming)
    log.info("%s reconciliation orders: %d ERP, %d ledger, %d Peoplevox orders; %s", integration.name,
             len(erp_frame), len(ledger), len(wms_frame), rules.kind_counts(found))
    return found


def erp_orders(integration: Integration, erp: Any, since: datetime) -> pd.DataFrame:
    """The ERP's orders changed at or after ``since`` (every status): erp_id, number, state, erp_status, updated."""
    import pandas as pd

    release = integration.orders.release_status
    ids: list[str] = []
    numbers: list[str] = []
    states: list[str] = []
    statuses: list[str] = []
    stamps: list[Any] = []
    if _bluecherry(integration):
        for order in erp.iter_orders(updated_since=since):
            ids.append(order.order_number)
            numbers.append(order.order_number)
            statuses.append(order.status.upper())
            states.append(bluecherry_state(order.status, release).value)
            stamps.append(order.updated_at)
    else:
        for row in erp.iter_sale_list(updated_since=since):
            status = str(row.get("Status") or "")
            ids.append(str(row.get("SaleID") or ""))
            numbers.append(str(row.get("OrderNumber") or ""))
            statuses.append(status.upper())
            states.append(cin7_state(status, str(row.get("OrderStatus") or ""), release,
                                     str(row.get("CombinedShippingStatus") or ""),
                                     str(row.get("FulFilmentStatus") or "")).value)
            stamps.append(row.get("Updated"))
    updated = rules.moments(pd.Series(stamps, dtype=object))
    return pd.DataFrame({"erp_id": pd.Series(ids, dtype=object), "number": pd.Series(numbers, dtype=object),
                         "state": pd.Series(states, dtype=object), "erp_status": pd.Series(statuses, dtype=object),
                         "updated": updated})


def _ledger_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(findings_repo.ORDER_FIELDS), dtype=object)
    frame["wms_number"] = frame["wms_number"].where(frame["wms_number"].notna(), frame["number"])
    return frame.fillna("")


def _unlisted(integration: Integration, ledger: pd.DataFrame, listed: pd.DataFrame, since: datetime) -> pd.DataFrame:
    """The ledger's orders the ERP did not list as changed since ``since``: their ERP status is the one the ledger
    last saw, unchanged at least since then."""
    import pandas as pd

    rest = ledger[~ledger["erp_id"].isin(set(listed["erp_id"]))]
    release = integration.orders.release_status
    table = (lambda s: bluecherry_state(s, release).value) if _bluecherry(integration) else (
        lambda s: cin7_state(s, release, release).value)
    status = rest["erp_status"].fillna("").astype(str).str.upper()
    return pd.DataFrame({"erp_id": rest["erp_id"].to_numpy(), "number": rest["number"].to_numpy(),
                         "state": status.map(lambda s: table(s) if s else rules.RELEASABLE).to_numpy(),
                         "erp_status": status.where(status != "", "(as released)").to_numpy(),
                         "updated": pd.Series([_naive(since)] * len(rest), dtype="datetime64[ns]")})


def wms_orders(wms: Any, numbers: Iterable[str]) -> pd.DataFrame:
    """Peoplevox *Sales orders* (``SalesOrderNumber``, ``Status``) of ``numbers`` and every live order, in pages."""
    import pandas as pd

    rows: dict[str, dict[str, str]] = {}
    for clause in _order_clauses(numbers):
        for row in wms.iter_sales_orders(search_clause=clause):
            rows[str(row.get(ORDER_KEY) or "")] = row
    frame = pd.DataFrame(list(rows.values()), dtype=object) if rows else pd.DataFrame(
        {ORDER_KEY: pd.Series(dtype=object), "Status": pd.Series(dtype=object)})
    rules.require(frame, rules.WMS_ORDER_COLUMNS, "Peoplevox Sales orders", keys=(ORDER_KEY,))
    return frame[list(rules.WMS_ORDER_COLUMNS)]


def _order_clauses(numbers: Iterable[str]) -> Iterator[str]:
    yield " OR ".join(f'Status.Equals("{quote(status)}")' for status in rules.WMS_LIVE_STATUSES)
    yield from clauses(ORDER_KEY, numbers)


# --- returns -------------------------------------------------------------------------------------------------------
def returns_findings(ctx: RunContext, wms: Any, erp: Any, now: datetime) -> pd.DataFrame:
    """Returns received in Peoplevox but not restocked (Cin7 Core) or not booked (BlueCherry) past
    ``returns.restock_deadline_hours``, and Cin7 Core sales credited before their return's stock-in.

    Peoplevox's side is the ledger's record of every return the returns flow read from Peoplevox (``wms`` is not
    called: the *Return summary* was read by that flow, line by line, with its checks)."""
    import pandas as pd

    integration, now = ctx.integration, _aware(now)
    since = now - timedelta(days=integration.orders.lookback_days)
    with ctx.session() as session:
        rows = findings_repo.return_rows(session, integration.name, owed_states=returns_repo.OPEN_STATES,
                                         since=_naive(since))
    lines = pd.DataFrame(rows, columns=list(findings_repo.RETURN_FIELDS), dtype=object)
    lines["sku"] = lines["item_code"].map(lambda code: integration.sku_for(str(code)) if code else "")
    kind = integration.erp.kind.value
    credits = ras = None
    pending = lines["sellable"].astype(bool) & lines["state"].isin(rules.STOCK_IN_PENDING)
    if not _bluecherry(integration) and pending.any():
        ours = set(lines["erp_ref"].dropna().astype(str))
        credits = credit_notes(erp, since, exclude=ours)
    if _bluecherry(integration) and (lines["state"] == "received").any():
        ras = return_authorisations(erp, since)
    found = rules.compare_returns(lines, erp_kind=kind, now=now,
                                  deadline_hours=integration.returns.restock_deadline_hours, credits=credits, ras=ras)
    log.info("%s reconciliation returns: %d ledger lines; %s", integration.name, len(lines), rules.kind_counts(found))
    return found


def credit_notes(erp: Any, since: datetime, *, exclude: set[str]) -> pd.DataFrame:
    """Cin7 Core sales changed since ``since`` whose latest credit note is authorised (one ``saleList`` listing):
    ``order_number, credit_note`` (notes in ``exclude`` — the integration's own — left out)."""
    import pandas as pd

    numbers: list[str] = []
    notes: list[str] = []
    for row in erp.iter_sale_list(updated_since=since, CreditNoteStatus=CREDITED):
        note = str(row.get("CreditNoteNumber") or "").strip()
        if note and note not in exclude and str(row.get("CreditNoteStatus") or CREDITED).upper() == CREDITED:
            numbers.append(str(row.get("OrderNumber") or ""))
            notes.append(note)
    return pd.DataFrame({"order_number": pd.Series(numbers, dtype=object),
                         "credit_note": pd.Series(notes, dtype=object)})


def return_authorisations(erp: Any, since: datetime) -> pd.DataFrame:
    """BlueCherry RA lines changed since ``since``: ``ra_number, sku, received``."""
    import pandas as pd

    ras: list[str] = []
    skus: list[str] = []
    received: list[int] = []
    for ra in erp.iter_returns(updated_since=since):
        for line in ra.lines:
            ras.append(ra.ra_number)
            skus.append(line.sku)
            received.append(line.received)
    return pd.DataFrame({"ra_number": pd.Series(ras, dtype=object), "sku": pd.Series(skus, dtype=object),
                         "received": pd.Series(received, dtype="int64")})


# --- items ---------------------------------------------------------------------------------------------------------
def items_findings(ctx: RunContext, wms: Any, erp: Any, *, all_due: bool = True,
                   synced_until: datetime | None = None) -> pd.DataFrame:
    """SKUs on one side only, and name / barcode drift of the items on both (see
    :func:`~erp_wms_sync.domain.reconciliation_findings.compare_items`).

    ``all_due`` (the audit, or item master sync paused: nothing will write the items) judges every ERP item;
    otherwise only those item master sync should already have written — changed in the ERP before
    ``synced_until``, the end of its last finished window (None: it has never finished one, so none is due).
    An item created or renamed in the ERP since is on its way, not a difference."""
    integration = ctx.integration
    items = erp_items(integration, erp)
    if not all_due:
        items["due"] = rules.item_sync_due(items["modified_at"], synced_until)
    found = rules.compare_items(items, wms_items(wms))
    log.info("%s reconciliation items: %s", integration.name, rules.kind_counts(found))
    return found


def erp_items(integration: Integration, erp: Any) -> pd.DataFrame:
    """Every ERP product / SKU as the Peoplevox row item master sync writes: sku, item_code, name, barcode, active,
    and modified_at (naive UTC, None when the ERP does not say)."""
    import pandas as pd

    records = erp.iter_skus() if _bluecherry(integration) else erp.iter_products(include_deprecated=True)
    convert = item_from_bluecherry if _bluecherry(integration) else item_from_cin7
    columns: dict[str, list[Any]] = {name: [] for name in (*rules.ERP_ITEM_COLUMNS, "modified_at")}
    for record in records:
        item = convert(record)
        row = to_wms_row(item, integration.item_code_for)
        modified = _naive(item.modified_at) if item.modified_at is not None else None
        for name, value in (("sku", item.sku), ("item_code", row["ItemCode"]), ("name", row["Name"]),
                            ("barcode", row["Barcode"]), ("active", item.active), ("modified_at", modified)):
            columns[name].append(value)
    return pd.DataFrame({name: pd.Series(values, dtype=bool if name == "active" else object)
                         for name, values in columns.items()})


def wms_items(wms: Any) -> pd.DataFrame:
    """Every Peoplevox *Item type* (``ItemCode, Name, Barcode``), in pages; a column missing is an error."""
    import pandas as pd

    rows = list(wms.iter_item_types())
    frame = pd.DataFrame(rows, dtype=object) if rows else pd.DataFrame(
        {name: pd.Series(dtype=object) for name in rules.WMS_ITEM_COLUMNS})
    rules.require(frame, rules.WMS_ITEM_COLUMNS, "Peoplevox Item types", keys=("ItemCode",))
    return frame


# --- location mapping (audit) --------------------------------------------------------------------------------------
def mapping_findings(integration: Integration, wms: Any, erp: Any) -> pd.DataFrame:
    """ERP locations without a site, Peoplevox sites no location maps to, mapped sites Peoplevox lacks."""
    if _bluecherry(integration):
        places = [w.code for w in erp.iter_warehouses() if w.active]
    else:
        places = [loc.name for loc in erp.iter_locations(include_deprecated=False) if not loc.is_deprecated]
    sites = [str(row.get(SITE_KEY) or "") for row in wms.get_data(SITES_TEMPLATE, key=SITE_KEY)]
    mapping = {loc.erp: loc.wms_site for loc in integration.locations}
    return rules.compare_locations(places, mapping, sites)
