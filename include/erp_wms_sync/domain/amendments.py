"""Amendment rules: what to do with an order already in Peoplevox whose ERP version changed or was cancelled.

Pure functions; no I/O. Rows are Peoplevox CSV rows (``dict[str, str]``) as built by
:func:`erp_wms_sync.domain.orders.wms_header` / :func:`erp_wms_sync.domain.orders.wms_items`.

Line identity. A warehouse line is keyed by ``SalesOrderNumber`` + ``Line``. The ERP's line identity is the
``Line`` value of the rows built from the ERP order (BlueCherry's line number, Cin7 Core's position). A line is the
*same* line when its ERP identity maps to a warehouse line holding the same ``ItemCode``; so the same SKU on two
lines stays two lines with their own quantities. The map from ERP identity to warehouse line is the identity
until an amendment adds a line: added lines get the numbers after the last warehouse line, and the map is kept
with the released payload (``line_map``) so the next amendment finds them again.

Removed lines. Peoplevox cannot remove a line, and a line whose open quantity became 0 is a removed line; such a
change follows ``orders.line_removal``: ``reissue`` (cancel, release again under ``<number>-R<n>``) or ``hold``.
An order left without any open line is a cancellation.

Cleared fields. An empty CSV cell leaves a stored Peoplevox value unchanged (the documented client behaviour is to
send only the columns one changes; the simulator's default follows it). A field the ERP emptied is still sent,
but it is listed in :attr:`AmendmentPlan.cleared`, and :func:`differences` on the read-back decides: when
Peoplevox kept the old value the amendment is held, never recorded as applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from erp_wms_sync.domain.orders import WMS_STATUS_ORDER

Row = dict[str, str]

ORDER_KEY = "SalesOrderNumber"
LINE_KEY = "Line"
ITEM_CODE = "ItemCode"
QUANTITY = "QuantityOrdered"
CANCELLED = "Cancelled"
#: Line columns whose change alone is not sent (the display order moves when a line is inserted above).
COSMETIC = frozenset({ORDER_KEY, "Sequence"})

DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")


class Action(StrEnum):
    NOTHING = "nothing"
    UPDATE = "update"  # send the changed header fields and the changed or added lines
    CANCEL = "cancel"  # set Status=Cancelled in the WMS
    REISSUE = "reissue"  # cancel, then release again under a suffixed number (lines were removed)
    BLOCK = "block"  # past the cut-off: nothing is changed, people decide (amendment_after_cutoff)
    HOLD = "hold"  # the change cannot be made in Peoplevox: nothing is recorded, an exception says why


@dataclass(frozen=True)
class LineMatch:
    """ERP lines matched to warehouse lines (see the module docstring)."""

    kept: tuple[tuple[Row, Row], ...]  # (as in the warehouse, as the ERP has it now, on the warehouse line)
    added: tuple[Row, ...]  # ERP lines the warehouse does not have, numbered after the last warehouse line
    removed: tuple[Row, ...]  # warehouse lines the ERP no longer has (or whose open quantity is 0)
    line_map: dict[str, str]  # ERP line identity -> warehouse Line, for every open ERP line


@dataclass(frozen=True)
class AmendmentPlan:
    action: Action
    reason: str
    header: Row | None = None  # the header fields to send (with the key), for an update
    items: list[Row] = field(default_factory=list)  # the lines to send (changed and added), for an update
    cleared: tuple[str, ...] = ()  # fields the ERP emptied ("ShippingAddressLine2", "line 2 SalePrice")
    expected_items: list[Row] = field(default_factory=list)  # every line the warehouse should then hold
    line_map: dict[str, str] = field(default_factory=dict)


def before_cutoff(wms_status: str, cutoff: str) -> bool:
    """True while the WMS order has not reached the cut-off state (unknown statuses count as past it)."""
    names = [s.casefold() for s in WMS_STATUS_ORDER]
    status, limit = wms_status.strip().casefold(), cutoff.strip().casefold()
    if status not in names or limit not in names:
        return False
    return names.index(status) < names.index(limit)


def quantity(row: Mapping[str, str]) -> Decimal:
    """A line's quantity (0 when missing or not a number)."""
    return _number(row.get(QUANTITY, "")) or Decimal(0)


def open_lines(items: Sequence[Mapping[str, str]]) -> list[Row]:
    """The lines with something left to ship; a line whose open quantity is 0 is not sent."""
    return [dict(item) for item in items if quantity(item) > 0]


def _line_no(value: str) -> int:
    text = str(value).strip()
    return int(text) if text.isdigit() else 0


