"""``python -m erp_wms_simulators scenario seed|day|advance|dump``.

Against running simulators (``--simulators PATH``, the JSON ``up --write-json`` wrote, or ``--cin7core-url`` /
``--bluecherry-url`` / ``--peoplevox-url``) each command does its own step and keeps the scenario's seed, size,
day count and simulated time in a small state file (``--state``), so ``seed``, ``day``, ``advance`` and
``dump`` can run one after another. Without them each command works on fresh in-process simulators and runs
every step up to itself (``day`` seeds first, ``advance`` also runs a day, ``dump`` dumps what that made).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from erp_wms_simulators.scenario.brands import BLUECHERRY, CIN7CORE
from erp_wms_simulators.scenario.driver import BRIDGES, DEFAULT_START, Scenario
from erp_wms_simulators.scenario.report import stable_json
from erp_wms_simulators.scenario.states import fresh_states
from erp_wms_simulators.server import demo_credentials

ERPS = (CIN7CORE, BLUECHERRY)
STATE_FILE = "scenario-state.json"
HELP = {"seed": "create the catalogue, locations and stock", "day": "run a simulated trading day of orders",
        "advance": "move the warehouse on by some simulated minutes or steps", "dump": "dump every system as JSON"}


def add_commands(commands: Any) -> None:
    """Add ``scenario`` and its sub-commands to the simulators' command line."""
    scenario = commands.add_parser("scenario", help="drive a reproducible trading scenario (seed, day, advance, "
                                                    "dump)", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = scenario.add_subparsers(dest="scenario_command", required=True)
    for name, text in HELP.items():
        parser = steps.add_parser(name, help=text)
        _common(parser)
        if name in ("day", "advance", "dump"):
            parser.add_argument("--orders", type=int, default=1000 if name == "day" else 0, metavar="N",
                                help="new orders in the day (default 1000 for day; in process, advance and dump "
                                     "run a day first when N > 0)")
            parser.add_argument("--pace", type=float, default=0.0, metavar="SECONDS",
                                help="real seconds per simulated hour against running simulators (default 0)")
        if name == "advance":
            parser.add_argument("--minutes", type=int, default=60, help="simulated minutes (default 60)")
            parser.add_argument("--steps", type=int, default=0, help="warehouse steps instead of minutes")
        if name == "dump":
            parser.add_argument("--out", type=Path, metavar="DIR", help="write one JSON file per system here "
                                                                         "(default: everything to stdout)")
        else:
            parser.add_argument("--dump", metavar="PATH", help="also write the full dump here ('-' = stdout)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--simulators", type=Path, metavar="PATH", help="JSON written by `up --write-json`")
    for name in (*ERPS, "peoplevox"):
        parser.add_argument(f"--{name}-url", metavar="URL", help=f"base URL of a running {name} simulator")
    parser.add_argument("--state", type=Path, metavar="PATH",
                        help=f"scenario state file for running simulators (default {STATE_FILE} beside --simulators)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same scenario")
    parser.add_argument("--skus", type=int, default=2000, help="SKUs per brand (default 2000)")
    parser.add_argument("--only", action="append", choices=ERPS, help="trade for this ERP's brand only (repeatable)")
    parser.add_argument("--start", default=DEFAULT_START.isoformat(), help="simulated start (ISO, default %(default)s)")
    parser.add_argument("--bridge", choices=BRIDGES, default="integration",
                        help="integration (default): an integration carries orders to the warehouse; direct: the "
                             "driver does (a drill mode, in process only)")
    parser.add_argument("--create-items", action="store_true",
                        help="create the Peoplevox Item types too (warehouse-only drills; normally the item "
                             "master sync does it)")


def run(args: argparse.Namespace) -> int:
    try:
        remote = _description(args)
        if remote:
            return _run_remote(args, remote)
        return _run_local(args)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _start(args: argparse.Namespace) -> datetime:
    moment = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"skus": args.skus, "start": _start(args), "bridge": args.bridge, "create_items": args.create_items}


