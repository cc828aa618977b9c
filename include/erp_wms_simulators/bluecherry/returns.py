"""Returns of the BlueCherry simulator: return authorisations (RA), their receipt, and credit memos.

- :func:`authorise_return` creates an RA against shipped units of an order (idempotent when the caller
  gives the ``raNumber``); each line has a reason code and an expected condition.
- :func:`receive_return` books what the warehouse received (idempotent on the receipt ``reference``):
  ``SELLABLE`` units go back to on-hand, ``DAMAGED`` ones to the quarantine bucket. With
  ``credit_memo_on_receive`` (default) each receipt issues its credit memo at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from erp_wms_simulators.bluecherry.lifecycle import find_order, refresh, stock_row
from erp_wms_simulators.bluecherry.records import (
    CONDITIONS,
    Problems,
    as_list,
    as_object,
    choice,
    conflict,
    line_objects,
    not_found,
    text_field,
    units_due,
    whole_number,
)

if TYPE_CHECKING:
    from erp_wms_simulators.bluecherry.state import BlueCherryState

Return = dict[str, Any]


def authorise_return(state: BlueCherryState, body: Any) -> tuple[Return, bool]:
    """Create an RA from ``{"orderNumber", "raNumber"?, "warehouse"?, "lines": [{sku, qty, reasonCode,
    condition}]}``; ``(ra, False)`` when the given ``raNumber`` already exists.
    """
    body = as_object(body, "The return")
    with state.lock:
        problems = Problems()
        ra_number = text_field(body, "raNumber", "return", problems, required=False)
        if ra_number and ra_number in state.book.returns:
            return state.book.returns[ra_number], False
        order_number = text_field(body, "orderNumber", "return", problems)
        problems.raise_any()
        order = find_order(state, order_number)
        if not any(int(line["shipped"]) for line in order["lines"]):
            raise conflict(f"Order {order['orderNumber']} has not shipped anything that could be returned.")
        warehouse = text_field(body, "warehouse", "return", problems, required=False, default=order["warehouse"])
        if warehouse not in state.warehouses:
            problems.add(f"Unknown warehouse '{warehouse}'.")
        lines = _ra_lines(state, order, as_list(body.get("lines"), "lines"), problems)
        problems.raise_any()
        now = state.clock()
        number = ra_number or _free_number(state)
        ra: Return = {"raNumber": number, "orderNumber": order["orderNumber"], "customer": order["customer"],
                      "customerPo": order["customerPo"], "warehouse": warehouse, "status": "AUTHORISED",
                      "lines": lines, "receipts": [], "creditMemos": [], "createdAt": now, "updatedAt": now}
        state.book.returns[number] = ra
        order["returns"].append(number)
        refresh(state, order, now)
        return ra, True


def receive_return(state: BlueCherryState, ra_number: str, body: Any = None) -> tuple[Return, bool]:
    """Receive an RA (all outstanding units, or the given ``lines`` with their inspected condition)."""
    body = as_object(body if body is not None else {}, "The receipt")
    with state.lock:
        ra = find_return(state, ra_number)
        problems = Problems()
        reference = text_field(body, "reference", "receipt", problems, required=False)
        if reference and reference in state.book.receipt_refs:
            if state.book.receipt_refs[reference] != ra["raNumber"]:
                raise conflict(f"Receipt reference '{reference}' was already used for return "
                               f"{state.book.receipt_refs[reference]}.")
            return ra, False
        if all(line["received"] >= line["qty"] for line in ra["lines"]):
            raise conflict(f"Return {ra['raNumber']} has already been received in full.")
        received = _receipt_lines(ra, body.get("lines"), problems)
        problems.raise_any()
        now = state.clock()
        _book_receipt(state, ra, received, now)
        receipt = {"reference": reference, "receivedAt": now, "lines": received, "creditMemo": ""}
        ra["receipts"].append(receipt)
        if reference:
            state.book.receipt_refs[reference] = ra["raNumber"]
        if state.settings.credit_memo_on_receive:
            receipt["creditMemo"] = issue_credit_memo(state, ra["raNumber"])["creditMemoNumber"]
        _refresh_return(state, ra, now)
        return ra, True


def issue_credit_memo(state: BlueCherryState, ra_number: str) -> dict[str, Any]:
    """A credit memo for the RA's received, not yet credited units (409 when there are none)."""
    with state.lock:
        ra = find_return(state, ra_number)
        order = find_order(state, ra["orderNumber"])
        prices = {line["sku"]: float(line["price"]) for line in order["lines"]}
        due = units_due(ra["lines"], "received", "credited")
        if not due:
            raise conflict(f"Return {ra['raNumber']} has no received units left to credit.")
        now = state.clock()
        number = state.book.next_number("creditMemo", "CM-")
        rows = [{"sku": line["sku"], "qty": qty, "price": prices[line["sku"]],
                 "amount": round(qty * prices[line["sku"]], 2), "reasonCode": line["reasonCode"]}
                for line, qty in due]
        memo = {"creditMemoNumber": number, "raNumber": ra["raNumber"], "orderNumber": ra["orderNumber"],
                "customer": ra["customer"], "lines": rows, "total": round(sum(r["amount"] for r in rows), 2),
                "createdAt": now, "updatedAt": now}
        for line, qty in due:
            line["credited"] += qty
        state.book.credit_memos[number] = memo
        ra["creditMemos"].append(number)
        _refresh_return(state, ra, now)
        return memo


