"""Which window a run reads: data intervals, backfills, manual runs, catch-up after a failed run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from erp_wms_sync.domain.windows import resolve_window
from erp_wms_sync.errors import ConfigError

H = timedelta(hours=1)
T0 = datetime(2026, 11, 22, 8, tzinfo=UTC)
LB = timedelta(minutes=2)


def window(**kw):
    base = {"interval_start": T0, "interval_end": T0 + H, "run_after": T0 + H, "conf": {}, "watermark": T0,
            "is_backfill": False}
    base.update(kw)
    return resolve_window(**base)


def test_scheduled_run_reads_its_interval_with_lookback() -> None:
    w = window()
    assert (w.start, w.end) == (T0 - LB, T0 + H)


def test_a_failed_earlier_window_is_caught_up() -> None:
    w = window(watermark=T0 - 3 * H)
    assert w.start == T0 - 3 * H - LB and w.end == T0 + H


def test_backfill_replays_exactly_its_interval_even_with_an_older_watermark() -> None:
    w = window(watermark=T0 - 30 * H, is_backfill=True)
    assert (w.start, w.end) == (T0 - LB, T0 + H) and "backfill" in w.reason


def test_first_run_bootstraps_everything() -> None:
    w = window(watermark=None)
    assert w.is_full and w.end == T0 + H


def test_manual_run_without_interval_reads_since_watermark_until_run_after() -> None:
    w = window(interval_start=None, interval_end=None, run_after=T0 + 5 * H, watermark=T0)
    assert (w.start, w.end) == (T0 - LB, T0 + 5 * H)


def test_point_interval_is_treated_as_no_interval() -> None:
    w = window(interval_start=T0 + 2 * H, interval_end=T0 + 2 * H, run_after=T0 + 2 * H, watermark=T0)
    assert (w.start, w.end) == (T0 - LB, T0 + 2 * H)


def test_conf_window_and_full() -> None:
    w = window(conf={"window_start": "2026-11-01T00:00:00Z", "window_end": "2026-11-02T00:00:00+00:00"})
    assert w.start == datetime(2026, 11, 1, tzinfo=UTC) - LB and w.end == datetime(2026, 11, 2, tzinfo=UTC)
    assert window(conf={"full": True}).is_full
    assert not window(conf={"full": False, "window_start": None, "window_end": None}).is_full


@pytest.mark.parametrize("conf", [{"window_start": "yesterday", "window_end": "2026-11-02T00:00:00Z"},
                                  {"window_start": "2026-11-03T00:00:00Z", "window_end": "2026-11-02T00:00:00Z"}])
def test_bad_conf_window_is_a_clear_error(conf: dict) -> None:
    with pytest.raises(ConfigError, match="Fix:"):
        window(conf=conf)
