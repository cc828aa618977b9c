"""``make bench``'s reconciliation figure at a tiny size, run the way the bench runs it (a child process, each
engine in its own process): pandas and DuckDB agree, and the report carries both rows with the goal."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from benchmarks.reconcile_bench import _same_differences, snapshots
from benchmarks.run import FIGURES, merged_rows, run_child, write_report


def test_tiny_reconcile_figure_agrees_with_duckdb_and_is_reported(tmp_path: Path) -> None:
    rows = run_child(FIGURES["reconcile"], 2_000, 10.0, tmp_path / "airflow", tmp_path / "work")
    assert [r["figure"] for r in rows] == ["reconcile_pandas_seconds", "reconcile_pandas_peak_mb"], rows
    seconds, peak = rows
    detail = seconds["detail"]
    assert detail["engines_agree"] is True and detail["differences"] > 0
    assert detail["pandas"]["differences"] == detail["duckdb"]["differences"] == detail["differences"]
    assert seconds["size"] == 2_000 and 0 < seconds["value"] < 30 and detail["duckdb_seconds"] > 0
    assert 0 < peak["value"] < 2048

    write_report({"generated": "now", "mode": "quick", "clock_scale": 10.0, "rows": rows}, tmp_path / "out")
    table = (tmp_path / "out" / "latest.md").read_text(encoding="utf-8")
    assert "| Stock reconciliation (pandas), best of 3 | 2,000 rows per side |" in table
    assert "identical in both engines" in table
    assert table.count("| — | — |") == 2  # issue 10's goals are for 100k and 1M rows per side, not this size


def test_snapshots_hold_every_kind_of_difference() -> None:
    erp, wms, in_flight = snapshots(5_000)
    assert 4_950 < len(erp) < 5_000 and 4_950 < len(wms) < 5_000  # a few pairs on one side only
    assert in_flight.duplicated(["sku", "location"]).any()  # several in-flight rows for some pairs
    from erp_wms_sync.domain.reconciliation import Tolerance, compare_stock

    sides = set(compare_stock(erp, wms, in_flight, Tolerance()).differences["side"])
    assert sides == {"both", "erp_only", "wms_only"}
    assert erp["sku"].nunique() == 100  # 50 locations per SKU
    sparse, _, _ = snapshots(5_000, shape="sparse")
    assert sparse["sku"].is_unique and sparse["location"].nunique() == 50


def test_a_mismatch_between_engines_fails_the_figure() -> None:
    ours = pd.DataFrame({"sku": ["A"], "location": ["M"], "variance": [2], "breach": [True], "side": ["both"]})
    with pytest.raises(AssertionError, match="differ at row 0"):
        _same_differences(ours, ours.assign(variance=[3]))


def test_a_partial_run_keeps_the_other_figures(tmp_path: Path) -> None:
    old = [{"figure": "dag_parse_seconds", "size": 175, "value": 3.0},
           {"figure": "reconcile_pandas_seconds", "size": 2_000, "value": 9.0}]
    (tmp_path / "latest.json").write_text(json.dumps({"rows": old}), encoding="utf-8")
    new = [{"figure": "reconcile_pandas_seconds", "size": 2_000, "value": 0.1},
           {"figure": "reconcile_pandas_peak_mb", "size": 2_000, "value": 90.0}]
    merged = merged_rows(tmp_path / "latest.json", new)
    assert [(r["figure"], r["value"]) for r in merged] == [
        ("dag_parse_seconds", 3.0), ("reconcile_pandas_seconds", 0.1), ("reconcile_pandas_peak_mb", 90.0)]
