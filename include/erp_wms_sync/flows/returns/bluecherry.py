"""BlueCherry: an authorised return (RA) becomes an expected inbound return in Peoplevox, and what Peoplevox
receives and inspects flows back as the RA's receipt.

- :func:`announce`: every RA BlueCherry lists as ``AUTHORISED`` (or partly received) and the ledger has not
  announced yet is saved once to Peoplevox's "Return authorisations" template (one row per RA × item, against the
  Peoplevox order number the integration released it under). An RA of an order the integration never released is
  ``return_without_authorisation``; a row Peoplevox refuses is ``wms_write_rejected``; both are tried again.
- :func:`receive`: each Peoplevox return (collected by :mod:`.collect`) is booked against the announced RAs of its
  order, oldest first, as ``receive_return(ra, reference="WMS-RETURN-<return code>", lines=[(sku, qty,
  SELLABLE|DAMAGED)])``: BlueCherry puts sellable units on hand and damaged ones in quarantine, and completes the
  RA. BlueCherry books a reference once, so a retried run never receives twice. A return of an order with no RA,
  more than its RAs expect, or against an RA BlueCherry does not know is ``return_without_authorisation``.
"""

from __future__ import annotations

import logging
from typing import Any

from erp_wms_sync.errors import ApiRejected, ApiResponseInvalid
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.returns import rules
from erp_wms_sync.flows.returns.cin7 import RETURN, UNKNOWN, line_key, return_payload
from erp_wms_sync.ledger import repo, returns_repo
from erp_wms_sync.ledger.models import ReturnAuthorisationRecord, ReturnRecord
from erp_wms_sync.ledger.repo import NewException

log = logging.getLogger(__name__)

TEMPLATE = "Return authorisations"
RA = "return_authorisation"
REJECTED = "wms_write_rejected"
UNMAPPED_LOCATION = "unmapped_location"
OPEN_RA_STATUSES = ("AUTHORISED", "PARTIALLY_RECEIVED")
FULL_RA_STATUSES = ("RECEIVED", "CREDITED")
RELEASED_STATES = ("released", "blocked")


def announce(ctx: RunContext, wms: Any, erp: Any) -> dict[str, int]:
    """Save the RAs Peoplevox has not been told about yet to its "Return authorisations" template."""
    name = ctx.integration.name
    counts = {"authorisations": 0, "announced": 0, "held": 0, "new_problems": 0}
    listed = list(erp.iter_returns(status=OPEN_RA_STATUSES))
    with ctx.session() as session:
        known = returns_repo.authorisations(session, name, [ra.ra_number for ra in listed])
        todo = [ra for ra in listed if ra.ra_number not in known or known[ra.ra_number].state == "held"]
        records = repo.order_records(session, name, [ra.order_number for ra in todo])
    counts["authorisations"] = len(listed)
    for ra in todo:
        with ctx.session() as session:
            record = records.get(ra.order_number)
            lines = [{"sku": line.sku, "item_code": ctx.integration.item_code_for(line.sku), "quantity": line.qty,
                      "reason": line.reason_code} for line in ra.lines]
            payload = {"ra": dict(ra.raw)}
            site = ctx.integration.site_for(ra.warehouse) if ra.warehouse else None
            wms_number = record.wms_order_number if record is not None else None
            problem: NewException | None = None
            if record is None or record.state not in RELEASED_STATES or not wms_number:
                problem = NewException(
                    type=UNKNOWN, entity_type=RA, entity_key=ra.ra_number[:128],
                    summary=(f"BlueCherry return authorisation {ra.ra_number} is for order {ra.order_number}, which "
                             f"the integration never released to Peoplevox: the warehouse is not told to expect "
                             f"it")[:500], detail={"order": ra.order_number}, payload=payload)
            elif site is None:
                problem = NewException(
                    type=UNMAPPED_LOCATION, entity_type=RA, entity_key=ra.ra_number[:128],
                    summary=(f"BlueCherry return authorisation {ra.ra_number} names warehouse {ra.warehouse}, "
                             f"mapped to no Peoplevox site")[:500], detail={"warehouse": ra.warehouse},
                    payload=payload)
            else:
                rows = [{"ReturnAuthorisationNumber": ra.ra_number, "SalesOrderNumber": wms_number,
                         "ItemCode": line["item_code"], "QuantityExpected": str(line["quantity"]),
                         "Reason": str(line["reason"])[:100], "Site": site} for line in lines]
                session.commit()  # no ledger write lock held across the Peoplevox call
                outcomes = wms.save_data(TEMPLATE, rows, key="ReturnAuthorisationNumber")
                refused = [o.message for o in outcomes if not o.ok]
                if refused or len(outcomes) != len(rows):
                    problem = NewException(
                        type=REJECTED, entity_type=RA, entity_key=ra.ra_number[:128],
                        summary=(f"Peoplevox refused return authorisation {ra.ra_number}: "
                                 f"{'; '.join(refused) or 'not every row answered'}")[:500],
                        detail={"refused": refused[:20]}, payload={**payload, "rows": rows})
            state = "held" if problem is not None else "announced"
            returns_repo.upsert_authorisation(session, name, ra.ra_number, erp_order_number=ra.order_number,
                                              wms_order_number=wms_number, site=site, state=state, lines=lines,
                                              announced=problem is None)
            if problem is not None:
                counts["held"] += 1
                counts["new_problems"] += int(ctx.hold(session, problem))
            else:
                counts["announced"] += 1
                repo.resolve_exceptions(session, integration=name, entity_type=RA, entity_keys=[ra.ra_number[:128]],
                                        types=[UNKNOWN, UNMAPPED_LOCATION, REJECTED], by="returns",
                                        note="announced to Peoplevox", run_id=ctx.run_id)
    log.info("%s returns (BlueCherry RAs): %s", name, counts)
    return counts


