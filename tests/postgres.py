"""A throw-away PostgreSQL server on 127.0.0.1 for the tests marked ``postgres``.

:func:`throwaway_postgres` runs ``initdb`` and ``pg_ctl`` from PATH in a temporary directory (as ``nobody`` when
the tests run as root, since PostgreSQL refuses to run as root), yields the port, then stops the server and
deletes its files. It skips the test when the server binaries or the psycopg2 driver are missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_binaries() -> tuple[str, str] | None:
    """``(initdb, pg_ctl)`` when a server can be started here (binaries, runuser when root, psycopg2)."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return None
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):  # Debian keeps the server's programs off PATH, per major version
        for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
            if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
                initdb, pg_ctl = str(folder / "initdb"), str(folder / "pg_ctl")
                break
    if not (initdb and pg_ctl) or os.geteuid() == 0 and not shutil.which("runuser"):
        return None
    return initdb, pg_ctl


@contextmanager
def throwaway_postgres(superuser: str, password: str | None = None, *, skip_reason: str = "") -> Iterator[int]:
    """Start a server whose superuser is ``superuser`` and yield its port.

    With ``password`` the server checks passwords (scram-sha-256); without, every local connection is trusted.
    ``skip_reason`` is added to the skip message when the binaries or the driver are missing.
    """
    binaries = _server_binaries()
    if binaries is None:
        pytest.skip(f"no PostgreSQL server binaries / driver here{skip_reason}")
    initdb, pg_ctl_path = binaries
    data = Path(tempfile.mkdtemp(prefix="erp-wms-pg-"))
    prefix = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    auth = ["--auth=trust"]
    if password is not None:
        (data / "pw").write_text(password + "\n")
        auth = ["--auth=scram-sha-256", f"--pwfile={data / 'pw'}"]
    if prefix:
        for path in (data, *data.iterdir()):
            shutil.chown(path, "nobody")
    port = free_port()
    pg_ctl = [pg_ctl_path, "-D", str(data / "db")]
    subprocess.run([*prefix, initdb, "-D", str(data / "db"), "-U", superuser, *auth], check=True,
                   capture_output=True, timeout=120)
    subprocess.run([*prefix, *pg_ctl, "-o", f"-h 127.0.0.1 -p {port} -k {data}", "-l", str(data / "log"), "-w",
                    "start"], check=True, capture_output=True, timeout=60)
    try:
        yield port
    finally:
        subprocess.run([*prefix, *pg_ctl, "-m", "fast", "stop"], capture_output=True, timeout=60)
        time.sleep(0.1)
        shutil.rmtree(data, ignore_errors=True)