def _run_local(args: argparse.Namespace) -> int:
    names = [*(args.only or ERPS), "peoplevox"]
    scenario = Scenario(fresh_states(_start(args), names), args.seed, **_options(args))
    report: dict[str, Any] = {"seed": scenario.seed_catalogue()}
    command = args.scenario_command
    if command == "day" or getattr(args, "orders", 0) > 0:
        day = scenario.day(args.orders)
        report["day"] = day.to_dict()
        print(f"simulated day of {args.orders} orders in {day.seconds:.1f} s", file=_channel(args))
    if command == "advance":
        report["advance"] = scenario.advance(minutes=args.minutes, steps=args.steps).to_dict()
    return _finish(args, scenario, report)


def _run_remote(args: argparse.Namespace, description: dict[str, Any]) -> int:
    state_path = args.state or ((args.simulators.parent if args.simulators else Path.cwd()) / STATE_FILE)
    saved = json.loads(state_path.read_text(encoding="utf-8")) if state_path.exists() else {}
    command = args.scenario_command
    if command != "seed" and not saved:
        raise ValueError(f"no scenario state at {state_path}: run `scenario seed` first")
    if command != "seed":
        args.seed, args.skus = saved["seed"], saved["skus"]
    names = set(args.only or ERPS) | {"peoplevox"}
    scenario = Scenario({k: v for k, v in description.items() if k in names}, args.seed, **_options(args))
    if saved and command != "seed":
        scenario.resume(int(saved["days"]), datetime.fromisoformat(saved["now"]))
    report: dict[str, Any] = {}
    if command == "seed":
        report["seed"] = scenario.seed_catalogue()
    elif command == "day":
        day = scenario.day(args.orders, pace=args.pace)
        report["day"] = day.to_dict()
        print(f"simulated day of {args.orders} orders in {day.seconds:.1f} s", file=_channel(args))
    elif command == "advance":
        report["advance"] = scenario.advance(minutes=args.minutes, steps=args.steps).to_dict()
    if command != "dump":
        state_path.write_text(json.dumps({"seed": scenario.seed, "skus": scenario.skus, "days": scenario.days,
                                          "now": scenario.clock.now.isoformat()}, indent=2) + "\n", encoding="utf-8")
    return _finish(args, scenario, report)


def _finish(args: argparse.Namespace, scenario: Scenario, report: dict[str, Any]) -> int:
    if args.scenario_command == "dump":
        dump = scenario.dump()
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            for name, part in dump.items():
                (args.out / f"{name}.json").write_text(stable_json(part), encoding="utf-8")
            print(f"dump written to {args.out} ({', '.join(sorted(dump))})", file=sys.stderr)
        else:
            sys.stdout.write(stable_json(dump))
        return 0
    if args.dump == "-":
        sys.stdout.write(stable_json(scenario.dump()))
    elif args.dump:
        Path(args.dump).write_text(stable_json(scenario.dump()), encoding="utf-8")
    print(json.dumps(report, indent=1, default=str), file=_channel(args))
    return 0


def _channel(args: argparse.Namespace) -> TextIO:
    """Reports go to stdout, unless the dump does."""
    return sys.stderr if getattr(args, "dump", None) == "-" or args.scenario_command == "dump" else sys.stdout


def _description(args: argparse.Namespace) -> dict[str, Any]:
    """The running simulators to use ({} = in process): the JSON file, then the URL flags."""
    found: dict[str, Any] = {}
    if args.simulators:
        found = dict(json.loads(args.simulators.read_text(encoding="utf-8")))
    for name in (*ERPS, "peoplevox"):
        url = getattr(args, f"{name.replace('-', '_')}_url", None)
        if url:
            found[name] = {**found.get(name, {}), "url": url}
    if CIN7CORE in found and not found[CIN7CORE].get("credentials"):
        found[CIN7CORE]["credentials"] = demo_credentials(CIN7CORE)
    return found
