"""Connection arguments for Airflow's own metadata database when it is SQLite (``make demo``, the live test stacks).

SQLite takes one writer at a time; a connection that finds the write lock taken waits for it up to its busy timeout
and then fails with ``database is locked``. Python's default is 5 seconds. Under ``airflow standalone`` the
scheduler, the DAG processor, the triggerer and the API server all write to the one file, and a component that
gives up dies: ``airflow standalone`` restarts nothing, so the demo stops scheduling.

Why the wait is not the same everywhere: Airflow's API server commits some writes on its event loop (the audit log
row of each request, in an ``async`` dependency), while a request served on a worker thread may hold the write lock
until its own commit, which the event loop has to schedule. The two then wait for each other until the loop's
wait times out and that one request fails; every other request waits as long. So the API server keeps Python's
5 seconds (one request refused, then all goes on), and the background components, which hold no lock while they
wait for anything else, wait a minute: long enough to outlast that stall and any slow commit on a busy 2-core
machine, short enough that a real fault still surfaces.

Pointed at by ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS`` (and ``..._ASYNC``) in ``scripts/demo.sh`` and
:class:`benchmarks.live.LiveStack`; never set for PostgreSQL, whose driver has no ``timeout`` argument. Airflow
imports this module while it configures its own database engine, so it imports nothing of Airflow's.
"""

from __future__ import annotations

import sys

#: Seconds a background component (scheduler, DAG processor, triggerer, CLI) waits for another's write to end.
BUSY_TIMEOUT_SECONDS = 60.0

#: Seconds the API server waits: sqlite3's own default (see the module's docstring).
API_SERVER_BUSY_TIMEOUT_SECONDS = 5.0


def busy_timeout(argv: list[str]) -> float:
    """The busy timeout for the Airflow process started with ``argv`` (``airflow <command> ...``)."""
    command = argv[1] if len(argv) > 1 else ""
    return API_SERVER_BUSY_TIMEOUT_SECONDS if command in ("api-server", "api_server") else BUSY_TIMEOUT_SECONDS


#: For Airflow's synchronous engine (``[database] sql_alchemy_connect_args``); Airflow adds ``check_same_thread``.
SYNC = {"timeout": busy_timeout(sys.argv)}

#: For Airflow's asynchronous engine (``[database] sql_alchemy_connect_args_async``; aiosqlite passes it on).
ASYNC = {"timeout": busy_timeout(sys.argv)}
