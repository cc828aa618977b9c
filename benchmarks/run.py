"""Runner of ``make bench``: ``python -m benchmarks.run [--quick] [--only NAME,...] [--out DIR]``.

Every figure runs in a child process (its own simulators, ledger and environment; one Airflow metadata DB
migrated once for the whole run) with a time limit, so one slow or broken figure cannot hang the bench: it
becomes a row with an ``error``. Results go to ``DIR/latest.json`` (one row per figure and size) and
``DIR/latest.md`` (the table, also printed); a run with ``--only`` keeps the other figures of the last report.

Sizes: the full run measures what the issues ask for (1,000 and 10,000 orders, 175 integrations, 10k and 100k
order lines, despatch latency at 5, 10 and 20 a minute and with callbacks dropped, 5,000 stock movements, 200
returns, 100k and 1M reconciliation rows, 50,000 open exceptions); ``--quick`` uses small sizes for a smoke run of a
few minutes. The at-limit figures run Cin7's real 60 calls per minute on a clock ``--scale`` times faster (default 10)
for the simulator and the client.

Time: the whole run is bounded by ``--bound-minutes`` (default 20): each figure run gets its own time limit or what is
left of the bound, whichever is less, and a figure with no time left becomes an error row. The runner prints each
figure run's wall time as it ends and the total at the end, and records them in the report (``timings``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.dispatch_latency import SECONDS_PER_RATE as DISPATCH_SECONDS_PER_RATE
from benchmarks.harness import ROOT, migrate_airflow, prepare_airflow
from benchmarks.report import annotate, markdown

RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Figure:
    """A figure: the function in :mod:`benchmarks.figures`, its full and quick sizes, and a time limit."""

    name: str
    full: tuple[int, ...]
    quick: tuple[int, ...]
    timeout_seconds: int
    scaled: bool = False


# Time limits are per figure run (one size), about twice what the run takes on this 2-core machine under load
FIGURES: dict[str, Figure] = {
    "gx_validation": Figure("gx_validation", (10_000, 100_000), (1_000, 10_000), 120),
    "dag_parse": Figure("dag_parse", (175,), (5,), 120),
    "release_calls": Figure("release_calls", (1_000, 10_000), (50,), 420),
    "release_at_limit": Figure("release_at_limit", (1_000,), (60,), 300, scaled=True),
    # size = seconds per despatch rate (a live Airflow: minutes of wall time, so not in --quick)
    "dispatch_latency": Figure("dispatch_latency", (DISPATCH_SECONDS_PER_RATE,), (), 780),
    # size = stock movements applied in one inventory_sync run at Cin7's real limit (scaled clock); issue 9 named no
    # size: 5,000 movements (with 50 despatches and 250 new orders on the same key) keep the bench under 20 minutes
    "stock_at_limit": Figure("stock_at_limit", (5_000,), (300,), 240, scaled=True),
    "returns_processed": Figure("returns_processed", (200,), (20,), 120),
    # size = SKU × location rows per side; pandas against DuckDB, each engine in its own process
    "reconcile": Figure("reconcile", (100_000, 1_000_000), (20_000,), 180),
    "reconcile_sparse": Figure("reconcile_sparse", (1_000_000,), (20_000,), 180),  # one location per SKU
    # size = open exceptions in the ledger; the dashboard's list, counts and detail through its FastAPI app
    "dashboard_list": Figure("dashboard_list", (50_000,), (5_000,), 180),
}
BOUND_MINUTES = 20.0  # the whole full run, on this 2-core machine (issue 12)
REPORT_RESERVE_SECONDS = 30.0  # kept from the bound for the report and the scratch folder's removal
MIN_RUN_SECONDS = 20.0  # a figure run is not started with less time than this left
STOP_GRACE_SECONDS = 20.0  # an overrunning figure run's time to shut down after an interrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.item_sync_loop:
        return _item_sync_child(Path(args.item_sync_loop), Path(args.workdir))
    if args.child:
        return _child(args)
    return _parent(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few minutes")
    parser.add_argument("--only", default="", help=f"comma-separated figures, from: {', '.join(FIGURES)}")
    parser.add_argument("--sizes", default="", help="comma-separated sizes overriding the mode's sizes")
    parser.add_argument("--scale", type=float, default=10.0, help="clock scale of the at-limit figure")
    parser.add_argument("--out", default=str(RESULTS), help="folder of latest.json and latest.md")
    parser.add_argument("--bound-minutes", type=float, default=BOUND_MINUTES,
                        help="wall-time bound of the whole run (figures left without time become error rows)")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--home", default="", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default="", help=argparse.SUPPRESS)
    parser.add_argument("--result", default="", help=argparse.SUPPRESS)
    parser.add_argument("--item-sync-loop", default="", help=argparse.SUPPRESS)
    return parser


def _parent(args: argparse.Namespace) -> int:
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(FIGURES)
    unknown = sorted(set(chosen) - set(FIGURES))
    if unknown:
        print(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}", file=sys.stderr)
        return 2
    mode = "quick" if args.quick else "full"
    started = time.monotonic()
    deadline = started + args.bound_minutes * 60.0 - REPORT_RESERVE_SECONDS
    rows: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="erp-wms-bench-") as scratch:
        home = Path(scratch) / "airflow"
        migrate_airflow(home)
        for name in chosen:
            figure = FIGURES[name]
            sizes = _sizes(args.sizes) or (figure.quick if args.quick else figure.full)
            for size in sizes:
                limit = min(float(figure.timeout_seconds), deadline - time.monotonic())
                began = time.monotonic()
                if limit < MIN_RUN_SECONDS:
                    got = [_error_row(name, size, f"not run: the bench's {args.bound_minutes:g}-minute bound was"
                                                  " reached")]
                else:
                    got = run_child(figure, size, args.scale, home, Path(scratch) / f"{name}-{size}",
                                    timeout=limit)
                seconds = time.monotonic() - began
                runs.append({"figure": name, "size": size, "seconds": round(seconds, 1),
                             "limit_seconds": round(max(limit, 0.0)), "outcome": _outcome(got)})
                print(f"bench: {name} at {size}: {seconds:,.0f} s ({_outcome(got)}); "
                      f"{time.monotonic() - started:,.0f} s so far", file=sys.stderr, flush=True)
                rows += got
    total = time.monotonic() - started
    report = {"generated": datetime.now(UTC).isoformat(timespec="seconds"), "mode": mode,
              "clock_scale": args.scale, "rows": [{**r, "mode": mode} for r in rows],
              "timings": {"total_seconds": round(total, 1), "bound_seconds": round(args.bound_minutes * 60.0),
                          "partial": bool(args.only), "runs": runs}}
    if args.only:  # a partial run replaces its own rows and keeps the other figures of the last report
        report["rows"] = merged_rows(Path(args.out) / "latest.json", report["rows"])
    write_report(report, Path(args.out))
    print(f"bench: total wall time {total:,.0f} s ({total / 60:.1f} min; bound {args.bound_minutes:g} min)",
          file=sys.stderr, flush=True)
    return 1 if any("error" in r["detail"] for r in rows) else 0


def _outcome(rows: list[dict[str, Any]]) -> str:
    errors = [str(r["detail"]["error"]) for r in rows if "error" in r.get("detail", {})]
    if not errors:
        return "ok"
    first = " ".join(errors[0].split())
    return "not run" if first.startswith("not run") else "timed out" if "did not finish" in first else "error"


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def run_child(figure: Figure, size: int, scale: float, home: Path, workdir: Path,
              timeout: float | None = None) -> list[dict[str, Any]]:
    """Run one figure at one size in a child process, stopped after ``timeout`` seconds (default: the figure's
    own limit); its rows, or one row with an ``error``."""
    limit = float(figure.timeout_seconds) if timeout is None else timeout
    workdir.mkdir(parents=True, exist_ok=True)
    result = workdir / "rows.json"
    command = [sys.executable, "-m", "benchmarks.run", "--child", figure.name, "--size", str(size),
               "--scale", str(scale), "--home", str(home), "--workdir", str(workdir), "--result", str(result)]
    started = time.perf_counter()
    print(f"bench: {figure.name} at {size} ...", file=sys.stderr, flush=True)
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)  # its own process group: a timeout stops its children too
    try:
        stdout, stderr = child.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        _stop_group(child)
        return [_error_row(figure.name, size, f"did not finish within {limit:,.0f} s")]
    if child.returncode != 0 or not result.exists():
        return [_error_row(figure.name, size, (stderr or stdout)[-1500:].strip() or "no result")]
    rows: list[dict[str, Any]] = json.loads(result.read_text(encoding="utf-8"))
    for entry in rows:
        entry["detail"]["elapsed_seconds"] = round(time.perf_counter() - started, 1)
    return rows


def _stop_group(child: subprocess.Popen[str]) -> None:
    """Stop a figure run that overran and everything it started: an interrupt first (its live stack and simulators
    shut down in their ``finally``), then a kill of the process group after :data:`STOP_GRACE_SECONDS`."""
    for stop_signal in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(child.pid, stop_signal)
        except ProcessLookupError:
            break
        try:
            child.communicate(timeout=STOP_GRACE_SECONDS)
            if stop_signal == signal.SIGINT:
                os.killpg(child.pid, signal.SIGKILL)  # whatever the figure left behind in its group
            break
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            break


def _error_row(figure: str, size: int, message: str) -> dict[str, Any]:
    return {"figure": figure, "size": size, "value": None, "unit": "", "detail": {"error": message}}


def _child(args: argparse.Namespace) -> int:
    prepare_airflow(Path(args.home))
    from benchmarks import figures

    workdir = Path(args.workdir)
    if args.child == "release_at_limit":
        rows = figures.release_at_limit(args.size, workdir, args.scale)
    elif args.child == "returns_processed":
        from benchmarks.returns_bench import returns_processed

        rows = returns_processed(args.size, workdir)
    elif args.child in ("reconcile", "reconcile_sparse"):
        from benchmarks import reconcile_bench

        rows = getattr(reconcile_bench, args.child)(args.size, workdir)
    elif args.child == "stock_at_limit":
        from benchmarks.stock_sync import stock_at_limit

        rows = stock_at_limit(args.size, workdir, args.scale)
    else:
        rows = getattr(figures, args.child)(args.size, workdir)
    Path(args.result).write_text(json.dumps(rows, indent=2, default=str), encoding="utf-8")
    return 0


def _item_sync_child(stop: Path, workdir: Path) -> int:
    from benchmarks import figures

    figures.item_sync_loop(stop, workdir)
    return 0


def merged_rows(previous: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the report at ``previous`` with each (figure, size) measured again replaced by ``rows``, in
    place; new ones appended."""
    try:
        old: list[dict[str, Any]] = json.loads(previous.read_text(encoding="utf-8"))["rows"]
    except (OSError, ValueError, KeyError, TypeError):
        return rows
    fresh = {(r["figure"], r["size"]): r for r in rows}
    kept = [fresh.pop((r.get("figure"), r.get("size")), r) for r in old]
    return kept + [r for r in rows if (r["figure"], r["size"]) in fresh]


def write_report(report: dict[str, Any], out: Path) -> None:
    """``latest.json`` and ``latest.md`` in ``out`` (every row with its goal and verdict); the table is printed too."""
    report = annotate(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    table = markdown(report)
    (out / "latest.md").write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    raise SystemExit(main())
