"""The ledger: the integration's own database (separate from Airflow's metadata DB).

It records what every flow did so that nothing is lost and nothing is done twice:

- ``cursors``: per integration × flow watermark (last window synced);
- ``messages``: one row per write to a target system, keyed by an idempotency key, with the payload archived;
- ``catalogue_items``: the last known content hash of each ERP item (unchanged items are skipped; the set of
  ERP SKUs tells which WMS items the ERP does not know);
- ``order_records``: each ERP order, its WMS order, version and state (exactly-once release, amendments,
  cut-off);
- ``stock_queue`` + ``stock_positions`` + ``stock_adjustments``: WMS stock movements in Peoplevox History Id
  order, the last position set in the ERP per SKU × site, and the journal of stock adjustments posted;
- ``webhook_inbox``: callbacks stored durably before anything acts on them; ``security_events``: refused ones;
- ``subscriptions``: the callback subscriptions made in the vendor systems;
- ``despatches``: each WMS despatch and its ERP confirmation (exactly once, with its latency);
- ``exceptions`` + ``exception_attempts``: every record that could not be processed, with owner, payload,
  retry schedule and a fingerprint so the same problem is one row;
- ``check_results``: Great Expectations results per run, for the dashboard;
- ``reconciliation_runs`` + ``reconciliation_variances`` + ``reconciliation_proposals``: nightly comparisons,
  their variance history and the stock adjustments they propose.

Timestamps are stored as naive UTC (portable across SQLite and Postgres); :func:`utcnow` gives that form.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


Base.metadata.naming_convention = NAMING


class Cursor(Base):
    __tablename__ = "cursors"
    integration: Mapped[str] = mapped_column(String(64), primary_key=True)
    flow: Mapped[str] = mapped_column(String(64), primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column(DateTime)
    run_id: Mapped[str | None] = mapped_column(String(250))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Message(Base):
    """One write to a target system. ``idempotency_key`` is unique: a retried write finds its earlier row."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64), index=True)
    flow: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(16))  # erp_to_wms | wms_to_erp
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_key: Mapped[str] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | confirmed | failed
    payload: Mapped[dict | None] = mapped_column(JSON)
    response: Mapped[dict | None] = mapped_column(JSON)
    target_ref: Mapped[str | None] = mapped_column(String(128))
    run_id: Mapped[str | None] = mapped_column(String(250))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (Index("ix_messages_entity", "integration", "entity_type", "entity_key"),)


class CatalogueItem(Base):
    __tablename__ = "catalogue_items"
    integration: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(String(128), primary_key=True)
    content_hash: Mapped[str | None] = mapped_column(String(64))  # hash last written to the WMS
    erp_status: Mapped[str] = mapped_column(String(32), default="active")
    erp_modified_at: Mapped[datetime | None] = mapped_column(DateTime)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime)
    seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class OrderRecord(Base):
    """One ERP order as the integration knows it: where it stands and what was last sent to the WMS.

    ``state``: ``waiting`` (inside the hold window), ``held`` (open exceptions say why), ``released``,
    ``cancelled`` (cancelled in the WMS), ``blocked`` (a change arrived after the cut-off), ``ignored`` (cancelled in
    the ERP before release). ``erp_updated`` is the ERP's own last-modified stamp: an order whose stamp did not move
    is not fetched again. ``wms_order_number`` changes when an order is re-issued under a suffixed number.
    """

    __tablename__ = "order_records"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    erp_order_id: Mapped[str] = mapped_column(String(128))
    erp_order_number: Mapped[str] = mapped_column(String(64))
    erp_status: Mapped[str | None] = mapped_column(String(32))
    erp_updated: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16))
    wms_order_number: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict | None] = mapped_column(JSON)
    wms_status: Mapped[str | None] = mapped_column(String(32))
    first_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (
        UniqueConstraint("integration", "erp_order_id", name="uq_order_records_order"),
        Index("ix_order_records_state", "integration", "state"),
        Index("ix_order_records_wms", "integration", "wms_order_number"),
        Index("ix_order_records_number", "integration", "erp_order_number"),
    )


