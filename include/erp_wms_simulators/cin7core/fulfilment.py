"""Fulfilment tasks, picking and packing in the Cin7 Core simulator.

- A simple sale gets its one fulfilment task when the order is authorised; its ``TaskID`` is the ``SaleID``
  (setting ``simple_sale_task_id_is_sale_id``, default on). ``POST /sale/fulfilment {SaleID}`` adds a task:
  a second task turns a simple sale into an advanced one.
- ``POST/PUT /sale/fulfilment/pick {TaskID, Status, Lines[] | AutoPickMode: AUTOPICK}``: the order must be
  authorised and the pick still DRAFT/NOT AVAILABLE; quantities cannot exceed what is left to pick; an
  authorised pick must be covered by stock at its location (it secures the allocation there).
- ``POST/PUT /sale/fulfilment/pack {TaskID, Status, Lines[]}``: the pick must be authorised and the pack still
  DRAFT/NOT AVAILABLE; lines go into ``Box`` (default ``default_box``); an authorised pack must hold exactly
  what was picked. No lines means "pack everything picked into the default box".

Shipping is in :mod:`erp_wms_simulators.cin7core.shipping`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from erp_wms_simulators.cin7core import events
from erp_wms_simulators.cin7core.allocation import pick_shortages, secure_pick
from erp_wms_simulators.cin7core.lines import Lookup, object_list, raise_problems, reject, stock_lines
from erp_wms_simulators.cin7core.model import AUTHORISED, DRAFT, Document, Fulfilment, Sale, quantities
from erp_wms_simulators.cin7core.sales import add_task, find_sale, sale_ref
from erp_wms_simulators.cin7core.stock import EPSILON
from erp_wms_simulators.common import SimError

if TYPE_CHECKING:
    from erp_wms_simulators.cin7core.state import Cin7CoreState

STAGE_STATUSES = (DRAFT, AUTHORISED)


# ---- tasks ----------------------------------------------------------------------------------
def new_task(state: Cin7CoreState, body: Mapping[str, Any]) -> Sale:
    """``POST /sale/fulfilment {SaleID}``."""
    with state.transaction():
        sale = find_sale(state, body.get("SaleID"))
        if sale.voided:
            raise reject("The sale is voided.")
        if sale.order.status != AUTHORISED:
            raise reject("The sale order must be authorised before a fulfilment is added.")
        add_task(state, sale)
        state.touch(sale)
        return sale


def find_task(state: Cin7CoreState, task_id: Any) -> tuple[Sale, Fulfilment]:
    """The sale and fulfilment task of ``task_id``, or a 400."""
    if not isinstance(task_id, str) or not task_id.strip():
        raise reject("Required attribute TaskID is not provided.")
    with state.lock:
        sale_id = state.task_index.get(task_id.strip().lower())
        sale = state.sale_records.get(sale_id) if sale_id else None
        task = sale.task(task_id.strip()) if sale else None
    if sale is None or task is None:
        raise reject(f"Fulfilment task with ID '{task_id}' not found.")
    return sale, task


# ---- pick -----------------------------------------------------------------------------------
def post_pick(state: Cin7CoreState, body: Mapping[str, Any]) -> tuple[Sale, Fulfilment]:
    with state.transaction():
        sale, task = find_task(state, body.get("TaskID"))
        blocker = "" if sale.order.status == AUTHORISED else "The sale order must be authorised before picking."
        status = _changeable(sale, task.pick, "pick", body, blocker)
        problems: list[str] = []
        if str(body.get("AutoPickMode") or "").strip().upper() == "AUTOPICK":
            lines = left_to_pick(state, sale, task)
        else:
            lines = stock_lines(Lookup.of(state), object_list(body, "Lines", problems), problems, sale.location_id)
        problems += _pick_limits(sale, task, lines)
        if status == AUTHORISED:
            problems += ["A pick needs at least one line to be authorised."] if not lines else []
            problems += pick_shortages(state, sale, _needs(lines), _names(lines), _location_names(lines))
        raise_problems(problems)
        task.pick.lines, task.pick.status = lines, status
        if status == AUTHORISED:
            secure_pick(state, sale, _needs(lines), sale_ref(state, sale, "Sale", task.task_id))
            state.publish(events.PICK_AUTHORISED, events.task_event(sale, task, events.PICK_AUTHORISED))
        state.touch(sale)
        return sale, task


def left_to_pick(state: Cin7CoreState, sale: Sale, task: Fulfilment) -> list[dict[str, Any]]:
    """Pick lines for what no other task has picked yet, at the sale's location."""
    others = [t.picked() for t in sale.fulfilments if t is not task]
    picked: dict[str, float] = defaultdict(float)
    for part in others:
        for product_id, quantity in part.items():
            picked[product_id] += quantity
    location = state.locations[sale.location_id]
    lines: list[dict[str, Any]] = []
    for line in sale.order.lines:
        left = float(line["Quantity"])
        already = min(picked[line["ProductID"]], left)
        picked[line["ProductID"]] -= already
        if left - already > EPSILON:
            lines.append({"ProductID": line["ProductID"], "SKU": line["SKU"], "Name": line["Name"],
                          "Location": location["Name"], "LocationID": location["ID"],
                          "Quantity": round(left - already, 4), "BatchSN": None, "ExpiryDate": None,
                          "NonInventory": False})
    return lines


