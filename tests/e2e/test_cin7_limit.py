"""Order release at Cin7 Core's real limit: 60 calls per rolling minute, no ``Retry-After``, on a clock 20 times
faster for the simulator and the client alike (a 3-second "minute"), while item master sync keeps calling the same
application key from another process.

Before the shared API budget, a run needing more than one window's worth of calls burst ~60 calls at once, was
refused for the rest of the window and failed in every try. Now the run releases every order, the vendor refuses
nothing, and no task fails — it is only slower. Run the same figure at 1,000 orders with ``make bench``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from benchmarks.figures import release_at_limit

pytestmark = pytest.mark.e2e

ORDERS = 150  # about 2.6 "minutes" of Cin7 calls at 58 per window: several windows, not one burst


def test_a_run_bigger_than_the_window_releases_everything_without_a_refusal(tmp_path: Path,
                                                                             airflow_db: Path) -> None:
    saved = dict(os.environ)  # the figure points connections and folders at its own world through os.environ
    try:
        (figure,) = release_at_limit(ORDERS, tmp_path, scale=20.0)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    detail = figure["detail"]
    assert detail["run"] == "success", detail
    assert detail["failed_tasks"] == []
    assert detail["released"] == ORDERS
    assert detail["cin7_refused_429_503"] == 0, "the shared budget must keep every process inside the limit"
    assert detail["item_master_sync_runs"] >= 1, "item master sync must have shared the key while release ran"
    assert detail["cin7_answered"] >= ORDERS  # one detail call per new order, at least
    assert detail["real_minutes"] >= (ORDERS + 2) / 60  # never faster than the vendor allows