class WebhookInbox(Base):
    """A callback stored durably before anything acts on it (see :mod:`erp_wms_sync.webhooks`).

    ``source`` is ``peoplevox`` or ``cin7core``; ``body`` the raw payload as received (query string of a GET
    callback, form or JSON body of a POST) with any secret removed; ``dedupe_key`` a digest of the event's
    identifying fields, unique per integration (a repeated callback is answered 2xx and not stored twice).
    ``status``: ``received`` → ``processed`` (its despatch is in the ledger) | ``waiting`` (not yet in the
    WMS's report; tried again by the next run) | ``failed`` (unreadable; an exception holds it).
    ``asset_event_id`` is set by the background writer once the Airflow asset event is emitted (``-1`` when no
    event is needed). The dispatch DAG treats events only as a wake-up and drains this table by state.
    """

    __tablename__ = "webhook_inbox"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="received")
    asset_event_id: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime)
    entity_key: Mapped[str | None] = mapped_column(String(128))  # the despatch / sale the callback is about
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    emit_attempts: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (
        Index("ix_webhook_inbox_pending", "integration", "status"),
        Index("ix_webhook_inbox_emit", "asset_event_id"),
        UniqueConstraint("integration", "dedupe_key", name="uq_webhook_inbox_dedupe"),
    )


class SecurityEvent(Base):
    """A refused callback: who knocked, where and why; never its body, headers or query string."""

    __tablename__ = "security_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(500))
    status_code: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))  # path only, no query string
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (Index("ix_security_events_at", "integration", "at"),)


class Subscription(Base):
    """A callback subscription made in a vendor system (Peoplevox has no list operation: its ids live here).

    ``url`` is the callback address with its secret replaced by ``***``.
    """

    __tablename__ = "subscriptions"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    system: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(1000))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime)
    note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        UniqueConstraint("integration", "system", "event_type", name="uq_subscriptions_event"),
    )


class DespatchRecord(Base):
    """One Peoplevox despatch and its confirmation in the ERP: exactly once per despatch number.

    ``state``: ``new`` (seen, not checked yet) → ``confirming`` (ERP writes under way; ``step`` says how far) →
    ``confirmed`` | ``held`` (open exceptions say why; retried) | ``batched`` (BlueCherry: waiting for the next
    batch post) | ``ignored`` (resolved by hand). ``lines`` is ``[{"item_code", "sku", "quantity"}]``,
    ``packages`` ``{package: tracking}``; ``erp_tracking`` what the ERP holds. Latency:
    ``despatched_at`` (WMS), ``callback_at`` (first callback received), ``seen_at`` (first seen by a run),
    ``confirmed_at`` (the ERP holds it). All naive UTC.
    """

    __tablename__ = "despatches"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    despatch_number: Mapped[str] = mapped_column(String(64))
    wms_order_number: Mapped[str] = mapped_column(String(64))
    erp_order_id: Mapped[str | None] = mapped_column(String(128))
    erp_order_number: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="new")
    step: Mapped[str | None] = mapped_column(String(32))
    erp_ref: Mapped[str | None] = mapped_column(String(128))  # Cin7 fulfilment TaskID / BlueCherry shipment number
    carrier: Mapped[str | None] = mapped_column(String(128))
    service: Mapped[str | None] = mapped_column(String(128))
    lines: Mapped[list | None] = mapped_column(JSON)
    packages: Mapped[dict | None] = mapped_column(JSON)
    erp_tracking: Mapped[dict | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16), default="poll")  # callback | poll
    despatched_at: Mapped[datetime | None] = mapped_column(DateTime)
    callback_at: Mapped[datetime | None] = mapped_column(DateTime)
    seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (
        UniqueConstraint("integration", "despatch_number", name="uq_despatches_number"),
        Index("ix_despatches_state", "integration", "state"),
        Index("ix_despatches_order", "integration", "wms_order_number"),
        Index("ix_despatches_erp_order", "integration", "erp_order_id"),
    )


class ExceptionRecord(Base):
    """A record that could not be processed. One row per (integration, fingerprint)."""

    __tablename__ = "exceptions"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    flow: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved | ignored
    fingerprint: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_key: Mapped[str] = mapped_column(String(128))
    summary: Mapped[str] = mapped_column(String(500))
    detail: Mapped[dict | None] = mapped_column(JSON)
    payload: Mapped[dict | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    next_retry_at: Mapped[datetime | None] = mapped_column(DateTime)
    first_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(250))
    # set by exception housekeeping after the last retry failed: still open, no longer retried, escalated once
    parked_at: Mapped[datetime | None] = mapped_column(DateTime)
    history: Mapped[list[ExceptionAttempt]] = relationship(
        back_populates="exception", cascade="all, delete-orphan", order_by="ExceptionAttempt.id"
    )
    __table_args__ = (
        UniqueConstraint("integration", "fingerprint", name="uq_exceptions_fingerprint"),
        Index("ix_exceptions_open", "integration", "status", "type"),
        Index("ix_exceptions_retry", "status", "next_retry_at"),
        Index("ix_exceptions_owner", "status", "owner"),
        Index("ix_exceptions_seen", "status", "first_seen"),
        Index("ix_exceptions_entity", "integration", "entity_key"),
    )


