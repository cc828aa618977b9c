"""Shipping in the Cin7 Core simulator (``/sale/fulfilment/ship``) and the one-call ``ship`` helper.

Ship lines are boxes: ``{Box, ShipmentDate, Carrier, TrackingNumber, IsShipped}`` (``Box`` comes back as
``Boxes``; ``ID`` and ``TrackingURL`` are read-only). Rules, as documented:

- the pack must be authorised;
- POST adds lines to a shipment that is not yet (partially) authorised;
- PUT replaces the lines of a shipment that is not fully authorised and must list every packed box;
- PUT with ``AddTrackingNumbers: true`` changes tracking number / carrier / date of an authorised shipment
  and raises ``Sale/ShipmentTrackingNumberChanged``;
- boxes marked ``IsShipped`` (the default unless ``Status`` is DRAFT) leave stock: on-hand and allocation go
  down. The shipment becomes ``AUTHORISED`` once every packed box has shipped, ``PARTIALLY AUTHORISED``
  before that; each shipping step raises ``Sale/ShipmentAuthorised``. A box that shipped cannot be unshipped
  (undo the shipment instead).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from erp_wms_simulators.cin7core import events
from erp_wms_simulators.cin7core.allocation import issue, rebalance
from erp_wms_simulators.cin7core.fulfilment import find_task, left_to_pick, post_pack, post_pick, stage_status
from erp_wms_simulators.cin7core.lines import Lookup, object_list, raise_problems, reject, stock_lines
from erp_wms_simulators.cin7core.model import (
    AUTHORISED,
    DRAFT,
    FULFILLED,
    PARTIALLY_AUTHORISED,
    Fulfilment,
    Sale,
    quantities,
)
from erp_wms_simulators.cin7core.sales import add_task, find_sale, sale_ref
from erp_wms_simulators.cin7core.stock import EPSILON
from erp_wms_simulators.common import format_timestamp, new_guid, parse_iso_datetime

if TYPE_CHECKING:
    from erp_wms_simulators.cin7core.state import Cin7CoreState

SHIP_STATUSES = (DRAFT, PARTIALLY_AUTHORISED, AUTHORISED)
SHIPPED = (PARTIALLY_AUTHORISED, AUTHORISED)
FIRST_BOX = "Box 1"
REST_BOX = "Box 2"


def post_ship(state: Cin7CoreState, body: Mapping[str, Any], *, replace: bool) -> tuple[Sale, Fulfilment]:
    """POST (``replace`` False) or PUT (``replace`` True) of a shipment."""
    with state.transaction():
        sale, task = find_task(state, body.get("TaskID"))
        if replace and body.get("AddTrackingNumbers") is True:
            return add_tracking(state, sale, task, body)
        problems = _ship_preconditions(sale, task, replace)
        status = stage_status(body, problems, SHIP_STATUSES)
        raise_problems(problems)
        given = _ship_lines(state, object_list(body, "Lines", problems), task, status, problems)
        lines = given if replace else [*task.ship.lines, *given]
        problems += _box_problems(task, lines, replace, status)
        raise_problems(problems)
        _header(task, body)
        task.ship.lines = lines
        if status == DRAFT:
            task.ship.status = DRAFT
        else:
            _ship_boxes(state, sale, task)
        state.touch(sale)
        return sale, task


def add_tracking(state: Cin7CoreState, sale: Sale, task: Fulfilment, body: Mapping[str, Any]) -> tuple[Sale,
                                                                                                      Fulfilment]:
    """``PUT … AddTrackingNumbers: true``: new tracking numbers or carrier on shipped boxes."""
    problems: list[str] = []
    if task.ship.status not in SHIPPED:
        problems.append("AddTrackingNumbers applies to an authorised shipment.")
    raw = object_list(body, "Lines", problems, required=True)
    matches: list[tuple[dict[str, Any], Mapping[str, Any]]] = []
    for index, given in enumerate(raw, start=1):
        key_id, box = str(given.get("ID") or "").lower(), str(given.get("Box") or given.get("Boxes") or "")
        line = next((ln for ln in task.ship.lines if (key_id and ln["ID"] == key_id) or
                     (not key_id and box and ln["Box"] == box)), None)
        if line is None:
            problems.append(f"Line {index}: no shipment line with ID '{key_id}' or Box '{box}'.")
        else:
            matches.append((line, given))
    raise_problems(problems)
    for line, given in matches:
        for name in ("TrackingNumber", "Carrier", "ShipmentDate"):
            if given.get(name) not in (None, ""):
                line[name] = str(given[name])
    state.publish(events.TRACKING_CHANGED, events.tracking_event(sale, task))
    state.touch(sale)
    return sale, task


def _ship_preconditions(sale: Sale, task: Fulfilment, replace: bool) -> list[str]:
    problems = ["The sale is voided."] if sale.voided else []
    if task.pack.status != AUTHORISED:
        problems.append("The pack must be authorised before shipping.")
    if not replace and task.ship.status in SHIPPED:
        problems.append(f"The shipment is already {task.ship.status}; PUT the full shipment to ship more boxes, "
                        "or PUT with AddTrackingNumbers to change tracking.")
    if replace and task.ship.status == AUTHORISED:
        problems.append("The shipment is AUTHORISED; only a PUT with AddTrackingNumbers can change it.")
    return problems


def _ship_lines(state: Cin7CoreState, raw: Sequence[Mapping[str, Any]], task: Fulfilment, status: str,
                problems: list[str]) -> list[dict[str, Any]]:
    boxes = list(task.boxes())
    existing = {line["Box"]: line for line in task.ship.lines}
    now = format_timestamp(state.clock(), zulu=state.settings.timestamps_with_z)
    lines: list[dict[str, Any]] = []
    for index, given in enumerate(raw, start=1):
        box = str(given.get("Box") or given.get("Boxes") or "").strip() or (boxes[0] if len(boxes) == 1 else "")
        if not box:
            problems.append(f"Line {index}: Box is required (packed boxes: {', '.join(boxes)}).")
            continue
        if box not in boxes:
            problems.append(f"Box '{box}' is not packed in this fulfilment.")
            continue
        shipped = given["IsShipped"] if isinstance(given.get("IsShipped"), bool) else status != DRAFT
        date = _shipment_date(given.get("ShipmentDate"), now, index, problems)
        lines.append({"ID": existing[box]["ID"] if box in existing else new_guid(), "ShipmentDate": date,
                      "Carrier": str(given.get("Carrier") or ""), "Box": box,
                      "TrackingNumber": str(given.get("TrackingNumber") or ""), "TrackingURL": None,
                      "IsShipped": shipped})
    return lines


def _shipment_date(value: Any, default: str, index: int, problems: list[str]) -> str:
    if value in (None, ""):
        return default
    try:
        parse_iso_datetime(str(value))
    except ValueError as exc:
        problems.append(f"Line {index}: ShipmentDate {exc}.")
    return str(value)


def _box_problems(task: Fulfilment, lines: list[dict[str, Any]], replace: bool, status: str) -> list[str]:
    listed = [line["Box"] for line in lines]
    problems = [f"Box '{box}' is listed more than once." for box in dict.fromkeys(listed) if listed.count(box) > 1]
    if replace:
        missing = [box for box in task.boxes() if box not in listed]
        if missing:
            problems.append(f"A PUT must list every packed box; missing: {', '.join(missing)}.")
    problems += [f"Box '{line['Box']}' has already shipped." for line in lines
                 if line["Box"] in task.ship.shipped_boxes and not line["IsShipped"]]
    if status != DRAFT and not any(line["IsShipped"] for line in lines):
        problems.append("Nothing to ship: no box is marked IsShipped.")
    return problems


def _header(task: Fulfilment, body: Mapping[str, Any]) -> None:
    if body.get("RequireBy"):
        task.ship.require_by = str(body["RequireBy"])
    if isinstance(body.get("ShippingAddress"), dict):
        task.ship.shipping_address = dict(body["ShippingAddress"])
    if body.get("ShippingNotes") is not None:
        task.ship.shipping_notes = str(body["ShippingNotes"])


def _ship_boxes(state: Cin7CoreState, sale: Sale, task: Fulfilment) -> None:
    """Issue the stock of newly shipped boxes and settle the shipment, order and allocation statuses."""
    ref = sale_ref(state, sale, "Sale", task.task_id)
    contents = task.boxes()
    for line in task.ship.lines:
        if not line["IsShipped"] or line["Box"] in task.ship.shipped_boxes:
            continue
        for packed in contents[line["Box"]]:
            cost = issue(state, sale, packed["ProductID"], packed["LocationID"], float(packed["Quantity"]), ref)
            sale.cogs = round(sale.cogs + cost, 4)
            sale.movements.append({"Type": "Sale", "TaskID": task.task_id, "ProductID": packed["ProductID"],
                                   "SKU": packed["SKU"], "Date": ref.at, "Quantity": packed["Quantity"],
                                   "Location": packed["Location"], "COGS": cost})
        task.ship.shipped_boxes.add(line["Box"])
    task.ship.status = AUTHORISED if set(contents) <= task.ship.shipped_boxes else PARTIALLY_AUTHORISED
    ordered, shipped = sale.ordered(), sale.total_of("shipped")
    if state.settings.order_status_fulfilled and all(shipped.get(p, 0.0) + EPSILON >= q for p, q in ordered.items()):
        sale.order.status = FULFILLED
    rebalance(state, sale, ref)
    state.publish(events.SHIPMENT_AUTHORISED, events.shipment_event(sale, task, state.tenant_id))


# ---- the one-call helper --------------------------------------------------------------------
def ship_goods(state: Cin7CoreState, sale_id: str, lines: Sequence[Mapping[str, Any]] | None = None,
               tracking: str = "", carrier: str = "") -> Sale:
    """Pick, pack and ship a sale (``lines`` ``[{SKU, Quantity}]`` for a partial shipment; None = the rest).

    The first call picks everything left, packs ``lines`` into ``Box 1`` and the rest into ``Box 2``, and ships
    ``Box 1`` (everything when ``lines`` is None); a later call ships every box not shipped yet.
    """
    with state.transaction():
        sale = find_sale(state, sale_id)
        task = next((t for t in sale.fulfilments if t.ship.status != AUTHORISED), None)
        if task is None:
            if sale.order.status != AUTHORISED:
                raise reject("Nothing left to ship on this sale.")
            task = add_task(state, sale)
        if lines is not None and task.pack.open:
            _check_wanted(state, sale, task, lines)
        if task.pick.open:
            post_pick(state, {"TaskID": task.task_id, "Status": AUTHORISED, "AutoPickMode": "AUTOPICK"})
        if task.pack.open:
            post_pack(state, {"TaskID": task.task_id, "Status": AUTHORISED,
                              "Lines": _pack_plan(state, task, lines)})
        boxes = _boxes_for(task, lines)
        body_lines = [{"Box": box, "IsShipped": box in boxes or box in task.ship.shipped_boxes,
                       "TrackingNumber": tracking if box in boxes else _tracking_of(task, box),
                       "Carrier": carrier if box in boxes else _carrier_of(task, box)} for box in task.boxes()]
        replace = task.ship.status in SHIPPED
        post_ship(state, {"TaskID": task.task_id, "Status": AUTHORISED, "Lines": body_lines}, replace=replace)
        return sale


def _check_wanted(state: Cin7CoreState, sale: Sale, task: Fulfilment, lines: Sequence[Mapping[str, Any]]) -> None:
    """Refuse (before anything is picked) a partial shipment of more than is left to ship."""
    problems: list[str] = []
    wanted = quantities(stock_lines(Lookup.of(state), list(lines), problems, sale.location_id))
    left = quantities(left_to_pick(state, sale, task)) if task.pick.open else task.picked()
    problems += [f"Cannot ship {quantity:g} of '{state.products[pid]['SKU']}': {left.get(pid, 0.0):g} left."
                 for pid, quantity in wanted.items() if quantity > left.get(pid, 0.0) + EPSILON]
    raise_problems(problems)


def _pack_plan(state: Cin7CoreState, task: Fulfilment, lines: Sequence[Mapping[str, Any]] | None) -> list[dict]:
    """Pack lines: the requested quantities in ``Box 1``, what else was picked in ``Box 2``."""
    problems: list[str] = []
    wanted = quantities(stock_lines(Lookup.of(state), list(lines or []), problems, task.pick.lines[0]["LocationID"]))
    raise_problems(problems)
    plan: list[dict[str, Any]] = []
    for line in task.pick.lines:
        first = min(wanted.get(line["ProductID"], 0.0), float(line["Quantity"])) if lines is not None \
            else float(line["Quantity"])
        wanted[line["ProductID"]] = wanted.get(line["ProductID"], 0.0) - first
        for box, quantity in ((FIRST_BOX, first), (REST_BOX, float(line["Quantity"]) - first)):
            if quantity > EPSILON:
                plan.append({"ProductID": line["ProductID"], "LocationID": line["LocationID"], "Quantity": quantity,
                             "Box": box})
    return plan


def _boxes_for(task: Fulfilment, lines: Sequence[Mapping[str, Any]] | None) -> list[str]:
    unshipped = [box for box in task.boxes() if box not in task.ship.shipped_boxes]
    if lines is not None and not task.ship.shipped_boxes and FIRST_BOX in unshipped:
        return [FIRST_BOX]
    return unshipped


def _tracking_of(task: Fulfilment, box: str) -> str:
    return next((str(line["TrackingNumber"]) for line in task.ship.lines if line["Box"] == box), "")


def _carrier_of(task: Fulfilment, box: str) -> str:
    return next((str(line["Carrier"]) for line in task.ship.lines if line["Box"] == box), "")
