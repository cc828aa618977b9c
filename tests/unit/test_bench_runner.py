"""``make bench`` runner: one cheap figure run the way the bench runs it (a child process) gives a
well-formed JSON row, and the report files carry it."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.run import FIGURES, run_child, write_report


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
    assert saved["rows"] == rows and saved["mode"] == "quick"
    table = (tmp_path / "out" / "latest.md").read_text(encoding="utf-8")
    assert "| GX validation of order lines | 1,000 lines |" in table and "passed" in table


def test_a_failing_figure_becomes_an_error_row_not_a_crash(tmp_path: Path) -> None:
    broken = FIGURES["gx_validation"].__class__("no_such_figure", (1,), (1,), 60)
    rows = run_child(broken, 1, 10.0, tmp_path / "airflow", tmp_path / "work")
    assert rows[0]["value"] is None and "no_such_figure" in rows[0]["detail"]["error"]
