"""Inventory adjustments of the BlueCherry simulator (``POST /inventory/adjustments``) and stock seeding.

An adjustment ``{"reference", "warehouse", "reason", "type": "DELTA"|"ABSOLUTE", "lines": [{"sku", "qty"}],
"comment"?}`` changes on-hand: by ``qty`` (DELTA, non-zero, may be negative) or to ``qty`` (ABSOLUTE, at
least 0). It is idempotent on ``reference``: a repeat answers the first adjustment unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from erp_wms_simulators.bluecherry.lifecycle import stock_row
from erp_wms_simulators.bluecherry.records import (
    Problems,
    Rejected,
    as_list,
    as_object,
    choice,
    line_objects,
    text_field,
    whole_number,
)

if TYPE_CHECKING:
    from erp_wms_simulators.bluecherry.state import BlueCherryState

TYPES = ("DELTA", "ABSOLUTE")


def post_adjustment(state: BlueCherryState, body: Any) -> tuple[dict[str, Any], bool]:
    """Apply an adjustment; ``(adjustment, False)`` when its reference was seen before."""
    body = as_object(body, "The adjustment")
    with state.lock:
        problems = Problems()
        reference = text_field(body, "reference", "adjustment", problems)
        if reference in state.book.adjustment_refs:
            return state.book.adjustments[state.book.adjustment_refs[reference]], False
        header = _header(state, body, problems)
        lines = _lines(state, header, as_list(body.get("lines"), "lines"), problems)
        problems.raise_any()
        return _apply(state, reference, header, lines), True


def set_stock(state: BlueCherryState, sku: str, warehouse: str, *, on_hand: int | None = None,
              on_order: int | None = None, wip: int | None = None, quarantine: int | None = None,
              updated_at: datetime | None = None) -> dict[str, Any]:
    """Set stock buckets directly (seeding; no adjustment document). Returns the stock row."""
    with state.lock:
        if sku not in state.sku_rows:
            raise Rejected(f"Unknown SKU '{sku}'.")
        if warehouse not in state.warehouses:
            raise Rejected(f"Unknown warehouse '{warehouse}'.")
        levels = {"onHand": on_hand, "onOrder": on_order, "wip": wip, "quarantine": quarantine}
        now = updated_at or state.clock()
        row = state.book.stock.row(state.sku_rows[sku], warehouse, now)
        return state.book.stock.set_levels(row, now, **{k: v for k, v in levels.items() if v is not None})


def _header(state: BlueCherryState, body: Mapping[str, Any], problems: Problems) -> dict[str, str]:
    warehouse = text_field(body, "warehouse", "adjustment", problems)
    if warehouse and warehouse not in state.warehouses:
        problems.add(f"Unknown warehouse '{warehouse}'.")
    reason = text_field(body, "reason", "adjustment", problems)
    return {"warehouse": warehouse,
            "reason": choice(reason, state.settings.adjustment_reasons, "reason", "adjustment", problems)
            if reason else "",
            "type": choice(text_field(body, "type", "adjustment", problems, required=False, default="DELTA"),
                           TYPES, "type", "adjustment", problems),
            "comment": text_field(body, "comment", "adjustment", problems, required=False)}


def _lines(state: BlueCherryState, header: Mapping[str, str], raw_lines: list[Any], problems: Problems
           ) -> list[tuple[str, int]]:
    absolute = header["type"] == "ABSOLUTE"
    lines: list[tuple[str, int]] = []
    seen: set[str] = set()
    for _, where, raw in line_objects(raw_lines, problems):
        sku = text_field(raw, "sku", where, problems)
        if sku and sku not in state.sku_rows:
            problems.add(f"{where}: unknown SKU '{sku}'.")
        elif sku in seen:
            problems.add(f"{where}: SKU '{sku}' appears on more than one line.")
        seen.add(sku)
        value = raw.get("qty")
        qty = whole_number(value, "qty", where, problems, minimum=0 if absolute else -(10**9))
        if not absolute and qty == 0 and value == 0:
            problems.add(f"{where}: a DELTA adjustment of 0 changes nothing.")
        lines.append((sku, qty))
    if not problems.items and not state.settings.allow_negative_stock:
        _check_not_negative(state, header, lines, problems)
    return lines


def _check_not_negative(state: BlueCherryState, header: Mapping[str, str], lines: list[tuple[str, int]],
                        problems: Problems) -> None:
    for sku, qty in lines:
        row = state.book.stock.get(sku, header["warehouse"])
        on_hand = 0 if row is None else int(row["onHand"])
        after = qty if header["type"] == "ABSOLUTE" else on_hand + qty
        if after < 0:
            problems.add(f"SKU '{sku}': on-hand in {header['warehouse']} would become {after}.")


def _apply(state: BlueCherryState, reference: str, header: Mapping[str, str], lines: list[tuple[str, int]]
           ) -> dict[str, Any]:
    now = state.clock()
    applied = []
    for sku, qty in lines:
        row = stock_row(state, sku, header["warehouse"])
        before = int(row["onHand"])
        after = qty if header["type"] == "ABSOLUTE" else before + qty
        state.book.stock.set_levels(row, now, onHand=after)
        applied.append({"sku": sku, "qty": qty, "before": before, "after": after, "change": after - before})
    number = state.book.next_number("adjustment", "ADJ-")
    adjustment = {"adjustmentNumber": number, "reference": reference, **header, "lines": applied,
                  "createdAt": now, "updatedAt": now}
    state.book.adjustments[number] = adjustment
    state.book.adjustment_refs[reference] = number
    return adjustment
