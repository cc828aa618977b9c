"""One transport policy for every vendor API.

- timeouts on every call (connect, read);
- retry of 5xx / connection errors / timeouts with jittered exponential backoff, honouring
  ``Retry-After`` (seconds or an HTTP date), bounded by ``RetryPolicy.max_attempts``;
- a slot from the key's API budget (:mod:`erp_wms_sync.connectors.budget`) before every call, so that all
  processes using one key together stay inside the vendor's limit (Cin7 Core: 60 calls per rolling minute);
- rate-limit refusals (429, or a 503 whose body names the limit, as Cin7 Core words it) are waited out: for
  ``Retry-After`` when sent, else for the whole window, and the budget is closed to every other process
  meanwhile. They do not use up ``max_attempts``: the transport gives up only after
  ``RetryPolicy.rate_limit_give_up`` seconds (10 minutes) of continuous refusal, so a run with more work
  than the budget allows finishes slowly instead of failing;
- fatal 4xx raised at once as :class:`ApiRejected` / :class:`ApiAuthError`;
- every error message and log line passes through :func:`redact`, so credentials never leak.

Clients never import Airflow; Airflow task retries are the outer net around this one.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from erp_wms_sync.connectors.budget import Budget, Priority
from erp_wms_sync.connectors.redaction import REDACTED, redact  # noqa: F401  (re-exported)
from erp_wms_sync.errors import ApiAuthError, ApiRejected, ApiUnavailable

log = logging.getLogger(__name__)

USER_AGENT = "erp-wms-sync/0.1 (+https://github.com/erp-wms-sync)"
BODY_EXCERPT = 300
# how vendors word a rate-limit refusal sent as 503 (Cin7 Core: "You reached 60 calls per minute API limit")
RATE_LIMIT_WORDS = re.compile(r"rate.?limit|api limit|calls per minute|too many requests|throttl", re.IGNORECASE)


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
    rate_limit_window: float = 60.0  # wait after a refusal without Retry-After, when no budget knows the window
    rate_limit_min_wait: float = 1.0  # never hammer a refusing server, even when it says "Retry-After: 0"
    rate_limit_give_up: float = 600.0  # seconds of continuous rate-limit refusal before giving up

    def rate_limit_wait(self, retry_after: float | None, window: float) -> float:
        """Seconds to wait after a rate-limit refusal: ``Retry-After`` (capped) when sent, else the window."""
        wait = window if retry_after is None else min(retry_after, self.max_retry_after)
        return max(wait, self.rate_limit_min_wait)

    def max_calls(self) -> int:
        """A hard bound on the calls of one request: every attempt plus every rate-limit wait that fits."""
        return self.max_attempts + math.ceil(self.rate_limit_give_up / self.rate_limit_min_wait) + 1

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


def is_rate_limited(resp: requests.Response) -> bool:
    """A refusal because of the vendor's rate limit: any 429, or a 503 whose body names the limit."""
    if resp.status_code == 429:
        return True
    return resp.status_code == 503 and bool(RATE_LIMIT_WORDS.search(resp.text or ""))