class ExceptionAttempt(Base):
    __tablename__ = "exception_attempts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    exception_id: Mapped[int] = mapped_column(ForeignKey("exceptions.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))  # raised | seen_again | retried | parked | resolved | reopened
    message: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(250))
    exception: Mapped[ExceptionRecord] = relationship(back_populates="history")


class CheckResult(Base):
    __tablename__ = "check_results"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    flow: Mapped[str] = mapped_column(String(64))
    suite: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str | None] = mapped_column(String(250))
    success: Mapped[bool] = mapped_column(Boolean)
    evaluated: Mapped[int] = mapped_column(Integer)
    failed_records: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (Index("ix_check_results_run", "integration", "flow", "created_at"),)


class DashboardAction(Base):
    """What a person did in the dashboard (or its API): who, when, on what, with which outcome. Never deleted."""

    __tablename__ = "dashboard_actions"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    user: Mapped[str] = mapped_column(String(128))
    integration: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))  # retry | resolve | edit_retry | approve | reject | ...
    target_type: Mapped[str] = mapped_column(String(32))  # exception | proposal | order
    target_id: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(500), default="")
    detail: Mapped[dict | None] = mapped_column(JSON)
    __table_args__ = (Index("ix_dashboard_actions_at", "at"),
                      Index("ix_dashboard_actions_target", "target_type", "target_id"))


class ReconciliationRun(Base):
    """One reconciliation of an integration (a nightly run, or an on-demand audit with ``run_id`` None): its business
    date (the data interval's end in the integration's time zone), ``status`` (``running`` → ``compared`` |
    ``failed``), the totals (``summary``) and the report folder."""

    __tablename__ = "reconciliation_runs"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(250))
    business_date: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(16))
    summary: Mapped[dict | None] = mapped_column(JSON)
    report_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (Index("ix_reconciliation_runs_date", "integration", "business_date"),
                      Index("ix_reconciliation_runs_run", "integration", "run_id"))


class ReconciliationVariance(Base):
    """One non-zero difference of a run: ``kind`` ``stock`` (``sku`` × ``location``, ``variance`` = ERP on-hand less
    what the ERP should hold, ``breach`` beyond tolerance) or a finding's section; the history trends are read from."""

    __tablename__ = "reconciliation_variances"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    erp_value: Mapped[float | None] = mapped_column(Float)
    wms_value: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict | None] = mapped_column(JSON)
    proposed_action: Mapped[dict | None] = mapped_column(JSON)
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
    sku: Mapped[str | None] = mapped_column(String(128))
    location: Mapped[str | None] = mapped_column(String(128))
    variance: Mapped[int | None] = mapped_column(Integer)
    breach: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (Index("ix_reconciliation_variances_pair", "sku", "location"),)


class ReconciliationProposal(Base):
    """A proposed stock adjustment setting the ERP figure of ``sku`` × ``location`` to ``set_to`` (what Peoplevox
    counts, less what is still in flight), as the run saw it (``erp_on_hand``).

    ``state``: ``pending`` → ``approved`` (by ``decided_by``) → ``applied`` (``adjustment_ref`` is the journalled
    ERP adjustment) | ``failed`` (``error`` says why; may be approved again) | ``rejected``; ``superseded`` when a
    later run proposed for the same pair."""

    __tablename__ = "reconciliation_proposals"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    run_pk: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id", ondelete="CASCADE"), index=True)
    business_date: Mapped[str] = mapped_column(String(10))
    sku: Mapped[str] = mapped_column(String(128))
    location: Mapped[str] = mapped_column(String(128))
    erp_on_hand: Mapped[int] = mapped_column(Integer)
    set_to: Mapped[int] = mapped_column(Integer)
    change: Mapped[int] = mapped_column(Integer)
    variance: Mapped[int] = mapped_column(Integer)
    breach: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    note: Mapped[str | None] = mapped_column(Text)
    adjustment_ref: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (
        UniqueConstraint("integration", "run_pk", "sku", "location", name="uq_reconciliation_proposals_pair"),
        Index("ix_reconciliation_proposals_state", "integration", "state"),
    )


