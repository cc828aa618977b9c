"""Stock adjustments of the Cin7 Core simulator (``/stockadjustment``, ``/stockadjustmentList``).

A line gives the **absolute new quantity** of a product at a location (and batch): with ``UpdateOnHand``
true it becomes the on-hand quantity, otherwise the available quantity (on-hand = quantity + allocated).
``Status`` ``DRAFT`` only stores the adjustment; ``COMPLETED`` applies it (each change is a movement of type
``Adjustment``); ``DELETE ?ID=&Void=true`` voids it and reverts what it changed (a draft without ``Void`` is
deleted). The answer lists lines that met existing stock as ``ExistingStockLines`` (with the
``Adjustment``) and lines that created stock as ``NewStockLines``; numbers run ``ST-00001``, ``ST-00002``…
``BatchSN`` is required unless the product's costing method is plain ``FIFO``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from erp_wms_simulators.cin7core.lines import Lookup, number, object_list, raise_problems, reject
from erp_wms_simulators.cin7core.stock import MoveRef
from erp_wms_simulators.common import new_guid, parse_iso_datetime

if TYPE_CHECKING:
    from erp_wms_simulators.cin7core.state import Cin7CoreState

STATUSES = ("DRAFT", "COMPLETED")
KIND = "Adjustment"


def post_adjustment(state: Cin7CoreState, body: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /stockadjustment``: a new adjustment (applied at once when COMPLETED)."""
    with state.transaction():
        record = _validated(state, body, {})
        record.update(TaskID=new_guid(), StocktakeNumber=state.next_number("ST"))
        state.adjustments[record["TaskID"]] = record
        return _finish(state, record)


def put_adjustment(state: Cin7CoreState, body: Mapping[str, Any]) -> dict[str, Any]:
    """``PUT /stockadjustment``: change a DRAFT adjustment by ``TaskID`` (completing it applies it)."""
    with state.transaction():
        stored = find_adjustment(state, body.get("TaskID"))
        if stored["Status"] != "DRAFT":
            raise reject(f"The stock adjustment is {stored['Status']} and cannot be changed.")
        record = _validated(state, {**_request_view(stored), **body}, stored)
        stored.update(record)
        return _finish(state, stored)


def void_adjustment(state: Cin7CoreState, task_id: Any, void: bool) -> dict[str, Any]:
    """``DELETE /stockadjustment?ID=&Void=``: void (reverting a completed one) or delete a draft."""
    with state.transaction():
        stored = find_adjustment(state, task_id)
        if stored["Status"] == "VOIDED":
            raise reject("The stock adjustment is already voided.")
        if not void:
            if stored["Status"] != "DRAFT":
                raise reject("Only a DRAFT stock adjustment can be deleted; void a completed one (Void=true).")
            del state.adjustments[stored["TaskID"]]
            return {**stored, "Status": "DELETED"}
        if stored["Status"] == "COMPLETED":
            ref = MoveRef(KIND, stored["TaskID"], stored["StocktakeNumber"], state.clock(), "Void")
            for line in stored["ExistingStockLines"] + stored["NewStockLines"]:
                state.stock.receive(line["ProductID"], line["LocationID"], -float(line["Adjustment"]), ref,
                                    batch=line["BatchSN"] or "")
        stored["Status"] = "VOIDED"
        return stored


def find_adjustment(state: Cin7CoreState, task_id: Any) -> dict[str, Any]:
    if not isinstance(task_id, str) or not task_id.strip():
        raise reject("Required attribute TaskID is not provided.")
    with state.lock:
        found = state.adjustments.get(task_id.strip().lower())
    if found is None:
        raise reject(f"Stock adjustment with TaskID '{task_id}' not found.")
    return found


def render(record: Mapping[str, Any]) -> dict[str, Any]:
    """The adjustment as the API answers it (``Adjustment`` stays internal on new lines)."""
    out = {k: v for k, v in record.items() if k != "Lines"}
    out["NewStockLines"] = [{k: v for k, v in line.items() if k != "Adjustment"} for line in record["NewStockLines"]]
    return out


def list_row(record: Mapping[str, Any]) -> dict[str, Any]:
    return {name: record[name] for name in ("TaskID", "StocktakeNumber", "EffectiveDate", "Status", "Account",
                                            "Reference")}


