"""A failed data check alerts its owners by e-mail and Slack (task-level callbacks, through local sinks)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.e2e.conftest import task_states

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content)
        self.messages.append({"to": envelope.rcpt_tos, "subject": msg.get("Subject", "")})
        return "250 OK"


@pytest.fixture
def sinks(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Mailbox, list[str]]]:
    mailbox, posts = Mailbox(), []
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()

    class Slack(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            return

    http = ThreadingHTTPServer(("127.0.0.1", 0), Slack)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    monkeypatch.setenv("AIRFLOW_CONN_ERP_WMS_SMTP", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": smtp.port,
         "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "alerts@test.example", "timeout": 5,
                   "retry_limit": 0}}))
    monkeypatch.setenv("AIRFLOW_CONN_ERP_WMS_SLACK", json.dumps(
        {"conn_type": "slackwebhook", "host": f"http://127.0.0.1:{http.server_address[1]}/services",
         "password": "T1/B1/secret-token"}))
    try:
        yield mailbox, posts
    finally:
        http.shutdown()
        smtp.stop()


def test_failed_data_check_alerts_the_owners(sinks, run_dag) -> None:
    mailbox, posts = sinks
    run = run_dag("northwind__item_master_sync")
    assert task_states(run)["data_check"] == "failed"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (mailbox.messages and posts):
        time.sleep(0.1)
    task_mail = [m for m in mailbox.messages if "task data_check" in m["subject"]]
    assert task_mail and task_mail[0]["to"] == ["ops@northwind.example"]
    assert "[erp-wms-sync/northwind] northwind__item_master_sync failed" in task_mail[0]["subject"]
    slack = [json.loads(p)["text"] for p in posts if "data_check" in p]
    assert slack and "data check 'item_master' failed: 5 of" in slack[0]  # 4 invalid items, 1 unknown to the ERP
    assert "secret-token" not in slack[0]


def test_a_peoplevox_item_unknown_to_the_erp_alerts_in_the_run_that_found_it(sinks, run_dag) -> None:
    """The data check reports what the whole run held, including what flag_wms_items_not_in_erp found; before,
    it could run first and miss it, and the next runs saw it only "again": that problem never alerted."""
    _, posts = sinks
    run = run_dag("northwind__item_master_sync")
    assert task_states(run)["data_check"] == "failed"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not posts:
        time.sleep(0.1)
    slack = [json.loads(p)["text"] for p in posts if "task data_check" in p]
    assert len(slack) == 1 and "invalid_item" in slack[0] and "wms_item_not_in_erp" in slack[0], slack
