"""One API budget per vendor key, shared by every process that uses the key.

A vendor limit such as Cin7 Core's "60 calls per rolling minute per application key" belongs to the *key*,
not to a task: Airflow task retries, parallel tasks of one DAG, other DAGs and other integrations on the same
key all spend it. :class:`LedgerBudget` keeps the budget in the ledger database so that every process sees the
same one; :class:`LocalBudget` is the fallback for plain use without a ledger (a CLI command, a test): it paces
one client only.

The model is a **sliding log**: the budget remembers when each of the last calls was made and allows a new call
only while fewer than ``cap`` calls lie inside the last ``window`` seconds. That never exceeds the vendor's
limit whatever the shape of its window (a rolling window, or fixed windows aligned anywhere), and it never
bursts: a fresh process does not start with a full bucket, it starts with the log every other process wrote.
Two safety allowances absorb what the client cannot see:

- ``margin`` calls are kept free (``cap = limit - margin``, default 2), for calls the vendor counts that the
  budget did not (a refused call, another tool using the key);
- the window is ``padding_seconds`` longer than the vendor's (default 1 s per minute of window), because a call
  is logged when it leaves and the vendor counts it when it arrives.

When the vendor refuses anyway (429, or Cin7's 503 "calls per minute API limit"), the transport calls
:meth:`block`: the budget is closed to every process until the wait it chose has passed.

**Priorities.** Each caller states a :class:`Priority`. A caller that finds no free slot registers itself in
the budget as a *waiter* (its priority and an expiry it renews at least every ``heartbeat`` seconds while it
waits). A caller may take a slot only while no live waiter of a *higher* priority exists, so a waiting
dispatch confirmation (``HIGH``) gets the next slot before a status write-back (``LOW``) that has waited
longer. A waiter whose process died stops counting once its expiry passes (a few seconds). Equal priorities
take free slots in the order they reach the budget.

Every acquire is one short write transaction on the budget's row: ``BEGIN IMMEDIATE`` on SQLite (the ledger
runs in WAL mode with a busy timeout), ``SELECT … FOR UPDATE`` of the key's row on PostgreSQL, whose own clock
is then the budget's clock so that workers on different machines agree on time. The row holds only the calls
inside the window and the live waiters, and is keyed by ``(system, SHA-256 of the key)``: never the key.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol, cast

from erp_wms_sync.errors import ApiUnavailable, LedgerError

if TYPE_CHECKING:
    from sqlalchemy import Table

log = logging.getLogger(__name__)

DEFAULT_MARGIN = 2
DEFAULT_MAX_WAIT = 3600.0
MIN_SLEEP = 0.01  # no waiter ever sleeps less: there is no busy loop


class Priority(IntEnum):
    """Who goes first when callers wait for the same budget."""

    LOW = 10  # cosmetic writes: order status write-back
    NORMAL = 20  # the day's work: order release, item master sync
    HIGH = 30  # what a customer waits for: dispatch confirmations


@dataclass(frozen=True)
class BudgetRule:
    """How much of a key's budget one client may use: ``limit`` calls per ``window_seconds``."""

    limit: int
    window_seconds: float = 60.0
    margin: int = DEFAULT_MARGIN
    padding_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_seconds <= 0 or self.margin < 0:
            raise ValueError("a budget needs limit >= 1, window_seconds > 0 and margin >= 0")

    @property
    def cap(self) -> int:
        """Calls allowed inside one window: the limit minus the safety margin (at least one)."""
        return max(1, self.limit - self.margin)

    @property
    def window(self) -> float:
        """The window the log is kept over: the vendor's plus the padding."""
        pad = self.window_seconds / 60.0 if self.padding_seconds is None else self.padding_seconds
        return self.window_seconds + pad

    @property
    def poll(self) -> float:
        """How soon a waiter looks again while higher priorities take free slots (a quarter of a call's share)."""
        return max(0.01, self.window_seconds / self.limit / 4)

    @property
    def heartbeat(self) -> float:
        """The longest sleep of a waiter: it renews its registration at least this often."""
        return max(self.poll, min(5.0, self.window_seconds / 4))

    @property
    def slack(self) -> float:
        """How long a waiter stays registered after it meant to wake up (then it counts as gone)."""
        return max(1.0, self.heartbeat)


def key_hash(system: str, api_key: str) -> str:
    """The name of a key's budget: a SHA-256 of system and key (the key itself is never stored)."""
    return hashlib.sha256(f"erp-wms-sync budget\0{system}\0{api_key}".encode()).hexdigest()


