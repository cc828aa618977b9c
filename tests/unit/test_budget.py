"""The API budget: no burst from a fresh process, the margin and padding, priorities, the vendor's refusals
(waited out by time, never by a count of attempts), and a ledger table that never holds the key.

Real processes sharing one budget against a rolling-window server: tests/unit/test_budget_processes.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from erp_wms_sync.connectors.budget import (
    BudgetRule,
    BudgetState,
    LedgerBudget,
    LocalBudget,
    Priority,
    decide,
    key_hash,
)
from erp_wms_sync.connectors.cin7core import DEFAULT_RETRY as CIN7_RETRY
from erp_wms_sync.connectors.transport import HttpTransport, RetryPolicy
from erp_wms_sync.errors import ApiUnavailable
from erp_wms_sync.ledger.db import get_engine
from erp_wms_sync.ledger.models import ApiBudget
from tests.unit.test_transport import StubSession, response

SECRET = "5e3b8c1a-9f2d-4e7a-b6c0-d1e2f3a4b5c6"
CIN7 = BudgetRule(60, 60.0)  # Cin7 Core: 60 calls per rolling minute
LIMIT_TEXT = '[{"ErrorCode":503,"Exception":"You reached 60 calls per minute API limit"}]'


class FakeTime:
    """A clock that only moves when somebody sleeps."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def most_in_any_window(stamps: list[float], window: float) -> int:
    """The largest number of ``stamps`` inside any interval of ``window`` seconds (what a rolling limit sees)."""
    stamps = sorted(stamps)
    return max((sum(1 for s in stamps[i:] if s < first + window) for i, first in enumerate(stamps)), default=0)


# ---- the rule and the sliding log ------------------------------------------------------------------------
def test_rule_keeps_a_margin_and_pads_the_window() -> None:
    assert (CIN7.cap, CIN7.window) == (58, 61.0)
    assert BudgetRule(6, 2.0, margin=2).cap == 4 and BudgetRule(1, 60.0).cap == 1
    assert BudgetRule(60, 60.0, margin=0, padding_seconds=0.0).window == 60.0
    with pytest.raises(ValueError):
        BudgetRule(0)


def test_a_fresh_process_never_bursts_past_the_limit() -> None:
    """The old token bucket started full: 60 calls in the first second, 120 within one minute."""
    fake = FakeTime()
    budget = LocalBudget("cin7core", CIN7, clock=fake.clock, sleep=fake.sleep)
    stamps = []
    for _ in range(150):
        budget.acquire("task", Priority.NORMAL)
        stamps.append(fake.now)
    assert most_in_any_window(stamps, 60.0) == 58  # the limit minus the margin, whatever the window's alignment
    assert all(s <= CIN7.heartbeat + 1e-9 for s in fake.slept)  # waits are bounded sleeps, not one long block
    assert max(stamps) - min(stamps) < 3 * CIN7.window  # and it keeps going: 150 calls in under 3 windows


def test_the_log_only_holds_the_window() -> None:
    state = BudgetState(calls=[1.0, 2.0, 50.0], waiters={"gone": [20.0, 10.0], "alive": [20.0, 500.0]})
    assert decide(state, CIN7, 100.0, "me", Priority.NORMAL) == 0.0
    assert state.calls == [50.0, 100.0] and set(state.waiters) == {"alive"}


# ---- priorities ------------------------------------------------------------------------------------------
def full_state(now: float, rule: BudgetRule) -> BudgetState:
    return BudgetState(calls=[now - 0.5] * rule.cap)


def test_a_high_waiter_gets_the_next_slot_before_a_low_one_that_waited_longer() -> None:
    rule = BudgetRule(3, 10.0, margin=0)
    state = full_state(100.0, rule)
    assert decide(state, rule, 100.0, "write-back", Priority.LOW) > 0  # waiting first
    now = 101.0
    free_at = 100.0 - 0.5 + rule.window + 0.01
    while now < free_at - rule.heartbeat:  # the HIGH waiter sleeps in heartbeats, renewing its registration
        now += decide(state, rule, now, "dispatch", Priority.HIGH)
    assert decide(state, rule, free_at, "write-back", Priority.LOW) > 0  # a HIGH waiter is alive: not yet
    assert decide(state, rule, free_at + 0.1, "dispatch", Priority.HIGH) == 0.0
    assert decide(state, rule, free_at + 0.2, "write-back", Priority.LOW) == 0.0  # then the LOW one


def test_equal_priorities_do_not_hold_each_other_back() -> None:
    rule = BudgetRule(3, 10.0, margin=0)
    state = BudgetState(calls=[99.0])
    assert decide(state, rule, 100.0, "sync", Priority.NORMAL) == 0.0
    state.waiters["release"] = [float(Priority.NORMAL), 200.0]
    assert decide(state, rule, 100.1, "sync", Priority.NORMAL) == 0.0


def test_a_dead_high_waiter_stops_holding_the_budget() -> None:
    rule = BudgetRule(3, 10.0, margin=0)
    state = BudgetState()
    state.waiters["crashed"] = [float(Priority.HIGH), 105.0]  # its process died: no heartbeat after 105
    assert decide(state, rule, 104.0, "write-back", Priority.LOW) > 0
    assert decide(state, rule, 105.5, "write-back", Priority.LOW) == 0.0


