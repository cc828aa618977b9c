"""Ledger queries of the returns flow: the ``returns`` lines, the return authorisations announced to Peoplevox, and
the stock-in movements of a return in the stock queue.

Bulk, chunked queries only; no flow logic and no SQL in the flow modules. Inserts are "select the known keys, then
add the rest" (the same on SQLite and Postgres); the returns DAG runs one at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from erp_wms_sync.ledger.models import ReturnAuthorisationRecord, ReturnRecord, StockMovementRecord, utcnow

CHUNK = 500
T = TypeVar("T")

RETURN_STATES = ("new", "waiting", "restocked", "ready", "credited", "received", "closed", "held")
OPEN_STATES = ("new", "waiting", "restocked", "ready", "held")
RA_STATES = ("announced", "held", "done")
CUSTOMER = "customer"  # Peoplevox's pseudo-location returned goods come from
RETURN_REASON = "return"  # the reason of a return's stock movement starts with this word


def _chunks(items: Sequence[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), CHUNK):
        yield list(items[start:start + CHUNK])


def _check_state(state: str, allowed: Sequence[str], what: str) -> None:
    if state not in allowed:
        raise ValueError(f"unknown {what} state {state!r}: expected one of {', '.join(allowed)}")


def known_lines(session: Session, integration: str, codes: Iterable[str]) -> dict[tuple[str, str], ReturnRecord]:
    """The ledger lines of the return codes ``codes``, by (return code, item code)."""
    found: dict[tuple[str, str], ReturnRecord] = {}
    for chunk in _chunks(list(dict.fromkeys(codes))):
        for row in session.scalars(select(ReturnRecord).where(ReturnRecord.integration == integration,
                                                              ReturnRecord.return_code.in_(chunk))):
            found[(row.return_code, row.item_code)] = row
    return found


def insert_lines(session: Session, integration: str, lines: Iterable[Mapping[str, Any]]) -> list[ReturnRecord]:
    """Record the returned lines not recorded yet (unique per return code × item code); returns the new rows.

    A line already in the ledger is left exactly as it is: a return, once read, never changes here. Each mapping
    carries ``return_code``, ``item_code``, ``quantity`` and ``sellable`` (required) and optionally
    ``sales_order``, ``condition``, ``site``, ``reason``, ``returned_at``, ``source``, ``ra_number``."""
    fresh: dict[tuple[str, str], Mapping[str, Any]] = {}
    for line in lines:
        missing = [key for key in ("return_code", "item_code", "quantity", "sellable") if line.get(key) is None]
        if missing or not line["return_code"] or not line["item_code"]:
            raise ValueError(f"returned line {line.get('return_code')!r}/{line.get('item_code')!r} of {integration} "
                             f"lacks {', '.join(missing) or 'a return code or item code'}")
        fresh.setdefault((str(line["return_code"]), str(line["item_code"])), line)
    for key in known_lines(session, integration, [code for code, _ in fresh]):
        fresh.pop(key, None)
    rows = [ReturnRecord(
        integration=integration, return_code=code, item_code=item, quantity=int(line["quantity"]),
        sellable=bool(line["sellable"]), sales_order=str(line.get("sales_order") or ""),
        condition=str(line.get("condition") or "")[:64], site=str(line.get("site") or ""),
        reason=str(line.get("reason") or "")[:128], returned_at=line.get("returned_at"),
        source=str(line.get("source") or "poll"), ra_number=line.get("ra_number"), state="new", seen_at=utcnow())
        for (code, item), line in fresh.items()]
    session.add_all(rows)
    session.flush()
    return rows


def lines_in_states(session: Session, integration: str, states: Sequence[str],
                    limit: int = 10_000) -> list[ReturnRecord]:
    """Lines in ``states``, oldest return first (then return code, item code), at most ``limit``; ``held`` lines
    come after every other state's, so returns held on a person never keep a new return out of a run."""
    for state in states:
        _check_state(state, RETURN_STATES, "return")
    held_last = case((ReturnRecord.state == "held", 1), else_=0)
    return list(session.scalars(select(ReturnRecord).where(ReturnRecord.integration == integration,
                                                           ReturnRecord.state.in_(list(states)))
                                .order_by(held_last, ReturnRecord.returned_at, ReturnRecord.return_code,
                                          ReturnRecord.item_code).limit(limit)))


