"""Release rules (pure): what to do with an order after its data check, and whether Peoplevox holds all of it.

- :func:`judge` turns the data check's failures into :class:`Release`, :class:`Hold` or :class:`Wait`. The data
  check sees Peoplevox ItemCodes and the ERP item master holds ERP SKUs, so the two meet only through the
  integration's ``sku_for`` (the inverse of ``item_code_for``; the identity without an ``item_codes`` table).
- :func:`line_gaps` compares what an order should have in Peoplevox with what a read-back found there, per line
  (``Line``, ``ItemCode``, ``QuantityOrdered``): the lines still to send and the problems no send can fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

UNMAPPED_SKU = "unmapped_sku"


@dataclass(frozen=True)
class Release:
    """The order passes: send it."""


@dataclass(frozen=True)
class Hold:
    """The order is held: one exception per type, with the reasons (and the SKUs Peoplevox does not know)."""

    reasons: Mapping[str, frozenset[str]]
    unknown_skus: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Wait:
    """The order waits (no exception) until ``until``: the hold window, or item master sync creating its items."""

    until: datetime
    why: str


Judgement = Release | Hold | Wait


@dataclass(frozen=True)
class CheckFailure:
    """What the data check said about one order: reasons per exception type, and the Peoplevox ItemCodes it uses
    that Peoplevox does not have (``unknown_skus``: the codes as sent, after ``item_code_for``)."""

    reasons: dict[str, set[str]] = field(default_factory=dict)
    unknown_skus: set[str] = field(default_factory=set)


def judge(failure: CheckFailure | None, *, erp_skus: Iterable[str], sku_for: Callable[[str], str], now: datetime,
          item_wait: timedelta, waiting_since: datetime | None, hold_until: datetime | None) -> Judgement:
    """Release, hold or wait.

    An order whose only problem is ItemCodes Peoplevox does not have yet, each of which is the code of an ERP SKU
    in ``erp_skus`` (the SKUs item master sync has read from the ERP item master and will create), waits for the
    next item sync — for at most ``item_wait`` after it first waited, then it is held as ``unmapped_sku``. Codes
    are turned back into SKUs with ``sku_for`` before the comparison, so a brand with an ``item_codes``
    cross-reference waits like any other. An order inside the hold window waits until it ends."""
    if failure is not None and failure.reasons:
        since = waiting_since or now
        coming = bool(failure.unknown_skus) and awaiting_item_sync(failure.unknown_skus, erp_skus, sku_for) \
            and now < since + item_wait
        if coming and set(failure.reasons) == {UNMAPPED_SKU}:
            return Wait(since + item_wait, "item master sync has not created "
                                           f"{', '.join(sorted(failure.unknown_skus))} in Peoplevox yet")
        # Held for another reason: SKUs item sync is about to create are no problem of their own (no
        # unmapped_sku that would close itself minutes later); they are judged again once the hold is fixed.
        reasons = {k: frozenset(v) for k, v in failure.reasons.items() if not (coming and k == UNMAPPED_SKU)}
        return Hold(reasons, frozenset() if coming else frozenset(failure.unknown_skus))
    if hold_until is not None and hold_until > now:
        return Wait(hold_until, "hold window")
    return Release()


def awaiting_item_sync(item_codes: Iterable[str], erp_skus: Iterable[str], sku_for: Callable[[str], str]) -> bool:
    """True when every one of these Peoplevox ItemCodes belongs to a SKU of the ERP item master (``erp_skus``)."""
    known = set(erp_skus)
    return all(sku_for(code) in known for code in item_codes)


def _quantity(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


@dataclass(frozen=True)
class LineGaps:
    """The result of comparing an order's lines with Peoplevox's: ``to_send`` can be fixed by sending them,
    ``conflicts`` cannot (a line number holding another ItemCode, a line the order does not have)."""

    to_send: list[dict[str, str]]
    conflicts: list[str]

    @property
    def complete(self) -> bool:
        return not self.to_send and not self.conflicts


def line_gaps(expected: Sequence[Mapping[str, str]], found: Iterable[Mapping[str, str]]) -> LineGaps:
    """Per line number: missing or with another quantity → to send; another ItemCode, or a line Peoplevox holds
    that the order does not have → conflict."""
    held = {str(row.get("Line", "")).strip(): row for row in found}
    to_send, conflicts = [], []
    wanted = set()
    for item in expected:
        line = str(item.get("Line", "")).strip()
        wanted.add(line)
        row = held.get(line)
        if row is None:
            to_send.append(dict(item))
        elif str(row.get("ItemCode", "")).strip().casefold() != str(item.get("ItemCode", "")).strip().casefold():
            conflicts.append(f"line {line} is {row.get('ItemCode')} in Peoplevox, {item.get('ItemCode')} in the ERP")
        elif _quantity(row.get("QuantityOrdered")) != _quantity(item.get("QuantityOrdered")):
            to_send.append(dict(item))
    conflicts.extend(f"Peoplevox holds line {line} ({held[line].get('ItemCode')}) that the order does not have"
                     for line in sorted(set(held) - wanted))
    return LineGaps(to_send, conflicts)


def describe_gaps(gaps: LineGaps, refusals: Sequence[str]) -> str:
    """Why an order is incomplete, in a sentence for the exception."""
    parts = list(refusals)
    if gaps.to_send:
        parts.append("missing or wrong in Peoplevox: " + ", ".join(
            f"line {i.get('Line')} {i.get('ItemCode')} x{i.get('QuantityOrdered')}" for i in gaps.to_send[:10]))
    parts.extend(gaps.conflicts[:10])
    return "; ".join(parts) or "lines missing in Peoplevox"
