"""Airflow hooks turn connections (AIRFLOW_CONN_* here) into clients; test_connection works against the systems."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from erp_wms_simulators.server import SimulatorStack
from erp_wms_sync.airflow.hooks import BlueCherryHook, Cin7CoreHook, PeoplevoxHook, erp_hook, ledger_url
from erp_wms_sync.demo import env_vars


@pytest.fixture(scope="module")
def stack() -> Iterator[SimulatorStack]:
    with SimulatorStack() as running:
        yield running


@pytest.fixture
def conns(stack: SimulatorStack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    variables = env_vars(stack.describe())
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables


def test_hooks_do_no_io_on_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NOWHERE", raising=False)
    hook = Cin7CoreHook("nowhere")  # the connection does not exist: nothing happens until it is used
    assert hook.conn_id == "nowhere"
    assert Cin7CoreHook().conn_id == Cin7CoreHook.default_conn_name == "cin7core_default"


@pytest.mark.parametrize("host, schema, port, expected", [
    ("127.0.0.1", "", 8701, "http://127.0.0.1:8701/ExternalApi/v2"),
    ("inventory.dearsystems.com", "https", None, "https://inventory.dearsystems.com/ExternalApi/v2"),
    ("https://inventory.dearsystems.com", "", None, "https://inventory.dearsystems.com/ExternalApi/v2"),
], ids=["host-port", "schema-as-scheme", "scheme-in-host"])
def test_the_base_url_is_built_like_the_http_provider_builds_it(monkeypatch: pytest.MonkeyPatch, host: str,
                                                               schema: str, port: int | None, expected: str) -> None:
    conn = {"conn_type": "cin7core", "host": host, "schema": schema, "login": "acct", "password": "key-123"}
    if port:
        conn["port"] = port
    monkeypatch.setenv("AIRFLOW_CONN_SOMEWHERE", json.dumps(conn))
    assert Cin7CoreHook("somewhere").get_client().transport.base_url == expected


@pytest.mark.parametrize("conn_id, hook_class", [("northwind_cin7core", Cin7CoreHook),
                                                 ("northwind_peoplevox", PeoplevoxHook),
                                                 ("bluebird_bluecherry", BlueCherryHook),
                                                 ("bluebird_peoplevox", PeoplevoxHook)])
def test_test_connection_succeeds_against_the_simulators(conns, conn_id: str, hook_class) -> None:
    ok, message = hook_class(conn_id).test_connection()
    assert ok, message


def test_clients_are_built_from_the_connection(conns) -> None:
    cin7 = erp_hook("cin7core", "northwind_cin7core").get_client()
    assert any(p.sku for p in cin7.iter_products())
    pvx = PeoplevoxHook("bluebird_peoplevox").get_client()
    assert pvx.client_id == "bluebird"


def test_wrong_secret_fails_the_test_without_echoing_it(conns, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = json.loads(conns["AIRFLOW_CONN_NORTHWIND_CIN7CORE"])
    conn["password"] = "wrong-key-0000-1111"
    monkeypatch.setenv("AIRFLOW_CONN_NORTHWIND_CIN7CORE", json.dumps(conn))
    ok, message = Cin7CoreHook("northwind_cin7core").test_connection()
    assert not ok and "403" in message and "wrong-key-0000-1111" not in message


def test_missing_peoplevox_tenant_is_named(conns, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = json.loads(conns["AIRFLOW_CONN_NORTHWIND_PEOPLEVOX"])
    conn.pop("extra")
    monkeypatch.setenv("AIRFLOW_CONN_NORTHWIND_PEOPLEVOX", json.dumps(conn))
    ok, message = PeoplevoxHook("northwind_peoplevox").test_connection()
    assert not ok and "client_id" in message


def test_ledger_url_from_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_ERP_WMS_LEDGER", raising=False)
    assert ledger_url() is None
    monkeypatch.setenv("AIRFLOW_CONN_ERP_WMS_LEDGER", json.dumps(
        {"conn_type": "postgres", "host": "db", "port": 5432, "login": "l", "password": "p@ss", "schema": "ledger"}))
    assert ledger_url() == "postgresql+psycopg2://l:p%40ss@db:5432/ledger"
    monkeypatch.setenv("AIRFLOW_CONN_ERP_WMS_LEDGER", json.dumps({"conn_type": "ftp", "host": "x"}))
    with pytest.raises(ValueError, match="not supported"):
        ledger_url()


@pytest.mark.parametrize("conn_type, hook_class", [("cin7core", Cin7CoreHook), ("bluecherry", BlueCherryHook)])
def test_an_erp_quota_window_comes_from_the_connection(monkeypatch: pytest.MonkeyPatch, conn_type: str,
                                                       hook_class) -> None:
    """The window of the key's quota is 60 s unless the connection's extra ``rate_window_seconds`` says otherwise
    (a gateway with another window, or a simulator on a scaled clock)."""
    conn = {"conn_type": conn_type, "host": "127.0.0.1", "port": 9, "login": "acct", "password": "key-123"}
    monkeypatch.setenv("AIRFLOW_CONN_QUOTA", json.dumps(conn))
    assert hook_class("quota").get_client().transport.budget.rule.window_seconds == 60
    monkeypatch.setenv("AIRFLOW_CONN_QUOTA", json.dumps({**conn, "extra": {"rate_window_seconds": 6}}))
    assert hook_class("quota").get_client().transport.budget.rule.window_seconds == 6
