"""The record of what people did in the dashboard (:class:`~erp_wms_sync.ledger.models.DashboardAction`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from erp_wms_sync.ledger.models import DashboardAction

__all__ = ["actions", "record_action"]


def record_action(session: Session, *, user: str, integration: str, action: str, target_type: str,
                  target_id: str | int, outcome: str = "", detail: dict[str, Any] | None = None) -> DashboardAction:
    """Write one action (who, on what, the outcome); the caller's transaction commits it with the change itself."""
    row = DashboardAction(user=user[:128], integration=integration[:64], action=action[:64],
                          target_type=target_type[:32], target_id=str(target_id)[:128], outcome=outcome[:500],
                          detail=detail)
    session.add(row)
    session.flush()
    return row


def actions(session: Session, *, integration: str | None = None, target_type: str | None = None,
            target_id: str | int | None = None, limit: int = 200, offset: int = 0) -> list[DashboardAction]:
    """The latest actions first, optionally of one integration or one target."""
    query = select(DashboardAction)
    if integration:
        query = query.where(DashboardAction.integration == integration)
    if target_type:
        query = query.where(DashboardAction.target_type == target_type)
    if target_id is not None:
        query = query.where(DashboardAction.target_id == str(target_id))
    return list(session.scalars(query.order_by(DashboardAction.id.desc()).offset(max(offset, 0))
                                .limit(max(min(limit, 1000), 0))))
