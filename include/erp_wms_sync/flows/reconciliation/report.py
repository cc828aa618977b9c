"""The reconciliation report: one folder per run with ``report.html`` (self-contained: no script, stylesheet or font
from elsewhere) and a CSV of every difference (``stock.csv``, ``findings.csv``, ``proposals.csv``, ``trends.csv``).

Everything written into the HTML is escaped (:func:`html.escape`); the report holds figures, SKUs, locations and
the findings' summaries, never a connection, key or payload. The folder is
``<reports dir>/<integration>/<business date>/<label>``; the reports dir is ``ERP_WMS_REPORTS_DIR``, else
``$AIRFLOW_HOME/reports``, else ``./reports`` (:func:`reports_dir`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

WORST = 50
CSV_NAMES = ("stock", "findings", "proposals", "trends")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def reports_dir() -> Path:
    """Where reports go: ``ERP_WMS_REPORTS_DIR``, else ``$AIRFLOW_HOME/reports``, else ``./reports`` — always as an
    absolute path, so the folder recorded in the ledger is found by the dashboard in another process."""
    configured = os.environ.get("ERP_WMS_REPORTS_DIR", "").strip()
    if configured:
        return Path(configured).resolve()
    home = os.environ.get("AIRFLOW_HOME", "").strip()
    return (Path(home) / "reports" if home else Path("reports")).resolve()


def safe_name(text: str) -> str:
    """A path component from a run id or label (no separators, no dots-only names)."""
    cleaned = _SAFE.sub("_", text).strip("._") or "run"
    return cleaned[:120]


def write_report(integration_name: str, label: str, out_dir: Path | str | None, *, title: str,
                 summary: Mapping[str, Any], stock: pd.DataFrame | None, findings: pd.DataFrame | None,
                 proposals: pd.DataFrame | None, trends: pd.DataFrame | None,
                 history_totals: Sequence[Mapping[str, Any]], problems: Sequence[Mapping[str, Any]]) -> Path:
    """Write the run's folder under ``out_dir`` (default :func:`reports_dir`) and return it: ``<integration>/`` then
    one folder per ``/``-separated part of ``label`` (each part made a safe name).

    ``summary`` is shown as the totals table (a nested ``sections`` mapping names each section's status, e.g.
    ``not compared: <why>``); ``history_totals`` are the previous nights' ``business_date``,
    ``abs_variance_units`` and ``breaches`` (this night included) for the chart; ``problems`` are the rows that
    could not be compared."""
    base = Path(out_dir) if out_dir is not None else reports_dir()
    parts = [safe_name(part) for part in label.split("/") if part.strip()] or ["run"]
    folder = base.joinpath(safe_name(integration_name), *parts)
    folder.mkdir(parents=True, exist_ok=True)
    frames = {"stock": stock, "findings": findings, "proposals": proposals, "trends": trends}
    for name, frame in frames.items():
        _csv(frame).to_csv(folder / f"{name}.csv", index=False)
    page = _page(title, summary, frames, history_totals, problems)
    (folder / "report.html").write_text(page, encoding="utf-8")
    return folder


def _csv(frame: pd.DataFrame | None) -> pd.DataFrame:
    import pandas as pd

    if frame is None:
        return pd.DataFrame()
    if "history" in frame.columns:
        frame = frame.assign(history=frame["history"].map(lambda value: _plain(value)))
    return frame


def _plain(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ";".join(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}.num{text-align:right}
.breach{color:#b00020;font-weight:600}h2{margin-top:1.6em}.muted{color:#777}"""


