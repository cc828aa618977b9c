"""Exception digests end to end: the real ``northwind__exception_digest`` DAG under dag.test(), sending through the
Airflow SMTP and Slack-webhook notifiers to a local SMTP server (aiosmtpd) and a local HTTP endpoint standing in for
Slack, both on 127.0.0.1. What each receives is asserted: per team the right recipients or webhook, a subject
naming integration, team and count, one line per exception type; nothing again when nothing is new; nothing and no
failure without alert configuration; an SMTP outage leaves the e-mail to the next run while Slack got its copy once.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller

from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope, upgrade
from erp_wms_sync.ledger.repo import NewException
from tests.e2e.conftest import task_states

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "northwind__exception_digest"
FINANCE = ["fin@northwind.example", "cfo@northwind.example"]
ECOMMERCE = ["shop@northwind.example"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """Every e-mail the SMTP server accepted: recipients, subject and the HTML body."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content)
        body = next((part.get_payload(decode=True).decode() for part in message.walk()
                     if part.get_content_type() == "text/html"), "")
        self.messages.append({"to": sorted(envelope.rcpt_tos), "subject": message.get("Subject", ""), "body": body})
        return "250 OK"

    def to(self, recipients: list[str]) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["to"] == sorted(recipients)]


class Sinks:
    """The SMTP server (stoppable, to stand for an outage) and the Slack endpoint (posts by webhook path)."""

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.smtp_port = free_port()
        self.smtp: Controller | None = None
        self.posts: list[tuple[str, str]] = []
        posts = self.posts

        class Slack(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode())
                posts.append((self.path, body["text"]))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                return

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Slack)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def start_smtp(self) -> None:
        self.smtp = Controller(self.mailbox, hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()

    def stop_smtp(self) -> None:
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None

    def slack(self, path: str) -> list[str]:
        return [text for where, text in self.posts if where == path]

    def close(self) -> None:
        self.stop_smtp()
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def sinks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sinks]:
    running = Sinks()
    running.start_smtp()
    monkeypatch.setenv("AIRFLOW_CONN_ERP_WMS_SMTP", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": running.smtp_port,
         "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "digests@test.example", "timeout": 5,
                   "retry_limit": 0}}))
    base = f"http://127.0.0.1:{running.http.server_address[1]}/services"
    monkeypatch.setenv("AIRFLOW_CONN_ERP_WMS_SLACK", json.dumps(
        {"conn_type": "slackwebhook", "host": base, "password": "T1/B1/ops-token"}))
    monkeypatch.setenv("AIRFLOW_CONN_SHOP_SLACK", json.dumps(
        {"conn_type": "slackwebhook", "host": base, "password": "T1/B2/shop-token"}))
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("ERP_WMS_LEDGER_URL", url)
    upgrade(url)
    return url