def match_lines(in_wms: Sequence[Mapping[str, str]], from_erp: Sequence[Mapping[str, str]],
                line_map: Mapping[str, str] | None = None) -> LineMatch:
    """Pair each open ERP line with the warehouse line it is.

    First by identity: the ERP line's (mapped) ``Line`` holds the same ItemCode in the warehouse. Then, among the
    lines still unpaired on both sides, by ItemCode where that code is on exactly one unpaired line on each side
    (a line inserted above others in an ERP that numbers lines by position). Whatever is left is added (numbered
    after the last warehouse line) or removed; a SKU on several lines is never paired by its code alone."""
    mapping = dict(line_map or {})
    by_line = {str(row.get(LINE_KEY, "")).strip(): dict(row) for row in in_wms}
    erp = open_lines(from_erp)
    pairs: dict[int, str] = {}  # position in ``erp`` -> warehouse line
    for pos, row in enumerate(erp):
        identity = str(row.get(LINE_KEY, "")).strip()
        target = mapping.get(identity, identity)
        old = by_line.get(target)
        if old is not None and target not in pairs.values() and old.get(ITEM_CODE) == row.get(ITEM_CODE):
            pairs[pos] = target
    _pair_by_unique_code(erp, by_line, pairs)
    last = max([_line_no(n) for n in by_line] + [_line_no(n) for n in mapping.values()], default=0)
    kept: list[tuple[Row, Row]] = []
    added: list[Row] = []
    new_map: dict[str, str] = {}
    for pos, row in enumerate(erp):
        if pos in pairs:
            kept.append((by_line[pairs[pos]], {**row, LINE_KEY: pairs[pos]}))
        else:
            last += 1
            added.append({**row, LINE_KEY: str(last)})
        new_map[str(row.get(LINE_KEY, "")).strip()] = pairs.get(pos, str(last))
    used = set(pairs.values())
    removed = tuple(row for line, row in sorted(by_line.items(), key=lambda kv: _line_no(kv[0]))
                    if line not in used)
    return LineMatch(tuple(kept), tuple(added), removed, new_map)


def _pair_by_unique_code(erp: Sequence[Mapping[str, str]], by_line: Mapping[str, Mapping[str, str]],
                         pairs: dict[int, str]) -> None:
    free_wms: dict[str, list[str]] = {}
    for line, row in by_line.items():
        if line not in pairs.values():
            free_wms.setdefault(str(row.get(ITEM_CODE, "")), []).append(line)
    free_erp: dict[str, list[int]] = {}
    for pos, row in enumerate(erp):
        if pos not in pairs:
            free_erp.setdefault(str(row.get(ITEM_CODE, "")), []).append(pos)
    for code, positions in free_erp.items():
        lines = free_wms.get(code, [])
        if len(positions) == 1 and len(lines) == 1:
            pairs[positions[0]] = lines[0]


def _describe_lines(rows: Sequence[Mapping[str, str]]) -> str:
    return ", ".join(f"line {row.get(LINE_KEY, '?')} ({row.get(ITEM_CODE, '')})" for row in rows)


def plan_amendment(released: Mapping[str, Any], new_header: Mapping[str, str], new_items: Sequence[Mapping[str, str]],
                   *, cancelled: bool, wms_status: str, cutoff: str, line_removal: str) -> AmendmentPlan:
    """What to do with a released order (``released``: the ledger payload with ``header``, ``items`` and
    optionally ``line_map``) whose ERP version is now ``new_header`` / ``new_items`` (or was cancelled)."""
    if wms_status.strip().casefold() == CANCELLED.casefold():
        return AmendmentPlan(Action.NOTHING, "already cancelled in the warehouse")
    emptied = not cancelled and not open_lines(new_items)
    if not before_cutoff(wms_status, cutoff):
        what = "cancelled" if cancelled or emptied else "changed"
        return AmendmentPlan(Action.BLOCK, f"order {what} in the ERP but the warehouse status is "
                                           f"'{wms_status}' (cut-off: {cutoff})")
    if cancelled:
        return AmendmentPlan(Action.CANCEL, "cancelled in the ERP before the cut-off")
    if emptied:
        return AmendmentPlan(Action.CANCEL, "no open line left in the ERP: the order is cancelled")
    old_header: Mapping[str, str] = released.get("header") or {}
    match = match_lines(released.get("items") or [], new_items, released.get("line_map"))
    if match.removed:
        what = _describe_lines(match.removed)
        if line_removal == "reissue":
            return AmendmentPlan(Action.REISSUE, f"{what} removed: Peoplevox cannot remove lines, so the order is "
                                                 "cancelled and re-issued", expected_items=open_lines(new_items))
        return AmendmentPlan(Action.HOLD, f"{what} removed and line_removal is 'hold'")
    return _update_plan(old_header, new_header, match)


