"""data_check of exception housekeeping: red once per new problem — a new deadline breach, an ``api_unavailable``
raised by the run's checks, or exceptions newly parked after their last retry — and never again for the same one.

The escalation of parked exceptions is one message (the failed task's alert) listing them per owner team.
"""

from __future__ import annotations

from typing import Any

from erp_wms_sync.errors import DataCheckFailed
from erp_wms_sync.flows.common import EPOCH, RunContext
from erp_wms_sync.flows.exception_housekeeping.retry import FLOW
from erp_wms_sync.ledger import housekeeping_repo as hk_repo
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.models import ExceptionRecord, utcnow

SUITE = "exception_housekeeping"
LISTED_PER_OWNER = 10


class Escalation(DataCheckFailed):
    """New problems of a housekeeping run: new breaches and newly parked exceptions, listed per owner."""

    def __init__(self, new: list[ExceptionRecord], parked: list[ExceptionRecord]) -> None:
        kinds = sorted({e.type for e in new} | {f"parked:{e.type}" for e in parked})
        super().__init__(SUITE, len(new) + len(parked), len(new) + len(parked), kinds)
        lines = [f"exception housekeeping: {len(new)} new problem(s), {len(parked)} exception(s) parked after "
                 f"their last retry"]
        lines += _per_owner("new", new) + _per_owner("parked (retries exhausted; resolve by hand)", parked)
        self.args = ("\n".join(lines),)


def _per_owner(title: str, rows: list[ExceptionRecord]) -> list[str]:
    by_owner: dict[str, list[ExceptionRecord]] = {}
    for row in rows:
        by_owner.setdefault(row.owner, []).append(row)
    out = []
    for owner, group in sorted(by_owner.items()):
        shown = "; ".join(f"#{e.id} {e.type} {e.entity_type} {e.entity_key}" for e in group[:LISTED_PER_OWNER])
        more = f" (+{len(group) - LISTED_PER_OWNER} more)" if len(group) > LISTED_PER_OWNER else ""
        out.append(f"{title} for {owner}: {len(group)}: {shown}{more}")
    return out


def data_check(ctx: RunContext) -> dict[str, Any]:
    """Fail once for what is new since the previous data check of this integration's housekeeping."""
    cursor = f"{FLOW}.data_check"
    name = ctx.integration.name
    with ctx.session() as session:
        previous = repo.get_cursor(session, name, cursor)
        since = previous.watermark if previous is not None and previous.watermark else EPOCH
        checked_at = utcnow()
        new = repo.new_exceptions_in_run(session, name, ctx.run_id, [FLOW], since=since)
        parked = hk_repo.newly_parked(session, name, since)
        parked = [p for p in parked if all(p.id != n.id for n in new)]
        repo.record_check(session, integration=name, flow=FLOW, suite=SUITE, run_id=ctx.run_id,
                          success=not (new or parked), evaluated=len(new) + len(parked),
                          failed_records=len(new) + len(parked),
                          summary={"new": [e.id for e in new][:100], "parked": [e.id for e in parked][:100]})
        repo.advance_cursor(session, name, cursor, checked_at, ctx.run_id)
        error = Escalation(new, parked) if new or parked else None
    if error is not None:
        raise error
    return {"new_problems": 0, "parked": 0}
