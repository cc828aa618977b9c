"""Fixtures of the browser tests: one ``make demo`` for the whole session and one Debian chromium driven by Playwright.

- ``demo``: ``scripts/demo.sh`` (the simulators, the alert sinks and ``airflow standalone`` with this project's DAGs
  and the dashboard plugin), on free 127.0.0.1 ports with its own ``AIRFLOW_HOME``, as ``make demo`` runs it; the
  admin password is read from its banner. Stopped at the end (SIGINT to its process group as Ctrl-C would, then
  SIGKILL after a bounded wait).
- ``page``: one tab of chromium (``/usr/bin/chromium``, installed by ``make setup`` with apt-get; Playwright
  launches it by ``executable_path`` and never downloads a browser) with a fresh profile.
- ``shot``: a screenshot of a step into ``test-artifacts/browser/`` at the repository root (emptied at the start of
  the session); a failed test leaves ``FAILED-<test>.png`` there too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from benchmarks.live import free_ports, kill_strays
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
# headless=True adds --headless; the rest keep chromium from calling home or crashing in a container
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
DASHBOARD = "/erp-wms-dashboard"
NAV_ROUTE = "/plugin/erp-wms"
STEP_TIMEOUT_MS = 30_000
SCHEDULER_GONE = re.compile(r"^scheduler\s*\|.*(Finished server process|Shutting down)", re.MULTILINE)
TROUBLE = re.compile(r"^(scheduler|dag-processor|triggerer|api-server)\s*\|.*(OperationalError|database is locked|"
                     r"Shutting down|exited|Traceback)")
T = TypeVar("T")
# a page of the dashboard may take seconds on a busy 2-core machine (a retry or a release calls the simulators):
# assertions wait as long as any other step before they fail
expect.set_options(timeout=STEP_TIMEOUT_MS)



def wait_for(predicate: Callable[[], T | None], timeout: float, what: str, log: Path | None = None,
             interval: float = 1.0) -> T:
    """Poll ``predicate`` until it returns something truthy (at most ``timeout`` seconds); a busy server (connection
    refused, timeout) or a locked SQLite file counts as "not yet". Fails naming ``what``, with the demo's output."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (requests.RequestException, sqlite3.OperationalError):
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}" + (f"; demo output:\n{tail}"
                                                                                          if tail else ""))
        time.sleep(interval)


class DemoDied(AssertionError):
    """The demo cannot do what a step waits for any more."""