def _update_plan(old_header: Mapping[str, str], new_header: Mapping[str, str], match: LineMatch) -> AmendmentPlan:
    number = str(old_header.get(ORDER_KEY) or new_header.get(ORDER_KEY, ""))
    changed = {k: v for k, v in new_header.items() if k != ORDER_KEY and str(old_header.get(k, "")) != v}
    cleared = [k for k, v in changed.items() if not v.strip()]
    to_send: list[Row] = []
    for old, new in match.kept:
        fields = [k for k, v in new.items() if k not in COSMETIC and str(old.get(k, "")) != v]
        if fields:
            to_send.append({**new, ORDER_KEY: number})
            cleared += [f"line {new[LINE_KEY]} {k}" for k in fields if not new[k].strip()]
    to_send += [{**row, ORDER_KEY: number} for row in match.added]
    expected = sorted(({**new, ORDER_KEY: number} for _, new in match.kept), key=lambda r: _line_no(r[LINE_KEY]))
    expected += [{**row, ORDER_KEY: number} for row in match.added]
    if not changed and not to_send:
        return AmendmentPlan(Action.NOTHING, "no change the warehouse would see", expected_items=expected,
                             line_map=match.line_map)
    header = {ORDER_KEY: number, **changed} if changed else None
    return AmendmentPlan(Action.UPDATE, "changed before the cut-off", header, to_send, tuple(cleared), expected,
                         match.line_map)


# --- read-back --------------------------------------------------------------------------------------------------
def _number(value: str) -> Decimal | None:
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _moment(value: str) -> datetime | None:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(str(value).strip().strip("'"), fmt)
        except ValueError:
            continue
    return None


def same_value(sent: str, held: str) -> bool:
    """Whether Peoplevox holds what was sent: equal text (ignoring case and outer spaces), equal numbers
    (``3`` and ``3.00``) or equal moments (its export date formats)."""
    a, b = str(sent).strip(), str(held).strip()
    if a.casefold() == b.casefold():
        return True
    if not a or not b:
        return False
    numbers = _number(a), _number(b)
    if numbers[0] is not None and numbers[1] is not None:
        return numbers[0] == numbers[1]
    moments = _moment(a), _moment(b)
    return moments[0] is not None and moments[0] == moments[1]


def _field_differences(label: str, sent: Mapping[str, str], held: Mapping[str, str]) -> list[str]:
    out = []
    for column, value in sent.items():
        if column == ORDER_KEY or column not in held:  # a column Peoplevox does not export cannot be compared
            continue
        if not same_value(value, held[column]):
            if not str(value).strip():
                out.append(f"{label}{column} was cleared in the ERP but Peoplevox keeps {held[column]!r} "
                           "(an empty cell does not clear a Peoplevox field)")
            else:
                out.append(f"{label}{column}: sent {value!r}, Peoplevox holds {held[column]!r}")
    return out


def differences(header_sent: Mapping[str, str] | None, header_held: Mapping[str, str] | None,
                items_expected: Sequence[Mapping[str, str]], items_held: Sequence[Mapping[str, str]],
                items_sent: Sequence[Mapping[str, str]] = ()) -> list[str]:
    """What Peoplevox does not hold of a change, read back after sending it; empty when it holds all of it.

    ``header_sent`` holds the header fields that were sent; ``items_expected`` every line the order should have
    (a line missing, with another item or quantity, or an extra open line is a difference); ``items_sent`` the
    lines that were sent, whose every sent field is compared."""
    if header_held is None:
        return ["the order is not in Peoplevox"]
    out = _field_differences("", header_sent or {}, header_held)
    held = {str(row.get(LINE_KEY, "")).strip(): row for row in items_held}
    sent = {str(row.get(LINE_KEY, "")).strip(): row for row in items_sent}
    for row in items_expected:
        line = str(row.get(LINE_KEY, "")).strip()
        found = held.pop(line, None)
        if found is None:
            out.append(f"line {line} ({row.get(ITEM_CODE, '')}) is missing in Peoplevox")
            continue
        compared = sent.get(line) or {k: row.get(k, "") for k in (ITEM_CODE, QUANTITY)}
        out += _field_differences(f"line {line} ", {k: v for k, v in compared.items() if k != LINE_KEY}, found)
    out += [f"line {line} ({row.get(ITEM_CODE, '')}) is in Peoplevox but not in the ERP order"
            for line, row in held.items() if quantity(row) > 0]
    return out