@dataclass
class HttpTransport:
    """A requests session wrapped in the project's retry, budget and redaction policy.

    ``budget`` (optional) is the key's API budget; ``priority`` is this client's place in its queue.
    """

    system: str
    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    timeout: tuple[float, float] = (5.0, 60.0)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    budget: Budget | None = None
    priority: Priority = Priority.NORMAL
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random
    auth_statuses: frozenset[int] = frozenset({401, 403})
    calls: int = 0
    caller: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, data: Any = None, headers: Mapping[str, str] | None = None,
                ok_statuses: Iterable[int] = (),
                transient: Callable[[requests.Response], str | None] | None = None) -> requests.Response:
        """Send with retries; returns the response for 2xx (or ``ok_statuses``), raises otherwise.

        An answer in ``ok_statuses`` that ``transient`` finds passing (it returns why, e.g. "soap:Server fault:
        …"; ``None`` for a verdict) is asked again like a 5xx, and returned as it is once ``max_attempts`` are used
        up, for the caller to judge.
        """
        url = self.url(path)
        merged = {"User-Agent": USER_AGENT, **self.headers, **(headers or {})}
        accepted = set(ok_statuses)
        attempt = 0  # failed attempts (5xx, connection errors, timeouts); rate-limit refusals are not counted
        refused_for = 0.0  # seconds waited on consecutive rate-limit refusals
        for _ in range(self.retry.max_calls()):
            if self.budget is not None:
                self.budget.acquire(self.caller, self.priority)
            self.calls += 1
            try:
                resp = self.session.request(method, url, params=params, json=json, data=data,
                                            headers=merged, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                attempt, refused_for = attempt + 1, 0.0
                reason = f"{type(exc).__name__}: {self._clean(str(exc))}"
                if attempt == self.retry.max_attempts:
                    raise ApiUnavailable(self.system, f"{method} failed after {attempt} attempts: {reason}",
                                         url=self._clean(url)) from None
                self._wait(attempt, None, method, url, reason)
                continue
            if resp.ok:
                return resp
            if resp.status_code in accepted:
                passing = transient(resp) if transient is not None else None
                if passing is None or attempt + 1 >= self.retry.max_attempts:
                    return resp
                attempt, refused_for = attempt + 1, 0.0
                self._wait(attempt, parse_retry_after(resp.headers.get("Retry-After")), method, url,
                           f"HTTP {resp.status_code}, {trim(self._clean(passing), 160)}")
                continue
            if is_rate_limited(resp):
                refused_for += self._wait_out_refusal(resp, refused_for, method, url)
                continue
            if resp.status_code in self.retry.retry_statuses:
                attempt, refused_for = attempt + 1, 0.0
                if attempt == self.retry.max_attempts:
                    raise ApiUnavailable(self.system, f"{method} still failing after {attempt} attempts",
                                         status=resp.status_code, body=self._excerpt(resp),
                                         url=self._clean(url))
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                self._wait(attempt, retry_after, method, url, f"HTTP {resp.status_code}")
                continue
            error = ApiAuthError if resp.status_code in self.auth_statuses else ApiRejected
            raise error(self.system, f"{method} refused", status=resp.status_code,
                        body=self._excerpt(resp), url=self._clean(url))
        raise ApiUnavailable(self.system, f"{method} gave up after {self.retry.max_calls()} calls",
                             url=self._clean(url))

    def _wait(self, attempt: int, retry_after: float | None, method: str, url: str, reason: str) -> None:
        delay = self.retry.delay(attempt, retry_after, self.rng)
        log.warning("%s %s %s: %s; retry %d/%d in %.1fs", self.system, method, self._clean(url), reason,
                    attempt, self.retry.max_attempts - 1, delay)
        self.sleep(delay)

    def _wait_out_refusal(self, resp: requests.Response, refused_for: float, method: str, url: str) -> float:
        """Wait out a rate-limit refusal (closing the shared budget meanwhile); returns the seconds waited.

        Raises :class:`ApiUnavailable` once the refusals have lasted ``rate_limit_give_up`` seconds.
        """
        if refused_for >= self.retry.rate_limit_give_up:
            raise ApiUnavailable(self.system, f"{method} refused by the rate limit for {refused_for:.0f}s",
                                 status=resp.status_code, body=self._excerpt(resp), url=self._clean(url))
        window = self.budget.rule.window_seconds if self.budget is not None else self.retry.rate_limit_window
        wait = self.retry.rate_limit_wait(parse_retry_after(resp.headers.get("Retry-After")), window)
        if self.budget is not None:
            self.budget.block(self.caller, self.priority, wait)
        log.warning("%s %s %s: HTTP %d, over the rate limit; waiting %.1fs (refused for %.0fs so far)",
                    self.system, method, self._clean(url), resp.status_code, wait, refused_for)
        self.sleep(wait)
        return wait

    def _clean(self, text: str) -> str:
        return redact(text, self.secrets)

    def _excerpt(self, resp: requests.Response) -> str:
        return trim(self._clean(resp.text or ""))