class StagedRecord(Base):
    """Records handed from one task of a run to the next (works across Celery workers, unlike local files).

    Rows of a run are deleted when the run finishes; exception_housekeeping purges those of abandoned runs.
    """

    __tablename__ = "staged_records"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    flow: Mapped[str] = mapped_column(String(64))
    run_key: Mapped[str] = mapped_column(String(250))
    entity_key: Mapped[str] = mapped_column(String(128))
    data: Mapped[dict] = mapped_column(JSON)
    verdict: Mapped[str] = mapped_column(String(16), default="pending")  # pending | valid | invalid | written
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (Index("ix_staged_records_run", "integration", "flow", "run_key", "verdict"),)


class FlowLease(Base):
    """Who is writing for one flow of one integration right now (see :mod:`erp_wms_sync.ledger.leases`).

    ``holder`` names the task (``<run id>/<task id>``) or the dashboard action; ``expires_at`` (naive UTC) is
    pushed forward while the holder lives, so a crashed holder's lease lapses on its own."""

    __tablename__ = "flow_leases"
    integration: Mapped[str] = mapped_column(String(64), primary_key=True)
    flow: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(250))
    acquired_at: Mapped[datetime | None] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)


class ApiBudget(Base):
    """One vendor API key's call budget, shared by every process (see :mod:`erp_wms_sync.connectors.budget`).

    Keyed by the system and a SHA-256 of the key, never the key. ``calls`` holds only the call times (epoch
    seconds) inside the window, ``waiters`` the callers waiting for a slot (``{caller: [priority, expires]}``),
    ``blocked_until`` the end of a wait the vendor imposed (a 429); the row stays small.
    """

    __tablename__ = "api_budgets"
    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    calls: Mapped[list[float]] = mapped_column(JSON, default=list)
    waiters: Mapped[dict[str, list[float]]] = mapped_column(JSON, default=dict)
    blocked_until: Mapped[float] = mapped_column(Float, default=0.0)
    blocked_by: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class StockMovementRecord(Base):
    """One Peoplevox stock movement (a row of its movement report): exactly once per integration × History Id.

    ``quantity`` is the quantity as Peoplevox wrote it (> 0); ``counted_delta`` the change this movement makes to
    the on-hand the ERP counts (+, - or 0: a move between two counted locations changes nothing). ``kind``:
    ``stock`` (booked in the ERP by inventory sync) | ``despatch`` (booked in the ERP by the dispatch
    confirmation of ``sales_order``). ``state``: ``queued`` → ``applied`` (reflected in the ERP; ``adjustment_ref``
    names the adjustment) | ``waiting`` (a despatch movement waiting for its dispatch confirmation) | ``opening``
    (already included in the opening balance of its position) | ``stale`` (older than its position's
    ``last_history_id``: nothing to do) | ``held`` (an open exception says why). Movements of one item × site are
    applied strictly in ``history_id`` order. ``payload`` is the report row as received.
    """

    __tablename__ = "stock_queue"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    history_id: Mapped[int] = mapped_column(BigInteger)
    item_code: Mapped[str] = mapped_column(String(128))
    site: Mapped[str] = mapped_column(String(64))
    from_location: Mapped[str] = mapped_column(String(128))
    to_location: Mapped[str] = mapped_column(String(128))
    quantity: Mapped[int] = mapped_column(Integer)
    counted_delta: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # stock | despatch
    sales_order: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(128), default="")
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    adjustment_ref: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict | None] = mapped_column(JSON)
    seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (
        UniqueConstraint("integration", "history_id", name="uq_stock_queue_history"),
        Index("ix_stock_queue_state", "integration", "state"),
        Index("ix_stock_queue_item", "integration", "item_code", "site"),
    )


class StockPosition(Base):
    """What the ERP holds for one item × site, as last set by inventory sync.

    ``last_history_id`` is the newest movement reflected in the ERP and ``wms_counted`` the on-hand Peoplevox
    counts for the ERP as of that movement. ``erp_sku`` / ``erp_location`` say where the ERP books it;
    ``erp_quantity`` is the absolute quantity last set there (``None`` until the first adjustment) and
    ``adjustment_ref`` the adjustment that set it. ``opened_at`` is when the position was first taken.
    """

    __tablename__ = "stock_positions"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    item_code: Mapped[str] = mapped_column(String(128))
    site: Mapped[str] = mapped_column(String(64))
    last_history_id: Mapped[int] = mapped_column(BigInteger)
    wms_counted: Mapped[int] = mapped_column(Integer)
    erp_sku: Mapped[str] = mapped_column(String(128))
    erp_location: Mapped[str] = mapped_column(String(128))
    erp_quantity: Mapped[int | None] = mapped_column(Integer)
    adjustment_ref: Mapped[str | None] = mapped_column(String(128))
    opened_history_id: Mapped[int | None] = mapped_column(BigInteger)  # the opening snapshot holds movements <= it
    posted_at: Mapped[datetime | None] = mapped_column(DateTime)  # when erp_quantity was last set in the ERP
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (UniqueConstraint("integration", "item_code", "site", name="uq_stock_positions_pair"),)


