"""What every flow step receives, the staging helpers that hand records from one task to the next, and the
checks every flow ends with.

Staging and every other query go through :mod:`erp_wms_sync.ledger.repo` (bulk, no SQL here). Order release and
amendments stage typed records through :class:`erp_wms_sync.flows.order_release.staging.Stage`; item master sync
serialises its own typed record (``StagedItem``) through the ``dict`` helpers here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from erp_wms_sync.config import Integration
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.errors import DataCheckFailed
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import CheckResult, StagedRecord, utcnow
from erp_wms_sync.ledger.repo import NewException, raise_exception

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1)  # a flow's first data check reports every open problem raised so far


@dataclass(frozen=True)
class RunContext:
    """One flow run: which integration, which Airflow run, which window, which ledger."""

    integration: Integration
    flow: str
    run_id: str
    window: Window
    ledger_url: str | None = None

    def session(self) -> Any:
        return session_scope(self.ledger_url)

    def hold(self, session: Session, exc: NewException) -> bool:
        """Raise (or refresh) an exception owned by the team the YAML names for its type; True when it is new
        (or reopened) — a problem this run alerts about."""
        _, new = raise_exception(session, integration=self.integration.name, flow=self.flow,
                                 owner=self.integration.owner_of(exc.type), exc=exc, run_id=self.run_id)
        return new


def stage(session: Session, ctx: RunContext, records: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
    """Store (entity_key, data) pairs for this run; a retried task first drops what it staged before."""
    clear_stage(session, ctx)
    return repo.stage_records(session, integration=ctx.integration.name, flow=ctx.flow, run_key=ctx.run_id,
                              records=records)


def staged(session: Session, ctx: RunContext, verdict: str) -> Iterator[StagedRecord]:
    yield from repo.staged_records(session, integration=ctx.integration.name, flow=ctx.flow, run_key=ctx.run_id,
                                   verdicts=[verdict])


def set_verdict(session: Session, ids: Iterable[int], verdict: str) -> None:
    repo.set_verdicts(session, ids, verdict)


def clear_stage(session: Session, ctx: RunContext) -> None:
    repo.clear_staged(session, integration=ctx.integration.name, flow=ctx.flow, run_key=ctx.run_id)


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def latest_check(session: Session, ctx: RunContext) -> CheckResult | None:
    return repo.latest_check(session, integration=ctx.integration.name, flow=ctx.flow, run_id=ctx.run_id)


def fail_on_new_problems(ctx: RunContext, suite: str, flows: Iterable[str]) -> dict[str, Any]:
    """The data-check task of a flow that holds records: red only when new exceptions were raised (or closed ones
    reopened) since the flow's previous data check — this run's, plus those of a run that failed before its data
    check ran (they would otherwise never alert). A record held earlier and re-validated now stays an open
    exception without turning another run red, so each problem alerts once."""
    alerts_cursor = f"{ctx.flow}.data_check"
    with ctx.session() as session:
        result = latest_check(session, ctx)
        previous = repo.get_cursor(session, ctx.integration.name, alerts_cursor)
        since = previous.watermark if previous is not None and previous.watermark else EPOCH
        new = repo.new_exceptions_in_run(session, ctx.integration.name, ctx.run_id, flows, since=since)
        problems = sorted({f"{e.type}" for e in new})
        evaluated = result.evaluated if result is not None else 0
        still_open = len(repo.open_exceptions(session, ctx.integration.name))
        repo.advance_cursor(session, ctx.integration.name, alerts_cursor, utcnow(), ctx.run_id)
    if new:
        raise DataCheckFailed(suite, len(new), max(evaluated, len(new)), problems)
    return {"checked": result is not None, "evaluated": evaluated, "new_problems": 0, "open_exceptions": still_open}


def advance_watermark(ctx: RunContext) -> dict[str, str]:
    """Last step of a run: move the watermark to the window's end and drop the run's staging rows."""
    end = ctx.window.end
    naive = end.astimezone(UTC).replace(tzinfo=None) if end.tzinfo else end
    with ctx.session() as session:
        repo.advance_cursor(session, ctx.integration.name, ctx.flow, naive, ctx.run_id)
        clear_stage(session, ctx)
    return {"watermark": end.isoformat()}
