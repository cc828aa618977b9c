"""Which time window a flow run reads.

Rules (the README's "Windows and backfills" section says the same):

- a run started with conf ``{"full": true}`` reads everything;
- a run started with conf ``{"window_start": ISO, "window_end": ISO}`` reads exactly that window;
- a **backfill** run reads exactly its data interval, nothing more;
- any other run (scheduled, manual, asset-triggered) reads from the *older* of its interval start and the
  flow's watermark (the end of the last window that completed), so a failed run's window is never skipped;
  with no watermark yet the first run bootstraps the whole catalogue;
- manual and asset-triggered runs have no data interval in Airflow 3: they end at ``run_after``.

A small look-back (default two minutes) is subtracted from every start to absorb clock skew between the
ERP and us; re-reading a record is harmless because writes are idempotent and unchanged items are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from erp_wms_sync.errors import ConfigError

DEFAULT_LOOKBACK = timedelta(minutes=2)


@dataclass(frozen=True)
class Window:
    start: datetime | None  # None: everything (bootstrap or full sync)
    end: datetime
    reason: str

    @property
    def is_full(self) -> bool:
        return self.start is None

    def describe(self) -> str:
        start = self.start.isoformat() if self.start else "the beginning"
        return f"{start} → {self.end.isoformat()} ({self.reason})"


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse(conf: Mapping[str, Any], key: str) -> datetime:
    raw = conf.get(key)
    try:
        parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"run conf: {key}={raw!r} is not an ISO 8601 date-time. "
                          "Fix: use e.g. 2026-11-22T08:00:00Z") from None
    return _aware(parsed) or parsed


def resolve_window(*, interval_start: datetime | None, interval_end: datetime | None, run_after: datetime,
                   conf: Mapping[str, Any] | None, watermark: datetime | None, is_backfill: bool,
                   lookback: timedelta = DEFAULT_LOOKBACK) -> Window:
    conf = conf or {}
    interval_start, interval_end = _aware(interval_start), _aware(interval_end)
    watermark, run_after = _aware(watermark), _aware(run_after) or run_after
    if conf.get("full"):
        return Window(None, interval_end or run_after, "full sync requested in run conf")
    if conf.get("window_start") or conf.get("window_end"):
        start, end = _parse(conf, "window_start"), _parse(conf, "window_end")
        if start >= end:
            raise ConfigError(f"run conf: window_start {start.isoformat()} is not before window_end "
                              f"{end.isoformat()}. Fix: swap or correct them")
        return Window(start - lookback, end, "window from run conf")
    has_interval = interval_start is not None and interval_end is not None and interval_start < interval_end
    if is_backfill and has_interval:
        assert interval_start is not None and interval_end is not None
        return Window(interval_start - lookback, interval_end, "backfill: exactly its data interval")
    end = interval_end if has_interval and interval_end is not None else run_after
    if watermark is None:
        return Window(None, end, "first run: bootstrap the whole catalogue")
    start = min(interval_start, watermark) if has_interval and interval_start is not None else watermark
    reason = "data interval" if has_interval and start == interval_start else "since the last completed window"
    return Window(start - lookback, end, reason)
