"""Typed records handed from one order_release task to the next, and the verdicts each step gives them.

Each staged record is one dataclass; it is stored in the ledger's ``staged_records`` with a type tag (``kind``)
and read back as the same dataclass, so no step passes loose dicts around:

- :class:`StagedRelease` — an order to validate and send (new, or held/waiting and re-validated);
- :class:`StagedAmend` — a released order that changed in the ERP (for :mod:`erp_wms_sync.flows.order_amendments`);
- :class:`StagedCancel` — a released order cancelled in the ERP (or left with no open line);
- :class:`StagedDrop` — an order not yet released that no longer needs releasing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from erp_wms_sync.domain.orders import ErpOrder, order_from_dict, order_to_dict
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.models import StagedRecord


class Verdict(StrEnum):
    """Where a staged record stands in this run (``staged_records.verdict``)."""

    PENDING = "pending"  # fetched, not validated yet
    VALID = "valid"  # passed the data check: to send (or to amend)
    INVALID = "invalid"  # held by the data check
    WAITING = "waiting"  # hold window, or waiting for item master sync
    RELEASED = "released"  # Peoplevox holds the header and every line (verified)
    REJECTED = "rejected"  # Peoplevox refused the header
    INCOMPLETE = "incomplete"  # the header is there, some lines are not (held, completed next run)
    DONE = "done"  # nothing more to do in this run (drops, amendments)
    NOTED = "noted"  # the status was written back to the ERP (or skipped by the write_back setting)
    SKIPPED = "skipped"  # the ERP refused the write-back for this one order (e.g. voided meanwhile)


@dataclass(frozen=True)
class StagedRelease:
    order: ErpOrder
    stamp: str = ""
    header: dict[str, str] | None = None
    items: list[dict[str, str]] = field(default_factory=list)
    kind: str = "release"


@dataclass(frozen=True)
class StagedAmend:
    order: ErpOrder
    stamp: str = ""
    header: dict[str, str] | None = None
    items: list[dict[str, str]] = field(default_factory=list)
    kind: str = "amend"


@dataclass(frozen=True)
class StagedCancel:
    number: str
    stamp: str = ""
    order: ErpOrder | None = None
    kind: str = "cancel"


@dataclass(frozen=True)
class StagedDrop:
    number: str
    reason: str
    stamp: str = ""
    kind: str = "drop"


Staged = StagedRelease | StagedAmend | StagedCancel | StagedDrop


@dataclass(frozen=True)
class Row:
    """A staged record with its ledger row id and verdict."""

    id: int
    erp_id: str
    verdict: Verdict
    record: Staged


def dump(record: Staged) -> dict[str, Any]:
    """The JSON form, tagged with ``kind``."""
    data: dict[str, Any] = {"kind": record.kind, "stamp": record.stamp}
    if isinstance(record, StagedRelease | StagedAmend):
        data.update(order=order_to_dict(record.order), header=record.header, items=record.items)
    elif isinstance(record, StagedCancel):
        data.update(number=record.number, order=order_to_dict(record.order) if record.order else None)
    else:
        data.update(number=record.number, reason=record.reason)
    return data


def load(data: Mapping[str, Any]) -> Staged:
    """Back from the JSON form; an unknown tag is a programming error (``ValueError``)."""
    kind, stamp = data.get("kind"), str(data.get("stamp") or "")
    if kind in ("release", "amend"):
        cls = StagedRelease if kind == "release" else StagedAmend
        return cls(order_from_dict(data["order"]), stamp, data.get("header"), list(data.get("items") or []))
    if kind == "cancel":
        order = data.get("order")
        return StagedCancel(str(data["number"]), stamp, order_from_dict(order) if order else None)
    if kind == "drop":
        return StagedDrop(str(data["number"]), str(data.get("reason") or ""), stamp)
    raise ValueError(f"unknown staged record kind {kind!r}")


class Stage:
    """This run's staged records of one flow (a thin view over :mod:`erp_wms_sync.ledger.repo`)."""

    def __init__(self, integration: str, flow: str, run_key: str) -> None:
        self.integration, self.flow, self.run_key = integration, flow, run_key

    def add(self, session: Session, records: Iterable[tuple[str, Staged]]) -> int:
        return repo.stage_records(session, integration=self.integration, flow=self.flow, run_key=self.run_key,
                                  records=((key, dump(record)) for key, record in records))

    def rows(self, session: Session, *verdicts: Verdict) -> list[Row]:
        found = repo.staged_records(session, integration=self.integration, flow=self.flow, run_key=self.run_key,
                                    verdicts=verdicts or None)
        return [self._row(r) for r in found]

    def stamps(self, session: Session) -> dict[str, str]:
        """ERP id → stamp of every record already staged in this run (a retried fetch skips them)."""
        found = repo.staged_records(session, integration=self.integration, flow=self.flow, run_key=self.run_key)
        return {r.entity_key: str((r.data or {}).get("stamp") or "") for r in found}

    def set(self, session: Session, ids: Iterable[int], verdict: Verdict) -> None:
        repo.set_verdicts(session, ids, verdict)

    def replace(self, session: Session, records: dict[int, Staged]) -> None:
        """Store new contents for these rows (by row id), in one statement."""
        repo.update_staged_data(session, {row_id: dump(record) for row_id, record in records.items()})

    @staticmethod
    def _row(raw: StagedRecord) -> Row:
        return Row(raw.id, raw.entity_key, Verdict(raw.verdict), load(raw.data))
