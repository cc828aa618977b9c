"""What every flow step receives, and the staging helpers that hand records from one task to the next."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from erp_wms_sync.config import Integration
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.errors import DataCheckFailed
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import CheckResult, StagedRecord
from erp_wms_sync.ledger.repo import NewException, raise_exception

log = logging.getLogger(__name__)


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
        """Raise (or refresh) an exception owned by the team the YAML names for its type."""
        _, new = raise_exception(session, integration=self.integration.name, flow=self.flow,
                                 owner=self.integration.owner_of(exc.type), exc=exc, run_id=self.run_id)
        return new


def stage(session: Session, ctx: RunContext, records: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
    """Store (entity_key, data) pairs for this run; a retried task first drops what it staged before."""
    clear_stage(session, ctx)
    count = 0
    for key, data in records:
        session.add(StagedRecord(integration=ctx.integration.name, flow=ctx.flow, run_key=ctx.run_id,
                                 entity_key=key, data=dict(data), verdict="pending"))
        count += 1
    return count


def staged(session: Session, ctx: RunContext, verdict: str) -> Iterator[StagedRecord]:
    query = select(StagedRecord).where(
        StagedRecord.integration == ctx.integration.name, StagedRecord.flow == ctx.flow,
        StagedRecord.run_key == ctx.run_id, StagedRecord.verdict == verdict).order_by(StagedRecord.id)
    yield from session.scalars(query)


def set_verdict(session: Session, ids: Iterable[int], verdict: str) -> None:
    chunk: list[int] = []
    for record_id in ids:
        chunk.append(record_id)
        if len(chunk) == 500:
            session.execute(update(StagedRecord).where(StagedRecord.id.in_(chunk)).values(verdict=verdict))
            chunk = []
    if chunk:
        session.execute(update(StagedRecord).where(StagedRecord.id.in_(chunk)).values(verdict=verdict))


def clear_stage(session: Session, ctx: RunContext) -> None:
    session.execute(delete(StagedRecord).where(
        StagedRecord.integration == ctx.integration.name, StagedRecord.flow == ctx.flow,
        StagedRecord.run_key == ctx.run_id))


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def latest_check(session: Session, ctx: RunContext) -> CheckResult | None:
    return session.scalar(select(CheckResult).where(
        CheckResult.integration == ctx.integration.name, CheckResult.flow == ctx.flow,
        CheckResult.run_id == ctx.run_id).order_by(CheckResult.id.desc()).limit(1))


def fail_if_check_failed(ctx: RunContext, suite: str) -> dict[str, Any]:
    """The data-check task: fails when this run's suite failed (the held records are already exceptions)."""
    with ctx.session() as session:
        result = latest_check(session, ctx)
        if result is None:
            return {"checked": False}
        if not result.success:
            summary = dict(result.summary or {})
            failed = [r["expectation"] + (f"({r['column']})" if r.get("column") else "")
                      for r in summary.get("results", []) if not r["success"]]
            raise DataCheckFailed(suite, result.failed_records, result.evaluated, failed)
        return {"checked": True, "evaluated": result.evaluated}


def advance_watermark(ctx: RunContext) -> dict[str, str]:
    """Last step of a run: move the watermark to the window's end and drop the run's staging rows."""
    end = ctx.window.end
    naive = end.astimezone(UTC).replace(tzinfo=None) if end.tzinfo else end
    with ctx.session() as session:
        repo.advance_cursor(session, ctx.integration.name, ctx.flow, naive, ctx.run_id)
        clear_stage(session, ctx)
    return {"watermark": end.isoformat()}
