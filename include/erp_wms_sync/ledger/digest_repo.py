"""Ledger queries of the exception digests: set-based, one statement per question.

"New" means raised for the first time or reopened (an ``exception_attempts`` row with outcome ``raised`` or
``reopened``) in ``[since, until)`` and still open now: a problem that was raised and already closed again needs no
one's attention, and an exception merely seen again is not news. A team's exceptions are those whose owner is the
team, or names it in a joint owner (``cx+warehouse`` belongs to ``cx`` and to ``warehouse``).

- :func:`new_owners`: the owners with new exceptions in a window (the teams are picked from them);
- :func:`new_counts`: per exception type, how many distinct exceptions of these owners are new;
- :func:`first_examples`: the first few new exceptions of one type (entity key and summary), earliest first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from erp_wms_sync.ledger.models import ExceptionAttempt, ExceptionRecord
from erp_wms_sync.ledger.repo import OPEN

NEW_OUTCOMES = ("raised", "reopened")


def _new_in(integration: str, since: datetime, until: datetime) -> list[Any]:
    """The conditions of "new in the window and still open" (``last_seen`` narrows the exceptions first: raising
    or reopening sets it, so an exception new in the window was last seen in it or later)."""
    return [ExceptionRecord.integration == integration, ExceptionRecord.status == OPEN,
            ExceptionRecord.last_seen >= since, ExceptionAttempt.outcome.in_(NEW_OUTCOMES),
            ExceptionAttempt.at >= since, ExceptionAttempt.at < until]


def _joined(*columns: Any) -> Any:
    return select(*columns).join(ExceptionAttempt, ExceptionAttempt.exception_id == ExceptionRecord.id)


def new_owners(session: Session, integration: str, since: datetime, until: datetime) -> list[str]:
    """Every owner (as stored on the exception) with at least one new exception in the window."""
    query = _joined(ExceptionRecord.owner).where(*_new_in(integration, since, until)).distinct()
    return sorted(session.scalars(query))


def owners_of_team(owners: Iterable[str], team: str) -> list[str]:
    """The owners a team answers for: itself, and every joint owner naming it."""
    return sorted(o for o in owners if o == team or team in o.split("+"))


def new_counts(session: Session, integration: str, owners: list[str], since: datetime,
               until: datetime) -> dict[str, int]:
    """Exception type -> number of distinct new exceptions of these owners (an exception reopened twice in the
    window counts once)."""
    if not owners:
        return {}
    query = (_joined(ExceptionRecord.type, func.count(func.distinct(ExceptionRecord.id)))
             .where(*_new_in(integration, since, until), ExceptionRecord.owner.in_(owners))
             .group_by(ExceptionRecord.type))
    return {type_: int(count) for type_, count in session.execute(query)}


def first_examples(session: Session, integration: str, owners: list[str], type_: str, since: datetime,
                   until: datetime, limit: int) -> list[tuple[str, str]]:
    """(entity key, summary) of the first ``limit`` new exceptions of one type, by when they became new."""
    became_new = func.min(ExceptionAttempt.at)
    query = (_joined(ExceptionRecord.id, ExceptionRecord.entity_key, ExceptionRecord.summary)
             .where(*_new_in(integration, since, until), ExceptionRecord.owner.in_(owners),
                    ExceptionRecord.type == type_)
             .group_by(ExceptionRecord.id, ExceptionRecord.entity_key, ExceptionRecord.summary)
             .order_by(became_new, ExceptionRecord.id).limit(limit))
    return [(key, summary) for _, key, summary in session.execute(query)]
