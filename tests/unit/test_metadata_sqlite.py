"""Airflow's SQLite metadata database (``make demo``, the live stacks) waits for a busy writer instead of dying.

Under ``airflow standalone`` every component writes to one SQLite file; a component that waits longer than Python's
5-second default for the write lock raises ``database is locked`` and dies, and standalone restarts nothing (a
demo whose scheduler died that way mid-run is how this was found).
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.live import LiveStack

from erp_wms_sync.airflow.metadata_sqlite import busy_timeout

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC")
HOLD_SECONDS = 7.0  # longer than sqlite3's default busy timeout of 5 s


def _demo_exports() -> dict[str, str]:
    """The plain ``export NAME=value`` lines of scripts/demo.sh."""
    text = (ROOT / "scripts" / "demo.sh").read_text(encoding="utf-8")
    return dict(re.findall(r"^export (AIRFLOW__DATABASE__\w+)=(\S+)$", text, flags=re.MULTILINE))


def test_the_demo_and_the_live_stacks_give_airflow_the_same_sqlite_busy_timeout(tmp_path: Path) -> None:
    demo = _demo_exports()
    stack = LiveStack(workdir=tmp_path)
    stack.home, stack.ports = tmp_path, defaultdict(lambda: 1)  # what start() sets before it builds the environment
    live = stack._environment(tmp_path)
    for key in KEYS:
        assert demo.get(key), f"scripts/demo.sh does not export {key}"
        assert live.get(key) == demo[key], f"the live stack's {key} differs from the demo's"


def test_the_api_server_keeps_sqlites_five_seconds_and_the_rest_wait_a_minute() -> None:
    """The API server commits on its event loop: a long wait there would freeze every request (module docstring)."""
    assert busy_timeout(["/venv/bin/airflow", "api-server", "--port", "8080"]) == 5.0
    for command in ("scheduler", "dag-processor", "triggerer", "db", "dags"):
        assert busy_timeout(["/venv/bin/airflow", command]) == 60.0
    assert busy_timeout(["python"]) == 60.0


def test_a_component_waits_out_a_write_held_longer_than_five_seconds(tmp_path: Path) -> None:
    """A writer holds SQLite's lock for 7 s; Airflow's engine, set up as the demo sets it, waits and writes."""
    database = tmp_path / "airflow.db"
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE beat (at REAL)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({key: _demo_exports()[key] for key in KEYS})
    env.update({"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{database}"})
    script = (
        "import sys, time\n"
        "sys.argv = ['airflow', 'scheduler']\n"
        "from sqlalchemy import text\n"
        "from airflow import settings\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"  # the lock is taken now
        "started = time.monotonic()\n"
        "with settings.engine.begin() as conn:\n"
        "    conn.execute(text('INSERT INTO beat VALUES (1)'))\n"
        "print(f'wrote after {time.monotonic() - started:.1f}', flush=True)\n"
    )
    holder = sqlite3.connect(database, timeout=1, isolation_level=None, check_same_thread=False)
    component = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert component.stdout is not None and component.stdin is not None
        assert component.stdout.readline().strip() == "ready", component.stderr.read() if component.stderr else ""
        holder.execute("BEGIN IMMEDIATE")  # the write lock, as a busy scheduler holds it
        release = threading.Timer(HOLD_SECONDS, lambda: holder.execute("COMMIT"))
        release.start()
        held_at = time.monotonic()
        component.stdin.write("go\n")
        component.stdin.flush()
        out, err = component.communicate(timeout=120)
        release.join()
    finally:
        if component.poll() is None:
            component.kill()
        holder.close()
    assert component.returncode == 0, f"the component died waiting for the lock:\n{err[-2000:]}"
    assert out.startswith("wrote after"), out
    assert time.monotonic() - held_at >= HOLD_SECONDS
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM beat").fetchone()[0] == 1