def _validated(state: Cin7CoreState, body: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    problems: list[str] = []
    effective = body.get("EffectiveDate")
    if not effective:
        problems.append("Required attribute EffectiveDate is not provided.")
    else:
        try:
            parse_iso_datetime(str(effective))
        except ValueError as exc:
            problems.append(f"EffectiveDate: {exc}")
    status = str(body.get("Status") or "").strip().upper()
    if status not in STATUSES:
        problems.append(f"Status is required and must be one of: {', '.join(STATUSES)}.")
    if "UpdateOnHand" in body and not isinstance(body["UpdateOnHand"], bool):
        problems.append("UpdateOnHand must be true or false.")
    lines = _lines(state, object_list(body, "Lines", problems, required=not stored), problems)
    if status == "COMPLETED" and not lines and not problems:
        problems.append("A completed stock adjustment needs at least one line.")
    raise_problems(problems)
    return {"EffectiveDate": str(effective), "Status": status, "Account": str(body.get("Account") or ""),
            "Reference": str(body.get("Reference") or ""), "UpdateOnHand": body.get("UpdateOnHand") is True,
            "Lines": lines}


def _lines(state: Cin7CoreState, raw: list[Mapping[str, Any]], problems: list[str]) -> list[dict[str, Any]]:
    lookup = Lookup.of(state)
    lines: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for index, line in enumerate(raw, start=1):
        where = f"Line {index}"
        product = lookup.product(line, where, problems)
        quantity = number(line, "Quantity", where, problems, required=True)
        unit_cost = number(line, "UnitCost", where, problems, default=-1.0)
        location = lookup.location(line.get("LocationID"), line.get("Location"), where, problems)
        batch = str(line.get("BatchSN") or "").strip()
        if product is None or location is None:
            continue
        if not batch and product.get("CostingMethod", "FIFO") != "FIFO":
            problems.append(f"{where}: BatchSN is required for '{product['SKU']}' ({product['CostingMethod']}).")
        key = (product["ID"], location["ID"], batch)
        if key in seen:
            problems.append(f"{where}: '{product['SKU']}' at '{location['Name']}' is adjusted twice.")
        seen.add(key)
        lines.append({"ProductID": product["ID"], "SKU": product["SKU"], "ProductName": product["Name"],
                      "Quantity": quantity, "UnitCost": None if unit_cost < 0 else unit_cost,
                      "LocationID": location["ID"], "Location": location["Name"], "BatchSN": batch or None,
                      "ExpiryDate": line.get("ExpiryDate") or None, "ReceivedDate": line.get("ReceivedDate") or None,
                      "Comments": str(line.get("Comments") or "")})
    return lines


def _finish(state: Cin7CoreState, record: dict[str, Any]) -> dict[str, Any]:
    """Apply a completed adjustment (or preview a draft) and fill the answer's line lists."""
    apply = record["Status"] == "COMPLETED"
    ref = MoveRef(KIND, record["TaskID"], record["StocktakeNumber"], state.clock(), record["Reference"])
    existing: list[dict[str, Any]] = []
    new: list[dict[str, Any]] = []
    transactions: list[dict[str, Any]] = []
    for line in record["Lines"]:
        pid, lid, batch = line["ProductID"], line["LocationID"], line["BatchSN"] or ""
        had_row = (pid, lid, batch) in state.stock.rows
        row = state.stock.rows.get((pid, lid, batch))
        current = (row.on_hand if record["UpdateOnHand"] else row.available) if row else 0.0
        delta = round(line["Quantity"] - current, 4)
        if apply:
            state.stock.set_quantity(pid, lid, line["Quantity"], ref, batch=batch,
                                     update_on_hand=record["UpdateOnHand"], unit_cost=line["UnitCost"],
                                     expiry=str(line["ExpiryDate"] or ""))
            row = state.stock.rows[(pid, lid, batch)]
            transactions.append(_transaction(record, line, delta * row.unit_cost))
        if had_row:
            existing.append({"ProductID": pid, "SKU": line["SKU"], "ProductName": line["ProductName"],
                             "QuantityOnHand": row.on_hand if row else 0.0,
                             "Available": round(row.available, 4) if row else 0.0, "Adjustment": delta,
                             "LocationID": lid, "Location": line["Location"], "BatchSN": line["BatchSN"],
                             "ExpiryDate": line["ExpiryDate"], "Comments": line["Comments"]})
        else:
            new.append({**{k: line[k] for k in line if k != "ProductName"}, "ProductName": line["ProductName"],
                        "Adjustment": delta})
    record.update(ExistingStockLines=existing, NewStockLines=new, Transactions=transactions)
    return record


def _transaction(record: Mapping[str, Any], line: Mapping[str, Any], value: float) -> dict[str, Any]:
    value = round(value, 4)
    return {"Date": record["EffectiveDate"], "Account": record["Account"] or "Inventory",
            "Description": f"{line['SKU']} at {line['Location']}", "Debit": max(value, 0.0),
            "Credit": max(-value, 0.0)}


def _request_view(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored adjustment as a request body (so a PUT may send only what changes)."""
    lines = [{"ProductID": ln["ProductID"], "Quantity": ln["Quantity"], "UnitCost": ln["UnitCost"],
              "LocationID": ln["LocationID"], "BatchSN": ln["BatchSN"], "ExpiryDate": ln["ExpiryDate"],
              "ReceivedDate": ln["ReceivedDate"], "Comments": ln["Comments"]} for ln in stored["Lines"]]
    return {"EffectiveDate": stored["EffectiveDate"], "Status": stored["Status"], "Account": stored["Account"],
            "Reference": stored["Reference"], "UpdateOnHand": stored["UpdateOnHand"], "Lines": lines}