def _pick_limits(sale: Sale, task: Fulfilment, lines: list[dict[str, Any]]) -> list[str]:
    ordered = sale.ordered()
    elsewhere = quantities(line for t in sale.fulfilments if t is not task and t.pick.status == AUTHORISED
                           for line in t.pick.lines)
    problems: list[str] = []
    for product_id, quantity in quantities(lines).items():
        sku = next(line["SKU"] for line in lines if line["ProductID"] == product_id)
        if product_id not in ordered:
            problems.append(f"'{sku}' is not on the sale order.")
            continue
        left = ordered[product_id] - elsewhere.get(product_id, 0.0)
        if quantity > left + EPSILON:
            problems.append(f"Cannot pick {quantity:g} of '{sku}': {max(left, 0):g} left to pick.")
    return problems


# ---- pack -----------------------------------------------------------------------------------
def post_pack(state: Cin7CoreState, body: Mapping[str, Any]) -> tuple[Sale, Fulfilment]:
    with state.transaction():
        sale, task = find_task(state, body.get("TaskID"))
        blocker = "" if task.pick.status == AUTHORISED else "The pick must be authorised before packing."
        status = _changeable(sale, task.pack, "pack", body, blocker)
        problems: list[str] = []
        raw = object_list(body, "Lines", problems)
        box = state.settings.default_box
        if raw:
            lines = stock_lines(Lookup.of(state), raw, problems, sale.location_id, box=box)
            _default_pick_locations(task, raw, lines)
        else:
            lines = [{**line, "Box": box, "WarrantyRegistrationNumber": ""} for line in task.pick.lines]
        problems += _pack_limits(task, lines, exact=status == AUTHORISED)
        raise_problems(problems)
        task.pack.lines, task.pack.status = lines, status
        if status == AUTHORISED:
            state.publish(events.PACK_AUTHORISED, events.task_event(sale, task, events.PACK_AUTHORISED))
        state.touch(sale)
        return sale, task


def _default_pick_locations(task: Fulfilment, raw: list[Mapping[str, Any]], lines: list[dict[str, Any]]) -> None:
    """Pack lines that name no location take the location their product was picked at."""
    picked_at = {line["ProductID"]: (line["Location"], line["LocationID"]) for line in task.pick.lines}
    for given, line in zip(raw, lines, strict=False):
        if given.get("Location") in (None, "") and given.get("LocationID") in (None, ""):
            line["Location"], line["LocationID"] = picked_at.get(line["ProductID"], (line["Location"],
                                                                                     line["LocationID"]))


def _pack_limits(task: Fulfilment, lines: list[dict[str, Any]], exact: bool) -> list[str]:
    picked, packed = task.picked(), quantities(lines)
    skus = {line["ProductID"]: line["SKU"] for line in [*task.pick.lines, *lines]}
    problems: list[str] = []
    for product_id in sorted(set(picked) | set(packed), key=lambda pid: skus[pid]):
        want, have = picked.get(product_id, 0.0), packed.get(product_id, 0.0)
        if want <= EPSILON:
            problems.append(f"'{skus[product_id]}' was not picked in this fulfilment.")
        elif have > want + EPSILON or (exact and abs(have - want) > EPSILON):
            problems.append(f"Packed quantity of '{skus[product_id]}' ({have:g}) does not match the picked "
                            f"quantity ({want:g}).")
    if exact and not lines:
        problems.append("A pack needs at least one line to be authorised.")
    return problems


# ---- shared helpers -------------------------------------------------------------------------
def _changeable(sale: Sale, stage: Document, name: str, body: Mapping[str, Any], blocker: str) -> str:
    """The ``Status`` a change of the ``name`` stage asks for; a 400 naming every problem when the sale is
    voided, ``blocker`` (an unmet precondition) is given, the stage is no longer open or the status is wrong."""
    problems = ["The sale is voided."] if sale.voided else []
    if blocker:
        problems.append(blocker)
    if not stage.open:
        problems.append(f"The {name} is {stage.status} and cannot be changed; undo it first.")
    status = stage_status(body, problems)
    raise_problems(problems)
    return status


def stage_status(body: Mapping[str, Any], problems: list[str], allowed: tuple[str, ...] = STAGE_STATUSES) -> str:
    status = str(body.get("Status") or DRAFT).strip().upper()
    if status not in allowed:
        problems.append(f"Status '{body.get('Status')}' must be one of: {', '.join(allowed)}.")
    return status


def auto_fulfil(state: Cin7CoreState, sale: Sale, mode: str) -> None:
    """``AutoPickPackShipMode`` after authorisation: pick (and pack, and ship) everything."""
    from erp_wms_simulators.cin7core.shipping import post_ship

    task = sale.fulfilments[0]
    try:
        post_pick(state, {"TaskID": task.task_id, "Status": AUTHORISED, "AutoPickMode": "AUTOPICK"})
        if mode in ("AUTOPICKPACK", "AUTOPICKPACKSHIP"):
            post_pack(state, {"TaskID": task.task_id, "Status": AUTHORISED})
        if mode == "AUTOPICKPACKSHIP":
            boxes = [{"Box": box, "IsShipped": True} for box in task.boxes()]
            post_ship(state, {"TaskID": task.task_id, "Status": AUTHORISED, "Lines": boxes}, replace=False)
    except SimError:
        return  # the stages that could be done are done; the rest waits for a person, as in the app


def _needs(lines: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    needs: dict[tuple[str, str], float] = defaultdict(float)
    for line in lines:
        needs[(line["ProductID"], line["LocationID"])] += float(line["Quantity"])
    return dict(needs)


def _names(lines: list[dict[str, Any]]) -> dict[str, str]:
    return {line["ProductID"]: line["SKU"] for line in lines}


def _location_names(lines: list[dict[str, Any]]) -> dict[str, str]:
    return {line["LocationID"]: line["Location"] for line in lines}