class StockAdjustmentRecord(Base):
    """One stock adjustment posted to the ERP, journalled BEFORE it is posted so that a crash loses nothing.

    ``state``: ``posting`` (written, the POST may or may not have reached the ERP: the next run looks it up by
    ``reference`` before posting anything else) → ``posted`` (``erp_task_id`` is the ERP's id) | ``failed``
    (``error`` says why; retried). ``lines`` is ``[{"item_code", "site", "sku", "location", "quantity",
    "through_history_id", "history_ids"}]``: the absolute quantity set per item × site and the movements it
    reflects.
    """

    __tablename__ = "stock_adjustments"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="posting")
    lines: Mapped[list[dict]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    erp_task_id: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    posted_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (
        UniqueConstraint("integration", "reference", name="uq_stock_adjustments_reference"),
        Index("ix_stock_adjustments_state", "integration", "state"),
    )


class ReturnRecord(Base):
    """One returned line (a Peoplevox return code × item code): its stock-in and its credit in the ERP, exactly once.

    ``sellable`` is the verdict on its condition (sellable goods go back on a counted shelf; the rest to
    quarantine). ``state``: ``new`` (seen, not looked at yet) → ``waiting`` (Cin7: sellable, its stock-in not yet
    applied by inventory sync) → ``restocked`` (Cin7: the stock-in is in Cin7; ``history_ids`` name the movements)
    | ``ready`` (Cin7: a damaged line to credit without stock-in) → ``credited`` (``erp_ref`` = the Cin7 credit
    note number) | ``received`` (BlueCherry: ``erp_ref`` = the receipt
    reference booked against ``ra_number``) | ``closed`` (nothing more to do here: a damaged line left to finance)
    | ``held`` (an open exception says why; looked at again every run). ``erp_order_id`` is the ERP sale / order.
    Times are naive UTC: ``returned_at`` from Peoplevox, ``seen_at`` first seen, ``done_at`` credited / received.
    """

    __tablename__ = "returns"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    return_code: Mapped[str] = mapped_column(String(64))
    item_code: Mapped[str] = mapped_column(String(128))
    sales_order: Mapped[str] = mapped_column(String(64), default="")
    quantity: Mapped[int] = mapped_column(Integer)
    condition: Mapped[str] = mapped_column(String(64), default="")
    sellable: Mapped[bool] = mapped_column(Boolean)
    site: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(String(128), default="")
    returned_at: Mapped[datetime | None] = mapped_column(DateTime)
    state: Mapped[str] = mapped_column(String(16), default="new")
    erp_order_id: Mapped[str | None] = mapped_column(String(128))
    ra_number: Mapped[str | None] = mapped_column(String(64))
    history_ids: Mapped[list | None] = mapped_column(JSON)
    erp_ref: Mapped[str | None] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16), default="poll")  # callback | poll
    seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (
        UniqueConstraint("integration", "return_code", "item_code", name="uq_returns_line"),
        Index("ix_returns_state", "integration", "state"),
        Index("ix_returns_order", "integration", "sales_order"),
        Index("ix_returns_erp_order", "integration", "erp_order_id"),
    )


class ReturnAuthorisationRecord(Base):
    """A return authorisation (RA) of the ERP announced to Peoplevox as an expected inbound return, exactly once.

    ``state``: ``announced`` (Peoplevox holds its "Return authorisations" rows) | ``held`` (an open exception says
    why; tried again every run) | ``done`` (the ERP says it is received in full). ``lines`` is ``[{"sku",
    "item_code", "quantity"}]`` as announced; ``wms_order_number`` the order Peoplevox knows it under.
    """

    __tablename__ = "return_authorisations"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    ra_number: Mapped[str] = mapped_column(String(64))
    erp_order_number: Mapped[str] = mapped_column(String(64))
    wms_order_number: Mapped[str | None] = mapped_column(String(64))
    site: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="held")
    lines: Mapped[list | None] = mapped_column(JSON)
    announced_at: Mapped[datetime | None] = mapped_column(DateTime)
    seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (
        UniqueConstraint("integration", "ra_number", name="uq_return_authorisations_ra"),
        Index("ix_return_authorisations_order", "integration", "wms_order_number"),
    )