@dataclass
class BudgetState:
    """What one key's budget remembers: recent calls, live waiters and a vendor-imposed block."""

    calls: list[float] = field(default_factory=list)
    waiters: dict[str, list[float]] = field(default_factory=dict)  # caller -> [priority, expires]
    blocked_until: float = 0.0
    blocked_by: str = ""

    def prune(self, now: float, window: float) -> None:
        """Forget calls that left the window (or lie absurdly in the future) and waiters that expired."""
        self.calls = sorted(c for c in self.calls if now - window < c <= now + window)
        self.waiters = {k: v for k, v in self.waiters.items() if v[1] > now}

    def ahead_of(self, caller: str, priority: int) -> int:
        """Live waiters of a higher priority than ``priority`` (other than ``caller``)."""
        return sum(1 for k, (p, _) in self.waiters.items() if k != caller and p > priority)

    def wait(self, caller: str, priority: int, now: float, seconds: float, rule: BudgetRule) -> float:
        """Register ``caller`` as a waiter for ``seconds`` (at most a heartbeat); returns the sleep."""
        seconds = min(max(seconds, MIN_SLEEP), rule.heartbeat)
        self.waiters[caller] = [float(priority), now + seconds + rule.slack]
        return seconds


def decide(state: BudgetState, rule: BudgetRule, now: float, caller: str, priority: int) -> float:
    """Take a slot for ``caller`` (returns 0.0, the call is logged) or say how long to sleep first."""
    state.prune(now, rule.window)
    if now < state.blocked_until and state.blocked_by != caller:
        return state.wait(caller, priority, now, state.blocked_until - now, rule)
    ahead = state.ahead_of(caller, priority)
    free = rule.cap - len(state.calls)
    if ahead == 0 and free > 0:
        state.calls.append(now)
        state.waiters.pop(caller, None)
        return 0.0
    # the slot this caller may take is the (ahead + 1)-th free one: how many logged calls must leave first?
    must_leave = ahead + 1 - free
    if must_leave <= 0:
        seconds = rule.poll  # higher-priority waiters are about to take the free slots
    elif must_leave > len(state.calls):
        seconds = rule.heartbeat
    else:
        seconds = state.calls[must_leave - 1] + rule.window - now
    return state.wait(caller, priority, now, seconds, rule)


def block(state: BudgetState, rule: BudgetRule, now: float, caller: str, priority: int, seconds: float) -> None:
    """The vendor refused a call of ``caller``: close the budget to everybody else for ``seconds``.

    ``caller`` waits the block out by itself and stays registered as a waiter meanwhile, so that when the block
    ends its priority still counts.
    """
    state.prune(now, rule.window)
    until = now + seconds
    if until >= state.blocked_until:
        state.blocked_until, state.blocked_by = until, caller
    state.waiters[caller] = [float(priority), until + rule.slack]


Action = Callable[[BudgetState, float], float]


class Budget(Protocol):
    """What the transport needs of a budget."""

    rule: BudgetRule

    def acquire(self, caller: str, priority: int) -> float: ...

    def block(self, caller: str, priority: int, seconds: float) -> None: ...


class _SharedBudget(ABC):
    """The acquire loop every budget shares; subclasses run an action atomically on the key's state."""

    def __init__(self, system: str, rule: BudgetRule, *, sleep: Callable[[float], None] = time.sleep,
                 max_wait: float = DEFAULT_MAX_WAIT) -> None:
        self.system = system
        self.rule = rule
        self.max_wait = max_wait
        self._sleep = sleep

    @abstractmethod
    def _transact(self, action: Action) -> float:
        """Run ``action`` on the key's state atomically (across processes for the ledger budget)."""

    def acquire(self, caller: str, priority: int) -> float:
        """Wait for a slot (bounded sleeps, renewing this caller's registration); returns the seconds waited.

        Raises :class:`ApiUnavailable` after ``max_wait`` seconds without a slot.
        """
        waited = 0.0
        granted = False
        try:
            for _ in range(math.ceil(self.max_wait / MIN_SLEEP) + 1):
                wait = self._transact(lambda s, now: decide(s, self.rule, now, caller, priority))
                if wait <= 0.0:
                    granted = True
                    return waited
                if waited + wait > self.max_wait:
                    break
                self._sleep(wait)
                waited += wait
        finally:
            if not granted:
                self._leave(caller)
        raise ApiUnavailable(self.system, f"no slot in the API budget after waiting {waited:.0f}s "
                                          f"({self.rule.cap} calls per {self.rule.window_seconds:g}s)")

    def block(self, caller: str, priority: int, seconds: float) -> None:
        """Close the budget to every other caller for ``seconds`` (the vendor refused a call)."""
        def close(state: BudgetState, now: float) -> float:
            block(state, self.rule, now, caller, priority, seconds)
            return 0.0

        self._transact(close)

    def _leave(self, caller: str) -> None:
        """Drop ``caller``'s registration (best effort: it expires by itself anyway)."""
        try:
            self._transact(lambda s, _now: float(s.waiters.pop(caller, None) is not None))
        except (LedgerError, ApiUnavailable) as exc:
            log.warning("%s: could not leave the API budget (the registration expires by itself): %s",
                        self.system, exc)