@dataclass
class Demo:
    """A running ``make demo``: where it answers, how to log in, its ledger and its simulators."""

    base: str
    home: Path
    log: Path
    password: str
    token: str
    simulators: dict[str, Any]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def dashboard(self) -> str:
        return self.base + DASHBOARD

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A call to Airflow's REST API (``path`` from ``/api/v2``) as the admin. Asked again (at most 6 times)
        while it answers 5xx: the demo's SQLite metadata DB is busy while the scheduler writes ("database is
        locked")."""
        for _ in range(5):
            answer = requests.request(method, f"{self.base}/api/v2{path}", headers=self.auth, timeout=30, **kwargs)
            if answer.status_code < 500:
                return answer
            time.sleep(2)
        return requests.request(method, f"{self.base}/api/v2{path}", headers=self.auth, timeout=30, **kwargs)

    def sim(self, name: str) -> str:
        """The root of a simulator (``cin7core``, ``peoplevox``, ``bluecherry``), where its ``/_sim`` admin API is."""
        return f"http://127.0.0.1:{self.simulators[name]['port']}"

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the demo's ledger (SQLite)."""
        with sqlite3.connect(f"file:{self.home / 'erp_wms_ledger.db'}?mode=ro", uri=True, timeout=10) as db:
            return db.execute(sql, params).fetchall()

    def wait_for(self, predicate: Callable[[], T | None], timeout: float, what: str) -> T:
        """:func:`wait_for` on the demo; gives up at once when the scheduler has died (nothing would run)."""
        def alive_and(predicate: Callable[[], T | None]) -> T | None:
            if self.scheduler_died():
                raise DemoDied(f"the demo's scheduler died while waiting for {what}\n{self.trouble()}")
            return predicate()

        try:
            return wait_for(lambda: alive_and(predicate), timeout, what, self.log)
        except DemoDied:
            raise
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.trouble()}") from None

    def scheduler_died(self) -> bool:
        """``airflow standalone`` does not restart a scheduler that crashed (e.g. on "database is locked")."""
        log = self.home / "standalone.log"
        return log.exists() and SCHEDULER_GONE.search(log.read_text(errors="replace")) is not None

    def trouble(self) -> str:
        """What went wrong inside ``airflow standalone`` (a component that died, a locked database), if anything."""
        log = self.home / "standalone.log"
        if not log.exists():
            return ""
        said = [line for line in log.read_text(errors="replace").splitlines() if TROUBLE.search(line)]
        return "airflow standalone reported:\n" + "\n".join(said[-15:]) if said else ""

    def trigger(self, dag_id: str) -> str:
        """Start a run of ``dag_id`` now (as the UI's trigger button does); its run id."""
        answer = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        assert answer.status_code in (200, 201), answer.text
        return str(answer.json()["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        answer = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        answer.raise_for_status()
        return str(answer.json()["state"])

    def finished(self, dag_id: str, run_id: str, timeout: float) -> str:
        """Wait for a run to end; its state (``success`` or ``failed``)."""
        return self.wait_for(lambda: (lambda s: s if s in ("success", "failed") else None)(
            self.run_state(dag_id, run_id)), timeout, f"run {run_id} of {dag_id} to end")

    def runs(self, dag_id: str, states: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": 100}
        if states:
            params["state"] = list(states)
        answer = self.api("GET", f"/dags/{dag_id}/dagRuns", params=params)
        answer.raise_for_status()
        return list(answer.json()["dag_runs"])

    def set_paused(self, dag_id: str, paused: bool) -> None:
        answer = self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})
        assert answer.status_code == 200, answer.text


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C to the demo's process group (its trap stops what it started), SIGKILL after a bounded wait."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def _plugin_problem(home: Path) -> str:
    """What the API server said about loading the dashboard plugin, for a failure message."""
    log = home / "standalone.log"
    if not log.exists():
        return ""
    lines = [line for line in log.read_text(errors="replace").splitlines() if "erp_wms_dashboard" in line
             or "Error" in line]
    return "\n".join(lines[-30:])


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``scripts/demo.sh`` running for the session, its API server and the dashboard answering."""
    folder = tmp_path_factory.mktemp("browser-demo")
    home = folder / "airflow"
    api, cin7, pvx, bc, smtp, slack = free_ports(6)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ERP_WMS"))}
    env.update({"AIRFLOW_HOME": str(home), "DEMO_PORT": str(api), "DEMO_CIN7CORE_PORT": str(cin7),
                "DEMO_PEOPLEVOX_PORT": str(pvx), "DEMO_BLUECHERRY_PORT": str(bc), "DEMO_SMTP_PORT": str(smtp),
                "DEMO_SLACK_PORT": str(slack)})
    log = folder / "demo.log"
    with log.open("w") as out:
        process = subprocess.Popen(["bash", "scripts/demo.sh"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        banner = wait_for(lambda: "demo is running" in log.read_text() and log.read_text(), 240, "the demo's banner",
                          log)
        password = re.search(r"Login\s+: admin / (\S+)", banner)
        assert password, banner
        base = f"http://127.0.0.1:{api}"
        token = wait_for(lambda: requests.post(f"{base}/auth/token", timeout=10, json={
            "username": "admin", "password": password.group(1)}).json().get("access_token"), 60, "a token", log)
        running = Demo(base, home, log, password.group(1), token,
                       json.loads((home / "simulators.json").read_text()))
        try:
            wait_for(lambda: requests.get(running.dashboard + "/", headers=running.auth, timeout=10).status_code == 200,
                     60, "the dashboard plugin to answer", log)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nAPI server on the plugin:\n{_plugin_problem(home)}") from None
        yield running
    finally:
        _stop(process)
        kill_strays(home)  # whatever the demo's own clean-up missed must not load the tests that follow


@pytest.fixture(scope="package")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Debian's chromium, headless, with a fresh user-data-dir."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 900})
        context.set_default_timeout(STEP_TIMEOUT_MS)
        context.set_default_navigation_timeout(STEP_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="package")
def page(browser_context: BrowserContext) -> Page:
    """The one tab the steps share (the session cookie carries over from step to step, as for a person)."""
    return browser_context.pages[0] if browser_context.pages else browser_context.new_page()


@pytest.fixture(scope="package")
def artifacts() -> Path:
    """``test-artifacts/browser/``, emptied of the last session's screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="package")
def shot(artifacts: Path) -> Callable[[Page, str], Path]:
    """``shot(page, name)``: a full-page screenshot numbered in step order; its path."""
    counter = iter(range(1, 1000))

    def take(page: Page, name: str) -> Path:
        path = artifacts / f"{next(counter):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
        return path

    return take


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(autouse=True)
def screenshot_on_failure(request: pytest.FixtureRequest, artifacts: Path) -> Iterator[None]:
    """A failed browser step leaves a picture of what the browser showed."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "page" in request.fixturenames:
        try:
            request.getfixturevalue("page").screenshot(path=str(artifacts / f"FAILED-{request.node.name}.png"),
                                                       full_page=True)
        except Exception as exc:  # the browser itself is what failed: the report already says why
            print(f"no failure screenshot: {type(exc).__name__}: {exc}")
