"""The order, return, item-master and mapping comparisons of reconciliation and of the pre-go-live audit.

Pure functions over DataFrames (no I/O, no ledger): each takes what both sides said and returns one row per
finding with :data:`FINDING_COLUMNS`. The same functions run nightly (with the ledger's memory of what was released
and returned) and in ``erp-wms-sync audit`` (with none). Everything is a merge or a vectorised mask; there is no
Python loop per row.

Input shapes are checked, never trusted: a frame without a column the comparison needs, or a Peoplevox row without
its key, raises :class:`FindingsInputError` naming the frame, the column and the row, so a malformed answer is
never read as "every order is missing".

Finding kinds, the exception each raises (``None``: report-only) and the entity the exception is about:

==========================  =========================  =========  ====================================================
kind                        exception_type             entity     meaning
==========================  =========================  =========  ====================================================
orphaned_order              orphaned_order             order      released per the ledger, missing in Peoplevox
dispatched_but_open         dispatched_but_open        order      despatched in Peoplevox, still open in the ERP
cancelled_but_live          cancelled_but_live         order      cancelled in the ERP, live in Peoplevox
unknown_in_erp              wms_order_not_in_erp       order      in Peoplevox, unknown to the ERP and the ledger
limbo                       order_in_limbo             order      open in the ERP, not in Peoplevox per the ledger
                                                                  (held, waiting, never seen), no ERP change for
                                                                  limbo_hours; in the audit also live in Peoplevox
return_not_restocked        return_not_restocked       return     received sellable, not in ERP stock past deadline
return_not_booked           return_not_restocked       return     BlueCherry: booked per the ledger, RA shows less
credit_before_stock_in      credit_before_stock_in     return     Cin7 credited the sale, the stock-in is pending
erp_only                    unmapped_sku               item       an active ERP SKU Peoplevox has no Item type for
wms_only                    wms_item_not_in_erp        item       a Peoplevox Item type no ERP SKU maps to
name_drift / barcode_drift  item_drift                 item       both sides have the item; name / barcode differ
unmapped_location           unmapped_location          location   an ERP location without a Peoplevox site
site_not_mapped             None                       site       a Peoplevox site no ERP location maps to
mapped_site_missing         unmapped_location          location   the YAML maps to a site Peoplevox does not have
==========================  =========================  =========  ====================================================
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from erp_wms_sync.domain.findings_shapes import (
    FINDING_COLUMNS,
    FindingsInputError,
    combine,
    empty_findings,
    moments,
    normalised,
    require,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FINDING_COLUMNS", "KINDS", "SECTION_KINDS", "FindingsInputError", "base_number", "combine",
           "compare_items", "compare_locations", "compare_orders", "compare_returns", "empty_findings", "item_sync_due",
           "kind_counts", "moments", "normalised", "require"]


ORDERS, RETURNS, ITEMS, MAPPING = "orders", "returns", "items", "mapping"
ORDER, RETURN, ITEM, LOCATION, SITE = "order", "return", "item", "location", "site"

#: kind -> (exception type or None, entity type)
KINDS: dict[str, tuple[str | None, str]] = {
    "orphaned_order": ("orphaned_order", ORDER),
    "dispatched_but_open": ("dispatched_but_open", ORDER),
    "cancelled_but_live": ("cancelled_but_live", ORDER),
    "unknown_in_erp": ("wms_order_not_in_erp", ORDER),
    "limbo": ("order_in_limbo", ORDER),
    "return_not_restocked": ("return_not_restocked", RETURN),
    "return_not_booked": ("return_not_restocked", RETURN),
    "credit_before_stock_in": ("credit_before_stock_in", RETURN),
    "erp_only": ("unmapped_sku", ITEM),
    "wms_only": ("wms_item_not_in_erp", ITEM),
    "name_drift": ("item_drift", ITEM),
    "barcode_drift": ("item_drift", ITEM),
    "unmapped_location": ("unmapped_location", LOCATION),
    "site_not_mapped": (None, SITE),
    "mapped_site_missing": ("unmapped_location", LOCATION),
}
SECTION_KINDS: dict[str, tuple[str, ...]] = {
    ORDERS: ("orphaned_order", "dispatched_but_open", "cancelled_but_live", "unknown_in_erp", "limbo"),
    RETURNS: ("return_not_restocked", "return_not_booked", "credit_before_stock_in"),
    ITEMS: ("erp_only", "wms_only", "name_drift", "barcode_drift"),
    MAPPING: ("unmapped_location", "site_not_mapped", "mapped_site_missing"),
}

# The ERP's view of an order (erp_wms_sync.domain.orders.OrderState values).
RELEASABLE, CANCELLED, NOT_YET, DONE = "releasable", "cancelled", "not_yet", "done"
OPEN_IN_ERP = (RELEASABLE, NOT_YET)
# The ledger states of an order Peoplevox must hold (erp_wms_sync.domain.order_status.ReleaseState values), and of
# one the integration is still working on.
IN_WMS_PER_LEDGER = ("released", "blocked")
HANDLED_PER_LEDGER = (*IN_WMS_PER_LEDGER, "waiting", "held", "sending")
# Peoplevox order statuses, compared case-insensitively.
#: Peoplevox statuses of an order that left the warehouse (a returned order was despatched first).
WMS_SHIPPED = ("despatched", "returned")
WMS_FINISHED = ("despatched", "cancelled", "completed", "returned")
WMS_CANCELLED = "cancelled"
#: Peoplevox statuses of an order the warehouse may still work on (what the live-orders search asks for).
WMS_LIVE_STATUSES = ("New", "Allocated", "Picking", "Picked", "Packing", "Packed", "Partially despatched", "On hold")
REISSUE_SUFFIX = r"-R\d+$"

ERP_ORDER_COLUMNS = ("erp_id", "number", "state", "erp_status", "updated")
LEDGER_ORDER_COLUMNS = ("erp_id", "number", "state", "wms_number")
WMS_ORDER_COLUMNS = ("SalesOrderNumber", "Status")
RETURN_LINE_COLUMNS = ("return_code", "item_code", "sales_order", "quantity", "sellable", "state", "returned_at")
CREDIT_COLUMNS = ("order_number", "credit_note")
RA_COLUMNS = ("ra_number", "sku", "received")
ERP_ITEM_COLUMNS = ("sku", "item_code", "name", "barcode", "active")
WMS_ITEM_COLUMNS = ("ItemCode", "Name", "Barcode")
# Ledger states of a returned line whose stock-in (Cin7 Core) / receipt (BlueCherry) is still owed, per ERP pattern.
# A Cin7 line ``held`` has its own exception saying why (unknown order, unmapped item): inventory sync may well have
# booked its stock-in, which only the returns flow's movement check can tell.
RETURN_OWED = {"cin7core": ("new", "waiting"), "bluecherry": ("new", "waiting", "held")}
STOCK_IN_PENDING = ("new", "waiting", "held")


def base_number(numbers: pd.Series) -> pd.Series:
    """The ERP order number of a Peoplevox order number: a re-issue's ``-R<n>`` suffix removed."""
    return normalised(numbers).str.replace(REISSUE_SUFFIX, "", regex=True)


