"""`make demo` for real: the simulators, the alert sinks and `airflow standalone` under a running scheduler.

Checks what a user of the demo sees: the UI answers with the printed login, both sample item_master_sync DAGs
run green against the simulators, the scenario's orders reach Peoplevox, the failed data checks alert by e-mail
and Slack (task callbacks run in the real scheduler here), every server listens on 127.0.0.1 only, and Ctrl-C
stops everything the demo started.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
DAGS = ("northwind__item_master_sync", "bluebird__item_master_sync")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_for(predicate, timeout: float, what: str, log: Path):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}; demo output:\n{log.read_text()[-4000:]}")


def test_make_demo_runs_the_sample_integrations_and_stops_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    api, cin7, pvx, bc, smtp, slack = free_ports(6)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ERP_WMS"))}
    env.update({"AIRFLOW_HOME": str(home), "DEMO_PORT": str(api), "DEMO_CIN7CORE_PORT": str(cin7),
                "DEMO_PEOPLEVOX_PORT": str(pvx), "DEMO_BLUECHERRY_PORT": str(bc), "DEMO_SMTP_PORT": str(smtp),
                "DEMO_SLACK_PORT": str(slack)})
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(["bash", "scripts/demo.sh"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        banner = wait_for(lambda: "demo is running" in log.read_text() and log.read_text(), 240, "the banner", log)
        password = re.search(r"Login\s+: admin / (\S+)", banner)
        assert password, banner
        base = f"http://127.0.0.1:{api}"
        token = requests.post(f"{base}/auth/token", json={"username": "admin", "password": password.group(1)},
                              timeout=10).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        def finished() -> dict[str, str] | None:
            states = {}
            for dag_id in DAGS:
                runs = requests.get(f"{base}/api/v2/dags/{dag_id}/dagRuns", headers=auth, timeout=10).json()
                done = [r["state"] for r in runs.get("dag_runs", []) if r["state"] in ("success", "failed")]
                if not done:
                    return None
                states[dag_id] = done[0]
            return states

        states = wait_for(finished, 240, "the first runs of both DAGs", log)
        assert states == dict.fromkeys(DAGS, "success")
        alerts = home / "alerts"
        mails = wait_for(lambda: (alerts / "email.jsonl").exists() and (alerts / "email.jsonl").read_text(), 60,
                         "the data-check alert e-mails", log)
        assert "northwind__item_master_sync failed: task data_check" in mails
        assert "bluebird__item_master_sync failed: task data_check" in mails
        assert "data_check" in (alerts / "slack.jsonl").read_text()
        released = wait_for(lambda: requests.get(f"http://127.0.0.1:{pvx}/_sim/northwind/records/Sales orders",
                                                 timeout=10).json(), 120, "orders released to Peoplevox", log)
        assert all(number.startswith("SO-") for number in released), released
        listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, timeout=10).stdout
        for port in (api, cin7, pvx, bc, smtp, slack):
            assert f"127.0.0.1:{port} " in listening, f"port {port} is not on 127.0.0.1:\n{listening}"
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(timeout=60)
        finally:
            if demo.poll() is None:
                os.killpg(demo.pid, signal.SIGKILL)
    assert "Stopped." in log.read_text()
    time.sleep(1)
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, timeout=10).stdout
    assert not [p for p in (api, cin7, pvx, bc, smtp, slack) if f"127.0.0.1:{p} " in listening], listening
    leftovers = subprocess.run(["pgrep", "-f", str(home)], capture_output=True, text=True, timeout=10).stdout
    assert not leftovers.strip(), f"processes left running: {leftovers}"
    json.loads((home / "simulators.json").read_text())  # the addresses the demo printed were real