def lines_of_returns(session: Session, integration: str, codes: Iterable[str]) -> dict[str, list[ReturnRecord]]:
    """Every ledger line of each return code, whatever its state, by return code (lines by item code)."""
    found: dict[str, list[ReturnRecord]] = {}
    for (code, _), row in sorted(known_lines(session, integration, codes).items()):
        found.setdefault(code, []).append(row)
    return found


def set_state(rows: Iterable[ReturnRecord], state: str, **values: Any) -> None:
    """Move loaded lines to ``state`` (with any other column values given); ``credited`` / ``received`` stamp
    ``done_at``."""
    _check_state(state, RETURN_STATES, "return")
    now = utcnow()
    for row in rows:
        row.state = state
        for name, value in values.items():
            setattr(row, name, value)
        if state in ("credited", "received") and row.done_at is None:
            row.done_at = now
        row.updated_at = now


def return_movements(session: Session, integration: str,
                     wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[StockMovementRecord]]:
    """The queued stock movements that bring returned goods back, per (sales order, item code) asked for: from
    Peoplevox's ``Customer`` location, for that order and item, with a reason starting "Return". History Id
    ascending. Which return each belongs to is the caller's rule (the movement's comments carry the return code)."""
    pairs = set(wanted)
    found: dict[tuple[str, str], list[StockMovementRecord]] = {}
    orders = sorted({order for order, _ in pairs if order})
    for chunk in _chunks(orders):
        query = (select(StockMovementRecord)
                 .where(StockMovementRecord.integration == integration,
                        StockMovementRecord.sales_order.in_(chunk),
                        func.lower(StockMovementRecord.from_location) == CUSTOMER)
                 .order_by(StockMovementRecord.history_id))
        for row in session.scalars(query):
            key = (row.sales_order or "", row.item_code)
            if key in pairs and row.reason.strip().casefold().startswith(RETURN_REASON):
                found.setdefault(key, []).append(row)
    return found


# --- return authorisations (BlueCherry) --------------------------------------------------------------------------
def authorisations(session: Session, integration: str, numbers: Iterable[str]) -> dict[str, ReturnAuthorisationRecord]:
    found: dict[str, ReturnAuthorisationRecord] = {}
    for chunk in _chunks(list(dict.fromkeys(numbers))):
        for row in session.scalars(select(ReturnAuthorisationRecord).where(
                ReturnAuthorisationRecord.integration == integration, ReturnAuthorisationRecord.ra_number.in_(chunk))):
            found[row.ra_number] = row
    return found


def authorisations_of_orders(session: Session, integration: str,
                             wms_numbers: Iterable[str]) -> dict[str, list[ReturnAuthorisationRecord]]:
    """Announced or held RAs by the Peoplevox order number they belong to (oldest first)."""
    found: dict[str, list[ReturnAuthorisationRecord]] = {}
    for chunk in _chunks(list(dict.fromkeys(wms_numbers))):
        for row in session.scalars(select(ReturnAuthorisationRecord).where(
                ReturnAuthorisationRecord.integration == integration,
                ReturnAuthorisationRecord.wms_order_number.in_(chunk)).order_by(ReturnAuthorisationRecord.id)):
            found.setdefault(row.wms_order_number or "", []).append(row)
    return found


def upsert_authorisation(session: Session, integration: str, ra_number: str, *, erp_order_number: str,
                         wms_order_number: str | None, site: str | None, state: str,
                         lines: list[dict[str, Any]], announced: bool = False) -> ReturnAuthorisationRecord:
    """Create or update the ledger row of one RA (``announced`` stamps ``announced_at`` the first time)."""
    _check_state(state, RA_STATES, "return authorisation")
    row = session.scalar(select(ReturnAuthorisationRecord).where(
        ReturnAuthorisationRecord.integration == integration, ReturnAuthorisationRecord.ra_number == ra_number))
    if row is None:
        row = ReturnAuthorisationRecord(integration=integration, ra_number=ra_number, seen_at=utcnow())
        session.add(row)
    row.erp_order_number, row.wms_order_number, row.site = erp_order_number, wms_order_number, site
    row.state, row.lines, row.updated_at = state, [dict(line) for line in lines], utcnow()
    if announced and row.announced_at is None:
        row.announced_at = utcnow()
    session.flush()
    return row