def receive(ctx: RunContext, erp: Any) -> dict[str, int]:
    """Book every Peoplevox return not booked yet against its order's announced RAs in BlueCherry."""
    name = ctx.integration.name
    counts = {"returns": 0, "received": 0, "held": 0, "new_problems": 0}
    with ctx.session() as session:
        rows = returns_repo.lines_in_states(session, name, ("new", "held"),
                                            limit=ctx.integration.returns.max_returns_per_run)
        codes = list(dict.fromkeys(row.return_code for row in rows))
    for code in codes:
        with ctx.session() as session:
            lines = [row for row in returns_repo.lines_of_returns(session, name, [code]).get(code, [])
                     if row.state in ("new", "held")]
            if lines:
                counts["returns"] += 1
                _receive_return(ctx, session, erp, lines, counts)
    log.info("%s returns (BlueCherry receipts): %s", name, counts)
    return counts


def _outstanding(session: Any, ctx: RunContext, ras: list[ReturnAuthorisationRecord]) -> list[tuple[str, dict]]:
    """Per announced RA, the units (by ERP SKU) not yet booked by an earlier Peoplevox return."""
    booked: dict[tuple[str, str], int] = {}
    for row in returns_repo.lines_in_states(session, ctx.integration.name, ("received",)):
        if row.ra_number:
            key = (row.ra_number, ctx.integration.sku_for(row.item_code))
            booked[key] = booked.get(key, 0) + row.quantity
    out: list[tuple[str, dict]] = []
    for ra in ras:
        left: dict[str, int] = {}
        for line in ra.lines or []:
            sku = str(line["sku"])
            left[sku] = left.get(sku, 0) + int(line["quantity"])
        for sku in left:
            left[sku] = max(0, left[sku] - booked.get((ra.ra_number, sku), 0))
        out.append((ra.ra_number, left))
    return out


def _receive_return(ctx: RunContext, session: Any, erp: Any, lines: list[ReturnRecord], counts: dict[str, int]
                    ) -> None:
    name, code, order = ctx.integration.name, lines[0].return_code, lines[0].sales_order
    ras = [ra for ra in returns_repo.authorisations_of_orders(session, name, [order]).get(order, [])
           if ra.state == "announced"]
    wanted = [(ctx.integration.sku_for(row.item_code), row.quantity, row) for row in lines]
    booked, uncovered = rules.allocate_to_authorisations([(sku, qty) for sku, qty, _ in wanted],
                                                         _outstanding(session, ctx, ras))
    if not ras or uncovered:
        why = (f"no return authorisation of order {order or '(none)'} was announced" if not ras
               else f"{', '.join(uncovered)} is more than its return authorisations expect")
        _hold(ctx, session, lines, f"Peoplevox received return {code}, but {why}: nothing is booked in BlueCherry",
              counts)
        return
    by_sku = {sku: row for sku, _, row in wanted}
    for ra_number, taken in booked.items():
        reference = rules.receipt_reference(code) + ("" if len(booked) == 1 else f"-{ra_number}")
        receipt = [(sku, qty, rules.bluecherry_condition(by_sku[sku].sellable)) for sku, qty in taken]
        session.commit()  # no ledger write lock across the BlueCherry call (its API budget lives in the ledger)
        try:
            answer = erp.receive_return(ra_number, reference=reference[:64], lines=receipt)
        except ApiRejected as exc:
            _hold(ctx, session, lines, f"BlueCherry refused the receipt of return {code} against RA {ra_number}: "
                                       f"{exc}", counts)
            return
        if answer.ra_number != ra_number:
            raise ApiResponseInvalid("bluecherry", f"the receipt of RA {ra_number} was answered for RA "
                                                   f"{answer.ra_number!r}")
        returns_repo.set_state([by_sku[sku] for sku, _ in taken], "received", ra_number=ra_number,
                               erp_ref=reference[:128])
        if answer.status in FULL_RA_STATUSES:
            ra_row = returns_repo.authorisations(session, name, [ra_number])[ra_number]
            ra_row.state = "done"
        counts["received"] += 1
    repo.resolve_exceptions(session, integration=name, entity_type=RETURN, entity_keys=[code[:128]], types=[UNKNOWN],
                            by="returns", note="received in BlueCherry", run_id=ctx.run_id)


def _hold(ctx: RunContext, session: Any, lines: list[ReturnRecord], summary: str, counts: dict[str, int]) -> None:
    code = lines[0].return_code
    counts["held"] += 1
    counts["new_problems"] += int(ctx.hold(session, NewException(
        type=UNKNOWN, entity_type=RETURN, entity_key=code[:128], summary=summary[:500],
        detail={"sales_order": lines[0].sales_order, "lines": [line_key(row) for row in lines]},
        payload=return_payload(lines))))
    returns_repo.set_state(lines, "held")
