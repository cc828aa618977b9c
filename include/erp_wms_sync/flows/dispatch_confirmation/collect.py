"""Collect: what Peoplevox despatched, from the webhook inbox and from the "Despatch summary" report.

A callback says *that* a package left (despatch number, order, package, tracking) but not *what* was in it, so every
run reads the Despatch summary for its window anyway — one GetReportData call that also catches every despatch whose
callback was dropped (the polling safety net). The inbox is drained by state, never by asset event: a callback whose
despatch the report does not list yet stays ``waiting`` and is looked at again by the next run.

Each despatch becomes one ``despatches`` row (unique per integration × despatch number) holding its lines, its
packages' tracking numbers and the latency stamps (``despatched_at`` from Peoplevox, ``callback_at`` = the first
callback received). A despatch already in the ledger only gains tracking numbers; its lines never change. A
despatch whose report rows are unreadable is never confirmed from a partial view: it is a ``despatch_mismatch``
exception holding the rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from erp_wms_sync.domain import despatches as rules
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.ledger import dispatch_repo
from erp_wms_sync.ledger.models import DespatchRecord, WebhookInbox
from erp_wms_sync.ledger.repo import NewException
from erp_wms_sync.webhooks import PEOPLEVOX, PEOPLEVOX_EVENTS

log = logging.getLogger(__name__)
REMOVED_TRACKING = "removed"  # packages key: tracking numbers a person removed (dashboard edit), never re-added

REPORT = "Despatch summary"
REPORT_COLUMNS = ("Despatch number", "Salesorder number", "Item code", "No of items", "Despatch date", "Carrier",
                  "Service", "Tracking number", "Site reference")
REPORT_KEY = "Despatch number"
DESPATCH = "despatch"
MISMATCH = "despatch_mismatch"
INBOX_BATCH = 5000
WAITING_ALERT_AFTER = 20  # runs a callback may wait for the report to list its despatch before it is an exception


@dataclass
class Collected:
    """What one collect pass found (counts for the run log; the ledger holds the rest)."""

    callbacks: int = 0
    new: int = 0
    tracking_updates: int = 0
    waiting: int = 0
    problems: int = 0
    new_problems: int = 0
    numbers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"callbacks": self.callbacks, "new_despatches": self.new, "tracking_updates": self.tracking_updates,
                "callbacks_waiting": self.waiting, "unreadable_despatches": self.problems}


def poll_since(ctx: RunContext, notices: list[rules.DespatchNotice], now: datetime) -> datetime:
    """Where this run's report read starts (aware UTC): the window's start (or, on the very first run, the window's
    end) less the overlap, and early enough for every despatch a pending callback names."""
    overlap = timedelta(minutes=ctx.integration.dispatch.poll_overlap_minutes)
    start = ctx.window.start or ctx.window.end or now
    since = _aware(start) - overlap
    dated = [_aware(n.despatched_at) for n in notices if n.despatched_at is not None]
    if dated:
        since = min(since, min(dated) - timedelta(minutes=5))
    return since


def collect(ctx: RunContext, wms: Any, *, now: datetime | None = None) -> Collected:
    """Drain the inbox, read the report, and record every despatch (and tracking number) in the ledger."""
    now = now or datetime.now(UTC)
    tz = ctx.integration.wms.timezone
    out = Collected()
    with ctx.session() as session:
        inbox = dispatch_repo.pending_inbox(session, ctx.integration.name, PEOPLEVOX, INBOX_BATCH,
                                            event_types=PEOPLEVOX_EVENTS)
        notices, unreadable = _read_inbox(inbox, tz)
        if unreadable:
            dispatch_repo.mark_inbox(session, [row.id for row, _ in unreadable], "failed",
                                     "; ".join(sorted({why for _, why in unreadable}))[:2000])
            for row, why in unreadable:
                ctx.hold(session, NewException(
                    type=MISMATCH, entity_type="callback", entity_key=str(row.entity_key or row.id)[:128],
                    summary=f"Unreadable Peoplevox callback #{row.id}: {why}"[:500],
                    detail={"inbox_id": row.id, "event_type": row.event_type, "reason": why},
                    payload={"body": row.body, "event_type": row.event_type}))
    out.callbacks = len(inbox)
    since = poll_since(ctx, [n for n, _ in notices], now)
    rows = list(wms.get_report(REPORT, columns=REPORT_COLUMNS, search_clause=rules.report_clause(since, tz),
                               key=REPORT_KEY))
    found, problems = rules.despatches_from_report(rows, tz)
    by_number = {d.number: d for d in found}
    log.info("%s dispatch: %d callbacks pending, Despatch summary since %s: %d rows, %d despatches, %d unreadable",
             ctx.integration.name, len(inbox), since.isoformat(), len(rows), len(found), len(problems))
    with ctx.session() as session:
        out.problems = len(problems)
        for problem in problems:
            out.new_problems += int(ctx.hold(session, NewException(
                type=MISMATCH, entity_type=DESPATCH, entity_key=(problem.despatch_number or "(no number)")[:128],
                summary=f"Despatch {problem.despatch_number or '(no number)'} of order "
                        f"{problem.order_number or '?'} is unreadable in the Despatch summary: {problem.reason}"[:500],
                detail={"reason": problem.reason, "order": problem.order_number},
                payload={"rows": [dict(r) for r in problem.rows][:200]})))
        _record(ctx, session, found, notices, now, out)
        _settle_inbox(ctx, session, notices, by_number, out)
    out.numbers = list(by_number)
    return out


def _read_inbox(inbox: list[WebhookInbox], tz: str) -> tuple[list[tuple[rules.DespatchNotice, WebhookInbox]],
                                                               list[tuple[WebhookInbox, str]]]:
    notices: list[tuple[rules.DespatchNotice, WebhookInbox]] = []
    unreadable: list[tuple[WebhookInbox, str]] = []
    for row in inbox:
        try:
            notices.append((rules.notice_from_callback(row.event_type or "", row.body, tz), row))
        except ValueError as exc:
            unreadable.append((row, str(exc)))
    return notices, unreadable


def _record(ctx: RunContext, session: Any, found: list[rules.Despatch],
            notices: list[tuple[rules.DespatchNotice, WebhookInbox]], now: datetime, out: Collected) -> None:
    """Insert new despatches; add tracking numbers (from the report or a callback) to known ones."""
    first_callback: dict[str, datetime] = {}
    packages: dict[str, dict[str, str]] = {}
    for notice, inbox_row in notices:
        received = inbox_row.received_at
        first_callback[notice.despatch_number] = min(first_callback.get(notice.despatch_number, received), received)
        if notice.package:
            known = packages.setdefault(notice.despatch_number, {})
            if notice.tracking or notice.package not in known:
                known[notice.package] = notice.tracking
    numbers = [d.number for d in found] + list(packages)
    known_rows = dispatch_repo.despatch_records(session, ctx.integration.name, numbers)
    naive_now = now.astimezone(UTC).replace(tzinfo=None)
    for despatch in found:
        row = known_rows.get(despatch.number)
        if row is None:
            row = DespatchRecord(
                integration=ctx.integration.name, despatch_number=despatch.number,
                wms_order_number=despatch.order_number, state="new", carrier=despatch.carrier,
                service=despatch.service, lines=[{"item_code": ln.item_code, "quantity": ln.quantity}
                                                 for ln in despatch.lines],
                packages={"by_package": {}, "tracking": list(despatch.tracking)},
                source="callback" if despatch.number in first_callback else "poll",
                despatched_at=despatch.despatched_at, callback_at=first_callback.get(despatch.number),
                seen_at=naive_now, attempts=0)
            session.add(row)
            known_rows[despatch.number] = row
            out.new += 1
        else:
            out.tracking_updates += int(_add_tracking(row, despatch.tracking))
    for number, by_package in packages.items():
        row = known_rows.get(number)
        if row is None:
            continue
        if row.callback_at is None and number in first_callback:
            row.callback_at = first_callback[number]
        data = dict(row.packages or {})
        merged = {**dict(data.get("by_package") or {}), **{k: v for k, v in by_package.items() if v}}
        for package in by_package:
            merged.setdefault(package, "")
        data["by_package"] = merged
        row.packages = data
        out.tracking_updates += int(_add_tracking(row, tuple(v for v in by_package.values() if v)))
    session.flush()


def _add_tracking(row: DespatchRecord, tracking: tuple[str, ...]) -> bool:
    """Add the tracking numbers the despatch does not have yet; one a person removed in the dashboard (a typo,
    ``packages["removed"]``) is not added back when Peoplevox reports it again."""
    data = dict(row.packages or {})
    have = list(data.get("tracking") or [])
    removed = set(data.get(REMOVED_TRACKING) or [])
    new = [t for t in tracking if t and t not in have and t not in removed]
    if not new:
        return False
    data["tracking"] = have + new
    row.packages = data
    return True


def _settle_inbox(ctx: RunContext, session: Any, notices: list[tuple[rules.DespatchNotice, WebhookInbox]],
                  by_number: dict[str, rules.Despatch], out: Collected) -> None:
    """Callbacks whose despatch is now in the ledger are processed; the others wait for a later report."""
    in_ledger = set(dispatch_repo.despatch_records(session, ctx.integration.name,
                                                   [n.despatch_number for n, _ in notices]))
    done = [row.id for notice, row in notices if notice.despatch_number in in_ledger]
    waiting = [(notice, row) for notice, row in notices if notice.despatch_number not in in_ledger]
    dispatch_repo.mark_inbox(session, done, "processed")
    dispatch_repo.bump_inbox_attempts(session, [row.id for _, row in waiting])
    out.waiting = len(waiting)
    for notice, row in waiting:
        if (row.attempts or 0) + 1 >= WAITING_ALERT_AFTER:
            ctx.hold(session, NewException(
                type=MISMATCH, entity_type=DESPATCH, entity_key=notice.despatch_number[:128],
                summary=f"Peoplevox called back for despatch {notice.despatch_number} of order "
                        f"{notice.order_number}, but its Despatch summary has not listed it after "
                        f"{WAITING_ALERT_AFTER} runs"[:500],
                detail={"inbox_id": row.id, "event_type": row.event_type},
                payload={"body": row.body, "event_type": row.event_type}))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
