"""The project's exception hierarchy.

Every error a user can meet names what failed and where. Transport errors carry the HTTP status and
a trimmed, secret-free body so an Airflow task log explains itself without leaking credentials.
"""

from __future__ import annotations


class ErpWmsSyncError(Exception):
    """Base class of every error raised by erp-wms-sync."""


class ConfigError(ErpWmsSyncError):
    """An integration YAML (or another setting) is invalid; the message lists each problem."""


class LedgerError(ErpWmsSyncError):
    """The ledger database cannot be reached or is not migrated."""


class ApiError(ErpWmsSyncError):
    """A remote API answered with an error, or could not be reached.

    ``system`` names the API (``cin7core``, ``peoplevox``, ``bluecherry``), ``status`` is the HTTP
    status (``None`` for connection errors and SOAP-level errors), ``body`` a trimmed, redacted excerpt.
    """

    def __init__(self, system: str, message: str, *, status: int | None = None, body: str = "",
                 url: str = "") -> None:
        self.system = system
        self.status = status
        self.body = body
        self.url = url
        parts = [f"{system}: {message}"]
        if status is not None:
            parts.append(f"HTTP {status}")
        if url:
            parts.append(f"at {url}")
        if body:
            parts.append(f"body: {body}")
        super().__init__(" | ".join(parts))


class ApiUnavailable(ApiError):
    """The API stayed unreachable (connection error, timeout, 5xx, rate limit) after every retry."""


class ApiRejected(ApiError):
    """The API refused the request (a fatal 4xx, or a SOAP ResponseId -1): retrying will not help."""


class ApiAuthError(ApiRejected):
    """Credentials were refused (403 / 401 / Peoplevox Authenticate failure)."""


class ApiResponseInvalid(ApiError):
    """The API answered 2xx with something that is not what its contract promises."""


class DataCheckFailed(ErpWmsSyncError):
    """A Great Expectations suite failed; the good records went on, the bad are held as exceptions."""

    def __init__(self, suite: str, failed: int, total: int, expectations: list[str]) -> None:
        self.suite = suite
        self.failed = failed
        self.total = total
        self.expectations = expectations
        kinds = ", ".join(expectations[:5]) or "none listed"
        super().__init__(
            f"data check '{suite}' failed: {failed} of {total} records held as exceptions "
            f"(failed expectations: {kinds})"
        )
