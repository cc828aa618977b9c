"""The shared HTTP transport: which answers are retried and how long it waits, Retry-After, backoff
bounds, fatal 4xx, and that no secret reaches an error message (the API budget: tests/unit/test_budget.py).
"""

from __future__ import annotations

import email.utils
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from erp_wms_sync.connectors.transport import (
    HttpTransport,
    RetryPolicy,
    parse_retry_after,
    redact,
)
from erp_wms_sync.errors import ApiAuthError, ApiRejected, ApiUnavailable

SECRET = "s3cr3t-application-key"


def response(status: int, body: str = "", headers: dict[str, str] | None = None,
             url: str = "http://api.test/x") -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = body.encode()
    resp.headers.update(headers or {})
    resp.url = url
    return resp


class StubSession:
    """Plays back queued answers (responses or exceptions) and records each request."""

    def __init__(self, *answers: requests.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.requests.append((method, url, kwargs))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def transport(*answers: requests.Response | Exception, **options: Any) -> tuple[HttpTransport, list[float]]:
    sleeps: list[float] = []
    http = HttpTransport(system="testapi", base_url="http://api.test/v2/", headers={"X-Key": SECRET},
                         secrets=(SECRET,), session=StubSession(*answers),  # type: ignore[arg-type]
                         sleep=sleeps.append, rng=lambda: 0.5, **options)
    return http, sleeps


# ---- retries --------------------------------------------------------------------------------
@pytest.mark.parametrize("first", [
    response(429), response(500), response(502), response(503), response(504),
    requests.ConnectionError("connection refused"), requests.Timeout("read timed out"),
], ids=["429", "500", "502", "503", "504", "connection-error", "timeout"])
def test_transient_failures_are_retried(first: requests.Response | Exception) -> None:
    http, sleeps = transport(first, response(200, '{"ok": true}'))
    assert http.request("GET", "items").json() == {"ok": True}
    assert len(sleeps) == 1 and http.calls == 2


def test_request_goes_to_the_joined_url_with_headers_and_timeout() -> None:
    http, _ = transport(response(200), timeout=(2.0, 9.0))
    http.request("GET", "/product", params={"Page": 1})
    method, url, kwargs = http.session.requests[0]  # type: ignore[attr-defined]
    assert (method, url) == ("GET", "http://api.test/v2/product")
    assert kwargs["timeout"] == (2.0, 9.0) and kwargs["params"] == {"Page": 1}
    assert kwargs["headers"]["X-Key"] == SECRET and "erp-wms-sync" in kwargs["headers"]["User-Agent"]


def test_gives_up_after_max_attempts_with_api_unavailable() -> None:
    http, sleeps = transport(*[response(503, f"busy {SECRET}")] * 3, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ApiUnavailable) as caught:
        http.request("GET", "items")
    assert caught.value.status == 503 and "after 3 attempts" in str(caught.value)
    assert SECRET not in str(caught.value) and "***" in caught.value.body
    assert len(sleeps) == 2


def test_connection_errors_end_as_api_unavailable_without_secrets() -> None:
    error = requests.ConnectionError(f"cannot reach http://api.test/v2/items?key={SECRET}")
    http, _ = transport(error, error, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(ApiUnavailable) as caught:
        http.request("GET", f"items?key={SECRET}")
    assert caught.value.status is None and SECRET not in str(caught.value)
    assert "ConnectionError" in str(caught.value)


@pytest.mark.parametrize(("status", "error"), [(400, ApiRejected), (404, ApiRejected), (409, ApiRejected),
                                               (401, ApiAuthError), (403, ApiAuthError)])
def test_fatal_4xx_is_raised_at_once(status: int, error: type[Exception]) -> None:
    http, sleeps = transport(response(status, f'[{{"Exception": "bad {SECRET}"}}]'))
    with pytest.raises(error) as caught:
        http.request("POST", "items")
    assert http.calls == 1 and sleeps == []
    assert f"HTTP {status}" in str(caught.value) and SECRET not in str(caught.value)


def test_ok_statuses_are_returned_instead_of_raised() -> None:
    http, _ = transport(response(404, "none"))
    assert http.request("GET", "items", ok_statuses=(404,)).status_code == 404


# ---- Retry-After and backoff ----------------------------------------------------------------
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def soap_fault(code: str) -> str:
    return (f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><soap:Fault><faultcode>soap:{code}</faultcode>'
            f"<faultstring>it failed</faultstring></soap:Fault></soap:Body></soap:Envelope>")


SOAP12_RECEIVER = ('<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault>'
                   "<env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason><env:Text>busy</env:Text>"
                   "</env:Reason></env:Fault></env:Body></env:Envelope>")


@pytest.mark.parametrize("body", [soap_fault("Server"), SOAP12_RECEIVER, "<html><body>Bad gateway</body></html>",
                                  "", "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>"])
def test_a_soap_server_fault_or_an_error_page_is_asked_again(body: str) -> None:
    from erp_wms_sync.connectors.peoplevox_soap import is_server_fault

    http, sleeps = transport(response(500, body), response(200, "ok"))
    assert http.request("POST", "svc", ok_statuses=(500,), transient=is_server_fault).text == "ok"
    assert len(sleeps) == 1 and http.calls == 2


@pytest.mark.parametrize("body", [soap_fault("Client"), soap_fault("VersionMismatch")])
def test_a_soap_client_fault_is_a_verdict_handed_back_at_once(body: str) -> None:
    from erp_wms_sync.connectors.peoplevox_soap import is_server_fault

    http, sleeps = transport(response(500, body))
    assert http.request("POST", "svc", ok_statuses=(500,), transient=is_server_fault).status_code == 500
    assert sleeps == [] and http.calls == 1


def test_a_server_fault_that_lasts_is_handed_back_after_max_attempts() -> None:
    from erp_wms_sync.connectors.peoplevox_soap import is_server_fault

    answers = [response(500, soap_fault("Server")) for _ in range(3)]
    http, sleeps = transport(*answers, retry=RetryPolicy(max_attempts=3))
    assert http.request("POST", "svc", ok_statuses=(500,), transient=is_server_fault).status_code == 500
    assert http.calls == 3 and len(sleeps) == 2


def test_retry_after_seconds_is_the_wait() -> None:
    http, sleeps = transport(response(429, headers={"Retry-After": "7"}), response(200))
    http.request("GET", "items")
    assert sleeps == [7.0]


def test_retry_after_is_capped() -> None:
    http, sleeps = transport(response(503, headers={"Retry-After": "3600"}), response(200),
                             retry=RetryPolicy(max_retry_after=120.0))
    http.request("GET", "items")
    assert sleeps == [120.0]


def test_retry_after_http_date_is_converted_to_seconds() -> None:
    now = 1_750_000_000.0
    header = email.utils.formatdate(now + 42, usegmt=True)
    assert parse_retry_after(header, now=lambda: now) == pytest.approx(42.0)
    assert parse_retry_after(email.utils.formatdate(now - 10, usegmt=True), now=lambda: now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5e3"])
def test_garbled_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_backoff_grows_exponentially_within_jitter_bounds() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=30.0)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 30.0), (20, 30.0)]:
        assert policy.delay(attempt, None, lambda: 0.0) == pytest.approx(ceiling / 2)
        assert policy.delay(attempt, None, lambda: 1.0) == pytest.approx(ceiling)
        assert ceiling / 2 <= policy.delay(attempt, None, lambda: 0.37) <= ceiling