def _rows(kind: str, section: str, key: pd.Series, erp_value: Any, wms_value: Any, summary: pd.Series,
          entity_key: pd.Series | None = None) -> pd.DataFrame:
    import pandas as pd

    exception_type, entity_type = KINDS[kind]
    frame = pd.DataFrame({"section": section, "kind": kind, "key": key.astype(str).to_numpy(),
                          "erp_value": _texts(erp_value, len(key)), "wms_value": _texts(wms_value, len(key)),
                          "summary": summary.astype(str).str.slice(0, 500).to_numpy(),
                          "exception_type": exception_type, "entity_type": entity_type,
                          "entity_key": (key if entity_key is None else entity_key).astype(str).str.slice(0, 128)
                          .to_numpy()}, columns=list(FINDING_COLUMNS))
    return frame.astype(object)


def _texts(values: Any, length: int) -> Any:
    import pandas as pd

    if isinstance(values, pd.Series):
        return values.fillna("").astype(str).to_numpy()
    return [str(values)] * length


# --- orders --------------------------------------------------------------------------------------------------------
def compare_orders(erp: pd.DataFrame, ledger: pd.DataFrame, wms: pd.DataFrame, *, now: datetime,
                   limbo_hours: float, settle_minutes: float = 60,
                   despatch_in_progress: Collection[str] = ()) -> pd.DataFrame:
    """Order findings from the ERP's orders, the ledger's and Peoplevox's.

    ``erp``: ``erp_id, number, state`` (an :class:`OrderState` value), ``erp_status`` (the ERP's own word) and
    ``updated`` (naive UTC, NaT when unknown). ``ledger``: ``erp_id, number, state`` (a ``ReleaseState`` value) and
    ``wms_number`` (the number Peoplevox knows the order under, ``-R<n>`` after a re-issue); empty in the audit.
    ``wms``: Peoplevox *Sales orders* rows (``SalesOrderNumber``, ``Status``). ``despatch_in_progress``: Peoplevox
    numbers whose despatch the integration is confirming right now (not "open" yet, only not done). An ERP order
    changed less than ``settle_minutes`` ago is not judged as cancelled-but-live or in limbo: it is still moving.
    """
    import pandas as pd

    require(erp, ERP_ORDER_COLUMNS, "ERP orders", keys=("erp_id", "number"))
    require(ledger, LEDGER_ORDER_COLUMNS, "ledger orders", keys=("erp_id",))
    require(wms, WMS_ORDER_COLUMNS, "Peoplevox Sales orders", keys=("SalesOrderNumber",))
    when = _naive(now)
    statuses = pd.DataFrame({"wms_number": normalised(wms["SalesOrderNumber"]),
                             "wms_status": normalised(wms["Status"])}).drop_duplicates("wms_number", keep="last")
    statuses["wms_key"] = statuses["wms_number"].str.casefold()
    left = pd.DataFrame({"erp_id": normalised(erp["erp_id"]), "number": normalised(erp["number"]),
                         "erp_state": normalised(erp["state"]).str.casefold(),
                         "erp_status": normalised(erp["erp_status"]),
                         "updated": moments(erp["updated"])}).drop_duplicates("erp_id", keep="last")
    right = pd.DataFrame({"erp_id": normalised(ledger["erp_id"]), "ledger_number": normalised(ledger["number"]),
                          "ledger_state": normalised(ledger["state"]).str.casefold(),
                          "ledger_wms": normalised(ledger["wms_number"])}).drop_duplicates("erp_id", keep="last")
    orders = left.merge(right, on="erp_id", how="outer")
    orders["number"] = orders["number"].where(orders["number"].fillna("") != "", orders["ledger_number"]).fillna("")
    expected = orders["ledger_wms"].where(orders["ledger_wms"].fillna("") != "", orders["number"]).fillna("")
    orders["wms_number"] = expected
    orders["wms_key"] = expected.str.casefold()
    orders = orders.merge(statuses[["wms_key", "wms_status"]], on="wms_key", how="left")
    status = orders["wms_status"].fillna("").str.casefold()
    in_wms = orders["wms_status"].notna()
    erp_state = orders["erp_state"].fillna("")
    settled = orders["updated"].isna() | (orders["updated"] <= when - pd.Timedelta(minutes=settle_minutes))
    parts = []

    orphaned = orders["ledger_state"].isin(IN_WMS_PER_LEDGER) & ~in_wms & (erp_state != CANCELLED)
    found = orders[orphaned]
    parts.append(_rows("orphaned_order", ORDERS, found["number"], found["erp_status"].fillna("released"),
                       "missing", "Order " + found["number"] + " was released to Peoplevox as " + found["wms_number"]
                       + ", which Peoplevox does not hold: the warehouse will never ship it"))

    progress = {n.casefold() for n in despatch_in_progress}
    despatched = status.isin(WMS_SHIPPED) & erp_state.isin(OPEN_IN_ERP) & ~orders["wms_key"].isin(progress)
    found = orders[despatched]
    parts.append(_rows("dispatched_but_open", ORDERS, found["number"], found["erp_status"], found["wms_status"],
                       "Order " + found["number"] + " is despatched in Peoplevox (" + found["wms_number"]
                       + ") but still " + found["erp_status"] + " in the ERP: its despatch was never confirmed"))

    live = in_wms & ~status.isin(WMS_FINISHED)
    cancelled = (erp_state == CANCELLED) & live & settled
    found = orders[cancelled]
    parts.append(_rows("cancelled_but_live", ORDERS, found["number"], found["erp_status"], found["wms_status"],
                       "Order " + found["number"] + " is cancelled in the ERP but " + found["wms_status"]
                       + " in Peoplevox (" + found["wms_number"] + "): the warehouse may still ship it"))

    stale = orders["updated"].notna() & (orders["updated"] <= when - pd.Timedelta(hours=limbo_hours))
    # Limbo is "between the systems": an order Peoplevox holds per the ledger is watched by exception housekeeping's
    # stage deadlines (released but not despatched), so it is not reported twice.
    handled = (erp_state == RELEASABLE) | ((erp_state == NOT_YET) & orders["ledger_state"].isin(HANDLED_PER_LEDGER))
    limbo = (handled & stale & ~status.isin(WMS_FINISHED) & ~orphaned
             & ~orders["ledger_state"].isin(IN_WMS_PER_LEDGER))
    found = orders[limbo]
    where = found["wms_status"].fillna("not in Peoplevox").where(found["wms_status"].fillna("") != "",
                                                                 "not in Peoplevox")
    since = found["updated"].dt.strftime("%Y-%m-%d %H:%M")
    parts.append(_rows("limbo", ORDERS, found["number"], found["erp_status"], where,
                       "Order " + found["number"] + " has been " + found["erp_status"] + " in the ERP and "
                       + where + " since " + since + " UTC (over " + f"{limbo_hours:g}" + " h without progress)"))

    known = set(orders["number"].str.casefold()) | set(orders["ledger_wms"].dropna().str.casefold())
    statuses["base_key"] = base_number(statuses["wms_number"]).str.casefold()
    unknown = (~statuses["wms_key"].isin(known) & ~statuses["base_key"].isin(known)
               & (statuses["wms_status"].str.casefold() != WMS_CANCELLED))
    found = statuses[unknown]
    parts.append(_rows("unknown_in_erp", ORDERS, found["wms_number"], "unknown", found["wms_status"],
                       "Peoplevox holds order " + found["wms_number"] + " (" + found["wms_status"]
                       + ") that neither the ERP nor the integration knows: created by hand or by another system"))
    return combine(parts)


