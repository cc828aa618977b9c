"""Runner of ``make bench``: ``python -m benchmarks.run [--quick] [--only NAME,...] [--out DIR]``.

Every figure runs in a child process (its own simulators, ledger and environment; one Airflow metadata DB
migrated once for the whole run) with a time limit, so one slow or broken figure cannot hang the bench: it
becomes a row with an ``error``. Results go to ``DIR/latest.json`` (one row per figure and size) and
``DIR/latest.md`` (the table, also printed).

Sizes: the full run measures what issue 7 asks for (1,000 and 10,000 orders, 175 integrations, 10k and 100k
order lines); ``--quick`` uses small sizes for a smoke run of a few minutes. The at-limit figure runs Cin7's
real 60 calls per minute on a clock ``--scale`` times faster (default 10) for the simulator and the client.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.harness import ROOT, migrate_airflow, prepare_airflow
from benchmarks.report import markdown

RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Figure:
    """A figure: the function in :mod:`benchmarks.figures`, its full and quick sizes, and a time limit."""

    name: str
    full: tuple[int, ...]
    quick: tuple[int, ...]
    timeout_seconds: int
    scaled: bool = False


FIGURES: dict[str, Figure] = {
    "gx_validation": Figure("gx_validation", (10_000, 100_000), (1_000, 10_000), 900),
    "dag_parse": Figure("dag_parse", (175,), (5,), 900),
    "release_calls": Figure("release_calls", (1_000, 10_000), (50,), 7200),
    "release_at_limit": Figure("release_at_limit", (1_000,), (60,), 7200, scaled=True),
    # size = seconds per despatch rate (a live Airflow: minutes of wall time, so not in --quick)
    "dispatch_latency": Figure("dispatch_latency", (150,), (), 3600),
    # size = stock movements applied in one inventory_sync run at Cin7's real limit (scaled clock)
    "stock_at_limit": Figure("stock_at_limit", (10_000,), (300,), 7200, scaled=True),
    "returns_processed": Figure("returns_processed", (200,), (20,), 3600),
}


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
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="erp-wms-bench-") as scratch:
        home = Path(scratch) / "airflow"
        migrate_airflow(home)
        for name in chosen:
            figure = FIGURES[name]
            sizes = _sizes(args.sizes) or (figure.quick if args.quick else figure.full)
            for size in sizes:
                rows += run_child(figure, size, args.scale, home, Path(scratch) / f"{name}-{size}")
    report = {"generated": datetime.now(UTC).isoformat(timespec="seconds"), "mode": mode,
              "clock_scale": args.scale, "rows": [{**r, "mode": mode} for r in rows]}
    write_report(report, Path(args.out))
    return 1 if any("error" in r["detail"] for r in rows) else 0


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def run_child(figure: Figure, size: int, scale: float, home: Path, workdir: Path) -> list[dict[str, Any]]:
    """Run one figure at one size in a child process; its rows, or one row with an ``error``."""
    workdir.mkdir(parents=True, exist_ok=True)
    result = workdir / "rows.json"
    command = [sys.executable, "-m", "benchmarks.run", "--child", figure.name, "--size", str(size),
               "--scale", str(scale), "--home", str(home), "--workdir", str(workdir), "--result", str(result)]
    started = time.perf_counter()
    print(f"bench: {figure.name} at {size} ...", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=figure.timeout_seconds,
                              check=False)
    except subprocess.TimeoutExpired:
        return [_error_row(figure.name, size, f"did not finish within {figure.timeout_seconds} s")]
    if done.returncode != 0 or not result.exists():
        return [_error_row(figure.name, size, (done.stderr or done.stdout)[-1500:].strip() or "no result")]
    rows: list[dict[str, Any]] = json.loads(result.read_text(encoding="utf-8"))
    for entry in rows:
        entry["detail"]["elapsed_seconds"] = round(time.perf_counter() - started, 1)
    return rows


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


def write_report(report: dict[str, Any], out: Path) -> None:
    """``latest.json`` and ``latest.md`` in ``out``; the table is printed too."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    table = markdown(report)
    (out / "latest.md").write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    raise SystemExit(main())
