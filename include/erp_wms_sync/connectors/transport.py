"""One transport policy for every vendor API.

- timeouts on every call (connect, read);
- retry of 429 / 5xx / connection errors / timeouts with jittered exponential backoff, honouring
  ``Retry-After`` (seconds or an HTTP date), bounded by ``RetryPolicy.max_attempts``;
- a token-bucket pace shared by every client that uses the same API key in this process, so a task
  never bursts past the vendor's limit (Cin7 Core: 60 calls per rolling minute per application key);
- fatal 4xx raised at once as :class:`ApiRejected` / :class:`ApiAuthError`;
- every error message and log line passes through :func:`redact`, so credentials never leak.

Clients never import Airflow; Airflow task retries are the outer net around this one.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from erp_wms_sync.errors import ApiAuthError, ApiRejected, ApiUnavailable

log = logging.getLogger(__name__)

USER_AGENT = "erp-wms-sync/0.1 (+https://github.com/erp-wms-sync)"
BODY_EXCERPT = 300
REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret (and its obvious encodings) in ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, REDACTED)
    return text


def trim(text: str, limit: int = BODY_EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the transport tries before it gives up with :class:`ApiUnavailable`."""

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: Callable[[], float]) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return ceiling / 2 + rng() * ceiling / 2  # "equal jitter": never zero, never above the cap


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date; ``None`` if absent/garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


class TokenBucket:
    """A thread-safe token bucket: ``rate_per_minute`` tokens refill continuously, ``burst`` max."""

    def __init__(self, rate_per_minute: float, burst: int | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        self.rate = rate_per_minute / 60.0
        self.capacity = float(burst if burst is not None else max(1, int(rate_per_minute)))
        self.tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def acquire(self) -> float:
        """Take one token, sleeping as long as needed; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return waited
                need = (1.0 - self.tokens) / self.rate
            self._sleep(need)
            waited += need

    def drain(self) -> None:
        """Empty the bucket (used when the server says we are over its limit anyway)."""
        with self._lock:
            self._refill()
            self.tokens = 0.0


_BUCKETS: dict[str, TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def shared_bucket(system: str, api_key: str, rate_per_minute: float, burst: int | None = None) -> TokenBucket:
    """The process-wide bucket for one API key (keyed by a hash, never by the key itself)."""
    name = f"{system}:{hashlib.sha256(api_key.encode()).hexdigest()[:16]}:{rate_per_minute}"
    with _BUCKETS_LOCK:
        if name not in _BUCKETS:
            _BUCKETS[name] = TokenBucket(rate_per_minute, burst)
        return _BUCKETS[name]


@dataclass
class HttpTransport:
    """A requests session wrapped in the project's retry, pacing and redaction policy."""

    system: str
    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    timeout: tuple[float, float] = (5.0, 60.0)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    bucket: TokenBucket | None = None
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random
    auth_statuses: frozenset[int] = frozenset({401, 403})
    calls: int = 0

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, data: Any = None, headers: Mapping[str, str] | None = None,
                ok_statuses: Iterable[int] = ()) -> requests.Response:
        """Send with retries; returns the response for 2xx (or ``ok_statuses``), raises otherwise."""
        url = self.url(path)
        merged = {"User-Agent": USER_AGENT, **self.headers, **(headers or {})}
        accepted = set(ok_statuses)
        for attempt in range(1, self.retry.max_attempts + 1):
            if self.bucket is not None:
                self.bucket.acquire()
            self.calls += 1
            try:
                resp = self.session.request(method, url, params=params, json=json, data=data,
                                            headers=merged, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = f"{type(exc).__name__}: {self._clean(str(exc))}"
                if attempt == self.retry.max_attempts:
                    raise ApiUnavailable(self.system, f"{method} failed after {attempt} attempts: {reason}",
                                         url=self._clean(url)) from None
                self._wait(attempt, None, method, url, reason)
                continue
            if resp.ok or resp.status_code in accepted:
                return resp
            if resp.status_code in self.retry.retry_statuses:
                if attempt == self.retry.max_attempts:
                    raise ApiUnavailable(self.system, f"{method} still failing after {attempt} attempts",
                                         status=resp.status_code, body=self._excerpt(resp),
                                         url=self._clean(url))
                if resp.status_code == 429 and self.bucket is not None:
                    self.bucket.drain()
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                self._wait(attempt, retry_after, method, url, f"HTTP {resp.status_code}")
                continue
            error = ApiAuthError if resp.status_code in self.auth_statuses else ApiRejected
            raise error(self.system, f"{method} refused", status=resp.status_code,
                        body=self._excerpt(resp), url=self._clean(url))
        raise AssertionError("unreachable: the retry loop always returns or raises")

    def _wait(self, attempt: int, retry_after: float | None, method: str, url: str, reason: str) -> None:
        delay = self.retry.delay(attempt, retry_after, self.rng)
        log.warning("%s %s %s: %s; retry %d/%d in %.1fs", self.system, method, self._clean(url), reason,
                    attempt, self.retry.max_attempts - 1, delay)
        self.sleep(delay)

    def _clean(self, text: str) -> str:
        return redact(text, self.secrets)

    def _excerpt(self, resp: requests.Response) -> str:
        return trim(self._clean(resp.text or ""))