def northwind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alerts: dict[str, Any] | None = None) -> Any:
    """The northwind DAGs, built from the sample file with this test's digest teams (and alert settings)."""
    from airflow.dag_processing.dagbag import DagBag

    data = yaml.safe_load((ROOT / "include/integrations/northwind.yaml").read_text())
    data["digests"] = {"teams": {"finance": {"emails": FINANCE},
                                 "ecommerce": {"emails": ECOMMERCE, "slack_conn_id": "shop_slack"}},
                       "dashboard_url": "http://airflow.test:8080", "settle_minutes": 0}
    if alerts is not None:
        data["alerts"] = alerts
    folder = tmp_path / "integrations"
    folder.mkdir(exist_ok=True)
    (folder / "northwind.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("ERP_WMS_INTEGRATIONS_DIR", str(folder))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags[DAG_ID]
    for task in dag.tasks:
        task.retries = 0
    return dag


def run(dag: Any) -> dict[str, str]:
    """One digest run now (its window ends a minute from now; the digest itself never reads past now)."""
    now = datetime.now(UTC)
    conf = {"window_start": (now - timedelta(hours=1)).isoformat(),
            "window_end": (now + timedelta(minutes=1)).isoformat()}
    return task_states(dag.test(run_conf=conf))


def hold(url: str, type_: str, owner: str, keys: list[str], summary: str) -> None:
    with session_scope(url) as s:
        for key in keys:
            repo.raise_exception(s, integration="northwind", flow="reconciliation", owner=owner,
                                 exc=NewException(type_, "sku", key, summary.format(key=key), {}, None),
                                 run_id="scheduled__test")


def test_each_team_gets_one_digest_per_channel_with_a_line_per_cause_and_nothing_twice(
        sinks: Sinks, ledger: str, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dag = northwind(tmp_path, monkeypatch)
    hold(ledger, "stock_variance", "finance+warehouse", [f"NW-SKU-{n:04d}@MAIN" for n in range(1000)],
         "{key}: Cin7 on hand 10, Peoplevox 8")
    hold(ledger, "unmapped_sku", "ecommerce", ["SO-5001", "SO-5002"], "{key}: SKU NW-HAT-RED not in Peoplevox")
    hold(ledger, "orphaned_order", "ops", ["SO-4000"], "{key} is missing in Peoplevox")  # ops gets no digest

    assert run(dag) == {"plan_window": "success", "send_digests": "success"}

    (finance,) = sinks.mailbox.to(FINANCE)
    assert finance["subject"] == ("[erp-wms-sync/northwind] finance: 1000 new exceptions (1 type) in "
                                  "Northwind Outfitters")
    assert finance["body"].count("<li><code>NW-SKU-") == 3 and "and 997 more" in finance["body"]
    assert ('href="http://airflow.test:8080/erp-wms-dashboard/?integration=northwind&amp;owner=finance&amp;'
            'type=stock_variance"') in finance["body"]
    (shop,) = sinks.mailbox.to(ECOMMERCE)
    assert shop["subject"].startswith("[erp-wms-sync/northwind] ecommerce: 2 new exceptions (1 type)")
    assert "SO-5001</code>: SO-5001: SKU NW-HAT-RED not in Peoplevox" in shop["body"]
    assert len(sinks.mailbox.messages) == 2, "one e-mail per team, none for ops"
    assert not any("SO-4000" in m["body"] for m in sinks.mailbox.messages)

    (finance_slack,) = sinks.slack("/services/T1/B1/ops-token")
    bullets = [line for line in finance_slack.splitlines() if line.startswith("• ")]
    assert bullets == ["• *stock_variance*: 1000 new (<http://airflow.test:8080/erp-wms-dashboard/?integration="
                       "northwind&owner=finance&type=stock_variance|open the list>)"]
    assert finance_slack.count("Cin7 on hand 10, Peoplevox 8") == 3
    (shop_slack,) = sinks.slack("/services/T1/B2/shop-token")
    assert "*unmapped_sku*: 2 new" in shop_slack and "`SO-5002`" in shop_slack

    assert run(dag) == {"plan_window": "success", "send_digests": "success"}
    assert len(sinks.mailbox.messages) == 2 and len(sinks.posts) == 2, "nothing new: nothing sent"


def test_an_smtp_outage_leaves_the_email_to_the_next_run_while_slack_got_its_copy_once(
        sinks: Sinks, ledger: str, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dag = northwind(tmp_path, monkeypatch)
    hold(ledger, "credit_before_stock_in", "finance", ["RET-77"], "{key} credited before its stock-in")
    sinks.stop_smtp()
    assert run(dag)["send_digests"] == "success", "a channel down fails only that delivery"
    assert sinks.mailbox.messages == []
    assert len(sinks.slack("/services/T1/B1/ops-token")) == 1

    hold(ledger, "return_not_restocked", "finance", ["RET-78"], "{key} not restocked within 24 h")
    sinks.start_smtp()
    assert run(dag)["send_digests"] == "success"
    (mail,) = sinks.mailbox.to(FINANCE)
    assert mail["subject"].startswith("[erp-wms-sync/northwind] finance: 2 new exceptions (2 types)")
    assert "RET-77" in mail["body"] and "RET-78" in mail["body"], "the missed period arrives with the new one"
    first, second = sinks.slack("/services/T1/B1/ops-token")
    assert "RET-77" in first and "RET-77" not in second and "RET-78" in second


def test_without_alert_configuration_nothing_is_sent_and_the_run_stays_green(
        sinks: Sinks, ledger: str, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_SHOP_SLACK")
    dag = northwind(tmp_path, monkeypatch, alerts={"emails": []})  # no smtp_conn_id, no slack_conn_id
    hold(ledger, "credit_before_stock_in", "finance", ["RET-1"], "{key} credited before its stock-in")
    hold(ledger, "unmapped_sku", "ecommerce", ["SO-1"], "{key}: SKU missing")
    assert run(dag) == {"plan_window": "success", "send_digests": "success"}
    assert sinks.mailbox.messages == []
    assert sinks.posts == [], "finance has no Slack; ecommerce's webhook connection does not exist: logged, not sent"