def _free_number(state: BlueCherryState) -> str:
    """The next generated RA number not already taken by one the caller chose."""
    for _ in range(len(state.book.returns) + 1):  # at most every taken number is skipped once
        number = state.book.next_number("return", "RA-")
        if number not in state.book.returns:
            return number
    raise AssertionError("unreachable: more RA numbers were skipped than returns exist")


def find_return(state: BlueCherryState, ra_number: str) -> Return:
    ra = state.book.returns.get(str(ra_number).strip())
    if ra is None:
        raise not_found(f"Return '{ra_number}' was not found.")
    return ra


def _ra_lines(state: BlueCherryState, order: dict[str, Any], raw_lines: list[Any], problems: Problems
              ) -> list[dict[str, Any]]:
    on_order = {line["sku"]: line for line in order["lines"]}
    authorised = _authorised(state, order["orderNumber"])
    lines = []
    for index, where, raw in line_objects(raw_lines, problems):
        sku = text_field(raw, "sku", where, problems)
        qty = whole_number(raw.get("qty"), "qty", where, problems)
        reason = choice(text_field(raw, "reasonCode", where, problems), state.settings.return_reason_codes,
                        "reasonCode", where, problems)
        condition = choice(text_field(raw, "condition", where, problems, required=False, default="SELLABLE"),
                           CONDITIONS, "condition", where, problems)
        line = on_order.get(sku)
        if line is None:
            if sku:
                problems.add(f"{where}: SKU '{sku}' is not on order {order['orderNumber']}.")
            continue
        returnable = int(line["shipped"]) - authorised.get(sku, 0)
        if qty > returnable:
            problems.add(f"{where}: SKU '{sku}': {qty} to return but only {max(returnable, 0)} shipped and not "
                         "yet authorised for return.")
        authorised[sku] = authorised.get(sku, 0) + qty
        lines.append({"lineNo": index, "sku": sku, "qty": qty, "reasonCode": reason, "condition": condition,
                      "received": 0, "receivedSellable": 0, "receivedDamaged": 0, "credited": 0})
    return lines


def _authorised(state: BlueCherryState, order_number: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for ra in state.book.returns.values():
        if ra["orderNumber"] == order_number:
            for line in ra["lines"]:
                totals[line["sku"]] = totals.get(line["sku"], 0) + int(line["qty"])
    return totals


def _receipt_lines(ra: Return, raw_lines: Any, problems: Problems) -> list[dict[str, Any]]:
    outstanding = {line["sku"]: line for line in ra["lines"] if line["received"] < line["qty"]}
    if raw_lines is None:
        return [{"sku": sku, "qty": int(line["qty"]) - int(line["received"]), "condition": line["condition"]}
                for sku, line in outstanding.items()]
    received = []
    for _, where, raw in line_objects(as_list(raw_lines, "lines"), problems, "receipt line"):
        sku = text_field(raw, "sku", where, problems)
        qty = whole_number(raw.get("qty"), "qty", where, problems)
        line = outstanding.get(sku)
        if line is None:
            problems.add(f"{where}: SKU '{sku}' has nothing outstanding on return {ra['raNumber']}.")
            continue
        default = str(line["condition"])
        condition = choice(text_field(raw, "condition", where, problems, required=False, default=default),
                           CONDITIONS, "condition", where, problems)
        if qty > int(line["qty"]) - int(line["received"]):
            problems.add(f"{where}: SKU '{sku}': {qty} received but only "
                         f"{int(line['qty']) - int(line['received'])} outstanding.")
        received.append({"sku": sku, "qty": qty, "condition": condition})
    return received


def _book_receipt(state: BlueCherryState, ra: Return, received: Sequence[Mapping[str, Any]], now: datetime
                  ) -> None:
    order = find_order(state, ra["orderNumber"])
    ra_lines = {line["sku"]: line for line in ra["lines"]}
    order_lines = {line["sku"]: line for line in order["lines"]}
    for item in received:
        sku, qty = str(item["sku"]), int(item["qty"])
        row = stock_row(state, sku, ra["warehouse"])
        if item["condition"] == "DAMAGED":
            state.book.stock.move(row, now, quarantine=qty)
            ra_lines[sku]["receivedDamaged"] += qty
        else:
            state.book.stock.move(row, now, onHand=qty)
            ra_lines[sku]["receivedSellable"] += qty
        ra_lines[sku]["received"] += qty
        order_lines[sku]["returned"] += qty
    refresh(state, order, now)


def _refresh_return(state: BlueCherryState, ra: Return, now: datetime) -> None:
    lines = ra["lines"]
    if all(line["received"] >= line["qty"] for line in lines):
        credited = all(line["credited"] >= line["qty"] for line in lines)
        ra["status"] = "CREDITED" if credited else "RECEIVED"
    elif any(line["received"] for line in lines):
        ra["status"] = "PARTIALLY_RECEIVED"
    ra["updatedAt"] = now