def test_jitter_spreads_the_waits() -> None:
    import random

    rng = random.Random(7)
    waits = {round(RetryPolicy().delay(3, None, rng.random), 6) for _ in range(20)}
    assert len(waits) > 10 and all(1.0 <= w <= 2.0 for w in waits)


# ---- redaction ------------------------------------------------------------------------------
def test_redact_replaces_each_secret_and_skips_tiny_ones() -> None:
    text = f"key={SECRET}&account=acct-123&x=ab"
    assert redact(text, [SECRET, "acct-123", "ab", ""]) == "key=***&account=***&x=ab"


# ---- against a real local HTTP server -------------------------------------------------------
class FlakyHandler(BaseHTTPRequestHandler):
    """Answers 503 (with Retry-After: 0) to every other request, else 200."""

    hits = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            type(self).hits += 1
            busy = type(self).hits % 2 == 1
        status, body = (503, b"busy") if busy else (200, b'{"ok": true}')
        self.send_response(status)
        if busy:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def flaky_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_real_server_503_then_200(flaky_url: str) -> None:
    sleeps: list[float] = []
    http = HttpTransport(system="testapi", base_url=flaky_url, sleep=sleeps.append, timeout=(2.0, 5.0))
    assert http.request("GET", "/anything").json() == {"ok": True}
    assert sleeps == [0.0] and http.calls == 2


def test_real_refused_connection_is_retried_then_unavailable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    sleeps: list[float] = []
    http = HttpTransport(system="testapi", base_url=f"http://127.0.0.1:{port}", sleep=sleeps.append,
                         retry=RetryPolicy(max_attempts=2), timeout=(1.0, 1.0))
    with pytest.raises(ApiUnavailable, match="after 2 attempts"):
        http.request("GET", "/x")
    assert len(sleeps) == 1
