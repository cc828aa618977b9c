"""Outbound callbacks (webhooks) of the simulators: a bounded queue, a retry schedule and fault hooks.

A simulator builds a :class:`Delivery` when an event happens and calls :meth:`CallbackDispatcher.enqueue`;
:meth:`CallbackDispatcher.pump` (run by a background thread after :meth:`~CallbackDispatcher.start`, or
called directly by tests and ``POST /_sim/callbacks/pump``) sends what is due with ``requests``.

- Any 2xx answer is a delivery; anything else (other status, connection error, timeout) is a failed try.
- A failed try is retried after the next entry of ``retry_schedule`` (seconds after the previous try, divided
  by ``time_scale``); when the schedule is exhausted the delivery is *given up*. After ``deactivate_after``
  consecutive given-up deliveries of one subscription, ``on_deactivate(subscription_id)`` is called and that
  subscription's queued deliveries are cancelled.
- Cin7 Core documents 6 tries: about 1 min after the event, then +5, +10, +15, +20, +25 min
  (:data:`CIN7_FIRST_DELAY`, :data:`CIN7_RETRY_SCHEDULE`); its webhook is deactivated after that 6th failure.
  Peoplevox's retry policy is unknown, so its simulator tries once (an empty schedule).
- Faults from the simulator's :class:`~erp_wms_simulators.faults.FaultPlan` (endpoint = event type):
  ``drop_callback`` and ``duplicate_callback`` apply at enqueue time, ``reorder_callback`` when a due delivery
  is sent (it is held back behind the next one).
- ``on_deactivate`` runs on the pumping thread; do not call :meth:`~CallbackDispatcher.pump` while holding a lock
  that ``on_deactivate`` takes (``enqueue`` and ``cancel`` are safe under any lock).

:func:`fill_placeholders` and :func:`form_fields` (from :mod:`erp_wms_simulators.placeholders`, re-exported here)
substitute Peoplevox-style ``{Placeholder}`` tokens.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import requests

from erp_wms_simulators.faults import FaultPlan
from erp_wms_simulators.placeholders import PLACEHOLDER, fill_placeholders, form_fields

log = logging.getLogger(__name__)

__all__ = [
    "CIN7_FIRST_DELAY", "CIN7_RETRY_SCHEDULE", "PLACEHOLDER", "CallbackDispatcher", "Delivery", "fill_placeholders",
    "form_fields",
]

CIN7_FIRST_DELAY = 60.0
CIN7_RETRY_SCHEDULE: tuple[float, ...] = (300.0, 600.0, 900.0, 1200.0, 1500.0)
HISTORY_LENGTH = 10_000
REORDER_HOLD_SECONDS = 0.5
MAX_SCHEDULE_LENGTH = 50


def _schedule(value: Any) -> tuple[float, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise ValueError("retry_schedule must be a list of seconds")
    return tuple(float(step) for step in value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


CONFIGURABLE: dict[str, Callable[[Any], Any]] = {
    "retry_schedule": _schedule, "first_delay": float, "time_scale": float,
    "deactivate_after": _optional_int, "timeout": float,
}


@dataclass
class Delivery:
    """One callback request: where, how, what, and which subscription and event it belongs to."""

    url: str
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    json_body: Any = None
    form_body: dict[str, str] | None = None
    event_type: str = ""
    subscription_id: str = ""
    event_id: int = 0


@dataclass(order=True)
class _Queued:
    due: float
    seq: int
    delivery: Delivery = field(compare=False)
    tries: int = field(default=0, compare=False)
    reordered: bool = field(default=False, compare=False)


class CallbackDispatcher:
    """Queue and send one simulator's callbacks; thread-safe, every loop and list bounded."""

    def __init__(self, simulator: str, faults: FaultPlan | None = None, *, retry_schedule: Sequence[float] = (),
                 time_scale: float = 1.0, deactivate_after: int | None = None,
                 on_deactivate: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic,
                 timeout: float = 5.0, max_queue: int = 100_000, first_delay: float = 0.0) -> None:
        if len(retry_schedule) > MAX_SCHEDULE_LENGTH or any(step < 0 for step in retry_schedule):
            raise ValueError(f"retry_schedule takes at most {MAX_SCHEDULE_LENGTH} non-negative delays")
        if deactivate_after is not None and deactivate_after < 1:
            raise ValueError("deactivate_after must be at least 1 (or None to never deactivate)")
        self.simulator = simulator
        self.faults = faults if faults is not None else FaultPlan.none(simulator)
        self.retry_schedule = tuple(float(step) for step in retry_schedule)
        self.time_scale = time_scale
        self.first_delay = first_delay
        self.deactivate_after = deactivate_after
        self.on_deactivate = on_deactivate
        self.clock = clock
        self.timeout = timeout
        self.max_queue = max_queue
        self.delivered: list[Delivery] = []
        self.given_up: list[Delivery] = []
        self.dropped: list[Delivery] = []
        self.cancelled: list[Delivery] = []
        self.deactivated: list[str] = []
        self.attempts: Counter[int] = Counter()
        self.overflowed = 0
        self._queue: list[_Queued] = []
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._give_ups: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._pump_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        self._session.trust_env = False  # never route simulator callbacks through an environment proxy

    @property
    def time_scale(self) -> float:
        return self._time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"time_scale must be positive, got {value}")
        self._time_scale = float(value)

    @property
    def pending(self) -> int:
        """Deliveries queued and not yet delivered, given up or cancelled."""
        with self._lock:
            return len(self._queue)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- producing --------------------------------------------------------------------------
    def enqueue(self, delivery: Delivery) -> int:
        """Queue ``delivery`` (its ``event_id`` is set here) and return the event id.

        A ``drop_callback`` fault discards it (kept in :attr:`dropped`); ``duplicate_callback`` queues it twice.
        When the queue is full the delivery is discarded and counted in :attr:`overflowed`.
        """
        with self._lock:
            delivery.event_id = next(self._ids)
        if self.faults.fires("drop_callback", delivery.event_type) is not None:
            log.info("%s: callback %s #%d dropped (simulated fault)", self.simulator, delivery.event_type,
                     delivery.event_id)
            with self._lock:
                _append_bounded(self.dropped, delivery)
            return delivery.event_id
        copies = 2 if self.faults.fires("duplicate_callback", delivery.event_type) is not None else 1
        due = self.clock() + self.first_delay / self.time_scale
        with self._lock:
            for index in range(copies):
                if len(self._queue) >= self.max_queue:
                    self.overflowed += 1
                    log.warning("%s: callback queue full (%d); event #%d discarded", self.simulator,
                                self.max_queue, delivery.event_id)
                    break
                item = delivery if index == 0 else replace(delivery, headers=dict(delivery.headers))
                heapq.heappush(self._queue, _Queued(due, next(self._seq), item))
        return delivery.event_id

    def cancel(self, subscription_id: str) -> int:
        """Remove every queued delivery of one subscription (deleted or deactivated); returns how many."""
        with self._lock:
            keep = [item for item in self._queue if item.delivery.subscription_id != subscription_id]
            removed = [item.delivery for item in self._queue if item.delivery.subscription_id == subscription_id]
            self._queue = keep
            heapq.heapify(self._queue)
            for delivery in removed:
                _append_bounded(self.cancelled, delivery)
            return len(removed)

    def clear(self) -> None:
        """Forget the queue, the history and the give-up counters (a simulator reset)."""
        with self._lock:
            self._queue.clear()
            for history in (self.delivered, self.given_up, self.dropped, self.cancelled, self.deactivated):
                history.clear()
            self.attempts.clear()
            self._give_ups.clear()
            self.overflowed = 0

    # ---- sending ----------------------------------------------------------------------------
    def pump(self, max_deliveries: int = 10_000, *, force: bool = False) -> int:
        """Send every delivery due now (all queued ones when ``force``), at most ``max_deliveries`` tries.

        Returns how many tries were made. Only one pump runs at a time.
        """
        return self._pump(max_deliveries, force, interruptible=False)

    def _pump(self, max_deliveries: int, force: bool, *, interruptible: bool) -> int:
        """The pump; the background thread's run is ``interruptible``: :meth:`stop` leaves the rest queued."""
        with self._pump_lock:
            batch = self._take_due(self.clock(), max(0, max_deliveries), force)
            made = 0
            while batch:
                if interruptible and self._stop.is_set():
                    self._requeue(batch)
                    break
                item = batch.pop(0)
                if self._hold_back(item, batch):
                    continue
                ok = self._send(item.delivery)
                made += 1
                if self._settle(item, ok):
                    batch = self._without(batch, item.delivery.subscription_id)
            return made

    def start(self, interval: float = 0.2) -> None:
        """Pump in a daemon thread every ``interval`` seconds until :meth:`stop` (calling twice is harmless)."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(max(0.01, interval),),
                                        name=f"{self.simulator}-callbacks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the background thread (waits at most ``timeout``, default one delivery timeout + 1 s)."""
        thread = self._thread
        self._stop.set()
        if thread is not None:
            thread.join(timeout if timeout is not None else self.timeout + 1.0)
        self._thread = None

    def configure(self, changes: Mapping[str, Any]) -> None:
        """Change ``retry_schedule``, ``first_delay``, ``time_scale``, ``deactivate_after`` or ``timeout``.

        All or nothing: an unknown name or a bad value raises ``ValueError`` and changes nothing. This is the
        retry knob of simulators that fire once by default (``{"retry_schedule": [5, 30]}``).
        """
        unknown = sorted(set(changes) - set(CONFIGURABLE))
        if unknown:
            raise ValueError(f"unknown callback setting(s) {', '.join(unknown)}; use {', '.join(CONFIGURABLE)}")
        try:
            values = {name: CONFIGURABLE[name](value) for name, value in changes.items()}
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid callback setting: {exc}") from None
        schedule = values.get("retry_schedule", self.retry_schedule)
        if len(schedule) > MAX_SCHEDULE_LENGTH or any(step < 0 for step in schedule):
            raise ValueError(f"retry_schedule takes at most {MAX_SCHEDULE_LENGTH} non-negative delays")
        if not values.get("time_scale", self.time_scale) > 0 or values.get("first_delay", 0) < 0:
            raise ValueError("time_scale must be positive and first_delay not negative")
        if not values.get("timeout", self.timeout) > 0:
            raise ValueError("timeout must be positive")
        limit = values.get("deactivate_after", self.deactivate_after)
        if limit is not None and limit < 1:
            raise ValueError("deactivate_after must be at least 1 (or null to never deactivate)")
        for name, value in values.items():
            setattr(self, name, value)

    def settings(self) -> dict[str, Any]:
        """The current values of what :meth:`configure` changes."""
        return {name: getattr(self, name) for name in CONFIGURABLE}

    def to_dict(self, recent: int = 20) -> dict[str, Any]:
        """Counts and the latest deliveries, for ``/_sim`` admin answers."""
        with self._lock:
            return {
                "simulator": self.simulator, "pending": len(self._queue), "running": self.running,
                "time_scale": self.time_scale, "delivered": len(self.delivered), "given_up": len(self.given_up),
                "dropped": len(self.dropped), "cancelled": len(self.cancelled), "overflowed": self.overflowed,
                "deactivated": list(self.deactivated), "settings": self.settings(),
                "recent": [_summary(d, self.attempts[d.event_id]) for d in self.delivered[-recent:]],
            }

    # ---- internals --------------------------------------------------------------------------
    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self._pump(10_000, False, interruptible=True)
            except Exception:  # the pump thread must survive a broken receiver or a bug in a hook
                log.exception("%s: callback pump failed", self.simulator)

    def _take_due(self, now: float, limit: int, force: bool) -> list[_Queued]:
        with self._lock:
            batch: list[_Queued] = []
            while self._queue and len(batch) < limit and (force or self._queue[0].due <= now):
                batch.append(heapq.heappop(self._queue))
            return batch

    def _requeue(self, items: Sequence[_Queued]) -> None:
        with self._lock:
            for item in items:
                heapq.heappush(self._queue, item)

    def _hold_back(self, item: _Queued, rest: list[_Queued]) -> bool:
        """``reorder_callback``: send ``item`` after the next due delivery (or a little later if none)."""
        if item.reordered or self.faults.fires("reorder_callback", item.delivery.event_type) is None:
            return False
        item.reordered = True
        if rest:
            rest.insert(1, item)
        else:
            item.due = self.clock() + REORDER_HOLD_SECONDS
            self._requeue([item])
        return True

    def _send(self, delivery: Delivery) -> bool:
        kwargs: dict[str, Any] = {"headers": delivery.headers, "timeout": self.timeout, "allow_redirects": False}
        if delivery.json_body is not None:
            kwargs["json"] = delivery.json_body
        elif delivery.form_body is not None:
            kwargs["data"] = delivery.form_body
        with self._lock:
            self.attempts[delivery.event_id] += 1
        try:
            response = self._session.request(delivery.method.upper(), delivery.url, **kwargs)
        except (requests.RequestException, ValueError) as exc:
            log.info("%s: callback %s #%d to %s failed: %s", self.simulator, delivery.event_type,
                     delivery.event_id, _safe_url(delivery.url), type(exc).__name__)
            return False
        response.close()
        if 200 <= response.status_code < 300:
            return True
        log.info("%s: callback %s #%d to %s answered HTTP %d", self.simulator, delivery.event_type,
                 delivery.event_id, _safe_url(delivery.url), response.status_code)
        return False

    def _without(self, batch: list[_Queued], subscription_id: str) -> list[_Queued]:
        """``batch`` less the deliveries of a subscription that was just deactivated (those are cancelled)."""
        with self._lock:
            for item in batch:
                if item.delivery.subscription_id == subscription_id:
                    _append_bounded(self.cancelled, item.delivery)
        return [item for item in batch if item.delivery.subscription_id != subscription_id]

    def _settle(self, item: _Queued, ok: bool) -> bool:
        """Record the outcome of a try; ``True`` when it deactivated the delivery's subscription."""
        delivery = item.delivery
        item.tries += 1
        deactivate = False
        with self._lock:
            if ok:
                _append_bounded(self.delivered, delivery)
                self._give_ups.pop(delivery.subscription_id, None)
                return False
            if item.tries <= len(self.retry_schedule):
                item.due = self.clock() + self.retry_schedule[item.tries - 1] / self.time_scale
                heapq.heappush(self._queue, item)
                return False
            _append_bounded(self.given_up, delivery)
            self._give_ups[delivery.subscription_id] += 1
            if self.deactivate_after is not None and self._give_ups[delivery.subscription_id] >= \
                    self.deactivate_after:
                self._give_ups.pop(delivery.subscription_id)
                _append_bounded(self.deactivated, delivery.subscription_id)
                deactivate = True
        log.warning("%s: callback %s #%d given up after %d tries", self.simulator, delivery.event_type,
                    delivery.event_id, item.tries)
        if deactivate:
            self.cancel(delivery.subscription_id)
            log.warning("%s: subscription %s deactivated after repeated failures", self.simulator,
                        delivery.subscription_id)
            if self.on_deactivate is not None:
                self.on_deactivate(delivery.subscription_id)
        return deactivate


def _append_bounded(history: list[Any], item: Any) -> None:
    history.append(item)
    if len(history) > HISTORY_LENGTH:
        del history[: len(history) - HISTORY_LENGTH]


def _safe_url(url: str) -> str:
    """Scheme, host and path only: the query or user info may hold a receiver's token."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an invalid URL)"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def _summary(delivery: Delivery, tries: int) -> dict[str, Any]:
    return {"event_id": delivery.event_id, "event_type": delivery.event_type, "method": delivery.method,
            "url": _safe_url(delivery.url), "subscription_id": delivery.subscription_id, "tries": tries}