def _naive(moment: datetime) -> Any:
    """``moment`` as a naive UTC pandas Timestamp (naive input is taken as UTC already)."""
    import pandas as pd

    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return pd.Timestamp(moment)


# --- returns -------------------------------------------------------------------------------------------------------
def compare_returns(lines: pd.DataFrame, *, erp_kind: str, now: datetime, deadline_hours: float,
                    credits: pd.DataFrame | None = None, ras: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return findings from the ledger's returned lines (one per Peoplevox return code × item code).

    ``lines``: :data:`RETURN_LINE_COLUMNS` (``returned_at`` naive UTC; ``sales_order`` the Peoplevox order number)
    plus, for BlueCherry, ``ra_number``. ``credits`` (Cin7 Core): ``order_number, credit_note`` — authorised credit
    notes on ERP sales that are not the integration's own. ``ras`` (BlueCherry): ``ra_number, sku, received`` —
    what BlueCherry holds as received per RA line; ``lines`` then needs ``sku`` too.
    """
    import pandas as pd

    require(lines, RETURN_LINE_COLUMNS, "ledger returns", keys=("return_code", "item_code"))
    if erp_kind not in RETURN_OWED:
        raise FindingsInputError(f"unknown ERP kind {erp_kind!r} (expected {', '.join(RETURN_OWED)})")
    frame = lines.assign(state=normalised(lines["state"]).str.casefold(),
                         returned_at=moments(lines["returned_at"]),
                         line_key=(normalised(lines["return_code"]) + "|" + normalised(lines["item_code"])),
                         qty=pd.to_numeric(lines["quantity"], errors="coerce").fillna(0).astype("int64"))
    sellable = frame["sellable"].fillna(False).astype(bool)
    overdue = frame["returned_at"].notna() & (frame["returned_at"] <= _naive(now) - pd.Timedelta(hours=deadline_hours))
    owed = sellable & frame["state"].isin(RETURN_OWED[erp_kind]) & overdue
    found = frame[owed]
    erp_word = "not in stock" if erp_kind == "cin7core" else "not received"
    parts = [_rows("return_not_restocked", RETURNS, found["line_key"], erp_word, "received sellable",
                   "Return " + found["return_code"].astype(str) + " (order " + found["sales_order"].astype(str)
                   + "): " + found["qty"].astype(str) + " x " + found["item_code"].astype(str)
                   + " received sellable in Peoplevox " + found["returned_at"].dt.strftime("%Y-%m-%d %H:%M")
                   + " UTC, " + erp_word + " in the ERP after " + f"{deadline_hours:g}" + " h")]
    if credits is not None and erp_kind == "cin7core":
        parts.append(_credited_early(frame[sellable & frame["state"].isin(STOCK_IN_PENDING)], credits))
    if ras is not None and erp_kind == "bluecherry":
        parts.append(_not_booked(frame[frame["state"] == "received"], ras))
    return combine(parts)


def _credited_early(pending: pd.DataFrame, credits: pd.DataFrame) -> pd.DataFrame:
    """A sellable line awaiting its stock-in whose sale carries a credit note: ``credit_before_stock_in`` per
    return (the returns flow names the SKU; the sale-level listing here finds it without a call per sale)."""
    import pandas as pd

    require(credits, CREDIT_COLUMNS, "ERP credit notes", keys=("order_number",))
    notes = (pd.DataFrame({"order_key": normalised(credits["order_number"]).str.casefold(),
                           "credit_note": normalised(credits["credit_note"])})
             .groupby("order_key", as_index=False)["credit_note"].agg(lambda s: ", ".join(sorted(set(s)))))
    lines = pending.assign(order_key=base_number(pending["sales_order"]).str.casefold())
    hits = lines.merge(notes, on="order_key", how="inner").drop_duplicates("return_code")
    return _rows("credit_before_stock_in", RETURNS, hits["return_code"].astype(str), hits["credit_note"],
                 "stock-in pending", "Order " + hits["sales_order"].astype(str) + " is credited in the ERP ("
                 + hits["credit_note"] + ") while return " + hits["return_code"].astype(str)
                 + " waits for its stock-in: a credit must follow the stock-in")


def _not_booked(received: pd.DataFrame, ras: pd.DataFrame) -> pd.DataFrame:
    """Lines the ledger booked against an RA that BlueCherry shows as received in smaller quantity."""
    import pandas as pd

    require(ras, RA_COLUMNS, "BlueCherry return authorisations", keys=("ra_number", "sku"))
    require(received, ("ra_number", "sku"), "ledger returns")
    held = (pd.DataFrame({"ra": normalised(ras["ra_number"]), "sku_key": normalised(ras["sku"]).str.casefold(),
                          "erp_received": pd.to_numeric(ras["received"], errors="coerce").fillna(0)})
            .groupby(["ra", "sku_key"], as_index=False)["erp_received"].sum())
    booked = (received.assign(ra=normalised(received["ra_number"]), sku_key=normalised(received["sku"]).str.casefold())
              .groupby(["ra", "sku_key"], as_index=False)
              .agg(qty=("qty", "sum"), line_key=("line_key", "first"), return_code=("return_code", "first"),
                   sku=("sku", "first")))
    both = booked[booked["ra"] != ""].merge(held, on=["ra", "sku_key"], how="left")
    both["erp_received"] = both["erp_received"].fillna(0)
    short = both[both["erp_received"] < both["qty"]]
    return _rows("return_not_booked", RETURNS, short["line_key"], short["erp_received"].astype("int64").astype(str),
                 short["qty"].astype(str), "Return " + short["return_code"].astype(str) + ": " + short["qty"]
                 .astype(str) + " x " + short["sku"].astype(str) + " booked against RA " + short["ra"]
                 + " by the integration, but BlueCherry shows " + short["erp_received"].astype("int64").astype(str)
                 + " received")


# --- item master ---------------------------------------------------------------------------------------------------
def item_sync_due(modified: pd.Series, synced_until: datetime | None) -> pd.Series:
    """Which ERP items item master sync should already have written to Peoplevox, from their ERP modification times
    (naive UTC, missing = unknown) and ``synced_until``, the end of the last window item master sync finished
    (naive UTC; None while it has never finished one — every item is then still on its way). An item with no
    modification time is due once item sync has finished any window."""
    import pandas as pd

    if synced_until is None:
        return pd.Series(False, index=modified.index, dtype=bool)
    stamps = pd.to_datetime(modified, errors="coerce", utc=True).dt.tz_localize(None)
    limit = pd.Timestamp(synced_until.replace(tzinfo=None) if synced_until.tzinfo is None
                         else synced_until.astimezone(UTC).replace(tzinfo=None))
    return (stamps.isna() | (stamps <= limit)).astype(bool)


def compare_items(erp: pd.DataFrame, wms: pd.DataFrame) -> pd.DataFrame:
    """Item master findings: ``erp`` holds one row per ERP SKU with the Peoplevox row item master sync would write
    (``sku, item_code, name, barcode, active``); ``wms`` the Peoplevox *Item types* rows. ItemCodes compare without
    case (as Peoplevox looks them up), names and barcodes after whitespace is normalised: a double space or a
    trailing blank is not drift. Inactive ERP SKUs are never ``erp_only`` and never drift, but an Item type one of
    them maps to is not ``wms_only`` either (the ERP knows it).

    An optional boolean ``due`` column says which ERP SKUs item master sync should already have written (see
    :func:`item_sync_due`): a SKU not yet due — created or changed in the ERP after the last item sync window — is
    on its way, so it is neither ``erp_only`` nor drift, though it still keeps its Item type from ``wms_only``."""
    import pandas as pd

    require(erp, ERP_ITEM_COLUMNS, "ERP items", keys=("sku",))
    require(wms, WMS_ITEM_COLUMNS, "Peoplevox Item types", keys=("ItemCode",))
    due = erp["due"].fillna(False).astype(bool) if "due" in erp.columns else True
    left = pd.DataFrame({"sku": normalised(erp["sku"]), "item_code": normalised(erp["item_code"]),
                         "erp_name": normalised(erp["name"]), "erp_barcode": normalised(erp["barcode"]),
                         "active": erp["active"].fillna(False).astype(bool), "due": due})
    left["code_key"] = left["item_code"].where(left["item_code"] != "", left["sku"]).str.casefold()
    left = left.sort_values("active").drop_duplicates("code_key", keep="last")  # an active SKU wins
    right = pd.DataFrame({"wms_code": normalised(wms["ItemCode"]), "wms_name": normalised(wms["Name"]),
                          "wms_barcode": normalised(wms["Barcode"])})
    right["code_key"] = right["wms_code"].str.casefold()
    right = right.drop_duplicates("code_key", keep="last")
    both = left.merge(right, on="code_key", how="outer", indicator=True)
    active = both["active"].fillna(False).astype(bool) & both["due"].fillna(False).astype(bool)
    parts = []
    found = both[(both["_merge"] == "left_only") & active]
    parts.append(_rows("erp_only", ITEMS, found["sku"], "active", "missing",
                       "ERP SKU " + found["sku"] + " (ItemCode " + found["item_code"] + ") has no Peoplevox "
                       "Item type: orders for it are held until item master sync creates it",
                       entity_key=found["sku"]))
    found = both[both["_merge"] == "right_only"]
    parts.append(_rows("wms_only", ITEMS, found["wms_code"], "missing", found["wms_name"],
                       "Peoplevox Item type " + found["wms_code"] + " (" + found["wms_name"] + ") maps to no ERP "
                       "SKU: created by hand in the warehouse, or deleted in the ERP"))
    matched = both[(both["_merge"] == "both") & active]
    drift = matched[matched["erp_name"] != matched["wms_name"]]
    parts.append(_rows("name_drift", ITEMS, drift["wms_code"], drift["erp_name"], drift["wms_name"],
                       "Item " + drift["wms_code"] + " is named '" + drift["erp_name"] + "' in the ERP but '"
                       + drift["wms_name"] + "' in Peoplevox"))
    drift = matched[matched["erp_barcode"] != matched["wms_barcode"]]
    parts.append(_rows("barcode_drift", ITEMS, drift["wms_code"], drift["erp_barcode"], drift["wms_barcode"],
                       "Item " + drift["wms_code"] + " has barcode '" + drift["erp_barcode"] + "' in the ERP but '"
                       + drift["wms_barcode"] + "' in Peoplevox: scans will not match"))
    return combine(parts)


# --- location mapping (the audit) ----------------------------------------------------------------------------------
def compare_locations(erp_locations: Iterable[str], mapping: Mapping[str, str],
                      wms_sites: Iterable[str]) -> pd.DataFrame:
    """Mapping coverage: ERP locations (Cin7 Core) / warehouses (BlueCherry) without a site in the YAML's
    ``locations``, Peoplevox sites no ERP location maps to, and sites the YAML names that Peoplevox lacks.
    Names compare without case, as the integration maps them."""
    import pandas as pd

    erp = pd.Series(sorted({" ".join(str(n).split()) for n in erp_locations} - {""}), dtype=object)
    sites = pd.Series(sorted({" ".join(str(n).split()) for n in wms_sites} - {""}), dtype=object)
    mapped_erp = {k.casefold() for k in mapping}
    mapped_sites = {v.casefold() for v in mapping.values()}
    known_sites = {s.casefold() for s in sites}
    parts = []
    found = erp[~erp.str.casefold().isin(mapped_erp)] if len(erp) else erp
    parts.append(_rows("unmapped_location", MAPPING, found, found, "no site",
                       "ERP location " + found + " has no Peoplevox site in the integration's locations: its orders "
                       "are held as unmapped_location and its stock is not compared"))
    found = sites[~sites.str.casefold().isin(mapped_sites)] if len(sites) else sites
    parts.append(_rows("site_not_mapped", MAPPING, found, "no ERP location", found,
                       "Peoplevox site " + found + " is mapped to no ERP location: its stock is in no ERP figure"))
    missing = pd.Series(sorted({(erp_name, site) for erp_name, site in mapping.items()
                                if site.casefold() not in known_sites}), dtype=object)
    if len(missing):
        names = missing.map(lambda pair: pair[0])
        wanted = missing.map(lambda pair: pair[1])
        parts.append(_rows("mapped_site_missing", MAPPING, names, names, wanted + " (missing)",
                           "The integration maps ERP location " + names + " to site " + wanted
                           + ", which Peoplevox does not have", entity_key=names))
    return combine(parts)


def kind_counts(findings: pd.DataFrame) -> dict[str, int]:
    """Findings per kind, in the order of :data:`KINDS`."""
    counts = findings["kind"].value_counts() if len(findings) else {}
    return {kind: int(counts[kind]) for kind in KINDS if kind in counts}
