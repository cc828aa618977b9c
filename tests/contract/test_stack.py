"""The simulator stack: three servers on free ports, their base URLs and demo data, clean stop, and
``python -m erp_wms_simulators up`` as a real process (addresses printed, JSON written, SIGTERM honoured).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from erp_wms_simulators.bluecherry.demo import DEMO_SUBSCRIPTION_KEY
from erp_wms_simulators.cin7core import create_app as create_cin7_app
from erp_wms_simulators.cin7core.demo import DEMO_ACCOUNT_ID, DEMO_APPLICATION_KEY
from erp_wms_simulators.server import NAMES, ServerThread, SimulatorStack

HAS_PEOPLEVOX = importlib.util.find_spec("erp_wms_simulators.peoplevox") is not None
needs_peoplevox = pytest.mark.skipif(not HAS_PEOPLEVOX, reason="the Peoplevox simulator package is missing")
CIN7_HEADERS = {"api-auth-accountid": DEMO_ACCOUNT_ID, "api-auth-applicationkey": DEMO_APPLICATION_KEY}
BLUECHERRY_HEADERS = {"Ocp-Apim-Subscription-Key": DEMO_SUBSCRIPTION_KEY}


def assert_erps_answer(urls: dict[str, str]) -> None:
    me = requests.get(urls["cin7core"] + "/me", headers=CIN7_HEADERS, timeout=5)
    assert me.status_code == 200 and me.json()["Company"] == "Northwind Outfitters"
    skus = requests.get(urls["bluecherry"] + "/skus", headers=BLUECHERRY_HEADERS, timeout=5)
    assert skus.status_code == 200 and skus.json()["total"] == 59


@needs_peoplevox
def test_stack_starts_all_three_on_free_ports_and_stops() -> None:
    with SimulatorStack() as stack:
        ports = {name: server.port for name, server in stack.servers.items()}
        assert set(ports) == set(NAMES) and len(set(ports.values())) == 3
        assert stack.urls["cin7core"] == f"http://127.0.0.1:{ports['cin7core']}/ExternalApi/v2"
        assert stack.urls["peoplevox"] == f"http://127.0.0.1:{ports['peoplevox']}"
        assert stack.urls["bluecherry"] == f"http://127.0.0.1:{ports['bluecherry']}/api/v1"
        assert_erps_answer(stack.urls)
        assert requests.get(stack.urls["peoplevox"] + "/_sim/health", timeout=5).status_code == 200
        assert len(stack.cin7core.products) == 40 and len(stack.bluecherry.skus()) == 59
        assert stack.peoplevox is not None
        described = stack.describe()
        assert described["cin7core"]["credentials"]["application_key"] == DEMO_APPLICATION_KEY
        assert described["bluecherry"]["credentials"]["subscription_key"] == DEMO_SUBSCRIPTION_KEY
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{ports['cin7core']}/ExternalApi/v2/me", timeout=2)


def test_stack_can_start_a_subset_without_demo_data() -> None:
    with SimulatorStack(seed_demo=False, names=("cin7core", "bluecherry")) as stack:
        assert set(stack.servers) == {"cin7core", "bluecherry"}
        assert stack.cin7core.products == {} and stack.bluecherry.skus() == []
        with pytest.raises(RuntimeError, match="peoplevox simulator is not running"):
            _ = stack.peoplevox
    with pytest.raises(ValueError, match="unknown simulator"):
        SimulatorStack(names=("sap",))


def test_a_busy_port_fails_with_a_clear_message_and_nothing_left_running() -> None:
    with ServerThread(create_cin7_app(), name="occupier") as occupier:
        stack = SimulatorStack(ports={"bluecherry": occupier.port}, names=("cin7core", "bluecherry"))
        with pytest.raises(OSError, match=f"bluecherry: cannot listen on 127.0.0.1:{occupier.port}"):
            stack.start()
        assert stack.servers == {}


def test_server_thread_reports_its_url_and_frees_the_port() -> None:
    server = ServerThread(create_cin7_app(), name="probe").start()
    port = server.port
    assert server.url == f"http://127.0.0.1:{port}" and server.running
    assert requests.get(server.url + "/ExternalApi/v2/me", headers=CIN7_HEADERS, timeout=5).status_code == 200
    server.stop()
    assert not server.running
    again = ServerThread(create_cin7_app(), port=port, name="probe-again").start()  # the port is free again
    again.stop()


@needs_peoplevox
def test_cli_up_prints_addresses_writes_json_and_stops_on_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "stack.json"
    command = [sys.executable, "-m", "erp_wms_simulators", "up", "--cin7core-port", "0", "--peoplevox-port", "0",
               "--bluecherry-port", "0", "--write-json", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 30
        while not out.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert out.exists(), process.stderr.read() if process.poll() is not None else "no JSON within 30 s"
        described = json.loads(out.read_text())
        assert set(described) == set(NAMES)
        assert_erps_answer({name: info["url"] for name, info in described.items()})
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=5)
    assert process.returncode == 0, stderr
    for name, info in described.items():
        assert info["url"] in stdout and name in stdout
    assert DEMO_APPLICATION_KEY in stdout and "stopping simulators" in stdout
