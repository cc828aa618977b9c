"""Command line of the simulators: ``python -m erp_wms_simulators up`` runs all three in the foreground.

It prints each simulator's base address and demo credentials, optionally writes the same as JSON
(``--write-json PATH``), and stops cleanly on Ctrl+C (SIGINT) or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from erp_wms_simulators.server import NAMES, SPECS, SimulatorStack


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m erp_wms_simulators",
                                     description="Local simulators of the Cin7 Core, Peoplevox and BlueCherry APIs.")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the simulators on 127.0.0.1 until interrupted")
    for name in NAMES:
        up.add_argument(f"--{name}-port", type=int, default=SPECS[name].default_port, metavar="PORT",
                        help=f"port of the {name} simulator (default {SPECS[name].default_port}; 0 = any free)")
    up.add_argument("--no-seed", action="store_true", help="start empty instead of loading the demo data")
    up.add_argument("--only", action="append", choices=NAMES, metavar="NAME",
                    help=f"start only this simulator (repeatable; one of {', '.join(NAMES)})")
    up.add_argument("--write-json", type=Path, metavar="PATH",
                    help="also write addresses and demo credentials to this JSON file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ports = {name: getattr(args, f"{name}_port") for name in NAMES}
    names = tuple(args.only) if args.only else NAMES
    stack = SimulatorStack(ports={n: ports[n] for n in names}, seed_demo=not args.no_seed, names=names)
    stop = threading.Event()
    _install_signal_handlers(stop)
    try:
        stack.start()
    except (OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        description = stack.describe()
        print(render_summary(description), flush=True)
        if args.write_json:
            write_json(args.write_json, description)
        while not stop.wait(0.5):
            pass
        print("stopping simulators…", flush=True)
    finally:
        stack.stop()
    return 0


def render_summary(description: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, info in description.items():
        lines.append(f"{name:<11} {info['url']}")
        for key, value in _flatten(info["credentials"]):
            lines.append(f"{'':<11}   {key}: {value}")
    lines.append("Simulators running on 127.0.0.1; press Ctrl+C to stop.")
    return "\n".join(lines)


def write_json(path: Path, description: dict[str, dict[str, Any]]) -> None:
    """Write atomically, so a reader polling for the file never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(description, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


def _flatten(values: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        if isinstance(value, dict):
            pairs += _flatten(value, f"{prefix}{key}.")
        elif isinstance(value, list | tuple):
            pairs.append((f"{prefix}{key}", " / ".join(str(v) for v in value)))
        else:
            pairs.append((f"{prefix}{key}", str(value)))
    return pairs


def _install_signal_handlers(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