class LocalBudget(_SharedBudget):
    """A budget kept in memory, shared by the threads of one client only: for plain use without a ledger
    (a CLI command, a test). Processes and clients that must share a key's limit use :class:`LedgerBudget`."""

    def __init__(self, system: str, rule: BudgetRule, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, max_wait: float = DEFAULT_MAX_WAIT) -> None:
        super().__init__(system, rule, sleep=sleep, max_wait=max_wait)
        self.state = BudgetState()
        self._clock = clock
        self._lock = threading.Lock()

    def _transact(self, action: Action) -> float:
        with self._lock:
            return action(self.state, self._clock())


class LedgerBudget(_SharedBudget):
    """The budget of one key in the ledger database: shared by every process that reaches that ledger."""

    def __init__(self, url: str, system: str, api_key: str, rule: BudgetRule, *,
                 clock: Callable[[], float] | None = None, sleep: Callable[[float], None] = time.sleep,
                 max_wait: float = DEFAULT_MAX_WAIT) -> None:
        super().__init__(system, rule, sleep=sleep, max_wait=max_wait)
        self.url = url
        self.key_hash = key_hash(system, api_key)
        self._clock = clock

    def _transact(self, action: Action) -> float:
        from sqlalchemy.exc import DBAPIError

        from erp_wms_sync.ledger.db import get_engine, safe_url

        engine = get_engine(self.url)
        try:
            if engine.dialect.name == "sqlite":
                return self._sqlite_transaction(engine, action)
            with engine.begin() as conn:
                return self._apply(conn, action, lock_row=True)
        except DBAPIError as exc:
            raise LedgerError(f"API budget in ledger {safe_url(self.url)} failed: {exc.orig} "
                              "(is it migrated? run `erp-wms-sync ledger upgrade`)") from None

    def _sqlite_transaction(self, engine: Any, action: Action) -> float:
        """``BEGIN IMMEDIATE``: the write lock is taken first, so two processes never decide on the same log."""
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")  # the driver must not open its own BEGIN
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                result = self._apply(conn, action, lock_row=False)
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")
            return result

    def _apply(self, conn: Any, action: Action, *, lock_row: bool) -> float:
        from sqlalchemy import select, text

        from erp_wms_sync.ledger.models import utcnow

        table = _budget_table()
        where = (table.c.system == self.system) & (table.c.key_hash == self.key_hash)
        query = select(table.c.calls, table.c.waiters, table.c.blocked_until, table.c.blocked_by).where(where)
        if lock_row:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            self._create_row(conn)
            row = conn.execute(query).first()
        state = BudgetState(calls=[float(c) for c in row.calls or []],
                            waiters={str(k): [float(p), float(e)] for k, (p, e) in (row.waiters or {}).items()},
                            blocked_until=float(row.blocked_until or 0.0), blocked_by=row.blocked_by or "")
        if self._clock is not None:
            now = self._clock()
        elif conn.dialect.name == "postgresql":
            now = float(conn.execute(text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")).scalar_one())
        else:
            now = time.time()
        result = action(state, now)
        conn.execute(table.update().where(where).values(
            calls=[round(c, 3) for c in state.calls], waiters=state.waiters, blocked_until=state.blocked_until,
            blocked_by=state.blocked_by or None, updated_at=utcnow()))
        return result

    def _create_row(self, conn: Any) -> None:
        from erp_wms_sync.ledger.models import utcnow

        values = {"system": self.system, "key_hash": self.key_hash, "calls": [], "waiters": {},
                  "blocked_until": 0.0, "updated_at": utcnow()}
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(_budget_table()).values(**values).on_conflict_do_nothing())
        else:  # SQLite: the write lock is already held, nobody can insert meanwhile
            conn.execute(_budget_table().insert().values(**values))


def _budget_table() -> Table:
    from erp_wms_sync.ledger.models import ApiBudget

    return cast("Table", ApiBudget.__table__)


def make_budget(system: str, api_key: str, rule: BudgetRule, *, ledger_url: str | None = None) -> Budget:
    """The ledger budget of ``api_key`` when a ledger URL is given, else a budget of the client's own."""
    if ledger_url:
        return LedgerBudget(ledger_url, system, api_key, rule)
    return LocalBudget(system, rule)
