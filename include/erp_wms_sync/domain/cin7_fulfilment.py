"""Cin7 Core fulfilment: the request bodies that confirm a despatch, and the checks of Cin7's answers (pure).

A Peoplevox despatch is confirmed on one Cin7 fulfilment task with three writes: pick, pack, ship. The despatch
is one box named after its despatch number, so a later despatch of the same sale (on a new task) never mixes
with an earlier one; the despatch's tracking numbers go on that box, joined with ``", "`` when it left in several
packages. A tracking number learned after the shipment is added with :func:`tracking_body` (a PUT with
``AddTrackingNumbers``, the only change Cin7 allows on an authorised shipment).

Cin7 answers each write with the stage document; :func:`check_stage` compares it with what was written, because
a 200 answer is not proof: the stage must be authorised and hold exactly our quantities, or our box with our
tracking. :func:`stage_status`, :func:`box_shipped` and :func:`task_ids` read the sale's fulfilment listing to
resume a despatch that was interrupted between a write and the record of its answer; :func:`new_task_id` finds
the task that adding a fulfilment created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

AUTHORISED = "AUTHORISED"
PARTIALLY_AUTHORISED = "PARTIALLY AUTHORISED"
STAGES = ("pick", "pack", "ship")
#: Ship statuses under which one box of the task may have left (the others wait for a later shipment).
SHIPPED_STATUSES = frozenset({AUTHORISED, PARTIALLY_AUTHORISED})
TRACKING_SEPARATOR = ", "
EPSILON = 1e-6


# ---- request bodies ---------------------------------------------------------------------------
def pick_body(task_id: str, lines: Mapping[str, float], location: str, *, autopick: bool) -> dict[str, Any]:
    """The authorised pick of ``lines`` (SKU → quantity) at ``location`` (blank: the sale's own location).

    ``autopick`` (the whole order leaves in one despatch) lets Cin7 pick everything left on the order, which
    needs no lines at all."""
    if autopick:
        return {"TaskID": task_id, "Status": AUTHORISED, "AutoPickMode": "AUTOPICK"}
    return {"TaskID": task_id, "Status": AUTHORISED, "Lines": _stock_lines(lines, location)}


def pack_body(task_id: str, lines: Mapping[str, float], location: str, box: str) -> dict[str, Any]:
    """The authorised pack of ``lines`` into the one ``box`` of the despatch."""
    return {"TaskID": task_id, "Status": AUTHORISED,
            "Lines": [{**line, "Box": box} for line in _stock_lines(lines, location)]}


def ship_body(task_id: str, box: str, carrier: str, tracking: Sequence[str],
              shipped_at: datetime | None) -> dict[str, Any]:
    """The authorised shipment of ``box``; ``shipped_at`` None lets Cin7 date it with the time of the call."""
    line: dict[str, Any] = {"Box": box}
    if shipped_at is not None:
        line["ShipmentDate"] = format_shipment_date(shipped_at)
    line.update({"Carrier": carrier, "TrackingNumber": join_tracking(tracking), "IsShipped": True})
    return {"TaskID": task_id, "Status": AUTHORISED, "Lines": [line]}


def tracking_body(task_id: str, box: str, carrier: str, tracking: Sequence[str]) -> dict[str, Any]:
    """The PUT that replaces the tracking numbers (and carrier, when given) of ``box`` on an authorised
    shipment."""
    return {"TaskID": task_id, "Status": AUTHORISED, "AddTrackingNumbers": True,
            "Lines": [{"Box": box, "Carrier": carrier, "TrackingNumber": join_tracking(tracking)}]}


def join_tracking(tracking: Sequence[str]) -> str:
    """The tracking numbers as Cin7 holds them on one box: distinct, in order, joined with ``", "``."""
    return TRACKING_SEPARATOR.join(dict.fromkeys(t.strip() for t in tracking if t and t.strip()))


def format_shipment_date(moment: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ss`` in UTC, the API's date-time text; a naive datetime is refused (its zone is
    unknown, and a wrong shipment date moves the sale into another accounting day)."""
    if moment.tzinfo is None:
        raise ValueError(f"the shipment date {moment.isoformat()} has no time zone; UTC is what Cin7 Core expects")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _stock_lines(lines: Mapping[str, float], location: str) -> list[dict[str, Any]]:
    if not lines:
        raise ValueError("a pick or pack needs at least one SKU with a quantity")
    bad = [sku for sku, quantity in lines.items() if not sku or not quantity > 0]
    if bad:
        raise ValueError(f"SKUs without a positive quantity cannot be picked or packed: {', '.join(map(repr, bad))}")
    where = {"Location": location} if location else {}
    return [{"SKU": sku, "Quantity": float(lines[sku]), **where} for sku in sorted(lines)]


# ---- checks of the answers --------------------------------------------------------------------
def check_stage(stage: str, answer: Mapping[str, Any], task_id: str, expected: Mapping[str, float] | None, *,
                box: str | None = None, tracking: Sequence[str] | None = None) -> str | None:
    """None when the ``stage`` document Cin7 answered holds what was written; else a sentence naming the
    difference.

    pick / pack: the stage is AUTHORISED and holds exactly the ``expected`` SKU quantities (when given); a pack
    with ``box`` has every line in that box. ship: the shipment is (partially) authorised and our ``box`` is on
    it, shipped, with our ``tracking`` (when given): a partially authorised shipment whose shipped box is
    another one does not confirm ours."""
    if stage not in STAGES:
        raise ValueError(f"unknown fulfilment stage {stage!r}; expected one of {', '.join(STAGES)}")
    got_task = _text(answer.get("TaskID")).strip()
    if got_task.casefold() != task_id.strip().casefold():
        return f"the {stage} answer is for task {got_task or '(none)'!r}, not {task_id!r}"
    status = _text(answer.get("Status")).upper()
    lines = [line for line in _list(answer.get("Lines")) if isinstance(line, Mapping)]
    if stage == "ship":
        return _check_ship(status, lines, box, tracking)
    if status != AUTHORISED:
        return f"the {stage} of task {task_id} is {status or 'without a status'}, not {AUTHORISED}"
    if box is not None and stage == "pack":
        elsewhere = sorted({_text(line.get("Box")) for line in lines} - {box})
        if elsewhere:
            return f"the pack of task {task_id} has lines in box {', '.join(elsewhere)}, not only in {box!r}"
    return None if expected is None else _compare(stage, task_id, expected, _quantities(lines))


def _check_ship(status: str, lines: list[Mapping[str, Any]], box: str | None,
                tracking: Sequence[str] | None) -> str | None:
    if status not in SHIPPED_STATUSES:
        return f"the shipment is {status or 'without a status'}, not {AUTHORISED}"
    if box is None:
        return None
    ours = [line for line in lines if _box_of(line) == box]
    if not ours:
        boxes = ", ".join(sorted({_box_of(line) for line in lines})) or "none"
        return f"the shipment has no box {box!r} (boxes: {boxes})"
    if not any(line.get("IsShipped") is True for line in ours):
        return f"box {box!r} is on the shipment but not shipped (the shipment is {status})"
    if tracking is None:
        return None
    want = set(split_tracking(join_tracking(tracking)))
    have = {number for line in ours for number in split_tracking(_text(line.get("TrackingNumber")))}
    if have != want:
        return (f"box {box!r} carries tracking {', '.join(sorted(have)) or '(none)'}, not "
                f"{', '.join(sorted(want)) or '(none)'}")
    return None


def split_tracking(value: str) -> list[str]:
    """The tracking numbers in Cin7's text (comma separated, as one box or ``CombinedTrackingNumbers`` holds
    them)."""
    return [part.strip() for part in value.split(",") if part.strip()]


def _quantities(lines: list[Mapping[str, Any]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for line in lines:
        quantity = line.get("Quantity")
        amount = float(quantity) if isinstance(quantity, int | float) and not isinstance(quantity, bool) else 0.0
        sku = _text(line.get("SKU"))
        totals[sku] = totals.get(sku, 0.0) + amount
    return totals


def _compare(stage: str, task_id: str, expected: Mapping[str, float], got: Mapping[str, float]) -> str | None:
    differences = [f"{sku or '(no SKU)'} {got.get(sku, 0.0):g} instead of {expected.get(sku, 0.0):g}"
                   for sku in sorted(set(expected) | set(got))
                   if abs(got.get(sku, 0.0) - float(expected.get(sku, 0.0))) > EPSILON]
    if not differences:
        return None
    return f"the {stage} of task {task_id} holds {'; '.join(differences)}"


# ---- reading the fulfilment listing -----------------------------------------------------------
def task_ids(tasks: Sequence[Mapping[str, Any]]) -> list[str]:
    """The TaskIDs of a sale's fulfilments, in Cin7's order."""
    return [_text(task.get("TaskID")) for task in tasks if isinstance(task, Mapping) and _text(task.get("TaskID"))]


def stage_status(tasks: Sequence[Mapping[str, Any]], task_id: str, stage: str) -> str:
    """The upper-case status of one stage (pick, pack, ship) of ``task_id``; ``""`` when the listing has no
    such task or stage."""
    if stage not in STAGES:
        raise ValueError(f"unknown fulfilment stage {stage!r}; expected one of {', '.join(STAGES)}")
    document = _find(tasks, task_id).get(stage.capitalize())
    return _text(document.get("Status")).upper() if isinstance(document, Mapping) else ""


def box_shipped(tasks: Sequence[Mapping[str, Any]], task_id: str, box: str) -> bool:
    """Whether ``box`` of ``task_id`` has shipped (its ship line says ``IsShipped`` and the shipment is at
    least partially authorised)."""
    ship = _find(tasks, task_id).get("Ship")
    if not isinstance(ship, Mapping) or _text(ship.get("Status")).upper() not in SHIPPED_STATUSES:
        return False
    return any(isinstance(line, Mapping) and _box_of(line) == box and line.get("IsShipped") is True
               for line in _list(ship.get("Lines")))


def new_task_id(before: Sequence[str], after_tasks: Sequence[Mapping[str, Any]]) -> str:
    """The one TaskID in ``after_tasks`` that is not in ``before``; :class:`ValueError` when there is none or
    more than one (the task the call created cannot be told apart)."""
    known = {task.strip().casefold() for task in before}
    new = [task for task in task_ids(after_tasks) if task.strip().casefold() not in known]
    if len(new) == 1:
        return new[0]
    if not new:
        raise ValueError(f"adding a fulfilment created no new task (tasks now: "
                         f"{', '.join(task_ids(after_tasks)) or 'none'})")
    raise ValueError(f"adding a fulfilment shows {len(new)} new tasks ({', '.join(new)}), not one")


def _find(tasks: Sequence[Mapping[str, Any]], task_id: str) -> Mapping[str, Any]:
    wanted = task_id.strip().casefold()
    return next((task for task in tasks if isinstance(task, Mapping)
                 and _text(task.get("TaskID")).strip().casefold() == wanted and wanted), {})


def _box_of(line: Mapping[str, Any]) -> str:
    """A ship line's box: ``Box`` as written, ``Boxes`` as Cin7 answers it."""
    return _text(line.get("Boxes") if line.get("Boxes") not in (None, "") else line.get("Box")).strip()


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return "" if value is None else str(value)
