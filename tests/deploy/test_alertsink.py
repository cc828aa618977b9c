"""The compose file's alertsink service, run for real: a failed task's alerts reach it over the compose connections.

The service's command is taken from docker-compose.yaml and started on 127.0.0.1 with free ports (in the
container it listens on 0.0.0.0:1025 and :8090). The alert connections are loaded from the compose file with
only their host/port variables changed. The project's own failure callback then sends the alerts.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.compose_file import connections, load

FAILURE_CONTEXT = {"dag_id": "northwind__item_master_sync", "run_id": "scheduled__2026-03-02T10:00:00+00:00",
                   "exception": "ApiUnavailable: Cin7 Core answered 503 five times"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
    except OSError:
        return False
    return True


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """(SMTP port, HTTP port, log file) of a running alert sink."""
    command = [str(part) for part in load()["services"]["alertsink"]["command"]]
    assert command[:4] == ["python", "-W", "ignore", "-c"] and command[5:] == ["0.0.0.0", "1025", "8090"]
    smtp_port, http_port, log = _free_port(), _free_port(), tmp_path / "alertsink.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, *command[1:5], "127.0.0.1", str(smtp_port), str(http_port)],
                                   stdout=out, stderr=subprocess.STDOUT, env={"PYTHONUNBUFFERED": "1"})
    try:
        assert _wait_for(lambda: _listening(smtp_port) and _listening(http_port), 15), log.read_text()
        yield smtp_port, http_port, log
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_failure_alerts_arrive_at_the_alert_sink(sink: tuple[int, int, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_wms_sync.airflow.alerts import send_failure_alerts

    smtp_port, http_port, log = sink
    conns = connections(load({"ERP_WMS_SMTP_HOST": "127.0.0.1", "ERP_WMS_SMTP_PORT": str(smtp_port),
                              "ERP_WMS_SLACK_HOST": f"http://127.0.0.1:{http_port}/services"}))
    for conn_id in ("erp_wms_smtp", "erp_wms_slack"):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conns[conn_id]))

    send_failure_alerts(FAILURE_CONTEXT, integration="northwind", emails=("ops@northwind.example",),
                        smtp_conn_id="erp_wms_smtp", slack_conn_id="erp_wms_slack")

    def both_arrived() -> bool:
        text = log.read_text()
        return "---------- EMAIL from" in text and "---------- SLACK WEBHOOK MESSAGE" in text

    assert _wait_for(both_arrived, 15), log.read_text()
    messages = log.read_text().split("---------- ")[1:]
    email = next(m for m in messages if m.startswith("EMAIL from"))
    slack = next(m for m in messages if m.startswith("SLACK WEBHOOK MESSAGE"))
    assert email.startswith("EMAIL from erp-wms-sync@example.com to ops@northwind.example")
    assert "Subject: [erp-wms-sync/northwind] northwind__item_master_sync failed" in email
    for message in (email, slack):
        assert "Cin7 Core answered 503" in message and "scheduled__2026-03-02T10:00:00+00:00" in message
    assert "demo-slack-webhook-token" not in log.read_text()
