"""``make bench`` runner: one cheap figure run the way the bench runs it (a child process) gives a
well-formed JSON row, and the report files carry it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from benchmarks.run import FIGURES, main, run_child, write_report


def test_quick_gx_figure_writes_a_well_formed_row(tmp_path: Path) -> None:
    rows = run_child(FIGURES["gx_validation"], 1_000, 10.0, tmp_path / "airflow", tmp_path / "work")
    assert len(rows) == 1
    row = rows[0]
    assert "error" not in row["detail"], row["detail"]
    assert set(row) == {"figure", "size", "value", "unit", "detail"}
    assert (row["figure"], row["size"], row["unit"]) == ("gx_validation_seconds", 1_000, "s")
    assert isinstance(row["value"], float) and 0 < row["value"] < 60
    assert row["detail"]["passed"] is True and row["detail"]["checks"] > 0

    write_report({"generated": "now", "mode": "quick", "clock_scale": 10.0, "rows": rows}, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "latest.json").read_text(encoding="utf-8"))
    assert saved["rows"] == [{**r, "goal": "—", "verdict": "—"} for r in rows]  # no issue set a goal for it
    assert saved["mode"] == "quick"
    table = (tmp_path / "out" / "latest.md").read_text(encoding="utf-8")
    assert "| GX validation of order lines | 1,000 lines |" in table and "passed" in table
    assert "| Figure | Size | Value | Goal | Verdict | Notes |" in table


def test_a_failing_figure_becomes_an_error_row_not_a_crash(tmp_path: Path) -> None:
    broken = FIGURES["gx_validation"].__class__("no_such_figure", (1,), (1,), 60)
    rows = run_child(broken, 1, 10.0, tmp_path / "airflow", tmp_path / "work")
    assert rows[0]["value"] is None and "no_such_figure" in rows[0]["detail"]["error"]


def test_a_figure_over_its_time_limit_is_stopped_with_its_children(tmp_path: Path) -> None:
    started = time.monotonic()
    rows = run_child(FIGURES["gx_validation"], 1_000, 10.0, tmp_path / "airflow", tmp_path / "work", timeout=0.5)
    assert rows[0]["value"] is None and rows[0]["detail"]["error"] == "did not finish within 0 s"
    assert time.monotonic() - started < 30  # interrupted, not waited for


def test_the_whole_run_is_bounded_and_timed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["--quick", "--only", "dag_parse,gx_validation", "--bound-minutes", "0.6", "--out", str(out)])
    report = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    runs = report["timings"]["runs"]
    assert [(r["figure"], r["size"]) for r in runs] == [("dag_parse", 5), ("gx_validation", 1_000),
                                                       ("gx_validation", 10_000)]
    assert report["timings"]["bound_seconds"] == 36 and report["timings"]["total_seconds"] < 60
    skipped = [r for r in runs if r["outcome"] == "not run"]  # the bound leaves 6 s after the reserve: no figure
    assert skipped == runs and code == 1
    assert all("not run: the bench's 0.6-minute bound was reached" in r["detail"]["error"] for r in report["rows"])
    assert "bench: total wall time" in capsys.readouterr().err
    assert "Wall time of this run:" in (out / "latest.md").read_text(encoding="utf-8")