def _page(title: str, summary: Mapping[str, Any], frames: Mapping[str, pd.DataFrame | None],
          history: Sequence[Mapping[str, Any]], problems: Sequence[Mapping[str, Any]]) -> str:
    stock = frames["stock"]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>",
             "<h2>Totals</h2>", _mapping_table(summary),
             "<h2>Variance against previous nights</h2>", chart(history),
             f"<h2>Worst stock variances (top {WORST})</h2>",
             _table(stock.head(WORST) if stock is not None else None, breach_column="breach",
                    empty="No stock variance: every compared SKU × location agrees."),
             "<h2>Findings per section</h2>", _findings(frames["findings"]),
             "<h2>Proposed stock adjustments</h2>",
             _table(frames["proposals"], empty="No adjustment proposed."),
             "<h2>Drift trends</h2>", _table(frames["trends"], empty="No drift trend."),
             "<h2>Rows not compared</h2>",
             _records(problems, empty="Every row read could be compared."),
             "<p class='muted'>Every difference is in the CSV files next to this page.</p></body></html>"]
    return "\n".join(parts)


def _mapping_table(values: Mapping[str, Any]) -> str:
    rows = []
    for key, value in values.items():
        shown = _mapping_table(value) if isinstance(value, Mapping) else escape(_plain(value))
        rows.append(f"<tr><th>{escape(str(key))}</th><td>{shown}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _table(frame: pd.DataFrame | None, *, empty: str, breach_column: str | None = None) -> str:
    if frame is None or frame.empty:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = []
    for values in frame.itertuples(index=False, name=None):  # at most a few hundred rows are shown
        record = dict(zip(frame.columns, values, strict=True))
        css = " class='breach'" if breach_column and bool(record.get(breach_column)) else ""
        cells = "".join(f"<td>{escape(_plain(v))}</td>" for v in values)
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _records(rows: Sequence[Mapping[str, Any]], *, empty: str) -> str:
    if not rows:
        return f"<p>{escape(empty)}</p>"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(_plain(row.get(c, '')))}</td>" for c in columns) + "</tr>"
                   for row in rows[:500])
    more = f"<p class='muted'>{len(rows) - 500} more not shown.</p>" if len(rows) > 500 else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def _findings(frame: pd.DataFrame | None) -> str:
    if frame is None or frame.empty:
        return "<p>No finding in the sections compared.</p>"
    out = []
    for section, group in frame.groupby("section", sort=True):
        out.append(f"<h3>{escape(str(section))} ({len(group)})</h3>")
        shown = [c for c in ("kind", "key", "erp_value", "wms_value", "summary") if c in group.columns]
        out.append(_table(group[shown].head(200), empty=""))
    return "".join(out)


def chart(history: Sequence[Mapping[str, Any]], width: int = 720, height: int = 220) -> str:
    """An inline SVG: total absolute variance (bars) and breach count (line) per night, oldest left."""
    if not history:
        return "<p>No night compared yet.</p>"
    nights = list(history)[-60:]
    pad, count = 40, len(nights)
    units = [int(n.get("abs_variance_units", 0)) for n in nights]
    breaches = [int(n.get("breaches", 0)) for n in nights]
    top_units, top_breaches = max(max(units), 1), max(max(breaches), 1)
    step = (width - 2 * pad) / count
    bars, points, labels = [], [], []
    for index, night in enumerate(nights):
        x = pad + index * step
        h = (height - 2 * pad) * units[index] / top_units
        date = escape(str(night.get("business_date", "")))
        bars.append(f"<rect x='{x + step * 0.15:.1f}' y='{height - pad - h:.1f}' width='{step * 0.7:.1f}' "
                    f"height='{h:.1f}' fill='#4a78b5'><title>{date}: {units[index]} units off, "
                    f"{breaches[index]} breaches</title></rect>")
        y = height - pad - (height - 2 * pad) * breaches[index] / top_breaches
        points.append(f"{x + step / 2:.1f},{y:.1f}")
        if count <= 14 or index in (0, count - 1):
            labels.append(f"<text x='{x + step / 2:.1f}' y='{height - pad + 14}' font-size='10' "
                          f"text-anchor='middle'>{date}</text>")
    line = f"<polyline points='{' '.join(points)}' fill='none' stroke='#b00020' stroke-width='2'/>"
    legend = (f"<text x='{pad}' y='16' font-size='12'>bars: total absolute variance (max {top_units} units); "
              f"red line: breaches (max {top_breaches})</text>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
            f"aria-label='variance per night'>{legend}{''.join(bars)}{line}{''.join(labels)}</svg>")
