"""Connection arguments for Airflow's own metadata database when it is SQLite (``make demo``, the live test stacks).

SQLite takes one writer at a time; a connection that finds the write lock taken waits for it up to its busy timeout
and then fails with ``database is locked``. Python's default is 5 seconds. Under ``airflow standalone`` the
scheduler, the DAG processor, the triggerer and the API server all write to the one file, and on a busy machine
(two cores, a run of every DAG starting at once) one of them can hold the lock longer than that: the waiting
component dies, and ``airflow standalone`` restarts nothing, so the demo stops scheduling.

Pointed at by ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS`` (and ``..._ASYNC``) in ``scripts/demo.sh`` and
:class:`benchmarks.live.LiveStack`; never set for PostgreSQL, whose driver has no ``timeout`` argument. This module
imports nothing: Airflow imports it while it configures its own database engine.
"""

#: ``sqlite3.connect(timeout=...)``: seconds a connection waits for another's write to end before giving up.
BUSY_TIMEOUT_SECONDS = 120.0

#: For Airflow's synchronous engine (``[database] sql_alchemy_connect_args``). Airflow adds ``check_same_thread``.
SYNC = {"timeout": BUSY_TIMEOUT_SECONDS}

#: For Airflow's asynchronous engine (``[database] sql_alchemy_connect_args_async``, aiosqlite passes it on).
ASYNC = {"timeout": BUSY_TIMEOUT_SECONDS}
