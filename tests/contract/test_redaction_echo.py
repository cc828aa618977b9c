"""Servers that echo credentials back in encoded form leak nothing: not in the error raised, not in the log, not
in ``test_connection``'s message, not in the alert.

A stub Cin7 Core / BlueCherry server answers 400 with a body holding the connection's credentials URL-encoded,
base64-encoded, base64 then URL-encoded, JSON-escaped, XML-escaped or inside a basic-auth token; the Peoplevox
simulator refuses a session while echoing the password and the session ids in the same forms.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from erp_wms_simulators.peoplevox import operations
from erp_wms_simulators.peoplevox.soap import IntegrationResult
from erp_wms_sync.airflow.alerts import describe_failure, send_failure_alerts
from erp_wms_sync.airflow.hooks import BlueCherryHook, Cin7CoreHook, PeoplevoxHook
from erp_wms_sync.errors import ApiError
from tests.contract.conftest_peoplevox import PVX_CLIENT, PVX_PASSWORD, PVX_USER, PeoplevoxSim

ACCOUNT_ID = "acct/42+é"
APPLICATION_KEY = 'Kx7/q+Z="é&<k>9'
SUBSCRIPTION_KEY = "sub+key/0123=ü&x"


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


FORMS: dict[str, Callable[[str], str]] = {
    "url-encoded": lambda s: quote(s, safe=""),
    "form-encoded": quote_plus,
    "base64": _b64,
    "base64-url-safe-unpadded": lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
    "base64-then-url-encoded": lambda s: quote(_b64(s), safe=""),
    "json-escaped": lambda s: json.dumps(s)[1:-1],
    "xml-escaped": lambda s: escape(s, {'"': "&quot;"}),
    "basic-auth": lambda s: _b64(f"api-user:{s}"),
}
SECRETS = (ACCOUNT_ID, APPLICATION_KEY, SUBSCRIPTION_KEY)


class Echo(BaseHTTPRequestHandler):
    """``GET /<form>/...``: 400 whose plain-text body echoes every credential in that form."""

    def do_GET(self) -> None:
        form = FORMS[self.path.split("/")[1]]
        body = ("denied for " + " | ".join(form(secret) for secret in SECRETS)).encode()
        self.send_response(400)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(
        {"host": "127.0.0.1", "schema": "http", **fields}))


def leaks(text: str, secrets: tuple[str, ...]) -> list[str]:
    return [f"{name} of {secret!r}" for secret in secrets for name, form in FORMS.items()
            if form(secret) in text] + [f"{secret!r}" for secret in secrets if secret in text]


def alert_text(context: dict[str, Any]) -> str:
    subject, body = describe_failure(context, "northwind")
    return subject + "\n" + body


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("system", ["cin7core", "bluecherry"])
def test_echoed_erp_credentials_leak_nowhere(echo_port: int, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture, form: str, system: str) -> None:
    if system == "cin7core":
        connection(monkeypatch, "echo_erp", conn_type="cin7core", port=echo_port, login=ACCOUNT_ID,
                   password=APPLICATION_KEY, extra={"base_path": f"/{form}"})
        hook: Cin7CoreHook | BlueCherryHook = Cin7CoreHook("echo_erp")
        call: Callable[[Any], Any] = lambda client: client.me()  # noqa: E731
        secrets: tuple[str, ...] = (ACCOUNT_ID, APPLICATION_KEY)
    else:
        connection(monkeypatch, "echo_erp", conn_type="bluecherry", port=echo_port, password=SUBSCRIPTION_KEY,
                   extra={"base_path": f"/{form}"})
        hook, secrets = BlueCherryHook("echo_erp"), (SUBSCRIPTION_KEY,)
        call = lambda client: list(client.iter_warehouses())  # noqa: E731
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ApiError) as caught:
        call(hook.get_client())
    assert "denied for" in str(caught.value) and "***" in str(caught.value)
    ok, message = hook.test_connection()
    assert not ok and "***" in message
    context = {"dag_id": "northwind__order_release", "run_id": "manual__1", "exception": caught.value}
    send_failure_alerts(context, integration="northwind", emails=(), smtp_conn_id=None, slack_conn_id=None)
    raw = {**context, "exception": ValueError(f"a library said {FORMS[form](secrets[-1])}")}
    assert leaks(str(caught.value), secrets) == []
    assert leaks(message, secrets) == []
    assert leaks(alert_text(context), secrets) == [] and leaks(alert_text(raw), secrets) == []
    assert "ALERT" in caplog.text and leaks(caplog.text, secrets) == []
    assert_masked_in_airflow_logs(form, secrets)


def assert_masked_in_airflow_logs(form: str, secrets: tuple[str, ...]) -> None:
    """The hook handed every form of each credential to Airflow's secrets masker, which task logs go through."""
    from airflow.sdk._shared.secrets_masker import redact as airflow_redact

    for secret in secrets:
        line = f"worker said {FORMS[form](secret)}"
        assert leaks(str(airflow_redact(line)), (secret,)) == [], line


@pytest.mark.parametrize("form", list(FORMS))
def test_echoed_peoplevox_password_and_session_leak_nowhere(peoplevox_sim: PeoplevoxSim,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture, form: str) -> None:
    tenant = peoplevox_sim.state.tenants[PVX_CLIENT]

    def careless(ctx: operations.CallContext, body: etree._Element) -> IntegrationResult:
        echoed = " ".join(FORMS[form](secret) for secret in (PVX_PASSWORD, *tenant.sessions))
        return IntegrationResult.error(f"System : Security - Invalid Session ({echoed})")

    monkeypatch.setitem(operations.HANDLERS, "GetSaveTemplate", careless)
    port = peoplevox_sim.base_url.rsplit(":", 1)[1]
    connection(monkeypatch, "echo_pvx", conn_type="peoplevox", port=int(port), login=PVX_USER,
               password=PVX_PASSWORD, extra={"client_id": PVX_CLIENT})
    caplog.set_level(logging.DEBUG)
    ok, message = PeoplevoxHook("echo_pvx").test_connection()
    secrets = (PVX_PASSWORD, *tenant.sessions)
    assert len(tenant.sessions) == 3 and not ok and "Invalid Session (" in message and "***" in message
    assert "re-authenticating (1/2)" in caplog.text  # the first refusal is logged, redacted
    assert leaks(message, secrets) == [] and leaks(caplog.text, secrets) == []
    context = {"dag_id": "northwind__order_release", "run_id": "manual__1",
               "exception": RuntimeError(f"zeep said {FORMS[form](secrets[-1])}")}
    assert leaks(alert_text(context), secrets) == []
    assert_masked_in_airflow_logs(form, secrets)
