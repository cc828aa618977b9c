"""The API budget across real processes: several processes on one key against a rolling-window server get no
429 and all finish (SQLite and PostgreSQL ledgers); a waiting HIGH caller in one process goes before a LOW
one in another that waited longer; a 429 without ``Retry-After`` from a real server is waited out.

The windows are scaled down (a few calls per few seconds) so that the tests take seconds, not minutes.
"""

from __future__ import annotations

import json
import os
import select as io_select
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from erp_wms_sync.connectors.budget import BudgetRule, LedgerBudget, LocalBudget, Priority
from erp_wms_sync.connectors.transport import HttpTransport, RetryPolicy
from erp_wms_sync.ledger.db import get_engine, upgrade
from erp_wms_sync.ledger.models import ApiBudget
from tests.postgres import throwaway_postgres

ROOT = Path(__file__).resolve().parents[2]
KEY = "0f1e2d3c-4b5a-6978-8a9b-acbdcedfe0f1"
LIMIT, WINDOW = 6, 2.0  # the stub vendor: 6 calls per rolling 2 s


class RollingWindow:
    """The vendor's side: at most ``limit`` calls in any ``window`` seconds; refused calls answer 429."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.recent: deque[float] = deque()
        self.served: list[float] = []
        self.refused = 0
        self.lock = threading.Lock()

    def hit(self) -> bool:
        now = time.monotonic()
        with self.lock:
            while self.recent and self.recent[0] <= now - self.window:
                self.recent.popleft()
            if len(self.recent) >= self.limit:
                self.refused += 1
                return False
            self.recent.append(now)
            self.served.append(now)
            return True


@pytest.fixture
def vendor() -> Iterator[tuple[str, RollingWindow]]:
    limiter = RollingWindow(LIMIT, WINDOW)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = limiter.hit()
            body = b'{"ok": true}' if ok else b'{"error": "rate limit"}'
            self.send_response(200 if ok else 429)  # no Retry-After, like Cin7 Core
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", limiter
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def worker_main(argv: list[str]) -> None:
    """One process using the key: ``calls`` HTTP calls (mode ``http``) or one bare acquire (mode ``acquire``)."""
    job = json.loads(argv[0])
    rule = BudgetRule(job["limit"], job["window"], margin=job.get("margin", 2))
    oversleep = float(job.get("oversleep", 0.0))
    budget = LedgerBudget(job["ledger"], "stub", KEY, rule, sleep=lambda s: time.sleep(s + oversleep))
    if job["mode"] == "acquire":
        print("ready", flush=True)  # imports done: the test says when to start
        sys.stdin.readline()
        budget.acquire(job["name"], job["priority"])
        print(json.dumps({"granted": time.time()}), flush=True)
        return
    http = HttpTransport(system="stub", base_url=job["server"], budget=budget, priority=Priority(job["priority"]),
                         retry=RetryPolicy(rate_limit_window=job["window"]), timeout=(2.0, 5.0))
    statuses = [http.request("GET", f"/item/{i}").status_code for i in range(job["calls"])]
    print(json.dumps({"statuses": statuses}), flush=True)


def start(job: dict[str, Any]) -> subprocess.Popen[str]:
    code = "import sys; from tests.unit.test_budget_processes import worker_main; worker_main(sys.argv[1:])"
    return subprocess.Popen([sys.executable, "-c", code, json.dumps(job)], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=os.environ.copy())


def when_ready(process: subprocess.Popen[str], timeout: float = 60.0) -> subprocess.Popen[str]:
    """Wait (bounded) until a worker has done its imports and waits for the word to go."""
    assert process.stdout is not None
    readable, _, _ = io_select.select([process.stdout], [], [], timeout)
    assert readable and process.stdout.readline().strip() == "ready", "the worker did not start"
    return process


def go(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()


def finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=90)  # closes stdin too
    assert process.returncode == 0, err[-3000:]
    return dict(json.loads(out.strip().splitlines()[-1]))


def most_in_any_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    return max((sum(1 for s in stamps[i:] if s < first + window) for i, first in enumerate(stamps)), default=0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated ledger every worker process reaches: a SQLite file, or a throw-away PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        upgrade(url)
        yield url
        return
    with throwaway_postgres("budget", skip_reason=": the budget is checked on SQLite only") as port:
        url = f"postgresql+psycopg2://budget@127.0.0.1:{port}/postgres"
        upgrade(url)
        yield url


def test_processes_sharing_a_key_get_no_429_and_all_finish(vendor: tuple[str, RollingWindow],
                                                          shared_ledger: str) -> None:
    """Before: each process paced itself alone (a full bucket each), so three of them ran over the limit."""
    server, limiter = vendor
    job = {"mode": "http", "ledger": shared_ledger, "server": server, "limit": LIMIT, "window": WINDOW,
           "calls": 4, "priority": int(Priority.NORMAL)}
    workers = [start(job) for _ in range(3)]
    results = [finish(w) for w in workers]
    assert all(r["statuses"] == [200] * 4 for r in results)
    assert limiter.refused == 0, "a process went over the key's limit"
    assert len(limiter.served) == 12 and most_in_any_window(limiter.served, WINDOW) <= LIMIT
    with get_engine(shared_ledger).connect() as conn:
        row = conn.execute(select(ApiBudget.__table__)).one()
    assert KEY not in repr(tuple(row)) and len(row.calls) <= LIMIT - 2 and row.waiters == {}


def test_a_high_waiter_in_another_process_goes_before_a_low_one_that_waited_longer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade(url)
    rule = BudgetRule(2, 4.0, margin=0)  # two calls per 4 s
    job = {"mode": "acquire", "ledger": url, "limit": rule.limit, "window": rule.window_seconds, "margin": 0}
    low = start({**job, "name": "write-back", "priority": int(Priority.LOW)})
    # the HIGH process oversleeps every wait by 0.5 s: without priorities the LOW one would take the slot first
    high = start({**job, "name": "dispatch", "priority": int(Priority.HIGH), "oversleep": 0.5})
    when_ready(low), when_ready(high)
    holder = LedgerBudget(url, "stub", KEY, rule)
    for _ in range(2):
        holder.acquire("holder", Priority.HIGH)  # the budget is full for about 4 s
    deadline = time.time() + rule.window_seconds - 1.0
    go(low)
    wait_for_waiter(url, "write-back", deadline)
    go(high)
    wait_for_waiter(url, "dispatch", deadline)
    low_at, high_at = finish(low)["granted"], finish(high)["granted"]
    assert high_at < low_at


def wait_for_waiter(url: str, caller: str, deadline: float) -> None:
    """Poll (bounded) until ``caller`` is registered as a waiter of the budget."""
    while time.time() < deadline:
        with get_engine(url).connect() as conn:
            waiters = conn.execute(select(ApiBudget.__table__.c.waiters)).scalar_one_or_none() or {}
        if caller in waiters:
            return
        time.sleep(0.05)
    pytest.fail(f"{caller} did not register as a waiter before the budget freed up (machine too slow?)")


def test_a_real_429_without_retry_after_is_waited_out(vendor: tuple[str, RollingWindow]) -> None:
    """A client whose budget is wider than the vendor's limit meets the limit, waits the window, and succeeds."""
    server, limiter = vendor
    budget = LocalBudget("stub", BudgetRule(100, WINDOW))
    http = HttpTransport(system="stub", base_url=server, budget=budget, timeout=(2.0, 5.0))
    started = time.monotonic()
    assert [http.request("GET", f"/item/{i}").status_code for i in range(LIMIT + 2)] == [200] * (LIMIT + 2)
    assert limiter.refused == 1 and time.monotonic() - started >= WINDOW * 0.9
