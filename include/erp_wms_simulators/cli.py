"""Command line of the simulators: ``python -m erp_wms_simulators up`` runs all three in the foreground.

It prints each simulator's base address and demo credentials, optionally writes the same as JSON
(``--write-json PATH``), and stops cleanly on Ctrl+C (SIGINT) or SIGTERM. ``--faults``, ``--fault-seed`` and
``--fault`` inject reproducible failures (see :mod:`erp_wms_simulators.faults`); ``--time-scale`` compresses
callback retry schedules (Cin7 Core's 1 + 5 + … + 25 minutes).
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

from erp_wms_simulators.faults import FAULT_KINDS, PROFILES
from erp_wms_simulators.scenario import cli as scenario_cli
from erp_wms_simulators.server import LOCALHOST, NAMES, SPECS, SimulatorStack


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m erp_wms_simulators",
                                     description="Local simulators of the Cin7 Core, Peoplevox and BlueCherry APIs.")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the simulators (on 127.0.0.1 by default) until interrupted")
    up.add_argument("--host", default=LOCALHOST,
                    help=f"address to listen on (default {LOCALHOST}); use 0.0.0.0 only inside a container "
                         "network, never on a host reachable by others")
    for name in NAMES:
        up.add_argument(f"--{name}-port", type=int, default=SPECS[name].default_port, metavar="PORT",
                        help=f"port of the {name} simulator (default {SPECS[name].default_port}; 0 = any free)")
    up.add_argument("--no-seed", action="store_true", help="start empty instead of loading the demo data")
    up.add_argument("--only", action="append", choices=NAMES, metavar="NAME",
                    help=f"start only this simulator (repeatable; one of {', '.join(NAMES)})")
    up.add_argument("--write-json", type=Path, metavar="PATH",
                    help="also write addresses and demo credentials to this JSON file")
    up.add_argument("--faults", choices=tuple(PROFILES), default="none",
                    help="fault profile for every simulator: none (default), flaky (rare 5xx, slow calls, "
                         "dropped or duplicated callbacks) or hostile (frequent faults of every kind)")
    up.add_argument("--fault-seed", type=int, default=0, metavar="N",
                    help="seed of the fault streams: the same seed and calls give the same faults (default 0)")
    up.add_argument("--fault", action="append", default=[], metavar="KNOB",
                    help="add a fault rule, repeatable: [simulator:]kind[@endpoint]=probability"
                         "[,status=..,delay=..,count=..,retry_after=..,burst=..], e.g. "
                         f"peoplevox:http_5xx@SaveData=0.3; kinds: {', '.join(FAULT_KINDS)}")
    up.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                    help="divide callback retry delays by X (e.g. 600 turns Cin7 Core's 1 minute into 0.1 s)")
    scenario_cli.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "scenario":
        return scenario_cli.run(args)
    ports = {name: getattr(args, f"{name}_port") for name in NAMES}
    names = tuple(args.only) if args.only else NAMES
    try:
        stack = SimulatorStack(ports={n: ports[n] for n in names}, seed_demo=not args.no_seed, names=names,
                               host=args.host, faults=args.faults, fault_seed=args.fault_seed, knobs=args.fault,
                               time_scale=args.time_scale)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    _install_signal_handlers(stop)
    try:
        stack.start()
    except (OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        description = stack.describe()
        print(render_summary(description, args.host, _fault_summary(stack)), flush=True)
        if args.write_json:
            write_json(args.write_json, description)
        while not stop.wait(0.5):
            pass
        print("stopping simulators…", flush=True)
    finally:
        stack.stop()
    return 0


def render_summary(description: dict[str, dict[str, Any]], host: str = LOCALHOST, faults: str = "") -> str:
    lines = []
    for name, info in description.items():
        lines.append(f"{name:<11} {info['url']}")
        for key, value in _flatten(info["credentials"]):
            lines.append(f"{'':<11}   {key}: {value}")
    if faults:
        lines.append(faults)
    lines.append(f"Simulators running on {host}; press Ctrl+C to stop.")
    return "\n".join(lines)


def _fault_summary(stack: SimulatorStack) -> str:
    """One line per simulator with fault rules, or nothing when no faults are injected."""
    lines = []
    for name, state in stack.states.items():
        plan = state.faults.to_dict()
        if plan["rules"]:
            lines.append(f"faults {name}: profile {plan['profile']}, seed {plan['seed']}, "
                         f"{len(plan['rules'])} rule(s); inspect or change at /_sim/faults")
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
