"""The background writer: turns stored callbacks into Airflow asset events, one thread per API-server process.

Emitting inside the request made a burst of callbacks lock Airflow's SQLite metadata DB; so the receiver only
stores the callback and wakes the :class:`Outbox`. Its thread, woken by each insert and at least every 2 s:

- reads the rows whose ``asset_event_id`` is NULL (oldest first, 200 at a time; rows left over from before a
  restart included), groups them by asset URI and emits ONE event per asset with extra
  ``{"inbox_ids": [...], "integration": name}``, then records the event id on those rows;
- when an emit fails it counts ``emit_attempts`` on the rows, backs off for that asset (2, 4, … 60 s) and logs
  the failure at most once a minute per asset (redacted); rows are never dropped. An asset Airflow does not know
  yet (its DAG not parsed) is the same: tried again later;
- a batch flow's asset (inventory sync, returns) gets at most one event per ``BATCH_WAKE_UP_SECONDS`` (30 s): the
  callbacks of a big delivery wait and go together in the next event; despatch and order events are never held;
- ~3 s after the last emit for an asset it asks the emitter whether the newest event was stranded (Airflow 3.3.2
  can leave an event without a run when it lands while the scheduler is creating one) and, if so, emits one
  ``{"nudge": true}`` event — at most one per asset per 10 s.

Delivery is at least once: a consumer dedupes on the inbox ids and treats events only as a wake-up.
:class:`RestAssetEmitter` posts the events to the API server's own ``/api/v2`` with a JWT minted in-process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from erp_wms_sync.connectors.redaction import redact_known
from erp_wms_sync.errors import ErpWmsSyncError
from erp_wms_sync.webhooks import inbox, min_emit_interval

log = logging.getLogger(__name__)

BATCH_SIZE = 200
IDLE_WAIT = 2.0
NUDGE_AFTER = 3.0
NUDGE_EVERY = 10.0
MAX_BACKOFF = 60.0
LOG_EVERY = 60.0
SERVICE_USER = "erp-wms-webhook"
SERVICE_ROLE = "op"
TIMEOUT = (3.0, 10.0)
TOKEN_SECONDS = 300


class EmitError(ErpWmsSyncError):
    """An asset event could not be emitted (the rows stay pending and are tried again)."""


class AssetNotReady(EmitError):
    """Airflow does not know the asset yet (its DAG has not been parsed): try again later."""


class AssetEmitter(Protocol):
    """Emits Airflow asset events."""

    def emit(self, uri: str, extra: Mapping[str, Any]) -> int:
        """Create one event for the asset ``uri``; returns the event id."""
        ...

    def needs_nudge(self, uri: str) -> bool:
        """Whether the newest event of ``uri`` was stranded: no run created from it and nothing queued."""
        ...


@dataclass
class OutboxPass:
    """What one pass did: rows marked, events emitted, emits failed, nudges sent; ``more`` when rows remain."""

    rows: int = 0
    events: int = 0
    failed: int = 0
    nudges: int = 0
    more: bool = False


@dataclass
class _Trouble:
    key: tuple[str, str]
    fails: int = 0
    retry_at: float = 0.0


@dataclass
class _State:
    troubles: dict[str, _Trouble] = field(default_factory=dict)
    check_at: dict[str, float] = field(default_factory=dict)
    integration_of: dict[str, str] = field(default_factory=dict)
    last_nudge: dict[str, float] = field(default_factory=dict)
    last_logged: dict[str, float] = field(default_factory=dict)
    quiet_until: dict[str, tuple[tuple[str, str], float]] = field(default_factory=dict)  # throttled batch assets


class Outbox:
    """The single writer of asset events for stored callbacks; see the module docstring.

    ``ledger`` is the ledger URL, or a callable giving it (raising while the ledger is not usable). Tests drive
    :meth:`run_once` directly; the receiver's app calls :meth:`start` / :meth:`stop` from its lifespan.
    """

    def __init__(self, ledger: str | None | Callable[[], str | None], emitter: AssetEmitter, *,
                 batch_size: int = BATCH_SIZE, idle_wait: float = IDLE_WAIT, nudge_after: float = NUDGE_AFTER,
                 nudge_every: float = NUDGE_EVERY, max_backoff: float = MAX_BACKOFF,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ledger = ledger if callable(ledger) else (lambda: ledger)
        self._emitter = emitter
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.nudge_after = nudge_after
        self.nudge_every = nudge_every
        self.max_backoff = max_backoff
        self._clock = clock
        self._state = _State()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pass_lock = threading.Lock()

    # --- the thread ----------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Ask for a pass now (the receiver calls this after each stored callback)."""
        self._wake.set()

    def start(self) -> None:
        """Start the thread (a second call while it runs does nothing)."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="erp-wms-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the thread after its current pass (waits at most ``timeout`` seconds)."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("the webhook outbox thread did not stop within %.0f s", timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            more = False
            try:
                more = self.run_once().more
            except Exception as exc:  # the thread must outlive a ledger outage or a bug in one pass
                self._warn("pass", "webhook outbox pass failed (rows stay pending): %s", exc)
            if not more:
                self._wake.wait(self._next_wait())

    def _next_wait(self) -> float:
        now = self._clock()
        due = [*self._state.check_at.values(), *(t.retry_at for t in self._state.troubles.values()),
               *(until for _, until in self._state.quiet_until.values())]
        soonest = min((when - now for when in due), default=self.idle_wait)
        return max(0.05, min(self.idle_wait, soonest))

    # --- one pass ------------------------------------------------------------------------------------------
    def run_once(self) -> OutboxPass:
        """Emit the events of the pending rows, then the nudges that are due."""
        with self._pass_lock:
            now = self._clock()
            url = self._ledger()
            blocked = [t.key for t in self._state.troubles.values() if t.retry_at > now]
            blocked += [key for key, until in self._state.quiet_until.values() if until > now]
            rows = inbox.pending_rows(url, self.batch_size, blocked)
            groups, unneeded = inbox.group_by_asset(rows)
            result = OutboxPass(more=len(rows) >= self.batch_size)
            if unneeded:
                inbox.mark_emitted(url, unneeded, inbox.NO_EVENT_NEEDED)
                result.rows += len(unneeded)
            for uri, members in groups.items():
                self._emit_group(url, uri, members, now, result)
            result.nudges = self._nudge(now)
            return result

    def _emit_group(self, url: str | None, uri: str, members: list[inbox.PendingRow], now: float,
                    result: OutboxPass) -> None:
        ids = [row.inbox_id for row in members]
        integration = members[0].integration
        try:
            event_id = self._emitter.emit(uri, {"inbox_ids": ids, "integration": integration})
        except Exception as exc:
            result.failed += 1
            inbox.mark_failed(url, ids)
            self._back_off(uri, (integration, uri), now, exc, len(ids))
            return
        inbox.mark_emitted(url, ids, event_id)
        result.rows += len(ids)
        result.events += 1
        self._state.troubles.pop(uri, None)
        self._state.integration_of[uri] = integration
        interval = min_emit_interval(uri)
        if interval > 0:
            self._state.quiet_until[uri] = ((integration, uri), now + interval)
        self._state.check_at[uri] = now + self.nudge_after

    def _back_off(self, uri: str, key: tuple[str, str], now: float, exc: Exception, count: int) -> None:
        trouble = self._state.troubles.setdefault(uri, _Trouble(key))
        trouble.fails += 1
        trouble.retry_at = now + min(self.max_backoff, 2.0 ** min(trouble.fails, 10))
        level = logging.INFO if isinstance(exc, AssetNotReady) else logging.WARNING
        self._log_throttled(uri, level, "could not emit the asset event for %s (%d stored callbacks wait, "
                            "failure %d; tried again in %.0f s): %s", uri, count, trouble.fails,
                            trouble.retry_at - now, exc)

    def _nudge(self, now: float) -> int:
        sent = 0
        for uri, when in sorted(self._state.check_at.items()):
            if when > now:
                continue
            del self._state.check_at[uri]
            if now - self._state.last_nudge.get(uri, float("-inf")) < self.nudge_every:
                continue
            try:
                if not self._emitter.needs_nudge(uri):
                    continue
                self._state.last_nudge[uri] = now
                self._emitter.emit(uri, {"nudge": True, "integration": self._state.integration_of.get(uri, "")})
            except Exception as exc:
                self._warn(f"nudge:{uri}", "could not check or nudge the asset %s: %s", uri, exc)
                continue
            sent += 1
            log.info("nudged asset %s: its newest event had started no run and nothing was queued", uri)
        return sent

    # --- logging -------------------------------------------------------------------------------------------
    def _warn(self, key: str, message: str, *args: Any) -> None:
        self._log_throttled(key, logging.WARNING, message, *args)

    def _log_throttled(self, key: str, level: int, message: str, *args: Any) -> None:
        """Log at most once a minute per ``key``; every argument is redacted of known secrets."""
        now = self._clock()
        if now - self._state.last_logged.get(key, float("-inf")) < LOG_EVERY:
            return
        self._state.last_logged[key] = now
        log.log(level, message, *(redact_known(str(a)) if isinstance(a, BaseException | str) else a for a in args))


# --- Airflow's REST API ---------------------------------------------------------------------------------------
def _mint_jwt(user: str, role: str, seconds: int) -> str:
    """A JWT for ``user`` signed with the API server's own key (SimpleAuthManager's user payload)."""
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    return str(manager.generate_jwt(manager.deserialize_user({"sub": user, "role": role}),
                                    expiration_time_in_seconds=seconds))


def _api_base_url() -> str:
    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "").strip()
    if base.startswith(("http://", "https://")):
        return base.rstrip("/")
    host = conf.get("api", "host", fallback="127.0.0.1") or "127.0.0.1"
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{host}:{conf.get('api', 'port', fallback='8080')}"


class RestAssetEmitter:
    """Emits through ``POST /api/v2/assets/events`` of the API server this process belongs to.

    Asset ids are looked up once per URI (``GET /api/v2/assets?uri_pattern=``, then an exact match) and cached;
    the service identity is ``erp-wms-webhook`` with role ``op`` (the least that may create events), its JWT minted
    in-process and renewed before it expires. Answers are checked: an event for another asset is an error.
    """

    def __init__(self, base_url: str | None = None, *, mint: Callable[[], str] | None = None,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._base_url = base_url.rstrip("/") if base_url else None
        self._mint = mint or (lambda: _mint_jwt(SERVICE_USER, SERVICE_ROLE, TOKEN_SECONDS))
        self._session = session or requests.Session()
        self._session.trust_env = False  # the API server is called on its own address, never through a proxy
        self._clock = clock
        self._token: tuple[str, float] | None = None
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    def emit(self, uri: str, extra: Mapping[str, Any]) -> int:
        asset_id = self._asset_id(uri)
        response = self._call("POST", "/api/v2/assets/events", json={"asset_id": asset_id, "extra": dict(extra)},
                              missing_ok=True)
        if response is None:  # the asset was removed (or re-created under a new id) since it was looked up
            with self._lock:
                self._ids.pop(uri, None)
            raise AssetNotReady(f"asset {uri} (id {asset_id}) is no longer known to Airflow")
        event_id, answered_asset = response.get("id"), response.get("asset_id", asset_id)
        if not isinstance(event_id, int) or answered_asset != asset_id:
            raise EmitError(f"Airflow answered the event for asset {uri} (id {asset_id}) with event id "
                            f"{event_id!r} for asset {answered_asset!r}")
        return event_id

    def needs_nudge(self, uri: str) -> bool:
        try:
            asset_id = self._asset_id(uri)
        except AssetNotReady:
            return False
        answer = self._call("GET", "/api/v2/assets/events",
                            params={"asset_id": asset_id, "order_by": "-timestamp", "limit": 1}) or {}
        events = answer.get("asset_events")
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise EmitError(f"Airflow answered the events of asset {uri} without an asset_events list")
        if not events:
            return False
        if events[0].get("asset_id", asset_id) != asset_id:
            raise EmitError(f"Airflow answered the events of asset {uri} (id {asset_id}) with an event of asset "
                            f"{events[0].get('asset_id')!r}")
        if events[0].get("created_dagruns"):
            return False
        queued = self._call("GET", f"/api/v2/assets/{asset_id}/queuedEvents", missing_ok=True) or {}
        return not queued.get("queued_events")

    def _asset_id(self, uri: str) -> int:
        with self._lock:
            if uri in self._ids:
                return self._ids[uri]
        answer = self._call("GET", "/api/v2/assets", params={"uri_pattern": uri, "limit": 100}) or {}
        assets = answer.get("assets")
        if not isinstance(assets, list):
            raise EmitError(f"Airflow answered the asset search for {uri} without an assets list")
        found = [a.get("id") for a in assets if isinstance(a, dict) and a.get("uri") == uri]
        if not found or not isinstance(found[0], int):
            raise AssetNotReady(f"asset {uri} is not known to Airflow yet (its DAG has not been parsed)")
        with self._lock:
            self._ids[uri] = found[0]
        return found[0]

    def _bearer(self, renew: bool = False) -> str:
        now = self._clock()
        with self._lock:
            if renew or self._token is None or self._token[1] <= now:
                self._token = (self._mint(), now + TOKEN_SECONDS - 60)
            return self._token[0]

    def _send(self, method: str, url: str, path: str, token: str, kwargs: dict[str, Any]) -> requests.Response:
        try:
            return self._session.request(method, url, headers={"Authorization": f"Bearer {token}"},
                                         timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise EmitError(f"{method} {path} on the Airflow API failed: {type(exc).__name__}") from None

    def _call(self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any) -> dict[str, Any] | None:
        """One API call (renewing the token once on a 401); the JSON object answered, None for an allowed 404."""
        url = (self._base_url or _api_base_url()) + path
        response = self._send(method, url, path, self._bearer(), kwargs)
        if response.status_code == 401:  # expired or signed with a rotated key: one fresh token
            response = self._send(method, url, path, self._bearer(renew=True), kwargs)
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            raise EmitError(f"{method} {path} on the Airflow API answered HTTP {response.status_code}: "
                            f"{redact_known(response.text[:300])}")
        try:
            body = response.json()
        except ValueError:
            raise EmitError(f"{method} {path} on the Airflow API answered something that is not JSON") from None
        if not isinstance(body, dict):
            raise EmitError(f"{method} {path} on the Airflow API answered a {type(body).__name__}, not an object")
        return body
