"""A live stack on one machine: the three simulators and ``airflow standalone`` with this project's DAGs and plugin.

:class:`LiveStack` is what the callback path needs to be tested for real (the webhook receiver only exists inside a
running Airflow API server, and asset-triggered runs only happen under a running scheduler). It is used by the
dispatch end-to-end tests and the dispatch latency benchmark::

    with LiveStack() as live:
        live.subscribe()
        live.unpause("northwind__dispatch_confirmation")
        run_id = live.trigger("northwind__item_master_sync")
        live.wait_run("northwind__item_master_sync", run_id)

It starts everything the way ``make demo`` does (scripts/demo.sh), but isolated: free ports on 127.0.0.1 only (the
API, the simulators and the scheduler's and triggerer's log servers), a temporary ``AIRFLOW_HOME``, its own SQLite
ledger and a folder of integration files chosen by the caller. DAGs start paused: the caller unpauses or triggers
what it measures. Start-up is bounded (``start_timeout``, 180 s by default) and fails with the tail of the logs;
leaving the ``with`` block stops every process group it started and checks that none of its ports still listens.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SAMPLE_INTEGRATIONS = ROOT / "include" / "integrations"
LOCALHOST = "127.0.0.1"
START_TIMEOUT = 180.0
SIMULATORS_TIMEOUT = 30.0
COMMAND_TIMEOUT = 300.0
STOP_TIMEOUT = 20.0
HTTP_TIMEOUT = 30.0
LOG_TAIL = 4000
TRIGGER_TRIES = 5
API_TRIES = 3
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"

T = TypeVar("T")
TROUBLE = re.compile(r"^(scheduler|dag-processor|triggerer|api-server)\s*\|.*(OperationalError|database is locked|"
                     r"Shutting down|exited|Traceback|ERROR)")


class LiveStackError(RuntimeError):
    """The live stack could not start, or something it waited for did not happen in time (with the logs' tail)."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOCALHOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def parse_exports(text: str) -> dict[str, str]:
    """``export NAME='value'`` lines (what ``python -m erp_wms_sync.demo connections`` prints) as a mapping."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            found[name] = value
    return found


class LiveStack:
    """The simulators + ``airflow standalone`` (LocalExecutor, SQLite) with ``dags/`` and ``plugins/``.

    ``integrations`` maps integration name -> YAML text written to the stack's integrations folder (default: the
    sample files of ``include/integrations``); ``sim_args`` are extra ``sim up`` arguments (``--fault ...``);
    ``extra_env`` overrides any variable the processes get; ``dags`` are DAG ids to wait for before the stack
    counts as started (default: one ``<integration>__item_master_sync`` per integration).
    """

    def __init__(self, *, integrations: Mapping[str, str] | None = None, sim_args: Sequence[str] = (),
                 extra_env: Mapping[str, str] | None = None, dags: Iterable[str] = (),
                 workdir: Path | None = None, start_timeout: float = START_TIMEOUT) -> None:
        self.integrations = dict(integrations) if integrations is not None else {
            path.stem: path.read_text(encoding="utf-8") for path in sorted(SAMPLE_INTEGRATIONS.glob("*.yaml"))}
        if not self.integrations:
            raise ValueError("a live stack needs at least one integration file")
        self.sim_args = list(sim_args)
        self.extra_env = dict(extra_env or {})
        self.expected_dags = list(dags) or [f"{name}__item_master_sync" for name in self.integrations]
        self.start_timeout = start_timeout
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self.workdir = workdir
        self.home = Path()
        self.ports: dict[str, int] = {}
        self.env: dict[str, str] = {}
        self.sim_info: dict[str, dict[str, Any]] = {}
        self.base_url = ""
        self._token = ""
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._session = requests.Session()
        self._session.trust_env = False  # never through a proxy: everything is on 127.0.0.1

    # ---- life cycle -----------------------------------------------------------------------------------------
    def __enter__(self) -> LiveStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Simulators, connections, ledger, metadata DB, pools, then ``airflow standalone``; bounded."""
        deadline = time.monotonic() + self.start_timeout
        if self.workdir is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="erp-wms-live-")
            self.workdir = Path(self._scratch.name)
        self.home = self.workdir / "airflow"
        self.home.mkdir(parents=True, exist_ok=True)
        folder = self.workdir / "integrations"
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in self.integrations.items():
            (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
        api, cin7, pvx, bc, worker_logs, trigger_logs = free_ports(6)
        self.ports = {"api": api, "cin7core": cin7, "peoplevox": pvx, "bluecherry": bc,
                      "worker_logs": worker_logs, "trigger_logs": trigger_logs}
        self.base_url = f"http://{LOCALHOST}:{api}"
        self.env = self._environment(folder)
        self._start_simulators(deadline)
        self.env.update(parse_exports(self.run(
            [str(BIN / "python"), "-m", "erp_wms_sync.demo", "connections", str(self.home / "simulators.json")],
            deadline=deadline).stdout))
        self.env.update(self.extra_env)
        self.run([str(BIN / "erp-wms-sync"), "ledger", "upgrade"], deadline=deadline)
        self.run([str(BIN / "airflow"), "db", "migrate"], deadline=deadline)
        self._after_migrate()
        pools = self.run([str(BIN / "erp-wms-sync"), "pools"], deadline=deadline).stdout
        (self.home / "pools.json").write_text(pools, encoding="utf-8")
        self.run([str(BIN / "airflow"), "pools", "import", str(self.home / "pools.json")], deadline=deadline)
        self._start_airflow()
        self.wait_for(lambda: listening(api), deadline - time.monotonic(), "the Airflow API server to listen",
                      interval=0.5)
        self.wait_for(self._login, deadline - time.monotonic(), "a token from /auth/token", interval=1.0)
        self.wait_for(self._dags_parsed, deadline - time.monotonic(),
                      f"the DAGs {', '.join(self.expected_dags)} to be parsed", interval=1.0)

    def _after_migrate(self) -> None:
        """Airflow's SQLite database in write-ahead logging, as scripts/demo.sh: a reader must not block the
        scheduler's writes."""
        _write_ahead_log(self.home / "airflow.db")

    def _start_airflow(self) -> None:
        """``airflow standalone``: scheduler, dag-processor, triggerer and API server under one parent."""
        self._spawn("standalone", [str(BIN / "airflow"), "standalone"], self.main_log)

    @property
    def main_log(self) -> Path:
        """The log a timeout's message shows the tail of (the one of the process that runs the tasks)."""
        return self.home / "standalone.log"

    def stop(self) -> None:
        """Stop every process group this stack started (TERM, then KILL), then check its ports are closed."""
        for name in reversed(list(self._processes)):
            _signal_group(self._processes[name], signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self._processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self._processes.values():
            _signal_group(process, signal.SIGKILL)  # the group's children too, even when the leader is gone
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._processes.clear()
        if self.home != Path():
            kill_strays(self.home)
        self._session.close()
        still = [port for port in self.ports.values() if listening(port)]
        self.ports = {}
        if self._scratch is not None:
            _remove_tree(Path(self._scratch.name))
            self._scratch = None
        if still:
            raise LiveStackError(f"ports still listening after the live stack stopped: {still}")

    def _environment(self, integrations: Path) -> dict[str, str]:
        """What scripts/demo.sh exports, on this stack's ports and home, DAGs paused at creation."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ERP_WMS"))}
        api = self.ports["api"]
        env.update({
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__API__HOST": LOCALHOST,
            "AIRFLOW__API__PORT": str(api),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
            "AIRFLOW__CORE__PARALLELISM": "8",  # as scripts/demo.sh: SQLite takes one writer at a time
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            # as scripts/demo.sh: wait for SQLite's write lock, not die of "database is locked" after 5 s
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "erp_wms_sync.airflow.metadata_sqlite.SYNC",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": "erp_wms_sync.airflow.metadata_sqlite.ASYNC",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.ports["worker_logs"]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.ports["trigger_logs"]),
            "ERP_WMS_LEDGER_URL": f"sqlite:///{self.ledger_path}",
            "ERP_WMS_INTEGRATIONS_DIR": str(integrations),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "scripts" / "localhost_only"),
                                                      env.get("PYTHONPATH", "")) if p),
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        })
        return env

    def _start_simulators(self, deadline: float) -> None:
        described = self.home / "simulators.json"
        described.unlink(missing_ok=True)
        command = [str(BIN / "erp-wms-sync"), "sim", "up", "--cin7core-port", str(self.ports["cin7core"]),
                   "--peoplevox-port", str(self.ports["peoplevox"]), "--bluecherry-port",
                   str(self.ports["bluecherry"]), "--write-json", str(described), *self.sim_args]
        self._spawn("simulators", command, self.home / "simulators.log")
        limit = min(SIMULATORS_TIMEOUT, deadline - time.monotonic())
        self.wait_for(lambda: described.exists() and described.stat().st_size > 0, limit,
                      "the simulators to write their addresses", interval=0.2, log=self.home / "simulators.log")
        self.sim_info = json.loads(described.read_text(encoding="utf-8"))

    def _spawn(self, name: str, command: Sequence[str], log: Path) -> None:
        with log.open("wb") as out:  # the child keeps its own descriptor
            self._processes[name] = subprocess.Popen(list(command), cwd=ROOT, env=self.env, stdout=out,
                                                     stderr=subprocess.STDOUT, start_new_session=True)

    def _login(self) -> bool:
        passwords = self.home / PASSWORDS_FILE
        if not passwords.exists():
            return False
        try:
            password = json.loads(passwords.read_text(encoding="utf-8")).get("admin", "")
            answer = self._session.post(f"{self.base_url}/auth/token", timeout=HTTP_TIMEOUT,
                                        json={"username": "admin", "password": password})
        except (ValueError, requests.RequestException):
            return False
        if answer.status_code not in (200, 201):
            return False
        self._token = str(answer.json()["access_token"])
        return True

    def _dags_parsed(self) -> bool:
        try:
            errors = self.api("GET", "/api/v2/importErrors").json()
        except requests.Timeout:  # the API server is busy with the first parse and runs: ask again, within the wait
            return False
        if errors.get("import_errors"):
            detail = "\n".join(f"{e.get('filename')}: {e.get('stack_trace', '')[-1500:]}"
                               for e in errors["import_errors"])
            raise LiveStackError(f"the DAG folder has import errors:\n{detail}")
        try:
            known = set(self.dag_ids())
        except requests.Timeout:  # the API server is busy with the first parse and runs: ask again, within the wait
            return False
        return all(dag_id in known for dag_id in self.expected_dags)

    # ---- helpers ------------------------------------------------------------------------------------------
    @property
    def ledger_path(self) -> Path:
        return self.home / "erp_wms_ledger.db"

    @property
    def sims(self) -> dict[str, str]:
        """Simulator name -> its base URL as ``sim up`` printed it (Cin7 Core and BlueCherry with the API path)."""
        return {name: str(info["url"]) for name, info in self.sim_info.items()}

    def sim_root(self, name: str) -> str:
        """A simulator's host root (where its ``/_sim`` admin routes are)."""
        return f"http://{LOCALHOST}:{self.sim_info[name]['port']}"

    def run(self, command: Sequence[str], *, deadline: float | None = None,
            check: bool = True, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run a command with the stack's environment (bounded); a failure raises with its output."""
        limit = timeout if deadline is None else max(1.0, min(timeout, deadline - time.monotonic()))
        try:
            done = subprocess.run(list(command), cwd=ROOT, env=self.env, capture_output=True, text=True,
                                  timeout=limit, check=False)
        except subprocess.TimeoutExpired:
            raise LiveStackError(f"{shlex.join(command[:4])} did not finish within {limit:.0f} s") from None
        if check and done.returncode != 0:
            raise LiveStackError(f"{shlex.join(command[:4])} failed (exit {done.returncode}):\n"
                                 f"{(done.stderr or done.stdout)[-LOG_TAIL:]}")
        return done

    def api(self, method: str, path: str, **kw: Any) -> requests.Response:
        """A call to the Airflow REST API as admin (``path`` from the root, e.g. ``/api/v2/dags``).

        Every call this harness makes is safe to repeat (reads, pause flags, triggers under a fixed run id), so an
        API server too busy to answer in time (one machine: scheduler, workers and tests share two cores) is asked
        again, bounded by ``API_TRIES``; the last timeout is raised."""
        kw.setdefault("timeout", HTTP_TIMEOUT)
        headers = {**kw.pop("headers", {}), "Authorization": f"Bearer {self._token}"}
        for attempt in range(1, API_TRIES + 1):
            try:
                answer = self._session.request(method, f"{self.base_url}{path}", headers=headers, **kw)
                break
            except (requests.Timeout, requests.ConnectionError):
                if attempt == API_TRIES:
                    raise
                time.sleep(2.0 * attempt)
        if answer.status_code == 401 and self._login():  # the token expired: once more with a new one
            headers["Authorization"] = f"Bearer {self._token}"
            answer = self._session.request(method, f"{self.base_url}{path}", headers=headers, **kw)
        return answer

    def _ok(self, answer: requests.Response, what: str) -> Any:
        if answer.status_code >= 400:
            raise LiveStackError(f"{what}: HTTP {answer.status_code} {answer.text[:500]}")
        return answer.json() if answer.content else None

    def dag_ids(self) -> list[str]:
        found = self._ok(self.api("GET", "/api/v2/dags", params={"limit": 1000}), "listing the DAGs")
        return [str(dag["dag_id"]) for dag in found.get("dags", [])]

    def unpause(self, dag_id: str) -> None:
        self._set_paused(dag_id, False)

    def pause(self, dag_id: str) -> None:
        self._set_paused(dag_id, True)

    def _set_paused(self, dag_id: str, paused: bool) -> None:
        """Idempotent, so a 500 from Airflow's busy SQLite database is simply tried again (bounded)."""
        answer = self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})
        for _ in range(TRIGGER_TRIES - 1):
            if answer.status_code < 500:
                break
            time.sleep(2.0)
            answer = self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})
        self._ok(answer, f"{'pausing' if paused else 'unpausing'} {dag_id}")

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """A manual run of ``dag_id``; its run id. Airflow on SQLite answers 500 when its database is busy: the
        call is tried again (bounded) under the same run id, so a first try that did commit is not doubled."""
        run_id = f"manual__live_{time.time_ns()}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": dict(conf or {})}
        for _ in range(TRIGGER_TRIES - 1):
            answer = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
            if answer.status_code < 500:
                break
            time.sleep(2.0)
        else:
            answer = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        if answer.status_code == 409 and self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").ok:
            return run_id  # an earlier try went through
        return str(self._ok(answer, f"triggering {dag_id}")["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """The DAG's runs, oldest first (``dag_run_id``, ``state``, ``run_type``, ``start_date``...)."""
        found = self._ok(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 1000}),
                         f"listing the runs of {dag_id}")
        return sorted(found.get("dag_runs", []), key=lambda r: str(r.get("run_after") or r.get("queued_at") or ""))

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self._ok(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"),
                            f"reading run {run_id} of {dag_id}")["state"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 180.0) -> str:
        """Wait until the run ends; its final state (``success`` or ``failed``)."""
        def ended() -> str:
            state = self.run_state(dag_id, run_id)
            return state if state in ("success", "failed") else ""

        return self.wait_for(ended, timeout, f"run {run_id} of {dag_id} to finish")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        found = self._ok(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"),
                         f"reading the tasks of run {run_id} of {dag_id}")
        return {str(ti["task_id"]): str(ti["state"]) for ti in found.get("task_instances", [])}

    def wait_for(self, predicate: Callable[[], T], timeout: float, what: str, *, interval: float = 1.0,
                 log: Path | None = None) -> T:
        """Poll ``predicate`` until it returns something truthy (returned); on timeout raise with the log's tail."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise LiveStackError(f"timed out after {timeout:.0f} s waiting for {what}; "
                                     f"{self.log_tail(log)}")
            time.sleep(interval)

    def log_tail(self, log: Path | None = None, size: int = LOG_TAIL) -> str:
        """The log's tail, after what Airflow's components said of trouble (a crash, a locked database): the tail
        alone is mostly the API server answering the wait's own polls."""
        path = log or self.main_log
        if not path.exists():
            return f"({path.name} not written yet)"
        text = path.read_text(errors="replace")
        trouble = [line for line in text.splitlines() if TROUBLE.search(line)]
        said = ("components reported:\n" + "\n".join(trouble[-15:]) + "\n") if trouble else ""
        return f"{said}tail of {path.name}:\n{text[-size:]}"

    def ledger(self) -> sqlite3.Connection:
        """A connection to the stack's SQLite ledger (close it when done)."""
        return sqlite3.connect(self.ledger_path, timeout=10)

    def subscribe(self, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``erp-wms-sync subscriptions sync``: the simulators now call the receiver. With ``check`` a failed
        subscription raises; without, the caller reads the report (``stdout``) for the ones it needs."""
        return self.run([str(BIN / "erp-wms-sync"), "subscriptions", "sync"], check=check)

    def require_despatch_callbacks(self, report: subprocess.CompletedProcess[str]) -> None:
        """Every integration subscribed to Peoplevox's despatch callbacks (what the dispatch path needs)."""
        text = report.stdout + report.stderr
        subscribed = re.findall(r"peoplevox DespatchPackageDespatched: (?:created|kept|updated)", text)
        if len(subscribed) < len(self.integrations):
            raise LiveStackError(f"not every integration subscribed to Peoplevox despatch callbacks:\n"
                                 f"{text[-LOG_TAIL:]}")

    def connection(self, conn_id: str) -> dict[str, Any]:
        """An Airflow connection of the stack (the JSON of its ``AIRFLOW_CONN_*`` variable)."""
        value = self.env.get(f"AIRFLOW_CONN_{conn_id.upper()}")
        if value is None:
            raise KeyError(f"the live stack defines no connection {conn_id}")
        conn: dict[str, Any] = json.loads(value)
        return conn

    def sim(self, name: str, method: str, path: str, **kw: Any) -> Any:
        """A call to a simulator's admin routes (``path`` from the host root, e.g. ``/_sim/faults``)."""
        kw.setdefault("timeout", HTTP_TIMEOUT)
        answer = self._session.request(method, f"{self.sim_root(name)}{path}", **kw)
        return self._ok(answer, f"{name} simulator {method} {path}")


def _write_ahead_log(database: Path) -> None:
    """Switch Airflow's SQLite metadata database to write-ahead logging (a persistent setting of the file)."""
    with sqlite3.connect(database, timeout=30) as db:
        mode = str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0])
    if mode.lower() != "wal":
        raise LiveStackError(f"could not switch {database} to write-ahead logging (journal mode {mode})")


def kill_strays(home: Path) -> list[int]:
    """Kill any process still running with this ``AIRFLOW_HOME`` (one that left our process group); their pids."""
    marker = f"AIRFLOW_HOME={home}".encode()
    proc = Path("/proc")
    killed: list[int] = []
    if not proc.is_dir():
        return killed
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
        except (OSError, ValueError):
            continue  # gone, or not ours to read
    return killed


def _remove_tree(path: Path, attempts: int = 5) -> None:
    """Remove a scratch tree; a log file still being flushed by a dying process gets a few more tries."""
    for attempt in range(attempts):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if attempt == attempts - 1:
                shutil.rmtree(path, ignore_errors=True)  # leftover scratch in the temp dir harms nothing
                return
            time.sleep(1.0)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError:  # the group is gone and its id reused by someone else's: leave it alone
        pass


__all__ = ["LiveStack", "LiveStackError", "free_ports", "listening", "parse_exports"]