# ---- refusals: the whole budget backs off; the transport waits by time, not by attempts ---------------------
def transport(*answers: requests.Response, budget: LocalBudget | None = None,
              retry: RetryPolicy = CIN7_RETRY) -> tuple[HttpTransport, list[float]]:
    sleeps: list[float] = []
    http = HttpTransport(system="cin7core", base_url="http://api.test/", secrets=(SECRET,), retry=retry,
                         budget=budget, session=StubSession(*answers),  # type: ignore[arg-type]
                         sleep=sleeps.append, rng=lambda: 0.5)
    return http, sleeps


@pytest.mark.parametrize("refusal", [response(429), response(503, LIMIT_TEXT)], ids=["429", "cin7-503"])
def test_a_refusal_without_retry_after_waits_the_window_out_and_blocks_every_caller(
        refusal: requests.Response) -> None:
    fake = FakeTime()
    budget = LocalBudget("cin7core", CIN7, clock=fake.clock, sleep=fake.sleep)
    http, sleeps = transport(refusal, response(200, "{}"), budget=budget)
    assert http.request("GET", "sale").status_code == 200
    assert sleeps == [60.0]  # the window, not a backoff of 2-4 s that the rolling window would refuse again
    other = decide(budget.state, CIN7, fake.now + 1.0, "another-task", Priority.HIGH)
    assert other > 0  # every other caller of the key backs off too


def test_a_refusal_longer_than_the_old_give_up_does_not_fail_the_call() -> None:
    """Before: 6 attempts, about 46 s, then ApiUnavailable and a failed task."""
    http, sleeps = transport(*[response(429)] * 9, response(200, "{}"))
    assert http.request("GET", "saleList").status_code == 200
    assert sum(sleeps) == 540.0 and http.calls == 10


def test_retry_after_is_honoured_and_attempts_stay_for_real_failures() -> None:
    http, sleeps = transport(response(429, headers={"Retry-After": "7"}), *[response(429)] * 4,
                             response(500), response(200), retry=RetryPolicy(max_attempts=2))
    assert http.request("GET", "product").status_code == 200
    assert sleeps[:5] == [7.0, 60.0, 60.0, 60.0, 60.0] and len(sleeps) == 6


def test_ten_minutes_of_refusal_end_as_api_unavailable_without_secrets() -> None:
    http, sleeps = transport(*[response(429, f"limit for {SECRET}")] * 12)
    with pytest.raises(ApiUnavailable, match="refused by the rate limit for 600s") as caught:
        http.request("GET", "product")
    assert sum(sleeps) == 600.0 and caught.value.status == 429 and SECRET not in str(caught.value)


def test_a_plain_503_still_counts_as_a_failed_attempt() -> None:
    http, _ = transport(*[response(503, "maintenance")] * 2, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(ApiUnavailable, match="after 2 attempts"):
        http.request("GET", "product")


# ---- the ledger budget -----------------------------------------------------------------------------------
def test_the_budget_table_never_holds_the_key_and_stays_small(ledger_url: str) -> None:
    fake = FakeTime()
    budget = LedgerBudget(ledger_url, "cin7core", SECRET, BudgetRule(5, 60.0), clock=fake.clock,
                          sleep=fake.sleep)
    for _ in range(12):
        budget.acquire("task", Priority.NORMAL)
    budget.block("task", Priority.NORMAL, 60.0)
    with get_engine(ledger_url).connect() as conn:
        rows = conn.execute(select(ApiBudget.__table__)).all()
    assert len(rows) == 1
    assert rows[0].key_hash == key_hash("cin7core", SECRET) != hashlib.sha256(SECRET.encode()).hexdigest()
    assert len(rows[0].calls) <= 3 and SECRET not in repr(tuple(rows[0]))
    database = Path(ledger_url.removeprefix("sqlite:///"))
    for path in (database, database.with_name(database.name + "-wal")):
        assert not path.exists() or SECRET.encode() not in path.read_bytes()


def test_two_ledger_budgets_of_one_key_share_the_log(ledger_url: str) -> None:
    fake = FakeTime()
    rule = BudgetRule(4, 60.0, margin=0)
    first, second = (LedgerBudget(ledger_url, "bluecherry", SECRET, rule, clock=fake.clock, sleep=fake.sleep)
                     for _ in range(2))
    other_key = LedgerBudget(ledger_url, "bluecherry", "another-key", rule, clock=fake.clock, sleep=fake.sleep)
    for budget in (first, second, first, second):
        assert budget.acquire("t", Priority.NORMAL) == 0.0
    assert other_key.acquire("t", Priority.NORMAL) == 0.0  # another key, another budget
    assert second.acquire("t", Priority.NORMAL) == pytest.approx(rule.window)  # four calls already in the window


def test_an_unmigrated_ledger_is_a_clear_error(tmp_path: Path) -> None:
    from erp_wms_sync.errors import LedgerError

    budget = LedgerBudget(f"sqlite:///{tmp_path / 'new.db'}", "cin7core", SECRET, CIN7)
    with pytest.raises(LedgerError, match="ledger upgrade"):
        budget.acquire("t", Priority.NORMAL)
